/**
 * Upstream zones (src/zone/, docs/zone.md) against a balancer per thread: ns per pick()+release()
 * at n = 8 and 1024 servers (weights 1..3), on the sources, with 1, 2 and 4 worker threads picking
 * at once:
 *
 * - `per-thread`: each thread has its own `new Balancer(options)` (what a multi-threaded proxy
 *   does without a zone: one SWRR sequence per thread);
 * - `per-thread+lock`: the same, each pick and each release under the zone's lock (src/zone/lock.ts,
 *   one word shared by the threads): what the lock nginx's `zone` requires costs by itself;
 * - `zone`: each thread opens the same zone (`Balancer.fromZone`), so every pick and release takes
 *   the zone's Atomics lock and walks the shared peer arrays (nginx's `zone`: get and free under
 *   ngx_http_upstream_rr_peers_wlock, ngx_http_upstream_round_robin.c).
 *
 * Two loads: `contended`, every thread picks and releases in a tight loop; `uncontended`, every
 * thread does ~1 µs of other work (a calibrated integer loop) between picks, and the cost reported
 * is the pick's alone: the same threads run one loop in 32 alternating segments, with and without the
 * pick, and the median over the 16 pairs of the difference per iteration is the pick's. Every figure is wall time per operation
 * in one thread (mean over the threads); the contended rows also give the aggregate (wall time over
 * the operations of all threads). On a machine with fewer cores than threads the threads share
 * cores, and wall time per operation grows with that too (the anchors below show how much).
 *
 * Anchors, in the same run: nginx's round-robin loop in plain JavaScript with its state in an
 * object (bench/floor.ts `InstanceScan`, whose steady path is the bare SWRR loop), one thread; and
 * nginx's C loop (`ngx_http_upstream_get_peer` over a linked list of peers with its four skip tests,
 * the free's success path, `ngx_time()` as a load), compiled here with `cc -O2` when a C compiler is
 * found: without a lock (nginx without `zone`), and under a spin lock written after ngx_rwlock_wlock
 * (src/core/ngx_rwlock.c: compare-and-set, doubling `pause` spins up to 2048, then `sched_yield`)
 * in 1, 2 and 4 pthreads, contended and uncontended as above.
 *
 *   node --import tsx bench/zone.ts [--quick] [--json] [--ms 300] [--reps 3] [--sizes 8,1024] [--threads 1,2,4] [--no-c]
 *
 * Each cell is the median of `--reps` runs of `--ms` ms per thread. Workers load this file through tsx (`tsx/esm/api` `register()`).
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

type Kind = 'per-thread' | 'per-thread+lock' | 'zone';
type Load = 'contended' | 'uncontended';

/** One run, as a worker is told it. */
interface RunSpec {
  kind: Kind;
  n: number;
  load: Load;
  ms: number;
  /** Iterations of the work loop that take ~1 µs. */
  spin: number;
  /** The start barrier: word 0 becomes 1 when every worker is ready. */
  go: SharedArrayBuffer;
  zone?: unknown;
  /** per-thread+lock: the control words of the lock every thread takes. */
  lockWords?: SharedArrayBuffer;
}

/** What one worker measured in one run. */
interface RunResult {
  /** Contended: ns per pick+release. Uncontended: ns per iteration of each loop. */
  perOp: number;
  ops: number;
  elapsedNs: number;
  workOnly?: number;
  workAndPick?: number;
}

const weightsOf = (n: number): number[] => Array.from({ length: n }, (_, i) => 1 + (i % 3));
const serversOf = (n: number) =>
  weightsOf(n).map((weight, i) => ({ address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:25`, weight }));

/** The other work between picks: an integer loop the compiler cannot drop (its result is kept). */
let sink = 0;
function work(k: number): void {
  let x = sink;
  for (let i = 0; i < k; i++) x = (Math.imul(x, 31) + i) | 0;
  sink = x;
}

const now = (): bigint => process.hrtime.bigint();

// -------------------------------------------------------------------------------------------------
// Worker side

async function workerMain(): Promise<void> {
  const { Balancer } = await import('../src/index');
  const { ZoneLock } = await import('../src/zone/lock');
  type S = NonNullable<ReturnType<InstanceType<typeof Balancer>['pick']>>;
  type B = { pick(): S | undefined; release(s: S): void };
  const port = parentPort!;

  /** The loop's subject, and the balancer behind it. */
  const build = (spec: RunSpec): [B, InstanceType<typeof Balancer>] => {
    if (spec.kind === 'zone') {
      const z = Balancer.fromZone(spec.zone);
      return [z, z];
    }
    const b = new Balancer({ servers: serversOf(spec.n) });
    if (spec.kind === 'per-thread') return [b, b];
    // The balancer of this thread, each pick and release under the zone's lock (the same code and
    // the same one word shared by the threads): what the lock alone costs, state left per thread.
    const lock = new ZoneLock(new Int32Array(spec.lockWords!));
    const locked: B = {
      pick: () => {
        lock.lock();
        try {
          return b.pick();
        } finally {
          lock.unlock();
        }
      },
      release: (s: S) => {
        lock.lock();
        try {
          b.release(s);
        } finally {
          lock.unlock();
        }
      },
    };
    return [locked, b];
  };

  const contended = (b: B, ms: number): RunResult => {
    const limit = BigInt(ms) * 1_000_000n;
    const t0 = now();
    let ops = 0;
    let t = t0;
    do {
      for (let j = 0; j < 256; j++) {
        const s = b.pick()!;
        b.release(s);
      }
      ops += 256;
      t = now();
    } while (t - t0 < limit);
    const elapsedNs = Number(t - t0);
    return { perOp: elapsedNs / ops, ops, elapsedNs };
  };

  /**
   * Work-only and work+pick segments, alternating (16 pairs), through one loop whose only
   * difference is `pickOn` (the same compiled code for both); the pick's cost is the median over
   * the pairs of (ns per iteration with the pick) - (ns per iteration without it).
   */
  const segment = (b: B, spin: number, ns: bigint, pickOn: boolean): { ns: number; iters: number } => {
    const start = now();
    let t = start;
    let iters = 0;
    do {
      for (let j = 0; j < 64; j++) {
        work(spin);
        if (pickOn) {
          const s = b.pick()!;
          b.release(s);
        }
      }
      iters += 64;
      t = now();
    } while (t - start < ns);
    return { ns: Number(t - start), iters };
  };
  const uncontended = (b: B, ms: number, spin: number): RunResult => {
    const pairs = 16;
    const ns = (BigInt(ms) * 1_000_000n) / BigInt(2 * pairs);
    const diffs: number[] = [];
    let workNs = 0;
    let workIters = 0;
    let pickNs = 0;
    let pickIters = 0;
    const t0 = now();
    for (let p = 0; p < pairs; p++) {
      // alternate which comes first, so that a drift in speed does not favour either
      const first = segment(b, spin, ns, p % 2 === 1);
      const second = segment(b, spin, ns, p % 2 === 0);
      const [w, k] = p % 2 === 1 ? [second, first] : [first, second];
      diffs.push(k.ns / k.iters - w.ns / w.iters);
      workNs += w.ns;
      workIters += w.iters;
      pickNs += k.ns;
      pickIters += k.iters;
    }
    const sorted = diffs.sort((a, c) => a - c);
    const perOp = (sorted[(pairs >> 1) - 1]! + sorted[pairs >> 1]!) / 2;
    return { perOp, ops: pickIters, elapsedNs: Number(now() - t0), workOnly: workNs / workIters, workAndPick: pickNs / pickIters };
  };

  port.on('message', async (spec: RunSpec) => {
    const [b, balancer] = build(spec);
    // Warm up: the JIT tiers and, for a local balancer, the steady-state schedule.
    const warmEnd = now() + 60_000_000n;
    while (now() < warmEnd) {
      for (let j = 0; j < 64; j++) {
        const s = b.pick()!;
        b.release(s);
      }
    }
    // The uncontended loop too, both ways, so that it is optimised for both before it is timed.
    if (spec.load === 'uncontended') for (let p = 0; p < 16; p++) segment(b, spec.spin, 3_000_000n, p % 2 === 0);
    const go = new Int32Array(spec.go);
    Atomics.add(go, 1, 1);
    Atomics.notify(go, 1);
    Atomics.wait(go, 0, 0);
    const result = spec.load === 'contended' ? contended(b, spec.ms) : uncontended(b, spec.ms, spec.spin);
    if (balancer.snapshot().servers.some((s) => s.conns < 0)) throw new Error('negative conns');
    await balancer.close();
    port.postMessage(result);
  });
}

// -------------------------------------------------------------------------------------------------
// nginx's C loop (anchor)

/** Written after ngx_http_upstream_get_peer / ngx_http_upstream_free_round_robin_peer and ngx_rwlock_wlock. */
const C_SOURCE = String.raw`
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct peer_s peer_t;
struct peer_s {
  peer_t *next;
  long current_weight, effective_weight, weight;
  unsigned conns, max_conns, fails, max_fails, down;
  long accessed, checked, fail_timeout;
};

static peer_t *peers;
static int npeers, use_lock, spin_iters;
static long total_weight;
static volatile long clock_now = 1000;   /* ngx_time(): a load of a cached value */
static volatile long lock_word;
static volatile int go;
static double duration_ns;

static inline void cpu_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  __asm__ __volatile__("" ::: "memory");
#endif
}

static void wlock(void) {
  if (!use_lock) return;
  for (;;) {
    if (lock_word == 0 && __sync_bool_compare_and_swap(&lock_word, 0, -1)) return;
    for (unsigned n = 1; n < 2048; n <<= 1) {
      for (unsigned i = 0; i < n; i++) cpu_pause();
      if (lock_word == 0 && __sync_bool_compare_and_swap(&lock_word, 0, -1)) return;
    }
    sched_yield();
  }
}

static void unlock(void) {
  if (use_lock) __sync_lock_release(&lock_word);
}

static peer_t *get_peer(uintptr_t *tried) {
  long now = clock_now, total = 0;
  peer_t *best = NULL;
  int i = 0;
  memset(tried, 0, ((npeers + 63) / 64) * sizeof(uintptr_t));
  for (peer_t *p = peers; p; p = p->next, i++) {
    if (tried[i / 64] & ((uintptr_t)1 << (i % 64))) continue;
    if (p->down) continue;
    if (p->max_fails && p->fails >= p->max_fails && now - p->checked <= p->fail_timeout) continue;
    if (p->max_conns && p->conns >= p->max_conns) continue;
    p->current_weight += p->effective_weight;
    total += p->effective_weight;
    if (p->effective_weight < p->weight) p->effective_weight++;
    if (best == NULL || p->current_weight > best->current_weight) best = p;
  }
  if (best == NULL) return NULL;
  best->current_weight -= total;
  if (now - best->checked > best->fail_timeout) best->checked = now;
  return best;
}

static inline double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static volatile unsigned sink;
static void work(int k) {
  unsigned x = sink;
  for (int i = 0; i < k; i++) { x = x * 31u + (unsigned)i; __asm__ __volatile__("" : "+r"(x)); }
  sink = x;
}

static inline void pick_release(uintptr_t *tried) {
  wlock();
  peer_t *p = get_peer(tried);
  p->conns++;
  unlock();
  wlock();
  p->conns--;
  if (p->accessed < p->checked) p->fails = 0;
  unlock();
}

typedef struct { double per_op, work_only, work_and_pick; long ops; int uncontended; } result_t;

static void *thread_main(void *arg) {
  result_t *r = arg;
  uintptr_t *tried = calloc((npeers + 63) / 64, sizeof(uintptr_t));
  for (int j = 0; j < 200000 / (npeers / 8 + 1); j++) pick_release(tried);
  while (!go) cpu_pause();
  if (!r->uncontended) {
    double t0 = mono(), t;
    long ops = 0;
    do { for (int j = 0; j < 64; j++) pick_release(tried); ops += 64; t = mono(); } while (t - t0 < duration_ns);
    r->per_op = (t - t0) / ops;
    r->ops = ops;
  } else {
    double seg = duration_ns / 32, wn = 0, pn = 0, diffs[16];
    long wi = 0, pi = 0;
    for (int pair = 0; pair < 16; pair++) {
      double seg_ns[2];
      long seg_it[2];
      for (int half = 0; half < 2; half++) {
        int pick_on = (pair & 1) ? half == 0 : half == 1;
        double s = mono(), t;
        long it = 0;
        do {
          for (int j = 0; j < 64; j++) { work(spin_iters); if (pick_on) pick_release(tried); }
          it += 64;
          t = mono();
        } while (t - s < seg);
        seg_ns[pick_on] = t - s;
        seg_it[pick_on] = it;
      }
      diffs[pair] = seg_ns[1] / seg_it[1] - seg_ns[0] / seg_it[0];
      wn += seg_ns[0]; wi += seg_it[0]; pn += seg_ns[1]; pi += seg_it[1];
    }
    for (int a = 0; a < 16; a++) for (int b = a + 1; b < 16; b++) if (diffs[b] < diffs[a]) { double x = diffs[a]; diffs[a] = diffs[b]; diffs[b] = x; }
    r->work_only = wn / wi;
    r->work_and_pick = pn / pi;
    r->per_op = (diffs[7] + diffs[8]) / 2;
    r->ops = pi;
  }
  free(tried);
  return NULL;
}

/* argv: n threads locked uncontended ms work_ns */
int main(int argc, char **argv) {
  if (argc < 7) return 2;
  npeers = atoi(argv[1]);
  int threads = atoi(argv[2]);
  use_lock = atoi(argv[3]);
  int uncontended = atoi(argv[4]);
  duration_ns = atof(argv[5]) * 1e6;
  double work_ns = atof(argv[6]);
  peers = calloc(npeers, sizeof(peer_t));
  for (int i = 0; i < npeers; i++) {
    peers[i].weight = peers[i].effective_weight = 1 + i % 3;
    peers[i].max_fails = 1;
    peers[i].fail_timeout = 10;
    peers[i].next = i + 1 < npeers ? &peers[i + 1] : NULL;
    total_weight += peers[i].weight;
  }
  /* calibrate the work loop to work_ns */
  spin_iters = 1000;
  double t0 = mono();
  for (int j = 0; j < 2000; j++) work(spin_iters);
  double per = (mono() - t0) / 2000;
  spin_iters = (int)(spin_iters * work_ns / per);
  if (spin_iters < 1) spin_iters = 1;
  pthread_t tid[64];
  result_t res[64];
  memset(res, 0, sizeof res);
  for (int t = 0; t < threads; t++) { res[t].uncontended = uncontended; pthread_create(&tid[t], NULL, thread_main, &res[t]); }
  double start = mono();
  go = 1;
  for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
  double wall = mono() - start;
  double per_op = 0, wo = 0, wp = 0;
  long ops = 0;
  for (int t = 0; t < threads; t++) { per_op += res[t].per_op; wo += res[t].work_only; wp += res[t].work_and_pick; ops += res[t].ops; }
  printf("{\"perOp\":%.3f,\"aggregate\":%.3f,\"workOnly\":%.3f,\"workAndPick\":%.3f}\n", per_op / threads, wall / ops, wo / threads, wp / threads);
  return 0;
}
`;

// -------------------------------------------------------------------------------------------------
// Main side

interface Options {
  ms: number;
  reps: number;
  sizes: number[];
  threads: number[];
  json: boolean;
  c: boolean;
}

function parseOptions(argv: string[]): Options {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const quick = argv.includes('--quick');
  const list = (s: string | undefined, d: number[]): number[] => (s === undefined ? d : s.split(',').map(Number));
  return {
    ms: Number(value('--ms') ?? (quick ? 150 : 300)),
    reps: Number(value('--reps') ?? (quick ? 1 : 3)),
    sizes: list(value('--sizes'), [8, 1024]),
    threads: list(value('--threads'), [1, 2, 4]),
    json: argv.includes('--json'),
    c: !argv.includes('--no-c'),
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (ns: number): string => (Number.isNaN(ns) ? '—' : ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(1)} ns`);

/** Iterations of `work` that take `ns` on this thread. */
function calibrate(ns: number): number {
  let k = 1000;
  for (let round = 0; round < 3; round++) {
    for (let j = 0; j < 2000; j++) work(k); // warm
    const t0 = now();
    for (let j = 0; j < 5000; j++) work(k);
    const per = Number(now() - t0) / 5000;
    k = Math.max(1, Math.round((k * ns) / per));
  }
  return k;
}

class Pool {
  readonly workers: Worker[] = [];

  static async start(count: number): Promise<Pool> {
    const pool = new Pool();
    const api = import.meta.resolve('tsx/esm/api');
    const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); })`;
    for (let i = 0; i < count; i++) pool.workers.push(new Worker(boot, { eval: true, workerData: { bench: 'zone' } }));
    return pool;
  }

  /** Runs `spec` on the first `threads` workers at once; returns each worker's result. */
  async run(threads: number, spec: Omit<RunSpec, 'go'>): Promise<RunResult[]> {
    const go = new SharedArrayBuffer(8);
    const flags = new Int32Array(go);
    const used = this.workers.slice(0, threads);
    const results = used.map(
      (w) =>
        new Promise<RunResult>((resolve, reject) => {
          const onError = (e: Error): void => reject(e);
          w.once('error', onError);
          w.once('message', (r: RunResult) => {
            w.off('error', onError);
            resolve(r);
          });
        }),
    );
    for (const w of used) w.postMessage({ ...spec, go });
    // every worker built its balancer and warmed up: start them together
    while (Atomics.load(flags, 1) < threads) await new Promise((r) => setTimeout(r, 1));
    Atomics.store(flags, 0, 1);
    Atomics.notify(flags, 0);
    return Promise.all(results);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

interface Cell {
  n: number;
  threads: number;
  load: Load;
  kind: Kind;
  /** Median over the reps of the mean over threads. */
  perOp: number;
  /** Contended: wall time over every thread's operations. */
  aggregate: number;
}

async function mainThread(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  const { createZone } = await import('../src/zone');
  const { InstanceScan } = await import('./floor');
  const spin = calibrate(1000);
  const maxThreads = Math.max(...opts.threads);
  const pool = await Pool.start(maxThreads);
  const cells: Cell[] = [];
  const started = new Date();
  try {
    for (const n of opts.sizes) {
      for (const load of ['contended', 'uncontended'] as const) {
        for (const threads of opts.threads) {
          for (const kind of ['per-thread', 'per-thread+lock', 'zone'] as const) {
            const per: number[] = [];
            const agg: number[] = [];
            for (let r = 0; r < opts.reps; r++) {
              const zone = kind === 'zone' ? createZone({ name: 'bench', servers: serversOf(n) }) : undefined;
              const lockWords = kind === 'per-thread+lock' ? new SharedArrayBuffer(32) : undefined;
              const res = await pool.run(threads, { kind, n, load, ms: opts.ms, spin, ...(zone ? { zone } : {}), ...(lockWords ? { lockWords } : {}) });
              per.push(res.reduce((a, x) => a + x.perOp, 0) / res.length);
              const wall = Math.max(...res.map((x) => x.elapsedNs));
              agg.push(wall / res.reduce((a, x) => a + x.ops, 0));
            }
            const cell: Cell = { n, threads, load, kind, perOp: median(per), aggregate: load === 'contended' ? median(agg) : NaN };
            cells.push(cell);
            if (!opts.json) process.stderr.write(`  n=${n} ${load} ${threads}t ${kind}: ${fmt(cell.perOp)}\n`);
          }
        }
      }
    }
  } finally {
    await pool.close();
  }

  // Anchors: the JS scan in this thread, the C loop in a child process.
  const anchors: { name: string; n: number; threads: number; load: Load | '-'; perOp: number; aggregate: number }[] = [];
  for (const n of opts.sizes) {
    const scan = new InstanceScan(weightsOf(n), 10_000, () => 0);
    const runs: number[] = [];
    for (let r = 0; r < Math.max(3, opts.reps); r++) {
      const ops = n <= 64 ? 2_000_000 : 40_000;
      for (let j = 0; j < ops / 4; j++) scan.release(scan.pick(), false);
      const t0 = now();
      for (let j = 0; j < ops; j++) scan.release(scan.pick(), false);
      runs.push(Number(now() - t0) / ops);
    }
    anchors.push({ name: "nginx's loop in plain JS, state in an object (floor.ts InstanceScan)", n, threads: 1, load: '-', perOp: median(runs), aggregate: NaN });
  }
  {
    // The lock alone, as a pick and a release take it: two lock()/unlock() pairs, nothing inside.
    const { ZoneLock } = await import('../src/zone/lock');
    const lock = new ZoneLock(new Int32Array(new SharedArrayBuffer(32)));
    const runs: number[] = [];
    for (let r = 0; r < Math.max(3, opts.reps) + 1; r++) {
      const ops = 2_000_000;
      const t0 = now();
      for (let j = 0; j < ops; j++) {
        lock.lock();
        lock.unlock();
        lock.lock();
        lock.unlock();
      }
      if (r > 0) runs.push(Number(now() - t0) / ops);
    }
    anchors.push({ name: "the zone's lock alone, taken twice (a pick's and a release's), nothing inside", n: 0, threads: 1, load: '-', perOp: median(runs), aggregate: NaN });
  }
  if (opts.c) {
    const dir = mkdtempSync(join(tmpdir(), 'ub-zone-bench-'));
    try {
      writeFileSync(join(dir, 'loop.c'), C_SOURCE);
      execFileSync('cc', ['-O2', '-pthread', '-o', join(dir, 'loop'), join(dir, 'loop.c')], { stdio: 'pipe' });
      const c = (n: number, threads: number, locked: boolean, load: Load): { perOp: number; aggregate: number } => {
        const per: number[] = [];
        const agg: number[] = [];
        for (let r = 0; r < opts.reps; r++) {
          const out = JSON.parse(execFileSync(join(dir, 'loop'), [String(n), String(threads), locked ? '1' : '0', load === 'uncontended' ? '1' : '0', String(opts.ms), '1000'], { encoding: 'utf8' })) as { perOp: number; aggregate: number };
          per.push(out.perOp);
          agg.push(out.aggregate);
        }
        return { perOp: median(per), aggregate: load === 'contended' ? median(agg) : NaN };
      };
      for (const n of opts.sizes) {
        anchors.push({ name: "nginx's C loop, no lock (no zone), cc -O2", n, threads: 1, load: 'contended', ...c(n, 1, false, 'contended') });
        for (const load of ['contended', 'uncontended'] as const) {
          for (const threads of opts.threads) {
            anchors.push({ name: `nginx's C loop under a zone lock (ngx_rwlock_wlock), ${load}`, n, threads, load, ...c(n, threads, true, load) });
          }
        }
      }
    } catch (error) {
      process.stderr.write(`(no C anchor: ${error instanceof Error ? error.message.split('\n')[0] : String(error)})\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ started: started.toISOString(), load: loadavg(), cpus: availableParallelism(), node: process.version, opts, cells, anchors }, null, 2)}\n`);
    return;
  }
  const out = (s = ''): void => {
    process.stdout.write(`${s}\n`);
  };
  out(`zone bench, ${started.toISOString()}, node ${process.version}, ${availableParallelism()} CPUs, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  out(`pick+release, weights 1..3, median of ${opts.reps} × ${opts.ms} ms; uncontended: ~1 µs of other work between picks (work loop ${spin} iterations), its cost subtracted`);
  out();
  out('| n | load | threads | per-thread Balancer | per-thread + the zone\'s lock | zone | zone / per-thread | zone / (per-thread + lock) | contended aggregate: per-thread / zone |');
  out('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const n of opts.sizes) {
    for (const load of ['contended', 'uncontended'] as const) {
      for (const threads of opts.threads) {
        const a = cells.find((x) => x.n === n && x.load === load && x.threads === threads && x.kind === 'per-thread')!;
        const l = cells.find((x) => x.n === n && x.load === load && x.threads === threads && x.kind === 'per-thread+lock')!;
        const z = cells.find((x) => x.n === n && x.load === load && x.threads === threads && x.kind === 'zone')!;
        const aggregate = load === 'contended' ? `${fmt(a.aggregate)} / ${fmt(z.aggregate)}` : '';
        out(`| ${n} | ${load} | ${threads} | ${fmt(a.perOp)} | ${fmt(l.perOp)} | ${fmt(z.perOp)} | ${(z.perOp / a.perOp).toFixed(1)}× | ${(z.perOp / l.perOp).toFixed(2)}× | ${aggregate} |`);
      }
    }
  }
  out();
  out('| anchor | n | threads | ns per pick+release (per thread) | aggregate |');
  out('| --- | ---: | ---: | ---: | ---: |');
  for (const a of anchors) out(`| ${a.name} | ${a.n || '-'} | ${a.threads} | ${fmt(a.perOp)} | ${Number.isNaN(a.aggregate) || a.threads === 1 ? '' : fmt(a.aggregate)} |`);
}

if (isMainThread) await mainThread();
else if ((workerData as { bench?: string } | null)?.bench === 'zone') await workerMain();
