// Requires the built package by name through its exports map (CJS) and exercises it.
const assert = require('node:assert/strict');
const { Balancer, isUpstreamError, parseUpstreams } = require('upstream-balancer');

const b = new Balancer({ servers: [{ address: '10.0.0.1:25', weight: 5 }, { address: '10.0.0.2:25' }, { address: '10.0.0.3:25' }] });
const seq = Array.from({ length: 7 }, () => { const s = b.pick(); b.release(s); return s.address.slice(-4, -3); });
assert.deepEqual(seq, ['1', '1', '2', '1', '3', '1', '1']);
assert.equal(typeof parseUpstreams, 'function');
// The error brand works across the ESM and CJS copies.
import('upstream-balancer').then((esm) => {
  try { new esm.Balancer({ servers: [] }); } catch (e) { assert.ok(isUpstreamError(e)); }
  console.log('CJS require of dist: ok');
});
