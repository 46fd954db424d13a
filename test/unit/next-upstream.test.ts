/**
 * The http proxy's next-upstream rule (docs/nginx-semantics.md §4.1-4.2): `nextUpstream` against
 * `ngx_http_upstream_test_next` / `ngx_http_upstream_next` case by case, `Attempt.skip()` as
 * NGX_PEER_NEXT (free without a failure, one try used), the attempt's tries and time budget, and
 * `upstreamTarget` / `connectOptions` for every address form the `server` directive takes.
 */

import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock } from '../../src/clock';
import { InvalidOptionError, UpstreamError } from '../../src/errors';
import { DEFAULT_NEXT_UPSTREAM, nextUpstream, nextUpstreamPolicy, type UpstreamOutcome } from '../../src/next-upstream';
import { connectOptions, upstreamTarget } from '../../src/target';

const RETRY_FAILED = (status: number) => ({ action: 'retry', failed: true, status });
const RETRY_SKIP = (status: number) => ({ action: 'retry', failed: false, status });
const RESPOND = (status: number) => ({ action: 'respond', failed: true, status });
const PASS = { action: 'pass', failed: false };

function out(result: UpstreamOutcome['result'], more: Partial<UpstreamOutcome> = {}): UpstreamOutcome {
  return { result, triesLeft: 3, ...more };
}

describe('nextUpstream: statuses (ngx_http_upstream_test_next)', () => {
  const all = nextUpstreamPolicy(['error', 'timeout', 'http_500', 'http_502', 'http_503', 'http_504', 'http_403', 'http_404', 'http_429']);

  it('by default (error timeout) every status passes to the client', () => {
    for (const s of [200, 301, 403, 404, 429, 500, 502, 503, 504]) expect(nextUpstream(DEFAULT_NEXT_UPSTREAM, out(s))).toEqual(PASS);
  });

  it('a configured status moves on: 403 and 404 without a failure (NGX_PEER_NEXT), the rest counting one', () => {
    expect(nextUpstream(all, out(403))).toEqual(RETRY_SKIP(403));
    expect(nextUpstream(all, out(404))).toEqual(RETRY_SKIP(404));
    expect(nextUpstream(all, out(429))).toEqual(RETRY_FAILED(429));
    expect(nextUpstream(all, out(500))).toEqual(RETRY_FAILED(500));
    expect(nextUpstream(all, out(502))).toEqual(RETRY_FAILED(502));
    expect(nextUpstream(all, out(503))).toEqual(RETRY_FAILED(503));
    expect(nextUpstream(all, out(504))).toEqual(RETRY_FAILED(504));
    // statuses outside ngx_http_upstream_next_errors always pass, whatever is configured
    for (const s of [200, 201, 301, 400, 401, 501, 505]) expect(nextUpstream(all, out(s))).toEqual(PASS);
  });

  it('on the last try (tries <= 1) the response passes, and the server is freed as a success', () => {
    expect(nextUpstream(all, out(502, { triesLeft: 1 }))).toEqual(PASS);
    expect(nextUpstream(all, out(404, { triesLeft: 1 }))).toEqual(PASS);
    expect(nextUpstream(all, out(502, { triesLeft: 2 }))).toEqual(RETRY_FAILED(502));
  });

  it('POST, LOCK and PATCH once sent move on only with non_idempotent', () => {
    for (const method of ['POST', 'LOCK', 'PATCH']) {
      expect(nextUpstream(all, out(502, { method }))).toEqual(PASS);
      expect(nextUpstream(all, out(404, { method }))).toEqual(PASS);
    }
    for (const method of ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']) expect(nextUpstream(all, out(502, { method }))).toEqual(RETRY_FAILED(502));
    const withNonIdempotent = nextUpstreamPolicy([...all.conditions, 'non_idempotent']);
    expect(nextUpstream(withNonIdempotent, out(502, { method: 'POST' }))).toEqual(RETRY_FAILED(502));
    expect(nextUpstream(withNonIdempotent, out(404, { method: 'PATCH' }))).toEqual(RETRY_SKIP(404));
  });

  it('an unbuffered body once sent is never resent; the time budget stops retries at elapsed >= timeout', () => {
    expect(nextUpstream(all, out(502, { unbufferedBody: true }))).toEqual(PASS);
    const timed = nextUpstreamPolicy(['http_502'], { timeout: 1000 });
    expect(nextUpstream(timed, out(502, { elapsed: 999 }))).toEqual(RETRY_FAILED(502));
    expect(nextUpstream(timed, out(502, { elapsed: 1000 }))).toEqual(PASS);
  });
});

describe('nextUpstream: errors, timeouts, invalid headers (ngx_http_upstream_next)', () => {
  it('always count a failure; move on while configured and a try is left, else 502 (504 after a timeout)', () => {
    expect(nextUpstream(DEFAULT_NEXT_UPSTREAM, out('error'))).toEqual(RETRY_FAILED(502));
    expect(nextUpstream(DEFAULT_NEXT_UPSTREAM, out('timeout'))).toEqual(RETRY_FAILED(504));
    expect(nextUpstream(DEFAULT_NEXT_UPSTREAM, out('invalid_header'))).toEqual(RESPOND(502));
    expect(nextUpstream(DEFAULT_NEXT_UPSTREAM, out('error', { triesLeft: 1 }))).toEqual(RESPOND(502));
    expect(nextUpstream(DEFAULT_NEXT_UPSTREAM, out('timeout', { triesLeft: 1 }))).toEqual(RESPOND(504));
    expect(nextUpstream(nextUpstreamPolicy(['invalid_header']), out('invalid_header'))).toEqual(RETRY_FAILED(502));
    const off = nextUpstreamPolicy(['off']);
    expect(nextUpstream(off, out('error'))).toEqual(RESPOND(502));
    expect(nextUpstream(off, out('timeout'))).toEqual(RESPOND(504));
    expect(nextUpstream(off, out(404))).toEqual(PASS);
  });

  it('a POST that failed before it was sent moves on; once sent it needs non_idempotent', () => {
    expect(nextUpstream(DEFAULT_NEXT_UPSTREAM, out('error', { method: 'POST' }))).toEqual(RETRY_FAILED(502));
    expect(nextUpstream(DEFAULT_NEXT_UPSTREAM, out('error', { method: 'POST', requestSent: true }))).toEqual(RESPOND(502));
    expect(nextUpstream(DEFAULT_NEXT_UPSTREAM, out('timeout', { method: 'POST', requestSent: true }))).toEqual(RESPOND(504));
    const p = nextUpstreamPolicy(['error', 'timeout', 'non_idempotent']);
    expect(nextUpstream(p, out('error', { method: 'POST', requestSent: true }))).toEqual(RETRY_FAILED(502));
  });

  it('an error on a reused keep-alive connection gives the try back (u->peer.cached)', () => {
    expect(nextUpstream(DEFAULT_NEXT_UPSTREAM, out('error', { triesLeft: 1, reused: true }))).toEqual(RETRY_FAILED(502));
    expect(nextUpstream(DEFAULT_NEXT_UPSTREAM, out('timeout', { triesLeft: 1, reused: true }))).toEqual(RESPOND(504));
  });

  it('policies: off wins as nginx merges it; unknown conditions and bad limits are typed errors', () => {
    expect(nextUpstreamPolicy(['error', 'off']).conditions).toEqual(['off']);
    expect(DEFAULT_NEXT_UPSTREAM.conditions).toEqual(['error', 'timeout']);
    expect(() => nextUpstreamPolicy(['http_418' as never])).toThrow(InvalidOptionError);
    expect(() => nextUpstreamPolicy(['error'], { tries: -1 })).toThrow(InvalidOptionError);
    expect(() => nextUpstreamPolicy(['error'], { timeout: Number.NaN })).toThrow(InvalidOptionError);
    expect(() => nextUpstream(DEFAULT_NEXT_UPSTREAM, out('reset' as never))).toThrow(InvalidOptionError);
  });
});

describe('Attempt.skip(): NGX_PEER_NEXT', () => {
  function setup(servers = [
    { id: 'A', address: '10.0.0.1:80', maxFails: 1 },
    { id: 'B', address: '10.0.0.2:80', maxFails: 1 },
    { id: 'C', address: '10.0.0.3:80', maxFails: 1 },
  ]) {
    const clock = new ManualClock(1_000_000);
    return { clock, b: new Balancer({ servers, clock: clock.now }) };
  }

  it('moves on without counting a failure; fail() on the same walk counts one', () => {
    const { b } = setup();
    const a = b.attempt();
    const walk: string[] = [];
    let s = a.next()!;
    walk.push(s.id);
    a.skip(); // 404 passed on
    s = a.next()!;
    walk.push(s.id);
    a.fail(); // 502 counted
    s = a.next()!;
    walk.push(s.id);
    a.release();
    expect(walk).toEqual(['A', 'B', 'C']);
    expect(b.snapshot().servers.map((x) => [x.id, x.fails, x.state, x.conns])).toEqual([
      ['A', 0, 'up', 0], ['B', 1, 'unavail', 0], ['C', 0, 'up', 0],
    ]);
    expect(a.finished).toBe(true);
  });

  it('uses a try: three servers, three skips, then nothing', () => {
    const { b } = setup();
    const a = b.attempt();
    const walk: string[] = [];
    for (let s = a.next(); s; s = a.next()) {
      walk.push(s.id);
      a.skip();
    }
    expect(walk).toEqual(['A', 'B', 'C']);
    expect(a.tries).toBe(0);
    expect(b.snapshot().servers.every((x) => x.fails === 0 && x.conns === 0)).toBe(true);
  });

  it('clears failures after a post-window selection, as a success does', () => {
    const { b, clock } = setup([{ id: 'A', address: '10.0.0.1:80', maxFails: 2 }, { id: 'B', address: '10.0.0.2:80', maxFails: 2 }]);
    const a1 = b.attempt();
    a1.next();
    a1.fail(); // A: fails 1
    a1.next()!;
    a1.release(); // B
    clock.advance(11_000); // past fail_timeout (10 s): A's next selection is a probe
    // A's effective weight was lowered by the failure: B, then A (SWRR with effective weights 1/2 → 2)
    const b1 = b.attempt();
    expect(b1.next()!.id).toBe('B');
    b1.release();
    const a2 = b.attempt();
    expect(a2.next()!.id).toBe('A');
    expect(b.snapshot().servers[0]!.fails).toBe(1);
    a2.skip();
    expect(b.snapshot().servers[0]!.fails).toBe(0);
    expect(a2.next()!.id).toBe('B');
    a2.release();
  });

  it('skip() with no current server is misuse', () => {
    const { b } = setup();
    expect(() => b.attempt().skip()).toThrow(/skip\(\) called with no current server/);
  });
});

describe('Attempt tries and time budget (proxy_next_upstream_tries / _timeout)', () => {
  const servers = ['A', 'B', 'C', 'D'].map((id, i) => ({ id, address: `10.0.0.${i + 1}:80`, maxFails: 0 }));

  it('tries caps the walk per attempt, over the balancer option', () => {
    const clock = new ManualClock(0);
    const b = new Balancer({ servers, clock: clock.now, tries: 3 });
    const walk = (a: ReturnType<Balancer['attempt']>) => {
      const ids: string[] = [];
      for (let s = a.next(); s; s = a.next()) { ids.push(s.id); a.fail(); }
      return ids;
    };
    expect(walk(b.attempt())).toEqual(['A', 'B', 'C']);
    expect(walk(b.attempt(undefined, { tries: 2 }))).toEqual(['D', 'C']); // two, not three
    expect(() => b.attempt(undefined, { tries: 1.5 })).toThrow(InvalidOptionError);
  });

  it('no retry once elapsed >= timeout on the injected clock; exhausted says timeout', () => {
    const clock = new ManualClock(5_000);
    const b = new Balancer({ servers, clock: clock.now });
    const reasons: string[] = [];
    b.on('exhausted', (r) => reasons.push(r));
    const a = b.attempt(undefined, { timeout: 1000 });
    expect(a.next()!.id).toBe('A');
    clock.advance(999);
    expect(a.elapsed).toBe(999);
    a.fail();
    expect(a.next()!.id).toBe('B');
    clock.advance(1);
    a.fail();
    expect(a.next()).toBeUndefined();
    expect(a.finished).toBe(true);
    expect(reasons).toEqual(['timeout']);
    expect(() => b.attempt(undefined, { timeout: -1 })).toThrow(InvalidOptionError);
  });
});

describe('upstreamTarget / connectOptions', () => {
  it('parses every server form', () => {
    expect(upstreamTarget('10.0.0.1:25')).toEqual({ kind: 'tcp', host: '10.0.0.1', port: 25 });
    expect(upstreamTarget('[::1]:25')).toEqual({ kind: 'tcp', host: '::1', port: 25 });
    expect(upstreamTarget('[fe80::1%eth0]:8080')).toEqual({ kind: 'tcp', host: 'fe80::1%eth0', port: 8080 });
    expect(upstreamTarget('gw.example:587')).toEqual({ kind: 'tcp', host: 'gw.example', port: 587 });
    expect(upstreamTarget('backend')).toEqual({ kind: 'tcp', host: 'backend', port: null });
    expect(upstreamTarget('[::1]')).toEqual({ kind: 'tcp', host: '::1', port: null });
    expect(upstreamTarget('unix:/run/gw.sock')).toEqual({ kind: 'unix', path: '/run/gw.sock' });
    expect(upstreamTarget('UNIX:/run/gw.sock')).toEqual({ kind: 'unix', path: '/run/gw.sock' });
    for (const bad of ['', ':25', 'h:0', 'h:65536', 'h:x', '[::1]x', '[zz]:1', '[]:1', 'a/b:1', '::1:25', 'unix:']) expect(upstreamTarget(bad)).toBeNull();
  });

  it('gives net.connect options, with a default port for a host without one', () => {
    expect(connectOptions('[::1]:25')).toEqual({ host: '::1', port: 25 });
    expect(connectOptions({ address: 'unix:/tmp/s' })).toEqual({ path: '/tmp/s' });
    expect(connectOptions('backend', 80)).toEqual({ host: 'backend', port: 80 });
    expect(() => connectOptions('backend')).toThrow(UpstreamError);
    try {
      connectOptions('a b');
    } catch (e) {
      expect((e as UpstreamError).code).toBe('ERR_UPSTREAM_ADDRESS');
      expect((e as UpstreamError).value).toBe('a b');
    }
  });

  it('Server.target is the parsed address', () => {
    const b = new Balancer({ servers: [{ id: 'v6', address: '[::1]:2525' }, { id: 'sock', address: 'unix:/run/x' }, { id: 'T', address: 'T' }] });
    expect(b.get('v6')!.target).toEqual({ kind: 'tcp', host: '::1', port: 2525 });
    expect(b.get('sock')!.target).toEqual({ kind: 'unix', path: '/run/x' });
    expect(b.get('T')!.target).toEqual({ kind: 'tcp', host: 'T', port: null });
  });
});
