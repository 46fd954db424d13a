/**
 * Replays every round-robin vector recorded from real nginx (`test/vectors/nginx-<series>/rr-*.json`,
 * written by `recorder.ts`; one set per nginx series, each replayed with the Balancer's `nginx:`
 * set to that series) through the Balancer on a whole-second ManualClock, and asserts the whole trace.
 *
 * The replay re-enacts the recorded environment, not nginx's answers: a backend listed in
 * `refusing` (or stopped by a `stop` step, until its `start`) fails the connect, any other
 * connects. For each `connect` step it runs one attempt (`next()` until a server connects or
 * `next()` returns undefined) and writes down what the Balancer did in the vector's own step
 * form; the test compares the full list with nginx's, so a divergence shows as an array diff.
 * No network, no real time: the clock is set to (epoch + t) * 1000 before each step.
 */

import { describe, expect, test } from 'vitest';
import { expectWellFormed, Replay } from './replay-helpers';
import { describeStep, loadVectors, vectorDir, VECTOR_SERIES, type Vector, type VectorSeries } from './vector-format';

const bySeries = VECTOR_SERIES.map((series) => ({
  series,
  vectors: loadVectors(vectorDir(series)).filter(({ vector }) => (vector.method ?? 'round-robin') === 'round-robin'),
}));

/** Runs a vector's steps through a fresh Balancer following `series`; returns one `describeStep` line per step. */
function replay(v: Vector, series: VectorSeries): string[] {
  const r = new Replay(v, { nginx: series, method: 'round-robin', servers: v.servers, tries: v.tries });
  const lines = v.steps.map((step) => {
    r.at(step.t);
    switch (step.op) {
      case 'stop':
        r.refusing.add(step.server);
        return describeStep(step);
      case 'start':
        r.refusing.delete(step.server);
        return describeStep(step);
      case 'close':
        return r.close(step.conn) ? describeStep(step) : `${describeStep(step)} (not open in the replay)`;
      case 'connect':
        return describeStep({ ...step, ...r.connect(step.conn, undefined, step.hold) });
    }
  });
  return [...lines, ...r.leftovers()];
}

test('both series hold the same round-robin scenarios', () => {
  const names = bySeries.map(({ vectors }) => vectors.map(({ vector }) => vector.scenario));
  expect(names[0]!.length).toBeGreaterThanOrEqual(19);
  for (const n of names) expect(n).toEqual(names[0]);
});

for (const { series, vectors } of bySeries) {
  describe(`round-robin vectors recorded from nginx ${series}`, () => {
    test('vectors are present, well-formed and recorded from that series', () => {
      expect(vectors.length).toBeGreaterThan(0);
      for (const { file, vector } of vectors) {
        expectWellFormed(file, vector);
        expect(vector.nginx.startsWith(`nginx/${series}.`)).toBe(true);
      }
    });

    for (const { file, vector } of vectors) {
      test(`${vector.scenario} (${file}, nginx: '${series}'): ${vector.steps.filter((s) => s.op === 'connect').length} connections`, () => {
        expect(replay(vector, series)).toEqual(vector.steps.map(describeStep));
      });
    }
  });
}
