/**
 * Configuration cases of the config-text fuzz (config-text.ts) that may hang or allocate without
 * bound (a FIFO, /dev/zero, mutual or self includes, a backtracking glob), run in their own process
 * so that the parent can kill it: `node --import tsx test/fuzz/config-child.ts ITEMS_JSON`.
 *
 * ITEMS: `[{ file, text, mode: 'strict' | 'lenient' | 'explain', options }]`. For each item it prints
 * `START <i>`, parses `text` as the file `file` (relative includes resolve against its directory),
 * then prints `RESULT <json>` with `{ i, outcome: 'result' | 'config-error' | 'other-error',
 * message, ms, heapMB, errors, files }`.
 */

import { explain } from '../../src/config/explain';
import { parseConfig, type ParseOptions } from '../../src/config/nginx';
import { isUpstreamError } from '../../src/errors';

interface Item {
  file: string;
  text: string;
  mode: 'strict' | 'lenient' | 'explain';
  options: Record<string, unknown>;
}

const items = JSON.parse(process.argv[2]!) as Item[];

items.forEach(({ file, text, mode, options }, i) => {
  console.log(`START ${i}`);
  const t0 = performance.now();
  let outcome: 'result' | 'config-error' | 'other-error' = 'result';
  let message = '';
  let errors = 0;
  let files = 0;
  try {
    // options may hold the include policy and limits of the fixed parser (includes, maxFileBytes,
    // maxErrors); the current one ignores keys it does not know
    const opts = { filename: file, ...options } as ParseOptions;
    if (mode === 'explain') {
      const ex = explain(text, opts);
      errors = ex.errors.length;
      message = ex.verdict.error?.message ?? '';
    } else {
      const r = parseConfig(text, { ...opts, lenient: mode === 'lenient' });
      errors = r.errors.length;
      files = r.files.length;
      message = r.errors[0]?.message ?? '';
    }
  } catch (e) {
    if (isUpstreamError(e) && e.code === 'ERR_UPSTREAM_CONFIG') {
      outcome = 'config-error';
      message = e.message;
    } else {
      outcome = 'other-error';
      message = e instanceof Error ? `${e.name}: ${e.message}\n${(e.stack ?? '').split('\n').slice(1, 6).join('\n')}` : String(e);
    }
  }
  const ms = performance.now() - t0;
  const heapMB = Math.round(process.memoryUsage().heapUsed / 1048576);
  console.log(`RESULT ${JSON.stringify({ i, outcome, message: message.slice(0, 400), ms: Math.round(ms), heapMB, errors, files })}`);
});
