/**
 * The round-robin selector's state over one tier: the accelerators' state, and the tier's listener
 * (select/selector.ts) through which every change of the tier reaches them. Nothing else holds or
 * changes this state; the tier itself keeps only nginx's peer arrays.
 */

import type { Tier, TierListener } from '../../tier';
import type { SelectorTuning } from '../selector';
import { BRANCH_FREE_MAX_SERVERS } from './branch-free-round';
import { LazyRounds } from './lazy-rounds';
import { SpecialServers } from './special-servers';
import { SteadyReplay } from './steady-replay';
import { WeightClasses } from './weight-classes';

export class RoundRobinTier implements TierListener {
  readonly special: SpecialServers;
  readonly classes: WeightClasses;
  /** Lazy rounds, on tiers large enough for them to pay (`SelectorTuning.lazyFromServers`); else null. */
  readonly lazy: LazyRounds | null;
  readonly replay: SteadyReplay;
  /** Rounds run so far (the replay's back-off and the branch-free window count in rounds). */
  rounds = 0;
  /**
   * Fresh rounds are branch-free while `rounds` is below this: for about two periods after the
   * special list last changed, while the weights are in a transient the processor cannot predict.
   */
  branchFreeUntil = 0;
  /** Every server has the same weight (rounds are then predictable even right after a change). */
  uniform = false;

  constructor(
    readonly tier: Tier,
    clock: () => number,
    tuning: Readonly<SelectorTuning>,
  ) {
    const n = tier.n;
    this.special = new SpecialServers(n);
    this.classes = new WeightClasses(n);
    this.lazy = n >= tuning.lazyFromServers ? new LazyRounds(tier, this.special, this.classes) : null;
    this.replay = new SteadyReplay(tier, clock, this.classes, this.lazy);
    this.weightsChanged();
  }

  /** Rebuilds the special list when a change made it stale, and restarts the branch-free window. */
  refreshSpecial(): void {
    const t = this.tier;
    this.special.rebuild(t);
    this.branchFreeUntil = t.n <= BRANCH_FREE_MAX_SERVERS && !this.uniform ? this.rounds + 2 * t.totalWeight + 64 : 0;
  }

  peerChanged(i: number): void {
    this.replay.leave(this.rounds);
    const lazy = this.lazy;
    if (lazy !== null && lazy.active) lazy.resettle(i);
    else this.special.dirty = true;
  }

  /** Called after `settle()` and the change (the weights are new; nothing accelerated is running). */
  weightsChanged(): void {
    const t = this.tier;
    this.lazy?.leave();
    this.classes.valid = false;
    this.special.dirty = true;
    let uniform = true;
    for (let i = 1; i < t.n; i++) if (t.weight[i] !== t.weight[0]) uniform = false;
    this.uniform = uniform;
  }

  settle(): void {
    this.replay.leave(this.rounds);
    this.lazy?.leave();
  }

  sync(): void {
    const lazy = this.lazy;
    if (lazy !== null && lazy.active) lazy.writeCurrent();
    this.replay.sync();
  }

  currentOf(i: number): number {
    this.replay.sync(); // (a no-op unless replaying)
    const lazy = this.lazy;
    return lazy === null ? this.tier.current[i]! : lazy.currentOf(i);
  }
}
