/**
 * Replays every round-robin vector recorded from real nginx (`test/vectors/*.json`, written by
 * `recorder.ts`) through the Balancer on a whole-second ManualClock, and asserts the whole trace.
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
import { describeStep, loadVectors, type Vector } from './vector-format';

const vectors = loadVectors().filter(({ vector }) => (vector.method ?? 'round-robin') === 'round-robin');

/** Runs a vector's steps through a fresh Balancer; returns one `describeStep` line per step. */
function replay(v: Vector): string[] {
  const r = new Replay(v, { method: 'round-robin', servers: v.servers, tries: v.tries });
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

describe('round-robin vectors recorded from nginx', () => {
  test('vectors are present and well-formed', () => {
    expect(vectors.length).toBeGreaterThan(0);
    for (const { file, vector } of vectors) expectWellFormed(file, vector);
  });

  for (const { file, vector } of vectors) {
    test(`${vector.scenario} (${file}): ${vector.steps.filter((s) => s.op === 'connect').length} connections`, () => {
      expect(replay(vector)).toEqual(vector.steps.map(describeStep));
    });
  }
});
