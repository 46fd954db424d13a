export { Balancer } from './balancer';
export { Attempt } from './attempt';
export { ManualClock, monotonicClock, wholeSeconds, seededRandom } from './clock';
export { UpstreamError, InvalidOptionError, AttemptStateError, ConfigError, isUpstreamError } from './errors';
export { DEFAULT_CHECK, DEFAULT_SERVER, METHODS } from './options';

export type { BalancerSnapshot, ServerPatch } from './balancer';
export type { Clock } from './clock';
export type { ErrorCode } from './errors';
export type { BalancerEvents, StateCause, TierName, ExhaustedReason } from './events';
export type {
  BalancerOptions, ServerOptions, CheckOptions, CheckFunction, CheckTarget, BuiltinCheckType, HttpStatusClass, Method,
} from './options';
export type { Server, ServerSnapshot, ServerState } from './server';
