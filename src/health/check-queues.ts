/**
 * The active-check scheduler's two queues, pure data (no timers, no clock: the checker owns both):
 * - `DueHeap`: the servers waiting for their next check, a binary min-heap on `due`, each item
 *   knowing its position so that a removed server leaves in O(log n);
 * - `DeadlineQueue`: the checks in flight in start order with their deadlines. Every check of one
 *   checker has the same `timeout`, so deadlines come in start order and the oldest is the first
 *   to expire: a first-in first-out queue replaces a timer per check. A check that settles stays
 *   queued until it reaches the head and is skipped there (`live` says which are still running).
 * - `startWindowFor`: how long the due timer waits after a wake-up (the start window, cut to the
 *   time in which about 64 checks fall due).
 * nginx source: none (the check module sets one timer per peer, `ngx_add_timer(&peer->check_ev)`;
 * these queues give the same start and timeout times with two timers per checker, as the
 * differential test in test/unit/checker-spread.test.ts shows).
 */

import type { ResolvedCheck } from '../options';

/** What the heap orders: the due time and the position the heap keeps up to date (-1: not queued). */
export interface Due {
  due: number;
  heapIndex: number;
}

/** A binary min-heap on `due`. Ties leave in no particular order. */
export class DueHeap<T extends Due> {
  readonly #items: T[] = [];

  get size(): number {
    return this.#items.length;
  }

  /** The earliest due time, Infinity when empty. */
  get earliest(): number {
    return this.#items.length === 0 ? Infinity : this.#items[0]!.due;
  }

  push(item: T, due: number): void {
    item.due = due;
    item.heapIndex = this.#items.length;
    this.#items.push(item);
    this.#up(item.heapIndex);
  }

  /** Takes out the item with the earliest due time (the heap must not be empty). */
  pop(): T {
    const items = this.#items;
    const top = items[0]!;
    top.heapIndex = -1;
    const last = items.pop()!;
    if (last !== top) {
      items[0] = last;
      last.heapIndex = 0;
      this.#down(0);
    }
    return top;
  }

  /** Takes `item` out wherever it is; a no-op when it is not queued. */
  remove(item: T): void {
    const i = item.heapIndex;
    if (i < 0) return;
    item.heapIndex = -1;
    const items = this.#items;
    const last = items.pop()!;
    if (last === item) return;
    items[i] = last;
    last.heapIndex = i;
    this.#up(i);
    this.#down(last.heapIndex);
  }

  clear(): void {
    for (const item of this.#items) item.heapIndex = -1;
    this.#items.length = 0;
  }

  #up(i: number): void {
    const items = this.#items;
    const item = items[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p]!;
      if (parent.due <= item.due) break;
      items[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    items[i] = item;
    item.heapIndex = i;
  }

  #down(i: number): void {
    const items = this.#items;
    const n = items.length;
    const item = items[i]!;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && items[c + 1]!.due < items[c]!.due) c += 1;
      const child = items[c]!;
      if (item.due <= child.due) break;
      items[i] = child;
      child.heapIndex = i;
      i = c;
    }
    items[i] = item;
    item.heapIndex = i;
  }
}

/** Checks in flight in start order: (owner, run, deadline) in three parallel arrays, no object per check. */
export class DeadlineQueue<O, R> {
  #owners: O[] = [];
  #runs: R[] = [];
  #deadlines: number[] = [];
  #head = 0;

  get empty(): boolean {
    return this.#head === this.#deadlines.length;
  }

  push(owner: O, run: R, deadline: number): void {
    this.#owners.push(owner);
    this.#runs.push(run);
    this.#deadlines.push(deadline);
  }

  /**
   * Drops the checks at the head that are no longer `live`, hands every live one whose deadline is
   * before `limit` to `expire`, and returns the deadline of the first live one left (Infinity when
   * none is left: the queue is then empty).
   */
  expire(limit: number, live: (owner: O, run: R) => boolean, expire: (run: R) => void): number {
    const owners = this.#owners;
    const runs = this.#runs;
    const deadlines = this.#deadlines;
    let head = this.#head;
    let next = Infinity;
    for (; head < deadlines.length; head++) {
      if (!live(owners[head]!, runs[head]!)) continue;
      if (deadlines[head]! >= limit) {
        next = deadlines[head]!;
        break;
      }
      expire(runs[head]!);
    }
    if (head === deadlines.length) this.clear();
    else if (head > 1024 && head * 2 > deadlines.length) {
      this.#owners = owners.slice(head);
      this.#runs = runs.slice(head);
      this.#deadlines = deadlines.slice(head);
      this.#head = 0;
    } else this.#head = head;
    return next;
  }

  clear(): void {
    this.#owners = [];
    this.#runs = [];
    this.#deadlines = [];
    this.#head = 0;
  }
}

/**
 * About how many checks one wake-up should start: the window is cut to the time in which this many
 * fall due, so that with many servers (already several due per ms) it does not make batches, and
 * the turns they take, any longer than one timer fire starts anyway (checker.ts
 * `MAX_STARTS_PER_TURN`; bench/README.md, "Active checks: the start window").
 */
const SHARED_WAKE_CHECKS = 64;

/**
 * The wait after a wake-up of the due timer: `startWindow`, cut to the time in which about
 * `SHARED_WAKE_CHECKS` of `servers` checks fall due at one per server per `interval`.
 */
export function startWindowFor(options: Pick<ResolvedCheck, 'interval' | 'startWindow'>, servers: number): number {
  return Math.min(options.startWindow, Math.floor((SHARED_WAKE_CHECKS * options.interval) / servers));
}
