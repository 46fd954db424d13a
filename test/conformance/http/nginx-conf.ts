/**
 * A scenario as nginx runs it and as its vector's head records it: the `upstream u { }` block, the
 * proxying `location / { }` directives, the whole config for a scratch prefix, and the vector head
 * (canonical addresses: server i is 127.0.0.1:(20001 + i); the recorder runs the same config on free
 * ports). Pure functions of the scenario.
 */

import { serverLine, vectorServer } from '../scenario-server';
import type { HttpVector } from './format';
import { mainContext, type NginxBinary } from '../nginx-process';
import { READ_TIMEOUT_MS, type HttpScenario } from './scenarios';

/** Upstream name; `$upstream_addr` shows it when no server was eligible. */
export const UPSTREAM = 'u';
/** Canonical addresses written into vectors: server i is 127.0.0.1:(20001 + i). */
const CANONICAL_BASE = 20000;
const canonical = (i: number): string => `127.0.0.1:${CANONICAL_BASE + 1 + i}`;

export function upstreamBlock(sc: HttpScenario, address: (i: number) => string): string {
  return [`upstream ${UPSTREAM} {`, ...sc.servers.map((s, i) => `    ${serverLine(s, address(i))}`), '}'].join('\n');
}

/** The directives of the `location / { }` block, on one line. */
export function proxyDirectives(sc: HttpScenario): string {
  const d = [`proxy_pass http://${UPSTREAM};`];
  if (sc.nextUpstream) d.push(`proxy_next_upstream ${sc.nextUpstream.join(' ')};`);
  if (sc.tries) d.push(`proxy_next_upstream_tries ${sc.tries};`);
  if (sc.timeout) d.push(`proxy_next_upstream_timeout ${sc.timeout}ms;`);
  d.push('proxy_connect_timeout 1s;', `proxy_read_timeout ${sc.readTimeout ?? READ_TIMEOUT_MS}ms;`);
  return d.join(' ');
}

/** The whole config: backends on `ports`, nginx on `listenPort`, everything else in `dir`. */
export function nginxConf(dir: string, sc: HttpScenario, binary: NginxBinary, ports: number[], listenPort: number): string {
  return `# written by test/conformance/http/record.ts for scenario ${sc.name} (nginx ${binary.version})
${mainContext(binary, dir, 64)}http {
    log_format rec '$request_uri|$status|$upstream_addr|$upstream_status|$msec|$request_time|$upstream_response_time';
    access_log ${dir}/access.log rec;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    ${upstreamBlock(sc, (i) => `127.0.0.1:${ports[i]}`).replace(/\n/g, '\n    ')}
    server {
        listen 127.0.0.1:${listenPort};
        location / { ${proxyDirectives(sc)} }
    }
}
`;
}

/** The vector's head: what was run, with every nginx default filled in. */
export function vectorHead(sc: HttpScenario): Omit<HttpVector, 'nginx'> {
  return {
    format: 1,
    scenario: sc.name,
    description: sc.description,
    context: 'http',
    config: upstreamBlock(sc, canonical),
    proxy: proxyDirectives(sc),
    nextUpstream: sc.nextUpstream ?? null,
    tries: sc.tries ?? 0,
    timeout: sc.timeout ?? 0,
    readTimeout: sc.readTimeout ?? READ_TIMEOUT_MS,
    refusing: sc.servers.filter((s) => s.refusing).map((s) => s.id),
    notFailed: sc.notFailed ?? [],
    servers: sc.servers.map((s, i) => ({ ...vectorServer(s, s.id, canonical(i)), answers: s.answers ?? [], then: s.then ?? '200' })),
  };
}
