/**
 * The dispatcher of round robin's accelerators: the table in index.ts's header as code. For one
 * round on a round-robin tier (the request's `r.tier`, whose listener is `s`), it chooses the
 * cheapest way to run nginx's round (plain-round.ts) and returns what the plain round returns,
 * leaving the same state (each accelerator states its precondition in its own header). Called by
 * the selector's get (index.ts) and by the fresh round (fresh-round.ts), a one-shot pick's shortcut.
 */

import type { RequestState } from '../request';
import { branchFreeRound } from './branch-free-round';
import { cleanRunRound } from './clean-run-round';
import { plainRound } from './plain-round';
import type { RoundRobinTier } from './tier-state';

/** The dispatch table of index.ts's header, for a round-robin tier. */
export function dispatch(s: RoundRobinTier, r: RequestState): number {
  if (r.mask !== 0 || r.bits !== null) return retryRound(s, r);
  const replay = s.replay;
  if (replay.replaying || replay.windowRounds >= 0) {
    // (a window that ended lets its server be probed: not calm before a round or more, so no new
    // start for `n` rounds, as after a failed one)
    if (replay.expired(r)) replay.leave(s.rounds + r.tier.n);
    else if (replay.replaying) return replay.next();
  }
  if (replay.windowRounds < 0 && r.tier.limited === 0 && s.rounds >= replay.retryAt) {
    replay.begin(r, s.rounds);
    if (replay.replaying) return replay.next();
  }
  let i: number;
  if (s.lazy !== null) i = s.lazy.round(r, false);
  else {
    if (s.special.dirty) s.refreshSpecial();
    i = s.rounds < s.branchFreeUntil ? branchFreeRound(r, s.special) : cleanRunRound(r, s.special);
  }
  s.rounds++;
  if (replay.windowRounds >= 0) {
    if (i < 0) replay.windowRounds = -1;
    else replay.record(i);
  }
  return i;
}

/** A retry round: no replay; lazy tiers isolate the tried servers, others run the plain round. */
function retryRound(s: RoundRobinTier, r: RequestState): number {
  const replay = s.replay;
  if (replay.replaying || replay.windowRounds >= 0) replay.leave(s.rounds);
  const i = s.lazy === null ? plainRound(r) : s.lazy.round(r, true);
  s.rounds++;
  return i;
}

