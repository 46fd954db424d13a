/**
 * BalancedDispatcher (upstream-balancer/undici) with the real undici and real node:http backends on
 * 127.0.0.1: each backend answers with its id, so every case asserts the exact status, the exact
 * servers tried (the walk's context, nginx's $upstream_addr / $upstream_status) and the balancer's
 * fails / conns afterwards. Every server and dispatcher is closed after each test.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import type tls from 'node:tls';
import { type Dispatcher, buildConnector, errors, fetch, request, stream } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import type { NextUpstreamCondition } from '../../src/next-upstream';
import type { ServerOptions } from '../../src/options';
import {
  BalancedDispatcher,
  type BalancedContext,
  type BalancedDispatcherOptions,
  type BalancerLike,
  type NextUpstreamConditionName,
  SYNTHESIZED_HEADER,
} from '../../src/undici/index';
import { deadPort, eventually, listen, rawPeer, stopAll, tcpSockets } from '../fixtures/peers';
import { picks } from '../helpers';

// ---------------------------------------------------------------------------------------------------
// Backends and helpers

interface Backend {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  /** `METHOD /path` of every request received. */
  readonly hits: string[];
  /** The Host header and Connection header of every request. */
  readonly seen: { host: string | undefined; connection: string | undefined }[];
  /** The server-side socket of every request. */
  readonly sockets: Socket[];
  /** Open server-side sockets. */
  open(): number;
}

type Handle = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** A node:http backend on 127.0.0.1 that answers `id` (200) unless `handle` says otherwise. */
async function backend(id: string, handle?: Handle): Promise<Backend> {
  const hits: string[] = [];
  const seen: Backend['seen'] = [];
  const requestSockets: Socket[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    seen.push({ host: req.headers.host, connection: req.headers.connection });
    requestSockets.push(req.socket);
    res.setHeader('x-id', id);
    if (handle !== undefined) return handle(req, res);
    req.resume();
    req.on('end', () => res.end(id));
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const port = await listen(server);
  return { id, address: `127.0.0.1:${port}`, port, hits, seen, sockets: requestSockets, open: () => sockets.size };
}

/** A server on 127.0.0.1 where nothing listens (connections refused). */
async function dead(id: string): Promise<ServerOptions> {
  return { id, address: `127.0.0.1:${await deadPort()}` };
}

/**
 * An address whose connects neither complete nor fail, as behind a dropped SYN: a listener with a
 * backlog of 1 in a child process that blocks its event loop (it never accepts), its accept queue
 * filled by a few connections from here. Everything is stopped after the test.
 */
async function blackHole(): Promise<string> {
  const script = [
    "const server = require('node:net').createServer();",
    "server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {",
    "  console.log(server.address().port);",
    '  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30000); // blocks: nothing is accepted',
    '});',
  ].join('\n');
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString()))));
  const fill = [0, 1, 2].map(() => connect({ host: '127.0.0.1', port }).on('error', () => {}));
  cleanups.push(() => {
    for (const s of fill) s.destroy();
    child.kill('SIGKILL');
  });
  await sleep(100); // (the queue is full once the kernel completed the first two)
  return `127.0.0.1:${port}`;
}

const cleanups: (() => void)[] = [];

const as = (b: Backend, extra: Partial<ServerOptions> = {}): ServerOptions => ({ id: b.id, address: b.address, ...extra });

const dispatchers: BalancedDispatcher[] = [];
/** The handler API the dispatchers of the running suite speak to their pools (see `suites` below). */
let handlerApi: BalancedDispatcherOptions['handlerApi'] = 'auto';
function dispatcher(balancer: Balancer, options: BalancedDispatcherOptions = {}): BalancedDispatcher {
  const d = new BalancedDispatcher(balancer, { handlerApi, ...options });
  dispatchers.push(d);
  return d;
}

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  await Promise.all(dispatchers.splice(0).map((d) => d.destroy().catch(() => {})));
  await stopAll();
});

/** Each server as `state fails=N conns=N`. */
function health(b: Balancer): Record<string, string> {
  return Object.fromEntries(b.snapshot().servers.map((s) => [s.id, `${s.state} fails=${s.fails} conns=${s.conns}`]));
}

/** The servers a request tried: `A:200`, `D:error B:502 A:200`. */
const via = (context: unknown): string => (context as BalancedContext).upstreams.map((u) => `${u.id}:${u.status}`).join(' ');

/** A GET (or any method) through `request()`, body read as text. */
async function get(d: Dispatcher, path = '/', options: Partial<Dispatcher.RequestOptions> = {}) {
  const r = await request(`http://backend${path}`, { dispatcher: d, ...options } as Dispatcher.RequestOptions);
  const body = await r.body.text();
  return { status: r.statusCode, body, headers: r.headers, via: via(r.context) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const MB = 1024 * 1024;

/** A Readable of `data` in 64 KiB chunks, produced lazily. */
function chunked(data: Buffer): Readable {
  let at = 0;
  return new Readable({
    read() {
      if (at >= data.length) return void this.push(null);
      this.push(data.subarray(at, (at += 64 * 1024)));
    },
  });
}

/** Echoes the request body back (streamed both ways) with its length and hash in trailers-free headers. */
const echo: Handle = (req, res) => {
  res.setHeader('content-type', 'application/octet-stream');
  req.pipe(res);
};

// ---------------------------------------------------------------------------------------------------

describe('BalancedDispatcher: types', () => {
  it('declares its own structural types, equal to the core ones', () => {
    expectTypeOf<NextUpstreamConditionName>().toEqualTypeOf<NextUpstreamCondition>();
    const like: BalancerLike = new Balancer({ servers: [{ address: '127.0.0.1:1' }] });
    expect(typeof like.attempt).toBe('function');
  });
});

// Both handler APIs towards the pools: 'auto' is the older one on undici 6 and 7 (the one installed
// here), 'controller' the newer one (undici 8's only one; undici 7 converts it).
for (const api of ['auto', 'controller'] as const) {
  describe(`handler API ${api}`, () => {
    beforeAll(() => {
      handlerApi = api;
    });
    afterAll(() => {
      handlerApi = 'auto';
    });

  describe(`BalancedDispatcher (${api}): what counts as a failure and what is retried`, () => {
    it('fails over from a refused server (a counted failure) to the next', async () => {
      const a = await backend('A');
      const balancer = new Balancer({ servers: [await dead('D'), as(a)] });
      const d = dispatcher(balancer);
      expect(await get(d, '/x')).toMatchObject({ status: 200, body: 'A', via: 'D:error A:200' });
      expect(health(balancer)).toEqual({ D: 'unavail fails=1 conns=0', A: 'up fails=0 conns=0' });
      expect(a.hits).toEqual(['GET /x']);
    });

    it('passes a 404 on to the next server with http_404, without a failure (NGX_PEER_NEXT)', async () => {
      const n = await backend('N', (req, res) => {
        res.statusCode = 404;
        res.end('N');
      });
      const a = await backend('A');
      const balancer = new Balancer({ servers: [as(n), as(a)] });
      const d = dispatcher(balancer, { nextUpstream: ['error', 'timeout', 'http_404'] });
      expect(await get(d)).toMatchObject({ status: 200, body: 'A', via: 'N:404 A:200' });
      expect(health(balancer)).toEqual({ N: 'up fails=0 conns=0', A: 'up fails=0 conns=0' });
      // without http_404 the 404 is the answer
      const plain = dispatcher(new Balancer({ servers: [as(n), as(a)] }));
      expect(await get(plain)).toMatchObject({ status: 404, body: 'N', via: 'N:404' });
    });

    it('counts a 502 named by http_502 as a failure and moves on; a 502 with no try left is passed as a success', async () => {
      const b = await backend('B', (req, res) => {
        res.statusCode = 502;
        res.end('B');
      });
      const a = await backend('A');
      const balancer = new Balancer({ servers: [as(b), as(a)] });
      const d = dispatcher(balancer, { nextUpstream: ['error', 'timeout', 'http_502'] });
      expect(await get(d)).toMatchObject({ status: 200, body: 'A', via: 'B:502 A:200' });
      expect(health(balancer)).toEqual({ B: 'unavail fails=1 conns=0', A: 'up fails=0 conns=0' });

      const alone = new Balancer({ servers: [as(b)] });
      expect(await get(dispatcher(alone, { nextUpstream: ['http_502'] }))).toMatchObject({ status: 502, body: 'B', via: 'B:502' });
      expect(health(alone)).toEqual({ B: 'up fails=0 conns=0' });
    });

    it('does not resend a POST whose buffered body was sent without non_idempotent (the client gets 502); does with it', async () => {
      const r = await backend('R', (req) => {
        req.resume();
        req.on('end', () => req.socket.destroy()); // reads the whole request, then resets
      });
      const a = await backend('A', (req, res) => {
        const parts: Buffer[] = [];
        req.on('data', (c: Buffer) => parts.push(c));
        req.on('end', () => res.end(`A ${req.method} ${Buffer.concat(parts).toString()}`));
      });

      const strict = new Balancer({ servers: [as(r), as(a)] });
      const s = await get(dispatcher(strict), '/post', { method: 'POST', body: 'hello' });
      expect(s).toMatchObject({ status: 502, via: 'R:error' });
      expect(s.headers[SYNTHESIZED_HEADER]).toBe('error');
      expect(health(strict)).toEqual({ R: 'unavail fails=1 conns=0', A: 'up fails=0 conns=0' });
      expect(a.hits).toEqual([]);

      const lax = new Balancer({ servers: [as(r), as(a)] });
      const d = dispatcher(lax, { nextUpstream: ['error', 'timeout', 'non_idempotent'] });
      expect(await get(d, '/post', { method: 'POST', body: Buffer.from('hello') })).toMatchObject({ status: 200, body: 'A POST hello', via: 'R:error A:200' });
      expect(health(lax)).toEqual({ R: 'unavail fails=1 conns=0', A: 'up fails=0 conns=0' });

      // a GET is idempotent: retried without non_idempotent
      const idem = new Balancer({ servers: [as(r), as(a)] });
      expect(await get(dispatcher(idem), '/get')).toMatchObject({ status: 200, body: 'A GET ', via: 'R:error A:200' });
    });

    it('passes a POST\'s 502 through without non_idempotent, retries it with it', async () => {
      const b = await backend('B', (req, res) => {
        req.resume();
        res.statusCode = 502;
        res.end('B');
      });
      const a = await backend('A');
      const one = new Balancer({ servers: [as(b), as(a)] });
      expect(await get(dispatcher(one, { nextUpstream: ['error', 'http_502'] }), '/', { method: 'POST', body: 'x' })).toMatchObject({ status: 502, body: 'B', via: 'B:502' });
      expect(health(one)).toEqual({ B: 'up fails=0 conns=0', A: 'up fails=0 conns=0' });
      const two = new Balancer({ servers: [as(b), as(a)] });
      expect(await get(dispatcher(two, { nextUpstream: ['error', 'http_502', 'non_idempotent'] }), '/', { method: 'POST', body: 'x' })).toMatchObject({
        status: 200,
        body: 'A',
        via: 'B:502 A:200',
      });
      expect(health(two)).toEqual({ B: 'unavail fails=1 conns=0', A: 'up fails=0 conns=0' });
    });

    it('treats an unparsable header as invalid_header: 502 and a failure, retried only when named', async () => {
      const port = await rawPeer((socket) => {
        socket.once('data', () => socket.write('HTTP/1.1 2x0 Nope\r\n\r\n'));
      });
      const a = await backend('A');
      const bad = { id: 'X', address: `127.0.0.1:${port}` };
      const plain = new Balancer({ servers: [bad, as(a)] });
      const r = await get(dispatcher(plain));
      expect(r).toMatchObject({ status: 502, via: 'X:invalid_header' });
      expect(r.headers[SYNTHESIZED_HEADER]).toBe('invalid_header');
      expect(health(plain)).toEqual({ X: 'unavail fails=1 conns=0', A: 'up fails=0 conns=0' });
      const named = new Balancer({ servers: [bad, as(a)] });
      expect(await get(dispatcher(named, { nextUpstream: ['error', 'timeout', 'invalid_header'] }))).toMatchObject({ status: 200, body: 'A', via: 'X:invalid_header A:200' });
    });

    it('answers 504 after a header timeout and counts it; retries it on the next server', async () => {
      const h = await backend('H', () => {}); // never answers
      const a = await backend('A');
      const last = new Balancer({ servers: [as(h), as(a)] });
      const r = await get(dispatcher(last, { headersTimeout: 150, tries: 1 }));
      expect(r).toMatchObject({ status: 504, body: '504 Gateway Time-out (timeout)\n', via: 'H:timeout' });
      expect(r.headers[SYNTHESIZED_HEADER]).toBe('timeout');
      expect(health(last)).toEqual({ H: 'unavail fails=1 conns=0', A: 'up fails=0 conns=0' });
      expect(a.hits).toEqual([]);

      const both = new Balancer({ servers: [as(h), as(a)] });
      expect(await get(dispatcher(both, { headersTimeout: 150 }))).toMatchObject({ status: 200, body: 'A', via: 'H:timeout A:200' });
      expect(health(both)).toEqual({ H: 'unavail fails=1 conns=0', A: 'up fails=0 conns=0' });

      // one server alone: nginx's single-peer rule zeroes its fails on every free, failed or not
      const alone = new Balancer({ servers: [as(h)] });
      expect(await get(dispatcher(alone, { headersTimeout: 150 }))).toMatchObject({ status: 504, via: 'H:timeout' });
      expect(health(alone)).toEqual({ H: 'up fails=0 conns=0' });
    });

    it('counts a connect timeout (UND_ERR_CONNECT_TIMEOUT) as timeout: 504 on the last try, else the next server', async () => {
      const a = await backend('A');
      const hole = await blackHole();
      const last = new Balancer({ servers: [{ id: 'T', address: hole }, as(a)] });
      const t0 = Date.now();
      expect(await get(dispatcher(last, { connectTimeout: 200, tries: 1 }))).toMatchObject({ status: 504, via: 'T:timeout' });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
      expect(health(last)).toEqual({ T: 'unavail fails=1 conns=0', A: 'up fails=0 conns=0' });
      const both = new Balancer({ servers: [{ id: 'T', address: hole }, as(a)] });
      expect(await get(dispatcher(both, { connectTimeout: 200 }))).toMatchObject({ status: 200, body: 'A', via: 'T:timeout A:200' });
      expect(health(both)).toEqual({ T: 'unavail fails=1 conns=0', A: 'up fails=0 conns=0' });
    });

    it('answers 502 when every server is down, then "no live upstreams" without trying any', async () => {
      const balancer = new Balancer({ servers: [await dead('D1'), await dead('D2')] });
      const d = dispatcher(balancer);
      const first = await get(d);
      expect(first).toMatchObject({ status: 502, body: '502 Bad Gateway (error)\n', via: 'D1:error D2:error' });
      expect(first.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(health(balancer)).toEqual({ D1: 'unavail fails=1 conns=0', D2: 'unavail fails=1 conns=0' });
      const second = await get(d);
      expect(second).toMatchObject({ status: 502, body: '502 Bad Gateway (no-live-upstreams)\n', via: '' });
      expect(second.headers[SYNTHESIZED_HEADER]).toBe('no-live-upstreams');
      // HEAD: the status and headers, no body
      const head = await get(d, '/', { method: 'HEAD' });
      expect(head).toMatchObject({ status: 502, body: '' });
    });

    it('keeps to the tries budget (proxy_next_upstream_tries)', async () => {
      const bad = (id: string) =>
        backend(id, (req, res) => {
          res.statusCode = 502;
          res.end(id);
        });
      const b1 = await bad('B1');
      const b2 = await bad('B2');
      const a = await backend('A');
      const balancer = new Balancer({ servers: [as(b1), as(b2), as(a)] });
      const d = dispatcher(balancer, { nextUpstream: ['error', 'http_502'], tries: 2 });
      // the second try has no try after it: its 502 is the answer, freed as a success
      expect(await get(d)).toMatchObject({ status: 502, body: 'B2', via: 'B1:502 B2:502' });
      expect(health(balancer)).toEqual({ B1: 'unavail fails=1 conns=0', B2: 'up fails=0 conns=0', A: 'up fails=0 conns=0' });
      expect(a.hits).toEqual([]);

      const down = new Balancer({ servers: [await dead('D1'), await dead('D2'), as(a)] });
      expect(await get(dispatcher(down, { tries: 2 }))).toMatchObject({ status: 502, via: 'D1:error D2:error' });
      expect(health(down)).toEqual({ D1: 'unavail fails=1 conns=0', D2: 'unavail fails=1 conns=0', A: 'up fails=0 conns=0' });
    });

    it('keeps to the time budget (proxy_next_upstream_timeout)', async () => {
      const slow = await backend('S', (req, res) => {
        setTimeout(() => {
          res.statusCode = 502;
          res.end('S');
        }, 200);
      });
      const h = await backend('H', () => {});
      const a = await backend('A');
      const late = new Balancer({ servers: [as(slow), as(a)] });
      // the 502 comes after the budget: no retry, it is passed (and the server freed as a success)
      expect(await get(dispatcher(late, { nextUpstream: ['error', 'timeout', 'http_502'], timeout: 100 }))).toMatchObject({ status: 502, body: 'S', via: 'S:502' });
      expect(health(late)).toEqual({ S: 'up fails=0 conns=0', A: 'up fails=0 conns=0' });

      const hung = new Balancer({ servers: [as(h), as(a)] });
      const r = await get(dispatcher(hung, { timeout: 100, headersTimeout: 200 }));
      expect(r).toMatchObject({ status: 504, via: 'H:timeout' });
      expect(health(hung)).toEqual({ H: 'unavail fails=1 conns=0', A: 'up fails=0 conns=0' });
      expect(a.hits).toEqual([]);
    });
  });

  describe(`BalancedDispatcher (${api}): bodies, backpressure, aborts`, () => {
    const data = randomBytes(4 * MB);

    it('streams a 4 MB request and response body through request(), stream() and fetch()', async () => {
      const e = await backend('E', echo);
      const balancer = new Balancer({ servers: [as(e)] });
      const d = dispatcher(balancer);

      const r = await request('http://backend/echo', { dispatcher: d, method: 'PUT', body: chunked(data) });
      const got = Buffer.from(await r.body.arrayBuffer());
      expect(r.statusCode).toBe(200);
      expect([got.length, sha(got)]).toEqual([data.length, sha(data)]);

      const parts: Buffer[] = [];
      const s = await stream(
        'http://backend/echo',
        { dispatcher: d, method: 'PUT', body: chunked(data), opaque: parts },
        ({ statusCode, opaque }) => {
          expect(statusCode).toBe(200);
          return new Writable({
            write(chunk: Buffer, _enc, cb) {
              opaque.push(chunk);
              cb();
            },
          });
        },
      );
      const streamed = Buffer.concat(s.opaque);
      expect([streamed.length, sha(streamed)]).toEqual([data.length, sha(data)]);

      const f = await fetch('http://backend/echo', {
        dispatcher: d,
        method: 'PUT',
        body: Readable.toWeb(chunked(data)) as ReadableStream,
        duplex: 'half',
      });
      const fetched = Buffer.from(await f.arrayBuffer());
      expect(f.status).toBe(200);
      expect(f.headers.get('x-id')).toBe('E');
      expect([fetched.length, sha(fetched)]).toEqual([data.length, sha(data)]);
      expect(health(balancer)).toEqual({ E: 'up fails=0 conns=0' });
    });

    it('retries a streamed body only when nothing was sent (a refused connect)', async () => {
      const e = await backend('E', echo);
      const balancer = new Balancer({ servers: [await dead('D'), as(e)] });
      const r = await request('http://backend/echo', { dispatcher: dispatcher(balancer), method: 'PUT', body: chunked(data) });
      const got = Buffer.from(await r.body.arrayBuffer());
      expect([r.statusCode, via(r.context), got.length, sha(got)]).toEqual([200, 'D:error E:200', data.length, sha(data)]);

      // sent, then reset: an unbuffered body is not sent twice, even for PUT with non_idempotent
      const cut = await backend('C', (req) => req.once('data', () => req.socket.destroy()));
      const other = new Balancer({ servers: [as(cut), as(e)] });
      const d = dispatcher(other, { nextUpstream: ['error', 'timeout', 'non_idempotent'] });
      const c = await request('http://backend/echo', { dispatcher: d, method: 'PUT', body: chunked(data) });
      expect([c.statusCode, via(c.context), await c.body.text()]).toEqual([502, 'C:error', '502 Bad Gateway (error)\n']);
      expect(health(other)).toEqual({ C: 'unavail fails=1 conns=0', E: 'up fails=0 conns=0' });
      expect(e.hits).toEqual(['PUT /echo']); // only the first case's
    });

    it('passes backpressure through: a paused consumer stops the backend, not the adapter\'s memory', async () => {
      const total = 64 * MB;
      let written = 0;
      const s = await backend('S', (req, res) => {
        const chunk = Buffer.alloc(64 * 1024, 120);
        const pump = (): void => {
          while (written < total) {
            written += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
      });
      const balancer = new Balancer({ servers: [as(s)] });
      const d = dispatcher(balancer);
      const r = await request('http://backend/big', { dispatcher: d });
      await sleep(300);
      const stalled = written;
      await sleep(200);
      expect(written).toBe(stalled); // the backend is blocked
      expect(stalled).toBeLessThan(16 * MB); // socket buffers and one highWaterMark, not 64 MB
      let got = 0;
      for await (const c of r.body) got += (c as Buffer).length;
      expect(got).toBe(total);
      expect(health(balancer)).toEqual({ S: 'up fails=0 conns=0' });

      // the same with a handler of undici's newer API pausing through its controller
      written = 0;
      let controller: Dispatcher.DispatchController | null = null;
      let received = 0;
      const ended = new Promise<number>((resolve, reject) => {
        d.dispatch(
          { origin: 'http://backend', path: '/big', method: 'GET' },
          {
            onRequestStart() {},
            onResponseStart(c) {
              controller = c;
              c.pause();
            },
            onResponseData(_c, chunk) {
              received += chunk.length;
            },
            onResponseEnd() {
              resolve(received);
            },
            onResponseError(_c, error) {
              reject(error);
            },
          },
        );
      });
      await sleep(300);
      const paused = written;
      expect(paused).toBeLessThan(16 * MB);
      expect(received).toBeLessThan(16 * MB);
      controller!.resume();
      expect(await ended).toBe(total);
    });

    it('releases the server when the client aborts mid-body (nginx 499: not a failure)', async () => {
      const s = await backend('S', (req, res) => {
        res.writeHead(200, { 'content-length': '1000000' });
        res.write('x'.repeat(1000));
      });
      const balancer = new Balancer({ servers: [as(s)] });
      const ac = new AbortController();
      const r = await request('http://backend/', { dispatcher: dispatcher(balancer), signal: ac.signal });
      const it = r.body[Symbol.asyncIterator]();
      expect(((await it.next()).value as Buffer).length).toBe(1000);
      ac.abort();
      await expect(it.next()).rejects.toMatchObject({ name: 'AbortError' });
      expect(health(balancer)).toEqual({ S: 'up fails=0 conns=0' });
      // (undici's Client opens a fresh idle connection after an abort: the request's own one closes)
      expect(await eventually(() => s.sockets[0]!.destroyed)).toBe(true);
    });

    it('releases the server when the client aborts before the response header, and tries no other', async () => {
      const h = await backend('H', () => {});
      const a = await backend('A');
      const balancer = new Balancer({ servers: [as(h), as(a)] });
      await expect(request('http://backend/', { dispatcher: dispatcher(balancer), signal: AbortSignal.timeout(100) })).rejects.toMatchObject({ name: 'TimeoutError' });
      expect(health(balancer)).toEqual({ H: 'up fails=0 conns=0', A: 'up fails=0 conns=0' });
      expect(a.hits).toEqual([]);
      expect(await eventually(() => h.sockets[0]!.destroyed)).toBe(true);
    });

    it('releases the server when the client aborts while the connection is being made', async () => {
      const a = await backend('A');
      const direct = buildConnector({});
      let connecting = 0;
      const slow: buildConnector.connector = (opts, cb) => {
        connecting++;
        setTimeout(() => direct(opts, cb), 150); // the connect completes after the abort
      };
      const balancer = new Balancer({ servers: [as(a), await dead('D')] });
      const d = dispatcher(balancer, { pool: { connect: slow } });
      await expect(request('http://backend/', { dispatcher: d, signal: AbortSignal.timeout(30) })).rejects.toMatchObject({ name: 'TimeoutError' });
      expect(health(balancer)).toEqual({ A: 'up fails=0 conns=0', D: 'up fails=0 conns=0' });
      await sleep(250);
      expect([connecting, a.hits.length]).toEqual([1, 0]); // connected, then dropped unsent
      expect(health(balancer)).toEqual({ A: 'up fails=0 conns=0', D: 'up fails=0 conns=0' });
    });

    it('passes a reset mid-body to the caller as an error; the server is not failed and serves the next request', async () => {
      let n = 0;
      const s = await backend('S', (req, res) => {
        if (n++ > 0) return void res.end('S');
        res.writeHead(200, { 'content-length': '100000' });
        res.write('x'.repeat(1000), () => setTimeout(() => res.socket!.destroy(), 20));
      });
      const a = await backend('A');
      const balancer = new Balancer({ servers: [as(s, { weight: 10 }), as(a)] });
      const d = dispatcher(balancer);
      const r = await request('http://backend/', { dispatcher: d });
      expect(r.statusCode).toBe(200);
      await expect(r.body.text()).rejects.toMatchObject({ code: 'UND_ERR_SOCKET' });
      expect(health(balancer)).toEqual({ S: 'up fails=0 conns=0', A: 'up fails=0 conns=0' });
      expect(await eventually(() => s.sockets[0]!.destroyed)).toBe(true);
      expect(await get(d)).toMatchObject({ status: 200, body: 'S', via: 'S:200' });
    });
  });
  });
}

describe('BalancedDispatcher: selection, handler APIs, Host, pools', () => {
  it('follows the balancer: weights 1:4 give B B A B B B B A B B, the balancer\'s own order', async () => {
    const a = await backend('A');
    const b = await backend('B');
    const servers = [as(a, { weight: 1 }), as(b, { weight: 4 })];
    const d = dispatcher(new Balancer({ servers }));
    const order: string[] = [];
    for (let i = 0; i < 10; i++) order.push((await get(d)).body);
    expect(order.join(' ')).toBe('B B A B B B B A B B');
    expect(order.join(' ')).toBe(picks(new Balancer({ servers }), 10));
  });

  it('serves handlers of undici\'s newer API (dispatch, compose) and Node\'s built-in fetch', async () => {
    const a = await backend('A');
    const balancer = new Balancer({ servers: [await dead('D'), as(a)] });
    const d = dispatcher(balancer);
    const events: string[] = [];
    let context: unknown;
    const body = await new Promise<string>((resolve, reject) => {
      let text = '';
      d.dispatch(
        { origin: 'http://backend', path: '/new', method: 'GET' },
        {
          onRequestStart(_c, ctx) {
            context = ctx;
            events.push('start');
          },
          onResponseStart(_c, status, headers) {
            events.push(`response ${status} ${headers['x-id']}`);
          },
          onResponseData(_c, chunk) {
            text += chunk.toString();
          },
          onResponseEnd() {
            events.push('end');
            resolve(text);
          },
          onResponseError(_c, error) {
            reject(error);
          },
        },
      );
    });
    expect([body, events.join(', '), via(context)]).toEqual(['A', 'start, response 200 A, end', 'D:error A:200']);

    // compose() hands the dispatcher handlers of the newer API (undici wraps request()'s)
    const composed = d.compose((dispatch) => (opts, handler) => dispatch(opts, handler));
    const r = await request('http://backend/composed', { dispatcher: composed });
    expect([r.statusCode, await r.body.text()]).toEqual([200, 'A']);

    const f = await globalThis.fetch('http://backend/node', { dispatcher: d } as unknown as RequestInit);
    expect([f.status, await f.text()]).toEqual([200, 'A']);
    expect(a.hits).toEqual(['GET /new', 'GET /composed', 'GET /node']);
    expect(health(balancer)).toEqual({ D: 'unavail fails=1 conns=0', A: 'up fails=0 conns=0' });
  });

  it('hands an upgraded socket to the caller and releases the server when it closes', async () => {
    const up = http.createServer(); // (answers upgrades only)
    up.on('upgrade', (req: http.IncomingMessage, socket: Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n');
      socket.pipe(socket);
    });
    const port = await listen(up);
    const balancer = new Balancer({ servers: [await dead('D'), { id: 'U', address: `127.0.0.1:${port}` }] });
    const d = dispatcher(balancer, { origin: 'http://backend' });
    const { headers, socket } = await d.upgrade({ path: '/ws', protocol: 'echo' });
    expect(headers.upgrade).toBe('echo');
    expect(health(balancer)).toEqual({ D: 'unavail fails=1 conns=0', U: 'up fails=0 conns=1' });
    socket.write('ping');
    const [echoed] = (await new Promise((resolve) => socket.once('data', (c: Buffer) => resolve([c.toString()])))) as string[];
    expect(echoed).toBe('ping');
    socket.destroy();
    expect(await eventually(() => balancer.snapshot().servers[1]!.conns === 0)).toBe(true);
  });

  it('sends the request URL\'s host as Host (nginx\'s $proxy_host), or the server\'s, or a fixed one', async () => {
    const a = await backend('A');
    const servers = [as(a)];
    await get(dispatcher(new Balancer({ servers })));
    await request('http://backend:8080/', { dispatcher: dispatcher(new Balancer({ servers })) }).then((r) => r.body.dump());
    await get(dispatcher(new Balancer({ servers }), { host: 'upstream' }));
    await get(dispatcher(new Balancer({ servers }), { host: 'example.org' }));
    await get(dispatcher(new Balancer({ servers })), '/', { headers: { Host: 'mine' } });
    expect(a.seen.map((s) => s.host)).toEqual(['backend', 'backend:8080', a.address, 'example.org', 'mine']);
  });

  it('speaks TLS to the server for https: URLs, checking the certificate against the URL\'s host', async () => {
    const cert = readFileSync(new URL('../fixtures/tls-cert.pem', import.meta.url));
    const key = readFileSync(new URL('../fixtures/tls-key.pem', import.meta.url));
    const server = https.createServer({ cert, key }, (req, res) => res.end(`T ${req.headers.host} ${(req.socket as tls.TLSSocket).servername}`));
    const port = await listen(server);
    const balancer = new Balancer({ servers: [{ id: 'T', address: `127.0.0.1:${port}` }, await dead('D')] });
    const d = dispatcher(balancer, { pool: { connect: { ca: cert } } });
    const r = await request('https://localhost/', { dispatcher: d });
    expect([r.statusCode, await r.body.text(), via(r.context)]).toEqual([200, 'T localhost localhost', 'T:200']);
    // the certificate names localhost, not backend: a TLS failure, counted
    const wrong = await request('https://backend/', { dispatcher: dispatcher(new Balancer({ servers: [{ id: 'T', address: `127.0.0.1:${port}` }, await dead('D')] }), { pool: { connect: { ca: cert } } }) });
    expect([wrong.statusCode, wrong.headers[SYNTHESIZED_HEADER], via(wrong.context)]).toEqual([502, 'error', 'T:error D:error']);
    await wrong.body.dump();
  });

  it('reaches a server on a unix socket', async () => {
    const path = join(tmpdir(), `ub-undici-${process.pid}-${Date.now()}.sock`);
    const server = http.createServer((req, res) => res.end(`U ${req.headers.host}`));
    await new Promise<void>((resolve) => server.listen(path, () => resolve()));
    try {
      const d = dispatcher(new Balancer({ servers: [{ id: 'U', address: `unix:${path}` }] }));
      expect(await get(d)).toMatchObject({ status: 200, body: 'U backend', via: 'U:200' });
    } finally {
      await dispatchers.pop()!.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('keepalive: false closes each connection; keepalive N keeps at most N of those in flight', async () => {
    const a = await backend('A');
    const d = dispatcher(new Balancer({ servers: [as(a)] }), { keepalive: false });
    expect((await get(d)).status).toBe(200);
    expect(a.seen[0]!.connection).toBe('close');
    expect(await eventually(() => a.open() === 0)).toBe(true);

    let waiting: (() => void)[] = [];
    const held = await backend('H', (req, res) => {
      waiting.push(() => res.end('H'));
      if (waiting.length === 3) for (const w of waiting.splice(0)) w();
    });
    const k = dispatcher(new Balancer({ servers: [as(held)] }), { keepalive: 1 });
    const three = await Promise.all([get(k), get(k), get(k)]);
    expect(three.map((r) => r.body)).toEqual(['H', 'H', 'H']);
    expect(held.seen.map((s) => s.connection)).toEqual(['keep-alive', 'close', 'close']);
    expect(await eventually(() => held.open() === 1)).toBe(true);
    waiting = [];
  });

  it('closes the pool of a server removed from the balancer at the next request', async () => {
    const a = await backend('A');
    const b = await backend('B');
    const balancer = new Balancer({ servers: [as(a), as(b)] });
    const d = dispatcher(balancer);
    expect([(await get(d)).body, (await get(d)).body]).toEqual(['A', 'B']);
    expect([a.open(), b.open()]).toEqual([1, 1]);
    balancer.remove('B');
    expect((await get(d)).body).toBe('A');
    expect(await eventually(() => b.open() === 0)).toBe(true);
    expect(a.open()).toBe(1);
  });

  it('close() lets requests finish, then leaves no socket open; destroy() aborts what is in flight', async () => {
    await sleep(100); // (sockets of the previous test finish closing)
    const before = tcpSockets();
    const a = await backend('A');
    const slow = await backend('S', (req, res) => setTimeout(() => res.end('S'), 100));
    const balancer = new Balancer({ servers: [as(a), as(slow)] });
    const d = dispatcher(balancer);
    expect((await get(d)).body).toBe('A');
    const pending = get(d); // to S, answers in 100 ms
    await sleep(20);
    const closed = d.close();
    expect(d.closed).toBe(true);
    await expect(get(d)).rejects.toBeInstanceOf(errors.ClientClosedError);
    expect(await pending).toMatchObject({ status: 200, body: 'S' });
    await closed;
    expect(await eventually(() => a.open() === 0 && slow.open() === 0 && tcpSockets() === before)).toBe(true);
    expect(health(balancer)).toEqual({ A: 'up fails=0 conns=0', S: 'up fails=0 conns=0' });

    const h = await backend('H', () => {});
    const hb = new Balancer({ servers: [as(h)] });
    const d2 = dispatcher(hb);
    const inflight = expect(get(d2)).rejects.toBeInstanceOf(errors.ClientDestroyedError);
    await sleep(30);
    await d2.destroy();
    await inflight;
    expect(health(hb)).toEqual({ H: 'up fails=0 conns=0' });
    expect(await eventually(() => h.open() === 0)).toBe(true);
  });
});
