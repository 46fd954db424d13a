/**
 * "Available" in the sense of nginx's hash, ip_hash, random and least_conn modules
 * (nginx-semantics.md §5): not tried by this request, not down (nor draining, nor check-down),
 * not inside its passive failure window, not at `maxConns`. The same four tests as a round-robin
 * round, for one server. O(1); reads the clock (once per call, through `nowOf`) only for a server
 * that has failures.
 */

import type { Tier } from '../tier';
import { type RequestState, isTried } from './request';
import { gatedOut } from './round-robin';

/**
 * True if server `i` of `t` may be chosen by request `r` now.
 *
 * @example
 * // inside a selector: walk to the next candidate until one is available
 * if (isAvailable(r.tier, i, r)) return i;
 */
export function isAvailable(t: Tier, i: number, r: RequestState): boolean {
  if (isTried(r, i)) return false;
  const g = t.gate[i]!;
  return g === 0 || !gatedOut(r, t, i, g);
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
