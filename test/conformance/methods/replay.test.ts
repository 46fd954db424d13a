/**
 * Replays every method vector recorded from real nginx (`test/vectors/nginx-<series>/methods-*.json`,
 * written by `record.ts`; one set per nginx series, each replayed with `nginx:` set to that series)
 * through the Balancer on a whole-second ManualClock and asserts the whole trace.
 *
 * Like the round-robin replay it re-enacts the environment, not nginx's answers: a server listed
 * in `refusing` fails every connect, any other connects. Each `connect` step is one attempt with
 * the step's key: `next()` until a server connects or `next()` returns undefined; stream marks a
 * server live at connect (`connected()`), http at the end (`release()`); a held connection is
 * released by its `close` step. No network, no real time.
 */

import { describe, expect, test } from 'vitest';
import { expectWellFormed, Replay } from '../replay-helpers';
import { vectorDir, VECTOR_SERIES, type VectorSeries } from '../vector-format';
import { describeMethodStep, loadMethodVectors, type MethodConnectStep, type MethodVector } from './format';

function replay(v: MethodVector, series: VectorSeries): string[] {
  // hash and ip_hash take backup servers written before their directive (the *-backup-first scenarios)
  const allowBackupWithHash = v.method !== 'least-conn' && v.servers.some((s) => s.backup);
  const r = new Replay(v, { nginx: series, method: v.method, ...(v.hash ? { hash: v.hash } : {}), servers: v.servers, tries: v.tries, allowBackupWithHash });
  const lines = v.steps.map((step) => {
    r.at(step.t);
    if (step.op === 'close') return r.close(step.conn) ? describeMethodStep(step) : `${describeMethodStep(step)} (not open in the replay)`;
    return describeMethodStep({ ...step, ...r.connect(step.conn, step.key, step.hold) });
  });
  return [...lines, ...r.leftovers()];
}

const bySeries = VECTOR_SERIES.map((series) => ({ series, vectors: loadMethodVectors(vectorDir(series)) }));

test('both series hold the same method scenarios', () => {
  const names = bySeries.map(({ vectors }) => vectors.map(({ vector }) => vector.scenario));
  for (const n of names) expect(n).toEqual(names[0]);
});

test('the backup-first scenarios show the 1.27.3 change: nginx 1.22 and 1.30 differ on them and only on them', () => {
  const [old, now] = bySeries.map(({ vectors }) => new Map(vectors.map(({ vector }) => [vector.scenario, vector.steps.map(describeMethodStep)])));
  const differing = [...old!.keys()].filter((name) => JSON.stringify(old!.get(name)) !== JSON.stringify(now!.get(name)));
  expect(differing).toEqual(['hash-sni-backup-first', 'ip-hash-backup-first']);
});

for (const { series, vectors } of bySeries) describe(`method vectors recorded from nginx ${series}`, () => {
  test('vectors are present, well-formed and recorded from that series', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(17);
    for (const { file, vector } of vectors) {
      expectWellFormed(file, vector, 'methods-');
      expect(['least-conn', 'hash', 'ip-hash']).toContain(vector.method);
      expect(vector.nginx.startsWith(`nginx/${series}.`)).toBe(true);
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
    test(`${vector.scenario} (${file}, nginx: '${series}'): ${n} connections replay exactly`, () => {
      expect(replay(vector, series)).toEqual(vector.steps.map(describeMethodStep));
    });
  }
});
