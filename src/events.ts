/**
 * The typed event map of a Balancer (eventemitter3), its safe emission, and the same events on
 * `node:diagnostics_channel` (`upstream-balancer:state`, `:tier`, `:exhausted`, `:check`, `:fault`,
 * `:resolve`, `:resolveError`; named as undici names its channels). Events fire only on
 * transitions, never per pick, and only after the state they describe is committed. Every
 * emission site asks `isObserved` first, so that an event nobody listens to or subscribes to
 * builds no argument list and no message. No nginx source: nginx logs these transitions.
 */

import { channel, type Channel } from 'node:diagnostics_channel';
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
   * the operation; with neither a listener nor a diagnostics subscriber, one process warning per
   * balancer. (Not called `error`: an
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


// ---------------------------------------------------------------------------------------------
// node:diagnostics_channel

/** The channel name of each event: `upstream-balancer:` and the event's name. */
export const DIAGNOSTICS_CHANNELS = {
  state: 'upstream-balancer:state',
  tier: 'upstream-balancer:tier',
  exhausted: 'upstream-balancer:exhausted',
  check: 'upstream-balancer:check',
  fault: 'upstream-balancer:fault',
  resolve: 'upstream-balancer:resolve',
  resolveError: 'upstream-balancer:resolveError',
} as const satisfies Record<keyof BalancerEvents, string>;

/**
 * The message published on each channel: `balancer` (the Balancer that emitted the event; typed by
 * the parameter `B`, which the package root sets to `Balancer`) and the event's arguments by name,
 * the names of `BalancerEvents`. `exhausted`'s `name` is the upstream's name, as its listener gets.
 */
export interface BalancerDiagnostics<B = { readonly name: string }> {
  state: { balancer: B; server: Server; from: ServerState; to: ServerState; cause: StateCause };
  tier: { balancer: B; from: TierName; to: TierName };
  exhausted: { balancer: B; reason: ExhaustedReason; name: string };
  check: { balancer: B; server: Server; ok: boolean; reason: string; ms: number };
  fault: { balancer: B; error: UpstreamError };
  resolve: { balancer: B; line: string; added: readonly string[]; removed: readonly string[] };
  resolveError: { balancer: B; line: string; error: DnsError; kept: boolean };
}

/** The channels, held here for the life of the module (diagnostics_channel keeps them weakly). */
const DIAGNOSTICS: { readonly [K in keyof BalancerEvents]: Channel } = {
  state: channel(DIAGNOSTICS_CHANNELS.state),
  tier: channel(DIAGNOSTICS_CHANNELS.tier),
  exhausted: channel(DIAGNOSTICS_CHANNELS.exhausted),
  check: channel(DIAGNOSTICS_CHANNELS.check),
  fault: channel(DIAGNOSTICS_CHANNELS.fault),
  resolve: channel(DIAGNOSTICS_CHANNELS.resolve),
  resolveError: channel(DIAGNOSTICS_CHANNELS.resolveError),
};

/** Each event's message, one object literal per event (one hidden class per channel). */
const MESSAGES: { readonly [K in keyof BalancerEvents]: (balancer: unknown, ...args: BalancerEvents[K]) => BalancerDiagnostics<unknown>[K] } = {
  state: (balancer, server, from, to, cause) => ({ balancer, server, from, to, cause }),
  tier: (balancer, from, to) => ({ balancer, from, to }),
  exhausted: (balancer, reason, name) => ({ balancer, reason, name }),
  check: (balancer, server, ok, reason, ms) => ({ balancer, server, ok, reason, ms }),
  fault: (balancer, error) => ({ balancer, error }),
  resolve: (balancer, line, added, removed) => ({ balancer, line, added, removed }),
  resolveError: (balancer, line, error, kept) => ({ balancer, line, error, kept }),
};

/**
 * Whether anyone hears `event` from `emitter`: a listener registered on it, or a subscriber of the
 * event's diagnostics channel. Emission sites call `emitSafely` only when this is true, so an
 * unheard event costs one property load and one getter (`Channel.hasSubscribers`).
 */
export function isObserved(emitter: EventEmitter<BalancerEvents>, event: keyof BalancerEvents): boolean {
  return registrations(emitter)[event] !== undefined || DIAGNOSTICS[event].hasSubscribers;
}

// ---------------------------------------------------------------------------------------------
// Safe emission

/** eventemitter3's registrations by event name (its `_events`, created by its constructor). */
function registrations(emitter: EventEmitter<BalancerEvents>): Record<string, Registration | Registration[] | undefined> {
  return (emitter as unknown as { _events: Record<string, Registration | Registration[] | undefined> })._events;
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
 * swallowed). Publishes the event on its diagnostics channel first, when that has subscribers.
 * Callers skip the call unless `isObserved`, which spares the argument list: a failure or a
 * recovery then allocates nothing. Reads eventemitter3's registrations (`_events`, one object or an
 * array of them per event), which its `emit` stops at the first throw.
 */
export function emitSafely<K extends keyof BalancerEvents>(emitter: EventEmitter<BalancerEvents>, event: K, ...args: BalancerEvents[K]): void {
  const published = DIAGNOSTICS[event];
  // First the channel (a subscriber sees the transitions in the order they were committed, before a
  // listener reacts to one with another); diagnostics_channel reports a throwing subscriber on
  // process.nextTick as an uncaught exception, after the others ran, as callSafely does.
  if (published.hasSubscribers) published.publish((MESSAGES[event] as (b: unknown, ...a: unknown[]) => object)(emitter, ...args));
  const registered = registrations(emitter)[event];
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
