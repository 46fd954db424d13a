/**
 * The tiers of one upstream and what selection methods derive from them (nginx's
 * `ngx_http_upstream_rr_peers_t` chain: `peers`, `peers->next`). Rebuilt when membership or weights
 * change, never per pick.
 *
 * The derived fields are owned by the selectors (src/select/): they are filled by a selector's
 * `rebuild` hook after every tier rebuild, and checked for staleness (tier identity, total weight)
 * when used, so a weight changed in place is never hashed with an old table.
 */

import type { Tier } from './tier';
import type { Ring } from './select/consistent-hash';
import type { Slots } from './select/slots';

export interface Peers {
  primary: Tier;
  /** The backup tier, or null when there are no backup servers. */
  backup: Tier | null;
  /** nginx `single`: exactly one primary server and no backup tier. */
  single: boolean;
  /** Random source in [0, 1) for the random methods. */
  rng: () => number;
  /** Weight slots of the primary tier (hash, ip-hash, random); built by the selector's rebuild. */
  slots?: Slots | null;
  /** Weight slots of the backup tier (only reachable with `allowBackupWithHash`). */
  backupSlots?: Slots | null;
  /** The ketama ring of the primary tier (`hash: { consistent: true }`). */
  ring?: Ring | null;
}
