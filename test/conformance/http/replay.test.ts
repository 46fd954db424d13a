/**
 * Replays every http next-upstream vector recorded from real nginx (`test/vectors/http/*.json`,
 * written by `record.ts`) through the Balancer and `nextUpstream`, once per nginx version recorded,
 * and asserts the whole trace request by request.
 *
 * The replay re-enacts the environment, not nginx's answers: each backend gives its scripted
 * answers in order to the requests that reach it (a server listed in `refusing`, or stopped by a
 * `stop` step until its `start`, refuses the connect), and `outcomes.ts` says what a proxy parsing
 * like that nginx version sees. Each request is what an HTTP proxy does with the library: one
 * `balancer.attempt(undefined, { tries, timeout })`; `next()`; the answer's outcome (the manual
 * clock advanced by its delay, a `hang` taking `proxy_read_timeout`) through `nextUpstream`; then
 * `fail()` / `skip()` and `next()` again (nothing left: 502, "no live upstreams"), `release()` and
 * pass the response, or `fail()` and answer the verdict's status. No network, no real time.
 */

import { describe, expect, test } from 'vitest';
import { Balancer, ManualClock, nextUpstream, nextUpstreamPolicy } from '../../../src/index';
import { describeHttpStep, loadHttpVectors, type HttpVector, type RequestStep } from './format';
import { vectorHead } from './nginx-conf';
import { outcomeOf, type RecordedAnswer } from './outcomes';
import { SCENARIOS } from './scenarios';

const vectors = loadHttpVectors();

/** Runs a vector's steps for `version` through a fresh Balancer: one `describeHttpStep` line per step, and the Balancer. */
function replay(v: HttpVector, version: string): { lines: string[]; balancer: Balancer } {
  const clock = new ManualClock(1_700_000_000_000);
  const balancer = new Balancer({
    name: 'u',
    servers: v.servers.map(({ answers: _answers, then: _then, ...server }) => server),
    clock: clock.now,
    tries: v.tries,
  });
  const policy = nextUpstreamPolicy(v.nextUpstream ?? undefined, { tries: v.tries, timeout: v.timeout });
  const queues = new Map(v.servers.map((s) => [s.id, [...s.answers]]));
  const then = new Map(v.servers.map((s) => [s.id, s.then]));
  const refusing = new Set(v.refusing);
  const lines = v.nginx[version]!.map((step) => {
    if (step.op === 'stop') refusing.add(step.server);
    if (step.op === 'start') refusing.delete(step.server);
    if (step.op !== 'request') return describeHttpStep(step);
    const got: RequestStep = { ...step, tried: [], answers: [], upstreamStatus: [], nolive: false, status: 0, from: null, complete: true };
    const a = balancer.attempt(undefined, { tries: v.tries, timeout: v.timeout });
    for (let first = true; ; first = false) {
      const triesLeft = a.tries;
      const server = a.next();
      if (server === undefined) {
        // nginx asks for another server only while tries are left: an empty answer is "no live upstreams".
        got.nolive = first || triesLeft > 0;
        got.status = 502;
        break;
      }
      const answer: RecordedAnswer = refusing.has(server.id) ? 'refused' : (queues.get(server.id)!.shift() ?? then.get(server.id)!);
      const o = outcomeOf(answer, version, v.readTimeout);
      clock.advance(o.delayMs);
      got.tried.push(server.id);
      got.answers.push(answer);
      const verdict = nextUpstream(policy, { result: o.result, method: step.method, requestSent: o.requestSent, triesLeft: a.tries, elapsed: a.elapsed });
      if (verdict.action === 'pass') {
        if (typeof o.result !== 'number') throw new Error(`nextUpstream passed a ${o.result}`);
        a.release();
        got.upstreamStatus.push(o.result);
        got.status = o.result;
        got.from = server.id;
        got.complete = o.complete;
        break;
      }
      got.upstreamStatus.push(verdict.status);
      if (verdict.action === 'respond') {
        a.fail();
        got.status = verdict.status;
        break;
      }
      if (verdict.failed) a.fail();
      else a.skip();
    }
    return describeHttpStep(got);
  });
  return { lines, balancer };
}

const requests = (v: HttpVector, version: string): RequestStep[] => v.nginx[version]!.filter((s): s is RequestStep => s.op === 'request');

describe('http next-upstream vectors recorded from nginx', () => {
  test('every scenario has its vector, recorded as scenarios.ts says, with both nginx versions', () => {
    expect(vectors.map((x) => x.file).sort()).toEqual(SCENARIOS.map((s) => `${s.name}.json`).sort());
    for (const { vector } of vectors) {
      const sc = SCENARIOS.find((s) => s.name === vector.scenario)!;
      const { nginx, ...head } = vector;
      expect(head).toEqual(vectorHead(sc));
      const versions = Object.keys(nginx);
      expect(versions.some((x) => x.startsWith('1.22.'))).toBe(true);
      expect(versions.some((x) => x.startsWith('1.30.'))).toBe(true);
      const ids = vector.servers.map((s) => s.id);
      for (const version of versions) {
        requests(vector, version).forEach((r, i) => {
          expect(r.n).toBe(i + 1);
          expect(r.answers.length).toBe(r.tried.length);
          expect(r.upstreamStatus.length).toBe(r.tried.length);
          for (const id of r.tried) expect(ids).toContain(id);
        });
      }
    }
  });

  test('coverage: every kind of answer, POSTs, tries and time limits, backups, no live upstreams', () => {
    const all = vectors.flatMap(({ vector }) => Object.keys(vector.nginx).flatMap((version) => requests(vector, version)));
    const answers = new Set(all.flatMap((r) => r.answers.map((a) => a.replace(/@\d+$/, '').replace(/^header:.*/, 'header'))));
    expect([...answers].sort()).toEqual(['200', '403', '404', '429', '500', '502', '503', '504', 'hang', 'header', 'refused', 'reset', 'reset-body']);
    expect(all.some((r) => r.method === 'POST' && r.body)).toBe(true);
    expect(all.some((r) => r.method === 'POST' && !r.body)).toBe(true);
    expect(all.some((r) => r.nolive)).toBe(true);
    expect(all.some((r) => !r.complete)).toBe(true);
    expect(vectors.some(({ vector }) => vector.tries > 0)).toBe(true);
    expect(vectors.some(({ vector }) => vector.timeout > 0)).toBe(true);
    expect(vectors.some(({ vector }) => vector.servers.some((s) => s.backup))).toBe(true);
    expect(all.length).toBeGreaterThanOrEqual(300);
  });

  test('the versions differ only where header parsing changed (1.23.0): Content-Length and Transfer-Encoding errors', () => {
    const differing: string[] = [];
    for (const { vector } of vectors) {
      const [older, newer] = Object.keys(vector.nginx).sort();
      const a = vector.nginx[older!]!.map(describeHttpStep);
      const b = vector.nginx[newer!]!.map(describeHttpStep);
      a.forEach((line, i) => {
        if (line !== b[i]) differing.push(`${vector.scenario} ${line}`);
      });
    }
    expect(differing.length).toBeGreaterThan(0);
    for (const d of differing) expect(d).toMatch(/header:(bad-content-length|duplicate-content-length|unknown-transfer-encoding)/);
  });

  for (const { file, vector } of vectors) {
    for (const version of Object.keys(vector.nginx)) {
      const n = requests(vector, version).length;
      test(`${vector.scenario} (${file}), nginx ${version}: ${n} requests replay exactly`, () => {
        const { lines, balancer } = replay(vector, version);
        expect(lines).toEqual(vector.nginx[version]!.map(describeHttpStep));
        // Servers the scenario shows were never counted failed (403 / 404 passed on, the last try, ...).
        const failures = Object.fromEntries(balancer.snapshot().servers.map((s) => [s.id, s.failures]));
        for (const id of vector.notFailed) expect({ id, failures: failures[id] }).toEqual({ id, failures: 0 });
      });
    }
  }
});
