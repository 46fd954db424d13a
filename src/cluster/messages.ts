/**
 * The messages a cluster primary and its workers exchange about one upstream (docs/cluster.md,
 * "Message format"): plain JSON objects, namespaced by the key `upstream-balancer` (the protocol
 * version, 1) and the upstream's name, so that they share the IPC channel with the application's
 * own messages and with other upstreams. `parseMessage` accepts only well-formed messages of this
 * protocol and returns null for anything else; it never throws. No nginx source: nginx's workers
 * share the zone's memory instead (ngx_http_upstream_zone_module.c), which processes cannot.
 */

import type { ServerPatch } from '../balancer';
import type { ServerOptions } from '../options';

/** The namespace key and the protocol version every message carries. */
export const PROTOCOL_KEY = 'upstream-balancer';
export const PROTOCOL_VERSION = 1;

/** A server's active-check state, as `Balancer.restoreCheck` takes it. */
export interface CheckState {
  down: boolean;
  pending: boolean;
  rise: number;
  fall: number;
  passed: number;
  failed: number;
}

/** One server of a full sync: its configuration (admin state included) and its check state. */
export interface SyncedServer {
  server: ServerOptions & { id: string };
  /** null when the primary's balancer has no check state for it (checks not configured). */
  check: CheckState | null;
}

/** What every message of the primary carries. */
interface Envelope {
  [PROTOCOL_KEY]: typeof PROTOCOL_VERSION;
  upstream: string;
  /** Identifies one `shareHealth` (a new share starts a new sequence). */
  epoch: string;
  /** Position in the primary's sequence; a sync carries the sequence number it brings a worker to. */
  seq: number;
}

/** A check result and the state it left on the primary. */
export interface CheckMessage extends Envelope { type: 'check'; id: string; ok: boolean; reason: string; ms: number; state: CheckState | null }
/** `update(id, patch)`, and the server's check state after it (a server back from `down` checks again). */
export interface UpdateMessage extends Envelope { type: 'update'; id: string; patch: ServerPatch; state: CheckState | null }
/** `add(server)`: the server's configuration as the primary resolved it, and its first check state. */
export interface AddMessage extends Envelope { type: 'add'; server: ServerOptions & { id: string }; state: CheckState | null }
export interface RemoveMessage extends Envelope { type: 'remove'; id: string }
/** `setServers(list)`: the list as the primary resolved it, each with its check state after the change. */
export interface ServersMessage extends Envelope { type: 'servers'; servers: SyncedServer[] }
/** The whole state: the server list in configuration order, each with its check state. */
export interface SyncMessage extends Envelope { type: 'sync'; servers: SyncedServer[] }

/** A message of the primary. */
export type PrimaryMessage = CheckMessage | UpdateMessage | AddMessage | RemoveMessage | ServersMessage | SyncMessage;

/** A worker asks for a full sync (when it starts following, and after a gap in the sequence). */
export interface HelloMessage {
  [PROTOCOL_KEY]: typeof PROTOCOL_VERSION;
  upstream: string;
  type: 'hello';
}

export function helloMessage(upstream: string): HelloMessage {
  return { [PROTOCOL_KEY]: PROTOCOL_VERSION, upstream, type: 'hello' };
}

/** A plain object's fields (what `isObject` admits). */
export type Fields = Record<string, unknown>;

/** A plain object (not null, not an array): the shape of a message or a stored value. */
export const isObject = (v: unknown): v is Fields => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A whole number from 0 up to 2^53 - 1. */
export const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isText = (v: unknown): v is string => typeof v === 'string';
const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** The message of this protocol for `upstream`, or null (another upstream, the app's own, or malformed). */
function envelope(value: unknown, upstream: string): Fields | null {
  if (!isObject(value)) return null;
  if (value[PROTOCOL_KEY] !== PROTOCOL_VERSION || value.upstream !== upstream) return null;
  return value;
}

/** A hello of a worker for `upstream`. */
export function isHello(value: unknown, upstream: string): boolean {
  return envelope(value, upstream)?.type === 'hello';
}

/** A check state as sent or stored (null: the server has none), or undefined when `v` is not one. */
export function parseCheckState(v: unknown): CheckState | null | undefined {
  if (v === null) return null;
  if (!isObject(v)) return undefined;
  const { down, pending, rise, fall, passed, failed } = v;
  if (typeof down !== 'boolean' || typeof pending !== 'boolean') return undefined;
  if (!isCount(rise) || !isCount(fall) || !isCount(passed) || !isCount(failed)) return undefined;
  return { down, pending, rise, fall, passed, failed };
}

function isServerList(v: unknown): v is SyncedServer[] {
  return Array.isArray(v) && v.every((s) => isObject(s) && isObject(s.server) && isId(s.server.id) && parseCheckState(s.check) !== undefined);
}

/**
 * A primary's message for `upstream`, checked field by field, or null. The server options and
 * patches are passed on as objects: the balancer validates them as it validates any caller's.
 */
export function parseMessage(value: unknown, upstream: string): PrimaryMessage | null {
  const m = envelope(value, upstream);
  if (m === null || !isId(m.epoch) || !isCount(m.seq)) return null;
  switch (m.type) {
    case 'check': {
      const state = parseCheckState(m.state);
      if (!isId(m.id) || typeof m.ok !== 'boolean' || !isText(m.reason) || typeof m.ms !== 'number' || !Number.isFinite(m.ms) || state === undefined) return null;
      return m as unknown as CheckMessage;
    }
    case 'update':
      return isId(m.id) && isObject(m.patch) && parseCheckState(m.state) !== undefined ? (m as unknown as UpdateMessage) : null;
    case 'add':
      return isObject(m.server) && isId(m.server.id) && parseCheckState(m.state) !== undefined ? (m as unknown as AddMessage) : null;
    case 'remove':
      return isId(m.id) ? (m as unknown as RemoveMessage) : null;
    case 'servers':
      return isServerList(m.servers) ? (m as unknown as ServersMessage) : null;
    case 'sync':
      return isServerList(m.servers) ? (m as unknown as SyncMessage) : null;
    default:
      return null;
  }
}
