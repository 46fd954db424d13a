/**
 * Pick-path benchmarks (mitata), against the built package in dist/ (run `npm run bench`, which
 * builds first). Reports, in one run: ns per pick()+release() for n = 2, 8, 64, 1024, 10000 with
 * uniform and skewed weights (steady state), the same with one failure every 100 picks (churn), a
 * selection round on every pick (max_conns set, so no replay), the attempt path, bytes allocated per
 * pick, and the npm peers that can be
 * called the same way (wrr-pool, loadbalance, weighted-round-robin, undici BalancedPool's choice).
 *
 * Flags: --quick (fewer sizes), --json (machine-readable output), --filter REGEX (benchmark names).
 */

import { createRequire } from 'node:module';
import { bench, do_not_optimize, run } from 'mitata';

type Lib = typeof import('../src/index');
const lib: Lib = await import(process.env.UB_SRC ? '../src/index' : '../dist/index.js');
const { Balancer, ManualClock } = lib;
const require = createRequire(import.meta.url);

const quick = process.argv.includes('--quick');
const filterAt = process.argv.indexOf('--filter');
const filter = filterAt > 0 ? new RegExp(process.argv[filterAt + 1] ?? '') : /.*/;
const asJson = process.argv.includes('--json');
const SIZES = quick ? [8, 1024] : [2, 8, 64, 1024, 10000];

const weightsOf = (n: number, skewed: boolean): number[] =>
  Array.from({ length: n }, (_, i) => (skewed ? 1 + ((i * 7) % 10) : 1));
const serversOf = (weights: number[], extra: object = {}) =>
  weights.map((weight, i) => ({ address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:25`, weight, ...extra }));

/**
 * Setup outside the measured function: run `fn` until one-time work (the steady-state schedule,
 * JIT tiers) is done, so that mitata's first calls do not make it pick an unbatched, timer-bound
 * measurement for an operation that costs nanoseconds.
 */
function warm(fn: () => void, times: number): () => void {
  for (let k = 0; k < times; k++) fn();
  return fn;
}

interface Row { group: string; name: string; n: number; weights: string; per: number }
const rows = new Map<string, Row>();
/** Registers one benchmark; `per` operations run per call (the table reports time per operation). */
function add(group: string, name: string, n: number, weights: string, fn: () => void, per = 1): void {
  const key = `${group} | ${name} | n=${n} | ${weights}`;
  rows.set(key, { group, name, n, weights, per });
  bench(key, warm(fn, Math.min(200_000, 20 * n + 10_000)));
}

for (const n of SIZES) {
  for (const skewed of [false, true]) {
    const label = skewed ? 'skewed' : 'uniform';
    const steady = new Balancer({ servers: serversOf(weightsOf(n, skewed)) });
    add('steady', 'pick+release', n, label, () => {
      const s = steady.pick()!;
      steady.release(s);
      do_not_optimize(s);
    });
    // The same, 64 per call: the harness's own per-call cost (a few ns) amortised away.
    add('steady', 'pick+release (64 per call, per pick)', n, label, () => {
      for (let k = 0; k < 64; k++) {
        const s = steady.pick()!;
        steady.release(s);
        do_not_optimize(s);
      }
    }, 64);

    const clock = new ManualClock(0);
    // 1 ms per pick and a 50 ms window: each failure takes its server out for 50 picks, then a probe.
    const churn = new Balancer({ servers: serversOf(weightsOf(n, skewed), { failTimeout: 50 }), clock: clock.now });
    let k = 0;
    add('churn', 'pick+release, 1 failure/100 picks', n, label, () => {
      clock.advance(1);
      const s = churn.pick();
      if (s !== undefined) churn.release(s, ++k % 100 === 0);
      do_not_optimize(s);
    });

    // maxConns on every server (never reached) keeps the tier off its steady-state replay: every
    // pick is a selection round (the plain loop below 24 servers, lazy rounds from 24).
    const scan = new Balancer({ servers: serversOf(weightsOf(n, skewed), { maxConns: 1_000_000 }) });
    add('rounds', 'pick+release, max_conns on every server (no replay)', n, label, () => {
      const s = scan.pick()!;
      scan.release(s);
      do_not_optimize(s);
    });

    const att = new Balancer({ servers: serversOf(weightsOf(n, skewed)) });
    add('attempt', 'attempt+next+connected+release', n, label, () => {
      const a = att.attempt();
      const s = a.next()!;
      a.connected();
      a.release();
      do_not_optimize(s);
    });
  }
}

// Peers: the same weighted choice through other npm packages (dev dependencies of the bench only).
const WRRPool = require('wrr-pool');
const loadbalance = require('loadbalance');
const Peers = require('weighted-round-robin');
const { BalancedPool } = require('undici');
for (const n of quick ? [8, 1024] : [8, 64, 1024]) {
  const weights = weightsOf(n, true);
  const wrr = new WRRPool();
  weights.forEach((w, i) => wrr.add(`s${i}`, w));
  add('peers', 'wrr-pool next()', n, 'skewed', () => do_not_optimize(wrr.next()));
  const lb = new loadbalance.WeightedRoundRobinEngine(weights.map((weight, i) => ({ object: `s${i}`, weight })));
  add('peers', 'loadbalance WeightedRoundRobinEngine pick()', n, 'skewed', () => do_not_optimize(lb.pick()));
  const wr = new Peers();
  weights.forEach((weight, i) => wr.add({ server: `s${i}`, weight }));
  add('peers', 'weighted-round-robin get()', n, 'skewed', () => do_not_optimize(wr.get()));
  const pool = new BalancedPool([]);
  weights.forEach((_, i) => pool.addUpstream(`http://127.0.0.${(i % 250) + 1}:${10000 + i}`));
  const kGet = Object.getOwnPropertySymbols(Object.getPrototypeOf(Object.getPrototypeOf(pool))).find((s) => s.description === 'get dispatcher')
    ?? Object.getOwnPropertySymbols(Object.getPrototypeOf(pool)).find((s) => s.description === 'get dispatcher');
  if (kGet !== undefined) add('peers', 'undici BalancedPool choice', n, 'weights 1 (scored)', () => do_not_optimize((pool as any)[kGet]()));
}

const result = await run({ format: 'quiet', filter });

// Bytes allocated per pick: heap delta over 1e6 pick+release (needs --expose-gc, and a young
// generation large enough that no scavenge runs in between: --min-semi-space-size=64),
// in the steady state and under churn (the churn row's one failure per 100 picks).
function bytesPerPick(n: number, churn: boolean): number {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g === undefined) return NaN;
  const clock = new ManualClock(0);
  const b = new Balancer({ servers: serversOf(weightsOf(n, true), churn ? { failTimeout: 50 } : {}), clock: clock.now });
  let k = 0;
  const step = churn
    ? () => {
        clock.advance(1);
        const s = b.pick();
        if (s !== undefined) b.release(s, ++k % 100 === 0);
      }
    : () => b.release(b.pick()!);
  const picks = n >= 1024 && churn ? 200_000 : 1_000_000;
  for (let i = 0; i < picks; i++) step(); // warm: JIT work would count as allocation
  g();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < picks; i++) step();
  const after = process.memoryUsage().heapUsed;
  return (after - before) / picks;
}
/**
 * Bytes allocated per attempt: heap delta over 2e5 attempts (attempt, `failedTries` times next+fail,
 * then next+connected+release), each server's `maxFails` 0 so that the failed tries change nothing
 * but the tried set. The Attempt object is the one allocation the path may make; every next()
 * beyond the first should add nothing (the tried set is a mask up to 32 servers, a bitmap reused
 * from the tier's pool beyond). Needs a young generation that holds all of it without a scavenge
 * (`--min-semi-space-size=64`, as `npm run bench` passes), or the freed objects go uncounted.
 */
function bytesPerAttempt(n: number, failedTries: number): number {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g === undefined) return NaN;
  const clock = new ManualClock(0); // integer times: a real clock's own result is a heap number
  const b = new Balancer({ servers: serversOf(weightsOf(n, true), { maxFails: 0 }), tries: failedTries + 1, clock: clock.now });
  const step = () => {
    const a = b.attempt();
    for (let k = 0; k < failedTries; k++) {
      a.next();
      a.fail();
    }
    const s = a.next();
    a.connected();
    a.release();
    return s;
  };
  const attempts = 200_000;
  for (let i = 0; i < attempts; i++) step();
  // The least of three measurements: what else the heap gains meanwhile (compiled code, feedback)
  // only ever adds.
  let least = Infinity;
  for (let m = 0; m < 3; m++) {
    g();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < attempts; i++) do_not_optimize(step());
    const after = process.memoryUsage().heapUsed;
    least = Math.min(least, (after - before) / attempts);
  }
  return least;
}
function bytesPerObject(): number {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g === undefined) return NaN;
  const sink: object[] = [];
  g();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 100_000; i++) sink.push({ i });
  const after = process.memoryUsage().heapUsed;
  do_not_optimize(sink);
  return (after - before) / 100_000;
}

const table = result.benchmarks.map((b: any) => {
  const row = rows.get(b.alias)!;
  const stats = b.runs[0]?.stats;
  return { ...row, p50: (stats?.p50 ?? NaN) / row.per, avg: (stats?.avg ?? NaN) / row.per };
});
const allocation = SIZES.map((n) => ({ n, bytesPerPick: bytesPerPick(n, false), churnBytesPerPick: bytesPerPick(n, true) }));
const attemptAllocation = [8, 1024].map((n) => {
  const one = bytesPerAttempt(n, 0);
  return { n, bytesPerAttempt: one, bytesPerExtraNext: (bytesPerAttempt(n, 3) - one) / 3 };
});
const control = bytesPerObject();

if (asJson) {
  console.log(JSON.stringify({ runtime: process.version, cpu: result.context.cpu.name, table, allocation, attemptAllocation, control }, null, 2));
} else {
  const fmt = (ns: number) => (ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(1)} ns`);
  console.log(`node ${process.version}, ${result.context.cpu.name}; medians (p50) per iteration\n`);
  console.log('| group | operation | n | weights | p50 | avg |');
  console.log('| --- | --- | ---: | --- | ---: | ---: |');
  for (const r of table) console.log(`| ${r.group} | ${r.name} | ${r.n} | ${r.weights} | ${fmt(r.p50)} | ${fmt(r.avg)} |`);
  console.log('\n| n | bytes allocated per pick+release, steady (1e6 picks) | under churn |\n| ---: | ---: | ---: |');
  for (const a of allocation) console.log(`| ${a.n} | ${a.bytesPerPick.toFixed(3)} | ${a.churnBytesPerPick.toFixed(3)} |`);
  console.log('\n| n | bytes allocated per attempt (attempt+next+connected+release) | per further next() (3 failed tries first) |\n| ---: | ---: | ---: |');
  for (const a of attemptAllocation) console.log(`| ${a.n} | ${a.bytesPerAttempt.toFixed(1)} | ${a.bytesPerExtraNext.toFixed(2)} |`);
  console.log(`\n(control: one small object per iteration measures ${control.toFixed(1)} bytes)`);
}
