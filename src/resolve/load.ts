/**
 * Host names in `server` lines without `resolve`, resolved once when the configuration is loaded,
 * as nginx does (`ngx_parse_url` → `ngx_inet_resolve_host` in src/core/ngx_inet.c: getaddrinfo with
 * AF_UNSPEC, SOCK_STREAM and AI_ADDRCONFIG, every IPv4 and IPv6 address in the order it returns them;
 * `ngx_http_upstream_init_round_robin` then makes one peer per address, each with the line's
 * parameters). A name that does not resolve is nginx's `host not found in upstream "NAME[:PORT]"`,
 * a `ConfigError` at the `server` line.
 *
 * Peer ids follow peers.ts: `LINE@IP:PORT` (`backend.test:8080@127.0.0.2:8080`), the address is
 * `IP:PORT`. A line whose host is an address literal or a unix socket is left as it is.
 */

import { lookup as osLookup } from 'node:dns/promises';
import { ADDRCONFIG } from 'node:dns';
import { ConfigError } from '../errors';
import type { ServerOptions } from '../options';
import { peerAddress } from './peers';

/** getaddrinfo's answer for one host: its addresses in order ([] or a rejection = not found). */
export type HostLookup = (host: string) => Promise<{ address: string; family: number }[]>;

/** The system resolver, as nginx's getaddrinfo call asks it. */
export const systemLookup: HostLookup = (host) => osLookup(host, { all: true, order: 'verbatim', hints: ADDRCONFIG });

/** Where a server line is, for the error. */
export interface LineSource {
  file: string;
  line: number;
  column: number;
}

const IPV4 = /^[0-9]{1,3}(\.[0-9]{1,3}){3}$/;

/** The host and port of an inet address as written; undefined for a unix socket or a literal. */
export function hostOf(address: string, defaultPort: number): { host: string; port: number } | undefined {
  if (address.toLowerCase().startsWith('unix:') || address.startsWith('[')) return undefined;
  const colon = address.indexOf(':');
  const host = colon < 0 ? address : address.slice(0, colon);
  const port = colon < 0 ? defaultPort : Number(address.slice(colon + 1));
  if (IPV4.test(host) && host.split('.').every((o) => Number(o) <= 255)) return undefined;
  return { host, port };
}

/**
 * Expands every server whose address is a host name into one server per address (but those whose id
 * is in `skip`: the `resolve` lines' templates). `sources[i]` is where `servers[i]` was written. Throws `ConfigError` (kind `HOST_NOT_FOUND`).
 */
export async function expandHostNames(
  servers: readonly ServerOptions[],
  sources: readonly (LineSource | undefined)[],
  context: 'http' | 'stream',
  hostLookup: HostLookup = systemLookup,
  skip: ReadonlySet<string> = new Set(),
): Promise<ServerOptions[]> {
  const answers = await Promise.all(
    servers.map(async (s) => {
      const name = skip.has(s.id ?? s.address) ? undefined : hostOf(s.address, context === 'http' ? 80 : 0);
      if (name === undefined) return undefined;
      let found: { address: string; family: number }[];
      try {
        found = await hostLookup(name.host);
      } catch {
        found = [];
      }
      return { name, found: found.filter((a) => a.family === 4 || a.family === 6) };
    }),
  );
  const out: ServerOptions[] = [];
  for (let i = 0; i < servers.length; i++) {
    const s = servers[i]!;
    const a = answers[i];
    if (a === undefined) {
      out.push(s);
      continue;
    }
    if (a.found.length === 0) {
      const at = sources[i] ?? { file: 'nginx.conf', line: 0, column: 0 };
      throw new ConfigError(`host not found in upstream "${s.address}"`, at, 'HOST_NOT_FOUND', s.address);
    }
    const lineId = s.id ?? s.address;
    const seen = new Set<string>();
    for (const f of a.found) {
      const address = peerAddress(f.address, a.name.port);
      let id = `${lineId}@${address}`;
      for (let n = 2; seen.has(id); n++) id = `${lineId}@${address}#${n}`;
      seen.add(id);
      out.push({ ...s, id, address });
    }
  }
  return out;
}
