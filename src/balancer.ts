/**
 * Balancer: an upstream's public API. The selection half (selection.ts) holds the hot paths of
 * nginx's get / notify / free; this class adds runtime control of the servers (membership.ts
 * changes them), the active checks (health/checker.ts schedules them, health/verdicts.ts applies
 * their results) and observation. It owns the servers by stable `id`, the selection method (a
 * selector from methods.ts), the passive failure windows and the active-check verdicts, and emits
 * typed events on transitions (events.ts). docs/architecture.md is the map.
 */

import { InvalidOptionError, UpstreamError, show } from './errors';
import { type TierName, emitSafely, isObserved } from './events';
import { Checker } from './health/checker';
import { applyCheckResult, restoreVerdict } from './health/verdicts';
import { asyncDispose, closeOnAbort, closeWaiting, signalOf, type CloseOptions, type StartOptions } from './lifecycle';
import type { Method, ServerOptions } from './options';
import type { PreparedServers } from './membership';
import { prepareServers } from './prepared-servers';
import { Selection } from './selection';
import { nextTurn, runInSlices } from './slice-runner';
import type { Server, ServerSnapshot } from './server';

/** Plain-JSON state of a balancer, as returned by `snapshot()`. */
export interface BalancerSnapshot {
  name: string;
  method: Method;
  /** The tier that served the latest selection. */
  tier: TierName;
  servers: ServerSnapshot[];
}

/** Fields of a server that `update()` may change. */
export type ServerPatch = Partial<Omit<ServerOptions, 'id'>>;

/** Options of `setServersAsync()`. */
export interface SetServersOptions {
  /** Abandons the change before it is applied: the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Longest slice of the preparation on one turn of the event loop, in ms; default 1 (0: one step per turn). */
  sliceMs?: number;
}

/**
 * An upstream: servers, a balancing method and health state, with nginx's semantics.
 *
 * @example
 * import { Balancer } from 'upstream-balancer';
 * const balancer = new Balancer({
 *   name: 'smtp',
 *   servers: [
 *     { address: '10.0.0.1:10025', maxFails: 3, failTimeout: 3000 },
 *     { address: '10.0.0.2:10025', backup: true },
 *   ],
 * });
 * const attempt = balancer.attempt();
 * const server = attempt.next();        // 10.0.0.1:10025
 */
/** Something `start()` starts and `close()` stops beside the checker (a `NameResolver`, docs/dns.md). */
export interface BalancerService {
  start(): void;
  close(): Promise<void>;
}

export class Balancer extends Selection {
  #checker: Checker | null = null;
  #closed = false;
  /** The close in progress or done: every `close()` waits for this one. */
  #closing: Promise<void> | undefined;
  /** Forgets the signals of `start({ signal })` (lifecycle.ts `closeOnAbort`). */
  #forgetSignals: (() => void)[] = [];
  #services: BalancerService[] = [];
  #started = false;
  /** The `setServersAsync` calls in progress, in order (the latest settles last). */
  #applying: Promise<void> = Promise.resolve();
  /** The list `setServersAsync` is applying now, prepared (read by `setServers`). */
  #prepared: PreparedServers | null = null;

  // ---------------------------------------------------------------------------------------------
  // Membership and runtime control (membership.ts changes the state; this validates and commits)

  /**
   * The servers, in configuration order (primaries and backups interleaved as given): a frozen
   * array, the same one until the membership changes.
   */
  get servers(): readonly Server[] {
    return this.members.view();
  }

  /** The server with this id, if any. */
  get(id: string): Server | undefined {
    return this.members.byId.get(id);
  }

  /** Adds a server at the end of its tier. Throws on a duplicate id. */
  add(server: ServerOptions): Server {
    const rec = this.members.add(server);
    this.#changed();
    return rec;
  }

  /** Removes a server; its in-flight connections can still be released. */
  remove(id: string): void {
    this.members.remove(this.members.require(id));
    this.#changed();
  }

  /**
   * Changes a server's parameters, keeping its health and round-robin state. A weight change keeps
   * the failure penalty: effective weight = min(effective, new weight), or the new weight if the
   * server was at full weight.
   */
  update(id: string, patch: ServerPatch): Server {
    const rec = this.members.require(id);
    this.members.update(rec, patch);
    this.commit(rec, 'admin');
    this.#changed();
    return rec;
  }

  /**
   * Replaces the server list. Servers whose `id` survives keep their state (fails, weights,
   * connections, check verdict); new ones start fresh; missing ones are removed.
   */
  setServers(list: ServerOptions[]): void {
    const prepared = this.#prepared;
    const added = this.members.replace(list, prepared !== null && prepared.list === list ? prepared : undefined);
    for (const rec of this.members.order) {
      if (added.has(rec)) rec.lastState = rec.state;
      else this.commit(rec, 'admin');
    }
    this.#changed();
  }

  /**
   * `setServers(list)` without blocking the event loop for the list's size: the list is validated
   * and the method's data for it built (consistent hash: the new ring, beside the ring that serves)
   * a slice per turn (at most `sliceMs`, default 1 ms, each), then applied on one turn as
   * `setServers` applies it. Until then picks see the servers as they were, as nginx's old workers
   * serve until a reload is done. Resolves once applied; rejects with what `setServers` would throw,
   * before anything changes, or with `signal.reason`. Calls apply in the order made; a change made
   * meanwhile (`add`, `update`, ...) is replaced by the list, as a later `setServers` would replace it.
   *
   * @example
   * await balancer.setServersAsync(servers.map((s) => ({ ...s, down: s.id === 'mx2' })));
   */
  setServersAsync(list: ServerOptions[], options?: SetServersOptions): Promise<void> {
    let signal: AbortSignal | undefined;
    let sliceMs: number;
    try {
      ({ signal, sliceMs } = requireSetServersOptions(options));
    } catch (error) {
      return Promise.reject(error);
    }
    const copy = Array.isArray(list) ? list.slice() : list; // the array as it was when called (entries are read as the steps reach them)
    const apply = async (): Promise<void> => {
      signal?.throwIfAborted();
      const prepared = await runInSlices(prepareServers(copy, this.members), { budgetMs: sliceMs, signal });
      await nextTurn(); // the apply starts a turn of its own, not the end of the last slice's
      signal?.throwIfAborted();
      this.#prepared = prepared;
      try {
        this.setServers(copy);
      } finally {
        this.#prepared = null;
      }
    };
    const done = this.#applying.then(apply, apply);
    this.#applying = done.catch(() => undefined);
    return done;
  }

  /** After a membership change: attempts remap, the checker follows the new list. */
  #changed(): void {
    this.membershipChanged();
    this.#checker?.sync();
  }

  /** @internal A membership another thread of the zone published was adopted (zone/balancer.ts). */
  protected followMembership(): void {
    this.#changed();
  }

  // ---------------------------------------------------------------------------------------------
  // Active checks (health/checker.ts schedules, health/verdicts.ts applies)

  /**
   * Starts the active-check scheduler (needs the `check` option, unless an attached service such as
   * the DNS re-resolution is all there is to start) and the attached services: every server that is not `down`
   * gets its first check at a random delay in [0, interval), then one every interval after the
   * previous result. Nothing runs before `start()`. Idempotent. Aborting `signal` closes the
   * balancer, as `close()` does; an already aborted one closes it at once and starts nothing.
   *
   * @example
   * const b = new Balancer({ servers, check: { interval: 5000, rise: 2, fall: 5, timeout: 2000, type: 'smtp' } });
   * b.start();
   * // ...
   * await b.close();
   */
  start(options?: StartOptions): void {
    const signal = signalOf(options, 'start');
    if (this.#closed) throw new UpstreamError('ERR_UPSTREAM_CLOSED', `Balancer ${show(this.name)} is closed`);
    if (signal !== undefined) {
      const forget = closeOnAbort(signal, () => this.close());
      if (signal.aborted) return;
      this.#forgetSignals.push(forget);
    }
    const check = this.options.check;
    this.#started = true;
    for (const service of this.#services) service.start();
    if (check === undefined && this.#services.length > 0) return;
    if (check === undefined) {
      throw new InvalidOptionError('check', `start() needs the \`check\` option: upstream ${show(this.name)} has no active checks configured`, undefined);
    }
    if (this.#checker === null) {
      const timers = this.options.timers;
      this.#checker = new Checker(
        check,
        this.members.checkHost((id, ok, reason, ms) => this.reportCheck(id, ok, reason, ms)),
        // Check durations come from the balancer's clock only when the timers are injected too (a
        // harness); otherwise from performance.now(), so that a whole-second clock still yields ms.
        timers === undefined
          ? { rng: this.options.rng }
          : {
              clock: this.clock,
              rng: this.options.rng,
              // called as methods: a timer object whose methods use `this` (a class instance) works
              setTimeout: (fn, ms) => timers.setTimeout(fn, ms),
              clearTimeout: (h) => timers.clearTimeout(h),
            },
      );
    }
    this.#checker.start();
  }

  /**
   * Stops the active-check scheduler and the attached services at once: clears every timer, aborts
   * checks in flight; resolves once every probe socket is destroyed. Selection keeps working on the
   * last verdicts. Idempotent: every call waits for the same close. Aborting `signal` stops only
   * the wait (the promise rejects with `signal.reason`; the probes still settle on their own).
   * `await using balancer = new Balancer(...)` calls it (`Symbol.asyncDispose`).
   */
  close(options?: CloseOptions): Promise<void> {
    return closeWaiting(options, 'close', () => (this.#closing ??= this.#shutdown()));
  }

  /** `close()`, for `await using`. */
  [asyncDispose](): Promise<void> {
    return this.close();
  }

  #shutdown(): Promise<void> {
    this.#closed = true;
    for (const forget of this.#forgetSignals.splice(0)) forget();
    const closing: Promise<void>[] = [];
    for (const service of this.#services) {
      try {
        closing.push(service.close());
      } catch (error) {
        closing.push(Promise.reject(error));
      }
    }
    if (this.#checker !== null) closing.push(this.#checker.close());
    return Promise.all(closing).then(() => undefined);
  }

  /**
   * Adds a service that `start()` starts and `close()` stops, after the checker's rules (the
   * config loader attaches the `NameResolver` of `resolve` servers this way). A running balancer
   * starts it at once.
   */
  attach(service: BalancerService): void {
    if (this.#closed) throw new UpstreamError('ERR_UPSTREAM_CLOSED', `Balancer ${show(this.name)} is closed`);
    this.#services.push(service);
    if (this.#started) service.start();
  }

  /**
   * Feeds one active-check result for a server (the scheduler calls the same path). Applies the
   * rise/fall rule and emits `check`, then `state` on a transition.
   */
  reportCheck(id: string, ok: boolean, reason = '', ms = 0): void {
    const rec = this.members.require(id);
    applyCheckResult(rec, ok, this.options.check);
    if (isObserved(this, 'check')) emitSafely(this, 'check', rec, ok, reason, ms);
    this.commit(rec, 'check');
  }

  /**
   * Sets a server's active-check state exactly, as another balancer's checker left it: the verdict
   * (`down`, and `pending` for a server still `checking`), the consecutive counts `rise` / `fall`
   * and the totals `passed` / `failed`. A cluster worker adopts its primary's verdicts this way when
   * it joins (upstream-balancer/cluster, docs/cluster.md). Counts no result and emits no `check`;
   * emits `state` (cause `check`) if the server's state changed. Throws on an unknown id or a
   * malformed state.
   */
  restoreCheck(id: string, state: { down: boolean; pending: boolean; rise: number; fall: number; passed: number; failed: number }): void {
    const rec = this.members.require(id);
    const { down, pending, rise, fall, passed, failed } = state ?? ({} as Partial<typeof state>);
    for (const [key, value] of [['down', down], ['pending', pending]] as const) {
      if (typeof value !== 'boolean') throw new InvalidOptionError(`state.${key}`, `Expected \`state.${key}\` to be a boolean, got \`${show(value)}\``, value);
    }
    for (const [key, value] of [['rise', rise], ['fall', fall], ['passed', passed], ['failed', failed]] as const) {
      if (!Number.isSafeInteger(value) || value < 0) throw new InvalidOptionError(`state.${key}`, `Expected \`state.${key}\` to be a non-negative integer, got \`${show(value)}\``, value);
    }
    restoreVerdict(rec, { down: down!, pending: pending!, rise: rise!, fall: fall! });
    rec.checksPassed = passed;
    rec.checksFailed = failed;
    this.commit(rec, 'check');
  }

  // ---------------------------------------------------------------------------------------------
  // Observation

  /** Plain-JSON state of every server. */
  snapshot(): BalancerSnapshot {
    return { name: this.name, method: this.method, tier: this.servingTier, servers: this.members.snapshot() };
  }

  /**
   * The plain state of the servers `from` (inclusive) to `to` (exclusive) in configuration order,
   * as `snapshot().servers.slice(from, to)` without building the rest: for callers that read a
   * large upstream a slice per turn of the event loop (the status handler does).
   */
  snapshotServers(from = 0, to = Infinity): ServerSnapshot[] {
    return this.members.snapshot(from, to);
  }

  // ---------------------------------------------------------------------------------------------
  // Internals
}

/** Slice of `setServersAsync` by default, in ms: the event loop is held at most about this long per turn. */
const DEFAULT_SLICE_MS = 1;

/** Validates `setServersAsync`'s options (lifecycle.ts `signalOf` for the signal). */
function requireSetServersOptions(options: SetServersOptions | undefined): { signal: AbortSignal | undefined; sliceMs: number } {
  const signal = signalOf(options, 'setServersAsync');
  const sliceMs = options?.sliceMs ?? DEFAULT_SLICE_MS;
  if (!(typeof sliceMs === 'number' && Number.isFinite(sliceMs) && sliceMs >= 0)) {
    throw new InvalidOptionError('setServersAsync.sliceMs', `Expected \`sliceMs\` of \`setServersAsync\` to be a finite number >= 0, got ${show(sliceMs)}`, sliceMs);
  }
  return { signal, sliceMs };
}
