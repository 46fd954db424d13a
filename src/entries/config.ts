/**
 * `upstream-balancer/config`: nginx configuration text in and out. The parser (`parseUpstreams`,
 * `parseConfig`, `balancerOptionsFromNginx`), `Balancer` with `fromNginx` / `fromNginxAsync` (the
 * root's class, loaded here with its parser), `fromNginxOptions`, `formatUpstream`, `explain`,
 * `simulate`, nginx's time syntax, and the host-name resolution of `server` lines (`resolve`,
 * `service=`, load-time names). nginx source: ngx_conf_file.c, ngx_http_upstream.c, ngx_inet.c,
 * ngx_http_upstream_zone_module.c, ngx_resolver.c (see src/config/ and src/resolve/).
 */

export { Balancer } from './balancer';
export { fromNginxOptions } from '../config/from-nginx';
export { parseUpstreams, parseConfig, balancerOptionsFromNginx, upstreamFromNginx } from '../config/nginx';
export { formatUpstream } from '../config/format';
export { explain, renderExplanation } from '../config/explain';
export { simulate, renderSimulation, parseFailureWindow } from '../config/simulate';
export { parseNginxTime, formatSeconds } from '../config/time';
export { ConfigError } from '../errors';
export { NameResolver } from '../resolve/resolver';
export { NodeDnsClient, DnsError } from '../resolve/dns';
export { serviceName } from '../resolve/lookup';
export { systemLookup } from '../resolve/load';

export type { FromNginxOptions } from '../config/from-nginx';
export type { ParseOptions, UpstreamConfig, ConfigWarning, ConfigResult } from '../config/nginx';
export type { IncludePolicy, UpstreamResolveConfig, ResolverConfig, ResolveServerConfig } from '../config/types';
export type { FormatOptions } from '../config/format';
export type { Explanation, UpstreamExplanation, ServerExplanation, Finding } from '../config/explain';
export type { SimulateOptions, SimulationResult, SimulatedConnection, SimulatedSessions, FailureWindow } from '../config/simulate';
export type { NameResolverOptions, NameResolverEnv } from '../resolve/resolver';
export type { NameLine } from '../resolve/peers';
export type { DnsClient, AddressRecord, ServiceRecord, DnsFailure, NodeDnsOptions } from '../resolve/dns';
export type { HostLookup } from '../resolve/load';
