/**
 * The selector protocol: how the Balancer reaches a balancing method, modelled on HAProxy's
 * `struct lb_ops` and nginx's per-method `get` / `init` hooks.
 *
 * A `Selector` is built once per balancer by its method's spec (methods.ts). It owns whatever it
 * derives from the tiers (weight slots, a ketama ring, round robin's accelerators) and rebuilds it
 * when told, never per pick:
 *
 * | call | when | nginx |
 * | --- | --- | --- |
 * | `get(peers, r)` | every selection of an attempt or a one-shot pick | the method's `get` peer handler |
 * | `shortcut.take()` | a one-shot pick, before `get` | none: the same answer and state change as `get` on a fresh request, without the request machinery, when its precondition holds, else -1 |
 * | `rebuilt(peers)` | after the tiers were rebuilt, or weights, flags or limits changed in place | `init_upstream` |
 * | `validate(servers)` | before a server list is accepted | configuration-time checks |
 * | `prepare(servers)` (optional) | `setServersAsync`: before a list replaces the tiers, a few steps per turn | the new cycle's `init_upstream` during a reload, while the old workers serve |
 *
 * Per-server changes reach the selector's per-tier state through the tier itself
 * (`Tier.listener`, a `TierListener`: `peerChanged`, `weightsChanged`, `settle`, `sync`,
 * `currentOf`): the tier calls the first two when a gate or the weights change, the Balancer calls
 * `settle` before it changes a weight or copies a tier, and `sync` / `currentOf` before it reads
 * current weights. A method without per-tier state leaves `Tier.listener` null.
 */

import type { NginxTarget } from '../nginx-target';
import type { Peers } from '../peers';
import type { ResolvedServer } from '../server-fields';
import type { Steps } from '../slices';
import type { RequestState } from './request';

export interface Selector {
  /** nginx's get for one attempt: index in `r.tier` (which may have switched to backup), or -1 (NGX_BUSY). */
  get(p: Peers, r: RequestState): number;
  /**
   * A one-shot pick's first get without a round, for the current primary tier (the object may change
   * after `rebuilt`; the Balancer holds it, so that a pick reaches it in one load).
   */
  readonly shortcut: Shortcut;
  /**
   * The tiers were rebuilt, or weights, flags or limits changed in place. `prepared`: what
   * `prepare` returned for the server list these tiers were just built from (and only then).
   */
  rebuilt(p: Peers, prepared?: Prepared): void;
  /** Throws on a server list the method cannot derive its data from, before anything changes. */
  validate(servers: readonly ResolvedServer[]): void;
  /**
   * Derives the method's data for a validated server list in steps (slices.ts), beside the data that
   * serves, which it leaves as it is: `Balancer.setServersAsync` runs the steps a few per turn and
   * hands the result to `rebuilt` once the list is applied. A method whose `rebuilt` is cheap has none.
   */
  prepare?(servers: readonly ResolvedServer[]): Steps<Prepared>;
}

/** A selector's data prepared for a server list (`Selector.prepare`), opaque to the rest. */
export type Prepared = object;

/** A one-shot pick's first get without a round. */
export interface Shortcut {
  /**
   * The index in the primary tier that `get` would return for a fresh request now, having made the
   * same state change, or -1 when it cannot tell (then `get` runs).
   */
  take(): number;
}

/** The shortcut of a method that has none. */
export const NO_SHORTCUT: Shortcut = Object.freeze({ take: () => -1 });

/** Tuning of the round-robin accelerators (tests inject smaller thresholds to exercise them). */
export interface SelectorTuning {
  /** Smallest tier on which round robin runs lazy rounds (select/round-robin/lazy-rounds.ts). */
  lazyFromServers: number;
  /** Smallest primary tier least_conn's one-shot pick keeps in an index by load (select/least-conn-index.ts). */
  leastConnIndexFromServers: number;
}

export const DEFAULT_TUNING: Readonly<SelectorTuning> = Object.freeze({ lazyFromServers: 24, leastConnIndexFromServers: 16 });

/** What a selector factory is given. */
export interface SelectorContext {
  /** The balancer's clock (ms). */
  readonly clock: () => number;
  /** The nginx series the balancer follows where releases differ (`BalancerOptions.nginx`). */
  readonly nginx: NginxTarget;
  readonly tuning: Readonly<SelectorTuning>;
  /**
   * The tiers live in an upstream zone shared with other threads (zone/): no state in the
   * selector's own heap may decide a pick; round robin keeps its replay in this shared memory
   * (round-robin/zone-replay.ts) and otherwise runs the plain round.
   */
  readonly shared?: SharedReplayMemory;
}

/** The zone's memory for round robin's shared replay (round-robin/zone-replay.ts; zone/layout.ts allocates it). */
export interface SharedReplayMemory {
  /** Mode, period, head, filled, matched, eligible, position, retry. */
  readonly header: Int32Array;
  /** The recording window, then the period: server indexes. */
  readonly ring: Int32Array;
  /** Picks per server in the window. */
  readonly counts: Int32Array;
  /** Eligible when the window opened. */
  readonly inPeriod: Uint8Array;
  /** Current weights at the period's start. */
  readonly start: Float64Array;
}
