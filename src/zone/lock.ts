/**
 * The zone's lock: one Int32 word of shared memory taken with `Atomics.compareExchange`, as nginx's
 * `ngx_shmtx_lock` (src/core/ngx_shmtx.c) takes the zone's mutex with an atomic compare-and-set:
 * a few spins, then a wait until the holder's unlock wakes one waiter. The holder's thread id + 1
 * is the lock word, so that the thread that watches a terminated worker can free a lock it died
 * holding (nginx: `ngx_shmtx_force_unlock` with the dead worker's pid, in ngx_unlock_mutexes).
 *
 * Re-entrant within a thread: an event handler run inside a locked section (a `state` event of a
 * failure) may call any balancer of the same zone. One `ZoneLock` per zone per thread (`lockOf`).
 */

import { threadId } from 'node:worker_threads';
import { LOCK, ZONE_ID } from './layout';

/** Spins before a waiter sleeps: a get or free holds the lock for well under a microsecond. */
const SPINS = 64;
/** In the lock word beside the holder's mark: a thread sleeps (or is about to) until the unlock. */
export const LOCK_WAITED = 0x40000000;

export class ZoneLock {
  /** This thread's mark in the holder word. */
  readonly mark = threadId + 1;
  #depth = 0;

  constructor(readonly control: Int32Array) {}

  // The lock word is 0 (free) or the holder's mark, taken with one compare-and-set, so that there is
  // no moment at which the lock is taken and its holder unknown (a thread terminated there could not
  // be force-unlocked). A thread that goes to sleep first sets LOCK_WAITED in the word; the unlock
  // is one exchange, which says whether anyone must be woken (the three-state futex mutex; one
  // atomic operation each way when nobody waits: in V8 each Atomics call is a builtin call).
  lock(): void {
    if (this.#depth > 0) {
      this.#depth++;
      return;
    }
    if (Atomics.compareExchange(this.control, LOCK, 0, this.mark) !== 0) this.#contended();
    this.#depth = 1;
  }

  /** Takes the lock if it is free now; true if taken. */
  tryLock(): boolean {
    if (this.#depth > 0) {
      this.#depth++;
      return true;
    }
    if (Atomics.compareExchange(this.control, LOCK, 0, this.mark) !== 0) return false;
    this.#depth = 1;
    return true;
  }

  unlock(): void {
    if (--this.#depth > 0) return;
    if ((Atomics.exchange(this.control, LOCK, 0) & LOCK_WAITED) !== 0) Atomics.notify(this.control, LOCK, 1);
  }

  /** Held by this thread now (a locked section is running below on the stack). */
  get held(): boolean {
    return this.#depth > 0;
  }

  #contended(): void {
    const c = this.control;
    for (let i = 0; i < SPINS; i++) if (Atomics.compareExchange(c, LOCK, 0, this.mark) === 0) return;
    for (;;) {
      const word = Atomics.load(c, LOCK);
      if (word === 0) {
        // Taken as waited on: others may sleep behind this thread, and its unlock must wake one.
        if (Atomics.compareExchange(c, LOCK, 0, this.mark | LOCK_WAITED) === 0) return;
        continue;
      }
      if ((word & LOCK_WAITED) === 0 && Atomics.compareExchange(c, LOCK, word, word | LOCK_WAITED) !== word) continue;
      Atomics.wait(c, LOCK, word | LOCK_WAITED, 100);
    }
  }

  /**
   * Frees the lock if the thread `deadThreadId` died holding it, and wakes the waiters. Returns true
   * if it did. Only for a thread known to have exited (a Worker's `exit` event).
   */
  forceUnlock(deadThreadId: number): boolean {
    const c = this.control;
    for (;;) {
      const word = Atomics.load(c, LOCK);
      if ((word & ~LOCK_WAITED) !== deadThreadId + 1) return false;
      if (Atomics.compareExchange(c, LOCK, word, 0) === word) break;
    }
    Atomics.notify(c, LOCK);
    return true;
  }
}

/** This thread's lock of each zone, by zone id (every balancer of a zone in a thread shares it). */
const locks = new Map<number, ZoneLock>();

export function lockOf(control: Int32Array): ZoneLock {
  const id = control[ZONE_ID]!;
  let l = locks.get(id);
  if (l === undefined) {
    l = new ZoneLock(control);
    locks.set(id, l);
  }
  return l;
}
