/**
 * "Available" in the sense of nginx's hash, ip_hash, random and least_conn modules
 * (docs/nginx-semantics.md §5): not tried by this request, not down (nor draining, nor check-down),
 * not inside its passive failure window, not at `maxConns`. The same four tests as a round-robin
 * round, for one server. O(1); reads the clock (once per call, through `nowOf`) only for a server
 * that has failures.
 */

import { GATE_BLOCKED, GATE_FAILS, GATE_FULL, type Tier } from '../tier';
import { isExcluded, reachedMaxFails } from '../health/passive-window';
import { type RequestState, isTried, nowOf } from './request';

/**
 * True when server `i` with non-zero gate `g` is out now: blocked (down, draining, check-down), at
 * its connection limit, or inside its passive window (the clock is read only for a server that has
 * reached maxFails). nginx's tests of `ngx_http_upstream_get_peer` without the tried bit.
 */
export function gatedOut(r: RequestState, t: Tier, i: number, g: number): boolean {
  if ((g & (GATE_BLOCKED | GATE_FULL)) !== 0) return true;
  return (g & GATE_FAILS) !== 0 && reachedMaxFails(t, i) && isExcluded(t, i, nowOf(r));
}

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
