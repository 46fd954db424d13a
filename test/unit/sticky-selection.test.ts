/**
 * Sticky selection in the core (nginx 1.30): session ids (`Server.sid`, `route=`), hints at every
 * get of every method (`ngx_http_upstream_get_rr_peer_by_sid`, round robin's `st_peer` with its low
 * limit), `attempt.sid` / `attempt.hinted`, and `drain`. Exact pick sequences and current weights,
 * worked out from nginx's loop by hand in the comments (docs/nginx-semantics.md §2.10). Tests marked
 * [nginx-verified] gave the same sequence on nginx 1.30.4 (stock build, `sticky route $arg_route` or
 * `sticky cookie srv_id`, one worker, requests one at a time; the rows of each test in order).
 */

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock, seededRandom } from '../../src/clock';
import { InvalidOptionError } from '../../src/errors';
import type { BalancerOptions, ServerOptions } from '../../src/options';
import type { Server } from '../../src/server';
import { peerName } from '../../src/session-id';

const md5 = (text: string): string => createHash('md5').update(text).digest('hex');

function balancer(servers: ServerOptions[], extra: Partial<BalancerOptions> = {}): Balancer {
  return new Balancer({ servers, clock: new ManualClock(1_000_000).now, ...extra });
}

/** One request that succeeds at once: its server's id, marked `*` when it came from the hint. */
function request(b: Balancer, hint?: string, key?: string): string {
  const a = b.attempt(key, hint === undefined ? undefined : { hint });
  const s = a.next();
  if (s === undefined) return 'NOLIVE';
  const mark = a.hinted ? '*' : '';
  a.release();
  return s.id + mark;
}

const currents = (b: Balancer): number[] => b.snapshot().servers.map((s) => s.currentWeight);

describe('session ids (nginx 1.30 ngx_http_upstream_create_sid)', () => {
  it('is the hex MD5 of the address as nginx prints the peer name, or the route', () => {
    const b = balancer([
      { id: 'v4', address: '127.0.0.1:8080' },
      { id: 'v6', address: '[0:0:0::1]:8080' },
      { id: 'noport', address: '10.0.0.1' },
      { id: 'unix', address: 'unix:/run/app.sock' },
      { id: 'routed', address: '127.0.0.1:8081', route: 'a1' },
    ]);
    expect(b.servers.map((s) => s.sid)).toEqual([
      md5('127.0.0.1:8080'),
      md5('[::1]:8080'),
      md5('10.0.0.1:80'),
      md5('unix:/run/app.sock'),
      'a1',
    ]);
    expect(b.get('v4')!.sid).toBe('5958c386bf5e9109ac10d2a628645aea'); // printf '127.0.0.1:8080' | md5sum
    expect(b.get('routed')!.route).toBe('a1');
    expect(b.get('v4')!.route).toBeUndefined();
    const snap = b.snapshot().servers;
    expect(snap.map((s) => [s.route, s.sid])).toEqual(b.servers.map((s) => [s.route ?? null, s.sid]));
  });

  it('equals the cookie nginx 1.30.4 set for these peers (sticky cookie srv_id) [nginx-verified]', () => {
    const b = balancer([{ address: '127.0.0.1:18301' }, { address: '[0::1]:18302' }]);
    expect(b.servers.map((s) => s.sid)).toEqual(['dd0817a19de93f4e2bcef12d1e030e85', '7fbaba6cd919c5d0283a00f23541f0d0']);
  });

  it('prints addresses as ngx_sock_ntop does', () => {
    expect(peerName('127.000.0.001:0080')).toBe('127.0.0.1:80');
    expect(peerName('[2001:DB8:0:0:1:0:0:1]:443')).toBe('[2001:db8::1:0:0:1]:443'); // first of two equal runs
    expect(peerName('[2001:db8:0:1:0:0:0:1]:443')).toBe('[2001:db8:0:1::1]:443'); // the longer run
    expect(peerName('[::ffff:1.2.3.4]:80')).toBe('[::ffff:1.2.3.4]:80');
    expect(peerName('[::ffff:0102:0304]:80')).toBe('[::ffff:1.2.3.4]:80');
    expect(peerName('[::1.2.3.4]:80')).toBe('[::1.2.3.4]:80');
    expect(peerName('[::1]:80')).toBe('[::1]:80');
    expect(peerName('[1::]:80')).toBe('[1::]:80');
    expect(peerName('[1:2:3:4:5:6:7:8]:80')).toBe('[1:2:3:4:5:6:7:8]:80');
    expect(peerName('[1:0:3:4:5:6:7:8]:80')).toBe('[1:0:3:4:5:6:7:8]:80'); // one zero group stays
    expect(peerName('[::]:80')).toBe('[::]:80');
    expect(peerName('backend.example:8080')).toBe('backend.example:8080'); // a name: nginx prints what it resolved to
    expect(peerName('A')).toBe('A');
  });

  it('route= is 1 to 32 bytes (nginx: "route is empty", "route is longer than 32"), a typed error otherwise', () => {
    const make = (route: unknown) => () => balancer([{ address: '127.0.0.1:1', route } as ServerOptions]);
    expect(make('x'.repeat(32))).not.toThrow();
    for (const bad of ['', 'x'.repeat(33), 'é'.repeat(17), 7, null]) {
      let error: unknown;
      try {
        make(bad)();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as InvalidOptionError).option).toBe('servers[0].route');
      expect((error as InvalidOptionError).code).toBe('ERR_UPSTREAM_INVALID_OPTION');
      expect((error as InvalidOptionError).value).toBe(bad);
    }
  });

  it('update() changes the route, and the hint lookup follows it', () => {
    const b = balancer([{ id: 'A', address: '10.0.0.1:80' }, { id: 'B', address: '10.0.0.2:80' }]);
    expect(request(b, 'blue')).toBe('A'); // unknown: round robin
    b.update('B', { route: 'blue' });
    expect(b.get('B')!.sid).toBe('blue');
    expect(request(b, 'blue')).toBe('B*');
    b.update('B', { route: undefined });
    expect(b.get('B')!.sid).toBe(md5('10.0.0.2:80'));
    expect(request(b, 'blue')).toBe('A');
  });
});

describe('round robin with a hint (ngx_http_upstream_get_peer, st_peer)', () => {
  it('weights 5/1/1, hint C three times, then none: C C C A A A B A A with nginx current weights [nginx-verified]', () => {
    const b = balancer([
      { id: 'A', address: '10.0.0.1:80', weight: 5 },
      { id: 'B', address: '10.0.0.2:80' },
      { id: 'C', address: '10.0.0.3:80', route: 'c' },
    ]);
    // 1st: C at 0 > -(7 - 1) = -6: the round runs (A 5, B 1, C 1, total 7) and C pays: C = 1 - 7
    expect(request(b, 'c')).toBe('C*');
    expect(currents(b)).toEqual([5, 1, -6]);
    // 2nd, 3rd: C at -6 <= -6: taken, no weight changes
    expect(request(b, 'c')).toBe('C*');
    expect(request(b, 'c')).toBe('C*');
    expect(currents(b)).toEqual([5, 1, -6]);
    // no hint: A (10-7=3), A (8-7=1), A (6-7=-1), B (5-7=-2), A (9-7=2), A (7-7=0): all back at 0
    expect(Array.from({ length: 6 }, () => request(b)).join(' ')).toBe('A A A B A A');
    expect(currents(b)).toEqual([0, 0, 0]);
  });

  it('a hinted server in the middle of the sequence: A C* A A B A A [nginx-verified]', () => {
    const b = balancer([
      { id: 'A', address: '10.0.0.1:80', weight: 5 },
      { id: 'B', address: '10.0.0.2:80' },
      { id: 'C', address: '10.0.0.3:80', route: 'c' },
    ]);
    // A (5-7=-2 | B 1 | C 1), then hint C: C 1 > -6, round: A 3, B 2, C 2, C pays: -5
    expect(request(b)).toBe('A');
    expect(request(b, 'c')).toBe('C*');
    expect(currents(b)).toEqual([3, 2, -5]);
    // A 8-7=1 | B 3 | C -4; A 6-7=-1 | B 4 | C -3; B 5-7=-2 | A 4 | C -2; A 9-7=2 | B -1 | C -1;
    // A 7-7=0 | B 0 | C 0
    expect(Array.from({ length: 5 }, () => request(b)).join(' ')).toBe('A A B A A');
    expect(currents(b)).toEqual([0, 0, 0]);
  });

  it('a draining server takes the requests that name it, and no others; it pays without adding: B* B* A C A C [nginx-verified]', () => {
    const b = balancer([
      { id: 'A', address: '10.0.0.1:80' },
      { id: 'B', address: '10.0.0.2:80', drain: true, route: 'b' },
      { id: 'C', address: '10.0.0.3:80' },
    ]);
    // B at 0 > -(3 - 1): round over A and C only (A 1, C 1, total 2), B pays: -2
    expect(request(b, 'b')).toBe('B*');
    expect(currents(b)).toEqual([1, -2, 1]);
    expect(request(b, 'b')).toBe('B*'); // -2 <= -2: no change
    expect(currents(b)).toEqual([1, -2, 1]);
    expect(Array.from({ length: 4 }, () => request(b)).join(' ')).toBe('A C A C');
    expect(b.get('B')!.state).toBe('draining');
  });

  it('down, failed (in its window) and full hinted servers are refused: the method chooses', () => {
    const clock = new ManualClock(1_000_000);
    const b = new Balancer({
      clock: clock.now,
      servers: [
        { id: 'A', address: '10.0.0.1:80', route: 'a', down: true },
        { id: 'B', address: '10.0.0.2:80', route: 'b', maxConns: 1 },
        { id: 'C', address: '10.0.0.3:80', route: 'c' },
        { id: 'D', address: '10.0.0.4:80' },
      ],
    });
    expect(request(b, 'a')).toBe('B'); // down
    const held = b.attempt(undefined, { hint: 'b' });
    expect(held.next()!.id).toBe('B');
    expect(request(b, 'b')).not.toBe('B*'); // full
    held.release();
    const failing = b.attempt(undefined, { hint: 'c' });
    expect(failing.next()!.id).toBe('C');
    failing.fail(); // max_fails=1: C is out for fail_timeout
    expect(failing.next()!.id).not.toBe('C');
    expect(failing.hinted).toBe(false);
    failing.release();
    expect(request(b, 'c')).not.toBe('C*');
    clock.advance(10_001); // the window is over: C may take its session again
    expect(request(b, 'c')).toBe('C*');
  });

  it('a retry after the hinted server failed lets the method choose, one try spent on each', () => {
    const b = balancer([
      { id: 'A', address: '10.0.0.1:80' },
      { id: 'B', address: '10.0.0.2:80', route: 'b' },
      { id: 'C', address: '10.0.0.3:80' },
    ]);
    const a = b.attempt(undefined, { hint: 'b' });
    expect([a.next()!.id, a.hinted, a.sid, a.tries]).toEqual(['B', true, 'b', 3]);
    a.fail();
    expect([a.next()!.id, a.hinted, a.sid, a.tries]).toEqual(['A', false, md5('10.0.0.1:80'), 2]);
    a.release();
    expect([a.sid, a.hinted]).toEqual([md5('10.0.0.1:80'), false]); // readable after the release
  });

  it('only the first server with the id counts (a shared route)', () => {
    const b = balancer([
      { id: 'A', address: '10.0.0.1:80', route: 'r' },
      { id: 'B', address: '10.0.0.2:80', route: 'r' },
      { id: 'C', address: '10.0.0.3:80' },
    ]);
    expect(request(b, 'r')).toBe('A*');
    b.update('A', { down: true });
    const a = b.attempt(undefined, { hint: 'r' });
    a.next();
    expect(a.hinted).toBe(false); // A is down: B is not looked at
  });

  it('the hint is looked up in the tier the request is on: a backup only after the fallback', () => {
    const b = balancer([
      { id: 'A', address: '10.0.0.1:80' },
      { id: 'B', address: '10.0.0.2:80' },
      { id: 'X', address: '10.0.0.9:80', backup: true, route: 'x' },
      { id: 'Y', address: '10.0.0.8:80', backup: true },
    ]);
    expect(request(b, 'x')).toBe('A');
    const a = b.attempt(undefined, { hint: 'x' });
    expect(a.next()!.id).toBe('B');
    a.fail();
    expect(a.next()!.id).toBe('A'); // (A was never tried by this request)
    a.fail();
    expect([a.next()!.id, a.hinted]).toEqual(['X', true]); // on the backup tier now
    a.release();
    // X won its backup round (X 1, Y 1, total 2: X -1, Y 1). A hint that names a primary is not
    // looked up once on the backup tier: the backup round (X 0, Y 2) gives Y
    b.update('A', { down: true });
    b.update('B', { down: true });
    expect(request(b, md5('10.0.0.1:80'))).toBe('Y');
  });

  it('single-server mode: the hinted server even when draining, not when down', () => {
    const b = balancer([{ id: 'A', address: '10.0.0.1:80', drain: true, route: 'a' }]);
    expect(request(b)).toBe('NOLIVE');
    expect(request(b, 'a')).toBe('A*');
    b.update('A', { down: true });
    expect(request(b, 'a')).toBe('NOLIVE');
  });

  it('an active-check verdict does not refuse a hinted server (the check module tests the rounds only)', () => {
    const b = balancer(
      [{ id: 'A', address: '10.0.0.1:80', route: 'a' }, { id: 'B', address: '10.0.0.2:80' }],
      { check: { rise: 1, fall: 1, interval: 1000 } },
    );
    b.reportCheck('A', true);
    b.reportCheck('B', true);
    b.reportCheck('A', false);
    expect(b.get('A')!.state).toBe('unhealthy');
    expect(request(b)).toBe('B');
    expect(request(b, 'a')).toBe('A*');
  });

  it('hints need the 1.30 target and a string; one-shot pick() has none', () => {
    const servers = [{ address: '10.0.0.1:80' }, { address: '10.0.0.2:80' }];
    const old = balancer(servers, { nginx: '1.22' });
    expect(() => old.attempt(undefined, { hint: 'x' })).toThrow(InvalidOptionError);
    expect(() => old.attempt(undefined, {})).not.toThrow();
    const b = balancer(servers);
    expect(() => b.attempt(undefined, { hint: 5 as unknown as string })).toThrow(/hint/);
    const a = b.attempt();
    expect([a.sid, a.hinted]).toEqual([undefined, false]);
    const s = a.next()!;
    expect([a.sid, a.hinted]).toEqual([s.sid, false]);
  });
});

describe('the other methods with a hint: the hinted server as is, the method state untouched', () => {
  const three: ServerOptions[] = [
    { id: 'A', address: '10.0.0.1:80' },
    { id: 'B', address: '10.0.0.2:80', route: 'b' },
    { id: 'C', address: '10.0.0.3:80', route: 'c' },
  ];

  /** Holds `n` connections: hinted where `hints[k]` is set. */
  function hold(b: Balancer, hints: (string | undefined)[], key?: string): string {
    return hints
      .map((hint) => {
        const a = b.attempt(key, hint === undefined ? undefined : { hint });
        const s = a.next();
        return s === undefined ? 'NOLIVE' : s.id + (a.hinted ? '*' : '');
      })
      .join(' ');
  }

  it('least_conn: the hinted server whatever its connections, no weight changed', () => {
    const b = balancer(three, { method: 'least-conn' });
    // C C (hinted, conns 1 then 2), then least_conn: A and B tie at 0 (SWRR between them: A 1-2=-1,
    // B 1), B alone at 0, A and B tie at 1 (A 0, B 2: B wins, 2-2=0), A alone at 1
    expect(hold(b, ['c', 'c', undefined, undefined, undefined, undefined])).toBe('C* C* A B B A');
    expect(b.get('C')!.conns).toBe(2);
    expect(b.get('C')!.currentWeight).toBe(0);
  });

  it('hash: the hinted server; the key walk is where it was (the next request of the key goes to its server)', () => {
    const b = balancer(three, { method: 'hash' });
    const home = request(b, undefined, 'user-42');
    const other = home === 'C' ? 'b' : 'c';
    expect(request(b, other, 'user-42')).toBe(`${other.toUpperCase()}*`);
    expect(request(b, undefined, 'user-42')).toBe(home);
  });

  it('consistent hash and ip_hash: the same', () => {
    for (const [method, key] of [['hash', 'k-7'], ['ip-hash', '192.168.7.1']] as const) {
      const b = balancer(three, { method, ...(method === 'hash' ? { hash: { consistent: true } } : {}) });
      const home = request(b, undefined, key);
      const other = home === 'C' ? 'b' : 'c';
      expect(request(b, other, key)).toBe(`${other.toUpperCase()}*`);
      expect(request(b, undefined, key)).toBe(home);
    }
  });

  it('random and random two: nothing drawn for a hinted request', () => {
    for (const randomTwo of [false, true]) {
      const plain = balancer(three, { method: 'random', randomTwo, rng: seededRandom(3) });
      const hinted = balancer(three, { method: 'random', randomTwo, rng: seededRandom(3) });
      const seq = (b: Balancer, withHints: boolean): string =>
        Array.from({ length: 8 }, (_, k) => (withHints && k % 2 === 0 ? request(b, 'c') : request(b))).filter((s) => !s.endsWith('*')).join(' ');
      expect(seq(hinted, true)).toBe(seq(plain, false).split(' ').slice(0, 4).join(' '));
    }
  });
});

describe('drain (nginx 1.30 NGX_HTTP_UPSTREAM_DRAINING)', () => {
  it('is not counted in the tries budget, as down (ngx_http_upstream_init_round_robin)', () => {
    const b = balancer([
      { id: 'A', address: '10.0.0.1:80' },
      { id: 'B', address: '10.0.0.2:80', drain: true, route: 'b' },
      { id: 'C', address: '10.0.0.3:80' },
    ]);
    const a = b.attempt(undefined, { hint: 'b' });
    expect(a.tries).toBe(2);
    const tried: string[] = [];
    for (let s = a.next(); s !== undefined; s = a.next()) {
      tried.push(s.id);
      a.fail();
    }
    // the draining server took one of the two tries: C is never reached
    expect(tried).toEqual(['B', 'A']);
  });

  it('update(id, { drain: true }) at run time: snapshot, state event, selection', () => {
    const b = balancer([{ id: 'A', address: '10.0.0.1:80' }, { id: 'B', address: '10.0.0.2:80' }]);
    const events: string[] = [];
    b.on('state', (s: Server, from, to, cause) => events.push(`${s.id} ${from}->${to} ${cause}`));
    b.update('B', { drain: true });
    expect(events).toEqual(['B up->draining admin']);
    const snap = b.snapshot().servers[1]!;
    expect([snap.drain, snap.state]).toEqual([true, 'draining']);
    expect(Array.from({ length: 3 }, () => request(b)).join(' ')).toBe('A A A');
    expect(request(b, b.get('B')!.sid)).toBe('B*');
    expect(b.attempt().tries).toBe(1);
    b.update('B', { drain: false });
    expect(events).toEqual(['B up->draining admin', 'B draining->up admin']);
    expect(b.attempt().tries).toBe(2);
  });
});
