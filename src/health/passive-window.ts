/**
 * Passive failure window: nginx's `max_fails` / `fail_timeout` bookkeeping for one server.
 *
 * Semantics of ngx_http_upstream_get_peer / ngx_http_upstream_free_round_robin_peer (and the stream
 * twins), docs/nginx-semantics.md §2.3-2.6:
 * - excluded exactly while `maxFails != 0 && fails >= maxFails && now - checked <= failTimeout`;
 * - a selection made more than `failTimeout` after `checked` moves `checked` to now, so one probe
 *   per window gets through and everybody else sees the server excluded again;
 * - a failure: `fails += 1`, `accessed = checked = now`, effective weight `-= weight div maxFails`
 *   (floored at 0);
 * - a success clears `fails` only if `accessed < checked`, i.e. after a post-window selection, so
 *   failures accumulate across earlier successes and never expire by time alone.
 *
 * Pure: functions of a tier's arrays, an index and `now` (ms). O(1). With a whole-second clock the
 * comparisons are nginx's integer-second comparisons exactly.
 */

import type { Tier } from '../tier';

/** True when the server at `i` has reached `maxFails` (whether or not its window has passed). */
export function reachedMaxFails(t: Tier, i: number): boolean {
  const maxFails = t.maxFails[i]!;
  return maxFails !== 0 && t.fails[i]! >= maxFails;
}

/** True when the server at `i` is inside its exclusion window at `now`. */
export function isExcluded(t: Tier, i: number, now: number): boolean {
  return reachedMaxFails(t, i) && now - t.checked[i]! <= t.failTimeout[i]!;
}

/** The selection of `i` at `now`: a post-window selection moves `checked` (the probe). */
export function markSelected(t: Tier, i: number, now: number): void {
  if (now - t.checked[i]! > t.failTimeout[i]!) t.checked[i] = now;
}

/** A failed attempt on `i` at `now` (nginx free with NGX_PEER_FAILED). */
export function recordFailure(t: Tier, i: number, now: number): void {
  t.fails[i] = t.fails[i]! + 1;
  t.refreshGate(i);
  t.accessed[i] = now;
  t.checked[i] = now;
  const maxFails = t.maxFails[i]!;
  if (maxFails !== 0) {
    const e = t.effective[i]! - Math.floor(t.weight[i]! / maxFails);
    t.effective[i] = e < 0 ? 0 : e;
  }
}

/**
 * A successful attempt on `i` (nginx free without FAILED, or the stream connect notification).
 * Clears `fails` iff `accessed < checked`. Returns true when it cleared a non-zero count.
 */
export function recordSuccess(t: Tier, i: number): boolean {
  if (t.fails[i] !== 0 && t.accessed[i]! < t.checked[i]!) {
    t.fails[i] = 0;
    t.refreshGate(i);
    return true;
  }
  return false;
}

/** Single-server mode (one primary, no backup): nginx zeroes `fails` on every free. */
export function resetFails(t: Tier, i: number): void {
  if (t.fails[i] !== 0) {
    t.fails[i] = 0;
    t.refreshGate(i);
  }
}
