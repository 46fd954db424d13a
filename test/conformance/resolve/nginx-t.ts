/**
 * Records what `nginx -t` says about the `resolve` cases of `nginx-t-cases.ts`, for nginx 1.30.4
 * (stock build) and Debian's 1.22.1, into `test/vectors/resolve/nginx-t.json`:
 *
 *   npx tsx test/conformance/resolve/nginx-t.ts [--check]
 *
 * Each case is `case.conf`, included from a main file on a scratch prefix (`-p DIR/ -e DIR/error.log`,
 * never the system service). Kept per case and version: accepted or not, and the first `[emerg]`
 * (its text with the prefix removed, and the line). `--check` compares with the committed file
 * (exit 1 on drift, 2 when nginx cannot run).
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary, runMain, SERIES, type NginxBinary } from '../nginx-process';
import { CASES } from './nginx-t-cases';

export const NGINX_T_VECTOR = 'test/vectors/resolve/nginx-t.json';

export interface TVerdict {
  ok: boolean;
  /** The first `[emerg]` text, the scratch prefix removed; null when accepted. */
  reason: string | null;
  line: number | null;
}

function verdict(binary: NginxBinary, text: string): TVerdict {
  const dir = mkdtempSync(join(tmpdir(), 'resolve-nginx-t-'));
  try {
    const modules = (binary.modules ?? []).map((m) => `load_module ${m};\n`).join('');
    writeFileSync(join(dir, 'nginx.conf'), `${modules}pid ${dir}/nginx.pid;\nevents {}\ninclude case.conf;\n`);
    writeFileSync(join(dir, 'case.conf'), `${text}\n`);
    const r = spawnSync(binary.path, ['-t', '-q', '-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { encoding: 'utf8' });
    if (r.error) throw r.error;
    if (r.status === 0) return { ok: true, reason: null, line: null };
    const m = /\[emerg\] (?:\d+#\d+: )?(.*)$/m.exec(r.stderr);
    if (!m) throw new Error(`nginx -t failed without [emerg]: ${r.stderr}`);
    let reason = m[1]!.split(`${dir}/`).join('');
    let line: number | null = null;
    const loc = / in case\.conf:(\d+)$/.exec(reason);
    if (loc) {
      reason = reason.slice(0, loc.index);
      line = Number(loc[1]);
    }
    return { ok: false, reason, line };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const check = process.argv.includes('--check');
  const binaries = SERIES.map((s) => findBinary(s));
  const out: Record<string, Record<string, TVerdict>> = {};
  for (const c of CASES) {
    out[c.id] = {};
    for (const b of binaries) out[c.id]![b.version] = verdict(b, c.text);
  }
  const text = `{\n${Object.entries(out).map(([id, v]) => `  ${JSON.stringify(id)}: ${JSON.stringify(v)}`).join(',\n')}\n}\n`;
  if (check) {
    const committed = existsSync(NGINX_T_VECTOR) ? readFileSync(NGINX_T_VECTOR, 'utf8') : '';
    if (committed !== text) {
      console.error(`drift from ${NGINX_T_VECTOR}:\n${text}`);
      return 1;
    }
    console.log(`${CASES.length} cases: same as ${NGINX_T_VECTOR}`);
    return 0;
  }
  writeFileSync(NGINX_T_VECTOR, text);
  console.log(`${CASES.length} cases x ${binaries.map((b) => b.version).join(', ')} -> ${NGINX_T_VECTOR}`);
  return 0;
}

runMain(main);
