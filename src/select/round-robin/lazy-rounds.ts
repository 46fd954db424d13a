/**
 * Accelerator: lazy rounds for large tiers.
 *
 * Claim: returns what the plain round (plain-round.ts) returns and leaves the same state (as read
 * through `currentOf` / `writeCurrent`), on any tier, for fresh requests and retries alike, while
 * every weight change goes through `leave` first.
 *
 * Why: a clean server (special-servers.ts) adds its weight in every round, so while it stays clean
 * `current[i] = anchor[i] + sweeps * weight[i]`, `sweeps` counting the rounds since the tier went
 * lazy, and a round adds to all of them at once by `sweeps += 1`. Among clean servers of equal
 * weight (weight-classes.ts) the order of current weights is the order of anchors: each class keeps
 * a binary max-heap on (anchor desc, index asc), only its top can win, and a winner pays the round's
 * total by lowering its anchor (one sift-down). Special servers keep an explicit current weight and
 * get the plain round's treatment. A server moves between the sets in O(log n) when its gate or its
 * recovery changes (`resettle`, `reclean`). A retry round first moves the request's tried servers
 * to the special list (`isolateTried`), where the round skips them. Cost per round:
 * O(specials + classes + log n) instead of O(n). Ties: nginx keeps the first server in
 * configuration order among equal current weights; the lazy round compares (current weight,
 * index) explicitly. Every value is an integer below 2^53 (anchors are rebased long before
 * `sweeps * weight` gets near it), so double arithmetic is exact.
 *
 * While lazy, `current` of clean servers is stale: `writeCurrent` fills it in for readers and
 * `leave` does that and drops the heaps. Below `SelectorTuning.lazyFromServers` servers the plain
 * loop is cheaper than the heaps, and the dispatcher does not use them.
 */

import type { Tier } from '../../tier';
import { gatedOut } from '../available';
import { type RequestState, isTried } from '../request';
import type { SpecialServers } from './special-servers';
import type { WeightClasses } from './weight-classes';

export class LazyRounds {
  /** Clean servers' current weights are `anchor + sweeps * weight`; the special list is unordered. */
  active = false;
  /** Rounds since the anchors were set. */
  sweeps = 0;
  /** `sweeps` at which the anchors are rebased (kept far below 2^53 / weight). */
  rebaseAt = 0;
  /** current = anchor + sweeps * weight, for clean servers. */
  readonly anchor: Float64Array;
  /** The heaps of all classes, class c in [start[c], start[c] + size[c]). */
  readonly heap: Int32Array;
  /** A clean server's position in its class heap (relative to the class start), else -1. */
  readonly heapPos: Int32Array;
  /** A special server's position in the special list, else -1. */
  readonly specialPos: Int32Array;
  /** Heap size of each class. */
  readonly size: Int32Array;

  constructor(
    readonly tier: Tier,
    readonly special: SpecialServers,
    readonly classes: WeightClasses,
  ) {
    const n = tier.n;
    this.anchor = new Float64Array(n);
    this.heap = new Int32Array(n);
    this.heapPos = new Int32Array(n);
    this.specialPos = new Int32Array(n);
    this.size = new Int32Array(n);
  }

  /** Starts lazy rounds from the tier's current weights. O(n). */
  enter(): void {
    const t = this.tier;
    const classes = this.classes.of(t);
    const { anchor, heap, heapPos, specialPos, size } = this;
    const { classOf, start } = classes;
    size.fill(0, 0, classes.count);
    const { current, weight } = t;
    const list = this.special.list;
    let specials = 0;
    let cleanWeight = 0;
    for (let i = 0; i < t.n; i++) {
      anchor[i] = current[i]!;
      if (this.#isClean(i)) {
        const c = classOf[i]!;
        heap[start[c]! + size[c]!] = i;
        size[c]!++;
        specialPos[i] = -1;
        cleanWeight += weight[i]!;
      } else {
        heapPos[i] = -1;
        specialPos[i] = specials;
        list[specials++] = i;
      }
    }
    for (let c = 0; c < classes.count; c++) {
      const base = start[c]!;
      for (let at = 0; at < size[c]!; at++) heapPos[heap[base + at]!] = at;
      for (let at = (size[c]! >>> 1) - 1; at >= 0; at--) this.#siftDown(c, at);
    }
    this.special.count = specials;
    this.special.cleanWeight = cleanWeight;
    this.special.dirty = false;
    this.rebaseAt = Math.floor(2 ** 50 / classes.maxWeight);
    this.sweeps = 0;
    this.active = true;
  }

  /**
   * One round: the special servers one by one as in the plain round, then the top of each weight
   * class's heap, whose current weight is `anchor + sweeps * weight`; the largest current weight
   * wins, ties to the lower index. A `retry` round skips the request's tried servers (isolated
   * first). A fresh round moves special servers that are clean again back to their heaps afterwards.
   */
  round(r: RequestState, retry: boolean): number {
    if (!this.active) this.enter();
    if (retry) this.#isolateTried(r);
    const t = this.tier;
    const classes = this.classes;
    if (this.sweeps >= this.rebaseAt) this.#rebase();
    const sweeps = ++this.sweeps;
    const { gate, current, effective, weight } = t;
    const special = this.special;
    const list = special.list;
    let best = -1;
    let bestCurrent = -Infinity;
    let total = special.cleanWeight;
    let recovered = false;
    const count = special.count;
    for (let s = 0; s < count; s++) {
      const i = list[s]!;
      const g = gate[i]!;
      if (g !== 0 && gatedOut(r, t, i, g)) continue;
      if (retry && isTried(r, i)) continue;
      // (the plain round's step written out: this loop is the lazy round's whole per-server cost)
      const e = effective[i]!;
      const c = current[i]! + e;
      current[i] = c;
      total += e;
      if (e < weight[i]!) effective[i] = e + 1;
      // Clean again: recovered its effective weight, or special only because a retry isolated it.
      if (g === 0 && e + 1 >= weight[i]!) recovered = true;
      if (c > bestCurrent || (c === bestCurrent && i < best)) {
        best = i;
        bestCurrent = c;
      }
    }
    const { anchor, heap, size } = this;
    const start = classes.start;
    let bestClass = -1;
    for (let c = 0; c < classes.count; c++) {
      if (size[c] === 0) continue;
      const i = heap[start[c]!]!;
      const v = anchor[i]! + sweeps * classes.weight[c]!;
      if (v > bestCurrent || (v === bestCurrent && i < best)) {
        best = i;
        bestCurrent = v;
        bestClass = c;
      }
    }
    if (bestClass >= 0) {
      anchor[best] = anchor[best]! - total; // current = v - total
      this.#siftDown(bestClass, 0);
    } else if (best >= 0) current[best] = bestCurrent - total;
    if (recovered && !retry) this.#reclean();
    return best;
  }

  /** Writes the clean servers' current weights into `current` (stays lazy). O(n). */
  writeCurrent(): void {
    const t = this.tier;
    const { current, weight } = t;
    const { anchor, heapPos } = this;
    const sweeps = this.sweeps;
    for (let i = 0; i < t.n; i++) {
      if (heapPos[i]! >= 0) current[i] = anchor[i]! + sweeps * weight[i]!;
    }
  }

  /** Server `i`'s exact current weight. */
  currentOf(i: number): number {
    return this.active && this.heapPos[i]! >= 0 ? this.anchor[i]! + this.sweeps * this.tier.weight[i]! : this.tier.current[i]!;
  }

  /** Ends lazy rounds: `current` is exact again and the special list is rebuilt when next needed. */
  leave(): void {
    if (!this.active) return;
    this.writeCurrent();
    this.active = false;
    this.special.dirty = true;
  }

  /** After a change of server `i`'s gate or effective weight: moves it to the set it now belongs to. */
  resettle(i: number): void {
    const clean = this.#isClean(i);
    if (clean === this.heapPos[i]! >= 0) return;
    if (clean) this.#toClean(i);
    else this.#toSpecial(i);
  }

  #isClean(i: number): boolean {
    const t = this.tier;
    return t.gate[i] === 0 && t.effective[i] === t.weight[i];
  }

  /** Moves the anchors to `sweeps = 0` (order within a class is unchanged). */
  #rebase(): void {
    const { anchor, heapPos } = this;
    const t = this.tier;
    const sweeps = this.sweeps;
    for (let i = 0; i < t.n; i++) {
      if (heapPos[i]! >= 0) anchor[i] = anchor[i]! + sweeps * t.weight[i]!;
    }
    this.sweeps = 0;
  }

  /** (anchor, index) of `a` ranks above that of `b`. */
  #above(a: number, b: number): boolean {
    const x = this.anchor[a]!;
    const y = this.anchor[b]!;
    return x > y || (x === y && a < b);
  }

  /** Restores the heap of class `c` below position `at`. */
  #siftDown(c: number, at: number): void {
    const { heap, heapPos } = this;
    const base = this.classes.start[c]!;
    const size = this.size[c]!;
    const i = heap[base + at]!;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= size) break;
      if (child + 1 < size && this.#above(heap[base + child + 1]!, heap[base + child]!)) child++;
      const j = heap[base + child]!;
      if (!this.#above(j, i)) break;
      heap[base + at] = j;
      heapPos[j] = at;
      at = child;
    }
    heap[base + at] = i;
    heapPos[i] = at;
  }

  /** Restores the heap of class `c` above position `at`. */
  #siftUp(c: number, at: number): void {
    const { heap, heapPos } = this;
    const base = this.classes.start[c]!;
    const i = heap[base + at]!;
    while (at > 0) {
      const parent = (at - 1) >>> 1;
      const j = heap[base + parent]!;
      if (!this.#above(i, j)) break;
      heap[base + at] = j;
      heapPos[j] = at;
      at = parent;
    }
    heap[base + at] = i;
    heapPos[i] = at;
  }

  /** Clean server `i` becomes special (its gate is set, or its effective weight drops). */
  #toSpecial(i: number): void {
    const t = this.tier;
    const special = this.special;
    t.current[i] = this.currentOf(i);
    const c = this.classes.classOf[i]!;
    const at = this.heapPos[i]!;
    const last = --this.size[c]!;
    this.heapPos[i] = -1;
    if (at !== last) {
      const base = this.classes.start[c]!;
      const moved = this.heap[base + last]!;
      this.heap[base + at] = moved;
      this.heapPos[moved] = at;
      this.#siftDown(c, at);
      if (this.heapPos[moved] === at) this.#siftUp(c, at);
    }
    special.cleanWeight -= t.weight[i]!;
    this.specialPos[i] = special.count;
    special.list[special.count++] = i;
  }

  /** Special server `i` becomes clean (gate cleared with full effective weight). */
  #toClean(i: number): void {
    const t = this.tier;
    const special = this.special;
    const at = this.specialPos[i]!;
    const last = special.count - 1;
    if (at !== last) {
      const moved = special.list[last]!;
      special.list[at] = moved;
      this.specialPos[moved] = at;
    }
    special.count = last;
    this.specialPos[i] = -1;
    this.anchor[i] = t.current[i]! - this.sweeps * t.weight[i]!;
    const c = this.classes.classOf[i]!;
    const end = this.size[c]!++;
    this.heap[this.classes.start[c]! + end] = i;
    this.heapPos[i] = end;
    this.#siftUp(c, end);
    special.cleanWeight += t.weight[i]!;
  }

  /** Moves every special server that is clean again (recovered its effective weight) to its heap. */
  #reclean(): void {
    const special = this.special;
    // Backwards: #toClean swaps the last special into the freed slot, which was already visited.
    for (let s = special.count - 1; s >= 0; s--) {
      const i = special.list[s]!;
      if (this.#isClean(i)) this.#toClean(i);
    }
  }

  /**
   * Before a retry round: the servers this request already tried sit the round out (nginx skips
   * them, so they must not gain their weight); those that are clean move to the special list, where
   * the round skips tried servers. O(tried × log n + n / 32). They return to their heaps at the next
   * fresh round.
   */
  #isolateTried(r: RequestState): void {
    const bits = r.bits;
    if (bits === null) this.#isolateWord(r.mask, 0);
    else for (let w = 0; w < bits.length; w++) this.#isolateWord(bits[w]!, w * 32);
  }

  /** #isolateTried for one 32-bit word of tried bits, the first of which is server `offset`. */
  #isolateWord(word: number, offset: number): void {
    const n = this.tier.n;
    for (let m = word; m !== 0; m &= m - 1) {
      const i = offset + 31 - Math.clz32(m & -m);
      if (i < n && this.heapPos[i]! >= 0) this.#toSpecial(i);
    }
  }
}
