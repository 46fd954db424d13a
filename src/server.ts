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
import { FLAG_PARAMS, NUMERIC_PARAMS, TEXT_PARAMS, type ResolvedServer } from './server-fields';
import { sessionId } from './session-id';
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
  /** The `route=` text, if set. */
  readonly route: string | undefined;
  /**
   * The session id (nginx 1.30's `peer->sid`): the route when set, else the lowercase hex MD5 of the
   * address as nginx prints the peer's name (`127.0.0.1:8080`, `[::1]:8080`, `unix:/path`;
   * session-id.ts). A sticky cookie carries it; `AttemptOptions.hint` names a server by it.
   */
  readonly sid: string;
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
  /** The `route=` text, null when not set. */
  route: string | null;
  /** The session id (`Server.sid`). */
  sid: string;
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
  /**
   * Active-check state, or null when checks are not configured (and no result was reported):
   * the verdict, the consecutive counts `rise` / `fall`, and `passed` / `failed`, the check results
   * of this server so far (they never go down; `rise` and `fall` restart).
   */
  check: { down: boolean; rise: number; fall: number; type: string; port: number; passed: number; failed: number } | null;
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
  /** Active-check results so far, passed and failed (`applyCheckResult`). */
  checksPassed = 0;
  checksFailed = 0;
  /** @internal The server's stable slot in an upstream zone (zone/link.ts), -1 outside one. */
  zoneSlot = -1;
  /**
   * @internal In a zone: brings the record up to date before a getter reads it (another thread may
   * have changed the membership, so that its tier and index moved, or applied a check result).
   */
  shared: { refresh(rec: ServerRecord): void; awayConns(rec: ServerRecord): number } | null = null;
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
  get route(): string | undefined { return this.config.route; }
  get sid(): string {
    const config = this.config;
    if (this.#sidOf !== config) {
      this.#sid = sessionId(config.address, config.route);
      this.#sidOf = config;
    }
    return this.#sid;
  }
  #sid = '';
  #sidOf: ResolvedServer | null = null;
  get maxFails(): number { return this.config.maxFails; }
  get failTimeout(): number { return this.config.failTimeout; }
  get maxConns(): number { return this.config.maxConns; }

  get conns(): number {
    if (this.shared !== null) this.shared.refresh(this);
    if (this.tier !== null) return this.tier.conns[this.index]!;
    return this.shared === null ? this.detached?.conns ?? 0 : this.shared.awayConns(this);
  }
  get fails(): number {
    if (this.shared !== null) this.shared.refresh(this);
    return this.tier === null ? this.detached?.fails ?? 0 : this.tier.fails[this.index]!;
  }
  get effectiveWeight(): number {
    if (this.shared !== null) this.shared.refresh(this);
    return this.tier === null ? this.detached?.effective ?? 0 : this.tier.effective[this.index]!;
  }
  get currentWeight(): number {
    if (this.shared !== null) this.shared.refresh(this);
    const t = this.tier;
    return t === null ? this.detached?.current ?? 0 : t.currentOf(this.index);
  }

  /** The state as it is now (computed from flags, check verdict and passive counters). */
  get state(): ServerState {
    if (this.shared !== null) this.shared.refresh(this);
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
    for (const p of TEXT_PARAMS) out[p.key] = this.config[p.key] ?? null;
    out.sid = this.sid;
    out.state = this.state;
    out.conns = this.conns;
    out.fails = fails;
    out.accessed = t !== null && fails > 0 ? t.accessed[this.index]! : null;
    out.checked = t !== null && fails > 0 ? t.checked[this.index]! : null;
    out.selected = this.selected;
    out.failures = this.failures;
    out.check = this.check === null ? null : { down: this.check.down, rise: this.check.rise, fall: this.check.fall, type: checkType, port: checkPort, passed: this.checksPassed, failed: this.checksFailed };
    return out as unknown as ServerSnapshot;
  }
}
