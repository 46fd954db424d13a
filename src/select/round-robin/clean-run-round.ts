/**
 * Accelerator: the clean-run round.
 *
 * Claim: returns what the plain round (plain-round.ts) returns and leaves the same state, when the
 * request has tried nothing and the special list (special-servers.ts) is current.
 *
 * Why: a clean server needs none of the plain round's tests and adds exactly its weight, so the runs
 * of clean servers between two special ones are a tight loop with no gate, tried or window test
 * and no clock read; each special server gets the plain round's full treatment. A server whose
 * effective weight recovers to its weight is clean again: the list is marked dirty. O(n) with a
 * smaller constant; a tier that is mostly special runs the plain round instead.
 */

import { gatedOut } from '../available';
import type { RequestState } from '../request';
import { swrrStep } from '../swrr';
import { plainRound } from './plain-round';
import type { SpecialServers } from './special-servers';

export function cleanRunRound(r: RequestState, special: SpecialServers): number {
  const t = r.tier;
  const n = t.n;
  const count = special.count;
  // Mostly special (every server limited, say): the plain loop is cheaper than the runs.
  if (count > n >>> 1) return plainRound(r);
  const { gate, current, weight } = t;
  const list = special.list;
  let best = -1;
  let bestCurrent = -Infinity;
  let total = special.cleanWeight; // every clean server adds its weight
  let i = 0;
  for (let s = 0; ; s++) {
    const end = s < count ? list[s]! : n;
    for (; i < end; i++) {
      const c = current[i]! + weight[i]!;
      current[i] = c;
      if (c > bestCurrent) {
        best = i;
        bestCurrent = c;
      }
    }
    if (s >= count) break;
    const g = gate[i]!;
    if (g === 0 || !gatedOut(r, t, i, g)) {
      const e = swrrStep(t, i);
      total += e;
      if (e + 1 === weight[i] && g === 0) special.dirty = true; // recovered: clean again
      const c = current[i]!;
      if (c > bestCurrent) {
        best = i;
        bestCurrent = c;
      }
    }
    i++;
  }
  if (best >= 0) current[best] = bestCurrent - total;
  return best;
}
