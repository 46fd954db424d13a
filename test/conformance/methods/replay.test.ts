/**
 * Replays every method vector recorded from real nginx (`test/vectors/methods-*.json`, written by
 * `record.ts`) through the Balancer on a whole-second ManualClock and asserts the whole trace.
 *
 * Like the round-robin replay it re-enacts the environment, not nginx's answers: a server listed
 * in `refusing` fails every connect, any other connects. Each `connect` step is one attempt with
 * the step's key: `next()` until a server connects or `next()` returns undefined; stream marks a
 * server live at connect (`connected()`), http at the end (`release()`); a held connection is
 * released by its `close` step. No network, no real time.
 */

import { describe, expect, test } from 'vitest';
import { expectWellFormed, Replay } from '../replay-helpers';
import { describeMethodStep, loadMethodVectors, type MethodConnectStep, type MethodVector } from './format';

const vectors = loadMethodVectors();

function replay(v: MethodVector): string[] {
  const r = new Replay(v, { method: v.method, ...(v.hash ? { hash: v.hash } : {}), servers: v.servers, tries: v.tries });
  const lines = v.steps.map((step) => {
    r.at(step.t);
    if (step.op === 'close') return r.close(step.conn) ? describeMethodStep(step) : `${describeMethodStep(step)} (not open in the replay)`;
    return describeMethodStep({ ...step, ...r.connect(step.conn, step.key, step.hold) });
  });
  return [...lines, ...r.leftovers()];
}

describe('method vectors recorded from nginx', () => {
  test('vectors are present and well-formed', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(15);
    for (const { file, vector } of vectors) {
      expectWellFormed(file, vector, 'methods-');
      expect(['least-conn', 'hash', 'ip-hash']).toContain(vector.method);
    }
  });

  test('coverage: >= 200 keys per hash flavour, >= 60 ip_hash clients, held least_conn connections', () => {
    const conns = (pred: (v: MethodVector) => boolean) =>
      vectors.filter(({ vector }) => pred(vector)).map(({ vector }) => new Set(vector.steps.flatMap((s) => (s.op === 'connect' ? [s.key] : []))).size);
    expect(Math.min(...conns((v) => v.method === 'hash' && !v.hash!.consistent))).toBeGreaterThanOrEqual(200);
    expect(Math.min(...conns((v) => v.method === 'hash' && v.hash!.consistent))).toBeGreaterThanOrEqual(200);
    expect(Math.min(...conns((v) => v.method === 'ip-hash'))).toBeGreaterThanOrEqual(60);
    const held = vectors.filter(({ vector }) => vector.method === 'least-conn').flatMap(({ vector }) => vector.steps.filter((s) => s.op === 'connect' && s.hold));
    expect(held.length).toBeGreaterThanOrEqual(30);
  });

  test('nginx placed the §5.2 keys as the spec table says (hash over three equal servers)', () => {
    const v = vectors.find(({ vector }) => vector.scenario === 'hash-sni-3')!.vector;
    const pick = (key: string) => v.steps.find((s) => s.op === 'connect' && s.key === key && s.tried.length > 0);
    const got = ['foo', 'bar', 'user42', '/index.html', 'alice@example.com', 'bob@example.com', 'carol@example.org', '1', '2', '3']
      .map((k) => (pick(k) as MethodConnectStep).tried[0]);
    expect(got.join(' ')).toBe('B B A C C B C B C B');
  });

  test('nginx held least_conn connections as §5.1 says: {2,1} X Y X Y X X X Y X, {3,2,1} X Y Z X Y X Y Z X X Y X', () => {
    const first = (name: string, n: number) =>
      vectors.find(({ vector }) => vector.scenario === name)!.vector.steps.slice(0, n).map((s) => (s as MethodConnectStep).tried[0]).join(' ');
    expect(first('lc-held-2-1', 9)).toBe('A B A B A A A B A');
    expect(first('lc-held-3-2-1', 12)).toBe('A B C A B A B C A A B A');
  });

  for (const { file, vector } of vectors) {
    const n = vector.steps.filter((s) => s.op === 'connect').length;
    test(`${vector.scenario} (${file}): ${n} connections replay exactly`, () => {
      expect(replay(vector)).toEqual(vector.steps.map(describeMethodStep));
    });
  }
});
