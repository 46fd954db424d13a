/**
 * The `include` directive: nginx's `ngx_conf_include` (src/core/ngx_conf_file.c). The path is
 * resolved against the prefix (`ngx_conf_full_name`), a pattern with `*`, `?` or `[` is expanded
 * (nginx uses glob(3); the default here is glob.ts), and each file is read and walked in the
 * context of the `include` line, with nginx's `open()` / `glob()` messages and errno texts.
 *
 * Our policy for text from untrusted sources (docs/config.md, "Includes from untrusted text"), which
 * nginx does not have: the `includes` option (`prefix`, the default: only under the prefix
 * directory, on the normalised and, for the default reader, the real path; `anywhere`: nginx's
 * behaviour; `off`), regular files only (read-file.ts), a size cap per file and a budget of files
 * and bytes per parse, and cycles found on canonical paths (real paths for the default reader,
 * normalised ones for a caller's reader). A file that includes itself (directly or not) is an
 * error here (nginx recurses until it runs out of file descriptors), reported once per `include`
 * statement: later runs of a statement that reported a cycle are skipped, so that files which all
 * include `*.conf` cost a polynomial number of reads, not an exponential one. Nesting deeper than
 * `MAX_INCLUDE_DEPTH` is nginx's `Too many open files`.
 */

import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { InvalidOptionError, isUpstreamError, show } from '../errors';
import { CONTEXTS, type Command, type Conf, type Ctx, type Includes } from './conf';
import { fsGlob, GlobLimitError, hasWildcard, type GlobBudget } from './glob';
import { MAX_GLOB_ENTRIES, MAX_INCLUDE_BYTES, MAX_INCLUDE_DEPTH, MAX_INCLUDE_FILES } from './numbers';
import { MAX_CONFIG_FILE_BYTES, readConfigBytes } from './read-file';
import type { Statement } from './tokenizer';
import type { IncludePolicy, ParseOptions } from './types';

const ERRNO: Record<string, string> = {
  ENOENT: '2: No such file or directory',
  EACCES: '13: Permission denied',
  EISDIR: '21: Is a directory',
  ENOTDIR: '20: Not a directory',
  ELOOP: '40: Too many levels of symbolic links',
  EMFILE: '24: Too many open files',
  ENAMETOOLONG: '36: File name too long',
};

const POLICIES: readonly IncludePolicy[] = ['prefix', 'anywhere', 'off'];

/** A positive integer option, or its default; anything else is `InvalidOptionError`. */
export function limitOption(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  throw new InvalidOptionError(name, `Expected \`${name}\` to be a positive integer, got \`${show(value)}\``, value);
}

function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  if (i < 0) return '';
  if (i === 0) return '/';
  return path.slice(0, i);
}

function joinPath(prefix: string, path: string): string {
  if (path.startsWith('/') || prefix === '' || prefix === '.') return path;
  return prefix.endsWith('/') ? prefix + path : `${prefix}/${path}`;
}

/**
 * Lexical normalisation: `.` and empty components dropped, `..` removes the component before it
 * (at the root it stays at the root; a relative path keeps its leading `..`). `''` becomes `.`.
 */
export function normalizePath(path: string): string {
  const abs = path.startsWith('/');
  const out: string[] = [];
  for (const c of path.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!abs) out.push('..');
    } else out.push(c);
  }
  const body = out.join('/');
  return abs ? `/${body}` : body || '.';
}

/** `path` (normalised) is `dir` (normalised) or lies under it. */
export function isWithin(path: string, dir: string): boolean {
  if (dir === '.') return !path.startsWith('/') && path !== '..' && !path.startsWith('../');
  if (dir === '/') return path.startsWith('/');
  return path === dir || path.startsWith(`${dir}/`);
}

/** An absolute spelling of `path`, against the current directory, not normalised (`..` stays for the kernel). */
function absolute(path: string): string {
  if (path.startsWith('/')) return path;
  const cwd = process.cwd();
  return path === '' ? cwd : `${cwd === '/' ? '' : cwd}/${path}`;
}

/** Symbolic links followed by `canonical` past a part that does not resolve (Linux's own limit). */
const MAX_LINK_HOPS = 40;

/**
 * The canonical form of an absolute path: its real path when it resolves. Otherwise the real path
 * of its longest leading part that resolves, then the next part: a dangling symbolic link there is
 * followed to where it points (so that its target decides, not whether the target exists), and
 * anything else (a missing name) is appended with the rest, normalised; the kernel would fail
 * there, so what matters is where the resolvable part lies.
 */
function canonical(abs: string, hops = 0): string {
  try {
    return realpathSync.native(abs);
  } catch {
    // resolved below, part by part
  }
  const parts = abs.split('/');
  const rest: string[] = [];
  while (parts.length > 1) {
    rest.unshift(parts.pop()!);
    let real: string;
    try {
      real = realpathSync.native(parts.join('/') || '/');
    } catch {
      continue;
    }
    const next = `${real === '/' ? '' : real}/${rest[0]}`;
    let link: string | undefined;
    try {
      if (hops < MAX_LINK_HOPS && lstatSync(next).isSymbolicLink()) link = readlinkSync(next);
    } catch {
      link = undefined;
    }
    if (link !== undefined) {
      const target = link.startsWith('/') ? link : `${real === '/' ? '' : real}/${link}`;
      return canonical(rest.length > 1 ? `${target}/${rest.slice(1).join('/')}` : target, hops + 1);
    }
    return normalizePath(`${real}/${rest.join('/')}`);
  }
  return normalizePath(abs);
}

/** `missingIncludes`: `'error'` (nginx's behaviour, the default) or `'warn'`. */
function missingOption(value: unknown): 'error' | 'warn' {
  if (value === undefined || value === 'error' || value === 'warn') return value ?? 'error';
  throw new InvalidOptionError('missingIncludes', `Expected \`missingIncludes\` to be 'error' or 'warn', got \`${show(value)}\``, value);
}

/** The include state of one parse of `filename` (the main file counts as read, and as open). */
export function includes(opts: ParseOptions, filename: string): Includes {
  const policy = opts.includes ?? 'prefix';
  if (!POLICIES.includes(policy)) {
    throw new InvalidOptionError('includes', `Expected \`includes\` to be one of 'prefix', 'anywhere', 'off', got \`${show(policy)}\``, policy);
  }
  const maxFileBytes = limitOption(opts.maxFileBytes, 'maxFileBytes', MAX_CONFIG_FILE_BYTES);
  const maxFiles = limitOption(opts.maxIncludeFiles, 'maxIncludeFiles', MAX_INCLUDE_FILES);
  const maxBytes = limitOption(opts.maxIncludeBytes, 'maxIncludeBytes', MAX_INCLUDE_BYTES);
  const prefix = opts.prefix ?? dirname(filename);
  const userRead = opts.readFile;
  const budget: GlobBudget = { left: MAX_GLOB_ENTRIES, limit: MAX_GLOB_ENTRIES };
  return {
    policy,
    prefix,
    prefixGiven: opts.prefix !== undefined || prefix !== '',
    readFile: userRead ? (path) => userRead(path) : (path, max) => readConfigBytes(path, max),
    fsRead: userRead === undefined,
    glob: opts.glob ?? ((pattern) => fsGlob(pattern, budget)),
    fsGlob: opts.glob === undefined,
    maxFileBytes,
    maxFiles,
    maxBytes,
    readFiles: 0,
    readBytes: 0,
    exhausted: false,
    missing: missingOption(opts.missingIncludes),
    realPrefix: undefined,
    stack: [{ id: undefined, name: filename }],
    files: [filename],
    cycled: new Set(),
  };
}

/** The identity of a path for cycles: its canonical real path on `node:fs`, its normalised text otherwise. */
function identity(path: string, fs: boolean): string {
  return fs ? canonical(absolute(path)) : normalizePath(path);
}

/**
 * Where `path` may be read under the policy: its canonical form (`id`, also what is read), or
 * `undefined` when it lies outside the prefix. `fs`: the path is opened through `node:fs` (the
 * default reader or glob), so symlinks count. The lexical check runs first and touches nothing;
 * the real-path check resolves only what lies in the prefix's own tree, so a refusal does not depend
 * on whether something outside the prefix exists (unless a symbolic link in the prefix points
 * outside: docs/config.md).
 */
function allowed(inc: Includes, path: string, fs: boolean): string | undefined {
  if (!fs) {
    const n = normalizePath(path);
    return inc.policy === 'prefix' && !isWithin(n, normalizePath(inc.prefix)) ? undefined : n;
  }
  const abs = absolute(path);
  if (inc.policy !== 'prefix') return canonical(abs);
  if (!isWithin(normalizePath(abs), normalizePath(absolute(inc.prefix)))) return undefined;
  inc.realPrefix ??= canonical(absolute(inc.prefix));
  const real = canonical(abs);
  return isWithin(real, inc.realPrefix) ? real : undefined;
}

/** The directory part of a pattern before its first component with a wildcard (`.` for none). */
function fixedDir(pattern: string): string {
  const parts = pattern.split('/');
  const i = parts.findIndex((p) => hasWildcard(p));
  const head = parts.slice(0, i).join('/');
  return head === '' ? (pattern.startsWith('/') ? '/' : '.') : head;
}

/** Why a path is refused by the policy before anything is opened, or undefined when it may go on. */
function refusal(inc: Includes, fs: boolean): string | undefined {
  if (inc.policy === 'off') return 'includes are turned off';
  if (inc.policy === 'prefix' && fs && !inc.prefixGiven) return 'no prefix directory was given';
  return undefined;
}

/** `include FILE|MASK;` reads each file in the context of the line (also inside raw text blocks). */
export function include(cf: Conf, st: Statement): void {
  const inc = cf.includes;
  const arg = st.args[1]!;
  const top = inc.stack[inc.stack.length - 1]!;
  if (inc.policy !== 'off') top.id ??= identity(top.name, inc.fsRead);
  const key = `${top.id ?? top.name}\n${st.line}\n${arg.line}:${arg.column}`;
  if (inc.exhausted || inc.cycled.has(key)) return;
  const full = joinPath(inc.prefix, arg.text);
  const at = cf.at(st, arg);
  const refuse = (why: string, kind = 'INCLUDE_REFUSED') => cf.error(`include "${full}" refused: ${why}`, at, kind, full);
  let paths: string[];
  if (hasWildcard(full)) {
    const why = refusal(inc, inc.fsGlob) ?? (allowed(inc, fixedDir(full), inc.fsGlob) === undefined ? 'outside the prefix directory' : undefined);
    if (why !== undefined) return refuse(why);
    try {
      paths = inc.glob(full);
    } catch (e) {
      if (isUpstreamError(e)) throw e;
      if (e instanceof GlobLimitError) {
        inc.exhausted = true;
        return refuse(`more than ${e.limit} directory entries read by glob in one parse`, 'INCLUDE_LIMIT');
      }
      const code = (e as { code?: string }).code ?? '';
      cf.error(`glob() "${full}" failed (${ERRNO[code] ?? `${code}: ${(e as Error).message}`})`, at, 'INCLUDE', full);
      return;
    }
    if (!Array.isArray(paths)) {
      cf.error(`glob() "${full}" failed (glob returned ${typeof paths})`, at, 'INCLUDE', full);
      return;
    }
  } else paths = [full];
  for (const path of paths) {
    if (typeof path !== 'string') {
      cf.error(`glob() "${full}" failed (glob returned a ${typeof path} in its list)`, at, 'INCLUDE', full);
      return;
    }
    if (!readOne(cf, inc, path, key, at)) return;
  }
}

/** Checks, reads and walks one file of an `include`; false when the rest of the statement is skipped. */
function readOne(cf: Conf, inc: Includes, path: string, key: string, at: ReturnType<Conf['at']>): boolean {
  const refuse = (why: string, kind = 'INCLUDE_REFUSED'): false => {
    cf.error(`include "${path}" refused: ${why}`, at, kind, path);
    return false;
  };
  const why = refusal(inc, inc.fsRead);
  if (why !== undefined) return refuse(why);
  const id = allowed(inc, path, inc.fsRead);
  if (id === undefined) return refuse('outside the prefix directory');
  if (inc.stack.some((f) => f.id === id)) {
    inc.cycled.add(key);
    cf.error(`include cycle: "${path}" includes itself (${[...inc.stack.map((f) => f.name), path].join(' -> ')})`, at, 'INCLUDE_CYCLE', path);
    return false;
  }
  if (inc.stack.length >= MAX_INCLUDE_DEPTH) {
    cf.error(`open() "${path}" failed (24: Too many open files)`, at, 'INCLUDE', path);
    return false;
  }
  if (inc.readFiles >= inc.maxFiles) {
    inc.exhausted = true;
    return refuse(`more than ${inc.maxFiles} included files in one parse`, 'INCLUDE_LIMIT');
  }
  const room = inc.maxBytes - inc.readBytes;
  const cap = Math.min(inc.maxFileBytes, room);
  let text: string | Uint8Array;
  try {
    text = inc.readFile(id, cap);
  } catch (e) {
    if (isUpstreamError(e)) throw e;
    const code = (e as { code?: string }).code ?? '';
    if (code === 'ENOTREG') return refuse('not a regular file');
    if (code === 'EFBIG') return tooBig(cf, inc, path, at, cap);
    if (code === 'ENOENT' && inc.missing === 'warn') {
      // a config copied from another machine: say what nginx would open, and go on without it
      cf.warn(`open() "${path}" failed (${ERRNO.ENOENT}): the include is skipped (missing includes are warnings)`, at, 'note', undefined, path);
      return true;
    }
    cf.error(`open() "${path}" failed (${ERRNO[code] ?? `${code || 'EIO'}: ${(e as Error).message}`})`, at, 'INCLUDE', path);
    return false;
  }
  if (typeof text !== 'string' && !(text instanceof Uint8Array)) {
    cf.error(`open() "${path}" failed (readFile returned ${typeof text})`, at, 'INCLUDE', path);
    return false;
  }
  const bytes = typeof text === 'string' ? Buffer.byteLength(text, 'utf8') : text.length;
  if (bytes > cap) return tooBig(cf, inc, path, at, cap);
  inc.readFiles++;
  inc.readBytes += bytes;
  inc.files.push(path);
  inc.stack.push({ id, name: path });
  try {
    cf.file(text, path);
  } finally {
    inc.stack.pop();
  }
  return true;
}

/** A file over its cap: the file's own limit, or what is left of the parse's byte budget. */
function tooBig(cf: Conf, inc: Includes, path: string, at: ReturnType<Conf['at']>, cap: number): false {
  if (cap < inc.maxFileBytes) {
    inc.exhausted = true;
    cf.error(`include "${path}" refused: more than ${inc.maxBytes} bytes of included files in one parse`, at, 'INCLUDE_LIMIT', path);
  } else cf.error(`include "${path}" refused: larger than ${inc.maxFileBytes} bytes`, at, 'INCLUDE_LIMIT', path);
  return false;
}

/** Every context but the raw text blocks (there the walker calls `include` itself). */
const ANYWHERE = (Object.keys(CONTEXTS) as Ctx[]).filter((c) => c !== 'raw');

/** `include` is a command of every context (`NGX_ANY_CONF`); a block it opens by mistake is walked in place. */
export const INCLUDE: Command<void> = { name: 'include', contexts: ANYWHERE, block: false, args: '1', recover: 'here', handler: include };
