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
import { Balancer, ManualClock, type Attempt } from '../../../src/index';
import { describeMethodStep, loadMethodVectors, type MethodConnectStep, type MethodVector } from './format';

const vectors = loadMethodVectors();

function replay(v: MethodVector): string[] {
  const clock = new ManualClock(v.epoch * 1000);
  const balancer = new Balancer({
    name: 'u',
    method: v.method,
    ...(v.hash ? { hash: v.hash } : {}),
    servers: v.servers,
    tries: v.tries,
    clock: clock.now,
  });
  const refusing = new Set(v.refusing);
  const open = new Map<number, Attempt>();
  const lines: string[] = [];
  for (const step of v.steps) {
    clock.set((v.epoch + step.t) * 1000);
    if (step.op === 'close') {
      const a = open.get(step.conn);
      if (a) {
        a.release();
        open.delete(step.conn);
        lines.push(describeMethodStep(step));
      } else lines.push(`${describeMethodStep(step)} (not open in the replay)`);
      continue;
    }
    const a = balancer.attempt(step.key);
    const got: MethodConnectStep = { ...step, tried: [], outcome: [], hold: false, nolive: false, status: 502 };
    for (let first = true; ; first = false) {
      const triesLeft = a.tries;
      const server = a.next();
      if (server === undefined) {
        got.nolive = first || triesLeft > 0;
        break;
      }
      got.tried.push(server.id);
      if (refusing.has(server.id)) {
        got.outcome.push('fail');
        a.fail();
        continue;
      }
      got.outcome.push('ok');
      got.status = 200;
      if (v.context === 'stream') a.connected();
      if (step.hold) {
        got.hold = true;
        open.set(step.conn, a);
      } else a.release();
      break;
    }
    lines.push(describeMethodStep(got));
  }
  if (open.size > 0) lines.push(`still open at the end: ${[...open.keys()].map((n) => `#${n}`).join(' ')}`);
  return lines;
}

describe('method vectors recorded from nginx', () => {
  test('vectors are present and well-formed', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(15);
    for (const { file, vector: v } of vectors) {
      expect({ file, format: v.format }).toEqual({ file, format: 1 });
      expect(file).toBe(`methods-${v.scenario}.json`);
      expect(['least-conn', 'hash', 'ip-hash']).toContain(v.method);
      const ids = v.servers.map((s) => s.id);
      let conn = 0;
      let t = 0;
      for (const s of v.steps) {
        expect(s.t).toBeGreaterThanOrEqual(t);
        t = s.t;
        if (s.op === 'connect') {
          expect(s.conn).toBe(++conn);
          expect(s.outcome.length).toBe(s.tried.length);
          for (const id of s.tried) expect(ids).toContain(id);
        }
      }
      for (const id of v.refusing) expect(ids).toContain(id);
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
