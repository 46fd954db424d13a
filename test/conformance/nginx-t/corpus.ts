/**
 * The differential corpus: configuration snippets judged by real `nginx -t` (record.ts) and by our
 * parser (replay.test.ts). Hand-written cases cover every message the parser produces; generated
 * cases (a seeded generator, so the corpus is stable) mix server parameters, time values, balancing
 * directives and block structure.
 *
 * Each snippet is `snippet.conf`, included from a wrapper that loads the stream module and adds
 * `events {}` (unless `noEvents`), so nginx reports the snippet's own file and lines. Only IP
 * addresses and `localhost` are used (nginx resolves names while loading), hash keys use
 * `$remote_addr` (the parser checks only the variables `sticky` names: sticky-cases.ts), and nothing outside `upstream` blocks
 * uses a directive the parser does not model. The check module is absent from stock nginx, so the
 * replay runs with `checkModule: false`.
 */

import { readFileSync } from 'node:fs';
import { seededRandom } from '../../../src/clock';
import { STICKY_CASES, STICKY_DIFFERENCES } from './sticky-cases';

export interface CorpusCase {
  id: string;
  /** `snippet.conf` and any included files, by path relative to the configuration prefix. */
  files: Record<string, string>;
  /** The snippet brings its own `events {}` (the vendor guide's configs). */
  noEvents?: boolean;
  /**
   * A series whose recorded binary lacks a module the case needs, and why: the case is not run
   * against that binary (nothing is recorded for it) and the replay lists it as not recorded.
   */
  unbuilt?: { series: '1.30'; why: string };
}

/** The stock 1.30.4 build (`shared/nginx/build.sh stock`) has no http_v2 module, hence no grpc module. */
const NO_GRPC_130 = { unbuilt: { series: '1.30', why: 'build.sh stock configures no --with-http_v2_module, so nginx 1.30.4 there has no grpc module' } } as const;

const S = 'snippet.conf';
const one = (id: string, text: string, extra: Omit<CorpusCase, 'id' | 'files'> = {}): CorpusCase => ({ id, files: { [S]: text }, ...extra });
const http = (body: string) => `http {\n    upstream u {\n${body}\n    }\n}\n`;
const stream = (body: string) => `stream {\n    upstream u {\n${body}\n    }\n}\n`;

/** The vendor guide's configurations (seed 000), with `user nginx;` commented out (no such user here). */
export const GUIDE_FAILOVER = `user nginx;
worker_processes auto;
error_log /var/log/nginx/error.log;
pid /run/nginx.pid;
# Load dynamic modules. See /usr/share/nginx/README.dynamic.
include /usr/share/nginx/modules/*.conf;
events {
worker_connections 1024;
upstream cluster_mdemailsecurity_smtp {
server mdemailsecurity1.example.com:10025 max_fails=3 fail_timeout=3s;
server mdemailsecurity2.example.com:10025 backup;
server {
listen 10025;
proxy_pass cluster_mdemailsecurity_smtp;
`;
export const GUIDE_WEIGHTED = `user nginx;
worker_processes auto;
error_log /var/log/nginx/error.log;
pid /run/nginx.pid;
# Load dynamic modules. See /usr/share/nginx/README.dynamic.
include /usr/share/nginx/modules/*.conf;
events {
worker_connections 1024;
upstream cluster_mdemailsecurity_smtp {
server mdemailsecurity1.example.com:10025 weight=1;
server mdemailsecurity2.example.com:10025 weight=4;
server {
listen 10025;
proxy_pass cluster_mdemailsecurity_smtp;
`;
export const GUIDE_MAINTENANCE = `upstream cluster_mdemailsecurity_smtp {
server mdemailsecurity1.example.com:10025 max_fails=3 fail_timeout=3s down;
server mdemailsecurity2.example.com:10025 backup;
check interval=5000 rise=2 fall=5 timeout=2000 type=smtp;
`;

const noUser = (t: string) => t.replace('user nginx;', '#ser nginx;');
const ips = (t: string) => t.replace('mdemailsecurity1.example.com', '127.0.0.1').replace('mdemailsecurity2.example.com', '127.0.0.2');

const hand: CorpusCase[] = [
  // --- valid basics
  one('http-basic', http('        server 127.0.0.1:8080;')),
  one('stream-basic', stream('        server 127.0.0.1:10025;')),
  one('http-default-port', http('        server 127.0.0.1;')),
  one('http-all-params', http('        server 127.0.0.1:8080 weight=5 max_fails=3 fail_timeout=30s max_conns=100;\n        server 127.0.0.1:8081 backup;\n        server 127.0.0.1:8082 down;')),
  one('stream-all-params', stream('        server 127.0.0.1:25 weight=2 max_fails=0 fail_timeout=0 max_conns=7;\n        server 127.0.0.1:26 backup weight=3;\n        server 127.0.0.1:27 down;')),
  one('stream-failover-corrected', 'stream {\n    upstream smtp_backend {\n        server 127.0.0.1:10025 max_fails=3 fail_timeout=3s;\n        server 127.0.0.1:10026 backup;\n    }\n    server {\n        listen 10025;\n        proxy_pass smtp_backend;\n    }\n}\n'),
  one('stream-weighted-corrected', 'stream {\n    upstream smtp_backend {\n        server 127.0.0.1:10025 weight=1;\n        server 127.0.0.1:10026 weight=4;\n    }\n    server {\n        listen 10025;\n        proxy_pass smtp_backend;\n    }\n}\n'),
  one('unix-socket', http('        server unix:/tmp/backend.sock;')),
  one('unix-socket-stream', stream('        server unix:/tmp/backend.sock weight=2;')),
  one('ipv6', http('        server [::1]:8080;\n        server [::1];')),
  one('ipv6-stream', stream('        server [::1]:25;')),
  one('localhost', http('        server localhost:8080;')),
  one('two-upstreams', 'http {\n    upstream a { server 127.0.0.1:1; }\n    upstream b { server 127.0.0.1:2; server 127.0.0.1:3 backup; }\n}\nstream {\n    upstream a { server 127.0.0.1:4; }\n}\n'),
  one('same-name-http-stream', 'http { upstream same { server 127.0.0.1:1; } }\nstream { upstream same { server 127.0.0.1:1; } }\n'),
  one('comments', '# top comment\nhttp { # after brace\n    upstream u { # x } y {\n        server 127.0.0.1:1; # server 127.0.0.1:2 weight=0;\n    }\n}\n'),
  one('quoted-args', 'http {\n    upstream "u" {\n        server \'127.0.0.1:80\' "weight=3" \'max_fails=2\';\n    }\n}\n'),
  one('quoted-time-with-space', http('        server 127.0.0.1:80 "fail_timeout=1h 30m";')),
  one('escaped-name', 'http {\n    upstream u\\"x {\n        server 127.0.0.1:80;\n    }\n}\n'),
  one('all-down', http('        server 127.0.0.1:1 down;\n        server 127.0.0.1:2 down;')),
  one('repeat-params-last-wins', http('        server 127.0.0.1:80 weight=2 weight=3 max_fails=1 max_fails=0;')),
  one('duplicate-server-lines', http('        server 127.0.0.1:80;\n        server 127.0.0.1:80;')),
  one('crlf-lines', 'http {\r\n    upstream u {\r\n        server 127.0.0.1:80 weight=0;\r\n    }\r\n}\r\n'),
  one('tabs', 'http\t{\n\tupstream\tu\t{\n\t\tserver\t127.0.0.1:80\tmax_fails=x;\n\t}\n}\n'),
  one('empty-file', ''),
  one('only-comments', '# nothing\n# at all\n'),
  one('other-http-directives', 'http {\n    sendfile on;\n    types { text/html html; upstream x; }\n    map $remote_addr $backend { default u; upstream 1; }\n    server {\n        listen 127.0.0.1:18080;\n        location / { proxy_pass http://u; }\n    }\n    upstream u { server 127.0.0.1:80; }\n}\n'),
  one('main-directives', 'worker_processes 1;\nworker_rlimit_nofile 1024;\nhttp { upstream u { server 127.0.0.1:80; } }\n'),
  // --- server parameters (docs/nginx-semantics.md §6.2)
  one('weight-0', http('        server 127.0.0.1:80 weight=0;')),
  one('weight-negative', http('        server 127.0.0.1:80 weight=-1;')),
  one('weight-abc', http('        server 127.0.0.1:80 weight=abc;')),
  one('weight-empty', http('        server 127.0.0.1:80 weight=;')),
  one('weight-overflow', http('        server 127.0.0.1:80 weight=99999999999999999999;')),
  one('weight-max-int64', http('        server 127.0.0.1:80 weight=9223372036854775807;')),
  one('weight-int64-plus-1', http('        server 127.0.0.1:80 weight=9223372036854775808;')),
  one('weight-2-31', http('        server 127.0.0.1:80 weight=2147483648;')),
  one('weight-capital', http('        server 127.0.0.1:80 Weight=2;')),
  one('weight-space', http('        server 127.0.0.1:80 weight= 2;')),
  one('max-fails-negative', http('        server 127.0.0.1:80 max_fails=-1;')),
  one('max-fails-abc', stream('        server 127.0.0.1:80 max_fails=abc;')),
  one('max-fails-0', stream('        server 127.0.0.1:80 max_fails=0;')),
  one('max-conns-x', http('        server 127.0.0.1:80 max_conns=x;')),
  one('max-conns-0', http('        server 127.0.0.1:80 max_conns=0;')),
  one('fail-timeout-ms', http('        server 127.0.0.1:80 fail_timeout=1ms;')),
  one('fail-timeout-fraction', http('        server 127.0.0.1:80 fail_timeout=1.5s;')),
  one('fail-timeout-out-of-order', http('        server 127.0.0.1:80 fail_timeout=30s1m;')),
  one('fail-timeout-unknown-unit', http('        server 127.0.0.1:80 fail_timeout=10x;')),
  one('fail-timeout-1m30s', http('        server 127.0.0.1:80 fail_timeout=1m30s;')),
  one('fail-timeout-0', http('        server 127.0.0.1:80 fail_timeout=0;')),
  one('fail-timeout-empty', http('        server 127.0.0.1:80 fail_timeout=;')),
  one('fail-timeout-all-units', http('        server 127.0.0.1:80 fail_timeout=1y1M1w1d1h1m1s;')),
  one('fail-timeout-trailing-number', http('        server 127.0.0.1:80 fail_timeout=1m30;')),
  one('fail-timeout-repeated-unit', http('        server 127.0.0.1:80 fail_timeout=1s1s;')),
  one('fail-timeout-overflow', http('        server 127.0.0.1:80 fail_timeout=300000000000y;')),
  one('resolve-1.22', http('        zone z 64k;\n        server 127.0.0.1:80 resolve;')),
  one('service-1.22', http('        server 127.0.0.1:80 service=http;')),
  one('slow-start', http('        server 127.0.0.1:80 slow_start=30s;')),
  one('drain', http('        server 127.0.0.1:80 drain;')),
  one('route', http('        server 127.0.0.1:80 route=a;')),
  // --- where nginx 1.22 and 1.30 differ (VERSION_DIFFERENCES below lists every case whose verdicts differ)
  one('version-drain-hash', http('        hash $remote_addr;\n        server 127.0.0.1:80 drain;\n        server 127.0.0.1:81;')),
  one('version-drain-stream', stream('        server 127.0.0.1:80 drain;')),
  one('version-route-empty', http('        server 127.0.0.1:80 route=;')),
  one('version-route-32', http(`        server 127.0.0.1:80 route=${'r'.repeat(32)};`)),
  one('version-route-33', http(`        server 127.0.0.1:80 route=${'r'.repeat(33)};`)),
  one('version-route-stream', stream('        server 127.0.0.1:80 route=a;')),
  one('version-keepalive-local', http('        server 127.0.0.1:80;\n        keepalive 8 local;')),
  one('version-keepalive-bad-second', http('        server 127.0.0.1:80;\n        keepalive 8 global;')),
  one('version-keepalive-negative', http('        server 127.0.0.1:80;\n        keepalive -1;')),
  one('version-keepalive-then-hash', http('        keepalive 16;\n        hash $remote_addr consistent;\n        server 127.0.0.1:80;')),
  one('unknown-param', stream('        server 127.0.0.1:80 primary;')),
  one('first-bad-param-wins', http('        server 127.0.0.1:80 weight=2 max_fails=x weight=0;')),
  one('bad-param-before-bad-address', stream('        server 127.0.0.1 weight=0;')),
  // --- addresses
  one('stream-no-port', stream('        server 127.0.0.1;')),
  one('invalid-port', http('        server 127.0.0.1:99999;')),
  one('port-0', http('        server 127.0.0.1:0;')),
  one('empty-port', http('        server 127.0.0.1:;')),
  one('no-host', http('        server :80;')),
  one('uri-in-address', http('        server 127.0.0.1:80/path;')),
  one('query-in-address', http('        server 127.0.0.1?x;')),
  one('unix-no-path', http('        server unix:;')),
  one('ipv6-unclosed', http('        server [::1:80;')),
  one('ipv6-bad', http('        server [zz::1]:80;')),
  one('ipv6-trailing', http('        server [::1]x;')),
  one('ipv6-stream-no-port', stream('        server [::1];')),
  one('ipv6-bad-port', http('        server [::1]:70000;')),
  // --- argument counts and terminators
  one('server-no-args', http('        server;')),
  one('hash-no-args', http('        server 127.0.0.1:80;\n        hash;')),
  one('hash-too-many', http('        server 127.0.0.1:80;\n        hash $remote_addr consistent x;')),
  one('ip-hash-arg', http('        server 127.0.0.1:80;\n        ip_hash foo;')),
  one('least-conn-arg', stream('        server 127.0.0.1:80;\n        least_conn foo;')),
  one('random-too-many', http('        server 127.0.0.1:80;\n        random two least_conn x;')),
  one('upstream-no-name', 'http {\n    upstream {\n        server 127.0.0.1:80;\n    }\n}\n'),
  one('upstream-two-names', 'http {\n    upstream a b {\n        server 127.0.0.1:80;\n    }\n}\n'),
  one('upstream-no-block', 'http {\n    upstream u;\n}\n'),
  one('http-no-block', 'http;\n'),
  one('stream-with-arg', 'stream x {\n}\n'),
  one('server-with-block', http('        server 127.0.0.1:80 {\n        }')),
  one('least-conn-block', http('        server 127.0.0.1:80;\n        least_conn {\n        }')),
  // --- balancing methods (§3.4, §6.3)
  one('hash-then-least-conn', stream('        server 127.0.0.1:80;\n        hash $remote_addr;\n        least_conn;')),
  one('least-conn-twice', http('        least_conn;\n        least_conn;\n        server 127.0.0.1:80;')),
  one('random-then-hash', http('        random;\n        server 127.0.0.1:80;\n        hash $remote_addr consistent;')),
  one('keepalive-then-least-conn', http('        keepalive 8;\n        least_conn;\n        server 127.0.0.1:80;')),
  one('least-conn-then-keepalive', http('        least_conn;\n        keepalive 8;\n        server 127.0.0.1:80;')),
  one('hash-consistent', http('        hash $remote_addr consistent;\n        server 127.0.0.1:80;\n        server 127.0.0.1:81;')),
  one('hash-bogus', http('        hash $remote_addr bogus;\n        server 127.0.0.1:80;')),
  one('random-two', stream('        random two;\n        server 127.0.0.1:80;')),
  one('random-two-least-conn', stream('        random two least_conn;\n        server 127.0.0.1:80;')),
  one('random-bogus', http('        random bogus;\n        server 127.0.0.1:80;')),
  one('random-two-bogus', http('        random two bogus;\n        server 127.0.0.1:80;')),
  one('ip-hash-http', http('        ip_hash;\n        server 127.0.0.1:80;\n        server 127.0.0.1:81 down;')),
  one('ip-hash-stream', stream('        ip_hash;\n        server 127.0.0.1:80;')),
  one('keepalive-stream', stream('        server 127.0.0.1:80;\n        keepalive 2;')),
  one('backup-after-hash', http('        hash $remote_addr;\n        server 127.0.0.1:80;\n        server 127.0.0.1:81 backup;')),
  one('backup-after-ip-hash', http('        ip_hash;\n        server 127.0.0.1:80;\n        server 127.0.0.1:81 backup;')),
  one('backup-after-random', stream('        random;\n        server 127.0.0.1:80;\n        server 127.0.0.1:81 backup;')),
  one('backup-before-hash', http('        server 127.0.0.1:80;\n        server 127.0.0.1:81 backup;\n        hash $remote_addr;')),
  one('backup-before-random-stream', stream('        server 127.0.0.1:80;\n        server 127.0.0.1:81 backup;\n        random two;')),
  one('backup-after-hash-then-least-conn', http('        hash $remote_addr;\n        least_conn;\n        server 127.0.0.1:80;\n        server 127.0.0.1:81 backup;')),
  one('down-with-hash', http('        hash $remote_addr;\n        server 127.0.0.1:80 down;\n        server 127.0.0.1:81;')),
  one('backup-least-conn', stream('        least_conn;\n        server 127.0.0.1:80;\n        server 127.0.0.1:81 backup;')),
  // --- contexts (§6.1)
  one('upstream-top-level', 'upstream u {\n    server 127.0.0.1:80;\n}\n'),
  // next-upstream settings where the upstream is used (src/config/upstream-use.ts)
  ...((): CorpusCase[] => {
    const loc = (body: string, outer = '') => `http {\n    upstream u { server 127.0.0.1:80; server 127.0.0.1:81; }\n${outer}    server {\n        listen 127.0.0.1:18080;\n        location / {\n${body}\n        }\n    }\n}\n`;
    const st = (body: string, outer = '') => `stream {\n    upstream u { server 127.0.0.1:80; server 127.0.0.1:81; }\n${outer}    server {\n        listen 127.0.0.1:10025;\n${body}\n    }\n}\n`;
    return [
      one('next-upstream-levels', loc('            proxy_pass http://u/x;\n            proxy_next_upstream http_404 non_idempotent;', '    proxy_next_upstream error timeout http_502;\n    proxy_next_upstream_tries 3;\n    proxy_next_upstream_timeout 10s;\n')),
      one('next-upstream-all-values', loc('            proxy_pass http://u;\n            proxy_next_upstream error timeout invalid_header non_idempotent http_500 http_502 http_503 http_504 http_403 http_404 http_429 updating off;')),
      one('next-upstream-case', loc('            proxy_pass http://U;\n            proxy_next_upstream ERROR Http_502;')),
      one('next-upstream-twice-accumulates', loc('            proxy_pass http://u;\n            proxy_next_upstream error;\n            proxy_next_upstream http_502;')),
      one('next-upstream-invalid-value', loc('            proxy_pass http://u;\n            proxy_next_upstream error http_501;')),
      one('next-upstream-duplicate-value', loc('            proxy_pass http://u;\n            proxy_next_upstream error timeout Error;')),
      one('next-upstream-no-args', loc('            proxy_pass http://u;\n            proxy_next_upstream;')),
      one('next-upstream-tries-invalid', loc('            proxy_pass http://u;\n            proxy_next_upstream_tries three;')),
      one('next-upstream-tries-duplicate', loc('            proxy_pass http://u;\n            proxy_next_upstream_tries 2;\n            proxy_next_upstream_tries 3;')),
      one('next-upstream-timeout-invalid', loc('            proxy_pass http://u;\n            proxy_next_upstream_timeout 5x;')),
      one('next-upstream-timeout-duplicate', loc('            proxy_pass http://u;\n            proxy_next_upstream_timeout 5s;\n            proxy_next_upstream_timeout 6s;')),
      one('next-upstream-in-server', 'http {\n    upstream u { server 127.0.0.1:80; }\n    server {\n        listen 127.0.0.1:18080;\n        proxy_next_upstream off;\n        proxy_next_upstream_tries 0;\n        location / { proxy_pass http://u; }\n    }\n}\n'),
      one('grpc-next-upstream', loc('            grpc_pass grpc://u;\n            grpc_next_upstream error http_502 http_504;\n            grpc_next_upstream_tries 2;'), NO_GRPC_130),
      one('grpc-next-upstream-updating', loc('            grpc_pass grpc://u;\n            grpc_next_upstream updating;'), NO_GRPC_130),
      one('fastcgi-next-upstream-502', loc('            fastcgi_pass u;\n            fastcgi_next_upstream http_502;')),
      one('fastcgi-next-upstream', loc('            fastcgi_pass u;\n            fastcgi_next_upstream error http_503 http_404;\n            fastcgi_next_upstream_timeout 1m;')),
      one('uwsgi-scgi-next-upstream', loc('            uwsgi_pass u;\n            uwsgi_next_upstream http_500;\n            scgi_next_upstream http_429;')),
      one('memcached-next-upstream', loc('            set $memcached_key $uri;\n            memcached_pass u;\n            memcached_next_upstream not_found invalid_response;')),
      one('memcached-next-upstream-http-404', loc('            memcached_pass u;\n            memcached_next_upstream http_404;')),
      one('stream-next-upstream', st('        proxy_pass u;\n        proxy_next_upstream off;\n        proxy_next_upstream_tries 2;\n        proxy_next_upstream_timeout 3s;')),
      one('stream-next-upstream-outer', st('        proxy_pass u;', '    proxy_next_upstream_tries 1;\n')),
      one('stream-next-upstream-invalid', st('        proxy_pass u;\n        proxy_next_upstream error;')),
      one('stream-next-upstream-duplicate', st('        proxy_pass u;\n        proxy_next_upstream on;\n        proxy_next_upstream off;')),
      one('stream-next-upstream-tries-invalid', st('        proxy_pass u;\n        proxy_next_upstream_tries -1;')),
    ];
  })(),
  one('upstream-in-server', 'http {\n    server {\n        listen 127.0.0.1:18080;\n        upstream u { server 127.0.0.1:80; }\n    }\n}\n'),
  one('upstream-in-location', 'http {\n    server {\n        listen 127.0.0.1:18080;\n        location / {\n            upstream u { server 127.0.0.1:80; }\n        }\n    }\n}\n'),
  one('upstream-in-stream-server', 'stream {\n    server {\n        listen 127.0.0.1:10025;\n        upstream u { server 127.0.0.1:80; }\n    }\n}\n'),
  one('upstream-in-upstream', http('        server 127.0.0.1:80;\n        upstream v { server 127.0.0.1:81; }')),
  one('http-in-http', 'http {\n    http {\n    }\n}\n'),
  one('stream-in-http', 'http {\n    stream {\n    }\n}\n'),
  one('events-in-http', 'http {\n    events {\n    }\n}\n'),
  one('upstream-in-events', 'events {\n    upstream u { server 127.0.0.1:80; }\n}\n', { noEvents: true }),
  one('server-top-level', 'server {\n    listen 10025;\n}\n'),
  one('proxy-pass-top-level', 'proxy_pass u;\n'),
  one('http-duplicate', 'http {\n}\nhttp {\n}\n'),
  one('stream-duplicate', 'stream {\n}\nstream {\n}\n'),
  one('events-duplicate', 'events {\n}\n'),
  one('upstream-duplicate', 'http {\n    upstream u { server 127.0.0.1:1; }\n    upstream u { server 127.0.0.1:2; }\n}\n'),
  one('upstream-duplicate-case', 'stream {\n    upstream Smtp { server 127.0.0.1:1; }\n    upstream sMTP { server 127.0.0.1:2; }\n}\n'),
  one('upstream-empty', 'http {\n    upstream u {\n    }\n}\n'),
  one('upstream-only-comment', 'stream {\n    upstream u {\n        # server 127.0.0.1:80;\n    }\n}\n'),
  one('only-backups', http('        server 127.0.0.1:80 backup;')),
  one('only-backups-second-upstream', 'http {\n    upstream a { server 127.0.0.1:1; }\n    upstream b { server 127.0.0.1:2 backup; }\n}\n'),
  one('only-backups-stream-and-http', 'stream {\n    upstream s { server 127.0.0.1:1 backup; }\n}\nhttp {\n    upstream h { server 127.0.0.1:2 backup; }\n}\n'),
  one('mail-block', 'mail {\n}\n'),
  one('check-stock-http', http('        server 127.0.0.1:80;\n        check interval=5000 rise=2 fall=5 timeout=2000 type=http;')),
  one('check-stock-stream', stream('        server 127.0.0.1:80;\n        check interval=5000 rise=2 fall=5 timeout=2000 type=smtp;')),
  one('check-http-send-stock', http('        server 127.0.0.1:80;\n        check_http_send "HEAD / HTTP/1.0\\r\\n\\r\\n";')),
  one('ntlm-1.22', http('        server 127.0.0.1:80;\n        ntlm;')),
  one('sticky-1.22', http('        server 127.0.0.1:80;\n        sticky cookie srv_id;')),
  ...STICKY_CASES,
  one('listen-in-upstream', stream('        server 127.0.0.1:80;\n        listen 10025;')),
  one('proxy-pass-in-upstream', stream('        server 127.0.0.1:80;\n        proxy_pass u;')),
  one('resolver-in-upstream-1.22', http('        server 127.0.0.1:80;\n        resolver 127.0.0.1;')),
  one('unknown-in-upstream', http('        server 127.0.0.1:80;\n        frobnicate on;')),
  // --- tokenizer (ngx_conf_read_token)
  one('missing-brace', 'http {\n    upstream u {\n        server 127.0.0.1:80;\n    }\n'),
  one('missing-two-braces', 'stream {\n    upstream u {\n        server 127.0.0.1:80;\n'),
  one('extra-brace', http('        server 127.0.0.1:80;') + '}\n'),
  one('double-semicolon', http('        server 127.0.0.1:80;;')),
  one('lone-brace', 'http {\n    {\n    }\n}\n'),
  one('brace-mid-statement', http('        server 127.0.0.1:80 }')),
  one('unterminated-quote', http('        server "127.0.0.1:80;')),
  one('quote-then-letter', http('        server "127.0.0.1:80"x;')),
  one('quote-then-paren', 'http {\n    upstream u {\n        server "127.0.0.1:80");\n    }\n}\n'),
  one('no-semicolon-at-eof', 'worker_processes 1'),
  one('statement-without-semicolon-before-brace', http('        server 127.0.0.1:80\n    ')),
  one('single-quoted-escapes', "http {\n    upstream u {\n        server 127.0.0.1:80 'weight=\\'2';\n    }\n}\n"),
  one('backslash-escape-weight', http('        server 127.0.0.1:80 weight=\\2;')),
  one('escaped-semicolon', http('        server 127.0.0.1:80 weight=2\\;;')),
  one('variable-braces', http('        hash ${remote_addr}x;\n        server 127.0.0.1:80;')),
  one('hash-in-word', http('        server 127.0.0.1:80 weight=2#3;')),
  one('too-long-parameter', http(`        server 127.0.0.1:80 weight=${'1'.repeat(5000)};`)),
  one('too-long-quoted', http(`        server "127.0.0.1:80 ${'x'.repeat(5000)};\n        server 127.0.0.1:81;`)),
  one('long-comment', `# ${'c'.repeat(5000)}\nhttp { upstream u { server 127.0.0.1:80; } }\n`),
  one('long-but-ok-token', http(`        server 127.0.0.1:80 weight=${'0'.repeat(4000)}1;`)),
  one('many-lines-before-error', '\n'.repeat(40) + http('        server 127.0.0.1:80 weight=0;')),
  // --- zone and keepalive
  one('zone-ok', http('        zone backend 64k;\n        server 127.0.0.1:80;')),
  one('zone-too-small', http('        zone backend 10k;\n        server 127.0.0.1:80;')),
  one('zone-bad-size', http('        zone backend abc;\n        server 127.0.0.1:80;')),
  one('zone-gigabytes', stream('        zone backend 1G;\n        server 127.0.0.1:80;')),
  one('zone-no-size', http('        zone backend;\n        server 127.0.0.1:80;')),
  one('zone-empty-name', http('        zone "";\n        server 127.0.0.1:80;')),
  one('zone-shared-sized-once', 'http {\n    upstream a { zone z 64k; server 127.0.0.1:1; }\n    upstream b { zone z; server 127.0.0.1:2; }\n}\n'),
  one('zone-size-conflict', 'http {\n    upstream a { zone z 64k; server 127.0.0.1:1; }\n    upstream b { zone z 128k; server 127.0.0.1:2; }\n}\n'),
  one('zone-http-and-stream', 'http {\n    upstream a { zone z 64k; server 127.0.0.1:1; }\n}\nstream {\n    upstream b { zone z 64k; server 127.0.0.1:2; }\n}\n'),
  one('keepalive-0', http('        server 127.0.0.1:80;\n        keepalive 0;')),
  one('keepalive-abc', http('        server 127.0.0.1:80;\n        keepalive abc;')),
  one('keepalive-duplicate', http('        server 127.0.0.1:80;\n        keepalive 2;\n        keepalive 3;')),
  one('keepalive-requests-abc', http('        server 127.0.0.1:80;\n        keepalive_requests abc;')),
  one('keepalive-requests-duplicate', http('        server 127.0.0.1:80;\n        keepalive_requests 10;\n        keepalive_requests 10;')),
  one('keepalive-timeout-bad', http('        server 127.0.0.1:80;\n        keepalive_timeout 5x;')),
  one('keepalive-timeout-year', http('        server 127.0.0.1:80;\n        keepalive_timeout 1y;')),
  one('keepalive-all-ok', http('        server 127.0.0.1:80;\n        keepalive 16;\n        keepalive_requests 1000;\n        keepalive_time 1h;\n        keepalive_timeout 60s;')),
  // --- include
  { id: 'include-servers', files: { [S]: 'http {\n    upstream u {\n        include servers.conf;\n    }\n}\n', 'servers.conf': 'server 127.0.0.1:80;\nserver 127.0.0.1:81 backup;\n' } },
  { id: 'include-error-in-included', files: { [S]: 'http {\n    upstream u {\n        include servers.conf;\n    }\n}\n', 'servers.conf': '\nserver 127.0.0.1:80 weight=0;\n' } },
  { id: 'include-missing', files: { [S]: 'http {\n    include missing.conf;\n}\n' } },
  { id: 'include-glob-none', files: { [S]: 'http {\n    include conf.d/*.conf;\n    upstream u { server 127.0.0.1:80; }\n}\n' } },
  { id: 'include-glob-two', files: { [S]: 'http {\n    include conf.d/*.conf;\n}\n', 'conf.d/a.conf': 'upstream a { server 127.0.0.1:1; }\n', 'conf.d/b.conf': 'upstream b { server 127.0.0.1:2 backup; }\n' } },
  { id: 'include-unbalanced', files: { [S]: 'http {\n    include part.conf;\n}\n', 'part.conf': 'upstream u {\n    server 127.0.0.1:80;\n' } },
  { id: 'include-extra-brace', files: { [S]: 'http {\n    upstream u {\n        server 127.0.0.1:80;\n        include close.conf;\n}\n', 'close.conf': '}\n' } },
  { id: 'include-nested', files: { [S]: 'include a.conf;\n', 'a.conf': 'stream {\n    include b.conf;\n}\n', 'b.conf': 'upstream u {\n    server 127.0.0.1:80 max_fails=q;\n}\n' } },
  { id: 'include-no-arg', files: { [S]: 'http {\n    include;\n}\n' } },
  // --- the vendor guide (seed), as published except for the `user` line
  one('guide-failover', noUser(GUIDE_FAILOVER), { noEvents: true }),
  one('guide-weighted', noUser(GUIDE_WEIGHTED), { noEvents: true }),
  one('guide-maintenance', GUIDE_MAINTENANCE),
  one('guide-maintenance-in-stream', `stream {\n${ips(GUIDE_MAINTENANCE)}}\n}\n`),
  one('guide-maintenance-in-http', `http {\n${ips(GUIDE_MAINTENANCE)}}\n}\n`),
  one('guide-failover-in-http', 'http {\n    upstream cluster {\n        server 127.0.0.1:10025 max_fails=3 fail_timeout=3s;\n        server 127.0.0.1:10026 backup;\n    }\n    server {\n        listen 10025;\n        proxy_pass cluster;\n    }\n}\n'),
];

// ---- the corrected examples of docs/examples, as shipped and without the check line (stock nginx)

const example = (name: string) => readFileSync(new URL(`../../../docs/examples/${name}.conf`, import.meta.url), 'utf8');
const stripCheck = (t: string) => t.replace(/^\s*check .*$/m, '');
const examples: CorpusCase[] = ['failover', 'weighted', 'maintenance'].flatMap((name) => [
  one(`example-${name}`, example(name)),
  one(`example-${name}-stock`, stripCheck(example(name))),
]);

// ---- generated cases -----------------------------------------------------------------------

const PARAMS = [
  'weight=1', 'weight=7', 'weight=0', 'weight=x', 'weight=', 'weight=01', 'max_fails=0', 'max_fails=3', 'max_fails=-2',
  'max_conns=0', 'max_conns=10', 'max_conns=1k', 'fail_timeout=3s', 'fail_timeout=10', 'fail_timeout=2m',
  'fail_timeout=1h30m', 'fail_timeout=500ms', 'fail_timeout=s', 'backup', 'down', 'Down', 'backup=1', 'resolve',
  'slow_start=10s', 'max_fail=1', 'weight=4 ', '"weight=2"',
];
const ADDRS = ['127.0.0.1:10025', '127.0.0.1', '127.0.0.2:80', '[::1]:25', 'unix:/tmp/s.sock', '127.0.0.1:65536', 'localhost:25'];
const TIMES = ['0', '1', '3s', '10s', '1m', '1m30s', '1h 30m', '2d', '1w', '1M', '1y', '500ms', '1s500ms', '30s1m', '1.5', '5S', '1m30', 'h', '1h1h', '99999999999999999999', '10 s', '7d12h'];
const METHODS = ['least_conn;', 'hash $remote_addr;', 'hash $remote_addr consistent;', 'random;', 'random two;', 'random two least_conn;', 'ip_hash;', 'keepalive 4;'];

function pick<T>(rng: () => number, list: readonly T[]): T {
  return list[Math.floor(rng() * list.length)]!;
}

function generated(): CorpusCase[] {
  const rng = seededRandom(0x5eed); // mulberry32
  const out: CorpusCase[] = [];
  for (let i = 0; i < 60; i++) {
    const ctx = rng() < 0.5 ? 'http' : 'stream';
    const lines: string[] = [];
    const n = 1 + Math.floor(rng() * 3);
    for (let s = 0; s < n; s++) {
      const params: string[] = [];
      const k = Math.floor(rng() * 4);
      for (let j = 0; j < k; j++) params.push(pick(rng, PARAMS).trim());
      lines.push(`        server ${pick(rng, ADDRS)}${params.length ? ' ' + params.join(' ') : ''};`);
    }
    out.push(one(`gen-params-${i}`, (ctx === 'http' ? http : stream)(lines.join('\n'))));
  }
  for (let i = 0; i < 30; i++) {
    const t = pick(rng, TIMES) + (rng() < 0.3 ? pick(rng, TIMES) : '');
    const word = t.includes(' ') ? `"fail_timeout=${t}"` : `fail_timeout=${t}`;
    out.push(one(`gen-time-${i}`, stream(`        server 127.0.0.1:25 max_fails=2 ${word};`)));
  }
  for (let i = 0; i < 40; i++) {
    const ctx = rng() < 0.5 ? 'http' : 'stream';
    const lines: string[] = [];
    const k = 1 + Math.floor(rng() * 5);
    let servers = 0;
    for (let j = 0; j < k; j++) {
      if (rng() < 0.5) {
        lines.push(`        server 127.0.0.1:${20000 + j}${rng() < 0.35 ? ' backup' : ''}${rng() < 0.2 ? ' down' : ''};`);
        servers++;
      } else lines.push(`        ${pick(rng, METHODS)}`);
    }
    if (servers === 0 && rng() < 0.8) lines.push('        server 127.0.0.1:20099;');
    out.push(one(`gen-methods-${i}`, (ctx === 'http' ? http : stream)(lines.join('\n'))));
  }
  const blocks = ['http', 'stream', 'events', 'server', 'upstream u', 'upstream v', 'location /', 'types'];
  for (let i = 0; i < 25; i++) {
    let text = '';
    let depth = 0;
    const steps = 2 + Math.floor(rng() * 6);
    const ind = () => '    '.repeat(depth);
    for (let j = 0; j < steps; j++) {
      const r = rng();
      if (r < 0.45) {
        text += `${ind()}${pick(rng, blocks)} {\n`;
        depth++;
      } else if (r < 0.75) {
        text += `${ind()}server 127.0.0.1:${30000 + j};\n`;
      } else if (depth > 0) {
        depth--;
        text += `${ind()}}\n`;
      }
    }
    const close = rng() < 0.8 ? depth : Math.max(0, depth - 1);
    for (let j = 0; j < close; j++) {
      depth--;
      text += `${ind()}}\n`;
    }
    out.push(one(`gen-structure-${i}`, text));
  }
  return out;
}

/** Every case, hand-written first. Ids are unique. */
export const CORPUS: CorpusCase[] = [...hand, ...examples, ...generated()];

/**
 * Cases where the parser knowingly differs from one series' `nginx -t` while a feature is being
 * built, with the exact difference `compare` reports; the replay asserts that difference (so it
 * fails, and the entry must go, once the parser agrees).
 */
export const PARSER_GAPS: Readonly<Record<string, { series: '1.30'; diff: string[] }>> = {
};

/**
 * Every case whose recorded verdicts differ between nginx 1.22.1 and 1.30.4, and why (the replay
 * requires this list to be exactly the differing cases; docs/nginx-compat.md lists them).
 */
export const VERSION_DIFFERENCES: Readonly<Record<string, string>> = {
  'resolve-1.22': '`resolve` on a server line (1.27.3+, needs a zone and a resolver)',
  'service-1.22': '`service=` on a server line (1.27.3+, needs `resolve`)',
  drain: 'the `drain` server flag (1.29.6+, http)',
  route: 'the `route=` server parameter (1.29.6+, http)',
  'sticky-1.22': 'the `sticky` directive (1.29.6+, http)',
  ...STICKY_DIFFERENCES,
  'resolver-in-upstream-1.22': '`resolver` inside `upstream` (1.27.3+)',
  ...Object.fromEntries(
    [4, 12, 32, 36, 52].map((i) => [`gen-params-${i}`, 'a generated server line with `resolve`: 1.22 stops at it, 1.30 accepts it and reports the next problem, if any']),
  ),
  'keepalive-0': '`keepalive 0` is accepted since 1.29.7 (keepalive by default, 0 turns it off)',
  'keepalive-then-least-conn': 'since 1.29.7 `keepalive` no longer takes over the balancing init: no "load balancing method redefined" after it',
  'version-drain-hash': '`drain` with hash (1.30: accepted)',
  'version-route-empty': '`route=` empty: 1.30 says "route is empty", 1.22 invalid parameter',
  'version-route-32': '`route=` of 32 bytes: accepted by 1.30',
  'version-route-33': '`route=` of 33 bytes: 1.30 says "route is longer than 32"',
  'version-keepalive-local': '`keepalive N local`: 1.30 takes a second argument',
  'version-keepalive-bad-second': '`keepalive N global`: 1.30 says invalid parameter, 1.22 invalid number of arguments',
  'version-keepalive-then-hash': 'keepalive before hash: 1.22 warns "load balancing method redefined", 1.30 does not',
};
