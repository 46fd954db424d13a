/**
 * One resolution of a `resolve` server's name as nginx 1.30.4's resolver makes it (src/core/
 * ngx_resolver.c): `ngx_resolve_name` / `ngx_resolver_process_a` for a name, `ngx_resolver_process_srv`,
 * `ngx_resolver_resolve_srv_names` and `ngx_resolver_report_srv` for `service=`.
 *
 * A name: A and AAAA are asked together (`ipv4=`, `ipv6=` of `resolver`); the addresses are the A
 * records then the AAAA records, in answer order; the TTL is the smallest of all. Any failed answer
 * fails the whole resolution (nginx keeps the first failure and reports it even when the other
 * type answered); NODATA for every type asked is NXDOMAIN.
 * A service: the SRV records (NODATA = NXDOMAIN), ordered by priority (a stable sort), each target
 * resolved as a name; a target that fails contributes no address. Within one priority, the list
 * starts at a target drawn with probability proportional to (its addresses × its weight) and goes
 * round from there (`ngx_random() % nw`; here the injected `rng`). An SRV weight 0 counts as 1. If no
 * target has an address, the failure is NXDOMAIN when any target had NXDOMAIN, else the first
 * target's. The TTL is the smallest of the SRV record's (when the client knows it) and the
 * answering targets'.
 * Pure apart from the queries: no timers (the caller applies `resolver_timeout`).
 */

import { type DnsClient, DnsError, type DnsFailure } from './dns';

/** One address of an answer (nginx's `ngx_resolver_addr_t`). */
export interface ResolvedAddress {
  /** The IP address, as the client gives it. */
  ip: string;
  family: 4 | 6;
  /** The SRV record's port; undefined for a name (the `server` line's port). */
  port?: number;
  /** The SRV record's target; undefined for a name. */
  target?: string;
  /** The SRV record's priority (0 for a name). */
  priority: number;
  /** The SRV record's weight, 0 read as 1 (1 for a name). */
  weight: number;
}

/** What one resolution gave. */
export type Resolution =
  | { ok: true; addresses: ResolvedAddress[]; ttl: number; targetFailures: { target: string; failure: DnsFailure }[] }
  | { ok: false; failure: DnsFailure };

/** What to ask. */
export interface LookupQuery {
  host: string;
  /** `service=NAME` of the line. */
  service?: string;
  ipv4: boolean;
  ipv6: boolean;
}

/** The SRV name nginx asks for `service=NAME` of `host` (`ngx_resolve_name`). */
export function serviceName(service: string, host: string): string {
  return service.includes('.') ? `${service}.${host}` : `_${service}._tcp.${host}`;
}

const failureOf = (error: unknown): DnsFailure => (error instanceof DnsError ? error.failure : 'ERROR');

/** A and / or AAAA of one name. */
async function resolveHost(client: DnsClient, name: string, ipv4: boolean, ipv6: boolean): Promise<Resolution> {
  const asked = [...(ipv4 ? [4 as const] : []), ...(ipv6 ? [6 as const] : [])];
  const answers = await Promise.allSettled(asked.map((family) => client.addresses(name, family)));
  const addresses: ResolvedAddress[] = [];
  let ttl = Infinity;
  for (let i = 0; i < answers.length; i++) {
    const a = answers[i]!;
    if (a.status === 'rejected') return { ok: false, failure: failureOf(a.reason) };
    for (const r of a.value) {
      addresses.push({ ip: r.address, family: asked[i]!, priority: 0, weight: 1 });
      ttl = Math.min(ttl, Math.max(0, r.ttl));
    }
  }
  if (addresses.length === 0) return { ok: false, failure: 'NXDOMAIN' };
  return { ok: true, addresses, ttl, targetFailures: [] };
}

/** Resolves a `resolve` server's name or service once. `rng` draws the SRV rotation. */
export async function lookup(client: DnsClient, query: LookupQuery, rng: () => number): Promise<Resolution> {
  if (query.service === undefined) return resolveHost(client, query.host, query.ipv4, query.ipv6);
  let records;
  try {
    records = await client.services(serviceName(query.service, query.host));
  } catch (error) {
    return { ok: false, failure: failureOf(error) };
  }
  if (records.length === 0) return { ok: false, failure: 'NXDOMAIN' };
  const srvs = records.map((r) => ({ ...r, weight: r.weight === 0 ? 1 : r.weight })).sort((a, b) => a.priority - b.priority);
  const targets = await Promise.all(srvs.map((s) => resolveHost(client, s.name, query.ipv4, query.ipv6)));
  let ttl = Math.min(...srvs.map((s) => (s.ttl === undefined ? Infinity : Math.max(0, s.ttl))));
  const targetFailures: { target: string; failure: DnsFailure }[] = [];
  let total = 0;
  for (let i = 0; i < srvs.length; i++) {
    const t = targets[i]!;
    if (t.ok) {
      total += t.addresses.length;
      ttl = Math.min(ttl, t.ttl);
    } else targetFailures.push({ target: srvs[i]!.name, failure: t.failure });
  }
  if (total === 0) {
    const first = targets[0]!;
    return { ok: false, failure: targetFailures.some((f) => f.failure === 'NXDOMAIN') ? 'NXDOMAIN' : first.ok ? 'NXDOMAIN' : first.failure };
  }
  const count = (k: number): number => {
    const t = targets[k]!;
    return t.ok ? t.addresses.length : 0;
  };
  const addresses: ResolvedAddress[] = [];
  for (let i = 0; i < srvs.length; ) {
    let j = i;
    let nw = 0;
    while (j < srvs.length && srvs[j]!.priority === srvs[i]!.priority) {
      nw += count(j) * srvs[j]!.weight;
      j++;
    }
    if (nw > 0) {
      let w = Math.floor(rng() * nw);
      let k = i;
      while (w >= count(k) * srvs[k]!.weight) {
        w -= count(k) * srvs[k]!.weight;
        k++;
      }
      for (let l = i; l < j; l++) {
        const t = targets[k]!;
        const s = srvs[k]!;
        if (t.ok) for (const a of t.addresses) addresses.push({ ip: a.ip, family: a.family, port: s.port, target: s.name, priority: s.priority, weight: s.weight });
        if (++k === j) k = i;
      }
    }
    i = j;
  }
  return { ok: true, addresses, ttl, targetFailures };
}
