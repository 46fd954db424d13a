/**
 * Differential test of least_conn: the Balancer against a naive transcription of nginx's
 * `ngx_http_upstream_get_least_conn_peer` and `ngx_http_upstream_free_round_robin_peer`
 * (nginx 1.30.4, src/http/modules/ngx_http_upstream_least_conn_module.c and
 * ngx_http_upstream_round_robin.c): peers as objects, a tried set per request, the two passes of
 * the C loop, the fallback to the backup peers with the tried set cleared.
 *
 * Scripts mix one-shot picks held open (the shortcut of select/least-conn-fresh.ts), releases
 * (some failed), attempts with a retry after a failure (the plain get of select/least-conn.ts, a
 * tried set), `down` toggles, and clock steps inside and across failure windows; some upstreams set
 * `max_conns` (the shortcut stands aside), `max_fails=0`, or a backup tier; the shortcut keeps the
 * primary tier in its index by load (select/least-conn-index.ts) from 1, 16 or 1000 servers. After
 * every operation both sides agree on the picked ids and on every server's conns, fails, effective
 * and current weight.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock, seededRandom } from '../../src/clock';
import type { Server } from '../../src/server';

/** One peer of the model (ngx_http_upstream_rr_peer_t, the fields least_conn reads and writes). */
interface RefPeer {
  id: string;
  weight: number;
  effective: number;
  current: number;
  conns: number;
  maxConns: number;
  fails: number;
  maxFails: number;
  failTimeout: number;
  accessed: number;
  checked: number;
  down: boolean;
}

/** nginx's least_conn over a list of peers, as the C loop reads (one request's tried set). */
class RefLeastConn {
  constructor(
    readonly primary: RefPeer[],
    readonly backup: RefPeer[],
  ) {}

  /** The request's get: [peer, its tier] or null; `tried` is the request's set on its current tier, cleared on the switch. */
  get(r: { tier: RefPeer[]; tried: Set<number> }, now: number): RefPeer | null {
    for (;;) {
      const got = this.#one(r.tier, r.tried, now);
      if (got !== null) return got;
      if (r.tier !== this.primary || this.backup.length === 0) return null;
      r.tier = this.backup;
      r.tried = new Set();
    }
  }

  #one(peers: RefPeer[], tried: Set<number>, now: number): RefPeer | null {
    const usable = (p: RefPeer, i: number) =>
      !tried.has(i) && !p.down && !(p.maxFails !== 0 && p.fails >= p.maxFails && now - p.checked <= p.failTimeout) && !(p.maxConns !== 0 && p.conns >= p.maxConns);
    let best: RefPeer | null = null;
    let bestIndex = -1;
    let many = false;
    peers.forEach((p, i) => {
      if (!usable(p, i)) return;
      if (best === null || p.conns * best.weight < best.conns * p.weight) {
        best = p;
        bestIndex = i;
        many = false;
      } else if (p.conns * best.weight === best.conns * p.weight) many = true;
    });
    if (best === null) return null;
    let chosen: RefPeer = best;
    let chosenIndex = bestIndex;
    if (many) {
      const b: RefPeer = best;
      let total = 0;
      for (let i = bestIndex; i < peers.length; i++) {
        const p = peers[i]!;
        if (!usable(p, i) || p.conns * b.weight !== b.conns * p.weight) continue;
        p.current += p.effective;
        total += p.effective;
        if (p.effective < p.weight) p.effective++;
        if (p.current > chosen.current) {
          chosen = p;
          chosenIndex = i;
        }
      }
      chosen.current -= total;
    }
    if (now - chosen.checked > chosen.failTimeout) chosen.checked = now;
    chosen.conns++;
    tried.add(chosenIndex);
    return chosen;
  }

  /** ngx_http_upstream_free_round_robin_peer. */
  free(p: RefPeer, failed: boolean, now: number): void {
    if (failed) {
      p.fails++;
      p.accessed = now;
      p.checked = now;
      if (p.maxFails !== 0) p.effective = Math.max(0, p.effective - Math.floor(p.weight / p.maxFails));
    } else if (p.accessed < p.checked) p.fails = 0;
    p.conns--;
  }
}

interface Upstream {
  weights: number[];
  backups: number;
  limits: boolean;
  maxFails: number;
  failTimeout: number;
  seed: number;
  indexFrom: number;
}

const upstreamArb: fc.Arbitrary<Upstream> = fc.record({
  weights: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 2, maxLength: 40 }),
  backups: fc.constantFrom(0, 0, 1, 2),
  limits: fc.boolean(),
  maxFails: fc.constantFrom(0, 1, 1, 2),
  failTimeout: fc.constantFrom(0, 10, 50, 200),
  seed: fc.integer(),
  // least_conn's one-shot pick keeps the primary tier in an index by load from this many servers (1: always)
  indexFrom: fc.constantFrom(1, 16, 1000),
});

function runScript(u: Upstream, steps: number): void {
  const rng = seededRandom(u.seed);
  const draw = (k: number) => Math.floor(rng() * k);
  const clock = new ManualClock(1000);
  const specs = [...u.weights.map((w) => ({ w, backup: false })), ...Array.from({ length: u.backups }, (_, k) => ({ w: 1 + k, backup: true }))];
  const maxConnsOf = (i: number) => (u.limits && i % 3 === 0 ? 1 + (i % 4) : 0);
  const b = new Balancer({
    method: 'least-conn',
    clock: clock.now,
    tuning: { leastConnIndexFromServers: u.indexFrom },
    servers: specs.map((s, i) => ({
      id: `s${i}`,
      address: `10.9.${i >> 8}.${i & 255}:25`,
      weight: s.w,
      backup: s.backup,
      maxConns: maxConnsOf(i),
      maxFails: u.maxFails,
      failTimeout: u.failTimeout,
    })),
  });
  const peers: RefPeer[] = specs.map((s, i) => ({
    id: `s${i}`,
    weight: s.w,
    effective: s.w,
    current: 0,
    conns: 0,
    maxConns: maxConnsOf(i),
    fails: 0,
    maxFails: u.maxFails,
    failTimeout: u.failTimeout,
    accessed: 0,
    checked: 0,
    down: false,
  }));
  const ref = new RefLeastConn(
    peers.filter((_, i) => !specs[i]!.backup),
    peers.filter((_, i) => specs[i]!.backup),
  );
  const byId = new Map(peers.map((p) => [p.id, p]));
  const held: Server[] = [];
  const log: string[] = [];
  const agree = (what: string) => {
    for (const s of b.servers) {
      const p = byId.get(s.id)!;
      const got = [s.conns, s.fails, s.effectiveWeight, s.currentWeight];
      const want = [p.conns, p.fails, p.effective, p.current];
      if (got.join() !== want.join()) throw new Error(`${s.id} after ${what}: [conns, fails, effective, current] ${got} instead of ${want}\n${log.slice(-12).join('\n')}`);
    }
  };
  for (let step = 0; step < steps; step++) {
    const op = draw(100);
    let what: string;
    if (op < 40) {
      const s = b.pick();
      const want = ref.get({ tier: ref.primary, tried: new Set() }, clock.now());
      what = `pick ${s?.id} (nginx ${want?.id})`;
      expect(s?.id, what).toBe(want?.id);
      if (s !== undefined) held.push(s);
    } else if (op < 75) {
      if (held.length === 0) continue;
      const s = held.splice(draw(held.length), 1)[0]!;
      const failed = draw(6) === 0;
      b.release(s, failed);
      ref.free(byId.get(s.id)!, failed, clock.now());
      what = `release ${s.id}${failed ? ' failed' : ''}`;
    } else if (op < 87) {
      // an attempt: a failure, then a retry while tries remain (a tried set on the plain get)
      const a = b.attempt();
      const r = { tier: ref.primary, tried: new Set<number>() };
      let tries = peers.filter((p) => !p.down).length;
      const ids: string[] = [];
      for (;;) {
        const s = a.next();
        const want = ref.get(r, clock.now());
        expect(s?.id, `attempt after ${ids.join(' ')}`).toBe(want?.id);
        if (s === undefined) break;
        ids.push(s.id);
        const failed = draw(2) === 0;
        if (failed) a.fail();
        else a.release();
        ref.free(want!, failed, clock.now());
        tries--;
        if (!failed || tries === 0) break;
      }
      what = `attempt ${ids.join(' ')}`;
      if (!a.finished) a.next(); // the tries are spent: no get
    } else if (op < 92) {
      const i = draw(peers.length);
      const p = peers[i]!;
      p.down = !p.down;
      if (peers.every((q) => q.down)) p.down = false;
      b.update(p.id, { down: p.down });
      what = `${p.id} down=${p.down}`;
    } else {
      const dt = [1, 1, 5, 30, 120, 400][draw(6)]!;
      clock.advance(dt);
      what = `clock +${dt}`;
    }
    log.push(what);
    agree(what);
  }
}

describe('least_conn against a transcription of nginx 1.30.4 (exact ids and peer state)', () => {
  it('random upstreams and scripts', () => {
    fc.assert(
      fc.property(upstreamArb, (u) => runScript(u, 600)),
      { numRuns: Number(process.env.LC_RUNS ?? 150) },
    );
  });

  it('many servers with held connections (ties across weight classes)', () => {
    fc.assert(
      fc.property(upstreamArb, fc.integer({ min: 33, max: 300 }), (u, n) => runScript({ ...u, weights: Array.from({ length: n }, (_, i) => 1 + ((i * 7) % 5)) }, 1500)),
      { numRuns: 12 },
    );
  });
});
