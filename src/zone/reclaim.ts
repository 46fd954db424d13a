/**
 * Giving back the connections a balancer of the zone held (its thread exited, or it closed): each
 * server's `conns` goes down by what it held, a server at its `max_conns` is selectable again, and a
 * removed server's open connections (the `checks` table's away count) go down too. As nginx, when a
 * worker dies, loses the peers' connections it held with it. Callers hold the zone's lock and have
 * adopted the latest membership, so `records` are the current ones.
 *
 * A thread that died inside a locked section may have changed a server's `conns` and not yet its row
 * of `held` (or the other way round): `recount` then sets every count from the rows of the balancers
 * still in the zone, which hold every connection open (the invariant: with the lock free, each
 * server's `conns`, or a removed server's away count, is the sum of its column of `held`).
 */

import type { ServerRecord } from '../server';
import { GATE_FULL } from '../tier';
import { CHECK_AWAY, CHECK_WORDS, type ZoneViews } from './layout';

/** Gives back what balancer slot `k` holds on the servers `records`, and zeroes its row. */
export function giveBack(v: ZoneViews, k: number, records: readonly ServerRecord[]): number {
  const bySlot = new Map<number, ServerRecord>();
  for (const rec of records) if (rec.zoneSlot >= 0 && rec.tier !== null) bySlot.set(rec.zoneSlot, rec);
  let total = 0;
  for (let s = 0; s < v.capacity; s++) {
    const held = v.held[k * v.capacity + s]!;
    if (held <= 0) continue;
    total += held;
    const rec = bySlot.get(s);
    if (rec === undefined) {
      // a removed server's connections
      const at = s * CHECK_WORDS + CHECK_AWAY;
      v.checks[at] = Math.max(0, v.checks[at]! - held);
      continue;
    }
    const t = rec.tier!;
    const i = rec.index;
    const conns = t.conns[i]! - held;
    t.conns[i] = conns < 0 ? 0 : conns;
    if ((t.gate[i]! & GATE_FULL) !== 0) t.refreshGate(i);
  }
  v.held.fill(0, k * v.capacity, (k + 1) * v.capacity);
  return total;
}

/** Sets every server's `conns` and every removed server's away count to the sum of its column of `held`. */
export function recount(v: ZoneViews, records: readonly ServerRecord[]): void {
  const sum = (s: number): number => {
    let n = 0;
    for (let k = 0; k < v.maxThreads; k++) if (v.threads[k] !== 0) n += v.held[k * v.capacity + s]!;
    return n;
  };
  const present = new Set<number>();
  for (const rec of records) {
    if (rec.zoneSlot < 0 || rec.tier === null) continue;
    present.add(rec.zoneSlot);
    rec.tier.conns[rec.index] = sum(rec.zoneSlot);
    rec.tier.refreshGate(rec.index);
  }
  for (let s = 0; s < v.capacity; s++) if (!present.has(s)) v.checks[s * CHECK_WORDS + CHECK_AWAY] = sum(s);
}
