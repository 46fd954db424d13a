/**
 * The primary's half of cluster health sharing (docs/cluster.md): `shareHealth(balancer)` forwards
 * every active-check result of the primary's balancer, and every admin change made through the
 * share, to each cluster worker over the IPC channel, numbered in one sequence; a worker that says
 * hello (it starts following, or it saw a gap) gets a full sync: the server list with each server's
 * admin state and check state. nginx shares one zone between its workers instead
 * (ngx_http_upstream_zone_module.c); processes cannot share memory, so the verdicts travel.
 */

import { randomBytes } from 'node:crypto';
import nodeCluster from 'node:cluster';
import type { Balancer, ServerPatch } from '../balancer';
import { InvalidOptionError, UpstreamError, show } from '../errors';
import type { ServerOptions } from '../options';
import type { Server } from '../server';
import { PROTOCOL_KEY, PROTOCOL_VERSION, type PrimaryMessage, isHello } from './messages';
import { checkStateOf, optionsOf, serversOf } from './state';

/** What the share needs of a cluster worker (`node:cluster`'s `Worker` has it). */
export interface ClusterWorker {
  send(message: object, callback: (error: Error | null) => void): boolean;
  isConnected?(): boolean;
}

/** What the share needs of the cluster (`node:cluster` in the primary has it). */
export interface ClusterPrimary {
  /** Set in a worker by `node:cluster`; the share refuses to run there. */
  readonly isPrimary?: boolean;
  readonly workers?: Readonly<Record<string, ClusterWorker | undefined>>;
  on(event: 'message', listener: (worker: ClusterWorker, message: unknown) => void): unknown;
  off(event: 'message', listener: (worker: ClusterWorker, message: unknown) => void): unknown;
}

export interface ShareHealthOptions {
  /** The cluster; default `node:cluster`. */
  cluster?: ClusterPrimary;
  /** The name in the messages; default the balancer's name. Workers follow the same name. */
  upstream?: string;
}

const ignore = (): void => {};

/**
 * The primary's side: broadcasts check results and admin changes of one upstream to every worker.
 * Make admin changes through it (`update`, `add`, `remove`, `setServers`); a change made on the
 * balancer directly reaches the workers at the next `sync()`.
 */
export class HealthShare {
  /** The upstream's name in the messages. */
  readonly upstream: string;
  /** This share's sequence: a new share (a restarted primary) is a new epoch to the workers. */
  readonly epoch = randomBytes(8).toString('hex');
  readonly #balancer: Balancer;
  readonly #cluster: ClusterPrimary;
  #seq = 0;
  #closed = false;
  readonly #onCheck = (server: Server, ok: boolean, reason: string, ms: number): void => {
    this.#broadcast({ type: 'check', id: server.id, ok, reason, ms, state: checkStateOf(server) });
  };
  /** Names resolved again: the list changed under the share (src/resolve/), so every worker resyncs. */
  readonly #onResolve = (): void => {
    this.sync();
  };
  readonly #onMessage = (worker: ClusterWorker, message: unknown): void => {
    if (isHello(message, this.upstream)) this.#send(worker, this.#syncMessage());
  };

  constructor(balancer: Balancer, options: ShareHealthOptions = {}) {
    const cluster = options.cluster ?? (nodeCluster as unknown as ClusterPrimary);
    if (cluster.isPrimary === false) throw new InvalidOptionError('cluster', 'shareHealth runs in the cluster primary; a worker calls followPrimary', undefined);
    const upstream = options.upstream ?? balancer.name;
    if (typeof upstream !== 'string' || upstream.length === 0) throw new InvalidOptionError('upstream', `Expected \`upstream\` to be a non-empty string, got \`${show(upstream)}\``, upstream);
    this.#balancer = balancer;
    this.#cluster = cluster;
    this.upstream = upstream;
    balancer.on('check', this.#onCheck);
    balancer.on('resolve', this.#onResolve);
    cluster.on('message', this.#onMessage);
    // Workers that followed before the share existed have had no answer to their hello.
    this.sync();
  }

  /** The number of the latest message broadcast (0 before the first). */
  get seq(): number {
    return this.#seq;
  }

  /** `balancer.update(id, patch)`, then the same change in every worker. */
  update(id: string, patch: ServerPatch): Server {
    this.#open();
    const server = this.#balancer.update(id, patch);
    this.#broadcast({ type: 'update', id, patch, state: checkStateOf(server) });
    return server;
  }

  /** `balancer.add(server)`, then the same in every worker. */
  add(server: ServerOptions): Server {
    this.#open();
    const added = this.#balancer.add(server);
    this.#broadcast({ type: 'add', server: optionsOf(added), state: checkStateOf(added) });
    return added;
  }

  /** `balancer.remove(id)`, then the same in every worker. */
  remove(id: string): void {
    this.#open();
    this.#balancer.remove(id);
    this.#broadcast({ type: 'remove', id });
  }

  /** `balancer.setServers(list)`, then the same in every worker. */
  setServers(list: ServerOptions[]): void {
    this.#open();
    this.#balancer.setServers(list);
    this.#broadcast({ type: 'servers', servers: serversOf(this.#balancer) });
  }

  /** Sends the whole state (server list, admin and check state) to every worker. */
  sync(): void {
    this.#open();
    const message = this.#syncMessage();
    for (const worker of this.#workers()) this.#send(worker, message);
  }

  /** Stops forwarding: unsubscribes from the balancer and the cluster. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#balancer.off('check', this.#onCheck);
    this.#balancer.off('resolve', this.#onResolve);
    this.#cluster.off('message', this.#onMessage);
  }

  #open(): void {
    if (this.#closed) throw new UpstreamError('ERR_UPSTREAM_CLOSED', `The health share of upstream ${show(this.upstream)} is closed`, undefined);
  }

  #envelope(): { [PROTOCOL_KEY]: typeof PROTOCOL_VERSION; upstream: string; epoch: string; seq: number } {
    return { [PROTOCOL_KEY]: PROTOCOL_VERSION, upstream: this.upstream, epoch: this.epoch, seq: this.#seq };
  }

  #syncMessage(): PrimaryMessage {
    return { ...this.#envelope(), type: 'sync', servers: serversOf(this.#balancer) };
  }

  /** Numbers a change and sends it to every worker. */
  #broadcast(body: DistributiveOmit<Exclude<PrimaryMessage, { type: 'sync' }>, typeof PROTOCOL_KEY | 'upstream' | 'epoch' | 'seq'>): void {
    this.#seq += 1;
    const message = { ...this.#envelope(), ...body } as PrimaryMessage;
    for (const worker of this.#workers()) this.#send(worker, message);
  }

  *#workers(): Iterable<ClusterWorker> {
    const workers = this.#cluster.workers;
    if (workers === undefined) return;
    for (const worker of Object.values(workers)) if (worker !== undefined && worker.isConnected?.() !== false) yield worker;
  }

  /** A worker that is exiting misses the message; the callback keeps its error from being thrown. */
  #send(worker: ClusterWorker, message: PrimaryMessage): void {
    try {
      worker.send(message, ignore);
    } catch {
      // a closed channel: the worker is gone
    }
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * In the cluster primary: shares `balancer`'s active-check verdicts and admin changes with every
 * worker (each worker calls `followPrimary`). Run the checks here (`balancer.start()`), not in the
 * workers.
 *
 * @example
 * import cluster from 'node:cluster';
 * import { shareHealth } from 'upstream-balancer/cluster';
 * const share = shareHealth(balancer);       // primary: balancer.start() runs the checks
 * for (let i = 0; i < 4; i++) cluster.fork();
 * share.update('mx2', { down: true });      // every worker takes mx2 out too
 */
export function shareHealth(balancer: Balancer, options?: ShareHealthOptions): HealthShare {
  return new HealthShare(balancer, options);
}
