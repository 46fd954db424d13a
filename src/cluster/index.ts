/**
 * `upstream-balancer/cluster`: health state shared across node:cluster processes (docs/cluster.md).
 * Processes cannot share nginx's zone (ngx_http_upstream_zone_module.c keeps the peers in shared
 * memory); instead the primary runs the active checks and broadcasts each verdict and each admin
 * change over the cluster's IPC channel (`shareHealth`), and every worker applies them to its own
 * balancer (`followPrimary`). Health state converges; the round-robin order, the passive failure
 * windows and the connection counts stay per process.
 */

export { HealthShare, shareHealth } from './primary';
export { PrimaryFollower, followPrimary } from './worker';
export { PROTOCOL_KEY, PROTOCOL_VERSION, parseMessage } from './messages';

export type { ClusterPrimary, ClusterWorker, ShareHealthOptions } from './primary';
export type { FollowPrimaryOptions, PrimaryChannel } from './worker';
export type {
  AddMessage,
  CheckMessage,
  CheckState,
  HelloMessage,
  PrimaryMessage,
  RemoveMessage,
  ServersMessage,
  SyncMessage,
  SyncedServer,
  UpdateMessage,
} from './messages';
