import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock } from '../../src/clock';
import { SWRR_VECTORS as vectors, named, picks, request } from '../helpers';


describe('smooth weighted round robin', () => {
  it.each(vectors)('weights %j pick %s', (weights, expected) => {
    const b = new Balancer({ servers: named(weights) });
    const total = weights.reduce((x, y) => x + y, 0);
    expect(picks(b, 2 * total)).toBe(expected);
  });

  it('follows the {5,1,1} state trace of §2.8', () => {
    const b = new Balancer({ servers: named([5, 1, 1]) });
    const trace: number[][] = [];
    for (let k = 0; k < 7; k++) {
      const s = b.pick()!;
      b.release(s);
      trace.push(b.servers.map((x) => x.currentWeight));
    }
    expect(trace).toEqual([
      [-2, 1, 1], [-4, 2, 2], [1, -4, 3], [-1, -3, 4], [4, -2, -2], [2, -1, -1], [0, 0, 0],
    ]);
  });

  it('skips a down server and keeps its stale current weight', () => {
    const b = new Balancer({ servers: named([1, 1, 1], [{}, { down: true }]) });
    expect(picks(b, 4)).toBe('A C A C');
    expect(b.get('B')!.currentWeight).toBe(0);
  });

  it('honours maxConns while connections are held, then frees the slot', () => {
    const b = new Balancer({ servers: named([1, 1], [{ maxConns: 1 }, { maxConns: 1 }]) });
    const a = b.pick()!;
    const c = b.pick()!;
    expect([a.id, c.id]).toEqual(['A', 'B']);
    expect(b.pick()).toBeUndefined();
    b.release(a);
    expect(b.pick()!.id).toBe('A');
  });
});

// docs/nginx-semantics.md §2.9, all within one second; D and E refuse connections.
describe('failure and retry vectors (§2.9)', () => {
  const clock = new ManualClock(1_000_000);
  const run = (servers: Parameters<typeof named>[0], extra: Record<string, unknown>[], dead: string[], n: number, ids?: string[]) => {
    const list = named(servers, extra).map((s, i) => (ids ? { ...s, id: ids[i]!, address: `10.0.0.${i + 1}:25` } : s));
    const b = new Balancer({ servers: list, clock: clock.now });
    const d = new Set(dead);
    return Array.from({ length: n }, () => request(b, d)).join(' ');
  };

  it('D weight=3 max_fails=3; A', () => {
    expect(run([3, 1], [{ maxFails: 3 }], ['D'], 8, ['D', 'A'])).toBe('D!,A A D!,A D!,A A A A A');
  });
  it('A weight=2; D weight=2 max_fails=2; B', () => {
    expect(run([2, 2, 1], [{}, { maxFails: 2 }], ['D'], 10, ['A', 'D', 'B'])).toBe('A D!,B A D!,A B A A B A A');
  });
  it('D; E; A backup; B backup', () => {
    expect(run([1, 1, 1, 1], [{}, {}, { backup: true }, { backup: true }], ['D', 'E'], 4, ['D', 'E', 'A', 'B'])).toBe('D!,E!,A B A B');
  });
  it('D weight=5 max_fails=0; A', () => {
    expect(run([5, 1], [{ maxFails: 0 }], ['D'], 8, ['D', 'A'])).toBe('D!,A D!,A D!,A A D!,A D!,A D!,A D!,A');
  });
  it('D; A backup', () => {
    expect(run([1, 1], [{}, { backup: true }], ['D'], 3, ['D', 'A'])).toBe('D!,A A A');
  });
  it('D single: never excluded, never retried', () => {
    expect(run([1], [], ['D'], 3, ['D'])).toBe('D!=>502 D!=>502 D!=>502');
  });
  it('D; E: both fail, then no live upstreams', () => {
    expect(run([1, 1], [], ['D', 'E'], 3, ['D', 'E'])).toBe('D!,E!=>502 NOLIVE NOLIVE');
  });
});
