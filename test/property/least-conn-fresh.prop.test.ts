/**
 * Differential test of least_conn's one-shot shortcut (src/select/least-conn-fresh.ts) against the
 * plain get beside it (src/select/least-conn.ts, nginx's two passes): two copies of one random
 * tier (weights, held connections, failures inside and past their windows, max_fails 0..2, down
 * servers), one fresh pick on each, compared on the answer and on every current and effective
 * weight and `checked` time; then a random change (a connection held or freed, a failure, the clock
 * moved, a server down or up) on both, and again. The shortcut runs here with the clock (the failure
 * windows' path) and without it (it then stands aside whenever an available server has failures),
 * and must answer -1 exactly when its precondition fails (single, `max_conns` set).
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/clock';
import { markSelected } from '../../src/health/passive-window';
import type { Peers } from '../../src/peers';
import { FreshLeastConn } from '../../src/select/least-conn-fresh';
import { LeastConnSelector } from '../../src/select/least-conn';
import type { RequestState } from '../../src/select/request';
import { BLOCK_DOWN, Tier } from '../../src/tier';

const rec = (i: number) => ({ address: `10.0.0.${i}:80`, sid: `s${i}` });

function tierOf(weights: number[]): Tier {
  const t = new Tier(weights.map((_, i) => rec(i)), false);
  weights.forEach((w, i) => {
    t.weight[i] = w;
    t.effective[i] = w;
  });
  t.recount();
  return t;
}

function copyTier(from: Tier): Tier {
  const t = new Tier(from.records, false);
  for (const k of ['weight', 'effective', 'current', 'conns', 'maxConns', 'fails', 'maxFails', 'failTimeout', 'accessed', 'checked', 'blocked'] as const) t[k].set(from[k]);
  t.recount();
  return t;
}

function freshRequest(t: Tier, clock: () => number): RequestState {
  return { tier: t, mask: 0, bits: null, now: NaN, clock, key: '', walk: null, carried: null, passed: null, hint: null, fromHint: false };
}

const state = (t: Tier) => [Array.from(t.current), Array.from(t.effective), Array.from(t.checked)];

/** A connection held (+1) or freed (-1) on server `i`, told to the tier's index as selection.ts tells it. */
function count(t: Tier, i: number, delta: 1 | -1): void {
  t.conns[i] = t.conns[i]! + delta;
  t.load?.connsChanged(i);
}

/** `indexFrom`: the shortcut keeps the tier in least-conn-index.ts from that many servers (0: never, the scan). */
function run(weights: number[], seed: number, withClock: boolean, steps: number, indexFrom = 0): { shortcut: number; fallback: number } {
  const rng = seededRandom(seed);
  const draw = (k: number) => Math.floor(rng() * k);
  let now = 1000;
  const clock = () => now;
  const plain = tierOf(weights);
  for (let i = 0; i < weights.length; i++) {
    plain.maxFails[i] = draw(3);
    plain.failTimeout[i] = [0, 10, 100][draw(3)]!;
  }
  plain.recount();
  const fast = copyTier(plain);
  const fresh = new FreshLeastConn({ clock: withClock ? clock : null, indexFromServers: indexFrom });
  fresh.rebuilt({ primary: fast, backup: null, single: false, rng } satisfies Peers);
  const selector = new LeastConnSelector();
  const plainPeers: Peers = { primary: plain, backup: null, single: false, rng };
  let shortcut = 0;
  let fallback = 0;
  const both = (f: (t: Tier) => void) => {
    f(plain);
    f(fast);
  };
  for (let step = 0; step < steps; step++) {
    const got = fresh.take();
    const r = freshRequest(plain, clock);
    if (got < 0) {
      // the shortcut stood aside: nothing changed, and the plain get runs on both
      expect(state(fast)).toEqual(state(plain));
      fallback++;
      const i = selector.get(plainPeers, r);
      const j = selector.get({ ...plainPeers, primary: fast }, freshRequest(fast, clock));
      expect(j).toBe(i);
      if (i >= 0) {
        for (const t of [plain, fast]) if (t.fails[i] !== 0) markSelected(t, i, now);
        both((t) => count(t, i, 1));
      }
    } else {
      shortcut++;
      const i = selector.get(plainPeers, r);
      expect(got).toBe(i);
      if (plain.fails[i] !== 0) markSelected(plain, i, r.now === r.now ? r.now : now);
      both((t) => count(t, i, 1));
    }
    expect(state(fast)).toEqual(state(plain));
    // a random change on both copies
    const i = draw(weights.length);
    const op = draw(10);
    if (op < 4) {
      if (plain.conns[i]! > 0) both((t) => count(t, i, -1));
    } else if (op < 5) {
      both((t) => {
        t.fails[i] = t.fails[i]! + 1;
        t.accessed[i] = now;
        t.checked[i] = now;
        t.effective[i] = Math.max(0, t.effective[i]! - (t.maxFails[i] ? Math.floor(t.weight[i]! / t.maxFails[i]!) : 0));
        t.refreshGate(i);
      });
    } else if (op < 6) {
      both((t) => {
        if (t.accessed[i]! < t.checked[i]!) t.fails[i] = 0;
        t.refreshGate(i);
      });
    } else if (op < 8) {
      now += [1, 5, 20, 150][draw(4)]!;
    } else if (op < 9) {
      const down = plain.blocked[i] === 0 && draw(3) === 0;
      both((t) => {
        t.blocked[i] = down ? BLOCK_DOWN : 0;
        t.refreshGate(i);
      });
    } else if (draw(4) === 0) {
      // a weight changed in place (membership.ts update: then Tier.recount)
      const w = 1 + draw(8);
      both((t) => {
        t.weight[i] = w;
        if (t.effective[i]! > w) t.effective[i] = w;
        t.recount();
      });
    } else if (draw(3) === 0) {
      // a count that jumps (a server added again while its connections are still open)
      const c = draw(6);
      both((t) => {
        t.conns[i] = c;
        t.load?.connsChanged(i);
      });
    }
  }
  return { shortcut, fallback };
}

describe('least_conn shortcut (least-conn-fresh.ts) against the plain get', () => {
  it('same answer and state on random tiers, with and without the clock', () => {
    let shortcut = 0;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 2, maxLength: 70 }), fc.integer(), fc.boolean(), (weights, seed, withClock) => {
        shortcut += run(weights, seed, withClock, 400).shortcut;
      }),
      { numRuns: 200 },
    );
    expect(shortcut).toBeGreaterThan(10_000); // the shortcut answered, not only the fallback
  });

  it('same answer and state through the index by load (least-conn-index.ts), with and without the clock', () => {
    let shortcut = 0;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 2, maxLength: 70 }), fc.integer(), fc.boolean(), (weights, seed, withClock) => {
        shortcut += run(weights, seed, withClock, 400, 1).shortcut;
      }),
      { numRuns: 200 },
    );
    expect(shortcut).toBeGreaterThan(10_000);
  });

  it('stands aside, changing nothing, in single-server mode and when a server has max_conns', () => {
    const t = tierOf([1, 2, 3]);
    const fresh = new FreshLeastConn({ clock: () => 0, indexFromServers: 0 });
    expect(fresh.take()).toBe(-1); // before the first rebuilt
    fresh.rebuilt({ primary: t, backup: null, single: true, rng: Math.random });
    expect(fresh.take()).toBe(-1);
    fresh.rebuilt({ primary: t, backup: null, single: false, rng: Math.random });
    t.maxConns[1] = 5;
    t.recount();
    expect(fresh.take()).toBe(-1);
    expect(Array.from(t.current)).toEqual([0, 0, 0]);
    t.maxConns[1] = 0;
    t.recount();
    expect(fresh.take()).toBe(2); // all tie at 0 conns: SWRR 1+2+3, server 2 wins and pays 6 back
    expect(Array.from(t.current)).toEqual([1, 2, -3]);
  });

  it('answers -1 with nothing changed when every server is out (the plain get then tries the backup tier)', () => {
    const t = tierOf([1, 1]);
    t.blocked.fill(BLOCK_DOWN);
    t.recount();
    for (const indexFromServers of [0, 1]) {
      const fresh = new FreshLeastConn({ clock: () => 0, indexFromServers });
      fresh.rebuilt({ primary: t, backup: null, single: false, rng: Math.random });
      expect(fresh.take()).toBe(-1);
      expect(Array.from(t.current)).toEqual([0, 0]);
    }
  });
});
