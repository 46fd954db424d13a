// Requires the built `upstream-balancer/undici` subpath by name (CJS); the package root alone must not load undici.
const assert = require('node:assert/strict');
const http = require('node:http');

const { Balancer } = require('upstream-balancer');
const loaded = () => Object.keys(require.cache).filter((f) => /[\\/]node_modules[\\/]undici[\\/]/.test(f));
assert.deepEqual(loaded(), [], 'requiring upstream-balancer loaded undici');
const { BalancedDispatcher } = require('upstream-balancer/undici');
assert.ok(loaded().length > 0);
const { request } = require('undici');

const server = http.createServer((req, res) => res.end('ok'));
server.listen(0, '127.0.0.1', async () => {
  const balancer = new Balancer({ servers: [{ address: `127.0.0.1:${server.address().port}` }] });
  const dispatcher = new BalancedDispatcher(balancer);
  try {
    const r = await request('http://backend/', { dispatcher });
    assert.equal(await r.body.text(), 'ok');
    await dispatcher.close();
    console.log('CJS require of upstream-balancer/undici: ok');
  } finally {
    server.close();
  }
});
