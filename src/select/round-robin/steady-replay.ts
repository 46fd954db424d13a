/**
 * Accelerator: the steady replay, an O(1) pick while nothing changes.
 *
 * Claim: `next()` returns what the plain round (plain-round.ts) returns for a request that has
 * tried nothing, and `leave()` / `sync()` restore exactly the current weights the plain rounds
 * would have left, while the tier is calm (below) and `now <= validUntil`.
 *
 * Calm: effective weight = weight for every eligible server, no connection limits, no change of the
 * eligible set. A server with failures does not break the calm while its passive window excludes
 * it: until the first such window ends (`validUntil`, the only moment a time check is needed) it is
 * as out of the rounds as a `down` server, which is what nginx's round sees too. Every calm round
 * adds W = the sum of eligible weights in total and takes W from the winner, and nginx's sequence
 * from all-zero current weights is periodic with period W and returns to all zeros
 * (docs/nginx-semantics.md §2.1); from another state it may need a transient before it settles. So:
 *
 * - At a calm period start from all-zero weights, one period is built directly (zero-period.ts).
 * - From any other calm state, the recording window keeps the last W picks (`record`); as soon as
 *   every server has exactly its weight's worth of them, the weights equal those of W rounds ago
 *   and the window is a period, replayed from there.
 * - While replaying, a pick is a table lookup and the tier's arrays are not touched. After `p`
 *   picks the weights nginx would hold are `start[i] + p*w[i] - W*k[i]`, `k[i]` being server i's
 *   picks so far; `leave` restores exactly those (O(p + n)) before anything else reads or changes
 *   the tier, so the rounds continue seamlessly.
 * - On a tier without lazy rounds, instead of a window, the rounds from a calm state are computed
 *   ahead (rounds-ahead.ts, when its precondition holds) in growing batches, and replayed as they
 *   are computed: the restore formula holds for any calm rounds, a period or not. If W of them come
 *   back to the start state they are a period; else the next W start from the state they reached.
 *
 * Memory is bounded by MAX_PERIOD entries per tier; larger periods stay on the rounds.
 */

import type { Tier } from '../../tier';
import { reachedMaxFails } from '../../health/passive-window';
import { type RequestState, nowOf } from '../request';
import type { LazyRounds } from './lazy-rounds';
import { RoundsAhead } from './rounds-ahead';
import type { WeightClasses } from './weight-classes';
import { ZeroPeriod } from './zero-period';

/** Largest period (sum of eligible weights) for which a schedule is kept. */
const MAX_PERIOD = 65536;
/**
 * Rounds computed ahead at a time (rounds-ahead.ts): a schedule's first batch is as long as the
 * previous schedule ran before a change left it (at least AHEAD_MIN_CHUNK), each next one twice
 * the last, up to AHEAD_CHUNK; so that the rounds a change throws away stay about those handed out.
 */
const AHEAD_CHUNK = 64;
const AHEAD_MIN_CHUNK = 4;

const doubleBits = new Float64Array(1);
const doubleWord = new BigInt64Array(doubleBits.buffer);
/** The next double after `x` towards +Infinity (x finite). */
function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  doubleBits[0] = x;
  doubleWord[0] += x > 0 ? 1n : -1n;
  return doubleBits[0]!;
}
/** The next double after `x` towards -Infinity (x finite). */
function nextDown(x: number): number {
  return -nextUp(-x);
}

/**
 * The last `now` at which a server with `checked` and `failTimeout` is still inside its window by
 * the passive window's own test (`now - checked <= failTimeout`, in doubles): `checked + failTimeout`
 * for the integer times of every clock in practice, one ulp either side when that sum rounds.
 */
export function windowEnd(checked: number, failTimeout: number): number {
  let end = checked + failTimeout;
  if (Number.isSafeInteger(end) && Number.isSafeInteger(checked) && Number.isSafeInteger(failTimeout)) return end;
  if (!Number.isFinite(end)) return end;
  while (end - checked > failTimeout) end = nextDown(end);
  while (nextUp(end) - checked <= failTimeout) end = nextUp(end);
  return end;
}

export class SteadyReplay {
  /** Replaying the period: the tier's `current` is stale (see `sync`). */
  replaying = false;
  /** Position in the period while replaying. */
  position = 0;
  /**
   * Picks known from `position` 0: `period` for a whole period (built, recorded or proven), else the
   * rounds computed ahead so far. At `end`, `next` goes back to 0 (`end === wrapAt`), computes more
   * rounds, or starts again from the state W rounds reached if they were not a period.
   */
  end = 0;
  /** `period` while the picks are a whole period, else -1. */
  wrapAt = -1;
  /** Sum of eligible weights of the recorded or replayed period (W). */
  period = 0;
  /** The servers in that period (eligible and calm when it began). */
  readonly inPeriod: Uint8Array;
  /**
   * Last `now` at which the period holds: the end of the first passive window that keeps a server
   * with failures out of it (Infinity when none does, and the period needs no clock).
   */
  validUntil = Infinity;
  /** Rounds recorded in the open window, or -1 when no window is open. */
  windowRounds = -1;
  /** Next slot of the window's ring of the last W picks (in `picks`). */
  windowNext = 0;
  /** Each server's picks among the last W recorded rounds. */
  windowCount: Float64Array | null = null;
  /** Sum over the period's servers of |window count - weight| (0: a period was found). */
  deviation = 0;
  /** Round count before which no window is opened (the back-off of `begin`). */
  retryAt = 0;
  /** The picks of one period (or the recording window's ring of them). */
  picks: Uint16Array | Uint32Array | null = null;
  /** Current weights at the start of the period. */
  startCurrent: Float64Array | null = null;
  /** `position` at which `current` was last restored while replaying (-1: not restored). */
  syncedAt = -1;
  /** Scratch: pick counts for restoring `current`. */
  #scratch: Float64Array | null = null;
  /** The period builder from all-zero weights (zero-period.ts), made at its first use. */
  #zero: ZeroPeriod | null = null;
  /** Calm rounds computed ahead, on tiers without lazy rounds (null on those). */
  readonly ahead: RoundsAhead | null;
  /** The next batch of rounds computed ahead, and the first batch of the next schedule. */
  #chunk = AHEAD_CHUNK;
  #firstChunk = AHEAD_CHUNK;
  /** Rounds computed ahead since the schedule began. */
  #computed = 0;

  constructor(
    readonly tier: Tier,
    readonly clock: () => number,
    readonly classes: WeightClasses,
    readonly lazy: LazyRounds | null,
  ) {
    this.inPeriod = new Uint8Array(tier.n);
    this.ahead = lazy === null ? new RoundsAhead(tier.n) : null;
  }

  /** The next pick of the period (call only while `replaying` and not `expired`). */
  next(): number {
    let pos = this.position;
    if (pos === this.end) pos = pos === this.wrapAt ? 0 : this.#further(pos);
    this.position = pos + 1;
    return this.picks![pos]!;
  }

  /**
   * At `end` of the rounds computed ahead: more of them, from the state the last one left; after W
   * rounds that did not come back to the start state, a new schedule from the state they reached.
   * Rounds that came back are a period: the replay then wraps as for any other.
   */
  #further(pos: number): number {
    const ahead = this.ahead!;
    const period = this.period;
    if (pos === period) {
      ahead.writeTo(this.startCurrent!);
      this.syncedAt = -1;
      pos = 0;
    }
    const to = Math.min(period, pos + this.#chunk);
    this.#chunk = Math.min(AHEAD_CHUNK, 2 * this.#chunk);
    this.#computed += to - pos;
    ahead.compute(this.picks!, pos, to);
    this.end = to;
    if (to === period && ahead.returnedTo(this.startCurrent!)) this.wrapAt = period;
    return pos;
  }

  /** True when a passive window that kept a server out of the period has ended at the request's `now`. */
  expired(r: RequestState): boolean {
    return this.validUntil !== Infinity && !(nowOf(r) <= this.validUntil);
  }

  /**
   * Called before a fresh round on a tier that is not replaying, has no window open and is past
   * its back-off (`rounds >= retryAt`): opens a recording window, or starts replaying at once when
   * all eligible current weights are 0. Amortised O(1): a failed start backs off for `n` rounds.
   */
  begin(r: RequestState, rounds: number): void {
    const t = this.tier;
    this.retryAt = rounds + t.n;
    const period = this.#calmPeriod(r);
    if (period === 0) return;
    if (this.picks === null || this.picks.length < period) this.picks = t.n <= 0xffff ? new Uint16Array(period) : new Uint32Array(period);
    if (this.startCurrent === null) this.startCurrent = new Float64Array(t.n);
    if (this.windowCount === null) this.windowCount = new Float64Array(t.n);
    if (this.lazy !== null && this.lazy.active) this.lazy.writeCurrent();
    const { current } = t;
    const inPeriod = this.inPeriod;
    let zero = true;
    for (let i = 0; i < t.n; i++) {
      if (inPeriod[i] !== 0 && current[i] !== 0) {
        zero = false;
        break;
      }
    }
    this.period = period;
    if (zero) {
      this.startCurrent.fill(0); // the period's weights are 0 at its start (servers outside it are never restored)
      this.lazy?.leave(); // the replay keeps `current` stale in its own way
      (this.#zero ??= new ZeroPeriod(t.n)).build(t, this.classes.of(t), inPeriod, this.picks, period);
      this.#replayFrom(0, period, period);
    } else if (this.ahead !== null && this.ahead.start(t, inPeriod, period)) {
      // Computed ahead from here (rounds-ahead.ts), the first rounds at the first `next`.
      this.startCurrent.set(current);
      this.#chunk = this.#firstChunk;
      this.#computed = 0;
      this.#replayFrom(0, 0, -1);
      this.syncedAt = 0;
    } else {
      // Every server of the period starts with 0 of its w picks in the window.
      this.windowCount.fill(0);
      this.deviation = period; // each server of the period is its weight short
      this.windowNext = 0;
      this.windowRounds = 0;
    }
  }

  /**
   * Records a calm round's winner in the window, a ring of the last W picks. Over W calm rounds the
   * weights move by `W * (w - k)`, `k` being each server's picks among them: the moment every server
   * of the period has exactly its weight's worth of the last W picks, the weights are back where
   * they were W rounds ago, and those W picks (from the oldest) are what the rounds will repeat.
   * The counts are kept incrementally (`deviation`), O(1) per round, without branching on them.
   */
  record(winner: number): void {
    const picks = this.picks!;
    const count = this.windowCount!;
    const weight = this.tier.weight;
    const q = this.windowNext;
    let deviation = this.deviation;
    if (this.windowRounds >= this.period) {
      // The pick W rounds ago leaves the window.
      const out = picks[q]!;
      const c = count[out]!;
      const w = weight[out]!;
      deviation += Math.abs(c - 1 - w) - Math.abs(c - w);
      count[out] = c - 1;
    }
    picks[q] = winner;
    const c = count[winner]!;
    const w = weight[winner]!;
    deviation += Math.abs(c + 1 - w) - Math.abs(c - w);
    count[winner] = c + 1;
    this.deviation = deviation;
    this.windowRounds++;
    const next = q + 1 === this.period ? 0 : q + 1;
    this.windowNext = next;
    if (deviation === 0) this.#replayFromWindow(next);
  }

  /** Writes into the tier's `current` the weights nginx holds at the replay position (stays replaying). */
  sync(): void {
    if (!this.replaying || this.syncedAt === this.position) return;
    const t = this.tier;
    const { weight, current } = t;
    const inPeriod = this.inPeriod;
    const start = this.startCurrent!;
    const pos = this.position;
    const period = this.period;
    const picks = this.#countPicks(pos);
    for (let i = 0; i < t.n; i++) {
      if (inPeriod[i] !== 0) current[i] = start[i]! + pos * weight[i]! - period * picks[i]!;
    }
    this.syncedAt = pos;
  }

  /**
   * Leaves the replay (restoring the exact current weights) and closes any recording window; the
   * next window may open at round `rounds`. Called before any change to the tier's flags, weights
   * or limits, before a retry round, and after a change of a server's failures (the set of servers
   * in the period is kept in `inPeriod`, so the restore does not depend on the order).
   */
  leave(rounds: number): void {
    if (this.replaying) {
      this.sync();
      this.replaying = false;
      if (this.ahead !== null) {
        // (how long this schedule ran: a proven period, as long as the batches get)
        const ran = this.wrapAt >= 0 ? AHEAD_CHUNK : this.#computed - (this.end - this.position);
        this.#firstChunk = Math.max(AHEAD_MIN_CHUNK, Math.min(AHEAD_CHUNK, ran));
      }
    }
    this.syncedAt = -1;
    this.windowRounds = -1;
    this.validUntil = Infinity;
    this.retryAt = rounds;
  }

  /**
   * Marks in `inPeriod` the servers a calm round would take and returns their weight sum (the
   * period W), setting `validUntil` to the end of the first passive window that keeps a server
   * out; 0 when the tier is not calm or W is 0 or over MAX_PERIOD.
   */
  #calmPeriod(r: RequestState): number {
    const t = this.tier;
    if (t.limited !== 0) return 0;
    const { blocked, effective, weight, fails } = t;
    const inPeriod = this.inPeriod;
    let until = Infinity;
    let period = 0;
    for (let i = 0; i < t.n; i++) {
      inPeriod[i] = 0;
      if (blocked[i] !== 0) continue;
      if (fails[i] !== 0) {
        // Out of the rounds only while its window lasts; a server that could be probed is not calm.
        if (!reachedMaxFails(t, i)) return 0;
        const end = windowEnd(t.checked[i]!, t.failTimeout[i]!);
        if (!(nowOf(r) <= end)) return 0;
        if (end < until) until = end;
        continue;
      }
      if (effective[i] !== weight[i]) return 0;
      inPeriod[i] = 1;
      period += weight[i]!;
    }
    if (period === 0 || period > MAX_PERIOD) return 0;
    this.validUntil = until;
    return period;
  }

  /**
   * Starts the replay at window position `pos` with the weights as they are now: `startCurrent`
   * (the weights at position 0) is worked back from them, `current = start + pos * w - W * picks(0..pos)`.
   */
  #replayFromWindow(pos: number): void {
    const t = this.tier;
    if (this.lazy !== null && this.lazy.active) this.lazy.writeCurrent();
    const { weight, current } = t;
    const inPeriod = this.inPeriod;
    const start = this.startCurrent!;
    const period = this.period;
    const picks = this.#countPicks(pos);
    for (let i = 0; i < t.n; i++) {
      if (inPeriod[i] !== 0) start[i] = current[i]! - pos * weight[i]! + period * picks[i]!;
    }
    this.lazy?.leave();
    this.#replayFrom(pos, period, period);
    this.syncedAt = pos;
  }

  /** Starts replaying at `pos` (`end` and `wrapAt` as their fields say), closing any window. */
  #replayFrom(pos: number, end: number, wrapAt: number): void {
    this.position = pos;
    this.end = end;
    this.wrapAt = wrapAt;
    this.syncedAt = -1;
    this.windowRounds = -1;
    this.replaying = true;
  }

  /** Each server's picks among `picks[0..pos)` (the `k` of the restore formula), in a scratch array. */
  #countPicks(pos: number): Float64Array {
    const n = this.tier.n;
    const counts = this.#scratch === null || this.#scratch.length < n ? (this.#scratch = new Float64Array(n)) : this.#scratch.fill(0);
    const picks = this.picks!;
    for (let p = 0; p < pos; p++) counts[picks[p]!] += 1;
    return counts;
  }
}
