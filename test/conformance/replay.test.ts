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
import { Balancer, ManualClock, type Attempt } from '../../src/index';
import { describeStep, loadVectors, type Step, type Vector } from './vector-format';

const vectors = loadVectors().filter(({ vector }) => (vector.method ?? 'round-robin') === 'round-robin');

/** Runs a vector's steps through a fresh Balancer; returns one `describeStep` line per step. */
function replay(v: Vector): string[] {
  const clock = new ManualClock(v.epoch * 1000);
  const balancer = new Balancer({ name: 'u', method: 'round-robin', servers: v.servers, tries: v.tries, clock: clock.now });
  const refusing = new Set(v.refusing);
  const open = new Map<number, Attempt>();
  const lines: string[] = [];
  for (const step of v.steps) {
    clock.set((v.epoch + step.t) * 1000);
    switch (step.op) {
      case 'stop':
        refusing.add(step.server);
        lines.push(describeStep(step));
        break;
      case 'start':
        refusing.delete(step.server);
        lines.push(describeStep(step));
        break;
      case 'close': {
        const a = open.get(step.conn);
        if (a) {
          a.release();
          open.delete(step.conn);
          lines.push(describeStep(step));
        } else lines.push(`${describeStep(step)} (not open in the replay)`);
        break;
      }
      case 'connect': {
        const a = balancer.attempt();
        const got: Step = { t: step.t, op: 'connect', conn: step.conn, tried: [], outcome: [], hold: false, nolive: false, status: 502 };
        for (let first = true; ; first = false) {
          const triesLeft = a.tries;
          const server = a.next();
          if (server === undefined) {
            // nginx asks for another server only while tries are left; "no live upstreams" is
            // that request coming back empty (a first request always asks).
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
          // stream marks a server live at TCP connect; http only at the end of the request.
          if (v.context === 'stream') a.connected();
          // A held connection stays open (counts in conns) until its close step.
          if (step.hold) {
            got.hold = true;
            open.set(step.conn, a);
          } else a.release();
          break;
        }
        lines.push(describeStep(got));
        break;
      }
    }
  }
  if (open.size > 0) lines.push(`still open at the end: ${[...open.keys()].map((n) => `#${n}`).join(' ')}`);
  return lines;
}

describe('round-robin vectors recorded from nginx', () => {
  test('vectors are present and well-formed', () => {
    expect(vectors.length).toBeGreaterThan(0);
    for (const { file, vector: v } of vectors) {
      expect({ file, format: v.format }).toEqual({ file, format: 1 });
      expect(['stream', 'http']).toContain(v.context);
      expect(file).toBe(`${v.scenario}.json`);
      const ids = v.servers.map((s) => s.id);
      let t = 0;
      let conn = 0;
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

  for (const { file, vector } of vectors) {
    test(`${vector.scenario} (${file}): ${vector.steps.filter((s) => s.op === 'connect').length} connections`, () => {
      expect(replay(vector)).toEqual(vector.steps.map(describeStep));
    });
  }
});
