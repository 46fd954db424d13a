/**
 * The fresh round (src/select/round-robin/fresh-round.ts), round robin's shortcut for a one-shot
 * `pick()`, against the plain get: twin balancers over the same servers and the same clock, one
 * driven by `pick()` / `release(server, failed)` (the shortcut), the other by an attempt's first
 * `next()` / `release()` / `fail()` (the selector's get and the Balancer's `#choose`), must pick the
 * same servers and hold the same state (every server's current and effective weight, fails, conns,
 * accessed, checked and state) after every step: failures, probes after the window, recoveries,
 * held connections, clock jumps, a backup tier taking over, lazy tiers and weights near 2^31.
 */

import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock, seededRandom } from '../../src/clock';
import type { ServerOptions } from '../../src/options';
import { FreshRound } from '../../src/select/round-robin/fresh-round';
import { roundRobinStateOf } from '../../src/select/round-robin/index';
import type { Attempt } from '../../src/attempt';
import type { Server, ServerRecord } from '../../src/server';

interface Twins {
  clock: ManualClock;
  shortcut: Balancer;
  plain: Balancer;
}

function twins(servers: ServerOptions[], lazyFromServers?: number): Twins {
  const clock = new ManualClock(1_000_000);
  const options = { servers, clock: clock.now, ...(lazyFromServers === undefined ? {} : { tuning: { lazyFromServers } }) };
  return { clock, shortcut: new Balancer(options), plain: new Balancer(options) };
}

const stateOf = (b: Balancer) => JSON.stringify(b.snapshot().servers);

/**
 * Drives the twins through `steps` picks: the clock advances 0-`maxStep` ms before each, a pick
 * is held until up to `hold` others are, and each release fails with probability 1/`failEvery`.
 * Returns how many picks went through the fresh round's own round (not the steady replay) and how
 * many returned a backup server or nothing.
 */
function drive(t: Twins, steps: number, seed: number, opts: { failEvery: number; hold: number; maxStep: number }) {
  const rand = seededRandom(seed);
  const held: [Server, Server, Attempt][] = [];
  const stats = { rounds: 0, backup: 0, none: 0 };
  const state = roundRobinStateOf(t.shortcut.servers.find((s) => !s.backup) as ServerRecord)!;
  for (let k = 0; k < steps; k++) {
    t.clock.advance(Math.floor(rand() * (opts.maxStep + 1)));
    const before = state.rounds;
    const s = t.shortcut.pick();
    const a = t.plain.attempt();
    const p = a.next();
    expect(s?.id ?? null, `pick ${k}`).toBe(p?.id ?? null);
    if (state.rounds !== before) stats.rounds++;
    if (s === undefined) stats.none++;
    else if (s.backup) stats.backup++;
    if (s !== undefined && p !== undefined) held.push([s, p, a]);
    expect(stateOf(t.shortcut), `state after pick ${k}`).toBe(stateOf(t.plain));
    while (held.length > opts.hold || (held.length > 0 && rand() < 0.3)) {
      const [hs, , ha] = held.splice(Math.floor(rand() * held.length), 1)[0]!;
      const failed = rand() * opts.failEvery < 1;
      t.shortcut.release(hs, failed);
      if (failed) ha.fail();
      else ha.release();
      expect(stateOf(t.shortcut), `state after a release at pick ${k}`).toBe(stateOf(t.plain));
    }
  }
  return stats;
}

const servers = (weights: number[], extra: Partial<ServerOptions> = {}): ServerOptions[] =>
  weights.map((weight, i) => ({ id: `s${i}`, address: `10.4.0.${i}:25`, weight, maxFails: 1 + (i % 2), failTimeout: 40 + 10 * (i % 3), ...extra }));

describe('the fresh round (a one-shot pick) against the plain get', () => {
  it('agrees pick by pick and state by state through failures, probes and recoveries (8 servers, weights 1-10)', () => {
    const stats = drive(twins(servers([1, 8, 5, 2, 9, 6, 3, 10])), 20_000, 1, { failEvery: 40, hold: 2, maxStep: 3 });
    expect(stats.rounds).toBeGreaterThan(5_000);
  });

  it('agrees with equal weights (replay most of the time), with 2 servers and with 23', () => {
    expect(drive(twins(servers([3, 3, 3, 3, 3, 3, 3, 3])), 10_000, 2, { failEvery: 60, hold: 1, maxStep: 2 }).rounds).toBeGreaterThan(1_000);
    expect(drive(twins(servers([1, 4])), 5_000, 3, { failEvery: 20, hold: 1, maxStep: 20 }).rounds).toBeGreaterThan(1_000);
    const many = Array.from({ length: 23 }, (_, i) => 1 + (i % 3));
    expect(drive(twins(servers(many)), 10_000, 4, { failEvery: 30, hold: 3, maxStep: 4 }).rounds).toBeGreaterThan(2_000);
  });

  it('agrees on lazy tiers (the dispatcher runs their lazy rounds)', () => {
    const weights = Array.from({ length: 12 }, (_, i) => 1 + ((i * 5) % 7));
    expect(drive(twins(servers(weights), 4), 10_000, 5, { failEvery: 25, hold: 2, maxStep: 5 }).rounds).toBeGreaterThan(2_000);
  });

  it('agrees when every primary can sit in its window: the pick falls back to the backup tier, or to nothing', () => {
    const list = [...servers([2, 5, 3], { maxFails: 1, failTimeout: 200 }), { id: 'b0', address: '10.4.1.0:25', weight: 2, backup: true, maxFails: 0 }];
    const stats = drive(twins(list), 10_000, 6, { failEvery: 3, hold: 1, maxStep: 15 });
    expect(stats.backup).toBeGreaterThan(200);
    const alone = drive(twins(servers([2, 5], { maxFails: 1, failTimeout: 200 })), 5_000, 7, { failEvery: 2, hold: 0, maxStep: 15 });
    expect(alone.none).toBeGreaterThan(100);
  });

  it('agrees when current weights leave the branch-free keys range (weights near 2^31)', () => {
    const stats = drive(twins(servers([0x7fffffff, 0x6fffffff, 5, 0x5fffffff, 1])), 5_000, 8, { failEvery: 15, hold: 1, maxStep: 30 });
    expect(stats.rounds).toBeGreaterThan(1_000);
  });

  it('marks a probe selected as #choose does: the window restarts at the probe', () => {
    const t = twins(servers([1, 1], { maxFails: 1, failTimeout: 100 }));
    for (const b of [t.shortcut, t.plain]) b.release(b.pick()!, true); // s0 fails at 1,000,000
    t.clock.advance(101); // past its window: the rounds take it again (effective weight 0, recovering)
    const picked: string[] = [];
    let at = 0;
    for (;;) {
      at = t.clock.advance(1);
      const s = t.shortcut.pick()!;
      const a = t.plain.attempt();
      expect(a.next()!.id).toBe(s.id);
      expect(stateOf(t.shortcut)).toBe(stateOf(t.plain));
      picked.push(s.id);
      if (s.id === 's0') break;
      t.shortcut.release(s);
      a.release();
    }
    expect(picked).toEqual(['s1', 's1', 's0']);
    const probe = t.shortcut.snapshot().servers[0]!;
    expect([probe.fails, probe.accessed, probe.checked]).toEqual([1, 1_000_000, at]);
    expect(at).toBe(1_000_104);
  });
});

describe('the fresh round declines outside its precondition', () => {
  it('answers -1 on a tier with a connection limit, changing nothing, and the plain get picks', () => {
    const b = new Balancer({ servers: servers([3, 1], { maxConns: 5 }) });
    const state = roundRobinStateOf(b.servers[0] as ServerRecord)!;
    const before = stateOf(b);
    expect(new FreshRound(state).take()).toBe(-1);
    expect(stateOf(b)).toBe(before);
    expect(b.pick()!.id).toBe('s0');
  });

  it('answers -1 in single-server mode (one primary, no backup)', () => {
    const b = new Balancer({ servers: servers([3]) });
    const state = roundRobinStateOf(b.servers[0] as ServerRecord)!;
    expect(new FreshRound(state).take()).toBe(-1);
    expect(b.pick()!.id).toBe('s0');
  });

  it('answers the next pick of the fresh round on a tier without limits', () => {
    const b = new Balancer({ servers: servers([3, 1]) });
    const state = roundRobinStateOf(b.servers[0] as ServerRecord)!;
    expect(new FreshRound(state).take()).toBe(0); // nginx: s0 (3) wins the first round
    expect(b.snapshot().servers.map((s) => s.currentWeight)).toEqual([-1, 1]);
  });
});
