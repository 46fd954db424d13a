/**
 * `hash KEY` (non-consistent), exactly as nginx's `ngx_http_upstream_get_hash_peer` /
 * `ngx_stream_upstream_get_hash_peer` (docs/nginx-semantics.md §5.2), compatible with
 * Cache::Memcached: `hash += (crc32([REHASH] KEY) >> 16) & 0x7fff`, REHASH being the decimal
 * retry counter, omitted on the first round.
 *
 * The accumulated hash modulo the tier's total weight (down servers included) picks a weight slot
 * (weights are slot counts in config order); an unavailable server (tried, down, in its failure
 * window, at maxConns) costs one try and the next round re-hashes with the counter prefixed. The
 * walk state (`hash`, `rehash`, tries) belongs to the request and carries over to its retries.
 * Round robin's get takes over (backup tier included: the ordering quirk of §3.4) when the key is
 * empty, when the tier has fewer than two servers, or after more than 20 unsuccessful rounds.
 *
 * The key is hashed as its UTF-8 bytes with the counter streamed in front of it, so a round
 * allocates nothing (nginx formats the counter into a stack buffer). Cost per round: O(key
 * length) for the CRC plus O(log n) for the slot lookup.
 *
 * Version note: nginx 1.27.3 (commit db6870e06) changed the round-robin shortcut from `single` to
 * `number < 2`; `roundRobinFirst` follows the balancer's `nginx` target. The two differ only with
 * backup servers (allowBackupWithHash) and a one-server tier (docs/nginx-compat.md).
 */

import type { NginxTarget } from '../nginx-target';
import type { Peers } from '../peers';
import type { Tier } from '../tier';
import { isAvailable } from './available';
import { hintedServer } from './hint';
import { CRC32_INIT, crc32Decimal, crc32Final, crc32Utf8 } from './crc32';
import { type RequestState, walkOf } from './request';
import { getRoundRobin } from './round-robin/index';
import { SlotSelector, type TierSlots, slotAt } from './slots';

/**
 * nginx gives up hashing after more than this many unsuccessful rounds per request and uses
 * round robin (hash, consistent hash, ip_hash, random share the limit).
 *
 * @example
 * if (++walk.tries > HASH_MAX_TRIES) return getRoundRobin(p, r);
 */
export const HASH_MAX_TRIES = 20;

/**
 * Whether hash, ip_hash and random hand a request on tier `t` to round robin's get before any hash
 * round. nginx 1.27.3+ (the `'1.30'` target): on a tier of fewer than two servers
 * (`peers->number < 2`), the backup tier included. Before (the `'1.22'` target): only in `single`
 * mode (one primary server and no backup tier), so a one-server primary beside backup servers, and
 * a one-server backup tier, are hashed (21 rounds on an unavailable server before the fallback).
 *
 * @example
 * roundRobinFirst(peers, peers.primary, '1.30'); // true for a one-server primary tier
 */
export function roundRobinFirst(p: Peers, t: Tier, nginx: NginxTarget): boolean {
  return nginx === '1.22' ? p.single : t.n < 2;
}

/**
 * The per-round hash increment for `key` at retry counter `rehash`:
 * `(crc32((rehash > 0 ? String(rehash) : '') + key) >> 16) & 0x7fff`.
 *
 * @example
 * hashStep('foo', 0); // 3187  (crc32 8c736521)
 * hashStep('foo', 1); // 6881  (crc32('1foo') = 1ae1fceb)
 */
export function hashStep(key: string, rehash: number): number {
  let c = CRC32_INIT;
  if (rehash > 0) c = crc32Decimal(c, rehash);
  c = crc32Utf8(c, key);
  return (crc32Final(c) >>> 16) & 0x7fff;
}

/** The hash method's per-request data (nginx's `ngx_http_upstream_hash_peer_data_t`). */
export class HashWalk {
  /** The accumulated hash (`hp->hash`). */
  hash = 0;
  /** The retry counter streamed in front of the key (`hp->rehash`). */
  rehash = 0;
  /** Unsuccessful rounds so far (`hp->tries`). */
  tries = 0;
  reset(): void {
    this.hash = 0;
    this.rehash = 0;
    this.tries = 0;
  }
}

/**
 * nginx hash get for one attempt. Returns the index in `r.tier` (which may have switched to the
 * backup tier through the round-robin fallback), or -1 (NGX_BUSY).
 *
 * @example
 * const b = new Balancer({ method: 'hash', servers: [{ address: 'a:1' }, { address: 'b:1' }, { address: 'c:1' }] });
 * b.pick('foo')!.address; // 'b:1' (3187 mod 3 = 1)
 */
export function getHash(p: Peers, r: RequestState, tables: TierSlots, nginx: NginxTarget = '1.30'): number {
  const walk = walkOf(r, HashWalk);
  const t = r.tier;
  const key = r.key;
  if (walk.tries > HASH_MAX_TRIES || roundRobinFirst(p, t, nginx) || key.length === 0) return getRoundRobin(p, r);
  if (r.hint !== null) {
    const st = hintedServer(r); // nginx 1.30: the walk stays where it is
    if (st >= 0) return st;
  }
  const slots = tables.of(t);
  const total = slots.total;
  for (;;) {
    walk.hash = (walk.hash + hashStep(key, walk.rehash)) >>> 0;
    walk.rehash++;
    const i = slotAt(slots, walk.hash % total);
    if (isAvailable(t, i, r)) return i;
    if (++walk.tries > HASH_MAX_TRIES) return getRoundRobin(p, r);
  }
}

/** The `hash KEY` method's selector: weight slots per tier. */
export class HashSelector extends SlotSelector {
  readonly #nginx: NginxTarget;
  constructor(nginx: NginxTarget) {
    super();
    this.#nginx = nginx;
  }
  get(p: Peers, r: RequestState): number {
    return getHash(p, r, this.slots, this.#nginx);
  }
}
