import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/clock';
import { DEFAULT_TUNING } from '../../src/select/selector';

const lazyFrom = DEFAULT_TUNING.lazyFromServers;
import { World } from '../reference/harness';
import { lockstep as lockstepStats, tierOf, weights } from './lockstep';

/** Picks that ran on a lazy tier (see ./lockstep.ts). */
const lockstep = (...args: Parameters<typeof lockstepStats>) => lockstepStats(...args).lazy;

describe('lazy rounds (clean servers in per-weight heaps) against the reference scan', () => {
  it(`runs on tiers from ${lazyFrom} servers by default, from the injected threshold otherwise`, () => {
    expect(lazyFrom).toBeGreaterThan(1);
    // (failures keep the tier off its steady-state replay, which needs no rounds at all)
    expect(lockstep(weights(lazyFrom - 1, () => 1), 300, 1, { hold: 3, failEvery: 10 })).toBe(0);
    expect(lockstep(weights(lazyFrom, () => 1), 300, 1, { hold: 3, failEvery: 10 })).toBeGreaterThan(150);
    expect(lockstep(weights(6, () => 1), 300, 1, { hold: 3, failEvery: 10, lazyFromServers: 6 })).toBeGreaterThan(150);
    expect(lockstep(weights(6, () => 1), 300, 1, { hold: 3, failEvery: 10, lazyFromServers: 7 })).toBe(0);
  });

  it('agrees with failures, probes and recoveries (64 servers, weights 1-10)', () => {
    const lazy = lockstep(weights(64, (i) => 1 + ((i * 7) % 10)), 20_000, 7, { failEvery: 60, hold: 2 });
    expect(lazy).toBeGreaterThan(10_000);
  });

  it('agrees when every server has max_conns and connections are held (servers go full and come back)', () => {
    const servers = weights(48, (i) => 1 + (i % 3)).map((s, i) => ({ ...s, maxConns: 1 + (i % 2) }));
    const lazy = lockstep(servers, 20_000, 11, { hold: 40 });
    expect(lazy).toBeGreaterThan(10_000);
  });

  it('agrees across anchor rebases', () => {
    const lazy = lockstep(weights(40, (i) => 1 + (i % 4)), 5_000, 3, { failEvery: 30, hold: 1, rebaseAt: 7 });
    expect(lazy).toBeGreaterThan(2_000);
  });

  it('agrees with one weight class (uniform) and with all-distinct weights', () => {
    expect(lockstep(weights(100, () => 3), 5_000, 5, { failEvery: 50, hold: 2 })).toBeGreaterThan(2_000);
    expect(lockstep(weights(30, (i) => i + 1), 5_000, 9, { failEvery: 50, hold: 2 })).toBeGreaterThan(2_000);
  });

  it('agrees on retries: tried servers sit the round out, then rejoin their heaps (40 servers, 6 dead)', () => {
    const servers = weights(40, (i) => 1 + (i % 5)).map((x) => ({ ...x, maxFails: 2, failTimeout: 1000 }));
    const w = new World({ servers, tries: 0, clock: 'ms', start: 5_000_000 });
    const rand = seededRandom(21);
    const dead = new Set(['s3', 's7', 's8', 's20', 's31', 's39']);
    let lazyRetries = 0;
    for (let k = 0; k < 4000; k++) {
      const t = tierOf(w.b);
      const before = t.rounds;
      const outcome = w.request(dead, rand() < 0.5);
      if (t.lazy?.active === true && outcome.includes('!') && t.rounds - before > 1) lazyRetries++;
      if (rand() < 0.3) w.advance(Math.floor(rand() * 300));
      if (k % 50 === 0) w.compare(true);
      if (k % 700 === 699) dead.add(`s${Math.floor(rand() * 40)}`);
    }
    w.compare(true);
    expect(lazyRetries).toBeGreaterThan(300);
  });
});
