/**
 * The balancing method table: maps `method` (and its flags) to nginx's get procedure for that
 * method, plus an optional `rebuild` hook run after every membership or weight change (hash rings,
 * weight ranges) so that nothing is derived per pick.
 */

import { InvalidOptionError, show } from '../errors';
import type { ResolvedOptions } from '../options';
import type { Peers } from '../peers';
import type { RequestState } from './request';
import { getRoundRobin } from './round-robin';

/** nginx get for one attempt: index in `r.tier` (which may have switched to backup), or -1. */
export type GetPeer = (p: Peers, r: RequestState) => number;

export interface Selector {
  get: GetPeer;
  /** Runs after the tiers were rebuilt (membership, weights, addresses). */
  rebuild?: (p: Peers) => void;
}

/** The selector for the configured method. */
export function selectorFor(options: ResolvedOptions): Selector {
  switch (options.method) {
    case 'round-robin':
      return { get: getRoundRobin };
    default:
      throw new InvalidOptionError('method', `Balancing method ${show(options.method)} is not available in this build`, options.method);
  }
}
