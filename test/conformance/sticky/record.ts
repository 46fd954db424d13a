/**
 * Conformance recorder for nginx 1.30's sticky sessions and `drain`: runs the scenarios of
 * `scenarios.ts` through a stock nginx 1.30.4 (`shared/nginx/build.sh stock`, found and run by
 * `../nginx-process.ts`; nginx 1.22 has no `sticky`) and writes what it did to
 * `test/vectors/sticky/<scenario>.json` (format: `format.ts`).
 *
 *   npx tsx test/conformance/sticky/record.ts [--check] [--nginx 1.30|all] [--jobs N] [--list] [scenario...]
 *
 * `--check` re-records and compares with the committed vectors (exit 1 on drift, 2 on error).
 *
 * Per scenario: one nginx (`worker_processes 1`, scratch prefix under the temp directory, never
 * the system service) proxying `location /` to `upstream u`, in front of the recorder's own
 * backends (`io.ts`). Requests run one at a time (a `hold` request stays open beside the next
 * ones until its `release`), each from a fresh client connection, and each waits for its access
 * log line. The servers tried come from the log (`$upstream_addr`), what each did from the
 * backend's own record (a tried server with no record was refused), the status, `X-Backend`,
 * every `Set-Cookie` byte for byte and `Date` from the client. Session ids of the ports really
 * used are mapped to those of the canonical addresses (`nginx-conf.ts`), in the request and in
 * the Set-Cookie bytes; a cookie value that is no server's id is an error. A scenario marked
 * `canonicalPorts` (consistent hash, which hashes the address text) runs its backends on the
 * canonical ports 20001.. themselves; it fails if another process holds one. A run is recorded
 * again (at most three times) when it was too slow to show what is scripted: an `expires=` that
 * is not the response `Date` plus `max-age` (the second turned between the two), a `wait` that
 * nginx's own clock does not show within 250 ms, requests that spanned a `fail_timeout`.
 * Scenarios run in parallel (`--jobs`, default 4), each with its own nginx and ports. Everything
 * started is stopped, also on errors and on SIGINT/SIGTERM. Wall time: a few seconds.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findBinary, freePort, Nginx, pool, releasePort, runMain, type NginxBinary, type Series } from '../nginx-process';
import { canonical, CANONICAL_PORT, checkSpan, headDiff as compareHeads, pathNumber, readTries, reportDrift, reportOrphans, requestPath, stepLinesDiff, versionDiff, type HttpLogEntry } from '../http-io';
import { parseRecorderArgs } from '../recorder-cli';
import { AccessLog, parseMs, retryOnTiming, TimingError } from '../recorder-io';
import { cookieTime, describeStickyStep, formatStickyVector, relativeExpires, loadStickyVectors, STICKY_VECTOR_DIR, type RequestStep, type StickyStep, type StickyVector } from './format';
import { httpGet, StickyBackend, type ClientResult } from './io';
import { fillIds, nginxConf, sessionId, vectorHead } from './nginx-conf';
import { SCENARIOS, type RequestOp, type StickyScenario } from './scenarios';

const IO_TIMEOUT_MS = 5000;
/** How far nginx's own measure of a `wait` may exceed the scripted one. */
const WAIT_SLACK_MS = 250;

interface LogEntry extends HttpLogEntry {
  n: number;
}

/** A request sent and not yet logged: its step is filled in when its answer and log line arrive. */
interface Pending {
  index: number;
  n: number;
  op: RequestOp;
  cookie: string | null;
  args: string | null;
  answer: Promise<ClientResult>;
}

async function runScenario(sc: StickyScenario, binary: NginxBinary): Promise<StickyStep[]> {
  const what = `${sc.name} (nginx ${binary.version})`;
  const nginx = new Nginx(binary, `sticky-recorder-${sc.name}-`);
  const dir = nginx.dir;
  const backends = new Map<string, StickyBackend>();
  const byAddress = new Map<string, string>();
  const log = new AccessLog<LogEntry>(join(dir, 'access.log'), 6, (f, line) => {
    const endMs = parseMs(f[4]!);
    return { n: pathNumber(f[0]!), status: Number(f[1]), addrs: f[2]!.split(', '), upstreamStatus: f[3]!.split(', '), endMs, startMs: endMs - parseMs(f[5]!), line };
  }, IO_TIMEOUT_MS);
  const ports: number[] = [];
  let listenPort = 0;
  let ok = false;
  try {
    const realSids = new Map<string, string>();
    const canonicalSids = new Map<string, string>();
    for (const [i, s] of sc.servers.entries()) {
      // Consistent hash hashes the address text: such a scenario runs on the canonical ports themselves.
      const port = sc.canonicalPorts ? CANONICAL_PORT(i) : await freePort();
      ports.push(port);
      backends.set(s.id, new StickyBackend(s.id, port, s.answers ?? []));
      byAddress.set(`127.0.0.1:${port}`, s.id);
      realSids.set(s.id, sessionId(s, `127.0.0.1:${port}`));
      canonicalSids.set(s.id, sessionId(s, canonical(i)));
    }
    /** Real ids to canonical ones, in any text nginx sent. */
    const toCanonical = (text: string): string => {
      let out = text;
      for (const [id, sid] of realSids) out = out.split(sid).join(canonicalSids.get(id)!);
      return out;
    };
    listenPort = await freePort();
    for (const s of sc.servers) if (!s.refusing) await backends.get(s.id)!.start();
    const confPath = join(dir, 'nginx.conf');
    writeFileSync(confPath, nginxConf(dir, sc, binary, ports, listenPort));
    await nginx.start(confPath);

    const steps: StickyStep[] = [];
    const held = new Map<number, Pending>();
    const entries: LogEntry[] = [];
    let n = 0;
    /** nginx time at the end of the last request finished before a `wait`, and the wait. */
    let waitFrom: { endMs: number; ms: number } | null = null;

    const finish = async (p: Pending): Promise<void> => {
      const res = await p.answer;
      const e = await log.take((x) => x.n === p.n, `${what} request ${p.n}`);
      entries.push(e);
      const step = requestStep(what, p, e, res, backends, byAddress, sc, realSids, toCanonical);
      steps[p.index] = step;
    };

    for (const op of sc.script) {
      if (op.op === 'stop' || op.op === 'start') {
        const b = backends.get(op.server);
        if (b === undefined) throw new Error(`${what}: ${op.op}(${op.server}): no such server`);
        await (op.op === 'stop' ? b.stop() : b.start());
        steps.push({ op: op.op, server: op.server });
        continue;
      }
      if (op.op === 'release') {
        const p = held.get(op.n) ?? fail(`${what}: release of request ${op.n}, which is not held`);
        held.delete(op.n);
        const b = [...backends.values()].find((x) => x.holds(op.n)) ?? fail(`${what}: no backend holds request ${op.n}`);
        b.release(op.n);
        await finish(p);
        steps.push({ op: 'release', n: op.n });
        continue;
      }
      if (op.op === 'wait') {
        const last = entries.reduce((m, e) => Math.max(m, e.endMs), 0);
        waitFrom = { endMs: last, ms: op.ms };
        await sleep(op.ms);
        steps.push({ op: 'wait', ms: op.ms });
        continue;
      }
      for (let i = 0; i < (op.count ?? 1); i++) {
        n++;
        const cookie = op.cookie === undefined ? null : fillIds(op.cookie, realSids);
        const args = op.args === undefined ? null : fillIds(op.args, realSids);
        const path = `${requestPath(n)}${args === null ? '' : `?${args}`}`;
        let headArrived = false;
        const answer = httpGet(listenPort, { path, cookie, backendCookie: op.backendCookie ?? null, hold: op.hold ?? null }, IO_TIMEOUT_MS, () => (headArrived = true));
        const p: Pending = { index: steps.length, n, op, cookie, args, answer };
        steps.push(undefined as unknown as StickyStep);
        if (op.hold) {
          held.set(n, p);
          // Wait until the backend has it (and, for a body hold, the client has the header: nginx handled it).
          const deadline = Date.now() + IO_TIMEOUT_MS;
          while (![...backends.values()].some((b) => b.holds(n)) || (op.hold === 'body' && !headArrived)) {
            if (Date.now() > deadline) throw new Error(`${what}: held request ${n} reached no backend${op.hold === 'body' ? ' or its header did not come back' : ''}`);
            await sleep(2);
          }
          continue;
        }
        await finish(p);
        if (waitFrom !== null) {
          const e = entries[entries.length - 1]!;
          const gap = e.startMs - waitFrom.endMs;
          if (gap < waitFrom.ms - 5 || gap > waitFrom.ms + WAIT_SLACK_MS) {
            throw new TimingError(`${what} request ${n}: nginx saw ${gap} ms pass for a wait of ${waitFrom.ms} ms`);
          }
          waitFrom = null;
        }
      }
    }
    if (held.size > 0) throw new Error(`${what}: requests ${[...held.keys()].join(', ')} are still held at the end`);
    const leftovers = log.leftovers();
    if (leftovers.length > 0) throw new Error(`${what}: unexpected access log lines:\n${leftovers.join('\n')}`);
    for (const b of backends.values()) {
      if (b.unused.length > 0) throw new Error(`${what}: ${b.id} never gave its scripted answers ${b.unused.join(', ')}`);
    }
    checkSpan(what, sc.servers.map((s) => s.failTimeout), entries);
    ok = true;
    return steps;
  } catch (err) {
    if (err instanceof TimingError) ok = true;
    throw err;
  } finally {
    log.close();
    await nginx.close(!ok, what);
    for (const b of backends.values()) b.destroy();
    if (!sc.canonicalPorts) for (const p of ports) releasePort(p);
    if (listenPort) releasePort(listenPort);
  }
}

function fail(why: string): never {
  throw new Error(why);
}

const COOKIE_TIME = /; expires=(\w{3}, \d{2}-\w{3}-\d{2} \d{2}:\d{2}:\d{2} GMT); max-age=(\d+)/;

/** One request's step from nginx's log line, the client's reading and the backends' records, cross-checked. */
function requestStep(
  what: string,
  p: Pending,
  e: LogEntry,
  res: ClientResult,
  backends: Map<string, StickyBackend>,
  byAddress: Map<string, string>,
  sc: StickyScenario,
  realSids: ReadonlyMap<string, string>,
  toCanonical: (text: string) => string,
): RequestStep {
  const n = p.n;
  const bad = (why: string): never => fail(`${what} request ${n}: ${why} (${e.line}; client ${JSON.stringify(res)})`);
  const { tried, answers, upstreamStatus, nolive } = readTries(n, e, res, byAddress, backends, bad);
  if (res.date === null) bad('no Date header');
  // nginx's own cookie must carry a server's id (of the ports run); expires must be Date + max-age.
  const cookieName = /^sticky cookie (\S+)/.exec(sc.sticky)?.[1];
  for (const value of res.setCookie) {
    if (cookieName !== undefined && value.startsWith(`${cookieName}=`)) {
      const sid = /^[^=]*=([^;]*)/.exec(value)![1]!;
      if (![...realSids.values()].includes(sid)) bad(`Set-Cookie ${value} carries no server's id`);
    }
    const t = COOKIE_TIME.exec(value);
    if (t && !value.includes('max-age=315360000')) {
      if (cookieTime(t[1]!) - Date.parse(res.date!) !== Number(t[2]) * 1000) throw new TimingError(`${what} request ${n}: Set-Cookie ${value} does not count from Date ${res.date}`);
    }
  }
  return {
    op: 'request',
    n,
    args: p.args === null ? null : toCanonical(p.args),
    cookie: p.cookie === null ? null : toCanonical(p.cookie),
    backendCookie: p.op.backendCookie ?? null,
    hold: p.op.hold ?? null,
    tried,
    answers,
    upstreamStatus,
    nolive,
    status: e.status,
    from: res.from,
    setCookie: res.setCookie.map(toCanonical),
    date: res.date!,
  };
}

// ------------------------------------------------------------------------------------------------
// Comparison, CLI

/** What is compared: everything but the description and each response's Date. */
const comparable = (s: StickyStep): string => describeStickyStep(s);

const headDiff = (expected: Omit<StickyVector, 'nginx'>, actual: Omit<StickyVector, 'nginx'>): string[] =>
  compareHeads(['context', 'config', 'proxy', 'nextUpstream', 'servers'], expected, actual);

function stepsDiff(version: string, expected: StickyStep[], actual: StickyStep[]): string[] {
  const exp = expected.map(comparable);
  const act = actual.map(comparable);
  return JSON.stringify(exp) === JSON.stringify(act) ? [] : stepLinesDiff(version, exp, act);
}

const recordWithRetry = (sc: StickyScenario, binary: NginxBinary): Promise<StickyStep[]> => retryOnTiming('', () => runScenario(sc, binary));

const USAGE = 'usage: npx tsx test/conformance/sticky/record.ts [--check] [--nginx 1.30|all] [--jobs N] [--list] [scenario...]';

/** `--nginx`: accepted for the other recorders' sake; only nginx 1.30 has sticky sessions and drain. */
function takeStickySeries(argv: string[]): Series[] {
  const at = argv.indexOf('--nginx');
  if (at < 0) return ['1.30'];
  const which = argv[at + 1] ?? '';
  argv.splice(at, 2);
  if (which !== '1.30' && which !== 'all') throw new Error(`--nginx: only 1.30 (or all) records sticky sessions; nginx 1.22 has no sticky module (got ${JSON.stringify(which)})`);
  return ['1.30'];
}

async function main(argv: string[]): Promise<number> {
  const args = parseRecorderArgs(argv, {
    usage: USAGE,
    scenarios: SCENARIOS,
    defaultJobs: 4,
    listLine: (s) => `${s.name}\t${s.script.reduce((k, op) => k + (op.op === 'request' ? (op.count ?? 1) : 0), 0)} requests\t${s.description}`,
    takeSeries: takeStickySeries,
  });
  if (typeof args === 'number') return args;
  const { check, jobs, names, selected } = args;
  const binary = findBinary('1.30');
  const t0 = performance.now();
  const recorded = await pool(selected, jobs, async (sc) => {
    const steps = await recordWithRetry(sc, binary);
    console.log(`recorded ${sc.name} (nginx ${binary.version}): ${steps.filter((s) => s.op === 'request').length} requests`);
    return { sc, steps };
  });
  const wall = ((performance.now() - t0) / 1000).toFixed(1);
  const committed = new Map(loadStickyVectors().map(({ vector }) => [vector.scenario, vector]));

  if (!check) {
    mkdirSync(STICKY_VECTOR_DIR, { recursive: true });
    for (const { sc, steps } of recorded) {
      writeFileSync(join(STICKY_VECTOR_DIR, `${sc.name}.json`), formatStickyVector({ ...vectorHead(sc), nginx: { [binary.version]: steps } }));
    }
    console.log(`wrote ${recorded.length} vectors to ${STICKY_VECTOR_DIR} (nginx ${binary.version}, ${wall} s)`);
    return 0;
  }

  let drift = 0;
  for (const { sc, steps } of recorded) {
    const c = committed.get(sc.name);
    if (!c) {
      console.log(`DRIFT ${sc.name}: no committed vector test/vectors/sticky/${sc.name}.json`);
      drift++;
      continue;
    }
    const diff = headDiff(c, vectorHead(sc));
    diff.push(...versionDiff(sc.name, c.nginx, binary, steps, (version, expected, actual) => stepsDiff(version, expected.map(relativeExpires), actual.map(relativeExpires))));
    if (reportDrift(sc.name, diff)) drift++;
  }
  const orphans = reportOrphans(committed.keys(), SCENARIOS, names);
  console.log(`${selected.length - drift}/${selected.length} scenarios match the committed vectors (nginx ${binary.version}, ${wall} s)`);
  return drift + orphans > 0 ? 1 : 0;
}

runMain(() => main(process.argv.slice(2)));
