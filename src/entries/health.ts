/**
 * `upstream-balancer/health`: the active checks on their own: the `Checker` scheduler, the probe
 * registry (`probeFor`, `PROBES`: tcp, smtp, http, tls / ssl_hello, mysql) and their types. A
 * Balancer with `check` options loads this entry itself when its first checker is built.
 * nginx source: nginx_upstream_check_module (its timers and `check_*_handler`s), see src/health/.
 */

export { Checker, checkPhase } from '../health/checker';
export { probeFor, PROBES } from '../health/probes/index';

export type { Probe, ProbeResult } from '../health/probes/index';
export type { CheckHost, CheckerEnv, CheckPhase } from '../health/checker';
export type { StartOptions, CloseOptions } from '../lifecycle';
