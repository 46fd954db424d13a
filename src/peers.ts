/**
 * The tiers of one upstream (nginx's `ngx_http_upstream_rr_peers_t` chain: `peers`,
 * `peers->next`) and the facts every method's get reads from them. Rebuilt when membership
 * changes, never per pick. What a method derives from the tiers (slots, a ring, round robin's
 * accelerators) belongs to its selector (select/selector.ts), not here.
 */

import type { Tier } from './tier';

export interface Peers {
  primary: Tier;
  /** The backup tier, or null when there are no backup servers. */
  backup: Tier | null;
  /** nginx `single`: exactly one primary server and no backup tier. */
  single: boolean;
  /** Random source in [0, 1) for the random methods. */
  rng: () => number;
}
