/**
 * The tiers of one upstream and what selection methods derive from them (nginx's
 * `ngx_http_upstream_rr_peers_t` chain: `peers`, `peers->next`). Rebuilt when membership or weights
 * change, never per pick.
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
