/**
 * The zone's lock: one Int32 word of shared memory taken with `Atomics.compareExchange`, as nginx's
 * `ngx_shmtx_lock` (src/core/ngx_shmtx.c) takes the zone's mutex with an atomic compare-and-set:
 * a few spins, then a wait until the holder's unlock wakes one waiter. The holder's thread id + 1
 * is kept beside the lock word, so that the thread that watches a terminated worker can free a lock it died
 * holding (nginx: `ngx_shmtx_force_unlock` with the dead worker's pid, in ngx_unlock_mutexes).
 *
 * Re-entrant within a thread: an event handler run inside a locked section (a `state` event of a
 * failure) may call any balancer of the same zone. One `ZoneLock` per zone per thread (`lockOf`).
 */

import { threadId } from 'node:worker_threads';
import { LOCK, WAITERS, ZONE_ID } from './layout';

/** Spins before a waiter sleeps: a get or free holds the lock for well under a microsecond. */
const SPINS = 64;

export class ZoneLock {
  /** This thread's mark in the holder word. */
  readonly mark = threadId + 1;
  #depth = 0;

  constructor(readonly control: Int32Array) {}

  // The lock word holds the holder's mark (0: free), taken with one compare-and-set, so that there
  // is no moment at which the lock is taken and its holder unknown (a thread terminated there could
  // not be force-unlocked). Waiters count themselves in WAITERS; an unlock wakes one.
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
    const c = this.control;
    Atomics.store(c, LOCK, 0);
    if (Atomics.load(c, WAITERS) !== 0) Atomics.notify(c, LOCK, 1);
  }

  /** Held by this thread now (a locked section is running below on the stack). */
  get held(): boolean {
    return this.#depth > 0;
  }

  #contended(): void {
    const c = this.control;
    for (let i = 0; i < SPINS; i++) if (Atomics.compareExchange(c, LOCK, 0, this.mark) === 0) return;
    for (;;) {
      const holder = Atomics.compareExchange(c, LOCK, 0, this.mark);
      if (holder === 0) return;
      Atomics.add(c, WAITERS, 1);
      Atomics.wait(c, LOCK, holder, 100);
      Atomics.sub(c, WAITERS, 1);
    }
  }

  /**
   * Frees the lock if the thread `deadThreadId` died holding it, and wakes the waiters. Returns true
   * if it did. Only for a thread known to have exited (a Worker's `exit` event).
   */
  forceUnlock(deadThreadId: number): boolean {
    const c = this.control;
    if (Atomics.compareExchange(c, LOCK, deadThreadId + 1, 0) !== deadThreadId + 1) return false;
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
