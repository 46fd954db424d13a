/**
 * A Balancer over an upstream zone (`Balancer.fromZone`): the same class with every call that reads
 * or writes peer state run under the zone's lock, as nginx runs get and free under
 * `ngx_http_upstream_rr_peers_wlock` (ngx_http_upstream_round_robin.c) when the upstream has a zone.
 *
 * Each locked call first adopts what another thread published (zone/link.ts), so that a pick never
 * decides on a stale server list. Round robin runs nginx's plain round (the accelerators keep state
 * of their own between picks, which another thread's picks would invalidate); every method walks
 * the shared arrays exactly as it walks its own. Admin changes publish the new list; active checks
 * run in the zone's owner thread only and publish each verdict. Connections are counted per
 * balancer, so that a thread's can be given back when it exits (`watch`) or closes.
 */

import type { Worker } from 'node:worker_threads';
import type { Attempt, AttemptOptions } from '../attempt';
import type { Balancer, BalancerSnapshot, ServerPatch } from '../balancer';
import { AttemptStateError, UpstreamError, show } from '../errors';
import { type StateCause, emitSafely, isObserved } from '../events';
import { applyCheckResult } from '../health/verdicts';
import type { BalancerOptions, CheckOptions, ServerOptions } from '../options';
import type { ServerRecord, Server, ServerSnapshot } from '../server';
import type { CloseOptions, StartOptions } from '../lifecycle';
import { adoptMembership } from './adopt';
import { GENERATION, ZONE_ID } from './layout';
import { ZoneLink } from './link';
import { type UpstreamZone, creatorOptionsOf, requireZone } from './zone';

/** What each thread gives `fromZone` of its own: functions cannot cross threads. */
export interface ZoneLocalOptions {
  /** ms; default a process-wide monotonic clock (every thread reads the same one, as the zone's `accessed` / `checked` need). */
  clock?: BalancerOptions['clock'];
  rng?: BalancerOptions['rng'];
  /** Check timers, for the owner thread's checker (tests). */
  timers?: BalancerOptions['timers'];
}

/** A clock every thread of the process shares (CLOCK_MONOTONIC), in ms. */
export function processClock(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

/** Every record's verdict read again from the zone. */
function refreshChecks(link: ZoneLink, records: readonly ServerRecord[]): void {
  for (const rec of records) link.refreshCheck(rec);
}

/** Threads this thread watched exit (`watch`): their marks are never a live holder again. */
const exited = new Set<number>();
/** Of those, the ones that died holding the lock and are not given back yet: their last section may be half done. */
const diedLocked = new Set<number>();

/** The zone balancer class of each Balancer class (the core's, the package root's). */
const classes = new WeakMap<object, unknown>();

// biome-ignore lint: a mixin's base constructor takes any arguments (TypeScript's rule for mixins)
type BalancerClass<B extends Balancer> = new (...args: any[]) => B;

/** What a balancer over a zone adds to `Balancer`. */
export interface ZoneControls {
  /** True in the thread that created the zone: its balancer runs the active checks. */
  readonly zoneOwner: boolean;
  /**
   * Gives back, when `worker` exits (or is terminated), every connection its balancers of this zone
   * still hold, and frees the zone's lock if it died holding it. Call it in the thread that created
   * the worker. Returns `worker`.
   */
  watch(worker: Worker): Worker;
  /** What `watch` does when the thread `threadId` has exited: returns the connections given back. */
  reclaimThread(threadId: number): number;
}

/** Opens `zone` with a balancer of class `Base` (the `this` of `Balancer.fromZone`). */
export function openZone<B extends Balancer>(Base: BalancerClass<B>, zone: unknown, local: ZoneLocalOptions = {}): B & ZoneControls {
  const z = requireZone(zone);
  if (typeof local !== 'object' || local === null) throw new UpstreamError('ERR_UPSTREAM_INVALID_OPTION', `Expected \`local\` to be an object, got \`${show(local)}\``, local);
  let Zoned = classes.get(Base) as BalancerClass<B> | undefined;
  if (Zoned === undefined) {
    Zoned = zoneClass(Base as unknown as BalancerClass<Balancer>) as unknown as BalancerClass<B>;
    classes.set(Base, Zoned);
  }
  const link = new ZoneLink(z, String(z.options.name ?? 'upstream'));
  link.lock.lock();
  try {
    const init = link.views.control[GENERATION] === 0;
    const { servers } = link.read();
    const creator = creatorOptionsOf(link.views.control[ZONE_ID]!);
    const base: BalancerOptions = creator ?? revive(z);
    const options: BalancerOptions = { ...base, servers, clock: local.clock ?? creator?.clock ?? processClock };
    const rng = local.rng ?? creator?.rng;
    if (rng !== undefined) options.rng = rng;
    const timers = local.timers ?? creator?.timers;
    if (timers !== undefined) options.timers = timers;
    // The first balancer lays the zone's state out (the rebuild writes it into shared memory);
    // the others build their records on arrays of their own, then adopt the shared layout.
    if (init) link.attach();
    let b: B;
    try {
      b = new Zoned(options, link);
    } catch (error) {
      link.close([]);
      throw error;
    }
    if (init) link.publish(b.servers as ServerRecord[]);
    else {
      link.attach();
      (b as unknown as { adoptZone(): void }).adoptZone();
    }
    return b as B & ZoneControls;
  } finally {
    link.lock.unlock();
  }
}

/** The options of a zone made in another thread: its check function, if any, stays there. */
function revive(z: UpstreamZone): BalancerOptions {
  const { check, ...rest } = z.options;
  if (check === undefined) return { ...rest, servers: [] };
  const type: CheckOptions['type'] =
    check.type === 'custom'
      ? () => Promise.reject(new Error(`the custom check of upstream ${show(rest.name)} runs in the zone's owner thread`))
      : (check.type as CheckOptions['type']);
  return { ...rest, servers: [], check: { ...check, type } };
}

/** An estimate of what a change adds to the published list, in bytes (refused before it applies). */
function bytesOf(value: unknown): number {
  try {
    return 3 * (JSON.stringify(value)?.length ?? 0) + 256;
  } catch {
    return 0; // (the change's own validation refuses it)
  }
}

function zoneClass(Base: BalancerClass<Balancer>): BalancerClass<Balancer> {
  class ZoneBalancer extends Base implements ZoneControls {
    readonly #link: ZoneLink;
    #inRelease = false;

    // biome-ignore lint: the mixin's constructor (see BalancerClass)
    constructor(...args: any[]) {
      super(...args);
      this.#link = args[1] as ZoneLink;
      this.#link.onStale = () => this.adoptZone();
    }

    /** @internal Adopts the zone's published membership (at open, and whenever another thread changed it). */
    adoptZone(): void {
      const { servers, checks } = this.#link.read();
      adoptMembership(this.members, this.#link, servers, checks);
      this.#link.placeRecords(this.members.order);
      this.followMembership();
    }

    /** Takes the lock and adopts what changed; the caller unlocks. */
    #enter(): void {
      const link = this.#link;
      if (link.closed) throw new UpstreamError('ERR_UPSTREAM_CLOSED', `Balancer ${show(this.name)} has left its zone (close())`);
      link.lock.lock();
      if (link.stale) {
        try {
          this.adoptZone();
        } catch (error) {
          link.lock.unlock();
          throw error;
        }
      }
    }

    // --- the hot paths -----------------------------------------------------------------------

    override attempt(key?: string, options?: AttemptOptions): Attempt {
      this.#enter();
      try {
        return super.attempt(key, options);
      } finally {
        this.#link.lock.unlock();
      }
    }

    override pick(key?: string): Server | undefined {
      this.#enter();
      try {
        const s = super.pick(key);
        if (s !== undefined) this.#link.count(s as ServerRecord, 1);
        return s;
      } finally {
        this.#link.lock.unlock();
      }
    }

    override release(server: Server, failed = false): void {
      this.#enter();
      try {
        this.#inRelease = true;
        const rec = server as ServerRecord;
        if (rec.tier === null && rec.owner === this && rec.detached !== null) this.#freeAway(rec, failed, null, 0, !failed);
        else super.release(server, failed);
        this.#link.count(rec, -1);
      } finally {
        this.#inRelease = false;
        this.#link.lock.unlock();
      }
    }

    // Re-mapped once, onto the latest list (adopted first), as a plain balancer's attempt: in two
    // steps it could pass a tier that one never saw (a backup tier emptied, then refilled).
    override remap(r: Attempt): void {
      this.#enter();
      try {
        if (r.generation !== this.generation) super.remap(r);
      } finally {
        this.#link.lock.unlock();
      }
    }

    override getFor(r: Attempt): ServerRecord | undefined {
      this.#enter();
      try {
        if (r.generation !== this.generation) this.remap(r);
        const s = super.getFor(r);
        if (s !== undefined) this.#link.count(s, 1);
        return s;
      } finally {
        this.#link.lock.unlock();
      }
    }

    override freeFor(rec: ServerRecord, failed: boolean, r: Attempt | null, triesLeft = 0, announce = !failed): void {
      this.#enter();
      try {
        if (rec.tier === null && rec.detached !== null && !this.#inRelease) this.#freeAway(rec, failed, r, triesLeft, announce);
        else super.freeFor(rec, failed, r, triesLeft, announce);
        if (!this.#inRelease) this.#link.count(rec, -1);
      } finally {
        this.#link.lock.unlock();
      }
    }

    override connectedFor(rec: ServerRecord): void {
      this.#enter();
      try {
        super.connectedFor(rec);
      } finally {
        this.#link.lock.unlock();
      }
    }

    /** The free of a removed server's connection: the zone's count of them goes down. */
    #freeAway(rec: ServerRecord, failed: boolean, r: Attempt | null, triesLeft: number, announce: boolean): void {
      const d = rec.detached!;
      d.conns = this.#link.awayConns(rec);
      if (d.conns <= 0) throw new AttemptStateError(`release() of ${show(rec.id)}, which has no connection handed out`, rec.id);
      this.#link.freeAway(rec);
      super.freeFor(rec, failed, r, triesLeft, announce);
    }

    /** One `state` event per transition in the zone: the last committed state is the zone's. */
    protected override commit(rec: ServerRecord, cause: StateCause): void {
      const slot = rec.zoneSlot;
      if (slot < 0 || rec.tier === null) return super.commit(rec, cause);
      rec.lastState = this.#link.committedOf(slot);
      super.commit(rec, cause);
      this.#link.commitState(slot, rec.lastState);
    }

    // --- membership and admin ----------------------------------------------------------------

    #admin<T>(servers: number, bytes: number, change: () => T): T {
      this.#enter();
      try {
        refreshChecks(this.#link, this.members.order);
        this.#link.requireRoom(servers, bytes);
        this.#link.changing = true;
        const before = this.members.order;
        const out = change();
        this.#link.publish(this.members.order, before);
        return out;
      } finally {
        this.#link.changing = false;
        this.#link.lock.unlock();
      }
    }

    override get servers(): readonly Server[] {
      this.#enter();
      this.#link.lock.unlock();
      return super.servers;
    }

    override get(id: string): Server | undefined {
      this.#enter();
      this.#link.lock.unlock();
      return super.get(id);
    }

    override add(server: ServerOptions): Server {
      return this.#admin(this.members.order.length + 1, bytesOf(server), () => super.add(server));
    }

    override remove(id: string): void {
      this.#admin(0, 0, () => super.remove(id));
    }

    override update(id: string, patch: ServerPatch): Server {
      return this.#admin(0, bytesOf(patch), () => super.update(id, patch));
    }

    override setServers(list: ServerOptions[]): void {
      this.#admin(Array.isArray(list) ? list.length : 0, bytesOf(list), () => super.setServers(list));
    }

    override reportCheck(id: string, ok: boolean, reason = '', ms = 0): void {
      this.#enter();
      try {
        const rec = this.members.require(id);
        this.#link.refreshCheck(rec);
        // (Balancer.reportCheck's steps, with the verdict published before anything reads it)
        applyCheckResult(rec, ok, this.options.check);
        this.#link.writeCheck(undefined, rec);
        if (isObserved(this, 'check')) emitSafely(this, 'check', rec, ok, reason, ms);
        this.commit(rec, 'check');
      } finally {
        this.#link.lock.unlock();
      }
    }

    override restoreCheck(id: string, state: Parameters<Balancer['restoreCheck']>[1]): void {
      this.#enter();
      try {
        const rec = this.members.require(id);
        this.#link.refreshCheck(rec);
        super.restoreCheck(id, state);
        this.#link.writeCheck(undefined, rec);
      } finally {
        this.#link.lock.unlock();
      }
    }

    override snapshot(): BalancerSnapshot {
      this.#enter();
      try {
        refreshChecks(this.#link, this.members.order);
        return super.snapshot();
      } finally {
        this.#link.lock.unlock();
      }
    }

    override snapshotServers(from = 0, to = Infinity): ServerSnapshot[] {
      this.#enter();
      try {
        refreshChecks(this.#link, this.members.order);
        return super.snapshotServers(from, to);
      } finally {
        this.#link.lock.unlock();
      }
    }

    // --- lifecycle ----------------------------------------------------------------------------

    /** In the zone's owner thread, starts the active checks for every thread; elsewhere checks nothing (the owner's verdicts apply). */
    override start(options?: StartOptions): void {
      if (this.#link.owner) super.start(options);
    }

    /**
     * Stops the checks (owner) and leaves the zone: the connections this balancer still holds are
     * given back (their servers' `conns` go down), and its balancer slot is freed. Later calls
     * throw `ERR_UPSTREAM_CLOSED`.
     */
    override close(options?: CloseOptions): Promise<void> {
      if (!this.#link.closed) {
        this.#enter();
        try {
          this.#link.close(this.members.order);
        } finally {
          this.#link.lock.unlock();
        }
      }
      return super.close(options);
    }

    /** True in the thread that created the zone: its balancer runs the active checks. */
    get zoneOwner(): boolean {
      return this.#link.owner;
    }

    /**
     * Gives back, when `worker` exits (or is terminated), every connection its balancers of this
     * zone still hold, and frees the zone's lock if it died holding it (nginx frees a dead
     * worker's mutex and its peers' connections are gone with it). Call it in the thread that
     * created the worker. Returns `worker`.
     */
    watch(worker: Worker): Worker {
      const id = worker.threadId;
      worker.once('exit', () => {
        exited.add(id);
        this.#reclaimWhenFree(id);
      });
      return worker;
    }

    /**
     * Frees the lock of every watched thread known to have exited, then gives back `id`'s
     * connections once the lock can be taken without blocking (another dead thread's exit event may
     * still be queued behind this one: blocking here would wait for it forever).
     */
    #reclaimWhenFree(id: number): void {
      if (this.#link.closed) return;
      for (const dead of exited) if (this.#link.lock.forceUnlock(dead)) diedLocked.add(dead);
      if (!this.#link.lock.tryLock()) {
        setImmediate(() => this.#reclaimWhenFree(id));
        return;
      }
      try {
        if (this.#link.stale) this.adoptZone();
        this.#link.reclaim(id + 1, this.members.order, diedLocked.delete(id));
      } finally {
        this.#link.lock.unlock();
      }
    }

    /** What `watch` does when the thread `threadId` has exited: returns the connections given back. */
    reclaimThread(threadId: number): number {
      const halfDone = diedLocked.delete(threadId) || this.#link.lock.forceUnlock(threadId);
      this.#enter();
      try {
        return this.#link.reclaim(threadId + 1, this.members.order, halfDone);
      } finally {
        this.#link.lock.unlock();
      }
    }
  }
  return ZoneBalancer as unknown as BalancerClass<Balancer>;
}
