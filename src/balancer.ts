/**
 * Balancer: an upstream's public API and its hot paths. It owns the servers (by stable `id`, through
 * membership.ts), the selection method (a selector from methods.ts), the passive failure windows
 * and the active-check verdicts, reads the clock at most once per call, and emits typed events on
 * transitions.
 *
 * Selection mirrors nginx's get / notify / free (docs/nginx-semantics.md §2-4): `attempt()` starts
 * a request (tried set, tries budget, tier), `next()` is get, `connected()` is stream's connect
 * notification, `fail()` / `release()` are free with and without NGX_PEER_FAILED. `pick()` and
 * `release(server, failed?)` are the one-shot, allocation-free pair. docs/architecture.md follows
 * a pick and a failure through the files.
 */

import { EventEmitter } from 'eventemitter3';
import { Attempt, type AttemptOwner } from './attempt';
import { monotonicClock } from './clock';
import { AttemptStateError, InvalidOptionError, UpstreamError, show } from './errors';
import { type BalancerEvents, type StateCause, type TierName, emitSafely } from './events';
import { Checker, checkPhase } from './health/checker';
import { markSelected, recordFailure, recordSuccess, resetFails } from './health/passive-window';
import { applyCheckResult } from './health/verdicts';
import { Membership } from './membership';
import { methodSpec } from './methods';
import {
  type BalancerOptions, type Method, type ResolvedOptions, type ServerOptions,
  requireBackupSupport, requirePrimary, resolveOptions, resolveServer, resolveServers,
} from './options';
import type { Peers } from './peers';
import { type RequestState, markTried } from './select/request';
import type { Selector } from './select/selector';
import { ServerRecord, type Server, type ServerSnapshot, type ServerState } from './server';
import type { ResolvedServer } from './server-fields';
import { GATE_FAILS, GATE_FULL, type Tier } from './tier';

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
  constructor(
    readonly clock: () => number,
    tier: Tier,
  ) {
    this.tier = tier;
  }
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
export class Balancer extends EventEmitter<BalancerEvents> implements AttemptOwner {
  /** Upstream name, for events and status. */
  readonly name: string;
  /** Balancing method. */
  readonly method: Method;
  /** @internal */ readonly clock: () => number;
  /** @internal The membership generation attempts compare (membership.ts). */ generation = 0;

  #options: ResolvedOptions;
  #members: Membership;
  #peers: Peers;
  #selector: Selector;
  #pickRequest: PickRequest;
  #checker: Checker | null = null;
  #closed = false;
  /**
   * The role (`Tier.role`: 0 primary, 1 backup) of the tier of the latest successful connection
   * (`tier` events report its changes); a number, compared with `Tier.role` on the hot path.
   */
  #servingRole: 0 | 1 = 0;
  #exhausted = false;

  constructor(options: BalancerOptions) {
    super();
    const resolved = resolveOptions(options, { clock: monotonicClock, rng: Math.random });
    this.#options = resolved;
    this.name = resolved.name;
    this.method = resolved.method;
    this.clock = resolved.clock;
    this.#selector = methodSpec(resolved.method).selector(resolved, { clock: resolved.clock, tuning: resolved.tuning });
    this.#selector.validate(resolved.servers);
    this.#members = new Membership(resolved, this.#selector, this);
    this.#peers = this.#members.peers;
    this.generation = this.#members.generation;
    this.#pickRequest = new PickRequest(this.clock, this.#peers.primary);
  }

  // ---------------------------------------------------------------------------------------------
  // Selection (the hot paths)

  /**
   * Starts one request: its tried set, its tries budget (non-down primaries + non-down backups,
   * capped by the `tries` option) and its tier. `key` is the hash key (hash methods) or the client
   * address (ip-hash).
   */
  attempt(key?: string): Attempt {
    const p = this.#peers;
    let tries = p.primary.tries + (p.backup === null ? 0 : p.backup.tries);
    const cap = this.#options.tries;
    if (cap !== 0 && tries > cap) tries = cap;
    return new Attempt(this, p.primary, tries, key ?? '');
  }

  /**
   * One-shot selection, as a fresh request's first get. Allocates nothing. Pair every returned
   * server with `release(server, failed?)`. `undefined` = no live upstreams.
   */
  pick(key?: string): Server | undefined {
    if (!this.#exhausted) {
      // Round robin's steady replay answers without a round (select/selector.ts `shortcut`).
      const i = this.#selector.shortcut();
      if (i >= 0) {
        const primary = this.#peers.primary;
        primary.conns[i] = primary.conns[i]! + 1;
        const rec = primary.records[i]!;
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
    const maxConns = t.maxConns[i]!;
    if (maxConns !== 0 && conns >= maxConns) t.refreshGate(i); // full: out of the rounds
    const rec = t.records[i]!;
    rec.selected++;
    this.#exhausted = false;
    return rec;
  }

  /** @internal An attempt ran out of tries. */
  triesExhausted(): void {
    this.#noLive('tries');
  }

  #noLive(reason: 'no-live-upstreams' | 'tries'): void {
    if (this.#exhausted) return;
    this.#exhausted = true;
    if (this.listenerCount('exhausted') !== 0) emitSafely(this, 'exhausted', reason, this.name);
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
      if (d.conns > 0) d.conns--;
      return;
    }
    const i = rec.index;
    let changed: boolean;
    if (this.#peers.single && t === this.#peers.primary) {
      // nginx zeroes fails on every free in single-server mode, failed or not.
      changed = t.fails[i] !== 0;
      resetFails(t, i);
      if (r !== null) r.tries = 0;
      failed = false; // the commit's cause: the failures were cleared
    } else if (failed) {
      recordFailure(t, i, this.clock());
      changed = true;
    } else {
      changed = t.fails[i] !== 0 && recordSuccess(t, i);
    }
    this.#uncount(t, i);
    if (changed) this.#commit(rec, failed ? 'failure' : 'recovery');
    if (announce && t.role !== this.#servingRole) this.#served(t);
  }

  /** One connection of server `i` ends; a server that was at its limit is selectable again. */
  #uncount(t: Tier, i: number): void {
    t.conns[i] = t.conns[i]! - 1;
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
    if (this.listenerCount('tier') !== 0) emitSafely(this, 'tier', TIER_NAMES[from]!, TIER_NAMES[t.role]!);
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
    if (!(this.#peers.single && t === this.#peers.primary) && recordSuccess(t, rec.index)) this.#commit(rec, 'recovery');
  }

  /** @internal Re-maps an attempt's tried set after a membership change. */
  remap(r: Attempt): void {
    this.#members.remap(r);
  }

  // ---------------------------------------------------------------------------------------------
  // Membership and runtime control (membership.ts changes the state; this validates and commits)

  /** The servers, in configuration order (primaries and backups interleaved as given). */
  get servers(): readonly Server[] {
    return this.#members.order;
  }

  /** The server with this id, if any. */
  get(id: string): Server | undefined {
    return this.#members.byId.get(id);
  }

  /** Adds a server at the end of its tier. Throws on a duplicate id. */
  add(server: ServerOptions): Server {
    const s = resolveServer(server, 'server');
    const m = this.#members;
    if (m.byId.has(s.id)) {
      throw new InvalidOptionError('server.id', `Duplicate server id ${show(s.id)}`, s.id, 'ERR_UPSTREAM_DUPLICATE_ID');
    }
    this.#requireBackupSupport([s]);
    this.#selector.validate([...m.order.map((r) => r.config), s]);
    const rec = m.insert(s);
    m.rebuild();
    rec.lastState = rec.state;
    this.#changed();
    return rec;
  }

  /** Removes a server; its in-flight connections can still be released. */
  remove(id: string): void {
    const rec = this.#require(id);
    const m = this.#members;
    requirePrimary(m.order.filter((r) => r !== rec).map((r) => r.config), 'servers', this.name);
    m.remove(rec);
    this.#changed();
  }

  /**
   * Changes a server's parameters, keeping its health and round-robin state. A weight change keeps
   * the failure penalty: effective weight = min(effective, new weight), or the new weight if the
   * server was at full weight.
   */
  update(id: string, patch: ServerPatch): Server {
    const rec = this.#require(id);
    if (typeof patch !== 'object' || patch === null) {
      throw new InvalidOptionError('patch', `Expected \`patch\` to be an object, got \`${show(patch)}\``, patch);
    }
    if ('id' in patch) throw new InvalidOptionError('patch.id', 'A server id cannot be changed; remove and add instead', (patch as ServerOptions).id);
    const next = resolveServer({ ...rec.config, ...patch, id: rec.id }, `update(${JSON.stringify(id)})`);
    const after = this.#members.order.map((r) => (r === rec ? next : r.config));
    if (next.backup && !rec.config.backup) {
      this.#requireBackupSupport([next]);
      requirePrimary(after, 'servers', this.name);
    }
    this.#selector.validate(after);
    this.#members.patch(rec, next);
    this.#commit(rec, 'admin');
    this.#changed();
    return rec;
  }

  /**
   * Replaces the server list. Servers whose `id` survives keep their state (fails, weights,
   * connections, check verdict); new ones start fresh; missing ones are removed.
   */
  setServers(list: ServerOptions[]): void {
    const resolved = resolveServers(list, 'servers', this.name);
    this.#requireBackupSupport(resolved);
    this.#selector.validate(resolved);
    const kept = this.#members.replace(resolved);
    for (const rec of this.#members.order) {
      if (kept.has(rec)) this.#commit(rec, 'admin');
      else rec.lastState = rec.state;
    }
    this.#changed();
  }

  /** After a membership change: attempts remap, the checker follows the new list. */
  #changed(): void {
    this.generation = this.#members.generation;
    this.#checker?.sync();
  }

  // ---------------------------------------------------------------------------------------------
  // Active checks (health/checker.ts schedules, health/verdicts.ts applies)

  /**
   * Starts the active-check scheduler (needs the `check` option): every server that is not `down`
   * gets its first check at a random delay in [0, interval), then one every interval after the
   * previous result. Nothing runs before `start()`. Idempotent.
   *
   * @example
   * const b = new Balancer({ servers, check: { interval: 5000, rise: 2, fall: 5, timeout: 2000, type: 'smtp' } });
   * b.start();
   * // ...
   * await b.close();
   */
  start(): void {
    if (this.#closed) throw new UpstreamError('ERR_UPSTREAM_CLOSED', `Balancer ${show(this.name)} is closed`);
    const check = this.#options.check;
    if (check === undefined) {
      throw new InvalidOptionError('check', `start() needs the \`check\` option: upstream ${show(this.name)} has no active checks configured`, undefined);
    }
    if (this.#checker === null) {
      const timers = this.#options.timers;
      const m = this.#members;
      this.#checker = new Checker(
        check,
        {
          targets: () => m.order.filter((r) => !r.config.down).map((r) => ({ id: r.id, address: r.address })),
          report: (id, ok, reason, ms) => {
            if (m.byId.has(id)) this.reportCheck(id, ok, reason, ms);
          },
          phase: (id) => {
            const c = m.byId.get(id)?.check;
            return c == null ? 'up' : checkPhase(c);
          },
        },
        // Check durations come from the balancer's clock only when the timers are injected too (a
        // harness); otherwise from performance.now(), so that a whole-second clock still yields ms.
        timers === undefined
          ? { rng: this.#options.rng }
          : { clock: this.clock, rng: this.#options.rng, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout },
      );
    }
    this.#checker.start();
  }

  /**
   * Stops the active-check scheduler: clears every timer, aborts checks in flight and resolves once
   * every probe socket is destroyed. Selection keeps working on the last verdicts. Idempotent.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const checker = this.#checker;
    if (checker !== null) await checker.close();
  }

  /**
   * Feeds one active-check result for a server (the scheduler calls the same path). Applies the
   * rise/fall rule and emits `check`, then `state` on a transition.
   */
  reportCheck(id: string, ok: boolean, reason = '', ms = 0): void {
    const rec = this.#require(id);
    applyCheckResult(rec, ok, this.#options.check);
    if (this.listenerCount('check') !== 0) emitSafely(this, 'check', rec, ok, reason, ms);
    this.#commit(rec, 'check');
  }

  // ---------------------------------------------------------------------------------------------
  // Observation

  /** Plain-JSON state of every server. */
  snapshot(): BalancerSnapshot {
    const check = this.#options.check;
    const type = check === undefined ? 'tcp' : typeof check.type === 'function' ? 'custom' : check.type;
    const port = check?.port ?? 0;
    this.#peers.primary.listener?.sync();
    this.#peers.backup?.listener?.sync();
    return {
      name: this.name,
      method: this.method,
      tier: TIER_NAMES[this.#servingRole]!,
      servers: this.#members.order.map((r) => r.snapshot(type, port)),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Internals

  #require(id: string): ServerRecord {
    const rec = this.#members.byId.get(id);
    if (rec === undefined) {
      throw new UpstreamError('ERR_UPSTREAM_UNKNOWN_ID', `Unknown server id ${show(id)} in upstream ${show(this.name)}`, id);
    }
    return rec;
  }

  #own(server: Server): ServerRecord {
    if (!(server instanceof ServerRecord) || server.owner !== this) {
      throw new UpstreamError('ERR_UPSTREAM_UNKNOWN_ID', `Server ${show((server as Server | undefined)?.id)} does not belong to upstream ${show(this.name)}`, (server as Server | undefined)?.id);
    }
    return server;
  }

  #requireBackupSupport(list: readonly ResolvedServer[]): void {
    if (!this.#options.allowBackupWithHash) requireBackupSupport(this.method, list);
  }

  /** Emits `state` if the server's state differs from the last committed one. */
  #commit(rec: ServerRecord, cause: StateCause): void {
    const to: ServerState = rec.state;
    const from = rec.lastState;
    if (from === to) return;
    rec.lastState = to;
    if (this.listenerCount('state') !== 0) emitSafely(this, 'state', rec, from, to, cause);
  }
}
