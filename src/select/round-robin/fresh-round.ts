/**
 * Accelerator: the fresh round, round robin's `shortcut` (select/selector.ts) for a one-shot
 * `pick()`. It returns what the selector's get (index.ts `getRoundRobin`, nginx's
 * `ngx_http_upstream_get_round_robin_peer`) returns for a fresh request on the primary tier, and
 * makes the same state changes, including those of the Balancer's `#choose` other than the
 * connection count and `selected` (which `pick()` adds): a winner with failures is marked selected
 * (passive-window.ts `markSelected`, the probe that moves `checked`).
 *
 * Precondition (else `take()` answers -1, having changed nothing, and the plain get runs): the
 * primary tier has at least two servers (so the balancer is not in single-server mode, where nginx
 * runs no round) and none with a connection limit (`Tier.limited === 0`: reaching `max_conns`
 * needs the gate refreshed after the count, which `pick()` does not do on this path). A `pick()`
 * is a fresh request: no hint, nothing tried, on the primary tier.
 *
 * What it saves: the request machinery between `pick()` and the round (`#pickRound`, the
 * selector's get, `roundOn`, `#choose`). It runs the same dispatcher (dispatch.ts) on its own
 * request state, after answering the steady replay's next pick first when the replay holds (with at
 * most one clock read: the steady pick+release stays O(1) with no round). When the dispatcher finds
 * no primary server it answers -1; no weight has changed
 * then (the round took no server), only the accelerators' round count and recording window, which
 * the plain get sees as the dispatcher left them before it falls back to the backup tier.
 *
 * Owns only its request state (`now`, read at most once per pick). The differential tests
 * (test/unit/fresh-round.test.ts; test/property/differential.prop.test.ts, whose one-shot picks
 * take it) prove it against the plain get and the reference scan.
 */

import { markSelected } from '../../health/passive-window';
import type { Tier } from '../../tier';
import { type Passed, type RequestState, nowOf } from '../request';
import type { Shortcut } from '../selector';
import { dispatch } from './dispatch';
import type { SteadyReplay } from './steady-replay';
import type { RoundRobinTier } from './tier-state';

/** The request of a one-shot pick on the primary tier: nothing tried, no hint, `now` read lazily. */
class FreshRequest implements RequestState {
  readonly mask = 0;
  readonly bits = null;
  now = NaN;
  readonly key = '';
  readonly walk = null;
  readonly carried = null;
  readonly passed: Passed | null = null;
  readonly hint = null;
  fromHint = false;
  constructor(
    readonly clock: () => number,
    readonly tier: Tier,
  ) {}
}

export class FreshRound implements Shortcut {
  readonly #request: FreshRequest;
  readonly #replay: SteadyReplay;

  constructor(readonly state: RoundRobinTier) {
    this.#request = new FreshRequest(state.replay.clock, state.tier);
    this.#replay = state.replay;
  }

  take(): number {
    // The steady replay's next pick while its period holds (the dispatcher's first row), reading
    // the clock once; small enough for `pick()` to inline. The rest apart.
    const replay = this.#replay;
    if (replay.replaying) {
      const until = replay.validUntil;
      if (until === Infinity) return replay.next();
      const now = this.#request.clock();
      if (now <= until) return replay.next();
      return this.#round(now);
    }
    return this.#round(NaN);
  }

  /** The dispatcher's round for a fresh request at `now` (NaN: not read yet), and the probe mark. */
  #round(now: number): number {
    const s = this.state;
    const t = s.tier;
    if (t.n < 2 || t.limited !== 0) return -1;
    const r = this.#request;
    r.now = now;
    const i = dispatch(s, r);
    if (i >= 0 && t.fails[i] !== 0) markSelected(t, i, nowOf(r));
    return i;
  }
}
