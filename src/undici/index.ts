/**
 * `upstream-balancer/undici`: an undici Dispatcher over a Balancer (docs/undici.md). A separate
 * entry point, so that a proxy that imports the package root never loads undici, an optional peer
 * dependency.
 */

export { BalancedDispatcher } from './dispatcher';
export { SYNTHESIZED_HEADER } from './http';

export type { BalancedDispatcherOptions } from './dispatcher';
export type { BalancedContext, UpstreamTry } from './walk';
export type { BalancedAttempt, BalancerLike, NextUpstreamConditionName, NextUpstreamPolicyLike, UpstreamServerLike } from './types';
export type { SynthesizedReason } from './http';
export type { StickyVariables } from './sticky';
