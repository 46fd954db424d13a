/**
 * The special servers of a round-robin tier: those a fresh round cannot take as they are (a non-zero
 * gate: blocked, full or with failures; or an effective weight below the weight, recovering). Every
 * other server is "clean": eligible with nothing to test, it adds exactly its weight each round.
 * The clean-run, branch-free and lazy rounds walk clean servers in bulk and give only the special
 * ones nginx's full treatment.
 *
 * The list is in configuration order after `rebuild` (O(n), only after a change marked it dirty);
 * lazy rounds keep it up to date in no particular order instead (lazy-rounds.ts).
 */

import type { Tier } from '../../tier';

export class SpecialServers {
  /** Indices of the special servers; `count` of them are valid. */
  readonly list: Int32Array;
  count = 0;
  /** The list no longer matches the gates and effective weights (rebuilt before the next use). */
  dirty = true;
  /** Sum of the weights of the clean servers (their share of a round's total). */
  cleanWeight = 0;

  constructor(n: number) {
    this.list = new Int32Array(n);
  }

  /** Rebuilds the list, in configuration order, from the tier's gates and effective weights. O(n). */
  rebuild(t: Tier): void {
    let count = 0;
    let clean = 0;
    const { gate, effective, weight } = t;
    const list = this.list;
    for (let i = 0; i < t.n; i++) {
      if (gate[i] !== 0 || effective[i] !== weight[i]) list[count++] = i;
      else clean += weight[i]!;
    }
    this.count = count;
    this.cleanWeight = clean;
    this.dirty = false;
  }
}
