/**
 * `upstream-balancer/status`: the status page of nginx_upstream_check_module (json, csv, html,
 * byte for byte), the Prometheus text of every server, the node:http handler that serves them and
 * the prom-client collector (`collectBalancerMetrics`; prom-client is an optional peer: the caller
 * passes the module). Exactly what src/status/index.ts exports.
 * nginx source: the check module's `ngx_http_upstream_check_status_handler` (see src/status/).
 */

export * from '../status/index';
