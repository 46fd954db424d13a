/**
 * `random` and `random two [least_conn]`, as nginx's `ngx_http_upstream_get_random_peer`,
 * `ngx_http_upstream_get_random2_peer` and `ngx_http_upstream_peek_random_peer` (stream the same;
 * docs/nginx-semantics.md §5.5), on the injected random source.
 *
 * A draw ("peek") maps a random number onto the tier's weight slots (down servers keep theirs):
 * nginx computes `random() % total_weight`; here `Math.floor(rng() * totalWeight)` with `rng`
 * returning floats in [0, 1) (`peers.rng`, the `rng` option) - the same uniform choice, one `rng()`
 * call per draw, so a seeded `rng` makes every sequence reproducible (nginx's own `random()` is
 * seeded per worker from pid and time, so its choices cannot be replayed).
 *
 * `random`: draw until an available server comes up; every unavailable draw is one try.
 * `random two`: draw a first available candidate, then a second distinct available one, and keep
 * the one with fewer connections per weight (`conns[2nd] * weight[1st] > conns[1st] * weight[2nd]`
 * keeps the first; ties go to the second). Every draw counts as a try, the first candidate's
 * included, and a redraw of the first candidate is a try too. More than 20 tries, or a tier of
 * fewer than two servers, hand over to round robin's get (backup tier included).
 * `random two` and `random two least_conn` are the same method (least_conn is the default and
 * the only open-source choice).
 *
 * Divergence, deliberately: on the backup tier (reachable only with `allowBackupWithHash`, after
 * a round-robin fallback) nginx peeks with the backup tier's total weight into the *primary*
 * tier's range table, mixing up servers of the two tiers (and reading past the table when the
 * backup tier is larger); this library draws from the backup tier's own slots.
 *
 * Cost per draw: one rng call and an O(log n) slot lookup; no allocation.
 *
 * Version note: nginx 1.27.3 changed the round-robin shortcut from `single` to `number < 2`
 * (`roundRobinFirst` in hash.ts follows the balancer's `nginx` target).
 */

import type { NginxTarget } from '../nginx-target';
import type { Peers } from '../peers';
import { isAvailable } from './available';
import { HASH_MAX_TRIES, roundRobinFirst } from './hash';
import { hintedServer } from './hint';
import { type RequestState, walkOf } from './request';
import { getRoundRobin } from './round-robin/index';
import { SlotSelector, type Slots, type TierSlots, slotAt } from './slots';

/**
 * One draw: a server index of the slot table's tier, weighted, from one `rng()` call.
 *
 * @example
 * peekRandom(slots, () => 0.5); // the server owning slot floor(0.5 * total)
 */
function peekRandom(s: Slots, rng: () => number): number {
  return slotAt(s, Math.floor(rng() * s.total));
}

/**
 * nginx `random` get for one attempt: index in `r.tier`, or -1 (NGX_BUSY).
 * Counts its draws in the request's `DrawCount` (nginx's per-request `rp->tries`).
 *
 * @example
 * const b = new Balancer({ method: 'random', rng: seededRandom(7), servers });
 * b.pick(); // a weighted random available server
 */
function getRandom(p: Peers, r: RequestState, tables: TierSlots, nginx: NginxTarget): number {
  const draws = walkOf(r, DrawCount);
  const t = r.tier;
  if (draws.tries > HASH_MAX_TRIES || roundRobinFirst(p, t, nginx)) return getRoundRobin(p, r);
  if (r.hint !== null) {
    const st = hintedServer(r); // nginx 1.30: nothing drawn
    if (st >= 0) return st;
  }
  const slots = tables.of(t);
  const rng = p.rng;
  for (;;) {
    const i = peekRandom(slots, rng);
    if (isAvailable(t, i, r)) return i;
    if (++draws.tries > HASH_MAX_TRIES) return getRoundRobin(p, r);
  }
}

/**
 * nginx `random two least_conn` get for one attempt: index in `r.tier`, or -1 (NGX_BUSY).
 *
 * @example
 * const b = new Balancer({ method: 'random', randomTwo: true, servers });
 * b.pick(); // the less loaded (conns/weight) of two random available servers; ties: the second drawn
 */
export function getRandomTwo(p: Peers, r: RequestState, tables: TierSlots, nginx: NginxTarget = '1.30'): number {
  const draws = walkOf(r, DrawCount);
  const t = r.tier;
  if (draws.tries > HASH_MAX_TRIES || roundRobinFirst(p, t, nginx)) return getRoundRobin(p, r);
  if (r.hint !== null) {
    const st = hintedServer(r); // nginx 1.30: nothing drawn
    if (st >= 0) return st;
  }
  const slots = tables.of(t);
  const rng = p.rng;
  const { conns, weight } = t;
  let prev = -1;
  for (;;) {
    const i = peekRandom(slots, rng);
    if (i !== prev && isAvailable(t, i, r)) {
      if (prev >= 0) return conns[i]! * weight[prev]! > conns[prev]! * weight[i]! ? prev : i;
      prev = i;
    }
    if (++draws.tries > HASH_MAX_TRIES) return getRoundRobin(p, r);
  }
}

/** The random methods' per-request data: draws so far (nginx's `rp->tries`). */
export class DrawCount {
  tries = 0;
  reset(): void {
    this.tries = 0;
  }
}

/** The `random` and `random two` selectors: weight slots per tier. */
export class RandomSelector extends SlotSelector {
  readonly #two: boolean;
  readonly #nginx: NginxTarget;
  constructor(two: boolean, nginx: NginxTarget) {
    super();
    this.#two = two;
    this.#nginx = nginx;
  }
  get(p: Peers, r: RequestState): number {
    return this.#two ? getRandomTwo(p, r, this.slots, this.#nginx) : getRandom(p, r, this.slots, this.#nginx);
  }
}
