// Imports the built `upstream-balancer/undici` subpath by name (ESM) and sends real requests through it.
import assert from 'node:assert/strict';
import http from 'node:http';
import { Balancer } from 'upstream-balancer';
import { BalancedDispatcher, SYNTHESIZED_HEADER } from 'upstream-balancer/undici';
import { Dispatcher, fetch, request } from 'undici';

const server = http.createServer((req, res) => res.end(`ok ${req.headers.host}`));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
try {
  const balancer = new Balancer({ servers: [{ id: 'gone', address: '127.0.0.1:1' }, { id: 'up', address: `127.0.0.1:${port}` }] });
  const dispatcher = new BalancedDispatcher(balancer, { nextUpstream: ['error', 'timeout'] });
  assert.ok(dispatcher instanceof Dispatcher);
  const r = await request('http://backend/x', { dispatcher });
  assert.equal(r.statusCode, 200);
  assert.equal(await r.body.text(), 'ok backend');
  const f = await fetch('http://backend/y', { dispatcher });
  assert.equal(await f.text(), 'ok backend');
  assert.deepEqual(balancer.snapshot().servers.map((s) => [s.id, s.fails, s.conns]), [['gone', 1, 0], ['up', 0, 0]]);
  const none = new BalancedDispatcher(new Balancer({ servers: [{ address: '127.0.0.1:1' }] }));
  const n = await request('http://backend/', { dispatcher: none });
  assert.equal(n.statusCode, 502);
  assert.equal(n.headers[SYNTHESIZED_HEADER], 'error');
  await n.body.dump();
  await Promise.all([dispatcher.close(), none.close()]);
} finally {
  server.close();
}
console.log('ESM import of upstream-balancer/undici: ok');
