/**
 * One tier of servers (nginx's `ngx_http_upstream_rr_peers_t`): the primary tier, or the backup tier
 * (`peers->next`), as struct-of-arrays state in configuration order.
 *
 * Every per-server field a selection reads lives here in a typed array indexed by the server's
 * position, so that a selection round is one linear pass over contiguous memory with no property
 * lookups (nginx's contiguous peer array; Envoy's host vectors). A tier is rebuilt when membership
 * changes, never per pick; the rebuild copies each surviving server's state by `id`
 * (balancer-membership.ts, with the rows of server-fields.ts).
 *
 * Invariants: `totalWeight` counts every server including `down` ones (hash slots); `tries` counts
 * servers that are neither `down` nor draining (nginx >= 1.19.6); `limited` counts servers with a
 * connection limit. Data only: a selector that keeps derived state over a tier (the round-robin
 * accelerators) registers a `TierListener` and is told of every change through it; least_conn's
 * index (select/least-conn-index.ts) registers a `LoadListener`, told of every change of a
 * server's connection count as well.
 */

/** What a tier needs of the records it holds (server.ts `ServerRecord`, placed by membership.ts). */
export interface TierRecord {
  /** The address text (consistent hash hashes it). */
  readonly address: string;
  /** The session id a hint names (server.ts `sid`). */
  readonly sid: string;
}

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
/** The BLOCK_* bits: any of them in `gate` keeps the server out. */
export const GATE_BLOCKED = BLOCK_DOWN | BLOCK_DRAIN | BLOCK_CHECK;

/**
 * What a tier tells the selector state kept over it (select/selector.ts describes the protocol).
 * The tier calls `peerChanged` and `weightsChanged` itself; the Balancer calls `settle` before it
 * changes a weight or copies the tier, and `sync` before it reads current weights.
 */
export interface TierListener {
  /** Server `i`'s gate changed (a flag, its failures, its connection limit reached or left). */
  peerChanged(i: number): void;
  /** Weights, flags or limits changed for several servers (`Tier.recount`). */
  weightsChanged(): void;
  /** Makes nginx's exact state explicit in the arrays and leaves every accelerated mode. */
  settle(): void;
  /** Makes nginx's exact current weights readable in `current`, staying in an accelerated mode. */
  sync(): void;
  /** Server `i`'s exact current weight, without writing anything. */
  currentOf(i: number): number;
}

/**
 * What least_conn's index of a tier by load (select/least-conn-index.ts) is told. `Tier` calls
 * `gateChanged` and `weightsChanged` itself; whoever writes `conns[i]` (selection.ts, on the
 * selecting thread) calls `connsChanged(i)` right after.
 */
export interface LoadListener {
  /** Server `i`'s connection count changed (`conns[i]` holds the new count). */
  connsChanged(i: number): void;
  /** Server `i`'s gate changed. */
  gateChanged(i: number): void;
  /** Weights, flags or limits changed for several servers (`Tier.recount`). */
  weightsChanged(): void;
}

/** The numeric per-server arrays of a tier (`Float64Array` each). */
export const TIER_NUMBERS = ['weight', 'effective', 'current', 'conns', 'maxConns', 'fails', 'maxFails', 'failTimeout', 'accessed', 'checked'] as const;
/** The byte per-server arrays of a tier (`Uint8Array` each). */
export const TIER_BYTES = ['blocked', 'gate'] as const;

/** The storage of a tier's state: one array per field of `TIER_NUMBERS` and `TIER_BYTES`. */
export type TierArrays = { [K in (typeof TIER_NUMBERS)[number]]: Float64Array } & { [K in (typeof TIER_BYTES)[number]]: Uint8Array };

/**
 * A tier's own arrays: views of one buffer (one allocation per tier build instead of one per field:
 * fewer backing stores for the collector to track after each membership change).
 */
function ownArrays(n: number): TierArrays {
  const a = {} as Record<string, Float64Array | Uint8Array>;
  const buffer = new ArrayBuffer(8 * n * TIER_NUMBERS.length + n * TIER_BYTES.length);
  let at = 0;
  for (const k of TIER_NUMBERS) {
    a[k] = new Float64Array(buffer, at, n);
    at += 8 * n;
  }
  for (const k of TIER_BYTES) {
    a[k] = new Uint8Array(buffer, at, n);
    at += n;
  }
  return a as TierArrays;
}

export class Tier {
  readonly n: number;
  readonly backup: boolean;
  /**
   * `backup` as a number (1 backup, 0 primary), for comparisons on the hot path: V8 compiles `===`
   * between two booleans to a call of its generic comparison, between two small integers to one
   * instruction.
   */
  readonly role: 0 | 1;
  /** The server records, by index (the Balancer's `ServerRecord`s). */
  readonly records: readonly TierRecord[];
  /** Configured weight. */
  readonly weight: Float64Array;
  /** nginx `effective_weight`: lowered by failures, +1 per round in which the server is eligible. */
  readonly effective: Float64Array;
  /** nginx `current_weight`: the SWRR accumulator (stale while a listener keeps it implicitly). */
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
  /** The selector state kept over this tier (round robin's accelerators), or null. */
  listener: TierListener | null = null;
  /** least_conn's index of this tier by load, or null (see `LoadListener`). */
  load: LoadListener | null = null;
  /** Session id -> index of the first server with it, built at the first hint (`indexOfSid`). */
  #sids: Map<string, number> | null = null;

  /**
   * `arrays`: the typed arrays to keep the state in (views of an upstream zone's shared memory,
   * zone/layout.ts), each of length `records.length`; by default the tier allocates its own.
   */
  constructor(records: readonly TierRecord[], backup: boolean, arrays?: TierArrays) {
    const n = records.length;
    this.n = n;
    this.backup = backup;
    this.role = backup ? 1 : 0;
    this.records = records;
    const a = arrays ?? ownArrays(n);
    this.weight = a.weight;
    this.effective = a.effective;
    this.current = a.current;
    this.conns = a.conns;
    this.maxConns = a.maxConns;
    this.fails = a.fails;
    this.maxFails = a.maxFails;
    this.failTimeout = a.failTimeout;
    this.accessed = a.accessed;
    this.checked = a.checked;
    this.blocked = a.blocked;
    this.gate = a.gate;
  }

  /**
   * Recomputes `gate[i]` after a change of `blocked[i]`, `fails[i]`, `maxConns[i]`, of a weight,
   * or of `conns[i]` reaching or leaving `maxConns[i]`, and tells the listener.
   */
  refreshGate(i: number): void {
    this.gate[i] = this.#gateOf(i);
    const listener = this.listener;
    if (listener !== null) listener.peerChanged(i);
    const load = this.load;
    if (load !== null) load.gateChanged(i);
  }

  #gateOf(i: number): number {
    const maxConns = this.maxConns[i]!;
    return this.blocked[i]! | (maxConns !== 0 && this.conns[i]! >= maxConns ? GATE_FULL : 0) | (this.fails[i] !== 0 ? GATE_FAILS : 0);
  }

  /** Server `i`'s exact current weight (nginx's `current_weight`). */
  currentOf(i: number): number {
    const listener = this.listener;
    return listener === null ? this.current[i]! : listener.currentOf(i);
  }

  /**
   * The index of the first server (configuration order) whose session id is `sid`, or -1: nginx's
   * `ngx_http_upstream_get_rr_peer_by_sid` looks no further than the first match.
   */
  indexOfSid(sid: string): number {
    let sids = this.#sids;
    if (sids === null) {
      sids = new Map();
      for (let i = 0; i < this.n; i++) {
        const s = this.records[i]!.sid;
        if (!sids.has(s)) sids.set(s, i);
      }
      this.#sids = sids;
    }
    return sids.get(sid) ?? -1;
  }

  /** Recomputes the aggregate counters and every gate after a change of weights, flags, fails or limits. */
  recount(): void {
    this.#sids = null; // (a route may have changed: membership.ts update reloads a slot, then recounts)
    this.#countAll();
    // (apart from the loop: code V8 compiles while inside the loop, for a long tier, would otherwise
    // end in these calls before they ever ran, and leave it again at every recount)
    const listener = this.listener;
    if (listener !== null) listener.weightsChanged();
    const load = this.load;
    if (load !== null) load.weightsChanged();
  }

  /** `totalWeight`, `tries`, `limited` and every gate, from the arrays. */
  #countAll(): void {
    let total = 0;
    let tries = 0;
    let limited = 0;
    for (let i = 0; i < this.n; i++) {
      total += this.weight[i]!;
      if ((this.blocked[i]! & (BLOCK_DOWN | BLOCK_DRAIN)) === 0) tries++;
      if (this.maxConns[i]! > 0) limited++;
      this.gate[i] = this.#gateOf(i);
    }
    this.totalWeight = total;
    this.tries = tries;
    this.limited = limited;
  }
}
