/**
 * One probe conversation on one socket: the plumbing every built-in probe shares.
 *
 * A `Conversation` opens a TCP (or TLS, or unix-domain) connection to a check target, hands its
 * events to the probe's handlers and settles exactly once. Invariants, on every path (verdict,
 * error, peer close, abort): the socket is destroyed, and the result is delivered only after the
 * socket's `close` event, so a settled probe holds no handle. Reads are bounded by `MAX_REPLY`
 * bytes, the size of the check module's receive buffer (one page): a peer that streams forever fails
 * with `too long` instead of growing memory. No timers (the checker owns the timeout).
 *
 * Two ways to run one (`defineProbe` gives every built-in probe both):
 * - the public `Probe` form, `(target, options, signal) => Promise<ProbeResult>`: an abort of
 *   `signal` fails the probe with `timeout` or `aborted`;
 * - the checker's form, `probe.start(target, options, sink)`: no promise, no AbortSignal, no
 *   closure per check; the returned run is aborted with `run.abort('timeout')` and the verdict goes
 *   to `sink.probeSettled(ok, reason, run)`. The checker's profile (bench/README.md, "Active
 *   checks") showed the AbortController, the promise chain and the run-time accessors of the old
 *   per-check session object as its own cost over a plain connect-and-close loop.
 *
 * The socket's listeners are shared module functions that find their conversation through a symbol
 * on the socket. nginx source: the check module's `ngx_http_upstream_check_connect_handler` and
 * `check_*_handler`s (third-party nginx_upstream_check_module), rewritten on node:net.
 */

import net from 'node:net';
import tls from 'node:tls';
import type { CheckTarget, ResolvedCheck } from '../../options';

/** The verdict of one probe: `reason` is a short word (`connected`, `refused`, `timeout`, `banner 554`, ...). */
export interface ProbeResult {
  ok: boolean;
  reason: string;
}

/**
 * A probe: checks one target once. Must settle on `signal` abort, destroy every socket it opened,
 * and never reject.
 */
export type Probe = (target: CheckTarget, options: ResolvedCheck, signal: AbortSignal) => Promise<ProbeResult>;

/** A probe run started by the checker: abort it with the reason word it should fail with. */
export interface ProbeRun {
  abort(reason: 'timeout' | 'aborted'): void;
}

/** Where a run started by `start` delivers its verdict, exactly once, after its socket closed. */
export interface ProbeSink {
  probeSettled(ok: boolean, reason: string, run: ProbeRun): void;
}

/** The checker's form of a built-in probe. */
export type ProbeStarter = (target: CheckTarget, options: ResolvedCheck, sink: ProbeSink) => ProbeRun;

/**
 * A built-in probe: the public promise form, plus `start` for the checker. (These four types are
 * not marked internal: other modules' declarations import them, and the package's entry points
 * expose only `Probe`.)
 */
export type StartableProbe = Probe & { readonly start: ProbeStarter };

/** Most bytes a probe buffers for one reply (the check module reads into one 4 KiB page). */
export const MAX_REPLY = 4096;

/** The verdict for an aborted probe: `timeout` when the checker's timeout fired, else `aborted`. */
export function abortReason(signal: AbortSignal): 'timeout' | 'aborted' {
  const r = signal.reason as { name?: unknown } | undefined;
  return r !== null && typeof r === 'object' && r.name === 'TimeoutError' ? 'timeout' : 'aborted';
}

/** A short reason for a socket error: `refused`, `reset`, `unreachable`, ... or the error code. */
export function errorReason(error: unknown): string {
  const e = error as NodeJS.ErrnoException | undefined;
  switch (e?.code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'reset';
    case 'ETIMEDOUT':
      return 'timeout';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'unreachable';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'unresolved';
    case 'ENOENT':
      return 'no such socket';
    default:
      return e?.code ?? (e instanceof Error ? e.message : String(error));
  }
}

/** Where to connect: a unix socket path for `unix:/path`, else host and port. */
export function connectOptions(target: CheckTarget): { path: string } | { host: string; port: number } {
  return target.address.startsWith('unix:') ? { path: target.address.slice(5) } : { host: target.host, port: target.port };
}

/** The probe's view of its conversation. */
export interface Session {
  readonly socket: net.Socket;
  /** Settles the probe (first call wins): destroys the socket, delivers the verdict after its `close`. */
  done(ok: boolean, reason: string): void;
  /** True once `done` has been called. */
  readonly finished: boolean;
}

/** Event handlers of a probe. Unset `end`/`error` fail the probe with `closed` / the error's reason. */
export interface SessionHandlers {
  /** The socket was created (not yet connected): attach extra listeners here. */
  opened?(session: Session): void;
  /** The connection is up (after the TLS handshake for `tls: true`). */
  connect(session: Session): void;
  /** Bytes from the peer. */
  data?(chunk: Buffer, session: Session): void;
  /** The peer closed its side. */
  end?(session: Session): void;
  /** A socket error (refused, reset, TLS failure, ...). */
  error?(error: Error, session: Session): void;
}

/** The conversation of a socket, for the shared listeners. */
const CONVERSATION = Symbol('upstream-balancer.conversation');
type ConversedSocket = net.Socket & { [CONVERSATION]: Conversation };

/** One check on one socket. Fields, not accessors: one hidden class for every check. */
export class Conversation implements Session, ProbeRun {
  socket: net.Socket = undefined as unknown as net.Socket;
  finished = false;
  #ok = false;
  #reason = '';
  #closed = false;
  readonly #handlers: SessionHandlers;
  readonly #sink: ProbeSink;

  constructor(handlers: SessionHandlers, sink: ProbeSink) {
    this.#handlers = handlers;
    this.#sink = sink;
  }

  /** Connects; a target that cannot be connected to settles on the next microtask. */
  open(target: CheckTarget, tlsOptions: tls.ConnectionOptions | undefined): this {
    const where = connectOptions(target);
    // Checked here: node:net throws on a bad port only after it has opened a handle, and leaks it.
    if ('port' in where && !(Number.isInteger(where.port) && where.port > 0 && where.port <= 0xffff)) {
      return this.#settleWithoutSocket(`bad address: port ${where.port}`);
    }
    let socket: net.Socket;
    try {
      socket = tlsOptions ? tls.connect({ ...where, ...tlsOptions }) : net.connect(where);
    } catch (error) {
      return this.#settleWithoutSocket(`bad address: ${errorReason(error)}`);
    }
    this.socket = socket;
    (socket as ConversedSocket)[CONVERSATION] = this;
    this.#handlers.opened?.(this);
    socket.on('close', onClose);
    socket.on('error', onError);
    socket.on('end', onEnd);
    socket.on('data', onData);
    socket.once(tlsOptions ? 'secureConnect' : 'connect', onConnect);
    return this;
  }

  done(ok: boolean, reason: string): void {
    if (this.finished) return;
    this.finished = true;
    this.#ok = ok;
    this.#reason = reason;
    if (this.#closed) this.#sink.probeSettled(ok, reason, this);
    else this.socket.destroy();
  }

  abort(reason: 'timeout' | 'aborted'): void {
    this.done(false, reason);
  }

  /** @internal the socket's listeners */
  closed(): void {
    this.#closed = true;
    if (this.finished) this.#sink.probeSettled(this.#ok, this.#reason, this);
    else this.done(false, 'closed');
  }
  /** @internal */
  connected(): void {
    if (!this.finished) this.#handlers.connect(this);
  }
  /** @internal */
  received(chunk: Buffer): void {
    if (!this.finished && this.#handlers.data) this.#handlers.data(chunk, this);
  }
  /** @internal */
  ended(): void {
    if (this.#handlers.end) this.#handlers.end(this);
    else this.done(false, 'closed');
  }
  /** @internal */
  failed(error: Error): void {
    if (this.#handlers.error) this.#handlers.error(error, this);
    else this.done(false, errorReason(error));
  }

  #settleWithoutSocket(reason: string): this {
    this.finished = true;
    this.#closed = true;
    this.#reason = reason;
    queueMicrotask(() => this.#sink.probeSettled(false, reason, this));
    return this;
  }
}

function onClose(this: ConversedSocket): void {
  this[CONVERSATION].closed();
}
function onError(this: ConversedSocket, error: Error): void {
  this[CONVERSATION].failed(error);
}
function onEnd(this: ConversedSocket): void {
  this[CONVERSATION].ended();
}
function onData(this: ConversedSocket, chunk: Buffer): void {
  this[CONVERSATION].received(chunk);
}
function onConnect(this: ConversedSocket): void {
  this[CONVERSATION].connected();
}

/** Adapts a run to the promise form: resolves once, follows `signal`. */
class PromiseSink implements ProbeSink {
  run: ProbeRun | undefined;
  readonly #resolve: (result: ProbeResult) => void;
  readonly #signal: AbortSignal;
  readonly onAbort = (): void => this.run?.abort(abortReason(this.#signal));

  constructor(resolve: (result: ProbeResult) => void, signal: AbortSignal) {
    this.#resolve = resolve;
    this.#signal = signal;
  }

  probeSettled(ok: boolean, reason: string): void {
    this.#signal.removeEventListener('abort', this.onAbort);
    this.#resolve({ ok, reason });
  }
}

/**
 * Opens a connection to `target` and runs `handlers` on it until one of them calls `done`, the peer
 * goes away, or `signal` aborts. With `tlsOptions`, a TLS connection is made and `connect` fires at
 * `secureConnect`.
 */
export function converse(
  target: CheckTarget,
  signal: AbortSignal,
  handlers: SessionHandlers,
  tlsOptions?: tls.ConnectionOptions,
): Promise<ProbeResult> {
  if (signal.aborted) return Promise.resolve({ ok: false, reason: abortReason(signal) });
  return new Promise<ProbeResult>((resolve) => {
    const sink = new PromiseSink(resolve, signal);
    sink.run = new Conversation(handlers, sink).open(target, tlsOptions);
    signal.addEventListener('abort', sink.onAbort, { once: true });
  });
}

/**
 * A built-in probe from the handlers of one check (`handlersFor`, called once per check) and, for
 * TLS probes, the connection options: the public promise form with `start` for the checker.
 */
export function defineProbe(
  handlersFor: (options: ResolvedCheck) => SessionHandlers,
  tlsOptionsFor?: (options: ResolvedCheck) => tls.ConnectionOptions,
): StartableProbe {
  const probe: Probe = (target, options, signal) => converse(target, signal, handlersFor(options), tlsOptionsFor?.(options));
  const start: ProbeStarter = (target, options, sink) => new Conversation(handlersFor(options), sink).open(target, tlsOptionsFor?.(options));
  return Object.assign(probe, { start });
}

/**
 * Accumulates a reply from a peer, keeping at most `MAX_REPLY` bytes. A probe parses `text` after
 * each `push`; when the reply is still incomplete and `full` is true, the peer is sending more than
 * any valid reply holds and the probe fails with `too long`.
 */
export class BoundedText {
  text = '';
  get full(): boolean {
    return this.text.length >= MAX_REPLY;
  }
  push(chunk: Buffer): void {
    const room = MAX_REPLY - this.text.length;
    if (room > 0) this.text += chunk.toString('latin1', 0, Math.min(room, chunk.length));
  }
  clear(): void {
    this.text = '';
  }
}
