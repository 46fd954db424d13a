/**
 * The three functions of the configuration and status side that the documented API imports from the
 * package root (`parseUpstreams`: DESIGN, README, docs/config.md; `formatStatus`: DESIGN;
 * `statusHandler`: docs/health-checks.md). Each loads its module on its first call
 * (src/entries/lazy.ts); the same functions, loaded eagerly, are on `upstream-balancer/config` and
 * `upstream-balancer/status`. nginx source: none (packaging).
 */

import type * as Nginx from '../config/nginx';
import type * as Status from '../status';
import { configModule, statusModule } from './lazy';

/**
 * Every `upstream` block of nginx configuration text with its context and the `BalancerOptions` it
 * means; `ConfigError` (nginx's message, file, line, column) for invalid text. The first call loads
 * the parser. Same as `parseUpstreams` of `upstream-balancer/config`.
 */
export function parseUpstreams(...args: Parameters<typeof Nginx.parseUpstreams>): ReturnType<typeof Nginx.parseUpstreams> {
  return configModule().parseUpstreams(...args);
}

/**
 * The status page of balancer snapshots in the check module's json / csv / html formats or
 * Prometheus text. The first call loads the status module. Same as `formatStatus` of
 * `upstream-balancer/status`.
 */
export function formatStatus(...args: Parameters<typeof Status.formatStatus>): ReturnType<typeof Status.formatStatus> {
  return statusModule().formatStatus(...args);
}

/**
 * A node:http request handler serving the status page of some balancers. The call loads the status
 * module. Same as `statusHandler` of `upstream-balancer/status`.
 */
export function statusHandler(...args: Parameters<typeof Status.statusHandler>): ReturnType<typeof Status.statusHandler> {
  return statusModule().statusHandler(...args);
}
