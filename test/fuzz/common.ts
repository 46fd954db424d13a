/**
 * Shared pieces of the fuzz and soak suite (issue 14): the budget every area's `run()` takes, the
 * summary it returns, the error it throws on a violated invariant (with the seed that reproduces it),
 * a seedable PRNG, coarse complexity checks on doubling inputs, heap measurement with a forced
 * collection, and a child-process runner with a timeout and an RSS cap for cases that may hang or
 * allocate without bound.
 *
 * Timing is used only as a coarse complexity check with wide margins (t(4n) < 8·t(n) + a constant,
 * the least of several repetitions), never as a speed target.
 */

import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { KNOWN_OPEN } from './known';

/** How long and from where one area runs. */
export interface Budget {
  /** Scale of the run: random cases, requests or operations, depending on the area. */
  iterations: number;
  /** Seed of the run's PRNG: the same seed and iterations repeat the same run. */
  seed: number;
  /** Optional progress output (the soak prints it). */
  log?: (line: string) => void;
  /** Larger sizes and longer timeouts for the complexity and child-process checks (the soak). */
  long?: boolean;
}

/** What one area did. */
export interface Summary {
  area: string;
  seed: number;
  /** Operations run (requests, parses, Balancer calls, ...). */
  ops: number;
  /** Violations found: 0 unless they were all known (a new one throws). */
  failures: number;
  /** Known open problems observed (docs of each in known.ts), by id: count and first detail. */
  known: Record<string, { count: number; first: string }>;
  /** Known open problems that did not show in a case that used to show them (maybe fixed). */
  fixed: string[];
  /** Extra counters. */
  stats: Record<string, number>;
  ms: number;
}

/** A violated invariant: the area, the invariant's id, the seed and what happened. */
export class FuzzFailure extends Error {
  constructor(
    readonly area: string,
    readonly invariant: string,
    readonly seed: number,
    detail: string,
  ) {
    super(`[${area}] ${invariant} (seed ${seed}): ${detail}`);
    this.name = 'FuzzFailure';
  }
}

/** `FUZZ_STRICT=1`: known open problems throw like new ones (re-run after the fixes land). */
export const STRICT = process.env.FUZZ_STRICT === '1';

/** Collects an area's counters and failures. */
export class Recorder {
  readonly summary: Summary;
  readonly #t0 = performance.now();
  constructor(area: string, seed: number) {
    this.summary = { area, seed, ops: 0, failures: 0, known: {}, fixed: [], stats: {}, ms: 0 };
  }

  count(stat: string, n = 1): void {
    this.summary.stats[stat] = (this.summary.stats[stat] ?? 0) + n;
  }

  /**
   * A violated invariant: throws `FuzzFailure`, unless `id` is a known open problem (known.ts) and
   * the run is not strict, in which case it is counted and the run goes on.
   */
  fail(id: string, seed: number, detail: string): void {
    const known = KNOWN_OPEN[id];
    if (known !== undefined && !STRICT) {
      const k = (this.summary.known[id] ??= { count: 0, first: `seed ${seed}: ${detail.slice(0, 600)}` });
      k.count++;
      return;
    }
    this.summary.failures++;
    throw new FuzzFailure(this.summary.area, id, seed, detail);
  }

  /** A case that showed a known problem before passed now: noted (known.ts may be out of date). */
  passedKnown(id: string): void {
    if (KNOWN_OPEN[id] !== undefined && !this.summary.fixed.includes(id)) this.summary.fixed.push(id);
  }

  done(): Summary {
    this.summary.ms = Math.round(performance.now() - this.#t0);
    // an id seen failing somewhere is not "fixed"
    this.summary.fixed = this.summary.fixed.filter((id) => this.summary.known[id] === undefined);
    return this.summary;
  }
}

/** mulberry32 with helpers; every random choice of a run comes from one of these. */
export class Rng {
  #a: number;
  constructor(seed: number) {
    this.#a = seed >>> 0;
  }
  /** Float in [0, 1). */
  next(): number {
    this.#a = (this.#a + 0x6d2b79f5) >>> 0;
    let t = this.#a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  /** A fresh 32-bit seed for a sub-case. */
  seed(): number {
    return (this.next() * 4294967296) >>> 0;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

/** A random seed for a soak run (printed, so that a failure can be repeated). */
export function randomSeed(): number {
  return (Math.random() * 4294967296) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Memory

let gcFn: (() => void) | null | undefined;

/** A full collection, when one can be forced (the flag is set at run time: vitest's workers lack it). */
export function collect(): void {
  if (gcFn === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      gcFn = vm.runInNewContext('gc') as () => void;
    } catch {
      gcFn = null;
    }
  }
  gcFn?.();
}

/** Heap in use after a forced collection, in bytes. */
export function heapAfterGc(): number {
  collect();
  return process.memoryUsage().heapUsed;
}

export const MB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Complexity on doubling inputs

/** Least wall time of `reps` calls of `f`, in ms; with `gc`, each after a full collection. */
export function leastTime(f: () => void, reps = 3, gc = false): number {
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    if (gc) collect();
    const t0 = performance.now();
    f();
    const t = performance.now() - t0;
    if (t < best) best = t;
  }
  return best;
}

/**
 * Linear time on doubling inputs, checked over two doublings: whether `run(4n)` costs less than
 * `factor`·cost(n) + `slackMs` (default 8: linear is 4, quadratic 16; one doubling alone, 2 against
 * 4, is too close to tell apart once large strings and collections add their noise). The least of a
 * few repetitions, measured again (up to four rounds) while it looks superlinear: a busy machine
 * can slow one measurement, a quadratic algorithm shows 16x every time. Returns the timings for
 * the report.
 */
export function doublingCheck(
  run: (n: number) => () => void,
  n: number,
  /** `gc`: a full collection before each timed call (for allocation-heavy calls: less noise). */
  opts: { factor?: number; slackMs?: number; reps?: number; gc?: boolean } = {},
): { ok: boolean; small: number; big: number } {
  const factor = opts.factor ?? 8;
  const gc = opts.gc === true;
  const slack = opts.slackMs ?? 8;
  const reps = opts.reps ?? 3;
  const small = run(n);
  const big = run(4 * n);
  small();
  big();
  let ts = Infinity;
  let tb = Infinity;
  for (let round = 0; round < 4; round++) {
    ts = Math.min(ts, leastTime(small, reps, gc));
    tb = Math.min(tb, leastTime(big, reps, gc));
    if (tb < factor * ts + slack) return { ok: true, small: ts, big: tb };
    // far past the bound: not a disturbed measurement, no need to measure again
    if (tb > 2 * factor * ts + 4 * slack) break;
  }
  return { ok: false, small: ts, big: tb };
}

/** `doublingCheck` for a call that completes asynchronously (a streaming request handler). */
export async function doublingCheckAsync(
  run: (n: number) => () => Promise<void>,
  n: number,
  opts: { factor?: number; slackMs?: number; reps?: number; gc?: boolean } = {},
): Promise<{ ok: boolean; small: number; big: number }> {
  const factor = opts.factor ?? 8;
  const slack = opts.slackMs ?? 8;
  const reps = opts.reps ?? 3;
  const least = async (f: () => Promise<void>): Promise<number> => {
    let best = Infinity;
    for (let i = 0; i < reps; i++) {
      if (opts.gc === true) collect();
      const t0 = performance.now();
      await f();
      best = Math.min(best, performance.now() - t0);
    }
    return best;
  };
  const small = run(n);
  const big = run(4 * n);
  await small();
  await big();
  let ts = Infinity;
  let tb = Infinity;
  for (let round = 0; round < 4; round++) {
    ts = Math.min(ts, await least(small));
    tb = Math.min(tb, await least(big));
    if (tb < factor * ts + slack) return { ok: true, small: ts, big: tb };
    if (tb > 2 * factor * ts + 4 * slack) break;
  }
  return { ok: false, small: ts, big: tb };
}

// ---------------------------------------------------------------------------------------------
// A request handler called in process

/** A `ServerResponse` stand-in: a real Writable (write, end, drain, close) with the header calls. */
export class FakeResponse extends Writable {
  statusCode = 200;
  headersSent = false;
  readonly headers = new Map<string, unknown>();
  readonly chunks: Buffer[] = [];
  writeHead(code: number, ...rest: unknown[]): this {
    this.statusCode = code;
    this.headersSent = true;
    const h = rest.find((x) => typeof x === 'object' && x !== null) as Record<string, unknown> | undefined;
    if (h !== undefined) for (const [k, v] of Object.entries(h)) this.headers.set(k.toLowerCase(), v);
    return this;
  }
  setHeader(k: string, v: unknown): this {
    this.headers.set(k.toLowerCase(), v);
    return this;
  }
  getHeader(k: string): unknown {
    return this.headers.get(k.toLowerCase());
  }
  hasHeader(k: string): boolean {
    return this.headers.has(k.toLowerCase());
  }
  removeHeader(k: string): void {
    this.headers.delete(k.toLowerCase());
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    cb();
  }
  get body(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** An `IncomingMessage` stand-in: method, url, headers, and its events. */
export function fakeRequest(url: string, method = 'GET'): EventEmitter & { method: string; url: string; headers: Record<string, string> } {
  return Object.assign(new EventEmitter(), { method, url, headers: { host: '127.0.0.1' } });
}

/**
 * Calls a `node:http` request listener in process and resolves when its response has finished (or
 * rejects after `timeoutMs`). A synchronous exception of the handler rejects.
 */
export function callHandler(
  handler: (req: never, res: never) => unknown,
  url: string,
  method = 'GET',
  timeoutMs = 30_000,
): Promise<{ code: number; body: string; headers: Map<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = fakeRequest(url, method);
    const res = new FakeResponse();
    const timer = setTimeout(() => reject(new Error(`the handler did not finish its response within ${timeoutMs} ms`)), timeoutMs);
    res.on('finish', () => {
      clearTimeout(timer);
      resolve({ code: res.statusCode, body: res.body, headers: res.headers });
    });
    try {
      handler(req as never, res as never);
    } catch (e) {
      clearTimeout(timer);
      reject(e);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Child processes with a timeout and an RSS cap

/** Absolute path of a file next to this one. */
export const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url));

/** Resident set size of a process in bytes, from /proc (0 where /proc is not available). */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? 0 : Number(m[1]) * 1024;
  } catch {
    return 0;
  }
}

export interface ChildResult {
  /** Lines the child printed on stdout. */
  lines: string[];
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Killed for running past the timeout. */
  timedOut: boolean;
  /** Killed for exceeding the RSS cap. */
  overMemory: boolean;
  peakRss: number;
  ms: number;
}

/**
 * Runs `node --import tsx SCRIPT ...args`, killing it (SIGKILL) after `timeoutMs` (counted again
 * from each line `restartTimerOn` accepts) or when its RSS passes `maxRss`. `onLine` sees each
 * stdout line as it comes.
 */
export function runChild(
  script: string,
  args: string[],
  opts: {
    timeoutMs: number;
    maxRss: number;
    onLine?: (line: string) => void;
    /** A line after which the timeout starts again (a child running several steps, each timed). */
    restartTimerOn?: (line: string) => boolean;
    /** Time allowed before the first such line (startup); default `timeoutMs`. */
    startupMs?: number;
    cwd?: string;
  },
): Promise<ChildResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: opts.cwd ?? process.cwd(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    let partial = '';
    let stderr = '';
    let timedOut = false;
    let overMemory = false;
    let peakRss = 0;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      partial += d;
      let i: number;
      while ((i = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, i);
        partial = partial.slice(i + 1);
        lines.push(line);
        opts.onLine?.(line);
        if (opts.restartTimerOn?.(line) === true) {
          clearTimeout(timer);
          timer = setTimeout(onTimeout, opts.timeoutMs);
        }
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (stderr.length < 20_000) stderr += d;
    });
    const kill = (): void => {
      try {
        child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const poll = setInterval(() => {
      if (child.pid === undefined) return;
      const rss = rssOf(child.pid);
      if (rss > peakRss) peakRss = rss;
      if (rss > opts.maxRss) {
        overMemory = true;
        kill();
      }
    }, 25);
    const onTimeout = (): void => {
      timedOut = true;
      kill();
    };
    let timer = setTimeout(onTimeout, opts.startupMs ?? opts.timeoutMs);
    child.on('close', (code, signal) => {
      clearInterval(poll);
      clearTimeout(timer);
      if (partial !== '') {
        lines.push(partial);
        opts.onLine?.(partial);
      }
      resolve({ lines, stderr, code, signal, timedOut, overMemory, peakRss, ms: performance.now() - t0 });
    });
  });
}

/**
 * Listens to the Balancer's worked-around faults (a bad clock reading), so that they are counted
 * instead of printed as process warnings: the event is `fault` (`error` in earlier drafts).
 */
export function onFaults(b: object, f: () => void): void {
  const e = b as { on(event: string, fn: () => void): unknown };
  e.on('fault', f);
  e.on('error', f);
}

/** Short printable form of a string input (for failure messages). */
export function preview(s: string, max = 160): string {
  const j = JSON.stringify(s.length > max ? s.slice(0, max) : s);
  return s.length > max ? `${j}… (${s.length} chars)` : j;
}
