/**
 * The HTTP proxy example (docs/examples/http-proxy.ts) with `sticky`: real node:http backends and
 * the proxy on 127.0.0.1, real clients. The exact backend each request reaches, the exact
 * Set-Cookie headers the client gets (the session cookie before the backend's own, and on the
 * proxy's own 502), route mode from the query string, and learn mode pinning a backend's session.
 * Everything started is stopped after each test.
 */

import { createHash } from 'node:crypto';
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpProxy, send } from '../../docs/examples/http-proxy';
import { Balancer } from '../../src/balancer';
import type { Attempt } from '../../src/attempt';
import { StickySessions } from '../../src/sticky/index';
import { deadPort, listen, stopAll } from '../fixtures/peers';

const md5 = (text: string): string => createHash('md5').update(text).digest('hex');

interface Backend {
  readonly id: string;
  readonly address: string;
  readonly sid: string;
}

async function backend(id: string, setCookie?: (req: http.IncomingMessage) => string | undefined): Promise<Backend> {
  const server = http.createServer((req, res) => {
    const own = setCookie?.(req);
    if (own !== undefined) res.setHeader('set-cookie', own);
    req.resume();
    req.on('end', () => res.end(id));
  });
  const address = `127.0.0.1:${await listen(server)}`;
  return { id, address, sid: md5(address) };
}

async function proxy(options: Parameters<typeof createHttpProxy>[0]): Promise<number> {
  const p = createHttpProxy({ keepAlive: 0, ...options });
  return listen(p);
}

afterEach(async () => {
  await stopAll();
});

const cookies = (headers: http.IncomingHttpHeaders): string[] => headers['set-cookie'] ?? [];

describe('http proxy example with sticky', () => {
  it('cookie mode: the cookie pins the server, is set first, follows a failover and rides on the 502', async () => {
    const A = await backend('A', () => 'own=a; Path=/');
    const B = await backend('B');
    const dead = `127.0.0.1:${await deadPort()}`;
    const balancer = new Balancer({ servers: [{ id: 'A', address: A.address }, { id: 'B', address: B.address }, { id: 'D', address: dead }] });
    const port = await proxy({ balancer, sticky: { mode: 'cookie', name: 'srv_id', expires: 'max', secure: false, httponly: false } });
    const max = '; expires=Thu, 31-Dec-37 23:55:55 GMT; max-age=315360000';

    const first = await send(port);
    expect([first.status, first.body, cookies(first.headers)]).toEqual([200, 'A', [`srv_id=${A.sid}${max}`, 'own=a; Path=/']]);
    const pinned: string[] = [];
    for (let i = 0; i < 3; i++) pinned.push((await send(port, { headers: { cookie: `srv_id=${B.sid}` } })).body);
    expect(pinned).toEqual(['B', 'B', 'B']);
    // D's cookie: refused, counted failed, the retry chooses and the cookie follows. (A, B, D)
    // weights: A (-2, 1, 1); B reweights (-1, -1, 2), (0, -3, 3); B at the low limit -2; D
    // reweights (1, -2, 1); the retry without D: A (0, -1, 1).
    const failover = await send(port, { headers: { cookie: `a=1; srv_id=${md5(dead)}` } });
    expect([failover.status, failover.body, cookies(failover.headers)]).toEqual([200, 'A', [`srv_id=${A.sid}${max}`, 'own=a; Path=/']]);

    const lone = new Balancer({ servers: [{ id: 'D', address: dead }] });
    const port2 = await proxy({ balancer: lone, sticky: { mode: 'cookie', name: 'srv_id', secure: true, httponly: false } });
    const bad = await send(port2);
    expect([bad.status, cookies(bad.headers)]).toEqual([502, [`srv_id=${md5(dead)}; secure`]]);
  });

  it('route mode: the route argument, else round robin', async () => {
    const A = await backend('A');
    const B = await backend('B');
    const balancer = new Balancer({ servers: [{ id: 'A', address: A.address, route: 'a' }, { id: 'B', address: B.address, route: 'b' }] });
    const port = await proxy({ balancer, sticky: { mode: 'route', variables: ['$arg_route'] } });
    const bodies: string[] = [];
    for (const path of ['/?route=b', '/?route=b', '/?route=b', '/?x=1&route=a', '/']) {
      const r = await send(port, { path });
      bodies.push(r.body);
      expect(cookies(r.headers)).toEqual([]);
    }
    // (A, B) weights: b reweights (1, -1), twice at the low limit, a reweights (0, 0), then A
    expect(bodies).toEqual(['B', 'B', 'B', 'A', 'A']);
  });

  it('learn mode over a StickySessions: the backend session cookie pins its server', async () => {
    let n = 0;
    const give = (req: http.IncomingMessage) => (req.headers.cookie === undefined ? `app=s${++n}` : undefined);
    const A = await backend('A', give);
    const B = await backend('B', give);
    const balancer = new Balancer({ servers: [{ id: 'A', address: A.address }, { id: 'B', address: B.address }] });
    const sessions = new StickySessions<Attempt>(balancer, {
      mode: 'learn', create: ['$upstream_cookie_app'], lookup: ['$cookie_app'], zone: { name: 'z', size: 32768 }, timeout: 60_000, header: false,
    });
    const port = await proxy({ balancer, sticky: sessions });
    expect([(await send(port)).body, (await send(port)).body]).toEqual(['A', 'B']);
    expect(sessions.store!.stats().sessions).toBe(2);
    const seen: string[] = [];
    for (const c of ['app=s2', 'app=s2', 'app=s1', 'app=s2']) seen.push((await send(port, { headers: { cookie: c } })).body);
    expect(seen).toEqual(['B', 'B', 'A', 'B']);
  });
});
