/**
 * `hash KEY consistent` (ketama), exactly as nginx's `ngx_http_upstream_init_chash` /
 * `ngx_http_upstream_update_chash`, `ngx_http_upstream_find_chash_point` and
 * `ngx_http_upstream_get_chash_peer` (stream the same; docs/nginx-semantics.md §5.3), compatible with
 * Cache::Memcached::Fast with ketama_points=160.
 *
 * The ring (ketama-ring.ts builds it whole, as nginx does; ketama-incremental.ts keeps the same
 * ring across membership changes by inserting and removing only the points that change): the
 * primaries' address texts, 160 points per unit of weight, sorted and deduplicated.
 *
 * Lookup: `crc32(key)` -> the index of the first point >= it (wrapping), computed once per
 * request; the kept ring answers it from buckets of points (ketama-buckets.ts) exactly as the
 * binary search over nginx's flat array does (`findPoint`). A get walks from that point: among the
 * available servers of the request's tier whose address equals the point's, one smooth-WRR round
 * picks the winner; if none, the next point (one try); after more than 20 tries, or with a
 * single-server upstream, or an empty key, round robin's get takes over (backup tier included).
 * The walk position (nginx's index into the points) is kept across retries.
 *
 * The ring is updated once per membership change, never per pick: about O(k log k) for k changed
 * points (only the buckets they fall in are rewritten), or a whole build (O(P)) when more than an
 * eighth of the ring changes; a get costs one CRC of the key on the first attempt, a search in
 * one bucket (a few dozen points), O(1) expected to reach each point walked, and O(servers sharing
 * the address) per point.
 */

import type { Peers } from '../peers';
import type { ResolvedServer } from '../server-fields';
import type { Steps } from '../slices';
import { isAvailable } from './available';
import { crc32 } from './crc32';
import { HASH_MAX_TRIES } from './hash';
import { hintedServer } from './hint';
import { type RequestState, walkOf } from './request';
import { getRoundRobin } from './round-robin/index';
import { NO_SHORTCUT, type Prepared, type Selector } from './selector';
import { swrrStep } from './swrr';
import { IncrementalRing, type KeptRing, type RingWork, prepareRing } from './ketama-incremental';
import { requireRingFits } from './ketama-ring';

export {
  MAX_RING_POINTS, type Ring, type RingMembers, buildRing, findPoint, ketamaHostPort, ketamaPoints, ringOwner,
} from './ketama-ring';
export { type KeptRing, flatRing } from './ketama-incremental';

/** Consistent hash's per-request data (nginx's `ngx_http_upstream_chash_peer_data_t`). */
export class PointWalk {
  /** Index of the ring point the walk is at (`chp->hash`), once `started`. */
  point = 0;
  started = false;
  /** Points tried so far (`chp->tries`). */
  tries = 0;
  reset(): void {
    this.point = 0;
    this.started = false;
    this.tries = 0;
  }
}

/**
 * nginx consistent-hash get for one attempt. Returns the index in `r.tier` (which may have
 * switched to the backup tier through the round-robin fallback), or -1 (NGX_BUSY).
 *
 * @example
 * const b = new Balancer({ method: 'hash', hash: { consistent: true }, servers: [
 *   { address: '10.0.0.1:25' }, { address: '10.0.0.2:25' }, { address: '10.0.0.3:25' }] });
 * b.pick('bob@example.com')!.address; // '10.0.0.2:25'
 */
function getConsistentHash(p: Peers, r: RequestState, ring: KeptRing): number {
  const walk = walkOf(r, PointWalk);
  const t = r.tier;
  if (walk.tries > HASH_MAX_TRIES || (p.single && t === p.primary) || r.key.length === 0) return getRoundRobin(p, r);
  if (r.hint !== null) {
    const st = hintedServer(r); // nginx 1.30: no point walked, no weight changed
    if (st >= 0) return st;
  }
  const points = ring.buckets;
  const npoints = points.size;
  if (!walk.started) {
    walk.point = points.find(crc32(r.key));
    walk.started = true;
  }
  const m = t === p.primary ? ring.primary : ring.backup;
  const current = t.current;
  for (;;) {
    if (m !== null) {
      const g = points.ownerAt(walk.point % npoints);
      const end = m.start[g + 1]!;
      let best = -1;
      let bestCurrent = 0;
      let total = 0;
      for (let k = m.start[g]!; k < end; k++) {
        const i = m.list[k]!;
        if (!isAvailable(t, i, r)) continue;
        total += swrrStep(t, i);
        const c = current[i]!;
        if (best < 0 || c > bestCurrent) {
          best = i;
          bestCurrent = c;
        }
      }
      if (best >= 0) {
        current[best] = bestCurrent - total;
        return best;
      }
    }
    walk.point++;
    if (++walk.tries > HASH_MAX_TRIES) return getRoundRobin(p, r);
  }
}

/** The consistent hash method's selector: the ketama ring of the primary tier. */
export class ConsistentHashSelector implements Selector {
  /** Keeps the ring across changes (the same ring `buildRing` builds, updated point by point). */
  #keeper = new IncrementalRing();
  /** The keeper a prepared ring replaced (`setServersAsync`): no longer serving, its storage kept for the next. */
  #spare: IncrementalRing | null = null;
  /** The points' arrays of the prepared builds (`setServersAsync`), kept from one to the next. */
  readonly #work: RingWork = { keys: new Uint32Array(0), owners: new Int32Array(0) };
  #ring: KeptRing | null = null;

  /** The ring in use (updated by `rebuilt`, and by a get after an in-place weight change). */
  get ring(): KeptRing | null {
    return this.#ring;
  }

  get(p: Peers, r: RequestState): number {
    return getConsistentHash(p, r, this.#ringOf(p));
  }
  readonly shortcut = NO_SHORTCUT;
  rebuilt(p: Peers, prepared?: Prepared): void {
    if (prepared instanceof IncrementalRing && prepared !== this.#keeper) {
      this.#spare = this.#keeper; // (its storage is the next prepared ring's)
      this.#keeper = prepared; // built for exactly these primaries
    }
    this.#ring = this.#keeper.update(p);
  }
  /**
   * The ring of the list's primaries, built whole in steps on a keeper of its own: the one the
   * previous prepared ring replaced, if any, with the previous build's point arrays
   * (ketama-incremental.ts `prepareRing`).
   */
  prepare(servers: readonly ResolvedServer[]): Steps<IncrementalRing> {
    const primaries = servers.filter((s) => !s.backup);
    const spare = this.#spare;
    this.#spare = null;
    return prepareRing(primaries.map((s) => s.address), primaries.map((s) => s.weight), this.#keeper.wholeBuildShare, undefined, spare, this.#work);
  }
  /** The ring must fit: 160 points per weight unit of the primaries. */
  validate(servers: readonly ResolvedServer[]): void {
    let total = 0;
    for (const s of servers) if (!s.backup) total += s.weight;
    requireRingFits(total);
  }
  /** The current ring, updated first if it was built for other tiers or weights. */
  #ringOf(p: Peers): KeptRing {
    const ring = this.#ring;
    if (ring !== null && ring.tier === p.primary && ring.total === p.primary.totalWeight && (ring.backup?.tier ?? null) === p.backup) {
      return ring;
    }
    return (this.#ring = this.#keeper.update(p));
  }
}
