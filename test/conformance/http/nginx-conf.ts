/**
 * A scenario as nginx runs it and as its vector's head records it: the `upstream u { }` block, the
 * proxying `location / { }` directives, the whole config for a scratch prefix, and the vector head
 * (canonical addresses: server i is 127.0.0.1:(20001 + i); the recorder runs the same config on free
 * ports; the config scaffolding is `../http-io.ts`'s). Pure functions of the scenario.
 */

import { serverLine, vectorServer } from '../scenario-server';
import type { HttpVector } from './format';
import { canonical, httpNginxConf, UPSTREAM } from '../http-io';
import type { NginxBinary } from '../nginx-process';
import { READ_TIMEOUT_MS, type HttpScenario } from './scenarios';


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
  return httpNginxConf({
    recorder: 'test/conformance/http/record.ts',
    scenario: sc.name,
    binary,
    dir,
    logFormat: '$request_uri|$status|$upstream_addr|$upstream_status|$msec|$request_time|$upstream_response_time',
    upstream: upstreamBlock(sc, (i) => `127.0.0.1:${ports[i]}`),
    proxy: proxyDirectives(sc),
    listenPort,
  });
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
