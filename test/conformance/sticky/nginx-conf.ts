/**
 * A sticky scenario as nginx runs it and as its vector's head records it: the `upstream u { }`
 * block (method, `sticky`, `server` lines with `drain` and `route=`), the proxying
 * `location / { }` directives, the whole config for a scratch prefix, the session id of each
 * server (nginx's `ngx_http_upstream_create_sid`: the `route=`, else the lowercase hex MD5 of the
 * address text as nginx prints the peer name), and the vector head with canonical addresses
 * (server i is 127.0.0.1:(20001 + i); the recorder runs the same config on free ports and maps the
 * ids back; the `server` lines, defaults and config scaffolding are the shared ones of
 * `../scenario-server.ts` and `../http-io.ts`). Pure functions of the scenario.
 */

import { createHash } from 'node:crypto';
import { canonical, httpNginxConf, UPSTREAM } from '../http-io';
import type { NginxBinary } from '../nginx-process';
import { serverLine, vectorServer } from '../scenario-server';
import type { StickyVector, StickyVectorServer } from './format';
import type { StickyScenario, StickyScenarioServer } from './scenarios';

/** The session id nginx gives `server` at `address`. */
export function sessionId(s: StickyScenarioServer, address: string): string {
  return s.route ?? createHash('md5').update(address).digest('hex');
}

export function upstreamBlock(sc: StickyScenario, address: (i: number) => string): string {
  const lines = [`upstream ${UPSTREAM} {`];
  if (sc.method) lines.push(`    ${sc.method}`);
  lines.push(`    ${sc.sticky}`);
  sc.servers.forEach((s, i) => lines.push(`    ${serverLine(s, address(i))}`));
  lines.push('}');
  return lines.join('\n');
}

/** The directives of the `location / { }` block, on one line. */
export function proxyDirectives(sc: StickyScenario): string {
  const d = [`proxy_pass http://${UPSTREAM};`];
  if (sc.nextUpstream) d.push(`proxy_next_upstream ${sc.nextUpstream};`);
  // postpone_output 0: a response header goes to the client at once (a `body` hold shows it arrived).
  d.push('proxy_connect_timeout 1s;', 'proxy_read_timeout 5s;', 'postpone_output 0;');
  return d.join(' ');
}

/** The whole config: backends on `ports`, nginx on `listenPort`, everything else in `dir`. */
export function nginxConf(dir: string, sc: StickyScenario, binary: NginxBinary, ports: number[], listenPort: number): string {
  return httpNginxConf({
    recorder: 'test/conformance/sticky/record.ts',
    scenario: sc.name,
    binary,
    dir,
    logFormat: '$request_uri|$status|$upstream_addr|$upstream_status|$msec|$request_time',
    upstream: upstreamBlock(sc, (i) => `127.0.0.1:${ports[i]}`),
    proxy: proxyDirectives(sc),
    listenPort,
  });
}

/** The vector's servers: every nginx default filled in, canonical addresses and session ids. */
export function vectorServers(sc: StickyScenario): StickyVectorServer[] {
  return sc.servers.map((s, i) => {
    const { id, address, ...params } = vectorServer(s, s.id, canonical(i));
    return { id, address, sid: sessionId(s, address), ...params, drain: s.drain ?? false, route: s.route ?? null, refusing: s.refusing ?? false, answers: s.answers ?? [] };
  });
}

/** The vector's head: what was run. */
export function vectorHead(sc: StickyScenario): Omit<StickyVector, 'nginx'> {
  return {
    format: 1,
    scenario: sc.name,
    description: sc.description,
    context: 'http',
    config: upstreamBlock(sc, canonical),
    proxy: proxyDirectives(sc),
    nextUpstream: sc.nextUpstream === undefined ? null : sc.nextUpstream.split(' '),
    servers: vectorServers(sc),
  };
}

/** `text` with every `{ID}` replaced by that server's session id from `sids`. */
export function fillIds(text: string, sids: ReadonlyMap<string, string>): string {
  return text.replace(/\{([A-Z])\}/g, (whole, id: string) => {
    const sid = sids.get(id);
    if (sid === undefined) throw new Error(`${whole}: no such server`);
    return sid;
  });
}
