/**
 * upstream-balancer/etcd against a real etcd (Debian's etcd-server, one member on 127.0.0.1, free
 * ports, a temporary data directory): fleet members in separate processes
 * (test/fixtures/etcd/member.ts), each with a real etcd3 client, checking real TCP gateways on
 * 127.0.0.1 that count the probes they accept. Admin change propagation (and its latency), restart
 * recovery, election and takeover when the leader's process is SIGKILLed (and the takeover time),
 * a leader frozen past its TTL (SIGSTOP, as a partition would) whose late verdicts etcd refuses,
 * probe load with 1 and with 10 members, and etcd fully down: every member falls back to its own
 * checks and says so, then recovers. The etcd outage runs last: it stops the shared etcd.
 * Measurements are printed and, with UB_FLEET_MEASURE=<file>, appended to that file as JSON lines.
 */

import { appendFileSync } from 'node:fs';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ETCD, EtcdCluster, SKIP_REASON, stopAll as stopEtcd } from '../fixtures/etcd/etcd';
import { Gateway, type MemberConfig, MemberProcess, quantile, sleep, stopAll as stopProcesses } from '../fixtures/etcd/processes';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

const INTERVAL = 500;
const TTL = 2;
const CHECK = { type: 'tcp', interval: INTERVAL, rise: 1, fall: 1, timeout: 300 } as const;
/** Admin changes timed in the propagation test (each seen by two other members). */
const UPDATES = 100;

if (ETCD === null) console.warn(SKIP_REASON);

function measure(name: string, value: object): void {
  console.log(`[fleet measure] ${name} ${JSON.stringify(value)}`);
  const file = process.env.UB_FLEET_MEASURE;
  if (file) appendFileSync(file, `${JSON.stringify({ name, ...value })}\n`);
}

describe.skipIf(ETCD === null)('a fleet on one etcd member', () => {
  let etcd: EtcdCluster;

  beforeAll(async () => {
    etcd = await EtcdCluster.start(1);
  });

  afterAll(async () => {
    await stopProcesses();
    await stopEtcd();
  });

  const config = (upstream: string, name: string, gateways: Gateway[]): MemberConfig => ({
    hosts: etcd.hosts,
    upstream,
    prefix: 'ub-test',
    servers: gateways.map((g, i) => ({ id: `g${i}`, address: g.address })),
    check: CHECK,
    ttl: TTL,
    retry: 500,
    name,
  });

  async function fleet(upstream: string, count: number, gateways: Gateway[]): Promise<MemberProcess[]> {
    const first = new MemberProcess(config(upstream, `${upstream}-0`, gateways));
    await first.waitFor((m) => m.type === 'ready', 'ready', 30_000); // the first seeds the store
    const rest = Array.from({ length: count - 1 }, (_, i) => new MemberProcess(config(upstream, `${upstream}-${i + 1}`, gateways)));
    await Promise.all(rest.map((p) => p.waitFor((m) => m.type === 'ready', 'ready', 60_000)));
    return [first, ...rest];
  }

  async function gateways(n: number): Promise<Gateway[]> {
    return Promise.all(Array.from({ length: n }, () => new Gateway().start()));
  }

  /** Waits until exactly one member reports `checking` and returns the views. */
  async function oneChecker(members: MemberProcess[]): Promise<{ leader: string; views: Awaited<ReturnType<MemberProcess['view']>>[] }> {
    const end = Date.now() + 15_000;
    for (;;) {
      const views = await Promise.all(members.map((p) => p.view()));
      const checking = views.filter((v) => v.checking);
      if (checking.length === 1 && views.filter((v) => v.role === 'leader').length === 1) return { leader: checking[0]!.name, views };
      if (Date.now() > end) throw new Error(`not one checker: ${JSON.stringify(views.map((v) => [v.name, v.role, v.checking]))}`);
      await sleep(100);
    }
  }

  it('an admin change reaches every member, once and in revision order; latency measured', async () => {
    const gws = await gateways(2);
    const members = await fleet('prop', 3, gws);
    try {
      await oneChecker(members);
      const writer = members[1]!;
      const latencies: number[] = [];
      for (let i = 0; i < UPDATES; i++) {
        const done = await writer.request({ cmd: 'update', id: 'g0', patch: { weight: 2 + (i % 3) } }, 'done');
        expect(done.error).toBeUndefined();
        const revision = done.revision as number;
        for (const p of members) {
          if (p === writer) continue;
          const applied = await p.waitFor((m) => m.type === 'applied' && (m.revision as number) >= revision, `revision ${revision}`);
          latencies.push(applied.at! - done.at!);
        }
      }
      const down = await members[0]!.request({ cmd: 'update', id: 'g1', patch: { down: true } }, 'done');
      for (const p of members) await p.waitFor((m) => m.type === 'applied' && (m.revision as number) >= (down.revision as number), 'down applied');
      const views = await Promise.all(members.map((p) => p.view()));
      for (const v of views) expect((v.servers as { id: string; down: boolean; weight: number }[]).map((s) => [s.id, s.weight, s.down])).toEqual([['g0', 2 + ((UPDATES - 1) % 3), false], ['g1', 1, true]]);
      // every member applied strictly increasing revisions: none twice, none out of order
      for (const p of members) {
        const revisions = p.messages.filter((m) => m.type === 'applied').map((m) => m.revision as number);
        expect(revisions.every((r, i) => i === 0 || r > revisions[i - 1]!)).toBe(true);
      }
      measure('propagation', { samples: latencies.length, medianMs: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), maxMs: Math.max(...latencies) });
    } finally {
      await Promise.all(members.map((p) => p.close()));
      await Promise.all(gws.map((g) => g.stop()));
    }
  });

  it('restart recovery: a member started after every member died loads the admin state, not its own list', async () => {
    const gws = await gateways(2);
    const members = await fleet('restart', 2, gws);
    try {
      await members[0]!.request({ cmd: 'update', id: 'g1', patch: { down: true, weight: 7 } }, 'done');
      await Promise.all(members.map((p) => p.kill()));
      const again = new MemberProcess(config('restart', 'restart-again', gws)); // its own list has g1 up, weight 1
      members.push(again);
      await again.waitFor((m) => m.type === 'ready', 'ready', 30_000);
      const view = await again.view();
      expect((view.servers as { id: string; down: boolean; weight: number }[]).map((s) => [s.id, s.weight, s.down])).toEqual([['g0', 1, false], ['g1', 7, true]]);
      // the dead leader's lease runs out; the new member then takes the checker role
      await again.waitFor((m) => m.type === 'role' && m.role === 'leader', 'leader', (TTL + 5) * 1000);
    } finally {
      await Promise.all(members.map((p) => p.close()));
      await Promise.all(gws.map((g) => g.stop()));
    }
  });

  it('one checker; when its process is SIGKILLed another takes over within the TTL plus one interval', async () => {
    const gws = await gateways(2);
    const members = await fleet('takeover', 3, gws);
    try {
      const { leader } = await oneChecker(members);
      const old = members.find((p) => p.name === leader)!;
      const killedAt = Date.now();
      await old.kill();
      const others = members.filter((p) => p !== old);
      const next = await Promise.any(others.map((p) => p.waitFor((m) => m.type === 'role' && m.role === 'leader' && m.at! >= killedAt, 'takeover', (TTL + 10) * 1000)));
      const elected = next.at! - killedAt;
      await sleep(INTERVAL * 2);
      const probed = Math.min(...gws.map((g) => g.accepted.find((t) => t >= next.at!) ?? Infinity)) - killedAt;
      expect(elected).toBeLessThanOrEqual(TTL * 1000 + 2000);
      expect(probed).toBeLessThanOrEqual(TTL * 1000 + INTERVAL + 2000);
      const after = await oneChecker(others);
      expect(after.leader).toBe(next.name);
      measure('takeover', { ttlMs: TTL * 1000, intervalMs: INTERVAL, electedMs: elected, firstProbeMs: probed });
    } finally {
      await Promise.all(members.map((p) => p.close()));
      await Promise.all(gws.map((g) => g.stop()));
    }
  });

  it('a leader frozen past its TTL (a partition) is replaced; thawed, its late verdicts are refused and it rejoins as a follower', async () => {
    const gws = await gateways(2);
    const members = await fleet('partition', 3, gws);
    try {
      const { leader } = await oneChecker(members);
      const old = members.find((p) => p.name === leader)!;
      const others = members.filter((p) => p !== old);
      const mark = old.messages.length;
      const frozenAt = Date.now();
      old.pause();
      const next = await Promise.any(others.map((p) => p.waitFor((m) => m.type === 'role' && m.role === 'leader' && m.at! >= frozenAt, 'takeover', (TTL + 10) * 1000)));
      await sleep(INTERVAL * 2);
      old.resume();
      // thawed: its overdue checks run at once; their publishes are refused (the key is not its term any more)
      await old.waitFor((m) => m.type === 'role' && m.role === 'follower', 'rejoined as follower', 15_000, mark);
      const after = await oneChecker(members);
      expect(after.leader).toBe(next.name);
      for (const v of after.views) expect(v.leader).toBe(next.name);
      // every verdict in etcd is the new leader's term: nothing of the old term was written after it
      const client = new Etcd3({ hosts: etcd.hosts });
      try {
        const stored = await client.getAll().prefix('ub-test/partition/verdicts/').strings();
        expect(Object.keys(stored).sort()).toEqual(['ub-test/partition/verdicts/g0', 'ub-test/partition/verdicts/g1']);
        for (const value of Object.values(stored)) expect((JSON.parse(value) as { term: number }).term).toBe(next.term);
      } finally {
        client.close();
      }
      console.log(`[fleet measure] partition ${JSON.stringify({ oldLeaderAfterThaw: old.messages.slice(mark).filter((m) => m.type !== 'applied' && m.type !== 'view').map((m) => (m.type === 'role' ? `role:${m.role}` : m.type === 'error' ? `error:${m.message}` : m.type)) })}`);
    } finally {
      await Promise.all(members.map((p) => p.close()));
      await Promise.all(gws.map((g) => g.stop()));
    }
  });

  it('probe load: with 1 member and with 10, each gateway sees the checks of one member', async () => {
    const window = 5000;
    const expected = window / INTERVAL;
    const load: Record<string, number[]> = {};
    for (const count of [1, 10]) {
      const gws = await gateways(2);
      const members = await fleet(`load${count}`, count, gws);
      try {
        await oneChecker(members);
        await sleep(INTERVAL * 2);
        const from = Date.now();
        await sleep(window);
        load[count] = gws.map((g) => g.between(from, from + window));
        // one checker's share (the upper bound is the point: two checkers would double it); a loaded
        // machine stretches the intervals, hence the lower bound of half
        for (const n of load[count]!) {
          expect(n).toBeLessThanOrEqual(expected + 2);
          expect(n).toBeGreaterThanOrEqual(expected / 2);
        }
      } finally {
        await Promise.all(members.map((p) => p.close()));
        await Promise.all(gws.map((g) => g.stop()));
      }
    }
    measure('probe-load', { windowMs: window, intervalMs: INTERVAL, perGatewayWith1: load[1], perGatewayWith10: load[10], oneMembersShare: expected });
  });

  it('etcd fully down: every member checks on its own and says so; when etcd returns they rejoin with one checker', async () => {
    const gws = await gateways(2);
    const members = await fleet('outage', 3, gws);
    try {
      await members[0]!.request({ cmd: 'update', id: 'g1', patch: { weight: 4 } }, 'done');
      await oneChecker(members);
      const marks = members.map((p) => p.messages.length);
      const downAt = Date.now();
      await etcd.killAll();
      const fallbacks = await Promise.all(members.map((p, i) => p.waitFor((m) => m.type === 'fallback', 'fallback', (TTL + 10) * 1000, marks[i])));
      const views = await Promise.all(members.map((p) => p.view()));
      expect(views.map((v) => [v.role, v.checking])).toEqual([['standalone', true], ['standalone', true], ['standalone', true]]);
      await sleep(INTERVAL * 2);
      const from = Date.now();
      await sleep(3000);
      const alone = gws.map((g) => g.between(from, from + 3000));
      for (const n of alone) expect(n).toBeGreaterThan(2 * (3000 / INTERVAL)); // more than two checkers' share: all three check
      const upAt = Date.now();
      for (const m of etcd.members) etcd.startMember(m);
      await etcd.waitHealthy();
      await Promise.all(members.map((p, i) => p.waitFor((m) => m.type === 'recovered', 'recovered', 30_000, marks[i])));
      const back = await oneChecker(members);
      for (const v of back.views) expect((v.servers as { id: string; weight: number }[]).map((s) => [s.id, s.weight])).toEqual([['g0', 1], ['g1', 4]]);
      measure('outage', {
        fallbackMs: fallbacks.map((f) => f.at! - downAt),
        recoveredMs: members.map((p, i) => p.messages.slice(marks[i]).find((m) => m.type === 'recovered')!.at! - upAt),
        probesPerGatewayAlone3s: alone,
      });
    } finally {
      await Promise.all(members.map((p) => p.close()));
      await Promise.all(gws.map((g) => g.stop()));
    }
  });
});
