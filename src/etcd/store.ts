/**
 * The fleet store: what a fleet of balancers (docs/fleet.md) keeps in a consistent store, and the
 * interface a backend implements (`FleetStore`; etcd is the first, src/etcd/etcd-store.ts). One
 * upstream's state lives under `<prefix>/<upstream>/`:
 *
 *   servers/<id>   the desired server: its configuration and admin state (weight, down, drain, backup)
 *   verdicts/<id>  the checker's latest verdict for the server, with the term of the leader that wrote it
 *   leader         the checker's election key, attached to the leader's lease; its create revision is the term
 *   seeded         written once, with the first server list
 *
 * Values are JSON; every value read back is checked here field by field (`parseDesired`,
 * `parseVerdict`, `parseLeader`) and a malformed one is reported, never applied. No nginx source:
 * nginx has no state shared between machines (NGINX Plus's zone_sync shares sticky and limit state,
 * not health).
 */

import { type CheckState, isCount, isObject, parseCheckState } from '../cluster/messages';
import { type ErrorCode, UpstreamError } from '../errors';
import type { ServerOptions } from '../options';

/** A server as the fleet wants it: its options (admin flags included) and its position in the list. */
export interface DesiredServer {
  /** Configuration order: the list is sorted by `order`, then by id. */
  order: number;
  server: ServerOptions & { id: string };
}

/** One active-check result of the fleet's checker, and the check state it left on the leader. */
export interface Verdict {
  id: string;
  /** The term (the leader key's create revision) of the leader that published it. */
  term: number;
  ok: boolean;
  reason: string;
  ms: number;
  state: CheckState | null;
}

/** Who holds the checker role: the candidate's name, its term and its lease. */
export interface Leadership {
  candidate: string;
  /** The create revision of the leader key: grows with every new leader. */
  term: number;
  lease: string;
}

/** The whole state of one upstream at one revision. */
export interface FleetSnapshot {
  revision: number;
  servers: DesiredServer[];
  verdicts: Verdict[];
  leader: Leadership | null;
  /** Keys whose value could not be read (left as they are, reported in `error` events). */
  malformed: string[];
}

/** The changes of one revision, as a watch delivers them (in revision order, each revision once). */
export interface FleetBatch {
  revision: number;
  /** A server put (`desired`) or deleted (null). */
  servers: { id: string; desired: DesiredServer | null }[];
  verdicts: Verdict[];
  /** The leader key: put (a Leadership), deleted (null), or untouched (undefined). */
  leader?: Leadership | null;
  malformed: string[];
}

export interface FleetWatchListener {
  batch(batch: FleetBatch): void;
  /** The watch ended (the store is unreachable, or the revision was compacted); no batch follows. */
  error(error: unknown): void;
}

export interface FleetWatch {
  close(): Promise<void>;
}

/** A lease of the store: it expires `ttl` seconds after the store last heard from its holder. */
export interface FleetLease {
  readonly id: string;
  revoke(): Promise<void>;
}

/**
 * A backend of the fleet: one upstream's desired servers, verdicts and checker election. Every
 * write is one transaction; `publish` and `resign` are conditioned on still holding the leader key.
 */
export interface FleetStore {
  readonly upstream: string;
  load(): Promise<FleetSnapshot>;
  /** Delivers every change after `afterRevision`, one batch per revision, in order. */
  watch(afterRevision: number, listener: FleetWatchListener): Promise<FleetWatch>;
  /** Writes the first server list, unless one was ever written; true when this call wrote it. */
  seed(servers: DesiredServer[]): Promise<boolean>;
  /** Puts and deletes desired servers in one transaction; resolves with its revision. */
  writeServers(put: DesiredServer[], remove: string[]): Promise<number>;
  /** Grants a lease kept alive until revoked; `onLost` is called once if it is lost (expired, or the store unreachable for its TTL). */
  grantLease(ttlSeconds: number, onLost: (error: unknown) => void): Promise<FleetLease>;
  /** Takes the leader key for `candidate` on `lease` if nobody holds it; resolves with whoever holds it then. */
  campaign(lease: FleetLease, candidate: string): Promise<Leadership>;
  /** Writes a verdict if `leader` still holds the leader key; false when it does not. */
  publish(leader: Leadership, verdict: Verdict): Promise<boolean>;
  /** Deletes the leader key if `leader` still holds it. */
  resign(leader: Leadership): Promise<void>;
  close(): Promise<void>;
}

/** The code of fleet errors (the store unreachable, a write refused). */
export const FLEET_ERROR = 'ERR_UPSTREAM_FLEET';

/** An error of the fleet layer: the store failed or is unreachable, or a write cannot be made. */
export class FleetError extends UpstreamError {
  constructor(message: string, value?: unknown, options?: { cause?: unknown }) {
    super(FLEET_ERROR as ErrorCode, message, value, options);
    this.name = 'FleetError';
  }
}

/** The keys of one upstream under `prefix`. Ids are URI-encoded, so that a `/` in one stays in its segment. */
export class FleetKeys {
  readonly base: string;
  readonly servers: string;
  readonly verdicts: string;
  readonly leader: string;
  readonly seeded: string;

  constructor(prefix: string, upstream: string) {
    this.base = `${prefix.replace(/\/+$/, '')}/${encodeURIComponent(upstream)}/`;
    this.servers = `${this.base}servers/`;
    this.verdicts = `${this.base}verdicts/`;
    this.leader = `${this.base}leader`;
    this.seeded = `${this.base}seeded`;
  }

  server(id: string): string {
    return this.servers + encodeURIComponent(id);
  }

  verdict(id: string): string {
    return this.verdicts + encodeURIComponent(id);
  }

  /** What a key under the base is: a server's, a verdict's (with the id), the leader's, or another. */
  classify(key: string): { kind: 'server' | 'verdict'; id: string } | { kind: 'leader' | 'seeded' | 'other' } {
    if (key === this.leader) return { kind: 'leader' };
    if (key === this.seeded) return { kind: 'seeded' };
    for (const [kind, start] of [['server', this.servers], ['verdict', this.verdicts]] as const) {
      if (key.startsWith(start) && key.length > start.length) {
        try {
          return { kind, id: decodeURIComponent(key.slice(start.length)) };
        } catch {
          return { kind: 'other' };
        }
      }
    }
    return { kind: 'other' };
  }
}

function json(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A desired server read from the store, or null when the value is not one (or names another id). */
export function parseDesired(text: string, id: string): DesiredServer | null {
  const v = json(text);
  if (!isObject(v) || typeof v.order !== 'number' || !Number.isFinite(v.order) || !isObject(v.server) || v.server.id !== id) return null;
  if (typeof v.server.address !== 'string') return null;
  return { order: v.order, server: v.server as unknown as DesiredServer['server'] };
}

/** A verdict read from the store, or null when the value is not one. */
export function parseVerdict(text: string, id: string): Verdict | null {
  const v = json(text);
  if (!isObject(v) || !isCount(v.term) || typeof v.ok !== 'boolean' || typeof v.reason !== 'string') return null;
  if (typeof v.ms !== 'number' || !Number.isFinite(v.ms)) return null;
  const state = parseCheckState(v.state);
  if (state === undefined) return null;
  return { id, term: v.term, ok: v.ok, reason: v.reason, ms: v.ms, state };
}

/** The leader key's value and revisions, or null when the value is not one. */
export function parseLeader(text: string, term: number, lease: string): Leadership | null {
  const v = json(text);
  if (!isObject(v) || typeof v.candidate !== 'string' || v.candidate.length === 0 || !isCount(term)) return null;
  return { candidate: v.candidate, term, lease };
}

/** The stored form of a verdict (its id is in the key). */
export function verdictValue(v: Verdict): string {
  return JSON.stringify({ term: v.term, ok: v.ok, reason: v.reason, ms: v.ms, state: v.state });
}

/** The stored form of a desired server. */
export function desiredValue(d: DesiredServer): string {
  return JSON.stringify({ order: d.order, server: d.server });
}

/** The desired servers in configuration order: by `order`, then by id. */
export function orderedServers(servers: Iterable<DesiredServer>): DesiredServer[] {
  return [...servers].sort((a, b) => a.order - b.order || (a.server.id < b.server.id ? -1 : a.server.id > b.server.id ? 1 : 0));
}
