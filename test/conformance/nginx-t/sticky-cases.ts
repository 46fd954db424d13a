/**
 * The `sticky` cases of the nginx -t corpus (ngx_http_upstream_sticky_module.c of nginx 1.30.4):
 * every message of the directive and its three modes, the variables it indexes (`unknown "x"
 * variable` after the http block, and the variables a configuration defines with `map`, `set`,
 * `geo`, `split_clients` or a named capture), its zone among the cycle's shared memory zones, its
 * interplay with the balancing directives (a method after it: `load balancing method redefined`),
 * `route=` and `drain`. nginx 1.22.1 has no `sticky` (`unknown directive "sticky"`), so every case
 * is a version difference; the reason of each is in STICKY_DIFFERENCES.
 */

import type { CorpusCase } from './corpus';

const S = 'snippet.conf';
const one = (id: string, text: string): CorpusCase => ({ id, files: { [S]: text } });
const http = (body: string, after = '') => `http {\n    upstream u {\n${body}\n    }\n${after}}\n`;
const servers = '        server 127.0.0.1:80;\n        server 127.0.0.1:81;\n';
/** An http upstream with two servers and one `sticky` line (line 5 of the snippet). */
const st = (line: string, after = '') => http(`${servers}        sticky ${line};`, after);

/** [id, snippet, why 1.22 and 1.30 differ]. */
const CASES: readonly [string, string, string][] = [
  // --- accepted
  ['sticky-cookie-full', st('cookie srv_id expires=1h domain=.example.com path=/ samesite=strict secure httponly'), 'accepted'],
  ['sticky-cookie-bare', st('cookie srv_id'), 'accepted'],
  ['sticky-cookie-expires-max', st('cookie srv_id expires=max'), 'accepted'],
  ['sticky-cookie-samesite-case', st('cookie srv_id samesite=LaX'), 'accepted (samesite compared case-insensitively)'],
  ['sticky-cookie-samesite-none', st('cookie srv_id samesite=none secure'), 'accepted'],
  ['sticky-cookie-variables', st('cookie srv_id domain=$host samesite=$arg_ss path=/a$b'), 'accepted: domain and samesite take variables, path is plain text'],
  ['sticky-cookie-capture', st('cookie srv_id domain=$1.example.com'), 'accepted: a capture is no variable'],
  ['sticky-cookie-braces', st('cookie srv_id domain=${host}x'), 'accepted'],
  ['sticky-route', http('        server 127.0.0.1:80 route=a;\n        server 127.0.0.1:81 route=b;\n        sticky route $arg_route $cookie_route;'), 'accepted'],
  ['sticky-route-prefixes', st('route $http_x_route $upstream_cookie_r $upstream_http_x $sent_http_x $arg_A'), 'accepted: prefix variables, any case'],
  ['sticky-route-built-in', st('route $remote_addr $request_id $ssl_session_id $upstream_addr'), 'accepted: built-in variables'],
  ['sticky-route-map-after', st('route $route_from_map', '    map $cookie_x $route_from_map {\n        default a;\n    }\n'), 'accepted: a map after the upstream defines the variable'],
  ['sticky-route-set', st('route $from_set', '    server {\n        listen 127.0.0.1:8080;\n        location / {\n            set $from_set a;\n        }\n    }\n'), 'accepted: `set` defines it'],
  ['sticky-route-geo', st('route $from_geo', '    geo $from_geo {\n        default a;\n    }\n'), 'accepted: `geo` defines it'],
  ['sticky-route-split', st('route $from_split', '    split_clients $remote_addr $from_split {\n        50% a;\n        * b;\n    }\n'), 'accepted: `split_clients` defines it'],
  ['sticky-route-capture', st('route $rt', '    server {\n        listen 127.0.0.1:8080;\n        location ~ ^/(?<rt>[a-z]+)/ {\n        }\n    }\n'), 'accepted: a named capture defines it'],
  ['sticky-route-map-capture', st('route $mc', '    map $uri $m {\n        ~^/(?<mc>x) 1;\n    }\n'), 'accepted: a named capture inside a map entry'],
  ['sticky-learn', st('learn create=$upstream_cookie_sid lookup=$cookie_sid zone=sessions:1m'), 'accepted'],
  ['sticky-learn-all', st('learn create=$upstream_cookie_a create=$upstream_http_b lookup=$cookie_a lookup=$arg_b zone=s:32k timeout=1h header header'), 'accepted (`header` may repeat)'],
  ['sticky-learn-two-zones', `http {\n    upstream a {\n${servers}        sticky learn create=$upstream_cookie_s lookup=$cookie_s zone=za:1m;\n    }\n    upstream b {\n${servers}        sticky learn create=$upstream_cookie_s lookup=$cookie_s zone=zb:1m;\n    }\n}\n`, 'accepted'],
  ['sticky-learn-with-zone', http(`        zone u 64k;\n${servers}        sticky learn create=$upstream_cookie_s lookup=$cookie_s zone=sessions:1m;`), 'accepted: the upstream zone and the sticky zone have different names'],
  ['sticky-after-method', http(`        least_conn;\n${servers}        sticky cookie srv_id;`), 'accepted, no warning'],
  ['sticky-after-hash', http(`        hash $remote_addr consistent;\n${servers}        sticky route $arg_r;`), 'accepted'],
  ['sticky-then-method', http(`${servers}        sticky cookie srv_id;\n        least_conn;`), 'accepted with "load balancing method redefined"'],
  ['sticky-then-random', http(`${servers}        sticky cookie srv_id;\n        random two;`), 'accepted with "load balancing method redefined"'],
  ['sticky-then-keepalive', http(`${servers}        sticky cookie srv_id;\n        keepalive 8;`), 'accepted: keepalive 1.30 keeps the init'],
  ['sticky-drain-route', http('        server 127.0.0.1:80 route=a drain;\n        server 127.0.0.1:81 route=b;\n        server 127.0.0.1:82 backup;\n        sticky cookie srv_id;'), 'accepted'],
  // --- the directive
  ['sticky-no-args', http(`${servers}        sticky;`), 'invalid number of arguments'],
  ['sticky-one-arg', http(`${servers}        sticky cookie;`), 'invalid number of arguments'],
  ['sticky-duplicate', http(`${servers}        sticky cookie a;\n        sticky route $arg_r;`), 'is duplicate'],
  ['sticky-unknown-mode', st('hash $remote_addr'), 'unknown parameter'],
  ['sticky-in-http', 'http {\n    sticky cookie a;\n}\n', 'not allowed here'],
  ['sticky-in-stream', 'stream {\n    upstream u {\n        server 127.0.0.1:80;\n        sticky cookie a;\n    }\n}\n', 'not allowed here'],
  ['sticky-in-location', 'http {\n    server {\n        listen 127.0.0.1:8080;\n        location / {\n            sticky cookie a;\n        }\n    }\n}\n', 'not allowed here'],
  ['sticky-no-servers', http('        sticky cookie a;'), 'no servers are inside upstream'],
  ['sticky-only-backup-unknown-var', http('        server 127.0.0.1:80 backup;\n        sticky route $nosuch;'), 'no servers in upstream comes before the variables'],
  // --- cookie
  ['sticky-cookie-empty-name', st('cookie ""'), 'empty cookie name'],
  ['sticky-cookie-unknown', st('cookie a max-age=1'), 'unknown parameter'],
  ['sticky-cookie-domain-dup', st('cookie a domain=a domain=b'), 'domain duplicate'],
  ['sticky-cookie-domain-empty', st('cookie a domain='), 'no value for domain'],
  ['sticky-cookie-domain-dollar', st('cookie a domain=x$'), 'invalid variable name'],
  ['sticky-cookie-domain-bracket', st('cookie a domain=${host'), 'closing bracket missing'],
  ['sticky-cookie-domain-empty-braces', st('cookie a domain=${}'), 'invalid variable name'],
  ['sticky-cookie-domain-unknown-var', st('cookie a domain=$nosuch'), 'unknown variable'],
  ['sticky-cookie-path-dup', st('cookie a path=/ path=/b'), 'path duplicate'],
  ['sticky-cookie-path-empty', st('cookie a path='), 'no value for path'],
  ['sticky-cookie-expires-dup', st('cookie a expires=1h expires=2h'), 'expires duplicate'],
  ['sticky-cookie-expires-bad', st('cookie a expires=1x'), 'invalid expires'],
  ['sticky-cookie-expires-ms', st('cookie a expires=500ms'), 'invalid expires (seconds only)'],
  ['sticky-cookie-expires-empty', st('cookie a expires='), 'invalid expires'],
  ['sticky-cookie-expires-max-upper', st('cookie a expires=MAX'), 'invalid expires (max is lower case)'],
  ['sticky-cookie-httponly-dup', st('cookie a httponly httponly'), 'httponly duplicate'],
  ['sticky-cookie-secure-dup', st('cookie a secure secure'), 'secure duplicate'],
  ['sticky-cookie-samesite-dup', st('cookie a samesite=lax samesite=none'), 'samesite duplicate'],
  ['sticky-cookie-samesite-bad', st('cookie a samesite=loose'), 'invalid samesite'],
  ['sticky-cookie-samesite-empty', st('cookie a samesite='), 'invalid samesite'],
  ['sticky-cookie-samesite-unknown-var', st('cookie a samesite=$nosuch_ss'), 'unknown variable'],
  ['sticky-cookie-secure-value', st('cookie a secure=on'), 'unknown parameter'],
  // --- route
  ['sticky-route-not-variable', st('route arg_r'), 'invalid variable name'],
  ['sticky-route-dollar', st('route $arg_r $'), 'invalid variable name "$"'],
  ['sticky-route-empty-word', st('route $arg_r ""'), 'invalid variable name ""'],
  ['sticky-route-unknown-var', st('route $arg_r $nosuch $other'), 'unknown variable (the first)'],
  ['sticky-route-capture-number', st('route $1'), 'unknown variable "1"'],
  ['sticky-route-stream-map', `stream {\n    map $remote_addr $stream_var {\n        default a;\n    }\n}\n${st('route $stream_var')}`, 'a stream map defines no http variable'],
  // --- learn
  ['sticky-learn-unknown', st('learn create=$upstream_cookie_s lookup=$cookie_s zone=z:1m expires=1h'), 'unknown parameter'],
  ['sticky-learn-zone-dup', st('learn zone=z:1m zone=y:1m create=$upstream_cookie_s lookup=$cookie_s'), 'duplicate zone'],
  ['sticky-learn-zone-no-size', st('learn zone=z create=$upstream_cookie_s lookup=$cookie_s'), 'zone size is not specified'],
  ['sticky-learn-zone-no-name', st('learn zone=:1m create=$upstream_cookie_s lookup=$cookie_s'), 'zone name is not specified'],
  ['sticky-learn-zone-bad-size', st('learn zone=z:1g create=$upstream_cookie_s lookup=$cookie_s'), 'invalid zone size'],
  ['sticky-learn-zone-empty-size', st('learn zone=z: create=$upstream_cookie_s lookup=$cookie_s'), 'invalid zone size'],
  ['sticky-learn-zone-small', st('learn zone=z:32767 create=$upstream_cookie_s lookup=$cookie_s'), 'zone is too small'],
  ['sticky-learn-zone-32k', st('learn zone=z:32k create=$upstream_cookie_s lookup=$cookie_s'), 'accepted: 8 pages'],
  ['sticky-learn-timeout-dup', st('learn timeout=1m timeout=2m create=$upstream_cookie_s lookup=$cookie_s zone=z:1m'), 'duplicate timeout'],
  ['sticky-learn-timeout-bad', st('learn timeout=1x create=$upstream_cookie_s lookup=$cookie_s zone=z:1m'), 'invalid timeout'],
  ['sticky-learn-timeout-zero', st('learn timeout=0 create=$upstream_cookie_s lookup=$cookie_s zone=z:1m'), 'invalid timeout'],
  ['sticky-learn-timeout-ms', st('learn timeout=1500ms create=$upstream_cookie_s lookup=$cookie_s zone=z:1m'), 'accepted: milliseconds'],
  ['sticky-learn-create-no-var', st('learn create=upstream_cookie_s lookup=$cookie_s zone=z:1m'), 'missing variable in create'],
  ['sticky-learn-create-empty', st('learn create= lookup=$cookie_s zone=z:1m'), 'missing variable in create'],
  ['sticky-learn-create-dollar', st('learn create=$ lookup=$cookie_s zone=z:1m'), 'invalid variable name "$"'],
  ['sticky-learn-lookup-no-var', st('learn create=$upstream_cookie_s lookup=cookie_s zone=z:1m'), 'missing variable in lookup'],
  ['sticky-learn-no-lookup', st('learn create=$upstream_cookie_s zone=z:1m'), 'lookup not specified'],
  ['sticky-learn-no-create', st('learn lookup=$cookie_s zone=z:1m'), 'create not specified'],
  ['sticky-learn-no-zone', st('learn create=$upstream_cookie_s lookup=$cookie_s'), 'zone not specified'],
  ['sticky-learn-nothing', st('learn header'), 'lookup not specified (checked first)'],
  ['sticky-learn-sync', st('learn create=$upstream_cookie_s lookup=$cookie_s zone=z:1m sync'), 'unknown parameter (sync is NGINX Plus only)'],
  ['sticky-route-case', st('route $ARG_Route $Http_X_Route'), 'accepted: variable names are case-insensitive'],
  ['sticky-cookie-name-odd', st('cookie "a b;c" path=/'), 'accepted: any cookie name'],
  ['sticky-learn-unknown-var', st('learn create=$upstream_cookie_s lookup=$nosuch zone=z:1m'), 'unknown variable'],
  ['sticky-learn-zone-reused', `http {\n    upstream a {\n${servers}        sticky learn create=$upstream_cookie_s lookup=$cookie_s zone=z:1m;\n    }\n    upstream b {\n${servers}        sticky learn create=$upstream_cookie_s lookup=$cookie_s zone=z:1m;\n    }\n}\n`, 'zone already used in upstream a'],
  ['sticky-learn-zone-size-conflict', `http {\n    upstream a {\n${servers}        sticky learn create=$upstream_cookie_s lookup=$cookie_s zone=z:1m;\n    }\n    upstream b {\n${servers}        sticky learn create=$upstream_cookie_s lookup=$cookie_s zone=z:2m;\n    }\n}\n`, 'zone size conflict'],
  ['sticky-learn-zone-is-upstream-zone', http(`        zone z 64k;\n${servers}        sticky learn create=$upstream_cookie_s lookup=$cookie_s zone=z:64k;`), 'a different use'],
  ['sticky-learn-upstream-zone-after', `http {\n    upstream a {\n${servers}        sticky learn create=$upstream_cookie_s lookup=$cookie_s zone=z:1m;\n    }\n    upstream b {\n        zone z;\n${servers}    }\n}\n`, 'a different use (zone directive after)'],
];

export const STICKY_CASES: CorpusCase[] = CASES.map(([id, text]) => one(id, text));

/** Why each sticky case differs between nginx 1.22.1 (`unknown directive "sticky"`) and 1.30.4. */
export const STICKY_DIFFERENCES: Readonly<Record<string, string>> = Object.fromEntries(
  CASES.map(([id, , why]) => [id, `\`sticky\` (1.29.6+): 1.22 does not know it; 1.30: ${why}`]),
);
