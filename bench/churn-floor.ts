/**
 * The churn row of bench/isolated.ts (at 8 servers unless `--servers`) (pick+release, 1 ms per pick, one failure every
 * 100 picks, fail_timeout 50 ms) against its object-state floor (bench/floor.ts `InstanceScan`),
 * for a loaded machine: the Balancers of one or more source trees and the floor run in ONE process,
 * taking turns every round (each its own module instances, so no inline cache is shared), and each
 * round is timed in CPU time (`process.cpuUsage`), not wall time, so that time the process spends
 * descheduled by other work is not counted. Prints each subject's median and minimum ns per
 * pick+release and its ratio to the floor of the same round (median and range).
 *
 *   node --import tsx bench/churn-floor.ts [--shape skewed|uniform] [--rounds 15] [--servers 8] [--fail-every 100]
 *     [--fail-timeout 50] [--dist] [tree ...]
 *
 * A tree is a directory holding `src/` and `bench/floor.ts` (default: this checkout; a base commit's
 * tree from `git archive <commit> | tar -x -C <dir>`, with `node_modules` linked); with `--dist`,
 * each tree's built `dist/index.js` is loaded instead of its `src/` (build each tree first). The floor comes
 * from the first tree. One process for all subjects differs from isolated.ts (one per row), whose
 * figures are the reference; this is the check of a ratio when isolated.ts is swamped by the load.
 */

import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const value = args[at + 1] ?? fallback;
  args.splice(at, 2);
  return value;
};
const shape = option('--shape', 'skewed');
const rounds = Number(option('--rounds', '15'));
const n = Number(option('--servers', '8'));
const failEvery = Number(option('--fail-every', '100'));
const failTimeout = Number(option('--fail-timeout', '50'));
const dist = args.includes('--dist');
if (dist) args.splice(args.indexOf('--dist'), 1);
const trees = args.length > 0 ? args.map((t) => resolve(t)) : [resolve(fileURLToPath(import.meta.url), '../..')];

const weights = Array.from({ length: n }, (_, i) => (shape === 'skewed' ? 1 + ((i * 7) % 10) : 1));
const PICKS_PER_STEP = 64;
let sink = 0;

interface Subject {
  name: string;
  step: () => void;
  samples: number[];
}
const subjects: Subject[] = [];
for (const tree of trees) {
  const { Balancer, ManualClock } = await import(dist ? `${tree}/dist/index.js` : `${tree}/src/index.ts`);
  const clock = new ManualClock(0);
  const b = new Balancer({ servers: weights.map((weight, i) => ({ address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:25`, weight, failTimeout })), clock: clock.now });
  let k = 0;
  subjects.push({
    name: tree,
    samples: [],
    step: () => {
      for (let j = 0; j < PICKS_PER_STEP; j++) {
        clock.advance(1);
        const s = b.pick();
        if (s !== undefined) b.release(s, ++k % failEvery === 0);
        sink += s === undefined ? 0 : 1;
      }
    },
  });
}
{
  const { ManualClock } = await import(dist ? `${trees[0]}/dist/index.js` : `${trees[0]}/src/index.ts`);
  const { InstanceScan } = await import(`${trees[0]}/bench/floor.ts`);
  const clock = new ManualClock(0);
  const scan = new InstanceScan(weights, failTimeout, clock.now);
  let k = 0;
  subjects.push({
    name: "floor (nginx's scan, state in an object)",
    samples: [],
    step: () => {
      for (let j = 0; j < PICKS_PER_STEP; j++) {
        clock.advance(1);
        const i = scan.pick();
        if (i >= 0) scan.release(i, ++k % failEvery === 0);
        sink += i;
      }
    },
  });
}

const STEPS = 20_000;
for (const s of subjects) for (let j = 0; j < 30_000; j++) s.step();
for (let round = 0; round < rounds; round++) {
  for (const s of subjects) {
    const before = process.cpuUsage();
    for (let j = 0; j < STEPS; j++) s.step();
    const used = process.cpuUsage(before);
    s.samples.push(((used.user + used.system) * 1000) / (STEPS * PICKS_PER_STEP));
  }
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[xs.length >> 1]!;
const floor = subjects[subjects.length - 1]!;
console.log(`churn at ${n} servers, ${shape} weights, a failure every ${failEvery} picks, fail_timeout ${failTimeout}, ${rounds} rounds, CPU ns per pick+release (sink ${sink > 0 ? 'ok' : '0'})`);
console.log('| subject | median | min | / floor, median | / floor, range |');
console.log('| --- | ---: | ---: | ---: | --- |');
for (const s of subjects) {
  const ratios = s.samples.map((v, k) => v / floor.samples[k]!).sort((a, b) => a - b);
  console.log(
    `| ${s.name} | ${median(s.samples).toFixed(1)} | ${Math.min(...s.samples).toFixed(1)} | ${median(ratios).toFixed(2)} | ${ratios[0]!.toFixed(2)}–${ratios[ratios.length - 1]!.toFixed(2)} |`,
  );
}
