/**
 * One balancer in a fleet (`joinFleet(balancer, options)`, docs/fleet.md): it loads the upstream's
 * desired servers and verdicts from the fleet store, applies every later change from a watch in
 * revision order (each revision once: `setServers` of the whole desired list, so surviving servers
 * keep their state), writes admin changes through the store, and campaigns for the upstream's
 * checker role on a lease. The leader runs the active checks and publishes each result, written
 * only while it still holds the leader key; followers apply the results through `reportCheck` and
 * adopt the leader's check state (`restoreCheck`), and ignore results of an older term. When the
 * store is unreachable (the lease lost, the watch ended, a read failed) the member checks on its
 * own and says so (`fallback`), retries every `retry` ms, and on its return loads the state again
 * (`recovered`). Passive failures stay local, as in nginx. No nginx source: nginx has no shared
 * state between machines.
 */

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { EventEmitter } from 'eventemitter3';
import type { Balancer, ServerPatch } from '../balancer';
import { sameCheckState, serversOf } from '../cluster/state';
import { InvalidOptionError, UpstreamError, show } from '../errors';
import type { CheckOptions, ServerOptions } from '../options';
import type { Server } from '../server';
import { MAX_TXN_OPS, type ServerWrite, addWrite, operationsOf, removeWrite, replaceWrite, updateWrite, withoutUnchanged } from './admin';
import { FleetChecker, type FleetCheckerEnv } from './role';
import { type DesiredServer, FleetError, type FleetBatch, type FleetLease, type FleetSnapshot, type FleetStore, type FleetWatch, type Leadership, type Verdict, orderedServers } from './store';

/** Where the member stands: `leader` (checks and publishes), `follower` (applies), `standalone` (the store is unreachable: checks on its own). */
export type FleetRole = 'joining' | 'leader' | 'follower' | 'standalone' | 'closed';

export interface FleetEvents {
  /** The member's role changed; `leader` is who holds the checker role as far as it knows. */
  role: [role: FleetRole, leader: Leadership | null];
  /** The store became unreachable: the member checks on its own until it returns. */
  fallback: [error: unknown];
  /** The store is back: the state was loaded again and the member rejoined the election. */
  recovered: [];
  /** The member's balancer reached this store revision. */
  applied: [revision: number];
  /** Something of the store could not be applied (a malformed key, a list the balancer refused, a failed publish). */
  error: [error: unknown];
}

export interface FleetOptions extends FleetCheckerEnv {
  /** The fleet store (e.g. `etcdStore(client, { upstream })`). */
  store: FleetStore;
  /** The active checks the leader runs: the balancer's own `check` options. Never `start()` the balancer's checks yourself. */
  check: CheckOptions;
  /** The lease TTL in seconds (default 5): a dead leader is replaced within it plus one check interval. */
  ttl?: number;
  /** ms between attempts to reach the store while it is unreachable (default 1000). */
  retry?: number;
  /** This member's name in the election (default `<hostname>/<pid>/<random>`). */
  name?: string;
  /** Write the balancer's servers as the desired state when the store has none (default true). */
  seed?: boolean;
}

type Waiter = { revision: number; resolve: () => void; reject: (e: unknown) => void };

export class FleetMember extends EventEmitter<FleetEvents> {
  readonly name: string;
  /** Settles once the member has a role: joined the fleet, or checking on its own when the store is unreachable. */
  readonly ready: Promise<void>;
  readonly #balancer: Balancer;
  readonly #store: FleetStore;
  readonly #checker: FleetChecker;
  readonly #ttl: number;
  readonly #retry: number;
  readonly #seed: boolean;
  readonly #timers: Pick<NonNullable<FleetOptions['timers']>, 'setTimeout' | 'clearTimeout'>;
  readonly #desired = new Map<string, DesiredServer>();
  #role: FleetRole = 'joining';
  #leader: Leadership | null = null;
  #term = 0;
  #applied = 0;
  #gen = 0;
  #lease: FleetLease | null = null;
  #watch: FleetWatch | null = null;
  #retryTimer: unknown;
  #campaigning: Promise<void> | null = null;
  #campaignAgain = false;
  #publishing: Promise<void> = Promise.resolve();
  #waiters: Waiter[] = [];
  /** Results of an older term than the leader's, dropped. */
  staleVerdicts = 0;

  constructor(balancer: Balancer, options: FleetOptions) {
    super();
    const { store, check, ttl = 5, retry = 1000, name = `${hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`, seed = true } = options ?? ({} as FleetOptions);
    if (typeof store !== 'object' || store === null || typeof store.watch !== 'function') throw new InvalidOptionError('store', `Expected \`store\` to be a fleet store (etcdStore(...)), got \`${show(store)}\``, store);
    if (typeof check !== 'object' || check === null) throw new InvalidOptionError('check', `Expected \`check\` to be the balancer's check options, got \`${show(check)}\``, check);
    if (!Number.isSafeInteger(ttl) || ttl < 1) throw new InvalidOptionError('ttl', `Expected \`ttl\` to be a positive integer (seconds), got \`${show(ttl)}\``, ttl);
    if (!Number.isSafeInteger(retry) || retry < 1) throw new InvalidOptionError('retry', `Expected \`retry\` to be a positive integer (ms), got \`${show(retry)}\``, retry);
    if (typeof name !== 'string' || name.length === 0) throw new InvalidOptionError('name', `Expected \`name\` to be a non-empty string, got \`${show(name)}\``, name);
    this.#balancer = balancer;
    this.#store = store;
    this.#ttl = ttl;
    this.#retry = retry;
    this.#seed = seed !== false;
    this.name = name;
    this.#timers = options.timers ?? { setTimeout: (fn, ms) => setTimeout(fn, ms).unref(), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
    this.#checker = new FleetChecker(balancer, check, options, (id, ok, reason, ms, state) => this.#publish({ id, term: this.#term, ok, reason, ms, state }));
    this.ready = this.#connect();
  }

  get role(): FleetRole {
    return this.#role;
  }

  /** Who holds the checker role, as far as this member knows. */
  get leader(): Leadership | null {
    return this.#leader;
  }

  /** The store revision the balancer has reached. */
  get revision(): number {
    return this.#applied;
  }

  /** Whether this member's checker is running (leader, or standalone). */
  get checking(): boolean {
    return this.#checker.running;
  }

  /** The desired servers in configuration order, as the store holds them. */
  desired(): DesiredServer[] {
    return orderedServers(this.#desired.values());
  }

  /** `balancer.update(id, patch)` on every member: resolves once this member applied it. */
  async update(id: string, patch: ServerPatch): Promise<Server> {
    await this.#write(updateWrite(this.#desired, id, patch));
    return this.#balancer.get(id)!;
  }

  async add(server: ServerOptions): Promise<Server> {
    const write = addWrite(this.#desired, server);
    await this.#write(write);
    return this.#balancer.get(write.put[0]!.server.id)!;
  }

  async remove(id: string): Promise<void> {
    await this.#write(removeWrite(this.#desired, id));
  }

  async setServers(list: ServerOptions[]): Promise<void> {
    await this.#write(withoutUnchanged(this.#desired, replaceWrite(this.#desired, list)));
  }

  /** Leaves the fleet: stops checking, resigns the checker role, revokes the lease. The balancer and the store stay open. */
  async close(): Promise<void> {
    if (this.#role === 'closed') return;
    const leader = this.#role === 'leader' ? this.#leader : null;
    this.#gen += 1;
    this.#setRole('closed');
    this.#timers.clearTimeout(this.#retryTimer);
    this.#rejectWaiters(new UpstreamError('ERR_UPSTREAM_CLOSED', `The fleet member ${show(this.name)} is closed`));
    const stopping = this.#checker.stop();
    await this.#publishing;
    const [watch, lease] = [this.#watch, this.#lease];
    this.#watch = this.#lease = null;
    await Promise.allSettled([stopping, watch?.close(), leader === null ? undefined : this.#store.resign(leader)]);
    await lease?.revoke().catch(() => {});
  }

  async #write(write: ServerWrite): Promise<void> {
    if (this.#role === 'closed') throw new UpstreamError('ERR_UPSTREAM_CLOSED', `The fleet member ${show(this.name)} is closed`);
    if (this.#role === 'standalone' || this.#role === 'joining') throw new FleetError(`The fleet store is unreachable: member ${show(this.name)} cannot write admin changes`);
    if (write.put.length === 0 && write.remove.length === 0) return;
    if (operationsOf(write) > MAX_TXN_OPS) throw new FleetError(`The change takes ${operationsOf(write)} operations; one etcd transaction takes at most ${MAX_TXN_OPS}`, operationsOf(write));
    const revision = await this.#store.writeServers(write.put, write.remove);
    if (this.#applied >= revision) return;
    await new Promise<void>((resolve, reject) => this.#waiters.push({ revision, resolve, reject }));
  }

  async #connect(): Promise<void> {
    const gen = ++this.#gen;
    try {
      const lease = await this.#store.grantLease(this.#ttl, (error) => this.#lost(gen, error));
      if (gen !== this.#gen) return void lease.revoke().catch(() => {});
      this.#lease = lease;
      let snapshot = await this.#store.load();
      if (snapshot.servers.length === 0 && this.#seed && (await this.#store.seed(serversOf(this.#balancer).map((s, order) => ({ order, server: s.server }))))) snapshot = await this.#store.load();
      if (gen !== this.#gen) return;
      this.#reset(snapshot);
      const watch = await this.#store.watch(snapshot.revision, { batch: (b) => this.#onBatch(gen, b), error: (e) => this.#lost(gen, e) });
      if (gen !== this.#gen) return void watch.close();
      this.#watch = watch;
      const wasStandalone = this.#role === 'standalone';
      await this.#campaign(gen);
      if (wasStandalone && gen === this.#gen) this.emit('recovered');
    } catch (error) {
      this.#lost(gen, error);
    }
  }

  /** The store failed: check on our own, and try again every `retry` ms. */
  #lost(gen: number, error: unknown): void {
    if (gen !== this.#gen || this.#role === 'closed') return;
    this.#gen += 1;
    const [watch, lease] = [this.#watch, this.#lease];
    this.#watch = this.#lease = null;
    void watch?.close().catch(() => {});
    void lease?.revoke().catch(() => {});
    this.#rejectWaiters(new FleetError('The fleet store became unreachable before the change was applied', undefined, { cause: error }));
    this.#checker.run();
    if (this.#role !== 'standalone') {
      this.#leader = null;
      this.#setRole('standalone');
      this.emit('fallback', error);
    }
    this.#retryTimer = this.#timers.setTimeout(() => void this.#connect(), this.#retry);
  }

  /** Applies a loaded state: the desired list, the verdicts of the current term, the leader. */
  #reset(s: FleetSnapshot): void {
    for (const key of s.malformed) this.emit('error', new FleetError(`Malformed value at ${show(key)} in the fleet store`, key));
    this.#desired.clear();
    for (const d of s.servers) this.#desired.set(d.server.id, d);
    this.#applyDesired();
    this.#leader = s.leader;
    const term = Math.max(this.#term, s.leader?.term ?? 0);
    for (const v of s.verdicts) if (v.term >= (s.leader?.term ?? 0)) this.#adopt(v);
    this.#term = term;
    this.#reached(s.revision);
  }

  #onBatch(gen: number, b: FleetBatch): void {
    if (gen !== this.#gen || b.revision <= this.#applied) return; // a revision is applied once
    for (const key of b.malformed) this.emit('error', new FleetError(`Malformed value at ${show(key)} in the fleet store`, key));
    for (const { id, desired } of b.servers) {
      if (desired === null) this.#desired.delete(id);
      else this.#desired.set(id, desired);
    }
    if (b.servers.length > 0) this.#applyDesired();
    if (b.leader !== undefined) this.#leaderChanged(gen, b.leader);
    for (const v of b.verdicts) this.#verdict(v);
    this.#reached(b.revision);
  }

  #applyDesired(): void {
    if (this.#desired.size === 0) return;
    try {
      this.#balancer.setServers(orderedServers(this.#desired.values()).map((d) => d.server));
    } catch (error) {
      this.emit('error', error);
    }
    this.#checker.sync();
  }

  #leaderChanged(gen: number, leader: Leadership | null): void {
    this.#leader = leader;
    if (leader === null) {
      void this.#campaign(gen);
      return;
    }
    this.#term = Math.max(this.#term, leader.term);
    if (leader.lease !== this.#lease?.id) {
      if (this.#role === 'leader') void this.#checker.stop();
      this.#setRole('follower');
    }
  }

  /** A published result: applied unless it is ours or of an older term. */
  #verdict(v: Verdict): void {
    if (this.#role === 'leader' && v.term === this.#term) return;
    if (v.term < this.#term) {
      this.staleVerdicts += 1;
      return;
    }
    this.#term = v.term;
    if (this.#balancer.get(v.id) === undefined) return;
    try {
      this.#balancer.reportCheck(v.id, v.ok, v.reason, v.ms);
      this.#adopt(v);
    } catch (error) {
      this.emit('error', error);
    }
  }

  /** Sets the leader's check state on the server when ours differs. */
  #adopt(v: Verdict): void {
    const server = this.#balancer.get(v.id);
    if (server === undefined || v.state === null || sameCheckState(server, v.state)) return;
    try {
      this.#balancer.restoreCheck(v.id, v.state);
    } catch (error) {
      this.emit('error', error);
    }
  }

  async #campaign(gen: number): Promise<void> {
    if (this.#campaigning !== null) {
      this.#campaignAgain = true;
      return this.#campaigning;
    }
    this.#campaigning = (async () => {
      do {
        this.#campaignAgain = false;
        const lease = this.#lease;
        if (lease === null || gen !== this.#gen) return;
        const leader = await this.#store.campaign(lease, this.name);
        if (gen !== this.#gen) return;
        this.#leader = leader;
        this.#term = Math.max(this.#term, leader.term);
        if (leader.lease === lease.id) {
          this.#checker.run();
          this.#setRole('leader');
        } else {
          void this.#checker.stop();
          this.#setRole('follower');
        }
      } while (this.#campaignAgain);
    })()
      .catch((error: unknown) => this.#lost(gen, error))
      .finally(() => {
        this.#campaigning = null;
      });
    return this.#campaigning;
  }

  /** The leader's result goes to the store, in order, while it still holds the key. */
  #publish(verdict: Verdict): void {
    const leader = this.#leader;
    const gen = this.#gen;
    if (this.#role !== 'leader' || leader === null) return;
    this.#publishing = this.#publishing.then(async () => {
      if (gen !== this.#gen) return;
      try {
        if (!(await this.#store.publish(leader, verdict)) && gen === this.#gen && this.#leader === leader) {
          // the key is no longer ours (our lease expired): stop checking, campaign again
          void this.#checker.stop();
          this.#setRole('follower');
          void this.#campaign(gen);
        }
      } catch (error) {
        this.emit('error', error);
      }
    });
  }

  #reached(revision: number): void {
    this.#applied = Math.max(this.#applied, revision);
    const due = this.#waiters.filter((w) => w.revision <= this.#applied);
    this.#waiters = this.#waiters.filter((w) => w.revision > this.#applied);
    for (const w of due) w.resolve();
    this.emit('applied', this.#applied);
  }

  #rejectWaiters(error: unknown): void {
    for (const w of this.#waiters.splice(0)) w.reject(error);
  }

  #setRole(role: FleetRole): void {
    if (this.#role === role) return;
    this.#role = role;
    this.emit('role', role, this.#leader);
  }
}

/**
 * Attaches `balancer` to a fleet: one upstream's desired servers and admin state shared through
 * the store, and one elected checker across the fleet. Build the balancer with the same `check`
 * options and do not `start()` it; make admin changes through the returned member.
 *
 * @example
 * import { Etcd3 } from 'etcd3';
 * import { etcdStore, joinFleet } from 'upstream-balancer/etcd';
 * const check = { interval: 5000, rise: 2, fall: 3, timeout: 2000, type: 'smtp' } as const;
 * const balancer = new Balancer({ name: 'smtp', servers, check });
 * const fleet = joinFleet(balancer, { store: etcdStore(new Etcd3({ hosts }), { upstream: 'smtp' }), check });
 * await fleet.ready;
 * await fleet.update('mx2', { down: true });   // every member takes mx2 out, and keeps it out across restarts
 */
export function joinFleet(balancer: Balancer, options: FleetOptions): FleetMember {
  return new FleetMember(balancer, options);
}
