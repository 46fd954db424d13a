/**
 * The reference HTTP proxy (docs/examples/http-proxy.ts) end to end, with real node:http backends on
 * 127.0.0.1 that answer with their ids, against nginx's proxy_next_upstream rules
 * (docs/nginx-semantics.md §4.1-4.2): the exact servers each request went to, which tries counted
 * as failures (`fails` in the snapshot), what the client got, and that every server handed out was
 * freed (`conns` 0). Timeouts are 200 ms. Every proxy, backend and socket a test opens is closed in
 * afterEach; the demo (`main`) runs to completion and leaves no handle behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Balancer, nextUpstreamPolicy, type NextUpstreamCondition, type ServerOptions } from '../../src/index';
import {
  createHttpProxy, main, send, startBackend, type Backend, type HttpProxyEvent, type HttpProxyOptions,
} from '../../docs/examples/http-proxy';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function backend(name: string): Promise<Backend> {
  const b = await startBackend(name);
  cleanups.push(() => b.close());
  return b;
}

/** An address where nothing listens: connections are refused. */
async function refused(): Promise<string> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return `127.0.0.1:${port}`;
}

/**
 * An address whose connects never complete: a listener in a blocked process with a full accept
 * queue (the kernel drops the SYN), as an unanswered SYN would. Killed in afterEach.
 */
async function blackhole(): Promise<string> {
  const code = `const net = require('node:net');
const server = net.createServer();
server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
  process.stdout.write(server.address().port + '\\n');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
  process.exit(0);
});`;
  const child: ChildProcess = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const fillers: net.Socket[] = [];
  cleanups.push(async () => {
    for (const s of fillers) s.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
  });
  const port = Number(await new Promise<string>((r) => child.stdout!.once('data', (d: Buffer) => r(d.toString().trim()))));
  for (let i = 0; i < 3; i++) {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.on('error', () => {});
    fillers.push(s);
  }
  await new Promise((r) => setTimeout(r, 100));
  return `127.0.0.1:${port}`;
}

interface Rig {
  port: number;
  balancer: Balancer;
  events: HttpProxyEvent[];
  /** Each try of request `n` as `ID:result` (`A:200`, `X:error`, `H:timeout`), then `proxy:STATUS` when the proxy answered. */
  tries(n: number): string[];
  /** Resolves with the `end` event of request `n`. */
  ended(n: number): Promise<Extract<HttpProxyEvent, { type: 'end' }>>;
  /** fails and conns of a server, by id. */
  counts(id: string): { fails: number; conns: number };
}

async function proxy(
  servers: ServerOptions[],
  conditions: NextUpstreamCondition[] = ['error', 'timeout'],
  options: Partial<HttpProxyOptions> = {},
): Promise<Rig> {
  const balancer = new Balancer({ servers });
  const events: HttpProxyEvent[] = [];
  const waiting = new Map<number, (e: Extract<HttpProxyEvent, { type: 'end' }>) => void>();
  const server: http.Server = createHttpProxy({
    balancer,
    policy: nextUpstreamPolicy(conditions),
    connectTimeout: 200,
    readTimeout: 200,
    ...options,
    onEvent: (e) => {
      events.push(e);
      if (e.type === 'end') waiting.get(e.request)?.(e);
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await balancer.close();
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    balancer,
    events,
    tries: (n) => events.flatMap((e) => {
      if (e.request !== n) return [];
      if (e.type === 'outcome') return [`${e.server.id}:${e.result}`];
      if (e.type === 'response' && e.server === undefined) return [`proxy:${e.status}`];
      return [];
    }),
    ended: (n) => {
      const done = events.find((e): e is Extract<HttpProxyEvent, { type: 'end' }> => e.type === 'end' && e.request === n);
      return done !== undefined ? Promise.resolve(done) : new Promise((r) => waiting.set(n, r));
    },
    counts: (id) => {
      const s = balancer.snapshot().servers.find((x) => x.id === id)!;
      return { fails: s.fails, conns: s.conns };
    },
  };
}

describe('http proxy: which server, and what counts', () => {
  it('a refused server is a failure and the request moves on (error)', async () => {
    const a = await backend('A');
    const r = await proxy([{ id: 'X', address: await refused() }, { id: 'A', address: a.address }]);
    expect(await send(r.port)).toMatchObject({ status: 200, body: 'A' });
    await r.ended(1);
    expect(r.tries(1)).toEqual(['X:error', 'A:200']);
    expect(r.events.find((e) => e.type === 'outcome' && e.server.id === 'X')).toMatchObject({ detail: 'ECONNREFUSED', freed: 'fail' });
    expect(r.counts('X')).toEqual({ fails: 1, conns: 0 });
    expect(r.counts('A')).toEqual({ fails: 0, conns: 0 });
  });

  it('404 with http_404: the next server, without a failure (skip); without http_404 the 404 is the answer', async () => {
    const a = await backend('A');
    const b = await backend('B');
    a.mode = '404';
    const r = await proxy([{ id: 'A', address: a.address }, { id: 'B', address: b.address }], ['error', 'timeout', 'http_404']);
    expect(await send(r.port)).toMatchObject({ status: 200, body: 'B' });
    await r.ended(1);
    expect(r.tries(1)).toEqual(['A:404', 'B:200']);
    expect(r.events.find((e) => e.type === 'outcome' && e.server.id === 'A')).toMatchObject({ freed: 'skip', verdict: { action: 'retry', failed: false } });
    expect(r.counts('A')).toEqual({ fails: 0, conns: 0 });
    expect(r.balancer.get('A')!.state).toBe('up');

    const plain = await proxy([{ id: 'A', address: a.address }, { id: 'B', address: b.address }]);
    expect(await send(plain.port)).toMatchObject({ status: 404, body: 'A' });
    await plain.ended(1);
    expect(plain.tries(1)).toEqual(['A:404']);
    expect(plain.counts('A')).toEqual({ fails: 0, conns: 0 });
  });

  it('502 with http_502: a failure, the next server; the next request skips the failed one', async () => {
    const a = await backend('A');
    const b = await backend('B');
    a.mode = '502';
    const r = await proxy([{ id: 'A', address: a.address }, { id: 'B', address: b.address }], ['error', 'timeout', 'http_502']);
    expect(await send(r.port)).toMatchObject({ status: 200, body: 'B' });
    await r.ended(1);
    expect(r.tries(1)).toEqual(['A:502', 'B:200']);
    expect(r.counts('A')).toEqual({ fails: 1, conns: 0 });
    expect(r.balancer.get('A')!.state).toBe('unavail'); // max_fails=1
    expect(await send(r.port)).toMatchObject({ status: 200, body: 'B' });
    await r.ended(2);
    expect(r.tries(2)).toEqual(['B:200']);
    expect(a.requests).toHaveLength(1);
  });

  it('POST: not retried once sent without non_idempotent (the 502 passes, no failure); retried with it; retried when never sent', async () => {
    const a = await backend('A');
    const b = await backend('B');
    a.mode = '502';
    const servers = [{ id: 'A', address: a.address }, { id: 'B', address: b.address }];
    const r = await proxy(servers, ['error', 'timeout', 'http_502']);
    expect(await send(r.port, { method: 'POST', body: 'order=1' })).toMatchObject({ status: 502, body: 'A' });
    await r.ended(1);
    expect(r.tries(1)).toEqual(['A:502']);
    expect(r.counts('A')).toEqual({ fails: 0, conns: 0 });
    expect(b.requests).toHaveLength(0);

    const n = await proxy(servers, ['error', 'timeout', 'http_502', 'non_idempotent']);
    expect(await send(n.port, { method: 'POST', body: 'order=2' })).toMatchObject({ status: 200, body: 'B' });
    await n.ended(1);
    expect(n.tries(1)).toEqual(['A:502', 'B:200']);
    expect(b.requests.at(-1)).toMatchObject({ method: 'POST', body: 'order=2' });

    const x = await proxy([{ id: 'X', address: await refused() }, { id: 'B', address: b.address }]);
    expect(await send(x.port, { method: 'POST', body: 'order=3' })).toMatchObject({ status: 200, body: 'B' });
    await x.ended(1);
    expect(x.tries(1)).toEqual(['X:error', 'B:200']);
    expect(b.requests.at(-1)).toMatchObject({ method: 'POST', body: 'order=3' });
  });

  it('a header that does not come within readTimeout: a failure; 504 when no try is left, the next server otherwise', async () => {
    const a = await backend('A');
    const b = await backend('B');
    a.mode = 'hang';
    const servers = [{ id: 'A', address: a.address }, { id: 'B', address: b.address }];
    // proxy_next_upstream_tries 1: nothing after A.
    const one = await proxy(servers, ['error', 'timeout'], { policy: nextUpstreamPolicy(['error', 'timeout'], { tries: 1 }) });
    const started = Date.now();
    expect(await send(one.port)).toMatchObject({ status: 504, body: '504 Gateway Timeout\n' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    await one.ended(1);
    expect(one.tries(1)).toEqual(['A:timeout', 'proxy:504']);
    expect(one.events.find((e) => e.type === 'outcome')).toMatchObject({ detail: 'read timed out (200 ms)', freed: 'fail', verdict: { action: 'respond', status: 504 } });
    expect(one.counts('A')).toEqual({ fails: 1, conns: 0 });

    const two = await proxy(servers);
    expect(await send(two.port)).toMatchObject({ status: 200, body: 'B' });
    await two.ended(1);
    expect(two.tries(1)).toEqual(['A:timeout', 'B:200']);
    expect(two.counts('A')).toEqual({ fails: 1, conns: 0 });
    await waitFor(() => a.hanging === 0, 'the timed-out requests to be closed at A');

    // One server alone is nginx's single-server mode: a timeout answers 504 but never counts.
    const single = await proxy([{ id: 'A', address: a.address }]);
    expect(await send(single.port)).toMatchObject({ status: 504 });
    await single.ended(1);
    expect(single.counts('A')).toEqual({ fails: 0, conns: 0 });
  });

  it('a connect that does not complete within connectTimeout: a failure, the next server', async () => {
    const hole = await blackhole();
    const b = await backend('B');
    const r = await proxy([{ id: 'H', address: hole }, { id: 'B', address: b.address }], ['error', 'timeout'], { readTimeout: 5000 });
    const started = Date.now();
    expect(await send(r.port)).toMatchObject({ status: 200, body: 'B' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    await r.ended(1);
    expect(r.tries(1)).toEqual(['H:timeout', 'B:200']);
    expect(r.events.find((e) => e.type === 'outcome')).toMatchObject({ detail: 'connect timed out (200 ms)' });
    expect(r.counts('H')).toEqual({ fails: 1, conns: 0 });
  });

  it('every server down: 502 from the proxy', async () => {
    const r = await proxy([{ id: 'X', address: await refused() }, { id: 'Y', address: await refused() }]);
    expect(await send(r.port)).toMatchObject({ status: 502, body: '502 Bad Gateway\n' });
    await r.ended(1);
    expect(r.tries(1)).toEqual(['X:error', 'Y:error', 'proxy:502']);
    expect(r.counts('X')).toEqual({ fails: 1, conns: 0 });
    expect(r.counts('Y')).toEqual({ fails: 1, conns: 0 });
    // Both out for fail_timeout now: "no live upstreams" at once, nothing tried.
    expect(await send(r.port)).toMatchObject({ status: 502 });
    await r.ended(2);
    expect(r.tries(2)).toEqual(['proxy:502']);
  });

  it('weights 1:4: the exact nginx order over 10 requests', async () => {
    const a = await backend('A');
    const b = await backend('B');
    const r = await proxy([{ id: 'A', address: a.address, weight: 1 }, { id: 'B', address: b.address, weight: 4 }]);
    const order: string[] = [];
    for (let i = 0; i < 10; i++) order.push((await send(r.port)).body);
    expect(order.join(' ')).toBe('B B A B B B B A B B');
    await r.ended(10);
    expect(r.counts('A')).toEqual({ fails: 0, conns: 0 });
    expect(r.counts('B')).toEqual({ fails: 0, conns: 0 });
  });
});

describe('http proxy: bodies, headers, connections', () => {
  it('a buffered body goes to every try; one over bufferLimit (or chunked) streams and is not retried once sent', async () => {
    const a = await backend('A');
    const b = await backend('B');
    a.mode = '502';
    // A first every time (weight 100 against 1) until it fails.
    const servers = [{ id: 'A', address: a.address, weight: 100 }, { id: 'B', address: b.address }];
    const r = await proxy(servers, ['error', 'timeout', 'http_502'], { bufferLimit: 16 });
    // Over the limit: unbuffered, and sent, so A's 502 passes to the client (a success for A).
    const big = 'x'.repeat(100);
    expect(await send(r.port, { method: 'PUT', body: big })).toMatchObject({ status: 502, body: 'A' });
    await r.ended(1);
    expect(r.tries(1)).toEqual(['A:502']);
    expect(a.requests.at(-1)!.body).toBe(big);
    // Chunked (length unknown): streamed too.
    expect(await send(r.port, { method: 'PUT', body: 'chunk', headers: { 'transfer-encoding': 'chunked' } })).toMatchObject({ status: 502, body: 'A' });
    await r.ended(2);
    expect(r.tries(2)).toEqual(['A:502']);
    expect(a.requests.at(-1)).toMatchObject({ body: 'chunk', headers: { 'transfer-encoding': 'chunked' } });
    expect(r.counts('A')).toEqual({ fails: 0, conns: 0 });
    expect(b.requests).toHaveLength(0);
    // Within the limit: buffered, so the PUT (idempotent) moves on with its whole body.
    expect(await send(r.port, { method: 'PUT', body: 'small' })).toMatchObject({ status: 200, body: 'B' });
    await r.ended(3);
    expect(r.tries(3)).toEqual(['A:502', 'B:200']);
    expect(a.requests.at(-1)!.body).toBe('small');
    expect(b.requests.at(-1)).toMatchObject({ method: 'PUT', body: 'small' });
    expect(r.counts('A')).toEqual({ fails: 1, conns: 0 });
  });

  it('hop-by-hop headers stay on their hop both ways, X-Forwarded-For is appended, upstream connections are kept alive', async () => {
    const a = await backend('A');
    const r = await proxy([{ id: 'A', address: a.address }]);
    const res = await send(r.port, {
      path: '/p?q=1',
      headers: { connection: 'close, x-hop', 'x-hop': '1', 'keep-alive': 'timeout=9', 'proxy-authorization': 'x', te: 'trailers', upgrade: 'h2c', 'x-forwarded-for': '10.0.0.9', 'x-end': 'e', host: 'example.test' },
    });
    expect(res).toMatchObject({ status: 200, body: 'A' });
    expect(res.headers['x-backend']).toBe('A');
    expect(res.headers['keep-alive']).toBeUndefined(); // the backend's Keep-Alive: timeout=5 did not pass
    const got = a.requests[0]!;
    expect(got.url).toBe('/p?q=1');
    expect(got.headers).toMatchObject({ 'x-end': 'e', host: 'example.test', 'x-forwarded-for': '10.0.0.9, 127.0.0.1', connection: 'keep-alive' });
    for (const h of ['x-hop', 'keep-alive', 'proxy-authorization', 'te', 'upgrade']) expect(got.headers[h], h).toBeUndefined();
    await send(r.port);
    await send(r.port);
    expect(a.requests).toHaveLength(3);
    expect(a.connections).toBe(1); // one upstream connection for three requests
  });
});

describe('http proxy: the client or the server goes away', () => {
  it('a client abort destroys the upstream request and releases the server (conns 0, not a failure)', async () => {
    const a = await backend('A');
    a.mode = 'hang';
    const r = await proxy([{ id: 'A', address: a.address }], ['error', 'timeout'], { readTimeout: 5000 });
    const c = net.connect({ port: r.port, host: '127.0.0.1' });
    c.on('error', () => {});
    c.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => a.hanging === 1, 'the request at A');
    expect(r.counts('A')).toEqual({ fails: 0, conns: 1 });
    c.destroy();
    const end = await r.ended(1);
    expect(end).toMatchObject({ complete: false, status: undefined });
    expect(r.counts('A')).toEqual({ fails: 0, conns: 0 });
    await waitFor(() => a.hanging === 0, 'the upstream request to be closed');
    expect(r.tries(1)).toEqual([]);
  });

  it('a reset mid-body: the client gets a truncated response, the server is released and not counted', async () => {
    const a = await backend('A');
    const b = await backend('B');
    a.mode = 'reset-mid-body';
    const r = await proxy([{ id: 'A', address: a.address }, { id: 'B', address: b.address }], ['error', 'timeout', 'http_502']);
    const res = await send(r.port);
    expect(res.status).toBe(200);
    expect(res.truncated).toBe(true);
    expect(res.body).toBe('A-partial.');
    const end = await r.ended(1);
    expect(end).toMatchObject({ complete: false, status: 200 });
    expect(end.server?.id).toBe('A');
    expect(r.tries(1)).toEqual(['A:200']);
    expect(r.counts('A')).toEqual({ fails: 0, conns: 0 });
    expect(b.requests).toHaveLength(0);
  });
});

describe('the demo (npm run demo -- --http)', () => {
  it('runs to completion, exits 0 and leaves no socket or timer behind', async () => {
    const count = (): { sockets: number; timers: number } => {
      const all = process.getActiveResourcesInfo();
      return { sockets: all.filter((x) => x === 'TCPSocketWrap' || x === 'TCPServerWrap').length, timers: all.filter((x) => x === 'Timeout').length };
    };
    const before = count();
    const lines: string[] = [];
    expect(await main({ write: (l) => lines.push(l) })).toBe(0);
    const text = lines.join('\n');
    expect(text).toMatch(/shares +order B B A B B B B A B B/);
    expect(text).toMatch(/GET +#11 +B 502 \(failed\) -> A 200/);
    expect(text).toMatch(/A 404 \(next, not a failure\) -> B 200/);
    expect(text).toMatch(/POST +#\d+ +[AB] 502 \(passed to the client: not retried\)/);
    expect(text).toMatch(/B refused \(failed\) -> A refused \(failed\) -> C 200|A refused \(failed\) -> B refused \(failed\) -> C 200/);
    expect(text).toMatch(/C refused \(failed\) -> 502 from the proxy \(no live upstreams\)/);
    expect(text).toMatch(/conns 0\)/);
    let after = count();
    for (let i = 0; i < 100 && (after.sockets > before.sockets || after.timers > before.timers); i++) {
      await new Promise((r) => setTimeout(r, 10));
      after = count();
    }
    expect(after.sockets).toBeLessThanOrEqual(before.sockets);
    expect(after.timers).toBeLessThanOrEqual(before.timers);
  });
});

async function waitFor(test: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
