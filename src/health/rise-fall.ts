/**
 * Rise/fall counter: the active-check verdict of one server.
 *
 * Exactly the rule of nginx_upstream_check_module (`ngx_http_upstream_check_status_update`, see
 * docs/nginx-semantics.md §7.3): a success adds one to `rise` and zeroes `fall`, a failure does the
 * reverse; a down server comes up at the success that makes `rise` reach the threshold, an up server
 * goes down at the failure that makes `fall` reach it. Counters are otherwise unbounded. O(1), no
 * timers, no I/O.
 */

export interface RiseFallState {
  /** Check-down: out of rotation. */
  down: boolean;
  /** Consecutive successes (zeroed by a failure). */
  rise: number;
  /** Consecutive failures (zeroed by a success). */
  fall: number;
  /** True until the first verdict of a server that started down (state `checking`). */
  pending: boolean;
}

/** Initial state: the module's `default_down` (true by default). */
export function initialRiseFall(defaultDown: boolean): RiseFallState {
  return { down: defaultDown, rise: 0, fall: 0, pending: defaultDown };
}

/**
 * Feeds one result. `rise`/`fall` are the thresholds. Returns true when `down` flipped.
 * `pending` (state `checking`) ends when the server comes up or at its first failed check (`unhealthy`).
 */
export function observeCheck(state: RiseFallState, ok: boolean, rise: number, fall: number): boolean {
  if (ok) {
    state.rise += 1;
    state.fall = 0;
    if (state.down && state.rise >= rise) {
      state.down = false;
      state.pending = false;
      return true;
    }
    return false;
  }
  state.rise = 0;
  state.fall += 1;
  state.pending = false;
  if (!state.down && state.fall >= fall) {
    state.down = true;
    return true;
  }
  return false;
}
