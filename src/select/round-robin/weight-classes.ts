/**
 * A round-robin tier's servers grouped by weight ("weight classes"), in configuration order within
 * a class. Servers of equal weight that stay clean keep their order of current weights, which both
 * the steady replay's period builder (steady-replay.ts) and the lazy rounds (lazy-rounds.ts) use.
 * Regrouped, O(n), only after the weights changed.
 */

import type { Tier } from '../../tier';

export class WeightClasses {
  /** Class of each server. */
  readonly classOf: Int32Array;
  /** First slot of class c in a class-ordered array of the tier's servers. */
  readonly start: Int32Array;
  /** Weight of class c. */
  readonly weight: Float64Array;
  /** Number of classes (distinct weights). */
  count = 0;
  /** Largest weight of the tier. */
  maxWeight = 1;
  /** The classes match the tier's weights (false after a weight change). */
  valid = false;

  constructor(n: number) {
    this.classOf = new Int32Array(n);
    this.start = new Int32Array(n);
    this.weight = new Float64Array(n);
  }

  /** The classes of `t`, regrouped first if its weights changed since. */
  of(t: Tier): this {
    if (!this.valid) this.#group(t);
    return this;
  }

  /** Groups the tier's servers by weight (every server, so that a class can hold all its members). */
  #group(t: Tier): void {
    const byWeight = new Map<number, number>();
    const members: number[] = [];
    let maxWeight = 1;
    for (let i = 0; i < t.n; i++) {
      const w = t.weight[i]!;
      let c = byWeight.get(w);
      if (c === undefined) {
        c = byWeight.size;
        byWeight.set(w, c);
        this.weight[c] = w;
        members.push(0);
      }
      this.classOf[i] = c;
      members[c]!++;
      if (w > maxWeight) maxWeight = w;
    }
    this.count = byWeight.size;
    let at = 0;
    for (let c = 0; c < this.count; c++) {
      this.start[c] = at;
      at += members[c]!;
    }
    this.maxWeight = maxWeight;
    this.valid = true;
  }
}
