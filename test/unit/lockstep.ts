/**
 * Lock-step driver for the selection unit tests: one Balancer and the reference scan
 * (test/reference/nginx-rr.ts) given the same one-shot picks, holds, releases and failures, compared
 * pick by pick and, every 97 picks, server by server.
 */

import { expect } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock, seededRandom } from '../../src/clock';
import type { Server } from '../../src/server';
import { roundRobinStateOf } from '../../src/select/round-robin/index';
import type { ServerRecord } from '../../src/server';
import { RefUpstream, type RefPeer, type RefServerOptions } from '../reference/nginx-rr';

/** The round-robin selector's state over the balancer's primary tier (the accelerators'). */
export const tierOf = (b: Balancer) => roundRobinStateOf(b.servers[0] as ServerRecord)!;

/**
 * Drives a Balancer and the reference scan with the same one-shot picks, holds, releases and
 * failures; returns how many picks ran on a lazy tier (`lazy`), how many ran a round on a tier that
 * was not lazy (`rounds`), how many of those used the branch-free maximum (`branchFree`: the tier
 * had not settled since its last change), and the largest |current weight| the comparisons saw
 * (`widest`). Any
 * difference in a pick or in a server's current / effective weight, fails or conns throws.
 */
export function lockstep(
  servers: RefServerOptions[],
  steps: number,
  seed: number,
  opts: { failEvery?: number; hold?: number; rebaseAt?: number; lazyFromServers?: number } = {},
) {
  const clock = new ManualClock(1_000_000);
  const b = new Balancer({
    servers: servers.map((s, i) => ({ ...s, address: `10.2.${i >> 8}.${i & 255}:25` })),
    clock: clock.now,
    ...(opts.lazyFromServers === undefined ? {} : { tuning: { lazyFromServers: opts.lazyFromServers } }),
  });
  const ref = new RefUpstream(servers);
  const rand = seededRandom(seed);
  const held: [Server, RefPeer][] = [];
  const stats = { lazy: 0, rounds: 0, branchFree: 0, widest: 0 };
  for (let k = 0; k < steps; k++) {
    clock.advance(Math.floor(rand() * 30));
    const t = tierOf(b);
    const lazy = t.lazy;
    if (opts.rebaseAt !== undefined && lazy !== null) lazy.rebaseAt = Math.min(lazy.rebaseAt, opts.rebaseAt);
    const before = t.rounds;
    const branchFree = !(lazy?.active ?? false) && t.rounds < t.branchFreeUntil;
    const s = b.pick();
    const p = ref.pick(clock.now());
    expect(s?.id ?? null, `pick ${k}`).toBe(p?.id ?? null);
    if (lazy?.active === true) stats.lazy++;
    else if (t.rounds !== before) {
      stats.rounds++;
      if (branchFree) stats.branchFree++;
    }
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
        stats.widest = Math.max(stats.widest, Math.abs(x.currentWeight));
      });
    }
  }
  return stats;
}

export const weights = (n: number, f: (i: number) => number): RefServerOptions[] =>
  Array.from({ length: n }, (_, i) => ({ id: `s${i}`, weight: f(i), failTimeout: 200 }));

