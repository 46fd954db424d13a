/**
 * One tier of servers (nginx's `ngx_http_upstream_rr_peers_t`): the primary tier, or the backup tier
 * (`peers->next`), as struct-of-arrays state in configuration order.
 *
 * Every mutable per-server field that selection reads lives here in a typed array indexed by the
 * server's position, so that a selection round is one linear pass over contiguous memory with no
 * property lookups (nginx's contiguous peer array; Envoy's host vectors). A tier is rebuilt when
 * membership changes, never per pick; `rebuild` copies each surviving server's state by `id`.
 *
 * Invariants: `totalWeight` counts every server including `down` ones (hash slots); `tries` counts
 * servers that are neither `down` nor draining (nginx >= 1.19.6); `limited` counts servers with a
 * connection limit (the steady-state replay needs none).
 */

import type { ServerRecord } from './server';
import { type CleanClasses, leaveLazy, resettle } from './select/clean-classes';

/** `blocked` bits: any set bit keeps a server out of selection. */
export const BLOCK_DOWN = 1;
export const BLOCK_DRAIN = 2;
export const BLOCK_CHECK = 4;
/**
 * `gate` bits on top of the BLOCK_* bits: at its connection limit now (`maxConns > 0` and
 * `conns >= maxConns`, kept up to date as connections are counted and freed), failures to test
 * (fails > 0).
 */
export const GATE_FULL = 8;
export const GATE_FAILS = 16;
/** Largest tier whose fresh rounds may use the branch-free maximum (its keys hold an index in 5 bits). */
export const SMALL_TIER = 32;
/** The BLOCK_* bits: any of them in `gate` keeps the server out. */
export const GATE_BLOCKED = BLOCK_DOWN | BLOCK_DRAIN | BLOCK_CHECK;

export class Tier {
  readonly n: number;
  readonly backup: boolean;
  /**
   * `backup` as a number (1 backup, 0 primary), for comparisons on the hot path: V8 compiles `===`
   * between two booleans to a call of its generic comparison, between two small integers to one
   * instruction.
   */
  readonly role: 0 | 1;
  /** The server views, by index. */
  readonly records: ServerRecord[];
  /** Configured weight. */
  readonly weight: Float64Array;
  /** nginx `effective_weight`: lowered by failures, +1 per round in which the server is eligible. */
  readonly effective: Float64Array;
  /** nginx `current_weight`: the SWRR accumulator. */
  readonly current: Float64Array;
  readonly conns: Float64Array;
  readonly maxConns: Float64Array;
  readonly fails: Float64Array;
  readonly maxFails: Float64Array;
  /** ms */
  readonly failTimeout: Float64Array;
  /** Time of the last failure (ms). */
  readonly accessed: Float64Array;
  /** Time of the last failure, or of a selection made more than failTimeout after the previous `checked`. */
  readonly checked: Float64Array;
  /** BLOCK_* bits. */
  readonly blocked: Uint8Array;
  /**
   * `blocked | GATE_FULL | GATE_FAILS`: one byte per server that tells a round whether it can skip
   * the server (a BLOCK_* bit or GATE_FULL), must test its passive window, or can take it as is (0).
   */
  readonly gate: Uint8Array;
  /** Sum of weights, `down` servers included. */
  totalWeight = 0;
  /** Servers not down and not draining: this tier's share of an attempt's tries budget. */
  tries = 0;
  /** Servers with `maxConns > 0`. */
  limited = 0;
  /** Zeroed tried bitmaps of finished attempts, for reuse by the next ones (tiers over 32 servers). */
  readonly spare: Uint32Array[] = [];
  /** Bumped on every rebuild; attempts compare it to remap their tried set. */
  readonly generation: number;

  // Steady-state replay (select/steady-state.ts).
  /** The method lets this tier replay its period (round robin only). */
  steadyAllowed = false;
  /** The method lets this tier run lazy rounds, and it is large enough for them to pay (clean-classes.ts). */
  lazyAllowed = false;
  /** Replaying the recorded period: `current` is stale, see syncCurrent. */
  fast = false;
  /** Position in the period while replaying. */
  pos = 0;
  /** Sum of eligible weights of the recorded or replayed period. */
  period = 0;
  /** The servers in that period (eligible and calm when it began). */
  readonly inPeriod: Uint8Array;
  /**
   * Last `now` at which the period holds: the end of the first passive window that keeps a server
   * with failures out of it (Infinity when none does, and the period needs no clock).
   */
  until = Infinity;
  /** Rounds recorded in the open window, or -1 when no window is open. */
  recorded = -1;
  /** Next slot of the window's ring of the last `period` picks (in `seq`). */
  ring = 0;
  /** Each server's picks among the last `period` recorded rounds. */
  windowCount: Float64Array | null = null;
  /** Sum over the period's servers of |window count - weight| (0: a period was found). */
  deviation = 0;
  /** Scan rounds run so far (for the back-off of `beginWindow`). */
  rounds = 0;
  /** `rounds` value before which no window is opened. */
  retryAt = 0;
  /** Picks of one period. */
  seq: Uint16Array | Uint32Array | null = null;
  /** Current weights at the start of the period. */
  base: Float64Array | null = null;
  /** `pos` at which `current` was last restored while replaying (-1: not restored). */
  syncedPos = -1;
  /** Scratch pick counts for restoring `current`. */
  scratch: Float64Array | null = null;

  constructor(records: ServerRecord[], backup: boolean, generation: number) {
    const n = records.length;
    this.n = n;
    this.backup = backup;
    this.role = backup ? 1 : 0;
    this.records = records;
    this.generation = generation;
    this.weight = new Float64Array(n);
    this.effective = new Float64Array(n);
    this.current = new Float64Array(n);
    this.conns = new Float64Array(n);
    this.maxConns = new Float64Array(n);
    this.fails = new Float64Array(n);
    this.maxFails = new Float64Array(n);
    this.failTimeout = new Float64Array(n);
    this.accessed = new Float64Array(n);
    this.checked = new Float64Array(n);
    this.blocked = new Uint8Array(n);
    this.gate = new Uint8Array(n);
    this.special = new Int32Array(n);
    this.inPeriod = new Uint8Array(n);
  }

  /**
   * Indices of the servers a fresh round cannot take as they are (`gate` non-zero, or effective
   * weight below weight), in order; `specialCount` of them are valid. Rebuilt lazily (kept up to
   * date, in no particular order, while the tier runs lazy rounds).
   */
  readonly special: Int32Array;
  specialCount = 0;
  specialDirty = true;
  /** Sum of the weights of the servers not in `special` (their share of a round's total). */
  cleanWeight = 0;

  /**
   * Recomputes `gate[i]` after a change of `blocked[i]`, `fails[i]`, `maxConns[i]`, of a weight,
   * or of `conns[i]` reaching or leaving `maxConns[i]`, and updates the special list.
   */
  refreshGate(i: number): void {
    const maxConns = this.maxConns[i]!;
    this.gate[i] =
      this.blocked[i]! | (maxConns !== 0 && this.conns[i]! >= maxConns ? GATE_FULL : 0) | (this.fails[i] !== 0 ? GATE_FAILS : 0);
    if (this.lazy) resettle(this, i);
    else this.specialDirty = true;
  }

  // Lazy rounds of large tiers (select/clean-classes.ts).
  /** Clean servers' current weights are `clean.anchor + sweeps * weight`; `special` is unordered. */
  lazy = false;
  /** Fresh rounds since the anchors were set. */
  sweeps = 0;
  clean: CleanClasses | null = null;

  /** Rebuilds `special` from `gate` and the effective weights. O(n), only after a change. */
  rebuildSpecial(): void {
    let count = 0;
    let clean = 0;
    const { gate, effective, weight, special } = this;
    for (let i = 0; i < this.n; i++) {
      if (gate[i] !== 0 || effective[i] !== weight[i]) special[count++] = i;
      else clean += weight[i]!;
    }
    this.specialCount = count;
    this.cleanWeight = clean;
    this.specialDirty = false;
    // Unsettled for about two periods after a change (see `branchFreeUntil`).
    this.branchFreeUntil = this.n <= SMALL_TIER && !this.uniform ? this.rounds + 2 * this.totalWeight + 64 : 0;
  }

  /**
   * Fresh rounds use the branch-free maximum (round-robin.ts `smallRound`) while `rounds` is below
   * this: for about two periods after the special set last changed (a failure, a recovery, a gate
   * change), while the weights are in a transient the processor cannot predict. Afterwards, and on
   * tiers whose servers all have the same weight, the plain comparison is cheaper.
   */
  branchFreeUntil = 0;
  /** Every server has the same weight (rounds are then predictable even right after a change). */
  uniform = false;

  /** Recomputes the aggregate counters after a change of weights, flags, fails or limits. */
  recount(): void {
    // Callers leave lazy rounds before they change a weight (this is then a no-op); the classes of
    // the next lazy rounds are rebuilt from the new weights.
    leaveLazy(this);
    if (this.clean !== null) this.clean.valid = false;
    let total = 0;
    let tries = 0;
    let limited = 0;
    for (let i = 0; i < this.n; i++) {
      total += this.weight[i]!;
      if ((this.blocked[i]! & (BLOCK_DOWN | BLOCK_DRAIN)) === 0) tries++;
      if (this.maxConns[i]! > 0) limited++;
      this.refreshGate(i);
    }
    this.totalWeight = total;
    let uniform = true;
    for (let i = 1; i < this.n; i++) if (this.weight[i] !== this.weight[0]) uniform = false;
    this.uniform = uniform;
    this.tries = tries;
    this.limited = limited;
  }
}
