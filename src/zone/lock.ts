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
import { HOLDER, LOCK, ZONE_ID } from './layout';

/** Spins before a waiter sleeps: a get or free holds the lock for well under a microsecond. */
const SPINS = 64;

export class ZoneLock {
  /** This thread's mark in the holder word. */
  readonly mark = threadId + 1;
  #depth = 0;

  constructor(readonly control: Int32Array) {}

  // The lock word is 0 (free), 1 (held) or 2 (held, and a thread may be waiting): one atomic
  // operation to take it and one to give it back when nobody waits (Drepper, "Futexes are tricky",
  // mutex 2). The holder's mark is written beside it for `forceUnlock`.
  lock(): void {
    if (this.#depth > 0) {
      this.#depth++;
      return;
    }
    const c = this.control;
    if (Atomics.compareExchange(c, LOCK, 0, 1) !== 0) this.#contended();
    c[HOLDER] = this.mark;
    this.#depth = 1;
  }

  unlock(): void {
    if (--this.#depth > 0) return;
    const c = this.control;
    c[HOLDER] = 0;
    if (Atomics.sub(c, LOCK, 1) !== 1) {
      Atomics.store(c, LOCK, 0);
      Atomics.notify(c, LOCK, 1);
    }
  }

  /** Held by this thread now (a locked section is running below on the stack). */
  get held(): boolean {
    return this.#depth > 0;
  }

  #contended(): void {
    const c = this.control;
    let v = 1;
    for (let i = 0; i < SPINS; i++) {
      v = Atomics.compareExchange(c, LOCK, 0, 1);
      if (v === 0) return;
    }
    if (v !== 2) v = Atomics.exchange(c, LOCK, 2);
    while (v !== 0) {
      Atomics.wait(c, LOCK, 2);
      v = Atomics.exchange(c, LOCK, 2);
    }
  }

  /**
   * Frees the lock if the thread `deadThreadId` died holding it, and wakes the waiters. Returns true
   * if it did. Only for a thread known to have exited (a Worker's `exit` event).
   */
  forceUnlock(deadThreadId: number): boolean {
    const c = this.control;
    if (Atomics.compareExchange(c, HOLDER, deadThreadId + 1, 0) !== deadThreadId + 1) return false;
    Atomics.store(c, LOCK, 0);
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
