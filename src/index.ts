export { Balancer, fromNginxOptions } from './config/from-nginx';
export { Attempt } from './attempt';
export { nextUpstream, nextUpstreamPolicy, DEFAULT_NEXT_UPSTREAM } from './next-upstream';
export { upstreamTarget, connectOptions } from './target';
export { ManualClock, monotonicClock, wholeSeconds, seededRandom } from './clock';
export { UpstreamError, InvalidOptionError, AttemptStateError, ConfigError, isUpstreamError } from './errors';
export { DEFAULT_CHECK, DEFAULT_NGINX_TARGET, DEFAULT_SERVER, METHODS, NGINX_TARGETS } from './options';
export { parseUpstreams, parseConfig, balancerOptionsFromNginx } from './config/nginx';
export { formatUpstream } from './config/format';
export { explain, renderExplanation } from './config/explain';
export { simulate, renderSimulation, parseFailureWindow } from './config/simulate';
export { parseNginxTime, formatSeconds } from './config/time';
export { formatStatus, statusHandler, STATUS_CONTENT_TYPES } from './status';
export { Checker, checkPhase } from './health/checker';
export { crc32 } from './select/crc32';
export { ketamaPoints } from './select/consistent-hash';
export { probeFor, PROBES } from './health/probes/index';

export type { BalancerSnapshot, ServerPatch } from './balancer';
export type { AttemptOptions } from './attempt';
export type { NextUpstreamCondition, NextUpstreamPolicy, NextUpstreamVerdict, UpstreamOutcome } from './next-upstream';
export type { UpstreamTarget, ConnectOptionsFor } from './target';
export type { FromNginxOptions } from './config/from-nginx';
export type { ParseOptions, UpstreamConfig, ConfigWarning, ConfigResult } from './config/nginx';
export type { IncludePolicy } from './config/types';
export type { FormatOptions } from './config/format';
export type { Explanation, UpstreamExplanation, ServerExplanation, Finding } from './config/explain';
export type { SimulateOptions, SimulationResult, SimulatedConnection, FailureWindow } from './config/simulate';
export type { StatusFormat, StatusOptions, StatusHandlerOptions, StatusSnapshot, SnapshotSource } from './status';
export type { Probe, ProbeResult } from './health/probes/index';
export type { CheckHost, CheckerEnv, CheckPhase } from './health/checker';
export type { CheckTimers, NginxTarget } from './options';
export type { Clock } from './clock';
export type { ErrorCode } from './errors';
export type { BalancerEvents, StateCause, TierName, ExhaustedReason } from './events';
export type {
  BalancerOptions, ServerOptions, CheckOptions, CheckFunction, CheckTarget, BuiltinCheckType, HttpStatusClass, Method,
} from './options';
export type { Server, ServerSnapshot, ServerState } from './server';
