/**
 * Smooth weighted round robin, exactly as nginx's `ngx_http_upstream_get_round_robin_peer`
 * (src/http/ngx_http_upstream_round_robin.c; stream the same; docs/nginx-semantics.md §2.1-2.2),
 * and the round-robin selector. This file is the folder's only public face: nothing outside it
 * imports an accelerator.
 *
 * nginx's get: single-server mode (no passive test, no tried set); else one round on the request's
 * tier, falling back once to the backup tier (clearing the tried set) when the primary tier yields
 * nothing. The round itself is nginx's `ngx_http_upstream_get_peer`, in plain-round.ts. Tiers of
 * other methods (whose fallback is this get) carry no state and always run the plain round.
 *
 * On a round-robin tier the dispatcher below picks the cheapest way to run the same round. Each
 * accelerator states its precondition at the top of its file and returns what the plain round
 * returns, leaving the same state; the differential test (test/property/differential.prop.test.ts)
 * runs every one of them in lock step with the plain model. The dispatch table, first match wins:
 *
 * | precondition | strategy | file |
 * | --- | --- | --- |
 * | the request has tried something, tier below the lazy size | the plain round | plain-round.ts |
 * | the request has tried something, tier of lazy size | a lazy retry round | lazy-rounds.ts |
 * | replaying, and no passive window that kept a server out has ended | the next pick of the period | steady-replay.ts |
 * | calm tier past its back-off | replay a period built from zero weights, or rounds computed ahead (small tiers), or open a recording window | steady-replay.ts, zero-period.ts, rounds-ahead.ts |
 * | tier of at least `lazyFromServers` servers | a lazy round | lazy-rounds.ts |
 * | at most 32 servers, unequal weights, unsettled since the last change | a branch-free round | branch-free-round.ts |
 * | otherwise | a clean-run round (the plain round when most servers are special) | clean-run-round.ts |
 *
 * A request with a hint (select/hint.ts) whose server may take it skips the table: its round is
 * nginx 1.30's hinted round (`hintedOn`), run on the plain arrays after the accelerators are left.
 *
 * A fresh round is recorded into the open window (steady-replay.ts `record`), so that a settled
 * sequence is found and replayed; a tier without lazy rounds computes its calm rounds ahead instead
 * (rounds-ahead.ts), and replays them as they are computed. The Balancer marks the winner tried,
 * bumps `checked` and counts the connection.
 *
 * The table is `dispatch` (dispatch.ts). A one-shot `pick()` reaches the selector's `shortcut`
 * first: the fresh round (fresh-round.ts), which runs the same dispatcher for a fresh request on
 * the primary tier without the request machinery (and marks a probe's selection, as `#choose`
 * does), when the tier has two servers or more and no connection limits.
 */

import type { Peers } from '../../peers';
import type { ServerRecord } from '../../server';
import type { Tier } from '../../tier';
import { hintedServer } from '../hint';
import { type RequestState, fallBackToBackup, isTried } from '../request';
import { NO_SHORTCUT, type Selector, type SelectorContext, type Shortcut } from '../selector';
import { dispatch } from './dispatch';
import { FreshRound } from './fresh-round';
import { hintedRound, plainRound } from './plain-round';
import { RoundRobinTier } from './tier-state';
import { ZoneReplay } from './zone-replay';

/**
 * nginx's round-robin get for one attempt: index in `r.tier` (which may now be the backup tier),
 * or -1 (NGX_BUSY). Other methods fall back to it.
 */
export function getRoundRobin(p: Peers, r: RequestState): number {
  if (p.single && r.tier === p.primary) {
    // nginx 1.30: the hinted server first (it may be draining)
    if (r.hint !== null && hintedServer(r) >= 0) return 0;
    const t = r.tier;
    // (nginx needs no tried test here: a request that tried the single server ends; one that tried
    // it before a membership change made it single may not be given it again)
    if (t.blocked[0] !== 0 || isTried(r, 0)) return -1;
    const mc = t.maxConns[0]!;
    return mc !== 0 && t.conns[0]! >= mc ? -1 : 0;
  }
  const i = roundOn(r);
  return i >= 0 || !fallBackToBackup(p, r) ? i : roundOn(r);
}

/**
 * One round on `r.tier`: through the dispatcher when the round-robin selector keeps state over the
 * tier (it is the only selector that registers tier listeners), else the plain round.
 */
function roundOn(r: RequestState): number {
  if (r.hint !== null) {
    const st = hintedServer(r);
    if (st >= 0) return hintedOn(r, st);
  }
  const state = r.tier.listener as RoundRobinTier | ZoneReplay | null;
  if (state === null) return plainRound(r);
  return state instanceof ZoneReplay ? zoneRound(state, r) : dispatch(state, r);
}

/** A round on a zone's primary tier: the shared replay when it runs, else the plain round, recorded. */
function zoneRound(z: ZoneReplay, r: RequestState): number {
  if (r.mask !== 0 || r.bits !== null) {
    z.leave();
    return plainRound(r);
  }
  if (z.replaying) return z.next();
  const i = plainRound(r);
  z.record(i);
  return i;
}

/**
 * nginx 1.30's round with a hinted server `st` (`st_peer` in `ngx_http_upstream_get_peer`): while
 * its current weight is at most `-(totalWeight - weight)` it is taken and no weight changes (one
 * sticky request in a row is paid for, no more); otherwise the plain round runs and `st` wins it,
 * paying the round's total. The accelerators are left first: the round is the plain one.
 */
function hintedOn(r: RequestState, st: number): number {
  const t = r.tier;
  const state = t.listener as RoundRobinTier | ZoneReplay | null;
  if (state !== null) state.settle();
  if (t.current[st]! <= -(t.totalWeight - t.weight[st]!)) return st;
  if (state !== null && !(state instanceof ZoneReplay)) {
    state.special.dirty = true;
    state.rounds++;
  }
  return hintedRound(r, st);
}

/** The round-robin method's selector: nginx's get, with the accelerators' state per tier. */
export class RoundRobinSelector implements Selector {
  #context: SelectorContext;
  #primary: RoundRobinTier | null = null;

  constructor(context: SelectorContext) {
    this.#context = context;
  }

  get(p: Peers, r: RequestState): number {
    return getRoundRobin(p, r);
  }

  /**
   * A one-shot pick's shortcut on the primary tier: the fresh round (fresh-round.ts: the steady
   * replay's next pick, else this table's round without the request machinery); in a zone, the
   * zone's replay.
   */
  get shortcut(): Shortcut {
    const primary = this.#primary;
    if (primary !== null) {
      if (this.#fresh === null || this.#fresh.state !== primary) this.#fresh = new FreshRound(primary);
      return this.#fresh;
    }
    return this.#zonePrimary ?? NO_SHORTCUT;
  }

  /** The fresh round of the primary tier, made at the first `shortcut` after the tier changed. */
  #fresh: FreshRound | null = null;

  /** The zone's replay of the primary tier (a zone's balancer). */
  #zonePrimary: ZoneReplay | null = null;

  rebuilt(p: Peers): void {
    // In a zone other threads change the arrays between two gets: the replay is the zone's own
    // (zone-replay.ts), on the primary tier; every other round is the plain one.
    const shared = this.#context.shared;
    if (shared !== undefined) {
      p.primary.listener ??= new ZoneReplay(p.primary, shared);
      this.#zonePrimary = p.primary.listener as ZoneReplay;
      return;
    }
    this.#primary = this.#attach(p.primary);
    if (p.backup !== null) this.#attach(p.backup);
  }

  validate(): void {}

  #attach(t: Tier): RoundRobinTier {
    // A tier changed in place (weights, flags) kept its state, and told it through `weightsChanged`.
    const existing = t.listener as RoundRobinTier | null;
    if (existing !== null) return existing;
    const state = new RoundRobinTier(t, this.#context.clock, this.#context.tuning);
    t.listener = state;
    return state;
  }
}

/** The round-robin state of a tier, for tests that look inside the accelerators (null for other methods). */
export function roundRobinStateOf(server: ServerRecord): RoundRobinTier | null {
  const state = server.tier?.listener;
  return state instanceof RoundRobinTier ? state : null;
}

/** Whether the zone's shared replay (zone-replay.ts) of this server's tier is replaying (tests). */
export function zoneReplaying(server: ServerRecord): boolean {
  const state = server.tier?.listener;
  return state instanceof ZoneReplay && state.replaying;
}
