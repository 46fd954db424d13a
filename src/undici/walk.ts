/**
 * One request through a BalancedDispatcher: one `balancer.attempt()`, and one undici request per
 * server tried (a `Try`, the handler given to that server's Pool). Each outcome goes through
 * nginx's `proxy_next_upstream` rule (`nextUpstream`, src/next-upstream.ts) and the attempt is
 * freed exactly once per server: `fail()` or `skip()` before the next server, `release()` when the
 * passed response ends, errors or is aborted, `fail()` before answering 502 / 504 itself.
 *
 * With `sticky` the attempt is a StickyRequest (sticky.ts): the passed response's header is told to
 * it (learn mode) and gains its Set-Cookie first; the adapter's own 502 / 504 gains it last.
 *
 *   start ─► next() ──undefined──► 502 (no live upstreams)
 *             │
 *             ├─ error / timeout / invalid header before the response header
 *             │     ├─ retry ─► fail(), next()
 *             │     └─ respond ─► fail(), 502 or 504
 *             ├─ status named in proxy_next_upstream, a try left ─► fail() or skip() (403, 404),
 *             │     the response is discarded (the connection closed), next()
 *             └─ any other status ─► the response passes; release() when it ends, errors or is
 *                   aborted (a cut-off body is not the server's failure, as nginx frees it with 0)
 */

import type { Duplex } from 'node:stream';
import { errors } from 'undici';
import { type NextUpstreamPolicy, nextUpstream } from '../next-upstream';
import { type RawHeaders, type SynthesizedReason, classify, guarded, isStream, replayable, synthesized, withHost } from './http';
import type { Sink } from './sink';
import { setCookiesOf, withSetCookie } from './sticky';
import type { BalancedAttempt, UpstreamServerLike } from './types';

/** One server tried, as the walk's context records it (nginx's `$upstream_addr` and `$upstream_status`). */
export interface UpstreamTry {
  readonly id: string;
  readonly address: string;
  /** The status it answered, or what went wrong before it did. */
  status: number | 'error' | 'timeout' | 'invalid_header' | 'aborted';
}

/** The context handed to the caller's `onConnect` / `onRequestStart` (undici's `request` returns it as `context`). */
export interface BalancedContext {
  /** The servers tried, in order; the last one's response is the one passed (unless the adapter answered). */
  readonly upstreams: UpstreamTry[];
}

/** Where a try goes: a server's Pool, and its in-flight count (for the keepalive rule). */
export interface Route {
  readonly pool: { dispatch(options: object, handler: object): boolean };
  /** A try starts: true when its connection should close after it (nginx's keepalive cache is full). */
  begin(): boolean;
  /** The try ended (exactly once per `begin`). */
  end(): void;
}

/** What a walk needs from its dispatcher. */
export interface WalkHost {
  readonly policy: NextUpstreamPolicy;
  /** `balancer.attempt(key, { tries, timeout })` with the dispatcher's limits (a StickyRequest with `sticky`). */
  attempt(key: string | undefined, options: WalkOptions): BalancedAttempt;
  /** The handler class for the pools (by the handler API the installed undici calls). */
  readonly Try: typeof Try;
  route(server: UpstreamServerLike, protocol: string): Route;
  done(walk: Walk): void;
}

const STARTING = 0;
/** A try is in flight, before its response header. */
const WAITING = 1;
/** Between two tries (the next one is dispatched on a microtask). */
const BETWEEN = 2;
/** A response is being passed to the caller. */
const PASSING = 3;
/** The adapter answers 502 / 504 itself. */
const RESPONDING = 4;
const DONE = 5;

/** The reason a discarded response's request is aborted with (never seen by the caller). */
const DISCARDED = new Error('upstream-balancer: response discarded, next upstream');

/** The controller undici 7 (through its UnwrapHandler) and 8 hand the newer handler API. */
interface InnerController {
  readonly rawHeaders?: unknown;
  readonly rawTrailers?: unknown;
  abort(reason?: Error): void;
  pause(): void;
  resume(): void;
}

type HeaderRecord = Record<string, string | string[] | undefined>;

/**
 * One undici request to one server: the handler its Pool calls, in undici's older handler API
 * (`onConnect` ... `onError`), which the Clients of undici 6 and 7 call directly.
 */
export class Try {
  abort: ((reason?: Error) => void) | null = null;
  /** undici started writing the request (nginx's `request_sent`). */
  sent = false;
  /** The walk no longer listens: its response was discarded or the caller aborted. */
  detached = false;
  #ended = false;
  constructor(
    readonly walk: Walk,
    readonly server: UpstreamServerLike,
    readonly route: Route,
    readonly record: UpstreamTry,
  ) {}

  onConnect(abort: (reason?: Error) => void): void {
    if (this.detached) {
      abort(DISCARDED);
      return;
    }
    this.abort = abort;
    this.sent = true;
  }
  onResponseStarted(): void {}
  onHeaders(status: number, raw: RawHeaders, resume: () => void, statusText: string): boolean {
    return this.walk.headers(this, status, raw, resume, statusText, undefined);
  }
  onData(chunk: Buffer): boolean {
    return this.walk.data(this, chunk);
  }
  onComplete(trailers: RawHeaders | null): void {
    this.end();
    this.walk.complete(this, trailers);
  }
  onError(error: Error): void {
    this.end();
    this.walk.error(this, error);
  }
  onUpgrade(status: number, raw: RawHeaders, socket: Duplex): void {
    this.end();
    this.walk.upgrade(this, status, raw, socket);
  }
  onBodySent(...args: unknown[]): void {
    if (!this.detached) this.walk.bodySent(args);
  }
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.route.end();
  }
}

/**
 * The same in undici's newer handler API (`onRequestStart` ... `onResponseError`), the only one
 * undici 8 calls (undici 7 converts it back with its UnwrapHandler, which keeps the raw header list
 * in `controller.rawHeaders`). Undici 6 and 7 still call the older methods it inherits.
 */
export class ControllerTry extends Try {
  onRequestStart(controller: InnerController): void {
    this.onConnect((reason) => controller.abort(reason ?? DISCARDED));
  }
  onResponseStart(controller: InnerController, status: number, headers: HeaderRecord, statusText?: string): void {
    const raw = rawOf(controller.rawHeaders, headers);
    if (!this.walk.headers(this, status, raw, () => controller.resume(), statusText ?? '', headers)) controller.pause();
  }
  onResponseData(controller: InnerController, chunk: Buffer): void {
    if (!this.walk.data(this, chunk)) controller.pause();
  }
  onResponseEnd(controller: InnerController, trailers: HeaderRecord): void {
    this.onComplete(rawOf(controller.rawTrailers, trailers));
  }
  onResponseError(_controller: InnerController, error: Error): void {
    this.onError(error);
  }
  onRequestUpgrade(controller: InnerController, status: number, headers: HeaderRecord, socket: Duplex): void {
    this.onUpgrade(status, rawOf(controller.rawHeaders, headers), socket);
  }
}

/** The raw header list the controller kept, or one made from the parsed headers. */
function rawOf(raw: unknown, parsed: HeaderRecord | null | undefined): RawHeaders {
  if (Array.isArray(raw)) return raw as RawHeaders;
  const out: (string | string[])[] = [];
  if (parsed != null) {
    for (const name of Object.keys(parsed)) {
      const value = parsed[name];
      if (value !== undefined) out.push(name, value);
    }
  }
  return out;
}

/** A request's options as the dispatcher received them (undici's `DispatchOptions`). */
export type WalkOptions = Record<string, unknown> & { method?: unknown; body?: unknown; headers?: unknown; reset?: unknown };

export class Walk {
  readonly context: BalancedContext = { upstreams: [] };
  /** @internal The dispatcher's list of walks in flight (a linked list: no hash table churn per request). */
  older: Walk | null = null;
  /** @internal */
  newer: Walk | null = null;
  readonly #host: WalkHost;
  readonly #sink: Sink;
  readonly #given: WalkOptions;
  readonly #protocol: string;
  /** The Host header to add (unless the caller set one); null: the server's address (the Pool's default). */
  readonly #hostHeader: string | null;
  readonly #key: string | undefined;
  readonly #method: string;
  #attempt: BalancedAttempt | null = null;
  /** The options every try sends (the caller's, with the Host header and a guarded body). */
  #options: Record<string, unknown> | null = null;
  #unbuffered = false;
  /** An error of the caller's request body: no upstream's failure. */
  #bodyError: unknown = undefined;
  #phase = STARTING;
  #try: Try | null = null;

  constructor(host: WalkHost, sink: Sink, options: WalkOptions, protocol: string, hostHeader: string | null, key: string | undefined) {
    this.#host = host;
    this.#sink = sink;
    this.#given = options;
    this.#protocol = protocol;
    this.#hostHeader = hostHeader;
    this.#key = key;
    const m = options.method;
    this.#method = typeof m === 'string' ? m : 'GET';
  }

  /** Tells the caller the request started, then dispatches to the first server. */
  start(): void {
    try {
      this.#sink.start((reason?: Error) => this.abort(reason ?? new errors.RequestAbortedError()), this.context);
      if (this.#phase !== STARTING) return; // aborted in onConnect
      this.#prepare();
      this.#attempt = this.#host.attempt(this.#key, this.#given);
    } catch (error) {
      if (this.#phase === DONE) throw error;
      this.#finish();
      this.#sink.error(error as Error);
      return;
    }
    this.#next();
  }

  #prepare(): void {
    const options = this.#given;
    let body = options.body;
    if (!replayable(body)) {
      this.#unbuffered = true;
      if (!isStream(body) && typeof body === 'object' && body !== null) {
        body = guarded(body as AsyncIterable<unknown>, (e) => (this.#bodyError = e));
      }
    }
    const host = this.#hostHeader;
    const headers = host === null ? options.headers : withHost(options.headers, host);
    this.#options = { ...options, headers, body };
  }

  /** The next server, or the 502 of nginx's "no live upstreams". */
  #next(): void {
    if (this.#phase === DONE || this.#phase === RESPONDING) return;
    const attempt = this.#attempt!;
    const server = attempt.next();
    if (server === undefined) {
      this.#respond(502, 'no-live-upstreams');
      return;
    }
    const record: UpstreamTry = { id: server.id, address: server.address, status: 'error' };
    this.context.upstreams.push(record);
    let route: Route;
    try {
      route = this.#host.route(server, this.#protocol);
    } catch {
      // an address that names no host:port or unix path: nothing can be sent there
      this.#failed('error', false);
      return;
    }
    const t = new this.#host.Try(this, server, route, record);
    this.#try = t;
    this.#phase = WAITING;
    const base = this.#options!;
    const close = route.begin();
    route.pool.dispatch(close && base.reset !== true ? { ...base, reset: true } : base, t);
  }

  /** A try failed before its response header (`result`): fail() it, then retry or answer 502 / 504. */
  #failed(result: 'error' | 'timeout' | 'invalid_header', sent: boolean): void {
    const attempt = this.#attempt!;
    const policy = this.#host.policy;
    const verdict = nextUpstream(policy, {
      result,
      method: this.#method,
      requestSent: sent,
      unbufferedBody: this.#unbuffered,
      triesLeft: attempt.tries,
      elapsed: policy.timeout !== 0 ? attempt.elapsed : 0,
    });
    this.#try = null;
    attempt.fail();
    if (verdict.action === 'retry') {
      this.#phase = BETWEEN;
      queueMicrotask(() => this.#next());
    } else {
      this.#respond(verdict.action === 'respond' ? verdict.status : 502, result);
    }
  }

  /** @internal A try's response header. */
  headers(t: Try, status: number, raw: RawHeaders, resume: () => void, statusText: string, parsed: HeaderRecord | undefined): boolean {
    if (t.detached || t !== this.#try) return false;
    if (this.#phase === PASSING) return this.#sink.headers(status, raw, resume, statusText, parsed); // (not reached: one header per response)
    if (status < 200) return true; // 1xx: nginx reads on to the final header
    t.record.status = status;
    const attempt = this.#attempt!;
    const policy = this.#host.policy;
    const verdict = nextUpstream(policy, {
      result: status,
      method: this.#method,
      requestSent: true,
      unbufferedBody: this.#unbuffered,
      triesLeft: attempt.tries,
      elapsed: policy.timeout !== 0 ? attempt.elapsed : 0,
    });
    if (verdict.action === 'retry') {
      t.detached = true;
      this.#try = null;
      this.#phase = BETWEEN;
      if (verdict.failed) attempt.fail();
      else attempt.skip();
      t.abort?.(DISCARDED); // the response is dropped with its connection, as nginx closes it
      queueMicrotask(() => this.#next());
      return false;
    }
    this.#phase = PASSING;
    this.#sink.responseStarted();
    const cookie = this.#sticky(attempt, raw);
    if (cookie === undefined) return this.#sink.headers(status, raw, resume, statusText, parsed);
    return this.#sink.headers(status, withSetCookie(raw, cookie, 'first'), resume, statusText, undefined);
  }

  /** With `sticky`: tells the session layer the header is passed (learn `header`), and the Set-Cookie value to add. */
  #sticky(attempt: BalancedAttempt, raw: RawHeaders): string | undefined {
    attempt.responseHeader?.(setCookiesOf(raw));
    return attempt.setCookie;
  }

  /** @internal */
  data(t: Try, chunk: Buffer): boolean {
    if (t !== this.#try || this.#phase !== PASSING) return false;
    return this.#sink.data(chunk);
  }

  /** @internal The passed response ended. */
  complete(t: Try, trailers: RawHeaders | null): void {
    if (t.detached || t !== this.#try || this.#phase !== PASSING) return;
    this.#attempt!.release();
    this.#finish();
    this.#sink.complete(trailers);
  }

  /** @internal A try's request errored. */
  error(t: Try, error: Error): void {
    if (t.detached || t !== this.#try) return;
    if (this.#phase === PASSING) {
      // mid-body (or the caller's handler threw): nginx frees the peer with state 0
      this.#attempt!.release();
      this.#finish();
      this.#sink.error(error);
      return;
    }
    const body = this.#options!.body;
    const result = this.#bodyError !== undefined || (isStream(body) && body.errored != null) ? 'client' : classify(error);
    if (result === 'client') {
      this.#attempt!.release();
      this.#finish();
      this.#sink.error(error);
      return;
    }
    t.record.status = result;
    this.#failed(result, t.sent);
  }

  /** @internal A 101 (or CONNECT): the socket is the caller's; the server is released when it closes. */
  upgrade(t: Try, status: number, raw: RawHeaders, socket: Duplex): void {
    if (t.detached || t !== this.#try) {
      socket.destroy();
      return;
    }
    t.record.status = status;
    const attempt = this.#attempt!;
    const cookie = this.#sticky(attempt, raw);
    if (cookie !== undefined) raw = withSetCookie(raw, cookie, 'first');
    this.#finish();
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      attempt.release();
    };
    socket.once('close', release);
    if (socket.destroyed) release();
    this.#sink.upgrade(status, raw, socket);
  }

  /** @internal */
  bodySent(args: unknown[]): void {
    if (this.#phase === WAITING) this.#sink.bodySent(args);
  }

  /**
   * The caller (its AbortSignal, `controller.abort()`) or the dispatcher's `destroy()` stops the
   * request: the current server is released (nginx's 499 is no failure), the caller's handler gets
   * the error once.
   */
  abort(reason: Error): void {
    const phase = this.#phase;
    if (phase === DONE) return;
    const t = this.#try;
    if (phase === PASSING && t !== null && t.abort !== null) {
      t.abort(reason); // its onError releases the server and tells the caller
      return;
    }
    if (t !== null) {
      t.detached = true;
      t.record.status = 'aborted';
      this.#try = null;
      this.#attempt!.release();
      t.abort?.(reason); // (a try still connecting is aborted at its onConnect)
    }
    this.#finish();
    this.#sink.error(reason);
  }

  /** nginx answers the client itself: the status and a short body (on a microtask). */
  #respond(status: number, reason: SynthesizedReason): void {
    this.#phase = RESPONDING;
    this.#try = null;
    queueMicrotask(() => {
      if (this.#phase !== RESPONDING) return;
      const made = synthesized(status, reason, this.#method);
      const { body, statusText } = made;
      const cookie = this.#attempt?.setCookie; // nginx's own 502 / 504 keeps the cookie of the last server tried
      const raw = cookie === undefined ? made.raw : withSetCookie(made.raw, cookie, 'last');
      let waiting = false;
      const send = (): void => {
        if (this.#phase !== RESPONDING) return;
        if (body !== null) this.#sink.data(body);
        this.#finish();
        this.#sink.complete([]);
      };
      this.#sink.responseStarted();
      if (this.#sink.headers(status, raw, () => {
        if (waiting) {
          waiting = false;
          send();
        }
      }, statusText, undefined)) send();
      else waiting = true;
    });
  }

  #finish(): void {
    if (this.#phase === DONE) return;
    this.#phase = DONE;
    this.#host.done(this);
  }
}
