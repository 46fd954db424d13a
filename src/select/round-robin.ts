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
 * failures, no full servers: no tried/passive/limit tests and no clock read); on tiers of up to 32
 * servers with unequal weights, for about two periods after a change, with a branch-free maximum
 * (smallRound: the comparisons of a transient are unpredictable); from 24 servers a fresh
 * round is O(specials + distinct weights + log n) (lazy rounds, clean-classes.ts); O(1) while the
 * tier replays its steady-state period (steady-state.ts). The caller (the Balancer) marks the winner
 * tried, bumps `checked` and counts the connection.
 */

import type { Peers } from '../peers';
import { GATE_BLOCKED, GATE_FAILS, GATE_FULL, type Tier } from '../tier';
import { type RequestState, clearTried, isTried, nowOf } from './request';
import { isExcluded, reachedMaxFails } from '../health/passive-window';
import { beginWindow, expired, leaveSchedule, recordRound } from './steady-state';
import { enterLazy, isolateTried, rebase, reclean, siftDown } from './clean-classes';

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
  // A retry: the tried set matters.
  if (r.mask !== 0 || r.bits !== null) return retryRound(r);
  if (t.fast || t.recorded >= 0) {
    if (expired(t, r)) leaveSchedule(t);
    else if (t.fast) {
      const pos = t.pos;
      t.pos = pos + 1 === t.period ? 0 : pos + 1;
      return t.seq![pos]!;
    }
  }
  if (t.steadyAllowed && t.recorded < 0 && t.limited === 0 && t.rounds >= t.retryAt) {
    beginWindow(t, r);
    if (t.fast) return roundOn(r);
  }
  const i = t.lazyAllowed ? lazyFresh(r) : t.rounds < t.branchFreeUntil ? smallRound(r) : freshRound(r);
  if (t.recorded >= 0) {
    if (i < 0) t.recorded = -1;
    else recordRound(t, i);
  }
  return i;
}

/** A retry round: no replay; lazy rounds isolate the tried servers first, else the general round. */
function retryRound(r: RequestState): number {
  const t = r.tier;
  if (t.fast || t.recorded >= 0) leaveSchedule(t);
  if (!t.lazyAllowed) return selectRoundRobin(r);
  if (!t.lazy) enterLazy(t);
  isolateTried(r, t);
  return lazyRound(r, true);
}

/** A fresh round on a tier large enough for lazy rounds. */
function lazyFresh(r: RequestState): number {
  if (!r.tier.lazy) enterLazy(r.tier);
  return lazyRound(r, false);
}

/**
 * A fresh round on a tier of at most 32 servers that has not settled since its last change
 * (`Tier.branchFreeUntil`), with a branch-free maximum: each eligible server's
 * key is `current << 5 | (31 - i)` (ties go to the lower index: nginx's strict `>` in config order),
 * and the running maximum of the keys is kept with integer arithmetic instead of a compare-and-branch
 * whose outcome the processor cannot predict while the weights are in a transient (a failure, a
 * recovery): that misprediction was most of a round's cost at 8 servers. Runs of clean servers and
 * the special ones are walked as in `freshRound`. Exact while every current weight it sees is within
 * ±2^25, so that keys fit in 30 bits and their differences in 32 (checked per server against a
 * literal, a branch never taken in practice: a module constant would be reloaded on every
 * iteration); otherwise the winner is found again with the plain comparison (`widest`). Same
 * result as `freshRound`.
 */
function smallRound(r: RequestState): number {
  const t = r.tier;
  if (t.specialDirty) t.rebuildSpecial();
  const n = t.n;
  const count = t.specialCount;
  const { current, weight, special } = t;
  let key = -0x40000000;
  let wide = false;
  let taken = count < n; // a clean server is always taken
  let total = t.cleanWeight;
  let i = 0;
  for (let s = 0; ; s++) {
    const end = s < count ? special[s]! : n;
    // A run of clean servers: eligible, effective weight = weight, nothing to test.
    for (; i < end; i++) {
      const c = current[i]! + weight[i]!;
      current[i] = c;
      if (c > 33554432 || c < -33554432) wide = true; // ±2^25
      const d = (key - ((c << 5) | (31 - i))) | 0;
      key = (key - (d & (d >> 31))) | 0;
    }
    if (s >= count) break;
    // A special server: blocked, full, with failures, or recovering its effective weight (the same
    // step as in freshRound, written out: as a shared function it cost 1-5 ns a round).
    const g = t.gate[i]!;
    if (g === 0 || !gatedOut(r, t, i, g)) {
      const e = t.effective[i]!;
      const c = current[i]! + e;
      current[i] = c;
      total += e;
      taken = true;
      if (e < weight[i]!) {
        t.effective[i] = e + 1;
        if (e + 1 === weight[i] && g === 0) t.specialDirty = true; // recovered: clean again
      }
      if (c > 33554432 || c < -33554432) wide = true;
      const d = (key - ((c << 5) | (31 - i))) | 0;
      key = (key - (d & (d >> 31))) | 0;
    }
    i++;
  }
  t.rounds++;
  if (!taken) return -1;
  const best = wide ? widest(r) : 31 - (key & 31);
  current[best] = current[best]! - total;
  return best;
}

/**
 * The winner of a round whose weights were already added (by `smallRound`) when a current weight
 * was too large for its keys: the first largest current weight among the servers it took.
 */
function widest(r: RequestState): number {
  const t = r.tier;
  const { gate, current } = t;
  let best = -1;
  let bestCurrent = -Infinity;
  for (let i = 0; i < t.n; i++) {
    const g = gate[i]!;
    if (g !== 0 && gatedOut(r, t, i, g)) continue;
    if (current[i]! > bestCurrent) {
      best = i;
      bestCurrent = current[i]!;
    }
  }
  return best;
}

/**
 * A round for a request that has tried nothing. Servers that are eligible with effective weight =
 * weight and need no test ("clean") are handled by a tight loop over runs between the tier's
 * `special` indices (blocked, watched or recovering servers, kept in a list rebuilt only when a gate
 * or an effective weight changes); each special server gets the full treatment. Same result as
 * `selectRoundRobin` with an empty tried set.
 */
function freshRound(r: RequestState): number {
  const t = r.tier;
  if (t.specialDirty) t.rebuildSpecial();
  const n = t.n;
  const count = t.specialCount;
  // Mostly special (every server limited, say): the plain loop is cheaper than the runs.
  if (count > n >>> 1) return selectRoundRobin(r);
  const { gate, current, effective, weight, special } = t;
  let best = -1;
  let bestCurrent = -Infinity;
  let total = t.cleanWeight; // every clean server adds its weight
  let i = 0;
  for (let s = 0; ; s++) {
    const end = s < count ? special[s]! : n;
    for (; i < end; i++) {
      const c = current[i]! + weight[i]!;
      current[i] = c;
      if (c > bestCurrent) {
        best = i;
        bestCurrent = c;
      }
    }
    if (s >= count) break;
    const g = gate[i]!;
    if (g === 0 || !gatedOut(r, t, i, g)) {
      const e = effective[i]!;
      const c = current[i]! + e;
      current[i] = c;
      total += e;
      if (e < weight[i]!) {
        effective[i] = e + 1;
        if (e + 1 === weight[i] && g === 0) t.specialDirty = true; // recovered: clean again
      }
      if (c > bestCurrent) {
        best = i;
        bestCurrent = c;
      }
    }
    i++;
  }
  t.rounds++;
  if (best >= 0) current[best] = bestCurrent - total;
  return best;
}

/**
 * A round on a lazy tier (clean-classes.ts): the special servers one by one as in `freshRound`,
 * then the top of each weight class's heap, whose current weight is `anchor + sweeps * weight`;
 * the largest current weight wins, ties to the lower index. O(specials + classes + log n).
 * A `retry` round skips the request's tried servers (isolateTried made them special). A fresh round
 * moves special servers that are clean again (recovered, or tried by an earlier retry) back to their
 * heaps afterwards.
 */
function lazyRound(r: RequestState, retry: boolean): number {
  const t = r.tier;
  const k = t.clean!;
  if (t.sweeps >= k.rebaseAt) rebase(t);
  const sweeps = ++t.sweeps;
  const { gate, current, effective, weight, special } = t;
  let best = -1;
  let bestCurrent = -Infinity;
  let total = t.cleanWeight;
  let recovered = false;
  const count = t.specialCount;
  for (let s = 0; s < count; s++) {
    const i = special[s]!;
    const g = gate[i]!;
    if (g !== 0 && gatedOut(r, t, i, g)) continue;
    if (retry && isTried(r, i)) continue;
    const e = effective[i]!;
    const c = current[i]! + e;
    current[i] = c;
    total += e;
    if (e < weight[i]!) {
      effective[i] = e + 1;
      if (e + 1 === weight[i] && g === 0) recovered = true;
    } else if (g === 0) recovered = true; // clean, special only because a retry isolated it
    if (c > bestCurrent || (c === bestCurrent && i < best)) {
      best = i;
      bestCurrent = c;
    }
  }
  const { anchor, heap, start, size } = k;
  let bestClass = -1;
  for (let c = 0; c < k.count; c++) {
    if (size[c] === 0) continue;
    const i = heap[start[c]!]!;
    const v = anchor[i]! + sweeps * k.weight[c]!;
    if (v > bestCurrent || (v === bestCurrent && i < best)) {
      best = i;
      bestCurrent = v;
      bestClass = c;
    }
  }
  t.rounds++;
  if (bestClass >= 0) {
    anchor[best] = anchor[best]! - total; // current = v - total
    siftDown(k, bestClass, 0);
  } else if (best >= 0) current[best] = bestCurrent - total;
  if (recovered && !retry) reclean(t);
  return best;
}

/**
 * True when server `i` with non-zero gate `g` is out now: blocked (down, draining, check-down), at
 * its connection limit, or inside its passive window (the clock is read only for a server that has
 * reached maxFails).
 */
export function gatedOut(r: RequestState, t: Tier, i: number, g: number): boolean {
  if ((g & (GATE_BLOCKED | GATE_FULL)) !== 0) return true;
  return (g & GATE_FAILS) !== 0 && reachedMaxFails(t, i) && isExcluded(t, i, nowOf(r));
}

/**
 * One full SWRR round on `r.tier` with every nginx filter (tried, blocked, passive window,
 * maxConns). Returns the winner's index, or -1 when no server is eligible. The caller leaves
 * replay first when the request has tried something (the recorded period assumes fresh rounds).
 */
export function selectRoundRobin(r: RequestState): number {
  const t: Tier = r.tier;
  const n = t.n;
  const { gate, current, effective, weight } = t;
  const mask = r.mask;
  const bits = r.bits;
  const anyTried = mask !== 0 || bits !== null;
  let best = -1;
  let bestCurrent = -Infinity;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    // Blocked (down, draining, check-down), or watched (failures or a limit) and out right now.
    if (g !== 0 && gatedOut(r, t, i, g)) continue;
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
