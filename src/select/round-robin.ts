/**
 * Smooth weighted round robin, exactly as nginx's `ngx_http_upstream_get_peer` and
 * `ngx_http_upstream_get_round_robin_peer` (nginx >= 1.3.0, nginx-semantics.md §2.1-2.2).
 *
 * One selection round walks the tier in configuration order. Each eligible server (not tried by this
 * request, not down/draining/check-down, not inside its passive window, not at `maxConns`) adds its
 * effective weight to its current weight and to `total`, then recovers one unit of effective weight;
 * the largest current weight wins (strict `>`, so ties go to the first in config order) and pays
 * `total` back. Ineligible servers keep their stale current weight.
 *
 * Cost: O(n) per round with no allocation, specialised for the common case (fresh request, no
 * failures, no limits: no tried/passive/limit tests and no clock read); O(1) while the tier replays
 * its steady-state period (steady-state.ts). The caller (the Balancer) marks the winner tried, bumps
 * `checked` and counts the connection.
 */

import type { Peers } from '../peers';
import { GATE_WATCH, type Tier } from '../tier';
import { type RequestState, clearTried, nowOf } from './request';
import { beginWindow, leaveSchedule, recordRound } from './steady-state';

/**
 * nginx's get for one attempt (§2.2): single-server mode (no passive test, no tried set), else a
 * selection round on the request's tier, falling back once to the backup tier (clearing the tried
 * set) when the primary tier yields nothing. Returns the index in `r.tier` (which may now be the
 * backup tier), or -1 (NGX_BUSY).
 */
export function getRoundRobin(p: Peers, r: RequestState): number {
  if (p.single && r.tier === p.primary) {
    const t = r.tier;
    if (t.blocked[0] !== 0) return -1;
    const mc = t.maxConns[0]!;
    return mc !== 0 && t.conns[0]! >= mc ? -1 : 0;
  }
  const i = roundOn(r);
  if (i >= 0 || p.backup === null || r.tier !== p.primary) return i;
  r.tier = p.backup;
  clearTried(r);
  return roundOn(r);
}

/** One round on `r.tier`, choosing the cheapest exact way to run it. */
function roundOn(r: RequestState): number {
  const t = r.tier;
  const fresh = r.mask === 0 && r.bits === null;
  if (t.fast) {
    if (fresh) {
      const pos = t.pos;
      t.pos = pos + 1 === t.period ? 0 : pos + 1;
      return t.seq![pos]!;
    }
    leaveSchedule(t);
  }
  if (fresh && t.failing === 0 && t.limited === 0) {
    if (t.steadyAllowed && t.recorded < 0) {
      beginWindow(t);
      if (t.fast) return roundOn(r);
    }
    const i = calmRound(t);
    if (t.recorded >= 0) {
      if (i < 0) t.recorded = -1;
      else recordRound(t, i);
    }
    return i;
  }
  if (t.recorded >= 0) t.recorded = -1;
  return selectRoundRobin(r);
}

/** A round with nothing tried, no failures and no limits: only `blocked` can exclude a server. */
function calmRound(t: Tier): number {
  const n = t.n;
  const { blocked, current, effective, weight } = t;
  let best = -1;
  let bestCurrent = -Infinity;
  let total = 0;
  for (let i = 0; i < n; i++) {
    if (blocked[i] !== 0) continue;
    const e = effective[i]!;
    const c = current[i]! + e;
    current[i] = c;
    total += e;
    if (e < weight[i]!) effective[i] = e + 1;
    if (c > bestCurrent) {
      best = i;
      bestCurrent = c;
    }
  }
  t.rounds++;
  if (best >= 0) current[best] = bestCurrent - total;
  return best;
}

/**
 * One full SWRR round on `r.tier` with every nginx filter (tried, blocked, passive window,
 * maxConns). Returns the winner's index, or -1 when no server is eligible. Leaves replay first.
 */
export function selectRoundRobin(r: RequestState): number {
  const t: Tier = r.tier;
  if (t.fast || t.recorded >= 0) leaveSchedule(t);
  const n = t.n;
  const { gate, fails, maxFails, checked, failTimeout, conns, maxConns, current, effective, weight } = t;
  const mask = r.mask;
  const bits = r.bits;
  const anyTried = mask !== 0 || bits !== null;
  let best = -1;
  let bestCurrent = -Infinity;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    if (g !== 0) {
      // Blocked (down, draining, check-down), or watched: failures or a connection limit.
      if (g !== GATE_WATCH) continue;
      const f = fails[i]!;
      if (f !== 0) {
        const mf = maxFails[i]!;
        if (mf !== 0 && f >= mf && nowOf(r) - checked[i]! <= failTimeout[i]!) continue;
      }
      const mc = maxConns[i]!;
      if (mc !== 0 && conns[i]! >= mc) continue;
    }
    if (anyTried && (bits === null ? ((mask >>> i) & 1) !== 0 && i < 32 : ((bits[i >>> 5]! >>> (i & 31)) & 1) !== 0)) continue;
    const e = effective[i]!;
    const c = current[i]! + e;
    current[i] = c;
    total += e;
    if (e < weight[i]!) effective[i] = e + 1;
    if (c > bestCurrent) {
      best = i;
      bestCurrent = c;
    }
  }
  t.rounds++;
  if (best >= 0) current[best] = bestCurrent - total;
  return best;
}
