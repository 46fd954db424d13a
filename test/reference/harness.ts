/**
 * Lock-step harness for the property and differential tests: one Balancer and one reference model
 * (./nginx-rr.ts) built from the same servers, driven by the same operations with the same `now`,
 * and compared after every operation (picked ids, per-server fails / conns / effective and current
 * weight / state, attempts' tries and phase).
 *
 * Events are compared too. The harness derives the expected `state` events (a server's state against
 * its last committed one, at the calls where the Balancer commits it, with the cause the call
 * implies: a failure, a success that cleared fails, update / setServers, a check result), `tier`
 * (the tier of the latest successful connection: a success or a connect), `exhausted` (once per transition into "nothing selected",
 * again after a selection) and `check` events, and checks them against what the Balancer emitted
 * during the same operation.
 *
 * accessed / checked are compared only while fails > 0: the Balancer's snapshot reports them as null
 * while fails is 0, because they have no effect then (a failure overwrites both before they are read
 * again: `ngx_http_upstream_free_round_robin_peer`, docs/nginx-semantics.md §2.3-2.4) and the Balancer
 * does not read the clock to maintain them. The reference keeps nginx's literal values.
 */

import type { Attempt } from '../../src/attempt';
import { Balancer } from '../../src/balancer';
import { ManualClock, seededRandom, wholeSeconds } from '../../src/clock';
import { isUpstreamError } from '../../src/errors';
import type { ServerOptions } from '../../src/options';
import { roundRobinStateOf, zoneReplaying } from '../../src/select/round-robin/index';
import { createZone, openZone } from '../../src/zone';
import type { Server, ServerRecord } from '../../src/server';
import { KNOWN_BUGS } from './known-bugs';
import { RefUpstream, type RefPeer, type RefRequest, type RefServerOptions, type RefState } from './nginx-rr';

export interface WorldConfig {
  servers: RefServerOptions[];
  /** proxy_next_upstream_tries. */
  tries: number;
  /** 'seconds': the Balancer's clock is wholeSeconds(manual); 'ms': the raw manual clock. */
  clock: 'seconds' | 'ms';
  /** Start time in ms. */
  start: number;
  /** Active checks configured (servers start check-down, pending). */
  check?: { rise: number; fall: number };
  /** Round-robin accelerator thresholds (the Balancer's `tuning` option). */
  tuning?: { lazyFromServers: number };
  /** The nginx series both sides follow (the Balancer's `nginx` option); default '1.30'. */
  nginx?: '1.30' | '1.22';
  /**
   * Run the Balancer side as this many balancers over one upstream zone (src/zone/), each operation
   * on one of them chosen by `zoneSeed`'s sequence: they must behave as the one balancer. `tier` and
   * `exhausted` events are per balancer (each thread's own serving tier) and are not compared then.
   */
  zone?: { balancers: number; seed: number };
}

/** The address both sides give server `id` (the reference hashes it into the session id itself). */
export const addressOf = (id: string): string => `10.1.${id.length}.${id.charCodeAt(0)}:${id}`;

export const toServerOptions = (s: RefServerOptions): ServerOptions => ({ ...s, address: addressOf(s.id) });

export class Mismatch extends Error {}

/** Operations a mismatch message shows (UB_DIFF_LOG for more). */
const LOG_LINES = Number(process.env.UB_DIFF_LOG ?? 40);

export class World {
  readonly manual: ManualClock;
  readonly now: () => number;
  readonly #balancers: Balancer[];
  readonly #chooser: (() => number) | null;
  /** The balancer of the next call (one of the zone's, when `config.zone`). */
  get b(): Balancer {
    const all = this.#balancers;
    return this.#chooser === null ? all[0]! : all[Math.floor(this.#chooser() * all.length)]!;
  }
  readonly ref: RefUpstream;
  held: { s: Server; p: RefPeer }[] = [];
  attempts: { a: Attempt; r: RefRequest }[] = [];
  log: string[] = [];
  steps = 0;
  /** What the script exercised (so a test can assert it was not degenerate). */
  stats = {
    served: 0, nolive: 0, backupServed: 0, zoneReplayed: 0, failures: 0, recoveries: 0, probes: 0, replayed: 0, timedReplay: 0, lazy: 0, branchFree: 0, fresh: 0,
    /** Gets with a hint; of them, gets that returned the hinted server, a draining one, one from the backup tier. */
    hintAsked: 0, hinted: 0, hintedDrain: 0, hintedBackup: 0,
  };
  #nextId = 0;
  /** Events the Balancer emitted / the harness expects, during the current operation. */
  events: string[] = [];
  expected: string[] = [];
  #tier: 'primary' | 'backup' = 'primary';
  #exhausted = false;
  /** Each server's state as of the last `state` event the Balancer should have emitted for it. */
  #committed = new Map<RefPeer, RefState>();

  constructor(readonly config: WorldConfig) {
    this.manual = new ManualClock(config.start);
    this.now = config.clock === 'seconds' ? wholeSeconds(this.manual.now) : this.manual.now;
    const options = {
      name: 'diff',
      ...(config.nginx ? { nginx: config.nginx } : {}),
      servers: config.servers.map(toServerOptions),
      tries: config.tries,
      clock: this.now,
      ...(config.check ? { check: { rise: config.check.rise, fall: config.check.fall } } : {}),
      ...(config.tuning ? { tuning: config.tuning } : {}),
    };
    if (config.zone === undefined) {
      this.#balancers = [new Balancer(options)];
      this.#chooser = null;
    } else {
      const zone = createZone(options, { capacity: 128 });
      this.#balancers = Array.from({ length: config.zone.balancers }, () => openZone(Balancer, zone, { clock: this.now }));
      this.#chooser = seededRandom(config.zone.seed);
    }
    this.ref = new RefUpstream(config.servers.map((s) => ({ ...s, address: addressOf(s.id) })), {
      tries: config.tries,
      ...(config.nginx ? { nginx: config.nginx } : {}),
      ...(config.check ? { checkDefaultDown: true, rise: config.check.rise, fall: config.check.fall } : {}),
    });
    for (const p of this.ref.peers) this.#committed.set(p, p.state);
    this.#nextId = config.servers.length;
    for (const b of this.#balancers) {
      b.on('state', (sv, from, to, cause) => this.events.push(`state ${sv.id} ${from}->${to} ${cause}`));
      b.on('tier', (from, to) => this.events.push(`tier ${from}->${to}`));
      b.on('exhausted', (reason, name) => this.events.push(`exhausted ${reason} ${name}`));
      b.on('check', (sv, ok) => this.events.push(`check ${sv.id} ${ok}`));
    }
  }

  // ----------------------------------------------------------------------------------------------
  // Expected events

  /**
   * Runs a reference call, then expects a `state` event for each of `commit` (the servers the
   * Balancer commits for that call) whose state differs from its last committed one. Servers new to
   * the upstream are registered without an event.
   */
  #expectTransitions(cause: string, commit: () => RefPeer[], f: () => void): void {
    f();
    for (const p of commit()) {
      const from = this.#committed.get(p);
      if (from !== undefined && from !== p.state) this.expected.push(`state ${p.id} ${from}->${p.state} ${cause}`);
      this.#committed.set(p, p.state);
    }
    for (const p of this.ref.peers) if (!this.#committed.has(p)) this.#committed.set(p, p.state);
  }

  /** The outcome of a reference get: `exhausted` on a transition. */
  #expectSelection(p: RefPeer | null, reason: 'no-live-upstreams' | 'tries'): void {
    if (p === null) {
      if (!this.#exhausted) this.expected.push(`exhausted ${reason} diff`);
      this.#exhausted = true;
      return;
    }
    this.#exhausted = false;
  }

  #nextRef(r: RefRequest): RefPeer | null {
    const p = this.ref.next(r, this.now());
    this.#expectSelection(p, r.ended === 'tries' ? 'tries' : 'no-live-upstreams');
    return p;
  }

  /** Compares the events of the last operation, then forgets them. */
  #compareEvents(): void {
    const perBalancer = (e: string): boolean => this.config.zone === undefined || !(e.startsWith('tier ') || e.startsWith('exhausted '));
    const got = this.events.filter(perBalancer).join(' | ');
    const want = this.expected.filter(perBalancer).join(' | ');
    this.events.length = 0;
    this.expected.length = 0;
    if (got !== want) this.fail(`events: balancer [${got}], expected [${want}]`);
  }

  #note(s: string): void {
    this.steps++;
    this.log.push(s);
    if (this.log.length > LOG_LINES) this.log.shift();
  }

  fail(message: string): never {
    throw new Mismatch(`${message}\nconfig: ${JSON.stringify(this.config)}\nlast operations:\n  ${this.log.join('\n  ')}`);
  }

  #sameId(what: string, got: Server | undefined, want: RefPeer | null): void {
    const g = got === undefined ? null : got.id;
    const w = want === null ? null : want.id;
    if (g !== w) this.fail(`${what}: balancer ${g}, reference ${w}`);
    if (want === null) {
      this.stats.nolive++;
    } else {
      this.stats.served++;
      if (want.backup) this.stats.backupServed++;
      // a pick of a server at fails >= maxFails is a probe (its window had elapsed)
      if (want.maxFails > 0 && want.fails >= want.maxFails) this.stats.probes++;
    }
  }

  // ----------------------------------------------------------------------------------------------
  // Operations

  pick(): string | null {
    this.#note('pick');
    // Introspection for the stats only: was the primary tier replaying its steady-state period?
    const primary = this.b.servers.find((x) => !x.backup) as ServerRecord | undefined;
    const rr = primary === undefined ? null : roundRobinStateOf(primary);
    const replaying = rr !== null && rr.replay.replaying;
    if (rr?.lazy?.active === true) this.stats.lazy++;
    // ... running a fresh round with the branch-free maximum (an unsettled small tier)
    else if (rr !== null && !replaying && rr.rounds < rr.branchFreeUntil) this.stats.branchFree++;
    // ... through round robin's shortcut (select/round-robin/fresh-round.ts: 2+ servers, no limits)
    if (rr !== null && !replaying && rr.tier.n >= 2 && rr.tier.limited === 0) this.stats.fresh++;
    if (replaying) this.stats.replayed++;
    if (primary !== undefined && zoneReplaying(primary)) this.stats.zoneReplayed++;
    // ... with a server kept out by its passive window (the replay compares the clock to its end)
    if (replaying && rr.replay.validUntil !== Infinity) this.stats.timedReplay++;
    const s = this.b.pick();
    const p = this.ref.pick(this.now());
    this.#expectSelection(p, 'no-live-upstreams');
    this.#sameId('pick', s, p);
    if (s !== undefined && p !== null) this.held.push({ s, p });
    return s?.id ?? null;
  }

  release(k: number, failed: boolean): void {
    if (this.held.length === 0) return;
    const [h] = this.held.splice(k % this.held.length, 1);
    this.#note(`release ${h!.s.id}${failed ? ' failed' : ''}`);
    // (a server is released through the balancer that picked it: in a zone each thread frees its own)
    ((h!.s as ServerRecord).owner as Balancer).release(h!.s, failed);
    this.#free(h!.p, () => this.ref.release(h!.p, failed, this.now()), failed);
  }

  /** Opens an attempt, with a session id as its hint when `hint` is not null. */
  open(hint: string | null = null): void {
    this.#note(`open #${this.attempts.length}${hint === null ? '' : ` hint ${hint}`}`);
    this.attempts.push({ a: this.#attempt(hint), r: this.ref.request(hint) });
  }

  #attempt(hint: string | null): Attempt {
    return hint === null ? this.b.attempt() : this.b.attempt(undefined, { hint });
  }

  /** After a next(): the session id and the hinted flag agree (and the stats count hints). */
  #sameSession(what: string, a: Attempt, r: RefRequest, p: RefPeer | null): void {
    const want = p === null ? undefined : p.sid;
    if (a.sid !== want) this.fail(`${what} sid: balancer ${a.sid}, reference ${want}`);
    const hinted = p !== null && r.hinted;
    if (a.hinted !== hinted) this.fail(`${what} hinted: balancer ${a.hinted}, reference ${hinted}`);
    if (r.hint === null) return;
    this.stats.hintAsked++;
    if (!hinted) return;
    this.stats.hinted++;
    if (p.drain) this.stats.hintedDrain++;
    if (p.backup) this.stats.hintedBackup++;
  }

  /** Steps attempt k: next() if nothing is current, else frees the current server. */
  step(k: number, outcome: 'fail' | 'release' | 'skip' | 'connected-release' | 'connected-fail' | 'connected-skip'): void {
    if (this.attempts.length === 0) return;
    const i = k % this.attempts.length;
    const { a, r } = this.attempts[i]!;
    if (a.current === undefined) {
      this.#note(`next #${i}`);
      const s = a.next();
      const p = this.#nextRef(r);
      this.#sameId(`attempt #${i} next`, s, p);
      this.#sameSession(`attempt #${i} next`, a, r, p);
      if (s === undefined) this.attempts.splice(i, 1);
    } else {
      this.#note(`${outcome} #${i} (${a.current.id})`);
      const p = r.current!;
      if (outcome.startsWith('connected')) {
        a.connected();
        this.#free(p, () => this.ref.connected(r), false);
      }
      const failed = outcome.endsWith('fail');
      const skip = outcome.endsWith('skip');
      if (failed) a.fail();
      else if (skip) a.skip();
      else a.release();
      this.#free(p, () => this.ref.finish(r, failed, this.now(), skip), failed);
      if (a.finished !== (r.phase === 'finished')) this.fail(`attempt #${i} finished: balancer ${a.finished}, reference ${r.phase}`);
      if (a.finished) this.attempts.splice(i, 1);
    }
  }

  /** A whole request: next until a server that is not in `dead` answers. Returns nginx notation. */
  request(dead: ReadonlySet<string>, connect: boolean, hint: string | null = null): string {
    this.#note(hint === null ? 'request' : `request hint ${hint}`);
    const a = this.#attempt(hint);
    const r = this.ref.request(hint);
    const steps: string[] = [];
    for (;;) {
      const s = a.next();
      const p = this.#nextRef(r);
      this.#sameId('request next', s, p);
      this.#sameSession('request next', a, r, p);
      if (s === undefined) break;
      if (dead.has(s.id)) {
        steps.push(`${s.id}!`);
        a.fail();
        this.#free(p!, () => this.ref.finish(r, true, this.now()), true);
      } else {
        if (connect) {
          a.connected();
          this.#free(p!, () => this.ref.connected(r), false);
        }
        a.release();
        this.#free(p!, () => this.ref.finish(r, false, this.now()), false);
        steps.push(s.id);
        return steps.join(',');
      }
      if (a.tries !== r.tries) this.fail(`request tries: balancer ${a.tries}, reference ${r.tries}`);
    }
    return steps.length === 0 ? 'NOLIVE' : `${steps.join(',')}=>502`;
  }

  /**
   * Runs a reference free / connect of `p`, expects its events and counts failures and recoveries.
   * The Balancer commits a server's state at a failure, and at a success that cleared its fails.
   */
  #free(p: RefPeer, f: () => void, failed: boolean): void {
    const before = p.fails;
    // single mode zeroes fails whatever the outcome: a state change there is a recovery
    const single = !p.removed && !p.backup && this.ref.isSingle();
    const commits = (): RefPeer[] => {
      if (p.removed) return [];
      if (single) return KNOWN_BUGS.singleModeFreeEmitsNoState ? [] : [p];
      return failed || (before > 0 && p.fails === 0) ? [p] : [];
    };
    this.#expectTransitions(failed && !single ? 'failure' : 'recovery', commits, f);
    // `tier` reports the tier of the latest successful connection (a success or a connect)
    if (!failed && !p.removed) {
      const tier = p.backup ? 'backup' : 'primary';
      if (tier !== this.#tier) this.expected.push(`tier ${this.#tier}->${tier}`);
      this.#tier = tier;
    }
    if (failed) this.stats.failures++;
    else if (before > 0 && p.fails === 0) this.stats.recoveries++;
  }

  advance(ms: number): void {
    this.#note(`advance ${ms}`);
    this.manual.advance(ms);
  }

  check(k: number, ok: boolean): void {
    const ids = this.ref.peers.map((p) => p.id);
    const id = ids[k % ids.length]!;
    this.#note(`check ${id} ${ok}`);
    this.b.reportCheck(id, ok);
    this.expected.push(`check ${id} ${ok}`);
    this.#expectTransitions('check', () => [this.ref.get(id)!], () => this.ref.check(id, ok));
  }

  add(s: Omit<RefServerOptions, 'id'>): string {
    const id = `S${this.#nextId++}`;
    this.#note(`add ${id} ${JSON.stringify(s)}`);
    this.b.add(toServerOptions({ ...s, id }));
    const p = this.ref.add({ ...s, id, address: addressOf(id) });
    this.#committed.set(p, p.state);
    return id;
  }

  #both(what: string, fb: () => void, fr: () => void): void {
    let eb: unknown = null;
    let er: unknown = null;
    try {
      fb();
    } catch (e) {
      eb = e;
    }
    try {
      fr();
    } catch (e) {
      er = e;
    }
    if ((eb === null) !== (er === null)) this.fail(`${what}: balancer threw ${String(eb)}, reference threw ${String(er)}`);
    if (eb !== null && !(isUpstreamError(eb) && eb.code === 'ERR_UPSTREAM_NO_SERVERS')) this.fail(`${what}: unexpected error ${String(eb)}`);
  }

  remove(k: number): void {
    const id = this.ref.peers[k % this.ref.peers.length]!.id;
    this.#note(`remove ${id}`);
    this.#both(`remove ${id}`, () => this.b.remove(id), () => this.ref.remove(id));
  }

  update(k: number, patch: Omit<Partial<RefServerOptions>, 'id'>): void {
    const id = this.ref.peers[k % this.ref.peers.length]!.id;
    this.#note(`update ${id} ${JSON.stringify(patch)}`);
    this.#both(`update ${id}`, () => this.b.update(id, patch), () => this.#expectTransitions('admin', () => [this.ref.get(id)!], () => this.ref.update(id, patch)));
  }

  /** Replaces the list: keeps the servers selected by `keep` (in a rotated order), adds `fresh`. */
  setServers(keep: boolean[], rotate: number, fresh: Omit<RefServerOptions, 'id'>[]): void {
    const current = this.ref.peers.map((p) => p.options());
    const kept = current.filter((_, i) => keep[i % keep.length]);
    const r = kept.length === 0 ? 0 : rotate % kept.length;
    const list = [...kept.slice(r), ...kept.slice(0, r), ...fresh.map((s) => ({ ...s, id: `S${this.#nextId}`, address: addressOf(`S${this.#nextId++}`) }))];
    this.#note(`setServers ${JSON.stringify(list)}`);
    this.#both('setServers', () => this.b.setServers(list.map(toServerOptions)), () => {
      const before = new Set(this.ref.peers);
      this.#expectTransitions('admin', () => this.ref.peers.filter((p) => before.has(p)), () => this.ref.setServers(list));
    });
  }

  // ----------------------------------------------------------------------------------------------
  // Comparison

  /** Compares every server's state (cheap: live views) and, with `deep`, accessed/checked too. */
  compare(deep: boolean): void {
    this.#compareEvents();
    const bs = this.b.servers;
    const rs = this.ref.peers;
    if (bs.length !== rs.length) this.fail(`server count: balancer ${bs.length}, reference ${rs.length}`);
    for (let i = 0; i < rs.length; i++) {
      const s = bs[i]!;
      const p = rs[i]!;
      if (
        s.id !== p.id || s.fails !== p.fails || s.conns !== p.conns || s.effectiveWeight !== p.effectiveWeight ||
        s.currentWeight !== p.currentWeight || s.state !== p.state || s.weight !== p.weight || s.backup !== p.backup
      ) {
        this.fail(
          `server ${i}: balancer ${JSON.stringify({ id: s.id, fails: s.fails, conns: s.conns, eff: s.effectiveWeight, cur: s.currentWeight, state: s.state, weight: s.weight, backup: s.backup })}` +
            ` reference ${JSON.stringify({ id: p.id, fails: p.fails, conns: p.conns, eff: p.effectiveWeight, cur: p.currentWeight, state: p.state, weight: p.weight, backup: p.backup })}`,
        );
      }
    }
    for (const { s, p } of this.held) {
      if (s.conns !== p.conns) this.fail(`held ${s.id} conns: balancer ${s.conns}, reference ${p.conns}`);
    }
    for (const { a, r } of this.attempts) {
      if (a.tries !== r.tries) this.fail(`attempt tries: balancer ${a.tries}, reference ${r.tries}`);
    }
    if (!deep) return;
    const snap = this.b.snapshot().servers;
    for (let i = 0; i < rs.length; i++) {
      const x = snap[i]!;
      const p = rs[i]!;
      if (x.id !== p.id || x.fails !== p.fails || x.conns !== p.conns || x.effectiveWeight !== p.effectiveWeight || x.currentWeight !== p.currentWeight || x.state !== p.state) {
        this.fail(`snapshot of ${p.id}: ${JSON.stringify(x)} vs reference fails ${p.fails} conns ${p.conns} eff ${p.effectiveWeight} cur ${p.currentWeight} ${p.state}`);
      }
      if (x.sid !== p.sid || x.route !== (p.route ?? null) || x.drain !== p.drain) {
        this.fail(`snapshot of ${p.id}: sid ${x.sid} route ${x.route} drain ${x.drain} vs reference ${p.sid} ${p.route} ${p.drain}`);
      }
      if (p.fails > 0) {
        if (x.accessed !== p.accessed || x.checked !== p.checked) {
          this.fail(`server ${p.id} accessed/checked: balancer ${x.accessed}/${x.checked}, reference ${p.accessed}/${p.checked}`);
        }
      } else if (x.accessed !== null || x.checked !== null) {
        this.fail(`server ${p.id}: snapshot accessed/checked should be null while fails is 0, got ${x.accessed}/${x.checked}`);
      }
    }
  }
}
