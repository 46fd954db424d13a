/**
 * An upstream's membership: its server records by stable `id`, in configuration order, and the
 * tiers built from them (nginx's peer arrays), rebuilt when servers are added, removed, moved
 * between tiers or replaced, and patched in place when only their parameters change. Every
 * surviving server carries its dynamic state (server-fields.ts `PEER_STATE`) over by `id`.
 *
 * It validates every change before anything changes (ids, a primary left, backup support, the
 * selector's own limits). Before it changes a weight or copies a tier it settles the tier's selector
 * state (the accelerators' implicit current weights become explicit, select/selector.ts); after
 * every change it tells the selector (`rebuilt`). The Balancer commits the events. Cost: O(n) per
 * change, never per pick: the new tiers' arrays are written field by field, `replace` validates
 * the whole list (the caller gives it whole) but edits the id map only for the servers that come
 * and go; test/property/membership-replace.prop.test.ts checks the state every change leaves.
 */

import { InvalidOptionError, UpstreamError, show } from './errors';
import { type CheckHost, checkPhase } from './health/checker';
import { initialRiseFall } from './health/rise-fall';
import {
  type ResolvedOptions, type ServerOptions, requireBackupSupport, requirePrimary, resolveServer, resolveServers,
} from './options';
import type { Peers } from './peers';
import { type Placed, type RequestState, clearTried, isTried, markPlaced, passedTried } from './select/request';
import type { Prepared, Selector, SharedReplayMemory } from './select/selector';
import { ServerRecord, type ServerSnapshot } from './server';
import { NUMERIC_PARAMS, PEER_STATE, type ResolvedServer } from './server-fields';
import { BLOCK_CHECK, BLOCK_DOWN, BLOCK_DRAIN, Tier, type TierArrays } from './tier';

/**
 * Where the tiers of a balancer in an upstream zone keep their state (zone/link.ts): views of the
 * zone's shared memory instead of arrays of their own.
 */
export interface TierStorage {
  /** A rebuild starts: the tiers that follow are laid out afresh. */
  beginLayout(): void;
  /** Arrays for the next tier of `n` servers of the layout begun; `fresh`: zeroed, for a rebuild to fill. */
  arraysFor(n: number, fresh: boolean): TierArrays | undefined;
  /** A removed server's record (its connections may still be released, or its id added again). */
  gone(rec: ServerRecord): void;
  /** The record of a removed server whose id is added again while its connections are open. */
  revive(id: string): ServerRecord | undefined;
  /** The zone's memory for round robin's shared replay. */
  readonly replay: SharedReplayMemory;
}

/**
 * A server list made ready for `replace` (prepared-servers.ts, for `Balancer.setServersAsync`):
 * validated, the selector's data built for it, and matched against the records of `generation`.
 */
export interface PreparedServers {
  /** The list as given (the Balancer's copy of it). */
  readonly list: readonly ServerOptions[];
  readonly resolved: ResolvedServer[];
  /** The selector's data for the list (`Selector.prepare`), if it has any. */
  readonly selectorData: Prepared | undefined;
  /** The list matched against the records as they were at `match.generation` (`matchServers`). */
  readonly match: ServerMatch;
}

/** A server list matched against the records by id (`matchServers`). */
export interface ServerMatch {
  /** The membership generation matched against: valid while it stays. */
  readonly generation: number;
  /** The record of each entry's id, undefined for a new id. */
  readonly found: (ServerRecord | undefined)[];
  /** The records whose id the list does not hold. */
  readonly missing: ServerRecord[];
  /** 1 where the entry's record has exactly the entry's parameters (`sameConfig`). */
  readonly same: Uint8Array;
}

/**
 * True when two resolved servers have the same parameters (server-fields.ts: every one a number,
 * boolean or string): `replace` then keeps the record's configuration object, and what is derived
 * from it (the session id's MD5, server.ts) stays valid. Each parameter is read by its name: a
 * loop over the rows' keys made every read a megamorphic keyed load, a third of a millisecond per
 * `setServers` of 1,024 servers (bench/README.md, membership, eighth step). A parameter added to
 * the rows must be added here: test/unit/balancer-runtime.test.ts changes each row's parameter
 * alone through `setServers` and expects the change applied.
 */
function sameConfig(a: ResolvedServer, b: ResolvedServer): boolean {
  return a.address === b.address && a.weight === b.weight && a.maxFails === b.maxFails && a.failTimeout === b.failTimeout
    && a.maxConns === b.maxConns && a.backup === b.backup && a.down === b.down && a.drain === b.drain && a.route === b.route;
}

export class Membership {
  /** Records in configuration order (primaries and backups interleaved as given). */
  order: ServerRecord[] = [];
  /** A frozen copy of `order` for callers (`Balancer.servers`), made again after each change. */
  #view: readonly ServerRecord[] | null = null;
  byId = new Map<string, ServerRecord>();
  /**
   * Removed servers that still have connections open, by id: a server added again under the same
   * id is the same record, so its open connections still count (towards `max_conns` too) and their
   * releases reach it. Forgotten when the last one is released.
   */
  readonly #removedInUse = new Map<string, ServerRecord>();
  /** The tiers; the same object for the balancer's lifetime (its fields are replaced). */
  readonly peers: Peers;
  /** Bumped on every change of the tiers; attempts compare it to remap their tried set. */
  generation = 0;

  constructor(
    readonly options: ResolvedOptions,
    readonly selector: Selector,
    readonly owner: object,
    readonly storage: TierStorage | null = null,
  ) {
    for (const s of options.servers) this.insert(s);
    this.peers = { primary: undefined as unknown as Tier, backup: null, single: false, rng: options.rng };
    this.rebuild();
    for (const r of this.order) r.lastState = r.state;
  }

  /**
   * A new server's record: fresh state, and the initial check verdict when checks are configured.
   * A server removed with connections still open comes back as its old record, with fresh state but
   * those connections (`#build` moves them into the tier).
   */
  newRecord(s: ResolvedServer): ServerRecord {
    let rec = this.storage === null ? this.#removedInUse.get(s.id) : this.storage.revive(s.id);
    if (rec === undefined) rec = new ServerRecord(s, this.owner);
    else {
      this.#removedInUse.delete(s.id);
      rec.config = s;
      rec.lastState = 'up';
    }
    rec.check = this.options.check === undefined ? null : initialRiseFall(this.options.check.defaultDown);
    return rec;
  }

  /** Appends a server (the caller rebuilds). */
  insert(s: ResolvedServer): ServerRecord {
    const rec = this.newRecord(s);
    this.order.push(rec);
    this.#view = null;
    this.byId.set(s.id, rec);
    return rec;
  }

  /** The servers in configuration order, as a frozen array: sorting or splicing it changes nothing here. */
  view(): readonly ServerRecord[] {
    return (this.#view ??= Object.freeze(this.order.slice()));
  }

  /** The record of `id`, or `ERR_UPSTREAM_UNKNOWN_ID`. */
  require(id: string): ServerRecord {
    const rec = this.byId.get(id);
    if (rec === undefined) {
      throw new UpstreamError('ERR_UPSTREAM_UNKNOWN_ID', `Unknown server id ${show(id)} in upstream ${show(this.options.name)}`, id);
    }
    return rec;
  }

  /** Adds a server at the end of its tier (validated first). */
  add(server: ServerOptions): ServerRecord {
    const s = resolveServer(server, 'server');
    if (this.byId.has(s.id)) {
      throw new InvalidOptionError('server.id', `Duplicate server id ${show(s.id)}`, s.id, 'ERR_UPSTREAM_DUPLICATE_ID');
    }
    this.validateList([...this.order.map((r) => r.config), s]); // (the others passed: only `s` can fail the backup check)
    const rec = this.insert(s);
    this.rebuild();
    rec.lastState = rec.state;
    return rec;
  }

  /** Removes a server (not the last primary); its record keeps its last state for in-flight releases. */
  remove(rec: ServerRecord): void {
    if (!rec.config.backup && this.peers.primary.n <= 1) { // (the primary tier: exactly the non-backups)
      requirePrimary(this.order.filter((r) => r !== rec).map((r) => r.config), 'servers', this.options.name);
    }
    this.detach(rec);
    this.order = this.order.filter((r) => r !== rec);
    this.#view = null;
    this.byId.delete(rec.id);
    this.rebuild();
  }

  /**
   * Applies a new server list: surviving ids keep their state (a weight change keeps the failure
   * penalty), new ones start fresh, missing ones are detached. Returns the new records. The id map
   * is edited for the servers that come and go, not rebuilt.
   */
  replace(list: ServerOptions[], prepared?: PreparedServers): Set<ServerRecord> {
    const resolved = prepared?.resolved ?? this.validateList(resolveServers(list, 'servers', this.options.name)); // (prepared: validated)
    const match = prepared?.match.generation === this.generation ? prepared.match : matchServers(this, resolved);
    const { found, missing, same } = match;
    const byId = missing.length * 2 > this.order.length ? null : this.byId; // (null: most go, a new map costs less)
    for (const rec of missing) {
      this.detach(rec);
      byId?.delete(rec.id);
    }
    const order: ServerRecord[] = new Array(resolved.length);
    const added = new Set<ServerRecord>();
    for (let k = 0; k < resolved.length; k++) {
      const s = resolved[k]!;
      const existing = found[k];
      if (existing !== undefined) {
        if (same[k] === 0) {
          if (existing.config.weight !== s.weight) this.reweight(existing, s.weight);
          this.recheckIfBack(existing, s);
          existing.config = s;
        }
        order[k] = existing;
      } else {
        order[k] = this.newRecord(s);
        added.add(order[k]!);
        byId?.set(s.id, order[k]!);
      }
    }
    this.order = order;
    this.#view = null;
    if (byId === null) this.byId = new Map(order.map((r) => [r.id, r]));
    this.rebuild(true, prepared?.selectorData);
    return added;
  }

  /** Changes one server's parameters (validated first), keeping its health and round-robin state. */
  update(rec: ServerRecord, patch: Partial<Omit<ServerOptions, 'id'>>): void {
    if (typeof patch !== 'object' || patch === null) {
      throw new InvalidOptionError('patch', `Expected \`patch\` to be an object, got \`${show(patch)}\``, patch);
    }
    if ('id' in patch) throw new InvalidOptionError('patch.id', 'A server id cannot be changed; remove and add instead', (patch as ServerOptions).id);
    const next = resolveServer({ ...rec.config, ...patch, id: rec.id }, `update(${JSON.stringify(rec.id)})`);
    const after = this.order.map((r) => (r === rec ? next : r.config));
    if (next.backup && !rec.config.backup) {
      if (!this.options.allowBackupWithHash) requireBackupSupport(this.options.method, [next]);
      requirePrimary(after, 'servers', this.options.name);
    }
    this.selector.validate(after);
    const prev = rec.config;
    rec.tier!.listener?.settle(); // before a flag or weight changes
    if (prev.weight !== next.weight) this.reweight(rec, next.weight);
    this.recheckIfBack(rec, next);
    rec.config = next;
    if (prev.backup !== next.backup) this.rebuild();
    else {
      const t = rec.tier!;
      loadSlot(t, rec.index, rec);
      t.recount();
      this.generation++;
      this.selector.rebuilt(this.peers);
    }
  }

  /** Keeps the state of a removed server readable, and its releases harmless. */
  detach(rec: ServerRecord): void {
    rec.tier?.listener?.settle();
    rec.detached = { conns: rec.conns, fails: rec.fails, effective: rec.effectiveWeight, current: rec.currentWeight };
    rec.tier = null;
    rec.index = -1;
    if (this.storage !== null) this.storage.gone(rec);
    else if (rec.detached.conns > 0) this.#removedInUse.set(rec.id, rec);
  }

  /** Takes records another zone thread published (zone/adopt.ts): tiers view their state as it is. */
  adopt(order: ServerRecord[], byId: Map<string, ServerRecord>): void {
    this.order = order;
    this.#view = null;
    this.byId = byId;
    this.rebuild(false);
  }

  /** The last open connection of a removed server was released. */
  released(rec: ServerRecord): void {
    if (this.#removedInUse.get(rec.id) === rec) this.#removedInUse.delete(rec.id);
  }

  /**
   * A new weight keeps the failure penalty: effective weight = min(effective, new weight), or the
   * new weight if the server was at full weight.
   */
  reweight(rec: ServerRecord, weight: number): void {
    const t = rec.tier;
    if (t === null) return;
    const i = rec.index;
    t.listener?.settle(); // implicit current weights are functions of the old weight
    const e = t.effective[i]!;
    t.effective[i] = e >= t.weight[i]! ? weight : Math.min(e, weight);
    t.weight[i] = weight;
  }

  /**
   * A server back from `down` with active checks configured must prove its health again (rise), as
   * the check module does for a server it starts to check (`default_down`).
   */
  recheckIfBack(rec: ServerRecord, next: ResolvedServer): void {
    const check = this.options.check;
    if (rec.config.down && !next.down && rec.check !== null && check !== undefined) {
      rec.check = initialRiseFall(check.defaultDown);
    }
  }

  /**
   * Re-maps a request's tried set (and its tier) onto the tiers built since it last looked. Every
   * server it tried stays tried: those on its new tier are marked there, the others (moved to the
   * other tier, or removed and perhaps re-added later) are carried until the request reaches them.
   */
  remap(r: RequestState & { generation: number }): void {
    const old = r.tier;
    const p = this.peers;
    const next = old.backup ? p.backup ?? p.primary : p.primary;
    const tried = new Set<Placed>(r.carried);
    for (const rec of passedTried(r)) tried.add(rec);
    r.passed = null;
    for (let i = 0; i < old.n; i++) if (isTried(r, i)) tried.add(old.records[i] as ServerRecord);
    // a removed server added again since is the same server to this request (by id)
    for (const rec of [...tried]) {
      const live = rec.tier === null ? this.byId.get((rec as ServerRecord).id) : undefined;
      if (live !== undefined) tried.add(live);
    }
    r.tier = next;
    clearTried(r);
    r.carried = tried.size === 0 ? null : [...tried];
    if (r.carried !== null) markPlaced(r, r.carried);
    r.generation = this.generation;
  }

  /** What the active-check scheduler asks of the servers (health/checker.ts). */
  checkHost(report: CheckHost['report']): CheckHost {
    return {
      targets: () => this.order.filter((r) => !r.config.down).map((r) => ({ id: r.id, address: r.address })),
      report: (id, ok, reason, ms) => {
        if (this.byId.has(id)) report(id, ok, reason, ms);
      },
      phase: (id) => {
        const c = this.byId.get(id)?.check;
        return c == null ? 'up' : checkPhase(c);
      },
    };
  }

  /** The plain state of the servers `from` (inclusive) to `to` (exclusive), in configuration order. */
  snapshot(from = 0, to = Infinity): ServerSnapshot[] {
    const check = this.options.check;
    const type = check === undefined ? 'tcp' : typeof check.type === 'function' ? 'custom' : check.type;
    const port = check?.port ?? 0;
    this.peers.primary.listener?.sync();
    this.peers.backup?.listener?.sync();
    const order = from === 0 && to >= this.order.length ? this.order : this.order.slice(from, to);
    return order.map((r) => r.snapshot(type, port));
  }

  /** The checks of a whole server list beyond each entry's own (the method's backup support, the selector's data); returns it. */
  validateList<T extends readonly ResolvedServer[]>(list: T): T {
    if (!this.options.allowBackupWithHash) requireBackupSupport(this.options.method, list);
    this.selector.validate(list);
    return list;
  }

  /**
   * Rebuilds the tiers from `order`, carrying each server's dynamic state over by id. `prepared`:
   * the selector's data prepared for exactly this order (`replace` of a prepared list).
   */
  rebuild(fill = true, prepared?: Prepared): void {
    this.generation++;
    // the new tiers copy `current` (not when they only view a zone's layout another thread wrote);
    // every record placed so far is in one of the two tiers
    const p = this.peers;
    if (fill) for (const t of [p.primary as Tier | undefined, p.backup]) t?.listener?.settle();
    this.storage?.beginLayout();
    const primary = this.order.filter((r) => !r.config.backup);
    const backup = this.order.filter((r) => r.config.backup);
    p.primary = this.#build(primary, false, fill);
    p.backup = backup.length > 0 ? this.#build(backup, true, fill) : null;
    p.single = primary.length === 1 && backup.length === 0;
    this.selector.rebuilt(p, prepared);
  }

  /** A tier of `records`; `fill`: their configuration and state written into it (else it is a zone's, as published). */
  #build(records: ServerRecord[], backup: boolean, fill: boolean): Tier {
    const t = new Tier(records, backup, this.storage?.arraysFor(records.length, fill));
    if (fill) fillTier(t, records);
    records.forEach((rec, i) => {
      rec.tier = t;
      rec.index = i;
      rec.detached = null;
    });
    t.recount();
    return t;
  }
}

/** Writes a record's configuration into its tier slot (parameters and flags; not dynamic state). */
function loadSlot(t: Tier, i: number, rec: ServerRecord): void {
  const c = rec.config;
  for (const p of NUMERIC_PARAMS) t[p.key][i] = c[p.key];
  t.blocked[i] = blockedOf(rec);
}

/**
 * The record of each id of `resolved` in `m` (survivors marked by their slot in the tiers, so that
 * no set of ids is built), the records whose id is not there, and which survivors keep their
 * parameters.
 */
export function matchServers(m: Membership, resolved: readonly ResolvedServer[]): ServerMatch {
  const p = m.peers;
  const keptPrimary = new Uint8Array(p.primary.n);
  const keptBackup = new Uint8Array(p.backup?.n ?? 0);
  const found: (ServerRecord | undefined)[] = new Array(resolved.length);
  const same = new Uint8Array(resolved.length);
  let survivors = 0;
  for (let k = 0; k < resolved.length; k++) {
    const existing = m.byId.get(resolved[k]!.id);
    found[k] = existing;
    if (existing === undefined) continue;
    (existing.tier === p.primary ? keptPrimary : keptBackup)[existing.index] = 1;
    if (sameConfig(existing.config, resolved[k]!)) same[k] = 1;
    survivors++;
  }
  const missing: ServerRecord[] = [];
  if (survivors < m.order.length) {
    for (const rec of m.order) if ((rec.tier === p.primary ? keptPrimary : keptBackup)[rec.index] === 0) missing.push(rec);
  }
  return { generation: m.generation, found, missing, same };
}

/** The BLOCK_* bits of a server: its `down` and `drain` parameters, its check verdict. */
function blockedOf(rec: ServerRecord): number {
  const c = rec.config;
  return (c.down ? BLOCK_DOWN : 0) | (c.drain ? BLOCK_DRAIN : 0) | (rec.check?.down ? BLOCK_CHECK : 0);
}

/**
 * Writes `records`' configuration into the new tier `t` (as `loadSlot` does per server), then each
 * surviving server's dynamic state from its old tier (a new one starts at its weight). Field by
 * field, so that each array is looked up once per field, not once per server.
 */
function fillTier(t: Tier, records: readonly ServerRecord[]): void {
  const n = records.length;
  for (const p of NUMERIC_PARAMS) {
    const column = t[p.key];
    const key = p.key;
    for (let i = 0; i < n; i++) column[i] = records[i]!.config[key];
  }
  for (let i = 0; i < n; i++) t.blocked[i] = blockedOf(records[i]!);
  for (const field of PEER_STATE) {
    const column = t[field];
    let from: Tier | null = null;
    let source: Float64Array | null = null;
    for (let i = 0; i < n; i++) {
      const rec = records[i]!;
      const old = rec.tier;
      if (old === null) continue;
      if (old !== from) {
        from = old;
        source = old[field];
      }
      column[i] = source![rec.index]!;
    }
  }
  for (let i = 0; i < n; i++) {
    const rec = records[i]!;
    if (rec.tier !== null) continue;
    t.effective[i] = rec.config.weight;
    if (rec.detached !== null) t.conns[i] = rec.detached.conns; // added again while in use
  }
}
