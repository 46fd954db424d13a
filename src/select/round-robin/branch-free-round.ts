/**
 * Accelerator: the branch-free round.
 *
 * Claim: returns what the plain round (plain-round.ts) returns and leaves the same state, when the
 * request has tried nothing, the special list (special-servers.ts) is current and the tier has at
 * most `BRANCH_FREE_MAX_SERVERS` servers.
 *
 * Why: right after a change (a failure, a recovery) the current weights are in a transient whose
 * comparisons the processor cannot predict, and on small tiers that misprediction is most of a
 * round's cost. Each eligible server's key is `current << 5 | (31 - i)` (ties go to the lower
 * index: nginx's strict `>` in configuration order) and the running maximum of the keys is kept
 * with integer arithmetic instead of a compare-and-branch. Runs of clean servers and the special
 * ones are walked as in the clean-run round. The keys are exact while every current weight seen is
 * within ±2^25, so that keys fit in 30 bits and their differences in 32; the bound is checked per
 * server against a literal (a module constant would be reloaded on every iteration), and a round
 * that meets a larger weight finds its winner again with the plain comparison (`widest`).
 * The dispatcher (index.ts) runs it only while the tier is unsettled, on unequal weights.
 */

import { gatedOut } from '../available';
import type { RequestState } from '../request';
import type { SpecialServers } from './special-servers';

/** Largest tier a branch-free round handles: its keys hold a server index in 5 bits. */
export const BRANCH_FREE_MAX_SERVERS = 32;

export function branchFreeRound(r: RequestState, special: SpecialServers): number {
  const t = r.tier;
  const n = t.n;
  const count = special.count;
  const list = special.list;
  const { current, weight } = t;
  let key = -0x40000000;
  let wide = false;
  let taken = count < n; // a clean server is always taken
  let total = special.cleanWeight;
  let i = 0;
  for (let s = 0; ; s++) {
    const end = s < count ? list[s]! : n;
    // A run of clean servers: eligible, effective weight = weight, nothing to test.
    for (; i < end; i++) {
      const c = current[i]! + weight[i]!;
      current[i] = c;
      if (c > 33554432 || c < -33554432) wide = true; // ±2^25
      const d = (key - ((c << 5) | (31 - i))) | 0;
      key = (key - (d & (d >> 31))) | 0;
    }
    if (s >= count) break;
    // A special server: the clean-run round's step, written out (as a shared function it cost
    // measurably more per round; bench/README.md).
    const g = t.gate[i]!;
    if (g === 0 || !gatedOut(r, t, i, g)) {
      const e = t.effective[i]!;
      const c = current[i]! + e;
      current[i] = c;
      total += e;
      taken = true;
      if (e < weight[i]!) {
        t.effective[i] = e + 1;
        if (e + 1 === weight[i] && g === 0) special.dirty = true; // recovered: clean again
      }
      if (c > 33554432 || c < -33554432) wide = true;
      const d = (key - ((c << 5) | (31 - i))) | 0;
      key = (key - (d & (d >> 31))) | 0;
    }
    i++;
  }
  if (!taken) return -1;
  const best = wide ? widest(r) : 31 - (key & 31);
  current[best] = current[best]! - total;
  return best;
}

/**
 * The winner of a round whose weights were already added when a current weight was too large for
 * its keys: the first largest current weight among the servers it took.
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
