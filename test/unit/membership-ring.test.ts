/**
 * The kept ketama ring through the membership changes whose bookkeeping the property test meets
 * seldom: the pass over the primaries (ketama-incremental.ts `#scan`) and the merge of leaving and
 * entering hashes (`#patch`) when both servers of a shared hash (c3636:80 at chain position 0,
 * c33006:80 at position 1) enter in one change, when one leaves as the other enters, when every
 * index shifts, and when a group's staircase shrinks to a prefix or grows. Every step is compared
 * with `buildRing` (points, owner per point, members per address) and the shared point's owner is
 * spelled out.
 */

import { describe, expect, it } from 'vitest';
import type { ServerOptions } from '../../src/options';
import { type Ring, type RingMembers, findPoint, ketamaPoints } from '../../src/select/consistent-hash';
import { keptRingSteps } from '../helpers';

const SHARED = ketamaPoints('c3636:80', 1)[0]!;

const members = (ring: Ring, m: RingMembers | null) => {
  if (m === null) return null;
  const out: Record<string, number[]> = {};
  for (let g = 0; g < ring.names.length; g++) {
    const list = Array.from(m.list.subarray(m.start[g]!, m.start[g + 1]!));
    if (list.length > 0) out[ring.names[g]!] = list;
  }
  return out;
};
const view = (ring: Ring) => ({
  points: Array.from(ring.points),
  owners: Array.from(ring.groups, (g) => ring.names[g]),
  primary: members(ring, ring.primary),
  backup: members(ring, ring.backup),
});
const ownerOf = (ring: Ring, h: number): string | null => {
  const k = findPoint(ring.points, h);
  return ring.points[k] === h ? ring.names[ring.groups[k]!]! : null;
};

const setup = (servers: ServerOptions[]) => keptRingSteps(servers, view, true);

const W = { id: 'w', address: 'web.example' };
const A = { id: 'a', address: 'c3636:80' };
const B = { id: 'b', address: 'c33006:80' };

describe('kept ring through membership changes', () => {
  it('both generators of a shared hash enter in one change: the second is remembered', () => {
    const { b, step } = setup([W]);
    b.setServers([W, A, B]);
    expect(ownerOf(step(), SHARED)).toBe('c3636:80');
    b.remove('a'); // the hash stays: c33006:80 generates it too
    expect(ownerOf(step(), SHARED)).toBe('c33006:80');
    b.remove('b');
    expect(ownerOf(step(), SHARED)).toBe(null);
  });

  it('one generator leaves as the other enters: the hash stays, with the newcomer as owner', () => {
    const { b, step } = setup([A, W]);
    expect(ownerOf(step(), SHARED)).toBe('c3636:80');
    b.setServers([W, B]);
    expect(ownerOf(step(), SHARED)).toBe('c33006:80');
    b.add(A); // after b in configuration order
    expect(ownerOf(step(), SHARED)).toBe('c33006:80');
    b.remove('b');
    expect(ownerOf(step(), SHARED)).toBe('c3636:80');
  });

  it('every index shifts (a server in front, then a reorder): owners follow configuration order', () => {
    const { b, step } = setup([A, B, W]);
    b.setServers([{ id: 'x', address: 'other.example' }, A, B, W]);
    expect(ownerOf(step(), SHARED)).toBe('c3636:80');
    b.setServers([B, { id: 'x', address: 'other.example' }, A, W]);
    expect(ownerOf(step(), SHARED)).toBe('c33006:80');
    b.remove('x');
    expect(ownerOf(step(), SHARED)).toBe('c33006:80');
  });

  it('a group whose heavier server goes shrinks to its staircase prefix, and grows again', () => {
    const { b, step } = setup([W, { id: 'b1', address: 'c33006:80' }, A, { id: 'b2', address: 'c33006:80', weight: 3 }]);
    expect(ownerOf(step(), SHARED)).toBe('c33006:80'); // b1 (index 1, position 1) comes before a (index 2, position 0)
    b.remove('b2');
    step();
    b.update('b1', { weight: 2 });
    step();
    b.add({ id: 'b3', address: 'c33006:80', weight: 4, backup: true }); // a backup: no points, a member only
    step();
    b.update('b1', { weight: 1 });
    b.remove('a');
    expect(ownerOf(step(), SHARED)).toBe('c33006:80');
    b.setServers([A, W, { id: 'b1', address: 'c33006:80' }]);
    expect(ownerOf(step(), SHARED)).toBe('c3636:80');
  });
});
