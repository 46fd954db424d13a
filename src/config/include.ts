/**
 * The `include` directive: nginx's `ngx_conf_include` (src/core/ngx_conf_file.c). The path is
 * resolved against the prefix (`ngx_conf_full_name`), a pattern with `*`, `?` or `[` is expanded
 * (nginx uses glob(3); the default here matches in one directory, sorted), and each file is read
 * and walked in the context of the `include` line, with nginx's `open()` / `glob()` messages and
 * errno texts. A file that includes itself (directly or not) is an error here (nginx recurses until
 * it runs out of file descriptors), as is nesting deeper than `MAX_INCLUDE_DEPTH`.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { isUpstreamError } from '../errors';
import { CONTEXTS, type Command, type Conf, type Ctx, type Includes } from './conf';
import { MAX_INCLUDE_DEPTH } from './numbers';
import type { Statement } from './tokenizer';
import type { ParseOptions } from './types';

const ERRNO: Record<string, string> = {
  ENOENT: '2: No such file or directory',
  EACCES: '13: Permission denied',
  EISDIR: '21: Is a directory',
  ENOTDIR: '20: Not a directory',
  ELOOP: '40: Too many levels of symbolic links',
  EMFILE: '24: Too many open files',
};

function defaultReadFile(path: string): string {
  return readFileSync(path, 'utf8');
}

/** One-directory glob: wildcards allowed in the last path component only (nginx uses glob(3)). */
function defaultGlob(pattern: string): string[] {
  const slash = pattern.lastIndexOf('/');
  const dir = slash < 0 ? '.' : pattern.slice(0, slash) || '/';
  const base = pattern.slice(slash + 1);
  if (/[*?[]/.test(dir)) throw Object.assign(new Error('wildcards are supported in the last path component only'), { code: 'ENOTSUP' });
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  let re = '^';
  for (let i = 0; i < base.length; i++) {
    const c = base[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = base.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re += '[' + base.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\') + ']';
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  const rx = new RegExp(re + '$');
  return names
    .filter((n) => rx.test(n) && !(n.startsWith('.') && !base.startsWith('.')))
    .sort()
    .map((n) => (slash < 0 ? n : `${pattern.slice(0, slash)}/${n}`));
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

/** The include state of one parse of `filename` (read, not yet opened). */
export function includes(opts: ParseOptions, filename: string): Includes {
  return {
    prefix: opts.prefix ?? dirname(filename),
    readFile: opts.readFile ?? defaultReadFile,
    glob: opts.glob ?? defaultGlob,
    stack: [],
    files: [],
  };
}

/** `include FILE|MASK;` reads each file in the context of the line (also inside raw text blocks). */
export function include(cf: Conf, st: Statement): void {
  const inc = cf.includes;
  const arg = st.args[1]!;
  const full = joinPath(inc.prefix, arg.text);
  let paths: string[];
  if (/[*?[]/.test(full)) {
    try {
      paths = inc.glob(full);
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      cf.error(`glob() "${full}" failed (${ERRNO[code] ?? `${code}: ${(e as Error).message}`})`, cf.at(st, arg), 'INCLUDE', full);
      return;
    }
  } else paths = [full];
  for (const path of paths) {
    if (inc.stack.includes(path)) {
      cf.error(`include cycle: "${path}" includes itself (${[...inc.stack, path].join(' -> ')})`, cf.at(st, arg), 'INCLUDE_CYCLE', path);
      return;
    }
    if (inc.stack.length >= MAX_INCLUDE_DEPTH) {
      cf.error(`open() "${path}" failed (24: Too many open files)`, cf.at(st, arg), 'INCLUDE', path);
      return;
    }
    let text: string;
    try {
      text = inc.readFile(path);
    } catch (e) {
      if (isUpstreamError(e)) throw e;
      const code = (e as { code?: string }).code ?? '';
      cf.error(`open() "${path}" failed (${ERRNO[code] ?? `${code || 'EIO'}: ${(e as Error).message}`})`, cf.at(st, arg), 'INCLUDE', path);
      return;
    }
    if (typeof text !== 'string') {
      cf.error(`open() "${path}" failed (readFile returned ${typeof text})`, cf.at(st, arg), 'INCLUDE', path);
      return;
    }
    inc.files.push(path);
    inc.stack.push(path);
    try {
      cf.file(text, path);
    } finally {
      inc.stack.pop();
    }
  }
}

/** Every context but the raw text blocks (there the walker calls `include` itself). */
const ANYWHERE = (Object.keys(CONTEXTS) as Ctx[]).filter((c) => c !== 'raw');

/** `include` is a command of every context (`NGX_ANY_CONF`); a block it opens by mistake is walked in place. */
export const INCLUDE: Command<void> = { name: 'include', contexts: ANYWHERE, block: false, args: '1', recover: 'here', handler: include };
