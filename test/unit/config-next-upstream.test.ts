/**
 * `*_pass` and `*_next_upstream*` where an upstream is used (src/config/upstream-use.ts): nginx's
 * merge (each setting from the innermost block that sets it, wherever in the outer block it is
 * written; a bitmask set twice in one block accumulates), each module's own values, and the words
 * `explain` gives. nginx's messages for bad values are in the nginx -t corpus (verdicts.json).
 */

import { describe, expect, it } from 'vitest';
import { explain, renderExplanation } from '../../src/config/explain';
import { parseConfig } from '../../src/config/nginx';

const conf = `http {
    upstream app { server 127.0.0.1:1; server 127.0.0.1:2; }
    upstream other { server 127.0.0.1:3; }
    server {
        listen 80;
        location / { proxy_pass http://app; }
        location /api {
            proxy_next_upstream http_404 HTTP_404;
            proxy_next_upstream non_idempotent;
            proxy_pass http://APP/v1;
            location /api/slow { proxy_next_upstream_timeout 30s; proxy_pass http://app; }
        }
        location /g { grpc_pass grpc://app; }
        location /m { set $memcached_key $uri; memcached_pass app; memcached_next_upstream not_found invalid_response; }
        location /var { proxy_pass http://$host; }
        location /port { proxy_pass http://app:8080; }
        proxy_next_upstream_tries 3;
    }
    proxy_next_upstream error timeout http_502;
}
stream {
    upstream s { server 127.0.0.1:4; }
    proxy_next_upstream off;
    server { listen 25; proxy_pass s; proxy_next_upstream_timeout 2s; }
}
`;

describe('parseConfig(...).uses', () => {
  const r = parseConfig(conf, { lenient: true });
  const rows = r.uses.map((u) => [u.upstream, u.directive, u.line, u.where.join(' > '), u.nextUpstream.conditions.join(' '), u.nextUpstream.tries, u.nextUpstream.timeout]);

  it('each pass with the settings merged from its blocks, in file order; variables and ports name no upstream', () => {
    expect(rows).toEqual([
      ['app', 'proxy_pass', 6, 'http > server (nginx.conf:4) > location /', 'error timeout http_502', 3, 0],
      ['app', 'proxy_pass', 10, 'http > server (nginx.conf:4) > location /api', 'http_404 non_idempotent', 3, 0],
      ['app', 'proxy_pass', 11, 'http > server (nginx.conf:4) > location /api > location /api/slow', 'http_404 non_idempotent', 3, 30_000],
      ['app', 'grpc_pass', 13, 'http > server (nginx.conf:4) > location /g', 'error timeout', 0, 0],
      ['app', 'memcached_pass', 14, 'http > server (nginx.conf:4) > location /m', 'http_404 invalid_header', 0, 0],
      ['s', 'proxy_pass', 24, 'stream > server (nginx.conf:24)', 'off', 0, 2000],
    ]);
    expect(r.uses[1]!.setAt).toEqual({ conditions: { file: 'nginx.conf', line: 9, column: 13 }, tries: { file: 'nginx.conf', line: 17, column: 9 }, timeout: null });
  });

  it('a repeated value is nginx\'s warning, not an error', () => {
    expect(r.errors).toEqual([]);
    expect(r.warnings.map((w) => [w.reason, w.line, w.kind])).toEqual([['duplicate value "HTTP_404"', 8, 'nginx']]);
  });

  it('bad values are nginx\'s errors', () => {
    const bad = (body: string) => parseConfig(`http { upstream u { server 127.0.0.1:1; } server { listen 80; location / { proxy_pass http://u; ${body} } } }`, { lenient: true }).errors.map((e) => e.message);
    expect(bad('proxy_next_upstream error http_501;')).toEqual(['invalid value "http_501" in nginx.conf:1']);
    expect(bad('fastcgi_next_upstream http_502;')).toEqual(['invalid value "http_502" in nginx.conf:1']);
    expect(bad('proxy_next_upstream_tries x;')).toEqual(['"proxy_next_upstream_tries" directive invalid number in nginx.conf:1']);
    expect(bad('proxy_next_upstream_timeout 1s; proxy_next_upstream_timeout 2s;')).toEqual(['"proxy_next_upstream_timeout" directive is duplicate in nginx.conf:1']);
  });
});

describe('explain: the retry policy where an upstream is used', () => {
  const ex = explain(conf);
  const app = ex.upstreams.find((u) => u.name === 'app')!;

  it('says which outcomes move on and which count against max_fails', () => {
    expect(app.uses.map((x) => x.where)).toHaveLength(5);
    expect(app.uses[0]).toMatchObject({
      directive: 'proxy_pass http://app',
      nextUpstream: 'error timeout http_502',
      retries: ['connection errors (refused, reset, closed before a full response header)', 'timeouts (connect, send, response header)', 'status 502'],
      counts: [
        'connection errors, timeouts and invalid headers, always (retried or not)',
        'status 502, only when the request moves on (on the last try the response is passed to the client and not counted)',
      ],
    });
    expect(app.uses[1]!.retries).toEqual(['status 404 (not counted as a failure)']);
    expect(app.uses[1]!.notes).toContain('a failed connection is not retried: the client gets 502, and the failure still counts');
    expect(app.uses[1]!.notes).toContain('POST, LOCK and PATCH requests are retried like the others (non_idempotent)');
    const s = ex.upstreams.find((u) => u.name === 's')!;
    expect(s.uses[0]).toMatchObject({ nextUpstream: 'off', retries: [] });
    expect(s.uses[0]!.notes).toEqual(['no further server once 2 s have passed since the connection started (proxy_next_upstream_timeout)', 'a failed connect is not retried: the client is closed']);
    expect(ex.upstreams.find((u) => u.name === 'other')!.uses).toEqual([]);
  });

  it('renders one block per use', () => {
    const text = renderExplanation(ex);
    expect(text).toContain('  used by proxy_pass http://APP/v1 (nginx.conf:10, http > server (nginx.conf:4) > location /api): next upstream http_404 non_idempotent\n    moves on to the next server after: status 404 (not counted as a failure)\n');
  });
});
