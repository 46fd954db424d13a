/**
 * Records what real `nginx -t` says about every case of the corpus into `verdicts.json`.
 *
 *   npx tsx test/conformance/nginx-t/record.ts           # re-record verdicts.json
 *   npx tsx test/conformance/nginx-t/record.ts --check   # re-record in memory, fail on drift
 *
 * Each case runs in its own scratch prefix under the temp dir (`nginx -t -p DIR -c DIR/nginx.conf`,
 * the wrapper of verdict.ts; nothing is started, `-t` only loads the configuration), removed
 * afterwards. Both modes also compare nginx with our parser and fail on any mismatch; `--check`
 * additionally fails when nginx's verdicts differ from the committed file (exit 1), and exits 2
 * when nginx cannot be run. Cost: about 10-20 ms per case.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NGINX, nginxVersion } from '../nginx-process';
import { CORPUS, type CorpusCase } from './corpus';
import { compare, ourVerdict, parseLogLine, wrapper, type Message, type Verdict } from './verdict';

const HERE = dirname(fileURLToPath(import.meta.url));
const OUT = join(HERE, 'verdicts.json');

function runNginx(c: CorpusCase): Verdict {
  const dir = mkdtempSync(join(tmpdir(), 'ub-nginx-t-'));
  try {
    writeFileSync(join(dir, 'nginx.conf'), wrapper(c));
    for (const [path, text] of Object.entries(c.files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const r = spawnSync(NGINX, ['-t', '-q', '-p', dir + '/', '-c', join(dir, 'nginx.conf')], { encoding: 'utf8', timeout: 20_000 });
    if (r.error) throw r.error;
    const lines = `${r.stderr}\n${r.stdout}`.split('\n');
    let error: Message | null = null;
    const warnings: Message[] = [];
    for (const line of lines) {
      const p = parseLogLine(line, dir);
      if (!p) continue;
      if (p.level === 'warn') warnings.push(p.msg);
      else if (p.level === 'emerg' && error === null) error = p.msg;
    }
    const ok = r.status === 0;
    if (!ok && error === null) throw new Error(`nginx -t failed without an [emerg] line for ${c.id}: ${r.stderr}`);
    return { id: c.id, ok, error, warnings };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function main(): void {
  const check = process.argv.includes('--check');
  let version: string;
  try {
    version = nginxVersion();
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  const ids = new Set<string>();
  for (const c of CORPUS) {
    if (ids.has(c.id)) throw new Error(`duplicate corpus id ${c.id}`);
    ids.add(c.id);
  }
  const verdicts: Verdict[] = [];
  let mismatches = 0;
  for (const c of CORPUS) {
    let v: Verdict;
    try {
      v = runNginx(c);
    } catch (e) {
      console.error(`cannot run nginx for ${c.id}: ${(e as Error).message}`);
      process.exit(2);
    }
    verdicts.push(v);
    const diff = compare(v, ourVerdict(c));
    if (diff.length) {
      mismatches++;
      console.log(`MISMATCH ${c.id}\n  ${diff.join('\n  ')}`);
    }
  }
  const accepted = verdicts.filter((v) => v.ok).length;
  console.log(`${verdicts.length} cases (${accepted} accepted, ${verdicts.length - accepted} rejected); parser matches nginx on ${verdicts.length - mismatches}`);
  const text = JSON.stringify({ nginx: version, cases: verdicts }, null, 1) + '\n';
  if (check) {
    const old = existsSync(OUT) ? readFileSync(OUT, 'utf8') : '';
    if (old !== text) {
      console.log(`DRIFT: nginx's verdicts differ from ${OUT}; re-record without --check and review the diff`);
      process.exit(1);
    }
  } else {
    writeFileSync(OUT, text);
    console.log(`wrote ${OUT}`);
  }
  if (mismatches) process.exit(1);
}

main();
