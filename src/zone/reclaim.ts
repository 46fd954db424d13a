/**
 * Giving back the connections a balancer of the zone held (its thread exited, or it closed): each
 * server's `conns` goes down by what it held, a server at its `max_conns` is selectable again, and a
 * removed server's open connections (the `checks` table's away count) go down too. As nginx, when a
 * worker dies, loses the peers' connections it held with it. Callers hold the zone's lock and have
 * adopted the latest membership, so `records` are the current ones.
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
