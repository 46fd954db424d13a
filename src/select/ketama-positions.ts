/**
 * The chain positions behind the incremental ketama ring (ketama-incremental.ts): the groups of
 * servers sharing an address text, their staircases and ranks (which server of a group first
 * generates a chain position), chain generation and the plain build over groups. Follows nginx's `ngx_http_upstream_update_chash` as ketama-ring.ts states it.
 */

import { crc32Final, crc32Le32 } from './crc32';
import type { Steps } from '../slices';
import { POINTS_PER_WEIGHT, radixSortSteps } from './ketama-ring';

/** The servers of one address text among the primaries, and its chain. */
export interface Group {
  readonly id: number;
  readonly name: string;
  /** CRC-32 register after `HOST \0 PORT` (ketama-ring.ts `ketamaBase`). */
  readonly base: number;
  /** Chain length: 160 * the largest weight among the group's servers. */
  count: number;
  /** The chain length before the update in progress. */
  before: number;
  /** Staircase: `firsts[s]` is the tier index of the first server whose 160 * weight reaches `reach[s]` (increasing). */
  firsts: number[];
  reach: number[];
  /**
   * The pass over the tier in progress (ketama-incremental.ts `update`): the pass that last met the
   * group, its running maximum of 160 * weight, how many steps of the staircase it has met as they
   * were, and the new staircase once one differs (null while none does).
   */
  seen: number;
  top: number;
  steps: number;
  next: Stairs | null;
}

/** A staircase under construction. */
export interface Stairs {
  firsts: number[];
  reach: number[];
}

/**
 * The plain build over `groups` (all live, numbered 0.. in order), in place, in steps of about
 * `step` points (slices.ts; `Infinity`: at once): every chain position generated into `keys` (its
 * instance number in `vals`), radix sorted (stable, with the scratch arrays), equal hashes kept
 * once with the owner of the smallest rank. Returns how many points were kept: `keys` and `vals`
 * then start with the points and their owners. Hashes generated more than once are listed in
 * `multi`.
 */
export function* sortedChainsSteps(
  groups: readonly Group[],
  multi: Map<number, number[]>,
  keys: Uint32Array,
  vals: Int32Array,
  scratchKeys: Uint32Array,
  scratchVals: Int32Array,
  step: number,
): Steps<number> {
  const total = keys.length;
  const starts = new Int32Array(groups.length + 1);
  let at = 0;
  let since = 0;
  for (const g of groups) {
    starts[g.id] = at;
    generate(g, keys, vals, at);
    at += g.count;
    since += g.count;
    if (since >= step) {
      since = 0;
      yield;
    }
  }
  starts[groups.length] = at;
  const blocks = blockGroups(starts, total);
  const [sorted, order] = yield* radixSortSteps(keys, vals, scratchKeys, scratchVals, step);
  // sorted and order are rewritten in place: [0, kept) holds the points and owners
  const dedup = { i: 0, kept: 0 };
  while (dedup.i < total) {
    keepDistinct(groups, multi, starts, blocks, sorted, order, Math.min(total, dedup.i + step), dedup);
    if (dedup.i < total) yield;
  }
  return dedup.kept;
}

/** Chain positions 0 .. g.count of `g` into `keys` from `at`, each with its instance number. */
function generate(g: Group, keys: Uint32Array, vals: Int32Array, at: number): void {
  let prev = 0;
  for (let j = 0; j < g.count; j++) {
    prev = crc32Final(crc32Le32(g.base, prev));
    keys[at] = prev;
    vals[at] = at;
    at++;
  }
}

/** Instances per block of `blockGroups` (a power of two; a group spans at least 160). */
const BLOCK_SHIFT = 7;

/**
 * The group of the first instance of every block of 2^BLOCK_SHIFT instances (`starts[id]`: the first
 * instance of group `id`, increasing, `starts[groups]` = `total`), so that the group of any instance
 * is its block's group or one of the next few: one load and a compare or two, where a binary search
 * over the groups took about ten unpredictable branches for each of the ring's points.
 */
function blockGroups(starts: Int32Array, total: number): Int32Array {
  const blocks = new Int32Array((total >>> BLOCK_SHIFT) + 1);
  let g = 0;
  for (let b = 0; b < blocks.length; b++) {
    const inst = Math.min(b << BLOCK_SHIFT, total - 1);
    while (starts[g + 1]! <= inst) g++;
    blocks[b] = g;
  }
  return blocks;
}

/**
 * The deduplication of the sorted positions from `state.i` until a run of equal hashes ends at or
 * past `to`: each hash kept once (at `state.kept`) with its owner, shared ones listed in `multi`.
 */
function keepDistinct(
  groups: readonly Group[], multi: Map<number, number[]>, starts: Int32Array, blocks: Int32Array, sorted: Uint32Array,
  order: Int32Array, to: number, state: { i: number; kept: number },
): void {
  const total = sorted.length;
  // the group of a position: its instance lies in [starts[id], starts[id + 1])
  const groupOf = (inst: number): number => {
    let g = blocks[inst >>> BLOCK_SHIFT]!;
    while (starts[g + 1]! <= inst) g++;
    return g;
  };
  let { i, kept } = state;
  while (i < to) {
    const h = sorted[i]!;
    let end = i + 1;
    while (end < total && sorted[end] === h) end++;
    if (end - i === 1) order[kept] = groupOf(order[i]!);
    else {
      const list: number[] = [];
      for (let q = i; q < end; q++) {
        const inst = order[q]!;
        const id = groupOf(inst);
        list.push(id, inst - starts[id]!);
      }
      multi.set(h | 0, list);
      order[kept] = ownerOf(groups, list);
    }
    sorted[kept++] = h;
    i = end;
  }
  state.i = i;
  state.kept = kept;
}

/** The group of the position that comes first in the plain build: the smallest rank. */
export function ownerOf(groups: readonly Group[], list: readonly number[]): number {
  let best = list[0]!;
  let bestRank = rank(groups[best]!, list[1]!);
  for (let q = 2; q < list.length; q += 2) {
    const id = list[q]!;
    const r = rank(groups[id]!, list[q + 1]!);
    if (r < bestRank) {
      best = id;
      bestRank = r;
    }
  }
  return best;
}

/**
 * Per address text of the primaries (`names[i]`, weight `weights[i]`, in config order), in order of
 * first appearance: where its running maximum of 160 * weight grows.
 */
export function staircases(names: readonly string[], weights: ArrayLike<number>): Map<string, Stairs> {
  const out = new Map<string, Stairs>();
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const reach = weights[i]! * POINTS_PER_WEIGHT;
    const s = out.get(name);
    if (s === undefined) out.set(name, { firsts: [i], reach: [reach] });
    else if (reach > s.reach[s.reach.length - 1]!) {
      s.firsts.push(i);
      s.reach.push(reach);
    }
  }
  return out;
}

/** The tier index of the first server of `g` whose points include chain position `j`. */
export function rank(g: Group, j: number): number {
  const reach = g.reach;
  for (let s = 0; s < reach.length; s++) if (reach[s]! > j) return g.firsts[s]!;
  return Infinity; // not generated (cannot happen for a listed position)
}

/**
 * Appends `[hash | 0, group, j]` for chain positions `from` (inclusive) to `to` (exclusive) of
 * `g`: the hash as a signed 32-bit integer, a small-integer key in a Map (not a boxed number).
 */
export function chain(g: Group, from: number, to: number, out: number[]): void {
  let prev = 0;
  for (let j = 0; j < to; j++) {
    prev = crc32Final(crc32Le32(g.base, prev));
    if (j >= from) out.push(prev | 0, g.id, j);
  }
}

/** The first chain position of `g` that generates `h` (signed; it is in the group's chain before the update). */
export function chainIndex(g: Group, h: number): number {
  const limit = Math.max(g.count, g.before);
  let prev = 0;
  for (let j = 0; j < limit; j++) {
    prev = crc32Final(crc32Le32(g.base, prev));
    if ((prev | 0) === h) return j;
  }
  return -1;
}

/** Removes the position `[id, j]` from a flat list. */
export function dropPosition(list: number[], id: number, j: number): void {
  for (let q = 0; q < list.length; q += 2) {
    if (list[q] === id && list[q + 1] === j) {
      list.splice(q, 2);
      return;
    }
  }
}
