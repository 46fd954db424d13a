/**
 * "Available" in the sense of nginx's hash, ip_hash, random and least_conn modules
 * (nginx-semantics.md §5): not tried by this request, not down (nor draining, nor check-down),
 * not inside its passive failure window, not at `maxConns`. The same four tests as a round-robin
 * round, for one server. O(1); reads the clock (once per call, through `nowOf`) only for a server
 * that has failures.
 */

import type { Tier } from '../tier';
import { type RequestState, nowOf } from './request';

/**
 * True if server `i` of `t` may be chosen by request `r` now.
 *
 * @example
 * // inside a selector: walk to the next candidate until one is available
 * if (isAvailable(r.tier, i, r)) return i;
 */
export function isAvailable(t: Tier, i: number, r: RequestState): boolean {
  const bits = r.bits;
  if (bits === null ? ((r.mask >>> i) & 1) !== 0 && i < 32 : ((bits[i >>> 5]! >>> (i & 31)) & 1) !== 0) return false;
  if (t.blocked[i] !== 0) return false;
  const f = t.fails[i]!;
  if (f !== 0) {
    const mf = t.maxFails[i]!;
    if (mf !== 0 && f >= mf && nowOf(r) - t.checked[i]! <= t.failTimeout[i]!) return false;
  }
  const mc = t.maxConns[i]!;
  return mc === 0 || t.conns[i]! < mc;
}

/**
 * Resets the hash/random walk state (`hash`, `rehash`, `hashTries`) when `r` has tried nothing
 * yet, i.e. on a request's first get. Returns true if it did.
 *
 * @example
 * beginRequest(r); // at the top of a hash-family get
 */
export function beginRequest(r: RequestState): boolean {
  if (r.mask !== 0 || r.bits !== null) return false;
  r.hash = 0;
  r.rehash = 0;
  r.hashTries = 0;
  return true;
}
