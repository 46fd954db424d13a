/**
 * The etcd backend of the fleet store (`etcdStore(client, { upstream, prefix })`), over an `etcd3`
 * client the application creates (etcd3 is an optional peer: this module imports only its types).
 * Reads are one range over the upstream's prefix at one revision; the watch starts at the next
 * revision and delivers each revision's events as one batch; every write is one transaction (etcd
 * caps a transaction at 128 operations by default, `--max-txn-ops`). The election is the leader key
 * created only when absent (`Create == 0`) and attached to the candidate's lease; its create
 * revision is the term, and a verdict is written only while the leader key still has that create
 * revision. No nginx source (docs/fleet.md).
 */

import type { Etcd3, IKeyValue, IWatchResponse, Lease } from 'etcd3';
import { InvalidOptionError, show } from '../errors';
import {
  type DesiredServer,
  FleetError,
  FleetKeys,
  type FleetBatch,
  type FleetLease,
  type FleetSnapshot,
  type FleetStore,
  type FleetWatch,
  type FleetWatchListener,
  type Leadership,
  type Verdict,
  desiredValue,
  parseDesired,
  parseLeader,
  parseVerdict,
  verdictValue,
} from './store';

export interface EtcdStoreOptions {
  /** The upstream's name in the keys. */
  upstream: string;
  /** The key prefix of the fleet; default `upstream-balancer`. */
  prefix?: string;
  /** Every call to etcd fails after this many ms (default 3000): an unreachable etcd becomes an error, not a wait. */
  callTimeout?: number;
}

/** Resolves as `promise`, or rejects with a FleetError after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FleetError(`etcd did not answer ${what} within ${ms} ms`)), ms);
    timer.unref();
  });
  promise.catch(() => {}); // a late failure after the timeout is not unhandled
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

type Read = { kind: 'server'; id: string; value: DesiredServer | null } | { kind: 'verdict'; value: Verdict | null } | { kind: 'leader'; value: Leadership | null } | { kind: 'skip' };

/** A fleet store in etcd. */
export class EtcdFleetStore implements FleetStore {
  readonly upstream: string;
  readonly keys: FleetKeys;
  readonly #client: Etcd3;
  readonly #timeout: number;

  constructor(client: Etcd3, options: EtcdStoreOptions) {
    if (typeof client !== 'object' || client === null || typeof (client as Etcd3).if !== 'function') {
      throw new InvalidOptionError('client', `Expected \`client\` to be an etcd3 client (new Etcd3(...)), got \`${show(client)}\``, client);
    }
    const { upstream, prefix = 'upstream-balancer', callTimeout = 3000 } = options ?? ({} as EtcdStoreOptions);
    if (typeof upstream !== 'string' || upstream.length === 0) throw new InvalidOptionError('upstream', `Expected \`upstream\` to be a non-empty string, got \`${show(upstream)}\``, upstream);
    if (typeof prefix !== 'string' || prefix.length === 0) throw new InvalidOptionError('prefix', `Expected \`prefix\` to be a non-empty string, got \`${show(prefix)}\``, prefix);
    if (!Number.isSafeInteger(callTimeout) || callTimeout <= 0) throw new InvalidOptionError('callTimeout', `Expected \`callTimeout\` to be a positive integer (ms), got \`${show(callTimeout)}\``, callTimeout);
    this.#client = client;
    this.upstream = upstream;
    this.keys = new FleetKeys(prefix, upstream);
    this.#timeout = callTimeout;
  }

  async load(): Promise<FleetSnapshot> {
    const res = await within(this.#client.getAll().prefix(this.keys.base).exec(), this.#timeout, 'a load');
    const snapshot: FleetSnapshot = { revision: Number(res.header.revision), servers: [], verdicts: [], leader: null, malformed: [] };
    for (const kv of res.kvs) {
      const read = this.#read(kv, false);
      if (read.kind === 'skip') continue;
      if (read.value === null) snapshot.malformed.push(kv.key.toString());
      else if (read.kind === 'server') snapshot.servers.push(read.value);
      else if (read.kind === 'verdict') snapshot.verdicts.push(read.value);
      else snapshot.leader = read.value;
    }
    return snapshot;
  }

  async watch(afterRevision: number, listener: FleetWatchListener): Promise<FleetWatch> {
    const watcher = await within(this.#client.watch().prefix(this.keys.base).startRevision(String(afterRevision + 1)).create(), this.#timeout, 'a watch');
    let ended = false;
    const end = (error: unknown): void => {
      if (ended) return;
      ended = true;
      watcher.cancel().catch(() => {});
      listener.error(error);
    };
    watcher.on('data', (res: IWatchResponse) => {
      if (ended) return;
      for (const batch of this.#batches(res)) listener.batch(batch);
    });
    // etcd3 reconnects a watch on its own, from the revision it reached; an error it cannot
    // resume from (compaction, a cancel by the server) ends the watch.
    watcher.on('error', (error) => end(error));
    return {
      close: async () => {
        ended = true;
        await watcher.cancel().catch(() => {});
      },
    };
  }

  async seed(servers: DesiredServer[]): Promise<boolean> {
    const c = this.#client;
    const ops = [c.put(this.keys.seeded).value('1'), ...servers.map((d) => c.put(this.keys.server(d.server.id)).value(desiredValue(d)))];
    const res = await within(c.if(this.keys.seeded, 'Create', '==', 0).then(...ops).commit(), this.#timeout, 'a seed');
    return res.succeeded;
  }

  async writeServers(put: DesiredServer[], remove: string[]): Promise<number> {
    const c = this.#client;
    const ops = [
      ...put.map((d) => c.put(this.keys.server(d.server.id)).value(desiredValue(d))),
      ...remove.map((id) => c.delete().key(this.keys.server(id))),
      c.put(this.keys.seeded).value('1'),
    ];
    // An always-true comparison: a transaction without one is not expressible in etcd3's builder.
    const res = await within(c.if(this.keys.seeded, 'Version', '>', -1).then(...ops).commit(), this.#timeout, 'a write');
    return Number(res.header.revision);
  }

  async grantLease(ttlSeconds: number, onLost: (error: unknown) => void): Promise<FleetLease> {
    const lease: Lease = this.#client.lease(ttlSeconds);
    let lost = false;
    let lastAlive = Date.now();
    let watchdog: NodeJS.Timeout | undefined;
    const lose = (error: unknown): void => {
      if (lost) return;
      lost = true;
      clearTimeout(watchdog);
      lease.release();
      onLost(error);
    };
    lease.on('lost', lose);
    lease.on('keepaliveSucceeded', () => {
      lastAlive = Date.now();
      clearTimeout(watchdog);
      watchdog = undefined;
    });
    // etcd3 reports `lost` only at twice the TTL; the lease may be gone on the server at one TTL.
    // At one TTL without a renewal, one direct keep-alive decides: etcd extends every lease when it
    // elects a new raft leader, so after the loss of a member the lease is often still alive, and
    // then the member keeps it (and its role) instead of falling back.
    lease.on('keepaliveFailed', (error) => {
      if (watchdog !== undefined || lost) return;
      watchdog = setTimeout(() => {
        const unreachable = new FleetError(`etcd unreachable for the lease's TTL (${ttlSeconds} s)`, undefined, { cause: error });
        within(lease.keepaliveOnce(), this.#timeout, 'a keep-alive').then(
          (res) => {
            if (Number(res.TTL) <= 0) return lose(unreachable);
            lastAlive = Date.now();
            watchdog = undefined;
          },
          () => lose(unreachable),
        );
      }, Math.max(0, lastAlive + ttlSeconds * 1000 - Date.now()));
      watchdog.unref();
    });
    const id = await within(lease.grant(), this.#timeout, 'a lease grant').catch((error: unknown) => {
      lost = true;
      lease.release();
      throw error;
    });
    lastAlive = Date.now();
    return {
      id,
      revoke: async () => {
        lost = true;
        clearTimeout(watchdog);
        await within(lease.revoke(), this.#timeout, 'a lease revoke').catch(() => lease.release());
      },
    };
  }

  async campaign(lease: FleetLease, candidate: string): Promise<Leadership> {
    const c = this.#client;
    const key = this.keys.leader;
    for (let round = 0; round < 3; round++) {
      const res = await within(
        c.if(key, 'Create', '==', 0).then(c.put(key).value(JSON.stringify({ candidate })).lease(lease.id)).else(c.get(key)).commit(),
        this.#timeout,
        'a campaign',
      );
      if (res.succeeded) return { candidate, term: Number(res.header.revision), lease: lease.id };
      const kv = res.responses[0]?.response_range?.kvs[0];
      if (kv === undefined) continue; // deleted in between: try again
      const leader = parseLeader(kv.value.toString(), Number(kv.create_revision), String(kv.lease));
      if (leader === null) throw new FleetError(`The leader key ${show(key)} holds a malformed value`, kv.value.toString());
      return leader;
    }
    throw new FleetError(`The leader key ${show(key)} kept changing during the campaign`);
  }

  async publish(leader: Leadership, verdict: Verdict): Promise<boolean> {
    const c = this.#client;
    const res = await within(
      c.if(this.keys.leader, 'Create', '==', leader.term).then(c.put(this.keys.verdict(verdict.id)).value(verdictValue(verdict))).commit(),
      this.#timeout,
      'a verdict',
    );
    return res.succeeded;
  }

  async resign(leader: Leadership): Promise<void> {
    const c = this.#client;
    await within(c.if(this.keys.leader, 'Create', '==', leader.term).then(c.delete().key(this.keys.leader)).commit(), this.#timeout, 'a resign');
  }

  /** The client belongs to the application: closing the store leaves it open. */
  async close(): Promise<void> {}

  /** One batch per revision of a watch response (etcd may send several revisions in one). */
  *#batches(res: IWatchResponse): Iterable<FleetBatch> {
    let batch: FleetBatch | null = null;
    for (const event of res.events) {
      const revision = Number(event.kv.mod_revision);
      if (batch !== null && batch.revision !== revision) {
        yield batch;
        batch = null;
      }
      batch ??= { revision, servers: [], verdicts: [], malformed: [] };
      const read = this.#read(event.kv, event.type === 'Delete');
      if (read.kind === 'skip') continue;
      if (read.kind === 'server') {
        if (read.value === null && event.type !== 'Delete') batch.malformed.push(event.kv.key.toString());
        else batch.servers.push({ id: read.id, desired: read.value });
      } else if (read.kind === 'verdict') {
        if (read.value === null) {
          if (event.type !== 'Delete') batch.malformed.push(event.kv.key.toString());
        } else batch.verdicts.push(read.value);
      } else if (read.value === null && event.type !== 'Delete') batch.malformed.push(event.kv.key.toString());
      else batch.leader = read.value;
    }
    if (batch !== null) yield batch;
  }

  #read(kv: IKeyValue, deleted: boolean): Read {
    const key = kv.key.toString();
    const what = this.keys.classify(key);
    if (what.kind === 'other' || what.kind === 'seeded') return { kind: 'skip' };
    if (deleted) return what.kind === 'server' ? { kind: 'server', id: what.id, value: null } : { kind: what.kind, value: null } as Read;
    const text = kv.value.toString();
    if (what.kind === 'server') return { kind: 'server', id: what.id, value: parseDesired(text, what.id) };
    if (what.kind === 'verdict') return { kind: 'verdict', value: parseVerdict(text, what.id) };
    return { kind: 'leader', value: parseLeader(text, Number(kv.create_revision), String(kv.lease)) };
  }
}

/**
 * A fleet store for one upstream in etcd, over an etcd3 client the application owns.
 *
 * @example
 * import { Etcd3 } from 'etcd3';
 * import { etcdStore } from 'upstream-balancer/etcd';
 * const store = etcdStore(new Etcd3({ hosts: 'http://127.0.0.1:2379' }), { upstream: 'smtp' });
 */
export function etcdStore(client: Etcd3, options: EtcdStoreOptions): EtcdFleetStore {
  return new EtcdFleetStore(client, options);
}
