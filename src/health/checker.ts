/**
 * Active-check scheduler: the only code in this package that uses timers.
 *
 * It decides *when* each server is probed and hands every result to its host (the Balancer), which
 * applies the rise/fall rule and emits events; it keeps no health state of its own.
 *
 * Timeline per server (docs/nginx-semantics.md §7.4, simplified to one owner per server):
 * - nothing runs at construction; `start()` gives each server a first check at a random delay in
 *   [0, interval) (the module: [0, max(interval, 1000))), which spreads the checks out;
 * - the checks then keep that phase, as HAProxy's checks do (`spread-checks`): a server's next check
 *   is due `delay` after its previous *due time*, where `delay` is `interval`, or `downInterval`
 *   while the server is fully down and `fastInterval` while its counters move toward a flip
 *   (HAProxy's `downinter` / `fastinter`), plus `floor(jitter * interval * rng())` when `jitter > 0`,
 *   taken when the result arrives. A due time that is not later than the result moves on by whole
 *   `delay`s until it is (HAProxy's reschedule loop), so a check slower than its delay skips the
 *   slots it overlapped and one server never has two checks at once. The check module's own timer
 *   also keeps a fixed per-peer phase (it fires every `interval / 2`); the earlier rule here, the
 *   next check `interval` after the previous *result*, let checks whose results arrived in the same
 *   event-loop turn start together from then on, and such clumps only grow (bench/README.md,
 *   "Active checks");
 * - one check per server at a time; `timeout` counts from the start of the check and aborts it;
 * - `close()` clears every timer, aborts every check in flight and resolves once every probe has
 *   settled (built-in probes settle after their socket's `close`); nothing is reported after it.
 *   `start({ signal })`: aborting closes; `close({ signal })`: aborting stops only the wait for
 *   the probes to settle (lifecycle.ts); `await using` closes too (`Symbol.asyncDispose`).
 *
 * Timers: two for the whole checker, whatever the number of servers: one over the due heap, armed
 * for the earliest due time, one over the deadline queue of the checks in flight (check-queues.ts).
 * A timer fire starts every check due by then (one ms of slack: Node's timers run on the loop's
 * cached millisecond clock), at most `MAX_STARTS_PER_TURN` of them, and the due timer then fires no
 * sooner than `startWindow` later (at once after a full batch; and the window is cut to the time in
 * which about 64 checks fall due, `startWindowFor`): checks due within the window of a fire start
 * together at the next one, at most `startWindow` late, their due times unchanged. Every wake-up of
 * the process costs CPU (the loop's poll, the timer, the sockets' polls after it), so checks that
 * share one cost less each (bench/README.md, "Active checks: the start window").
 * Built-in probes run in their callback form (`probe.start`, session.ts): no promise,
 * AbortController or timer per check; a custom check function gets its AbortSignal as before.
 * Timers are `unref()`ed: a balancer with checks does not keep a process alive. Clock, random
 * source and the timer functions are injectable; tests drive them by hand
 * (test/unit/checker*.test.ts).
 */

import { UpstreamError } from '../errors';
import { asyncDispose, closeOnAbort, closeWaiting, signalOf, type CloseOptions, type StartOptions } from '../lifecycle';
import type { CheckTarget, ResolvedCheck } from '../options';
import type { Probe, ProbeResult, ProbeRun, ProbeSink, StartableProbe } from './probes/index';
import { probeFor } from './probes/lazy';
import { DeadlineQueue, DueHeap, startWindowFor } from './check-queues';
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

/** One server's schedule and its check in flight. */
class Entry implements ProbeSink {
  /** Due time of the next check (clock ms), while in the heap. */
  due = 0;
  /** Position in the due heap, -1 when not scheduled. */
  heapIndex = -1;
  /** The due time the latest check was started for: the phase the next due time keeps. */
  lastDue = 0;
  /** The check in flight. */
  run: ProbeRun | undefined = undefined;
  /** Clock when the check in flight started. */
  runStart = 0;
  /** `epoch` when the check in flight started. */
  runEpoch = 0;
  /** Removed by `sync()` while a check was in flight; dropped when it settles. */
  removed = false;
  /** Bumped when a removed server is re-added mid-check: the old check's result is not reported. */
  epoch = 0;

  constructor(
    readonly id: string,
    public target: CheckTarget,
    readonly settle: (entry: Entry, run: ProbeRun, ok: boolean, reason: string) => void,
  ) {}

  probeSettled(ok: boolean, reason: string, run: ProbeRun): void {
    this.settle(this, run, ok, reason);
  }
}

/** A custom check function's run: its AbortController, aborted with the DOMException its signal carries. */
class SignalRun implements ProbeRun {
  readonly controller = new AbortController();
  /** The AbortError's message: why the check was aborted. */
  message = 'checker closed';
  constructor(readonly timeout: number) {}
  abort(reason: 'timeout' | 'aborted'): void {
    this.controller.abort(reason === 'timeout' ? timeoutError(this.timeout) : abortError(this.message));
  }
}

/** Timers' slack: a timer may fire this much before the clock reads its due time. */
const TIMER_SLACK_MS = 1;

/**
 * Most checks one timer fire starts. When the process falls behind (more checks due than it can
 * start), the rest wait for the next turn of the event loop (a 0 ms timer), after the results and
 * the traffic that arrived meanwhile, instead of one turn starting them all: a checker that falls
 * behind starts checks late (a result later than its next due time skips that slot); it does not
 * stall the loop. At 10,000 servers every
 * second about 10 checks are due per ms, so the cap binds only when the loop is 6 ms or more behind;
 * 64 starts take about 3 ms of the loop (bench/README.md, "Active checks at scale", measured 256
 * against 64 at 10,000 servers).
 */
const MAX_STARTS_PER_TURN = 64;

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
  /** The built-in probe's callback form, or undefined for a custom check function. */
  readonly #start: StartableProbe['start'] | undefined;
  readonly #entries = new Map<string, Entry>();
  readonly #settle = (entry: Entry, run: ProbeRun, ok: boolean, reason: string): void => this.#finish(entry, run, ok, reason);
  /** Scheduled entries by due time, under one timer. */
  readonly #due = new DueHeap<Entry>();
  #dueTimer: unknown = undefined;
  /** Due time the timer is armed for (Infinity when none). */
  #dueTimerAt = Infinity;
  /** Earliest time the due timer may fire next (`startWindow` after its last fire, or at once after a full batch). */
  #nextWake = -Infinity;
  /** Checks in flight in start order, under one timer for the oldest deadline. */
  readonly #deadlines = new DeadlineQueue<Entry, ProbeRun>();
  #deadlineTimer: unknown = undefined;
  /** Entries with a check in flight (the deadline queue is dropped when it is 0). */
  #inFlight = 0;
  /** Probes that have not settled yet, aborted ones included. */
  #unsettled = 0;
  #allSettled: (() => void) | undefined;
  #started = false;
  #closing: Promise<void> | undefined;
  /** Forgets the signal of `start({ signal })`. */
  #forgetSignal: (() => void) | undefined;

  constructor(options: ResolvedCheck, host: CheckHost, env: Partial<CheckerEnv> = {}) {
    this.#options = options;
    this.#host = host;
    this.#env = { ...REAL_ENV, ...env };
    this.#probe = probeFor(options.type);
    this.#start = (this.#probe as Partial<StartableProbe>).start;
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
   * scheduled check and their check in flight (its result is dropped), an id whose address changed
   * is checked at the new address from its next check on. A no-op before `start()` and after
   * `close()`.
   */
  sync(): void {
    if (!this.running) return;
    const seen = new Set<string>();
    const now = this.#env.clock();
    for (const { id, address } of this.#host.targets()) {
      seen.add(id);
      const entry = this.#entries.get(id);
      if (entry === undefined) {
        const fresh = new Entry(id, this.#target(id, address), this.#settle);
        this.#entries.set(id, fresh);
        this.#due.push(fresh, now + this.#firstDelay());
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
      this.#due.remove(entry);
      if (entry.run) {
        entry.removed = true;
        this.#abort(entry.run, 'server removed');
      } else {
        this.#entries.delete(entry.id);
      }
    }
    this.#armDueTimer();
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
    if (this.#dueTimer !== undefined) this.#env.clearTimeout(this.#dueTimer);
    this.#dueTimer = undefined;
    this.#dueTimerAt = Infinity;
    this.#clearDeadlines();
    this.#due.clear();
    const runs: ProbeRun[] = [];
    for (const entry of this.#entries.values()) if (entry.run) runs.push(entry.run);
    this.#entries.clear();
    const settled = new Promise<void>((resolve) => {
      this.#allSettled = resolve;
    });
    for (const run of runs) this.#abort(run, 'checker closed');
    if (this.#unsettled === 0) this.#allSettled!();
    return settled;
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

  #timer(fn: () => void, ms: number): unknown {
    const handle = this.#env.setTimeout(fn, ms);
    (handle as { unref?: () => void } | null)?.unref?.();
    return handle;
  }

  // ---- the due timer ------------------------------------------------------------------------

  /** Arms the due timer for the earliest due time, unless it is armed for that time or earlier. */
  #armDueTimer(): void {
    if (!this.running) return;
    const next = Math.max(this.#due.earliest, this.#nextWake);
    if (next >= this.#dueTimerAt) return;
    if (this.#dueTimer !== undefined) this.#env.clearTimeout(this.#dueTimer);
    this.#dueTimerAt = next;
    this.#dueTimer = next === Infinity ? undefined : this.#timer(this.#onDue, Math.max(0, Math.ceil(next - this.#env.clock())));
  }

  readonly #onDue = (): void => {
    this.#dueTimer = undefined;
    this.#dueTimerAt = Infinity;
    const now = this.#env.clock();
    const limit = now + TIMER_SLACK_MS;
    let started = 0;
    while (this.running && this.#due.earliest < limit && started < MAX_STARTS_PER_TURN) {
      started++;
      const entry = this.#due.pop();
      entry.lastDue = entry.due;
      this.#run(entry);
    }
    // a full batch leaves the rest to the next turn; otherwise the next wake-up is a window away
    this.#nextWake = started === MAX_STARTS_PER_TURN ? now : now + startWindowFor(this.#options, this.#entries.size);
    this.#armDueTimer();
  };

  // ---- checks in flight and their deadlines --------------------------------------------------

  #run(entry: Entry): void {
    if (entry.removed || entry.run) return;
    const start = this.#env.clock();
    entry.runStart = start;
    entry.runEpoch = entry.epoch;
    this.#unsettled += 1;
    this.#inFlight += 1;
    let run: ProbeRun;
    if (this.#start !== undefined) {
      run = this.#start(entry.target, this.#options, entry);
    } else {
      const signalRun = new SignalRun(this.#options.timeout);
      run = signalRun;
      let probe: Promise<ProbeResult>;
      try {
        probe = this.#probe(entry.target, this.#options, signalRun.controller.signal);
      } catch (error) {
        probe = Promise.resolve({ ok: false, reason: error instanceof Error ? error.message : String(error) });
      }
      probe.then(
        (r) => entry.probeSettled(r.ok, r.reason, signalRun),
        (error: unknown) => entry.probeSettled(false, error instanceof Error ? error.message : String(error), signalRun),
      );
    }
    entry.run = run;
    if (this.#deadlines.empty && this.#deadlineTimer === undefined) this.#deadlineTimer = this.#timer(this.#onDeadline, this.#options.timeout);
    this.#deadlines.push(entry, run, start + this.#options.timeout);
  }

  readonly #onDeadline = (): void => {
    this.#deadlineTimer = undefined;
    const now = this.#env.clock();
    const next = this.#deadlines.expire(now + TIMER_SLACK_MS, isLive, expireRun);
    if (next === Infinity) this.#clearDeadlines();
    else if (this.running) this.#deadlineTimer = this.#timer(this.#onDeadline, Math.max(0, Math.ceil(next - now)));
  };

  #clearDeadlines(): void {
    if (this.#deadlineTimer !== undefined) this.#env.clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = undefined;
    this.#deadlines.clear();
  }

  #abort(run: ProbeRun, message: string): void {
    if (run instanceof SignalRun) run.message = message;
    run.abort('aborted');
  }

  #finish(entry: Entry, run: ProbeRun, ok: boolean, reason: string): void {
    this.#unsettled -= 1;
    if (this.#closing !== undefined) {
      if (this.#unsettled === 0) this.#allSettled?.();
      return;
    }
    if (entry.run !== run) return;
    entry.run = undefined;
    this.#inFlight -= 1;
    if (this.#inFlight === 0) this.#clearDeadlines();
    if (entry.removed) {
      this.#entries.delete(entry.id);
      return;
    }
    const now = this.#env.clock();
    if (entry.runEpoch !== entry.epoch) {
      this.#due.push(entry, now + this.#firstDelay());
      this.#armDueTimer();
      return;
    }
    try {
      this.#host.report(entry.id, ok, reason, now - entry.runStart);
    } catch (error) {
      rethrow(error);
    }
    // The report may have called sync() (server removed) or close().
    if (this.running && this.#entries.get(entry.id) === entry && !entry.removed && entry.heapIndex < 0 && !entry.run) {
      let delay = this.#options.interval;
      try {
        delay = this.#nextDelay(entry.id);
      } catch (error) {
        rethrow(error);
      }
      let due = entry.lastDue + delay;
      if (due <= now) due += (Math.floor((now - due) / delay) + 1) * delay;
      this.#due.push(entry, due);
      this.#armDueTimer();
    }
  }
}

/** A check in the deadline queue is live while it is its entry's check in flight and not removed. */
function isLive(entry: Entry, run: ProbeRun): boolean {
  return entry.run === run && !entry.removed;
}

function expireRun(run: ProbeRun): void {
  run.abort('timeout');
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
