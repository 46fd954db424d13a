/**
 * The typed event map of a Balancer (eventemitter3), and its safe emission. Events fire only on
 * transitions, never per pick, and only after the state they describe is committed.
 */

import type { EventEmitter } from 'eventemitter3';
import type { Server, ServerState } from './server';

/** Why a server's state changed. */
export type StateCause =
  /** A passive failure made `fails` reach `maxFails` (nginx: "upstream server temporarily disabled"). */
  | 'failure'
  /** A success after a post-window selection cleared `fails` (nginx's probe succeeded). */
  | 'recovery'
  /** An active check verdict (rise or fall reached). */
  | 'check'
  /** `update()`, `add()` or `setServers()` changed it. */
  | 'admin';

/** Which tier served the latest selection. */
export type TierName = 'primary' | 'backup';

/** Why a selection found nothing. */
export type ExhaustedReason =
  /** Every server is down, excluded, unhealthy or full: nginx's "no live upstreams". */
  | 'no-live-upstreams'
  /** The attempt used up its tries budget (nginx finalises with 502). */
  | 'tries';

export interface BalancerEvents {
  /** A server changed state. */
  state: [server: Server, from: ServerState, to: ServerState, cause: StateCause];
  /** Selections moved from one tier to the other (backup promotion, or hand-back to the primaries). */
  tier: [from: TierName, to: TierName];
  /** A selection found nothing. Fires on the transition into exhaustion and again after any success. */
  exhausted: [reason: ExhaustedReason, name: string];
  /** One active-check result. `ms` is the check's duration. */
  check: [server: Server, ok: boolean, reason: string, ms: number];
}


/**
 * Emits after state is committed. A listener that throws cannot leave the balancer half-updated:
 * its error is rethrown on a microtask (an uncaught exception, not swallowed). Callers skip the
 * call when nobody listens, which spares the argument list: a failure or a recovery then
 * allocates nothing.
 */
export function emitSafely<K extends keyof BalancerEvents>(emitter: EventEmitter<BalancerEvents>, event: K, ...args: BalancerEvents[K]): void {
  try {
    (emitter.emit as (e: K, ...a: BalancerEvents[K]) => boolean).call(emitter, event, ...args);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}
