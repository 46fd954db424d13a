/**
 * `sticky`, `route=` and `drain` in the configuration (nginx 1.30): what the parser makes of them
 * (src/config/sticky.ts, variables.ts, upstream.ts), their typed errors with file, line and column,
 * `formatUpstream`'s text, explain's words and simulate's sessions. nginx's own verdicts on the
 * same directives are the nginx -t corpus (test/conformance/nginx-t/sticky-cases.ts).
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/cli';
import { ConfigError, InvalidOptionError } from '../../src/errors';
import { explain, renderExplanation } from '../../src/config/explain';
import { formatUpstream } from '../../src/config/format';
import { parseConfig, parseUpstreams, upstreamFromNginx } from '../../src/config/nginx';
import { plusNote } from '../../src/config/plus';
import { renderSimulation, simulate } from '../../src/config/simulate';
import type { StickyConfig } from '../../src/sticky/types';

const up = (body: string, after = '') => `http {\n    upstream u {\n        server 127.0.0.1:1;\n        server 127.0.0.1:2;\n        ${body}\n    }\n${after}}\n`;
const stickyOf = (body: string, after = '') => parseUpstreams(up(body, after))[0]!.sticky;

/** The ConfigError a parse throws, as plain fields. */
function failure(text: string, opts: Parameters<typeof parseConfig>[1] = {}): { reason: string; kind: string; line: number; column: number; value: unknown } {
  try {
    parseConfig(text, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    const c = e as ConfigError;
    return { reason: c.reason, kind: c.kind, line: c.line, column: c.column, value: c.value };
  }
  throw new Error('the parse did not fail');
}

const MD5 = { A: '9b5cdbb1c3e1a06da4bf0789b25fe38a', B: 'abf7a7b4e5522108bc46650d856ec400', C: '73c418f48cafa3c2b9f36efeb19875f8' };

describe('sticky: the three modes as StickyConfig', () => {
  it('cookie with every parameter; expires in seconds, max kept as max', () => {
    expect(stickyOf('sticky cookie srv_id expires=1h30m domain=.example.com path=/shop samesite=Lax secure httponly;')).toEqual({
      mode: 'cookie', name: 'srv_id', expires: 5400, domain: '.example.com', path: '/shop', samesite: 'Lax', secure: true, httponly: true,
    });
    expect(stickyOf('sticky cookie srv_id;')).toEqual({ mode: 'cookie', name: 'srv_id', secure: false, httponly: false });
    expect(stickyOf('sticky cookie s expires=max;')).toEqual({ mode: 'cookie', name: 's', expires: 'max', secure: false, httponly: false });
    expect(stickyOf('sticky cookie s expires=0 domain=$host samesite=$arg_ss;')).toEqual({ mode: 'cookie', name: 's', expires: 0, domain: '$host', samesite: '$arg_ss', secure: false, httponly: false });
  });

  it('route: the variables in order, as written', () => {
    expect(stickyOf('sticky route $arg_route $Cookie_Route;')).toEqual({ mode: 'route', variables: ['$arg_route', '$Cookie_Route'] });
  });

  it('learn: create and lookup in order, the zone in bytes, timeout in ms (default 10 min), header', () => {
    expect(stickyOf('sticky learn create=$upstream_cookie_a lookup=$cookie_a create=$upstream_http_b zone=sess:1m;')).toEqual({
      mode: 'learn', create: ['$upstream_cookie_a', '$upstream_http_b'], lookup: ['$cookie_a'], zone: { name: 'sess', size: 1048576 }, timeout: 600000, header: false,
    });
    expect(stickyOf('sticky learn create=$upstream_cookie_a lookup=$cookie_a zone=s:32k timeout=1500ms header;')).toEqual({
      mode: 'learn', create: ['$upstream_cookie_a'], lookup: ['$cookie_a'], zone: { name: 's', size: 32768 }, timeout: 1500, header: true,
    });
  });

  it('route= becomes ServerOptions.route; drain stays a flag; neither exists under 1.22', () => {
    const [u] = parseUpstreams('http { upstream u { server 127.0.0.1:1 route=a drain; server 127.0.0.1:2; } }');
    expect(u!.options.servers.map((s) => [(s as { route?: string }).route, s.drain])).toEqual([['a', true], [undefined, undefined]]);
    expect(failure('http { upstream u { server 127.0.0.1:1 route=a; } }', { nginx: '1.22' })).toMatchObject({ reason: 'invalid parameter "route=a"', line: 1 });
  });

  it('a balancing directive after sticky: nginx warns "load balancing method redefined" and keeps no sessions; the parse drops sticky with a note', () => {
    const r = parseConfig(up('sticky cookie s;\n        least_conn;'));
    expect(r.upstreams[0]!.sticky).toBeUndefined();
    expect(r.upstreams[0]!.options.method).toBe('least-conn');
    expect(r.warnings.map((w) => [w.kind, w.reason, w.line])).toEqual([
      ['nginx', 'load balancing method redefined', 6],
      ['note', '"least_conn" after "sticky": nginx replaces sticky\'s handler, so no sessions are kept; put "sticky" after the balancing method', 6],
    ]);
    // before it: no warning, sticky kept
    const before = parseConfig('http { upstream u { hash $remote_addr; server 127.0.0.1:1; sticky route $arg_r; } }');
    expect(before.warnings).toEqual([]);
    expect(before.upstreams[0]!.sticky).toEqual({ mode: 'route', variables: ['$arg_r'] });
    // keepalive (1.30) does not replace it
    expect(parseConfig(up('sticky cookie s;\n        keepalive 4;')).upstreams[0]!.sticky).toEqual({ mode: 'cookie', name: 's', secure: false, httponly: false });
  });
});

describe('sticky: nginx 1.30.4\'s errors, typed, at the directive', () => {
  const cases: [string, string, string][] = [
    ['sticky cookie a; sticky cookie b;', '"sticky" directive is duplicate', 'STICKY'],
    ['sticky lb a;', 'unknown parameter "lb"', 'STICKY'],
    ['sticky cookie "";', '"sticky" directive empty cookie name', 'STICKY'],
    ['sticky cookie a max_age=1;', 'unknown parameter "max_age=1"', 'STICKY'],
    ['sticky cookie a domain=;', '"sticky" directive no value for "domain"', 'STICKY'],
    ['sticky cookie a path=/ path=/x;', '"sticky" directive parameter "path" is duplicate', 'STICKY'],
    ['sticky cookie a expires=1s expires=1s;', '"sticky" directive parameter "expires" is duplicate', 'STICKY'],
    ['sticky cookie a expires=10ms;', '"sticky" directive invalid "expires" parameter value', 'STICKY'],
    ['sticky cookie a secure secure;', '"sticky" directive parameter "secure" is duplicate', 'STICKY'],
    ['sticky cookie a httponly httponly;', '"sticky" directive parameter "httponly" is duplicate', 'STICKY'],
    ['sticky cookie a samesite=strict samesite=lax;', '"sticky" directive parameter "samesite" is duplicate', 'STICKY'],
    ['sticky cookie a samesite=sometimes;', '"sticky" directive invalid "samesite" parameter value', 'STICKY'],
    ['sticky cookie a domain=a$;', 'invalid variable name', 'INVALID_VARIABLE'],
    ['sticky cookie a domain=${host;', 'the closing bracket in "host" variable is missing', 'INVALID_VARIABLE'],
    ['sticky route arg;', 'invalid variable name "arg"', 'INVALID_VARIABLE'],
    ['sticky route $;', 'invalid variable name "$"', 'INVALID_VARIABLE'],
    ['sticky learn create=$upstream_cookie_a lookup=$cookie_a zone=z:1m zone=y:1m;', '"sticky" directive duplicate zone', 'STICKY'],
    ['sticky learn create=$upstream_cookie_a lookup=$cookie_a zone=z;', '"sticky" directive zone size is not specified', 'STICKY'],
    ['sticky learn create=$upstream_cookie_a lookup=$cookie_a zone=:1m;', '"sticky" directive zone name is not specified', 'STICKY'],
    ['sticky learn create=$upstream_cookie_a lookup=$cookie_a zone=z:1x;', '"sticky" directive invalid zone size', 'STICKY'],
    ['sticky learn create=$upstream_cookie_a lookup=$cookie_a zone=z:16k;', '"sticky" directive zone is too small', 'STICKY'],
    ['sticky learn create=$upstream_cookie_a lookup=$cookie_a zone=z:1m timeout=1s timeout=2s;', '"sticky" directive duplicate timeout', 'STICKY'],
    ['sticky learn create=$upstream_cookie_a lookup=$cookie_a zone=z:1m timeout=0;', '"sticky" directive invalid timeout', 'STICKY'],
    ['sticky learn create=a lookup=$cookie_a zone=z:1m;', '"sticky" directive missing variable in the "create" parameter', 'STICKY'],
    ['sticky learn create=$upstream_cookie_a lookup=cookie_a zone=z:1m;', '"sticky" directive missing variable in the "lookup" parameter', 'STICKY'],
    ['sticky learn create=$ lookup=$cookie_a zone=z:1m;', 'invalid variable name "$"', 'INVALID_VARIABLE'],
    ['sticky learn create=$upstream_cookie_a zone=z:1m;', '"sticky" directive "lookup" parameter is not specified', 'STICKY'],
    ['sticky learn lookup=$cookie_a zone=z:1m;', '"sticky" directive "create" parameter is not specified', 'STICKY'],
    ['sticky learn lookup=$cookie_a create=$upstream_cookie_a;', '"sticky" directive "zone" parameter is not specified', 'STICKY'],
    ['sticky learn create=$upstream_cookie_a lookup=$cookie_a zone=z:1m sync;', 'unknown parameter "sync"', 'STICKY'],
    ['sticky cookie;', 'invalid number of arguments in "sticky" directive', 'ARGS'],
  ];
  it.each(cases)('%s -> %s', (line, reason, kind) => {
    const f = failure(`http {\n  upstream u {\n    server 127.0.0.1:1;\n    ${line}\n  }\n}\n`);
    // nginx's line is the terminator's; the column is the directive's (the second sticky's for the duplicate)
    expect(f).toMatchObject({ reason, kind, line: 4, column: line.startsWith('sticky cookie a; sticky') ? 22 : 5 });
  });

  it('the zone: one upstream per zone, one use per name, one size', () => {
    const two = (a: string, b: string) => `http {\n  upstream a { server 127.0.0.1:1; ${a} }\n  upstream b { server 127.0.0.1:1; ${b} }\n}\n`;
    const learn = (zone: string) => `sticky learn create=$upstream_cookie_s lookup=$cookie_s zone=${zone};`;
    expect(failure(two(learn('z:1m'), learn('z:1m')))).toMatchObject({ reason: 'sticky zone "z" is already used in upstream "a"', kind: 'ZONE', line: 3, value: 'z' });
    expect(failure(two(learn('z:1m'), learn('z:2m')))).toMatchObject({ reason: 'the size 2097152 of shared memory zone "z" conflicts with already declared size 1048576', line: 3 });
    expect(failure(two('zone z 64k;', learn('z:64k')))).toMatchObject({ reason: 'the shared memory zone "z" is already declared for a different use', line: 3 });
    expect(failure(two(learn('z:64k'), 'zone z;'))).toMatchObject({ reason: 'the shared memory zone "z" is already declared for a different use', line: 3 });
    expect(parseUpstreams(two(learn('za:1m'), learn('zb:1m'))).map((u) => (u.sticky as { zone: unknown }).zone)).toEqual([{ name: 'za', size: 1048576 }, { name: 'zb', size: 1048576 }]);
  });

  it('1.22 and stream: nginx\'s own messages; outside an upstream: not allowed here', () => {
    expect(failure(up('sticky cookie a;'), { nginx: '1.22' })).toMatchObject({ reason: 'unknown directive "sticky"', kind: 'UNKNOWN_DIRECTIVE', line: 5 });
    expect(failure('stream { upstream u { server 127.0.0.1:1; sticky cookie a; } }')).toMatchObject({ reason: '"sticky" directive is not allowed here', kind: 'NOT_ALLOWED' });
    expect(failure('http { server { location / { sticky cookie a; } } }')).toMatchObject({ reason: '"sticky" directive is not allowed here', kind: 'NOT_ALLOWED' });
    expect(failure('http { sticky cookie a; }', { nginx: '1.22' })).toMatchObject({ reason: 'unknown directive "sticky"' });
  });
});

describe('sticky: the variables it names must exist when the http block ends', () => {
  it('built-in, prefix and defined variables are known; nginx lowercases names', () => {
    expect(stickyOf('sticky route $remote_addr $request_id $Arg_X $http_x_a $upstream_cookie_b $sent_http_c $ssl_session_id;')).toMatchObject({ mode: 'route' });
    for (const after of [
      '    map $uri $from_map { default a; }\n',
      '    geo $remote_addr $from_map { default a; }\n',
      '    split_clients $remote_addr $from_map { 50% a; * b; }\n',
      '    server { listen 127.0.0.1:8080; location / { set $FROM_MAP a; } }\n',
      '    server { listen 127.0.0.1:8080; location ~ ^/(?<from_map>x) { } }\n',
      '    server { listen 127.0.0.1:8080; location ~ ^/(?P<from_map>x) { } }\n',
      "    map $uri $m { ~^/(?'from_map'x) 1; }\n",
    ]) {
      expect(stickyOf('sticky route $from_map;', after), after).toEqual({ mode: 'route', variables: ['$from_map'] });
    }
  });

  it('an unknown one: nginx\'s message (it prints no location; ours points at the variable), after the upstream checks', () => {
    expect(failure(up('sticky route $arg_a $NoSuch $other;'))).toEqual({ reason: 'unknown "nosuch" variable', kind: 'UNKNOWN_VARIABLE', line: 5, column: 29, value: 'nosuch' });
    expect(failure(up('sticky cookie a domain=$nope;'))).toMatchObject({ reason: 'unknown "nope" variable' });
    expect(failure(up('sticky learn create=$upstream_cookie_s lookup=$gone zone=z:1m;'))).toMatchObject({ reason: 'unknown "gone" variable' });
    // init_main_conf (no servers in upstream) runs before the variables are checked
    expect(failure('http { upstream u { server 127.0.0.1:1 backup; sticky route $nosuch; } }')).toMatchObject({ reason: 'no servers in upstream "u"' });
    // a stream map defines a stream variable, not an http one
    expect(failure(`stream { map $remote_addr $sv { default a; } }\n${up('sticky route $sv;')}`)).toMatchObject({ reason: 'unknown "sv" variable' });
  });

  it('a conf.d fragment cannot see the rest: a note instead of the error; a loaded module skips the check', () => {
    const r = parseConfig('upstream u { server 127.0.0.1:1; sticky route $from_elsewhere; }\n', { fragment: 'http', filename: 'u.conf' });
    expect(r.upstreams[0]!.sticky).toEqual({ mode: 'route', variables: ['$from_elsewhere'] });
    expect(r.warnings.map((w) => [w.kind, w.reason, w.line])).toEqual([
      ['note', 'variable "$from_elsewhere" is not defined in the files read: nginx says unknown "from_elsewhere" variable unless another part of the configuration defines it', 1],
    ]);
    expect(parseConfig(`load_module modules/ngx_http_js_module.so;\n${up('sticky route $from_js;')}`).upstreams[0]!.sticky).toEqual({ mode: 'route', variables: ['$from_js'] });
  });

  it('lenient mode: every problem, nginx\'s first', () => {
    const r = parseConfig(up('sticky route x;\n        sticky cookie a;'), { lenient: true });
    expect(r.errors.map((e) => e.reason)).toEqual(['invalid variable name "x"', '"sticky" directive is duplicate']);
  });
});

describe('sticky: NGINX Plus names', () => {
  it('sync of sticky learn is Plus only; sticky itself is Plus and open source since 1.29.6', () => {
    expect(plusNote('unknown parameter "sync"', '1.30')).toBe('the "sync" parameter of "sticky learn" is valid in NGINX Plus (zone_sync), not in open-source nginx');
    expect(plusNote('unknown directive "sticky"', '1.22')).toBe('"sticky" is valid in NGINX Plus and since open-source nginx 1.29.6 (http upstreams only), not in open-source nginx 1.22');
  });
});

describe('formatUpstream writes sticky and route=', () => {
  const servers = [{ address: '127.0.0.1:1', route: 'a' }, { address: '127.0.0.1:2', drain: true }] as Parameters<typeof formatUpstream>[1]['servers'];
  it('after the balancing directive, each mode with its parameters', () => {
    const cookie: StickyConfig = { mode: 'cookie', name: 'srv id', expires: 5400, domain: '$host', path: '/', samesite: 'lax', secure: true, httponly: true };
    expect(formatUpstream('u', { method: 'least-conn', servers }, { wrap: 'http', sticky: cookie })).toBe(
      'http {\n    upstream u {\n        least_conn;\n        server 127.0.0.1:1 route=a;\n        server 127.0.0.1:2 drain;\n        sticky cookie "srv id" expires=1h30m domain=$host path=/ samesite=lax secure httponly;\n    }\n}\n',
    );
    expect(formatUpstream('u', { servers }, { sticky: { mode: 'route', variables: ['$arg_r', '$cookie_r'] } })).toBe(
      'upstream u {\n    server 127.0.0.1:1 route=a;\n    server 127.0.0.1:2 drain;\n    sticky route $arg_r $cookie_r;\n}\n',
    );
    const learn: StickyConfig = { mode: 'learn', create: ['$upstream_cookie_s'], lookup: ['$cookie_s'], zone: { name: 'z', size: 1536 * 1024 }, timeout: 90_500, header: true };
    expect(formatUpstream('u', { servers: [{ address: '127.0.0.1:1' }] }, { sticky: learn })).toBe(
      'upstream u {\n    server 127.0.0.1:1;\n    sticky learn create=$upstream_cookie_s lookup=$cookie_s zone=z:1536k timeout=90500ms header;\n}\n',
    );
    expect(formatUpstream('u', { servers: [{ address: '127.0.0.1:1' }] }, { sticky: { ...learn, zone: { name: 'z', size: 32768 + 1 }, timeout: 600_000, header: false } })).toBe(
      'upstream u {\n    server 127.0.0.1:1;\n    sticky learn create=$upstream_cookie_s lookup=$cookie_s zone=z:32769;\n}\n',
    );
  });

  it('what nginx cannot express: typed errors naming the option', () => {
    const bad = (sticky: unknown, o: object = {}, wrap?: 'http' | 'stream') => {
      try {
        formatUpstream('u', { servers: [{ address: '127.0.0.1:1' }], ...o }, { sticky: sticky as StickyConfig, ...(wrap ? { wrap } : {}) });
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidOptionError);
        return (e as InvalidOptionError).option;
      }
      return 'no error';
    };
    expect(bad({ mode: 'cookie', name: 'a', secure: false, httponly: false }, { nginx: '1.22' })).toBe('sticky');
    expect(bad({ mode: 'cookie', name: 'a', secure: false, httponly: false }, {}, 'stream')).toBe('sticky');
    expect(bad({ mode: 'cookie', name: '', secure: false, httponly: false })).toBe('sticky.name');
    expect(bad({ mode: 'cookie', name: 'a', expires: 1.5, secure: false, httponly: false })).toBe('sticky.expires');
    expect(bad({ mode: 'cookie', name: 'a', samesite: 'loose', secure: false, httponly: false })).toBe('sticky.samesite');
    expect(bad({ mode: 'route', variables: ['arg_r'] })).toBe('sticky.variables[0]');
    expect(bad({ mode: 'route', variables: [] })).toBe('sticky.variables');
    expect(bad({ mode: 'learn', create: ['$a'], lookup: ['$b'], zone: { name: 'z', size: 4096 }, timeout: 1, header: false })).toBe('sticky.zone.size');
    expect(bad({ mode: 'learn', create: ['$a'], lookup: ['$b'], zone: { name: 'z:y', size: 32768 }, timeout: 1, header: false })).toBe('sticky.zone.name');
    expect(bad({ mode: 'learn', create: ['$a'], lookup: ['$b'], zone: { name: 'z', size: 32768 }, timeout: 0, header: false })).toBe('sticky.timeout');
    expect(bad({ mode: 'ring' })).toBe('sticky.mode');
    expect(bad(undefined, { servers: [{ address: '127.0.0.1:1', route: 'r'.repeat(33) }] })).toBe('servers[0].route');
    expect(bad(undefined, { nginx: '1.22', servers: [{ address: '127.0.0.1:1', route: 'r' }] })).toBe('servers[0].route');
  });
});

describe('explain: sessions in words', () => {
  const conf = 'http {\n  upstream shop {\n    server 127.0.0.1:1 route=a;\n    server 127.0.0.1:2 drain;\n    server 127.0.0.1:3;\n    sticky cookie srv_id expires=1h httponly;\n  }\n}\n';
  it('the cookie, the session ids, drain', () => {
    const u = explain(conf).upstreams[0]!;
    expect(u.servers.map((s) => [s.label, s.role, s.sid, s.share])).toEqual([
      ['A', 'primary', 'a', 50],
      ['B', 'draining', MD5.B, 0],
      ['C', 'primary', MD5.C, 50],
    ]);
    expect(u.sticky).toBe(
      'cookie "srv_id": a request carrying it names a server by its session id (route= or the MD5 of its address): the request goes to the server with that session id if it is usable (not down, not failed, not at max_conns, not already tried by this request; a draining server still counts as usable), else the balancing method chooses; ' +
        "a response from a server whose id differs from the cookie (or without one) sets srv_id=<that server's id>, expires in 1h (expires= and max-age=3600); httponly; draining servers take only requests whose session names them, never a new session",
    );
    const text = renderExplanation(explain(conf));
    expect(text).toContain(`    B 127.0.0.1:2: session id ${MD5.B} (MD5 of the address), draining\n`);
    expect(text).toContain('    A 127.0.0.1:1: session id a (route=)\n');
  });

  it('route and learn', () => {
    expect(explain(up('sticky route $arg_r $cookie_r;')).upstreams[0]!.sticky).toBe(
      'route: the first non-empty of $arg_r, $cookie_r names a server by its session id (route= or the MD5 of its address): the request goes to the server with that session id if it is usable (not down, not failed, not at max_conns, not already tried by this request; a draining server still counts as usable), else the balancing method chooses; nothing is set in the response',
    );
    expect(explain(up('sticky learn create=$upstream_cookie_s lookup=$cookie_s zone=z:1m timeout=1h header;')).upstreams[0]!.sticky).toBe(
      'learn: $cookie_s of a request is looked up in zone "z" (1 MB); a known session names its server: the request goes to the server with that session id if it is usable (not down, not failed, not at max_conns, not already tried by this request; a draining server still counts as usable), else the balancing method chooses; ' +
        'when the response header arrives, $upstream_cookie_s (from the response) is remembered as a session of the server that answered; a session unused for 60 min is forgotten, and when the zone is full the oldest sessions go first',
    );
    expect(explain(up('')).upstreams[0]!.sticky).toBeNull();
  });
});

describe('simulate: clients that keep their cookie', () => {
  const o = upstreamFromNginx('http { upstream u { server 127.0.0.1:1; server 127.0.0.1:2; server 127.0.0.1:3 drain; sticky cookie srv_id; } }');

  it('each client stays on the server its cookie names; a failure moves it and the response sets the new id', () => {
    const r = simulate(o.options, { connections: 8, failures: [{ server: 'A', fromS: 3, toS: 5 }], sessions: { clients: 3, cookie: 'srv_id' } });
    expect(r.connections.map((c) => [c.tries.map((t) => t.id.slice(-1) + (t.ok ? '' : '!')).join(' '), c.session])).toEqual([
      ['1', { client: 1, sent: null, hinted: false, set: MD5.A }],
      ['2', { client: 2, sent: null, hinted: false, set: MD5.B }],
      ['1', { client: 3, sent: null, hinted: false, set: MD5.A }],
      ['1! 2', { client: 1, sent: MD5.A, hinted: false, set: MD5.B }],
      ['2', { client: 2, sent: MD5.B, hinted: true, set: null }],
      ['2', { client: 3, sent: MD5.A, hinted: false, set: MD5.B }],
      ['2', { client: 1, sent: MD5.B, hinted: true, set: null }],
      ['2', { client: 2, sent: MD5.B, hinted: true, set: null }],
    ]);
    expect(r.sessions).toEqual({ cookie: 'srv_id', clients: 3 });
    expect(r.shares.map((s) => [s.label, s.sid, s.count])).toEqual([['A', MD5.A, 2], ['B', MD5.B, 6], ['C', MD5.C, 0]]);
    const text = renderSimulation(r);
    expect(text).toContain('  sessions: 3 clients keep the srv_id cookie (sent / set: the server its session id names)\n');
    expect(text).toContain('     3.000s    4  A! B         client 1   sent A   set B   B 127.0.0.1:2\n');
  });

  it('a draining server gets no new session: clients without a cookie never reach it', () => {
    const b = upstreamFromNginx('http { upstream u { server 127.0.0.1:1; server 127.0.0.1:2; } }');
    const before = simulate(b.options, { connections: 2, sessions: { clients: 2 } });
    expect(before.connections.map((c) => c.server)).toEqual(['127.0.0.1:1', '127.0.0.1:2']);
    const drained = { ...b.options, servers: b.options.servers.map((s, i) => (i === 1 ? { ...s, drain: true } : s)) };
    const r = simulate(drained, { connections: 4, sessions: { clients: 4 } });
    expect(r.connections.map((c) => [c.server, c.session!.set])).toEqual([1, 2, 3, 4].map(() => ['127.0.0.1:1', MD5.A]));
  });

  it('typed errors for bad sessions, and none with nginx 1.22', () => {
    expect(() => simulate(o.options, { sessions: { clients: 0 } })).toThrow(InvalidOptionError);
    expect(() => simulate(o.options, { sessions: { clients: 1.5 } })).toThrow(/sessions\.clients/);
    expect(() => simulate(o.options, { sessions: { clients: 2, cookie: '' } })).toThrow(/sessions\.cookie/);
    expect(() => simulate(o.options, { sessions: null as never })).toThrow(/sessions/);
    expect(() => simulate({ ...o.options, nginx: '1.22', servers: [{ address: '127.0.0.1:1' }] }, { sessions: { clients: 2 } })).toThrow(/nginx 1\.22/);
  });
});

describe('explain findings and the command line', () => {
  it('sticky disabled by a later method, drain and route= without sticky', () => {
    const ex = explain('http {\n  upstream shop {\n    server 127.0.0.1:1 route=a;\n    server 127.0.0.1:2 drain;\n    sticky cookie s;\n    least_conn;\n  }\n}\n', { filename: 'shop.conf' });
    expect(ex.findings.map((f) => [f.id, f.title])).toEqual([
      ['sticky-disabled', 'upstream "shop": sticky does nothing (shop.conf:6)'],
      ['drain-without-sticky', 'upstream "shop" (shop.conf:2): 127.0.0.1:2 drains with no sticky sessions'],
      ['route-without-sticky', 'upstream "shop" (shop.conf:2): route= without sticky sessions'],
    ]);
    expect(explain(up('sticky cookie s;').replace('server 127.0.0.1:2;', 'server 127.0.0.1:2 drain route=b;')).findings).toEqual([]);
  });

  it('simulate --clients: sessions in the text and the JSON, the cookie named after the sticky cookie', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ub-sticky-cli-'));
    try {
      const file = join(dir, 'shop.conf');
      writeFileSync(file, 'http { upstream shop { server 127.0.0.1:1; server 127.0.0.1:2; sticky cookie srv_id; } }\n');
      const cli = (...args: string[]) => {
        let out = '';
        let err = '';
        const code = run(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), isTTY: false, env: {}, version: '9.9.9' });
        return { code, out, err };
      };
      const text = cli('simulate', file, '--clients', '2', '--connections', '3');
      expect(text.code).toBe(0);
      expect(text.out).toContain('  sessions: 2 clients keep the srv_id cookie (sent / set: the server its session id names)\n');
      expect(text.out).toContain('     2.000s    3  A            client 1   sent A   set -   A 127.0.0.1:1\n');
      const json = JSON.parse(cli('simulate', file, '--clients', '2', '--connections', '3', '--json').out) as { connections: { session: unknown }[] };
      expect(json.connections.map((c) => c.session)).toEqual([
        { client: 1, sent: null, hinted: false, set: MD5.A },
        { client: 2, sent: null, hinted: false, set: MD5.B },
        { client: 1, sent: MD5.A, hinted: true, set: null },
      ]);
      expect(cli('simulate', file, '--clients', '0').code).toBe(2);
      expect(cli('explain', file, '--clients', '2').err).toContain('--clients are for simulate');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
