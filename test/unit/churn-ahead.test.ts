/**
 * Calm rounds computed ahead (src/select/round-robin/rounds-ahead.ts) and the steady replay that
 * hands them out (steady-replay.ts): the computed winners against nginx's round written out here,
 * the bound that `start` proves against the weights a long run reaches, and the Balancer under the
 * churn workload of bench/isolated.ts (a failure every 100 picks) against the reference scan, pick
 * by pick and weight by weight, with the computed schedules (periodic or not) doing most picks.
 */

import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock, seededRandom } from '../../src/clock';
import { roundRobinStateOf } from '../../src/select/round-robin/index';
import { AHEAD_MAX_SERVERS, RoundsAhead } from '../../src/select/round-robin/rounds-ahead';
import type { ServerRecord } from '../../src/server';
import { Tier } from '../../src/tier';
import { RefUpstream } from '../reference/nginx-rr';
import { named } from '../helpers';

/** A tier of `weights` at the current weights `current`, every server eligible. */
function tierOf(weights: number[], current: number[]): Tier {
  const t = new Tier(
    weights.map((_, i) => ({ address: `10.5.0.${i}:25`, sid: String(i) })),
    false,
  );
  t.weight.set(weights);
  t.effective.set(weights);
  t.current.set(current);
  return t;
}

/** nginx's round among the servers marked in `inPeriod` (all at full weight), on plain numbers. */
function plainRounds(weights: number[], current: number[], inPeriod: Uint8Array, rounds: number): { picks: number[]; current: number[]; widest: number } {
  const c = current.slice();
  const total = weights.reduce((sum, w, i) => sum + (inPeriod[i] !== 0 ? w : 0), 0);
  const picks: number[] = [];
  let widest = 0;
  for (let p = 0; p < rounds; p++) {
    let best = -1;
    for (let i = 0; i < c.length; i++) {
      if (inPeriod[i] === 0) continue;
      c[i] = c[i]! + weights[i]!;
      widest = Math.max(widest, Math.abs(c[i]!));
      if (best < 0 || c[i]! > c[best]!) best = i;
    }
    c[best] = c[best]! - total;
    widest = Math.max(widest, Math.abs(c[best]!));
    picks.push(best);
  }
  return { picks, current: c, widest };
}

describe('rounds computed ahead against nginx round', () => {
  it('gives the same winners and weights, in lanes (up to 8 servers) and in blocks (up to AHEAD_MAX_SERVERS), in chunks', () => {
    const rand = seededRandom(4242);
    let blocks = 0;
    for (let scenario = 0; scenario < 400; scenario++) {
      const n = 1 + Math.floor(rand() * (scenario % 2 === 0 ? 8 : AHEAD_MAX_SERVERS + 4));
      const weights = Array.from({ length: n }, () => 1 + Math.floor(rand() * (rand() < 0.2 ? 200 : 10)));
      const current = weights.map(() => Math.floor((rand() - 0.5) * (rand() < 0.3 ? 4000 : 60)));
      const inPeriod = new Uint8Array(n).map(() => (rand() < 0.85 ? 1 : 0));
      inPeriod[Math.floor(rand() * n)] = 1;
      const members = inPeriod.reduce((sum, x) => sum + x, 0);
      const period = weights.reduce((sum, w, i) => sum + (inPeriod[i] !== 0 ? w : 0), 0);
      const t = tierOf(weights, current);
      const ahead = new RoundsAhead(n);
      const accepted = ahead.start(t, inPeriod, period);
      expect(accepted, `scenario ${scenario}`).toBe(members <= AHEAD_MAX_SERVERS);
      if (!accepted) continue;
      if (members > 8) blocks++;
      const rounds = 3 * period + 7;
      const picks = new Uint32Array(rounds);
      for (let from = 0; from < rounds; ) {
        const to = Math.min(rounds, from + 1 + Math.floor(rand() * 70));
        ahead.compute(picks, from, to);
        from = to;
      }
      const want = plainRounds(weights, current, inPeriod, rounds);
      expect(Array.from(picks), `scenario ${scenario}`).toEqual(want.picks);
      const reached = new Float64Array(current);
      ahead.writeTo(reached);
      expect(Array.from(reached), `scenario ${scenario}`).toEqual(want.current);
      expect(ahead.returnedTo(new Float64Array(want.current))).toBe(true);
    }
    expect(blocks).toBeGreaterThan(30);
  });

  it('takes ties to the first server in configuration order, idle lanes never win', () => {
    // Four equal weights from equal (negative) current weights: a b c d, then again.
    const t = tierOf([2, 2, 2, 2], [-5, -5, -5, -5]);
    const ahead = new RoundsAhead(4);
    expect(ahead.start(t, new Uint8Array([1, 1, 1, 1]), 8)).toBe(true);
    const picks = new Uint16Array(8);
    ahead.compute(picks, 0, 8);
    expect(Array.from(picks)).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    // One server far below zero, near the bound: still never beaten by an idle lane.
    const low = tierOf([1, 1], [-33554000, 33554000]);
    const two = new RoundsAhead(2);
    expect(two.start(low, new Uint8Array([1, 1]), 2)).toBe(true);
    const p2 = new Uint16Array(4);
    two.compute(p2, 0, 4);
    expect(Array.from(p2)).toEqual(plainRounds([1, 1], [-33554000, 33554000], new Uint8Array([1, 1]), 4).picks);
  });

  it('declines where a current weight could leave ±2^25, and what it accepts stays inside over long runs', () => {
    const ahead = new RoundsAhead(3);
    const all = new Uint8Array([1, 1, 1]);
    expect(ahead.start(tierOf([1, 1, 1], [2 ** 25, 0, -(2 ** 25)]), all, 3)).toBe(false);
    // (the proven bound is S + W - (m - 1) L: twice the lowest weight's distance below zero)
    expect(ahead.start(tierOf([1, 1, 1], [2 ** 24, 0, -(2 ** 24)]), all, 3)).toBe(false);
    expect(ahead.start(tierOf([1, 1, 1], [2 ** 23, 0, -(2 ** 23)]), all, 3)).toBe(true);
    expect(ahead.start(tierOf([2 ** 25, 1, 1], [0, 0, 0]), all, 2 ** 25 + 2)).toBe(false);
    expect(ahead.start(tierOf([1, 1, 1], [0, 0, 0]), new Uint8Array(3), 0)).toBe(false); // no server: nothing to compute
    const many = new RoundsAhead(AHEAD_MAX_SERVERS + 1);
    const weights = Array.from({ length: AHEAD_MAX_SERVERS + 1 }, () => 1);
    expect(many.start(tierOf(weights, weights.map(() => 0)), new Uint8Array(weights.length).fill(1), weights.length)).toBe(false);
    // Accepted states: the weights the rounds reach stay within 2^25 (the keys' range).
    const rand = seededRandom(99);
    for (let k = 0; k < 300; k++) {
      const n = 2 + Math.floor(rand() * 6);
      const w = Array.from({ length: n }, () => 1 + Math.floor(rand() * 2000));
      const scale = 2 ** (10 + Math.floor(rand() * 16));
      const c = w.map(() => Math.floor((rand() - 0.5) * scale));
      const a = new RoundsAhead(n);
      const inPeriod = new Uint8Array(n).fill(1);
      const period = w.reduce((x, y) => x + y, 0);
      if (!a.start(tierOf(w, c), inPeriod, period)) continue;
      expect(plainRounds(w, c, inPeriod, 3 * period).widest).toBeLessThan(2 ** 25);
    }
  });
});

/** The churn workload of bench/isolated.ts on `weights` against the reference scan. */
function churn(weights: number[], picks: number, opts: { failEvery: number; failTimeout: number; lazyFromServers?: number }) {
  const clock = new ManualClock(0);
  const servers = named(weights).map((s) => ({ ...s, failTimeout: opts.failTimeout }));
  const b = new Balancer({ servers, clock: clock.now, ...(opts.lazyFromServers === undefined ? {} : { tuning: { lazyFromServers: opts.lazyFromServers } }) });
  const ref = new RefUpstream(servers);
  const state = roundRobinStateOf(b.servers[0] as ServerRecord)!;
  const stats = { replayed: 0, rounds: 0, restarts: 0 };
  for (let k = 1; k <= picks; k++) {
    clock.advance(1);
    const before = state.rounds;
    // W rounds computed ahead that were not a period, all handed out: this pick starts a new schedule
    const r = state.replay;
    if (r.replaying && r.wrapAt < 0 && r.end === r.period && r.position === r.period) stats.restarts++;
    const s = b.pick()!;
    const p = ref.pick(clock.now())!;
    expect(s.id, `pick ${k}`).toBe(p.id);
    if (state.rounds !== before) stats.rounds++;
    else stats.replayed++;
    const failed = k % opts.failEvery === 0;
    b.release(s, failed);
    ref.release(p, failed, clock.now());
    if (k % 7 === 0 || failed) {
      expect(
        b.snapshot().servers.map((x) => [x.currentWeight, x.effectiveWeight, x.fails]),
        `after pick ${k}`,
      ).toEqual(ref.peers.map((x) => [x.currentWeight, x.effectiveWeight, x.fails]));
    }
  }
  return stats;
}

describe('the churn workload (a failure every 100 picks) against the reference scan', () => {
  it('8 servers of weights 1-10: most picks come from computed schedules, the weights restored exactly', () => {
    const stats = churn([1, 8, 5, 2, 9, 6, 3, 10], 20_000, { failEvery: 100, failTimeout: 50 });
    expect(stats.replayed).toBeGreaterThan(16_000);
    expect(stats.restarts).toBeGreaterThan(20); // schedules whose first W rounds were a transient
  });

  it('with equal weights, with 14 servers (computed in blocks), 20 (recorded windows) and with failures every 30 picks', () => {
    expect(churn([3, 3, 3, 3, 3, 3, 3, 3], 8_000, { failEvery: 100, failTimeout: 50 }).replayed).toBeGreaterThan(6_000);
    const fourteen = Array.from({ length: 14 }, (_, i) => 1 + ((i * 7) % 10));
    expect(churn(fourteen, 8_000, { failEvery: 100, failTimeout: 50 }).replayed).toBeGreaterThan(4_000);
    const twenty = Array.from({ length: 20 }, (_, i) => 1 + ((i * 7) % 10));
    expect(churn(twenty, 4_000, { failEvery: 100, failTimeout: 50 }).restarts).toBe(0);
    expect(churn([1, 8, 5, 2, 9, 6, 3, 10], 8_000, { failEvery: 30, failTimeout: 20 }).replayed).toBeGreaterThan(3_000);
  });

  it('lazy tiers keep the recording window (no rounds computed ahead there)', () => {
    const clock = new ManualClock(0);
    const b = new Balancer({ servers: named([1, 8, 5, 2, 9, 6, 3, 10]), clock: clock.now, tuning: { lazyFromServers: 1 } });
    expect(roundRobinStateOf(b.servers[0] as ServerRecord)!.replay.ahead).toBe(null);
    expect(churn([1, 8, 5, 2, 9, 6, 3, 10], 6_000, { failEvery: 100, failTimeout: 50, lazyFromServers: 1 }).restarts).toBe(0);
  });
});
