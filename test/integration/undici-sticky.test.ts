/**
 * BalancedDispatcher with `sticky` (src/undici/sticky.ts over src/sticky/), real undici and real
 * node:http backends on 127.0.0.1: the server each request reaches with and without its cookie,
 * the exact Set-Cookie headers the caller gets (the session cookie first, then the backend's own),
 * the cookie following a failover and riding on the adapter's own 502, route mode from the query
 * string, learn mode from the backend's own session cookie (at free and with `header`), for both
 * handler APIs and fetch. Everything started is closed after each test.
 */

import { createHash } from 'node:crypto';
import http from 'node:http';
import { type Dispatcher, fetch, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { StickySessions } from '../../src/sticky/sessions';
import type { StickyConfig } from '../../src/sticky/types';
import { BalancedDispatcher, type BalancedContext, type BalancedDispatcherOptions, SYNTHESIZED_HEADER } from '../../src/undici/index';
import { deadPort, listen, stopAll } from '../fixtures/peers';

interface Backend {
  readonly id: string;
  readonly address: string;
  readonly sid: string;
  /** The Cookie header of every request it got. */
  readonly cookies: (string | undefined)[];
}

const md5 = (text: string): string => createHash('md5').update(text).digest('hex');

/** A backend answering its id; `setCookie(req)` is the Set-Cookie it adds, if any. */
async function backend(id: string, setCookie?: (req: http.IncomingMessage) => string | undefined): Promise<Backend> {
  const cookies: (string | undefined)[] = [];
  const server = http.createServer((req, res) => {
    cookies.push(req.headers.cookie);
    const own = setCookie?.(req);
    if (own !== undefined) res.setHeader('set-cookie', own);
    res.setHeader('x-id', id);
    req.resume();
    req.on('end', () => res.end(id));
  });
  const port = await listen(server);
  const address = `127.0.0.1:${port}`;
  return { id, address, sid: md5(address), cookies };
}

async function dead(id: string): Promise<{ id: string; address: string; sid: string }> {
  const address = `127.0.0.1:${await deadPort()}`;
  return { id, address, sid: md5(address) };
}

const dispatchers: BalancedDispatcher[] = [];
function dispatcher(balancer: Balancer, options: BalancedDispatcherOptions): BalancedDispatcher {
  const d = new BalancedDispatcher(balancer, options);
  dispatchers.push(d);
  return d;
}

afterEach(async () => {
  await Promise.all(dispatchers.splice(0).map((d) => d.destroy().catch(() => {})));
  await stopAll();
});

const via = (context: unknown): string => (context as BalancedContext).upstreams.map((u) => `${u.id}:${u.status}`).join(' ');

async function get(d: Dispatcher, path: string, cookie?: string | string[]) {
  const headers: Record<string, string | string[]> = cookie === undefined ? {} : { cookie };
  const r = await request(`http://app${path}`, { dispatcher: d, headers });
  const body = await r.body.text();
  const setCookie = r.headers['set-cookie'];
  return { status: r.statusCode, body, via: via(r.context), setCookie: setCookie === undefined ? [] : ([] as string[]).concat(setCookie), synthesized: r.headers[SYNTHESIZED_HEADER] };
}

const COOKIE: StickyConfig = { mode: 'cookie', name: 'srv_id', path: '/', secure: false, httponly: true };

for (const handlerApi of ['auto', 'controller'] as const) {
  describe(`cookie mode (handler API ${handlerApi})`, () => {
    it('sets the cookie before the backend own; a cookie brings the request back to its server', async () => {
      const A = await backend('A', () => 'own=a');
      const B = await backend('B');
      const balancer = new Balancer({ servers: [A, B].map(({ id, address }) => ({ id, address })) });
      const d = dispatcher(balancer, { sticky: COOKIE, handlerApi });

      const first = await get(d, '/');
      expect([first.status, first.body, first.via]).toEqual([200, 'A', 'A:200']);
      expect(first.setCookie).toEqual([`srv_id=${A.sid}; httponly; path=/`, 'own=a']);

      const picks: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await get(d, '/', `srv_id=${B.sid}`);
        picks.push(r.body);
        expect(r.setCookie).toEqual([`srv_id=${B.sid}; httponly; path=/`]);
      }
      expect(picks).toEqual(['B', 'B', 'B']);
      expect(B.cookies).toEqual([`srv_id=${B.sid}`, `srv_id=${B.sid}`, `srv_id=${B.sid}`]); // passed on as sent
      // several Cookie headers and other cookies: nginx's $cookie_srv_id
      const mixed = await get(d, '/', ['theme=dark', `SRV_ID = ${A.sid}`]);
      expect([mixed.body, mixed.setCookie]).toEqual(['A', [`srv_id=${A.sid}; httponly; path=/`, 'own=a']]);
    });

    it('a dead cookie server: the retry picks another, the cookie follows; none left: the 502 carries the last', async () => {
      const A = await backend('A');
      const D = await dead('D');
      const E = await dead('E');
      const balancer = new Balancer({ servers: [A, D].map(({ id, address }) => ({ id, address })) });
      const d = dispatcher(balancer, { sticky: COOKIE, handlerApi });
      const r = await get(d, '/', `srv_id=${D.sid}`);
      expect([r.status, r.body, r.via]).toEqual([200, 'A', 'D:error A:200']);
      expect(r.setCookie).toEqual([`srv_id=${A.sid}; httponly; path=/`]);

      const none = new Balancer({ servers: [D, E].map(({ id, address }) => ({ id, address })) });
      const d2 = dispatcher(none, { sticky: COOKIE, handlerApi });
      const failed = await get(d2, '/', `srv_id=${E.sid}`);
      expect([failed.status, failed.via, failed.synthesized]).toEqual([502, 'E:error D:error', 'error']);
      expect(failed.setCookie).toEqual([`srv_id=${D.sid}; httponly; path=/`]);
      const nolive = await get(d2, '/');
      expect([nolive.status, nolive.via, nolive.synthesized, nolive.setCookie]).toEqual([502, '', 'no-live-upstreams', []]);
    });
  });
}

describe('route and learn modes', () => {
  it('fetch: route from the query string, else the route cookie', async () => {
    const A = await backend('A');
    const B = await backend('B');
    const balancer = new Balancer({ servers: [{ id: 'A', address: A.address, route: 'a' }, { id: 'B', address: B.address, route: 'b' }] });
    const d = dispatcher(balancer, { sticky: { mode: 'route', variables: ['$arg_route', '$cookie_route'] } });
    const bodies: string[] = [];
    for (const [path, cookie] of [['/?route=b', undefined], ['/x?y=1&route=b', undefined], ['/', 'route=b'], ['/?route=a', 'route=b'], ['/', undefined]] as const) {
      const res = await fetch(`http://app${path}`, { dispatcher: d, headers: cookie === undefined ? {} : { cookie } });
      bodies.push(await res.text());
      expect(res.headers.getSetCookie()).toEqual([]);
    }
    // (A, B) current weights: b reweights (1, -1); b twice at the low limit -1, unchanged; a
    // reweights (0, 0); no route: round robin's A (-1, 1)
    expect(bodies).toEqual(['B', 'B', 'B', 'A', 'A']);
  });

  it('learn: the backend session cookie pins later requests; stickyVariables feeds other variables', async () => {
    let n = 0;
    const A = await backend('A', (req) => (req.headers.cookie === undefined ? `app_session=s${++n}; Path=/` : undefined));
    const B = await backend('B', (req) => (req.headers.cookie === undefined ? `app_session=s${++n}; Path=/` : undefined));
    const balancer = new Balancer({ servers: [A, B].map(({ id, address }) => ({ id, address })) });
    const config: StickyConfig = {
      mode: 'learn',
      create: ['$upstream_cookie_app_session'],
      lookup: ['$http_x_session', '$cookie_app_session'],
      zone: { name: 'sessions', size: 1 << 20 },
      timeout: 600_000,
      header: false,
    };
    const d = dispatcher(balancer, { sticky: config, stickyVariables: (name, req) => (name === 'http_x_session' ? (req.headers as Record<string, string>)['x-session'] : undefined) });
    const one = await get(d, '/'); // A sets s1
    const two = await get(d, '/'); // B sets s2
    expect([one.body, one.setCookie, two.body, two.setCookie]).toEqual(['A', ['app_session=s1; Path=/'], 'B', ['app_session=s2; Path=/']]);
    expect(d.sticky!.store!.stats().sessions).toBe(2);
    const back: string[] = [];
    for (const cookie of ['app_session=s1', 'app_session=s1', 'app_session=s2', 'app_session=s2', 'app_session=s1']) back.push((await get(d, '/', cookie)).body);
    expect(back).toEqual(['A', 'A', 'B', 'B', 'A']);
    const viaHeader = await request('http://app/', { dispatcher: d, headers: { 'x-session': 's2' } });
    expect(await viaHeader.body.text()).toBe('B');
  });

  it('learn with header, over a StickySessions the caller made (its store shared)', async () => {
    const A = await backend('A', () => 'sid=fixed');
    const B = await backend('B');
    const balancer = new Balancer({ servers: [A, B].map(({ id, address }) => ({ id, address })) });
    const sessions = new StickySessions(balancer, { mode: 'learn', create: ['$upstream_cookie_sid'], lookup: ['$cookie_sid'], zone: { name: 'z', size: 32768 }, timeout: 60_000, header: true });
    const d = dispatcher(balancer, { sticky: sessions });
    expect(d.sticky).toBe(sessions);
    expect((await get(d, '/')).body).toBe('A');
    expect(sessions.store!.lookup('fixed')).toBe(A.sid);
    const pinned: string[] = [];
    for (let i = 0; i < 3; i++) pinned.push((await get(d, '/', 'sid=fixed')).body);
    expect(pinned).toEqual(['A', 'A', 'A']);
  });

  it('learn: a response retried over (502 in proxy_next_upstream) teaches nothing; the passed one does', async () => {
    const A = await backend('A');
    const B = await backend('B', () => 'sid=good');
    const bad = http.createServer((req, res) => {
      res.setHeader('set-cookie', 'sid=bad');
      res.statusCode = 502;
      req.resume();
      req.on('end', () => res.end('C'));
    });
    const C = `127.0.0.1:${await listen(bad)}`;
    const balancer = new Balancer({ servers: [{ id: 'C', address: C }, { id: 'B', address: B.address }, { id: 'A', address: A.address }] });
    const d = dispatcher(balancer, {
      nextUpstream: ['error', 'timeout', 'http_502'],
      sticky: { mode: 'learn', create: ['$upstream_cookie_sid'], lookup: ['$cookie_sid'], zone: { name: 'z', size: 32768 }, timeout: 60_000, header: true },
    });
    const r = await get(d, '/');
    expect([r.status, r.body, r.via, r.setCookie]).toEqual([200, 'B', 'C:502 B:200', ['sid=good']]);
    const store = d.sticky!.store!;
    expect([store.lookup('bad'), store.lookup('good'), store.stats().sessions]).toEqual([undefined, B.sid, 1]);
  });
});

describe('upgrades', () => {
  it('a 101 from the cookie server carries the session cookie before the server own', async () => {
    let upgrades = 0;
    const up = http.createServer();
    up.on('upgrade', (_req: http.IncomingMessage, socket: import('node:net').Socket) => {
      upgrades++;
      socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\nset-cookie: ws=1\r\n\r\n');
      socket.pipe(socket);
    });
    const address = `127.0.0.1:${await listen(up)}`;
    const other = await backend('B');
    const balancer = new Balancer({ servers: [{ id: 'B', address: other.address }, { id: 'U', address }] });
    const d = dispatcher(balancer, { origin: 'http://app', sticky: COOKIE });
    const { headers, socket } = await d.upgrade({ path: '/ws', protocol: 'echo', headers: { cookie: `srv_id=${md5(address)}` } });
    expect(upgrades).toBe(1);
    expect(headers['set-cookie']).toEqual([`srv_id=${md5(address)}; httponly; path=/`, 'ws=1']);
    socket.destroy();
  });
});

describe('options', () => {
  it('a bad sticky config or stickyVariables is a typed error naming the option', async () => {
    const balancer = new Balancer({ servers: [{ address: '127.0.0.1:1' }] });
    const error = (options: BalancedDispatcherOptions): unknown => {
      try {
        new BalancedDispatcher(balancer, options);
      } catch (e) {
        return e;
      }
      return undefined;
    };
    expect(error({ sticky: { mode: 'cookie', name: '' } as never })).toMatchObject({ code: 'ERR_UPSTREAM_INVALID_OPTION', option: 'sticky.name' });
    expect(error({ sticky: { mode: 'route', variables: [] } })).toMatchObject({ option: 'sticky.variables' });
    expect(error({ sticky: COOKIE, stickyVariables: 'x' as never })).toMatchObject({ option: 'stickyVariables', value: 'x' });
  });
});
