/**
 * Records what real `nginx -t` says about every case of the corpus, per nginx series, into
 * `verdicts-1.22.json` (Debian's nginx 1.22.1 with its dynamic stream module) and
 * `verdicts-1.30.json` (nginx 1.30.4 from `shared/nginx/build.sh stock`, stream built in).
 *
 *   npx tsx test/conformance/nginx-t/record.ts [--nginx 1.22|1.30|all]           # re-record
 *   npx tsx test/conformance/nginx-t/record.ts --check [--nginx 1.22|1.30|all]   # re-record in memory, fail on drift
 *
 * Each case runs in its own scratch prefix under the temp dir (`nginx -t -p DIR -c DIR/nginx.conf`,
 * the wrapper of verdict.ts; nothing is started, `-t` only loads the configuration), removed
 * afterwards. Both modes also compare nginx with our parser (`nginx:` set to the series) and fail
 * on any mismatch but the known gaps of corpus.ts (`PARSER_GAPS`); `--check` additionally fails when nginx's verdicts differ from the committed
 * file (exit 1), and exits 2 when nginx cannot be run. Cost: about 10-20 ms per case and series.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findBinary, takeNginxFlag, type NginxBinary } from '../nginx-process';
import { CORPUS, PARSER_GAPS, type CorpusCase } from './corpus';
import { compare, ourVerdict, parseLogLine, wrapper, type Message, type Verdict } from './verdict';

const HERE = dirname(fileURLToPath(import.meta.url));

/** The committed verdicts of one series. */
export const verdictFile = (series: string): string => join(HERE, `verdicts-${series}.json`);

function runNginx(binary: NginxBinary, c: CorpusCase): Verdict {
  const dir = mkdtempSync(join(tmpdir(), `ub-nginx-t-${binary.series}-`));
  try {
    // a stock build's default error log is PREFIX/logs/error.log (Debian's: /var/log/nginx)
    mkdirSync(join(dir, 'logs'));
    writeFileSync(join(dir, 'nginx.conf'), wrapper(c, binary.series));
    for (const [path, text] of Object.entries(c.files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const r = spawnSync(binary.path, ['-t', '-q', '-p', dir + '/', '-c', join(dir, 'nginx.conf')], { encoding: 'utf8', timeout: 20_000 });
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
    if (!ok && error === null) throw new Error(`nginx ${binary.version} -t failed without an [emerg] line for ${c.id}: ${r.stderr}`);
    return { id: c.id, ok, error, warnings };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Records one series; returns [drifted, mismatches]. */
function recordSeries(binary: NginxBinary, check: boolean): [boolean, number] {
  const verdicts: Verdict[] = [];
  let mismatches = 0;
  for (const c of CORPUS) {
    if (c.unbuilt?.series === binary.series) {
      console.log(`not run with nginx ${binary.version}: ${c.id} (${c.unbuilt.why})`);
      continue;
    }
    let v: Verdict;
    try {
      v = runNginx(binary, c);
    } catch (e) {
      console.error(`cannot run nginx ${binary.version} for ${c.id}: ${(e as Error).message}`);
      process.exit(2);
    }
    verdicts.push(v);
    const diff = compare(v, ourVerdict(c, binary.series));
    const gap = PARSER_GAPS[c.id]?.series === binary.series ? PARSER_GAPS[c.id]!.diff : [];
    if (JSON.stringify(diff) === JSON.stringify(gap) && gap.length > 0) console.log(`known gap ${c.id} (nginx ${binary.version}): ${gap.join('; ')}`);
    else if (diff.length) {
      mismatches++;
      console.log(`MISMATCH ${c.id} (nginx ${binary.version})\n  ${diff.join('\n  ')}`);
    }
  }
  const accepted = verdicts.filter((v) => v.ok).length;
  console.log(
    `nginx ${binary.version}: ${verdicts.length} cases (${accepted} accepted, ${verdicts.length - accepted} rejected); parser matches nginx on ${verdicts.length - mismatches}`,
  );
  const out = verdictFile(binary.series);
  const text = JSON.stringify({ nginx: `nginx/${binary.version}`, cases: verdicts }, null, 1) + '\n';
  if (check) {
    const old = existsSync(out) ? readFileSync(out, 'utf8') : '';
    if (old !== text) {
      console.log(`DRIFT: nginx ${binary.version}'s verdicts differ from ${out}; re-record without --check and review the diff`);
      return [true, mismatches];
    }
  } else {
    writeFileSync(out, text);
    console.log(`wrote ${out}`);
  }
  return [false, mismatches];
}

function main(): void {
  const argv = process.argv.slice(2);
  let binaries: NginxBinary[];
  try {
    binaries = takeNginxFlag(argv).map(findBinary);
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  const check = argv.includes('--check');
  const unknown = argv.filter((a) => a !== '--check');
  if (unknown.length > 0) {
    console.error(`unknown argument ${unknown[0]}; usage: nginx-t/record.ts [--check] [--nginx 1.22|1.30|all]`);
    process.exit(2);
  }
  const ids = new Set<string>();
  for (const c of CORPUS) {
    if (ids.has(c.id)) throw new Error(`duplicate corpus id ${c.id}`);
    ids.add(c.id);
  }
  let failed = false;
  for (const binary of binaries) {
    const [drift, mismatches] = recordSeries(binary, check);
    if (drift || mismatches > 0) failed = true;
  }
  if (failed) process.exit(1);
}

main();
