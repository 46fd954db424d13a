import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock } from '../../src/clock';
import { BRANCH_FREE_MAX_SERVERS } from '../../src/select/round-robin/branch-free-round';
import { DEFAULT_TUNING } from '../../src/select/selector';
import { lockstep, weights } from './lockstep';

// Rounds on tiers below the lazy threshold run branch-free rounds (a branch-free maximum over 32-bit keys
// `current << 5 | (31 - i)`) until the tier has settled after a change, then the plain loop; these
// drive both against the reference scan.
describe('small rounds (branch-free maximum) against the reference scan', () => {
  it('covers every tier below the lazy threshold', () => {
    expect(DEFAULT_TUNING.lazyFromServers - 1).toBeLessThanOrEqual(BRANCH_FREE_MAX_SERVERS);
  });

  it('breaks ties towards the first server in config order (nginx strict >)', () => {
    // Uniform weights tie on every round of the period: a, b, c, d, then again.
    const clock = new ManualClock(0);
    const b = new Balancer({ servers: ['a', 'b', 'c', 'd'].map((id) => ({ id, address: `10.3.0.${id.charCodeAt(0)}:25`, weight: 2, maxConns: 100 })), clock: clock.now });
    const picks: string[] = [];
    for (let k = 0; k < 12; k++) {
      const s = b.pick()!;
      picks.push(s.id);
      b.release(s);
    }
    expect(picks.join('')).toBe('abcdabcdabcd');
  });

  it('agrees through failures, probes and recoveries (8 servers, weights 1-10, 23 servers, weights 1-3)', () => {
    const eight = lockstep(weights(8, (i) => 1 + ((i * 7) % 10)), 20_000, 13, { failEvery: 40, hold: 2 });
    expect(eight.rounds).toBeGreaterThan(5_000);
    expect(eight.branchFree).toBeGreaterThan(2_000);
    const many = lockstep(weights(DEFAULT_TUNING.lazyFromServers - 1, (i) => 1 + (i % 3)), 10_000, 17, { failEvery: 30, hold: 3 });
    expect(many.rounds).toBeGreaterThan(2_000);
    expect(many.branchFree).toBeGreaterThan(1_000);
    expect(many.lazy).toBe(0);
  });

  it('settles back to the plain comparison about two periods after a change (rare failures, no replay)', () => {
    // max_conns never reached: every pick is a round (no steady-state replay).
    const servers = weights(10, (i) => 1 + ((i * 3) % 7)).map((s) => ({ ...s, maxConns: 1_000_000 }));
    const calm = lockstep(servers, 20_000, 31, { failEvery: 2_000, hold: 1 });
    expect(calm.rounds).toBeGreaterThan(15_000);
    expect(calm.branchFree).toBeGreaterThan(300);
    expect(calm.rounds - calm.branchFree).toBeGreaterThan(10_000);
    // Equal weights: the plain comparison throughout.
    expect(lockstep(weights(10, () => 3).map((s) => ({ ...s, maxConns: 1_000_000 })), 2_000, 37, { failEvery: 50 }).branchFree).toBe(0);
  });

  it('agrees when every server has max_conns and connections are held', () => {
    const servers = weights(12, (i) => 1 + (i % 4)).map((s, i) => ({ ...s, maxConns: 1 + (i % 2) }));
    const full = lockstep(servers, 10_000, 19, { hold: 8, failEvery: 80 });
    expect(full.rounds).toBeGreaterThan(5_000);
    expect(full.branchFree).toBeGreaterThan(2_000);
  });

  it('falls back to exact comparisons when current weights leave the keys range (weights near 2^31)', () => {
    const huge = lockstep(weights(6, (i) => 0x7fffffff - i * 0x10000000), 5_000, 23, { failEvery: 25, hold: 2 });
    expect(huge.branchFree).toBeGreaterThan(1_000);
    expect(huge.widest).toBeGreaterThan(2 ** 25);
    // Mixed: small weights next to two huge ones (their current weights swing past 2^25 and back).
    const mixed = lockstep(weights(7, (i) => (i === 3 ? 2 ** 27 + 1 : i === 5 ? 2 ** 26 + 3 : 1 + i)), 5_000, 29, { failEvery: 20, hold: 1 });
    expect(mixed.branchFree).toBeGreaterThan(1_000);
    expect(mixed.widest).toBeGreaterThan(2 ** 25);
  });
});
