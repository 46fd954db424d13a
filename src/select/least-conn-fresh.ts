/**
 * least_conn's one-shot pick without a round through the request machinery: the selector's
 * `shortcut` (select/selector.ts) for a fresh `pick()`. It returns what the plain selection of
 * least-conn.ts (`selectLeastConn`, nginx's `ngx_http_upstream_get_least_conn_peer`) returns for a
 * fresh request on the primary tier, and makes the same state changes, including those of the
 * Balancer's `#choose` other than the connection count (which `pick()` adds).
 *
 * Precondition (else `take()` answers -1 and the plain get runs): the selector has seen the tiers
 * (`rebuilt`), the primary tier is not in single-server mode (nginx uses round robin's get there),
 * and no server of it has a connection limit (`Tier.limited === 0`: reaching `max_conns` needs the
 * gate refreshed after the count, which `pick()` does not do on this path). A fresh `pick()` has no
 * hint and an empty tried set. Made without the balancer's clock, it also requires that no available
 * primary server has failures recorded (their windows need the clock). When no primary server is
 * available it answers -1 too, having changed nothing, and the plain get falls back to the backup
 * tier.
 *
 * How it differs from the plain scan, answer for answer the same:
 * - One gate byte per server (`Tier.gate`) replaces the tests of `blocked`, `fails`, `maxConns` and
 *   the tried set: a server with gate 0 is available as is; any other is tested as nginx does.
 * - The first pass also collects the servers that tie with the best so far (reset when a better
 *   one appears), so that the tie round walks those servers only, not the tier from the best
 *   onwards: the servers nginx's second pass keeps are exactly the available ones at or after the
 *   best whose conns/weight equals the best's, and the best is the first with the least ratio.
 * Owns only that list of candidates (scratch, no state between picks), so it is also valid in an
 * upstream zone, where other threads change the arrays between picks. Cost: O(n) + O(ties).
 */

import { markSelected } from '../health/passive-window';
import type { Peers } from '../peers';
import { GATE_BLOCKED, GATE_FULL, type Tier } from '../tier';
import type { Shortcut } from './selector';

/** The shortcut of a least-conn selector: nginx's least_conn for a fresh one-shot pick. */
export class FreshLeastConn implements Shortcut {
  #peers: Peers | null = null;
  /** The servers tied with the best so far, in configuration order (scratch of one pick). */
  #tied = new Int32Array(8);
  /** The balancer's clock; null when the selector was made without it (then any server with failures sends the pick to the plain get). */
  readonly #clock: (() => number) | null;

  constructor(clock: (() => number) | null) {
    this.#clock = clock;
  }

  /** The tiers changed (the selector's `rebuilt`). */
  rebuilt(p: Peers): void {
    this.#peers = p;
    if (this.#tied.length < p.primary.n) this.#tied = new Int32Array(p.primary.n);
  }

  take(): number {
    const p = this.#peers;
    if (p === null || p.single) return -1;
    const t = p.primary;
    if (t.limited !== 0) return -1;
    if (this.#tied.length < t.n) this.#tied = new Int32Array(t.n); // (rebuilt sizes it; kept safe regardless)
    return this.#select(t);
  }

  /** One least_conn selection on `t` for a fresh request: the winner, or -1 with nothing changed. */
  #select(t: Tier): number {
    const n = t.n;
    const { conns, weight, gate } = t;
    const tied = this.#tied;
    let now = NaN;
    let best = -1;
    let ties = 0;
    let cb = 0;
    let wb = 1;
    for (let i = 0; i < n; i++) {
      const g = gate[i]!;
      if (g !== 0) {
        if ((g & (GATE_BLOCKED | GATE_FULL)) !== 0) continue;
        // GATE_FAILS: out while inside its window once at max_fails
        const clock = this.#clock;
        if (clock === null) return -1; // (nothing changed yet)
        const mf = t.maxFails[i]!;
        if (mf !== 0 && t.fails[i]! >= mf) {
          if (now !== now) now = clock();
          if (now - t.checked[i]! <= t.failTimeout[i]!) continue;
        }
      }
      const c = conns[i]!;
      const w = weight[i]!;
      const lhs = c * wb;
      const rhs = cb * w;
      if (best < 0 || lhs < rhs) {
        best = i;
        cb = c;
        wb = w;
        tied[0] = i;
        ties = 1;
      } else if (lhs === rhs) {
        tied[ties++] = i;
      }
    }
    if (best < 0) return -1;
    let win = best;
    if (ties > 1) {
      const { current, effective } = t;
      let total = 0;
      let winCurrent = 0;
      for (let k = 0; k < ties; k++) {
        const i = tied[k]!;
        // select/swrr.ts swrrStep, written out: current += effective, effective recovers one unit
        const e = effective[i]!;
        const c = current[i]! + e;
        current[i] = c;
        if (e < weight[i]!) effective[i] = e + 1;
        total += e;
        if (k === 0 || c > winCurrent) {
          win = i;
          winCurrent = c;
        }
      }
      current[win] = winCurrent - total;
    }
    if (t.fails[win] !== 0) markSelected(t, win, now === now ? now : this.#clock!()); // (a clock: fails seen above)
    return win;
  }
}
