/**
 * The pick paths of one balancer alone in its process, as in a proxy that embeds one upstream: one
 * child process per row and pool size, so that no other balancer's code paths share the inline
 * caches being measured, as they do in bench/index.ts (where the same operations cost a few ns more).
 * Rows: the steady state (pick+release), churn (pick+release with one failure every 100 picks,
 * 1 ms per pick, fail_timeout 50 ms) and the attempt path (attempt+next+connected+release), uniform
 * and skewed weights. Reports mitata's p50 per operation, 64 per call (the harness's per-call cost
 * amortised).
 */

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SIZES = [2, 8, 64, 1024, 10000];

if (process.argv[2] === '--child') {
  const { bench, do_not_optimize, run } = await import('mitata');
  const { Balancer, ManualClock } = await import(process.env.UB_SRC ? '../src/index' : '../dist/index.js');
  const kind = process.argv[3];
  const n = Number(process.argv[4]);
  const skewed = process.argv[5] === 'skewed';
  const clock = new ManualClock(0);
  const b = new Balancer({
    servers: Array.from({ length: n }, (_, i) => ({
      address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:25`,
      weight: skewed ? 1 + ((i * 7) % 10) : 1,
      ...(kind === 'churn' ? { failTimeout: 50 } : {}),
    })),
    clock: clock.now,
  });
  let k = 0;
  const f =
    kind === 'churn'
      ? () => {
          for (let j = 0; j < 64; j++) {
            clock.advance(1);
            const s = b.pick();
            if (s !== undefined) b.release(s, ++k % 100 === 0);
            do_not_optimize(s);
          }
        }
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
  for (let j = 0; j < Math.max(2_000, 5_000_000 / (n + 50)); j++) f();
  bench(kind, f);
  const r = await run({ format: 'quiet' });
  process.stdout.write(String((r.benchmarks[0]?.runs[0]?.stats?.p50 ?? NaN) / 64));
} else {
  const self = fileURLToPath(import.meta.url);
  for (const kind of ['steady', 'churn', 'attempt']) {
    const what =
      kind === 'steady' ? 'steady pick+release' : kind === 'churn' ? 'churn: pick+release, 1 failure/100 picks' : 'attempt+next+connected+release';
    console.log(`\n| ${what}, one balancer per process (p50 per pick, 64 per call) | n=2 | 8 | 64 | 1024 | 10000 |`);
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
