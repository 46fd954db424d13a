/**
 * The pick paths of one balancer alone in its process, as in a proxy that embeds one upstream: one
 * child process per row and pool size, so that no other balancer's code paths share the inline
 * caches being measured, as they do in bench/index.ts (where the same operations cost a few ns more).
 * Rows: the steady state (pick+release), churn (pick+release with one failure every 100 picks,
 * 1 ms per pick, fail_timeout 50 ms) and the attempt path (attempt+next+connected+release), uniform
 * and skewed weights; then two floors for the churn row (bench/floor.ts): nginx's scan alone in plain
 * JavaScript, its state in an object and in module constants, each checked pick by pick against the
 * Balancer before it is timed. Reports mitata's p50 per operation, 64 per call (the harness's
 * per-call cost amortised); with `UB_CPU=1`, the median of nine chunks timed in CPU time
 * (`process.cpuUsage`) instead, for a machine loaded by other work (wall time then counts the time
 * the child waits for a processor).
 *
 * `--pair [K]`: the churn row at 8 servers against the object-state floor (issue 18 item 4) with
 * both in each child, K children per weight shape (default 3): each child times the two loops in
 * alternating chunks of 1.28 M picks in CPU time and reports each chunk pair's ratio, so that a
 * change of the machine's pace between two children (this machine runs a process at one of two
 * speeds) does not land in the ratio. The two loops share no call site.
 */

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cpuChunk, median, pairedChildren } from './paired';

const SIZES = [2, 8, 64, 1024, 10000];
/** Chunk pairs timed by the `pair` child (each chunk 1.28 M picks of one side, in CPU time). */
const PAIRED_CHUNKS = 24;

if (process.argv[2] === '--child') {
  const { bench, do_not_optimize, run } = await import('mitata');
  const { Balancer, ManualClock } = await import(process.env.UB_SRC ? '../src/index' : '../dist/index.js');
  const kind = process.argv[3]!;
  const n = Number(process.argv[4]);
  const skewed = process.argv[5] === 'skewed';
  const paired = kind === 'pair';
  const floor = kind.startsWith('floor-') || paired;
  const weights = Array.from({ length: n }, (_, i) => (skewed ? 1 + ((i * 7) % 10) : 1));
  const clock = new ManualClock(0);
  const b = new Balancer({
    servers: weights.map((weight, i) => ({
      address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:25`,
      weight,
      ...(kind === 'churn' || floor ? { failTimeout: 50 } : {}),
    })),
    clock: clock.now,
  });
  let k = 0;
  let scan: import('./floor').Scan | null = null;
  if (floor) {
    const { InstanceScan, moduleScan, checkAgainst } = await import('./floor');
    scan = kind === 'floor-module' ? moduleScan(weights, 50, clock.now) : new InstanceScan(weights, 50, clock.now);
    // The same picks as the Balancer's over 200 failure cycles, or no row.
    const servers = b.servers;
    const index = new Map<unknown, number>(servers.map((s: unknown, i: number) => [s, i] as const));
    checkAgainst(
      scan,
      {
        pick: () => {
          const s = b.pick();
          return s === undefined ? -1 : index.get(s)!;
        },
        release: (i: number, failed: boolean) => b.release(servers[i]!, failed),
      },
      () => clock.advance(1),
      20_000,
    );
  }
  // the churn loops, each handing its results to `use` (a pair child times both, in turns, each
  // with a sink of its own: one shared function would see both types; they share no call site)
  const floorLoopWith = (use: (i: number) => void) => (): void => {
    const s = scan!;
    for (let j = 0; j < 64; j++) {
      clock.advance(1);
      const i = s.pick();
      if (i >= 0) s.release(i, ++k % 100 === 0);
      use(i);
    }
  };
  const churnLoopWith = (use: (server: unknown) => void) => (): void => {
    for (let j = 0; j < 64; j++) {
      clock.advance(1);
      const s = b.pick();
      if (s !== undefined) b.release(s, ++k % 100 === 0);
      use(s);
    }
  };
  const f =
    kind.startsWith('floor-')
      ? floorLoopWith(do_not_optimize)
      : kind === 'churn'
      ? churnLoopWith(do_not_optimize)
      : kind === 'attempt'
        ? () => {
            for (let j = 0; j < 64; j++) {
              const a = b.attempt();
              const s = a.next();
              a.connected();
              a.release();
              do_not_optimize(s);
            }
          }
        : () => {
            for (let j = 0; j < 64; j++) {
              const s = b.pick();
              b.release(s);
              do_not_optimize(s);
            }
          };
  if (paired) {
    // the churn loop and the object-state floor in one process, timed in alternating chunks
    let sink = 0;
    const churnLoop = churnLoopWith((server) => {
      if (server === undefined) sink++;
    });
    const floorLoop = floorLoopWith((i) => {
      sink += i;
    });
    const chunk = (g: () => void): number => cpuChunk(g, 20_000);
    for (let w = 0; w < 40; w++) {
      chunk(churnLoop);
      chunk(floorLoop);
    }
    const pairs: [number, number][] = [];
    for (let c = 0; c < PAIRED_CHUNKS; c++) {
      // the order alternates, so neither side is always first after a change of the machine's pace
      let churnNs: number;
      let floorNs: number;
      if (c % 2 === 0) {
        churnNs = chunk(churnLoop);
        floorNs = chunk(floorLoop);
      } else {
        floorNs = chunk(floorLoop);
        churnNs = chunk(churnLoop);
      }
      pairs.push([churnNs, floorNs]);
    }
    process.stdout.write(JSON.stringify({ pairs, sink }));
  } else {
    for (let j = 0; j < Math.max(2_000, 5_000_000 / (n + 50)); j++) f();
    if (process.env.UB_CPU) {
      // CPU time instead of mitata's wall time (a loaded machine): the median of 9 timed chunks.
      const calls = Math.max(500, 2_000_000 / (n + 50));
      const chunks = Array.from({ length: 9 }, () => cpuChunk(f, calls));
      process.stdout.write(String(median(chunks)));
    } else {
      bench(kind, f);
      const r = await run({ format: 'quiet' });
      process.stdout.write(String((r.benchmarks[0]?.runs[0]?.stats?.p50 ?? NaN) / 64));
    }
  }
} else if (pairedChildren(process.argv) !== null) {
  // churn at 8 against the object-state floor, both in each child (issue 18 item 4)
  const self = fileURLToPath(import.meta.url);
  const runs = pairedChildren(process.argv)!;
  console.log(`| weights | child | churn, median of ${PAIRED_CHUNKS} chunks (ns) | floor, median (ns) | churn / floor, median of the chunk pairs | fastest / fastest |`);
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (let r = 0; r < runs; r++) {
    for (const shape of ['uniform', 'skewed']) {
      const out = execFileSync(process.execPath, ['--import', 'tsx', self, '--child', 'pair', '8', shape], { encoding: 'utf8' });
      const { pairs } = JSON.parse(out) as { pairs: [number, number][] };
      const churn = pairs.map((p) => p[0]);
      const floor = pairs.map((p) => p[1]);
      const ratios = pairs.map(([c, f]) => c / f);
      const spread = `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`;
      console.log(`| ${shape} | ${r} | ${median(churn).toFixed(1)} | ${median(floor).toFixed(1)} | ${median(ratios).toFixed(2)} (pairs ${spread}) | ${(Math.min(...churn) / Math.min(...floor)).toFixed(2)} |`);
    }
  }
} else {
  const self = fileURLToPath(import.meta.url);
  const TITLES: Record<string, string> = {
    steady: 'steady pick+release, one balancer per process',
    churn: 'churn: pick+release, 1 failure/100 picks, one balancer per process',
    attempt: 'attempt+next+connected+release, one balancer per process',
    'floor-instance': "churn floor: nginx's scan alone in plain JS, state in an object",
    'floor-module': "churn floor: nginx's scan alone in plain JS, state in module constants",
  };
  for (const kind of Object.keys(TITLES)) {
    console.log(`\n| ${TITLES[kind]} (p50 per pick, 64 per call) | n=2 | 8 | 64 | 1024 | 10000 |`);
    console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const shape of ['uniform', 'skewed']) {
      const cells = SIZES.map((n) => {
        const out = execFileSync(process.execPath, ['--import', 'tsx', self, '--child', kind, String(n), shape], { encoding: 'utf8' });
        const ns = Number(out);
        return ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(1)} ns`;
      });
      console.log(`| ${shape} | ${cells.join(' | ')} |`);
    }
  }
}
