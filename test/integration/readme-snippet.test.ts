/**
 * The two embedding snippets of README.md, run as written against real sockets on 127.0.0.1.
 *
 * Each ```ts block is taken from README.md (the TCP one: `node:net`; the HTTP one: `node:http`) and
 * adapted only by: the upstream addresses in its config string (`10.0.0.1:…`, `10.0.0.2:…`) and its
 * listen port replaced by test ports, the package import pointed at src/index.ts (the package is
 * not built here), and one appended read-only line that answers the test's `snapshot` message over
 * IPC (to see `fails` and `conns`). Each test runs the result in its own child process
 * (`node --import tsx`), killed in afterEach; every backend is closed in afterEach.
 *
 * TCP: a session is proxied both ways; a client reset does not crash the process (the upstream
 * socket is closed, the server released, the next client served); a client that leaves while the
 * connect is pending releases the server without a failure; an upstream reset mid-session closes
 * the client (not a failure); a refused primary fails over to the backup; `[::1]:port` is reached
 * (when the host has IPv6 loopback); a connect that never
 * completes (a listener whose accept queue is full: the kernel drops the SYN) fails after the
 * snippet's 3 s timeout and moves on.
 * HTTP: a GET and a POST are proxied with hop-by-hop headers dropped and X-Forwarded-For added;
 * refused -> next server (a failure); 502 -> next server (http_502, a failure); a POST answered 502
 * is not retried (sent, no non_idempotent); a client reset does not crash the process and releases
 * the server; a reset mid-body cuts the client's response short (not a failure); everything
 * refused -> 502 from the proxy; a backend that never answers -> 'timeout' after 5 s, next server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { send, startBackend, type Backend } from '../../docs/examples/http-proxy';

const README = readFileSync('README.md', 'utf8');
const BLOCKS = [...README.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const TCP = BLOCKS.find((b) => b.includes("from 'node:net'") && b.includes("from 'upstream-balancer'"));
const HTTP = BLOCKS.find((b) => b.includes("from 'node:http'") && b.includes("from 'upstream-balancer'"));
const SRC = pathToFileURL(resolve('src/index.ts')).href;
const dir = mkdtempSync(join(tmpdir(), 'ub-readme-'));

interface Snap {
  address: string;
  fails: number;
  conns: number;
}

interface Running {
  child: ChildProcess;
  port: number;
  snapshot(): Promise<Snap[]>;
  output(): string;
}

const children: ChildProcess[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
  }
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Replaces each `from` (which must occur exactly once, so that a README change fails loudly here). */
function adapt(code: string, replacements: [string, string][]): string {
  let out = code;
  for (const [from, to] of replacements) {
    const n = out.split(from).length - 1;
    if (n !== 1) throw new Error(`the README snippet should contain ${JSON.stringify(from)} once, found ${n}`);
    out = out.replace(from, to);
  }
  return out;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

let files = 0;
/**
 * Writes the adapted snippet, starts it in a child process and waits for its `ready` (sent once its
 * `listen` has bound: a probe connection would be a session, and count).
 */
async function run(code: string, port: number): Promise<Running> {
  const file = join(dir, `snippet-${++files}.ts`);
  writeFileSync(file, `${code}
// appended by the test, read-only: the balancer's counters on request, and 'ready' once listening
process.on('message', () => process.send!(balancer.snapshot().servers.map(({ address, fails, conns }) => ({ address, fails, conns }))));
setImmediate(() => process.send!('ready'));
`);
  const child = spawn(process.execPath, ['--import', 'tsx', file], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the snippet did not start: ${output}`)), 15_000);
    child.once('message', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the snippet exited (${code}): ${output}`));
    });
  });
  return {
    child,
    port,
    output: () => output,
    snapshot: () => new Promise<Snap[]>((r) => {
      child.once('message', (m) => r(m as Snap[]));
      child.send('snapshot');
    }),
  };
}

async function until(what: string, test: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The counters of `address`, once its connection count has settled to `conns`. */
async function settledAt(r: Running, address: string, conns = 0): Promise<Snap> {
  let last: Snap | undefined;
  await until(`conns ${conns} on ${address}`, async () => {
    last = (await r.snapshot()).find((s) => s.address === address);
    return last?.conns === conns;
  });
  return last!;
}

// -------------------------------------------------------------------------------------------------
// TCP

interface TcpBackend {
  name: string;
  address: string;
  /** 'echo': answers `NAME:data`; 'reset': resets the connection on the first data; 'hold': reads, never answers. */
  mode: 'echo' | 'reset' | 'hold';
  sockets: Set<net.Socket>;
  accepted: number;
}

async function tcpBackend(name: string, host = '127.0.0.1'): Promise<TcpBackend> {
  const be: TcpBackend = { name, address: '', mode: 'echo', sockets: new Set(), accepted: 0 };
  const server = net.createServer((s) => {
    be.accepted++;
    be.sockets.add(s);
    s.on('close', () => be.sockets.delete(s));
    s.on('error', () => {});
    s.on('data', (d: Buffer) => {
      if (be.mode === 'echo') s.write(`${name}:${d.toString()}`);
      else if (be.mode === 'reset') s.resetAndDestroy();
    });
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  const { port } = server.address() as net.AddressInfo;
  be.address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  cleanups.push(() => new Promise<void>((r) => {
    server.close(() => r());
    for (const s of be.sockets) s.destroy();
  }));
  return be;
}

/**
 * A listener that never accepts (its process is blocked) with a full accept queue: the kernel drops
 * further SYNs, so a connect to it neither completes nor fails, like an unanswered SYN.
 */
async function blackhole(): Promise<string> {
  const code = `const net = require('node:net');
const server = net.createServer();
server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
  process.stdout.write(server.address().port + '\\n');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
  process.exit(0);
});`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const port = Number(await new Promise<string>((r) => child.stdout!.once('data', (d: Buffer) => r(d.toString().trim()))));
  // Fill the accept queue (backlog 1: two completed connections); they are never accepted.
  const fillers: net.Socket[] = [];
  cleanups.push(() => {
    for (const s of fillers) s.destroy();
  });
  for (let i = 0; i < 3; i++) {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.on('error', () => {});
    fillers.push(s);
  }
  await new Promise((r) => setTimeout(r, 100));
  return `127.0.0.1:${port}`;
}

function tcpClient(port: number): Promise<{ socket: net.Socket; text: () => string; closed: Promise<boolean> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' }, () => resolve({ socket, text: () => text, closed }));
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString()));
    socket.on('error', () => {});
    const closed = new Promise<boolean>((r) => socket.on('close', (hadError) => r(hadError)));
    socket.once('error', reject);
  });
}

async function startTcp(primary: string, backup: string): Promise<Running> {
  expect(TCP, 'README.md has a ```ts block with the node:net snippet').toBeDefined();
  const port = await freePort();
  return run(adapt(TCP!, [
    ["from 'upstream-balancer'", `from '${SRC}'`],
    ['10.0.0.1:10025', primary],
    ['10.0.0.2:10025', backup],
    ['.listen(2525)', `.listen(${port}, '127.0.0.1')`],
  ]), port);
}

describe('README: the TCP snippet', () => {
  it('proxies a session both ways and releases the server when it ends', async () => {
    const p = await tcpBackend('P');
    const q = await tcpBackend('Q');
    const r = await startTcp(p.address, q.address);
    const c = await tcpClient(r.port);
    c.socket.write('hello');
    await until('the echo', () => c.text() === 'P:hello');
    c.socket.write(' again');
    await until('the second echo', () => c.text() === 'P:helloP: again');
    c.socket.end();
    await c.closed;
    expect(await settledAt(r, p.address)).toMatchObject({ fails: 0, conns: 0 });
    expect(q.accepted).toBe(0);
  });

  it('a client reset does not crash the process: the upstream socket is closed, the server released, the next client served', async () => {
    const p = await tcpBackend('P');
    const q = await tcpBackend('Q');
    p.mode = 'hold';
    const r = await startTcp(p.address, q.address);
    const c = await tcpClient(r.port);
    c.socket.write('x');
    await until('the upstream connection', () => p.sockets.size === 1);
    c.socket.resetAndDestroy();
    await until('the upstream socket to close', () => p.sockets.size === 0);
    expect(await settledAt(r, p.address)).toMatchObject({ fails: 0, conns: 0 });
    p.mode = 'echo';
    const next = await tcpClient(r.port);
    next.socket.write('still here');
    await until('the next session', () => next.text() === 'P:still here');
    next.socket.destroy();
    expect(r.child.exitCode).toBeNull();
    expect(r.output()).toBe('');
  });

  it('an upstream reset mid-session closes the client; the session had connected, so it is no failure', async () => {
    const p = await tcpBackend('P');
    const q = await tcpBackend('Q');
    const r = await startTcp(p.address, q.address);
    const c = await tcpClient(r.port);
    c.socket.write('one');
    await until('the echo', () => c.text() === 'P:one');
    p.mode = 'reset';
    c.socket.write('two');
    await c.closed; // bounded by the test timeout: the old snippet left this client open
    expect(await settledAt(r, p.address)).toMatchObject({ fails: 0, conns: 0 });
    expect(q.accepted).toBe(0);
  });

  it('a refused primary fails over to the backup within the session (one failure)', async () => {
    const refused = `127.0.0.1:${await freePort()}`;
    const q = await tcpBackend('Q');
    const r = await startTcp(refused, q.address);
    const c = await tcpClient(r.port);
    c.socket.write('hi');
    await until('the backup', () => c.text() === 'Q:hi');
    c.socket.end();
    await c.closed;
    const snap = await r.snapshot();
    expect(snap.find((s) => s.address === refused)).toMatchObject({ fails: 1, conns: 0 });
    expect(await settledAt(r, q.address)).toMatchObject({ fails: 0, conns: 0 });
  });

  it('an IPv6 address ([::1]:port) is connected as one (connectOptions, not a split on ":")', async (ctx) => {
    const v6 = await new Promise<boolean>((r) => {
      const probe = net.createServer().once('error', () => r(false));
      probe.listen(0, '::1', () => probe.close(() => r(true)));
    });
    if (!v6) return ctx.skip();
    const p = await tcpBackend('P6', '::1');
    const q = await tcpBackend('Q');
    const r = await startTcp(p.address, q.address);
    const c = await tcpClient(r.port);
    c.socket.write('hi');
    await until('the IPv6 server', () => c.text() === 'P6:hi');
    c.socket.end();
    await c.closed;
    expect(await settledAt(r, p.address)).toMatchObject({ fails: 0, conns: 0 });
  });

  it('a connect that never completes fails after the 3 s connect timeout and moves on; a client that leaves while connecting releases', async () => {
    const hole = await blackhole();
    const q = await tcpBackend('Q');
    const r = await startTcp(hole, q.address);

    // A client that gives up while the connect is pending: released, not failed.
    const early = await tcpClient(r.port);
    await until('the pending connect', async () => (await r.snapshot()).find((s) => s.address === hole)!.conns === 1);
    early.socket.resetAndDestroy();
    expect(await settledAt(r, hole)).toMatchObject({ fails: 0, conns: 0 });

    const started = Date.now();
    const c = await tcpClient(r.port);
    c.socket.write('hi');
    await until('the backup', () => c.text() === 'Q:hi', 10_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2900);
    c.socket.end();
    await c.closed;
    expect((await r.snapshot()).find((s) => s.address === hole)).toMatchObject({ fails: 1, conns: 0 });
  });
});

// -------------------------------------------------------------------------------------------------
// HTTP

async function backend(name: string): Promise<Backend> {
  const b = await startBackend(name);
  cleanups.push(() => b.close());
  return b;
}

async function startHttp(first: string, second: string): Promise<Running> {
  expect(HTTP, 'README.md has a ```ts block with the node:http snippet').toBeDefined();
  const port = await freePort();
  return run(adapt(HTTP!, [
    ["from 'upstream-balancer'", `from '${SRC}'`],
    ['10.0.0.1:8080', first],
    ['10.0.0.2:8080', second],
    ['.listen(8080)', `.listen(${port}, '127.0.0.1')`],
  ]), port);
}

describe('README: the HTTP snippet', () => {
  it('proxies a GET and a POST: hop-by-hop headers dropped, X-Forwarded-For added, the body sent', async () => {
    const a = await backend('A');
    const b = await backend('B');
    const r = await startHttp(a.address, b.address);
    const get = await send(r.port, { path: '/x?y=1', headers: { connection: 'keep-alive, x-hop', 'x-hop': '1', 'x-end': '2', 'x-forwarded-for': '10.1.1.1', te: 'trailers' } });
    expect(get).toMatchObject({ status: 200, body: 'A', truncated: false });
    expect(get.headers['x-backend']).toBe('A');
    const seen = a.requests[0]!;
    expect(seen.url).toBe('/x?y=1');
    expect(seen.headers['x-end']).toBe('2');
    expect(seen.headers['x-hop']).toBeUndefined();
    expect(seen.headers.te).toBeUndefined();
    expect(seen.headers['x-forwarded-for']).toBe('10.1.1.1, 127.0.0.1');
    const post = await send(r.port, { method: 'POST', body: 'a=1&b=2' });
    expect(post).toMatchObject({ status: 200, body: 'B' });
    expect(b.requests[0]).toMatchObject({ method: 'POST', body: 'a=1&b=2' });
    for (const be of [a, b]) expect(await settledAt(r, be.address)).toMatchObject({ fails: 0, conns: 0 });
  });

  it('refused -> the next server (a failure); 502 -> the next server (http_502, a failure)', async () => {
    const refused = `127.0.0.1:${await freePort()}`;
    const b = await backend('B');
    const r = await startHttp(refused, b.address);
    expect(await send(r.port)).toMatchObject({ status: 200, body: 'B' });
    expect((await r.snapshot()).find((s) => s.address === refused)).toMatchObject({ fails: 1, conns: 0 });

    const a2 = await backend('A');
    const b2 = await backend('B');
    a2.mode = '502';
    const r2 = await startHttp(a2.address, b2.address);
    expect(await send(r2.port)).toMatchObject({ status: 200, body: 'B' });
    expect(a2.requests).toHaveLength(1);
    expect(await settledAt(r2, a2.address)).toMatchObject({ fails: 1, conns: 0 });
  });

  it('a POST answered 502 is not retried (the request was sent; no non_idempotent): the client gets that 502', async () => {
    const a = await backend('A');
    const b = await backend('B');
    a.mode = '502';
    const r = await startHttp(a.address, b.address);
    expect(await send(r.port, { method: 'POST', body: 'once' })).toMatchObject({ status: 502, body: 'A' });
    expect(b.requests).toHaveLength(0);
    expect(await settledAt(r, a.address)).toMatchObject({ fails: 0, conns: 0 });
  });

  it('a client reset does not crash the process and releases the server; the next request is served', async () => {
    const a = await backend('A');
    const b = await backend('B');
    a.mode = 'hang';
    const r = await startHttp(a.address, b.address);
    const c = net.connect({ port: r.port, host: '127.0.0.1' });
    c.on('error', () => {});
    c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await until('the upstream request', () => a.hanging === 1);
    c.resetAndDestroy();
    await until('the upstream request to be closed', () => a.hanging === 0);
    expect(await settledAt(r, a.address)).toMatchObject({ fails: 0, conns: 0 });
    // A client that resets in the middle of its body: nothing was sent upstream, nothing crashes.
    const half = net.connect({ port: r.port, host: '127.0.0.1' });
    half.on('error', () => {});
    half.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc');
    await new Promise((res) => setTimeout(res, 50));
    half.resetAndDestroy();
    a.mode = 'ok';
    expect(await send(r.port)).toMatchObject({ status: 200 });
    expect(r.child.exitCode).toBeNull();
    expect(r.output()).toBe('');
  });

  it('an upstream reset mid-body cuts the client response short; the server is not counted', async () => {
    const a = await backend('A');
    const b = await backend('B');
    a.mode = 'reset-mid-body';
    const r = await startHttp(a.address, b.address);
    const res = await send(r.port);
    expect(res.status).toBe(200);
    expect(res.truncated).toBe(true);
    expect(res.body.length).toBeLessThan(100);
    expect(b.requests).toHaveLength(0);
    expect(await settledAt(r, a.address)).toMatchObject({ fails: 0, conns: 0 });
  });

  it('every server refused: 502 from the proxy', async () => {
    const one = `127.0.0.1:${await freePort()}`;
    const two = `127.0.0.1:${await freePort()}`;
    const r = await startHttp(one, two);
    expect(await send(r.port)).toMatchObject({ status: 502 });
    const snap = await r.snapshot();
    expect(snap.map((s) => [s.fails, s.conns])).toEqual([[1, 0], [1, 0]]);
  });

  it('a backend that never answers: timeout after 5 s (a failure), the request moves on', async () => {
    const a = await backend('A');
    const b = await backend('B');
    a.mode = 'hang';
    const r = await startHttp(a.address, b.address);
    const started = Date.now();
    expect(await send(r.port)).toMatchObject({ status: 200, body: 'B' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(4900);
    expect(await settledAt(r, a.address)).toMatchObject({ fails: 1, conns: 0 });
    await until('the hung request to be closed', () => a.hanging === 0);
  });
});
