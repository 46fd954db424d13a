/**
 * Conformance recorder for nginx's http next-upstream rule: runs the scenarios of `scenarios.ts`
 * through real nginx's http proxy (Debian's 1.22.1 and a stock 1.30.4, both found and run by
 * `../nginx-process.ts`) and writes what each version did to `test/vectors/http/<scenario>.json`
 * (format: `format.ts`, docs/testing.md).
 *
 *   npx tsx test/conformance/http/record.ts [--check] [--nginx 1.22|1.30|all] [--jobs N] [--list] [scenario...]
 *
 * `--check` re-records and compares with the committed vectors (exit 1 on drift, 2 on error).
 * Without it the vectors are written; recording one version keeps the other's committed steps.
 *
 * Per scenario and version: one nginx (`worker_processes 1`, scratch prefix under the temp
 * directory, never the system service) proxying `location /` to `upstream u`, in front of the
 * recorder's own backends (`io.ts`), each giving its scripted answers. Requests run one at a time,
 * each from a fresh client connection with `Connection: close`, and each waits for its access log
 * line (`$upstream_addr`, `$upstream_status`, `$status`; written once nginx has freed the server).
 * The servers tried come from the log; what each did from the backend's own record (a tried server
 * with no record was refused); the client's status, `X-Backend` and body completeness from the
 * client, cross-checked with the log; the reasons from the error log. Every scenario must finish
 * inside its servers' `fail_timeout` by nginx's own clock, and nginx's times must show that it met
 * the scripted timing (`checkTiming`); a run too slow for either is recorded again.
 * Scenarios and versions run in parallel (`--jobs`, default 6), each with its own nginx and ports.
 * Everything started is stopped, also on errors and on SIGINT/SIGTERM. Wall time: a few seconds.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findBinary, freePort, Nginx, pool, releasePort, runMain, SERIES, seriesOf, type NginxBinary } from '../nginx-process';
import { checkSpan, headDiff as compareHeads, readTries, reportDrift, reportOrphans, requestPath, stepLinesDiff, versionDiff, type HttpLogEntry } from '../http-io';
import { parseRecorderArgs } from '../recorder-cli';
import { AccessLog, parseMs, retryOnTiming, TimingError } from '../recorder-io';
import { describeHttpStep, formatHttpVector, HTTP_VECTOR_DIR, loadHttpVectors, type HttpStep, type HttpVector, type RequestStep } from './format';
import { ErrorLog, httpRequest, ScriptedBackend } from './io';
import { nginxConf, vectorHead } from './nginx-conf';
import { outcomeOf } from './outcomes';
import { READ_TIMEOUT_MS, SCENARIOS, type HttpScenario } from './scenarios';

const IO_TIMEOUT_MS = 5000;
/**
 * How close to a limit nginx's own timing may come before a run counts as too slow to show the
 * scripted timing (the scenarios keep every scripted delay >= 100 ms away from every limit).
 */
const MARGIN_MS = 30;

// ------------------------------------------------------------------------------------------------
// Running one scenario on one nginx

interface LogEntry extends HttpLogEntry {
  uri: string;
  /** `$upstream_response_time` per entry, ms (0 for `-`). */
  responseMs: number[];
}

async function runScenario(sc: HttpScenario, binary: NginxBinary): Promise<HttpStep[]> {
  const what = `${sc.name} (nginx ${binary.version})`;
  const nginx = new Nginx(binary, `http-recorder-${sc.name}-${binary.series}-`);
  const dir = nginx.dir;
  const backends = new Map<string, ScriptedBackend>();
  const byAddress = new Map<string, string>();
  const log = new AccessLog<LogEntry>(join(dir, 'access.log'), 7, (f, line) => {
    const endMs = parseMs(f[4]!);
    const responseMs = f[6]!.split(', ').map((x) => (x === '-' ? 0 : parseMs(x)));
    return { uri: f[0]!, status: Number(f[1]), addrs: f[2]!.split(', '), upstreamStatus: f[3]!.split(', '), endMs, startMs: endMs - parseMs(f[5]!), responseMs, line };
  }, IO_TIMEOUT_MS);
  const errors = new ErrorLog(nginx.errorLog);
  const ports: number[] = [];
  let listenPort = 0;
  /** Whether the scratch files can go (kept after an error other than timing, for a look). */
  let ok = false;
  try {
    for (const s of sc.servers) {
      const port = await freePort();
      ports.push(port);
      backends.set(s.id, new ScriptedBackend(s.id, port, s.answers ?? [], s.then ?? '200'));
      byAddress.set(`127.0.0.1:${port}`, s.id);
    }
    listenPort = await freePort();
    for (const s of sc.servers) if (!s.refusing) await backends.get(s.id)!.start();
    const confPath = join(dir, 'nginx.conf');
    writeFileSync(confPath, nginxConf(dir, sc, binary, ports, listenPort));
    await nginx.start(confPath);

    const steps: HttpStep[] = [];
    let n = 0;
    const entries: LogEntry[] = [];
    for (const op of sc.script) {
      if (op.op !== 'request') {
        const b = backends.get(op.server);
        if (!b) throw new Error(`${what}: ${op.op}(${op.server}): no such server`);
        await (op.op === 'stop' ? b.stop() : b.start());
        steps.push({ op: op.op, server: op.server });
        continue;
      }
      for (let i = 0; i < op.count; i++) {
        n++;
        const path = requestPath(n);
        const listening = new Map([...backends].map(([id, b]) => [id, b.listening]));
        const body = op.method === 'GET' ? null : op.body ? `n=${n}\n` : '';
        const res = await httpRequest(listenPort, op.method, path, body, IO_TIMEOUT_MS);
        const e = await log.take((x) => x.uri === path, `${what} request ${n}`);
        entries.push(e);
        const step = requestStep(what, n, op.method, op.body, e, res, backends, byAddress, listening, errors.take(n));
        checkTiming(what, sc, binary, step, e);
        steps.push(step);
      }
    }
    const leftovers = log.leftovers();
    if (leftovers.length > 0) throw new Error(`${what}: unexpected access log lines:\n${leftovers.join('\n')}`);
    for (const b of backends.values()) {
      if (b.unused.length > 0) throw new Error(`${what}: ${b.id} never gave its scripted answers ${b.unused.join(', ')}: the scenario does not show what it says`);
    }
    checkSpan(what, sc.servers.map((s) => s.failTimeout), entries);
    ok = true;
    return steps;
  } catch (err) {
    // A slow run is recorded again: its files explain nothing.
    if (err instanceof TimingError) ok = true;
    throw err;
  } finally {
    log.close();
    errors.close();
    await nginx.close(!ok, what);
    for (const b of backends.values()) b.destroy();
    for (const p of ports) releasePort(p);
    if (listenPort) releasePort(listenPort);
  }
}

/**
 * Throws a TimingError (the scenario is recorded again) when the run was too slow for nginx to
 * decide as scripted, by `$upstream_response_time`: an answer other than `hang` came near
 * `proxy_read_timeout`; or, with a `proxy_next_upstream_timeout`, the time spent after a try that
 * is not a 200 (nginx compares it with the budget) is within `MARGIN_MS` of the budget, or on its
 * other side than the scripted delays summed (a `hang` takes `proxy_read_timeout`, `500@350` 350 ms).
 */
function checkTiming(what: string, sc: HttpScenario, binary: NginxBinary, step: RequestStep, e: LogEntry): void {
  const readTimeout = sc.readTimeout ?? READ_TIMEOUT_MS;
  const budget = sc.timeout ?? 0;
  let scripted = 0;
  let took = 0;
  step.answers.forEach((answer, t) => {
    const o = outcomeOf(answer, binary.version, readTimeout);
    const ms = e.responseMs[t]!;
    scripted += o.delayMs;
    took += ms;
    let why: string | null = null;
    if (answer !== 'hang' && ms >= readTimeout - MARGIN_MS) why = `${step.tried[t]}'s ${answer} took ${ms} ms, near proxy_read_timeout`;
    else if (budget && o.result !== 200 && Math.abs(took - budget) < MARGIN_MS) why = `the tries took ${took} ms, near proxy_next_upstream_timeout`;
    else if (budget && o.result !== 200 && (scripted < budget) !== (took < budget)) why = `the tries took ${took} ms, ${scripted} ms scripted`;
    if (why !== null) throw new TimingError(`${what} request ${step.n}: ${why} (${e.line})`);
  });
}

/** One request's step from nginx's log line, the client's reading and the backends' records, cross-checked. */
function requestStep(
  what: string,
  n: number,
  method: 'GET' | 'POST',
  body: boolean,
  e: LogEntry,
  res: { status: number | null; from: string | null; complete: boolean },
  backends: Map<string, ScriptedBackend>,
  byAddress: Map<string, string>,
  listening: Map<string, boolean>,
  log: string[],
): RequestStep {
  const fail = (why: string): never => {
    throw new Error(`${what} request ${n}: ${why} (${e.line}; client ${JSON.stringify(res)})`);
  };
  if (e.addrs.length === 1 && e.addrs[0] === '-') fail('nginx did not try any server');
  const { tried, answers, upstreamStatus, nolive } = readTries(n, e, res, byAddress, backends, fail);
  tried.forEach((id, i) => {
    if (answers[i] === 'refused' && listening.get(id)) fail(`${id} was listening but has no record of the request`);
  });
  return { op: 'request', n, method, body, tried, answers, upstreamStatus, nolive, status: e.status, from: res.from, complete: res.complete, log };
}

// ------------------------------------------------------------------------------------------------
// Comparison, CLI

const HEAD_KEYS = ['context', 'config', 'proxy', 'nextUpstream', 'tries', 'timeout', 'readTimeout', 'refusing', 'notFailed', 'servers'] as const;

/** Differences in what was run (the head), ignoring the description. */
const headDiff = (expected: Omit<HttpVector, 'nginx'>, actual: Omit<HttpVector, 'nginx'>): string[] => compareHeads(HEAD_KEYS, expected, actual);

/** A step's one-line form with its log, for diffs. */
const stepLine = (s: HttpStep): string => (s.op === 'request' ? `${describeHttpStep(s)}  ${JSON.stringify(s.log)}` : describeHttpStep(s));

function stepsDiff(version: string, expected: HttpStep[], actual: HttpStep[]): string[] {
  if (JSON.stringify(expected) === JSON.stringify(actual)) return [];
  return stepLinesDiff(version, expected.map(stepLine), actual.map(stepLine));
}

const recordWithRetry = (sc: HttpScenario, binary: NginxBinary): Promise<HttpStep[]> => retryOnTiming('', () => runScenario(sc, binary));

const USAGE = 'usage: npx tsx test/conformance/http/record.ts [--check] [--nginx 1.22|1.30|all] [--jobs N] [--list] [scenario...]';

async function main(argv: string[]): Promise<number> {
  const args = parseRecorderArgs(argv, {
    usage: USAGE,
    scenarios: SCENARIOS,
    defaultJobs: 6,
    listLine: (s) => `${s.name}\t${s.script.reduce((k, op) => k + (op.op === 'request' ? op.count : 0), 0)} requests\t${s.description}`,
  });
  if (typeof args === 'number') return args;
  const { check, jobs, names, selected, series } = args;
  const binaries = series.map(findBinary);
  const t0 = performance.now();
  const runs = selected.flatMap((sc) => binaries.map((binary) => ({ sc, binary })));
  const recorded = await pool(runs, jobs, async ({ sc, binary }) => {
    const steps = await recordWithRetry(sc, binary);
    console.log(`recorded ${sc.name} (nginx ${binary.version}): ${steps.filter((s) => s.op === 'request').length} requests`);
    return { sc, binary, steps };
  });
  const wall = ((performance.now() - t0) / 1000).toFixed(1);
  const versions = binaries.map((b) => b.version).join(' + ');
  const committed = new Map(loadHttpVectors().map(({ vector }) => [vector.scenario, vector]));

  if (!check) {
    mkdirSync(HTTP_VECTOR_DIR, { recursive: true });
    for (const sc of selected) {
      const head = vectorHead(sc);
      const old = committed.get(sc.name);
      const nginx: Record<string, HttpStep[]> = {};
      if (old && headDiff(old, head).length === 0) {
        // Keep the steps of the series not recorded this time.
        for (const [v, steps] of Object.entries(old.nginx)) if (!binaries.some((b) => seriesOf(b.version) === seriesOf(v))) nginx[v] = steps;
      } else if (old && binaries.length < SERIES.length) {
        console.log(`note ${sc.name}: the scenario changed, so the other version's steps are dropped; record with --nginx all`);
      }
      for (const r of recorded) if (r.sc === sc) nginx[r.binary.version] = r.steps;
      writeFileSync(join(HTTP_VECTOR_DIR, `${sc.name}.json`), formatHttpVector({ ...head, nginx }));
    }
    console.log(`wrote ${selected.length} vectors to ${HTTP_VECTOR_DIR} (nginx ${versions}, ${wall} s)`);
    return 0;
  }

  let drift = 0;
  for (const sc of selected) {
    const c = committed.get(sc.name);
    if (!c) {
      console.log(`DRIFT ${sc.name}: no committed vector test/vectors/http/${sc.name}.json`);
      drift++;
      continue;
    }
    const diff = headDiff(c, vectorHead(sc));
    for (const r of recorded.filter((x) => x.sc === sc)) diff.push(...versionDiff(sc.name, c.nginx, r.binary, r.steps, stepsDiff));
    if (reportDrift(sc.name, diff)) drift++;
  }
  const orphans = reportOrphans(committed.keys(), SCENARIOS, names);
  console.log(`${selected.length - drift}/${selected.length} scenarios match the committed vectors (nginx ${versions}, ${wall} s)`);
  return drift + orphans > 0 ? 1 : 0;
}

runMain(() => main(process.argv.slice(2)));
