/**
 * `nginx -t` cases for `resolve`, `service=`, `resolver` and `resolver_timeout` (nginx 1.30.4's
 * ngx_http_upstream.c, ngx_stream_upstream.c, ngx_resolver.c and the round-robin inits), recorded by
 * `nginx-t.ts` into `test/vectors/resolve/nginx-t.json` and replayed by `nginx-t.test.ts`. Each
 * case is the text after the main context (`events {}` and a pid file are added); `series` says
 * which nginx verdicts are recorded (1.22 rejects every one of these words).
 */

export interface ResolveTCase {
  id: string;
  text: string;
}

const U = (body: string, outside = ''): string => `http { ${outside} upstream u { ${body} } }`;
const S = (body: string, outside = ''): string => `stream { ${outside} upstream u { ${body} } }`;

export const CASES: readonly ResolveTCase[] = [
  { id: 'resolve-ok', text: U('zone z 64k; resolver 127.0.0.1; server backend.test:8080 resolve;') },
  { id: 'resolve-http-resolver', text: U('zone z 64k; server backend.test:8080 resolve;', 'resolver 127.0.0.1:5353 valid=5s;') },
  { id: 'resolve-http-resolver-after', text: `http { upstream u { zone z 64k; server backend.test resolve; } resolver 127.0.0.1; }` },
  { id: 'resolve-no-zone', text: U('resolver 127.0.0.1; server backend.test:8080 resolve;') },
  { id: 'resolve-no-resolver', text: U('zone z 64k; server backend.test:8080 resolve;') },
  { id: 'resolve-resolver-no-address', text: U('zone z 64k; resolver valid=5s; server backend.test:8080 resolve;') },
  { id: 'resolve-literal-no-zone', text: U('server 127.0.0.1:8080 resolve;') },
  { id: 'resolve-backup', text: U('zone z 64k; resolver 127.0.0.1; server 127.0.0.2; server backend.test resolve backup;') },
  { id: 'resolve-only-backup', text: U('zone z 64k; resolver 127.0.0.1; server backend.test resolve backup;') },
  { id: 'resolve-hash', text: U('hash $remote_addr; zone z 64k; resolver 127.0.0.1; server backend.test resolve;') },
  { id: 'resolve-least-conn', text: U('least_conn; zone z 64k; resolver 127.0.0.1; server backend.test resolve;') },
  { id: 'resolve-weights', text: U('zone z 64k; resolver 127.0.0.1; server backend.test resolve weight=3 max_fails=2 fail_timeout=5s max_conns=7;') },
  { id: 'service-ok', text: U('zone z 64k; resolver 127.0.0.1; server backend.test service=http resolve;') },
  { id: 'service-dotted', text: U('zone z 64k; resolver 127.0.0.1; server backend.test service=_x._tcp resolve;') },
  { id: 'service-no-resolve', text: U('zone z 64k; resolver 127.0.0.1; server backend.test service=http;') },
  { id: 'service-empty', text: U('zone z 64k; resolver 127.0.0.1; server backend.test service= resolve;') },
  { id: 'service-port', text: U('zone z 64k; resolver 127.0.0.1; server backend.test:80 service=http resolve;') },
  { id: 'service-literal', text: U('zone z 64k; resolver 127.0.0.1; server 10.0.0.1 service=http resolve;') },
  { id: 'resolver-duplicate', text: U('zone z 64k; resolver 127.0.0.1; resolver 127.0.0.2; server backend.test resolve;') },
  { id: 'resolver-bad-valid', text: U('zone z 64k; resolver 127.0.0.1 valid=1x; server backend.test resolve;') },
  { id: 'resolver-bad-ipv6', text: U('zone z 64k; resolver 127.0.0.1 ipv6=maybe; server backend.test resolve;') },
  { id: 'resolver-both-off', text: U('zone z 64k; resolver 127.0.0.1 ipv4=off ipv6=off; server backend.test resolve;') },
  { id: 'resolver-bad-port', text: U('zone z 64k; resolver 127.0.0.1:99999; server backend.test resolve;') },
  { id: 'resolver-params', text: U('zone z 64k; resolver 127.0.0.1:5353 [::1]:53 valid=30s ipv4=on ipv6=off; server backend.test resolve;') },
  { id: 'resolver-timeout', text: U('zone z 64k; resolver 127.0.0.1; resolver_timeout 5s; server backend.test resolve;') },
  { id: 'resolver-timeout-duplicate', text: U('zone z 64k; resolver 127.0.0.1; resolver_timeout 5s; resolver_timeout 6s; server backend.test resolve;') },
  { id: 'resolver-timeout-invalid', text: U('zone z 64k; resolver 127.0.0.1; resolver_timeout abc; server backend.test resolve;') },
  { id: 'stream-resolve-ok', text: S('zone z 64k; resolver 127.0.0.1; server backend.test:25 resolve;') },
  { id: 'stream-resolve-no-port', text: S('zone z 64k; resolver 127.0.0.1; server backend.test resolve;') },
  { id: 'stream-service-ok', text: S('zone z 64k; resolver 127.0.0.1; server backend.test service=smtp resolve;') },
  { id: 'stream-stream-resolver', text: S('zone z 64k; server backend.test:25 resolve;', 'resolver 127.0.0.1;') },
  { id: 'stream-no-zone', text: S('resolver 127.0.0.1; server backend.test:25 resolve;') },
];
