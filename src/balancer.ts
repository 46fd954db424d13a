/**
 * Balancer: the one stateful class. It owns the servers (by stable `id`), their tiers, the selection
 * method, the passive failure windows and the active-check verdicts, reads the clock at most once
 * per call, and emits typed events on transitions.
 *
 * Selection mirrors nginx's get / notify / free (nginx-semantics.md §2-4): `attempt()` starts a
 * request (tried set, tries budget, tier), `next()` is get, `connected()` is stream's connect
 * notification, `fail()` / `release()` are free with and without NGX_PEER_FAILED. `pick()` and
 * `release(server, failed?)` are the one-shot, allocation-free pair.
 */

import { EventEmitter } from 'eventemitter3';
import { Attempt, type AttemptOwner } from './attempt';
import { monotonicClock, wholeSeconds } from './clock';
import { AttemptStateError, InvalidOptionError, UpstreamError, show } from './errors';
import type { BalancerEvents, StateCause, TierName } from './events';
import { balancerOptionsFromNginx, type ParseOptions } from './config/nginx';
import { Checker, checkPhase } from './health/checker';
import { initialRiseFall, observeCheck } from './health/rise-fall';
import { markSelected, recordFailure, recordSuccess, resetFails } from './health/passive-window';
import {
  type BalancerOptions, type Method, type ResolvedOptions, type ResolvedServer, type ServerOptions,
  requirePrimary, resolveOptions, resolveServer, resolveServers,
} from './options';
import type { Peers } from './peers';
import { type GetPeer, type Selector, selectorFor } from './select/index';
import { type RequestState, clearTried, markTried } from './select/request';
import { leaveSchedule, settle, syncCurrent } from './select/steady-state';
import { lazyRounds } from './select/clean-classes';
import { ServerRecord, type Server, type ServerSnapshot, type ServerState } from './server';
import { BLOCK_CHECK, BLOCK_DOWN, BLOCK_DRAIN, GATE_FAILS, GATE_FULL, Tier } from './tier';

/** Plain-JSON state of a balancer, as returned by `snapshot()`. */
export interface BalancerSnapshot {
  name: string;
  method: Method;
  /** The tier that served the latest selection. */
  tier: TierName;
  servers: ServerSnapshot[];
}

/** Options of `Balancer.fromNginx`: where the text came from, and runtime options a config cannot say. */
export interface FromNginxOptions extends Omit<ParseOptions, 'lenient'> {
  /** Pick the upstream from this context when the name exists in both. */
  context?: 'http' | 'stream';
  /** Default: whole seconds of `performance.now()`, like nginx's `ngx_time()`. */
  clock?: BalancerOptions['clock'];
  rng?: BalancerOptions['rng'];
  timers?: BalancerOptions['timers'];
  /** `proxy_next_upstream_tries` (it lives outside the upstream block). */
  tries?: number;
}

/** Fields of a server that `update()` may change. */
export type ServerPatch = Partial<Omit<ServerOptions, 'id'>>;


/** Tier names by `Tier.role`. */
const TIER_NAMES: readonly TierName[] = ['primary', 'backup'];

/** The one-shot request state used by `pick()`: allocated once per balancer. */
class OneShot implements RequestState {
  tier: Tier;
  mask = 0;
  bits: Uint32Array | null = null;
  now = NaN;
  key = '';
  hash = 0;
  rehash = 0;
  hashTries = 0;
  constructor(readonly clock: () => number, tier: Tier) {
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
  /** @internal */ generation = 0;

  #options: ResolvedOptions;
  #order: ServerRecord[] = [];
  #byId = new Map<string, ServerRecord>();
  #peers: Peers;
  #getPeer: GetPeer;
  #selector: Selector;
  #oneShot: OneShot;
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
    this.#selector = selectorFor(resolved);
    this.#selector.validate?.(resolved.servers);
    this.#getPeer = this.#selector.get;
    for (const s of resolved.servers) this.#insert(s);
    this.#peers = { primary: undefined as unknown as Tier, backup: null, single: false, rng: resolved.rng };
    this.#rebuild();
    this.#oneShot = new OneShot(this.clock, this.#peers.primary);
    for (const r of this.#order) r.lastState = r.state;
  }

  /**
   * Builds a balancer from nginx configuration text: the `upstream` block named `name`, or the only
   * one. Throws `ConfigError` with nginx's message, file, line and column for invalid text.
   * Its default clock counts whole seconds, as nginx's does, so `fail_timeout=3s` excludes a server
   * for 3 to 4 s exactly as nginx would; pass `clock` to choose another.
   *
   * @example
   * const b = Balancer.fromNginx(`stream { upstream smtp {
   *   server 10.0.0.1:10025 max_fails=3 fail_timeout=3s;
   *   server 10.0.0.2:10025 backup;
   * } }`, 'smtp');
   */
  static fromNginx(text: string, name?: string, options: FromNginxOptions = {}): Balancer {
    const { clock, rng, timers, tries, context, ...parse } = options;
    const base = balancerOptionsFromNginx(text, name, { ...parse, ...(context === undefined ? {} : { context }) });
    return new Balancer({
      ...base,
      clock: clock ?? wholeSeconds(monotonicClock),
      ...(rng === undefined ? {} : { rng }),
      ...(timers === undefined ? {} : { timers }),
      ...(tries === undefined ? {} : { tries }),
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Selection

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
    const primary = this.#peers.primary;
    if (primary.fast && !this.#exhausted && (primary.until === Infinity || this.clock() <= primary.until)) {
      // Steady state: the next entry of the period, exactly what the scan would return.
      const pos = primary.pos;
      primary.pos = pos + 1 === primary.period ? 0 : pos + 1;
      const i = primary.seq![pos]!;
      primary.conns[i] = primary.conns[i]! + 1;
      const rec = primary.records[i]!;
      rec.selected++;
      return rec;
    }
    return this.#pickRound(key);
  }

  /** `pick()` off the steady state: a full get (kept apart so that `pick` stays small to inline). */
  #pickRound(key: string | undefined): Server | undefined {
    const p = this.#peers;
    const r = this.#oneShot;
    r.tier = p.primary;
    if (r.mask !== 0) r.mask = 0;
    r.now = NaN;
    r.key = key ?? ''; // the hash methods reset their walk on a request's first get
    const i = this.#getPeer(p, r);
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
        // The common case inline: a success with no failures recorded, on the serving tier.
        const i = (server as ServerRecord).index;
        const conns = t.conns[i]!;
        // (gate: no failures recorded, and not at its connection limit)
        if (conns > 0 && (t.gate[i]! & (GATE_FAILS | GATE_FULL)) === 0 && t.role === this.#servingRole) {
          t.conns[i] = conns - 1;
          return;
        }
      }
    }
    this.#releaseOther(server, failed);
  }

  /** Every other release: validation, failures, recoveries, tier changes, removed servers. */
  #releaseOther(server: Server, failed: boolean): void {
    const rec = this.#own(server);
    if (rec.conns <= 0) throw new AttemptStateError(`release() of ${show(rec.id)}, which has no connection handed out`, rec.id);
    this.freeFor(rec, failed, null, 0);
  }

  /** @internal */
  getFor(r: Attempt): ServerRecord | undefined {
    r.now = NaN;
    const i = this.#getPeer(this.#peers, r);
    if (i < 0) {
      this.#noLive('no-live-upstreams');
      return undefined;
    }
    return this.#choose(r, i, true);
  }

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

  /**
   * Emits after state is committed (callers skip it when nobody listens, which spares the argument
   * list: a failure or a recovery then allocates nothing). A listener that throws cannot leave the balancer half-updated:
   * its error is rethrown on a microtask (an uncaught exception, not swallowed).
   */
  #emitSafely<K extends keyof BalancerEvents>(event: K, ...args: BalancerEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: BalancerEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  #noLive(reason: 'no-live-upstreams' | 'tries'): void {
    if (this.#exhausted) return;
    this.#exhausted = true;
    if (this.listenerCount('exhausted') !== 0) this.#emitSafely('exhausted', reason, this.name);
  }

  /** @internal */
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
    if (t === null) {
      const d = rec.detached!;
      if (d.conns > 0) d.conns--;
      if (failed) rec.failures++;
      return;
    }
    const i = rec.index;
    if (failed) rec.failures++;
    if (this.#peers.single && t === this.#peers.primary) {
      // nginx zeroes fails on every free in single-server mode, failed or not.
      const had = t.fails[i] !== 0;
      resetFails(t, i);
      this.#uncount(t, i);
      if (r !== null) r.tries = 0;
      if (had) this.#commit(rec, 'recovery');
      if (announce && t.role !== this.#servingRole) this.#served(t);
      return;
    }
    let changed: boolean;
    if (failed) {
      leaveSchedule(t);
      recordFailure(t, i, this.clock());
      changed = true;
    } else {
      changed = t.fails[i] !== 0 && recordSuccess(t, i);
      // A server back from its window joins the rounds: the period that left it out is over.
      if (changed) leaveSchedule(t);
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
    if (this.listenerCount('tier') !== 0) this.#emitSafely('tier', TIER_NAMES[from], TIER_NAMES[t.role]);
  }

  /** @internal */
  connectedFor(rec: ServerRecord): void {
    const t = rec.tier;
    if (t === null) return;
    // (the fails test here, the rest apart: the common path stays small enough for V8 to inline)
    if (t.fails[rec.index] !== 0) this.#connectedWithFails(rec, t);
    if (t.role !== this.#servingRole) this.#served(t);
  }

  /** A connection to a server with failures recorded: clears them after a post-window selection. */
  #connectedWithFails(rec: ServerRecord, t: Tier): void {
    if (!(this.#peers.single && t === this.#peers.primary) && recordSuccess(t, rec.index)) {
      leaveSchedule(t);
      this.#commit(rec, 'recovery');
    }
  }

  /** @internal Re-maps an attempt's tried set after a membership change. */
  remap(r: Attempt): void {
    const old = r.tier;
    const p = this.#peers;
    const next = old.backup ? p.backup ?? p.primary : p.primary;
    const tried: ServerRecord[] = [];
    for (let i = 0; i < old.n; i++) {
      const bit = r.bits === null ? ((r.mask >>> i) & 1) !== 0 && i < 32 : ((r.bits[i >>> 5]! >>> (i & 31)) & 1) !== 0;
      if (bit) tried.push(old.records[i]!);
    }
    r.tier = next;
    clearTried(r);
    for (const rec of tried) if (rec.tier === next) markTried(r, rec.index);
    r.generation = this.generation;
  }

  // ---------------------------------------------------------------------------------------------
  // Membership and runtime control

  /** The servers, in configuration order (primaries and backups interleaved as given). */
  get servers(): readonly Server[] {
    return this.#order;
  }

  /** The server with this id, if any. */
  get(id: string): Server | undefined {
    return this.#byId.get(id);
  }

  /** Adds a server at the end of its tier. Throws on a duplicate id. */
  add(server: ServerOptions): Server {
    const s = resolveServer(server, 'server');
    if (this.#byId.has(s.id)) {
      throw new InvalidOptionError('server.id', `Duplicate server id ${show(s.id)}`, s.id, 'ERR_UPSTREAM_DUPLICATE_ID');
    }
    this.#checkBackupAllowed([s]);
    this.#selector.validate?.([...this.#order.map((r) => r.config), s]);
    const rec = this.#insert(s);
    this.#rebuild();
    rec.lastState = rec.state;
    this.#checker?.sync();
    return rec;
  }

  /** Removes a server; its in-flight connections can still be released. */
  remove(id: string): void {
    const rec = this.#require(id);
    const rest = this.#order.filter((r) => r !== rec);
    requirePrimary(rest.map((r) => r.config), 'servers', this.name);
    this.#detach(rec);
    this.#order = rest;
    this.#byId.delete(id);
    this.#rebuild();
    this.#checker?.sync();
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
    const after = this.#order.map((r) => (r === rec ? next : r.config));
    if (next.backup && !rec.config.backup) {
      this.#checkBackupAllowed([next]);
      requirePrimary(after, 'servers', this.name);
    }
    this.#selector.validate?.(after);
    this.#apply(rec, next);
    this.#checker?.sync();
    return rec;
  }

  /**
   * Replaces the server list. Servers whose `id` survives keep their state (fails, weights,
   * connections, check verdict); new ones start fresh; missing ones are removed.
   */
  setServers(list: ServerOptions[]): void {
    const resolved = resolveServers(list, 'servers', this.name);
    this.#checkBackupAllowed(resolved);
    this.#selector.validate?.(resolved);
    const keep = new Set(resolved.map((s) => s.id));
    for (const rec of this.#order) if (!keep.has(rec.id)) this.#detach(rec);
    const order: ServerRecord[] = [];
    const kept = new Set<ServerRecord>();
    for (const s of resolved) {
      const existing = this.#byId.get(s.id);
      if (existing !== undefined) {
        if (existing.config.weight !== s.weight) this.#reweight(existing, s.weight);
        this.#recheckIfBack(existing, s);
        existing.config = s;
        order.push(existing);
        kept.add(existing);
      } else {
        order.push(this.#newRecord(s));
      }
    }
    this.#order = order;
    this.#byId = new Map(order.map((r) => [r.id, r]));
    this.#rebuild();
    for (const rec of order) {
      if (kept.has(rec)) this.#commit(rec, 'admin');
      else rec.lastState = rec.state;
    }
    this.#checker?.sync();
  }

  // ---------------------------------------------------------------------------------------------
  // Active checks

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
      this.#checker = new Checker(
        check,
        {
          targets: () => this.#order.filter((r) => !r.config.down).map((r) => ({ id: r.id, address: r.address })),
          report: (id, ok, reason, ms) => {
            if (this.#byId.has(id)) this.reportCheck(id, ok, reason, ms);
          },
          phase: (id) => {
            const c = this.#byId.get(id)?.check;
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
    const check = this.#options.check;
    if (rec.check === null) rec.check = initialRiseFall(false);
    const rise = rec.check.pending && check !== undefined ? check.initialRise : check?.rise ?? 2;
    const flipped = observeCheck(rec.check, ok, rise, check?.fall ?? 5);
    const t = rec.tier!;
    if (flipped) {
      leaveSchedule(t);
      if (rec.check.down) t.blocked[rec.index] = t.blocked[rec.index]! | BLOCK_CHECK;
      else t.blocked[rec.index] = t.blocked[rec.index]! & ~BLOCK_CHECK;
      t.refreshGate(rec.index);
    }
    if (this.listenerCount('check') !== 0) this.#emitSafely('check', rec, ok, reason, ms);
    this.#commit(rec, 'check');
  }

  // ---------------------------------------------------------------------------------------------
  // Observation

  /** Plain-JSON state of every server. */
  snapshot(): BalancerSnapshot {
    const check = this.#options.check;
    const type = check === undefined ? 'tcp' : typeof check.type === 'function' ? 'custom' : check.type;
    const port = check?.port ?? 0;
    syncCurrent(this.#peers.primary);
    if (this.#peers.backup !== null) syncCurrent(this.#peers.backup);
    return {
      name: this.name,
      method: this.method,
      tier: TIER_NAMES[this.#servingRole],
      servers: this.#order.map((r) => r.snapshot(type, port)),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Internals

  /** A new server's record: fresh state, and the initial check verdict when checks are configured. */
  #newRecord(s: ResolvedServer): ServerRecord {
    const rec = new ServerRecord(s, this);
    rec.check = this.#options.check === undefined ? null : initialRiseFall(this.#options.check.defaultDown);
    return rec;
  }

  #insert(s: ResolvedServer): ServerRecord {
    const rec = this.#newRecord(s);
    this.#order.push(rec);
    this.#byId.set(s.id, rec);
    return rec;
  }

  #require(id: string): ServerRecord {
    const rec = this.#byId.get(id);
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

  #checkBackupAllowed(list: readonly ResolvedServer[]): void {
    const m = this.method;
    if (this.#options.allowBackupWithHash || (m !== 'hash' && m !== 'ip-hash' && m !== 'random')) return;
    const b = list.find((s) => s.backup);
    if (b !== undefined) {
      throw new InvalidOptionError('backup', `balancing method does not support parameter "backup": method ${show(m)} cannot have backup server ${show(b.id)}`, m);
    }
  }

  #detach(rec: ServerRecord): void {
    if (rec.tier !== null) settle(rec.tier);
    rec.detached = { conns: rec.conns, fails: rec.fails, effective: rec.effectiveWeight, current: rec.currentWeight };
    rec.tier = null;
    rec.index = -1;
  }

  #reweight(rec: ServerRecord, weight: number): void {
    const t = rec.tier;
    if (t === null) return;
    const i = rec.index;
    // Replayed and lazy current weights are functions of the old weight: make them explicit first.
    settle(t);
    const e = t.effective[i]!;
    t.effective[i] = e >= t.weight[i]! ? weight : Math.min(e, weight);
    t.weight[i] = weight;
  }

  #apply(rec: ServerRecord, next: ResolvedServer): void {
    const prev = rec.config;
    settle(rec.tier!); // before a flag or weight changes
    const moved = prev.backup !== next.backup;
    if (prev.weight !== next.weight) this.#reweight(rec, next.weight);
    this.#recheckIfBack(rec, next);
    rec.config = next;
    if (moved) this.#rebuild();
    else {
      const t = rec.tier!;
      this.#load(t, rec.index, rec);
      t.recount();
      this.generation++;
      this.#selector.rebuild?.(this.#peers);
    }
    this.#commit(rec, 'admin');
  }

  /**
   * A server back from `down` with active checks configured must prove its health again (rise), as
   * the check module does for a server it starts to check (`default_down`).
   */
  #recheckIfBack(rec: ServerRecord, next: ResolvedServer): void {
    const check = this.#options.check;
    if (rec.config.down && !next.down && rec.check !== null && check !== undefined) {
      rec.check = initialRiseFall(check.defaultDown);
    }
  }

  /** Writes a record's configuration into its tier slot (flags and limits; not dynamic state). */
  #load(t: Tier, i: number, rec: ServerRecord): void {
    const c = rec.config;
    t.weight[i] = c.weight;
    t.maxConns[i] = c.maxConns;
    t.maxFails[i] = c.maxFails;
    t.failTimeout[i] = c.failTimeout;
    t.blocked[i] = (c.down ? BLOCK_DOWN : 0) | (c.drain ? BLOCK_DRAIN : 0) | (rec.check?.down ? BLOCK_CHECK : 0);
  }

  /** Rebuilds the tiers from `#order`, carrying each server's dynamic state over by id. */
  #rebuild(): void {
    this.generation++;
    const steady = this.method === 'round-robin';
    for (const rec of this.#order) if (rec.tier !== null) settle(rec.tier); // the new tiers copy `current`
    const primary = this.#order.filter((r) => !r.config.backup);
    const backup = this.#order.filter((r) => r.config.backup);
    const build = (records: ServerRecord[], isBackup: boolean): Tier => {
      const t = new Tier(records, isBackup, this.generation);
      t.steadyAllowed = steady;
      t.lazyAllowed = steady && t.n >= lazyRounds.minServers;
      records.forEach((rec, i) => {
        this.#load(t, i, rec);
        const old = rec.tier;
        if (old !== null) {
          const j = rec.index;
          t.effective[i] = old.effective[j]!;
          t.current[i] = old.current[j]!;
          t.conns[i] = old.conns[j]!;
          t.fails[i] = old.fails[j]!;
          t.accessed[i] = old.accessed[j]!;
          t.checked[i] = old.checked[j]!;
        } else {
          t.effective[i] = rec.config.weight;
        }
      });
      records.forEach((rec, i) => {
        rec.tier = t;
        rec.index = i;
      });
      t.recount();
      return t;
    };
    const p = this.#peers;
    p.primary = build(primary, false);
    p.backup = backup.length > 0 ? build(backup, true) : null;
    p.single = primary.length === 1 && backup.length === 0;
    this.#selector.rebuild?.(p);
  }

  /** Emits `state` if the server's state differs from the last committed one. */
  #commit(rec: ServerRecord, cause: StateCause): void {
    const to: ServerState = rec.state;
    const from = rec.lastState;
    if (from === to) return;
    rec.lastState = to;
    if (this.listenerCount('state') !== 0) this.#emitSafely('state', rec, from, to, cause);
  }
}
