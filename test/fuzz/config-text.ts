/**
 * Hostile configuration text (issue 14) through `parseConfig` strict and lenient and `explain`:
 *
 * - random bytes (decoded as latin1 and as UTF-8, so invalid UTF-8 becomes U+FFFD), with and
 *   without a BOM, lone surrogates, NULs; token soups of nginx words, braces, quotes, escapes,
 *   `${`, comments and includes of an in-memory file set;
 * - structured shapes at n and 4n: deep nesting, `}` and `;` floods, long blank runs, huge tokens
 *   and unterminated quotes, comments, error floods (unknown directives, missing includes), many
 *   upstreams, prose around a config (explain's document mode), invalid UTF-8 runs;
 * - includes through a temporary directory, in a child process with a timeout and an RSS cap
 *   (config-child.ts): a file that includes itself under several spellings (`x.conf`, `./x.conf`,
 *   `././x.conf`, its absolute path), two files including each other, N files each `include
 *   *.conf;`, a glob like `*a*a*a*a*a*a*a*a*b` against a long file name, `/dev/zero`,
 *   `/dev/urandom`, a FIFO, a directory, a symlink loop, a sparse file larger than any
 *   configuration, and many files through one glob at n and 4n. Each runs in the default include
 *   policy and with `includes: 'anywhere'` (an option of the fixed parser; ignored today).
 *
 * Asserted: only `ConfigError` is thrown (strict), a result is returned (lenient, explain), promptly
 * (a case that hangs or passes the RSS cap is killed and reported); the cost at 4n is under
 * 8 x the cost at n + 8 ms (the least of several repetitions); the heap a result holds is bounded
 * (shapes that define nothing: 4 MB + 8 bytes per input byte; valid configurations: 16 MB + 64
 * bytes per input byte).
 *
 * Known open problems (known.ts) are counted and the run goes on; `FUZZ_STRICT=1` makes them throw.
 */

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { explain } from '../../src/config/explain';
import { parseConfig, type ParseOptions } from '../../src/config/nginx';
import { ConfigError } from '../../src/errors';
import { type Budget, doublingCheck, heapAfterGc, here, MB, preview, Recorder, Rng, runChild, type Summary } from './common';

type Mode = 'strict' | 'lenient' | 'explain';
const MODES: Mode[] = ['strict', 'lenient', 'explain'];

/** An in-memory file set for random texts (no file includes another: no recursion here). */
const FILES: Record<string, string> = {
  'a.conf': 'server 127.0.0.1:1;',
  'b.conf': 'upstream x {',
  'c.conf': '}',
  'd.conf': 'stream { upstream d { server 127.0.0.1:2; } }',
  'bad.conf': '\u0000\ufffd"\\',
};
const memoryFs: Pick<ParseOptions, 'readFile' | 'glob'> = {
  readFile: (p: string) => {
    const name = p.slice(p.lastIndexOf('/') + 1);
    const t = FILES[name];
    if (t === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    return t;
  },
  glob: (p: string) => (p.includes('*') ? Object.keys(FILES).sort() : []),
};

const TOKENS = [
  '{', '}', ';', ' ', '\n', '\t', '\r', '"', "'", '\\', '\\"', "\\'", '#', '$', '${', '${x}', ')', '(', 'http', 'stream', 'events', 'upstream', 'u', 'server',
  '127.0.0.1:80', '[::1]:25', '[::1', 'unix:/s', 'unix:', 'weight=2', 'weight=0', 'weight=', 'max_fails=3', 'fail_timeout=3s', 'fail_timeout=1y', 'backup',
  'down', 'hash', '$remote_addr', 'consistent', 'ip_hash', 'least_conn', 'random', 'two', 'keepalive', '8', 'zone', 'z', '64k', 'check', 'interval=5000',
  'type=smtp', 'check_http_send', 'check_http_expect_alive', 'http_2xx', 'include', 'a.conf', 'b.conf', 'c.conf', 'd.conf', 'bad.conf', '*.conf',
  'missing.conf', 'location', '/', 'listen', 'proxy_pass', 'map', 'types', 'if', 'lua_block', 'content_by_lua_block', '\ufeff', '\u0000', '\ud800', '\u2028',
  '\ufffd', 'é', '"unterminated', "'q'", '"a b"', 'x'.repeat(300),
];

/** Runs one mode; returns the thrown error if it is not a ConfigError (strict) / anything (else). */
function runMode(mode: Mode, text: string, extra: Partial<ParseOptions> = {}): unknown {
  const opts: ParseOptions = { filename: 'fuzz.conf', ...memoryFs, ...extra };
  try {
    if (mode === 'explain') {
      const ex = explain(text, opts);
      if (typeof ex.verdict.ok !== 'boolean') return new Error('explain: no verdict');
    } else {
      const r = parseConfig(text, { ...opts, lenient: mode === 'lenient' });
      if (!Array.isArray(r.errors)) return new Error('no errors array');
    }
    return null;
  } catch (e) {
    if (mode === 'strict' && e instanceof ConfigError) {
      if (!(e.line >= 1) || e.reason.length === 0) return new Error(`ConfigError without a line or a reason: ${e.message}`);
      return null;
    }
    return e;
  }
}

const show = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message.slice(0, 300)}\n${(e.stack ?? '').split('\n').slice(1, 5).join('\n')}` : String(e));

/** A structured shape: text of size about n, and whether its result should stay small. */
interface Shape {
  name: string;
  make: (n: number) => string;
  /** 'small': defines nothing (errors only); 'linear': valid upstreams, memory in proportion. */
  retains: 'small' | 'linear';
  /** The known-open id this shape shows today, if any. */
  id?: string;
}

const utf8 = (b: Buffer): string => b.toString('utf8');

/** Lets the event loop run (child-process output, timers). */
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

export const SHAPES: Shape[] = [
  { name: 'deep nesting http {', make: (n) => 'http {\n'.repeat(n / 7) + '}\n'.repeat(n / 7), retains: 'small' },
  { name: 'deep nesting {', make: (n) => '{'.repeat(n), retains: 'small' },
  { name: 'deep nesting a { unclosed', make: (n) => 'a {'.repeat(n / 3), retains: 'small' },
  { name: '} flood', make: (n) => '}'.repeat(n), retains: 'small', id: 'config-error-flood' },
  { name: '} flood in lines', make: (n) => '}\n'.repeat(n / 2), retains: 'small', id: 'config-error-flood' },
  { name: '; flood', make: (n) => ';'.repeat(n), retains: 'small', id: 'config-error-flood' },
  { name: 'unknown directives', make: (n) => 'x y z;\n'.repeat(n / 7), retains: 'small', id: 'config-error-flood' },
  { name: 'missing includes', make: (n) => 'include missing.conf;\n'.repeat(n / 22), retains: 'small', id: 'config-error-flood' },
  { name: 'bad server lines', make: (n) => 'stream { upstream u {\n' + 'server 127.0.0.1:1 weight=0;\n'.repeat(n / 29) + '} }\n', retains: 'small', id: 'config-error-flood' },
  { name: 'blank run', make: (n) => `x${' '.repeat(n)}y;\n`, retains: 'small' },
  { name: 'blank lines', make: (n) => `x\n${'\n'.repeat(n)}y;\n`, retains: 'small' },
  { name: 'mixed blanks', make: (n) => ` \t\r\n`.repeat(n / 4) + 'x;', retains: 'small' },
  { name: 'prose with a blank run', make: (n) => `Some prose here\nx${' '.repeat(n)}y\nprose a\nprose b\nstream { upstream u { server 127.0.0.1:1; } }\n`, retains: 'small' },
  { name: 'huge token', make: (n) => `x ${'a'.repeat(n)};\n`, retains: 'small' },
  { name: 'huge unterminated quote', make: (n) => `x "${'a'.repeat(n)}`, retains: 'small' },
  { name: 'huge escaped quote', make: (n) => `x "${'\\"'.repeat(n / 2)}";`, retains: 'small' },
  { name: 'backslash run', make: (n) => `x ${'\\'.repeat(n)};`, retains: 'small' },
  { name: 'huge variable', make: (n) => `x \${${'a'.repeat(n)}`, retains: 'small' },
  { name: 'long comment', make: (n) => `#${'c'.repeat(n)}\nx;`, retains: 'small' },
  { name: 'comment lines', make: (n) => '# c { } ;\n'.repeat(n / 10), retains: 'small' },
  { name: 'invalid UTF-8 (utf8)', make: (n) => utf8(Buffer.alloc(n, 0xff)), retains: 'small' },
  { name: 'invalid UTF-8 (latin1)', make: (n) => Buffer.alloc(n, 0xc3).toString('latin1'), retains: 'small' },
  { name: 'BOM and NULs', make: (n) => '\ufeff' + '\u0000'.repeat(n), retains: 'small' },
  { name: 'lone surrogates', make: (n) => '\ud800'.repeat(n), retains: 'small' },
  { name: 'line separators', make: (n) => 'x\u2028'.repeat(n / 2), retains: 'small' },
  { name: 'many upstreams', make: (n) => 'stream {\n' + Array.from({ length: Math.floor(n / 50) }, (_, i) => `upstream u${i} { server 127.0.0.1:${1 + (i % 60000)}; }\n`).join('') + '}\n', retains: 'linear' },
  { name: 'many servers', make: (n) => 'stream { upstream u {\n' + 'server 127.0.0.1:25 max_fails=1;\n'.repeat(n / 33) + '} }\n', retains: 'linear' },
  { name: 'many weights (explain cycle)', make: (n) => 'stream { upstream u {\n' + Array.from({ length: Math.floor(n / 40) }, (_, i) => `server 10.0.${i >> 8}.${i & 255}:25 weight=${1 + (i % 97)};\n`).join('') + '} }\n', retains: 'linear' },
];

/** A case run in a child process. */
interface ChildCase {
  name: string;
  /** The known-open id this case shows today (if it fails today). */
  id: string;
  file: string;
  text: string;
  /** Include policies to try (options of the fixed parser). */
  variants: Record<string, unknown>[];
  /** The policies decide the outcome here: a brief run tries every variant, not just the first. */
  policies?: boolean;
}

export class ConfigFuzz {
  readonly rec: Recorder;
  readonly rng: Rng;
  constructor(
    readonly seed: number,
    rec: Recorder,
    readonly long: boolean,
  ) {
    this.rec = rec;
    this.rng = new Rng(seed);
  }

  check(text: string, what: string, modes: readonly Mode[] = MODES, extra: Partial<ParseOptions> = {}): void {
    for (const mode of modes) {
      this.rec.summary.ops++;
      const e = runMode(mode, text, extra);
      if (e !== null) {
        this.rec.fail(mode === 'strict' ? 'config-untyped' : 'config-threw', this.seed, `${mode} ${what} ${preview(text)}: ${show(e)}`);
      }
    }
  }

  /** Random bytes and token soups. */
  async random(count: number): Promise<void> {
    const r = this.rng;
    for (let i = 0; i < count; i++) {
      if ((i & 63) === 63) await tick();
      const k = r.int(4);
      let text: string;
      if (k === 0) text = r.bytes(r.int(400)).toString('latin1');
      else if (k === 1) text = (r.chance(0.3) ? '\ufeff' : '') + utf8(r.bytes(r.int(400)));
      else {
        const n = r.int(150);
        const parts: string[] = [];
        for (let j = 0; j < n; j++) parts.push(r.pick(TOKENS), r.pick([' ', '\n', '', ';', '\t']));
        text = parts.join('');
      }
      this.check(text, `random case ${i} (${['latin1 bytes', 'utf8 bytes', 'token soup', 'token soup'][k]})`);
    }
  }

  /** The structured shapes: errors, time on doubling, memory. */
  async shapes(): Promise<void> {
    const n = this.long ? 25_000 : 2000;
    for (const shape of SHAPES) {
      for (const mode of MODES) {
        await tick();
        const tShape = performance.now();
        const what = `${shape.name} (${mode})`;
        const big = shape.make(4 * n);
        this.check(big, `${shape.name} of ${big.length} chars`, [mode]);
        // time: 2n against n
        const r = doublingCheck((k) => {
          const text = shape.make(k);
          return () => void runMode(mode, text);
        }, n, { reps: 2 });
        this.rec.summary.ops += 2;
        let bad = false;
        if (!r.ok) {
          bad = true;
          this.rec.fail(shape.id ?? 'config-superlinear', this.seed, `${what}: ${r.big.toFixed(1)} ms at ${4 * n}, ${r.small.toFixed(1)} ms at ${n} (allowed: 8x + 8 ms)`);
        }
        if (bad) this.#slow.add(shape);
        if (process.env.FUZZ_PROFILE === '1') console.log(`${what}: ${(performance.now() - tShape).toFixed(0)} ms`);
      }
    }
    await tick();
    this.memory(n);
    for (const shape of SHAPES) {
      if (shape.id !== undefined && !this.#slow.has(shape) && !this.#memoryFailed.has(shape)) this.rec.passedKnown(shape.id);
    }
  }

  /** The result of one parse at 4n, as lenient parse or explain. */
  parse(shape: Shape, n: number, mode: 'lenient' | 'explain'): { held: unknown; errors: number; chars: number } {
    const text = shape.make(4 * n);
    if (mode === 'explain') {
      const held = explain(text, { filename: 'fuzz.conf', ...memoryFs });
      return { held, errors: held.errors.length, chars: text.length };
    }
    const held = parseConfig(text, { filename: 'fuzz.conf', ...memoryFs, lenient: true });
    return { held, errors: held.errors.length, chars: text.length };
  }

  bound(shape: Shape, chars: number): number {
    return shape.retains === 'small' ? 4 * MB + 8 * chars : 16 * MB + 64 * chars;
  }

  #memoryFailed = new Set<Shape>();
  #slow = new Set<Shape>();

  /**
   * The heap the results hold: per shape, its lenient and explain results held together against
   * their per-byte bounds plus one constant (one pair of collections); past it, each is measured
   * alone against its own bound, to name it. (One shape at a time: an error flood at soak sizes
   * holds hundreds of MB.)
   */
  memory(n: number): void {
    const modes = ['lenient', 'explain'] as const;
    let total = 0;
    for (const shape of SHAPES) {
      const before = heapAfterGc();
      let held: unknown[] = [];
      let allowed = this.bound(shape, 0);
      for (const mode of modes) {
        const r = this.parse(shape, n, mode);
        held.push(r.held);
        allowed += this.bound(shape, r.chars) - this.bound(shape, 0);
      }
      const delta = heapAfterGc() - before;
      held = [];
      void held;
      total += Math.max(0, delta);
      this.rec.count('heapChecks');
      if (delta <= allowed) continue;
      for (const mode of modes) {
        const b0 = heapAfterGc();
        let r: { held: unknown; errors: number; chars: number } | null = this.parse(shape, n, mode);
        const d = heapAfterGc() - b0;
        const { errors, chars } = r;
        r = null;
        void r;
        const bound = this.bound(shape, chars);
        if (d > bound) {
          this.#memoryFailed.add(shape);
          this.rec.fail(
            errors > 1000 ? 'config-error-flood' : shape.id ?? 'config-memory',
            this.seed,
            `${shape.name} (${mode}): the result of ${chars} chars holds ${(d / MB).toFixed(1)} MB of heap (${errors} errors; allowed ${(bound / MB).toFixed(1)} MB)`,
          );
        }
      }
    }
    this.rec.summary.stats.heapHeldMB = Math.round(total / MB);
  }


  /** The include cases, each in a child process. */
  async includes(): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'ub-fuzz-'));
    try {
      const cases = this.makeCases(dir);
      // two workers (four when a case hangs: a hung case mostly waits, a FIFO blocks, a killed
      // child restarts), each with one child process for as many cases as it runs without a hang
      const workers = this.long ? 4 : 2;
      const parts = Array.from({ length: workers }, (_, w) => cases.filter((_, i) => i % workers === w));
      await Promise.all(parts.map((h) => this.childCases(h)));
      await this.includeScaling(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  makeCases(dir: string): ChildCase[] {
    const cases: ChildCase[] = [];
    const anywhere = [{}, { includes: 'anywhere' }];
    const sub = (name: string): string => {
      const d = join(dir, name);
      mkdirSync(d);
      return d;
    };
    // a file that includes itself under several spellings
    {
      const d = sub('self');
      writeFileSync(join(d, 'x.conf'), `include x.conf;\ninclude ./x.conf;\ninclude ././x.conf;\ninclude ${join(d, 'x.conf')};\ninclude ../self/x.conf;\nstream { upstream u { server 127.0.0.1:1; } }\n`);
      cases.push({ name: 'self include, five spellings', id: 'include-self', file: join(d, 'main.conf'), text: 'include x.conf;\n', variants: anywhere });
      cases.push({ name: 'main file includes itself', id: 'include-self', file: join(d, 'x.conf'), text: `include ${join(d, 'x.conf')};\ninclude ./x.conf;\n`, variants: anywhere });
    }
    // two files including each other
    {
      const d = sub('pair');
      writeFileSync(join(d, 'a.conf'), 'include b.conf;\n');
      writeFileSync(join(d, 'b.conf'), 'include a.conf;\ninclude ./a.conf;\n');
      cases.push({ name: 'mutual includes a <-> b', id: 'include-mutual', file: join(d, 'main.conf'), text: 'include a.conf;\n', variants: anywhere });
    }
    // N files, each with one `include` line per file (a cycle error stops only its own line)
    for (const n of this.long ? [5, 8, 11] : [5, 8]) {
      const d = sub(`mutual${n}`);
      const body = Array.from({ length: n }, (_, i) => `include f${i}.conf;\n`).join('') + 'x y;\n';
      for (let i = 0; i < n; i++) writeFileSync(join(d, `f${i}.conf`), body);
      cases.push({ name: `${n} files each including all ${n}, one line each`, id: 'include-mutual', file: join(d, 'main.conf'), text: body, variants: anywhere });
    }
    // N files, each `include *.conf;`
    for (const n of this.long ? [6, 10, 16] : [6, 10]) {
      const d = sub(`glob${n}`);
      for (let i = 0; i < n; i++) writeFileSync(join(d, `f${i}.conf`), `include *.conf;\nx${i} y;\n`);
      cases.push({ name: `${n} files each include *.conf`, id: 'include-mutual-glob', file: join(d, 'main.conf'), text: 'include *.conf;\n', variants: anywhere });
    }
    // a backtracking glob pattern against a long file name
    {
      const d = sub('glob-bt');
      writeFileSync(join(d, `${'a'.repeat(200)}.conf`), 'x;\n');
      writeFileSync(join(d, `${'a'.repeat(60)}`), 'x;\n');
      cases.push({ name: 'glob *a*a*a*a*a*a*a*a*b vs a 200-char name', id: 'include-glob-backtracking', file: join(d, 'main.conf'), text: 'include *a*a*a*a*a*a*a*a*b;\ninclude *a*a*a*a*a*a*a*a*a*a*a*a*c;\n', variants: anywhere });
      cases.push({ name: 'glob ?????... and [[[[ patterns', id: 'include-glob-backtracking', file: join(d, 'main.conf'), text: `include ${'?'.repeat(300)};\ninclude ${'['.repeat(300)};\ninclude ${'[a-'.repeat(100)}];\ninclude ${'*'.repeat(5000)}b;\n`, variants: anywhere });
    }
    // devices, FIFOs, directories, loops, sizes
    cases.push({ name: 'include /dev/zero', id: 'include-device', file: join(dir, 'main.conf'), text: 'include /dev/zero;\n', variants: anywhere, policies: true });
    cases.push({ name: 'include /dev/urandom', id: 'include-device', file: join(dir, 'main.conf'), text: 'include /dev/urandom;\n', variants: anywhere, policies: true });
    cases.push({ name: 'include /dev/null and /dev/stdin', id: 'include-device', file: join(dir, 'main.conf'), text: 'include /dev/null;\ninclude /dev/stdin;\n', variants: anywhere, policies: true });
    {
      const d = sub('fifo');
      let fifo = true;
      try {
        execFileSync('mkfifo', [join(d, 'f.conf')]);
      } catch {
        fifo = false;
      }
      if (fifo) {
        cases.push({ name: 'include a FIFO', id: 'include-fifo', file: join(d, 'main.conf'), text: 'include f.conf;\n', variants: anywhere, policies: true });
        cases.push({ name: 'include a FIFO through a glob', id: 'include-fifo', file: join(d, 'main.conf'), text: 'include *.conf;\n', variants: anywhere, policies: true });
      } else this.rec.count('noMkfifo');
    }
    {
      const d = sub('misc');
      mkdirSync(join(d, 'dir.conf'));
      symlinkSync('loop.conf', join(d, 'loop.conf'));
      const big = join(d, 'big.conf');
      writeFileSync(big, '');
      truncateSync(big, 300 * MB); // sparse: 300 MB of NUL bytes, nothing on disk
      cases.push({ name: 'include a directory and a symlink loop', id: 'include-misc', file: join(d, 'main.conf'), text: 'include dir.conf;\ninclude loop.conf;\n', variants: anywhere });
      cases.push({ name: 'include a 300 MB sparse file', id: 'include-huge-file', file: join(d, 'main.conf'), text: 'include big.conf;\n', variants: [{}, { includes: 'anywhere' }, { maxFileBytes: 1024 }], policies: true });
    }
    return cases;
  }

  /**
   * Runs every mode of every case in child processes: one child for as long as nothing hangs; a case
   * that hangs, dies or passes the RSS cap is reported and (in a brief run) its other modes skipped,
   * and a new child goes on with the next item.
   */
  async childCases(cases: ChildCase[]): Promise<void> {
    interface Item {
      c: ChildCase;
      file: string;
      text: string;
      mode: Mode;
      options: Record<string, unknown>;
    }
    // a brief run tries the include policies only where they decide (devices, FIFOs, sizes)
    const variants = (c: ChildCase): Record<string, unknown>[] => (this.long || c.policies ? c.variants : c.variants.slice(0, 1));
    const items: Item[] = cases.flatMap((c) => variants(c).flatMap((options) => MODES.map((mode) => ({ c, file: c.file, text: c.text, mode, options }))));
    const timeoutMs = this.long ? 20_000 : 1500;
    const maxRss = (this.long ? 1024 : 512) * MB;
    const failedCases = new Set<ChildCase>();
    let next = 0;
    while (next < items.length) {
      const rest = items.slice(next).filter((it) => this.long || !failedCases.has(it.c));
      if (rest.length === 0) break;
      const started = new Set<number>();
      const results = new Map<number, { outcome: string; message: string; ms: number }>();
      const res = await runChild(here('config-child.ts'), [JSON.stringify(rest.map(({ file, text, mode, options }) => ({ file, text, mode, options })))], {
        timeoutMs,
        startupMs: 30_000,
        maxRss,
        restartTimerOn: (line) => line.startsWith('START '),
        onLine: (line) => {
          if (line.startsWith('START ')) started.add(Number(line.slice(6)));
          else if (line.startsWith('RESULT ')) {
            const r = JSON.parse(line.slice(7)) as { i: number; outcome: string; message: string; ms: number };
            results.set(r.i, r);
            if (process.env.FUZZ_PROFILE === '1') console.log(`${rest[r.i]!.c.name} ${rest[r.i]!.mode} ${JSON.stringify(rest[r.i]!.options)}: ${r.ms} ms ${r.outcome} ${r.message.slice(0, 100)}`);
          }
        },
      });
      this.rec.count('childProcesses');
      const peak = Math.round(res.peakRss / MB);
      if (peak > (this.rec.summary.stats.childPeakRssMB ?? 0)) this.rec.summary.stats.childPeakRssMB = peak;
      let consumed = rest.length;
      for (let i = 0; i < rest.length; i++) {
        const it = rest[i]!;
        const label = `${it.c.name}: ${it.mode}${Object.keys(it.options).length ? ` ${JSON.stringify(it.options)}` : ''}`;
        const r = results.get(i);
        if (r !== undefined) {
          this.rec.summary.ops++;
          if (r.outcome === 'other-error' || (r.outcome === 'config-error' && it.mode !== 'strict')) {
            failedCases.add(it.c);
            this.rec.fail(it.c.id, this.seed, `${label}: threw ${r.message}`);
          } else this.rec.count(`include:${r.outcome}`);
          continue;
        }
        if (started.has(i)) {
          this.rec.summary.ops++;
          failedCases.add(it.c);
          const why = res.overMemory
            ? `killed at ${Math.round(res.peakRss / MB)} MB RSS (cap ${Math.round(maxRss / MB)} MB)`
            : res.timedOut
              ? `no answer within ${timeoutMs} ms (killed; peak RSS ${Math.round(res.peakRss / MB)} MB)`
              : `the process died (code ${res.code}, signal ${res.signal}): ${res.stderr.slice(0, 600)}`;
          this.rec.fail(it.c.id, this.seed, `${label}: ${why}`);
        } else {
          this.rec.fail('config-child', this.seed, `${label}: the child did not start it (code ${res.code}): ${res.stderr.slice(0, 1000)}`);
        }
        consumed = i + 1;
        break;
      }
      // continue after the item that stopped the child (its index in `items`)
      next = consumed >= rest.length ? items.length : items.indexOf(rest[consumed]!);
    }
    for (const c of cases) if (!failedCases.has(c)) this.rec.passedKnown(c.id);
  }

  /** Many files through one glob: 4n files cost under 8x n (regular files, no recursion). */
  async includeScaling(dir: string): Promise<void> {
    const n = this.long ? 1000 : 50;
    const d = join(dir, 'many');
    mkdirSync(d);
    for (let i = 0; i < 4 * n; i++) writeFileSync(join(d, `f${String(i).padStart(5, '0')}.conf`), `server 127.0.0.${1 + (i % 250)}:${1 + i};\n`);
    const sub = (k: number): string => join(dir, `many${k}`);
    for (const k of [n, 4 * n]) {
      mkdirSync(sub(k));
      for (let i = 0; i < k; i++) symlinkSync(join(d, `f${String(i).padStart(5, '0')}.conf`), join(sub(k), `f${i}.conf`));
    }
    for (const mode of MODES) {
      const r = doublingCheck((k) => {
        const text = `stream { upstream u { include ${sub(k)}/*.conf; } }\n`;
        return () => {
          const e = mode === 'explain' ? (explain(text, { filename: join(dir, 'main.conf') }), null) : runModeFs(mode, text, join(dir, 'main.conf'));
          if (e !== null) this.rec.fail('config-untyped', this.seed, `include of ${k} files (${mode}): ${show(e)}`);
        };
      }, n, { reps: 2, slackMs: 15 });
      this.rec.summary.ops += 2;
      if (!r.ok) this.rec.fail('config-superlinear', this.seed, `include of ${4 * n} files through one glob (${mode}): ${r.big.toFixed(1)} ms, of ${n}: ${r.small.toFixed(1)} ms`);
    }
  }
}

function runModeFs(mode: 'strict' | 'lenient', text: string, filename: string): unknown {
  try {
    parseConfig(text, { filename, lenient: mode === 'lenient' });
    return null;
  } catch (e) {
    return mode === 'strict' && e instanceof ConfigError ? null : e;
  }
}

/**
 * Runs `iterations` random texts, every structured shape at n and 4n (sizes grow with
 * `budget.long`), and every include case in a child process. Throws `FuzzFailure` on the first new
 * violation.
 */
export async function run(budget: Budget): Promise<Summary> {
  const rec = new Recorder('config-text', budget.seed);
  const f = new ConfigFuzz(budget.seed, rec, budget.long === true);
  const t0 = performance.now();
  // in-process cases first, then the child processes (a case that spins in a child would disturb
  // the timings of the doubling checks)
  await f.random(budget.iterations);
  const t1 = performance.now();
  rec.summary.stats.randomMs = Math.round(t1 - t0);
  await f.shapes();
  const t2 = performance.now();
  rec.summary.stats.shapesMs = Math.round(t2 - t1);
  await f.includes();
  rec.summary.stats.includesMs = Math.round(performance.now() - t2);
  budget.log?.(`config-text: ${rec.summary.ops} parses`);
  return rec.done();
}
