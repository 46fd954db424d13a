/**
 * `hash KEY consistent` (ketama), exactly as nginx's `ngx_http_upstream_init_chash` /
 * `ngx_http_upstream_update_chash`, `ngx_http_upstream_find_chash_point` and
 * `ngx_http_upstream_get_chash_peer` (stream the same; docs/nginx-semantics.md §5.3), compatible with
 * Cache::Memcached::Fast with ketama_points=160.
 *
 * The ring: for every primary server in config order (down ones included), its `address` text as
 * written (not resolved) is split into host and port (`unix:` prefix -> the path and no port;
 * otherwise the digits after the last ':' are the port, if the text ends in digits preceded by
 * ':'), `base = crc32-update(HOST \0 PORT)` (not finalised), and `160 * weight` points are
 * chained: `point = crc32-final(base + le32(previous point))`, starting from 0. Points are sorted
 * (stably: a radix sort, like glibc's merge-sort qsort) and equal hashes are deduplicated keeping
 * the first, so servers sharing an address text share their points.
 *
 * Lookup: `crc32(key)` -> the first point >= it (binary search, wrapping), computed once per
 * request. A get walks from that point: among the available servers of the request's tier whose
 * address equals the point's, one smooth-WRR round picks the winner; if none, the next point (one
 * try); after more than 20 tries, or with a single-server upstream, or an empty key, round
 * robin's get takes over (backup tier included). The walk position is kept across retries.
 *
 * The ring is built once per membership change (`rebuildRing`, O(P) with P = 160 * total
 * weight: point generation plus an O(P) radix sort), never per pick; a get costs one CRC of the
 * key on the first attempt, O(log P) for the search and O(servers sharing the address) per point.
 */

import { InvalidOptionError } from '../errors';
import type { Peers } from '../peers';
import type { Tier } from '../tier';
import type { ResolvedServer } from '../server-fields';
import { isAvailable } from './available';
import { CRC32_INIT, crc32, crc32Byte, crc32Final, crc32Le32, crc32Utf8 } from './crc32';
import { HASH_MAX_TRIES } from './hash';
import { hintedServer } from './hint';
import { type RequestState, walkOf } from './request';
import { getRoundRobin } from './round-robin/index';
import { NO_SHORTCUT, type Selector } from './selector';
import { swrrStep } from './swrr';

/**
 * Points per unit of weight (nginx's constant 160, ketama's default).
 *
 * @example
 * buildRing(peers).points.length <= POINTS_PER_WEIGHT * peers.primary.totalWeight; // true
 */
const POINTS_PER_WEIGHT = 160;

/**
 * Largest ring this library builds (160 * total weight points); beyond, `buildRing` throws
 * `InvalidOptionError` (a total weight of 104857 is the limit).
 *
 * @example
 * 160 * totalWeight <= MAX_RING_POINTS; // required for hash: { consistent: true }
 */
export const MAX_RING_POINTS = 1 << 24;

/** Throws `InvalidOptionError` when a ring over primaries of total weight `total` would be too large. */
function requireRingFits(total: number): void {
  if (total * POINTS_PER_WEIGHT > MAX_RING_POINTS) {
    throw new InvalidOptionError(
      'hash.consistent',
      `consistent hash ring too large: 160 * total weight ${total} = ${total * POINTS_PER_WEIGHT} points, more than ${MAX_RING_POINTS}`,
      total,
    );
  }
}

/**
 * The servers of one tier grouped by the ring's address texts (CSR layout).
 *
 * @example
 * for (let k = m.start[g]; k < m.start[g + 1]; k++) visit(m.list[k]); // servers of group g
 */
export interface RingMembers {
  readonly tier: Tier;
  /** Members of group g are `list[start[g] .. start[g + 1])`, server indices in config order. */
  readonly start: Int32Array;
  readonly list: Int32Array;
}

/**
 * A ketama ring over the primary tier's address texts.
 *
 * @example
 * const ring = buildRing(peers);
 * ring.names[ring.groups[findPoint(ring.points, crc32(key)) % ring.points.length]]; // owner's address
 */
export interface Ring {
  /** The primary tier and its total weight when built (staleness check). */
  readonly tier: Tier;
  readonly total: number;
  /** Sorted, deduplicated point hashes (unsigned 32-bit). */
  readonly points: Uint32Array;
  /** Group (distinct address text) of each point. */
  readonly groups: Int32Array;
  /** Address text of each group, in order of first appearance. */
  readonly names: readonly string[];
  /** Group members in the primary tier. */
  readonly primary: RingMembers;
  /** Group members in the backup tier (servers whose address text also names a primary), or null. */
  readonly backup: RingMembers | null;
}

/**
 * The `[host, port]` split nginx hashes for a server's address text: `unix:` (any case) -> the
 * path and ''; text ending in `:digits` -> before and after that colon; anything else -> the
 * whole text and ''.
 *
 * @example
 * ketamaHostPort('127.0.0.1:18081');      // ['127.0.0.1', '18081']
 * ketamaHostPort('[::1]:8080');           // ['[::1]', '8080']
 * ketamaHostPort('backend.example.com'); // ['backend.example.com', '']
 * ketamaHostPort('unix:/tmp/sock');       // ['/tmp/sock', '']
 */
export function ketamaHostPort(server: string): [string, string] {
  if (server.length >= 5 && server.slice(0, 5).toLowerCase() === 'unix:') return [server.slice(5), ''];
  for (let j = server.length - 1; j >= 0; j--) {
    const c = server.charCodeAt(j);
    if (c === 0x3a) return [server.slice(0, j), server.slice(j + 1)];
    if (c < 0x30 || c > 0x39) break;
  }
  return [server, ''];
}

/** CRC-32 register after `HOST \0 PORT` (not finalised): the start of every point's hash. */
function ketamaBase(server: string): number {
  const [host, port] = ketamaHostPort(server);
  return crc32Utf8(crc32Byte(crc32Utf8(CRC32_INIT, host), 0), port);
}

/**
 * The first `count` ketama points of an address text, unsorted, as nginx generates them.
 *
 * @example
 * ketamaPoints('127.0.0.1:18081', 3).map((h) => h.toString(16)); // ['66c01f9', 'dcebb37d', '6ace8d29']
 */
export function ketamaPoints(server: string, count: number): number[] {
  const base = ketamaBase(server);
  const out: number[] = [];
  let prev = 0;
  for (let j = 0; j < count; j++) {
    prev = crc32Final(crc32Le32(base, prev));
    out.push(prev);
  }
  return out;
}

/** Stable LSD radix sort of `keys` (four 8-bit passes) carrying `vals`; returns the sorted pair. */
function radixSort(keys: Uint32Array, vals: Int32Array): [Uint32Array, Int32Array] {
  const n = keys.length;
  let k1: Uint32Array = keys;
  let v1: Int32Array = vals;
  let k2: Uint32Array = new Uint32Array(n);
  let v2: Int32Array = new Int32Array(n);
  const count = new Uint32Array(256);
  for (let shift = 0; shift < 32; shift += 8) {
    count.fill(0);
    for (let i = 0; i < n; i++) count[(k1[i]! >>> shift) & 0xff]!++;
    let sum = 0;
    for (let b = 0; b < 256; b++) {
      const c = count[b]!;
      count[b] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const k = k1[i]!;
      const at = count[(k >>> shift) & 0xff]!++;
      k2[at] = k;
      v2[at] = v1[i]!;
    }
    [k1, k2] = [k2, k1];
    [v1, v2] = [v2, v1];
  }
  return [k1, v1];
}

function members(t: Tier, groupOf: Map<string, number>, groups: number): RingMembers {
  const start = new Int32Array(groups + 1);
  const gid = new Int32Array(t.n).fill(-1);
  for (let i = 0; i < t.n; i++) {
    const g = groupOf.get(t.records[i]!.address);
    if (g !== undefined) {
      gid[i] = g;
      start[g + 1]!++;
    }
  }
  for (let g = 0; g < groups; g++) start[g + 1]! += start[g]!;
  const fill = start.slice(0, groups);
  const list = new Int32Array(start[groups]!);
  for (let i = 0; i < t.n; i++) {
    const g = gid[i]!;
    if (g >= 0) list[fill[g]!++] = i;
  }
  return { tier: t, start, list };
}

/**
 * Builds the ketama ring of `p.primary` (and the backup tier's membership in it).
 * Throws `InvalidOptionError` (`ERR_UPSTREAM_INVALID_OPTION`) when 160 * total weight exceeds
 * `MAX_RING_POINTS`.
 *
 * @example
 * const ring = buildRing(peers);
 * ring.points.length; // 480 for three servers of weight 1 (no collisions)
 */
export function buildRing(p: Peers): Ring {
  const t = p.primary;
  const total = t.totalWeight;
  const npoints = total * POINTS_PER_WEIGHT;
  requireRingFits(total);
  const groupOf = new Map<string, number>();
  const names: string[] = [];
  const keys = new Uint32Array(npoints);
  const vals = new Int32Array(npoints);
  let at = 0;
  for (let i = 0; i < t.n; i++) {
    const address = t.records[i]!.address;
    let g = groupOf.get(address);
    if (g === undefined) {
      g = names.length;
      groupOf.set(address, g);
      names.push(address);
    }
    const base = ketamaBase(address);
    const count = t.weight[i]! * POINTS_PER_WEIGHT;
    let prev = 0;
    for (let j = 0; j < count; j++) {
      prev = crc32Final(crc32Le32(base, prev));
      keys[at] = prev;
      vals[at] = g;
      at++;
    }
  }
  const [sorted, sortedGroups] = radixSort(keys, vals);
  let kept = 0;
  for (let j = 0; j < npoints; j++) {
    if (kept > 0 && sorted[kept - 1] === sorted[j]) continue;
    sorted[kept] = sorted[j]!;
    sortedGroups[kept] = sortedGroups[j]!;
    kept++;
  }
  return {
    tier: t,
    total,
    points: kept === npoints ? sorted : sorted.slice(0, kept),
    groups: kept === npoints ? sortedGroups : sortedGroups.slice(0, kept),
    names,
    primary: members(t, groupOf, names.length),
    backup: p.backup === null ? null : members(p.backup, groupOf, names.length),
  };
}

/**
 * Index of the first point >= `hash` (may equal `points.length`, which wraps to 0).
 *
 * @example
 * findPoint(new Uint32Array([10, 20, 30]), 15); // 1
 * findPoint(new Uint32Array([10, 20, 30]), 31); // 3 (-> point 0)
 */
export function findPoint(points: Uint32Array, hash: number): number {
  let i = 0;
  let j = points.length;
  while (i < j) {
    const k = (i + j) >>> 1;
    const v = points[k]!;
    if (hash > v) i = k + 1;
    else if (hash < v) j = k;
    else return k;
  }
  return i;
}

/**
 * The address text a key maps to on a ring, ignoring availability (for tests and explanations).
 *
 * @example
 * ringOwner(buildRing(peers), 'alice@example.com'); // '10.0.0.3:25' for 10.0.0.1-3:25
 */
export function ringOwner(ring: Ring, key: string): string {
  const idx = findPoint(ring.points, crc32(key)) % ring.points.length;
  return ring.names[ring.groups[idx]!]!;
}

/** Consistent hash's per-request data (nginx's `ngx_http_upstream_chash_peer_data_t`). */
export class PointWalk {
  /** Index of the ring point the walk is at (`chp->hash`), once `started`. */
  point = 0;
  started = false;
  /** Points tried so far (`chp->tries`). */
  tries = 0;
  reset(): void {
    this.point = 0;
    this.started = false;
    this.tries = 0;
  }
}

/**
 * nginx consistent-hash get for one attempt. Returns the index in `r.tier` (which may have
 * switched to the backup tier through the round-robin fallback), or -1 (NGX_BUSY).
 *
 * @example
 * const b = new Balancer({ method: 'hash', hash: { consistent: true }, servers: [
 *   { address: '10.0.0.1:25' }, { address: '10.0.0.2:25' }, { address: '10.0.0.3:25' }] });
 * b.pick('bob@example.com')!.address; // '10.0.0.2:25'
 */
function getConsistentHash(p: Peers, r: RequestState, ring: Ring): number {
  const walk = walkOf(r, PointWalk);
  const t = r.tier;
  if (walk.tries > HASH_MAX_TRIES || (p.single && t === p.primary) || r.key.length === 0) return getRoundRobin(p, r);
  if (r.hint !== null) {
    const st = hintedServer(r); // nginx 1.30: no point walked, no weight changed
    if (st >= 0) return st;
  }
  const points = ring.points;
  const npoints = points.length;
  if (!walk.started) {
    walk.point = findPoint(points, crc32(r.key));
    walk.started = true;
  }
  const m = t === p.primary ? ring.primary : ring.backup;
  const groups = ring.groups;
  const current = t.current;
  for (;;) {
    if (m !== null) {
      const g = groups[walk.point % npoints]!;
      const end = m.start[g + 1]!;
      let best = -1;
      let bestCurrent = 0;
      let total = 0;
      for (let k = m.start[g]!; k < end; k++) {
        const i = m.list[k]!;
        if (!isAvailable(t, i, r)) continue;
        total += swrrStep(t, i);
        const c = current[i]!;
        if (best < 0 || c > bestCurrent) {
          best = i;
          bestCurrent = c;
        }
      }
      if (best >= 0) {
        current[best] = bestCurrent - total;
        return best;
      }
    }
    walk.point++;
    if (++walk.tries > HASH_MAX_TRIES) return getRoundRobin(p, r);
  }
}

/** The consistent hash method's selector: the ketama ring of the primary tier. */
export class ConsistentHashSelector implements Selector {
  #ring: Ring | null = null;

  /** The ring in use (built by `rebuilt`, rebuilt by a get after an in-place weight change). */
  get ring(): Ring | null {
    return this.#ring;
  }

  get(p: Peers, r: RequestState): number {
    return getConsistentHash(p, r, this.#ringOf(p));
  }
  readonly shortcut = NO_SHORTCUT;
  rebuilt(p: Peers): void {
    this.#ring = buildRing(p);
  }
  /** The ring must fit: 160 points per weight unit of the primaries. */
  validate(servers: readonly ResolvedServer[]): void {
    let total = 0;
    for (const s of servers) if (!s.backup) total += s.weight;
    requireRingFits(total);
  }
  /** The current ring, rebuilt first if it was built for other tiers or weights. */
  #ringOf(p: Peers): Ring {
    const ring = this.#ring;
    if (ring !== null && ring.tier === p.primary && ring.total === p.primary.totalWeight && (ring.backup?.tier ?? null) === p.backup) {
      return ring;
    }
    return (this.#ring = buildRing(p));
  }
}
