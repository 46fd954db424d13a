/**
 * How a resolution changes an upstream's servers, as nginx 1.30.4's
 * `ngx_http_upstream_zone_resolve_handler` changes its peers (src/http/modules/
 * ngx_http_upstream_zone_module.c; the stream twin is the same). Pure: the server list in, the
 * new list out, for `balancer.setServers` (whose ids keep the state of surviving servers).
 *
 * - A peer of the name that matches an address of the answer stays where it is with its state; a
 *   peer that matches none is removed; an address no peer matched becomes a new peer at the end
 *   of its tier. Matching is by IP (and port, for a service), and for a service also by SRV
 *   target and, when the line's weight is 1, by SRV weight (a changed weight is a new peer).
 * - A name's peers take the line's port and parameters. A service's take the SRV port, the line's
 *   parameters, and the SRV weight unless the line set `weight=`.
 * - A service's addresses of the lowest priority go to the line's tier; the others, for a primary
 *   line, become backup peers when the upstream has a backup tier (round robin and least_conn
 *   always; hash, ip_hash and random only with backup lines), else are dropped.
 * - The Balancer needs a primary server: when none is left, the first `resolve` line stands in as
 *   its template (its id and written address, `down`), which nginx's empty tier behaves like.
 *
 * Peer ids (docs/dns.md): `LINE@IP:PORT` for a name (`backend.test:8080@127.0.0.2:8080`),
 * `LINE@TARGET@IP:PORT` for a service, with `;weight=W` when the SRV weight is the peer's weight
 * (`backend.test@b1.test@127.0.0.2:8081;weight=5`). `LINE` is the line's id. The address is the
 * peer's `IP:PORT` (`[V6]:PORT`), nginx's peer name.
 */

import type { ServerOptions } from '../options';
import type { ResolvedAddress } from './lookup';

/** A `resolve` line as the resolver keeps it. */
export interface NameLine {
  /** The line's id: the prefix of its peers' ids and the id of its template. */
  id: string;
  host: string;
  /** The peers' port (a name); 0 for a service. */
  port: number;
  service?: string;
  /** The line's parameters; `address` as written. */
  server: ServerOptions;
}

/** The new list and what changed. */
export interface PeerChange {
  servers: ServerOptions[];
  added: string[];
  removed: string[];
}

/** `IP:PORT`, or `[IP]:PORT` for IPv6: nginx's `ngx_sock_ntop` with the port. */
export function peerAddress(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** The peer an address of `line`'s answer makes (its id without a duplicate suffix). */
export function peerFor(line: NameLine, a: ResolvedAddress, backup: boolean): ServerOptions {
  const service = line.service !== undefined;
  const address = peerAddress(a.ip, service ? a.port! : line.port);
  const lineWeight = line.server.weight ?? 1;
  const srvWeight = service && lineWeight === 1;
  const id = service ? `${line.id}@${a.target}@${address}${srvWeight ? `;weight=${a.weight}` : ''}` : `${line.id}@${address}`;
  return { ...line.server, id, address, weight: srvWeight ? a.weight : lineWeight, backup };
}

/**
 * Applies one answer of `line` to `servers` (the balancer's list, in order). `owned` tells whether
 * a server id is a peer of `line`; `templates` are the ids of every line's template (a template in
 * the list is dropped once a primary exists); `firstLine` is the line whose template stands in for an
 * empty primary tier; `backupTier` whether the upstream has one.
 */
export function applyAnswer(
  servers: readonly ServerOptions[],
  line: NameLine,
  addresses: readonly ResolvedAddress[],
  owned: (id: string) => boolean,
  templates: ReadonlySet<string>,
  firstLine: NameLine,
  backupTier: boolean,
): PeerChange {
  const lineBackup = line.server.backup === true;
  const minPriority = addresses.reduce((m, a) => Math.min(m, a.priority), 65535);
  // The peers each tier of the answer should hold, ids made unique in answer order.
  const wanted = new Map<string, ServerOptions>();
  for (const a of addresses) {
    const lower = a.priority !== minPriority;
    if (lower && (lineBackup || !backupTier)) continue;
    const peer = peerFor(line, a, lineBackup || lower);
    let id = peer.id!;
    for (let n = 2; wanted.has(id); n++) id = `${peer.id}#${n}`;
    wanted.set(id, { ...peer, id });
  }
  const removed: string[] = [];
  const kept: ServerOptions[] = [];
  for (const s of servers) {
    const id = s.id ?? s.address;
    if (!owned(id)) {
      kept.push(s);
      continue;
    }
    const w = wanted.get(id);
    if (w !== undefined && (w.backup === true) === (s.backup === true)) {
      kept.push(s);
      wanted.delete(id);
    } else removed.push(id);
  }
  // New peers go to the end of their tier: the end of the list (tiers are filtered from it in order).
  const added = [...wanted.keys()];
  let next = [...kept, ...wanted.values()];
  next = withTemplate(next, templates, firstLine);
  return { servers: next, added, removed };
}

/** Drops templates once a primary peer exists; adds `firstLine`'s when no primary is left. */
export function withTemplate(list: ServerOptions[], templates: ReadonlySet<string>, firstLine: NameLine, removed: string[] = []): ServerOptions[] {
  const isTemplate = (s: ServerOptions): boolean => templates.has(s.id ?? s.address) && s.down === true;
  const primaries = list.filter((s) => s.backup !== true && !isTemplate(s));
  if (primaries.length > 0) {
    for (const s of list) if (isTemplate(s)) removed.push(s.id ?? s.address);
    return list.filter((s) => !isTemplate(s));
  }
  if (list.some(isTemplate)) return list;
  return [{ ...firstLine.server, id: firstLine.id, down: true, backup: false }, ...list];
}
