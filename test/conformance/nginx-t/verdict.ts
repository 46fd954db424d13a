/**
 * Verdict format of the nginx -t differential test, and how our parser's verdict is computed.
 *
 * A verdict is what `nginx -t` said about one corpus case: accepted or not, the first `[emerg]`
 * message (text, file relative to the prefix, line; `null` when nginx prints no location), and
 * every `[warn]` line. `ourVerdict` runs `parseConfig` on the same files (the same wrapper
 * `nginx.conf` included) with `checkModule: false`, since stock nginx has no check module, and
 * with `nginx:` set to the series whose verdicts it is compared with.
 */

import { ConfigError } from '../../../src/errors';
import { parseConfig } from '../../../src/config/nginx';
import type { NginxTarget } from '../../../src/options';
import type { CorpusCase } from './corpus';

export const STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

export interface Message {
  reason: string;
  /** Path relative to the configuration prefix, or null when nginx printed no location. */
  file: string | null;
  line: number | null;
}

export interface Verdict {
  id: string;
  ok: boolean;
  error: Message | null;
  warnings: Message[];
}

/** The nginx series whose `nginx -t` verdicts are recorded, each in `verdicts-<series>.json`. */
export const VERDICT_SERIES: readonly NginxTarget[] = ['1.22', '1.30'];

/**
 * The main file nginx is started with: loads the stream module (Debian's 1.22 has it as a dynamic
 * module; 1.30.4 is built with it), adds events, includes the snippet.
 */
export function wrapper(c: CorpusCase, series: NginxTarget): string {
  const load = series === '1.22' ? `load_module ${STREAM_MODULE};\n` : '';
  return `${load}${c.noEvents ? '' : 'pid nginx.pid;\nevents {}\n'}include snippet.conf;\n`;
}

/** Parses one `nginx: [level] text in FILE:LINE` line (either log format). */
export function parseLogLine(line: string, prefix: string): { level: string; msg: Message } | undefined {
  const m = /\[(emerg|alert|crit|error|warn|notice)\] (?:\d+#\d+: )?(.*)$/.exec(line);
  if (!m) return undefined;
  let reason = m[2]!;
  let file: string | null = null;
  let ln: number | null = null;
  const loc = / in (\S+):(\d+)$/.exec(reason);
  if (loc) {
    reason = reason.slice(0, loc.index);
    file = loc[1]!;
    ln = Number(loc[2]);
  }
  const norm = (s: string) => s.split(prefix.endsWith('/') ? prefix : prefix + '/').join('');
  return { level: m[1]!, msg: { reason: norm(reason), file: file === null ? null : norm(file), line: ln } };
}

/** Our parser's verdict on a case, judged as nginx `series` judges it. */
export function ourVerdict(c: CorpusCase, series: NginxTarget): Verdict {
  const files = c.files;
  const readFile = (p: string): string => {
    const t = files[p];
    if (t === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    return t;
  };
  const glob = (pattern: string): string[] => {
    const rx = new RegExp('^' + pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') + '$');
    return Object.keys(files).filter((f) => rx.test(f)).sort();
  };
  const warnings: Message[] = [];
  try {
    // nginx's own include behaviour (the wrapper includes /usr/share/nginx/modules/*.conf), on the case's files only.
    const r = parseConfig(wrapper(c, series), { filename: 'nginx.conf', prefix: '', readFile, glob, checkModule: false, includes: 'anywhere', nginx: series });
    for (const w of r.warnings) if (w.kind === 'nginx') warnings.push({ reason: w.reason, file: w.file, line: w.line });
    return { id: c.id, ok: true, error: null, warnings };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return { id: c.id, ok: false, error: { reason: e.reason, file: e.file, line: e.line }, warnings: [] };
  }
}

/** Compares our verdict with nginx's; returns a list of differences (empty = match). */
export function compare(nginx: Verdict, ours: Verdict): string[] {
  const d: string[] = [];
  if (nginx.ok !== ours.ok) d.push(`verdict: nginx ${nginx.ok ? 'accepts' : 'rejects'}, we ${ours.ok ? 'accept' : 'reject'}`);
  if (nginx.error && ours.error) {
    if (nginx.error.reason !== ours.error.reason) d.push(`message: nginx ${JSON.stringify(nginx.error.reason)}, we ${JSON.stringify(ours.error.reason)}`);
    if (nginx.error.line !== null && (nginx.error.line !== ours.error.line || nginx.error.file !== ours.error.file)) {
      d.push(`location: nginx ${nginx.error.file}:${nginx.error.line}, we ${ours.error.file}:${ours.error.line}`);
    }
  }
  if (nginx.ok && ours.ok) {
    const a = nginx.warnings.map((w) => `${w.reason} @${w.file}:${w.line}`).join('\n');
    const b = ours.warnings.map((w) => `${w.reason} @${w.file}:${w.line}`).join('\n');
    if (a !== b) d.push(`warnings: nginx [${a}], we [${b}]`);
  }
  return d;
}
