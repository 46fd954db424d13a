/**
 * Weight slots: the tier's weights laid end to end in configuration order, so that a number
 * `w` in [0, totalWeight) names the server whose slot contains it. This is nginx's weight walk
 * (`while (w >= peer->weight) { w -= peer->weight; peer = peer->next; }` in the hash and ip_hash
 * modules) and the random module's `ranges` table with its binary search (§5.2, §5.4, §5.5).
 * `down` servers keep their slots (`total_weight` counts them), so taking a server down does not
 * move any other server's keys.
 *
 * Built once per tier rebuild (O(n)), looked up by binary search (O(log n)), no allocation per
 * lookup. A table remembers the tier and total weight it was built from; `TierSlots.of` rebuilds
 * it if either changed (a weight updated in place changes the total), so a stale table is never used.
 */

import type { Peers } from '../peers';
import type { Tier } from '../tier';
import type { RequestState } from './request';
import { NO_SHORTCUT, type Selector } from './selector';

/**
 * Cumulative weights of one tier.
 *
 * @example
 * buildSlots(tier).starts; // weights {3, 1, 2} -> [0, 3, 4]
 */
export interface Slots {
  /** The tier the table was built from. */
  readonly tier: Tier;
  /** Sum of its weights when built (nginx `total_weight`, down servers included). */
  readonly total: number;
  /** `starts[i]` = sum of the weights of the servers before `i` (nginx `ranges[i].range`). */
  readonly starts: Float64Array;
}

/**
 * Builds the slot table of a tier.
 *
 * @example
 * // weights {3, 1, 2}: starts [0, 3, 4], total 6
 * const s = buildSlots(tier);
 * slotAt(s, 5); // 2
 */
function buildSlots(t: Tier): Slots {
  const starts = new Float64Array(t.n);
  let total = 0;
  for (let i = 0; i < t.n; i++) {
    starts[i] = total;
    total += t.weight[i]!;
  }
  return { tier: t, total, starts };
}

/**
 * The server whose slot contains `w` (0 <= w < total): the largest `i` with `starts[i] <= w`.
 * Out-of-range input is clamped to the first or last server, never a crash.
 *
 * @example
 * slotAt(buildSlots(tierWithWeights([1, 4])), 2); // 1
 */
export function slotAt(s: Slots, w: number): number {
  const starts = s.starts;
  let lo = 0;
  let hi = starts.length;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (w < starts[mid]!) hi = mid;
    else lo = mid;
  }
  return lo;
}

/**
 * The slot tables of an upstream's tiers, owned by a slot-based selector (hash, ip_hash, random):
 * built by `rebuild` after every membership change, and rebuilt on use if a weight changed the
 * total since.
 *
 * @example
 * const slots = new TierSlots();
 * slots.rebuild(peers);
 * slotAt(slots.of(r.tier), hash % r.tier.totalWeight);
 */
export class TierSlots {
  #primary: Slots | null = null;
  #backup: Slots | null = null;

  rebuild(p: Peers): void {
    this.#primary = buildSlots(p.primary);
    this.#backup = p.backup === null ? null : buildSlots(p.backup);
  }

  /** The current slot table for tier `t`, rebuilt first if it is missing or stale. */
  of(t: Tier): Slots {
    const s = t.backup ? this.#backup : this.#primary;
    if (s !== null && s.tier === t && s.total === t.totalWeight) return s;
    const built = buildSlots(t);
    if (t.backup) this.#backup = built;
    else this.#primary = built;
    return built;
  }
}

/**
 * The selector of a slot-based method (hash, ip_hash, random): weight slots per tier, rebuilt with
 * the tiers; a subclass supplies the get.
 */
export abstract class SlotSelector implements Selector {
  protected readonly slots = new TierSlots();
  abstract get(p: Peers, r: RequestState): number;
  readonly shortcut = NO_SHORTCUT;
  rebuilt(p: Peers): void {
    this.slots.rebuild(p);
  }
  validate(): void {}
}
