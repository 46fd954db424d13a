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
 * - From `tuning.leastConnIndexFromServers` servers on, outside an upstream zone, the first pass
 *   asks least-conn-index.ts instead (the tier's servers by weight class and connection count,
 *   kept true by the tier's `LoadListener` calls): it names the tied servers without the scan.
 *   The tie round is then nginx's over the same servers in another order, so a tie of current
 *   weights goes to the lowest index explicitly (nginx's order gives it implicitly).
 * The scan owns only its list of candidates (scratch, no state between picks), so it is also valid
 * in an upstream zone, where other threads change the arrays between picks; the index is not, and
 * is not made there. Cost: scan O(n) + O(ties); index O(weight classes + servers with failures +
 * ties).
 */

import { markSelected } from '../health/passive-window';
import type { Peers } from '../peers';
import { GATE_BLOCKED, GATE_FULL, type Tier } from '../tier';
import { LeastConnIndex } from './least-conn-index';
import type { Shortcut } from './selector';

/** How the shortcut is made (least-conn.ts passes the selector context's parts). */
export interface FreshLeastConnOptions {
  /** The balancer's clock; null: any available server with failures sends the pick to the plain get. */
  readonly clock: (() => number) | null;
  /** Smallest primary tier kept in an index (`tuning.leastConnIndexFromServers`); 0: never. */
  readonly indexFromServers: number;
}

/** The shortcut of a least-conn selector: nginx's least_conn for a fresh one-shot pick. */
export class FreshLeastConn implements Shortcut {
  #peers: Peers | null = null;
  /** The primary tier's index by load, or null (a small tier, a zone, or indexing off). */
  #index: LeastConnIndex | null = null;
  /** The servers tied with the best (scratch of one pick). */
  #tied = new Int32Array(8);
  /** Per failing server of the index: outside its failure window at this pick (scratch). */
  #open = new Uint8Array(8);
  /** The index's best ratio, [conns, weight] (scratch). */
  readonly #best = new Float64Array(2);
  readonly #clock: (() => number) | null;
  readonly #indexFrom: number;

  constructor(options: FreshLeastConnOptions) {
    this.#clock = options.clock;
    this.#indexFrom = options.indexFromServers;
  }

  /** The tiers changed (the selector's `rebuilt`). */
  rebuilt(p: Peers): void {
    this.#peers = p;
    const t = p.primary;
    if (this.#tied.length < t.n) {
      this.#tied = new Int32Array(t.n);
      this.#open = new Uint8Array(t.n);
    }
    const indexed = this.#indexFrom !== 0 && t.n >= this.#indexFrom;
    if (!indexed) this.#index = null;
    else if (t.load instanceof LeastConnIndex) this.#index = t.load; // (a tier changed in place was refiled by recount)
    else t.load = this.#index = new LeastConnIndex(t);
  }

  take(): number {
    const p = this.#peers;
    if (p === null || p.single) return -1;
    const t = p.primary;
    if (t.limited !== 0) return -1;
    if (this.#tied.length < t.n) {
      // (rebuilt sizes them; kept safe regardless)
      this.#tied = new Int32Array(t.n);
      this.#open = new Uint8Array(t.n);
    }
    const index = this.#index;
    return index !== null && index.usable && index.tier === t ? this.#fromIndex(t, index) : this.#scan(t);
  }

  /** One least_conn selection on `t` by a scan: the winner, or -1 with nothing changed. */
  #scan(t: Tier): number {
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
    return this.#tieRound(t, ties, now);
  }

  /** One least_conn selection on `t` through its index: the winner, or -1 with nothing changed. */
  #fromIndex(t: Tier, index: LeastConnIndex): number {
    const best = this.#best;
    let cb = -1;
    let wb = 1;
    if (index.best(best)) {
      cb = best[0]!;
      wb = best[1]!;
    }
    const failingCount = index.failingCount;
    let now = NaN;
    if (failingCount !== 0) {
      const clock = this.#clock;
      if (clock === null) return -1; // (nothing changed yet)
      const failing = index.failing;
      const open = this.#open;
      for (let s = 0; s < failingCount; s++) {
        const i = failing[s]!;
        const mf = t.maxFails[i]!;
        if (mf !== 0 && t.fails[i]! >= mf) {
          if (now !== now) now = clock();
          if (now - t.checked[i]! <= t.failTimeout[i]!) {
            open[s] = 0;
            continue;
          }
        }
        open[s] = 1;
        const c = t.conns[i]!;
        const w = t.weight[i]!;
        if (cb < 0 || c * wb < cb * w) {
          cb = c;
          wb = w;
        }
      }
    }
    if (cb < 0) return -1;
    const tied = this.#tied;
    let extra = 0;
    if (failingCount !== 0) {
      const failing = index.failing;
      const open = this.#open;
      for (let s = 0; s < failingCount; s++) {
        const i = failing[s]!;
        if (open[s] !== 0 && t.conns[i]! * wb === cb * t.weight[i]!) tied[extra++] = i;
      }
    }
    const win = index.tieRound(cb, wb, tied, extra);
    if (t.fails[win] !== 0) markSelected(t, win, now === now ? now : this.#clock!()); // (a clock: failing servers seen above)
    return win;
  }

  /**
   * nginx's second pass over the `ties` servers of `#tied` (one at least): with more than one, a
   * smooth-WRR round among them; the winner is marked selected if it has failures. `now`: the
   * clock's reading of this pick, or NaN.
   */
  #tieRound(t: Tier, ties: number, now: number): number {
    const tied = this.#tied;
    let win = tied[0]!;
    if (ties > 1) {
      const { current, effective, weight } = t;
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
        if (k === 0 || c > winCurrent) { // (`#tied` is in configuration order: equal current weights go to the earliest)
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
