/**
 * Lazy current weights for the "clean" servers of a large round-robin tier, so that a fresh SWRR
 * round costs O(specials + distinct weights + log n) instead of nginx's O(n) scan, with the same
 * winner and the same weights.
 *
 * A clean server is eligible with nothing to test (gate 0) and effective weight = weight: in every
 * fresh round it adds its weight to its current weight. So while it stays clean,
 * `current[i] = anchor[i] + sweeps * weight[i]`, `sweeps` counting the fresh rounds since the tier
 * went lazy, and a round adds to all of them at once by `sweeps += 1`. Among clean servers of equal
 * weight the order of current weights is the order of anchors: each weight class keeps a binary
 * max-heap on (anchor desc, index asc), only its top can win a round, and a winner pays the round's
 * total by lowering its anchor (one sift-down). Every other server is "special" (blocked, limited,
 * with failures, or recovering its effective weight): it keeps an explicit current weight and gets
 * nginx's full treatment each round (round-robin.ts, lazyRound). A server moves between the sets in
 * O(log n) when its gate or its recovery changes (Tier.refreshGate, reclean).
 *
 * Ties: nginx's scan keeps the first server in config order among equal current weights; the lazy
 * round compares (current weight, index) explicitly. All values are integers below 2^53 (anchors are
 * rebased long before sweeps * weight gets near it), so double arithmetic is exact.
 *
 * While lazy, `current` of clean servers is stale: `writeCurrent` fills it in for readers, and
 * `leaveLazy` does that and drops the heaps before anything that reads or writes `current` per
 * server (a replay of the steady state, a weight change, a rebuild). A retry round stays lazy: the
 * request's tried servers are moved to the special list first (isolateTried) and skipped there.
 *
 * Only tiers of at least `lazyRounds.minServers` servers go lazy: below that the plain loop is
 * cheaper than the heaps. The grouping by weight (`weightClasses`) also serves the steady state's
 * period builder, on tiers of any size.
 */

import type { Tier } from '../tier';
import type { RequestState } from './request';

/** Size threshold of the lazy rounds (a mutable setting so that tests can run them on small tiers). */
export const lazyRounds = { minServers: 24 };

/** The per-tier arrays of the lazy rounds, allocated on a tier's first lazy round. */
export class CleanClasses {
  /** current = anchor + sweeps * weight, for clean servers. */
  readonly anchor: Float64Array;
  /** The heaps of all classes, class c in [start[c], start[c] + size[c]). */
  readonly heap: Int32Array;
  /** A clean server's position in its class heap (relative to the class start), else -1. */
  readonly heapPos: Int32Array;
  /** A special server's position in `tier.special`, else -1. */
  readonly specialPos: Int32Array;
  /** Class (distinct weight) of each server. */
  readonly classOf: Int32Array;
  readonly start: Int32Array;
  readonly size: Int32Array;
  readonly weight: Float64Array;
  count = 0;
  /** Scratch for steady-state.ts's period builder: members by class, their count and start, picks. */
  readonly members: Int32Array;
  readonly memberCount: Int32Array;
  readonly memberStart: Int32Array;
  readonly picked: Float64Array;
  /** The classes match the tier's weights (false after a weight change). */
  valid = false;
  /** `sweeps` at which the anchors are rebased (kept far below 2^53 / weight). */
  rebaseAt = 0;

  constructor(n: number) {
    this.anchor = new Float64Array(n);
    this.heap = new Int32Array(n);
    this.heapPos = new Int32Array(n);
    this.specialPos = new Int32Array(n);
    this.classOf = new Int32Array(n);
    this.start = new Int32Array(n);
    this.size = new Int32Array(n);
    this.weight = new Float64Array(n);
    this.members = new Int32Array(n);
    this.memberCount = new Int32Array(n);
    this.memberStart = new Int32Array(n);
    this.picked = new Float64Array(n);
  }
}

/** The tier's servers grouped by weight (allocated once per tier, regrouped after a weight change). */
export function weightClasses(t: Tier): CleanClasses {
  const k = t.clean ?? (t.clean = new CleanClasses(t.n));
  if (!k.valid) buildClasses(t, k);
  return k;
}

/** Groups the tier's servers by weight (every server, so that a class can hold all its members). */
function buildClasses(t: Tier, k: CleanClasses): void {
  const byWeight = new Map<number, number>();
  const members: number[] = [];
  let maxWeight = 1;
  for (let i = 0; i < t.n; i++) {
    const w = t.weight[i]!;
    let c = byWeight.get(w);
    if (c === undefined) {
      c = byWeight.size;
      byWeight.set(w, c);
      k.weight[c] = w;
      members.push(0);
    }
    k.classOf[i] = c;
    members[c]!++;
    if (w > maxWeight) maxWeight = w;
  }
  k.count = byWeight.size;
  let at = 0;
  for (let c = 0; c < k.count; c++) {
    k.start[c] = at;
    at += members[c]!;
  }
  k.rebaseAt = Math.floor(2 ** 50 / maxWeight);
  k.valid = true;
}

const isClean = (t: Tier, i: number): boolean => t.gate[i] === 0 && t.effective[i] === t.weight[i];

/** (anchor, index) of `a` ranks above that of `b`. */
function above(anchor: Float64Array, a: number, b: number): boolean {
  const x = anchor[a]!;
  const y = anchor[b]!;
  return x > y || (x === y && a < b);
}

/** Restores the heap of class `c` below position `k`. */
export function siftDown(k: CleanClasses, c: number, at: number): void {
  const { heap, heapPos, anchor } = k;
  const base = k.start[c]!;
  const size = k.size[c]!;
  const i = heap[base + at]!;
  for (;;) {
    let child = 2 * at + 1;
    if (child >= size) break;
    if (child + 1 < size && above(anchor, heap[base + child + 1]!, heap[base + child]!)) child++;
    const j = heap[base + child]!;
    if (!above(anchor, j, i)) break;
    heap[base + at] = j;
    heapPos[j] = at;
    at = child;
  }
  heap[base + at] = i;
  heapPos[i] = at;
}

function siftUp(k: CleanClasses, c: number, at: number): void {
  const { heap, heapPos, anchor } = k;
  const base = k.start[c]!;
  const i = heap[base + at]!;
  while (at > 0) {
    const parent = (at - 1) >>> 1;
    const j = heap[base + parent]!;
    if (!above(anchor, i, j)) break;
    heap[base + at] = j;
    heapPos[j] = at;
    at = parent;
  }
  heap[base + at] = i;
  heapPos[i] = at;
}

/** Starts lazy rounds on `t` from its current weights. O(n). */
export function enterLazy(t: Tier): void {
  const k = weightClasses(t);
  const { anchor, heap, heapPos, specialPos, classOf, start, size } = k;
  size.fill(0, 0, k.count);
  const { current, weight, special } = t;
  let specials = 0;
  let cleanWeight = 0;
  for (let i = 0; i < t.n; i++) {
    anchor[i] = current[i]!;
    if (isClean(t, i)) {
      const c = classOf[i]!;
      heap[start[c]! + size[c]!] = i;
      size[c]!++;
      specialPos[i] = -1;
      cleanWeight += weight[i]!;
    } else {
      heapPos[i] = -1;
      specialPos[i] = specials;
      special[specials++] = i;
    }
  }
  for (let c = 0; c < k.count; c++) {
    const base = start[c]!;
    for (let at = 0; at < size[c]!; at++) heapPos[heap[base + at]!] = at;
    for (let at = (size[c]! >>> 1) - 1; at >= 0; at--) siftDown(k, c, at);
  }
  t.specialCount = specials;
  t.cleanWeight = cleanWeight;
  t.specialDirty = false;
  t.sweeps = 0;
  t.lazy = true;
}

/** Writes the clean servers' current weights into `t.current` (stays lazy). O(n). */
export function writeCurrent(t: Tier): void {
  const k = t.clean!;
  const { current, weight } = t;
  const { anchor, heapPos } = k;
  const sweeps = t.sweeps;
  for (let i = 0; i < t.n; i++) {
    if (heapPos[i]! >= 0) current[i] = anchor[i]! + sweeps * weight[i]!;
  }
}

/** Server `i`'s current weight on a lazy tier. */
export function lazyCurrent(t: Tier, i: number): number {
  const k = t.clean!;
  return k.heapPos[i]! >= 0 ? k.anchor[i]! + t.sweeps * t.weight[i]! : t.current[i]!;
}

/** Ends lazy rounds: `current` is exact again and the plain special list is rebuilt when needed. */
export function leaveLazy(t: Tier): void {
  if (!t.lazy) return;
  writeCurrent(t);
  t.lazy = false;
  t.specialDirty = true;
}

/** Moves the anchors to `sweeps = 0` (order within a class is unchanged). */
export function rebase(t: Tier): void {
  const k = t.clean!;
  const { anchor, heapPos } = k;
  const sweeps = t.sweeps;
  for (let i = 0; i < t.n; i++) {
    if (heapPos[i]! >= 0) anchor[i] = anchor[i]! + sweeps * t.weight[i]!;
  }
  t.sweeps = 0;
}

/** Clean server `i` becomes special (its gate is set, or its effective weight drops). */
function toSpecial(t: Tier, k: CleanClasses, i: number): void {
  t.current[i] = lazyCurrent(t, i);
  const c = k.classOf[i]!;
  const at = k.heapPos[i]!;
  const last = --k.size[c]!;
  k.heapPos[i] = -1;
  if (at !== last) {
    const base = k.start[c]!;
    const moved = k.heap[base + last]!;
    k.heap[base + at] = moved;
    k.heapPos[moved] = at;
    siftDown(k, c, at);
    if (k.heapPos[moved] === at) siftUp(k, c, at);
  }
  t.cleanWeight -= t.weight[i]!;
  k.specialPos[i] = t.specialCount;
  t.special[t.specialCount++] = i;
}

/** Special server `i` becomes clean (gate cleared with full effective weight). */
function toClean(t: Tier, k: CleanClasses, i: number): void {
  const at = k.specialPos[i]!;
  const last = t.specialCount - 1;
  if (at !== last) {
    const moved = t.special[last]!;
    t.special[at] = moved;
    k.specialPos[moved] = at;
  }
  t.specialCount = last;
  k.specialPos[i] = -1;
  k.anchor[i] = t.current[i]! - t.sweeps * t.weight[i]!;
  const c = k.classOf[i]!;
  const end = k.size[c]!++;
  k.heap[k.start[c]! + end] = i;
  k.heapPos[i] = end;
  siftUp(k, c, end);
  t.cleanWeight += t.weight[i]!;
}

/** After a change of server `i`'s gate or effective weight: moves it to the set it now belongs to. */
export function resettle(t: Tier, i: number): void {
  const k = t.clean!;
  const clean = isClean(t, i);
  if (clean === k.heapPos[i]! >= 0) return;
  if (clean) toClean(t, k, i);
  else toSpecial(t, k, i);
}

/** Moves every special server that is clean again (recovered its effective weight) to its heap. */
export function reclean(t: Tier): void {
  const k = t.clean!;
  // Backwards: toClean swaps the last special into the freed slot, which was already visited.
  for (let s = t.specialCount - 1; s >= 0; s--) {
    const i = t.special[s]!;
    if (isClean(t, i)) toClean(t, k, i);
  }
}

/**
 * Before a retry round: the servers this request already tried sit the round out (nginx skips them,
 * so they must not gain their weight), so those that are clean move to the special list, where the
 * round skips tried servers. O(tried x log n + n / 32). They return to their heaps at the next fresh
 * round (lazyRound's reclean).
 */
export function isolateTried(r: RequestState, t: Tier): void {
  const bits = r.bits;
  if (bits === null) isolateWord(t, r.mask, 0);
  else for (let w = 0; w < bits.length; w++) isolateWord(t, bits[w]!, w * 32);
}

/** isolateTried for one 32-bit word of tried bits, the first of which is server `offset`. */
function isolateWord(t: Tier, word: number, offset: number): void {
  const k = t.clean!;
  for (let m = word; m !== 0; m &= m - 1) {
    const i = offset + 31 - Math.clz32(m & -m);
    if (i < t.n && k.heapPos[i]! >= 0) toSpecial(t, k, i);
  }
}
