// Imports the built package by name through its exports map (ESM) and exercises it.
import assert from 'node:assert/strict';
import { Balancer, ManualClock, ConfigError, isUpstreamError, parseUpstreams, formatStatus } from 'upstream-balancer';

const clock = new ManualClock(0);
const b = new Balancer({ servers: [{ address: '10.0.0.1:25', weight: 1 }, { address: '10.0.0.2:25', weight: 4 }], clock: clock.now });
const seq = Array.from({ length: 5 }, () => { const s = b.pick(); b.release(s); return s.address.slice(-4, -3); });
assert.deepEqual(seq, ['2', '2', '1', '2', '2']);
assert.equal(typeof parseUpstreams, 'function');
assert.equal(typeof formatStatus, 'function');
try { new Balancer({ servers: [{ address: 'x', weight: 0 }] }); assert.fail('no throw'); } catch (e) { assert.ok(isUpstreamError(e)); assert.equal(e.code, 'ERR_UPSTREAM_INVALID_OPTION'); }
assert.equal(typeof ConfigError, 'function');
console.log('ESM import of dist: ok');
