/**
 * The balancing method table: maps `method` (and its flags) to nginx's get procedure for that
 * method, plus an optional `rebuild` hook run after every membership or weight change (hash rings,
 * weight ranges) so that nothing is derived per pick.
 *
 * | method | flags | nginx directive | get | derived data |
 * | --- | --- | --- | --- | --- |
 * | `round-robin` | | (default) | getRoundRobin | none |
 * | `least-conn` | | `least_conn` | getLeastConn | none |
 * | `hash` | | `hash KEY` | getHash | weight slots |
 * | `hash` | `hash.consistent` | `hash KEY consistent` | getConsistentHash | ketama ring |
 * | `ip-hash` | | `ip_hash` (http) | getIpHash | weight slots |
 * | `random` | | `random` | getRandom | weight slots |
 * | `random` | `randomTwo` (+ `randomLeastConn`) | `random two [least_conn]` | getRandomTwo | weight slots |
 */

import { InvalidOptionError, show } from '../errors';
import type { ResolvedOptions, ResolvedServer } from '../options';
import type { Peers } from '../peers';
import { MAX_RING_POINTS, POINTS_PER_WEIGHT, getConsistentHash, rebuildRing } from './consistent-hash';
import { getHash } from './hash';
import { getIpHash } from './ip-hash';
import { getLeastConn } from './least-conn';
import { getRandom, getRandomTwo } from './random';
import type { RequestState } from './request';
import { getRoundRobin } from './round-robin';
import { rebuildSlots } from './slots';

/** nginx get for one attempt: index in `r.tier` (which may have switched to backup), or -1. */
export type GetPeer = (p: Peers, r: RequestState) => number;

export interface Selector {
  get: GetPeer;
  /** Runs after the tiers were rebuilt (membership, weights, addresses). */
  rebuild?: (p: Peers) => void;
  /** Rejects a server list the method cannot derive its data from, before anything changes. */
  validate?: (servers: readonly ResolvedServer[]) => void;
}

/** The ketama ring must fit: 160 points per weight unit of the primaries. */
function validateRing(servers: readonly ResolvedServer[]): void {
  let total = 0;
  for (const s of servers) if (!s.backup) total += s.weight;
  if (total * POINTS_PER_WEIGHT > MAX_RING_POINTS) {
    throw new InvalidOptionError(
      'hash.consistent',
      `consistent hash ring too large: 160 * total weight ${total} = ${total * POINTS_PER_WEIGHT} points, more than ${MAX_RING_POINTS}`,
      total,
    );
  }
}

/**
 * The selector for the configured method.
 *
 * @example
 * const selector = selectorFor(resolveOptions({ method: 'hash', hash: { consistent: true }, servers }, defaults));
 * selector.rebuild?.(peers);
 * const i = selector.get(peers, request); // index in request.tier, or -1
 */
export function selectorFor(options: ResolvedOptions): Selector {
  switch (options.method) {
    case 'round-robin':
      return { get: getRoundRobin };
    case 'least-conn':
      return { get: getLeastConn };
    case 'hash':
      return options.consistent
        ? { get: getConsistentHash, rebuild: rebuildRing, validate: validateRing }
        : { get: getHash, rebuild: rebuildSlots };
    case 'ip-hash':
      return { get: getIpHash, rebuild: rebuildSlots };
    case 'random':
      return { get: options.randomTwo ? getRandomTwo : getRandom, rebuild: rebuildSlots };
    default:
      throw new InvalidOptionError('method', `Balancing method ${show(options.method)} is not available in this build`, options.method);
  }
}
