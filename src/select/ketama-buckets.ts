/**
 * The storage of the kept ketama ring (ketama-incremental.ts): the ring's sorted, deduplicated
 * points split into buckets by the top bits of the hash, so that a membership change rewrites only
 * the buckets its points fall in, never the whole ring. It answers what nginx's flat array answers
 * (`ngx_http_upstream_find_chash_point`: the index of the first point >= a hash, wrapping; the hash
 * and owner of point i): `find`, `pointAt`, `ownerAt` give exactly `findPoint` and
 * `points[i]` / `groups[i]` of the flat array holding the same points in order (ketama-ring.ts).
 *
 * Layout: bucket b holds the points whose top `bits` bits equal b, sorted, at entries
 * `start[b] .. start[b] + len[b]` (exclusive; each entry a hash and its owner), inside a region of
 * `cap[b]` entries; `before[b]` counts the points of the buckets below b, so a global index (the
 * flat array's) is `before[b]` plus the offset in the bucket. A bucket's four numbers sit side by
 * side in one table (a lookup or an edit reads one cache line of it). Ketama hashes are CRC-32 outputs,
 * spread evenly, so with about 48 points per bucket at layout a bucket holds a few dozen points.
 *
 * Precondition for the same answers as the flat array: the points given to `layout` are sorted
 * ascending and distinct, and `change` removes points present (the keeper guarantees both;
 * `change` finds for itself which of the points to insert it holds already). Then every bucket stays sorted and the buckets in bucket order are the
 * flat array in order: test/property/ring-incremental.prop.test.ts compares every answer with
 * `buildRing` after random changes, test/unit/ring-buckets.test.ts covers layout, relocation and
 * re-layout.
 *
 * Cost: `find` O(log bucket); `pointAt` / `ownerAt` O(1) expected (a guess from the even spread,
 * then a walk over the buckets' counts); `change` of k points O(k log k + k * bucket + buckets): a
 * bucket is edited in place (insertions placed from its end, removals closed up from the first,
 * each run of entries moved by one `copyWithin`),
 * or through a small scratch when it gets both, and `before` is recounted from the first bucket
 * changed. A bucket that outgrows its region moves to the free room after the regions, with half
 * again its size; when that room runs out, or the points per bucket drift more than fourfold from
 * the layout's, the ring is laid out afresh (O(P); rare: a ring that keeps its size through
 * changes never gets there).
 */

import { type Steps, drain } from '../slices';

/** Points per bucket aimed at when laying out. */
const POINTS_PER_BUCKET = 48;
/** Largest bucket count exponent (2^22 buckets: 16 MB of bucket tables per table). */
const MAX_BITS = 22;

/** Offsets in a bucket's four numbers (`PointBuckets` `#table`). */
const START = 0;
const LEN = 1;
const CAP = 2;
const BEFORE = 3;

/** The slack of a region holding `n` points: room to grow before the bucket moves. */
const regionFor = (n: number): number => n + Math.max(8, n >> 1);

/** The first entry of `[lo, hi)` whose hash exceeds `h` (the entries sorted by hash). */
function firstAbove(entries: Uint32Array, lo: number, hi: number, h: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (entries[2 * mid]! > h) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Inserts `fresh[e0..e1)` into the `len` entries at `s` (room after them), from the back: each
 * new point finds its place by binary search and the entries above it move up by the points
 * still to insert, in one `copyWithin` (a native move: every old entry moves once, and a change
 * costs the same few steps per point before V8 has compiled it as after).
 */
function insertInPlace(entries: Uint32Array, s: number, len: number, fresh: Uint32Array, owners: Int32Array, e0: number, e1: number): void {
  let end = s + len;
  for (let e = e1 - 1; e >= e0; e--) {
    const h = fresh[e]!;
    const at = firstAbove(entries, s, end, h);
    const up = e - e0 + 1;
    if (at < end) entries.copyWithin(2 * (at + up), 2 * at, 2 * end);
    entries[2 * (at + up - 1)] = h;
    entries[2 * (at + up - 1) + 1] = owners[e]!;
    end = at;
  }
}

/**
 * Removes `gone[d0..d1)` (all present) from the `len` entries at `s`, from the first: the entries
 * between two removed points move down in one `copyWithin` each.
 */
function removeInPlace(entries: Uint32Array, s: number, len: number, gone: Uint32Array, d0: number, d1: number): void {
  const end = s + len;
  let write = firstAbove(entries, s, end, gone[d0]!) - 1; // the first removed point's entry
  let read = write + 1;
  for (let d = d0 + 1; d < d1; d++) {
    const next = firstAbove(entries, read, end, gone[d]!) - 1;
    if (next > read) entries.copyWithin(2 * write, 2 * read, 2 * next);
    write += next - read;
    read = next + 1;
  }
  if (end > read) entries.copyWithin(2 * write, 2 * read, 2 * end);
}

/**
 * A typed array of `n` elements for a build's points: zeroed when built at once; in steps
 * (`sliced`), not zeroed first (`Buffer.allocUnsafeSlow`: no pass over megabytes on one step),
 * which is for arrays whose every element read is written before. Its own memory, never a pool's.
 */
export function pointArray<T extends Uint32Array | Int32Array>(
  Type: { new (length: number): T; new (buffer: ArrayBuffer, offset: number, length: number): T }, n: number, sliced: boolean,
): T {
  if (!sliced) return new Type(n);
  const bytes = Buffer.allocUnsafeSlow(4 * n);
  return new Type(bytes.buffer as ArrayBuffer, bytes.byteOffset, n);
}

/** Counts the points of `keys[lo..hi)` per bucket (`LEN` of `table`). */
function countBuckets(keys: Uint32Array, lo: number, hi: number, shift: number, table: Int32Array): void {
  for (let i = lo; i < hi; i++) table[4 * (keys[i]! >>> shift) + LEN]!++;
}

/**
 * Writes `keys[lo..hi)` (sorted) and their owners into their buckets' regions: point i of bucket b
 * goes to the region's start plus i less the bucket's first point (`BEFORE`, counted by then).
 */
function placeEntries(
  keys: Uint32Array, owners: Int32Array, lo: number, hi: number, shift: number, table: Int32Array, entries: Uint32Array,
): void {
  let b = -1;
  let at = 0;
  for (let i = lo; i < hi; i++) {
    const k = keys[i]!;
    const kb = k >>> shift;
    if (kb !== b) {
      b = kb;
      at = table[4 * b + START]! + i - table[4 * b + BEFORE]!; // (BEFORE: the bucket's first point in `keys`)
    }
    entries[2 * at] = k;
    entries[2 * at + 1] = owners[i]!;
    at++;
  }
}

/**
 * The ring's points in buckets.
 *
 * @example
 * const b = new PointBuckets();
 * b.layout(new Uint32Array([10, 20, 30]), new Int32Array([0, 1, 0]), 3);
 * b.find(15); // 1
 * b.change(new Uint32Array([20]), new Uint32Array([25]), new Int32Array([2]));
 * b.ownerAt(b.find(21)); // 2
 */
export class PointBuckets {
  /** Number of points. */
  size = 0;
  /** Layouts so far (the first included) and buckets moved out of their region (tests, benches). */
  layouts = 0;
  moved = 0;
  /** Bucket of a hash: `h >>> shift` (32 - bits). */
  #shift = 31;
  #buckets = 2;
  /**
   * The points, bucket by bucket with gaps: entry e is the hash at `2e` and its owner (group) at
   * `2e + 1`, side by side so that an edit touches half the cache lines.
   */
  #entries = new Uint32Array(0);
  /**
   * Per bucket b, four numbers side by side (one cache line holds four buckets): at `4b` its
   * region's start, `4b + 1` its points, `4b + 2` its region's size, `4b + 3` the points in the
   * buckets below it; `4 * buckets + 3` is `size`.
   */
  #table = new Int32Array(12);
  /** First free entry after the regions (where a bucket that outgrows its region moves). */
  #free = 0;
  /** Size at the last layout (a drift beyond fourfold lays out afresh). */
  #laidOut = 0;
  /** Scratch for one bucket's rewrite (its entries before). */
  #scratch = new Uint32Array(128);

  /** Lays out the first `n` entries of `keys` (sorted ascending, distinct) and their `owners`. */
  layout(keys: Uint32Array, owners: Int32Array, n: number): void {
    drain(this.layoutSteps(keys, owners, n, Infinity));
  }

  /**
   * `layout` in steps of `step` points (slices.ts). The storage may be written over from the first
   * step: only a ring that does not serve is laid out in steps (ketama-incremental.ts `prepareRing`).
   */
  *layoutSteps(keys: Uint32Array, owners: Int32Array, n: number, step: number): Steps<void> {
    let bits = Math.round(Math.log2(Math.max(1, n / POINTS_PER_BUCKET)));
    bits = Math.min(MAX_BITS, Math.max(1, bits));
    const buckets = 2 ** bits;
    const shift = 32 - bits;
    const table = new Int32Array(4 * buckets + 4);
    for (let lo = 0; lo < n; lo += step) {
      countBuckets(keys, lo, Math.min(n, lo + step), shift, table);
      if (lo + step < n) yield;
    }
    let room = 0;
    let before = 0;
    for (let b = 0; b < buckets; b++) {
      table[4 * b + START] = room;
      table[4 * b + CAP] = regionFor(table[4 * b + LEN]!);
      table[4 * b + BEFORE] = before;
      room += table[4 * b + CAP]!;
      before += table[4 * b + LEN]!;
    }
    const total = room + Math.max(1024, n >> 3);
    const size = this.#entries.length >> 1;
    // new storage unless the old one fits; in steps not zeroed, since no entry outside a bucket's
    // points is ever read (a step of its own)
    let entries = this.#entries;
    if (size < total || size > 2 * total) {
      if (step !== Infinity) yield;
      entries = pointArray(Uint32Array, 2 * total, step !== Infinity);
      if (step !== Infinity) yield;
    }
    for (let lo = 0; lo < n; lo += step) {
      placeEntries(keys, owners, lo, Math.min(n, lo + step), shift, table, entries);
      if (lo + step < n) yield;
    }
    this.#entries = entries;
    this.#shift = shift;
    this.#buckets = buckets;
    this.#table = table;
    this.#free = room;
    this.#laidOut = n;
    this.size = n;
    this.layouts++;
    this.#recount(0);
  }

  /**
   * Views over the storage as a whole build's scratch (`n` hashes and `n` owners), or null when it
   * is too small: memory written before, which the next `layout` overwrites anyway.
   */
  scratchFor(n: number): [Uint32Array, Int32Array] | null {
    const entries = this.#entries;
    if (entries.length < 2 * n) return null;
    return [entries.subarray(0, n), new Int32Array(entries.buffer, entries.byteOffset + 4 * n, n)];
  }

  /** Index of the first point >= `h` (unsigned), or `size` when there is none (nginx wraps to 0). */
  find(h: number): number {
    const b = h >>> this.#shift;
    const entries = this.#entries;
    const table = this.#table;
    const s = table[4 * b + START]!;
    const end = s + table[4 * b + LEN]!;
    let lo = s;
    let hi = end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (entries[2 * mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return lo < end ? table[4 * b + BEFORE]! + lo - s : table[4 * b + 4 + BEFORE]!;
  }

  /** Hash of point `i` (0 <= i < size). */
  pointAt(i: number): number {
    return this.#entries[2 * this.#slotAt(i)]!;
  }

  /** Owner (group) of point `i` (0 <= i < size). */
  ownerAt(i: number): number {
    return this.#entries[2 * this.#slotAt(i) + 1]!;
  }

  /** Owner of the point `h`, or -1 when `h` is not a point. */
  ownerOf(h: number): number {
    const slot = this.#slotOf(h);
    return slot < 0 ? -1 : this.#entries[2 * slot + 1]!;
  }

  /** Gives the point `h` (present) the owner `g`. */
  setOwner(h: number, g: number): void {
    this.#entries[2 * this.#slotOf(h) + 1] = g;
  }

  /**
   * Removes the points `gone` (sorted ascending, each present) and inserts `fresh` (sorted
   * ascending, none in `gone`) with owners `freshOwners`. A point of `fresh` the ring holds already
   * keeps its owner and is not inserted again: those points are returned (the caller settles their
   * owner), found while their bucket is being rewritten anyway.
   */
  change(gone: Uint32Array, fresh: Uint32Array, freshOwners: Int32Array): number[] {
    const estimate = this.size - gone.length + fresh.length;
    if (estimate > 4 * this.#laidOut + 4096 || 4 * estimate < this.#laidOut) this.#relayout(0);
    const present: number[] = [];
    let d = 0;
    let e = 0;
    let first = -1;
    while (d < gone.length || e < fresh.length) {
      const shift = this.#shift;
      const b = Math.min(d < gone.length ? gone[d]! >>> shift : this.#buckets, e < fresh.length ? fresh[e]! >>> shift : this.#buckets);
      let dEnd = d;
      while (dEnd < gone.length && gone[dEnd]! >>> shift === b) dEnd++;
      let eEnd = e;
      while (eEnd < fresh.length && fresh[eEnd]! >>> shift === b) eEnd++;
      const most = this.#table[4 * b + LEN]! - (dEnd - d) + (eEnd - e);
      if (most > this.#table[4 * b + CAP]! && this.#free + regionFor(most) > this.#entries.length >> 1) {
        this.#relayout(regionFor(most)); // recounted whole; the bucket numbers may change: take this bucket again
        first = -1;
        continue;
      }
      let keysIn = fresh;
      let ownersIn = freshOwners;
      let e0 = e;
      let e1 = eEnd;
      let held = 0;
      for (let q = e; q < eEnd; q++) if (this.#slotOf(fresh[q]!) >= 0) held++;
      if (held > 0) {
        keysIn = new Uint32Array(eEnd - e - held);
        ownersIn = new Int32Array(keysIn.length);
        let w = 0;
        for (let q = e; q < eEnd; q++) {
          if (this.#slotOf(fresh[q]!) >= 0) present.push(fresh[q]!);
          else {
            keysIn[w] = fresh[q]!;
            ownersIn[w++] = freshOwners[q]!;
          }
        }
        e0 = 0;
        e1 = w;
      }
      this.#rewrite(b, gone, d, dEnd, keysIn, ownersIn, e0, e1, most - held);
      this.size += e1 - e0 - (dEnd - d);
      if (first < 0) first = b;
      d = dEnd;
      e = eEnd;
    }
    if (first >= 0) this.#recount(first);
    return present;
  }

  /** Bucket `b` without `gone[d0..d1)` and with `fresh[e0..e1)`: `n` points, in its region or a new one. */
  #rewrite(b: number, gone: Uint32Array, d0: number, d1: number, fresh: Uint32Array, freshOwners: Int32Array, e0: number, e1: number, n: number): void {
    const entries = this.#entries;
    const table = this.#table;
    const s = table[4 * b + START]!;
    const len = table[4 * b + LEN]!;
    table[4 * b + LEN] = n;
    if (n <= table[4 * b + CAP]!) {
      if (d0 === d1) return insertInPlace(entries, s, len, fresh, freshOwners, e0, e1);
      if (e0 === e1) return removeInPlace(entries, s, len, gone, d0, d1);
    }
    if (this.#scratch.length < 2 * len) this.#scratch = new Uint32Array(4 * len);
    const old = this.#scratch;
    old.set(entries.subarray(2 * s, 2 * (s + len)));
    let at = s;
    if (n > table[4 * b + CAP]!) {
      at = this.#free;
      table[4 * b + START] = at;
      table[4 * b + CAP] = regionFor(n);
      this.#free += regionFor(n);
      this.moved++;
    }
    at *= 2;
    let d = d0;
    let e = e0;
    for (let q = 0; q < 2 * len; q += 2) {
      const k = old[q]!;
      if (d < d1 && gone[d] === k) {
        d++;
        continue;
      }
      while (e < e1 && fresh[e]! < k) {
        entries[at] = fresh[e]!;
        entries[at + 1] = freshOwners[e++]!;
        at += 2;
      }
      entries[at] = k;
      entries[at + 1] = old[q + 1]!;
      at += 2;
    }
    while (e < e1) {
      entries[at] = fresh[e]!;
      entries[at + 1] = freshOwners[e++]!;
      at += 2;
    }
  }

  /** The ring laid out afresh in bigger storage (`need`: room a bucket about to grow must find). */
  #relayout(need: number): void {
    let n = 0; // (during a change `size` is not yet the points held)
    const table = this.#table;
    for (let b = 0; b < this.#buckets; b++) n += table[4 * b + LEN]!;
    const keys = new Uint32Array(n + need);
    const owners = new Int32Array(n + need);
    let at = 0;
    for (let b = 0; b < this.#buckets; b++) {
      const s = table[4 * b + START]!;
      const end = s + table[4 * b + LEN]!;
      for (let q = s; q < end; q++) {
        keys[at] = this.#entries[2 * q]!;
        owners[at++] = this.#entries[2 * q + 1]!;
      }
    }
    this.#entries = new Uint32Array(0); // not reused: the layout's room is measured afresh
    this.layout(keys, owners, n);
    if (this.#free + need > this.#entries.length >> 1) {
      const grown = new Uint32Array(2 * (this.#free + need + Math.max(1024, n >> 3)));
      grown.set(this.#entries);
      this.#entries = grown;
    }
  }

  /** The counts of the buckets below, from bucket `from` on. */
  #recount(from: number): void {
    const table = this.#table;
    let sum = table[4 * from + BEFORE]!;
    for (let b = from; b < this.#buckets; b++) {
      table[4 * b + BEFORE] = sum;
      sum += table[4 * b + LEN]!;
    }
    table[4 * this.#buckets + BEFORE] = sum;
  }

  /**
   * Storage slot of point `i`: the bucket with `before[b] <= i < before[b + 1]`, searched from
   * the guess the even spread of the hashes gives.
   */
  #slotAt(i: number): number {
    const table = this.#table;
    let b = Math.floor((i / this.size) * this.#buckets);
    while (table[4 * b + BEFORE]! > i) b--;
    while (table[4 * b + 4 + BEFORE]! <= i) b++;
    return table[4 * b + START]! + i - table[4 * b + BEFORE]!;
  }

  /** Storage slot of the point `h`, or -1. */
  #slotOf(h: number): number {
    const b = h >>> this.#shift;
    const entries = this.#entries;
    let lo = this.#table[4 * b + START]!;
    let hi = lo + this.#table[4 * b + LEN]!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const k = entries[2 * mid]!;
      if (k < h) lo = mid + 1;
      else if (k > h) hi = mid;
      else return mid;
    }
    return -1;
  }
}
