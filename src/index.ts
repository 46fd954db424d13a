/**
 * `upstream-balancer`, the package root: the core. `Balancer` and its attempts, the options and
 * their defaults, events, errors, clocks, the retry rule (`nextUpstream`) and server addresses as
 * `net.connect` options. Importing it loads no parser, no node:fs, no probe and no status page.
 *
 * Kept here although they belong to a subpath, because the documented API imports them from the
 * root: `Balancer.fromNginx` / `fromNginxAsync`, `parseUpstreams`, `formatStatus` and
 * `statusHandler`. Each loads its module on its first call (src/entries/lazy.ts). The rest lives
 * in `upstream-balancer/config`, `/health`, `/status`, `/sticky` and `/undici` (docs/architecture.md).
 * nginx source: none here (see each module).
 */

export { Balancer } from './entries/balancer';
export { parseUpstreams, formatStatus, statusHandler } from './entries/deferred';
export { Attempt } from './attempt';
export { nextUpstream, nextUpstreamPolicy, DEFAULT_NEXT_UPSTREAM } from './next-upstream';
export { upstreamTarget, connectOptions } from './target';
export { ManualClock, monotonicClock, wholeSeconds, seededRandom } from './clock';
export { UpstreamError, InvalidOptionError, AttemptStateError, ConfigError, isUpstreamError } from './errors';
export { DEFAULT_CHECK, DEFAULT_NGINX_TARGET, DEFAULT_SERVER, METHODS, NGINX_TARGETS } from './options';
export { crc32 } from './select/crc32';
export { DIAGNOSTICS_CHANNELS } from './events';
export { peerName, sessionId } from './session-id';
export { ketamaPoints } from './select/consistent-hash';
export { createZone, processClock } from './zone';

export type { BalancerSnapshot, ServerPatch, BalancerService, SetServersOptions } from './balancer';
export type { AttemptOptions } from './attempt';
export type { NextUpstreamCondition, NextUpstreamPolicy, NextUpstreamVerdict, UpstreamOutcome } from './next-upstream';
export type { UpstreamTarget, ConnectOptionsFor } from './target';
export type { CheckTimers, NginxTarget } from './options';
export type { Clock } from './clock';
export type { ErrorCode } from './errors';
export type { BalancerEvents, BalancerDiagnostics, StateCause, TierName, ExhaustedReason } from './events';
export type { StartOptions, CloseOptions } from './lifecycle';
export type { DnsError } from './resolve/dns';
export type {
  BalancerOptions, ServerOptions, CheckOptions, CheckFunction, CheckTarget, BuiltinCheckType, HttpStatusClass, Method,
} from './options';
export type { Server, ServerSnapshot, ServerState } from './server';
export type { UpstreamZone, ZoneOptions, SharedOptions, ZoneLocalOptions, ZoneControls } from './zone';
// The types of the root's configuration and status functions (their values are on the subpaths).
export type { FromNginxOptions } from './config/from-nginx';
export type { ParseOptions, UpstreamConfig, ConfigWarning } from './config/nginx';
export type { StatusFormat, StatusOptions, StatusSnapshot, StatusHandlerOptions, SnapshotSource } from './status';
