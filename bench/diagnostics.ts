/**
 * What the diagnostics channels cost (src/events.ts): the same rows on two source trees, one child
 * process per measurement (one balancer in it, as bench/isolated.ts runs them), mitata's p50 per
 * operation (64 operations per call):
 * - `steady n=8`: pick()+release(), no event at all;
 * - `churn n=8`: 1 ms per pick, one failure every 100 picks, fail_timeout 50 ms (isolated.ts's churn):
 *   a `state` event per failure and per recovery, about 2 per 100 picks;
 * - `failing n=8`: every release a failure (max_fails 1, fail_timeout 4 ms, 1 ms per pick): a `state`
 *   event on most picks, and `exhausted` when all eight are out.
 * - `guard`: the test an emission site makes before it builds an event nobody hears: the base's
 *   `listenerCount(event) !== 0`, the head's `isObserved(balancer, event)` (a subscriber makes it
 *   true, so the subscribed column times the test that passes).
 * The head tree runs each row without a subscriber and with one on every `upstream-balancer:*`
 * channel (a handler that reads the message); the base tree (a commit before the channels) without.
 *
 *   node --import tsx bench/diagnostics.ts [--base <commit>] [--head <commit>|<dir>] [--rounds N] [--rows REGEX]
 *
 * `--base` defaults to HEAD, `--head` to this working tree (a directory is taken as a tree root:
 * `src/` and `node_modules` in it). A commit is extracted with `git archive` into
 * /tmp/ub-base-<sha> (as bench/ab.ts does; nothing in the repository is touched). Rounds are the
 * outer loop, rows and sides the inner one, alternating which side goes first. Prints a markdown
 * table of medians and minima, then every value.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const CHANNELS = ['state', 'tier', 'exhausted', 'check', 'fault', 'resolve', 'resolveError'].map((e) => `upstream-balancer:${e}`);
const ROWS = ['guard', 'steady', 'churn', 'failing'] as const;
type Row = (typeof ROWS)[number];

if (process.argv[2] === '--child') {
  // --child <tree root> <row> <subscribed 0|1>
  const root = process.argv[3]!;
  const row = process.argv[4] as Row;
  const subscribed = process.argv[5] === '1';
  const { bench, do_not_optimize, run } = await import('mitata');
  const { Balancer } = await import(join(root, 'src', 'balancer.ts'));
  const { ManualClock } = await import(join(root, 'src', 'clock.ts'));
  let heard = 0;
  if (subscribed) {
    const diagnostics = await import('node:diagnostics_channel');
    for (const name of CHANNELS) diagnostics.subscribe(name, (message) => void (heard += (message as { balancer?: unknown }).balancer === undefined ? 0 : 1));
  }
  const clock = new ManualClock(0);
  const b = new Balancer({
    servers: Array.from({ length: 8 }, (_, i) => ({
      address: `10.0.0.${i + 1}:25`,
      ...(row === 'churn' ? { failTimeout: 50 } : row === 'failing' ? { failTimeout: 4 } : {}),
    })),
    clock: clock.now,
  });
  let k = 0;
  const events = await import(join(root, 'src', 'events.ts'));
  const isObserved: ((emitter: unknown, event: string) => boolean) | undefined = events.isObserved;
  const f =
    row === 'guard'
      ? isObserved === undefined
        ? () => {
            for (let j = 0; j < 64; j++) do_not_optimize(b.listenerCount('state') !== 0);
          }
        : () => {
            for (let j = 0; j < 64; j++) do_not_optimize(isObserved(b, 'state'));
          }
      : row === 'steady'
      ? () => {
          for (let j = 0; j < 64; j++) {
            const s = b.pick();
            b.release(s);
            do_not_optimize(s);
          }
        }
      : () => {
          for (let j = 0; j < 64; j++) {
            clock.advance(1);
            const s = b.pick();
            if (s !== undefined) b.release(s, row === 'failing' || ++k % 100 === 0);
            do_not_optimize(s);
          }
        };
  for (let j = 0; j < 50_000; j++) f();
  if (subscribed && (row === 'churn' || row === 'failing') && heard === 0) throw new Error(`the ${row} row published nothing: no channels in ${root}?`);
  bench(row, f);
  const r = await run({ format: 'quiet' });
  process.stdout.write(String((r.benchmarks[0]?.runs[0]?.stats?.p50 ?? NaN) / 64));
} else {
  const SELF = fileURLToPath(import.meta.url);
  const REPO = dirname(dirname(SELF));
  const args = process.argv.slice(2);
  const option = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i < 0 ? undefined : (args[i + 1] ?? usage(`${name} needs a value`));
  };
  const rounds = Number(option('--rounds') ?? 5);
  const only = option('--rows');
  const rows = ROWS.filter((row) => only === undefined || new RegExp(only).test(row));
  if (!Number.isInteger(rounds) || rounds < 1) usage('--rounds must be a positive integer');
  const base = treeOf(option('--base') ?? 'HEAD');
  const headOption = option('--head');
  const head = headOption === undefined ? { root: REPO, describe: 'working tree' } : treeOf(headOption);

  const results = new Map<string, number[]>();
  const record = (key: string, ns: number) => results.set(key, [...(results.get(key) ?? []), ns]);
  const sides = [
    { key: 'base', root: base.root, subscribed: false },
    { key: 'head', root: head.root, subscribed: false },
    { key: 'head+sub', root: head.root, subscribed: true },
  ];
  for (let round = 0; round < rounds; round++) {
    for (const row of rows) {
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) record(`${row} ${side.key}`, once(side.root, row, side.subscribed));
    }
    process.stderr.write(`round ${round + 1}/${rounds} done\n`);
  }
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  console.log(`base: ${base.describe}; head: ${head.describe}; ${rounds} rounds: median (min) of the p50 per operation\n`);
  console.log('| row | base | head, no subscriber | head, a subscriber on every channel | head / base | subscribed / not |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  const cell = (xs: number[]): string => `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}) ns`;
  const ratio = (a: number[], b: number[]): string => `${(median(a) / median(b)).toFixed(2)} (${(Math.min(...a) / Math.min(...b)).toFixed(2)})`;
  for (const row of rows) {
    const [b, h, s] = ['base', 'head', 'head+sub'].map((k) => results.get(`${row} ${k}`)!) as [number[], number[], number[]];
    console.log(`| ${row} n=8 | ${cell(b)} | ${cell(h)} | ${cell(s)} | ${ratio(h, b)} | ${ratio(s, h)} |`);
  }
  console.log('\nall values (ns):');
  for (const [key, xs] of results) console.log(`  ${key}: ${xs.map((x) => x.toFixed(1)).join(' ')}`);

  function once(root: string, row: Row, subscribed: boolean): number {
    const childArgs = ['--import', 'tsx', SELF, '--child', root, row, subscribed ? '1' : '0'];
    const r = spawnSync(process.execPath, childArgs, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 24 });
    const ns = Number(r.stdout.trim());
    if (r.status !== 0 || r.stdout.trim() === '' || !Number.isFinite(ns)) {
      throw new Error(`${row} on ${root} failed (exit ${r.status ?? r.signal}):\n${r.stderr}`);
    }
    return ns;
  }

  /** A tree root for a directory or a commit (extracted once into /tmp/ub-base-<sha>). */
  function treeOf(ref: string): { root: string; describe: string } {
    if (existsSync(ref) && existsSync(join(ref, 'src', 'balancer.ts'))) return { root: resolve(ref), describe: resolve(ref) };
    const git = (...a: string[]): string => execFileSync('git', ['--no-optional-locks', '-C', REPO, ...a], { encoding: 'utf8' }).trim();
    const sha = git('rev-parse', '--verify', `${ref}^{commit}`);
    const dir = join(tmpdir(), `ub-base-${sha.slice(0, 12)}`);
    if (!existsSync(join(dir, '.ub-ab-complete'))) {
      const partial = `${dir}.partial-${process.pid}`;
      rmSync(partial, { recursive: true, force: true });
      mkdirSync(partial, { recursive: true });
      execFileSync('tar', ['-x', '-C', partial], { input: execFileSync('git', ['-C', REPO, 'archive', '--format=tar', sha], { maxBuffer: 1 << 30 }) });
      symlinkSync(join(REPO, 'node_modules'), join(partial, 'node_modules'), 'dir');
      writeFileSync(join(partial, '.ub-ab-complete'), `${sha}\n`);
      rmSync(dir, { recursive: true, force: true });
      renameSync(partial, dir);
    }
    return { root: dir, describe: `${sha.slice(0, 12)} (${git('log', '-1', '--format=%s', sha).slice(0, 60)})` };
  }
}

function usage(message: string): never {
  console.error(`${message}\nusage: node --import tsx bench/diagnostics.ts [--base <commit>] [--head <commit>|<dir>] [--rounds N] [--rows REGEX]`);
  process.exit(2);
}
