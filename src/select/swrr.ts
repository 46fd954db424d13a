/**
 * The smooth weighted round-robin step for one server, the body of nginx's
 * `ngx_http_upstream_get_peer` loop (src/http/ngx_http_upstream_round_robin.c; stream the same;
 * docs/nginx-semantics.md §2.1): the server's current weight grows by its effective weight, and an
 * effective weight lowered by failures recovers one unit. The caller adds the returned effective
 * weight to the round's total, keeps the largest current weight (strict `>`: ties go to the first
 * in its walk) and makes the winner pay the total back.
 *
 * Shared by the plain round (round-robin/plain-round.ts), least_conn's tie round and consistent
 * hash's rounds among the servers of one point. Pure: a function of the tier's arrays. O(1).
 */

import type { Tier } from '../tier';

/** Adds server `i`'s effective weight to its current weight and recovers one unit; returns the effective weight added. */
export function swrrStep(t: Tier, i: number): number {
  const e = t.effective[i]!;
  t.current[i] = t.current[i]! + e;
  if (e < t.weight[i]!) t.effective[i] = e + 1;
  return e;
}
