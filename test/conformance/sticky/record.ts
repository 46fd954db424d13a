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
import { findBinary, freePort, Nginx, pool, releasePort, runMain, type NginxBinary } from '../nginx-process';
import { AccessLog, parseMs } from '../recorder-io';
import { cookieTime, describeStickyStep, formatStickyVector, relativeExpires, loadStickyVectors, STICKY_VECTOR_DIR, type RecordedAnswer, type RequestStep, type StickyStep, type StickyVector } from './format';
import { httpGet, pathNumber, requestPath, StickyBackend, type ClientResult } from './io';
import { canonical, CANONICAL_PORT, fillIds, nginxConf, sessionId, UPSTREAM, vectorHead } from './nginx-conf';
import { SCENARIOS, type RequestOp, type StickyScenario } from './scenarios';

const IO_TIMEOUT_MS = 5000;
/** How far nginx's own measure of a `wait` may exceed the scripted one. */
const WAIT_SLACK_MS = 250;

/** A measurement that could not be made cleanly (timing), as opposed to nginx behaving differently. */
class TimingError extends Error {}

interface LogEntry {
  n: number;
  status: number;
  addrs: string[];
  upstreamStatus: string[];
  endMs: number;
  startMs: number;
  line: string;
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
    const window = Math.min(...sc.servers.map((s) => s.failTimeout ?? 10));
    const span = Math.floor(Math.max(...entries.map((e) => e.endMs)) / 1000) - Math.floor(Math.min(...entries.map((e) => e.startMs)) / 1000);
    if (span >= window) throw new TimingError(`${what}: the requests spanned ${span} s of nginx time, not less than fail_timeout=${window}s`);
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
  const tried: string[] = [];
  const answers: RecordedAnswer[] = [];
  const upstreamStatus: number[] = [];
  let nolive = false;
  if (!(e.addrs.length === 1 && e.addrs[0] === '-')) {
    e.addrs.forEach((addr, i) => {
      if (addr === UPSTREAM && i === e.addrs.length - 1) {
        nolive = true;
        if (e.upstreamStatus[i] !== '502') bad(`"no live upstreams" logged with status ${e.upstreamStatus[i]}`);
        return;
      }
      const id = byAddress.get(addr) ?? bad(`unknown upstream address ${addr}`);
      const got = backends.get(id)!.received.find((r) => r.n === n);
      tried.push(id);
      answers.push(got?.answer ?? 'refused');
      upstreamStatus.push(Number(e.upstreamStatus[i]));
    });
  }
  for (const [id, b] of backends) {
    if (b.received.some((r) => r.n === n) && !tried.includes(id)) bad(`${id} received the request but nginx did not log it`);
  }
  if (res.status !== e.status) bad(`the client got status ${res.status}, nginx logged ${e.status}`);
  if (res.from !== null && (nolive || res.from !== tried[tried.length - 1])) bad(`the client got ${res.from}'s response, not the last server's`);
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

function headDiff(expected: Omit<StickyVector, 'nginx'>, actual: Omit<StickyVector, 'nginx'>): string[] {
  const out: string[] = [];
  for (const key of ['context', 'config', 'proxy', 'nextUpstream', 'servers'] as const) {
    const a = JSON.stringify(expected[key]);
    const b = JSON.stringify(actual[key]);
    if (a !== b) out.push(`  ${key}: committed ${a}`, `  ${key}: recorded  ${b}`);
  }
  return out;
}

function stepsDiff(version: string, expected: StickyStep[], actual: StickyStep[]): string[] {
  const exp = expected.map(comparable);
  const act = actual.map(comparable);
  if (JSON.stringify(exp) === JSON.stringify(act)) return [];
  const out = [`  nginx ${version} steps (- committed, + recorded):`];
  for (let i = 0; i < Math.max(exp.length, act.length); i++) {
    if (exp[i] === act[i]) out.push(`      ${exp[i]}`);
    else {
      if (exp[i] !== undefined) out.push(`    - ${exp[i]}`);
      if (act[i] !== undefined) out.push(`    + ${act[i]}`);
    }
  }
  return out;
}

async function recordWithRetry(sc: StickyScenario, binary: NginxBinary): Promise<StickyStep[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await runScenario(sc, binary);
    } catch (err) {
      if (err instanceof TimingError && attempt < 3) {
        process.stderr.write(`${err.message}; recording again\n`);
        continue;
      }
      throw err;
    }
  }
}

const USAGE = 'usage: npx tsx test/conformance/sticky/record.ts [--check] [--nginx 1.30|all] [--jobs N] [--list] [scenario...]';

async function main(argv: string[]): Promise<number> {
  let check = false;
  let jobs = 4;
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--check') check = true;
    else if (a === '--jobs') jobs = Number(argv[++i]);
    else if (a === '--nginx') {
      // Accepted for the other recorders' sake: only nginx 1.30 has sticky sessions and drain.
      const which = argv[++i] ?? '';
      if (which !== '1.30' && which !== 'all') {
        console.error(`--nginx: only 1.30 (or all) records sticky sessions; nginx 1.22 has no sticky module (got ${JSON.stringify(which)})\n${USAGE}`);
        return 2;
      }
    } else if (a === '--list') {
      for (const s of SCENARIOS) {
        const count = s.script.reduce((k, op) => k + (op.op === 'request' ? (op.count ?? 1) : 0), 0);
        console.log(`${s.name}\t${count} requests\t${s.description}`);
      }
      return 0;
    } else if (a.startsWith('-')) {
      console.error(`unknown option ${a}\n${USAGE}`);
      return 2;
    } else names.push(a);
  }
  if (!Number.isInteger(jobs) || jobs < 1) {
    console.error('--jobs expects a positive integer');
    return 2;
  }
  const unknown = names.filter((x) => !SCENARIOS.some((s) => s.name === x));
  if (unknown.length > 0) {
    console.error(`unknown scenario(s): ${unknown.join(', ')} (see --list)`);
    return 2;
  }
  const selected = names.length > 0 ? SCENARIOS.filter((s) => names.includes(s.name)) : SCENARIOS;
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
    const key = c.nginx[binary.version] !== undefined ? binary.version : Object.keys(c.nginx)[0];
    if (key === undefined) diff.push(`  nginx ${binary.version}: no committed steps`);
    else {
      if (key !== binary.version) console.log(`note ${sc.name}: committed with nginx ${key}, recorded with ${binary.version}`);
      diff.push(...stepsDiff(binary.version, c.nginx[key]!.map(relativeExpires), steps.map(relativeExpires)));
    }
    if (diff.length > 0) {
      console.log(`DRIFT ${sc.name}:\n${diff.join('\n')}`);
      drift++;
    } else console.log(`ok ${sc.name}`);
  }
  let orphans = 0;
  if (names.length === 0) {
    for (const name of committed.keys()) {
      if (!SCENARIOS.some((s) => s.name === name)) {
        console.log(`DRIFT ${name}: committed vector has no scenario in scenarios.ts (delete it or restore the scenario)`);
        orphans++;
      }
    }
  }
  console.log(`${selected.length - drift}/${selected.length} scenarios match the committed vectors (nginx ${binary.version}, ${wall} s)`);
  return drift + orphans > 0 ? 1 : 0;
}

runMain(() => main(process.argv.slice(2)));
