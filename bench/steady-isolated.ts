/**
 * The steady-state pick+release of one balancer alone in its process, as in a proxy that embeds one
 * upstream: one child process per pool size and weight shape, so that no other balancer's code paths
 * (churn, scans, attempts) share the inline caches being measured, as they do in bench/index.ts.
 * Reports mitata's p50 per pick+release, 64 picks per call (the harness's per-call cost amortised).
 */

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SIZES = [2, 8, 64, 1024, 10000];

if (process.argv[2] === '--child') {
  const { bench, do_not_optimize, run } = await import('mitata');
  const { Balancer } = await import(process.env.UB_SRC ? '../src/index' : '../dist/index.js');
  const n = Number(process.argv[3]);
  const skewed = process.argv[4] === 'skewed';
  const b = new Balancer({
    servers: Array.from({ length: n }, (_, i) => ({ address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:25`, weight: skewed ? 1 + ((i * 7) % 10) : 1 })),
  });
  const f = () => {
    for (let k = 0; k < 64; k++) {
      const s = b.pick();
      b.release(s);
      do_not_optimize(s);
    }
  };
  for (let k = 0; k < 50_000; k++) f();
  bench('steady', f);
  const r = await run({ format: 'quiet' });
  process.stdout.write(String((r.benchmarks[0]?.runs[0]?.stats?.p50 ?? NaN) / 64));
} else {
  const self = fileURLToPath(import.meta.url);
  console.log('\n| steady pick+release, one balancer per process (p50 per pick, 64 per call) | n=2 | 8 | 64 | 1024 | 10000 |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const shape of ['uniform', 'skewed']) {
    const cells = SIZES.map((n) => {
      const out = execFileSync(process.execPath, ['--import', 'tsx', self, '--child', String(n), shape], { encoding: 'utf8' });
      return `${Number(out).toFixed(1)} ns`;
    });
    console.log(`| ${shape} | ${cells.join(' | ')} |`);
  }
}
