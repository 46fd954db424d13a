/**
 * A/B: the working tree's src/ against the src/ of a base commit, interleaved in one session, on the
 * rows of bench/isolated.ts (one balancer per child process): steady and churn pick+release at n = 8
 * and 1024, the attempt path at n = 8, uniform and skewed weights.
 *
 *   node --import tsx bench/ab.ts --base <commit> [--rounds N] [--head <commit>] [--rows <regexp>]
 *
 * The base commit's tree is extracted with `git archive` into /tmp/ub-base-<sha> (reused when present;
 * nothing in the repository, its index or its work tree is touched), with a symlink to this checkout's
 * node_modules. Each side runs its OWN bench/isolated.ts in child mode with UB_SRC=1 (its src/, no
 * build): `node --import tsx bench/isolated.ts --child <kind> <n> <uniform|skewed>`, which prints the
 * p50 ns per operation; a tree whose isolated.ts has no such child mode is refused.
 * `--head <commit>` measures a commit instead of the working tree (e.g. while the tree is mid-edit).
 *
 * Every run is a separate process. Rounds are the outer loop and rows the inner one, so each row's runs
 * are spread over the session; within a round, base and head take turns going first (ABBA), so that
 * drift and order effects fall on both sides. Prints a markdown table: medians, head/base, all values.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

type Kind = 'steady' | 'churn' | 'attempt';
type Shape = 'uniform' | 'skewed';


// ---------------------------------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------------------------------

const SELF = fileURLToPath(import.meta.url);
const REPO = dirname(dirname(SELF));

const ROWS: { kind: Kind; n: number; shape: Shape }[] = [];
for (const kind of ['steady', 'churn'] as const) {
  for (const n of [8, 1024]) for (const shape of ['uniform', 'skewed'] as const) ROWS.push({ kind, n, shape });
}
for (const shape of ['uniform', 'skewed'] as const) ROWS.push({ kind: 'attempt', n: 8, shape });

function usage(message: string): never {
  console.error(`${message}\nusage: node --import tsx bench/ab.ts --base <commit> [--rounds N] [--head <commit>] [--rows <regexp>]`);
  process.exit(2);
}

function parseArgs(argv: string[]): { base: string; head?: string; rounds: number; rows?: RegExp } {
  let base: string | undefined;
  let head: string | undefined;
  let rounds = 5;
  let rows: RegExp | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => argv[++i] ?? usage(`${a} needs a value`);
    if (a === '--base') base = value();
    else if (a === '--head') head = value();
    else if (a === '--rounds') rounds = Number(value());
    else if (a === '--rows') rows = new RegExp(value());
    else usage(`unknown argument ${a}`);
  }
  if (base === undefined) usage('--base is required');
  if (!Number.isInteger(rounds) || rounds < 1) usage('--rounds must be a positive integer');
  return { base, rounds, ...(head !== undefined ? { head } : {}), ...(rows !== undefined ? { rows } : {}) };
}

const git = (...args: string[]): string =>
  execFileSync('git', ['--no-optional-locks', '-C', REPO, ...args], { encoding: 'utf8' }).trim();

const subject = (sha: string): string => {
  const s = git('log', '-1', '--format=%s', sha);
  return s.length > 72 ? `${s.slice(0, 71)}…` : s;
};

/** The tree of `commit` under /tmp/ub-base-<shortsha>, by git archive; node_modules linked to this checkout's. */
function materialise(commit: string): { sha: string; dir: string } {
  const sha = git('rev-parse', '--verify', `${commit}^{commit}`);
  const dir = join(tmpdir(), `ub-base-${sha.slice(0, 12)}`);
  const done = join(dir, '.ub-ab-complete');
  if (!existsSync(done)) {
    const partial = `${dir}.partial-${process.pid}`;
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial, { recursive: true });
    const archive = execFileSync('git', ['-C', REPO, 'archive', '--format=tar', sha], { maxBuffer: 1 << 30 });
    execFileSync('tar', ['-x', '-C', partial], { input: archive });
    symlinkSync(join(REPO, 'node_modules'), join(partial, 'node_modules'), 'dir');
    writeFileSync(join(partial, '.ub-ab-complete'), `${sha}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(partial, dir);
  }
  return { sha, dir };
}

interface Side {
  label: 'base' | 'head';
  /** The tree root: cwd of its children (tsx, tsconfig and node_modules are found from there). */
  root: string;
  describe: string;
}

/** Whether a tree's bench/isolated.ts has the child mode this script drives, judged from its text. */
function hasChildMode(root: string): boolean {
  const path = join(root, 'bench', 'isolated.ts');
  if (!existsSync(path)) return false;
  const text = readFileSync(path, 'utf8');
  return (
    /process\.argv\[2\]\s*===\s*'--child'/.test(text) &&
    text.includes('UB_SRC') &&
    /process\.argv\[3\]/.test(text) &&
    /process\.argv\[4\]/.test(text) &&
    /process\.argv\[5\]\s*===\s*'skewed'/.test(text) &&
    ["'churn'", "'attempt'"].every((k) => text.includes(k))
  );
}

function runOnce(side: Side, row: (typeof ROWS)[number]): number {
  const args = ['--import', 'tsx', join(side.root, 'bench', 'isolated.ts'), '--child', row.kind, String(row.n), row.shape];
  const r = spawnSync(process.execPath, args, {
    cwd: side.root,
    env: { ...process.env, UB_SRC: '1' },
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  const ns = Number(r.stdout.trim());
  if (r.status !== 0 || !Number.isFinite(ns) || r.stdout.trim() === '') {
    throw new Error(
      `${side.label} run of ${row.kind} n=${row.n} ${row.shape} failed (exit ${r.status ?? r.signal}):\n` +
        `$ ${process.execPath} ${args.join(' ')}   (cwd ${side.root})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`,
    );
  }
  return ns;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (ns: number): string => (ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(1)} ns`);

function driver(): void {
  const opts = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const loadBefore = loadavg()[0]!;
  const base = materialise(opts.base);
  const head = opts.head !== undefined ? materialise(opts.head) : undefined;
  const headSha = git('rev-parse', 'HEAD');
  const dirty = head === undefined && git('status', '--porcelain', '--', 'src', 'bench/isolated.ts') !== '';

  // Both sides run their own bench/isolated.ts in child mode (in the repository since before the
  // restructuring); a tree without it cannot be compared by this script.
  const lacking = [base.dir, head?.dir ?? REPO].filter((root) => !hasChildMode(root));
  if (lacking.length > 0) usage(`bench/isolated.ts has no --child <kind> <n> <shape> mode in ${lacking.join(' and ')}`);
  const sides: Side[] = [
    {
      label: 'base',
      root: base.dir,
      describe: `${base.sha.slice(0, 12)} (${subject(base.sha)})`,
    },
    {
      label: 'head',
      root: head?.dir ?? REPO,
      describe:
        head !== undefined
          ? `${head.sha.slice(0, 12)} (${subject(head.sha)})`
          : `working tree at ${headSha.slice(0, 12)}${dirty ? ' + uncommitted changes in src/ or bench/isolated.ts' : ' (clean)'}`,
    },
  ];
  const rows = ROWS.filter((r) => opts.rows === undefined || opts.rows.test(`${r.kind} ${r.n} ${r.shape}`));
  if (rows.length === 0) usage('--rows matches no row');

  const isolatedText = (root: string): string | null =>
    existsSync(join(root, 'bench', 'isolated.ts')) ? readFileSync(join(root, 'bench', 'isolated.ts'), 'utf8') : null;
  const benchDiffers = isolatedText(sides[0]!.root) !== isolatedText(sides[1]!.root);

  const results = new Map<string, { base: number[]; head: number[] }>();
  for (const row of rows) results.set(`${row.kind} ${row.n} ${row.shape}`, { base: [], head: [] });
  const total = opts.rounds * rows.length * 2;
  let done = 0;
  for (let round = 0; round < opts.rounds; round++) {
    rows.forEach((row, i) => {
      const order = (round + i) % 2 === 0 ? [sides[0]!, sides[1]!] : [sides[1]!, sides[0]!];
      for (const side of order) {
        const ns = runOnce(side, row);
        results.get(`${row.kind} ${row.n} ${row.shape}`)![side.label].push(ns);
        done++;
        process.stderr.write(
          `\r[${done}/${total}] round ${round + 1}/${opts.rounds} ${side.label} ${row.kind} n=${row.n} ${row.shape}: ${fmt(ns)}        `,
        );
      }
    });
  }
  process.stderr.write('\n');
  const seconds = (performance.now() - started) / 1000;
  const loadAfter = loadavg()[0]!;

  const TITLE: Record<Kind, string> = {
    steady: 'steady pick+release',
    churn: 'churn pick+release',
    attempt: 'attempt+next+connected+release',
  };
  console.log(`\n## A/B: ${sides[1]!.describe} vs base ${sides[0]!.describe}\n`);
  console.log(
    `node ${process.version}, ${opts.rounds} rounds, one child process per run, base/head alternating (ABBA); ` +
      `p50 per operation (64 per call, mitata); ${seconds.toFixed(0)} s in all; ` +
      `load average ${loadBefore.toFixed(2)} at the start, ${loadAfter.toFixed(2)} at the end on ${availableParallelism()} CPUs.`,
  );
  if (benchDiffers) console.log('\n> bench/isolated.ts differs between base and head: the ratios include changes to the benchmark itself.');
  console.log('\n| row | base median | head median | head/base | min head/base | base runs (ns) | head runs (ns) |');
  console.log('| --- | ---: | ---: | ---: | ---: | --- | --- |');
  for (const row of rows) {
    const r = results.get(`${row.kind} ${row.n} ${row.shape}`)!;
    const b = median(r.base);
    const h = median(r.head);
    console.log(
      `| ${TITLE[row.kind]}, n=${row.n} ${row.shape} | ${fmt(b)} | ${fmt(h)} | ${(h / b).toFixed(3)} | ${(Math.min(...r.head) / Math.min(...r.base)).toFixed(3)} | ${r.base.map((x) => x.toFixed(1)).join(', ')} | ${r.head.map((x) => x.toFixed(1)).join(', ')} |`,
    );
  }
}

driver();
