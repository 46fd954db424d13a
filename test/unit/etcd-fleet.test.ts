/**
 * The fleet member (src/etcd/fleet.ts) on the in-memory store of test/fixtures/etcd/memory-store.ts,
 * with hand-driven timers and an injected probe: seeding and loading, admin changes applied once
 * and in revision order on every member, one checker whose verdicts the followers apply exactly,
 * stale terms ignored, takeover when the leader's lease expires, fallback while the store is down
 * and recovery, hostile values reported and not applied.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { type FleetMember, joinFleet } from '../../src/etcd/fleet';
import type { CheckOptions, CheckTarget } from '../../src/options';
import { ManualTimers, MemoryFleetStore, flush } from '../fixtures/etcd/memory-store';

const SERVERS = [
  { id: 'a', address: '10.0.0.1:25' },
  { id: 'b', address: '10.0.0.2:25' },
];

interface Rig {
  store: MemoryFleetStore;
  timers: ManualTimers;
  /** Every probe call: which member, which server, when. */
  probes: string[];
  /** Servers whose probe fails. */
  failing: Set<string>;
  members: { balancer: Balancer; member: FleetMember; name: string }[];
  join(name: string, servers?: typeof SERVERS): Promise<{ balancer: Balancer; member: FleetMember; name: string }>;
}

let rigs: Rig[] = [];
afterEach(async () => {
  for (const rig of rigs) for (const { member } of rig.members) await member.close();
  rigs = [];
});

function rig(): Rig {
  const store = new MemoryFleetStore('u');
  const timers = new ManualTimers();
  const r: Rig = {
    store,
    timers,
    probes: [],
    failing: new Set(),
    members: [],
    async join(name, servers = SERVERS) {
      const check: CheckOptions = {
        interval: 1000,
        rise: 1,
        fall: 2,
        type: (t: CheckTarget) => {
          r.probes.push(`${timers.now} ${name} ${t.id}`);
          return !r.failing.has(t.id);
        },
      };
      const balancer = new Balancer({ name: 'u', servers, check, clock: timers.clock, timers });
      const member = joinFleet(balancer, { store, check, name, timers, clock: timers.clock, rng: () => 0, retry: 500 });
      const entry = { balancer, member, name };
      r.members.push(entry);
      await member.ready;
      await flush();
      return entry;
    },
  };
  rigs.push(r);
  return r;
}

const states = (b: Balancer): string[] => b.snapshot().servers.map((s) => `${s.id}:${s.state}:${s.weight}${s.check ? `:${s.check.rise}/${s.check.fall}/${s.check.passed}/${s.check.failed}` : ''}`);

describe('joining', () => {
  it('the first member seeds the store with its servers; the next loads them; the first is the checker', async () => {
    const r = rig();
    const one = await r.join('one');
    const two = await r.join('two', [{ id: 'z', address: '10.9.9.9:25' }]);
    expect([...r.store.servers.values()]).toEqual([
      { order: 0, server: { id: 'a', address: '10.0.0.1:25', weight: 1, maxFails: 1, failTimeout: 10000, maxConns: 0, backup: false, down: false, drain: false } },
      { order: 1, server: { id: 'b', address: '10.0.0.2:25', weight: 1, maxFails: 1, failTimeout: 10000, maxConns: 0, backup: false, down: false, drain: false } },
    ]);
    expect(two.balancer.servers.map((s) => s.id)).toEqual(['a', 'b']);
    expect([one.member.role, one.member.checking, two.member.role, two.member.checking]).toEqual(['leader', true, 'follower', false]);
    expect(two.member.leader).toEqual({ candidate: 'one', term: 3, lease: '100' });
  });
});

describe('admin changes', () => {
  it('an update reaches every member once, in revision order, and resolves after this member applied it', async () => {
    const r = rig();
    const one = await r.join('one');
    const two = await r.join('two');
    const seen: string[] = [];
    two.balancer.on('state', (s, from, to, cause) => seen.push(`${s.id} ${from}->${to} ${cause}`));
    const server = await one.member.update('b', { down: true });
    expect(server.down).toBe(true);
    await one.member.update('a', { weight: 5 });
    await flush();
    expect(seen).toEqual(['b checking->down admin']);
    expect(states(two.balancer)).toEqual(states(one.balancer));
    expect(two.balancer.servers.map((s) => [s.id, s.weight, s.down])).toEqual([['a', 5, false], ['b', 1, true]]);
    // the same revision delivered again (a reconnecting watch) is not applied twice
    const revision = two.member.revision;
    r.store.deliver(r.store.history.at(-2)!);
    r.store.deliver({ revision, servers: [{ id: 'a', desired: null }], verdicts: [], malformed: [] });
    await flush();
    expect(two.balancer.servers.map((s) => s.id)).toEqual(['a', 'b']);
    expect(seen).toEqual(['b checking->down admin']);
  });

  it('add, remove and setServers go through the store; survivors keep their state', async () => {
    const r = rig();
    const one = await r.join('one');
    const two = await r.join('two');
    await r.timers.advance(0); // the leader's first checks: a and b up
    await flush();
    expect(states(two.balancer)).toEqual(['a:up:1:1/0/1/0', 'b:up:1:1/0/1/0']);
    await one.member.add({ id: 'c', address: '10.0.0.3:25' });
    await two.member.remove('a');
    await one.member.setServers([{ id: 'c', address: '10.0.0.3:25' }, { id: 'b', address: '10.0.0.2:25', weight: 3 }]);
    await flush();
    expect(one.member.desired().map((d) => [d.order, d.server.id])).toEqual([[0, 'c'], [1, 'b']]);
    expect(states(two.balancer)).toEqual(['c:checking:1:0/0/0/0', 'b:up:3:1/0/1/0']);
    expect(states(one.balancer)).toEqual(states(two.balancer));
  });

  it('refuses changes every member would refuse, before writing', async () => {
    const r = rig();
    const one = await r.join('one');
    const revision = r.store.revision;
    await expect(one.member.update('nope', { down: true })).rejects.toMatchObject({ code: 'ERR_UPSTREAM_UNKNOWN_ID' });
    await expect(one.member.update('a', { weight: 0 })).rejects.toMatchObject({ code: 'ERR_UPSTREAM_INVALID_OPTION' });
    await expect(one.member.add({ id: 'a', address: '10.0.0.7:25' })).rejects.toMatchObject({ code: 'ERR_UPSTREAM_DUPLICATE_ID' });
    await expect(one.member.setServers([])).rejects.toMatchObject({ code: 'ERR_UPSTREAM_NO_SERVERS' });
    await expect(one.member.setServers(Array.from({ length: 128 }, (_, i) => ({ address: `10.1.0.${i}:25` })))).rejects.toMatchObject({ code: 'ERR_UPSTREAM_FLEET' });
    expect(r.store.revision).toBe(revision);
  });
});

describe('one checker', () => {
  it('only the leader probes; followers apply its verdicts and hold its exact check state', async () => {
    const r = rig();
    const one = await r.join('one');
    const two = await r.join('two');
    const three = await r.join('three');
    r.failing.add('b');
    await r.timers.advance(2000);
    expect(r.probes).toEqual(['0 one a', '0 one b', '1000 one a', '1000 one b', '2000 one a', '2000 one b']);
    expect(states(one.balancer)).toEqual(['a:up:1:3/0/3/0', 'b:unhealthy:1:0/3/0/3']);
    expect(states(two.balancer)).toEqual(states(one.balancer));
    expect(states(three.balancer)).toEqual(states(one.balancer));
  });

  it('a verdict of an older term is ignored', async () => {
    const r = rig();
    await r.join('one');
    const two = await r.join('two');
    const term = two.member.leader!.term;
    r.store.deliver({ revision: r.store.revision + 1, servers: [], verdicts: [{ id: 'a', term: term - 1, ok: false, reason: 'stale', ms: 0, state: { down: true, pending: false, rise: 0, fall: 9, passed: 0, failed: 9 } }], malformed: [] });
    await flush();
    expect(two.member.staleVerdicts).toBe(1);
    expect(states(two.balancer)).toEqual(['a:checking:1:0/0/0/0', 'b:checking:1:0/0/0/0']);
  });

  it('when the leader lease expires another member takes over within one interval; the store then holds only its term', async () => {
    const r = rig();
    const one = await r.join('one');
    const two = await r.join('two');
    await r.timers.advance(1000);
    const roles: string[] = [];
    two.member.on('role', (role, leader) => roles.push(`${role} ${leader?.candidate}`));
    r.store.expire(one.member.leader!.lease);
    await flush();
    expect([one.member.role, two.member.role]).toEqual(['standalone', 'leader']);
    expect(roles).toEqual(['leader two']);
    r.probes.length = 0;
    await r.timers.advance(1000);
    // the new leader probes at once (first check at rng 0); the old one checks on its own
    expect(r.probes.filter((p) => p.includes(' two '))).toEqual(['1000 two a', '1000 two b', '2000 two a', '2000 two b']);
    // what the store holds now is the new term's; the old leader's results stay local
    const term = two.member.leader!.term;
    expect(term).toBeGreaterThan(3);
    expect([...r.store.verdicts.values()].map((v) => [v.id, v.term])).toEqual([['a', term], ['b', term]]);
  });
});

describe('store unreachable', () => {
  it('every member checks on its own and says so; on return they reload and one checks again', async () => {
    const r = rig();
    const one = await r.join('one');
    const two = await r.join('two');
    const events: string[] = [];
    for (const { member, name } of r.members) {
      member.on('fallback', (e) => events.push(`${name} fallback ${(e as Error).message}`));
      member.on('recovered', () => events.push(`${name} recovered`));
    }
    r.store.down();
    await flush();
    expect(events).toEqual(['one fallback store down', 'two fallback store down']);
    expect([one.member.role, one.member.checking, two.member.role, two.member.checking]).toEqual(['standalone', true, 'standalone', true]);
    await expect(two.member.update('a', { down: true })).rejects.toMatchObject({ code: 'ERR_UPSTREAM_FLEET' });
    r.probes.length = 0;
    await r.timers.advance(1000);
    expect(r.probes.sort()).toEqual(['0 one a', '0 one b', '0 two a', '0 two b', '1000 one a', '1000 one b', '1000 two a', '1000 two b']);
    for (const id of [...r.store.leases.keys()]) r.store.expire(id); // the old leases ran out meanwhile
    r.store.up();
    await r.timers.advance(500);
    expect(events.slice(2).sort()).toEqual(['one recovered', 'two recovered']);
    expect([one.member.role, two.member.role].sort()).toEqual(['follower', 'leader']);
    expect([one.member.checking, two.member.checking].filter(Boolean)).toHaveLength(1);
  });

  it('a member that starts while the store is down runs standalone until it can join', async () => {
    const r = rig();
    r.store.down();
    const one = await r.join('one');
    expect([one.member.role, one.member.checking]).toEqual(['standalone', true]);
    r.store.up();
    await r.timers.advance(500);
    expect([one.member.role, one.member.checking, r.store.servers.size]).toEqual(['leader', true, 2]);
  });
});

describe('hostile store values', () => {
  it('a malformed key is reported with a code and not applied', async () => {
    const r = rig();
    await r.join('one');
    const two = await r.join('two');
    const errors: unknown[] = [];
    two.member.on('error', (e) => errors.push(e));
    r.store.deliver({ revision: r.store.revision + 1, servers: [], verdicts: [], malformed: ['upstream-balancer/u/servers/x'] });
    await flush();
    expect(errors).toMatchObject([{ code: 'ERR_UPSTREAM_FLEET', value: 'upstream-balancer/u/servers/x' }]);
    expect(two.balancer.servers.map((s) => s.id)).toEqual(['a', 'b']);
  });
});
