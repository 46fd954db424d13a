/**
 * The steady state of smooth weighted round robin: an exact O(1) pick while nothing changes.
 *
 * While a tier is calm — effective weight = weight for every eligible server, no connection limits,
 * no change of the eligible set — every SWRR round adds W = the sum of eligible weights in total and
 * takes W from the winner. A server with failures does not break the calm while its passive window
 * excludes it: until the first such window ends (`t.until`, the only moment a time check is needed)
 * it is as out of the rounds as a `down` server, which is what nginx's scan sees too. nginx's
 * sequence from all-zero current weights is periodic with period W and returns to all zeros
 * (nginx-semantics.md §2.1); from another state it may need a transient before it settles into a
 * period. So:
 *
 * - At a calm period start from all-zero weights, one period is built directly (below).
 * - From any other calm state, the scan keeps its last W picks in a ring (recordRound); as soon as
 *   every server has exactly its weight's worth of them, the weights equal those of W rounds ago and
 *   the ring is a period, replayed from there.
 * - While replaying (`t.fast`), a pick is a table lookup and the arrays are not touched (with
 *   `t.until` finite, each pick first compares the clock to it). After `p` picks the weights nginx
 *   would hold are `base[i] + p*w[i] - W*k[i]`, `k[i]` being server i's picks so far;
 *   `leaveSchedule` restores exactly those (O(p + n)) before anything else reads or changes the
 *   tier, so the full scan continues seamlessly.
 *
 * Building from zeros needs no O(n) scan per step: servers of equal weight are picked in config
 * order among themselves (their current weights differ only by W times their pick counts), so each
 * step compares one candidate per distinct weight: O(W * distinct weights). Memory is bounded by
 * MAX_PERIOD entries per tier; larger periods stay on the scan.
 */

import type { Tier } from '../tier';
import { reachedMaxFails } from '../health/passive-window';
import { type RequestState, nowOf } from './request';
import { leaveLazy, weightClasses, writeCurrent } from './clean-classes';

/** Largest period (sum of eligible weights) for which a schedule is kept. */
export const MAX_PERIOD = 65536;

const bits = new Float64Array(1);
const word = new BigInt64Array(bits.buffer);
/** The next double after `x` towards +Infinity (x finite). */
function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  bits[0] = x;
  word[0] += x > 0 ? 1n : -1n;
  return bits[0]!;
}
/** The next double after `x` towards -Infinity (x finite). */
function nextDown(x: number): number {
  return -nextUp(-x);
}

/**
 * The last `now` at which a server with `checked` and `failTimeout` is still inside its window by
 * the passive window's own test (`now - checked <= failTimeout`, in doubles): `checked + failTimeout`
 * for the integer times of every clock in practice, one ulp either side when that sum rounds.
 */
export function windowEnd(checked: number, failTimeout: number): number {
  let end = checked + failTimeout;
  // Integers (every clock in practice): exact, and the next double is past the window.
  if (Number.isSafeInteger(end) && Number.isSafeInteger(checked) && Number.isSafeInteger(failTimeout)) return end;
  if (!Number.isFinite(end)) return end;
  while (end - checked > failTimeout) end = nextDown(end);
  while (nextUp(end) - checked <= failTimeout) end = nextUp(end);
  return end;
}

/**
 * Marks in `t.inPeriod` the servers a calm round would take and returns their weight sum (the
 * period W), setting `t.until` to the end of the first passive window that keeps a server out; 0
 * when the tier is not calm (a limit, an eligible server recovering its effective weight, a server
 * with failures that its window does not exclude at `now`) or W is 0 or over MAX_PERIOD.
 */
function calmPeriod(t: Tier, r: RequestState): number {
  if (t.limited !== 0) return 0;
  const { blocked, effective, weight, fails, inPeriod } = t;
  let until = Infinity;
  let period = 0;
  for (let i = 0; i < t.n; i++) {
    inPeriod[i] = 0;
    if (blocked[i] !== 0) continue;
    if (fails[i] !== 0) {
      // Out of the rounds only while its window lasts; a server that could be probed is not calm.
      if (!reachedMaxFails(t, i)) return 0;
      const end = windowEnd(t.checked[i]!, t.failTimeout[i]!);
      if (!(nowOf(r) <= end)) return 0;
      if (end < until) until = end;
      continue;
    }
    if (effective[i] !== weight[i]) return 0;
    inPeriod[i] = 1;
    period += weight[i]!;
  }
  if (period === 0 || period > MAX_PERIOD) return 0;
  t.until = until;
  return period;
}

function ensureBuffers(t: Tier, period: number): void {
  if (t.seq === null || t.seq.length < period) t.seq = t.n <= 0xffff ? new Uint16Array(period) : new Uint32Array(period);
  if (t.base === null) t.base = new Float64Array(t.n);
  if (t.windowCount === null) t.windowCount = new Float64Array(t.n);
}

/**
 * Called when a fresh round is about to run on a tier that is not replaying, has no window open and
 * is past its back-off (`rounds >= retryAt`): opens a recording window, or goes straight to replay
 * when all eligible current weights are 0. Amortised O(1): a failed start backs off for `n` rounds.
 */
export function beginWindow(t: Tier, r: RequestState): void {
  t.retryAt = t.rounds + t.n;
  const period = calmPeriod(t, r);
  if (period === 0) return;
  ensureBuffers(t, period);
  if (t.lazy) writeCurrent(t);
  const { current, inPeriod } = t;
  let zero = true;
  for (let i = 0; i < t.n; i++) {
    if (inPeriod[i] !== 0 && current[i] !== 0) {
      zero = false;
      break;
    }
  }
  t.period = period;
  if (zero) {
    t.base!.fill(0); // the period's weights are 0 at its start (servers outside it are never restored)
    leaveLazy(t); // replay keeps `current` stale in its own way (syncCurrent)
    buildFromZero(t, period);
    t.pos = 0;
    t.syncedPos = -1;
    t.recorded = -1;
    t.fast = true;
  } else {
    // Every server of the period starts with 0 of its w picks in the window.
    t.windowCount!.fill(0);
    t.deviation = period; // each server of the period is its weight short
    t.ring = 0;
    t.recorded = 0;
  }
}

/**
 * True when the open window or the replay is no longer valid at the request's `now` because a
 * passive window that kept a server out has ended (reads the clock only when one did).
 */
export function expired(t: Tier, r: RequestState): boolean {
  return t.until !== Infinity && !(nowOf(r) <= t.until);
}

/**
 * Records a calm round's winner in the window, a ring of the last W picks. Over W calm rounds the
 * weights move by `W * (w - k)`, `k` being each server's picks among them: so the moment every
 * server of the period has exactly its weight's worth of the last W picks, the weights are back
 * where they were W rounds ago, and those W picks (from the oldest) are what the scan will repeat.
 * The counts are kept incrementally (`deviation`: the sum of each server's distance from its
 * weight), O(1) per round; the replay starts after a transient of any length as soon as one period
 * has passed since it ended.
 */
export function recordRound(t: Tier, winner: number): void {
  const seq = t.seq!;
  const count = t.windowCount!;
  const weight = t.weight;
  const q = t.ring;
  // |count - weight| summed over the period's servers, updated without branching on the counts.
  let deviation = t.deviation;
  if (t.recorded >= t.period) {
    // The pick W rounds ago leaves the window.
    const out = seq[q]!;
    const c = count[out]!;
    const w = weight[out]!;
    deviation += Math.abs(c - 1 - w) - Math.abs(c - w);
    count[out] = c - 1;
  }
  seq[q] = winner;
  const c = count[winner]!;
  const w = weight[winner]!;
  deviation += Math.abs(c + 1 - w) - Math.abs(c - w);
  count[winner] = c + 1;
  t.deviation = deviation;
  t.recorded++;
  const next = q + 1 === t.period ? 0 : q + 1;
  t.ring = next;
  if (deviation === 0) replayFromRing(t, next);
}

/**
 * Starts the replay at ring position `pos` with the weights as they are now: `base` (the weights at
 * position 0) is worked back from them, `current = base + pos * w - W * picks(seq[0..pos))`.
 */
function replayFromRing(t: Tier, pos: number): void {
  if (t.lazy) writeCurrent(t);
  const { inPeriod, weight, current } = t;
  const base = t.base!;
  const period = t.period;
  const picks = countPicks(t, pos);
  for (let i = 0; i < t.n; i++) {
    if (inPeriod[i] !== 0) base[i] = current[i]! - pos * weight[i]! + period * picks[i]!;
  }
  leaveLazy(t);
  t.recorded = -1;
  t.pos = pos;
  t.syncedPos = pos;
  t.fast = true;
}

/**
 * Makes `t.current` explicit and exact for a change that depends on it (a weight change, a rebuild,
 * a removal): leaves replay and lazy rounds.
 */
export function settle(t: Tier): void {
  leaveSchedule(t);
  leaveLazy(t);
}

/** Writes into `t.current` the weights nginx holds at the replay position (stays in replay). */
export function syncCurrent(t: Tier): void {
  if (t.lazy) writeCurrent(t);
  if (!t.fast || t.syncedPos === t.pos) return;
  const { inPeriod, weight, current } = t;
  const base = t.base!;
  const pos = t.pos;
  const period = t.period;
  const picks = countPicks(t, pos);
  for (let i = 0; i < t.n; i++) {
    if (inPeriod[i] !== 0) current[i] = base[i]! + pos * weight[i]! - period * picks[i]!;
  }
  t.syncedPos = pos;
}

/** Each server's picks among `seq[0..pos)` (the `k` of the restore formula), in a scratch array. */
function countPicks(t: Tier, pos: number): Float64Array {
  const picks = t.scratch === null || t.scratch.length < t.n ? (t.scratch = new Float64Array(t.n)) : t.scratch.fill(0);
  const seq = t.seq!;
  for (let p = 0; p < pos; p++) picks[seq[p]!] += 1;
  return picks;
}

/**
 * Leaves replay (restoring the exact current weights) and closes any recording window. Call it
 * before any change to the tier's flags, weights or limits, before a non-fresh round, and after a
 * change of a server's failures (the set of servers in the period is kept in `inPeriod`, so the
 * restore does not depend on the order).
 */
export function leaveSchedule(t: Tier): void {
  if (t.fast) {
    syncCurrent(t);
    t.fast = false;
  }
  t.syncedPos = -1;
  t.recorded = -1;
  t.until = Infinity;
  t.retryAt = t.rounds;
}

/** One period of SWRR picks from all-zero weights, by weight classes (see header). */
function buildFromZero(t: Tier, period: number): void {
  const { inPeriod } = t;
  // The period's servers by weight class, in config order within a class (no allocation).
  const k = weightClasses(t);
  const { classOf, members, memberCount, memberStart, picked } = k;
  const d = k.count;
  memberCount.fill(0, 0, d);
  for (let i = 0; i < t.n; i++) if (inPeriod[i] !== 0) memberCount[classOf[i]!]!++;
  let at = 0;
  for (let c = 0; c < d; c++) {
    memberStart[c] = at;
    at += memberCount[c]!;
    memberCount[c] = 0;
    picked[c] = 0;
  }
  for (let i = 0; i < t.n; i++) {
    if (inPeriod[i] === 0) continue;
    const c = classOf[i]!;
    members[memberStart[c]! + memberCount[c]!++] = i;
  }
  const cw = k.weight;
  const seq = t.seq!;
  for (let p = 1; p <= period; p++) {
    let best = 0;
    let bestValue = -Infinity;
    let bestIndex = 0;
    for (let c = 0; c < d; c++) {
      const s = memberCount[c]!;
      if (s === 0) continue;
      const taken = picked[c]!;
      const value = p * cw[c]! - period * Math.floor(taken / s);
      const index = members[memberStart[c]! + (taken % s)]!;
      if (value > bestValue || (value === bestValue && index < bestIndex)) {
        best = c;
        bestValue = value;
        bestIndex = index;
      }
    }
    picked[best] = picked[best]! + 1;
    seq[p - 1] = bestIndex;
  }
}
