/**
 * StickySessions over a real Balancer (src/sticky/sessions.ts): the exact servers chosen with and
 * without a cookie (the weights nginx's `ngx_http_upstream_get_peer` leaves after a hinted pick,
 * worked out by hand below), the Set-Cookie bytes per try on an injected wall clock, route mode's
 * variables, learn mode's create / refresh / reuse / expiry, learning at free or at the header, and
 * never after a failed or skipped try.
 */

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { Balancer as FromNginx } from '../../src/config/from-nginx';
import { parseUpstreams } from '../../src/config/nginx';
import { ManualClock } from '../../src/clock';
import { InvalidOptionError } from '../../src/errors';
import { SessionStore } from '../../src/sticky/session-store';
import { StickySessions } from '../../src/sticky/sessions';
import type { StickyConfig, StickyCookieConfig, StickyLearnConfig } from '../../src/sticky/types';

const md5 = (text: string): string => createHash('md5').update(text).digest('hex');
const SID_A = md5('10.0.0.1:80');
const SID_B = md5('10.0.0.2:80');

function balancer(extra: { drainB?: boolean } = {}) {
  const clock = new ManualClock(1_000_000);
  const b = new Balancer({
    servers: [
      { id: 'A', address: '10.0.0.1:80' },
      { id: 'B', address: '10.0.0.2:80', ...(extra.drainB ? { drain: true } : null) },
    ],
    clock: clock.now,
  });
  return { b, clock };
}

/** Wall clock for `expires`: 2026-12-05 12:00:00 UTC. */
const WALL = Date.UTC(2026, 11, 5, 12, 0, 0);

const COOKIE: StickyCookieConfig = { mode: 'cookie', name: 'srv_id', expires: 3600, path: '/', secure: false, httponly: true };

describe('cookie mode', () => {
  it('picks: A, then the cookie four times (the last two without reweighting), then A, A, B', () => {
    // SWRR, weights 1/1, (A, B) current weights: no cookie: A (-1, 1). Cookie B: B is over the
    // low limit -(2-1) = -1, so the round runs and B is taken: (0, 0), then (1, -1). At B = -1
    // the limit is reached: B is taken twice without touching the weights. Then the rounds
    // resume: A (0, 0), A (-1, 1), B (0, 0).
    const { b } = balancer();
    const sticky = new StickySessions(b, COOKIE, { clock: () => WALL });
    const picks: string[] = [];
    const cookies = [undefined, `srv_id=${SID_B}`, `srv_id=${SID_B}`, `srv_id=${SID_B}`, `srv_id=${SID_B}`, undefined, undefined, undefined];
    for (const cookie of cookies) {
      const r = sticky.request(cookie === undefined ? {} : { cookie });
      const s = r.next()!;
      picks.push(s.id + (r.hinted ? '*' : ''));
      expect(r.setCookie).toBe(`srv_id=${s.id === 'A' ? SID_A : SID_B}; expires=Sat, 05-Dec-26 13:00:00 GMT; max-age=3600; httponly; path=/`);
      r.release();
    }
    expect(picks).toEqual(['A', 'B*', 'B*', 'B*', 'B*', 'A', 'A', 'B']);
  });

  it('sets the cookie on every pick, even when the request already names that server', () => {
    const { b } = balancer();
    const sticky = new StickySessions(b, { ...COOKIE, expires: undefined, path: undefined, httponly: false });
    const r = sticky.request({ cookie: ['theme=dark', `srv_id=${SID_A}`] });
    expect(r.id).toBe(SID_A);
    expect(r.next()!.id).toBe('A');
    expect(r.hinted).toBe(true);
    expect(r.setCookie).toBe(`srv_id=${SID_A}`);
  });

  it('a failed cookie server: the retry chooses, the cookie follows it; none left keeps the last', () => {
    const { b } = balancer();
    const sticky = new StickySessions(b, { ...COOKIE, expires: undefined, path: undefined, httponly: false });
    const r = sticky.request({ cookie: `srv_id=${SID_B}` });
    expect(r.next()!.id).toBe('B');
    expect(r.setCookie).toBe(`srv_id=${SID_B}`);
    r.fail();
    expect(r.next()!.id).toBe('A');
    expect(r.hinted).toBe(false);
    expect(r.setCookie).toBe(`srv_id=${SID_A}`);
    r.fail();
    expect(r.next()).toBeUndefined();
    expect(r.setCookie).toBe(`srv_id=${SID_A}`); // nginx's own 502 carries it
    // B failed (max_fails 1): the next cookie for B is not honoured
    const again = sticky.request({ cookie: `srv_id=${SID_B}` });
    expect(again.next()).toBeUndefined(); // both failed inside fail_timeout: no live upstreams
    expect(again.setCookie).toBeUndefined();
  });

  it('a down server is not honoured; a draining one is, and only by its cookie', () => {
    const { b } = balancer({ drainB: true });
    const sticky = new StickySessions(b, { ...COOKIE, expires: undefined, path: undefined, httponly: false });
    const plain: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = sticky.request();
      plain.push(r.next()!.id);
      r.release();
    }
    expect(plain).toEqual(['A', 'A', 'A', 'A']);
    const r = sticky.request({ cookie: `srv_id=${SID_B}` });
    expect(r.next()!.id).toBe('B');
    expect(r.hinted).toBe(true);
    r.release();
    b.update('B', { drain: false, down: true });
    const down = sticky.request({ cookie: `srv_id=${SID_B}` });
    expect(down.next()!.id).toBe('A');
    expect(down.setCookie).toBe(`srv_id=${SID_A}`);
  });

  it('an empty cookie is no session id; domain and samesite from variables', () => {
    const { b } = balancer();
    const config: StickyCookieConfig = { mode: 'cookie', name: 'srv_id', domain: '.$host', samesite: '$ss', secure: true, httponly: false };
    const sticky = new StickySessions(b, config, { variables: (n) => (n === 'host' ? 'example.com' : undefined) });
    const r = sticky.request({ cookie: 'srv_id=', variables: (n) => (n === 'ss' ? 'bogus' : undefined) });
    expect(r.id).toBeUndefined();
    r.next();
    expect(r.setCookie).toBe(`srv_id=${SID_A}; domain=.example.com; secure; samesite=strict`);
  });
});

describe('route mode', () => {
  it('the first non-empty variable names the route; $arg_ and $cookie_ are built in', () => {
    const clock = new ManualClock(0);
    const b = new Balancer({
      servers: [
        { id: 'A', address: '10.0.0.1:80', route: 'a' },
        { id: 'B', address: '10.0.0.2:80', route: 'b' },
      ],
      clock: clock.now,
    });
    const sticky = new StickySessions(b, { mode: 'route', variables: ['$arg_route', '$cookie_route'] });
    const seen: string[] = [];
    for (const init of [{ args: 'route=b' }, { args: 'route=&x=1', cookie: 'route=b' }, { args: 'route=a', cookie: 'route=b' }, { cookie: 'route=zz' }, {}]) {
      const r = sticky.request(init);
      seen.push(`${r.id ?? '-'}:${r.next()!.id}`);
      expect(r.setCookie).toBeUndefined();
      r.release();
    }
    expect(seen).toEqual(['b:B', 'b:B', 'a:A', 'zz:A', '-:B']);
  });
});

describe('learn mode', () => {
  const LEARN: StickyLearnConfig = {
    mode: 'learn',
    create: ['$upstream_cookie_sid'],
    lookup: ['$cookie_sid'],
    zone: { name: 'z', size: 32768 },
    timeout: 1000,
    header: false,
  };

  function setup(config: StickyLearnConfig = LEARN) {
    const { b } = balancer();
    const storeClock = new ManualClock(0);
    const sticky = new StickySessions(b, config, { storeClock: storeClock.now });
    return { b, sticky, storeClock };
  }

  it('creates at free from the response cookie, honours, refreshes, reuses after a failover, expires', () => {
    const { sticky, storeClock } = setup();
    expect(sticky.store!.capacity).toBe(80);
    const r1 = sticky.request();
    expect(r1.next()!.id).toBe('A');
    r1.responseHeader(['sid=u1; Path=/']);
    expect(sticky.store!.lookup('u1')).toBeUndefined(); // not before the free
    r1.release();
    expect(r1.learned).toBe('created');
    expect(sticky.store!.lookup('u1')).toBe(SID_A);

    storeClock.advance(900);
    const r2 = sticky.request({ cookie: 'sid=u1' });
    expect(r2.hint).toBe(SID_A);
    expect(r2.next()!.id).toBe('A');
    expect(r2.hinted).toBe(true);
    r2.responseHeader(undefined);
    r2.release();
    expect(r2.learned).toBe('refreshed'); // last = 900: alive until 1900

    storeClock.advance(900);
    const r3 = sticky.request({ cookie: 'sid=u1' });
    expect(r3.next()!.id).toBe('A');
    r3.fail();
    expect(r3.learned).toBeUndefined();
    expect(r3.next()!.id).toBe('B');
    r3.responseHeader([]);
    r3.release();
    expect(r3.learned).toBe('reused');
    expect(sticky.store!.lookup('u1')).toBe(SID_B);

    storeClock.advance(999);
    expect(sticky.request({ cookie: 'sid=u1' }).hint).toBe(SID_B);
    storeClock.advance(1);
    const late = sticky.request({ cookie: 'sid=u1' });
    expect(late.id).toBe('u1');
    expect(late.hint).toBeUndefined();
  });

  it('looks the session up before every try: a session relearned between two tries moves the next one', () => {
    const b = new Balancer({
      servers: ['A', 'B', 'C'].map((id, i) => ({ id, address: `10.0.1.${i + 1}:80` })),
      clock: new ManualClock(1_000_000).now,
    });
    const sticky = new StickySessions(b, LEARN, { storeClock: new ManualClock(0).now });
    const r0 = sticky.request();
    expect(r0.next()!.id).toBe('A');
    r0.responseHeader(['sid=u1']);
    r0.release();
    const r2 = sticky.request({ cookie: 'sid=u1' });
    expect(r2.next()!.id).toBe('A');
    expect(r2.hinted).toBe(true);
    // Meanwhile another request of the same session fails over and relearns u1 to its new server.
    const r3 = sticky.request({ cookie: 'sid=u1' });
    expect(r3.next()!.id).toBe('A');
    r3.fail();
    const moved = r3.next()!.id;
    r3.responseHeader([]);
    r3.release();
    expect(r3.learned).toBe('reused');
    // r2's retry follows the session to r3's server (the method alone would choose the other one).
    r2.fail();
    expect(r2.next()!.id).toBe(moved);
    expect(r2.hinted).toBe(true);
  });

  it('a request without a session and a response without one learns nothing', () => {
    const { sticky } = setup();
    const r = sticky.request({ cookie: 'other=1' });
    r.next();
    r.responseHeader(['other=2']);
    r.release();
    expect(r.learned).toBeUndefined();
    expect(sticky.store!.stats().sessions).toBe(0);
  });

  it('a lookup id not in the store is not created (only create= creates)', () => {
    const { sticky } = setup();
    const r = sticky.request({ cookie: 'sid=ghost' });
    r.next();
    r.release();
    expect(r.learned).toBe('ignored');
    expect(sticky.store!.lookup('ghost')).toBeUndefined();
  });

  it('skip() (a 403 / 404 passed over) and fail() learn nothing', () => {
    const { sticky } = setup();
    const r = sticky.request();
    r.next();
    r.responseHeader(['sid=u9']);
    r.skip();
    r.next();
    r.fail();
    expect(r.learned).toBeUndefined();
    expect(sticky.store!.stats().sessions).toBe(0);
  });

  it('header: learns when the header is passed, not at free', () => {
    const { sticky } = setup({ ...LEARN, header: true });
    const r = sticky.request();
    expect(r.next()!.id).toBe('A');
    r.responseHeader(['sid=u2']);
    expect(r.learned).toBe('created');
    expect(sticky.store!.lookup('u2')).toBe(SID_A);
    r.release();
    expect(sticky.store!.stats().sessions).toBe(1);
    // released before any header (a client that went away): nothing learned with header
    const gone = sticky.request();
    gone.next();
    gone.release();
    expect(gone.learned).toBeUndefined();
  });

  it('a given store is used as is', () => {
    const { b } = balancer();
    const store = new SessionStore({ capacity: 1, timeout: 50, clock: () => 0 });
    const sticky = new StickySessions(b, LEARN, { store });
    expect(sticky.store).toBe(store);
  });
});

describe('misuse', () => {
  it('rejects bad configs and options with typed errors naming the option', () => {
    const { b } = balancer();
    const bad: [unknown, string][] = [
      [{ mode: 'nope' }, 'sticky.mode'],
      [{ ...COOKIE, name: '' }, 'sticky.name'],
      [{ ...COOKIE, expires: -1 }, 'sticky.expires'],
      [{ ...COOKIE, samesite: 'sometimes' }, 'sticky.samesite'],
      [{ mode: 'route', variables: ['arg_x'] }, 'sticky.variables'],
      [{ mode: 'learn', create: ['$a'], lookup: [], zone: { name: 'z', size: 32768 }, timeout: 1, header: false }, 'sticky.lookup'],
      [{ mode: 'learn', create: ['$a'], lookup: ['$b'], zone: { name: 'z', size: 1024 }, timeout: 1, header: false }, 'zone.size'],
    ];
    for (const [config, option] of bad) {
      let error: unknown;
      try {
        new StickySessions(b, config as StickyConfig);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as InvalidOptionError).option).toBe(option);
    }
    expect(() => new StickySessions({} as never, COOKIE)).toThrow(InvalidOptionError);
    expect(() => new StickySessions(b, COOKIE, { clock: 1 as never })).toThrow(InvalidOptionError);
  });

  it('release() with no current server throws the attempt error and learns nothing', () => {
    const { b } = balancer();
    const sticky = new StickySessions(b, { mode: 'learn', create: ['$upstream_cookie_sid'], lookup: ['$cookie_sid'], zone: { name: 'z', size: 32768 }, timeout: 1000, header: false });
    const r = sticky.request();
    r.next();
    r.responseHeader(['sid=u1']);
    r.fail();
    expect(() => r.release()).toThrow(/no current server/);
    expect(sticky.store!.stats().sessions).toBe(0);
  });
});

describe('docs/sticky.md examples', () => {
  it('the worked example: the first cookie for A, byte for byte', () => {
    const { b } = balancer();
    const sticky = new StickySessions(b, COOKIE, { clock: () => WALL });
    const r = sticky.request({ cookie: undefined, args: undefined });
    expect(r.next()!.id).toBe('A');
    expect(r.setCookie).toBe('srv_id=1484b8b3753313249a03bcfd7b96938d; expires=Sat, 05-Dec-26 13:00:00 GMT; max-age=3600; httponly; path=/');
    expect(b.servers[0]!.sid).toBe('1484b8b3753313249a03bcfd7b96938d');
  });

  it('from nginx text: the parsed sticky config drives the sessions, drain honoured by the cookie only', () => {
    const text = `http { upstream app {
  server 10.0.0.1:8080;
  server 10.0.0.2:8080 drain;
  sticky cookie srv_id expires=1h path=/ httponly;
} }`;
    const b = FromNginx.fromNginx(text, 'app');
    const config = parseUpstreams(text)[0]!.sticky!;
    expect(config).toEqual({ mode: 'cookie', name: 'srv_id', expires: 3600, path: '/', secure: false, httponly: true });
    const sticky = new StickySessions(b, config, { clock: () => 0 });
    const drained = b.servers[1]!;
    const ids: string[] = [];
    for (const cookie of [undefined, `srv_id=${drained.sid}`, undefined]) {
      const r = sticky.request({ cookie });
      ids.push(r.next()!.address);
      expect(r.setCookie).toBe(`srv_id=${r.sid}; expires=Thu, 01-Jan-70 01:00:00 GMT; max-age=3600; httponly; path=/`);
      r.release();
    }
    expect(ids).toEqual(['10.0.0.1:8080', '10.0.0.2:8080', '10.0.0.1:8080']);
  });

  it('the stream side: a route from the host as the hint, with or without StickySessions', () => {
    const b = new Balancer({ servers: [{ address: '10.0.0.1:25', route: 'eu' }, { address: '10.0.0.2:25', route: 'us' }] });
    const plain = b.attempt(undefined, { hint: 'us' });
    expect(plain.next()!.address).toBe('10.0.0.2:25');
    plain.release();
    const sticky = new StickySessions(b, { mode: 'route', variables: ['$route'] });
    const routed: string[] = [];
    for (const route of ['us', 'us', undefined, 'eu']) {
      const r = sticky.request({ variables: (n) => (n === 'route' ? route : undefined) });
      routed.push(r.next()!.address);
      r.release();
    }
    // (eu, us) weights: the plain attempt's hint reweights (1, -1); us twice at the limit -1, as is;
    // no route: eu (0, 0); the eu hint reweights (-1, 1)
    expect(routed).toEqual(['10.0.0.2:25', '10.0.0.2:25', '10.0.0.1:25', '10.0.0.1:25']);
  });
});
