/**
 * Lifecycle helpers shared by `Balancer`, `Checker` and `NameResolver`: the `Symbol.asyncDispose`
 * key of `await using`, the `{ signal }` options of `start()` and `close()`, and the two things a
 * signal does there (docs/embedding.md, "Lifecycle: `await using` and AbortSignal"):
 * - `start({ signal })`: aborting it closes the object, as aborting the signal given to node:net's
 *   `server.listen({ signal })` closes the server and undici's `signal` ends what it started;
 *   a signal that has already aborted closes it at once (nothing starts).
 * - `close({ signal })`: the close itself always happens (timers cleared, checks aborted, at once);
 *   the signal only stops the *wait* for in-flight probes to settle: the returned promise rejects
 *   with `signal.reason`, as `fetch` and node:timers/promises reject, while those probes finish
 *   on their own and report nothing. A later `close()` returns the wait that is still going.
 * No nginx source: nginx's equivalent is a worker's exit, which closes its sockets.
 */

import { InvalidOptionError, show } from './errors';

/**
 * The key of `await using`: `Symbol.asyncDispose`, which Node defines from 20.4 on (as
 * `Symbol.for('nodejs.asyncDispose')` until V8 has its own), else that same registered symbol, so
 * that a transpiler helper or a later Node that polyfills it finds the method.
 */
export const asyncDispose: typeof Symbol.asyncDispose =
  (Symbol as { asyncDispose?: typeof Symbol.asyncDispose }).asyncDispose ?? (Symbol.for('nodejs.asyncDispose') as typeof Symbol.asyncDispose);

/** Options of `start()`. */
export interface StartOptions {
  /** Aborting it closes what `start()` started (as `close()`; a closed object cannot start again). */
  signal?: AbortSignal;
}

/** Options of `close()`. */
export interface CloseOptions {
  /**
   * Aborting it stops waiting for the checks in flight to settle: the promise rejects with
   * `signal.reason`. The close itself is done either way.
   */
  signal?: AbortSignal;
}

/** The `signal` of start / close options, validated: an AbortSignal or nothing. */
export function signalOf(options: StartOptions | CloseOptions | undefined, method: string): AbortSignal | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError(method, `Expected the options of \`${method}\` to be an object, got ${show(options)}`, options);
  }
  const signal = options.signal;
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) {
    throw new InvalidOptionError(`${method}.signal`, `Expected \`signal\` of \`${method}\` to be an AbortSignal, got ${show(signal)}`, signal);
  }
  return signal;
}

/**
 * Calls `close` when `signal` aborts (at once when it already has); returns the
 * function that forgets the signal, which the owner calls when it closes for another reason so
 * that a long-lived signal does not keep it alive. A rejection of `close` surfaces as an uncaught
 * exception, as a throwing timer callback would.
 */
export function closeOnAbort(signal: AbortSignal, close: () => Promise<void>): () => void {
  const run = (): void => {
    close().catch((error: unknown) => {
      queueMicrotask(() => {
        throw error;
      });
    });
  };
  if (signal.aborted) {
    run();
    return () => {};
  }
  signal.addEventListener('abort', run, { once: true });
  return () => signal.removeEventListener('abort', run);
}

/**
 * What `close(options)` returns: the close that `closing()` starts (or returns, when under way),
 * waited for unless `options.signal` aborts (`waitUnlessAborted`). Invalid options reject, and
 * close nothing.
 */
export function closeWaiting(options: CloseOptions | undefined, method: string, closing: () => Promise<void>): Promise<void> {
  let signal: AbortSignal | undefined;
  try {
    signal = signalOf(options, method);
  } catch (error) {
    return Promise.reject(error);
  }
  return waitUnlessAborted(closing(), signal);
}

/**
 * `settled`, or a rejection with `signal.reason` as soon as `signal` aborts (at once when it already
 * has); the abort listener is removed when `settled` settles first.
 */
export function waitUnlessAborted(settled: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return settled;
  if (signal.aborted) {
    settled.catch(() => {}); // still running; whoever awaits it again sees its outcome
    return Promise.reject(signal.reason);
  }
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    settled.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
