import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock, seededRandom } from '../../src/clock';
import { type DrawCount, getRandomTwo as getRandomTwoWith } from '../../src/select/random';
import { TierSlots } from '../../src/select/slots';
import type { Peers } from '../../src/peers';
import type { RequestState } from '../../src/select/request';

const getRandomTwo = (p: Peers, r: RequestState) => getRandomTwoWith(p, r, new TierSlots());
const drawsOf = (r: RequestState) => (r.walk as DrawCount).tries;
import { markTried } from '../../src/select/request';
import { request } from '../helpers';
import { peersOf, requestOn } from './methods-harness';

/** An rng returning `values` in order; counts calls and throws when they run out. */
function scripted(values: number[]) {
  const rng = () => {
    if (rng.calls >= values.length) throw new Error(`rng called ${rng.calls + 1} times, only ${values.length} values scripted`);
    return values[rng.calls++]!;
  };
  rng.calls = 0;
  return rng;
}

const make = (weights: number[], rng: () => number, extra: Record<string, unknown>[] = [], options: object = {}) =>
  new Balancer({
    method: 'random',
    rng,
    clock: new ManualClock(1_000_000).now,
    servers: weights.map((weight, i) => ({ id: 'ABCDE'[i]!, address: `10.0.0.${i + 1}:25`, weight, ...(extra[i] ?? {}) })),
    ...options,
  });

function ids(b: Balancer, n: number): string {
  const out: string[] = [];
  for (let k = 0; k < n; k++) {
    const s = b.pick();
    out.push(s?.id ?? '-');
    if (s) b.release(s);
  }
  return out.join(' ');
}

describe('random (§5.5)', () => {
  it('maps rng() in [0,1) onto weight slots as floor(rng() * totalWeight)', () => {
    const rng = scripted([0, 0.25, 0.49, 0.5, 0.75, 0.99]);
    expect(ids(make([1, 2, 1], rng), 6)).toBe('A B B B C C');
    expect(rng.calls).toBe(6);
  });

  it('a down server keeps its slots; drawing it costs a try and another draw', () => {
    const rng = scripted([0.4, 0.9]);
    expect(ids(make([1, 1, 1], rng, [{}, { down: true }]), 1)).toBe('C');
    expect(rng.calls).toBe(2);
  });

  it('more than 20 unavailable draws fall back to round robin', () => {
    const rng = scripted(Array(21).fill(0));
    expect(ids(make([1, 1, 1], rng, [{ down: true }, { down: true }]), 1)).toBe('C');
    expect(rng.calls).toBe(21);
  });

  it('the tries budget is per request: a new pick draws again', () => {
    const rng = scripted([...Array(21).fill(0), 0.9]);
    const b = make([1, 1, 1], rng, [{ down: true }, { down: true }]);
    expect(ids(b, 2)).toBe('C C');
    expect(rng.calls).toBe(22);
  });

  it('a retry never draws a server already tried by the request', () => {
    const rng = scripted([0.1, 0.1, 0.5]);
    const b = make([1, 1, 1], rng, [], { clock: new ManualClock(5000).now });
    expect(request(b, new Set(['A']))).toBe('A!,B');
    expect(rng.calls).toBe(3);
  });

  it('a single server always uses round robin (no draw)', () => {
    const rng = scripted([]);
    expect(ids(make([3], rng), 3)).toBe('A A A');
  });

  it('a seeded rng reproduces the sequence', () => {
    expect(ids(make([1, 2, 3], seededRandom(42)), 30)).toBe(ids(make([1, 2, 3], seededRandom(42)), 30));
  });
});

describe('random two least_conn (§5.5)', () => {
  const two = (weights: number[], rng: () => number, extra: Record<string, unknown>[] = []) =>
    make(weights, rng, extra, { randomTwo: true, randomLeastConn: true });

  it('equal load: the second candidate drawn wins the tie', () => {
    const rng = scripted([0.1, 0.5, 0.5, 0.1]);
    expect(ids(two([1, 1, 1], rng), 2)).toBe('B A');
  });

  it('keeps the first candidate only if the second has strictly more conns per weight', () => {
    const rng = scripted([0.5, 0.9, 0.1, 0.5, 0.5, 0.1]);
    const b = two([1, 1, 1], rng);
    const held = b.pick()!; // B, C tie -> C (second)
    expect(held.id).toBe('C');
    const first = b.pick()!; // A then B: equal conns -> B (second)
    expect(first.id).toBe('B');
    // B (1 conn) then A (0 conns): A's conns * B's weight (0) is not > B's (1) -> A, the second
    expect(b.pick()!.id).toBe('A');
  });

  it('compares conns/weight by cross-multiplication', () => {
    // A weight 2 with 1 conn (ratio 1/2) against B weight 1 with 1 conn (ratio 1): A either way
    const p = peersOf([{ address: 'a:1', weight: 2 }, { address: 'b:1' }], [], scripted([0.1, 0.9, 0.9, 0.1]));
    p.primary.conns[0] = 1;
    p.primary.conns[1] = 1;
    expect(getRandomTwo(p, requestOn(p.primary))).toBe(0); // A first, B second: B 1*2 > A 1*1 -> keep A
    expect(getRandomTwo(p, requestOn(p.primary))).toBe(0); // B first, A second: A 1*1 > B 1*2? no -> A
  });

  it('every draw counts as a try, the first candidate and a redraw of it included', () => {
    const p = peersOf([{ address: 'a:1' }, { address: 'b:1' }, { address: 'c:1' }], [], scripted([0.1, 0.1, 0.5]));
    const r = requestOn(p.primary);
    expect(getRandomTwo(p, r)).toBe(1);
    expect(drawsOf(r)).toBe(2);
  });

  it('with one available server the draws run out and round robin takes it', () => {
    const rng = scripted(Array(21).fill(0.1));
    expect(ids(two([1, 1], rng, [{}, { down: true }]), 1)).toBe('A');
    expect(rng.calls).toBe(21);
  });

  it('tried servers are skipped on retries; the budget carries over within the request', () => {
    const p = peersOf([{ address: 'a:1' }, { address: 'b:1' }, { address: 'c:1' }], [], scripted([0.1, 0.5, 0.5, 0.9, 0.1]));
    const r = requestOn(p.primary);
    expect(getRandomTwo(p, r)).toBe(1); // A, B -> B
    markTried(r, 1);
    expect(getRandomTwo(p, r)).toBe(0); // B tried (try), C, A -> A (second); tries so far 1 + 2
    expect(drawsOf(r)).toBe(3);
  });

  it('randomTwo alone is random two least_conn (the default and only open-source method)', () => {
    const a = make([1, 2, 3], seededRandom(9), [], { randomTwo: true });
    const b = make([1, 2, 3], seededRandom(9), [], { randomTwo: true, randomLeastConn: true });
    expect(ids(a, 40)).toBe(ids(b, 40));
  });
});
