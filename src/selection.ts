/**
 * The selection half of a Balancer: nginx's get / notify / free on the hot paths, and the events
 * they commit (docs/nginx-semantics.md §2-4). `attempt()` starts a request (tried set, tries
 * budget, tier), `next()` is get, `connected()` is stream's connect notification, `fail()` /
 * `release()` are free with and without NGX_PEER_FAILED; `pick()` and `release(server, failed?)`
 * are the one-shot, allocation-free pair. Reads the clock at most once per call. The Balancer
 * (balancer.ts) adds the control API on top; docs/architecture.md follows a pick and a failure
 * through the files.
 */

import { EventEmitter } from 'eventemitter3';
import { Attempt, type AttemptOptions, type AttemptOwner, attemptHint, attemptTimeout, attemptTries } from './attempt';
import { guardClock, monotonicClock } from './clock';
import { AttemptStateError, InvalidOptionError, UpstreamError, show } from './errors';
import { type BalancerEvents, type ExhaustedReason, type StateCause, type TierName, emitSafely, isObserved } from './events';
import { markSelected, recordFailure, recordSuccess, resetFails } from './health/passive-window';
import { Membership, type TierStorage } from './membership';
import { methodSpec } from './methods';
import { type BalancerOptions, type Method, type NginxTarget, type ResolvedOptions, resolveOptions } from './options';
import type { Peers } from './peers';
import { type Passed, type RequestState, markTried } from './select/request';
import type { Selector, Shortcut } from './select/selector';
import { ServerRecord, type Server, type ServerState } from './server';
import { GATE_FAILS, GATE_FULL, type Tier } from './tier';

/** Tier names by `Tier.role`. */
const TIER_NAMES: readonly TierName[] = ['primary', 'backup'];

/** The request state of one-shot `pick()` calls: allocated once per balancer. */
class PickRequest implements RequestState {
  tier: Tier;
  mask = 0;
  bits: Uint32Array | null = null;
  now = NaN;
  key = '';
  walk: object | null = null;
  readonly carried = null;
  passed: Passed | null = null;
  readonly hint = null;
  fromHint = false;
  constructor(
    readonly clock: () => number,
    tier: Tier,
  ) {
    this.tier = tier;
  }
}

/** A tries budget under a cap (0 = no cap). */
function capped(tries: number, cap: number): number {
  return cap !== 0 && tries > cap ? cap : tries;
}

/** The selection half of `Balancer` (see balancer.ts for the whole class and its example). */
export class Selection extends EventEmitter<BalancerEvents> implements AttemptOwner {
  /** Upstream name, for events and status. */
  readonly name: string;
  /** Balancing method. */
  readonly method: Method;
  /** @internal */ readonly clock: () => number;
  /** @internal The membership generation attempts compare (membership.ts). */ generation = 0;
  /** @internal Validated options. */ protected readonly options: ResolvedOptions;
  /** @internal Servers and tiers. */ protected readonly members: Membership;

  #peers: Peers;
  #selector: Selector;
  /** The selector's shortcut for the current primary tier (refreshed by `membershipChanged`). */
  #shortcut: Shortcut;
  #pickRequest: PickRequest;
  /**
   * The role (`Tier.role`: 0 primary, 1 backup) of the tier of the latest successful connection
   * (`tier` events report its changes); a number, compared with `Tier.role` on the hot path.
   */
  #servingRole: 0 | 1 = 0;
  #exhausted = false;

  /**
   * `storage` (internal): the tiers' arrays come from an upstream zone's shared memory
   * (zone/link.ts), and the selector keeps no state of its own that could decide a pick.
   */
  constructor(options: BalancerOptions, /** @internal */ storage?: TierStorage) {
    super();
    const resolved = resolveOptions(options, { clock: monotonicClock, rng: Math.random });
    this.options = resolved;
    this.name = resolved.name;
    this.method = resolved.method;
    this.clock = resolved.clock === monotonicClock ? monotonicClock : guardedClock(this, resolved.clock);
    this.#selector = methodSpec(resolved.method).selector(resolved, { clock: this.clock, nginx: resolved.nginx, tuning: resolved.tuning, shared: storage?.replay });
    this.#selector.validate(resolved.servers);
    this.members = new Membership(resolved, this.#selector, this, storage ?? null);
    this.#peers = this.members.peers;
    this.generation = this.members.generation;
    this.#shortcut = this.#selector.shortcut;
    this.#pickRequest = new PickRequest(this.clock, this.#peers.primary);
  }

  /** The nginx version whose semantics this balancer follows (`BalancerOptions.nginx`). */
  get nginx(): NginxTarget {
    return this.options.nginx;
  }

  // ---------------------------------------------------------------------------------------------
  // Selection (the hot paths)

  /**
   * Starts one request: tried set, tries budget (primaries + backups neither down nor draining, capped
   * by `tries`), tier, hint. `key` is the hash key (hash methods) or the client address (ip-hash).
   */
  attempt(key?: string, options?: AttemptOptions): Attempt {
    const p = this.#peers;
    const tries = p.primary.tries + (p.backup === null ? 0 : p.backup.tries);
    if (options === undefined) return new Attempt(this, p.primary, capped(tries, this.options.tries), key ?? '');
    const cap = attemptTries(options, this.options.tries);
    return new Attempt(this, p.primary, capped(tries, cap), key ?? '', attemptTimeout(options), attemptHint(options, this.options.nginx));
  }

  /**
   * One-shot selection, as a fresh request's first get without a hint (for one, `attempt(key, { hint })`).
   * Allocates nothing. Pair every returned server with `release(server, failed?)`. `undefined` = no live upstreams.
   */
  pick(key?: string): Server | undefined {
    if (!this.#exhausted) {
      // The selector's shortcut for a fresh request (select/selector.ts): round robin's fresh round,
      // least_conn's fresh pick; -1 sends the pick through the request machinery.
      const i = this.#shortcut.take();
      if (i >= 0) {
        const primary = this.#peers.primary;
        primary.conns[i] = primary.conns[i]! + 1;
        const load = primary.load;
        if (load !== null) load.connsChanged(i);
        const rec = primary.records[i] as ServerRecord; // tiers hold this balancer's records
        rec.selected++;
        return rec;
      }
    }
    return this.#pickRound(key);
  }

  /** `pick()` through the selector's get (kept apart so that `pick` stays small to inline). */
  #pickRound(key: string | undefined): Server | undefined {
    const p = this.#peers;
    const r = this.#pickRequest;
    r.tier = p.primary;
    if (r.mask !== 0) r.mask = 0;
    r.now = NaN;
    r.key = key ?? ''; // the hash methods start their walk on a request's first get
    const i = this.#selector.get(p, r);
    if (i < 0) {
      this.#noLive('no-live-upstreams');
      return undefined;
    }
    return this.#choose(r, i, false);
  }

  /**
   * Frees a server returned by `pick()`: `failed` counts against its `maxFails` (nginx free with
   * NGX_PEER_FAILED); otherwise a success, which clears its failures after a post-window selection.
   */
  release(server: Server, failed = false): void {
    // Only this balancer's records carry it as owner: one load instead of a prototype walk.
    if (!failed && (server as ServerRecord | undefined)?.owner === this) {
      const t = (server as ServerRecord).tier;
      if (t !== null) {
        // freeFor's common case, inline for the one-shot pair: a success with no failures recorded
        // and no connection limit reached, on the serving tier.
        const i = (server as ServerRecord).index;
        const conns = t.conns[i]!;
        if (conns > 0 && (t.gate[i]! & (GATE_FAILS | GATE_FULL)) === 0 && t.role === this.#servingRole) {
          t.conns[i] = conns - 1;
          const load = t.load;
          if (load !== null) load.connsChanged(i);
          return;
        }
      }
    }
    const rec = this.#own(server);
    if (rec.conns <= 0) throw new AttemptStateError(`release() of ${show(rec.id)}, which has no connection handed out`, rec.id);
    this.freeFor(rec, failed, null, 0);
  }

  /** @internal nginx's get for an attempt. */
  getFor(r: Attempt): ServerRecord | undefined {
    r.now = NaN;
    if (r.hint !== null) r.fromHint = false;
    const i = this.#selector.get(this.#peers, r);
    if (i < 0) {
      this.#noLive('no-live-upstreams');
      return undefined;
    }
    return this.#choose(r, i, true);
  }

  /** The selected server `i` of `r.tier`: marked tried, probed (`checked`), counted. */
  #choose(r: RequestState, i: number, track: boolean): ServerRecord {
    const t = r.tier;
    if (track) {
      // (the common case of markTried written out: a tier of up to 32 servers, no bitmap in use)
      if (r.bits === null && t.n <= 32) r.mask |= 1 << i;
      else markTried(r, i);
    }
    if (t.fails[i] !== 0) markSelected(t, i, r.now === r.now ? r.now : (r.now = this.clock()));
    const conns = t.conns[i]! + 1;
    t.conns[i] = conns;
    const load = t.load;
    if (load !== null) load.connsChanged(i);
    const maxConns = t.maxConns[i]!;
    if (maxConns !== 0 && conns >= maxConns) t.refreshGate(i); // full: out of the rounds
    const rec = t.records[i] as ServerRecord; // tiers hold this balancer's records
    rec.selected++;
    this.#exhausted = false;
    return rec;
  }

  /** @internal An attempt ran out of tries or time. */
  triesExhausted(reason: 'tries' | 'timeout'): void {
    this.#noLive(reason);
  }

  #noLive(reason: ExhaustedReason): void {
    if (this.#exhausted) return;
    this.#exhausted = true;
    if (isObserved(this, 'exhausted')) emitSafely(this, 'exhausted', reason, this.name);
  }

  /** @internal nginx's free: `failed` is NGX_PEER_FAILED. */
  freeFor(rec: ServerRecord, failed: boolean, r: Attempt | null, triesLeft = 0, announce = !failed): void {
    if (r !== null) r.tries = triesLeft;
    const t = rec.tier;
    // The common case first (a success with no failures recorded, not in single-server mode), the
    // rest apart: this path stays small enough for V8 to inline.
    if (!failed && t !== null && t.fails[rec.index] === 0 && !this.#peers.single) {
      this.#uncount(t, rec.index);
      if (announce && t.role !== this.#servingRole) this.#served(t);
      return;
    }
    this.#freeOther(rec, failed, r, t, announce);
  }

  /** Every other free: a failure, a success that may clear failures, single-server mode, a removed server. */
  #freeOther(rec: ServerRecord, failed: boolean, r: Attempt | null, t: Tier | null, announce: boolean): void {
    if (failed) rec.failures++;
    if (t === null) {
      const d = rec.detached!;
      if (d.conns > 0 && --d.conns === 0) this.members.released(rec);
      return;
    }
    const i = rec.index;
    let changed: boolean;
    if (this.#peers.single && t === this.#peers.primary) {
      // nginx 1.27.3+ zeroes fails on every free in single-server mode, failed or not; 1.22 neither
      // counts nor clears them there (the fails a server had before it became single remain).
      changed = this.options.nginx !== '1.22' && t.fails[i] !== 0;
      if (changed) resetFails(t, i);
      if (r !== null) r.tries = 0;
      failed = false; // the commit's cause: the failures were cleared
    } else if (failed) {
      recordFailure(t, i, this.clock());
      changed = true;
    } else {
      changed = t.fails[i] !== 0 && recordSuccess(t, i);
    }
    this.#uncount(t, i);
    if (changed) this.commit(rec, failed ? 'failure' : 'recovery');
    if (announce && t.role !== this.#servingRole) this.#served(t);
  }

  /** One connection of server `i` ends; a server that was at its limit is selectable again. */
  #uncount(t: Tier, i: number): void {
    t.conns[i] = t.conns[i]! - 1;
    const load = t.load;
    if (load !== null) load.connsChanged(i);
    if ((t.gate[i]! & GATE_FULL) !== 0) t.refreshGate(i);
  }

  /**
   * A connection to a server of tier `t` succeeded (at `connected()`, or at a successful release of
   * a connection that was not reported connected) and `t` is not the serving tier (callers test
   * `t.role !== #servingRole` first, so that the common case costs no call): report the change of
   * serving tier (backup promotion, or hand-back) once — not for every selection a retry makes along
   * the way, and not when a long session that started before a hand-back ends after it.
   */
  #served(t: Tier): void {
    const from = this.#servingRole;
    this.#servingRole = t.role;
    if (isObserved(this, 'tier')) emitSafely(this, 'tier', TIER_NAMES[from]!, TIER_NAMES[t.role]!);
  }

  /** @internal stream's connect notification. */
  connectedFor(rec: ServerRecord): void {
    const t = rec.tier;
    if (t === null) return;
    // (the fails test here, the rest apart: the common path stays small enough for V8 to inline)
    if (t.fails[rec.index] !== 0) this.#connectedWithFails(rec, t);
    if (t.role !== this.#servingRole) this.#served(t);
  }

  /** A connection to a server with failures recorded: clears them after a post-window selection. */
  #connectedWithFails(rec: ServerRecord, t: Tier): void {
    if (!(this.#peers.single && t === this.#peers.primary) && recordSuccess(t, rec.index)) this.commit(rec, 'recovery');
  }

  /** @internal Re-maps an attempt's tried set after a membership change. */
  remap(r: Attempt): void {
    this.members.remap(r);
  }

  /** @internal After a membership change: attempts remap, pick takes the new tiers' shortcut. */
  protected membershipChanged(): void {
    this.generation = this.members.generation;
    this.#shortcut = this.#selector.shortcut;
  }

  /** @internal The tier that served the latest selection. */
  protected get servingTier(): TierName {
    return TIER_NAMES[this.#servingRole]!;
  }

  #own(server: Server): ServerRecord {
    if (!(server instanceof ServerRecord) || server.owner !== this) {
      throw new UpstreamError('ERR_UPSTREAM_UNKNOWN_ID', `Server ${show((server as Server | undefined)?.id)} does not belong to upstream ${show(this.name)}`, (server as Server | undefined)?.id);
    }
    return server;
  }

  /** Emits `state` if the server's state differs from the last committed one. */

  protected commit(rec: ServerRecord, cause: StateCause): void {
    const to: ServerState = rec.state;
    const from = rec.lastState;
    if (from === to) return;
    rec.lastState = to;
    if (isObserved(this, 'state')) emitSafely(this, 'state', rec, from, to, cause);
  }
}

/**
 * The caller's clock, read once now (a clock that throws or returns anything but a finite number
 * is refused here), then guarded (clock.ts `guardClock`): later faults are reported as one `fault`
 * event per microtask, or one process warning when nobody listens.
 */
function guardedClock(owner: Selection, clock: () => number): () => number {
  let first: unknown;
  try {
    first = clock();
  } catch (error) {
    throw new InvalidOptionError('clock', `Expected \`clock\` to return milliseconds, but it threw: ${String(error)}`, clock);
  }
  if (typeof first !== 'number' || !Number.isFinite(first)) {
    throw new InvalidOptionError('clock', `Expected \`clock\` to return a finite number of milliseconds, got ${show(first)}`, first);
  }
  let pending = false;
  let warned = false;
  return guardClock(clock, first, (fault) => {
    if (pending) return;
    pending = true;
    queueMicrotask(() => {
      pending = false;
      const what = fault.kind === 'threw' ? `threw (${String(fault.error)})` : `returned ${show(fault.reading)}`;
      const error = new UpstreamError(
        'ERR_UPSTREAM_CLOCK',
        `The clock of upstream ${show(owner.name)} ${what}; its last good reading was used`,
        fault.kind === 'threw' ? fault.error : fault.reading,
        fault.kind === 'threw' ? { cause: fault.error } : undefined,
      );
      if (isObserved(owner, 'fault')) emitSafely(owner, 'fault', error);
      else if (!warned) {
        warned = true;
        process.emitWarning(error.message, { code: error.code });
      }
    });
  });
}
