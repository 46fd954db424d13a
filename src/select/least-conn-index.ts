/**
 * least_conn's index of a tier by load: finds the servers a fresh request's least_conn would tie
 * between without looking at every server, and runs nginx's tie round over them (the second pass
 * of `ngx_http_upstream_get_least_conn_peer`, docs/nginx-semantics.md §5.1). It answers for
 * least-conn-fresh.ts (the shortcut of a one-shot `pick()`); the plain two passes stay in
 * least-conn.ts.
 *
 * The servers with gate 0 (available as is: not blocked, not full, no failures) are filed by
 * weight class (their configured weight). In one class the least conns/weight is the least count,
 * so the best ratio of the tier is the best of the classes' least counts, compared by
 * cross-multiplication as nginx compares servers, and the servers nginx keeps for its tie round are
 * those of the classes at that ratio that have their class's least count. The servers with
 * failures recorded (and not blocked) are not filed: each pick tests their failure window and their
 * ratio one by one, as the plain scan does. Blocked and full servers are out.
 *
 * A class keeps its servers in one array sorted by count (a counting sort kept up to date), with
 * the position where each count starts: the least count is that of the first server, and the tied
 * servers are one contiguous run at the front. A count that moves by one swaps the server with the
 * edge of its run and moves the edge: O(1). A larger jump, a server entering or leaving its class
 * (a gate change: failures and flags, not picks) sorts that class again: O(n + largest count).
 *
 * Kept true by the tier's `LoadListener` calls: every change of `conns[i]` (selection.ts), of a
 * gate (`Tier.refreshGate`) and of the weights (`Tier.recount`, which files everything again).
 * Precondition of its answers (least-conn-fresh.ts checks the rest): only one thread writes the
 * tier (not in an upstream zone, where other threads change `conns` behind the listener), and every
 * write of `conns` is followed by `connsChanged`. A count above `MAX_FILED_CONNS` makes it stand
 * aside (`usable` false) until the next `weightsChanged`, so its memory stays bounded.
 * Cost per pick: O(weight classes + servers with failures + tied servers).
 */

import { GATE_BLOCKED, GATE_FULL, type LoadListener, type Tier } from '../tier';

/** Largest connection count the index is kept for (per class: one 32-bit run start per count). */
export const MAX_FILED_CONNS = 1 << 20;

/** `filedAt` of a server that is not filed. */
const NOT_FILED = -1;

/** One weight class: its servers, and those filed sorted by count. */
class WeightClass {
  /** Every server of the tier with this weight, filed or not. */
  readonly members: Int32Array;
  /** The filed servers, by count ascending (the first `size` entries). */
  readonly order: Int32Array;
  size = 0;
  /** `start[c]`: how many filed servers have fewer than `c` connections (their run begins there). */
  start: Int32Array = new Int32Array(4);
  constructor(
    readonly weight: number,
    members: number[],
  ) {
    this.members = Int32Array.from(members);
    this.order = new Int32Array(members.length);
  }
}

export class LeastConnIndex implements LoadListener {
  readonly tier: Tier;
  /** False after a count above `MAX_FILED_CONNS`: the shortcut scans instead, until `weightsChanged`. */
  usable = true;
  #classes: WeightClass[] = [];
  /** Weight class of each server. */
  #classOf: Int32Array;
  /** Position of a filed server in its class's `order`. */
  #pos: Int32Array;
  /** The count a server is filed under, or NOT_FILED. */
  #filedAt: Int32Array;
  /** Servers with failures recorded and not blocked or full: tested at every pick. */
  #failing: Int32Array;
  #failingCount = 0;
  /** Position of a server in `#failing`, or -1. */
  #failingAt: Int32Array;

  constructor(tier: Tier) {
    this.tier = tier;
    const n = tier.n;
    this.#classOf = new Int32Array(n);
    this.#pos = new Int32Array(n);
    this.#filedAt = new Int32Array(n);
    this.#failing = new Int32Array(n);
    this.#failingAt = new Int32Array(n);
    this.weightsChanged();
  }

  /** The servers with failures recorded that are not blocked or full (the first `failingCount`). */
  get failing(): Int32Array {
    return this.#failing;
  }
  get failingCount(): number {
    return this.#failingCount;
  }

  /**
   * The best ratio among the filed servers, as `[conns, weight]` written into `out`; false when no
   * server is filed.
   */
  best(out: Float64Array): boolean {
    const classes = this.#classes;
    const filedAt = this.#filedAt;
    let cb = -1;
    let wb = 1;
    for (let k = 0; k < classes.length; k++) {
      const wc = classes[k]!;
      if (wc.size === 0) continue;
      const c = filedAt[wc.order[0]!]!;
      const w = wc.weight;
      if (cb < 0 || c * wb < cb * w) {
        cb = c;
        wb = w;
      }
    }
    if (cb < 0) return false;
    out[0] = cb;
    out[1] = wb;
    return true;
  }

  /**
   * nginx's tie round over the filed servers whose conns/weight is `cb`/`wb` and the first
   * `extraCount` servers of `extra` (servers with failures at that ratio, which the caller found
   * open): with two or more, each one's current weight grows by its effective weight, which
   * recovers by one, and the one with the highest current weight (the lowest index among equals,
   * as nginx's order gives) pays back the total; with one, nothing changes. Returns the winner, or
   * -1 when there is none.
   */
  tieRound(cb: number, wb: number, extra: Int32Array, extraCount: number): number {
    const classes = this.#classes;
    const filedAt = this.#filedAt;
    // how many tie, first: one alone wins with no weight changed (nginx runs no second pass)
    let ties = extraCount;
    let alone = extraCount === 1 ? extra[0]! : -1;
    for (let k = 0; k < classes.length; k++) {
      const wc = classes[k]!;
      if (wc.size === 0) continue;
      const least = filedAt[wc.order[0]!]!;
      if (least * wb !== cb * wc.weight) continue;
      const run = wc.start[least + 1]!;
      if (run === 1) alone = wc.order[0]!;
      ties += run;
    }
    if (ties <= 1) return ties === 1 ? alone : -1;
    const { current, effective, weight } = this.tier;
    let total = 0;
    let win = -1;
    let winCurrent = -Infinity;
    for (let k = 0; k < classes.length; k++) {
      const wc = classes[k]!;
      if (wc.size === 0) continue;
      const order = wc.order;
      const least = filedAt[order[0]!]!;
      const w = wc.weight;
      if (least * wb !== cb * w) continue;
      const end = wc.start[least + 1]!;
      for (let p = 0; p < end; p++) {
        const i = order[p]!;
        // select/swrr.ts swrrStep, written out; the run is in no order: equal current weights go to the lowest index
        const e = effective[i]!;
        const c = current[i]! + e;
        current[i] = c;
        if (e < w) effective[i] = e + 1;
        total += e;
        if (c >= winCurrent && (c > winCurrent || i < win)) {
          win = i;
          winCurrent = c;
        }
      }
    }
    for (let s = 0; s < extraCount; s++) {
      const i = extra[s]!;
      const e = effective[i]!;
      const c = current[i]! + e;
      current[i] = c;
      if (e < weight[i]!) effective[i] = e + 1;
      total += e;
      if (c >= winCurrent && (c > winCurrent || i < win)) {
        win = i;
        winCurrent = c;
      }
    }
    current[win] = winCurrent - total;
    return win;
  }

  /**
   * Appends to `tied` (from `count`) the filed servers whose conns/weight is `cb`/`wb`, in no
   * particular order; returns the new count (what `tieRound` walks, for tests and inspection).
   */
  collect(cb: number, wb: number, tied: Int32Array, count: number): number {
    for (const wc of this.#classes) {
      if (wc.size === 0) continue;
      const least = this.#filedAt[wc.order[0]!]!;
      if (least * wb !== cb * wc.weight) continue;
      const end = wc.start[least + 1]!;
      for (let p = 0; p < end; p++) tied[count++] = wc.order[p]!;
    }
    return count;
  }

  connsChanged(i: number): void {
    const from = this.#filedAt[i]!;
    if (from === NOT_FILED) return;
    const to = this.tier.conns[i]!;
    if (to === from) return;
    const wc = this.#classes[this.#classOf[i]!]!;
    if (to === from + 1 && to < MAX_FILED_CONNS) {
      if (to + 1 >= wc.start.length) grow(wc, to + 2);
      // the last server of run `from` trades places with `i`, and run `to` begins one earlier
      const last = wc.start[to]! - 1;
      this.#swap(wc, this.#pos[i]!, last);
      wc.start[to] = last;
      this.#filedAt[i] = to;
    } else if (to === from - 1) {
      // the first server of run `from` trades places with `i`, and run `from` begins one later
      const first = wc.start[from]!;
      this.#swap(wc, this.#pos[i]!, first);
      wc.start[from] = first + 1;
      this.#filedAt[i] = to;
    } else this.#sort(this.#classOf[i]!);
  }

  gateChanged(i: number): void {
    const k = this.#classOf[i]!;
    const pos = this.#failingAt[i]!;
    if (pos >= 0) {
      const last = this.#failing[--this.#failingCount]!;
      this.#failing[pos] = last;
      this.#failingAt[last] = pos;
      this.#failingAt[i] = -1;
    }
    const g = this.tier.gate[i]!;
    if (g !== 0 && (g & (GATE_BLOCKED | GATE_FULL)) === 0) {
      this.#failingAt[i] = this.#failingCount;
      this.#failing[this.#failingCount++] = i;
    }
    if ((g === 0) !== (this.#filedAt[i] !== NOT_FILED)) this.#sort(k);
  }

  /** Files every server again (weights, flags or limits changed; also the first filing). */
  weightsChanged(): void {
    const t = this.tier;
    const n = t.n;
    const classByWeight = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const w = t.weight[i]!;
      let members = classByWeight.get(w);
      if (members === undefined) classByWeight.set(w, (members = []));
      members.push(i);
    }
    this.#classes = [];
    for (const [w, members] of classByWeight) {
      for (const i of members) this.#classOf[i] = this.#classes.length;
      this.#classes.push(new WeightClass(w, members));
    }
    this.#failingAt.fill(-1);
    this.#failingCount = 0;
    this.usable = true;
    for (let i = 0; i < n; i++) {
      const g = t.gate[i]!;
      if (g !== 0 && (g & (GATE_BLOCKED | GATE_FULL)) === 0) {
        this.#failingAt[i] = this.#failingCount;
        this.#failing[this.#failingCount++] = i;
      }
    }
    for (let k = 0; k < this.#classes.length; k++) this.#sort(k);
  }

  /** Files class `k`'s servers with gate 0 again, sorted by count (a counting sort): O(class + largest count). */
  #sort(k: number): void {
    const t = this.tier;
    const wc = this.#classes[k]!;
    const members = wc.members;
    const filedAt = this.#filedAt;
    let most = 0;
    let size = 0;
    for (let m = 0; m < members.length; m++) {
      const i = members[m]!;
      filedAt[i] = NOT_FILED;
      if (t.gate[i] !== 0) continue;
      const c = t.conns[i]!;
      if (c > MAX_FILED_CONNS) {
        this.usable = false;
        continue;
      }
      filedAt[i] = c;
      if (c > most) most = c;
      size++;
    }
    if (most + 2 > wc.start.length) grow(wc, most + 2);
    const start = wc.start;
    start.fill(0);
    // start[c + 1] counts the servers at c, then the running sum makes it those below c + 1
    for (let m = 0; m < members.length; m++) {
      const c = filedAt[members[m]!]!;
      if (c !== NOT_FILED) start[c + 1]!++;
    }
    for (let c = 1; c < start.length; c++) start[c]! += start[c - 1]!;
    const order = wc.order;
    const pos = this.#pos;
    // each server goes to the next free place of its run: start[c] walks up to where run c + 1 begins
    for (let m = 0; m < members.length; m++) {
      const i = members[m]!;
      const c = filedAt[i]!;
      if (c === NOT_FILED) continue;
      const p = start[c]!++;
      order[p] = i;
      pos[i] = p;
    }
    for (let c = start.length - 1; c > 0; c--) start[c] = start[c - 1]!;
    start[0] = 0;
    wc.size = size;
  }

  #swap(wc: WeightClass, p: number, q: number): void {
    const order = wc.order;
    const a = order[p]!;
    const b = order[q]!;
    order[p] = b;
    order[q] = a;
    this.#pos[b] = p;
    this.#pos[a] = q;
  }
}

/** Lengthens a class's run starts to `length` or more; the new counts have no server (they start at `size`). */
function grow(wc: WeightClass, length: number): void {
  const grown = new Int32Array(Math.max(wc.start.length * 2, length)).fill(wc.size);
  grown.set(wc.start);
  wc.start = grown;
}
