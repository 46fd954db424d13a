/**
 * The incremental ketama ring (src/select/ketama-incremental.ts) against the plain build
 * (`buildRing`, nginx's `ngx_http_upstream_update_chash` run whole): after any sequence of
 * membership changes (add, remove, weight, address, backup and down updates, setServers with the
 * list reordered, shortened or grown), the kept ring has the same points, the same owner address
 * per point and the same members per address, in the primary and the backup tier.
 *
 * The address pool holds pairs whose ketama chains share a hash (found by search; the chain
 * positions are in the comments), so that removing, reweighting and reordering servers moves the
 * owner of a shared point, and servers sharing one address text with different weights (a heavier
 * later server extends its address's chain, which changes who owns a shared point).
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import type { ServerOptions } from '../../src/options';
import type { Peers } from '../../src/peers';
import {
  ConsistentHashSelector, type KeptRing, type Ring, type RingMembers, buildRing, findPoint, flatRing, ketamaPoints,
} from '../../src/select/consistent-hash';
import { IncrementalRing, prepareRing } from '../../src/select/ketama-incremental';

const RUNS = Number(process.env.DIFF_RUNS ?? 60);

/** Address texts: shared hashes at (chain position) c3636:0 = c33006:1, c2929:0 = c6053:5, d155:195 = d529:67, d148:330 = d671:18, d626:153 = d682:345. */
const POOL = ['c3636:80', 'c33006:80', 'd155:80', 'd529:80', 'd148:80', 'd671:80', 'c2929:80', 'c6053:80', 'd626:80', 'd682:80', 'unix:/tmp/a'];

/**
 * A ring as the answers see it: points, owner address per point, members per address, and the
 * point index found for probe hashes (each point, the hashes beside it, both ends of the range).
 */
function canonical(answers: Ring | KeptRing): {
  points: number[]; owners: string[]; found: number[]; primary: Record<string, number[]>; backup: Record<string, number[]> | null;
} {
  const ring = 'buckets' in answers ? flatRing(answers) : answers;
  const find = 'buckets' in answers ? (h: number) => answers.buckets.find(h) : (h: number) => findPoint(ring.points, h);
  const members = (m: RingMembers): Record<string, number[]> => {
    const out: Record<string, number[]> = {};
    for (let g = 0; g < ring.names.length; g++) {
      const list = Array.from(m.list.subarray(m.start[g]!, m.start[g + 1]!));
      if (list.length > 0) out[ring.names[g]!] = list;
    }
    return out;
  };
  const probes = [0, 1, 0xfffffffe, 0xffffffff];
  const step = Math.max(1, Math.floor(ring.points.length / 700));
  for (let i = 0; i < ring.points.length; i += step) {
    const h = ring.points[i]!;
    probes.push(h, (h + 1) >>> 0, (h - 1) >>> 0);
  }
  return {
    points: Array.from(ring.points),
    owners: Array.from(ring.groups, (g) => ring.names[g]!),
    found: probes.map(find),
    primary: members(ring.primary),
    backup: ring.backup === null ? null : members(ring.backup),
  };
}

type Op =
  | { t: 'add'; address: number; weight: number; backup: boolean }
  | { t: 'remove'; at: number }
  | { t: 'weight'; at: number; weight: number }
  | { t: 'address'; at: number; address: number }
  | { t: 'backup'; at: number; backup: boolean }
  | { t: 'down'; at: number; down: boolean }
  | { t: 'set'; order: number[]; drop: number[]; add: number | null; weight: number };

const at = fc.nat({ max: 20 });
const weight = fc.integer({ min: 1, max: 3 });
/** Mostly the first six addresses (three shared hashes within weights 1 to 3), so that changes often meet. */
const address = fc.oneof({ weight: 3, arbitrary: fc.nat({ max: 5 }) }, { weight: 1, arbitrary: fc.nat({ max: POOL.length - 1 }) });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant('add' as const), address, weight, backup: fc.constantFrom(false, false, false, false, true) }),
  fc.record({ t: fc.constant('remove' as const), at }),
  fc.record({ t: fc.constant('weight' as const), at, weight }),
  fc.record({ t: fc.constant('address' as const), at, address }),
  fc.record({ t: fc.constant('backup' as const), at, backup: fc.boolean() }),
  fc.record({ t: fc.constant('down' as const), at, down: fc.boolean() }),
  fc.record({ t: fc.constant('set' as const), order: fc.array(fc.nat({ max: 1000 }), { minLength: 20, maxLength: 20 }), drop: fc.array(fc.nat({ max: 25 }), { maxLength: 3 }), add: fc.option(address), weight }),
);

let nextId = 0;
function apply(b: Balancer, o: Op): void {
  const list = b.servers;
  const pick = (i: number) => list[i % list.length]!;
  try {
    switch (o.t) {
      case 'add':
        b.add({ id: `n${nextId++}`, address: POOL[o.address]!, weight: o.weight, backup: o.backup });
        return;
      case 'remove':
        b.remove(pick(o.at).id);
        return;
      case 'weight':
        b.update(pick(o.at).id, { weight: o.weight });
        return;
      case 'address':
        b.update(pick(o.at).id, { address: POOL[o.address]! });
        return;
      case 'backup':
        b.update(pick(o.at).id, { backup: o.backup });
        return;
      case 'down':
        b.update(pick(o.at).id, { down: o.down });
        return;
      case 'set': {
        const servers: ServerOptions[] = list.map((s) => ({ id: s.id, address: s.address, weight: s.weight, backup: s.backup }));
        const keyed = servers.map((s, i) => [o.order[i % o.order.length]! * 100 + i, s] as const).sort((x, y) => x[0] - y[0]);
        const next = keyed.map(([, s]) => s);
        for (const d of o.drop) if (d < next.length && next.length > 1) next.splice(d, 1);
        if (o.add !== null) next.splice((o.drop[0] ?? 0) % (next.length + 1), 0, { id: `n${nextId++}`, address: POOL[o.add]!, weight: o.weight });
        b.setServers(next);
        return;
      }
    }
  } catch (e) {
    // a change the balancer refuses (the last primary removed or moved to backup) changes nothing
    if (typeof (e as { code?: unknown }).code !== 'string') throw e;
  }
}

const internals = (b: Balancer) => (b as unknown as { members: { peers: Peers; selector: ConsistentHashSelector } }).members;

const initial = fc.array(fc.record({ address, weight }), { minLength: 1, maxLength: 8 });

describe('incremental ketama ring = buildRing after any sequence of changes', () => {
  it('patching every change (no whole build after the first)', () => {
    fc.assert(
      fc.property(initial, fc.array(op, { minLength: 1, maxLength: 25 }), (start, ops) => {
        const b = new Balancer({
          method: 'hash', hash: { consistent: true }, allowBackupWithHash: true,
          servers: start.map((s, i) => ({ id: `s${i}`, address: POOL[s.address]!, weight: s.weight })),
        });
        const keeper = new IncrementalRing(0);
        const m = internals(b);
        expect(canonical(keeper.update(m.peers))).toEqual(canonical(buildRing(m.peers)));
        for (const o of ops) {
          apply(b, o);
          const plain = canonical(buildRing(m.peers));
          expect(canonical(keeper.update(m.peers))).toEqual(plain);
          // the balancer's own selector (default policy: whole builds for large changes)
          expect(canonical(m.selector.ring!)).toEqual(plain);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('a ring built whole in steps of any size (prepareRing, setServersAsync) = buildRing, and is kept from there', () => {
    // one set of point arrays for every run, as a selector keeps it: used again when its size fits
    const work = { keys: new Uint32Array(0), owners: new Int32Array(0) };
    let reused = 0;
    fc.assert(
      fc.property(initial, fc.integer({ min: 1, max: 700 }), fc.array(op, { maxLength: 12 }), (start, step, ops) => {
        const b = new Balancer({
          method: 'hash', hash: { consistent: true }, allowBackupWithHash: true,
          servers: start.map((s, i) => ({ id: `s${i}`, address: POOL[s.address]!, weight: s.weight })),
        });
        const m = internals(b);
        const t = m.peers.primary;
        const held = work.keys;
        const steps = prepareRing(t.records.map((r) => r.address), Array.from(t.weight.subarray(0, t.n)), 0, step, null, work);
        let yields = 0;
        let next = steps.next();
        for (; next.done !== true; next = steps.next()) yields++;
        const keeper = next.value;
        if (work.keys === held) reused++;
        // the sort's four passes alone yield once per `step` entries each
        expect(yields).toBeGreaterThanOrEqual(Math.ceil((160 * m.peers.primary.totalWeight) / step) - 1);
        const ring = keeper.update(m.peers);
        expect(canonical(ring)).toEqual(canonical(buildRing(m.peers)));
        expect(ring.buckets.layouts).toBe(1); // the update over the same primaries changed nothing
        for (const o of ops) {
          apply(b, o);
          expect(canonical(keeper.update(m.peers))).toEqual(canonical(buildRing(m.peers)));
        }
      }),
      { numRuns: RUNS },
    );
    expect(reused).toBeGreaterThan(0); // (the arrays of an earlier run did serve)
  });

  it('the pool has the shared hashes the comments name', () => {
    const shared = (a: string, ja: number, c: string, jc: number) => expect(ketamaPoints(a, ja + 1)[ja]).toBe(ketamaPoints(c, jc + 1)[jc]);
    shared('c3636:80', 0, 'c33006:80', 1);
    shared('c2929:80', 0, 'c6053:80', 5);
    shared('d155:80', 195, 'd529:80', 67);
    shared('d148:80', 330, 'd671:80', 18);
    shared('d626:80', 153, 'd682:80', 345);
  });
});
