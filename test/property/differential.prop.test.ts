/**
 * Differential test: the Balancer against the plain reference model of nginx round robin
 * (test/reference/nginx-rr.ts, written from docs/nginx-semantics.md §1-4), over random weights, random
 * failure / recovery / update scripts and random clocks (whole seconds and raw ms).
 *
 * fast-check draws the upstream (servers, tries cap, clock mode, active checks) and a seed; the seed
 * drives a long script through a local PRNG, so a run is cheap and reproducible from the reported
 * counterexample, and a mismatch message carries the last operations. A script alternates phases:
 * - chaos: dead servers fail their attempts, one-shot picks are held and released (some failed),
 *   attempts stay open across other operations, the clock jumps inside and across windows, checks
 *   report verdicts, servers are updated, added, removed and replaced;
 * - calm: starts past every failure window, then nothing fails and the clock barely moves, so probes
 *   clear the failures and tiers settle into the SWRR steady state
 *   (the Balancer's O(1) replay path), with occasional weight / flag changes that must leave it
 *   exactly where nginx's scan would be;
 * - churn: like calm, but now and then a held connection fails and the clock creeps forward, so a
 *   server sits out its window while the others replay a period around it (the replay that compares
 *   the clock to the window's end), then is probed and recovers.
 *
 * Compared (harness.ts): every picked id, and every server's fails, conns, effective and current
 * weight and state, plus open attempts' tries — after every operation in half of the runs, every
 * 37th in the other half (so that reads, which restore replayed weights, do not hide a bad restore).
 * accessed / checked from `snapshot()` are compared only where fails > 0: the snapshot reports them
 * as null while fails is 0 (they have no effect then, and the Balancer skips the clock read for them).
 *
 * Hints (nginx 1.30's sticky sessions, docs/nginx-semantics.md §2.10): in three runs of four under the
 * 1.30 target, some requests and attempts carry a hint: the session id of a random server (any
 * tier, any state: down, draining, failed, full, removed since), a route that several servers may
 * share (only the first in the tier counts), or an unknown id. Both sides then also agree on
 * `attempt.sid` and `attempt.hinted` after every `next()`, and on every server's `sid` and `route`.
 *
 * Budget: RUNS x STEPS >= 10^6 operations in total, a few seconds (DIFF_RUNS raises RUNS).
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/clock';
import type { RefServerOptions } from '../reference/nginx-rr';
import { World, type WorldConfig } from '../reference/harness';
import { DEFAULT_TUNING } from '../../src/select/selector';

const DEFAULT_LAZY_FROM = DEFAULT_TUNING.lazyFromServers;

/** `DIFF_RUNS=500 npx vitest run test/property/differential.prop.test.ts` for a longer hunt. */
const RUNS = Number(process.env.DIFF_RUNS ?? 24);
const STEPS = 50_000;

const FAIL_TIMEOUTS = [0, 1000, 2000, 3000, 10_000, 250, 1500, 2750] as const;

interface Params {
  /** maxConns may be set (otherwise always 0: tiers can be calm). */
  limits: boolean;
  /** Weights in the thousands: SWRR periods on both sides of the steady state's 65536 cap. */
  big: boolean;
  /** Compare everything after every `compareEvery` operations (ids are always compared). */
  compareEvery: 1 | 37;
  /** Requests and attempts carry hints (only under the 1.30 target: 1.22 has no sticky sessions). */
  hints: boolean;
  /**
   * Lazy rounds (select/round-robin/lazy-rounds.ts, the Balancer's `tuning.lazyFromServers`) from this tier size up: 1 in half of the runs, so that
   * the small upstreams of the scripts run them too, else the library's threshold.
   */
  lazyFrom: number;
}

/** One server; on average `downIn10` of 10 are `down` and `backupIn20` of 20 are backups. */
const serverArb = (id: string, limits: boolean, downIn10: number, backupIn20: number, big: boolean): fc.Arbitrary<RefServerOptions> =>
  fc.record({
    id: fc.constant(id),
    weight: big
      ? fc.integer({ min: 1000, max: 40_000 })
      : fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 6 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 40 }) }),
    maxFails: fc.integer({ min: 0, max: 3 }),
    failTimeout: fc.constantFrom(...FAIL_TIMEOUTS),
    maxConns: limits ? fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) }) : fc.constant(0),
    backup: fc.integer({ min: 0, max: 19 }).map((k) => k < backupIn20),
    down: fc.integer({ min: 0, max: 9 }).map((k) => k < downIn10),
    drain: fc.integer({ min: 0, max: 19 }).map((k) => k === 0),
    route: fc.option(fc.constantFrom(...ROUTES), { freq: 4, nil: undefined }),
  });

/** Routes the scripts give servers: few, so that several servers share one. */
const ROUTES = ['r1', 'r2', 'r3'] as const;

/**
 * Upstream sizes: mostly 1-7 servers; sometimes 33-44 with few backups and most servers `down`, so
 * that attempts run through whole tiers on both sides of the 32-server boundary of the tried set's
 * representation (a 32-bit mask up to 32 servers, a bitmap beyond).
 */
const sizeArb = fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 7 }) }, { weight: 1, arbitrary: fc.integer({ min: 33, max: 44 }) });

const runArb: fc.Arbitrary<{ config: WorldConfig; params: Params }> = fc
  .tuple(sizeArb, fc.boolean(), fc.constantFrom<1 | 37>(1, 37), fc.integer({ min: 0, max: 5 }).map((k) => k === 0), fc.boolean(), fc.integer({ min: 0, max: 3 }))
  .chain(([size, limits, every, big, lazy, hints]) => {
    // big weights: few servers, and full comparisons less often (reading a replayed weight costs O(period))
    const n = big ? Math.min(size, 5) : size;
    const compareEvery: 1 | 37 = big ? 37 : every;
    return fc.record({
      config: fc.record({
        // the first server is a primary (only backups would throw, as nginx: "no servers in upstream")
        servers: fc
          .tuple(...Array.from({ length: n }, (_, i) => serverArb(i < 26 ? String.fromCharCode(65 + i) : `Z${i}`, limits, n > 7 ? 8 : 1, n > 7 ? 1 : 5, big)))
          .map((list) => list.map((s, i) => (i === 0 ? { ...s, backup: false } : s))),
        tries: fc.constantFrom(0, 0, 0, 1, 2, 3),
        clock: fc.constantFrom<'seconds' | 'ms'>('seconds', 'ms'),
        start: fc.integer({ min: 0, max: 2_000_000_000 }).map((s) => s * 1000 + (s % 7) * 137),
        check: fc.option(fc.record({ rise: fc.integer({ min: 1, max: 2 }), fall: fc.integer({ min: 1, max: 3 }) }), { freq: 4, nil: undefined }),
        // the series differ in round robin only where a membership change leaves one server with fails
        nginx: fc.constantFrom<'1.30' | '1.22'>('1.30', '1.22'),
      }),
      params: fc.constant({ limits, big, compareEvery, lazyFrom: lazy ? 1 : DEFAULT_LAZY_FROM, hints: hints !== 0 }),
    });
  });

/** Random server parameters for add / update / setServers. */
function randomServer(rand: () => number, limits: boolean, big = false): Omit<RefServerOptions, 'id'> {
  return {
    weight: big ? 1000 + Math.floor(rand() * 39_000) : rand() < 0.8 ? 1 + Math.floor(rand() * 6) : 1 + Math.floor(rand() * 40),
    maxFails: Math.floor(rand() * 4),
    failTimeout: FAIL_TIMEOUTS[Math.floor(rand() * FAIL_TIMEOUTS.length)]!,
    maxConns: limits && rand() < 0.25 ? 1 + Math.floor(rand() * 3) : 0,
    backup: rand() < 0.2,
    down: rand() < 0.08,
    drain: rand() < 0.04,
    route: rand() < 0.2 ? ROUTES[Math.floor(rand() * ROUTES.length)]! : undefined,
  };
}

function randomPatch(rand: () => number, limits: boolean, big: boolean): Omit<Partial<RefServerOptions>, 'id'> {
  const s = randomServer(rand, limits, big);
  const patch: Omit<Partial<RefServerOptions>, 'id'> = {};
  for (const k of Object.keys(s) as (keyof typeof s)[]) if (rand() < 0.35) (patch as Record<string, unknown>)[k] = s[k];
  return patch;
}

const NOBODY: ReadonlySet<string> = new Set();

/**
 * A hint for the next request, or null: with probability `p`, the session id of a random server
 * (removed ones included: their ids are unknown now), a route, or an id nobody has.
 */
function hintFor(w: World, rand: () => number, p: number, gone: string[]): string | null {
  if (rand() >= p) return null;
  const x = rand();
  if (x < 0.7) return w.ref.peers[Math.floor(rand() * w.ref.peers.length)]!.sid;
  if (x < 0.85) return ROUTES[Math.floor(rand() * ROUTES.length)]!;
  if (x < 0.92 && gone.length > 0) return gone[Math.floor(rand() * gone.length)]!;
  return `unknown-${Math.floor(rand() * 1000)}`;
}

/** Runs one script of `steps` operations. */
function runScript(config: WorldConfig, params: Params, seed: number, steps: number): World {
  return runSteps({ ...config, tuning: { lazyFromServers: params.lazyFrom } }, params, seed, steps);
}

function runSteps(config: WorldConfig, params: Params, seed: number, steps: number): World {
  const w = new World(config);
  const rand = seededRandom(seed); // mulberry32: drives the script only, never either side's picks
  const { limits } = params;
  const hints = params.hints && config.nginx !== '1.22';
  /** Session ids of servers removed so far (a hint may still name one). */
  const gone: string[] = [];
  const hint = (p: number): string | null => (hints ? hintFor(w, rand, p, gone) : null);
  const remove = (k: number): void => {
    const victim = w.ref.peers[k % w.ref.peers.length];
    if (victim !== undefined && gone.length < 16) gone.push(victim.sid);
    w.remove(k);
  };
  // Per-server health in chaos phases: dead servers fail their attempts. Flipped from time to time.
  const dead = new Set<string>();
  for (const s of config.servers) if (rand() < 0.3) dead.add(s.id);
  let calm = false;
  let churn = false;
  let phaseLeft = 0;
  for (let k = 0; k < steps; k++) {
    if (phaseLeft-- <= 0) {
      const phase = rand();
      calm = phase < 0.3;
      churn = !calm && phase < 0.55;
      phaseLeft = 200 + Math.floor(rand() * 4000);
      // a calm phase starts past every window, so probes can clear the chaos phase's failures
      if (calm || churn) w.advance(10_001 + Math.floor(rand() * 2000));
    }
    const x = rand();
    if (churn) {
      if (x < 0.4) {
        if (w.held.length < 4) w.pick();
        else w.release(Math.floor(rand() * 1e9), rand() < 0.03);
      } else if (x < 0.75) w.release(Math.floor(rand() * 1e9), rand() < 0.03);
      else if (x < 0.85) w.request(NOBODY, rand() < 0.5, hint(0.2));
      else if (x < 0.87) {
        if (w.attempts.length < 2) w.open(hint(0.2));
      } else if (x < 0.9) {
        const y = rand();
        w.step(Math.floor(rand() * 1e9), y < 0.1 ? 'fail' : y < 0.2 ? 'skip' : y < 0.25 ? 'connected-skip' : y < 0.6 ? 'connected-release' : 'release');
      } else if (x < 0.998) w.advance(rand() < 0.9 ? Math.floor(rand() * 120) : Math.floor(rand() * 1500));
      else w.check(Math.floor(rand() * 1e9), rand() < 0.8);
    } else if (calm) {
      if (x < 0.3) w.request(NOBODY, rand() < 0.5, hint(0.1));
      else if (x < 0.62) {
        if (w.held.length < 6) w.pick();
        else w.release(Math.floor(rand() * 1e9), false);
      } else if (x < 0.9) w.release(Math.floor(rand() * 1e9), false);
      else if (x < 0.93) {
        if (w.attempts.length < 2) w.open(hint(0.1));
      } else if (x < 0.97) {
        w.step(Math.floor(rand() * 1e9), rand() < 0.5 ? 'connected-release' : 'release');
      } else if (x < 0.985) w.advance(Math.floor(rand() * 50));
      else if (x < 0.993) {
        const s = randomServer(rand, false, params.big);
        w.update(Math.floor(rand() * 1e9), rand() < 0.5 ? { weight: s.weight } : { down: s.down });
      } else if (x < 0.996) w.check(Math.floor(rand() * 1e9), rand() < 0.7);
      else if (x < 0.998) {
        if (w.ref.peers.length < (params.big ? 6 : 45)) w.add({ ...randomServer(rand, false, params.big), maxConns: 0 });
      } else if (w.ref.peers.length > 1) remove(Math.floor(rand() * 1e9));
    } else if (x < 0.22) {
      w.request(dead, rand() < 0.5, hint(0.4));
    } else if (x < 0.36) {
      if (w.held.length < 12) w.pick();
      else w.release(Math.floor(rand() * 1e9), rand() < 0.5);
    } else if (x < 0.5) {
      const i = Math.floor(rand() * 1e9);
      const h = w.held[i % Math.max(1, w.held.length)];
      w.release(i, h !== undefined && (dead.has(h.s.id) || rand() < 0.05));
    } else if (x < 0.56) {
      if (w.attempts.length < 4) w.open(hint(0.4));
    } else if (x < 0.7) {
      const i = Math.floor(rand() * 1e9);
      const cur = w.attempts[i % Math.max(1, w.attempts.length)]?.a.current;
      const failing = cur !== undefined && dead.has(cur.id);
      const connect = rand() < 0.4;
      // a live server sometimes answers what the request passes on without a failure (http's 403/404)
      const skip = !failing && rand() < 0.15;
      w.step(i, failing ? (connect && rand() < 0.2 ? 'connected-fail' : 'fail') : skip ? (connect ? 'connected-skip' : 'skip') : connect ? 'connected-release' : 'release');
    } else if (x < 0.86) {
      w.advance(rand() < 0.2 ? Math.floor(rand() * 12_000) : Math.floor(rand() * 400));
    } else if (x < 0.9) {
      const ids = w.ref.peers.map((p) => p.id);
      const id = ids[Math.floor(rand() * ids.length)]!;
      if (dead.has(id)) dead.delete(id);
      else dead.add(id);
      w.steps++;
    } else if (x < 0.93) {
      w.check(Math.floor(rand() * 1e9), rand() < 0.6);
    } else if (x < 0.96) {
      w.update(Math.floor(rand() * 1e9), randomPatch(rand, limits, params.big));
    } else if (x < 0.975) {
      if (w.ref.peers.length < (params.big ? 6 : 9) || (config.servers.length > 7 && w.ref.peers.length < 45)) {
        const id = w.add(randomServer(rand, limits, params.big));
        if (rand() < 0.3) dead.add(id);
      }
    } else if (x < 0.99) {
      if (w.ref.peers.length > 1) remove(Math.floor(rand() * 1e9));
    } else {
      const keep = Array.from({ length: 8 }, () => rand() < 0.8);
      w.setServers(keep, Math.floor(rand() * 8), rand() < 0.5 ? [randomServer(rand, limits, params.big)] : []);
    }
    if (params.compareEvery === 1) w.compare((k & 15) === 0);
    else if (k % 37 === 0) w.compare(true);
  }
  // free everything still in flight, comparing as we go
  while (w.held.length > 0) {
    w.release(0, false);
    w.compare(true);
  }
  return w;
}

describe('differential: Balancer vs reference nginx round robin', () => {
  it(`agrees on ${RUNS} random upstreams x ${STEPS} random operations (>= 10^6 in total)`, () => {
    let total = 0;
    const stats: Record<string, number> = {};
    const t0 = performance.now();
    fc.assert(
      fc.property(runArb, fc.integer(), ({ config, params }, seed) => {
        const w = runScript(config, params, seed, STEPS);
        total += w.steps;
        for (const [k, v] of Object.entries(w.stats)) stats[k] = (stats[k] ?? 0) + v;
        for (const [k, v] of Object.entries(w.ref.hintCounts)) stats[`hint-${k}`] = (stats[`hint-${k}`] ?? 0) + v;
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
    const ms = performance.now() - t0;
    console.log(`differential: ${total} operations in ${ms.toFixed(0)} ms; ${JSON.stringify(stats)}`);
    expect(total).toBeGreaterThanOrEqual(RUNS * STEPS * 0.8);
    expect(total).toBeGreaterThanOrEqual(1_000_000);
    // the scripts exercised what they are meant to (not a run of "no live upstreams")
    expect(stats.served!).toBeGreaterThan(total / 5);
    expect(stats.backupServed!).toBeGreaterThan(1000);
    expect(stats.failures!).toBeGreaterThan(10_000);
    expect(stats.probes!).toBeGreaterThan(1000);
    expect(stats.recoveries!).toBeGreaterThan(500);
    expect(stats.replayed!).toBeGreaterThan(10_000);
    expect(stats.timedReplay!).toBeGreaterThan(500);
    expect(stats.lazy!).toBeGreaterThan(10_000);
    expect(stats.branchFree!).toBeGreaterThan(10_000);
    expect(stats.fresh!).toBeGreaterThan(10_000); // one-shot picks through round robin's fresh round
    // hints were asked and honoured, of draining servers and of backup servers too
    expect(stats.hintAsked!).toBeGreaterThan(15_000);
    expect(stats.hinted!).toBeGreaterThan(5_000);
    expect(stats.hintedDrain!).toBeGreaterThan(100);
    expect(stats.hintedBackup!).toBeGreaterThan(200);
    // ... each way: taken with no weight change, winning a round, in single-server mode
    expect(stats['hint-kept']!).toBeGreaterThan(500);
    expect(stats['hint-paid']!).toBeGreaterThan(500);
    expect(stats['hint-single']!).toBeGreaterThan(50);
  }, Math.max(36_000, RUNS * 1_500)); // 0.4-0.9 s a run on a loaded 2-vCPU machine: a long hunt (DIFF_RUNS) gets time in proportion
});

describe('differential: balancers over one upstream zone vs reference nginx round robin', () => {
  // Three balancers over one zone (src/zone/), each operation on one of them at random: together
  // they must be the one nginx upstream of the reference, events included (one per transition).
  const ZONE_RUNS = Number(process.env.DIFF_ZONE_RUNS ?? 10);
  const ZONE_STEPS = 30_000;
  it(`agrees on ${ZONE_RUNS} random upstreams x ${ZONE_STEPS} random operations spread over 3 balancers`, () => {
    let total = 0;
    const stats: Record<string, number> = {};
    fc.assert(
      fc.property(runArb, fc.integer(), ({ config, params }, seed) => {
        const every = process.env.DIFF_EVERY === '1' ? { compareEvery: 1 as const } : {};
        const w = runScript({ ...config, zone: { balancers: 3, seed } }, { ...params, ...every }, seed, ZONE_STEPS);
        total += w.steps;
        for (const [k, v] of Object.entries(w.stats)) stats[k] = (stats[k] ?? 0) + v;
      }),
      { numRuns: ZONE_RUNS, endOnFailure: true, ...(process.env.DIFF_SEED === undefined ? {} : { seed: Number(process.env.DIFF_SEED) }) },
    );
    console.log(`differential (zone): ${total} operations; ${JSON.stringify(stats)}`);
    expect(total).toBeGreaterThanOrEqual(ZONE_RUNS * ZONE_STEPS * 0.8);
    expect(stats.served!).toBeGreaterThan(total / 5);
    expect(stats.failures!).toBeGreaterThan(1000);
    expect(stats.recoveries!).toBeGreaterThan(50);
    // the zone's shared replay ran (calm phases), and was left exactly at every change
    expect(stats.zoneReplayed!).toBeGreaterThan(1000);
    expect(stats.replayed).toBe(0);
  }, Math.max(60_000, ZONE_RUNS * 6_000));
});
