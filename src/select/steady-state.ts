/**
 * The steady state of smooth weighted round robin: an exact O(1) pick while nothing changes.
 *
 * While a tier is calm — effective weight = weight for every eligible server, no server with
 * failures, no connection limits, no change of the eligible set — every SWRR round adds W = the sum
 * of eligible weights in total and takes W from the winner. nginx's sequence from all-zero current
 * weights is periodic with period W and returns to all zeros (nginx-semantics.md §2.1); from another
 * state it may need a transient before it settles into a period. So:
 *
 * - At a calm period start from all-zero weights, one period is built directly (below).
 * - From any other calm state, the scan records its picks for W rounds; if the current weights are
 *   then back where the window started, the recorded picks are a period and are replayed.
 * - While replaying (`t.fast`), a pick is a table lookup and the arrays are not touched. After `p`
 *   picks the weights nginx would hold are `base[i] + p*w[i] - W*k[i]`, `k[i]` being server i's
 *   picks so far; `leaveSchedule` restores exactly those (O(p + n)) before anything else reads or
 *   changes the tier, so the full scan continues seamlessly.
 *
 * Building from zeros needs no O(n) scan per step: servers of equal weight are picked in config
 * order among themselves (their current weights differ only by W times their pick counts), so each
 * step compares one candidate per distinct weight: O(W * distinct weights). Memory is bounded by
 * MAX_PERIOD entries per tier; larger periods stay on the scan.
 */

import type { Tier } from '../tier';

/** Largest period (sum of eligible weights) for which a schedule is kept. */
export const MAX_PERIOD = 65536;

/** True when `t` has no state that makes a round depend on time, load or recovery. */
function calm(t: Tier): boolean {
  if (t.failing !== 0 || t.limited !== 0) return false;
  const { blocked, effective, weight } = t;
  for (let i = 0; i < t.n; i++) {
    if (blocked[i] === 0 && effective[i] !== weight[i]) return false;
  }
  return true;
}

/** Sum of eligible weights, or 0 when above MAX_PERIOD (or nothing is eligible). */
function eligiblePeriod(t: Tier): number {
  let period = 0;
  for (let i = 0; i < t.n; i++) {
    if (t.blocked[i] === 0) period += t.weight[i]!;
  }
  return period > MAX_PERIOD ? 0 : period;
}

function ensureBuffers(t: Tier, period: number): void {
  if (t.seq === null || t.seq.length < period) t.seq = t.n <= 0xffff ? new Uint16Array(period) : new Uint32Array(period);
  if (t.base === null) t.base = new Float64Array(t.n);
}

/**
 * Called when the scan is about to run on a calm-looking tier and no window is open: opens a
 * recording window, or goes straight to replay when all eligible current weights are 0.
 * Amortised O(1): a failed start backs off for `n` rounds.
 */
export function beginWindow(t: Tier): void {
  if (t.rounds < t.retryAt) return;
  t.retryAt = t.rounds + t.n;
  if (!calm(t)) return;
  const period = eligiblePeriod(t);
  if (period === 0) return;
  ensureBuffers(t, period);
  const base = t.base!;
  const { current, blocked } = t;
  let zero = true;
  for (let i = 0; i < t.n; i++) {
    base[i] = current[i]!;
    if (blocked[i] === 0 && current[i] !== 0) zero = false;
  }
  t.period = period;
  if (zero) {
    buildFromZero(t, period);
    t.pos = 0;
    t.syncedPos = -1;
    t.recorded = -1;
    t.fast = true;
  } else {
    t.recorded = 0;
  }
}

/** Records a calm round's winner; closes the window when it has lasted one period. */
export function recordRound(t: Tier, winner: number): void {
  const k = t.recorded;
  t.seq![k] = winner;
  if (k + 1 < t.period) {
    t.recorded = k + 1;
    return;
  }
  t.recorded = -1;
  const { base, current, blocked } = t;
  for (let i = 0; i < t.n; i++) {
    if (blocked[i] === 0 && current[i] !== base![i]) {
      t.retryAt = 0;
      return;
    }
  }
  t.pos = 0;
  t.syncedPos = -1;
  t.fast = true;
}

/** Writes into `t.current` the weights nginx holds at the replay position (stays in replay). */
export function syncCurrent(t: Tier): void {
  if (!t.fast || t.syncedPos === t.pos) return;
  const { blocked, weight, current } = t;
  const base = t.base!;
  const seq = t.seq!;
  const pos = t.pos;
  const period = t.period;
  const picks = t.scratch === null || t.scratch.length < t.n ? (t.scratch = new Float64Array(t.n)) : t.scratch.fill(0);
  for (let p = 0; p < pos; p++) picks[seq[p]!] += 1;
  for (let i = 0; i < t.n; i++) {
    if (blocked[i] === 0) current[i] = base[i]! + pos * weight[i]! - period * picks[i]!;
  }
  t.syncedPos = pos;
}

/**
 * Leaves replay (restoring the exact current weights) and closes any recording window. Call it
 * before any change to the tier's flags, weights, failures or limits, and before a non-fresh round.
 */
export function leaveSchedule(t: Tier): void {
  if (t.fast) {
    syncCurrent(t);
    t.fast = false;
  }
  t.syncedPos = -1;
  t.recorded = -1;
  t.retryAt = t.rounds;
}

/** One period of SWRR picks from all-zero weights, by weight classes (see header). */
function buildFromZero(t: Tier, period: number): void {
  const { blocked, weight } = t;
  const byWeight = new Map<number, number[]>();
  for (let i = 0; i < t.n; i++) {
    if (blocked[i] !== 0) continue;
    const w = weight[i]!;
    let members = byWeight.get(w);
    if (members === undefined) byWeight.set(w, (members = []));
    members.push(i);
  }
  const members = [...byWeight.values()];
  const d = members.length;
  const cw = new Float64Array(d);
  const size = new Float64Array(d);
  const count = new Float64Array(d);
  for (let c = 0; c < d; c++) {
    cw[c] = weight[members[c]![0]!]!;
    size[c] = members[c]!.length;
  }
  const seq = t.seq!;
  for (let p = 1; p <= period; p++) {
    let best = 0;
    let bestValue = -Infinity;
    let bestIndex = 0;
    for (let c = 0; c < d; c++) {
      const k = count[c]!;
      const s = size[c]!;
      const value = p * cw[c]! - period * Math.floor(k / s);
      const index = members[c]![k % s]!;
      if (value > bestValue || (value === bestValue && index < bestIndex)) {
        best = c;
        bestValue = value;
        bestIndex = index;
      }
    }
    count[best] = count[best]! + 1;
    seq[p - 1] = bestIndex;
  }
}
