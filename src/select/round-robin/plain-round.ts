/**
 * nginx's round: one selection round of smooth weighted round robin on a request's tier, exactly as
 * `ngx_http_upstream_get_peer` (src/http/ngx_http_upstream_round_robin.c, nginx >= 1.3.0; stream's
 * `ngx_stream_upstream_get_peer` is the same; docs/nginx-semantics.md §2.1-2.2).
 *
 * This is the specification every accelerator in this folder is measured against. Walk the tier in
 * configuration order; skip a server this request already tried, one that is down, draining or
 * check-down, one inside its passive failure window and one at `maxConns`; every other server adds
 * its effective weight to its current weight and to `total`, and recovers one unit of effective
 * weight. The largest current weight wins (strict `>`, so ties go to the first in configuration
 * order) and pays `total` back. Servers skipped keep their current weight. O(n), no allocation; the
 * clock is read only for a server that has reached `maxFails`.
 */

import type { Tier } from '../../tier';
import { gatedOut } from '../available';
import { type RequestState, isTried } from '../request';
import { swrrStep } from '../swrr';

/** One round on `r.tier`: the winner's index, or -1 when no server is eligible. */
export function plainRound(r: RequestState): number {
  const t: Tier = r.tier;
  const { gate, current } = t;
  let best = -1;
  let bestCurrent = -Infinity;
  let total = 0;
  for (let i = 0; i < t.n; i++) {
    if (isTried(r, i)) continue;
    const g = gate[i]!;
    if (g !== 0 && gatedOut(r, t, i, g)) continue;
    total += swrrStep(t, i);
    if (current[i]! > bestCurrent) {
      best = i;
      bestCurrent = current[i]!;
    }
  }
  if (best >= 0) current[best] = bestCurrent - total;
  return best;
}

/**
 * nginx 1.30's round when the request's hinted server `st` wins it (`ngx_http_upstream_get_peer`
 * with `st_peer`, past its low limit): the same walk and the same steps as `plainRound`, then `st`
 * pays the total, whether or not it took part (a draining `st` did not). Returns `st`.
 */
export function hintedRound(r: RequestState, st: number): number {
  const t: Tier = r.tier;
  const gate = t.gate;
  let total = 0;
  for (let i = 0; i < t.n; i++) {
    if (isTried(r, i)) continue;
    const g = gate[i]!;
    if (g !== 0 && gatedOut(r, t, i, g)) continue;
    total += swrrStep(t, i);
  }
  t.current[st] = t.current[st]! - total;
  return st;
}
