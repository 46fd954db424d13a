/**
 * The ketama ring of `hash KEY consistent`, built whole: nginx's `ngx_http_upstream_update_chash`
 * (stream: `ngx_stream_upstream_update_chash`) and `ngx_http_upstream_find_chash_point`, compatible
 * with Cache::Memcached::Fast with ketama_points=160. The plain algorithm: ketama-incremental.ts
 * keeps the same ring across membership changes and is proven equal to `buildRing` by
 * test/property/ring-incremental.prop.test.ts.
 *
 * For every primary server in config order (down ones included), its `address` text as written
 * (not resolved) is split into host and port (`unix:` prefix -> the path and no port; otherwise the
 * digits after the last ':' are the port, if the text ends in digits preceded by ':'),
 * `base = crc32-update(HOST \0 PORT)` (not finalised), and `160 * weight` points are chained:
 * `point = crc32-final(base + le32(previous point))`, starting from 0. Points are sorted (stably: a
 * radix sort, like glibc's merge-sort qsort) and equal hashes are deduplicated keeping the first,
 * so servers sharing an address text share their points, and a hash two addresses generate
 * belongs to the address of the first server (config order) that generates it.
 *
 * Cost: O(P) with P = 160 * total weight (point generation plus an O(P) radix sort).
 */

import { InvalidOptionError } from '../errors';
import type { Peers } from '../peers';
import type { Tier } from '../tier';
import { type Steps, drain } from '../slices';
import { CRC32_INIT, crc32, crc32Byte, crc32Final, crc32Le32, crc32Utf8 } from './crc32';

/**
 * Points per unit of weight (nginx's constant 160, ketama's default).
 *
 * @example
 * buildRing(peers).points.length <= POINTS_PER_WEIGHT * peers.primary.totalWeight; // true
 */
export const POINTS_PER_WEIGHT = 160;

/**
 * Largest ring this library builds (160 * total weight points); beyond, `buildRing` throws
 * `InvalidOptionError` (a total weight of 104857 is the limit).
 *
 * @example
 * 160 * totalWeight <= MAX_RING_POINTS; // required for hash: { consistent: true }
 */
export const MAX_RING_POINTS = 1 << 24;

/** Throws `InvalidOptionError` when a ring over primaries of total weight `total` would be too large. */
export function requireRingFits(total: number): void {
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
export function ketamaBase(server: string): number {
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

/**
 * Stable LSD radix sort of `keys` (four 8-bit passes) carrying `vals`; returns the sorted pair,
 * which is `keys` and `vals` again (an even number of passes). `scratchKeys` / `scratchVals` (as
 * long as `keys`): memory to use between the passes instead of new arrays.
 */
export function radixSort(keys: Uint32Array, vals: Int32Array, scratchKeys?: Uint32Array, scratchVals?: Int32Array): [Uint32Array, Int32Array] {
  return drain(radixSortSteps(keys, vals, scratchKeys, scratchVals, Infinity));
}

/** `radixSort` in steps of `step` entries per pass (slices.ts): the same passes over ranges. */
export function* radixSortSteps(
  keys: Uint32Array, vals: Int32Array, scratchKeys: Uint32Array | undefined, scratchVals: Int32Array | undefined, step: number,
): Steps<[Uint32Array, Int32Array]> {
  const n = keys.length;
  let k1: Uint32Array = keys;
  let v1: Int32Array = vals;
  let k2: Uint32Array = scratchKeys ?? new Uint32Array(n);
  let v2: Int32Array = scratchVals ?? new Int32Array(n);
  // the four digits' counts in one pass (they do not depend on the order), then a pass per digit
  const count = new Uint32Array(1024);
  for (let lo = 0; lo < n; lo += step) {
    countDigits(k1, lo, Math.min(n, lo + step), count);
    if (lo + step < n) yield;
  }
  for (let digit = 0; digit < 4; digit++) {
    const at = count.subarray(digit * 256, digit * 256 + 256);
    let sum = 0;
    for (let b = 0; b < 256; b++) {
      const c = at[b]!;
      at[b] = sum;
      sum += c;
    }
    for (let lo = 0; lo < n; lo += step) {
      scatterDigits(k1, v1, k2, v2, lo, Math.min(n, lo + step), digit * 8, at);
      if (lo + step < n) yield;
    }
    [k1, k2] = [k2, k1];
    [v1, v2] = [v2, v1];
  }
  return [k1, v1];
}

/** Counts the four 8-bit digits of `keys[lo..hi)` into `count` (256 counters per digit, lowest digit first). */
function countDigits(keys: Uint32Array, lo: number, hi: number, count: Uint32Array): void {
  for (let i = lo; i < hi; i++) {
    const k = keys[i]!;
    count[k & 0xff]!++;
    count[256 + ((k >>> 8) & 0xff)]!++;
    count[512 + ((k >>> 16) & 0xff)]!++;
    count[768 + (k >>> 24)]!++;
  }
}

/** Moves `keys[lo..hi)` (and their values) to the places `count` gives their digits, advancing it. */
function scatterDigits(
  k1: Uint32Array, v1: Int32Array, k2: Uint32Array, v2: Int32Array, lo: number, hi: number, shift: number, count: Uint32Array,
): void {
  for (let i = lo; i < hi; i++) {
    const k = k1[i]!;
    const at = count[(k >>> shift) & 0xff]!++;
    k2[at] = k;
    v2[at] = v1[i]!;
  }
}

/** The servers of tier `t` grouped by the ring's address texts (`groupOf`: address -> group). */
export function ringMembers(t: Tier, groupOf: Map<string, number>, groups: number): RingMembers {
  const gid = new Int32Array(t.n);
  for (let i = 0; i < t.n; i++) gid[i] = groupOf.get(t.records[i]!.address) ?? -1;
  return membersOf(t, gid, groups);
}

/** The servers of tier `t` grouped by `gid` (server index -> group, -1 for none): a counting sort. */
export function membersOf(t: Tier, gid: Int32Array, groups: number): RingMembers {
  const start = new Int32Array(groups + 1);
  for (let i = 0; i < t.n; i++) {
    const g = gid[i]!;
    if (g >= 0) start[g + 1]!++;
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
    primary: ringMembers(t, groupOf, names.length),
    backup: p.backup === null ? null : ringMembers(p.backup, groupOf, names.length),
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
