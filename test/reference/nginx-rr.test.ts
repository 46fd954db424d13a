/**
 * The reference model itself against the spec's vectors (docs/nginx-semantics.md §2.4, §2.8, §2.9), run
 * in nginx's own unit: whole seconds, `failTimeout` in seconds. The property and differential tests
 * trust the model only because of these.
 */

import { describe, expect, it } from 'vitest';
import { RefUpstream, type RefServerOptions } from './nginx-rr';
import { SWRR_VECTORS } from '../helpers';

const ids = (n: number) => Array.from({ length: n }, (_, i) => String.fromCharCode(65 + i));

function picks(u: RefUpstream, n: number, now = 0): string {
  const out: string[] = [];
  for (let k = 0; k < n; k++) {
    const p = u.pick(now);
    out.push(p === null ? '-' : p.id);
    if (p !== null) u.release(p, false, now);
  }
  return out.join(' ');
}

/** One request; `dead` fail, others answer. Same notation as test/helpers.ts `request`. */
function request(u: RefUpstream, dead: ReadonlySet<string>, now: number): string {
  const r = u.request();
  const steps: string[] = [];
  for (let p = u.next(r, now); p !== null; p = u.next(r, now)) {
    if (dead.has(p.id)) {
      steps.push(`${p.id}!`);
      u.finish(r, true, now);
    } else {
      u.connected(r);
      u.finish(r, false, now);
      steps.push(p.id);
      return steps.join(',');
    }
  }
  return steps.length === 0 ? 'NOLIVE' : `${steps.join(',')}=>502`;
}

describe('reference model: SWRR vectors (§2.8)', () => {
    it.each(SWRR_VECTORS)('weights %j pick %s', (weights, expected) => {
    const u = new RefUpstream(weights.map((weight, i) => ({ id: ids(3)[i]!, weight })));
    expect(picks(u, 2 * weights.reduce((a, b) => a + b, 0))).toBe(expected);
  });
});

describe('reference model: failure / retry vectors (§2.9)', () => {
  const run = (servers: RefServerOptions[], dead: string[], n: number) => {
    const u = new RefUpstream(servers);
    return Array.from({ length: n }, () => request(u, new Set(dead), 1000)).join(' ');
  };
  it('D weight=3 max_fails=3; A', () => {
    expect(run([{ id: 'D', weight: 3, maxFails: 3 }, { id: 'A' }], ['D'], 8)).toBe('D!,A A D!,A D!,A A A A A');
  });
  it('A weight=2; D weight=2 max_fails=2; B', () => {
    expect(run([{ id: 'A', weight: 2 }, { id: 'D', weight: 2, maxFails: 2 }, { id: 'B' }], ['D'], 10)).toBe('A D!,B A D!,A B A A B A A');
  });
  it('D; E; A backup; B backup', () => {
    expect(run([{ id: 'D' }, { id: 'E' }, { id: 'A', backup: true }, { id: 'B', backup: true }], ['D', 'E'], 4)).toBe('D!,E!,A B A B');
  });
  it('D weight=5 max_fails=0; A', () => {
    expect(run([{ id: 'D', weight: 5, maxFails: 0 }, { id: 'A' }], ['D'], 8)).toBe('D!,A D!,A D!,A A D!,A D!,A D!,A D!,A');
  });
  it('D; A backup', () => {
    expect(run([{ id: 'D' }, { id: 'A', backup: true }], ['D'], 3)).toBe('D!,A A A');
  });
  it('D single', () => {
    expect(run([{ id: 'D' }], ['D'], 3)).toBe('D!=>502 D!=>502 D!=>502');
  });
  it('D; E', () => {
    expect(run([{ id: 'D' }, { id: 'E' }], ['D', 'E'], 3)).toBe('D!,E!=>502 NOLIVE NOLIVE');
  });
  it('A weight=6 max_fails=3 (first two fail); B: effective weight 6 -> 4 -> 2, then +1 per round', () => {
    const u = new RefUpstream([{ id: 'A', weight: 6, maxFails: 3 }, { id: 'B' }]);
    const out: string[] = [];
    for (let k = 0; k < 16; k++) out.push(request(u, new Set(k < 2 ? ['A'] : []), 1000));
    expect(out.join(' ')).toBe('A!,B A!,B B A A A A B A A A A A A B A');
  });
});

describe('reference model: peer-level vectors (§2.4), in seconds', () => {
  // Peer A under test, B a second primary so that the upstream is not single.
  const setup = (a: Omit<RefServerOptions, 'id'>) => new RefUpstream([{ id: 'A', ...a }, { id: 'B', weight: 1, maxFails: 0 }]);
  const pickA = (u: RefUpstream, now: number) => {
    const r = u.request();
    r.tried.add('B'); // force the round onto A when A is eligible
    const p = u.next(r, now);
    return { r, p };
  };
  // Only ever asked when the answer ends the scenario or is 'no' (a 'yes' leaves a pick in flight).
  const eligible = (u: RefUpstream, now: number) => pickA(u, now).p !== null;

  it('A) max_fails=3 fail_timeout=3', () => {
    const u = setup({ maxFails: 3, failTimeout: 3 });
    const A = u.get('A')!;
    let { r } = pickA(u, 100);
    expect([A.fails, A.accessed, A.checked]).toEqual([0, 0, 100]);
    u.finish(r, true, 100);
    expect([A.fails, A.accessed, A.checked]).toEqual([1, 100, 100]);
    ({ r } = pickA(u, 100));
    u.finish(r, true, 100);
    expect([A.fails, A.accessed, A.checked]).toEqual([2, 100, 100]);
    ({ r } = pickA(u, 101));
    u.finish(r, true, 101);
    expect([A.fails, A.accessed, A.checked]).toEqual([3, 101, 101]);
    expect(A.conns).toBe(0);
    for (const t of [101, 102, 103, 104]) expect(eligible(u, t)).toBe(false);
    ({ r } = pickA(u, 105));
    expect(r.current).toBe(A);
    u.finish(r, true, 105);
    expect([A.fails, A.accessed, A.checked]).toEqual([4, 105, 105]);
    for (const t of [105, 106, 107, 108]) expect(eligible(u, t)).toBe(false);
    ({ r } = pickA(u, 109));
    u.finish(r, false, 109);
    expect([A.fails, A.accessed, A.checked]).toEqual([0, 105, 109]);
  });

  it('B) failures accumulate across successes', () => {
    const u = setup({ maxFails: 3, failTimeout: 10 });
    const A = u.get('A')!;
    const op = (t: number, failed: boolean) => {
      const { r } = pickA(u, t);
      u.finish(r, failed, t);
      return A.fails;
    };
    expect([op(1000, true), op(1001, false), op(1002, true), op(1005, false), op(1006, true)]).toEqual([1, 1, 2, 2, 3]);
    expect(eligible(u, 1016)).toBe(false);
    expect(eligible(u, 1017)).toBe(true);
  });

  it('C) sparse failures never expire; D) a post-window success resets; E) fail_timeout=0', () => {
    let u = setup({ maxFails: 2, failTimeout: 10 });
    let A = u.get('A')!;
    let { r } = pickA(u, 1000);
    u.finish(r, true, 1000);
    ({ r } = pickA(u, 1050));
    expect(A.checked).toBe(1050);
    u.finish(r, true, 1050);
    expect(A.fails).toBe(2);
    expect(eligible(u, 1051)).toBe(false);

    u = setup({ maxFails: 2, failTimeout: 10 });
    A = u.get('A')!;
    ({ r } = pickA(u, 1000));
    u.finish(r, true, 1000);
    ({ r } = pickA(u, 1011));
    u.finish(r, false, 1011);
    expect(A.fails).toBe(0);
    ({ r } = pickA(u, 1012));
    u.finish(r, true, 1012);
    expect(A.fails).toBe(1);
    expect(A.state).toBe('up');

    u = setup({ maxFails: 1, failTimeout: 0 });
    ({ r } = pickA(u, 1000));
    u.finish(r, true, 1000);
    expect(eligible(u, 1000)).toBe(false);
    expect(eligible(u, 1001)).toBe(true);
  });
});
