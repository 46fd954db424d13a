/**
 * Accelerator for an upstream zone (src/zone/): the steady replay with its state in the zone's
 * shared memory, so that a pick in any thread is O(1) while the primary tier is calm.
 *
 * Claim: `next()` returns what the plain round (plain-round.ts) returns for a fresh request, and
 * `leave()` / `sync()` write back exactly the current weights the plain rounds would have left,
 * while the tier is calm: no server with failures recorded, no connection limits, effective weight
 * = weight for every eligible server, no change of the eligible set. Calm needs no clock.
 *
 * The per-thread steady replay (steady-replay.ts) keeps its schedule in the balancer's heap, which
 * another thread's picks would invalidate without telling it; here the recording window, the
 * period, the position and the weights at the period's start live in the zone, and every thread's
 * tier listener works on them under the zone's lock. How a period is found is the same argument:
 * the plain rounds of a calm tier are recorded into a window of the last W picks (W = the sum of the
 * eligible weights); once every eligible server has exactly its weight's worth of picks in the
 * window, the weights equal those of W rounds ago, so the window is a period and is replayed. After
 * `p` picks of the period the weights nginx would hold are `start[i] + p*w[i] - W*k[i]`, `k[i]` being
 * server i's picks among them; `leave` writes those back (O(p + n)) before anything else reads or
 * changes the tier. Every change of a gate, a weight or the membership reaches the listener of the
 * thread that makes it (tier.ts `TierListener`), which leaves and restarts the recording.
 */

import { GATE_FAILS, type Tier, type TierListener } from '../../tier';
import type { SharedReplayMemory, Shortcut } from '../selector';

/** `header` words. */
const MODE = 0; // OFF, RECORDING, REPLAYING, or UNCALM (recording waits: `retryAt` rounds)
const PERIOD = 1; // W
const HEAD = 2; // the oldest pick of the window / the period's first
const FILLED = 3; // picks in the window
const MATCHED = 4; // eligible servers with exactly their weight's worth of picks in the window
const ELIGIBLE = 5; // eligible servers
const POS = 6; // picks of the period replayed
const RETRY = 7; // fresh rounds before an uncalm tier is tested again

const OFF = 0;
const RECORDING = 1;
const REPLAYING = 2;
const UNCALM = 3;

export class ZoneReplay implements TierListener, Shortcut {
  readonly #t: Tier;
  readonly #m: SharedReplayMemory;

  constructor(t: Tier, memory: SharedReplayMemory) {
    this.#t = t;
    this.#m = memory;
  }

  /** Replaying: the next fresh pick is `next()`. */
  get replaying(): boolean {
    return this.#m.header[MODE] === REPLAYING;
  }

  /** Shortcut: the next pick of the period while replaying, else -1 (the round runs). */
  take(): number {
    return this.#m.header[MODE] === REPLAYING ? this.next() : -1;
  }

  /** The next pick of the period. */
  next(): number {
    const h = this.#m.header;
    const w = h[PERIOD]!;
    const pos = h[POS]!;
    let at = h[HEAD]! + pos;
    if (at >= w) at -= w;
    h[POS] = pos + 1 === w ? 0 : pos + 1;
    return this.#m.ring[at]!;
  }

  /** A fresh plain round picked `i` (-1: none): recorded into the window, which may become the period. */
  record(i: number): void {
    const h = this.#m.header;
    const mode = h[MODE]!;
    if (mode === OFF) {
      this.#begin();
      return; // (the window starts with the next round)
    }
    if (mode === UNCALM) {
      if (--h[RETRY]! <= 0) h[MODE] = OFF;
      return;
    }
    if (mode !== RECORDING) return;
    if (i < 0) {
      h[MODE] = OFF;
      return;
    }
    const { ring, counts } = this.#m;
    const weight = this.#t.weight;
    const w = h[PERIOD]!;
    let matched = h[MATCHED]!;
    let head = h[HEAD]!;
    if (h[FILLED]! === w) {
      const old = ring[head]!;
      if (counts[old] === weight[old]) matched--;
      counts[old] = counts[old]! - 1;
      if (counts[old] === weight[old]) matched++;
      ring[head] = i;
      head = head + 1 === w ? 0 : head + 1;
    } else {
      ring[(head + h[FILLED]!) % w] = i;
      h[FILLED] = h[FILLED]! + 1;
    }
    if (counts[i] === weight[i]) matched--;
    counts[i] = counts[i]! + 1;
    if (counts[i] === weight[i]) matched++;
    h[MATCHED] = matched;
    h[HEAD] = head;
    if (h[FILLED] === w && matched === h[ELIGIBLE]) this.#startReplay();
  }

  /** Tests calm (O(n)) and opens an empty window, or waits `n` rounds before testing again. */
  #begin(): void {
    const t = this.#t;
    const { header: h, counts, inPeriod } = this.#m;
    let w = 0;
    let eligible = 0;
    let calm = t.limited === 0;
    for (let i = 0; i < t.n && calm; i++) {
      const g = t.gate[i]!;
      if ((g & GATE_FAILS) !== 0) calm = false;
      else if (g === 0) {
        if (t.effective[i] !== t.weight[i]) calm = false;
        w += t.weight[i]!;
        eligible++;
      }
    }
    if (!calm || eligible === 0 || w > this.#m.ring.length) {
      h[MODE] = UNCALM;
      h[RETRY] = Math.max(t.n, 16);
      return;
    }
    for (let i = 0; i < t.n; i++) {
      counts[i] = 0;
      inPeriod[i] = t.gate[i] === 0 ? 1 : 0;
    }
    h[PERIOD] = w;
    h[HEAD] = 0;
    h[FILLED] = 0;
    h[MATCHED] = 0;
    h[ELIGIBLE] = eligible;
    h[MODE] = RECORDING;
  }

  /** The window is a period: the weights now are the period's start weights. */
  #startReplay(): void {
    const t = this.#t;
    const start = this.#m.start;
    for (let i = 0; i < t.n; i++) start[i] = t.current[i]!;
    this.#m.header[POS] = 0;
    this.#m.header[MODE] = REPLAYING;
  }

  /** Writes the weights after `POS` picks of the period into the tier (O(p + n)). */
  #writeBack(): void {
    const t = this.#t;
    const { header: h, ring, counts, inPeriod, start } = this.#m;
    const w = h[PERIOD]!;
    const p = h[POS]!;
    for (let i = 0; i < t.n; i++) counts[i] = 0;
    let at = h[HEAD]!;
    for (let k = 0; k < p; k++) {
      const s = ring[at]!;
      counts[s] = counts[s]! + 1;
      at = at + 1 === w ? 0 : at + 1;
    }
    for (let i = 0; i < t.n; i++) if (inPeriod[i] === 1) t.current[i] = start[i]! + p * t.weight[i]! - w * counts[i]!;
  }

  /** Leaves any mode: the tier's arrays are exact, and the recording starts again later. */
  leave(): void {
    const h = this.#m.header;
    if (h[MODE] === REPLAYING) this.#writeBack();
    h[MODE] = OFF;
  }

  // TierListener: every change leaves (the calm no longer holds, or the arrays are about to be read)
  peerChanged(): void {
    this.leave();
  }
  weightsChanged(): void {
    this.leave();
  }
  settle(): void {
    this.leave();
  }
  /** Exact weights in the arrays, still replaying: the period restarts where it stands. */
  sync(): void {
    const h = this.#m.header;
    if (h[MODE] !== REPLAYING || h[POS] === 0) return;
    this.#writeBack();
    const w = h[PERIOD]!;
    h[HEAD] = (h[HEAD]! + h[POS]!) % w;
    h[POS] = 0;
    const start = this.#m.start;
    for (let i = 0; i < this.#t.n; i++) start[i] = this.#t.current[i]!;
  }
  currentOf(i: number): number {
    this.sync();
    return this.#t.current[i]!;
  }
}
