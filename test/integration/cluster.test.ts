/**
 * upstream-balancer/cluster with real node:cluster workers (test/fixtures/cluster/worker.ts, run
 * under tsx): the primary's balancer checks a real TCP backend on 127.0.0.1 and `shareHealth`
 * broadcasts its verdicts and admin changes; every worker's `followPrimary` applies them. A worker
 * answers the test's queries on the same IPC channel, after every message the primary sent it
 * before the query (the channel keeps order), so each comparison below is exact: the worker's
 * servers equal the primary's at the moment the query left. Then the protocol's edges in process,
 * on a fake channel: sequence gaps, stale and foreign messages, refused changes, restoreCheck.
 */

import cluster, { type Worker } from 'node:cluster';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Balancer } from '../../src/balancer';
import { type ClusterWorker, followPrimary, type HealthShare, PROTOCOL_KEY, type PrimaryChannel, shareHealth } from '../../src/cluster/index';
import type { BalancerOptions } from '../../src/options';
import type { ServerState } from '../../src/server';

// each worker starts under tsx (about 0.5 s, more on a loaded machine)
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'cluster', 'worker.ts');
/** Every wait on a real event is bounded by this. */
const WAIT_MS = 10_000;

interface ServerView {
  id: string;
  state: ServerState;
  down: boolean;
  weight: number;
  check: { down: boolean; rise: number; fall: number; passed: number; failed: number } | null;
}

const view = (b: Balancer): ServerView[] =>
  b.snapshot().servers.map((s) => ({
    id: s.id,
    state: s.state,
    down: s.down,
    weight: s.weight,
    check: s.check === null ? null : { down: s.check.down, rise: s.check.rise, fall: s.check.fall, passed: s.check.passed, failed: s.check.failed },
  }));

/** Resolves with what `promise` gives, or rejects after WAIT_MS naming `what`. */
function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------
// The backend: a TCP listener on a fixed port that can be stopped and started again

class Backend {
  connections = 0;
  port = 0;
  #server: net.Server | null = null;
  readonly #sockets = new Set<net.Socket>();

  async start(): Promise<void> {
    const server = net.createServer((socket) => {
      this.connections += 1;
      this.#sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (server === null) return;
    this.#server = null;
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------------------------
// The workers and what they tell the test

interface Answer {
  n: number;
  seq?: number;
  synced?: boolean;
  checks?: number;
  servers?: ServerView[];
  picks?: (string | null)[];
}

interface Follower {
  worker: Worker;
  /** Each full sync the worker applied: its sequence number and the servers right after it. */
  syncs: { seq: number; servers: ServerView[] }[];
  /** The worker's `state` events. */
  states: { id: string; from: ServerState; to: ServerState; cause: string }[];
  pending: Map<number, (a: Answer) => void>;
  onSync: (() => void) | null;
}

let nextQuery = 0;

function fork(options: BalancerOptions): Follower {
  const worker = cluster.fork({ UB_CLUSTER_OPTIONS: JSON.stringify(options) });
  const f: Follower = { worker, syncs: [], states: [], pending: new Map(), onSync: null };
  worker.on('message', (m: { fixture?: string } & Record<string, unknown>) => {
    if (m?.fixture === 'synced') {
      f.syncs.push({ seq: m.seq as number, servers: m.servers as ServerView[] });
      f.onSync?.();
    } else if (m?.fixture === 'state') {
      const { id, from, to, cause } = m as unknown as Follower['states'][number];
      f.states.push({ id, from, to, cause });
    }
    else if (m?.fixture === 'answer') {
      const a = m as unknown as Answer;
      f.pending.get(a.n)?.(a);
      f.pending.delete(a.n);
    }
  });
  return f;
}

/** The worker's next full sync (or the one it already has, with `already`). */
function nextSync(f: Follower, already = false): Promise<void> {
  if (already && f.syncs.length > 0) return Promise.resolve();
  return bounded(
    new Promise<void>((resolve) => {
      f.onSync = () => {
        f.onSync = null;
        resolve();
      };
    }),
    `a sync of worker ${f.worker.id}`,
  );
}

/** Sends a request now (synchronously) and resolves with the worker's answer. */
function ask(f: Follower, request: { fixture: 'query' } | { fixture: 'pick'; count: number }): Promise<Answer> {
  const n = ++nextQuery;
  const answer = new Promise<Answer>((resolve) => f.pending.set(n, resolve));
  f.worker.send({ ...request, n });
  return bounded(answer, `worker ${f.worker.id}'s answer`);
}

const query = (f: Follower): Promise<Answer> => ask(f, { fixture: 'query' });

/** The next `state` event of the primary's balancer matching `id` and `to`. */
function primaryState(b: Balancer, id: string, to: ServerState, then: () => void): Promise<void> {
  return bounded(
    new Promise<void>((resolve) => {
      const on = (server: { id: string }, _from: ServerState, next: ServerState): void => {
        if (server.id !== id || next !== to) return;
        b.off('state', on);
        then();
        resolve();
      };
      b.on('state', on);
    }),
    `the primary's ${id} → ${to}`,
  );
}

// ---------------------------------------------------------------------------------------------

describe('shareHealth / followPrimary with real cluster workers', () => {
  const a = new Backend();
  const b = new Backend();
  let options: BalancerOptions;
  let primary: Balancer;
  let share: HealthShare;
  const workers: Follower[] = [];
  /** The primary's servers after each message it broadcast, by sequence number. */
  const history = new Map<number, ServerView[]>();
  /** The primary's check results. */
  const results: { id: string; ok: boolean; reason: string; seq: number }[] = [];
  /** The primary's `state` events. */
  const transitions: { id: string; from: ServerState; to: ServerState; cause: string }[] = [];

  beforeAll(async () => {
    await a.start();
    await b.start();
    options = {
      name: 'mx',
      servers: [
        { id: 'a', address: `127.0.0.1:${a.port}`, weight: 1 },
        { id: 'b', address: `127.0.0.1:${b.port}`, weight: 4 },
      ],
      check: { type: 'tcp', interval: 100, timeout: 1000, rise: 2, fall: 2, initState: 'up' },
    };
    primary = new Balancer(options);
    share = shareHealth(primary);
    history.set(share.seq, view(primary));
    // registered after the share's listener: `share.seq` is this result's number already
    primary.on('check', (server, ok, reason) => {
      results.push({ id: server.id, ok, reason, seq: share.seq });
      history.set(share.seq, view(primary));
    });
    primary.on('state', (server, from, to, cause) => transitions.push({ id: server.id, from, to, cause }));
    cluster.setupPrimary({ exec: FIXTURE, execArgv: ['--import', 'tsx'] });
    for (let i = 0; i < 2; i++) workers.push(fork(options));
    await Promise.all(workers.map((w) => nextSync(w, true)));
    primary.start();
  });

  afterAll(async () => {
    share?.close();
    await primary?.close();
    await Promise.all(
      Object.values(cluster.workers ?? {}).map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker === undefined || worker.isDead()) return resolve();
            worker.once('exit', () => resolve());
            worker.process.kill('SIGKILL');
          }),
      ),
    );
    await a.stop();
    await b.stop();
  });

  /** Every worker's servers now, sent at once; each must equal the primary's. */
  async function expectConverged(followers: Follower[], expected: ServerView[]): Promise<void> {
    const seq = share.seq;
    const answers = await Promise.all(followers.map(query));
    for (const answer of answers) {
      expect(answer.servers).toEqual(expected);
      expect(answer.synced).toBe(true);
      expect(answer.seq).toBe(seq);
    }
  }

  it('the workers start from the primary sync', () => {
    for (const w of workers) expect(w.syncs[0]).toEqual({ seq: 0, servers: history.get(0) });
    expect(history.get(0)!.map((s) => s.state)).toEqual(['up', 'up']);
  });

  it('a stopped backend goes unhealthy after `fall` failed checks in every worker, and up again after `rise`', async () => {
    let atDown: Promise<void> | undefined;
    const down = primaryState(primary, 'a', 'unhealthy', () => {
      atDown = expectConverged(workers, view(primary));
    });
    await a.stop();
    await down;
    await atDown;
    const failedRun = results.filter((r) => r.id === 'a').slice(-2);
    expect(failedRun.map((r) => r.ok)).toEqual([false, false]);

    let atUp: Promise<void> | undefined;
    const up = primaryState(primary, 'a', 'up', () => {
      atUp = expectConverged(workers, view(primary));
    });
    await a.start();
    await up;
    await atUp;
    expect(results.filter((r) => r.id === 'a').slice(-2).map((r) => r.ok)).toEqual([true, true]);

    // every worker went through the same transitions, for the same cause
    const ofA = transitions.filter((t) => t.id === 'a');
    expect(ofA).toEqual([
      { id: 'a', from: 'up', to: 'unhealthy', cause: 'check' },
      { id: 'a', from: 'unhealthy', to: 'up', cause: 'check' },
    ]);
    for (const w of workers) expect(w.states.filter((t) => t.id === 'a')).toEqual(ofA);
  });

  it('an admin `down` made through the share reaches every worker', async () => {
    share.update('b', { down: true });
    history.set(share.seq, view(primary));
    await expectConverged(workers, view(primary));
    expect(view(primary).find((s) => s.id === 'b')).toMatchObject({ state: 'down', down: true });
    share.update('b', { down: false });
    history.set(share.seq, view(primary));
    await expectConverged(workers, view(primary));
    expect(view(primary).find((s) => s.id === 'b')).toMatchObject({ state: 'up', down: false });
  });

  it('a worker forked late gets the full sync: the verdicts and admin state it never saw', async () => {
    const down = primaryState(primary, 'a', 'unhealthy', () => {});
    await a.stop();
    await down;
    share.update('b', { down: true });
    history.set(share.seq, view(primary));

    // its own options say both servers are up
    const late = fork(options);
    workers.push(late);
    await nextSync(late, true);
    const first = late.syncs[0]!;
    expect(first.servers).toEqual(history.get(first.seq));
    expect(first.servers.map((s) => s.state)).toEqual(['unhealthy', 'down']);
    expect(first.servers[0]!.check!.fall).toBeGreaterThanOrEqual(2);
    await expectConverged(workers, view(primary));

    // and it follows from there like the others
    let atUp: Promise<void> | undefined;
    const up = primaryState(primary, 'a', 'up', () => {
      atUp = expectConverged(workers, view(primary));
    });
    await a.start();
    await up;
    await atUp;
    share.update('b', { down: false });
    history.set(share.seq, view(primary));
    await expectConverged(workers, view(primary));
    // the sync moved its own view (both up) to the primary's: the list (admin), then the verdicts (check)
    expect(late.states).toEqual([
      { id: 'b', from: 'up', to: 'down', cause: 'admin' },
      { id: 'a', from: 'up', to: 'unhealthy', cause: 'check' },
      { id: 'a', from: 'unhealthy', to: 'up', cause: 'check' },
      { id: 'b', from: 'down', to: 'up', cause: 'admin' },
    ]);
  });

  it('SWRR stays per process: each worker runs the whole weighted sequence on its own', async () => {
    const alone = new Balancer({ servers: options.servers });
    const sequence = Array.from({ length: 10 }, () => {
      const s = alone.pick()!;
      alone.release(s);
      return s.id;
    });
    expect(sequence).toEqual(['b', 'b', 'a', 'b', 'b', 'b', 'b', 'a', 'b', 'b']);
    const answers = await Promise.all(workers.map((w) => ask(w, { fixture: 'pick', count: 10 })));
    // three workers picked 30 times: three whole sequences, not one sequence of 30
    for (const answer of answers) expect(answer.picks).toEqual(sequence);
  });

  it('only the primary probes: the backends see exactly the primary checks that connected', async () => {
    await primary.close();
    // A check aborted by close() may have been accepted without a result: one more connection at
    // most. A check that connected in the kernel's backlog while its backend was being stopped has a
    // result ('reset', 'closed', or a pass) but was never accepted: one fewer at most per stop (a was
    // stopped twice, b never). Three processes probing would show about three times the checks.
    const connected = (id: string) => results.filter((r) => r.id === id && r.reason !== 'refused').length;
    for (const [id, backend, stops] of [['a', a, 2], ['b', b, 0]] as const) {
      expect(connected(id)).toBeGreaterThan(2);
      expect(backend.connections - connected(id)).toBeGreaterThanOrEqual(-stops);
      expect(backend.connections - connected(id)).toBeLessThanOrEqual(1);
    }
    // each worker applied every result the primary broadcast after its first sync, and no other
    const answers = await Promise.all(workers.map(query));
    for (const [k, answer] of answers.entries()) {
      const since = workers[k]!.syncs[0]!.seq;
      expect(answer.checks).toBe(results.filter((r) => r.seq > since).length);
    }
    await expectConverged(workers, view(primary));
  });

  it('ignores foreign, malformed and stale messages, and resyncs after a gap', async () => {
    const w = workers[0]!;
    const envelope = { [PROTOCOL_KEY]: 1, upstream: 'mx', epoch: share.epoch };
    for (const junk of [
      'text',
      42,
      [],
      { [PROTOCOL_KEY]: 1 },
      { [PROTOCOL_KEY]: 2, upstream: 'mx', epoch: share.epoch, seq: share.seq + 1, type: 'remove', id: 'a' },
      { ...envelope, upstream: 'other', seq: share.seq + 1, type: 'remove', id: 'a' },
      { ...envelope, seq: -1, type: 'remove', id: 'a' },
      { ...envelope, seq: share.seq + 1, type: 'check', id: 'a', ok: 'yes', reason: '', ms: 0, state: null },
      { ...envelope, seq: share.seq + 1, type: 'sync', servers: [{ server: { address: 'x' }, check: null }] },
      { ...envelope, seq: share.seq + 1, type: 'explode' },
      // stale: the worker has this number already
      { ...envelope, seq: share.seq, type: 'remove', id: 'a' },
    ]) {
      w.worker.send(junk);
    }
    await expectConverged([w], view(primary));
    expect(w.syncs).toHaveLength(1);

    // a gap (a message it never got): the worker drops it and asks for a full sync
    const resynced = nextSync(w);
    w.worker.send({ ...envelope, seq: share.seq + 2, type: 'remove', id: 'a' });
    await resynced;
    expect(w.syncs).toHaveLength(2);
    expect(w.syncs[1]).toEqual({ seq: share.seq, servers: view(primary) });
    await expectConverged(workers, view(primary));
  });
});

// ---------------------------------------------------------------------------------------------
// In process: restoreCheck, and the protocol's edges on a fake channel

describe('Balancer.restoreCheck', () => {
  const servers = [
    { id: 'a', address: '127.0.0.1:1' },
    { id: 'b', address: '127.0.0.1:2' },
  ];
  const picks = (b: Balancer, n: number): string[] =>
    Array.from({ length: n }, () => {
      const s = b.pick();
      if (s !== undefined) b.release(s);
      return s?.id ?? '-';
    });

  it('sets the exact check state, moves the server in or out of rotation and emits state, not check', () => {
    const b = new Balancer({ servers, check: { rise: 2, fall: 2, initState: 'up' } });
    const events: string[] = [];
    b.on('state', (s, from, to, cause) => events.push(`${s.id} ${from}→${to} ${cause}`));
    b.on('check', () => events.push('check'));
    b.restoreCheck('a', { down: true, pending: false, rise: 0, fall: 7, passed: 3, failed: 7 });
    expect(b.snapshot().servers[0]!.check).toMatchObject({ down: true, rise: 0, fall: 7, passed: 3, failed: 7 });
    expect(b.get('a')!.state).toBe('unhealthy');
    expect(picks(b, 3)).toEqual(['b', 'b', 'b']);
    b.restoreCheck('a', { down: true, pending: true, rise: 0, fall: 0, passed: 3, failed: 7 });
    expect(b.get('a')!.state).toBe('checking');
    // up, one failure short of `fall`: the next failed result takes it down again
    b.restoreCheck('a', { down: false, pending: false, rise: 4, fall: 1, passed: 8, failed: 8 });
    expect(picks(b, 2)).toEqual(['a', 'b']);
    b.reportCheck('a', false);
    expect(b.snapshot().servers[0]!.check).toMatchObject({ down: true, rise: 0, fall: 2, passed: 8, failed: 9 });
    expect(events).toEqual(['a up→unhealthy check', 'a unhealthy→checking check', 'a checking→up check', 'check', 'a up→unhealthy check']);
  });

  it('works on a balancer without checks, and refuses an unknown id or a malformed state', () => {
    const b = new Balancer({ servers });
    b.restoreCheck('b', { down: true, pending: false, rise: 0, fall: 2, passed: 0, failed: 2 });
    expect(b.get('b')!.state).toBe('unhealthy');
    expect(picks(b, 2)).toEqual(['a', 'a']);
    expect(() => b.restoreCheck('zz', { down: true, pending: false, rise: 0, fall: 0, passed: 0, failed: 0 })).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_UNKNOWN_ID' }));
    for (const bad of [{ down: 'yes' }, { fall: -1 }, { rise: 1.5 }, { passed: Number.NaN }]) {
      expect(() => b.restoreCheck('a', { down: false, pending: false, rise: 0, fall: 0, passed: 0, failed: 0, ...bad } as never)).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION' }));
    }
    expect(() => b.restoreCheck('a', null as never)).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION' }));
    expect(b.get('a')!.state).toBe('up');
  });
});

describe('the protocol on a fake channel', () => {
  /** A cluster whose links deliver synchronously, as JSON (what the IPC channel carries); a link can drop. */
  function fakeCluster() {
    const cluster = Object.assign(new EventEmitter(), { workers: {} as Record<string, ClusterWorker> });
    let ids = 0;
    const connect = () => {
      const id = String(++ids);
      const copy = (m: object): unknown => JSON.parse(JSON.stringify(m));
      const link = { drop: false, hellos: 0, delivered: [] as unknown[], process: null as unknown as PrimaryChannel };
      const worker: ClusterWorker = {
        send(message, callback) {
          const m = copy(message);
          if (!link.drop) {
            link.delivered.push(m);
            process.emit('message', m);
          }
          callback(null);
          return true;
        },
      };
      const process = Object.assign(new EventEmitter(), {
        send(message: object, callback: (error: Error | null) => void) {
          if ((message as { type?: string }).type === 'hello') link.hellos += 1;
          cluster.emit('message', worker, copy(message));
          callback(null);
          return true;
        },
      });
      link.process = process;
      cluster.workers[id] = worker;
      return link;
    };
    return { cluster, connect };
  }

  const options = (): BalancerOptions => ({
    name: 'mx',
    servers: [
      { id: 'a', address: '127.0.0.1:1', weight: 1 },
      { id: 'b', address: '127.0.0.1:2', weight: 4 },
    ],
    check: { rise: 2, fall: 2, initState: 'up' },
  });

  it('a follower drops everything before its first sync, then applies in order and skips stale messages', async () => {
    const { cluster, connect } = fakeCluster();
    const link = connect();
    const worker = new Balancer(options());
    const follow = followPrimary(worker, { process: link.process });
    expect(link.hellos).toBe(1);
    expect(follow.synced).toBe(false);
    expect(follow.seq).toBe(-1);
    (link.process as unknown as EventEmitter).emit('message', { [PROTOCOL_KEY]: 1, upstream: 'mx', epoch: 'e', seq: 1, type: 'remove', id: 'a' });
    expect(worker.servers.map((s) => s.id)).toEqual(['a', 'b']);

    const primary = new Balancer(options());
    const share = shareHealth(primary, { cluster });
    await follow.ready;
    expect(follow.synced).toBe(true);
    expect(follow.seq).toBe(0);
    primary.reportCheck('a', false);
    primary.reportCheck('a', false);
    expect(view(worker)).toEqual(view(primary));
    expect(worker.get('a')!.state).toBe('unhealthy');
    expect(follow.seq).toBe(2);
    // a replay of an applied message changes nothing
    (link.process as unknown as EventEmitter).emit('message', link.delivered.at(-1));
    expect(view(worker)).toEqual(view(primary));
    expect(link.hellos).toBe(1); // the message before the sync asked nothing more: a hello was out
    share.close();
    follow.close();
  });

  it('a gap in the sequence asks for a full sync, which brings the worker back exactly', () => {
    const { cluster, connect } = fakeCluster();
    const link = connect();
    const worker = new Balancer(options());
    const synced: number[] = [];
    const follow = followPrimary(worker, { process: link.process, onSync: (seq) => synced.push(seq) });
    const primary = new Balancer(options());
    const share = shareHealth(primary, { cluster });
    expect(synced).toEqual([0]);
    link.drop = true;
    primary.reportCheck('a', false);
    share.update('b', { weight: 2 });
    link.drop = false;
    expect(view(worker)).not.toEqual(view(primary));
    primary.reportCheck('a', false); // seq 3 after 0: a gap
    expect(synced).toEqual([0, 3]);
    expect(follow.synced).toBe(true);
    expect(view(worker)).toEqual(view(primary));
    expect(worker.get('a')!.state).toBe('unhealthy');
    expect(worker.get('b')!.weight).toBe(2);
    share.close();
    follow.close();
  });

  it('admin changes through the share, a worker without checks configured, and a new share (epoch)', () => {
    const { cluster, connect } = fakeCluster();
    const link = connect();
    const { check: _, ...unchecked } = options();
    const worker = new Balancer(unchecked);
    const follow = followPrimary(worker, { process: link.process });
    const primary = new Balancer(options());
    let share = shareHealth(primary, { cluster });
    share.add({ id: 'c', address: '127.0.0.1:3', backup: true });
    share.update('a', { down: true });
    primary.reportCheck('b', false);
    primary.reportCheck('b', false);
    expect(view(worker)).toEqual(view(primary));
    expect(worker.servers.map((s) => s.state)).toEqual(['down', 'unhealthy', 'up']);
    share.setServers([{ id: 'b', address: '127.0.0.1:2' }, { id: 'd', address: '127.0.0.1:4' }]);
    expect(view(worker)).toEqual(view(primary));
    share.remove('d');
    expect(view(worker)).toEqual(view(primary));
    expect(worker.servers.map((s) => s.id)).toEqual(['b']);

    // a restarted share is a new epoch: the worker takes its sync and its sequence
    share.close();
    expect(() => share.update('b', { weight: 3 })).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_CLOSED' }));
    primary.reportCheck('b', true); // not shared: the share is closed
    expect(view(worker)).not.toEqual(view(primary));
    share = shareHealth(primary, { cluster });
    expect(view(worker)).toEqual(view(primary));
    expect(follow.seq).toBe(0);
    primary.reportCheck('b', true);
    expect(view(worker)).toEqual(view(primary));
    expect(worker.get('b')!.state).toBe('up');
    share.close();
    follow.close();
  });

  it('a change the worker refuses reports the error and resyncs', () => {
    const { cluster, connect } = fakeCluster();
    const link = connect();
    const worker = new Balancer(options());
    const errors: unknown[] = [];
    const follow = followPrimary(worker, { process: link.process, onError: (e) => errors.push(e) });
    const primary = new Balancer(options());
    const share = shareHealth(primary, { cluster });
    worker.remove('b'); // drift: changed in the worker, behind the primary's back
    share.update('b', { down: true });
    expect(errors).toEqual([expect.objectContaining({ code: 'ERR_UPSTREAM_UNKNOWN_ID' })]);
    expect(view(worker)).toEqual(view(primary));
    expect(follow.synced).toBe(true);
    share.close();
    follow.close();
  });

  it('several upstreams share one channel; foreign and malformed messages change nothing and never throw', () => {
    const { cluster, connect } = fakeCluster();
    const link = connect();
    const mx = new Balancer(options());
    const web = new Balancer({ ...options(), name: 'web' });
    const followMx = followPrimary(mx, { process: link.process });
    const followWeb = followPrimary(web, { process: link.process });
    const primaryMx = new Balancer(options());
    const primaryWeb = new Balancer({ ...options(), name: 'web' });
    const shareMx = shareHealth(primaryMx, { cluster });
    const shareWeb = shareHealth(primaryWeb, { cluster });
    primaryMx.reportCheck('a', false);
    primaryMx.reportCheck('a', false);
    primaryWeb.reportCheck('b', false);
    primaryWeb.reportCheck('b', false);
    expect(view(mx)).toEqual(view(primaryMx));
    expect(view(web)).toEqual(view(primaryWeb));
    expect([mx.get('a')!.state, mx.get('b')!.state, web.get('a')!.state, web.get('b')!.state]).toEqual(['unhealthy', 'up', 'up', 'unhealthy']);

    const before = [view(mx), view(web)];
    const channel = link.process as unknown as EventEmitter;
    const base = { [PROTOCOL_KEY]: 1, upstream: 'mx', epoch: shareMx.epoch };
    const hostile: unknown[] = [
      undefined, null, 0, 'x', [], { [PROTOCOL_KEY]: '1' }, { __proto__: { [PROTOCOL_KEY]: 1 } },
      { ...base, seq: 1.5, type: 'check' },
      { ...base, seq: followMx.seq + 1, type: 'check', id: 'a', ok: true, reason: 1, ms: 0, state: null },
      { ...base, seq: followMx.seq + 1, type: 'check', id: 'a', ok: true, reason: '', ms: Infinity, state: null },
      { ...base, seq: followMx.seq + 1, type: 'check', id: 'a', ok: true, reason: '', ms: 0, state: { down: 1 } },
      { ...base, seq: followMx.seq + 1, type: 'update', id: 'a', patch: 'down' },
      { ...base, seq: followMx.seq + 1, type: 'add', server: { address: 'x' }, state: null },
      { ...base, seq: followMx.seq + 1, type: 'servers', servers: [null] },
      { ...base, seq: followMx.seq + 1, type: 'sync', servers: {} },
    ];
    for (const m of hostile) expect(() => channel.emit('message', m)).not.toThrow();
    const arbitrary = fc.oneof(
      fc.anything(),
      fc.record({ type: fc.constantFrom('check', 'update', 'add', 'remove', 'servers', 'sync', 'hello'), seq: fc.oneof(fc.integer(), fc.double()), id: fc.anything(), ok: fc.anything(), reason: fc.anything(), ms: fc.anything(), state: fc.anything(), patch: fc.anything(), server: fc.anything(), servers: fc.anything() }, { requiredKeys: ['type'] }).map((m) => ({ ...base, ...m })),
    );
    fc.assert(fc.property(arbitrary, (m) => {
      channel.emit('message', m);
    }), { numRuns: 500, seed: 17 });
    // (a well-formed message of the right number can change the servers: put them back)
    shareMx.sync();
    expect([view(mx), view(web)]).toEqual(before);
    expect(followMx.synced && followWeb.synced).toBe(true);
    // ... nor does a message the balancer refuses (a server it cannot take): it resyncs
    channel.emit('message', { ...base, seq: followMx.seq + 1, type: 'add', server: { id: 'x', address: 'x', weight: -1 }, state: null });
    expect([view(mx), view(web)]).toEqual(before);
    for (const s of [shareMx, shareWeb]) s.close();
    for (const f of [followMx, followWeb]) f.close();
  });

  it('ready rejects when the follower closes before a sync; the share refuses to run in a worker', async () => {
    const { connect } = fakeCluster();
    const link = connect();
    const follow = followPrimary(new Balancer(options()), { process: link.process });
    follow.close();
    await expect(follow.ready).rejects.toMatchObject({ code: 'ERR_UPSTREAM_CLOSED' });
    const inWorker = Object.assign(new EventEmitter(), { isPrimary: false });
    expect(() => shareHealth(new Balancer(options()), { cluster: inWorker })).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION' }));
    expect(() => followPrimary(new Balancer(options()), { process: new EventEmitter() as unknown as PrimaryChannel })).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION' }));
  });
});
