/**
 * One probe conversation on one socket: the plumbing every built-in probe shares.
 *
 * `converse()` opens a TCP (or TLS, or unix-domain) connection to a check target, hands its events
 * to the probe's handlers and settles exactly once. Invariants, on every path (verdict, error,
 * peer close, abort): the socket is destroyed, and the returned promise resolves only after the
 * socket's `close` event, so a settled probe holds no handle. An abort of `signal` (the checker's
 * timeout, or `close()`) fails the probe with `timeout` or `aborted`. Reads are bounded by
 * `MAX_REPLY` bytes, the size of the check module's receive buffer (one page): a peer that streams
 * forever fails with `too long` instead of growing memory. Cost: one socket and a few closures per
 * check; no timers (the checker owns the timeout).
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

/** Most bytes a probe buffers for one reply (the check module reads into one 4 KiB page). */
export const MAX_REPLY = 4096;

/** The verdict for an aborted probe: `timeout` when the checker's timeout fired, else `aborted`. */
export function abortReason(signal: AbortSignal): string {
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
  /** Settles the probe (first call wins): destroys the socket, resolves after its `close`. */
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
    let result: ProbeResult | undefined;
    let closed = false;
    let socket: net.Socket;
    const onAbort = (): void => session.done(false, abortReason(signal));
    const session: Session = {
      get socket() {
        return socket;
      },
      get finished() {
        return result !== undefined;
      },
      done(ok, reason) {
        if (result !== undefined) return;
        result = { ok, reason };
        signal.removeEventListener('abort', onAbort);
        if (closed) resolve(result);
        else socket.destroy();
      },
    };
    const where = connectOptions(target);
    // Checked here: node:net throws on a bad port only after it has opened a handle, and leaks it.
    if ('port' in where && !(Number.isInteger(where.port) && where.port > 0 && where.port <= 0xffff)) {
      resolve({ ok: false, reason: `bad address: port ${where.port}` });
      return;
    }
    try {
      socket = tlsOptions ? tls.connect({ ...where, ...tlsOptions }) : net.connect(where);
    } catch (error) {
      resolve({ ok: false, reason: `bad address: ${errorReason(error)}` });
      return;
    }
    handlers.opened?.(session);
    socket.on('close', () => {
      closed = true;
      if (result === undefined) session.done(false, 'closed');
      resolve(result!);
    });
    socket.on('error', (error) => (handlers.error ? handlers.error(error, session) : session.done(false, errorReason(error))));
    socket.on('end', () => (handlers.end ? handlers.end(session) : session.done(false, 'closed')));
    socket.on('data', (chunk: Buffer) => {
      if (result === undefined && handlers.data) handlers.data(chunk, session);
    });
    socket.once(tlsOptions ? 'secureConnect' : 'connect', () => {
      if (result === undefined) handlers.connect(session);
    });
    signal.addEventListener('abort', onAbort, { once: true });
  });
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
}
