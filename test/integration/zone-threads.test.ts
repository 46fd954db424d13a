/**
 * An upstream zone (src/zone/) used by real worker threads, as nginx workers use one `zone`
 * (ngx_http_upstream_zone_module.c; every get and free under ngx_http_upstream_rr_peers_wlock):
 *
 * 1. 4 threads run 10^6 pick + release (some through attempts) at once: every `conns` is back to 0,
 *    the per-server counts of round robin are the weights' shares exactly, least_conn ends at 0
 *    too, and `max_conns` is never exceeded (each thread checks after each of its picks).
 * 2. Threads taking turns (a turn counter in a SharedArrayBuffer, test/fixtures/zone/ops.ts) follow
 *    one balancer's sequence exactly: picks, attempts, and a failure in one thread excluding the
 *    server in the others until `fail_timeout` has passed on a clock all threads share.
 * 3. A terminated thread: the connections it held are given back by `watch`; a thread terminated
 *    while it loops pick / release leaves neither the lock nor a connection behind.
 * 4. `update`, `add`, `remove`, `setServers` in one thread are seen by the next pick in another;
 *    check results applied in the owner thread are seen by the workers.
 *
 * Each run is compared step by step (result and every server's shared state) with the same steps on
 * one plain Balancer. The workers are test/fixtures/zone/worker.ts; every one is terminated after.
 */

import type { Worker } from 'node:worker_threads';
import { seededRandom } from '../../src/clock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Balancer } from '../../src/index';
import type { BalancerOptions, ServerOptions } from '../../src/options';
import { type ZoneControls, createZone } from '../../src/zone';
import { LOCK } from '../../src/zone/layout';
import { LOCK_WAITED } from '../../src/zone/lock';
import { type Entry, Executor, type Op, type Step, runSequential, runTurnsAsync, stepsOf } from '../fixtures/zone/ops';
import { Threads, exited } from '../fixtures/zone/pool';

/** The workers of the running describe block (each block stops its own). */
let threads = new Threads();
function ownThreads(): void {
  beforeAll(() => {
    threads = new Threads();
  });
  afterAll(() => threads.stop());
}

const servers = (weights: number[], extra: Partial<ServerOptions> = {}): ServerOptions[] =>
  weights.map((weight, i) => ({ id: `s${i}`, address: `10.0.0.${i + 1}:25`, weight, ...extra }));

/** The zone's lock word is free (a pick from this thread would not wait forever). */
const lockFree = (zone: { control: SharedArrayBuffer }): boolean => Atomics.load(new Int32Array(zone.control), LOCK) === 0;

// -------------------------------------------------------------------------------------------------
// 1. 10^6 concurrent picks

describe('4 threads, 10^6 concurrent pick + release', () => {
  ownThreads();
  let pool: Worker[] = [];
  beforeAll(async () => {
    pool = await threads.start(4);
  });

  const N = 250_000;

  async function stress(options: BalancerOptions, keep: number, attemptEvery: number) {
    const zone = createZone(options);
    const main = Balancer.fromZone(zone);
    const start = new SharedArrayBuffer(4);
    const replies = await Promise.all(pool.map((w) => threads.run(w, { t: 'stress', zone, n: N, keep, attemptEvery, start, threads: pool.length }, 'stress', 20_000)));
    const counts: Record<string, number> = {};
    let misses = 0;
    for (const r of replies) {
      for (const [id, n] of Object.entries(r.counts as Record<string, number>)) counts[id] = (counts[id] ?? 0) + n;
      misses += r.misses as number;
      expect(r.violations).toEqual([]);
    }
    const snap = main.snapshot();
    await main.close();
    return { counts, misses, snap };
  }

  it('round robin, weights 1 2 3 4: conns back to 0, counts are the weights\' shares exactly', async () => {
    const { counts, misses, snap } = await stress({ servers: servers([1, 2, 3, 4]) }, 2, 16);
    expect(misses).toBe(0);
    expect(counts).toEqual({ s0: 100_000, s1: 200_000, s2: 300_000, s3: 400_000 });
    expect(snap.servers.map((s) => [s.conns, s.fails, s.currentWeight, s.effectiveWeight])).toEqual([[0, 0, 0, 1], [0, 0, 0, 2], [0, 0, 0, 3], [0, 0, 0, 4]]);
  });

  it('round robin, the seed\'s weight=1 / weight=4: 1:4 over 10^6 exactly', async () => {
    const { counts, misses, snap } = await stress({ servers: servers([1, 4]) }, 1, 7);
    expect(misses).toBe(0);
    expect(counts).toEqual({ s0: 200_000, s1: 800_000 });
    expect(snap.servers.map((s) => s.conns)).toEqual([0, 0]);
  });

  it('least_conn: every selection counted, conns back to 0', async () => {
    const { counts, misses, snap } = await stress({ method: 'least-conn', servers: servers([1, 2, 3, 4]) }, 2, 16);
    expect(misses).toBe(0);
    expect(Object.values(counts).reduce((a, n) => a + n, 0)).toBe(4 * N);
    for (const id of ['s0', 's1', 's2', 's3']) expect(counts[id]).toBeGreaterThan(0);
    expect(snap.servers.map((s) => s.conns)).toEqual([0, 0, 0, 0]);
  });

  for (const method of ['round-robin', 'least-conn'] as const) {
    it(`${method} with max_conns=2 and up to 12 connections wanted: conns never above 2, back to 0`, async () => {
      const opts: BalancerOptions = { servers: servers([1, 2, 3, 4], { maxConns: 2 }) };
      if (method === 'least-conn') opts.method = 'least-conn';
      const { counts, misses, snap } = await stress(opts, 3, 0);
      // 4 threads holding up to 3 each want more than the 8 connections the zone allows
      expect(misses).toBeGreaterThan(0);
      expect(Object.values(counts).reduce((a, n) => a + n, 0) + misses).toBe(4 * N);
      expect(snap.servers.map((s) => s.conns)).toEqual([0, 0, 0, 0]);
    });
  }
});

// -------------------------------------------------------------------------------------------------
// Turns: a global order over threads

/** The steps' threads come from the library's seeded generator (mulberry32). */
const rng = seededRandom;

const START = 1_000_000;

/**
 * Runs `steps` with the zone of `options`: thread 0 is this (the owner) thread, threads 1.. are
 * `pool`; returns the global log and the plain Balancer's log of the same steps.
 */
async function turns(pool: Worker[], options: BalancerOptions, steps: Step[]): Promise<{ zoneLog: Entry[]; plainLog: Entry[]; main: Balancer & ZoneControls }> {
  const clockBuffer = new SharedArrayBuffer(8);
  const clock = new Float64Array(clockBuffer);
  clock[0] = START;
  const turnBuffer = new SharedArrayBuffer(4);
  const turn = new Int32Array(turnBuffer);
  const zone = createZone(options);
  const main = Balancer.fromZone(zone, { clock: () => clock[0]! });
  const mainEx = new Executor(main, clock);
  const logs = pool.map((w, k) =>
    threads.run(w, { t: 'turns', zone, clock: clockBuffer, turn: turnBuffer, thread: k + 1, mine: stepsOf(steps, k + 1), total: steps.length }, 'log').then((r) => r.log as Entry[]),
  );
  let mine: Entry[];
  try {
    mine = await runTurnsAsync(mainEx, turn, 0, stepsOf(steps, 0));
  } catch (e) {
    Atomics.store(turn, 0, -1);
    Atomics.notify(turn, 0);
    throw e;
  }
  const zoneLog = [...mine, ...(await Promise.all(logs)).flat()].sort((a, b) => a.at - b.at);
  const plainClock = new Float64Array(1);
  plainClock[0] = START;
  const plainLog = runSequential(new Balancer({ ...options, clock: () => plainClock[0]! }), plainClock, steps);
  mainEx.releaseAll();
  if (process.env.ZONE_DUMP) console.log(JSON.stringify({ steps, zoneLog, plainLog }));
  return { zoneLog, plainLog, main };
}

const ids = (log: Entry[]): string[] => log.map((e) => e.result);

describe('threads taking turns follow one balancer\'s sequence', () => {
  ownThreads();
  let pool: Worker[] = [];
  beforeAll(async () => {
    pool = await threads.start(3);
  });
  let main: Balancer | undefined;
  afterEach(async () => {
    await main?.close();
    main = undefined;
  });

  it('picks, holds and attempts from 4 threads in a random global order: the same results and states as one Balancer', async () => {
    const r = rng(17);
    const steps: Step[] = [];
    for (let k = 0; k < 300; k++) {
      const thread = Math.floor(r() * 4);
      const x = r();
      const op: Op =
        x < 0.45 ? { t: 'pickRelease' } : x < 0.6 ? { t: 'pick' } : x < 0.75 ? { t: 'release', k: Math.floor(r() * 4), failed: false }
          : x < 0.88 ? { t: 'attempt' } : { t: 'finish', k: Math.floor(r() * 4) };
      steps.push({ thread, op });
    }
    const opts: BalancerOptions = { servers: servers([1, 2, 3, 4]) };
    const out = await turns(pool, opts, steps);
    main = out.main;
    expect(out.zoneLog.map((e) => e.at)).toEqual(steps.map((_, k) => k));
    expect(out.zoneLog).toEqual(out.plainLog);
    // and the selections alone are nginx's SWRR sequence of 1 2 3 4: d c b d a c d b c d, repeated
    const picked = out.zoneLog.filter((e, k) => ['pickRelease', 'pick', 'attempt'].includes(steps[k]!.op.t)).map((e) => e.result);
    const period = ['s3', 's2', 's1', 's3', 's0', 's2', 's3', 's1', 's2', 's3'];
    expect(picked).toEqual(picked.map((_, k) => period[k % 10]));
  });

  it('the same with least_conn: its ties and its conns are the one balancer\'s', async () => {
    const r = rng(5);
    const steps: Step[] = [];
    for (let k = 0; k < 200; k++) {
      const x = r();
      const op: Op = x < 0.4 ? { t: 'pick' } : x < 0.75 ? { t: 'release', k: Math.floor(r() * 3), failed: false } : { t: 'pickRelease' };
      steps.push({ thread: Math.floor(r() * 4), op });
    }
    const out = await turns(pool, { method: 'least-conn', servers: servers([3, 1, 2]) }, steps);
    main = out.main;
    expect(out.zoneLog).toEqual(out.plainLog);
  });

  it('a failure in one thread excludes the server in the others until fail_timeout has passed on the shared clock', async () => {
    const opts: BalancerOptions = { servers: servers([1, 1, 1], { maxFails: 1, failTimeout: 10_000 }) };
    const steps: Step[] = [
      { thread: 1, op: { t: 'attempt' } }, // s0 (SWRR of 1 1 1 starts at the first)
      { thread: 1, op: { t: 'retry', k: 0 } }, // s0 fails (max_fails=1: unavailable), the retry takes s1
      { thread: 1, op: { t: 'finish', k: 0 } },
      ...Array.from({ length: 8 }, (_, k): Step => ({ thread: 2 + (k % 2), op: { t: 'pickRelease' } })),
      { thread: 0, op: { t: 'advance', ms: 10_000 } }, // now - checked = fail_timeout: still excluded
      ...Array.from({ length: 4 }, (_, k): Step => ({ thread: 3 - (k % 3), op: { t: 'pickRelease' } })),
      { thread: 2, op: { t: 'advance', ms: 1 } }, // past it: s0 may be tried again
      ...Array.from({ length: 6 }, (_, k): Step => ({ thread: k % 4, op: { t: 'pickRelease' } })),
    ];
    const out = await turns(pool, opts, steps);
    main = out.main;
    expect(out.zoneLog).toEqual(out.plainLog);
    const r = ids(out.zoneLog);
    expect(r.slice(0, 3)).toEqual(['s0', 's1', 's1']);
    expect(out.zoneLog[1]!.state).toMatch(/^s0:0\/1\/0\/-2\/unavail\/1000000\/1000000 /);
    // threads 2 and 3 (and 1, 0) never get s0 while it is excluded
    expect(r.slice(3, 11).concat(r.slice(12, 16))).not.toContain('s0');
    expect(r.slice(3, 11)).toEqual(['s2', 's1', 's2', 's1', 's2', 's1', 's2', 's1']);
    // after fail_timeout, on the shared clock, s0 is chosen again (once, then its window reopens)
    expect(r.slice(17)).toContain('s0');
  });
});

// -------------------------------------------------------------------------------------------------
// Updates seen by all

describe('changes made in one thread are seen by the next pick in another', () => {
  ownThreads();
  let pool: Worker[] = [];
  beforeAll(async () => {
    pool = await threads.start(3);
  });
  let main: Balancer | undefined;
  afterEach(async () => {
    await main?.close();
    main = undefined;
  });

  it('update down / weight, add, remove, setServers', async () => {
    const pr = (thread: number): Step => ({ thread, op: { t: 'pickRelease' } });
    const steps: Step[] = [
      pr(1), pr(2), pr(3),
      { thread: 1, op: { t: 'update', id: 's1', patch: { down: true } } },
      pr(2), pr(3), pr(0), pr(2), pr(3), pr(0),
      { thread: 2, op: { t: 'update', id: 's1', patch: { down: false, weight: 5 } } },
      pr(3), pr(1), pr(0), pr(3), pr(1),
      { thread: 3, op: { t: 'add', server: { id: 'n1', address: '10.0.1.1:25', weight: 9 } } },
      pr(1), pr(2), pr(0),
      { thread: 1, op: { t: 'remove', id: 's0' } },
      pr(2), pr(3), pr(0), pr(2), pr(3),
      { thread: 2, op: { t: 'pick' } },
      { thread: 3, op: { t: 'setServers', servers: [{ id: 'x', address: '10.0.2.1:25', weight: 2 }, { id: 's2', address: '10.0.0.3:25', weight: 1 }] } },
      pr(1), pr(0), pr(1), pr(3), pr(1), pr(0),
      { thread: 2, op: { t: 'release', k: 0, failed: false } },
      { thread: 1, op: { t: 'look' } },
    ];
    const out = await turns(pool, { servers: servers([1, 2, 3]) }, steps);
    main = out.main;
    expect(out.zoneLog).toEqual(out.plainLog);
    const r = ids(out.zoneLog);
    expect(r.slice(4, 10)).not.toContain('s1'); // down in thread 1: never picked by 2, 3, 0
    expect(out.zoneLog[4]!.state).toContain('s1:0/0/2/0/down');
    expect(r.slice(11, 16)).toContain('s1');
    expect(r.slice(17, 20)).toContain('n1'); // added in thread 3
    expect(r.slice(21)).not.toContain('s0'); // removed in thread 1
    // the list thread 3 set: s2 keeps its state (current weight -9), so x takes the next six
    expect(r.slice(28, 34)).toEqual(['x', 'x', 'x', 'x', 'x', 'x']);
    expect(out.zoneLog.at(-1)!.state).toMatch(/^x:0\/0\/2\/-?\d+\/up\/-\/- s2:0\/0\/1\/-?\d+\/up\/-\/-$/);
  });

  it('check results applied in the owner thread: the workers see the server unhealthy and never pick it', async () => {
    const opts: BalancerOptions = { servers: servers([1, 1, 1]), check: { type: 'tcp', rise: 2, fall: 2, initState: 'up' } };
    const pr = (thread: number): Step => ({ thread, op: { t: 'pickRelease' } });
    const steps: Step[] = [
      pr(1), pr(2), pr(3),
      { thread: 0, op: { t: 'check', id: 's1', ok: false } },
      pr(1), pr(2), pr(3), // one failure of fall=2: still up
      { thread: 0, op: { t: 'check', id: 's1', ok: false } },
      { thread: 1, op: { t: 'look' } }, { thread: 2, op: { t: 'look' } }, { thread: 3, op: { t: 'look' } },
      pr(1), pr(2), pr(3), pr(1), pr(2), pr(3),
      { thread: 0, op: { t: 'check', id: 's1', ok: true } },
      { thread: 0, op: { t: 'check', id: 's1', ok: true } },
      pr(1), pr(2), pr(3),
    ];
    const out = await turns(pool, opts, steps);
    main = out.main;
    expect(out.zoneLog).toEqual(out.plainLog);
    expect(out.main.zoneOwner).toBe(true);
    const r = ids(out.zoneLog);
    expect(r.slice(4, 7)).toContain('s1');
    for (const k of [8, 9, 10]) expect(out.zoneLog[k]!.state).toContain('s1:0/0/1/0/unhealthy');
    expect(r.slice(11, 17)).not.toContain('s1');
    expect(r.slice(19)).toContain('s1');
  });
});

// -------------------------------------------------------------------------------------------------
// Terminated threads

describe('a terminated thread', () => {
  ownThreads();
  afterEach(() => threads.stop());

  it('its held connections are given back by watch(); the other threads\' stay counted', async () => {
    const zone = createZone({ servers: servers([1, 2, 3]) });
    const main = Balancer.fromZone(zone);
    const mine = [main.pick()!, main.pick()!];
    const [victim, other] = await threads.start(2);
    main.watch(victim!);
    const a = await threads.run(victim!, { t: 'hold', zone, k: 5 }, 'held');
    const b = await threads.run(other!, { t: 'hold', zone, k: 4 }, 'held');
    const held = (lists: string[][]): Record<string, number> => {
      const out: Record<string, number> = { s0: 0, s1: 0, s2: 0 };
      for (const l of lists) for (const id of l) out[id] = out[id]! + 1;
      return out;
    };
    const conns = (): Record<string, number> => Object.fromEntries(main.snapshot().servers.map((s) => [s.id, s.conns]));
    expect(conns()).toEqual(held([mine.map((s) => s.id), a.ids, b.ids]));
    const gone = exited(victim!);
    await victim!.terminate();
    await gone;
    expect(conns()).toEqual(held([mine.map((s) => s.id), b.ids]));
    for (const s of mine) main.release(s);
    expect(conns()).toEqual(held([b.ids]));
    await other!.terminate(); // not watched: its connections stay counted
    expect(conns()).toEqual(held([b.ids]));
    expect(main.reclaimThread(b.threadId)).toBe(4);
    expect(conns()).toEqual({ s0: 0, s1: 0, s2: 0 });
    await main.close();
  });

  // A thread terminated inside a locked section dies holding the lock: its mark is in the lock word
  // (zone/lock.ts), and watch's exit handler frees it, then gives back what the thread held.
  it('terminated while it loops pick / release: the lock is free, main still picks, conns reach 0', async () => {
    const zone = createZone({ servers: servers([1, 2, 3, 4], { maxConns: 3 }) });
    const main = Balancer.fromZone(zone);
    const control = new Int32Array(zone.control);
    let diedLocked = 0;
    const watch = (w: Worker): void => {
      const id = w.threadId;
      w.once('exit', () => {
        if ((Atomics.load(control, LOCK) & ~LOCK_WAITED) === id + 1) diedLocked++;
      });
      main.watch(w);
    };
    // One spinner is terminated at a time, while another keeps spinning. (Two watched threads dying at
    // once can block this thread for ever: the exit handler of the first waits for the lock the
    // second died holding, and the second's exit event, which frees it, never runs.)
    const [first] = await threads.start(1);
    watch(first!);
    await threads.run(first!, { t: 'spin', zone, keep: 2 }, 'spinning');
    let spinning = first!;
    for (let round = 0; round < 6; round++) {
      const [next] = await threads.start(1);
      watch(next!);
      await threads.run(next!, { t: 'spin', zone, keep: 2 }, 'spinning');
      const gone = exited(spinning);
      await spinning.terminate();
      await gone;
      spinning = next!;
    }
    const gone = exited(spinning);
    await spinning.terminate();
    await gone;
    threads.all.splice(0);
    await new Promise((r) => setImmediate(r)); // (watch gives back on the exit event, maybe one turn later)
    expect(lockFree(zone)).toBe(true);
    const got = [];
    for (let k = 0; k < 8; k++) got.push(main.pick());
    expect(got.every((s) => s !== undefined)).toBe(true);
    for (const s of got) main.release(s!);
    expect(main.snapshot().servers.map((s) => s.conns)).toEqual([0, 0, 0, 0]);
    // How often the terminate landed inside a locked section depends on timing: printed, not asserted
    // (the unit test in test/unit/zone.test.ts makes that case on purpose).
    if (process.env.ZONE_DUMP) console.log('died holding the lock', diedLocked, 'of 7');
    await main.close();
  });
});
