/**
 * The incremental ketama ring (src/select/ketama-incremental.ts) on the cases where a point's
 * owner moves: two address texts whose chains share a hash (c3636:80 at position 0 and c33006:80
 * at position 1; d155:80 at position 195, reached from weight 2, and d529:80 at position 67), both
 * removed in one change, and servers sharing an address with different weights. Every step is
 * compared with `buildRing` and the shared point's owner is spelled out.
 */

import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import type { ServerOptions } from '../../src/options';
import type { Peers } from '../../src/peers';
import { type KeptRing, type Ring, buildRing, findPoint, ketamaPoints } from '../../src/select/consistent-hash';
import { flatRing } from '../../src/select/ketama-incremental';
import { keptRingSteps } from '../helpers';

const SHARED_C = ketamaPoints('c3636:80', 1)[0]!;
const SHARED_D = ketamaPoints('d529:80', 68)[67]!;

/** Owner address of each point, and the points. */
const view = (ring: Ring) => ({ points: Array.from(ring.points), owners: Array.from(ring.groups, (g) => ring.names[g]) });
const ownerOf = (ring: Ring, h: number): string | null => {
  const k = findPoint(ring.points, h);
  return ring.points[k] === h ? ring.names[ring.groups[k]!]! : null;
};

const setup = (servers: ServerOptions[]) => keptRingSteps(servers, view);

describe('incremental ketama ring: owners of shared points', () => {
  it('the pair shares the hash the tests rely on', () => {
    expect(ketamaPoints('c33006:80', 2)[1]).toBe(SHARED_C);
    expect(ketamaPoints('d155:80', 196)[195]).toBe(SHARED_D);
  });

  it('a shared point belongs to the first server in config order, and moves when it goes', () => {
    const { b, step } = setup([{ id: 'a', address: 'c3636:80' }, { id: 'b', address: 'c33006:80' }, { id: 'w', address: 'web.example' }]);
    expect(ownerOf(step(), SHARED_C)).toBe('c3636:80');
    b.remove('a');
    expect(ownerOf(step(), SHARED_C)).toBe('c33006:80');
    b.add({ id: 'a', address: 'c3636:80' }); // now after b
    expect(ownerOf(step(), SHARED_C)).toBe('c33006:80');
    b.setServers([{ id: 'a', address: 'c3636:80' }, { id: 'b', address: 'c33006:80' }, { id: 'w', address: 'web.example' }]);
    expect(ownerOf(step(), SHARED_C)).toBe('c3636:80'); // reordered: same points, owner by order
    const before = step().points.length;
    b.setServers([{ id: 'w', address: 'web.example' }]); // both generators leave in one change
    const ring = step();
    expect(ownerOf(ring, SHARED_C)).toBe(null);
    expect(ring.points.length).toBe(160);
    expect(before).toBe(3 * 160 - 1);
  });

  it('two servers sharing a hash enter in one change: the first in config order owns it', () => {
    const { b, step } = setup([{ id: 'w', address: 'web.example' }]);
    expect(ownerOf(step(), SHARED_C)).toBe(null);
    b.setServers([{ id: 'b', address: 'c33006:80' }, { id: 'w', address: 'web.example' }, { id: 'a', address: 'c3636:80' }]);
    expect(ownerOf(step(), SHARED_C)).toBe('c33006:80');
    b.setServers([{ id: 'w', address: 'web.example' }]);
    expect(ownerOf(step(), SHARED_C)).toBe(null);
    b.setServers([{ id: 'a', address: 'c3636:80' }, { id: 'w', address: 'web.example' }, { id: 'b', address: 'c33006:80' }]);
    expect(ownerOf(step(), SHARED_C)).toBe('c3636:80');
  });

  it('a heavier later server of an address extends its chain: the shared point follows the first server generating it', () => {
    // d155 generates the shared hash from weight 2 (position 195), d529 from weight 1 (position 67)
    const { b, step } = setup([{ id: 'x', address: 'd155:80' }, { id: 'y', address: 'd529:80' }, { id: 'z', address: 'd155:80', weight: 2 }]);
    expect(ownerOf(step(), SHARED_D)).toBe('d529:80'); // y (index 1) before z (index 2)
    b.update('x', { weight: 2 });
    expect(ownerOf(step(), SHARED_D)).toBe('d155:80'); // x (index 0) now generates it
    b.update('x', { weight: 1 });
    expect(ownerOf(step(), SHARED_D)).toBe('d529:80');
    b.remove('z');
    expect(ownerOf(step(), SHARED_D)).toBe('d529:80');
    b.remove('y');
    expect(ownerOf(step(), SHARED_D)).toBe(null); // d155 at weight 1 stops at position 159
    b.update('x', { address: 'd529:80' });
    expect(ownerOf(step(), SHARED_D)).toBe('d529:80');
  });

  it('a change of most of the ring builds it whole, growing or shrinking (default policy)', () => {
    const servers = (n: number, w: number) => Array.from({ length: n }, (_, i) => ({ id: `s${i}`, address: `10.1.${i >> 8}.${i & 255}:25`, weight: w }));
    const b = new Balancer({ method: 'hash', hash: { consistent: true }, servers: servers(20, 3) });
    const m = (b as unknown as { members: { peers: Peers; selector: { ring: KeptRing } } }).members;
    const check = (points: number) => {
      expect(view(flatRing(m.selector.ring))).toEqual(view(buildRing(m.peers)));
      expect(m.selector.ring.buckets.size).toBe(points);
    };
    check(20 * 3 * 160);
    b.setServers(servers(1, 1));
    check(160);
    b.setServers(servers(30, 2));
    check(30 * 2 * 160);
    b.add({ id: 'a', address: 'c3636:80' }); // patched: 160 of 9,760 points
    check(30 * 2 * 160 + 160);
  });

  it('the balancer serves from the kept ring: same picks as a balancer built afresh', () => {
    const servers = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `s${i}`, address: `10.0.${i >> 8}.${i & 255}:25`, weight: 1 + (i % 3) }));
    const b = new Balancer({ method: 'hash', hash: { consistent: true }, servers: servers(40) });
    b.add({ id: 'extra', address: 'c3636:80', weight: 2 });
    b.remove('s7');
    b.update('s3', { weight: 3 });
    const fresh = new Balancer({ method: 'hash', hash: { consistent: true }, servers: b.servers.map((s) => ({ id: s.id, address: s.address, weight: s.weight })) });
    const keys = Array.from({ length: 200 }, (_, i) => `user${i}@example.com`);
    expect(keys.map((k) => b.pick(k)!.id)).toEqual(keys.map((k) => fresh.pick(k)!.id));
  });
});
