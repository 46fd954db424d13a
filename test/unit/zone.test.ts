/**
 * Upstream zones (src/zone/) in one thread: several balancers over one zone behave as one balancer
 * (every method, in lock step with a plain Balancer), structured cloning (what postMessage does)
 * keeps the memory shared, sizes are enforced with ERR_UPSTREAM_ZONE_FULL, `close()` leaves the zone,
 * and only the creating thread's balancer runs checks. Real threads: test/integration/zone-threads.test.ts.
 */

import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/index';
import { ManualClock, seededRandom } from '../../src/clock';
import type { BalancerOptions, Server } from '../../src/index';
import { createZone } from '../../src/zone';

const servers = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `s${i}`, address: `10.0.0.${i + 1}:80`, weight: 1 + (i % 4), maxFails: 2, failTimeout: 1000 }));

type Variant = { name: string; options: Omit<BalancerOptions, 'servers' | 'clock' | 'rng'> };
const VARIANTS: Variant[] = [
  { name: 'round robin', options: {} },
  { name: 'least_conn', options: { method: 'least-conn' } },
  // the plain balancer keeps its tier in least_conn's index by load; a zone never does (other threads change conns)
  { name: 'least_conn, indexed', options: { method: 'least-conn', tuning: { leastConnIndexFromServers: 1 } } },
  { name: 'hash', options: { method: 'hash' } },
  { name: 'hash consistent', options: { method: 'hash', hash: { consistent: true } } },
  { name: 'ip_hash', options: { method: 'ip-hash' } },
  { name: 'random', options: { method: 'random' } },
  { name: 'random two least_conn', options: { method: 'random', randomTwo: true } },
];

describe('balancers over one zone are one balancer, for every method', () => {
  it.each(VARIANTS)('$name: 3 balancers over a zone pick, fail and change exactly as one plain balancer', ({ options }) => {
    const clock = new ManualClock(1_000_000);
    const base = { name: 'u', ...options, servers: servers(7), clock: clock.now };
    const plain = new Balancer({ ...base, rng: seededRandom(7) });
    const zoneRng = seededRandom(7);
    const zone = createZone({ ...base, rng: zoneRng });
    const zoned = [0, 1, 2].map(() => Balancer.fromZone(zone, { clock: clock.now, rng: zoneRng }));
    const script = seededRandom(99);
    const heldPlain: Server[] = [];
    const heldZone: Server[] = [];
    let picks = 0;
    for (let step = 0; step < 20_000; step++) {
      const z = zoned[Math.floor(script() * 3)]!;
      const op = script();
      const key = `10.1.${Math.floor(script() * 5)}.${Math.floor(script() * 200)}`;
      if (op < 0.45) {
        const a = plain.pick(key);
        const b = z.pick(key);
        expect(b?.id, `step ${step}`).toBe(a?.id);
        if (a !== undefined && b !== undefined) {
          heldPlain.push(a);
          heldZone.push(b);
          picks++;
        }
      } else if (op < 0.85 && heldPlain.length > 0) {
        const k = Math.floor(script() * heldPlain.length);
        const failed = script() < 0.05;
        plain.release(heldPlain.splice(k, 1)[0]!, failed);
        const s = heldZone.splice(k, 1)[0]!;
        // a server is released through the balancer that picked it
        (zoned.find((b) => b.servers.includes(s)) ?? z).release(s, failed);
      } else if (op < 0.9) {
        const a = plain.attempt(key);
        const b = z.attempt(key);
        for (let t = 0; t < 3; t++) {
          const x = a.next();
          const y = b.next();
          expect(y?.id, `step ${step} try ${t}`).toBe(x?.id);
          if (x === undefined) break;
          if (script() < 0.3) {
            a.fail();
            b.fail();
          } else {
            a.release();
            b.release();
            break;
          }
        }
      } else if (op < 0.92) {
        const id = `s${Math.floor(script() * 7)}`;
        const patch = { weight: 1 + Math.floor(script() * 5), down: script() < 0.2 };
        plain.update(id, patch);
        z.update(id, patch);
      } else {
        clock.advance(Math.floor(script() * 700));
      }
      if (step % 97 === 0) {
        const other = zoned[(step / 97) % 3]!;
        expect(other.snapshot().servers.map(strip)).toEqual(plain.snapshot().servers.map(strip));
      }
    }
    expect(picks).toBeGreaterThan(5000);
    for (const s of heldPlain) plain.release(s);
    heldZone.forEach((s) => zoned.find((b) => b.servers.includes(s))!.release(s));
    for (const b of zoned) expect(b.snapshot().servers.every((s) => s.conns === 0)).toBe(true);
  });
});

/** The snapshot fields that are the zone's (selected / failures are per balancer). */
function strip(s: ReturnType<Balancer['snapshot']>['servers'][number]) {
  const { selected: _s, failures: _f, ...rest } = s;
  return rest;
}

describe('an attempt across membership changes made by other balancers', () => {
  // The attempt went to the backup tier (A full); B failed; then another balancer removed B (this
  // balancer saw that list) and added C as a down backup. Re-mapped once onto the latest list, as a
  // plain balancer's attempt is, it stays on the backup tier and finds nothing; re-mapped onto the
  // list without backups first, it would have gone back to A.
  it('is re-mapped once, onto the latest membership, as one balancer\'s attempt', () => {
    const options = { servers: [{ id: 'A', address: '10.0.0.1:80', maxConns: 1 }, { id: 'B', address: '10.0.0.2:80', backup: true }] };
    const run = (x: Balancer, y: Balancer): (string | undefined)[] => {
      const held = x.pick()!;
      const a = x.attempt();
      const first = a.next()?.id;
      a.fail();
      x.release(held);
      y.remove('B');
      void x.servers; // this balancer looks at the list in between
      y.add({ id: 'C', address: '10.0.0.3:80', backup: true, down: true });
      return [held.id, first, a.next()?.id];
    };
    const plain = new Balancer(options);
    expect(run(plain, plain)).toEqual(['A', 'B', undefined]);
    const zone = createZone(options);
    expect(run(Balancer.fromZone(zone), Balancer.fromZone(zone))).toEqual(['A', 'B', undefined]);
  });
});

describe('a zone crosses threads as a structured clone', () => {
  it('a clone (what postMessage sends) opens onto the same memory: picks continue one SWRR sequence', () => {
    const zone = createZone({ servers: [{ address: 'A', weight: 5 }, { address: 'B', weight: 1 }, { address: 'C', weight: 1 }] });
    const a = Balancer.fromZone(zone);
    const b = Balancer.fromZone(structuredClone(zone));
    const seq = [a, b, a, b, a, b, a].map((x) => {
      const s = x.pick()!;
      x.release(s);
      return s.address;
    });
    expect(seq.join('')).toBe('AABACAA');
    expect(a.zoneOwner).toBe(true);
  });

  it('refuses what is not a zone, with ERR_UPSTREAM_ZONE', () => {
    expect(() => Balancer.fromZone({ kind: 'upstream-balancer/zone' })).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_ZONE' }));
    expect(() => Balancer.fromZone(null)).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_ZONE' }));
    const zone = createZone({ servers: [{ address: 'A' }] });
    expect(() => Balancer.fromZone({ ...zone, regions: [zone.regions[0], new SharedArrayBuffer(8)] })).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_ZONE' }));
  });
});

describe('sizes', () => {
  it('capacity: a server past it is refused before anything changes', () => {
    const zone = createZone({ servers: [{ address: 'A' }, { address: 'B' }] }, { capacity: 3 });
    const b = Balancer.fromZone(zone);
    b.add({ address: 'C' });
    expect(() => b.add({ address: 'D' })).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_ZONE_FULL', value: 4 }));
    expect(b.servers.map((s) => s.id)).toEqual(['A', 'B', 'C']);
    expect(() => createZone({ servers: [{ address: 'A' }, { address: 'B' }] }, { capacity: 1 })).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_ZONE_FULL' }));
    expect(() => createZone({ servers: [{ address: 'A' }] }, { capacity: 0 })).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION' }));
  });

  it('maxThreads: one balancer too many is refused; close() frees its place', async () => {
    const zone = createZone({ servers: [{ address: 'A' }] }, { maxThreads: 2 });
    const a = Balancer.fromZone(zone);
    const b = Balancer.fromZone(zone);
    expect(() => Balancer.fromZone(zone)).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_ZONE_FULL' }));
    await b.close();
    expect(Balancer.fromZone(zone).pick()?.id).toBe('A');
    expect(a.servers).toHaveLength(1);
  });

  it('configBytes: a server list that would not fit is refused', () => {
    const zone = createZone({ servers: [{ address: 'A' }] }, { configBytes: 4096 });
    const b = Balancer.fromZone(zone);
    expect(() => b.add({ address: 'x'.repeat(5000) })).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_ZONE_FULL' }));
    expect(b.servers.map((s) => s.id)).toEqual(['A']);
  });
});

describe('lifecycle', () => {
  it('close() gives back the connections the balancer holds, and later calls throw ERR_UPSTREAM_CLOSED', async () => {
    const zone = createZone({ servers: [{ address: 'A', maxConns: 2 }, { address: 'B' }] });
    const a = Balancer.fromZone(zone);
    const b = Balancer.fromZone(zone);
    const held = [b.pick()!, b.pick()!, b.pick()!].map((s) => s.id);
    expect(held).toEqual(['A', 'B', 'A']);
    expect(a.snapshot().servers.map((s) => s.conns)).toEqual([2, 1]);
    expect(a.pick()?.id).toBe('B'); // A is full
    await b.close();
    expect(a.snapshot().servers.map((s) => s.conns)).toEqual([0, 1]);
    expect(() => b.pick()).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_CLOSED' }));
  });

  // A thread terminated inside a pick has raised the server's `conns` and not yet its own row of
  // `held` (src/zone/reclaim.ts). Simulated here: balancer b's row is marked as a dead thread's, one
  // of its held connections is taken off its row, and the dead thread holds the lock.
  it('a thread that died holding the lock halfway through a pick: reclaimThread counts conns again from the live rows', async () => {
    const zone = createZone({ servers: [{ address: 'A' }, { address: 'B' }, { address: 'C' }] });
    const main = Balancer.fromZone(zone);
    const b = Balancer.fromZone(zone);
    const mine = [main.pick()!, main.pick()!].map((s) => s.id);
    const theirs = [b.pick()!, b.pick()!, b.pick()!].map((s) => s.id);
    expect([...mine, ...theirs]).toEqual(['A', 'B', 'C', 'A', 'B']);
    const threads = new Int32Array(zone.threads);
    const held = new Int32Array(zone.held);
    const capacity = held.length / threads.length;
    const row = [...threads.keys()].find((k) => threads[k] !== 0 && held.subarray(k * capacity, (k + 1) * capacity).reduce((x, y) => x + y, 0) === 3)!;
    const dead = 999;
    threads[row] = dead + 1;
    held[row * capacity + 1] -= 1; // B: counted in conns, not yet in the dying thread's row
    expect(main.snapshot().servers.map((s) => s.conns)).toEqual([2, 2, 1]);
    const control = new Int32Array(zone.control);
    control[0] = dead + 1; // it died holding the lock
    expect(main.reclaimThread(dead)).toBe(2);
    expect(control[0]).toBe(0);
    // Without the recount B would stay at 1 for ever (2 - the 1 its row still said).
    expect(main.snapshot().servers.map((s) => s.conns)).toEqual([1, 1, 0]);
    for (const id of mine) main.release(main.get(id)!);
    expect(main.snapshot().servers.map((s) => s.conns)).toEqual([0, 0, 0]);
    await main.close();
  });

  it('start() runs the checks in the creating thread only; every balancer sees the verdicts', () => {
    const zone = createZone({ servers: [{ address: 'A' }, { address: 'B' }], check: { interval: 1000, rise: 1, fall: 1 } });
    const owner = Balancer.fromZone(zone);
    const other = Balancer.fromZone(structuredClone(zone));
    expect(other.snapshot().servers.map((s) => s.state)).toEqual(['checking', 'checking']);
    owner.reportCheck('A', true);
    expect(other.pick()?.id).toBe('A');
    owner.reportCheck('A', false);
    expect(other.get('A')?.state).toBe('unhealthy');
    expect(other.pick()).toBeUndefined();
    expect(other.snapshot().servers[0]!.check).toEqual({ down: true, rise: 0, fall: 1, type: 'tcp', port: 0, passed: 1, failed: 1 });
  });
});
