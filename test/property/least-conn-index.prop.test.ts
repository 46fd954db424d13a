/**
 * least_conn's index by load (src/select/least-conn-index.ts) against a look at every server:
 * after every change of a random tier (a connection held or freed, a count that jumps, a server
 * down or up, failures recorded or cleared, a connection limit, a weight changed in place), the
 * index's best ratio, its tied servers and its failing list must be what a scan of the tier finds.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/clock';
import { LeastConnIndex, MAX_FILED_CONNS } from '../../src/select/least-conn-index';
import { BLOCK_DOWN, Tier } from '../../src/tier';

function tierOf(weights: number[]): Tier {
  const t = new Tier(
    weights.map((_, i) => ({ address: `10.0.0.${i}:80`, sid: `s${i}` })),
    false,
  );
  weights.forEach((w, i) => {
    t.weight[i] = w;
    t.effective[i] = w;
  });
  t.recount();
  return t;
}

/** What a scan finds: the best ratio among gate-0 servers, the servers at it, the failing ones. */
function scan(t: Tier): { best: [number, number] | null; tied: number[]; failing: number[] } {
  let best: [number, number] | null = null;
  const failing: number[] = [];
  for (let i = 0; i < t.n; i++) {
    const g = t.gate[i]!;
    if (g !== 0) {
      if (g === 16) failing.push(i); // GATE_FAILS alone
      continue;
    }
    const c = t.conns[i]!;
    const w = t.weight[i]!;
    if (best === null || c * best[1] < best[0] * w) best = [c, w];
  }
  const tied: number[] = [];
  if (best !== null) for (let i = 0; i < t.n; i++) if (t.gate[i] === 0 && t.conns[i]! * best[1] === best[0] * t.weight[i]!) tied.push(i);
  return { best, tied, failing };
}

function observe(index: LeastConnIndex): { best: [number, number] | null; tied: number[]; failing: number[] } {
  const out = new Float64Array(2);
  const failing = Array.from(index.failing.subarray(0, index.failingCount)).sort((a, b) => a - b);
  if (!index.best(out)) return { best: null, tied: [], failing };
  const tied = new Int32Array(index.tier.n);
  const count = index.collect(out[0]!, out[1]!, tied, 0);
  // the same ratio may be written as another fraction: compare by cross-multiplication below
  return { best: [out[0]!, out[1]!], tied: Array.from(tied.subarray(0, count)).sort((a, b) => a - b), failing };
}

function expectSame(index: LeastConnIndex, t: Tier): void {
  const want = scan(t);
  const got = observe(index);
  expect(got.tied).toEqual(want.tied);
  expect(got.failing).toEqual(want.failing);
  expect(got.best === null).toBe(want.best === null);
  if (got.best !== null && want.best !== null) expect(got.best[0] * want.best[1]).toBe(want.best[0] * got.best[1]);
}

function run(weights: number[], seed: number, steps: number): void {
  const rng = seededRandom(seed);
  const draw = (k: number) => Math.floor(rng() * k);
  const t = tierOf(weights);
  for (let i = 0; i < t.n; i++) {
    t.conns[i] = draw(4);
  }
  t.recount();
  const index = new LeastConnIndex(t);
  t.load = index;
  expectSame(index, t);
  for (let step = 0; step < steps; step++) {
    const i = draw(t.n);
    const op = draw(12);
    if (op < 4) {
      t.conns[i] = t.conns[i]! + 1;
      t.load.connsChanged(i);
    } else if (op < 8) {
      if (t.conns[i]! > 0) {
        t.conns[i] = t.conns[i]! - 1;
        t.load.connsChanged(i);
      }
    } else if (op === 8) {
      t.conns[i] = draw(9);
      t.load.connsChanged(i);
    } else if (op === 9) {
      t.blocked[i] = t.blocked[i] === 0 && draw(2) === 0 ? BLOCK_DOWN : 0;
      t.refreshGate(i);
    } else if (op === 10) {
      t.fails[i] = t.fails[i] === 0 ? 1 + draw(2) : 0;
      t.refreshGate(i);
    } else if (draw(2) === 0) {
      t.weight[i] = 1 + draw(6);
      t.recount();
    } else {
      t.maxConns[i] = t.maxConns[i] === 0 ? 1 + draw(4) : 0;
      t.recount();
    }
    expectSame(index, t);
  }
}

describe('least_conn index by load (least-conn-index.ts) against a scan', () => {
  it('the same best ratio, tied servers and failing servers after every change', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 40 }), fc.integer(), (weights, seed) => run(weights, seed, 300)),
      { numRuns: 300 },
    );
  });

  it('a lone least server that jumps up hands the least to the next count that has servers', () => {
    const t = tierOf([1, 1, 1]);
    t.conns.set([0, 2, 3]);
    t.recount();
    const index = new LeastConnIndex(t);
    t.load = index;
    t.conns[0] = 5; // a jump of five: the next bucket up (1) is empty, the least is 2
    index.connsChanged(0);
    expect(observe(index)).toEqual({ best: [2, 1], tied: [1], failing: [] });
  });

  it('stands aside above MAX_FILED_CONNS, and files again at the next weightsChanged', () => {
    const t = tierOf([1, 2]);
    const index = new LeastConnIndex(t);
    t.load = index;
    t.conns[1] = MAX_FILED_CONNS + 1;
    index.connsChanged(1);
    expect(index.usable).toBe(false);
    t.conns[1] = 3;
    t.recount();
    expect(index.usable).toBe(true);
    expect(observe(index)).toEqual({ best: [0, 1], tied: [0], failing: [] });
  });
});
