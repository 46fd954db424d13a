/**
 * One balancer's link to an upstream zone (zone/layout.ts): the storage its tiers live in, its
 * balancer slot (which connections it holds), and the publish / adopt of membership between threads.
 *
 * nginx keeps the peers of a zone in shared memory and every worker walks them under the zone's
 * lock (ngx_http_upstream_rr_peers_wlock in get and free). Here every thread keeps its own records
 * and tiers, but the tiers' arrays are views of the zone's shared regions, so a get or free in any
 * thread reads and writes the one state. What is not an array (the server list, the records'
 * configuration, the check verdicts) is published: the thread that changes it writes the list as
 * JSON, the verdicts into `checks`, bumps the generation, and every other thread adopts it
 * (membership.ts `adopt`) at its next locked call. Callers hold the lock (zone/lock.ts) around
 * everything here.
 */

import { UpstreamError, show } from '../errors';
import type { RiseFallState } from '../health/rise-fall';
import type { TierStorage } from '../membership';
import type { SharedReplayMemory } from '../select/selector';
import type { ServerRecord, ServerState } from '../server';
import type { ResolvedServer } from '../server-fields';
import type { TierArrays } from '../tier';
import {
  CHECK_AWAY, CHECK_WORDS, CONFIG_LENGTH, GENERATION, OWNER_THREAD, REGION, ZoneViews,
} from './layout';
import { type ZoneLock, lockOf } from './lock';
import { giveBack, recount } from './reclaim';
import { committedState, loadVerdict, readVerdict, storeCommitted, storeVerdict } from './verdicts';
import type { UpstreamZone } from './zone';

/** A server as published: its parameters and its stable slot. */
export type PublishedServer = ResolvedServer & { slot: number };

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export class ZoneLink implements TierStorage {
  readonly views: ZoneViews;
  readonly lock: ZoneLock;
  readonly replay: SharedReplayMemory;
  /** This balancer's slot in `threads` / `held`. */
  readonly slot: number;
  /** This balancer's thread created the zone: it runs the active checks. */
  readonly owner: boolean;
  readonly name: string;
  /** The generation this balancer last adopted or published. */
  generation = 0;
  /** Until the balancer is built: its tiers use arrays of their own (`attach` then adopts). */
  #attached = false;
  #layoutRegion = -1;
  #offset = 0;
  /** Stable slot of each server of the published list, by id. */
  #slotOf = new Map<string, number>();
  /** Removed servers' records of this balancer, by id: a re-added id gets its record back (`revive`). */
  readonly #gone = new Map<string, ServerRecord>();
  /** Removed servers with connections still open, by id (published): their slots are kept. */
  #retired = new Map<string, number>();
  #closed = false;

  constructor(zone: UpstreamZone, name: string) {
    this.name = name;
    this.views = new ZoneViews(zone);
    this.lock = lockOf(this.views.control);
    this.replay = this.views.replay;
    this.owner = this.views.control[OWNER_THREAD] === this.lock.mark;
    const threads = this.views.threads;
    let slot = -1;
    for (let k = 0; k < threads.length && slot < 0; k++) if (Atomics.compareExchange(threads, k, 0, this.lock.mark) === 0) slot = k;
    if (slot < 0) throw new UpstreamError('ERR_UPSTREAM_ZONE_FULL', `upstream zone ${show(name)} has room for ${threads.length} balancers, all open`, threads.length);
    this.slot = slot;
    this.#heldRow = slot * this.views.capacity;
  }

  /** Where this balancer's row of `held` starts. */
  readonly #heldRow: number;

  // ---------------------------------------------------------------------------------------------
  // TierStorage (membership.ts)

  beginLayout(): void {
    this.#layoutRegion = -1;
    this.#offset = 0;
  }

  arraysFor(n: number, fresh: boolean): TierArrays | undefined {
    if (!this.#attached) return undefined;
    if (this.#layoutRegion < 0) {
      const active = this.views.control[REGION]!;
      this.#layoutRegion = fresh ? 1 - active : active;
    }
    if (this.#offset + n > this.views.capacity) throw this.full(this.#offset + n);
    const a = this.views.tierArrays(this.#layoutRegion, this.#offset, n, fresh);
    this.#offset += n;
    return a;
  }

  /** Gives each record its stable slot (after `read` + adopt, or `publish`). */
  placeRecords(order: readonly ServerRecord[]): void {
    for (const rec of order) {
      const slot = this.#slotOf.get(rec.id) ?? -1;
      rec.zoneSlot = slot;
      rec.shared = slot >= 0 ? this : null;
      if (slot >= 0) rec.lastState = this.committedOf(slot);
    }
  }

  /** A record adopt detached (another thread removed its server). */
  gone(rec: ServerRecord): void {
    if (rec.zoneSlot >= 0) this.#gone.set(rec.id, rec);
  }

  /** The record of a removed server added again under the same id and slot, if this balancer has it. */
  revive(id: string): ServerRecord | undefined {
    const rec = this.#gone.get(id);
    if (rec === undefined) return undefined;
    this.#gone.delete(id);
    return rec.zoneSlot === (this.#slotOf.get(id) ?? this.#retired.get(id)) ? rec : undefined;
  }

  /** ServerRecord `shared`: the open connections of a removed server (any thread's). */
  awayConns(rec: ServerRecord): number {
    return rec.zoneSlot < 0 ? 0 : this.views.checks[rec.zoneSlot * CHECK_WORDS + CHECK_AWAY]!;
  }

  /** A connection of a removed server ended (in this thread). */
  freeAway(rec: ServerRecord): void {
    const at = rec.zoneSlot * CHECK_WORDS + CHECK_AWAY;
    const c = this.views.checks;
    if (rec.zoneSlot >= 0 && c[at]! > 0) c[at] = c[at]! - 1;
  }

  // ---------------------------------------------------------------------------------------------
  // Publish and adopt

  /** The tiers may now be views of the zone (the balancer is built). */
  attach(): void {
    this.#attached = true;
  }

  /** True when another balancer published a membership since this one last looked. */
  get stale(): boolean {
    return this.views.control[GENERATION] !== this.generation;
  }

  /** The published server list and each server's check verdict, in configuration order. */
  read(): { servers: ResolvedServer[]; checks: (RiseFallState | null)[] } {
    const v = this.views;
    const text = decoder.decode(v.config.slice(0, v.control[CONFIG_LENGTH]!));
    const list = JSON.parse(text) as { servers: PublishedServer[]; retired?: [string, number][] };
    const published = list.servers;
    this.#retired = new Map(list.retired ?? []);
    this.#useSlots(published);
    this.generation = v.control[GENERATION]!;
    const servers = published.map(({ slot: _slot, ...server }) => server as ResolvedServer);
    return { servers, checks: published.map((s) => readVerdict(v.checks, s.slot)) };
  }

  /** Servers ids → slots of a list just read or written; removed ids this balancer holds connections of are kept aside. */
  #useSlots(servers: readonly PublishedServer[]): void {
    this.#slotOf = new Map(servers.map((s) => [s.id, s.slot]));
  }

  /** Whether `bytes` more of server list fit (an admin change asks before it changes anything). */
  requireRoom(servers: number, extraBytes: number): void {
    const v = this.views;
    if (servers > v.capacity) throw this.full(servers);
    const bytes = v.control[CONFIG_LENGTH]! + extraBytes;
    if (bytes > v.config.length) {
      throw new UpstreamError('ERR_UPSTREAM_ZONE_FULL', `upstream zone ${show(this.name)}: the server list would take about ${bytes} bytes, more than its ${v.config.length}`, bytes);
    }
  }

  full(servers: number): UpstreamError {
    return new UpstreamError('ERR_UPSTREAM_ZONE_FULL', `upstream zone ${show(this.name)} holds ${this.views.capacity} servers; ${servers} needed`, servers);
  }

  /**
   * Publishes this balancer's membership after a change it made: slots for new servers (the lowest
   * not in use and held by no balancer), the list, every verdict, the region the rebuild wrote (if
   * it rebuilt), and the next generation.
   */
  publish(order: readonly ServerRecord[], before: readonly ServerRecord[] = []): void {
    const v = this.views;
    const c = v.checks;
    // servers removed now: their open connections stay counted on their slot
    const present = new Set(order.map((r) => r.id));
    for (const rec of before) {
      const s = this.#slotOf.get(rec.id);
      if (present.has(rec.id) || s === undefined) continue;
      const conns = rec.detached?.conns ?? 0;
      c[s * CHECK_WORDS + CHECK_AWAY] = conns;
      if (conns > 0) this.#retired.set(rec.id, s);
    }
    const used = new Set<number>();
    for (const rec of order) {
      const s = this.#slotOf.get(rec.id) ?? this.#retired.get(rec.id);
      if (s !== undefined) used.add(s);
    }
    for (const s of this.#retired.values()) used.add(s);
    let candidate = 0;
    const servers: PublishedServer[] = order.map((rec) => {
      let slot = this.#slotOf.get(rec.id) ?? this.#retired.get(rec.id);
      if (slot === undefined) {
        while (used.has(candidate) || this.#heldAnywhere(candidate)) candidate++;
        if (candidate >= v.capacity) throw this.full(order.length);
        slot = candidate;
        used.add(slot);
      }
      return { ...rec.config, slot };
    });
    // a removed server added again takes its open connections back (as one balancer's record does)
    for (const rec of order) {
      const s = this.#retired.get(rec.id);
      if (s === undefined || rec.tier === null) continue;
      rec.tier.conns[rec.index] = c[s * CHECK_WORDS + CHECK_AWAY]!;
      c[s * CHECK_WORDS + CHECK_AWAY] = 0;
      rec.tier.refreshGate(rec.index);
      this.#retired.delete(rec.id);
    }
    for (const [id, s] of this.#retired) if (c[s * CHECK_WORDS + CHECK_AWAY] === 0) this.#retired.delete(id);
    const bytes = encoder.encode(JSON.stringify({ servers, retired: [...this.#retired] }));
    if (bytes.length > v.config.length) throw new UpstreamError('ERR_UPSTREAM_ZONE_FULL', `upstream zone ${show(this.name)}: the server list takes ${bytes.length} bytes, more than its ${v.config.length}`, bytes.length);
    v.config.set(bytes);
    v.control[CONFIG_LENGTH] = bytes.length;
    servers.forEach((s, k) => this.writeCheck(s.slot, order[k]!));
    this.#useSlots(servers);
    this.placeRecords(order);
    if (this.#layoutRegion >= 0) v.control[REGION] = this.#layoutRegion;
    this.#layoutRegion = -1;
    v.control[GENERATION] = v.control[GENERATION]! + 1;
    this.generation = v.control[GENERATION]!;
  }

  #heldAnywhere(slot: number): boolean {
    const v = this.views;
    for (let k = 0; k < v.maxThreads; k++) if (v.held[k * v.capacity + slot]! !== 0) return true;
    return false;
  }

  // ---------------------------------------------------------------------------------------------
  // Check verdicts (by slot: zone/verdicts.ts)

  /**
   * While true, records keep what this thread changed (an admin change in progress, published at
   * its end), instead of reading the verdicts back.
   */
  changing = false;
  /** What the balancer does when another thread published a membership (adopts it). */
  onStale: () => void = () => {};

  /** ServerRecord `shared`: the membership and verdict as published, read under the lock (unless a change of this thread is in progress). */
  refresh(rec: ServerRecord): void {
    if (this.changing || this.#closed) return;
    this.lock.lock();
    try {
      if (this.stale) this.onStale();
      if (rec.zoneSlot >= 0) loadVerdict(this.views.checks, rec.zoneSlot, rec, false);
    } finally {
      this.lock.unlock();
    }
  }

  /** The verdict of `rec` as published, into the record (before a change reads or applies it). */
  refreshCheck(rec: ServerRecord): void {
    const slot = this.#slotOf.get(rec.id);
    if (slot !== undefined) loadVerdict(this.views.checks, slot, rec, true);
  }

  committedOf(slot: number): ServerState {
    return committedState(this.views.checks, slot);
  }

  commitState(slot: number, state: ServerState): void {
    storeCommitted(this.views.checks, slot, state);
  }

  /** Publishes the verdict of `rec` (after a result or a change). */
  writeCheck(slot: number | undefined, rec: ServerRecord): void {
    slot ??= this.#slotOf.get(rec.id);
    if (slot !== undefined) storeVerdict(this.views.checks, slot, rec);
  }

  // ---------------------------------------------------------------------------------------------
  // Connections held, by balancer

  /** This balancer took (+1) or gave back (-1) a connection of `rec`. */
  count(rec: ServerRecord, delta: 1 | -1): void {
    const s = rec.zoneSlot;
    if (s < 0) return;
    const held = this.views.held;
    const at = this.#heldRow + s;
    const h = held[at]! + delta;
    held[at] = h < 0 ? 0 : h;
  }

  /**
   * Gives back every connection the balancers of thread `mark` (threadId + 1) hold: each server's
   * `conns` goes down by what they held, a server at its limit is selectable again, and their
   * balancer slots are freed. The caller holds the lock and has adopted the latest membership, so
   * `records` are the current ones. `halfDone`: the thread died holding the lock, so its last get or
   * free may have changed `conns` without its row of `held`; every count is then taken from the rows
   * of the balancers left (reclaim.ts). Returns the connections given back.
   */
  reclaim(mark: number, records: readonly ServerRecord[], halfDone = false): number {
    const v = this.views;
    let total = 0;
    for (let k = 0; k < v.maxThreads; k++) {
      if (v.threads[k] !== mark || k === this.slot) continue;
      total += giveBack(this.views, k, records);
      Atomics.store(v.threads, k, 0);
    }
    if (halfDone) recount(v, records);
    return total;
  }

  /** This balancer leaves the zone: its connections are given back and its slot freed. */
  close(records: readonly ServerRecord[]): number {
    if (this.#closed) return 0;
    this.#closed = true;
    const n = giveBack(this.views, this.slot, records);
    Atomics.store(this.views.threads, this.slot, 0);
    return n;
  }

  get closed(): boolean {
    return this.#closed;
  }
}
