/**
 * `upstream-balancer/etcd`: a fleet of balancers on several machines sharing one upstream's admin
 * state and one elected active checker through a consistent store, etcd first (docs/fleet.md).
 * `joinFleet(balancer, { store, check })` attaches a balancer; `etcdStore(client, { upstream })`
 * is the etcd backend over an `etcd3` client (an optional peer dependency). No nginx source: nginx
 * shares no state between machines (NGINX Plus's zone_sync shares sticky and limit state, not health).
 */

export { FleetMember, joinFleet } from './fleet';
export { EtcdFleetStore, etcdStore } from './etcd-store';
export { FLEET_ERROR, FleetError, FleetKeys } from './store';

export type { FleetEvents, FleetOptions, FleetRole } from './fleet';
export type { EtcdStoreOptions } from './etcd-store';
export type {
  DesiredServer,
  FleetBatch,
  FleetLease,
  FleetSnapshot,
  FleetStore,
  FleetWatch,
  FleetWatchListener,
  Leadership,
  Verdict,
} from './store';
export type { CheckState } from '../cluster/messages';
