/**
 * Upstream zones: one upstream state shared by balancers in several worker threads (nginx's
 * `zone`, ngx_http_upstream_zone_module.c). `createZone` makes one, `Balancer.fromZone` opens it in
 * any thread (src/entries/balancer.ts); docs/embedding.md has the recipes.
 */

export { createZone } from './zone';
export type { UpstreamZone, ZoneOptions, SharedOptions } from './zone';
export { openZone, processClock } from './balancer';
export type { ZoneLocalOptions, ZoneControls } from './balancer';
