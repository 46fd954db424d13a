/**
 * A server's record and its read-only public view.
 *
 * The record is the stable identity of one `server` line: it survives `update`, `add`, `remove` of
 * neighbours and `setServers`, so health, counters and round-robin position follow the `id` (not
 * address plus weight, as Pingora keys them). Its numeric state lives in its tier's typed arrays
 * (see tier.ts); the record points at its tier and index, and reads through them.
 *
 * `state` uses NGINX Plus's words: `up`, `down` (admin), `draining`, `unavail` (passive window:
 * `fails >= maxFails` until a success clears them), `checking` (active check pending before the first
 * verdict), `unhealthy` (active check failed).
 */

import type { Tier } from './tier';
import { FLAG_PARAMS, NUMERIC_PARAMS, type ResolvedServer } from './server-fields';
import type { RiseFallState } from './health/rise-fall';
import { type UpstreamTarget, upstreamTarget } from './target';

export type ServerState = 'up' | 'down' | 'draining' | 'unavail' | 'checking' | 'unhealthy';

/** Read-only view of one server. Values are live: read them when you need them. */
export interface Server {
  readonly id: string;
  readonly address: string;
  /**
   * The address parsed: `{ kind: 'tcp', host, port }` (port null when the address has none) or
   * `{ kind: 'unix', path }`; null when the address is not one of those forms. For `net.connect`,
   * `connectOptions(server)`.
   */
  readonly target: UpstreamTarget | null;
  readonly weight: number;
  readonly backup: boolean;
  readonly down: boolean;
  readonly drain: boolean;
  readonly maxFails: number;
  /** ms */
  readonly failTimeout: number;
  readonly maxConns: number;
  readonly state: ServerState;
  /** Connections handed out and not yet released. */
  readonly conns: number;
  /** Passive failure counter (nginx `fails`). */
  readonly fails: number;
  /** nginx `effective_weight`. */
  readonly effectiveWeight: number;
  /** nginx `current_weight`. */
  readonly currentWeight: number;
}

/** Plain-JSON state of one server, as returned by `snapshot()`. */
export interface ServerSnapshot {
  id: string;
  address: string;
  weight: number;
  effectiveWeight: number;
  currentWeight: number;
  backup: boolean;
  down: boolean;
  drain: boolean;
  maxFails: number;
  failTimeout: number;
  maxConns: number;
  state: ServerState;
  conns: number;
  fails: number;
  /** Time (ms) of the last failure; `null` while `fails` is 0 (it has no effect then). */
  accessed: number | null;
  /** nginx's `checked` (ms); `null` while `fails` is 0 (it has no effect then). */
  checked: number | null;
  /** Selections of this server so far. */
  selected: number;
  /** Failures reported for this server so far. */
  failures: number;
  /** Active-check state, or null when checks are not configured. */
  check: { down: boolean; rise: number; fall: number; type: string; port: number } | null;
}

export class ServerRecord implements Server {
  // The fields a pick and a release touch come first, to share the object's first cache line.
  /** The tier holding this server's state; null once removed. */
  tier: Tier | null = null;
  index = -1;
  /** The balancer that owns this record (identity check on release). */
  readonly owner: object;
  selected = 0;
  readonly id: string;
  config: ResolvedServer;
  /** Active-check verdict, when checks are configured or results were reported. */
  check: RiseFallState | null = null;
  /** Last committed state (events fire when it changes). */
  lastState: ServerState = 'up';
  failures = 0;
  /** State kept after removal, so that in-flight releases stay harmless and readable. */
  detached: { conns: number; fails: number; effective: number; current: number } | null = null;

  constructor(config: ResolvedServer, owner: object) {
    this.id = config.id;
    this.config = config;
    this.owner = owner;
  }

  get address(): string { return this.config.address; }
  get target(): UpstreamTarget | null {
    const config = this.config;
    if (this.#targetOf !== config.address) {
      this.#target = upstreamTarget(config.address);
      this.#targetOf = config.address;
    }
    return this.#target;
  }
  #target: UpstreamTarget | null = null;
  #targetOf: string | null = null;
  get weight(): number { return this.config.weight; }
  get backup(): boolean { return this.config.backup; }
  get down(): boolean { return this.config.down; }
  get drain(): boolean { return this.config.drain; }
  get maxFails(): number { return this.config.maxFails; }
  get failTimeout(): number { return this.config.failTimeout; }
  get maxConns(): number { return this.config.maxConns; }

  get conns(): number {
    return this.tier === null ? this.detached?.conns ?? 0 : this.tier.conns[this.index]!;
  }
  get fails(): number {
    return this.tier === null ? this.detached?.fails ?? 0 : this.tier.fails[this.index]!;
  }
  get effectiveWeight(): number {
    return this.tier === null ? this.detached?.effective ?? 0 : this.tier.effective[this.index]!;
  }
  get currentWeight(): number {
    const t = this.tier;
    return t === null ? this.detached?.current ?? 0 : t.currentOf(this.index);
  }

  /** The state as it is now (computed from flags, check verdict and passive counters). */
  get state(): ServerState {
    const c = this.config;
    if (c.down) return 'down';
    if (c.drain) return 'draining';
    if (this.check !== null && this.check.down) return this.check.pending ? 'checking' : 'unhealthy';
    if (c.maxFails > 0 && this.fails >= c.maxFails) return 'unavail';
    return 'up';
  }

  toJSON(): ServerSnapshot {
    this.tier?.listener?.sync();
    return this.snapshot('tcp', 0);
  }

  /** Plain state; the caller syncs the tier's listener first (`Tier.listener.sync()`). */
  snapshot(checkType: string, checkPort: number): ServerSnapshot {
    const t = this.tier;
    const fails = this.fails;
    // The configured parameters come from the field table (server-fields.ts), in the key order
    // snapshots have always had: the weight with nginx's two weights, then the flags, then the rest.
    const out: Record<string, unknown> = { id: this.id, address: this.address, weight: this.config.weight };
    out.effectiveWeight = this.effectiveWeight;
    out.currentWeight = t === null ? this.currentWeight : t.current[this.index]!;
    for (const f of FLAG_PARAMS) out[f.key] = this.config[f.key];
    for (const p of NUMERIC_PARAMS) if (p.key !== 'weight') out[p.key] = this.config[p.key];
    out.state = this.state;
    out.conns = this.conns;
    out.fails = fails;
    out.accessed = t !== null && fails > 0 ? t.accessed[this.index]! : null;
    out.checked = t !== null && fails > 0 ? t.checked[this.index]! : null;
    out.selected = this.selected;
    out.failures = this.failures;
    out.check = this.check === null ? null : { down: this.check.down, rise: this.check.rise, fall: this.check.fall, type: checkType, port: checkPort };
    return out as unknown as ServerSnapshot;
  }
}
