/**
 * `upstream-balancer/status`: the status page of nginx_upstream_check_module (json, csv, html,
 * byte for byte), Prometheus text, and the node:http handler that serves them.
 * nginx source: the check module's `ngx_http_upstream_check_status_handler` (see src/status.ts).
 */

export { formatStatus, statusHandler, STATUS_CONTENT_TYPES } from '../status';

export type { StatusFormat, StatusLayout, StatusOptions, StatusHandlerOptions, StatusSnapshot, SnapshotSource } from '../status';
