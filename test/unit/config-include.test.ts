/**
 * The include policy for configuration text from untrusted sources (GitHub issue 14, items 2, 3, 4
 * and 8; docs/config.md, "Includes from untrusted text"): includes confined to the prefix (on the
 * normalised and the real path), `anywhere` and `off`, regular files only, a size cap, a budget of
 * files and bytes per parse, cycles on canonical paths reported once per statement, the glob
 * matcher without backtracking, and the bounded error list of lenient parses. Real temporary
 * directories, a real FIFO and /dev/zero; counting readers instead of timings.
 */

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Balancer } from '../../src/index';
import { ConfigError, InvalidOptionError } from '../../src/errors';
import { explain } from '../../src/config/explain';
import { parseConfig, parseUpstreams, type ParseOptions } from '../../src/config/nginx';
import { compilePattern, fsGlob, GlobLimitError, matchName } from '../../src/config/glob';
import { MAX_ERRORS, MAX_GLOB_ENTRIES, MAX_INCLUDE_BYTES, MAX_INCLUDE_FILES } from '../../src/config/numbers';
import { MAX_CONFIG_FILE_BYTES } from '../../src/config/read-file';

/** The strict parse's error. */
function err(text: string, opts: ParseOptions): ConfigError {
  try {
    parseConfig(text, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const shape = (e: ConfigError) => [e.kind, e.reason, e.file, e.line, e.column, e.value];

/** A reader over an in-memory tree that records every path it is asked for. */
function vfs(files: Record<string, string>): { readFile: (p: string) => string; reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    readFile: (p) => {
      reads.push(p);
      const t = files[p];
      if (t === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
      return t;
    },
  };
}

let root: string;
let conf: string;
let outside: string;
let main: string;

beforeAll(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'ub-include-')));
  conf = join(root, 'conf');
  outside = join(root, 'outside');
  mkdirSync(join(conf, 'sub'), { recursive: true });
  mkdirSync(outside);
  main = join(conf, 'nginx.conf');
  writeFileSync(join(outside, 'secret.env'), 'DB_PASSWORD=hunter2\nINIT_SQL=create table t (id int);\n');
  writeFileSync(join(outside, 'up.conf'), 'upstream out { server 127.0.0.1:9; }\n');
  writeFileSync(join(conf, 'a.conf'), 'upstream a { server 127.0.0.1:1; }\n');
  writeFileSync(join(conf, 'sub', 'b.conf'), 'upstream b { server 127.0.0.1:2; }\n');
  writeFileSync(join(conf, '.hidden.conf'), 'upstream h { server 127.0.0.1:3; }\n');
  symlinkSync('../outside/secret.env', join(conf, 'link.env'));
  symlinkSync('../outside', join(conf, 'dirlink'));
  symlinkSync('../outside/nothing.env', join(conf, 'dangling.env'));
  symlinkSync('a.conf', join(conf, 'inside-link.conf'));
  execFileSync('mkfifo', [join(conf, 'fifo.conf')]);
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe("includes: 'prefix' (the default): only under the prefix directory", () => {
  it('reads relative includes, globs and `..` that stays inside', () => {
    const r = parseConfig('stream {\n    include a.conf;\n    include sub/../sub/*.conf;\n}\nhttp {\n    include inside-link.conf;\n}\n', { filename: main, lenient: true });
    expect(r.errors).toEqual([]);
    expect(r.files).toEqual([main, join(conf, 'a.conf'), `${conf}/sub/../sub/b.conf`, join(conf, 'inside-link.conf')]);
    expect(r.upstreams.map((u) => [u.context, u.name])).toEqual([['stream', 'a'], ['stream', 'b'], ['http', 'a']]);
  });

  it.each([
    ['an absolute path that exists', () => join(outside, 'secret.env')],
    ['an absolute path that does not exist', () => join(outside, 'missing.env')],
    ['/etc/passwd', () => '/etc/passwd'],
    ['a glob of /etc', () => '/etc/*'],
    ['/dev/zero', () => '/dev/zero'],
  ])('refuses %s, with an error that does not depend on whether it exists', (_, path) => {
    const p = path();
    const e = err(`http {\n    include ${p};\n}\n`, { filename: main });
    expect(shape(e)).toEqual(['INCLUDE_REFUSED', `include "${p}" refused: outside the prefix directory`, main, 2, 13, p]);
  });

  it.each([
    ['../outside/secret.env'],
    ['../outside/missing.env'],
    ['sub/../../outside/secret.env'],
    ['link.env'],
    ['dangling.env'],
    ['dirlink/secret.env'],
    ['dirlink/missing.env'],
    ['dirlink/missing/../secret.env'],
  ])('refuses %s (`..` or a symbolic link leading out), whether or not the target exists', (path) => {
    const e = err(`include ${path};\n`, { filename: main });
    expect(shape(e)).toEqual(['INCLUDE_REFUSED', `include "${conf}/${path}" refused: outside the prefix directory`, main, 1, 9, `${conf}/${path}`]);
  });

  it("never shows a secret file's first word (item 3: unknown directive \"DB_PASSWORD=hunter2\")", () => {
    for (const inc of [`include ${outside}/secret.env;`, 'include link.env;', 'include dirlink/*.env;']) {
      const r = parseConfig(`stream { upstream u { ${inc} server 127.0.0.1:1; } }`, { filename: main, lenient: true });
      expect(r.errors.map((e) => e.kind)).toEqual(['INCLUDE_REFUSED']);
      expect(JSON.stringify(r.errors.map((e) => [e.message, e.value]))).not.toContain('hunter2');
      expect(r.files).toEqual([main]);
    }
  });

  it('with the default reader, the current directory is not a prefix unless it is given', () => {
    const e = err('http {\n    include a.conf;\n}\n', {});
    expect(shape(e)).toEqual(['INCLUDE_REFUSED', 'include "a.conf" refused: no prefix directory was given', 'nginx.conf', 2, 13, 'a.conf']);
    expect(err('include *.conf;', { filename: 'x.conf' }).reason).toBe('include "*.conf" refused: no prefix directory was given');
    expect(err('include zz-missing-ub.conf;', { prefix: '' }).reason).toBe('open() "zz-missing-ub.conf" failed (2: No such file or directory)');
    expect(parseConfig('stream { include a.conf; }', { prefix: conf }).files).toEqual(['nginx.conf', join(conf, 'a.conf')]);
  });

  it("a caller's reader gets the normalised path, checked lexically against the prefix", () => {
    const fs = vfs({ '/c/a.conf': '# a\n' });
    const r = parseConfig('stream {\n include ./sub//../a.conf;\n include /c/a.conf;\n include ../d/a.conf;\n include /etc/passwd;\n}\n', { filename: '/c/nginx.conf', readFile: fs.readFile, lenient: true });
    expect(fs.reads).toEqual(['/c/a.conf', '/c/a.conf']);
    expect(r.files).toEqual(['/c/nginx.conf', '/c/./sub//../a.conf', '/c/a.conf']);
    expect(r.errors.map(shape)).toEqual([
      ['INCLUDE_REFUSED', 'include "/c/../d/a.conf" refused: outside the prefix directory', '/c/nginx.conf', 4, 10, '/c/../d/a.conf'],
      ['INCLUDE_REFUSED', 'include "/etc/passwd" refused: outside the prefix directory', '/c/nginx.conf', 5, 10, '/etc/passwd'],
    ]);
    // no prefix and a reader of the caller's: relative paths that stay relative
    const rel = vfs({ 'a.conf': '' });
    expect(parseConfig('include a.conf; include ../a.conf;', { readFile: rel.readFile, lenient: true }).errors.map((e) => e.reason)).toEqual([
      'include "../a.conf" refused: outside the prefix directory',
    ]);
    expect(rel.reads).toEqual(['a.conf']);
  });

  it("nginx's own messages stay for files under the prefix", () => {
    expect(err('include missing.conf;', { filename: main }).reason).toBe(`open() "${conf}/missing.conf" failed (2: No such file or directory)`);
    expect(err('include sub;', { filename: main }).reason).toBe(`open() "${conf}/sub" failed (21: Is a directory)`);
    expect(parseConfig('include nomatch*.conf;', { filename: main }).files).toEqual([main]);
  });

  it('is the default of parseUpstreams, parseConfig, Balancer.fromNginx and explain', () => {
    const text = 'stream {\n    include /etc/passwd;\n    upstream u { server 127.0.0.1:1; }\n}\n';
    const reason = 'include "/etc/passwd" refused: outside the prefix directory';
    expect(() => parseUpstreams(text, { filename: main })).toThrow(reason);
    expect(() => Balancer.fromNginx(text, 'u', { filename: main })).toThrow(reason);
    expect(err(text, { filename: main }).kind).toBe('INCLUDE_REFUSED');
    const ex = explain(text, { filename: main });
    expect(ex.verdict.error).toEqual({ message: `${reason} in ${main}:2`, reason, file: main, line: 2, column: 13 });
    expect(ex.upstreams.map((u) => u.name)).toEqual(['u']);
  });
});

describe("includes: 'anywhere' (nginx's behaviour, for an operator's text) and 'off'", () => {
  it("'anywhere' reads absolute paths and `..` as nginx does", () => {
    const r = parseConfig(`stream {\n    include ${outside}/up.conf;\n}\nhttp {\n    include ../outside/up.conf;\n}\n`, { filename: main, includes: 'anywhere' });
    expect(r.files).toEqual([main, join(outside, 'up.conf'), `${conf}/../outside/up.conf`]);
    // and shows what nginx shows: the first word of any file, which is why it is not the default
    expect(err(`stream { upstream u { include ${outside}/secret.env; } }`, { filename: main, includes: 'anywhere' }).reason).toBe('unknown directive "DB_PASSWORD=hunter2"');
  });

  it("'off' refuses every include and reads nothing", () => {
    const fs = vfs({ '/c/a.conf': '' });
    let globs = 0;
    const glob = () => {
      globs++;
      return ['/c/a.conf'];
    };
    const r = parseConfig('http {\n  include a.conf;\n  include *.conf;\n}\n', { filename: '/c/nginx.conf', readFile: fs.readFile, glob, includes: 'off', lenient: true });
    expect(r.errors.map(shape)).toEqual([
      ['INCLUDE_REFUSED', 'include "/c/a.conf" refused: includes are turned off', '/c/nginx.conf', 2, 11, '/c/a.conf'],
      ['INCLUDE_REFUSED', 'include "/c/*.conf" refused: includes are turned off', '/c/nginx.conf', 3, 11, '/c/*.conf'],
    ]);
    expect([fs.reads, globs, r.files]).toEqual([[], 0, ['/c/nginx.conf']]);
  });

  it('rejects an unknown policy and limits that are not positive integers', () => {
    expect(() => parseConfig('', { includes: 'everywhere' as never })).toThrow(InvalidOptionError);
    expect(() => parseConfig('', { includes: 'everywhere' as never })).toThrow("Expected `includes` to be one of 'prefix', 'anywhere', 'off', got `\"everywhere\"`");
    for (const name of ['maxFileBytes', 'maxIncludeFiles', 'maxIncludeBytes', 'maxErrors'] as const) {
      for (const bad of [0, -1, 1.5, Number.NaN, Infinity, '3']) {
        expect(() => parseConfig('', { [name]: bad as number })).toThrow(`Expected \`${name}\` to be a positive integer, got \`${typeof bad === 'string' ? `"${bad}"` : String(bad)}\``);
      }
    }
  });
});

describe('only regular files, never more than maxFileBytes', () => {
  it('a FIFO is refused at once (it would block forever), /dev/zero too (it never ends)', () => {
    const fifo = join(conf, 'fifo.conf');
    expect(shape(err('include fifo.conf;', { filename: main }))).toEqual(['INCLUDE_REFUSED', `include "${fifo}" refused: not a regular file`, main, 1, 9, fifo]);
    expect(err('include /dev/zero;', { filename: main, includes: 'anywhere' }).reason).toBe('include "/dev/zero" refused: not a regular file');
    expect(explain('include fifo.conf;\ninclude /dev/zero;\n', { filename: main, includes: 'anywhere' }).errors.map((e) => e.reason)).toEqual([
      `include "${fifo}" refused: not a regular file`,
      'include "/dev/zero" refused: not a regular file',
    ]);
  });

  it('a file over maxFileBytes is refused, from the default reader and from a caller\'s', () => {
    writeFileSync(join(conf, 'big.conf'), `#${'x'.repeat(99)}\n`);
    const big = join(conf, 'big.conf');
    expect(shape(err('include big.conf;', { filename: main, maxFileBytes: 100 }))).toEqual(['INCLUDE_LIMIT', `include "${big}" refused: larger than 100 bytes`, main, 1, 9, big]);
    expect(parseConfig('include big.conf;', { filename: main, maxFileBytes: 101 }).files).toEqual([main, big]);
    const fs = vfs({ '/c/big.conf': 'é'.repeat(51) });
    expect(err('include big.conf;', { filename: '/c/n.conf', readFile: fs.readFile, maxFileBytes: 101 }).reason).toBe('include "/c/big.conf" refused: larger than 101 bytes');
    expect(MAX_CONFIG_FILE_BYTES).toBe(8 * 1024 * 1024);
  });
});

describe('a budget per parse: a DAG of includes cannot explode', () => {
  /** f1 .. fDEPTH: each includes the next one twice; the last is empty. 2^DEPTH - 1 reads without a budget. */
  function dag(depth: number, upTo: number): { files: Record<string, string>; order: { file: string; parent: string; line: number }[] } {
    const files: Record<string, string> = { '/d/nginx.conf': 'include f1.conf;\n' };
    for (let i = 1; i <= depth; i++) files[`/d/f${i}.conf`] = i < depth ? `include f${i + 1}.conf;\ninclude f${i + 1}.conf;\n` : '# leaf\n';
    const order: { file: string; parent: string; line: number }[] = [];
    const visit = (i: number, parent: string, line: number): void => {
      if (order.length >= upTo) return;
      order.push({ file: `/d/f${i}.conf`, parent, line });
      if (i < depth) for (const l of [1, 2]) visit(i + 1, `/d/f${i}.conf`, l);
    };
    visit(1, '/d/nginx.conf', 1);
    return { files, order };
  }

  it('maxIncludeFiles: exactly that many reads, then one error, then no include is run', () => {
    const { files, order } = dag(20, 51);
    const fs = vfs(files);
    const r = parseConfig(files['/d/nginx.conf']! + 'include f1.conf;\n', { filename: '/d/nginx.conf', readFile: fs.readFile, maxIncludeFiles: 50, lenient: true });
    expect(fs.reads).toEqual(order.slice(0, 50).map((o) => o.file));
    const next = order[50]!;
    expect(r.errors.map(shape)).toEqual([['INCLUDE_LIMIT', `include "${next.file}" refused: more than 50 included files in one parse`, next.parent, next.line, 9, next.file]]);
  });

  it(`the default is ${MAX_INCLUDE_FILES} files and ${MAX_INCLUDE_BYTES} bytes`, () => {
    expect([MAX_INCLUDE_FILES, MAX_INCLUDE_BYTES]).toEqual([4096, 32 * 1024 * 1024]);
    const { files } = dag(30, 0);
    const fs = vfs(files);
    const e = err(files['/d/nginx.conf']!, { filename: '/d/nginx.conf', readFile: fs.readFile });
    expect([e.kind, e.reason.replace(/".*"/, 'P')]).toEqual(['INCLUDE_LIMIT', `include P refused: more than ${MAX_INCLUDE_FILES} included files in one parse`]);
    expect(fs.reads).toHaveLength(MAX_INCLUDE_FILES);
  });

  it('maxIncludeBytes: the bytes of every file read count, repetitions included', () => {
    const fs = vfs({ '/d/x.conf': '#'.repeat(29) + '\n' });
    const r = parseConfig('include x.conf;\n'.repeat(5), { filename: '/d/nginx.conf', readFile: fs.readFile, maxIncludeBytes: 100, lenient: true });
    expect(r.files).toEqual(['/d/nginx.conf', '/d/x.conf', '/d/x.conf', '/d/x.conf']);
    expect(r.errors.map(shape)).toEqual([['INCLUDE_LIMIT', 'include "/d/x.conf" refused: more than 100 bytes of included files in one parse', '/d/nginx.conf', 4, 9, '/d/x.conf']]);
    expect(fs.reads).toHaveLength(4);
  });
});

describe('cycles on canonical paths, one error per include statement (item 2)', () => {
  const spellings = ['x.conf', './x.conf', '././x.conf', './/x.conf', './././x.conf', './//x.conf', '././/x.conf', './/./x.conf', '././././x.conf'];
  const self = spellings.map((s) => `include ${s};`).join('\n') + '\n';

  it('a file including itself under 9 spellings: 9 errors, nothing read (real files)', () => {
    const x = join(conf, 'x.conf');
    writeFileSync(x, self);
    const r = parseConfig(self, { filename: x, lenient: true });
    expect(r.files).toEqual([x]);
    expect(r.errors.map(shape)).toEqual(
      spellings.map((s, i) => ['INCLUDE_CYCLE', `include cycle: "${conf}/${s}" includes itself (${x} -> ${conf}/${s})`, x, i + 1, 9, `${conf}/${s}`]),
    );
    expect(err(self, { filename: x }).reason).toBe(`include cycle: "${x}" includes itself (${x} -> ${x})`);
    expect(explain(self, { filename: x }).errors).toHaveLength(9);
  });

  it("the same with a caller's reader: zero reads", () => {
    const fs = vfs({ '/c/x.conf': self });
    const r = parseConfig(self, { filename: '/c/x.conf', readFile: fs.readFile, lenient: true });
    expect([fs.reads, r.errors.map((e) => [e.kind, e.line])]).toEqual([[], spellings.map((_, i) => ['INCLUDE_CYCLE', i + 1])]);
  });

  it('a symbolic link to the including file is the same file', () => {
    writeFileSync(join(conf, 'self.conf'), 'include self-link.conf;\n');
    symlinkSync('self.conf', join(conf, 'self-link.conf'));
    const e = err('include self-link.conf;\n', { filename: join(conf, 'self.conf') });
    expect(shape(e)).toEqual(['INCLUDE_CYCLE', `include cycle: "${conf}/self-link.conf" includes itself (${conf}/self.conf -> ${conf}/self-link.conf)`, join(conf, 'self.conf'), 1, 9, `${conf}/self-link.conf`]);
  });

  it('18 files that each include *.conf: 18 errors and 171 reads (n(n+1)/2), not 2^18', () => {
    const dir = join(root, 'mutual');
    mkdirSync(dir);
    const names = Array.from({ length: 18 }, (_, i) => join(dir, `f${String(i + 1).padStart(2, '0')}.conf`));
    for (const n of names) writeFileSync(n, 'include *.conf;\n');
    const expected = names.flatMap((n, k) => [n, ...names.slice(0, k)]);
    const r = parseConfig('include *.conf;\n', { filename: join(dir, 'nginx.conf'), lenient: true });
    expect(r.files).toEqual([join(dir, 'nginx.conf'), ...expected]);
    expect(r.errors.map((e) => [e.kind, e.file, e.value])).toEqual(names.map((n) => ['INCLUDE_CYCLE', n, n]));
    // counted through a reader of the caller's, with the default glob
    const reads: string[] = [];
    const counted = parseConfig('include *.conf;\n', { filename: join(dir, 'nginx.conf'), readFile: (p) => (reads.push(p), readFileSync(p, 'utf8')), lenient: true });
    expect([reads.length, counted.errors.length]).toEqual([171, 18]);
  });

  it('strict mode reports the first cycle with its chain', () => {
    const fs = vfs({ '/c/a.conf': 'include b.conf;\n', '/c/b.conf': '\ninclude ./a.conf;\n' });
    const e = err('include a.conf;\n', { filename: '/c/nginx.conf', readFile: fs.readFile });
    expect(shape(e)).toEqual(['INCLUDE_CYCLE', 'include cycle: "/c/./a.conf" includes itself (/c/nginx.conf -> /c/a.conf -> /c/b.conf -> /c/./a.conf)', '/c/b.conf', 2, 9, '/c/./a.conf']);
  });
});

describe('the default glob: no backtracking (item 4), hidden names, sorted, bounded', () => {
  const m = (pattern: string, name: string) => matchName(compilePattern(pattern), name);

  it.each([
    ['*.conf', 'a.conf', true], ['*.conf', 'a.con', false], ['*.conf', '.a.conf', false], ['.*', '.env', true], ['.*', 'env', false],
    ['?', 'a', true], ['?', '', false], ['?', 'ab', false], ['?', '😀', true], ['[ab]x', 'bx', true], ['[ab]x', 'cx', false],
    ['[!ab]x', 'cx', true], ['[!ab]x', 'ax', false], ['[^a]', 'b', true], ['[a-c]', 'b', true], ['[a-c]', 'd', false],
    ['[]]', ']', true], ['[!]]', 'a', true], ['[!]]', ']', false], ['a[b', 'a[b', true], ['a[b', 'ab', false],
    ['\\*', '*', true], ['\\*', 'a', false], ['[\\]]', ']', true], ['a*b*c', 'aXbYc', true], ['a*b*c', 'abcbc', true],
    ['a*b*c', 'acb', false], ['***', '', true], ['*', '', true], ['', '', true], ['', 'a', false],
    ['*a*a*a*a*a*a*a*a*b', 'a'.repeat(40), false], ['*a*a*a*a*a*a*a*a*b', `${'a'.repeat(40)}b`, true],
  ])('%j ~ %j: %s', (pattern, name, expected) => {
    expect(m(pattern, name)).toBe(expected);
  });

  it('agrees with a regular expression on random patterns (the old, backtracking, translation)', () => {
    const toRegex = (p: string) => new RegExp(`^${p.replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', 'b', '*', '?'), maxLength: 10 }), fc.string({ unit: fc.constantFrom('a', 'b'), maxLength: 12 }), (p, n) => {
        expect(m(p, n)).toBe(toRegex(p).test(n));
      }),
      { numRuns: 2000 },
    );
  });

  it('*a*a*a*a*a*a*a*a*b against a 40-character name, through include', () => {
    const dir = join(root, 'glob40');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a'.repeat(40)), 'upstream g { server 127.0.0.1:4; }\n');
    writeFileSync(join(dir, `${'a'.repeat(39)}b`), 'upstream g { server 127.0.0.1:5; }\n');
    const r = parseConfig(`stream { include ${dir}/*a*a*a*a*a*a*a*a*b; }`, { filename: join(dir, 'nginx.conf') });
    expect(r.files).toEqual([join(dir, 'nginx.conf'), join(dir, `${'a'.repeat(39)}b`)]);
  });

  it('fsGlob: the last component only, hidden names for a leading ".", sorted, a missing directory matches nothing', () => {
    const dir = join(root, 'globs');
    mkdirSync(join(dir, 'd.conf'), { recursive: true });
    for (const n of ['b.conf', 'a.conf', '.h.conf', 'c.txt', '[x].conf', 'x.conf']) writeFileSync(join(dir, n), '');
    const budget = { left: 1000, limit: 1000 };
    expect(fsGlob(`${dir}/*.conf`, budget)).toEqual(['[x].conf', 'a.conf', 'b.conf', 'd.conf', 'x.conf'].map((n) => `${dir}/${n}`));
    expect(fsGlob(`${dir}/.*`, budget)).toEqual([`${dir}/.h.conf`]);
    expect(fsGlob(`${dir}/[x].conf`, budget)).toEqual([`${dir}/x.conf`]);
    expect(fsGlob(`${dir}/\\[x].conf`, budget)).toEqual([`${dir}/[x].conf`]);
    expect(fsGlob(`${dir}/nope/*`, budget)).toEqual([]);
    expect(() => fsGlob(`${dir}/*/b.conf`, budget)).toThrow('wildcards are supported in the last path component only');
  });

  it(`fsGlob: every entry read counts against the parse's budget (${MAX_GLOB_ENTRIES} by default)`, () => {
    expect(MAX_GLOB_ENTRIES).toBe(100_000);
    const budget = { left: 4, limit: 4 };
    expect(fsGlob(`${conf}/sub/*.conf`, budget)).toEqual([`${conf}/sub/b.conf`]);
    expect(budget.left).toBe(2);
    expect(() => fsGlob(`${conf}/*.conf`, budget)).toThrow(new GlobLimitError(4));
    const e = err('include *.conf;', { filename: main, glob: () => { throw new GlobLimitError(4); } });
    expect(shape(e)).toEqual(['INCLUDE_LIMIT', `include "${conf}/*.conf" refused: more than 4 directory entries read by glob in one parse`, main, 1, 9, `${conf}/*.conf`]);
  });
});

describe('lenient parses keep at most maxErrors errors (item 8)', () => {
  it(`the default ${MAX_ERRORS}: then one TOO_MANY_ERRORS error, and the parse stops`, () => {
    const r = parseConfig('}'.repeat(1000), { lenient: true });
    expect(r.errors).toHaveLength(101);
    expect(r.errors.slice(0, 100).every((e, i) => e.reason === 'unexpected "}"' && e.column === i + 1)).toBe(true);
    expect(shape(r.errors[100]!)).toEqual(['TOO_MANY_ERRORS', 'too many errors: the parse stopped after 100', 'nginx.conf', 1, 101, 100]);
  });

  it('maxErrors is an option; the strict parse still throws the first error', () => {
    const r = parseConfig('stream { upstream u { server 127.0.0.1:1; } }\n}\n}\n}\n}\n', { lenient: true, maxErrors: 2 });
    expect(r.errors.map((e) => [e.kind, e.line])).toEqual([['SYNTAX', 2], ['SYNTAX', 3], ['TOO_MANY_ERRORS', 4]]);
    expect(r.upstreams.map((u) => u.name)).toEqual(['u']);
    expect(err('}}}', { maxErrors: 1 }).reason).toBe('unexpected "}"');
  });

  it('explain of 1 MB of "}" keeps 101 errors', () => {
    const ex = explain('}'.repeat(1024 * 1024));
    expect(ex.errors).toHaveLength(101);
    expect(ex.errors[100]!.reason).toBe('too many errors: the parse stopped after 100');
  });
});
