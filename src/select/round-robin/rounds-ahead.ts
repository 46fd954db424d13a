/**
 * Accelerator: calm rounds computed ahead, for the steady replay (steady-replay.ts) of a small tier.
 *
 * Claim: from a calm state (steady-replay.ts's header: the same servers eligible, every one at its
 * full effective weight, no limits), `compute` returns the winners of the next rounds exactly as
 * the plain round (plain-round.ts) would pick them, one after the other; the replay hands them out
 * and restores the tier's weights from them as it does for a recorded period.
 *
 * Why: after a change of a small tier with unequal weights the rounds need a transient and a whole
 * period before a recording window proves the period, and under churn (a failure every few periods)
 * the next change often comes first, so most picks ran a live round plus the window's bookkeeping.
 * The same rounds run here in one tight loop over compact 32-bit copies of the period's servers
 * (their weights and current weights), with none of a live pick's tests, and every pick is a
 * replayed one. When the computed rounds come back to the start state they are a period and
 * repeat; otherwise the replay starts again from where they ended.
 *
 * Precondition checked by `start` (else it declines, and the replay records a window instead): at
 * most `AHEAD_MAX_SERVERS` servers in the period, and a proven bound on every current weight the
 * rounds can reach within ±2^25, so that the branch-free keys of branch-free-round.ts are exact
 * with no per-server test. In a calm round the sum S of the period's current weights is invariant
 * (each adds its weight, the winner pays the period W), the winner had at least (S + W) / m
 * (m servers), so no weight falls below L = min(lowest now, floor((S + W) / m) - W), and none
 * rises above S + W - (m - 1) L.
 */

import type { Tier } from '../../tier';

/**
 * Most servers in a period computed ahead (a key holds a server's position in 5 bits, so at most
 * 32): at 23 servers (three blocks) a computed round and its replay measured more than a live round
 * and its recording (bench/README.md), at 16 less.
 */
export const AHEAD_MAX_SERVERS = 16;
/** Bound on |current weight| under which the 32-bit keys are exact (2^25). */
const KEY_RANGE = 33554432;
/** Servers per block of the computing loops; unused lanes of a block are idle servers (below). */
const LANES = 8;

/** The larger of two keys, without a branch (keys differ by less than 2^31). */
function larger(a: number, b: number): number {
  const d = (a - b) | 0;
  return (a - (d & (d >> 31))) | 0;
}

export class RoundsAhead {
  /** The period's servers, in configuration order (`count` of them, then idle lanes). */
  readonly members: Int32Array;
  /** Their weights and their current weights in the rounds computed so far. */
  readonly weight: Int32Array;
  readonly current: Int32Array;
  count = 0;
  /** The period W (sum of the members' weights). */
  total = 0;

  constructor(n: number) {
    const lanes = Math.ceil(Math.min(n, AHEAD_MAX_SERVERS) / LANES) * LANES;
    this.members = new Int32Array(lanes);
    this.weight = new Int32Array(lanes);
    this.current = new Int32Array(lanes);
  }

  /**
   * Takes the servers marked in `inPeriod` (weights summing to `period`) at their current weights
   * in `t`; false when the precondition (header) does not hold, and nothing may be computed.
   */
  start(t: Tier, inPeriod: Uint8Array, period: number): boolean {
    const { members, weight, current } = this;
    let m = 0;
    let sum = 0;
    let lowest = Infinity;
    for (let i = 0; i < t.n; i++) {
      if (inPeriod[i] === 0) continue;
      if (m === AHEAD_MAX_SERVERS) return false;
      const c = t.current[i]!;
      members[m] = i;
      m++;
      sum += c;
      if (c < lowest) lowest = c;
    }
    const floor = Math.min(lowest, Math.floor((sum + period) / m) - period);
    if (!(floor > -KEY_RANGE && sum + period - (m - 1) * floor < KEY_RANGE)) return false;
    for (let j = 0; j < m; j++) {
      const i = members[j]!;
      weight[j] = t.weight[i]!;
      current[j] = t.current[i]!;
    }
    // Idle lanes up to the block: weight 0 and a current weight whose key is below every real one.
    const lanes = Math.ceil(m / LANES) * LANES;
    for (let j = m; j < lanes; j++) {
      members[j] = 0;
      weight[j] = 0;
      current[j] = -KEY_RANGE;
    }
    this.count = m;
    this.total = period;
    return true;
  }

  /** Computes the winners of the next rounds into `picks[from..to)` (server indices). */
  compute(picks: Uint16Array | Uint32Array, from: number, to: number): void {
    if (this.count <= LANES) this.#computeInLanes(picks, from, to);
    else this.#computeInBlocks(picks, from, to);
  }

  /**
   * Up to 8 servers: the current weights held in eight locals for the whole batch (the unused
   * lanes have weight 0 and a current weight below every key of a real server), the maximum taken
   * as a tree of branch-free comparisons, and the winner's payment made by masks, not a branch.
   */
  #computeInLanes(picks: Uint16Array | Uint32Array, from: number, to: number): void {
    const { members, weight: w, current: cur } = this;
    const total = this.total;
    const w0 = w[0]!, w1 = w[1]!, w2 = w[2]!, w3 = w[3]!, w4 = w[4]!, w5 = w[5]!, w6 = w[6]!, w7 = w[7]!;
    let c0 = cur[0]!, c1 = cur[1]!, c2 = cur[2]!, c3 = cur[3]!, c4 = cur[4]!, c5 = cur[5]!, c6 = cur[6]!, c7 = cur[7]!;
    for (let p = from; p < to; p++) {
      c0 = (c0 + w0) | 0;
      c1 = (c1 + w1) | 0;
      c2 = (c2 + w2) | 0;
      c3 = (c3 + w3) | 0;
      c4 = (c4 + w4) | 0;
      c5 = (c5 + w5) | 0;
      c6 = (c6 + w6) | 0;
      c7 = (c7 + w7) | 0;
      const low = larger(larger((c0 << 5) | 31, (c1 << 5) | 30), larger((c2 << 5) | 29, (c3 << 5) | 28));
      const high = larger(larger((c4 << 5) | 27, (c5 << 5) | 26), larger((c6 << 5) | 25, (c7 << 5) | 24));
      const best = 31 - (larger(low, high) & 31);
      c0 = (c0 - (total & ((best - 1) >> 31))) | 0;
      c1 = (c1 - (total & (((best ^ 1) - 1) >> 31))) | 0;
      c2 = (c2 - (total & (((best ^ 2) - 1) >> 31))) | 0;
      c3 = (c3 - (total & (((best ^ 3) - 1) >> 31))) | 0;
      c4 = (c4 - (total & (((best ^ 4) - 1) >> 31))) | 0;
      c5 = (c5 - (total & (((best ^ 5) - 1) >> 31))) | 0;
      c6 = (c6 - (total & (((best ^ 6) - 1) >> 31))) | 0;
      c7 = (c7 - (total & (((best ^ 7) - 1) >> 31))) | 0;
      picks[p] = members[best]!;
    }
    cur[0] = c0;
    cur[1] = c1;
    cur[2] = c2;
    cur[3] = c3;
    cur[4] = c4;
    cur[5] = c5;
    cur[6] = c6;
    cur[7] = c7;
  }

  /** Up to AHEAD_MAX_SERVERS servers: blocks of eight lanes in the arrays, each block's maximum taken as a tree. */
  #computeInBlocks(picks: Uint16Array | Uint32Array, from: number, to: number): void {
    const { members, weight: w, current: cur } = this;
    const total = this.total;
    const end = this.count;
    for (let p = from; p < to; p++) {
      let key = -0x40000000;
      for (let j = 0; j < end; j += LANES) {
        const c0 = (cur[j]! + w[j]!) | 0;
        const c1 = (cur[j + 1]! + w[j + 1]!) | 0;
        const c2 = (cur[j + 2]! + w[j + 2]!) | 0;
        const c3 = (cur[j + 3]! + w[j + 3]!) | 0;
        const c4 = (cur[j + 4]! + w[j + 4]!) | 0;
        const c5 = (cur[j + 5]! + w[j + 5]!) | 0;
        const c6 = (cur[j + 6]! + w[j + 6]!) | 0;
        const c7 = (cur[j + 7]! + w[j + 7]!) | 0;
        cur[j] = c0;
        cur[j + 1] = c1;
        cur[j + 2] = c2;
        cur[j + 3] = c3;
        cur[j + 4] = c4;
        cur[j + 5] = c5;
        cur[j + 6] = c6;
        cur[j + 7] = c7;
        const low = larger(larger((c0 << 5) | (31 - j), (c1 << 5) | (30 - j)), larger((c2 << 5) | (29 - j), (c3 << 5) | (28 - j)));
        const high = larger(larger((c4 << 5) | (27 - j), (c5 << 5) | (26 - j)), larger((c6 << 5) | (25 - j), (c7 << 5) | (24 - j)));
        key = larger(key, larger(low, high));
      }
      const best = 31 - (key & 31);
      cur[best] = (cur[best]! - total) | 0;
      picks[p] = members[best]!;
    }
  }

  /** Whether the computed rounds came back to the current weights `start` holds (a period). */
  returnedTo(start: Float64Array): boolean {
    const { members, current } = this;
    for (let j = 0; j < this.count; j++) if (current[j] !== start[members[j]!]) return false;
    return true;
  }

  /** Writes the current weights reached by the computed rounds into `into` (the members' entries). */
  writeTo(into: Float64Array): void {
    const { members, current } = this;
    for (let j = 0; j < this.count; j++) into[members[j]!] = current[j]!;
  }
}
