/**
 * The worker's half of cluster health sharing (docs/cluster.md): `followPrimary(balancer)` applies
 * what the primary's `shareHealth` sends, in the primary's order: each check result through
 * `reportCheck` (the same rise/fall; the worker never probes), each admin change through the same
 * `update` / `add` / `remove` / `setServers`, and a full sync through `setServers` and
 * `restoreCheck`. Every message carries the check state it left on the primary; a worker whose own
 * rise/fall arrived elsewhere adopts that state. A gap in the sequence, a new epoch or a change the
 * balancer refuses asks for a full sync; anything that is not this protocol is ignored. nginx's
 * workers read one zone instead (ngx_http_upstream_zone_module.c).
 */

import type { Balancer } from '../balancer';
import { InvalidOptionError, UpstreamError, show } from '../errors';
import { type CheckState, type PrimaryMessage, type SyncedServer, helloMessage, parseMessage } from './messages';
import { sameCheckState } from './state';

/** What the follower needs of its channel to the primary (`process` in a cluster worker has it). */
export interface PrimaryChannel {
  send?(message: object, callback: (error: Error | null) => void): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

export interface FollowPrimaryOptions {
  /** The channel to the primary; default `process`. */
  process?: PrimaryChannel;
  /** The name in the messages; default the balancer's name (the primary's share uses the same). */
  upstream?: string;
  /** Called after each full sync is applied, with the sequence number it brought the worker to. */
  onSync?: (seq: number) => void;
  /**
   * Called when the balancer refused a change of the primary (the worker's server list had drifted,
   * e.g. changed locally); the follower then asks for a full sync.
   */
  onError?: (error: unknown) => void;
}

const ignore = (): void => {};

/** The worker's side: applies one upstream's verdicts and admin changes from the primary. */
export class PrimaryFollower {
  /** The upstream's name in the messages. */
  readonly upstream: string;
  /** Settles at the first full sync; rejects if the follower is closed before it. */
  readonly ready: Promise<void>;
  readonly #balancer: Balancer;
  readonly #channel: PrimaryChannel;
  readonly #onSync: ((seq: number) => void) | undefined;
  readonly #onError: ((error: unknown) => void) | undefined;
  #epoch = '';
  #seq = -1;
  #synced = false;
  /** A hello is out: messages are dropped until its sync arrives. */
  #asked = false;
  #closed = false;
  #settle: { resolve: () => void; reject: (error: Error) => void } | null = null;
  readonly #onMessage = (message: unknown): void => {
    if (this.#closed) return;
    const m = parseMessage(message, this.upstream);
    if (m === null) return;
    try {
      this.#receive(m);
    } catch (error) {
      // The balancer refused the change: this worker no longer matches the primary.
      this.#synced = false;
      this.#ask();
      if (this.#onError !== undefined) {
        try {
          this.#onError(error);
        } catch (thrown) {
          queueMicrotask(() => {
            throw thrown;
          });
        }
      }
    }
  };

  constructor(balancer: Balancer, options: FollowPrimaryOptions = {}) {
    const channel = options.process ?? (process as unknown as PrimaryChannel);
    if (typeof channel.send !== 'function') throw new InvalidOptionError('process', 'followPrimary runs in a cluster worker (a process with an IPC channel to the primary)', undefined);
    const upstream = options.upstream ?? balancer.name;
    if (typeof upstream !== 'string' || upstream.length === 0) throw new InvalidOptionError('upstream', `Expected \`upstream\` to be a non-empty string, got \`${show(upstream)}\``, upstream);
    this.#balancer = balancer;
    this.#channel = channel;
    this.#onSync = options.onSync;
    this.#onError = options.onError;
    this.upstream = upstream;
    this.ready = new Promise<void>((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    this.ready.catch(ignore); // closed before the first sync: only those who wait see it
    channel.on('message', this.#onMessage);
    this.#ask();
  }

  /** True from a full sync until a gap in the sequence (or a refused change) asks for the next one. */
  get synced(): boolean {
    return this.#synced;
  }

  /** The sequence number of the latest message applied (-1 before the first sync). */
  get seq(): number {
    return this.#seq;
  }

  /** Asks the primary for a full sync now. */
  resync(): void {
    if (this.#closed) throw new UpstreamError('ERR_UPSTREAM_CLOSED', `The follower of upstream ${show(this.upstream)} is closed`, undefined);
    this.#synced = false;
    this.#asked = false;
    this.#ask();
  }

  /** Stops applying the primary's messages; the balancer keeps the state it has. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#channel.off('message', this.#onMessage);
    this.#settle?.reject(new UpstreamError('ERR_UPSTREAM_CLOSED', `The follower of upstream ${show(this.upstream)} was closed before its first sync`, undefined));
    this.#settle = null;
  }

  #ask(): void {
    if (this.#asked) return;
    this.#asked = true;
    try {
      this.#channel.send?.(helloMessage(this.upstream), ignore);
    } catch {
      // the channel is closed: the primary is gone
    }
  }

  #receive(m: PrimaryMessage): void {
    if (m.type === 'sync') {
      // the same epoch's older state is stale; a new epoch (a new share) starts over
      if (m.epoch === this.#epoch && m.seq < this.#seq) return;
      this.#epoch = m.epoch;
      this.#seq = m.seq;
      this.#synced = false;
      this.#applyList(m.servers);
      this.#synced = true;
      this.#asked = false;
      this.#settle?.resolve();
      this.#settle = null;
      this.#onSync?.(m.seq);
      return;
    }
    if (m.epoch === this.#epoch && m.seq <= this.#seq) return; // stale
    if (!this.#synced || m.epoch !== this.#epoch || m.seq !== this.#seq + 1) {
      // before the first sync, after a gap, or from a new share: the next sync covers it
      this.#synced = false;
      this.#ask();
      return;
    }
    this.#seq = m.seq;
    const b = this.#balancer;
    switch (m.type) {
      case 'check':
        b.reportCheck(m.id, m.ok, m.reason, m.ms);
        this.#adopt(m.id, m.state);
        break;
      case 'update':
        b.update(m.id, m.patch);
        this.#adopt(m.id, m.state);
        break;
      case 'add':
        b.add(m.server);
        this.#adopt(m.server.id, m.state);
        break;
      case 'remove':
        b.remove(m.id);
        break;
      case 'servers':
        this.#applyList(m.servers);
        break;
    }
  }

  /** The primary's server list and check states, as `setServers` and `restoreCheck`. */
  #applyList(servers: SyncedServer[]): void {
    this.#balancer.setServers(servers.map((s) => s.server));
    for (const s of servers) this.#adopt(s.server.id, s.check);
  }

  /** Sets the primary's check state on the server when its own differs. */
  #adopt(id: string, state: CheckState | null): void {
    if (state !== null && !sameCheckState(this.#balancer.get(id), state)) this.#balancer.restoreCheck(id, state);
  }
}

/**
 * In a cluster worker: applies the primary's check verdicts and admin changes to `balancer` (the
 * primary calls `shareHealth`). Build the balancer from the same options as the primary's and do
 * not `start()` its checks: the primary's checker is the only one. `ready` settles at the first
 * full sync.
 *
 * @example
 * import { followPrimary } from 'upstream-balancer/cluster';
 * const follow = followPrimary(balancer);   // worker: no balancer.start()
 * await follow.ready;                       // the primary's verdicts are in
 * server.listen(25);
 */
export function followPrimary(balancer: Balancer, options?: FollowPrimaryOptions): PrimaryFollower {
  return new PrimaryFollower(balancer, options);
}
