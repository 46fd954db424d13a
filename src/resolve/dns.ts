/**
 * The DNS queries a name resolver makes, as an interface the tests can fake, and its node:dns
 * implementation (`dns.promises.Resolver` with `setServers`, `resolve4` / `resolve6` with
 * `{ ttl: true }`, `resolveSrv`). A network edge, like the health probes: the core never imports it.
 *
 * A query resolves with the records of a NOERROR answer (an empty array is NODATA) and rejects
 * with a `DnsError` carrying the answer's failure as nginx's resolver names it (src/core/
 * ngx_resolver.c, `ngx_resolver_strerror`): `NXDOMAIN` ("Host not found"), `SERVFAIL`, `REFUSED`,
 * `FORMERR`, `NOTIMP`, or `TIMEOUT` (no answer: nginx's NGX_RESOLVE_TIMEDOUT) and `ERROR` (anything
 * else).
 */

import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { InvalidOptionError, UpstreamError, show } from '../errors';

/** An A or AAAA record: the address and its TTL in seconds. */
export interface AddressRecord {
  address: string;
  ttl: number;
}

/** An SRV record. `ttl` (seconds) when the client knows it: node:dns does not report SRV TTLs. */
export interface ServiceRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
  ttl?: number;
}

/** A failed answer, in nginx's words. */
export type DnsFailure = 'NXDOMAIN' | 'SERVFAIL' | 'REFUSED' | 'FORMERR' | 'NOTIMP' | 'TIMEOUT' | 'ERROR';

/** The queries of one resolution. Implementations must be safe to call concurrently. */
export interface DnsClient {
  /** A (`family` 4) or AAAA (6) records of `name`; [] = NODATA. */
  addresses(name: string, family: 4 | 6): Promise<AddressRecord[]>;
  /** SRV records of `name`; [] = NODATA. */
  services(name: string): Promise<ServiceRecord[]>;
  /** Cancels every query in flight (they reject); called by `close()`. */
  cancel?(): void;
}

/** A DNS failure: `code` `ERR_UPSTREAM_DNS`, `failure` in nginx's terms, `value` the name asked. */
export class DnsError extends UpstreamError {
  readonly failure: DnsFailure;
  constructor(failure: DnsFailure, name: string, message = `${name} could not be resolved (${failure})`) {
    super('ERR_UPSTREAM_DNS', message, name);
    this.name = 'DnsError';
    this.failure = failure;
  }
}

/** c-ares error codes (node:dns) to nginx's failures; NODATA is not a failure (an empty answer). */
const NODE_FAILURES: Readonly<Record<string, DnsFailure>> = {
  ENOTFOUND: 'NXDOMAIN',
  ESERVFAIL: 'SERVFAIL',
  EREFUSED: 'REFUSED',
  EFORMERR: 'FORMERR',
  ENOTIMP: 'NOTIMP',
  ETIMEOUT: 'TIMEOUT',
  ECONNREFUSED: 'TIMEOUT',
  ECANCELLED: 'TIMEOUT',
};

/** Options of the node:dns client. */
export interface NodeDnsOptions {
  /** Name servers, `ADDR[:PORT]` or `[V6]:PORT` (nginx's `resolver` words); address literals only. */
  servers: readonly string[];
  /** ms per try (c-ares doubles it on each retry); default 5000, nginx's resend interval. */
  timeout?: number;
  /** Tries per query; default 2. */
  tries?: number;
}

/** The default client: node:dns's c-ares resolver, asking only `servers`. */
export class NodeDnsClient implements DnsClient {
  readonly #resolver: Resolver;

  constructor(options: NodeDnsOptions) {
    this.#resolver = new Resolver({ timeout: options.timeout ?? 5000, tries: options.tries ?? 2 });
    // c-ares takes address literals only; nginx would resolve a name here at load time
    for (const server of options.servers) {
      if (!isIP(serverHost(server))) {
        throw new InvalidOptionError('servers', `A name server must be an IP address with an optional port (\`ADDR[:PORT]\`, \`[V6]:PORT\`), got ${show(server)}`, server);
      }
    }
    this.#resolver.setServers([...options.servers]);
  }

  async addresses(name: string, family: 4 | 6): Promise<AddressRecord[]> {
    try {
      const records = family === 4 ? await this.#resolver.resolve4(name, { ttl: true }) : await this.#resolver.resolve6(name, { ttl: true });
      return records.map((r) => ({ address: r.address, ttl: r.ttl }));
    } catch (error) {
      return noData(error, name);
    }
  }

  async services(name: string): Promise<ServiceRecord[]> {
    try {
      const records = await this.#resolver.resolveSrv(name);
      return records.map((r) => ({ name: r.name, port: r.port, priority: r.priority, weight: r.weight }));
    } catch (error) {
      return noData(error, name);
    }
  }

  cancel(): void {
    this.#resolver.cancel();
  }
}

/** The address part of `ADDR[:PORT]` / `[V6]:PORT` / a bare IPv6 address. */
function serverHost(server: string): string {
  if (server.startsWith('[')) return server.slice(1, server.indexOf(']'));
  if (isIP(server) === 6) return server;
  const colon = server.lastIndexOf(':');
  return colon < 0 ? server : server.slice(0, colon);
}

/** NODATA is an empty answer; any other error becomes a DnsError. */
function noData(error: unknown, name: string): never[] {
  const code = (error as { code?: unknown }).code;
  if (code === 'ENODATA') return [];
  throw new DnsError(typeof code === 'string' ? NODE_FAILURES[code] ?? 'ERROR' : 'ERROR', name);
}
