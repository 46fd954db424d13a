/**
 * The steady replay's period from all-zero current weights (steady-replay.ts), built directly: nginx's
 * sequence from all zeros is periodic with period W (docs/nginx-semantics.md §2.1), and needs no
 * O(n) scan per step: servers of equal weight are picked in configuration order among themselves
 * (their current weights differ only by W times their pick counts), so each step compares one
 * candidate per weight class (weight-classes.ts): O(W × classes). Owns only its scratch tables.
 */

import type { Tier } from '../../tier';
import type { WeightClasses } from './weight-classes';

export class ZeroPeriod {
  readonly members: Int32Array;
  readonly memberCount: Int32Array;
  readonly memberStart: Int32Array;
  readonly picked: Float64Array;

  constructor(n: number) {
    this.members = new Int32Array(n);
    this.memberCount = new Int32Array(n);
    this.memberStart = new Int32Array(n);
    this.picked = new Float64Array(n);
  }

  /** Writes into `picks[0..period)` one period from all-zero weights of the servers marked in `inPeriod`. */
  build(t: Tier, classes: WeightClasses, inPeriod: Uint8Array, picks: Uint16Array | Uint32Array, period: number): void {
    const n = t.n;
    const { members, memberCount, memberStart, picked } = this;
    const classOf = classes.classOf;
    const d = classes.count;
    memberCount.fill(0, 0, d);
    for (let i = 0; i < n; i++) if (inPeriod[i] !== 0) memberCount[classOf[i]!]!++;
    let at = 0;
    for (let c = 0; c < d; c++) {
      memberStart[c] = at;
      at += memberCount[c]!;
      memberCount[c] = 0;
      picked[c] = 0;
    }
    for (let i = 0; i < n; i++) {
      if (inPeriod[i] === 0) continue;
      const c = classOf[i]!;
      members[memberStart[c]! + memberCount[c]!++] = i;
    }
    const cw = classes.weight;
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
      picks[p - 1] = bestIndex;
    }
  }
}
