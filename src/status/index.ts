/**
 * The status page and metrics (the `upstream-balancer/status` subpath): nginx_upstream_check_module's
 * `check_status` pages (json, csv, html) and the Prometheus text of every server (`formatStatus`),
 * the `node:http` handler serving them (`statusHandler`) and a prom-client collector
 * (`collectBalancerMetrics`). An edge of the package: the core never imports it.
 *
 * Follows the check module's `ngx_http_upstream_check_status_*` (commit e538034); see rows.ts,
 * pages.ts, handler.ts; the metrics (metrics.ts, prometheus.ts, prom-client.ts) are the library's.
 */

export { formatStatus, STATUS_CONTENT_TYPES } from './format';
export { queryParam, statusHandler, type SnapshotSource, type StatusHandlerOptions } from './handler';
export { DEFAULT_METRIC_PREFIX } from './metrics';
export {
  collectBalancerMetrics,
  type BalancerMetrics,
  type BalancerMetricsOptions,
  type PromClient,
  type PromMetric,
  type PromMetricConfig,
  type PromRegistry,
} from './prom-client';
export type { StatusFormat, StatusLayout, StatusOptions, StatusServer, StatusServers, StatusSnapshot } from './rows';
