/**
 * The typed event map of a Balancer (eventemitter3), and its safe emission. Events fire only on
 * transitions, never per pick, and only after the state they describe is committed.
 */

import type { EventEmitter } from 'eventemitter3';
import type { UpstreamError } from './errors';
import type { DnsError } from './resolve/dns';
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
  | 'tries'
  /** The attempt's time budget ran out before a retry (`proxy_next_upstream_timeout`). */
  | 'timeout';

export interface BalancerEvents {
  /** A server changed state. */
  state: [server: Server, from: ServerState, to: ServerState, cause: StateCause];
  /** Selections moved from one tier to the other (backup promotion, or hand-back to the primaries). */
  tier: [from: TierName, to: TierName];
  /** A selection found nothing. Fires on the transition into exhaustion and again after any success. */
  exhausted: [reason: ExhaustedReason, name: string];
  /** One active-check result. `ms` is the check's duration. */
  check: [server: Server, ok: boolean, reason: string, ms: number];
  /**
   * A fault the balancer worked around: `ERR_UPSTREAM_CLOCK` (the clock threw or returned something
   * other than a finite number; the last good reading was used). At most one per microtask, after
   * the operation; without a listener, one process warning per balancer. (Not called `error`: an
   * emitter that treats an unheard `error` as fatal must not turn a worked-around fault into a crash.)
   */
  fault: [error: UpstreamError];
  /**
   * A `resolve` line's peers changed after a DNS answer (src/resolve/resolver.ts): `line` is the
   * line's id (its address as written), `added` and `removed` the peer ids (docs/dns.md).
   */
  resolve: [line: string, added: readonly string[], removed: readonly string[]];
  /**
   * A resolution of a `resolve` line failed. `kept`: the peers stay (SERVFAIL, REFUSED, a timeout,
   * ...; or one SRV target failed); false: NXDOMAIN removed them all, as nginx does.
   */
  resolveError: [line: string, error: DnsError, kept: boolean];
}


/** One registered listener, as eventemitter3 (5.x) keeps it: one object per `on` / `once` call. */
interface Registration {
  fn: (...args: unknown[]) => void;
  context: unknown;
  once: boolean;
}

/**
 * Emits after state is committed, to every listener, in registration order, as eventemitter3's
 * `emit` does, except that a listener that throws neither stops the listeners after it nor leaves
 * the balancer half-updated: its error is rethrown on a microtask (an uncaught exception, not
 * swallowed). Callers skip the call when nobody listens, which spares the argument list: a failure
 * or a recovery then allocates nothing. Reads eventemitter3's registrations (`_events`, one object
 * or an array of them per event), which its `emit` stops at the first throw.
 */
export function emitSafely<K extends keyof BalancerEvents>(emitter: EventEmitter<BalancerEvents>, event: K, ...args: BalancerEvents[K]): void {
  const registered = (emitter as unknown as { _events: Record<string, Registration | Registration[] | undefined> })._events[event];
  if (registered === undefined) return;
  if (!Array.isArray(registered)) {
    callSafely(emitter, event, registered, args);
    return;
  }
  // (the array as it is now: a listener that adds or removes listeners changes the next emit only)
  const list = registered.slice();
  for (let i = 0; i < list.length; i++) callSafely(emitter, event, list[i]!, args);
}

function callSafely(emitter: EventEmitter<BalancerEvents>, event: keyof BalancerEvents, r: Registration, args: readonly unknown[]): void {
  if (r.once) emitter.removeListener(event, r.fn as never, undefined, true);
  try {
    r.fn.apply(r.context, args as unknown[]);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}
