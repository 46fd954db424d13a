/**
 * The fleet's admin changes as store writes: `update`, `add`, `remove` and `setServers` turned into
 * the desired servers to put and the ids to delete, validated here as the balancer validates them
 * (server-fields.ts `resolveServer`, unique ids, a non-empty list), so that a change every member
 * would refuse never reaches the store. Pure: reads the desired map, returns the write. No nginx
 * source (nginx changes servers through NGINX Plus's API per instance only).
 */

import type { ServerPatch } from '../balancer';
import { InvalidOptionError, UpstreamError, show } from '../errors';
import type { ServerOptions } from '../options';
import { resolveServer } from '../server-fields';
import type { DesiredServer } from './store';

/** One transaction's worth of desired-server changes. */
export interface ServerWrite {
  put: DesiredServer[];
  remove: string[];
}

/** etcd's default cap on the operations of one transaction (`--max-txn-ops`); one is the `seeded` mark. */
export const MAX_TXN_OPS = 128;

function checked(server: ServerOptions, path: string): DesiredServer['server'] {
  const resolved = resolveServer(server, path);
  // The stored form is the caller's options with the id made explicit (defaults stay implicit).
  return { ...server, id: resolved.id };
}

function unknownId(id: string): UpstreamError {
  return new UpstreamError('ERR_UPSTREAM_UNKNOWN_ID', `No server with id ${show(id)} in the fleet's desired state`, id);
}

function nextOrder(desired: ReadonlyMap<string, DesiredServer>): number {
  let max = -1;
  for (const d of desired.values()) max = Math.max(max, d.order);
  return max + 1;
}

export function updateWrite(desired: ReadonlyMap<string, DesiredServer>, id: string, patch: ServerPatch): ServerWrite {
  const now = desired.get(id);
  if (now === undefined) throw unknownId(id);
  if (typeof patch !== 'object' || patch === null) throw new InvalidOptionError('patch', `Expected \`patch\` to be an object, got \`${show(patch)}\``, patch);
  if ('id' in patch) throw new InvalidOptionError('patch.id', 'A server\'s `id` cannot be changed by `update`', (patch as { id: unknown }).id);
  const merged: Record<string, unknown> = { ...now.server, ...patch, id };
  for (const key of Object.keys(merged)) if (merged[key] === undefined) delete merged[key];
  return { put: [{ order: now.order, server: checked(merged as unknown as ServerOptions, `servers[${show(id)}]`) }], remove: [] };
}

export function addWrite(desired: ReadonlyMap<string, DesiredServer>, server: ServerOptions): ServerWrite {
  const resolved = checked(server, 'server');
  if (desired.has(resolved.id)) throw new InvalidOptionError('server.id', `Duplicate server id ${show(resolved.id)}`, resolved.id, 'ERR_UPSTREAM_DUPLICATE_ID');
  return { put: [{ order: nextOrder(desired), server: resolved }], remove: [] };
}

export function removeWrite(desired: ReadonlyMap<string, DesiredServer>, id: string): ServerWrite {
  if (!desired.has(id)) throw unknownId(id);
  if (desired.size === 1) throw new UpstreamError('ERR_UPSTREAM_NO_SERVERS', `Removing ${show(id)} would leave the upstream without servers`, id);
  return { put: [], remove: [id] };
}

export function replaceWrite(desired: ReadonlyMap<string, DesiredServer>, list: readonly ServerOptions[]): ServerWrite {
  if (!Array.isArray(list) || list.length === 0) throw new UpstreamError('ERR_UPSTREAM_NO_SERVERS', 'setServers needs a non-empty list of servers', list);
  const seen = new Set<string>();
  const put = list.map((server, order) => {
    const s = checked(server, `servers[${order}]`);
    if (seen.has(s.id)) throw new InvalidOptionError(`servers[${order}].id`, `Duplicate server id ${show(s.id)}`, s.id, 'ERR_UPSTREAM_DUPLICATE_ID');
    seen.add(s.id);
    return { order, server: s };
  });
  const remove = [...desired.keys()].filter((id) => !seen.has(id));
  return { put, remove };
}

/** The write unchanged servers left out: a put equal to what the store holds is no change. */
export function withoutUnchanged(desired: ReadonlyMap<string, DesiredServer>, write: ServerWrite): ServerWrite {
  const same = (d: DesiredServer): boolean => {
    const now = desired.get(d.server.id);
    return now !== undefined && now.order === d.order && JSON.stringify(now.server) === JSON.stringify(d.server);
  };
  return { put: write.put.filter((d) => !same(d)), remove: write.remove };
}

/** The number of operations the write takes in one transaction (the `seeded` mark included). */
export function operationsOf(write: ServerWrite): number {
  return write.put.length + write.remove.length + 1;
}
