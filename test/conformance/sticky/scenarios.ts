/**
 * Sticky-session and drain conformance scenarios (nginx 1.30): what `record.ts` drives through real
 * nginx 1.30.4's http proxy to produce `test/vectors/sticky/<name>.json`, replayed by
 * `replay.test.ts`. Semantics under test: `ngx_http_upstream_sticky_module.c` (cookie, route and
 * learn modes, the Set-Cookie bytes, the learned-session zone and its timeout) and the hint / drain
 * code of `ngx_http_upstream_round_robin.c` (`ngx_http_upstream_get_rr_peer_by_sid`, the `st_peer`
 * branch of `ngx_http_upstream_get_peer`), `ngx_http_upstream_least_conn_module.c` and
 * `ngx_http_upstream_hash_module.c`.
 *
 * A scenario is data: the upstream's `sticky` directive (and method), its servers (with `drain`,
 * `route=` and the answers each backend gives, in the order requests reach it), and a script of
 * client requests. A request's `cookie` and `args` may name a server's session id as `{A}`: the
 * recorder sends the id nginx computed for the address it really ran (the MD5 of `127.0.0.1:PORT`,
 * or the `route=`) and the vector keeps the id of the canonical address (`127.0.0.1:2000(i+1)`),
 * everywhere, Set-Cookie bytes included. A `hold` request stays open at its backend until its
 * `release` (a connection held for `max_conns` and `least_conn`); `wait` sleeps (real time in the
 * recorder, the manual clock in the replay; only the learn timeout needs it). Every scenario runs
 * inside its servers' `fail_timeout` (the recorder checks nginx's own times).
 */

import type { ScenarioServerParams } from '../scenario-server';

/** What a backend does with one request: a 200, a 502, or a close before any response byte. */
export type Answer = '200' | '502' | 'reset';

export interface StickyScenarioServer extends ScenarioServerParams {
  id: string;
  /** Answers to the first requests that reach this server (held ones excepted), in order; then 200. */
  answers?: Answer[];
}

export interface RequestOp {
  op: 'request';
  /** The `Cookie` header, `{A}` standing for server A's session id; absent: none sent. */
  cookie?: string;
  /** The query string (without `?`), `{A}` as in `cookie`; absent: none. */
  args?: string;
  /** The backend that receives it answers with `Set-Cookie: <value>` (a learn scenario's own session cookie). */
  backendCookie?: string;
  /**
   * The backend holds the request until its `release`: `response`, all of the response; `body`,
   * the body only (the 200 header goes out at once: nginx passes it to the client and notifies
   * the balancer, `learn ... header` learns there).
   */
  hold?: 'response' | 'body';
  /** Send the same request this many times, one after the other (default 1). */
  count?: number;
}

export type ScriptOp =
  | RequestOp
  /** The held request `n` (1-based request number) gets its 200 and completes. */
  | { op: 'release'; n: number }
  | { op: 'stop'; server: string }
  | { op: 'start'; server: string }
  | { op: 'wait'; ms: number };

export interface StickyScenario {
  name: string;
  description: string;
  /** The balancing-method directive, e.g. `least_conn;` (absent: round robin). */
  method?: string;
  /** The `sticky ...;` directive as written. */
  sticky: string;
  servers: StickyScenarioServer[];
  /** `proxy_next_upstream` conditions (absent: not written, nginx's `error timeout`). */
  nextUpstream?: string;
  /**
   * Run the backends on the canonical ports themselves (127.0.0.1:20001..), not on free ones:
   * consistent hash places servers on its ring by their address text.
   */
  canonicalPorts?: boolean;
  script: ScriptOp[];
}

/** A request with a cookie (template) and optional extras. */
export const req = (extra: Omit<RequestOp, 'op'> = {}): RequestOp => ({ op: 'request', ...extra });
/** `count` requests without cookie or args. */
export const plain = (count = 1): RequestOp => ({ op: 'request', count });
/** `count` requests carrying `name={server}`. */
export const cookieFor = (name: string, server: string, count = 1): RequestOp => ({ op: 'request', cookie: `${name}={${server}}`, count });
export const release = (n: number): ScriptOp => ({ op: 'release', n });
export const stop = (server: string): ScriptOp => ({ op: 'stop', server });
export const start = (server: string): ScriptOp => ({ op: 'start', server });
export const wait = (ms: number): ScriptOp => ({ op: 'wait', ms });
/** `count` requests each creating (through its backend's own cookie) one of the sessions `s<from>`..: `sess=s<i>`. */
const creates = (from: number, count: number): RequestOp[] => Array.from({ length: count }, (_, i) => req({ backendCookie: `sess=s${from + i}` }));

const COOKIE = 'sticky cookie srv_id;';
const LEARN = 'sticky learn create=$upstream_cookie_sess lookup=$cookie_sess zone=sess:1m;';

export const SCENARIOS: StickyScenario[] = [
  // ---- cookie mode
  {
    name: 'cookie-basic',
    description:
      'sticky cookie srv_id: a request without the cookie goes where round robin says and gets Set-Cookie with that server\'s id (MD5 of its address); one with the cookie goes to that server and gets the cookie again, on every response.',
    sticky: COOKIE,
    servers: [{ id: 'A' }, { id: 'B' }, { id: 'C' }],
    script: [plain(3), cookieFor('srv_id', 'C', 2), cookieFor('srv_id', 'A'), plain(3), req({ cookie: 'other=1; srv_id={B}; more=2' })],
  },
  {
    name: 'cookie-swrr-5-1-1',
    description:
      'Weights 5/1/1 and cookies for the light servers: a hinted pick runs the SWRR round with the hinted server as the winner (its current weight lowered by the total) until its current weight reaches -(total - weight), then it is taken without touching any weight; the plain picks after show the state it left.',
    sticky: COOKIE,
    servers: [{ id: 'A', weight: 5 }, { id: 'B' }, { id: 'C' }],
    script: [plain(7), cookieFor('srv_id', 'C', 4), plain(7), cookieFor('srv_id', 'B'), plain(4), cookieFor('srv_id', 'A', 2), plain(3)],
  },
  {
    name: 'cookie-down-unknown',
    description:
      'A cookie naming a down server, an unknown id, an id in upper case (ids compare byte for byte), an empty cookie value: round robin chooses, and the response sets the chosen server\'s id.',
    sticky: COOKIE,
    servers: [{ id: 'A' }, { id: 'B', down: true }, { id: 'C' }],
    script: [cookieFor('srv_id', 'B', 2), req({ cookie: 'srv_id=0123456789abcdef0123456789abcdef' }), req({ cookie: 'srv_id={C}' }), req({ cookie: 'srv_id=' }), req({ cookie: 'SRV_ID={A}' }), plain(2)],
  },
  {
    name: 'cookie-failed-reset',
    description:
      'A (max_fails=1) closes the connection on the first request, which names A: retried on round robin\'s choice, and the Set-Cookie names the server that answered. Later cookies for A: A is failed, round robin chooses.',
    sticky: COOKIE,
    servers: [{ id: 'A', answers: ['reset'] }, { id: 'B' }, { id: 'C' }],
    script: [cookieFor('srv_id', 'A', 3), plain(2)],
  },
  {
    name: 'cookie-failed-502',
    description:
      'proxy_next_upstream error timeout http_502; A (max_fails=2) answers 502 twice: each request naming A tries A first and moves on; after the second, A is failed and skipped by hint and round robin alike.',
    sticky: COOKIE,
    nextUpstream: 'error timeout http_502',
    servers: [{ id: 'A', maxFails: 2, answers: ['502', '502'] }, { id: 'B' }, { id: 'C' }],
    script: [cookieFor('srv_id', 'A', 3), plain(2)],
  },
  {
    name: 'cookie-full',
    description:
      'A (max_conns=1) holds a request; a cookie for A then goes elsewhere (full), and after the release to A again. A plain request while A is full skips it too.',
    sticky: COOKIE,
    servers: [{ id: 'A', maxConns: 1 }, { id: 'B' }, { id: 'C' }],
    script: [req({ cookie: 'srv_id={A}', hold: 'response' }), cookieFor('srv_id', 'A', 2), plain(1), release(1), cookieFor('srv_id', 'A', 2), plain(2)],
  },
  {
    name: 'cookie-backup',
    description:
      'A, B primaries, C backup: a cookie for C is not honoured while the primaries serve (the hint is looked up in the current tier only); once A and B refuse, the request falls to the backup tier, where the cookie for C names it.',
    sticky: COOKIE,
    servers: [{ id: 'A' }, { id: 'B' }, { id: 'C', backup: true }],
    script: [cookieFor('srv_id', 'C', 2), stop('A'), stop('B'), cookieFor('srv_id', 'C'), cookieFor('srv_id', 'A'), plain(1)],
  },
  {
    name: 'cookie-backup-weights',
    description:
      'The primary is down, so every request runs on the backup tier (C weight 3, D weight 1): cookies for D there run the backup tier\'s SWRR with D as the winner, and the plain picks after show the state it left; a cookie for the down primary is not honoured.',
    sticky: COOKIE,
    servers: [{ id: 'A', down: true }, { id: 'B', down: true }, { id: 'C', weight: 3, backup: true }, { id: 'D', backup: true }],
    script: [plain(4), cookieFor('srv_id', 'D', 3), plain(5), cookieFor('srv_id', 'A'), plain(2)],
  },
  {
    name: 'cookie-single-refused',
    description:
      'One server that refuses: every request gets nginx\'s 502 (a single server is never excluded), with or without a cookie naming it.',
    sticky: COOKIE,
    servers: [{ id: 'A', refusing: true }],
    script: [plain(1), cookieFor('srv_id', 'A'), start('A'), cookieFor('srv_id', 'A')],
  },
  {
    name: 'cookie-attributes',
    description:
      'sticky cookie srv_id expires=1h domain=.example.com path=/ httponly secure samesite=lax: the Set-Cookie bytes with every attribute, in nginx\'s order (expires and max-age relative to the response Date).',
    sticky: 'sticky cookie srv_id expires=1h domain=.example.com path=/ httponly secure samesite=lax;',
    servers: [{ id: 'A' }, { id: 'B' }],
    script: [plain(2), cookieFor('srv_id', 'A')],
  },
  {
    name: 'cookie-expires-max',
    description: 'sticky cookie route_id expires=max path=/app samesite=None: nginx\'s fixed 2037 expiry and max-age=315360000.',
    sticky: 'sticky cookie route_id expires=max path=/app samesite=None;',
    servers: [{ id: 'A' }, { id: 'B' }],
    script: [plain(2), cookieFor('route_id', 'B')],
  },
  {
    name: 'cookie-variables',
    description:
      'domain=$arg_dom samesite=$arg_ss: evaluated per request; an empty domain or samesite is left out, a samesite other than strict / lax / none (any case) becomes strict.',
    sticky: 'sticky cookie srv_id domain=$arg_dom samesite=$arg_ss;',
    servers: [{ id: 'A' }, { id: 'B' }],
    script: [
      req({ args: 'dom=example.org&ss=None' }),
      req({ args: 'dom=&ss=LAX' }),
      req({ args: 'ss=bogus' }),
      req({ args: 'dom=a.example&ss=' }),
      req({ cookie: 'srv_id={A}', args: 'ss=Strict' }),
    ],
  },
  // ---- drain
  {
    name: 'drain-cookie',
    description:
      'A (weight 5) drains: requests without a cookie never reach it; a cookie for A does (drain is not down for a hint). A hinted drained server is left out of the round (not reweighted) but still loses the total, until its current weight reaches -(total - weight).',
    sticky: COOKIE,
    servers: [{ id: 'A', weight: 5, drain: true }, { id: 'B' }, { id: 'C' }],
    script: [plain(4), cookieFor('srv_id', 'A', 3), plain(4), cookieFor('srv_id', 'B'), plain(2)],
  },
  {
    name: 'drain-max-conns',
    description: 'A drains with max_conns=1: a cookie for A reaches it; while that request is held, another cookie for A goes elsewhere (full); after the release, to A again.',
    sticky: COOKIE,
    servers: [{ id: 'A', drain: true, maxConns: 1 }, { id: 'B' }, { id: 'C' }],
    script: [req({ cookie: 'srv_id={A}', hold: 'response' }), cookieFor('srv_id', 'A', 2), release(1), cookieFor('srv_id', 'A'), plain(2)],
  },
  {
    name: 'drain-failures',
    description: 'A drains and closes the connection on its first request (max_fails=1): the cookie for A reaches it, the retry goes to round robin\'s choice, and A, now failed, is skipped by later cookies for it.',
    sticky: COOKIE,
    servers: [{ id: 'A', drain: true, answers: ['reset'] }, { id: 'B' }, { id: 'C' }],
    script: [cookieFor('srv_id', 'A', 3), plain(2)],
  },
  {
    name: 'drain-primary-backup',
    description: 'The only primary drains: requests without a cookie find no primary and go to the backup; a cookie for the drained primary reaches it.',
    sticky: COOKIE,
    servers: [{ id: 'A', drain: true }, { id: 'B', backup: true }],
    script: [plain(2), cookieFor('srv_id', 'A', 2), cookieFor('srv_id', 'B'), plain(1)],
  },
  {
    name: 'drain-backup-server',
    description: 'A refuses; the backup B drains: without a cookie, A fails and the backup tier has no server (no live upstreams); a cookie for B reaches B through the backup tier.',
    sticky: COOKIE,
    servers: [{ id: 'A', refusing: true }, { id: 'B', backup: true, drain: true }],
    script: [plain(1), cookieFor('srv_id', 'B', 2), plain(1)],
  },
  {
    name: 'drain-single',
    description: 'A single server that drains: a request without a cookie finds no live upstream (502); one with its cookie reaches it.',
    sticky: COOKIE,
    servers: [{ id: 'A', drain: true }],
    script: [plain(1), cookieFor('srv_id', 'A', 2), plain(1)],
  },
  // ---- route mode
  {
    name: 'route-arg-cookie',
    description:
      'sticky route $arg_route $cookie_route with route=a / route=b servers and one without route= (its id is the MD5 of its address): the first non-empty variable names the server; an unknown or down route lets round robin choose. Route mode sets no cookie.',
    sticky: 'sticky route $arg_route $cookie_route;',
    servers: [{ id: 'A', route: 'a' }, { id: 'B', route: 'b' }, { id: 'C' }, { id: 'D', route: 'd', down: true }],
    script: [
      req({ args: 'route=b', count: 2 }),
      req({ cookie: 'route=a' }),
      req({ args: 'route=b', cookie: 'route=a' }),
      req({ args: 'route=', cookie: 'route=a' }),
      req({ args: 'route={C}' }),
      req({ args: 'route=zzz' }),
      req({ args: 'route=d', count: 2 }),
      req({ cookie: 'route=B' }),
      plain(3),
    ],
  },
  {
    name: 'route-drain',
    description: 'sticky route $arg_route: A (route=a) drains: only requests naming route a reach it.',
    sticky: 'sticky route $arg_route;',
    servers: [{ id: 'A', route: 'a', drain: true }, { id: 'B', route: 'b' }, { id: 'C', route: 'c' }],
    script: [plain(3), req({ args: 'route=a', count: 2 }), req({ args: 'route=c' }), plain(2)],
  },
  // ---- learn mode
  {
    name: 'learn',
    description:
      'sticky learn create=$upstream_cookie_sess lookup=$cookie_sess zone=sess:1m: a backend that sets its own cookie sess creates a session on the server that answered; requests with that cookie follow it; an unknown session lets round robin choose and creates nothing; when the learned server refuses, the retry\'s server takes the session over.',
    sticky: LEARN,
    servers: [{ id: 'A' }, { id: 'B' }, { id: 'C' }],
    script: [
      req({ backendCookie: 'sess=s1' }),
      req({ cookie: 'sess=s1', count: 2 }),
      req({ backendCookie: 'sess=s2; path=/' }),
      req({ cookie: 'sess=s2' }),
      req({ cookie: 'sess=unknown', count: 2 }),
      req({ cookie: 'sess=s1' }),
      stop('A'),
      req({ cookie: 'sess=s1', count: 2 }),
      req({ cookie: 'sess=s2', backendCookie: 'sess=s1' }),
      req({ cookie: 'sess=s1' }),
    ],
  },
  {
    name: 'learn-timeout',
    description:
      'sticky learn ... timeout=1s: a session used again within the timeout is kept (its time renewed), one left unused for longer is removed and round robin chooses.',
    sticky: 'sticky learn create=$upstream_cookie_sess lookup=$cookie_sess zone=sess:1m timeout=1s;',
    servers: [{ id: 'A' }, { id: 'B' }, { id: 'C' }],
    script: [
      req({ backendCookie: 'sess=s1' }),
      wait(500),
      req({ cookie: 'sess=s1' }),
      wait(600),
      req({ cookie: 'sess=s1' }),
      wait(1600),
      req({ cookie: 'sess=s1', count: 2 }),
    ],
  },
  {
    name: 'learn-header',
    description:
      'sticky learn ... header: the session is learned when the response header arrives, so a request with the cookie sent while the first response\'s body is still coming already follows it.',
    sticky: 'sticky learn create=$upstream_cookie_sess lookup=$cookie_sess zone=sess:1m header;',
    servers: [{ id: 'A' }, { id: 'B' }, { id: 'C' }],
    script: [req({ backendCookie: 'sess=s1', hold: 'body' }), req({ cookie: 'sess=s1' }), release(1), req({ cookie: 'sess=s1', count: 2 }), plain(1)],
  },
  {
    name: 'learn-at-free',
    description:
      'The learn-header script without header: the session is learned only when the first request ends, so the request sent while its body is still coming goes where round robin says; after the end, the cookie is followed.',
    sticky: LEARN,
    servers: [{ id: 'A' }, { id: 'B' }, { id: 'C' }],
    script: [req({ backendCookie: 'sess=s1', hold: 'body' }), req({ cookie: 'sess=s1' }), release(1), req({ cookie: 'sess=s1', count: 2 }), plain(1)],
  },
  {
    name: 'learn-zone-full',
    description:
      'zone=sess:32k, the smallest zone nginx takes: 80 sessions fill it; s1 is used again (its time renewed), then creating s81 expires the least recently used session (s2) to make room, and a request with s2 goes where round robin says while s1, s3 and s80 are still followed.',
    sticky: 'sticky learn create=$upstream_cookie_sess lookup=$cookie_sess zone=sess:32k;',
    servers: [{ id: 'A' }, { id: 'B' }, { id: 'C' }],
    script: [
      ...creates(1, 80),
      req({ cookie: 'sess=s1' }),
      req({ backendCookie: 'sess=s81' }),
      req({ cookie: 'sess=s2' }),
      req({ cookie: 'sess=s3' }),
      req({ cookie: 'sess=s2' }),
      req({ cookie: 'sess=s1' }),
      req({ cookie: 'sess=s80' }),
      req({ cookie: 'sess=s81' }),
      req({ cookie: 'sess=s2' }),
    ],
  },
  // ---- other methods
  {
    name: 'least-conn-cookie',
    description:
      'least_conn: a cookie for the server holding a connection is honoured over the least-loaded choice (no current weight changes); requests without a cookie then follow least_conn.',
    method: 'least_conn;',
    sticky: COOKIE,
    servers: [{ id: 'A' }, { id: 'B' }, { id: 'C' }],
    script: [req({ hold: 'response' }), cookieFor('srv_id', 'A', 2), plain(3), release(1), cookieFor('srv_id', 'C'), plain(3)],
  },
  {
    name: 'hash-cookie',
    description: 'hash $arg_k: a cookie naming another server than the key\'s wins; without it the key decides; a cookie for a down server falls back to the key.',
    method: 'hash $arg_k;',
    sticky: COOKIE,
    servers: [{ id: 'A' }, { id: 'B' }, { id: 'C', down: true }],
    script: [req({ args: 'k=x', count: 2 }), req({ args: 'k=y', count: 2 }), req({ args: 'k=x', cookie: 'srv_id={B}' }), req({ args: 'k=x', cookie: 'srv_id={A}' }), req({ args: 'k=y', cookie: 'srv_id={C}' }), req({ args: 'k=x' })],
  },
  {
    name: 'ip-hash-cookie',
    description: 'ip_hash (every client is 127.0.0.1): a cookie naming another server than the address\'s wins; a cookie for a down server falls back to the address\'s server.',
    method: 'ip_hash;',
    sticky: COOKIE,
    servers: [{ id: 'A' }, { id: 'B' }, { id: 'C', down: true }],
    script: [plain(2), cookieFor('srv_id', 'A'), cookieFor('srv_id', 'B'), cookieFor('srv_id', 'C'), plain(1)],
  },
  {
    name: 'least-conn-drain',
    description: 'least_conn with A draining: requests without a cookie never reach A; a cookie for A does, even while A holds more connections than the others.',
    method: 'least_conn;',
    sticky: COOKIE,
    servers: [{ id: 'A', drain: true }, { id: 'B' }, { id: 'C' }],
    script: [plain(3), req({ cookie: 'srv_id={A}', hold: 'response' }), cookieFor('srv_id', 'A', 2), plain(2), release(4), cookieFor('srv_id', 'B'), plain(2)],
  },
  {
    name: 'hash-drain',
    description: 'hash $arg_k with B draining: a key that lands on B is hashed again (drain is down for the method); a cookie for B reaches it.',
    method: 'hash $arg_k;',
    sticky: COOKIE,
    servers: [{ id: 'A' }, { id: 'B', drain: true }, { id: 'C' }],
    script: [req({ args: 'k=x', count: 2 }), req({ args: 'k=y', count: 2 }), req({ args: 'k=z', count: 2 }), req({ args: 'k=x', cookie: 'srv_id={B}' }), req({ args: 'k=y', cookie: 'srv_id={B}' }), req({ args: 'k=x' })],
  },
  {
    name: 'chash-cookie',
    description: 'hash $arg_k consistent: a cookie for another server than the key\'s point wins; a cookie for a down server falls back to the ring.',
    method: 'hash $arg_k consistent;',
    sticky: COOKIE,
    canonicalPorts: true,
    servers: [{ id: 'A' }, { id: 'B' }, { id: 'C', down: true }],
    script: [req({ args: 'k=x', count: 2 }), req({ args: 'k=y', count: 2 }), req({ args: 'k=x', cookie: 'srv_id={A}' }), req({ args: 'k=x', cookie: 'srv_id={B}' }), req({ args: 'k=y', cookie: 'srv_id={C}' }), req({ args: 'k=x' })],
  },
  {
    name: 'drain-tries',
    description:
      'A drains, B and C refuse (max_fails=0 everywhere, nothing is excluded): the tries budget counts B and C only (drain is down for it), so a request whose cookie brings it to A tries A and one other server, and a request without a cookie tries B and C.',
    sticky: COOKIE,
    servers: [{ id: 'A', drain: true, maxFails: 0, answers: ['reset', 'reset'] }, { id: 'B', maxFails: 0, refusing: true }, { id: 'C', maxFails: 0, refusing: true }],
    script: [cookieFor('srv_id', 'A'), plain(1), cookieFor('srv_id', 'A'), plain(1), cookieFor('srv_id', 'A')],
  },
  {
    name: 'single-full',
    description: 'One server with max_conns=1 holding a request: a request with or without its cookie finds no live upstream; after the release both reach it.',
    sticky: COOKIE,
    servers: [{ id: 'A', maxConns: 1 }],
    script: [req({ hold: 'response' }), cookieFor('srv_id', 'A'), plain(1), release(1), cookieFor('srv_id', 'A'), plain(1)],
  },
];
