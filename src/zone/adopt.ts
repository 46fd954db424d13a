/**
 * Adopting a membership another thread of the zone published (zone/link.ts `read`): the servers in
 * configuration order, their state already in place in the zone's shared arrays. Records are kept
 * by id; nothing is copied or loaded: the tiers become views of the shared layout (as an nginx
 * worker reads the zone's peers after another worker changed them). Records no longer listed are
 * detached (their open connections are the zone's away count, read through `ServerRecord.shared`)
 * and kept for `revive`.
 */

import type { RiseFallState } from '../health/rise-fall';
import type { Membership } from '../membership';
import { ServerRecord } from '../server';
import type { ResolvedServer } from '../server-fields';
import type { ZoneLink } from './link';

export function adoptMembership(m: Membership, storage: ZoneLink, servers: readonly ResolvedServer[], checks: readonly (RiseFallState | null)[]): void {
  const order: ServerRecord[] = [];
  const byId = new Map<string, ServerRecord>();
  servers.forEach((s, k) => {
    let rec = m.byId.get(s.id) ?? storage.revive(s.id);
    if (rec === undefined) rec = new ServerRecord(s, m.owner);
    rec.config = s;
    rec.check = checks[k]!;
    order.push(rec);
    byId.set(s.id, rec);
  });
  for (const rec of m.order) {
    if (byId.get(rec.id) !== rec) {
      rec.detached = { conns: 0, fails: rec.fails, effective: rec.effectiveWeight, current: 0 };
      rec.tier = null;
      rec.index = -1;
      storage.gone(rec);
    }
  }
  m.adopt(order, byId);
  // (each record's slot, last committed state and verdict hook: ZoneLink.placeRecords, next)
}
