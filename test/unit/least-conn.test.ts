import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock } from '../../src/clock';
import type { Server } from '../../src/server';
import { named, picks, request } from '../helpers';

const lc = (weights: number[], extra: Record<string, unknown>[] = [], ids?: string[]) =>
  new Balancer({
    method: 'least-conn',
    servers: named(weights, extra).map((s, i) => (ids ? { ...s, id: ids[i]! } : s)),
    clock: new ManualClock(1_000_000).now,
  });

/** `n` picks whose connections stay open. */
function hold(b: Balancer, n: number): { ids: string; held: Server[] } {
  const held: Server[] = [];
  for (let k = 0; k < n; k++) {
    const s = b.pick();
    if (s === undefined) break;
    held.push(s);
  }
  return { ids: held.map((s) => s.id).join(' '), held };
}

describe('least_conn (§5.1)', () => {
  it('held connections, weights {2,1}: X Y X Y X X X Y X [nginx-verified]', () => {
    expect(hold(lc([2, 1], [], ['X', 'Y']), 9).ids).toBe('X Y X Y X X X Y X');
  });

  it('held connections, weights {3,2,1}: X Y Z X Y X Y Z X X Y X [nginx-verified]', () => {
    expect(hold(lc([3, 2, 1], [], ['X', 'Y', 'Z']), 12).ids).toBe('X Y Z X Y X Y Z X X Y X');
  });

  it.each([
    [[5, 1, 1], 'A A B A C A A A A B A C A A'],
    [[3, 2, 1], 'A B A C B A A B A C B A'],
    [[1, 4], 'B B A B B B B A B B'],
  ])('sequential traffic (all conns 0) is exactly SWRR: %j', (weights, expected) => {
    const b = lc(weights);
    expect(picks(b, expected.split(' ').length)).toBe(expected);
  });

  it('without a tie, no current/effective weight changes', () => {
    const b = lc([1, 1, 1]);
    const a = b.pick()!; // tie of three: SWRR round, A wins
    expect(a.id).toBe('A');
    const before = b.servers.map((s) => s.currentWeight);
    expect(before).toEqual([-2, 1, 1]);
    const x = b.pick()!; // B and C tie (0 conns), A has 1: SWRR among B, C only
    expect(x.id).toBe('B');
    expect(b.servers.map((s) => s.currentWeight)).toEqual([-2, 0, 2]);
    const y = b.pick()!; // only C has 0 conns: unique best, weights untouched
    expect(y.id).toBe('C');
    expect(b.servers.map((s) => s.currentWeight)).toEqual([-2, 0, 2]);
  });

  it('ties are broken by SWRR among the tied servers only; others keep stale current weights', () => {
    const b = lc([1, 1, 1]);
    const a = b.pick()!; // A (tie of three), A: -2, B: 1, C: 1
    b.release(b.pick()!); // B and C tie at 0 conns... B wins (1+1=2 vs 2, first), B: 0, C: 2
    // A still holds one connection: picks with release alternate among B and C
    expect(picks(b, 4)).toBe('C B C B');
    expect(a.currentWeight).toBe(-2);
  });

  it('compares conns/weight by cross-multiplication (weights matter)', () => {
    // A weight 3, B weight 1. Hold: A(0/3) vs B(0/1) tie -> SWRR: A; then A 1/3 < B 0/1? no: 0 < 1/3 -> B
    const b = lc([3, 1]);
    expect(hold(b, 6).ids).toBe('A B A A A B');
    // conns now A 4, B 2: A 4/3 < B 2/1 -> A
    expect(b.pick()!.id).toBe('A');
  });

  it('skips servers at maxConns and down servers', () => {
    const b = lc([1, 1, 1], [{ maxConns: 1 }, { down: true }]);
    expect(hold(b, 4).ids).toBe('A C C C');
  });

  it('a failing server: retried on the next one, then excluded for its window', () => {
    const b = lc([1, 1], [{}, {}], ['D', 'A']);
    const dead = new Set(['D']);
    expect([1, 2, 3].map(() => request(b, dead)).join(' ')).toBe('D!,A A A');
  });

  it('single server: round robin get (never excluded, never retried)', () => {
    const b = lc([1], [], ['D']);
    const dead = new Set(['D']);
    expect([1, 2, 3].map(() => request(b, dead)).join(' ')).toBe('D!=>502 D!=>502 D!=>502');
  });

  it('backup tier: used when no primary is available, with least_conn among the backups', () => {
    const b = new Balancer({
      method: 'least-conn',
      servers: [
        { id: 'P', address: '10.0.0.1:25', maxConns: 1 },
        { id: 'B1', address: '10.0.0.2:25', backup: true },
        { id: 'B2', address: '10.0.0.3:25', backup: true, weight: 2 },
      ],
    });
    // P takes its one connection; then least_conn among the backups (conns/weight B1:B2):
    // 0/1=0/2 tie -> SWRR B2 (cw B1 1, B2 -1); 0/1<1/2 B1; 1/1>1/2 B2; 1/1=2/2 tie -> SWRR B1
    // (cw B1 2 > B2 1); 2/1>2/2 B2
    expect(hold(b, 6).ids).toBe('P B2 B1 B2 B1 B2');
    expect(b.get('P')!.conns).toBe(1);
  });

  it('backup tier: dead primaries are retried on the backups within one request', () => {
    // docs/nginx-semantics.md §2.9 / §3.1 (D; E; A backup; B backup), the same with least_conn
    const b = lc([1, 1, 1, 1], [{}, {}, { backup: true }, { backup: true }], ['D', 'E', 'A', 'B']);
    const dead = new Set(['D', 'E']);
    expect([1, 2, 3, 4].map(() => request(b, dead)).join(' ')).toBe('D!,E!,A B A B');
  });

  it('returns undefined (no live upstreams) when everything is at maxConns', () => {
    const b = lc([1, 1], [{ maxConns: 1 }, { maxConns: 1 }]);
    expect(hold(b, 3).ids).toBe('A B');
    expect(b.pick()).toBeUndefined();
  });
});
