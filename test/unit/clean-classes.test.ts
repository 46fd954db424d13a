import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock, seededRandom } from '../../src/clock';
import type { Server } from '../../src/server';
import type { Tier } from '../../src/tier';
import { lazyRounds } from '../../src/select/clean-classes';
import { RefUpstream, type RefPeer, type RefServerOptions } from '../reference/nginx-rr';
import { World } from '../reference/harness';

const tierOf = (b: Balancer) => (b.servers[0] as unknown as { tier: Tier }).tier;

/**
 * Drives a Balancer and the reference scan with the same one-shot picks, holds, releases and
 * failures; returns how many picks ran on a lazy tier. Any difference in a pick or in a server's
 * current / effective weight, fails or conns throws.
 */
function lockstep(servers: RefServerOptions[], steps: number, seed: number, opts: { failEvery?: number; hold?: number; rebaseAt?: number } = {}) {
  const clock = new ManualClock(1_000_000);
  const b = new Balancer({ servers: servers.map((s, i) => ({ ...s, address: `10.2.${i >> 8}.${i & 255}:25` })), clock: clock.now });
  const ref = new RefUpstream(servers);
  const rand = seededRandom(seed);
  const held: [Server, RefPeer][] = [];
  let lazy = 0;
  for (let k = 0; k < steps; k++) {
    clock.advance(Math.floor(rand() * 30));
    const t = tierOf(b);
    if (opts.rebaseAt !== undefined && t.clean !== null) t.clean.rebaseAt = Math.min(t.clean.rebaseAt, opts.rebaseAt);
    const s = b.pick();
    const p = ref.pick(clock.now());
    expect(s?.id ?? null, `pick ${k}`).toBe(p?.id ?? null);
    if (t.lazy) lazy++;
    if (s !== undefined && p !== null) held.push([s, p]);
    while (held.length > (opts.hold ?? 0) || (held.length > 0 && rand() < 0.3)) {
      const [hs, hp] = held.splice(Math.floor(rand() * held.length), 1)[0]!;
      const failed = opts.failEvery !== undefined && rand() * opts.failEvery < 1;
      b.release(hs, failed);
      ref.release(hp, failed, clock.now());
    }
    if (k % 97 === 0) {
      const snap = b.snapshot().servers;
      snap.forEach((x, i) => {
        const r = ref.peers[i]!;
        expect([x.id, x.currentWeight, x.effectiveWeight, x.fails, x.conns], `server ${i} after pick ${k}`).toEqual([r.id, r.currentWeight, r.effectiveWeight, r.fails, r.conns]);
      });
    }
  }
  return lazy;
}

const weights = (n: number, f: (i: number) => number): RefServerOptions[] =>
  Array.from({ length: n }, (_, i) => ({ id: `s${i}`, weight: f(i), failTimeout: 200 }));

describe('lazy rounds (clean servers in per-weight heaps) against the reference scan', () => {
  it(`runs on tiers from ${lazyRounds.minServers} servers`, () => {
    expect(lazyRounds.minServers).toBeGreaterThan(1);
    // (failures keep the tier off its steady-state replay, which needs no rounds at all)
    expect(lockstep(weights(lazyRounds.minServers - 1, () => 1), 300, 1, { hold: 3, failEvery: 10 })).toBe(0);
    expect(lockstep(weights(lazyRounds.minServers, () => 1), 300, 1, { hold: 3, failEvery: 10 })).toBeGreaterThan(150);
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
      if (t.lazy && outcome.includes('!') && t.rounds - before > 1) lazyRetries++;
      if (rand() < 0.3) w.advance(Math.floor(rand() * 300));
      if (k % 50 === 0) w.compare(true);
      if (k % 700 === 699) dead.add(`s${Math.floor(rand() * 40)}`);
    }
    w.compare(true);
    expect(lazyRetries).toBeGreaterThan(300);
  });
});
