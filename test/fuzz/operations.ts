/**
 * Random operation sequences against a Balancer (issue 14, "random operation sequences against the
 * reference model"), in two parts.
 *
 * 1. Invariants, every method: attempt / next / connected / fail / release, pick / release(server),
 *    update (tier moves, down / up, drain, weights, limits, invalid patches), add (new ids and ids
 *    removed while their connections are open), remove, setServers, reportCheck, misuse (fail() with
 *    no current server, next() while one is current, a release twice, a foreign server), and a clock
 *    that jumps forward, steps back (a little and a long way), throws once, or returns NaN, a string
 *    or Infinity once. A ledger of the connections handed out and not yet freed, by server id, is
 *    kept beside the Balancer. Checked after every operation:
 *    - no exception but a typed error (`isUpstreamError`) or the clock's own exception;
 *    - `conns` of every server equals the ledger's count for its id, never negative (also after a
 *      server was removed and re-added by id with connections open, and after an operation threw);
 *    - a server with `maxConns` is never handed out while its id holds `maxConns` connections;
 *    - an attempt is never given the same server (id) twice (README: "never the same server twice");
 *    - every number in `snapshot()` is finite (a bad clock reading leaves no NaN behind), and
 *      `formatStatus` renders it;
 *    - attempt `tries` never negative;
 *    - liveness: after everything is released and the clock moves forward by more than the longest
 *      fail_timeout, a pick succeeds whenever some server is neither down, draining, check-down nor
 *      full — also after the clock stepped back.
 * 2. Lock step with the reference model (test/reference/harness.ts `World`, round robin): random
 *    scripts with attempts held open across updates, adds, removes and setServers; picks, state,
 *    tries and events must agree.
 * 3. Growth: a churn loop (no ledger: the library's cost alone) over 4k operations costs under 8x
 *    k operations, and the heap after a second stretch of churn is within 8 MB of the first.
 *
 * A known open problem (known.ts) ends the current balancer (its state is off from then on) and the
 * run continues with the next one; anything else throws `FuzzFailure` with the balancer's seed.
 * `runOne(seed, ops)` repeats one balancer's script.
 */

import type { Attempt } from '../../src/attempt';
import { Balancer } from '../../src/balancer';
import { wholeSeconds } from '../../src/clock';
import { isUpstreamError } from '../../src/errors';
import type { BalancerOptions, Method, ServerOptions } from '../../src/options';
import type { Server } from '../../src/server';
import { formatStatus } from '../../src/status';
import { Mismatch, World, type WorldConfig } from '../reference/harness';
import type { RefServerOptions } from '../reference/nginx-rr';
import { type Budget, doublingCheck, FuzzFailure, heapAfterGc, MB, onFaults, Recorder, Rng, type Summary } from './common';

/** Thrown inside a script to end the current balancer after a known problem was recorded. */
class EndWorld extends Error {}

/** The clock's own exception (allowed to surface; never anything else). */
class ClockError extends Error {}

const FAIL_TIMEOUTS = [0, 250, 1000, 3000, 10_000];

interface MethodChoice {
  method: Method;
  extra: Partial<BalancerOptions>;
  label: string;
}

const METHOD_CHOICES: MethodChoice[] = [
  { method: 'round-robin', extra: {}, label: 'round-robin' },
  { method: 'least-conn', extra: {}, label: 'least-conn' },
  { method: 'hash', extra: {}, label: 'hash' },
  { method: 'hash', extra: { hash: { consistent: true } }, label: 'hash-consistent' },
  { method: 'ip-hash', extra: {}, label: 'ip-hash' },
  { method: 'random', extra: {}, label: 'random' },
  { method: 'random', extra: { randomTwo: true }, label: 'random-two' },
  { method: 'random', extra: { randomTwo: true, randomLeastConn: true }, label: 'random-two-least-conn' },
];

const BACKUP_METHODS = new Set<Method>(['round-robin', 'least-conn']);

interface Handle {
  id: string;
  s: Server;
  /** The attempt that holds it, or null for a one-shot pick. */
  ar: AttemptRec | null;
  freed: boolean;
}

interface AttemptRec {
  a: Attempt;
  /** Serial number, for the log. */
  n: number;
  /** Ids handed to this attempt, with the record and tier they had then. */
  handed: Map<string, { s: Server; backup: boolean; membership: number }>;
  current: Handle | null;
}

/** The clock a script drives: normal readings, or one bad reading mode for the next operation. */
class FuzzClock {
  t: number;
  mode: 'ok' | 'throw' | 'nan' | 'string' | 'inf' = 'ok';
  /** Readings that were not finite numbers, as the Balancer received them. */
  badReads = 0;
  threw = 0;
  /** Largest step back so far (ms), for reports. */
  back = 0;
  readonly raw: () => number;
  constructor(start: number) {
    this.t = start;
    this.raw = () => {
      switch (this.mode) {
        case 'throw':
          this.threw++;
          throw new ClockError('clock failure (fuzz)');
        case 'nan':
          return NaN;
        case 'string':
          return 'soon' as unknown as number;
        case 'inf':
          return Infinity;
        default:
          return this.t;
      }
    };
  }
}

/** One balancer under a random script, with its ledger. */
class Script {
  readonly rng: Rng;
  readonly clock: FuzzClock;
  readonly b: Balancer;
  readonly choice: MethodChoice;
  readonly checks: boolean;
  readonly log: string[] = [];
  handles: Handle[] = [];
  attempts: AttemptRec[] = [];
  /** Ids removed (with the record they had), for re-adds. */
  removed = new Map<string, Server>();
  /** Ids re-added while connections of their previous record were open. */
  readdedWithOpen = new Set<string>();
  /** Next fresh server id number. */
  nextId = 0;
  attemptSerial = 0;
  /** Successful add / remove / setServers / update calls so far. */
  membership = 0;
  ops = 0;
  typedErrors = 0;
  clockErrors = 0;
  events = 0;
  faults = 0;
  private foreign: Balancer;

  constructor(
    readonly seed: number,
    readonly rec: Recorder,
  ) {
    const rng = (this.rng = new Rng(seed));
    this.choice = rng.pick(METHOD_CHOICES);
    const backups = BACKUP_METHODS.has(this.choice.method) || rng.chance(0.3);
    const n = rng.chance(0.12) ? rng.range(33, 40) : rng.range(1, 7);
    const servers: ServerOptions[] = [];
    for (let i = 0; i < n; i++) servers.push(this.randomServer(`s${this.nextId++}`, backups && i > 0));
    this.clock = new FuzzClock(rng.chance(0.5) ? rng.range(0, 1e6) : rng.range(0, 2e9) * 1000);
    this.checks = rng.chance(0.25);
    const inner = rng.chance(0.5) ? wholeSeconds(this.clock.raw) : this.clock.raw;
    const measured = () => {
      const v = inner();
      if (typeof v !== 'number' || !Number.isFinite(v)) this.clock.badReads++;
      return v;
    };
    const options: BalancerOptions = {
      name: 'fuzz',
      method: this.choice.method,
      ...this.choice.extra,
      servers,
      tries: rng.pick([0, 0, 0, 1, 2, 3]),
      clock: measured,
      rng: ((r) => () => r.next())(new Rng(rng.seed())),
      ...(backups && !BACKUP_METHODS.has(this.choice.method) ? { allowBackupWithHash: true } : {}),
      ...(this.checks ? { check: { rise: rng.range(1, 2), fall: rng.range(1, 3) } } : {}),
      ...(rng.chance(0.3) ? { tuning: { lazyFromServers: 1 } } : {}),
    };
    this.b = new Balancer(options);
    this.foreign = new Balancer({ servers: [{ address: '192.0.2.1:1' }] });
    // listeners read the balancer re-entrantly (they must see a consistent state and not throw)
    this.b.on('state', () => {
      this.events++;
      void this.b.servers.length;
    });
    this.b.on('tier', () => this.events++);
    this.b.on('exhausted', () => this.events++);
    this.b.on('check', () => this.events++);
    // the clock fault event of the fixed Balancer (without a listener it warns once per balancer)
    onFaults(this.b, () => this.faults++);
  }

  randomServer(id: string, mayBackup: boolean): ServerOptions {
    const r = this.rng;
    return {
      id,
      address: `10.0.${this.nextId & 255}.${r.int(256)}:${1 + r.int(65535)}`,
      weight: r.chance(0.85) ? r.range(1, 6) : r.pick([1, 40, 1000, 0x7fffffff]),
      maxFails: r.range(0, 3),
      failTimeout: r.pick(FAIL_TIMEOUTS),
      maxConns: r.chance(0.3) ? r.range(1, 3) : 0,
      backup: mayBackup && r.chance(0.25),
      down: r.chance(0.08),
      drain: r.chance(0.04),
    };
  }

  key(): string | undefined {
    const r = this.rng;
    if (this.choice.method === 'ip-hash') {
      const k = r.int(10);
      if (k === 0) return r.pick(['not-an-ip', '1.2.3', '::g', '999.1.1.1', '%', 'fe80::1%']);
      if (k === 1) return r.pick(['', 'unix:', '::1', 'fe80::1%eth0', '2001:db8::' + r.int(65536).toString(16)]);
      return `${r.int(256)}.${r.int(256)}.${r.int(256)}.${r.int(256)}`;
    }
    if (this.choice.method === 'hash') return r.chance(0.1) ? undefined : r.pick(['', 'k' + r.int(50), '\u0000', 'é'.repeat(r.int(5)), String(r.int(1e9))]);
    return r.chance(0.8) ? undefined : 'k' + r.int(10);
  }

  note(s: string): void {
    this.ops++;
    this.log.push(s);
    if (this.log.length > 30) this.log.shift();
  }

  fail(id: string, detail: string): never {
    this.rec.fail(id, this.seed, `${detail}\nmethod ${this.choice.label}, servers ${this.b.servers.length}\nlast operations:\n  ${this.log.join('\n  ')}`);
    throw new EndWorld();
  }

  /** An exception from the Balancer: typed, or the clock's own; anything else is a failure. */
  caught(e: unknown, what: string): void {
    if (e instanceof EndWorld || e instanceof FuzzFailure) throw e;
    if (isUpstreamError(e)) {
      this.typedErrors++;
      return;
    }
    if (e instanceof ClockError) {
      this.clockErrors++;
      return;
    }
    this.fail('untyped-exception', `${what} threw ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack?.split('\n').slice(1, 4).join('\n')}` : String(e)}`);
  }

  count(id: string): number {
    let n = 0;
    for (const h of this.handles) if (h.id === id && !h.freed) n++;
    return n;
  }

  /** A server was handed out: the limit, the attempt's tried set, the ledger. */
  handed(s: Server, ar: AttemptRec | null, how: string): Handle {
    if (s.maxConns > 0) {
      const open = this.count(s.id);
      if (open >= s.maxConns) {
        this.fail(this.readdedWithOpen.has(s.id) ? 'conns-after-readd' : 'max-conns', `${how} handed ${s.id} with ${open} connections open, maxConns ${s.maxConns}`);
      }
    }
    const h: Handle = { id: s.id, s, ar, freed: false };
    this.handles.push(h);
    if (ar !== null) {
      const before = ar.handed.get(s.id);
      if (before !== undefined) {
        // (single-server mode first: it does not consult the tried set at all)
        const single = before.membership !== this.membership && this.b.servers.length === 1;
        const id = single
          ? 'attempt-twice-single'
          : before.s !== s
            ? 'attempt-twice-readded'
            : before.backup !== s.backup
              ? 'attempt-twice-tier-move'
              : before.membership !== this.membership
                ? 'attempt-twice-membership'
                : 'attempt-twice';
        this.fail(
          id,
          `${how} gave ${s.id} again (first as ${before.backup ? 'backup' : 'primary'}, now ${s.backup ? 'backup' : 'primary'}` +
            `${before.s !== s ? ', a re-added record' : ''}; ${this.membership - before.membership} membership changes in between; ${this.b.servers.length} servers now)`,
        );
      }
      ar.handed.set(s.id, { s, backup: s.backup, membership: this.membership });
      ar.current = h;
    }
    return h;
  }

  free(h: Handle): void {
    h.freed = true;
    this.handles = this.handles.filter((x) => x !== h);
    if (h.ar !== null && h.ar.current === h) h.ar.current = null;
  }

  /** After an attempt call threw: the ledger follows what the attempt says is current. */
  reconcile(ar: AttemptRec): void {
    const cur = ar.a.current;
    if (ar.current !== null && cur === undefined) this.free(ar.current);
    else if (ar.current === null && cur !== undefined) this.handed(cur, ar, 'next() (that threw)');
  }

  // ---- operations -----------------------------------------------------------------------------

  openAttempt(): void {
    const key = this.key();
    this.note(`attempt(${JSON.stringify(key)})`);
    try {
      const n = this.attemptSerial++;
      this.attempts.push({ a: this.b.attempt(key), n, handed: new Map(), current: null });
      this.log[this.log.length - 1] += ` = a${n}`;
    } catch (e) {
      this.caught(e, 'attempt()');
    }
  }

  stepAttempt(): void {
    if (this.attempts.length === 0) return this.openAttempt();
    const i = this.rng.int(this.attempts.length);
    const ar = this.attempts[i]!;
    if (ar.a.finished) {
      this.attempts.splice(i, 1);
      return;
    }
    if (ar.current === null) {
      this.note(`a${ar.n}.next()`);
      try {
        const s = ar.a.next();
        this.log[this.log.length - 1] += ` -> ${s === undefined ? 'undefined' : `${s.id}${s.backup ? ' (backup)' : ''}`}`;
        if (s === undefined) {
          if (!ar.a.finished) this.fail('attempt-state', 'next() returned undefined but the attempt is not finished');
          this.attempts.splice(i, 1);
        } else this.handed(s, ar, `a${ar.n}.next()`);
      } catch (e) {
        this.caught(e, 'next()');
        this.reconcile(ar);
      }
      if (ar.a.tries < 0 || !Number.isInteger(ar.a.tries)) this.fail('tries', `attempt tries ${ar.a.tries}`);
      return;
    }
    const outcome = this.rng.pick(['fail', 'release', 'connected-release', 'connected-fail'] as const);
    this.note(`a${ar.n}: ${outcome} (${ar.current.id})`);
    try {
      if (outcome.startsWith('connected')) ar.a.connected();
      if (outcome.endsWith('fail')) ar.a.fail();
      else ar.a.release();
      this.free(ar.current);
    } catch (e) {
      this.caught(e, `${outcome}()`);
      this.reconcile(ar);
    }
    if (ar.a.finished) this.attempts.splice(this.attempts.indexOf(ar), 1);
  }

  pick(): void {
    const key = this.key();
    this.note(`pick(${JSON.stringify(key)})`);
    try {
      const s = this.b.pick(key);
      if (s !== undefined) this.handed(s, null, 'pick()');
    } catch (e) {
      this.caught(e, 'pick()');
    }
  }

  releaseOne(): void {
    const oneShot = this.handles.filter((h) => h.ar === null);
    if (oneShot.length === 0) return this.pick();
    const h = this.rng.pick(oneShot);
    const failed = this.rng.chance(0.3);
    this.note(`release(${h.id}${failed ? ', failed' : ''})`);
    const before = h.s.conns;
    try {
      this.b.release(h.s, failed);
      this.free(h);
    } catch (e) {
      this.caught(e, 'release(server)');
      // a release that threw either freed the connection or left it for another release
      if (h.s.conns === before - 1) this.free(h);
    }
  }

  misuse(): void {
    const k = this.rng.int(4);
    let threw: unknown = null;
    let what = '';
    try {
      if (k === 0) {
        what = 'fail() with no current server';
        const a = this.b.attempt(this.choice.method === 'ip-hash' ? '10.0.0.1' : undefined);
        a.fail();
      } else if (k === 1) {
        const ar = this.attempts.find((x) => x.current !== null);
        if (ar === undefined) return;
        what = 'next() while a server is current';
        ar.a.next();
      } else if (k === 2) {
        what = 'release() of a foreign server';
        const s = this.foreign.pick();
        if (s === undefined) return;
        try {
          this.b.release(s);
        } finally {
          this.foreign.release(s);
        }
      } else {
        // a second release of a server whose connection was already released
        const s = this.b.servers.find((x) => x.conns === 0);
        if (s === undefined) return;
        what = `release(${s.id}) with no connection handed out`;
        this.b.release(s);
      }
    } catch (e) {
      threw = e;
    }
    this.note(`misuse: ${what}`);
    if (threw === null) this.fail('misuse-accepted', `${what} did not throw`);
    if (!(isUpstreamError(threw) && threw.code === 'ERR_UPSTREAM_ATTEMPT_STATE') && !(isUpstreamError(threw) && threw.code === 'ERR_UPSTREAM_UNKNOWN_ID')) {
      if (threw instanceof ClockError) return;
      this.fail('untyped-exception', `${what} threw ${String(threw)}`);
    }
    this.typedErrors++;
  }

  liveIds(): string[] {
    return this.b.servers.map((s) => s.id);
  }

  update(): void {
    const ids = this.liveIds();
    const id = this.rng.chance(0.03) ? 'nope' : this.rng.pick(ids);
    const r = this.rng;
    const patch: Record<string, unknown> = {};
    const k = r.int(10);
    if (k < 3) patch.backup = r.chance(0.5); // a tier move (attempts may be open)
    else if (k < 5) patch.down = r.chance(0.5);
    else if (k < 6) patch.drain = r.chance(0.3);
    else if (k < 7) patch.weight = r.chance(0.9) ? r.range(1, 9) : r.pick([0, -1, 1.5, NaN, 0x80000000]);
    else if (k < 8) patch.maxConns = r.chance(0.9) ? r.range(0, 3) : r.pick([-1, Infinity]);
    else if (k < 9) patch.maxFails = r.range(0, 3);
    else patch.failTimeout = r.pick(FAIL_TIMEOUTS);
    if (r.chance(0.05)) patch.id = 'x';
    this.note(`update(${id}, ${JSON.stringify(patch)})`);
    try {
      this.b.update(id, patch);
      this.membership++;
    } catch (e) {
      this.caught(e, 'update()');
    }
  }

  add(): void {
    const r = this.rng;
    let s: ServerOptions;
    // prefer ids removed while their connections are open
    const open = [...this.removed.keys()].filter((id) => this.count(id) > 0);
    if ((open.length > 0 && r.chance(0.7)) || (this.removed.size > 0 && r.chance(0.3))) {
      const id = r.pick(open.length > 0 ? open : [...this.removed.keys()]);
      s = this.randomServer(id, this.b.servers.some((x) => x.backup) || BACKUP_METHODS.has(this.choice.method));
    } else {
      if (this.b.servers.length >= 45) return;
      s = this.randomServer(`s${this.nextId++}`, BACKUP_METHODS.has(this.choice.method));
    }
    this.note(`add(${JSON.stringify(s)})`);
    const openBefore = this.count(s.id!);
    try {
      this.b.add(s);
      this.membership++;
      if (this.removed.delete(s.id!) && openBefore > 0) this.readdedWithOpen.add(s.id!);
    } catch (e) {
      this.caught(e, 'add()');
    }
  }

  remove(): void {
    const id = this.rng.pick(this.liveIds());
    this.note(`remove(${id})`);
    const s = this.b.get(id);
    try {
      this.b.remove(id);
      this.membership++;
      if (s !== undefined) this.removed.set(id, s);
    } catch (e) {
      this.caught(e, 'remove()');
    }
  }

  setServers(): void {
    const r = this.rng;
    const list: ServerOptions[] = [];
    for (const s of this.b.servers) {
      if (r.chance(0.8)) {
        const o: ServerOptions = { id: s.id, address: s.address, weight: s.weight, maxFails: s.maxFails, failTimeout: s.failTimeout, maxConns: s.maxConns, backup: s.backup, down: s.down, drain: s.drain };
        if (r.chance(0.15) && BACKUP_METHODS.has(this.choice.method)) o.backup = !o.backup;
        if (r.chance(0.1)) o.down = !o.down;
        list.push(o);
      }
    }
    if (this.removed.size > 0 && r.chance(0.5)) list.push(this.randomServer(r.pick([...this.removed.keys()]), false));
    if (r.chance(0.4)) list.push(this.randomServer(`s${this.nextId++}`, BACKUP_METHODS.has(this.choice.method)));
    for (let i = list.length - 1; i > 0; i--) {
      const j = r.int(i + 1);
      [list[i], list[j]] = [list[j]!, list[i]!];
    }
    this.note(`setServers(${list.map((s) => `${s.id}${s.backup ? '(b)' : ''}`).join(' ')})`);
    const before = new Map(this.b.servers.map((s) => [s.id, s]));
    const openBefore = new Map(list.map((s) => [s.id!, this.count(s.id!)]));
    try {
      this.b.setServers(list);
      this.membership++;
      const now = new Set(list.map((s) => s.id!));
      for (const [id, s] of before) if (!now.has(id)) this.removed.set(id, s);
      for (const s of list) {
        if (!before.has(s.id!) && this.removed.delete(s.id!) && openBefore.get(s.id!)! > 0) this.readdedWithOpen.add(s.id!);
      }
    } catch (e) {
      this.caught(e, 'setServers()');
    }
  }

  reportCheck(): void {
    const id = this.rng.pick(this.liveIds());
    const ok = this.rng.chance(0.6);
    this.note(`reportCheck(${id}, ${ok})`);
    try {
      this.b.reportCheck(id, ok);
    } catch (e) {
      this.caught(e, 'reportCheck()');
    }
  }

  clockStep(): void {
    const r = this.rng;
    const c = this.clock;
    const k = r.int(20);
    if (k < 10) c.t += r.chance(0.8) ? r.int(500) : r.int(15_000);
    else if (k < 12) {
      const d = r.chance(0.7) ? r.int(5000) : r.pick([1e6, 86_400_000, 365 * 86_400_000, 1e10]);
      c.t -= d;
      if (d > c.back) c.back = d;
      this.note(`clock back ${d}`);
      return;
    } else if (k < 14) c.mode = 'throw';
    else if (k < 16) c.mode = 'nan';
    else if (k < 17) c.mode = 'string';
    else if (k < 18) c.mode = 'inf';
    else c.t += r.pick([2 ** 31, 2 ** 40]);
    this.note(`clock ${c.mode === 'ok' ? `-> ${c.t}` : `mode ${c.mode} for the next operation`}`);
  }

  /** Frees everything, moves past every window and requires a pick when a server is eligible. */
  quiesce(): void {
    this.clock.mode = 'ok';
    this.note('quiesce');
    for (const ar of [...this.attempts]) {
      if (ar.current !== null) {
        try {
          ar.a.release();
          this.free(ar.current);
        } catch (e) {
          this.caught(e, 'release() (quiesce)');
          this.reconcile(ar);
        }
      }
    }
    this.attempts = [];
    for (const h of [...this.handles]) {
      if (h.ar !== null) continue;
      try {
        this.b.release(h.s);
        this.free(h);
      } catch (e) {
        this.caught(e, 'release(server) (quiesce)');
      }
    }
    this.checkState('after quiesce');
    // One pick at the current time first: a clock is only seen when it is read, so a step back is
    // noticed here (the fixed Balancer then pauses time at its last reading, clock.ts guardClock).
    const key = this.choice.method === 'ip-hash' ? '10.1.2.3' : 'k';
    this.pickAndRelease(key, 'pick() (before liveness)');
    const maxFt = Math.max(0, ...this.b.servers.map((s) => s.failTimeout));
    this.clock.t += maxFt + 2000;
    const eligible = this.b.servers.filter(
      (s) => !s.down && !s.drain && s.state !== 'checking' && s.state !== 'unhealthy' && (s.maxConns === 0 || s.conns < s.maxConns),
    );
    if (eligible.length === 0) return;
    const s = this.pickAndRelease(key, 'pick() (liveness)');
    if (s === null) return;
    if (s === undefined) {
      const detail = eligible.map((x) => `${x.id} ${x.state} fails=${x.fails}/${x.maxFails} ft=${x.failTimeout}`).join(', ');
      this.fail(this.clock.back > 0 ? 'stuck-after-clock-back' : 'stuck', `no server picked ${maxFt + 2000} ms after everything was released (clock stepped back up to ${this.clock.back} ms); eligible: ${detail}`);
    }
    this.clock.back = 0;
  }

  /** A pick released at once; null if it threw (typed), else what pick() returned. */
  pickAndRelease(key: string, what: string): Server | undefined | null {
    let s: Server | undefined;
    try {
      s = this.b.pick(key);
    } catch (e) {
      this.caught(e, what);
      return null;
    }
    if (s === undefined) return undefined;
    const h = this.handed(s, null, what);
    try {
      this.b.release(s);
      this.free(h);
    } catch (e) {
      this.caught(e, `release() after ${what}`);
    }
    return s;
  }

  /** The invariants that hold after every operation. */
  checkState(after: string): void {
    for (const s of this.b.servers) {
      const conns = s.conns;
      if (!Number.isInteger(conns) || conns < 0) this.fail('conns-negative', `${after}: ${s.id} conns ${conns}`);
      const want = this.count(s.id);
      if (conns !== want) {
        const id = this.readdedWithOpen.has(s.id) ? 'conns-after-readd' : this.clock.threw > 0 ? 'throwing-clock-leak' : 'conns-ledger';
        this.fail(id, `${after}: ${s.id} conns ${conns}, ${want} handed out and not freed`);
      }
    }
    for (const h of this.handles) if (h.s.conns < 0) this.fail('conns-negative', `${after}: removed ${h.id} conns ${h.s.conns}`);
    if (this.ops % 8 === 0) {
      let snap;
      try {
        snap = this.b.snapshot();
        formatStatus(snap, this.rng.pick(['json', 'csv', 'html', 'prometheus'] as const));
      } catch (e) {
        return this.caught(e, 'snapshot()/formatStatus()');
      }
      for (const x of snap.servers) {
        const nums = { fails: x.fails, conns: x.conns, effectiveWeight: x.effectiveWeight, currentWeight: x.currentWeight, accessed: x.accessed ?? 0, checked: x.checked ?? 0 };
        for (const [k, v] of Object.entries(nums)) {
          if (typeof v !== 'number' || !Number.isFinite(v)) {
            this.fail(this.clock.badReads > 0 ? 'bad-clock-accepted' : 'non-finite-state', `${after}: ${x.id}.${k} = ${String(v)} (${this.clock.badReads} bad clock readings so far)`);
          }
        }
      }
    }
  }

  step(): void {
    const r = this.rng;
    const x = r.next();
    const hadMode = this.clock.mode;
    const opsBefore = this.ops;
    if (x < 0.28) this.stepAttempt();
    else if (x < 0.36) this.openAttempt();
    else if (x < 0.46) this.pick();
    else if (x < 0.56) this.releaseOne();
    else if (x < 0.64) this.update();
    else if (x < 0.67) this.add();
    else if (x < 0.7) this.remove();
    else if (x < 0.72) this.setServers();
    else if (x < 0.75) this.reportCheck();
    else if (x < 0.77) this.misuse();
    else if (x < 0.93) this.clockStep();
    else if (x < 0.935) this.quiesce();
    else this.stepAttempt();
    if (this.ops === opsBefore) this.ops++;
    // a bad clock mode lasts one operation (the clock step that set it does not count)
    if (hadMode !== 'ok') this.clock.mode = 'ok';
    this.checkState(this.log[this.log.length - 1] ?? '');
  }
}

/** One balancer's script of `ops` operations; returns its counters. Throws `FuzzFailure`. */
export function runOne(seed: number, ops: number, rec = new Recorder('operations', seed)): Script | null {
  let s: Script | null = null;
  try {
    s = new Script(seed, rec);
    for (let k = 0; k < ops; k++) s.step();
    s.quiesce();
  } catch (e) {
    if (e instanceof EndWorld) return s;
    if (s === null && isUpstreamError(e)) return null; // a random configuration the Balancer rejects
    throw e;
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Lock step with the reference model

function refServer(rng: Rng, id: string, limits: boolean): RefServerOptions {
  return {
    id,
    weight: rng.chance(0.8) ? rng.range(1, 6) : rng.range(1, 40),
    maxFails: rng.range(0, 3),
    failTimeout: rng.pick(FAIL_TIMEOUTS),
    maxConns: limits && rng.chance(0.25) ? rng.range(1, 3) : 0,
    backup: rng.chance(0.2),
    down: rng.chance(0.08),
    drain: rng.chance(0.04),
  };
}

/** One lock-step script: attempts held open across membership changes. Throws `Mismatch`. */
export function runLockstep(seed: number, steps: number): World {
  const rng = new Rng(seed);
  const limits = rng.chance(0.5);
  const n = rng.chance(0.15) ? rng.range(33, 40) : rng.range(1, 7);
  const servers = Array.from({ length: n }, (_, i) => ({ ...refServer(rng, String.fromCharCode(65 + (i % 26)) + (i >= 26 ? i : ''), limits), ...(i === 0 ? { backup: false } : {}) }));
  const config: WorldConfig = {
    servers,
    tries: rng.pick([0, 0, 1, 2, 3]),
    clock: rng.chance(0.5) ? 'seconds' : 'ms',
    start: rng.range(0, 2e9) * 1000,
    ...(rng.chance(0.2) ? { check: { rise: rng.range(1, 2), fall: rng.range(1, 3) } } : {}),
    ...(rng.chance(0.5) ? { tuning: { lazyFromServers: 1 } } : {}),
  };
  const w = new World(config);
  const dead = new Set<string>();
  for (const s of servers) if (rng.chance(0.3)) dead.add(s.id);
  for (let k = 0; k < steps; k++) {
    const x = rng.next();
    const big = () => rng.int(1e9);
    if (x < 0.15) w.request(dead, rng.chance(0.5));
    else if (x < 0.25) {
      if (w.held.length < 10) w.pick();
      else w.release(big(), rng.chance(0.3));
    } else if (x < 0.33) w.release(big(), rng.chance(0.3));
    else if (x < 0.4) {
      if (w.attempts.length < 5) w.open();
    } else if (x < 0.6) {
      const cur = w.attempts[k % Math.max(1, w.attempts.length)]?.a.current;
      const failing = cur !== undefined && dead.has(cur.id);
      w.step(k, failing ? (rng.chance(0.2) ? 'connected-fail' : 'fail') : rng.chance(0.4) ? 'connected-release' : 'release');
    } else if (x < 0.72) w.advance(rng.chance(0.2) ? rng.int(12_000) : rng.int(400));
    else if (x < 0.75) w.check(big(), rng.chance(0.6));
    else if (x < 0.85) {
      // updates while attempts are open, tier moves included
      const patch: Partial<RefServerOptions> = {};
      const s = refServer(rng, 'x', limits);
      for (const key of ['weight', 'maxFails', 'failTimeout', 'maxConns', 'backup', 'down', 'drain'] as const) {
        if (rng.chance(0.3)) (patch as Record<string, unknown>)[key] = s[key];
      }
      w.update(big(), patch);
    } else if (x < 0.9) {
      if (w.ref.peers.length < 45) w.add(refServer(rng, 'x', limits));
    } else if (x < 0.95) {
      if (w.ref.peers.length > 1) w.remove(big());
    } else if (x < 0.97) {
      w.setServers(Array.from({ length: 8 }, () => rng.chance(0.8)), rng.int(8), rng.chance(0.5) ? [refServer(rng, 'x', limits)] : []);
    } else {
      const ids = w.ref.peers.map((p) => p.id);
      const id = rng.pick(ids);
      if (dead.has(id)) dead.delete(id);
      else dead.add(id);
    }
    w.compare((k & 7) === 0);
  }
  while (w.held.length > 0) {
    w.release(0, false);
    w.compare(true);
  }
  return w;
}

/**
 * A churn loop without the ledger (the library's cost alone): attempts, picks, releases, failures,
 * updates, adds, removes and setServers with fresh ids, check results and clock steps, on one
 * balancer of `method`. Everything is released at the end of each call.
 */
function churn(b: Balancer, clock: { t: number }, rng: Rng, ops: number, fresh: { id: number }): void {
  const held: Server[] = [];
  const key = b.method === 'ip-hash' ? '10.0.0.7' : undefined;
  for (let k = 0; k < ops; k++) {
    const x = rng.next();
    if (x < 0.35) {
      const a = b.attempt(key);
      for (let s = a.next(); s !== undefined; s = a.next()) {
        if (rng.chance(0.3)) {
          a.fail();
          continue;
        }
        a.connected();
        a.release();
        break;
      }
    } else if (x < 0.6) {
      const s = b.pick(key);
      if (s !== undefined) held.push(s);
      if (held.length > 16) b.release(held.shift()!, rng.chance(0.2));
    } else if (x < 0.75) {
      if (held.length > 0) b.release(held.splice(rng.int(held.length), 1)[0]!, rng.chance(0.2));
    } else if (x < 0.85) clock.t += rng.int(3000);
    else if (x < 0.9) {
      const ids = b.servers.map((s) => s.id);
      b.update(rng.pick(ids), rng.chance(0.5) ? { weight: rng.range(1, 9) } : { down: rng.chance(0.2) });
    } else if (x < 0.97) {
      // the pool stays between 4 and 24 servers: the cost per operation must not depend on how many ran
      const n = b.servers.length;
      if (n < 24 && (n <= 4 || rng.chance(0.5))) b.add({ id: `f${fresh.id++}`, address: `10.9.${(fresh.id >> 8) & 255}.${fresh.id & 255}:25`, weight: rng.range(1, 5) });
      else b.remove(rng.pick(b.servers.filter((s) => !s.backup)).id);
    } else if (x < 0.98) {
      const keep = b.servers.filter(() => rng.chance(0.85)).map((s) => ({ id: s.id, address: s.address, weight: s.weight }));
      if (keep.length < 24) keep.push({ id: `f${fresh.id++}`, address: `10.9.${(fresh.id >> 8) & 255}.${fresh.id & 255}:25`, weight: 1 });
      if (keep.length === 0) keep.push({ id: `f${fresh.id++}`, address: '10.8.0.1:25', weight: 1 });
      b.setServers(keep);
    } else b.reportCheck(rng.pick(b.servers).id, rng.chance(0.7));
  }
  for (const s of held) b.release(s);
}

/** Linear cost on doubling operation counts, and no heap growth over a long stretch of churn. */
function growth(rec: Recorder, seed: number, long: boolean): void {
  const k = long ? 40_000 : 2000;
  const brief = new Set(['round-robin', 'least-conn', 'hash-consistent', 'random-two-least-conn']);
  for (const choice of METHOD_CHOICES.filter((c) => long || brief.has(c.label))) {
    const make = (): { b: Balancer; clock: { t: number }; rng: Rng; fresh: { id: number } } => {
      const clock = { t: 1_000_000 };
      const servers = Array.from({ length: 12 }, (_, i) => ({ id: `s${i}`, address: `10.0.0.${i}:25`, weight: 1 + (i % 4), maxFails: 2, failTimeout: 2000 }));
      const b = new Balancer({ method: choice.method, ...choice.extra, servers, clock: () => clock.t, check: { rise: 1, fall: 2 } });
      return { b, clock, rng: new Rng(seed), fresh: { id: 0 } };
    };
    const r = doublingCheck((n) => () => {
      const w = make();
      churn(w.b, w.clock, w.rng, n, w.fresh);
    }, k / 4, { reps: 2 });
    rec.summary.ops += (5 * k) / 4;
    if (!r.ok) rec.fail('superlinear', seed, `${choice.label}: ${k} churn operations took ${r.big.toFixed(1)} ms, ${k / 4}: ${r.small.toFixed(1)} ms`);
    // memory: the heap after a second stretch of k operations, against after the first
    const w = make();
    churn(w.b, w.clock, w.rng, k, w.fresh);
    const h1 = heapAfterGc();
    churn(w.b, w.clock, w.rng, long ? 4 * k : k, w.fresh);
    const h2 = heapAfterGc();
    rec.summary.ops += long ? 5 * k : 2 * k;
    if (h2 - h1 > 8 * MB) rec.fail('memory', seed, `${choice.label}: the heap grew by ${((h2 - h1) / MB).toFixed(1)} MB over ${long ? 4 * k : k} more churn operations (servers ${w.b.servers.length})`);
  }
}

/**
 * Runs about `iterations` operations: two thirds through the invariant scripts over every method,
 * one third in lock step with the reference model; then the doubling and heap-growth checks.
 */
export function run(budget: Budget): Summary {
  const rec = new Recorder('operations', budget.seed);
  const rng = new Rng(budget.seed);
  const invariantOps = Math.ceil((budget.iterations * 2) / 3);
  const lockstepOps = budget.iterations - invariantOps;
  let done = 0;
  while (done < invariantOps) {
    const seed = rng.seed();
    const ops = Math.min(invariantOps - done, 500 + rng.int(3000));
    const s = runOne(seed, ops, rec);
    done += ops;
    rec.count('balancers');
    if (s !== null) {
      rec.summary.ops += s.ops;
      rec.count('typedErrors', s.typedErrors);
      rec.count('clockErrors', s.clockErrors);
      rec.count('events', s.events);
      rec.count('clockFaults', s.faults);
      rec.count(`method:${s.choice.label}`);
    } else rec.count('rejectedConfigs');
  }
  let lock = 0;
  while (lock < lockstepOps) {
    const seed = rng.seed();
    const steps = Math.min(lockstepOps - lock, 300 + rng.int(1500));
    try {
      const w = runLockstep(seed, steps);
      rec.summary.ops += w.steps;
      rec.count('lockstepOps', w.steps);
      rec.count('lockstepServed', w.stats.served);
    } catch (e) {
      if (e instanceof Mismatch) rec.fail('reference-mismatch', seed, `runLockstep(${seed}, ${steps}): ${e.message}`);
      else if (isUpstreamError(e)) rec.fail('reference-untyped', seed, `runLockstep(${seed}, ${steps}): unexpected ${e.code}: ${e.message}`);
      else rec.fail('reference-exception', seed, `runLockstep(${seed}, ${steps}): ${e instanceof Error ? e.stack : String(e)}`);
    }
    lock += steps;
  }
  const t = performance.now();
  growth(rec, budget.seed, budget.long === true);
  rec.summary.stats.growthMs = Math.round(performance.now() - t);
  budget.log?.(`operations: ${rec.summary.ops} ops`);
  return rec.done();
}
