/**
 * What the cluster messages carry of a server, read from the balancer's records: its configuration
 * as `ServerOptions` and its active-check state (`Balancer.restoreCheck` takes the same shape). The
 * check state is nginx_upstream_check_module's per-peer status (`ngx_http_upstream_check_peer_shm_t`:
 * down, rise and fall counts), plus the results counted so far.
 */

import type { Balancer } from '../balancer';
import type { ServerOptions } from '../options';
import { type Server, ServerRecord } from '../server';
import type { CheckState, SyncedServer } from './messages';

/** A server's check state as its balancer holds it; null when it has none (checks not configured). */
export function checkStateOf(server: Server | undefined): CheckState | null {
  if (!(server instanceof ServerRecord) || server.check === null) return null;
  const { down, pending, rise, fall } = server.check;
  return { down, pending, rise, fall, passed: server.checksPassed, failed: server.checksFailed };
}

/** Whether the server's check state is `state` already. */
export function sameCheckState(server: Server | undefined, state: CheckState): boolean {
  const now = checkStateOf(server);
  return (
    now !== null &&
    now.down === state.down &&
    now.pending === state.pending &&
    now.rise === state.rise &&
    now.fall === state.fall &&
    now.passed === state.passed &&
    now.failed === state.failed
  );
}

/** A server's configuration as `ServerOptions`: every parameter of the field table, the admin flags included. */
export function optionsOf(server: Server): ServerOptions & { id: string } {
  if (server instanceof ServerRecord) return { ...server.config };
  const { id, address, weight, maxFails, failTimeout, maxConns, backup, down, drain, route } = server;
  return { id, address, weight, maxFails, failTimeout, maxConns, backup, down, drain, ...(route === undefined ? {} : { route }) };
}

/** Every server of `balancer` in configuration order, with its check state. */
export function serversOf(balancer: Balancer): SyncedServer[] {
  return balancer.servers.map((s) => ({ server: optionsOf(s), check: checkStateOf(s) }));
}
