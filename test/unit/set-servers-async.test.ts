/**
 * `Balancer.setServersAsync` (src/prepared-servers.ts, src/slice-runner.ts): the list validated and
 * the method's data built a slice per turn, then applied on one turn. It must leave exactly the
 * state `setServers` leaves (servers, health, the picks that follow), keep serving the old list
 * until it applies, reject as `setServers` throws without changing anything, stop on its signal,
 * and apply calls in order.
 */

import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/index';
import type { BalancerOptions, ServerOptions } from '../../src/index';
import { ManualClock, seededRandom } from '../../src/clock';
import type { ConsistentHashSelector } from '../../src/select/consistent-hash';
import { createZone } from '../../src/zone';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const servers = (n: number, weight = 1, from = 0): ServerOptions[] =>
  Array.from({ length: n }, (_, i) => ({ id: `s${from + i}`, address: `10.0.${(from + i) >> 8}.${(from + i) & 255}:25`, weight }));

/**
 * `n` picks (keyed for the hash methods: client addresses, as ip_hash needs), each released, every
 * fifth as a failure when `failing`; ids joined by spaces.
 */
function picks(b: Balancer, n: number, failing = false): string {
  const out: string[] = [];
  for (let k = 0; k < n; k++) {
    const s = b.pick(`192.168.${(k * 7919) & 255}.${(k * 31) & 255}`);
    out.push(s?.id ?? '-');
    if (s !== undefined) b.release(s, failing && k % 5 === 0);
  }
  return out.join(' ');
}

const METHODS: [string, Partial<BalancerOptions>][] = [
  ['round robin', {}],
  ['least_conn', { method: 'least-conn' }],
  ['hash', { method: 'hash' }],
  ['consistent hash', { method: 'hash', hash: { consistent: true } }],
  ['ip_hash', { method: 'ip-hash' }],
  ['random two', { method: 'random', randomTwo: true }],
];

describe('setServersAsync leaves what setServers leaves', () => {
  it.each(METHODS)('%s: the same servers, health and picks after a change of weights, members and order', async (_, method) => {
    const clock = new ManualClock(1_000_000); // (both balancers' time stands still: the same windows)
    const make = () => new Balancer({ ...method, clock: clock.now, rng: seededRandom(7), servers: servers(40, 2) });
    const sync = make();
    const sliced = make();
    // the same history first: picks with failures, so that fails and weights differ per server
    expect(picks(sliced, 300, true)).toBe(picks(sync, 300, true));
    const next = [...servers(30, 3).slice(5).reverse(), ...servers(6, 1, 100)];
    next[2] = { ...next[2]!, weight: 9 };
    sync.setServers(next);
    await sliced.setServersAsync(next, { sliceMs: 0 });
    expect(sliced.snapshot()).toEqual(sync.snapshot());
    expect(picks(sliced, 500, true)).toBe(picks(sync, 500, true));
  });

  it('consistent hash: the rings built in slices send every key where the ring kept by setServers does', async () => {
    const opts = { method: 'hash', hash: { consistent: true }, servers: servers(64, 10) } as const;
    const sync = new Balancer(opts);
    const sliced = new Balancer(opts);
    const next = servers(64, 10);
    next[9] = { id: 'x', address: '10.9.9.9:25', weight: 4 };
    next.push({ id: 'y', address: next[3]!.address, weight: 20 }); // a heavier server on an address already there
    const ringOf = (b: Balancer) => (b as unknown as { members: { selector: ConsistentHashSelector } }).members.selector.ring!;
    const served = ringOf(sliced).buckets;
    sync.setServers(next);
    await sliced.setServersAsync(next, { sliceMs: 0 });
    // the ring prepared in slices took over, laid out once: the apply only looked it over
    expect(ringOf(sliced).buckets).not.toBe(served);
    expect(ringOf(sliced).buckets.layouts).toBe(1);
    const keys = Array.from({ length: 3000 }, (_, i) => `key-${i}`);
    expect(keys.map((k) => sliced.pick(k)?.id)).toEqual(keys.map((k) => sync.pick(k)?.id));
    // the next one is built on the keeper the first replaced (its storage reused), then kept on
    const again = next.filter((_, i) => i % 7 !== 3);
    again.push({ id: 'z', address: '10.8.8.8:25', weight: 12 });
    sync.setServers(again);
    await sliced.setServersAsync(again, { sliceMs: 0 });
    expect(ringOf(sliced).buckets).toBe(served);
    expect(served.layouts).toBe(2);
    expect(keys.map((k) => sliced.pick(k)?.id)).toEqual(keys.map((k) => sync.pick(k)?.id));
    sync.update('z', { weight: 3 });
    sliced.update('z', { weight: 3 });
    sync.remove('s20');
    sliced.remove('s20');
    expect(keys.map((k) => sliced.pick(k)?.id)).toEqual(keys.map((k) => sync.pick(k)?.id));
  });
  it('consistent hash with backups (allowBackupWithHash): the same primary and backup picks as setServers', async () => {
    const opts = { method: 'hash', hash: { consistent: true }, allowBackupWithHash: true, servers: servers(12, 3) } as const;
    const sync = new Balancer(opts);
    const sliced = new Balancer(opts);
    const next: ServerOptions[] = [
      ...servers(10, 2, 50),
      { id: 'b1', address: servers(1, 1, 52)[0]!.address, backup: true }, // a backup on a primary's address
      { id: 'b2', address: '10.7.7.7:25', backup: true },
    ];
    sync.setServers(next);
    await sliced.setServersAsync(next, { sliceMs: 0 });
    // every primary fails, so each request walks the primaries, then the backup tier
    const walk = (b: Balancer, key: string): string => {
      const a = b.attempt(key);
      const seen: string[] = [];
      for (let s = a.next(); s !== undefined; s = a.next()) {
        seen.push(s.id);
        if (s.backup) {
          a.release();
          break;
        }
        a.fail();
      }
      return seen.join(',');
    };
    const keys = Array.from({ length: 40 }, (_, i) => `bk${i}`);
    const walked = keys.map((k) => walk(sliced, k));
    expect(walked).toEqual(keys.map((k) => walk(sync, k)));
    expect(walked.some((w) => w.endsWith('b1') || w.endsWith('b2'))).toBe(true);
  });
});

describe('until it applies, picks see the old list', () => {
  it('round robin: A B A B ... on every turn before, then C only', async () => {
    const b = new Balancer({ servers: [{ address: 'A' }, { address: 'B' }] });
    let applied = false;
    const done = b.setServersAsync([{ address: 'C' }], { sliceMs: 0 }).then(() => {
      applied = true;
    });
    const before: string[] = [];
    while (!applied) {
      before.push(picks(b, 2));
      await nextTurn();
    }
    await done;
    expect(before.length).toBeGreaterThanOrEqual(3); // a slice per turn, then the apply on a turn of its own
    expect(new Set(before)).toEqual(new Set(['A B']));
    expect(picks(b, 3)).toBe('C C C');
  });

  it('consistent hash: the old ring answers while the new one is built over many turns', async () => {
    const b = new Balancer({ method: 'hash', hash: { consistent: true }, servers: servers(64, 10) });
    const keys = Array.from({ length: 200 }, (_, i) => `k${i}`);
    const old = keys.map((k) => b.pick(k)?.id).join();
    const next = servers(64, 10, 1000); // every server replaced
    let applied = false;
    const done = b.setServersAsync(next, { sliceMs: 0 }).then(() => {
      applied = true;
    });
    let turns = 0;
    while (!applied) {
      expect(keys.map((k) => b.pick(k)?.id).join()).toBe(old);
      turns++;
      await nextTurn();
    }
    await done;
    // 102,400 points in steps of 4,096: generation, four sort passes, deduplication and layout
    expect(turns).toBeGreaterThan(100);
    expect(keys.every((k) => b.pick(k)!.id.startsWith('s1'))).toBe(true);
    expect(b.servers.map((s) => s.id)).toEqual(next.map((s) => s.id));
  });
});

describe('errors, signals and order', () => {
  it('rejects with the error setServers throws, and changes nothing', async () => {
    const b = new Balancer({ servers: servers(3) });
    const before = b.snapshot();
    const dup = [...servers(3), { id: 's1', address: 'Z' }];
    let thrown: unknown;
    try {
      b.setServers(dup);
    } catch (error) {
      thrown = error;
    }
    await expect(b.setServersAsync(dup)).rejects.toEqual(thrown);
    await expect(b.setServersAsync(dup)).rejects.toMatchObject({ code: 'ERR_UPSTREAM_DUPLICATE_ID', value: 's1' });
    await expect(b.setServersAsync([{ address: 'A', backup: true }])).rejects.toMatchObject({ code: 'ERR_UPSTREAM_NO_SERVERS' });
    await expect(b.setServersAsync([{ address: 'A', weight: 0 }])).rejects.toMatchObject({ code: 'ERR_UPSTREAM_INVALID_OPTION', option: 'servers[0].weight' });
    const chash = new Balancer({ method: 'hash', hash: { consistent: true }, servers: servers(2) });
    await expect(chash.setServersAsync([{ address: 'A', weight: 100000 }, { address: 'B', weight: 5000 }])).rejects.toMatchObject({ option: 'hash.consistent' });
    expect(b.snapshot()).toEqual(before);
  });

  it('rejects bad options', async () => {
    const b = new Balancer({ servers: servers(2) });
    await expect(b.setServersAsync(servers(1), { sliceMs: -1 })).rejects.toMatchObject({ code: 'ERR_UPSTREAM_INVALID_OPTION', option: 'setServersAsync.sliceMs' });
    await expect(b.setServersAsync(servers(1), { sliceMs: Number.NaN })).rejects.toMatchObject({ option: 'setServersAsync.sliceMs' });
    await expect(b.setServersAsync(servers(1), { signal: 'x' as never })).rejects.toMatchObject({ option: 'setServersAsync.signal' });
    await expect(b.setServersAsync(servers(1), 5 as never)).rejects.toMatchObject({ option: 'setServersAsync' });
    await expect(b.setServersAsync(null as never)).rejects.toMatchObject({ code: 'ERR_UPSTREAM_INVALID_OPTION', option: 'servers', value: null });
    await expect(b.setServersAsync([{ address: 'A', colour: 'red' } as never])).rejects.toMatchObject({ option: 'servers[0].colour' });
    expect(b.servers.map((s) => s.id)).toEqual(['s0', 's1']);
  });

  it('an aborted signal, before or while it prepares, rejects with its reason and changes nothing', async () => {
    const b = new Balancer({ method: 'hash', hash: { consistent: true }, servers: servers(32, 10) });
    const gone = new AbortController();
    gone.abort(new Error('no longer wanted'));
    await expect(b.setServersAsync(servers(4), { signal: gone.signal })).rejects.toThrow('no longer wanted');
    const later = new AbortController();
    const pending = b.setServersAsync(servers(8, 10, 500), { signal: later.signal, sliceMs: 0 });
    await nextTurn();
    await nextTurn();
    later.abort(new Error('superseded'));
    await expect(pending).rejects.toThrow('superseded');
    expect(b.servers.map((s) => s.id)).toEqual(servers(32).map((s) => s.id));
    await b.setServersAsync(servers(2)); // the queue goes on after a rejection
    expect(b.servers.map((s) => s.id)).toEqual(['s0', 's1']);
  });

  it('applies calls in the order made; a change made meanwhile is replaced by the list', async () => {
    const b = new Balancer({ servers: servers(4) });
    const applied: string[] = [];
    const first = b.setServersAsync(servers(3, 1, 10), { sliceMs: 0 }).then(() => applied.push(b.servers.map((s) => s.id).join()));
    const second = b.setServersAsync(servers(2, 1, 20), { sliceMs: 0 }).then(() => applied.push(b.servers.map((s) => s.id).join()));
    b.add({ id: 'meanwhile', address: 'M' });
    await Promise.all([first, second]);
    expect(applied).toEqual(['s10,s11,s12', 's20,s21']);
  });

  it('a list mutated by the caller after the call is applied as it was when called', async () => {
    const b = new Balancer({ servers: servers(2) });
    const list = servers(3, 1, 5);
    const done = b.setServersAsync(list);
    list.push({ id: 'late', address: 'L' });
    await done;
    expect(b.servers.map((s) => s.id)).toEqual(['s5', 's6', 's7']);
  });

  it('a change made while it prepares is matched again: survivors keep their state, the list wins', async () => {
    const b = new Balancer({ servers: servers(3, 2) });
    const [s0] = b.servers;
    b.release(b.pick()!, true); // s0 fails once
    let applied = false;
    const done = b.setServersAsync([{ ...servers(3, 2)[0]!, weight: 5 }, servers(3)[2]!], { sliceMs: 0 }).then(() => {
      applied = true;
    });
    await nextTurn();
    expect(applied).toBe(false);
    b.update('s0', { weight: 7 }); // a new generation: the match prepared before is stale
    b.remove('s2');
    b.add({ id: 's2', address: 'X' });
    await done;
    expect(b.servers.map((s) => [s.id, s.address, s.weight])).toEqual([['s0', servers(1)[0]!.address, 5], ['s2', servers(3)[2]!.address, 1]]);
    expect(b.servers[0]).toBe(s0);
    expect(b.snapshot().servers[0]!.fails).toBe(1);
  });

  it('in an upstream zone, another balancer of the zone sees the list once applied', async () => {
    const zone = createZone({ method: 'hash', hash: { consistent: true }, servers: servers(16, 10) });
    const a = Balancer.fromZone(zone);
    const b = Balancer.fromZone(zone);
    const next = servers(8, 10, 40);
    await a.setServersAsync(next, { sliceMs: 0 });
    expect(b.servers.map((s) => s.id)).toEqual(next.map((s) => s.id));
    const plain = new Balancer({ method: 'hash', hash: { consistent: true }, servers: next });
    const keys = Array.from({ length: 500 }, (_, i) => `z${i}`);
    expect(keys.map((k) => b.pick(k)?.id)).toEqual(keys.map((k) => plain.pick(k)?.id));
    expect(keys.map((k) => a.pick(k)?.id)).toEqual(keys.map((k) => plain.pick(k)?.id));
  });
});
