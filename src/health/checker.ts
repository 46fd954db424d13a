/**
 * Active-check scheduler: the only code in this package that uses timers.
 *
 * It decides *when* each server is probed and hands every result to its host (the Balancer), which
 * applies the rise/fall rule and emits events; it keeps no health state of its own.
 *
 * Timeline per server (docs/nginx-semantics.md §7.4, simplified to one owner per server):
 * - nothing runs at construction; `start()` gives each server a first check at a random delay in
 *   [0, interval) (the module: [0, max(interval, 1000))), which spreads the checks out;
 * - the next check starts `interval` ms after the previous *result* (the module starts between
 *   1 and 1.5 intervals after it), or `downInterval` while the server is fully down and
 *   `fastInterval` while its counters move toward a flip (HAProxy's `downinter` / `fastinter`),
 *   plus `floor(jitter * interval * rng())` when `jitter > 0`;
 * - one check per server at a time; `timeout` counts from the start of the connect and aborts the
 *   probe through its AbortSignal (an AbortController per check);
 * - `close()` clears every timer, aborts every check in flight and resolves once every probe has
 *   settled (built-in probes settle after their socket's `close`); nothing is reported after it.
 *   `start({ signal })`: aborting closes; `close({ signal })`: aborting stops only the wait for
 *   the probes to settle (lifecycle.ts); `await using` closes too (`Symbol.asyncDispose`).
 *
 * Timers are `unref()`ed: a balancer with checks does not keep a process alive. Clock, random
 * source and the timer functions are injectable; tests drive them by hand. Cost per check: one
 * AbortController, one timeout timer, one next-check timer, the probe's socket.
 */

import { UpstreamError } from '../errors';
import { asyncDispose, closeOnAbort, closeWaiting, signalOf, type CloseOptions, type StartOptions } from '../lifecycle';
import type { CheckTarget, ResolvedCheck } from '../options';
import type { Probe, ProbeResult } from './probes/index';
import { probeFor } from './probes/lazy';
import type { RiseFallState } from './rise-fall';

/** Where a server stands for scheduling: fully up, fully down, or with counters moving toward a flip. */
export type CheckPhase = 'up' | 'down' | 'transition';

/** What the checker needs from its owner (the Balancer). */
export interface CheckHost {
  /** The servers to check now (the balancer passes every server that is not `down`), in config order. */
  targets(): readonly { id: string; address: string }[];
  /** One result; the host applies rise/fall and emits events. `ms` is the check's duration. */
  report(id: string, ok: boolean, reason: string, ms: number): void;
  /** The server's phase after its latest result, for `downInterval` / `fastInterval`. */
  phase(id: string): CheckPhase;
}

/** Injectable environment: time, randomness and timers. Defaults are the real ones. */
export interface CheckerEnv {
  /** ms; used for check durations. */
  clock: () => number;
  /** In [0, 1); used for first-check delays and jitter. */
  rng: () => number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const REAL_ENV: CheckerEnv = {
  clock: () => performance.now(),
  rng: Math.random,
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * The scheduling phase of a rise/fall state: `transition` when the latest results point away from
 * the current verdict (down with successes, up with failures), else `down` or `up`.
 *
 * @example
 * phase: (id) => checkPhase(riseFallOf(id))
 */
export function checkPhase(state: Pick<RiseFallState, 'down' | 'rise' | 'fall'>): CheckPhase {
  if (state.down) return state.rise > 0 ? 'transition' : 'down';
  return state.fall > 0 ? 'transition' : 'up';
}

/**
 * The address a server is checked at: its own host, and `port` when it is non-zero, else its own
 * port (80 when the address has none, as for an http upstream). Accepts `host:port`, `[v6]:port`
 * and `unix:/path` (host = the path, port 0; probes connect to the path).
 *
 * @example
 * checkTarget('a', '[::1]:25', 0);     // { id: 'a', address: '[::1]:25', host: '::1', port: 25 }
 * checkTarget('a', '10.0.0.1:25', 2525); // port 2525
 */
export function checkTarget(id: string, address: string, port: number): CheckTarget {
  if (address.startsWith('unix:')) return { id, address, host: address.slice(5), port: 0 };
  let host = address;
  let own = 80;
  const m = /^\[([^\]]*)\](?::(.*))?$/.exec(address);
  if (m) {
    host = m[1]!;
    if (m[2] !== undefined) own = Number(m[2]);
  } else {
    const colon = address.lastIndexOf(':');
    // One colon: host:port. None, or several without brackets (a bare IPv6 address): no port.
    if (colon >= 0 && address.indexOf(':') === colon) {
      host = address.slice(0, colon);
      own = Number(address.slice(colon + 1));
    }
  }
  return { id, address, host, port: port || own };
}

interface Entry {
  id: string;
  target: CheckTarget;
  /** Next-check timer. */
  timer: unknown;
  /** The check in flight. */
  running: { controller: AbortController; timeout: unknown } | undefined;
  /** Removed by `sync()` while a check was in flight; dropped when it settles. */
  removed: boolean;
  /** Bumped when a removed server is re-added mid-check: the old check's result is not reported. */
  epoch: number;
}

/**
 * Runs a probe per server on a schedule and reports each result to its host.
 *
 * @example
 * const checker = new Checker(resolveCheck({ interval: 5000, type: 'smtp' }), {
 *   targets: () => servers.filter((s) => !s.down),
 *   report: (id, ok, reason, ms) => balancer.reportCheck(id, ok, reason),
 *   phase: (id) => checkPhase(stateOf(id)),
 * });
 * checker.start();
 * // ... later
 * await checker.close();
 */
export class Checker {
  readonly #options: ResolvedCheck;
  readonly #host: CheckHost;
  readonly #env: CheckerEnv;
  readonly #probe: Probe;
  readonly #entries = new Map<string, Entry>();
  /** Every probe that has not settled yet, including aborted ones. */
  readonly #settling = new Set<Promise<void>>();
  #started = false;
  #closing: Promise<void> | undefined;
  /** Forgets the signal of `start({ signal })`. */
  #forgetSignal: (() => void) | undefined;

  constructor(options: ResolvedCheck, host: CheckHost, env: Partial<CheckerEnv> = {}) {
    this.#options = options;
    this.#host = host;
    this.#env = { ...REAL_ENV, ...env };
    this.#probe = probeFor(options.type);
  }

  /** True between `start()` and `close()`. */
  get running(): boolean {
    return this.#started && this.#closing === undefined;
  }

  /**
   * Schedules the first check of every target. Idempotent; throws after `close()`. Aborting
   * `signal` closes the checker (an already aborted one closes it at once; nothing is scheduled).
   */
  start(options?: StartOptions): void {
    const signal = signalOf(options, 'start');
    if (this.#closing) throw new UpstreamError('ERR_UPSTREAM_CLOSED', 'The checker is closed: create a new one to check again');
    if (signal !== undefined) {
      const forget = closeOnAbort(signal, () => this.close());
      if (signal.aborted) return;
      this.#forgetSignal?.();
      this.#forgetSignal = forget;
    }
    if (this.#started) return;
    this.#started = true;
    this.sync();
  }

  /**
   * Re-reads `host.targets()`: new ids get a first check at a random delay, removed ids lose their
   * timer and their check in flight (its result is dropped), an id whose address changed is checked
   * at the new address from its next check on. A no-op before `start()` and after `close()`.
   */
  sync(): void {
    if (!this.running) return;
    const seen = new Set<string>();
    for (const { id, address } of this.#host.targets()) {
      seen.add(id);
      const entry = this.#entries.get(id);
      if (entry === undefined) {
        const fresh: Entry = { id, target: this.#target(id, address), timer: undefined, running: undefined, removed: false, epoch: 0 };
        this.#entries.set(id, fresh);
        this.#schedule(fresh, this.#firstDelay());
        continue;
      }
      if (entry.removed) {
        // Removed and re-added while its aborted check settles: rescheduled when it does.
        entry.removed = false;
        entry.epoch += 1;
      }
      if (entry.target.address !== address) entry.target = this.#target(id, address);
    }
    for (const entry of this.#entries.values()) {
      if (seen.has(entry.id) || entry.removed) continue;
      this.#cancelTimer(entry);
      if (entry.running) {
        entry.removed = true;
        entry.running.controller.abort(abortError('server removed'));
      } else {
        this.#entries.delete(entry.id);
      }
    }
  }

  /**
   * Stops checking: clears every timer, aborts every check in flight, and resolves once every probe
   * has settled and closed its socket. Results that arrive after `close()` are not reported.
   * Idempotent: every call waits for the same probes. Aborting `signal` stops only this call's
   * wait: it rejects with `signal.reason` while the aborted probes settle on their own.
   */
  close(options?: CloseOptions): Promise<void> {
    return closeWaiting(options, 'close', () => (this.#closing ??= this.#shutdown()));
  }

  #shutdown(): Promise<void> {
    this.#forgetSignal?.();
    this.#forgetSignal = undefined;
    for (const entry of this.#entries.values()) {
      this.#cancelTimer(entry);
      if (entry.running === undefined) continue;
      this.#env.clearTimeout(entry.running.timeout); // no timer outlives the close
      entry.running.controller.abort(abortError('checker closed'));
    }
    this.#entries.clear();
    return Promise.all(this.#settling).then(() => undefined);
  }

  /** `close()`, for `await using`. */
  [asyncDispose](): Promise<void> {
    return this.close();
  }

  #target(id: string, address: string): CheckTarget {
    return checkTarget(id, address, this.#options.port);
  }

  #firstDelay(): number {
    return Math.floor(this.#env.rng() * this.#options.interval);
  }

  #nextDelay(id: string): number {
    const o = this.#options;
    const phase = this.#host.phase(id);
    const base = phase === 'down' ? o.downInterval : phase === 'transition' ? o.fastInterval : o.interval;
    return o.jitter > 0 ? base + Math.floor(o.jitter * o.interval * this.#env.rng()) : base;
  }

  #schedule(entry: Entry, delay: number): void {
    entry.timer = this.#timer(() => {
      entry.timer = undefined;
      this.#run(entry);
    }, delay);
  }

  #cancelTimer(entry: Entry): void {
    if (entry.timer !== undefined) this.#env.clearTimeout(entry.timer);
    entry.timer = undefined;
  }

  #timer(fn: () => void, ms: number): unknown {
    const handle = this.#env.setTimeout(fn, ms);
    (handle as { unref?: () => void } | null)?.unref?.();
    return handle;
  }

  #run(entry: Entry): void {
    if (!this.running || entry.removed || entry.running) return;
    const controller = new AbortController();
    const epoch = entry.epoch;
    const start = this.#env.clock();
    const timeout = this.#timer(() => {
      controller.abort(timeoutError(this.#options.timeout));
    }, this.#options.timeout);
    entry.running = { controller, timeout };
    let probe: Promise<ProbeResult>;
    try {
      probe = this.#probe(entry.target, this.#options, controller.signal);
    } catch (error) {
      probe = Promise.resolve({ ok: false, reason: error instanceof Error ? error.message : String(error) });
    }
    const settled = probe
      .then(
        (r) => r,
        (error: unknown): ProbeResult => ({ ok: false, reason: error instanceof Error ? error.message : String(error) }),
      )
      .then((result) => {
        this.#settling.delete(settled);
        this.#finish(entry, epoch, result, this.#env.clock() - start);
      });
    this.#settling.add(settled);
  }

  #finish(entry: Entry, epoch: number, result: ProbeResult, ms: number): void {
    if (entry.running) this.#env.clearTimeout(entry.running.timeout);
    entry.running = undefined;
    if (!this.running) return;
    if (entry.removed) {
      this.#entries.delete(entry.id);
      return;
    }
    if (epoch !== entry.epoch) {
      this.#schedule(entry, this.#firstDelay());
      return;
    }
    try {
      this.#host.report(entry.id, result.ok, result.reason, ms);
    } catch (error) {
      rethrow(error);
    }
    // The report may have called sync() (server removed) or close().
    if (this.running && this.#entries.get(entry.id) === entry && !entry.removed && entry.timer === undefined && !entry.running) {
      let delay = this.#options.interval;
      try {
        delay = this.#nextDelay(entry.id);
      } catch (error) {
        rethrow(error);
      }
      this.#schedule(entry, delay);
    }
  }
}

/**
 * A host callback threw (an event listener, most likely): surface it as an uncaught exception, as a
 * throwing timer callback would, while the checker keeps going.
 */
function rethrow(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}

function timeoutError(ms: number): Error {
  return new DOMException(`check timed out after ${ms} ms`, 'TimeoutError');
}

function abortError(message: string): Error {
  return new DOMException(message, 'AbortError');
}
