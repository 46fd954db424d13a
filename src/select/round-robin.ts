/**
 * Smooth weighted round robin, exactly as nginx's `ngx_http_upstream_get_peer` (nginx >= 1.3.0,
 * nginx-semantics.md §2.1).
 *
 * One selection round walks the tier in configuration order. Each eligible server (not tried by this
 * request, not down/draining/check-down, not inside its passive window, not at `maxConns`) adds its
 * effective weight to its current weight and to `total`, then recovers one unit of effective weight;
 * the largest current weight wins (strict `>`, so ties go to the first in config order) and pays
 * `total` back. Ineligible servers keep their stale current weight. Cost: O(n) per round, no
 * allocation; the clock is read only if some server has failures.
 *
 * The caller (the Balancer) marks the winner tried, bumps `checked` and counts the connection.
 */

import type { Tier } from '../tier';
import type { Peers } from '../peers';
import { type RequestState, clearTried, nowOf } from './request';

/**
 * nginx's get for one attempt (`ngx_http_upstream_get_round_robin_peer`, §2.2): single-server mode
 * (no passive test, no tried set), else a selection round on the request's tier, falling back once
 * to the backup tier (clearing the tried set) when the primary tier yields nothing.
 * Returns the index in `r.tier` (which may now be the backup tier), or -1 (NGX_BUSY).
 */
export function getRoundRobin(p: Peers, r: RequestState): number {
  if (p.single && r.tier === p.primary) {
    const t = r.tier;
    if (t.blocked[0] !== 0) return -1;
    const mc = t.maxConns[0]!;
    return mc !== 0 && t.conns[0]! >= mc ? -1 : 0;
  }
  const i = selectRoundRobin(r);
  if (i >= 0 || p.backup === null || r.tier !== p.primary) return i;
  r.tier = p.backup;
  clearTried(r);
  return selectRoundRobin(r);
}

/** Runs one SWRR round on `r.tier`. Returns the winner's index, or -1 when no server is eligible. */
export function selectRoundRobin(r: RequestState): number {
  const t: Tier = r.tier;
  const n = t.n;
  const { blocked, fails, maxFails, checked, failTimeout, conns, maxConns, current, effective, weight } = t;
  const mask = r.mask;
  const bits = r.bits;
  let best = -1;
  let bestCurrent = 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    if (bits === null ? ((mask >>> i) & 1) !== 0 && i < 32 : ((bits[i >>> 5]! >>> (i & 31)) & 1) !== 0) continue;
    if (blocked[i] !== 0) continue;
    const f = fails[i]!;
    if (f !== 0) {
      const mf = maxFails[i]!;
      if (mf !== 0 && f >= mf && nowOf(r) - checked[i]! <= failTimeout[i]!) continue;
    }
    const mc = maxConns[i]!;
    if (mc !== 0 && conns[i]! >= mc) continue;
    const e = effective[i]!;
    const c = current[i]! + e;
    current[i] = c;
    total += e;
    if (e < weight[i]!) effective[i] = e + 1;
    if (best < 0 || c > bestCurrent) {
      best = i;
      bestCurrent = c;
    }
  }
  if (best >= 0) current[best] = bestCurrent - total;
  return best;
}
