/**
 * Replays every sticky-session and drain vector recorded from nginx 1.30.4
 * (`test/vectors/sticky/*.json`, written by `record.ts`) through a Balancer built from the same
 * upstream text (`Balancer.fromNginx`, nginx target 1.30), the session layer
 * (`upstream-balancer/sticky`, `StickySessions` over the `sticky` the parser read) and the core's
 * hints, and asserts the whole trace request by request: the servers tried, what each did, the
 * status, whose response it was and every Set-Cookie byte.
 *
 * The replay re-enacts the environment, not nginx's answers: each backend gives its scripted
 * answers in order to the requests that reach it (a `hold: 'response'` request gets its 200 at its
 * `release` step, a `hold: 'body'` one its header at once and its end there; a server listed `refusing`, or stopped by a `stop` step until its `start`, refuses the
 * connect); the outcome goes through `nextUpstream` with the vector's `proxy_next_upstream`. Each
 * request is one `sticky.request({ cookie, args })`: `next()`; a retry `fail()`s or `skip()`s and
 * asks again; a passed response gets `responseHeader([backend's Set-Cookie])` and `release()`
 * (at the `release` step for a held one). The cookie clock reads the recorded response `Date`
 * (what nginx's `expires=` counts from); `wait` steps advance the manual clock that the Balancer
 * and the learned-session store share. No network, no real time.
 */

import { describe, expect, test } from 'vitest';
import { Balancer, ManualClock, nextUpstream, nextUpstreamPolicy, parseUpstreams, type NextUpstreamCondition } from '../../../src/index';
import { argument, evaluate, StickySessions, type StickyRequest } from '../../../src/sticky/index';
import { outcomeOf } from '../http/outcomes';
import { describeStickyStep, loadStickyVectors, type RecordedAnswer, type RequestStep, type StickyVector } from './format';
import { vectorHead } from './nginx-conf';
import { SCENARIOS } from './scenarios';

const vectors = loadStickyVectors();

type Server = ReturnType<Balancer['snapshot']>['servers'][number];

/** The http block nginx ran, around the vector's upstream. */
const httpText = (v: StickyVector): string => `http {\n${v.config}\n}\n`;

/** Runs a vector's steps for `version`: one `describeStickyStep` line per step. */
function replay(v: StickyVector, version: string): string[] {
  const clock = new ManualClock(1_700_000_000_000);
  const balancer = Balancer.fromNginx(httpText(v), 'u', { nginx: '1.30', clock: clock.now });
  const upstream = parseUpstreams(httpText(v), { nginx: '1.30' })[0];
  if (upstream?.sticky === undefined) throw new Error(`${v.scenario}: the parser found no sticky directive`);
  /** The response's Date, in ms: what the cookie's `expires` counts from. */
  let wallClock = 0;
  const sticky = new StickySessions(balancer, upstream.sticky, { clock: () => wallClock, storeClock: clock.now });
  const policy = nextUpstreamPolicy((v.nextUpstream ?? undefined) as NextUpstreamCondition[] | undefined, {});
  const queues = new Map(v.servers.map((s) => [s.id, [...s.answers]]));
  /** The vector's server ids by address (the parsed servers are named by their address). */
  const idOf = new Map(v.servers.map((s) => [s.address, s.id]));
  const refusing = new Set(v.servers.filter((s) => s.refusing).map((s) => s.id));
  const held = new Map<number, { request: StickyRequest; got: RequestStep }>();
  const steps = v.nginx[version]!;
  const lines: string[] = new Array(steps.length);
  steps.forEach((step, index) => {
    if (step.op === 'stop') refusing.add(step.server);
    if (step.op === 'start') refusing.delete(step.server);
    if (step.op === 'wait') clock.advance(step.ms);
    if (step.op === 'release') {
      const h = held.get(step.n);
      if (h === undefined) throw new Error(`${v.scenario}: release of request ${step.n}, which the replay does not hold`);
      held.delete(step.n);
      if (h.got.hold === 'response') h.request.responseHeader(h.got.backendCookie === null ? undefined : [h.got.backendCookie]);
      h.request.release();
    }
    if (step.op !== 'request') {
      lines[index] = describeStickyStep(step);
      return;
    }
    wallClock = Date.parse(step.date);
    const got: RequestStep = { ...step, tried: [], answers: [], upstreamStatus: [], nolive: false, status: 0, from: null, setCookie: [] };
    // A hash method's key, evaluated as nginx does (only `$arg_NAME` occurs in the scenarios);
    // ip_hash's is the client address (every recorded client is 127.0.0.1).
    const key = upstream.methodDirective === 'ip_hash' ? '127.0.0.1' : upstream.hashKey === undefined ? undefined : evaluate(upstream.hashKey, (name) => (name.startsWith('arg_') ? argument(step.args ?? undefined, name.slice(4)) : undefined));
    const r = sticky.request({
      ...(step.cookie === null ? null : { cookie: step.cookie }),
      ...(step.args === null ? null : { args: step.args }),
      ...(key === undefined ? null : { key }),
    });
    for (let first = true; ; first = false) {
      const triesLeft = r.tries;
      const picked = r.next() as Server | undefined;
      if (picked === undefined) {
        got.nolive = first || triesLeft > 0;
        got.status = 502;
        break;
      }
      const id = idOf.get(picked.address);
      if (id === undefined) throw new Error(`${v.scenario}: the Balancer picked ${picked.address}, no server of the vector`);
      const server = { id };
      const answer: RecordedAnswer = refusing.has(server.id) ? 'refused' : step.hold === 'response' ? 'hold' : step.hold === 'body' ? 'hold-body' : (queues.get(server.id)!.shift() ?? '200');
      const o = outcomeOf(answer === 'hold' || answer === 'hold-body' ? '200' : answer, version, 5000);
      got.tried.push(server.id);
      got.answers.push(answer);
      const verdict = nextUpstream(policy, { result: o.result, method: 'GET', requestSent: o.requestSent, triesLeft: r.tries, elapsed: r.elapsed });
      if (verdict.action === 'pass') {
        got.upstreamStatus.push(o.result as number);
        got.status = o.result as number;
        got.from = server.id;
        // The header reaches the proxy now, unless the whole response is held; the request ends now unless held.
        if (step.hold !== 'response') r.responseHeader(step.backendCookie === null ? undefined : [step.backendCookie]);
        if (step.hold !== null) held.set(step.n, { request: r, got });
        else r.release();
        break;
      }
      got.upstreamStatus.push(verdict.status);
      if (verdict.action === 'respond') {
        r.fail();
        got.status = verdict.status;
        break;
      }
      if (verdict.failed) r.fail();
      else r.skip();
    }
    // nginx's own cookie (the last server chosen), then a passed response's own.
    if (r.setCookie !== undefined) got.setCookie.push(r.setCookie);
    if (got.from !== null && step.backendCookie !== null) got.setCookie.push(step.backendCookie);
    lines[index] = describeStickyStep(got);
  });
  if (held.size > 0) throw new Error(`${v.scenario}: requests ${[...held.keys()].join(', ')} still held at the end`);
  return lines;
}

const requests = (v: StickyVector, version: string): RequestStep[] => v.nginx[version]!.filter((s): s is RequestStep => s.op === 'request');

describe('sticky sessions and drain recorded from nginx 1.30', () => {
  test('every scenario has its vector, recorded as scenarios.ts says, by nginx 1.30', () => {
    expect(vectors.map((x) => x.file).sort()).toEqual(SCENARIOS.map((s) => `${s.name}.json`).sort());
    for (const { vector } of vectors) {
      const sc = SCENARIOS.find((s) => s.name === vector.scenario)!;
      const { nginx, ...head } = vector;
      expect(head).toEqual(vectorHead(sc));
      expect(Object.keys(nginx).length).toBeGreaterThan(0);
      for (const version of Object.keys(nginx)) {
        expect(version).toMatch(/^1\.30\.\d+$/);
        requests(vector, version).forEach((r, i) => {
          expect(r.n).toBe(i + 1);
          expect(r.answers.length).toBe(r.tried.length);
          expect(r.upstreamStatus.length).toBe(r.tried.length);
          expect(Number.isNaN(Date.parse(r.date))).toBe(false);
        });
      }
    }
  });

  test('coverage: the three modes, every cookie attribute, drain, hints refused for each reason, other methods', () => {
    const all = vectors.flatMap(({ vector }) => Object.keys(vector.nginx).flatMap((version) => requests(vector, version)));
    const configs = vectors.map(({ vector }) => vector.config).join('\n');
    for (const text of ['sticky cookie', 'sticky route', 'sticky learn', 'timeout=', ' header;', 'zone=sess:32k', 'expires=1h', 'expires=max', 'domain=', 'path=', 'samesite=', 'httponly', 'secure', ' drain;', 'route=', 'least_conn;', 'hash $arg_k;', 'hash $arg_k consistent;', 'ip_hash;']) {
      expect(configs).toContain(text);
    }
    const cookies = all.flatMap((r) => r.setCookie).join('\n');
    for (const attribute of ['; expires=', '; max-age=', '; domain=', '; httponly', '; secure', '; samesite=', '; path=']) expect(cookies).toContain(attribute);
    expect(all.some((r) => r.nolive)).toBe(true);
    expect(all.some((r) => r.hold === 'response')).toBe(true);
    expect(all.some((r) => r.hold === 'body')).toBe(true);
    expect(all.some((r) => r.answers.includes('refused'))).toBe(true);
    expect(all.some((r) => r.answers.includes('reset'))).toBe(true);
    expect(all.some((r) => r.answers.includes('502'))).toBe(true);
    expect(vectors.some(({ vector }) => vector.servers.some((s) => s.backup && s.drain))).toBe(true);
    expect(vectors.some(({ vector }) => vector.servers.some((s) => s.maxConns > 0 && s.drain))).toBe(true);
    expect(vectors.some(({ vector }) => Object.values(vector.nginx).some((steps) => steps.some((s) => s.op === 'wait')))).toBe(true);
    expect(all.length).toBeGreaterThanOrEqual(150);
  });

  test('session ids: each vector server\'s id is the Balancer\'s Server.sid (route, else MD5 of the address); drain shows as draining', () => {
    for (const { vector } of vectors) {
      const balancer = Balancer.fromNginx(httpText(vector), 'u', { nginx: '1.30' });
      const servers = balancer.snapshot().servers;
      expect(servers.map((s) => [s.address, s.sid, s.route ?? null, s.drain])).toEqual(vector.servers.map((s) => [s.address, s.sid, s.route, s.drain]));
      for (const s of servers) if (s.drain && !s.down) expect({ address: s.address, state: s.state }).toEqual({ address: s.address, state: 'draining' });
    }
  });

  for (const { file, vector } of vectors) {
    for (const version of Object.keys(vector.nginx)) {
      const n = requests(vector, version).length;
      test(`${vector.scenario} (${file}), nginx ${version}: ${n} requests replay exactly`, () => {
        const lines = replay(vector, version);
        expect(lines).toEqual(vector.nginx[version]!.map(describeStickyStep));
      });
    }
  }
});
