/**
 * A reference HTTP reverse proxy on node:http that embeds a Balancer with nginx's http semantics
 * (src/http/ngx_http_upstream.c; docs/nginx-semantics.md §4.1-4.2). No dependencies. Per client
 * request:
 *
 * - one attempt, `balancer.attempt(key, { tries, timeout })` with the policy's
 *   `proxy_next_upstream_tries` / `_timeout`;
 * - the request goes to `attempt.next()` over a keep-alive agent of that server;
 * - what happens there is one outcome for `nextUpstream(policy, outcome)`: `'error'` (refused,
 *   reset, closed before a whole header), `'timeout'` (the connect took longer than `connectTimeout`,
 *   or the header did not come within `readTimeout`), or the response's status;
 * - the verdict is applied to the attempt: `retry` frees the server (`fail()` or `skip()`, which
 *   counts no failure, nginx's 403/404 NGX_PEER_NEXT) and sends the request to `next()`; `pass`
 *   streams the response to the client and `release()`s the server when the exchange is over;
 *   `respond` is `fail()` and an answer from the proxy (502, or 504 after a timeout); when `next()`
 *   finds nothing the proxy answers 502 (nginx: "no live upstreams").
 *
 * Request bodies: a body with a Content-Length up to `bufferLimit` is read whole before the first
 * try (nginx's `proxy_request_buffering on`), so any try can send it again. A larger body, or one of
 * unknown length (chunked), is streamed to the first server that connects and never retried once
 * sent (`unbufferedBody`, as `proxy_request_buffering off`). POST, LOCK and PATCH, once sent, move on
 * only with `non_idempotent` in the policy.
 *
 * Hop-by-hop headers (Connection and the headers it names, Keep-Alive, TE, Trailer,
 * Transfer-Encoding, Upgrade, Proxy-*) are not forwarded either way, Expect is answered by node:http
 * and not forwarded, X-Forwarded-For gets the client's address appended, Host is the client's
 * (`proxy_set_header Host $host`). A client that goes away (an abort, a reset) destroys the upstream
 * request and releases the server: not the server's fault, as nginx's 499. An upstream that breaks
 * after its header went to the client cuts the client's response short and is released, not
 * failed: nginx no longer retries or counts anything once the response has started.
 *
 * With `sticky` (nginx 1.30's sticky sessions, docs/sticky.md) each request is a `StickyRequest`
 * over its attempt: the client's cookie or route names the server tried first, the response gets
 * the session cookie, and learn mode learns from the upstream's own Set-Cookie.
 *
 * `npm run demo -- --http` runs `main()`: real node:http backends, the proxy in front, and a
 * narrated tour (docs/embedding.md walks through the code). Cost per request: one Attempt, one
 * upstream request per try, one timer while connecting.
 */

import http from 'node:http';
import type net from 'node:net';
import { pipeline } from 'node:stream';
import { pathToFileURL } from 'node:url';
import {
  Balancer, DEFAULT_NEXT_UPSTREAM, connectOptions, nextUpstream, nextUpstreamPolicy,
  type Attempt, type NextUpstreamPolicy, type NextUpstreamVerdict, type Server,
} from '../../src/index';
import { StickySessions, type StickyConfig, type StickyRequest } from '../../src/sticky/index';

/** What one try came to: an error, a timeout or the upstream's status. */
export type TryResult = 'error' | 'timeout' | number;

/** What the proxy did, for logs and tests. `request` numbers client requests from 1. */
export type HttpProxyEvent =
  | { type: 'select'; request: number; server: Server; try: number }
  /** One try's outcome, the verdict of `nextUpstream`, and how the server was freed (`release` later, for a pass). */
  | { type: 'outcome'; request: number; server: Server; result: TryResult; detail: string; verdict: NextUpstreamVerdict; freed: 'fail' | 'skip' | 'release' }
  /** The response header went to the client: from `server`, or from the proxy itself (`server` undefined). */
  | { type: 'response'; request: number; status: number; server: Server | undefined; reason: string }
  /** The exchange is over. `complete`: the whole response reached the client. */
  | { type: 'end'; request: number; status: number | undefined; server: Server | undefined; complete: boolean };

export interface HttpProxyOptions {
  balancer: Balancer;
  /** `proxy_next_upstream` with its tries and timeout; default `error timeout` (nginx's default). */
  policy?: NextUpstreamPolicy;
  /** ms for the TCP connect (`proxy_connect_timeout`); default 60000. */
  connectTimeout?: number;
  /** ms of silence from the upstream, from the connect until the header and then between reads (`proxy_read_timeout`); default 60000. */
  readTimeout?: number;
  /** Bodies with a Content-Length up to this many bytes are buffered (and can be retried); default 1 MiB. */
  bufferLimit?: number;
  /** ms an idle upstream connection stays in the server's pool (0: no keep-alive); default 4000, under node:http's 5 s server keepAliveTimeout. */
  keepAlive?: number;
  /** The selection key of a request (hash methods; for ip_hash pass `(req) => req.socket.remoteAddress ?? ''`); default none. */
  key?: (req: http.IncomingMessage) => string | undefined;
  /**
   * nginx 1.30's `sticky` (docs/sticky.md): a `StickyConfig` (as `parseNginx` puts it on the
   * upstream) or `StickySessions` over `balancer`. The client's Cookie headers and query string
   * name the session's server, tried first; the response (the proxy's own 502 / 504 too) gets the
   * session cookie before the upstream's own Set-Cookie headers; learn mode learns from those.
   */
  sticky?: StickyConfig | StickySessions<Attempt>;
  /** Other nginx variables `sticky` reads (`$host`, `$http_x_user`), by name without `$`. */
  stickyVariables?: (name: string, req: http.IncomingMessage) => string | undefined;
  onEvent?: (event: HttpProxyEvent) => void;
}

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
]);

/** The end-to-end headers of a message: hop-by-hop ones, those its Connection header names, and `drop` removed. */
export function endToEndHeaders(headers: http.IncomingHttpHeaders, drop: readonly string[] = []): http.OutgoingHttpHeaders {
  const named = new Set(drop);
  for (const token of String(headers.connection ?? '').split(',')) named.add(token.trim().toLowerCase());
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || name.startsWith('proxy-') || named.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** `http.request` options for a server: `host`/`port` (default port 80), or `socketPath` for `unix:/path`. */
export function requestTarget(server: Server): { host: string; port: number } | { socketPath: string } {
  const to = connectOptions(server, 80);
  return 'path' in to ? { socketPath: to.path } : to;
}

/** A keep-alive agent whose idle sockets close after `idle` ms. */
class PoolAgent extends http.Agent {
  readonly #idle: number;
  constructor(idle: number) {
    super({ keepAlive: true, scheduling: 'lifo' });
    this.#idle = idle;
  }
  override keepSocketAlive(socket: net.Socket): boolean {
    // node returns whether to keep the socket (@types/node says void)
    const keep = (super.keepSocketAlive(socket) as unknown) !== false;
    if (keep) socket.setTimeout(this.#idle); // the agent destroys a free socket on its 'timeout'
    return keep;
  }
}

/**
 * An HTTP reverse proxy in front of `balancer` (not listening yet: call `listen`). Closing it
 * (`close()`, after `closeAllConnections()` to cut kept-alive clients) destroys the upstream pools.
 *
 * @example
 * const balancer = Balancer.fromNginx(text, 'app');
 * const policy = nextUpstreamPolicy(['error', 'timeout', 'http_502'], { tries: 3 });
 * const proxy = createHttpProxy({ balancer, policy, connectTimeout: 2000, readTimeout: 10_000 });
 * proxy.listen(8080);
 */
export function createHttpProxy(options: HttpProxyOptions): http.Server {
  const { balancer } = options;
  const policy = options.policy ?? DEFAULT_NEXT_UPSTREAM;
  const connectTimeout = options.connectTimeout ?? 60_000;
  const readTimeout = options.readTimeout ?? 60_000;
  const bufferLimit = options.bufferLimit ?? 1024 * 1024;
  const keepAlive = options.keepAlive ?? 4000;
  const emit = options.onEvent ?? (() => {});
  const limits = { tries: policy.tries, timeout: policy.timeout };
  const sessions = options.sticky === undefined || options.sticky instanceof StickySessions ? options.sticky : new StickySessions(balancer, options.sticky);
  const agents = new Map<string, http.Agent>();
  const agentFor = (server: Server): http.Agent | false => {
    if (keepAlive <= 0) return false;
    let agent = agents.get(server.address);
    if (agent === undefined) agents.set(server.address, (agent = new PoolAgent(keepAlive)));
    return agent;
  };
  let requests = 0;

  const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const request = ++requests;
    const method = req.method ?? 'GET';
    const te = req.headers['transfer-encoding'];
    const cl = req.headers['content-length'];
    // none / buffered (retryable) / streamed (unbuffered: never retried once sent)
    const length = te !== undefined ? -1 : cl !== undefined ? Number(cl) : 0;
    const streamed = length < 0 || length > bufferLimit;
    const headers = endToEndHeaders(req.headers, ['expect', 'content-length']);
    if (te !== undefined) headers['transfer-encoding'] = 'chunked';
    else if (cl !== undefined) headers['content-length'] = cl;
    const from = req.socket.remoteAddress;
    if (from !== undefined) {
      const xff = req.headers['x-forwarded-for'];
      headers['x-forwarded-for'] = xff === undefined ? from : `${xff}, ${from}`;
    }

    let attempt: Attempt | undefined;
    /** With `sticky`: the session side of the attempt (next / fail / skip / release go through it). */
    let session: StickyRequest<Attempt> | undefined;
    let upstream: http.ClientRequest | undefined; // the try in progress, or the one being passed on
    let served: Server | undefined;
    let status: number | undefined;
    let closed = false;
    let tries = 0;

    req.on('error', () => {}); // a client reset: 'close' on the response says it
    res.on('close', () => {
      closed = true;
      const complete = res.writableFinished;
      if (!complete) upstream?.destroy(); // the client left (or the response was cut): stop the upstream side
      if (attempt?.current !== undefined) (session ?? attempt).release(); // exactly once per server handed out
      emit({ type: 'end', request, status, server: served, complete });
    });

    const answer = (code: number, reason: string): void => {
      if (closed || res.headersSent) return;
      status = code;
      emit({ type: 'response', request, status: code, server: undefined, reason });
      const text = `${code} ${http.STATUS_CODES[code] ?? ''}\n`;
      const own: http.OutgoingHttpHeaders = { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) };
      if (session?.setCookie !== undefined) own['set-cookie'] = session.setCookie; // nginx's 502 keeps the last server's cookie
      res.writeHead(code, own);
      res.end(text);
    };

    /** nginx's decision for this try, reported. */
    const judge = (server: Server, result: TryResult, detail: string, sent: boolean, reused: boolean): NextUpstreamVerdict => {
      const a = attempt!;
      const verdict = nextUpstream(policy, {
        result, method, requestSent: sent, unbufferedBody: streamed, triesLeft: a.tries, elapsed: a.elapsed, reused,
      });
      const freed = verdict.action === 'pass' ? 'release' : verdict.failed ? 'fail' : 'skip';
      emit({ type: 'outcome', request, server, result, detail, verdict, freed });
      return verdict;
    };

    /** An error or a timeout: always a failure; move on, or answer 502 / 504. */
    const failed = (server: Server, result: 'error' | 'timeout', detail: string, sent: boolean, reused: boolean): void => {
      const verdict = judge(server, result, detail, sent, reused);
      // A kept-alive connection that broke gives its try back (nginx: u->peer.cached); still a failure.
      if (reused && result === 'error') attempt!.tries++;
      (session ?? attempt!).fail();
      if (verdict.action === 'retry') tryNext();
      else answer(verdict.action === 'respond' ? verdict.status : 502, `${server.id} ${detail}`);
    };

    const tryNext = (): void => {
      if (closed) return;
      const a = attempt!;
      const server = (session ?? a).next();
      if (server === undefined) return answer(502, 'no live upstreams');
      emit({ type: 'select', request, server, try: ++tries });
      let target: ReturnType<typeof requestTarget>;
      try {
        target = requestTarget(server);
      } catch (error) {
        return failed(server, 'error', (error as Error).message, false, false); // an address nothing can reach
      }
      const r = http.request({ ...target, agent: agentFor(server), method, path: req.url, headers, setHost: false });
      upstream = r;
      let sent = false; // nginx request_sent: connected, the request is on its way
      let settled = false; // this try has its outcome
      let passed = false; // its response is going to the client

      const fault = (result: 'error' | 'timeout', detail: string): void => {
        if (passed) return void r.destroy(); // after the header: pipeline cuts the client's response
        if (settled || closed) return;
        settled = true;
        r.destroy();
        failed(server, result, detail, sent, r.reusedSocket);
      };
      const connectTimer = setTimeout(() => fault('timeout', `connect timed out (${connectTimeout} ms)`), connectTimeout);
      r.on('close', () => clearTimeout(connectTimer));
      r.on('socket', (socket) => {
        const up = (): void => {
          clearTimeout(connectTimer);
          if (settled || closed) return;
          sent = true;
          if (streamed) req.pipe(r); // the body is read from the client only once a server took the connection
        };
        if (socket.connecting) socket.once('connect', up);
        else up(); // a kept-alive connection
      });
      r.setTimeout(readTimeout, () => fault('timeout', `read timed out (${readTimeout} ms)`)); // armed at the connect
      r.on('error', (error: NodeJS.ErrnoException) => fault('error', error.code ?? error.message));
      r.on('response', (response) => {
        if (settled || closed) return void response.resume();
        settled = true;
        clearTimeout(connectTimer);
        const code = response.statusCode ?? 502;
        const verdict = judge(server, code, response.statusMessage ?? '', true, r.reusedSocket);
        if (verdict.action !== 'pass') {
          r.destroy(); // nginx closes the connection before the next try
          if (verdict.failed) (session ?? a).fail();
          else (session ?? a).skip();
          if (verdict.action === 'retry') tryNext();
          else answer(verdict.status, `${server.id} ${code}`);
          return;
        }
        passed = true;
        served = server;
        status = code;
        emit({ type: 'response', request, status: code, server, reason: response.statusMessage ?? '' });
        const out = endToEndHeaders(response.headers);
        if (session !== undefined) {
          session.responseHeader(response.headers['set-cookie']); // learn mode's `header`, and $upstream_cookie_NAME
          if (session.setCookie !== undefined) out['set-cookie'] = [session.setCookie, ...(response.headers['set-cookie'] ?? [])];
        }
        res.writeHead(code, response.statusMessage, out);
        // A reset or a read timeout mid-body destroys the client's response too; its 'close' releases.
        pipeline(response, res, () => {});
      });
      if (!streamed) r.end(body);
    };

    let body: Buffer = Buffer.alloc(0);
    const start = (): void => {
      if (closed) return;
      const key = options.key?.(req);
      if (sessions === undefined) {
        attempt = balancer.attempt(key, limits);
      } else {
        const query = req.url?.indexOf('?') ?? -1;
        const variables = options.stickyVariables;
        session = sessions.request({
          cookie: req.headersDistinct.cookie, args: query === -1 ? undefined : req.url!.slice(query + 1), ...limits,
          ...(key !== undefined ? { key } : null), ...(variables !== undefined ? { variables: (name: string) => variables(name, req) } : null),
        });
        attempt = session.attempt;
      }
      tryNext();
    };
    if (streamed || length === 0) {
      start();
    } else {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        body = Buffer.concat(chunks);
        start();
      });
    }
  };

  const server = http.createServer(handle);
  server.on('close', () => {
    for (const agent of agents.values()) agent.destroy();
    agents.clear();
  });
  return server;
}

// -------------------------------------------------------------------------------------------------
// Backends for the demo and the tests

/** What a backend does with the next requests. */
export type BackendMode =
  /** 200 with its name as the body. */
  | 'ok'
  /** 404 / 502 / 503 with its name as the body. */
  | '404' | '502' | '503'
  /** Reads the request and never answers. */
  | 'hang'
  /** Sends a 200 header announcing 100 bytes, 10 of them, then resets the connection. */
  | 'reset-mid-body';

/** One request a backend received. */
export interface BackendRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface Backend {
  readonly name: string;
  readonly port: number;
  /** `127.0.0.1:port`, a server address for a Balancer. */
  readonly address: string;
  /** What it does with requests from now on. */
  mode: BackendMode;
  readonly requests: BackendRequest[];
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** Requests waiting in `hang` mode. */
  readonly hanging: number;
  /** Stops listening and destroys every connection. */
  close(): Promise<void>;
}

/**
 * A node:http backend on 127.0.0.1 (a free port) that answers with its name and records what it got.
 *
 * @example
 * const a = await startBackend('A');
 * a.mode = '502';
 * await a.close();
 */
export async function startBackend(name: string, options: { mode?: BackendMode; port?: number } = {}): Promise<Backend> {
  const requests: BackendRequest[] = [];
  const sockets = new Set<net.Socket>();
  const hung = new Set<http.ServerResponse>();
  let mode: BackendMode = options.mode ?? 'ok';
  let connections = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('error', () => {});
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
      const m = mode;
      if (m === 'hang') {
        hung.add(res);
        res.on('close', () => hung.delete(res));
        return;
      }
      if (m === 'reset-mid-body') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 100 });
        res.write(`${name}-partial`.padEnd(10, '.').slice(0, 10));
        setTimeout(() => req.socket.resetAndDestroy(), 20);
        return;
      }
      const code = m === 'ok' ? 200 : Number(m);
      res.writeHead(code, { 'content-type': 'text/plain', 'x-backend': name });
      res.end(name);
    });
  });
  server.on('connection', (s: net.Socket) => {
    connections++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    name,
    port,
    address: `127.0.0.1:${port}`,
    get mode() {
      return mode;
    },
    set mode(m: BackendMode) {
      mode = m;
    },
    requests,
    get connections() {
      return connections;
    },
    get hanging() {
      return hung.size;
    },
    close() {
      return new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}

/** One request as a client saw it. */
export interface ClientResult {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
  /** The response ended early (the connection broke mid-body). */
  truncated: boolean;
  /** The request failed before any response (a code such as ECONNRESET). */
  error?: string;
}

/** Sends one request to 127.0.0.1:`port` on a fresh connection; never rejects. */
export function send(port: number, options: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer } = {}): Promise<ClientResult> {
  return new Promise((resolve) => {
    const r = http.request({ host: '127.0.0.1', port, agent: false, method: options.method ?? 'GET', path: options.path ?? '/', headers: options.headers });
    r.on('error', (error: NodeJS.ErrnoException) => resolve({ status: 0, body: '', headers: {}, truncated: false, error: error.code ?? error.message }));
    r.on('response', (res) => {
      const chunks: Buffer[] = [];
      let truncated = false;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('aborted', () => (truncated = true));
      res.on('error', () => (truncated = true));
      res.on('close', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers, truncated: truncated || !res.complete }));
    });
    r.end(options.body);
  });
}

// -------------------------------------------------------------------------------------------------
// The demo: `npm run demo -- --http`

/** A failure the demo reports with exit code 1. */
class DemoError extends Error {}

export interface HttpDemoOptions {
  /** Where the narration goes; default stdout. */
  write?: (line: string) => void;
}

/**
 * Runs the HTTP demo: three node:http backends (A weight=1 and B weight=4 as primaries, C backup),
 * the proxy in front with `proxy_next_upstream error timeout http_502 http_404`, and a tour: the 1:4
 * split, B answering 502 and recovering, A answering 404, a POST that is not retried, the backup
 * taking over, and 502 from the proxy when nothing is left. Checks what it shows, closes everything,
 * and resolves with the exit code (0, or 1 on a surprise).
 */
export async function main(options: HttpDemoOptions = {}): Promise<number> {
  const write = options.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const t0 = performance.now();
  const stamp = (): string => ((performance.now() - t0) / 1000).toFixed(3).padStart(7);
  const log = (kind: string, text: string): void => write(`${stamp()}  ${kind.padEnd(6)} ${text}`);
  const backends: Backend[] = [];
  let balancer: Balancer | undefined;
  let proxy: http.Server | undefined;
  try {
    write(`upstream-balancer demo: an nginx-style HTTP reverse proxy on node:http (node ${process.version})`);
    for (const name of ['A', 'B', 'C']) backends.push(await startBackend(name));
    const [A, B, C] = backends as [Backend, Backend, Backend];
    const name = new Map(backends.map((b) => [b.address, b.name]));
    const text = `http {
    upstream app {
        server ${A.address} weight=1 max_fails=1 fail_timeout=1s;
        server ${B.address} weight=4 max_fails=1 fail_timeout=1s;
        server ${C.address} backup;
    }
}`;
    balancer = Balancer.fromNginx(text, 'app');
    const b = balancer;
    const id = (s: { address: string } | undefined): string => (s === undefined ? '-' : name.get(s.address) ?? s.address);
    const conditions = ['error', 'timeout', 'http_502', 'http_404'] as const;
    const policy = nextUpstreamPolicy([...conditions], { tries: 3 });
    const outcomes = new Map<number, string[]>();
    const ends = new Map<number, (e: Extract<HttpProxyEvent, { type: 'end' }>) => void>();
    proxy = createHttpProxy({
      balancer: b,
      policy,
      connectTimeout: 1000,
      readTimeout: 1000,
      onEvent: (e) => {
        if (e.type === 'outcome') {
          const list = outcomes.get(e.request) ?? [];
          outcomes.set(e.request, list);
          const what = typeof e.result === 'number' ? String(e.result) : e.detail === 'ECONNREFUSED' ? 'refused' : e.detail;
          const listed = typeof e.result === 'number' && policy.conditions.includes(`http_${e.result}` as (typeof conditions)[number]);
          const how = e.freed === 'fail' ? ' (failed)' : e.freed === 'skip' ? ' (next, not a failure)' : listed ? ' (passed to the client: not retried)' : '';
          list.push(`${id(e.server)} ${what}${how}`);
        } else if (e.type === 'response' && e.server === undefined) {
          outcomes.set(e.request, [...(outcomes.get(e.request) ?? []), `${e.status} from the proxy (${e.reason})`]);
        } else if (e.type === 'end') {
          ends.get(e.request)?.(e);
        }
      },
    });
    const p = proxy;
    await new Promise<void>((resolve) => p.listen(0, '127.0.0.1', () => resolve()));
    const port = (p.address() as net.AddressInfo).port;

    write('');
    write('config   (nginx)');
    for (const line of text.split('\n')) write(`         ${line}`);
    write(`         proxy_next_upstream ${conditions.join(' ')}; proxy_next_upstream_tries 3;`);
    write('         proxy_connect_timeout 1s; proxy_read_timeout 1s;');
    for (const be of backends) write(`  ${be.name}      ${be.address}`);
    write(`  proxy  127.0.0.1:${port}`);
    write('');
    write('   time  event  what');

    // Balancer events are printed after the line of the request that caused them.
    const pending: string[] = [];
    const later = (kind: string, text: string): void => void pending.push(`${stamp()}  ${kind.padEnd(6)} ${text}`);
    const flush = (): void => {
      for (const line of pending.splice(0)) write(line);
    };
    b.on('state', (s, from, to, cause) => later('state', `${id(s)} ${from} -> ${to}   (${cause}${cause === 'failure' ? `: ${s.fails} failure${s.fails === 1 ? '' : 's'}, max_fails=${s.maxFails}` : ''})`));
    b.on('tier', (from, to) => later('tier', `${from} -> ${to}`));

    let n = 0;
    const served: string[] = [];
    /** One request through the proxy: `METHOD #n  tries -> result`, printed unless `quiet`. */
    const request = async (method = 'GET', body?: string, quiet = false): Promise<{ status: number; body: string; server: string; line: string; at: string }> => {
      const no = ++n;
      const at = stamp();
      const ended = new Promise<Extract<HttpProxyEvent, { type: 'end' }>>((resolve) => ends.set(no, resolve));
      const r = await send(port, { method, path: `/${no}`, ...(body === undefined ? {} : { body, headers: { 'content-type': 'text/plain' } }) });
      const end = await ended;
      ends.delete(no);
      const server = id(end.server);
      served.push(server);
      const line = `${(outcomes.get(no) ?? []).join(' -> ')}${r.error ? ` (client: ${r.error})` : ''}`;
      if (!quiet) {
        write(`${at}  ${method.padEnd(6)} #${String(no).padEnd(3)} ${line}`);
        flush();
      }
      return { status: r.status, body: r.body, server, line, at };
    };
    const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    const expect = (ok: boolean, what: string): void => {
      if (!ok) throw new DemoError(what);
    };

    write('── 1. load balancing: weight=1 vs weight=4, ten GETs');
    const first = served.length;
    for (let i = 0; i < 10; i++) await request();
    const order = served.slice(first);
    log('shares', `order ${order.join(' ')}: A ${order.filter((x) => x === 'A').length}/10, B ${order.filter((x) => x === 'B').length}/10 (higher weight = more traffic)`);
    expect(order.join(' ') === 'B B A B B B B A B B', `expected B B A B B B B A B B, got ${order.join(' ')}`);

    write('── 2. B answers 502 (http_502: a failure; the request moves on), then recovers');
    B.mode = '502';
    log('admin', 'B answers 502 from now on');
    let r = await request();
    expect(r.status === 200 && b.get(B.address)!.fails === 1, `expected B 502 (failed) -> A 200, got ${r.status} from ${r.server}`);
    for (let i = 0; i < 3; i++) await request();
    B.mode = 'ok';
    log('admin', 'B answers 200 again; it sits out fail_timeout=1s (1-2 s on nginx\'s whole-second clock), then gets one request');
    const backBy = performance.now() + 5000;
    const waited: number[] = [];
    const from = stamp();
    for (;;) {
      await pause(100);
      r = await request('GET', undefined, true);
      if (r.server === 'B' || performance.now() > backBy) break;
      waited.push(n);
    }
    if (waited.length > 0) {
      write(`${from}  GET    #${waited[0]}-#${waited.at(-1)}  A 200 (${waited.length} requests, one every 100 ms, while B sits out its window)`);
    }
    write(`${r.at}  GET    #${String(n).padEnd(3)} ${r.line}`);
    flush();
    expect(r.server === 'B' && b.get(B.address)!.fails === 0, 'B did not get traffic back');

    write('── 3. A answers 404 (http_404: the next server, and no failure counted)');
    A.mode = '404';
    log('admin', 'A answers 404 from now on');
    const seen404 = A.requests.length;
    for (let i = 0; i < 5 && A.requests.length === seen404; i++) await request();
    expect(A.requests.length > seen404, 'A was not selected in five requests');
    log('note', `A fails ${b.get(A.address)!.fails}: a 404 that moves on is nginx's NGX_PEER_NEXT, freed as a success`);
    expect(b.get(A.address)!.fails === 0, 'A was counted as failed after a 404');
    A.mode = 'ok';

    write('── 4. a POST is not retried once sent (no non_idempotent): the upstream\'s own 502 goes to the client');
    B.mode = '502';
    A.mode = '502';
    log('admin', 'A and B answer 502');
    r = await request('POST', 'order=1');
    expect(r.status === 502 && r.body !== '' && r.server !== '-', `expected the upstream's own 502, got ${r.status} ${JSON.stringify(r.body)}`);
    log('note', `the client got ${r.server}'s own 502 ("${r.body}"); ${r.server} fails ${b.get(r.server === 'A' ? A.address : B.address)!.fails}: a passed response is a success`);
    A.mode = 'ok';
    B.mode = 'ok';

    write('── 5. both primaries stop: the backup serves');
    await A.close();
    await B.close();
    log('admin', 'A and B stopped listening (connections refused)');
    r = await request();
    expect(r.server === 'C', `expected the backup C, got ${r.server}`);
    await request();

    write('── 6. the backup stops too: the proxy answers 502 (nginx: "no live upstreams")');
    await C.close();
    log('admin', 'C stopped listening');
    r = await request();
    expect(r.status === 502 && r.server === '-', `expected 502 from the proxy, got ${r.status} from ${r.server}`);

    write('');
    const snap = b.snapshot().servers;
    for (const s of snap) write(`  ${id(s)}  served ${String(served.filter((x) => x === id(s)).length).padStart(2)}   fails ${s.fails}   conns ${s.conns}   ${s.state}`);
    expect(snap.every((s) => s.conns === 0), 'a connection was left counted');
    write(`${n} requests; every server handed out was freed exactly once (conns 0); finished in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  } catch (error) {
    process.stderr.write(`demo --http: error: ${error instanceof Error ? error.message : String(error)}\n`);
    if (!(error instanceof DemoError) && error instanceof Error && process.env.DEMO_DEBUG) process.stderr.write(`${error.stack}\n`);
    return 1;
  } finally {
    const px = proxy;
    if (px !== undefined) {
      px.closeAllConnections();
      await new Promise<void>((resolve) => px.close(() => resolve()));
    }
    await Promise.all(backends.map((be) => be.close()));
    await balancer?.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main();
}
