/**
 * Conformance recorder: runs the round-robin scenarios of `rr-scenarios.ts` through real nginx
 * (stream module, `worker_processes 1`, scratch prefix under the temp dir, never the system
 * service) in front of TCP backends it runs itself, and writes what nginx did to
 * `test/vectors/nginx-<series>/<scenario>.json`, one file per nginx series (format: `vector-format.ts`, `docs/testing.md`).
 *
 *   npx tsx test/conformance/recorder.ts [--check] [--nginx 1.22|1.30|all] [--jobs N] [--list] [scenario...]
 *
 * `--check` re-records and compares with the committed vectors (exit 1 on drift, 2 on error).
 *
 * How it observes nginx: every backend writes its own id on accept, so the client learns who
 * answered; the stream access log (written at session end) gives every server tried
 * (`$upstream_addr`, "u" = no live upstreams), `$status`, and the session start time
 * (`$msec - $session_time`, nginx's cached time at accept, which is the time of the selection).
 * Operations are scheduled 100 ms into a second and must finish 80 ms before the next one, which
 * is validated against nginx's own times, so each selection's whole second is unambiguous.
 * Every nginx, backend and socket it starts is stopped, also on error and on SIGINT/SIGTERM
 * (`nginx-process.ts`; backends, clients and the log reader: `recorder-io.ts`).
 * Cost: ~1-2 s of setup per scenario plus the seconds its script spans; scenarios run in
 * parallel (`--jobs`, default 4), each with its own nginx and ports.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findBinary, freePort, mainContext, Nginx, pool, releasePort, runMain, type NginxBinary } from './nginx-process';
import { parseRecorderArgs } from './recorder-cli';
import { AccessLog, Backend, parseMs, retryOnTiming, streamClient, TimingError } from './recorder-io';
import { SCENARIOS, type Scenario } from './rr-scenarios';
import { serverLine, vectorServer } from './scenario-server';
import { describeStep, formatVector, loadVectors, vectorDir, type ConnectStep, type Step, type Vector, type VectorServer } from './vector-format';

/** No selection may happen within this many ms of a second boundary. */
const GUARD_MS = 80;
/** A block starts this many ms into its second. */
const BLOCK_START_MS = 100;
/** Upstream name; `$upstream_addr` shows it when no server was eligible. */
const UPSTREAM = 'u';
/** Canonical addresses written into vectors: server i is 127.0.0.1:(20001 + i), nginx listens on 20000. */
const CANONICAL_BASE = 20000;
const IO_TIMEOUT_MS = 3000;

// ------------------------------------------------------------------------------------------------
// nginx configuration

function upstreamBlock(sc: Scenario, address: (i: number) => string): string {
  return [`upstream ${UPSTREAM} {`, ...sc.servers.map((s, i) => `    ${serverLine(s, address(i))}`), '}'].join('\n');
}

function proxyDirectives(sc: Scenario, listenPort: number): string {
  const d = [`listen 127.0.0.1:${listenPort};`, `proxy_pass ${UPSTREAM};`, 'proxy_connect_timeout 1s;'];
  if (sc.tries) d.push(`proxy_next_upstream_tries ${sc.tries};`);
  return d.join(' ');
}

function nginxConf(binary: NginxBinary, dir: string, sc: Scenario, ports: number[], listenPort: number): string {
  return `# written by test/conformance/recorder.ts for scenario ${sc.name} (nginx ${binary.version})
${mainContext(binary, dir, 256)}stream {
    log_format rec '$remote_port|$upstream_addr|$status|$msec|$session_time|$upstream_connect_time';
    access_log ${dir}/access.log rec;
    ${upstreamBlock(sc, (i) => `127.0.0.1:${ports[i]}`).replace(/\n/g, '\n    ')}
    server { ${proxyDirectives(sc, listenPort)} }
}
`;
}

// ------------------------------------------------------------------------------------------------
// Access log

interface LogEntry {
  remotePort: number;
  addrs: string[];
  status: number;
  /** nginx time at session end (ms). */
  endMs: number;
  /** nginx time at accept = time of the first selection (ms). */
  startMs: number;
  connectTimes: string[];
  line: string;
}

function accessLog(path: string): AccessLog<LogEntry> {
  return new AccessLog(path, 6, (f, line) => {
    const endMs = parseMs(f[3]!);
    return {
      remotePort: Number(f[0]),
      addrs: f[1]!.split(', '),
      status: Number(f[2]),
      endMs,
      startMs: endMs - parseMs(f[4]!),
      connectTimes: f[5]!.split(', '),
      line,
    };
  }, IO_TIMEOUT_MS);
}

// ------------------------------------------------------------------------------------------------
// Running one scenario

function vectorServers(sc: Scenario): VectorServer[] {
  return sc.servers.map((s, i) => vectorServer(s, s.id, `127.0.0.1:${CANONICAL_BASE + 1 + i}`));
}

interface Held {
  socket: net.Socket;
  localPort: number;
  answered: string;
  step: ConnectStep;
}

async function runScenario(sc: Scenario, binary: NginxBinary): Promise<Vector> {
  const nginx = new Nginx(binary, `rr-recorder-${sc.name}-${binary.series}-`);
  const dir = nginx.dir;
  const backends = new Map<string, Backend>();
  const byAddress = new Map<string, string>();
  const log = accessLog(join(dir, 'access.log'));
  /** The log line of the session whose client port is `port`. */
  const take = (port: number): Promise<LogEntry> => log.take((e) => e.remotePort === port, `client port ${port}`);
  const held = new Map<number, Held>();
  const clients = new Set<net.Socket>();
  let ok = false;
  try {
    const ports: number[] = [];
    for (const s of sc.servers) {
      const port = await freePort();
      ports.push(port);
      backends.set(s.id, new Backend(s.id, port));
      byAddress.set(`127.0.0.1:${port}`, s.id);
    }
    const listenPort = await freePort();
    for (const s of sc.servers) if (!s.refusing) await backends.get(s.id)!.start();
    const confPath = join(dir, 'nginx.conf');
    writeFileSync(confPath, nginxConf(binary, dir, sc, ports, listenPort));
    await nginx.start(confPath);

    const base = Math.floor(Date.now() / 1000) + 1;
    const steps: Step[] = [];
    let second = -1;
    let deadline = 0;
    let connNo = 0;

    const checkDeadline = (what: string): void => {
      if (Date.now() >= deadline) {
        throw new TimingError(`${sc.name}: block t+${second} overran its second (within ${GUARD_MS} ms of the boundary) while ${what}`);
      }
    };

    /** Fills a connect step from nginx's log line and checks it against what the client saw. */
    const fill = (step: ConnectStep, e: LogEntry, answered: string | null): void => {
      const startSecond = Math.floor(e.startMs / 1000);
      const frac = e.startMs % 1000;
      if (startSecond !== base + step.t || frac < GUARD_MS || frac >= 1000 - GUARD_MS) {
        throw new TimingError(`${sc.name} #${step.conn}: nginx selected at ${e.startMs / 1000}, outside second t+${step.t} minus guards`);
      }
      if (!step.hold && Math.floor(e.endMs / 1000) !== startSecond) {
        throw new TimingError(`${sc.name} #${step.conn}: session spans a second boundary (${e.line})`);
      }
      const tried: string[] = [];
      let nolive = false;
      e.addrs.forEach((addr, i) => {
        if (addr === UPSTREAM && i === e.addrs.length - 1) nolive = true;
        else {
          const id = byAddress.get(addr);
          if (!id) throw new Error(`${sc.name} #${step.conn}: unknown upstream address ${addr} (${e.line})`);
          tried.push(id);
        }
      });
      const answeredOk = e.status === 200;
      if (answeredOk !== (answered !== null) || (answered !== null && answered !== tried[tried.length - 1]) || (answeredOk && nolive)) {
        throw new Error(`${sc.name} #${step.conn}: client saw ${answered ?? 'no answer'} but nginx logged ${e.line}`);
      }
      if (e.status !== 200 && e.status !== 502) throw new Error(`${sc.name} #${step.conn}: unexpected status (${e.line})`);
      const outcome = tried.map((_, i) => (answeredOk && i === tried.length - 1 ? 'ok' : 'fail') as 'ok' | 'fail');
      // $upstream_connect_time: "-" for a refused connect, a number for the one that connected.
      const expectTimes = e.addrs.map((_, i) => (i < tried.length && outcome[i] === 'ok' ? 'n' : '-'));
      const gotTimes = e.connectTimes.map((x) => (x === '-' ? '-' : 'n'));
      if (expectTimes.join() !== gotTimes.join()) throw new Error(`${sc.name} #${step.conn}: connect times disagree (${e.line})`);
      for (const [i, id] of tried.entries()) {
        if (outcome[i] === 'fail' && backends.get(id)!.listening) {
          throw new Error(`${sc.name} #${step.conn}: ${id} was listening but nginx failed to connect (${e.line})`);
        }
      }
      step.tried = tried;
      step.outcome = outcome;
      step.nolive = nolive;
      step.status = e.status;
    };

    for (const op of sc.script) {
      if (op.op === 'at') {
        if (op.second <= second) throw new Error(`${sc.name}: at(${op.second}) after at(${second})`);
        const target = (base + op.second) * 1000 + BLOCK_START_MS;
        const wait = target - Date.now();
        if (wait < 0) throw new TimingError(`${sc.name}: block t+${op.second} started ${-wait} ms late`);
        await sleep(wait);
        second = op.second;
        deadline = (base + op.second + 1) * 1000 - GUARD_MS;
        continue;
      }
      if (second < 0) throw new Error(`${sc.name}: the script must start with at(0)`);
      switch (op.op) {
        case 'connect':
          for (let i = 0; i < op.count; i++) {
            const conn = ++connNo;
            const r = await streamClient(listenPort, { timeoutMs: IO_TIMEOUT_MS });
            clients.add(r.socket);
            const step: ConnectStep = { t: second, op: 'connect', conn, tried: [], outcome: [], hold: false, nolive: false, status: 0 };
            steps.push(step);
            if (op.hold && r.answer !== null) {
              step.hold = true;
              held.set(conn, { socket: r.socket, localPort: r.localPort, answered: r.answer, step });
              checkDeadline(`connecting #${conn}`);
              continue;
            }
            if (r.answer !== null) r.socket.end();
            fill(step, await take(r.localPort), r.answer);
            checkDeadline(`connecting #${conn}`);
          }
          break;
        case 'close':
          for (const conn of op.conns) {
            const h = held.get(conn);
            if (!h) throw new Error(`${sc.name}: close(${conn}): connection #${conn} is not held open (${describeConnect(steps, conn)})`);
            held.delete(conn);
            h.socket.end();
            const e = await take(h.localPort);
            fill(h.step, e, h.answered);
            if (Math.floor(e.endMs / 1000) !== base + second) {
              throw new TimingError(`${sc.name}: close #${conn} ended at ${e.endMs / 1000}, outside t+${second}`);
            }
            steps.push({ t: second, op: 'close', conn });
            checkDeadline(`closing #${conn}`);
          }
          break;
        case 'stop':
        case 'start': {
          const b = backends.get(op.server);
          if (!b) throw new Error(`${sc.name}: ${op.op}(${op.server}): no such server`);
          await (op.op === 'stop' ? b.stop() : b.start());
          steps.push({ t: second, op: op.op, server: op.server });
          checkDeadline(`${op.op} ${op.server}`);
          break;
        }
      }
    }
    if (held.size > 0) throw new Error(`${sc.name}: the script leaves connections ${[...held.keys()].join(', ')} open; close them`);
    const leftovers = log.leftovers();
    if (leftovers.length > 0) throw new Error(`${sc.name}: unexpected access log lines:\n${leftovers.join('\n')}`);

    ok = true;
    return {
      format: 1,
      nginx: `nginx/${binary.version}`,
      method: 'round-robin',
      scenario: sc.name,
      description: sc.description,
      context: 'stream',
      config: upstreamBlock(sc, (i) => `127.0.0.1:${CANONICAL_BASE + 1 + i}`),
      proxy: proxyDirectives(sc, CANONICAL_BASE),
      servers: vectorServers(sc),
      tries: sc.tries ?? 0,
      refusing: sc.servers.filter((s) => s.refusing).map((s) => s.id),
      epoch: base,
      steps,
    };
  } finally {
    for (const s of clients) s.destroy();
    for (const h of held.values()) h.socket.destroy();
    log.close();
    await nginx.close(!ok, sc.name);
    for (const b of backends.values()) b.destroy();
    for (const b of backends.values()) releasePort(b.port);
  }
}

function describeConnect(steps: Step[], conn: number): string {
  const s = steps.find((x) => x.op === 'connect' && x.conn === conn);
  return s ? describeStep(s) : 'never connected';
}

// ------------------------------------------------------------------------------------------------
// Comparison, CLI

/** Differences between a committed vector and a fresh recording (ignoring `epoch` and `nginx`). */
function compare(expected: Vector, actual: Vector): string[] {
  const out: string[] = [];
  for (const key of ['method', 'context', 'config', 'proxy', 'tries', 'refusing', 'servers'] as const) {
    const a = JSON.stringify(expected[key]);
    const b = JSON.stringify(actual[key]);
    if (a !== b) out.push(`  ${key}: committed ${a}`, `  ${key}: recorded  ${b}`);
  }
  const exp = expected.steps.map(describeStep);
  const act = actual.steps.map(describeStep);
  const stepsDiffer = JSON.stringify(expected.steps) !== JSON.stringify(actual.steps);
  if (stepsDiffer) {
    out.push('  steps (- committed, + recorded):');
    for (let i = 0; i < Math.max(exp.length, act.length); i++) {
      if (exp[i] === act[i] && JSON.stringify(expected.steps[i]) === JSON.stringify(actual.steps[i])) out.push(`      ${exp[i]}`);
      else {
        if (exp[i] !== undefined) out.push(`    - ${exp[i]}${exp[i] === act[i] ? `  ${JSON.stringify(expected.steps[i])}` : ''}`);
        if (act[i] !== undefined) out.push(`    + ${act[i]}${exp[i] === act[i] ? `  ${JSON.stringify(actual.steps[i])}` : ''}`);
      }
    }
  }
  return out;
}

const recordWithRetry = (sc: Scenario, binary: NginxBinary): Promise<Vector> =>
  retryOnTiming(`${sc.name} (nginx ${binary.version}): `, () => runScenario(sc, binary));

const USAGE = 'usage: npx tsx test/conformance/recorder.ts [--check] [--nginx 1.22|1.30|all] [--jobs N] [--list] [scenario...]';

async function main(argv: string[]): Promise<number> {
  const args = parseRecorderArgs(argv, { usage: USAGE, scenarios: SCENARIOS, defaultJobs: 4, listLine: (s) => `${s.name}\t${s.description}` });
  if (typeof args === 'number') return args;
  const { check, jobs, names, selected, series } = args;
  const binaries = series.map(findBinary);
  const versions = binaries.map((b) => b.version).join(' + ');
  const t0 = performance.now();
  const runs = binaries.flatMap((binary) => selected.map((sc) => ({ sc, binary })));
  const recorded = await pool(runs, jobs, async ({ sc, binary }) => {
    const v = await recordWithRetry(sc, binary);
    const conns = v.steps.filter((s) => s.op === 'connect').length;
    console.log(`recorded ${sc.name} (nginx ${binary.version}): ${conns} connections over ${v.steps[v.steps.length - 1]!.t + 1} s`);
    return { binary, v };
  });
  const wall = ((performance.now() - t0) / 1000).toFixed(1);

  if (!check) {
    for (const { binary, v } of recorded) {
      mkdirSync(vectorDir(binary.series), { recursive: true });
      writeFileSync(join(vectorDir(binary.series), `${v.scenario}.json`), formatVector(v));
    }
    console.log(`wrote ${recorded.length} vectors to ${binaries.map((b) => vectorDir(b.series)).join(', ')} (nginx ${versions}, ${wall} s)`);
    return 0;
  }
  let drift = 0;
  let orphans = 0;
  for (const binary of binaries) {
    const committed = new Map(loadVectors(vectorDir(binary.series)).map(({ vector }) => [vector.scenario, vector]));
    for (const { v } of recorded.filter((r) => r.binary === binary)) {
      const c = committed.get(v.scenario);
      if (!c) {
        console.log(`DRIFT ${v.scenario} (nginx ${binary.version}): no committed vector test/vectors/nginx-${binary.series}/${v.scenario}.json`);
        drift++;
        continue;
      }
      if (c.nginx !== v.nginx) console.log(`note ${v.scenario}: committed with ${c.nginx}, recorded with ${v.nginx}`);
      const diff = compare(c, v);
      if (diff.length > 0) {
        console.log(`DRIFT ${v.scenario} (nginx ${binary.version}):\n${diff.join('\n')}`);
        drift++;
      } else console.log(`ok ${v.scenario} (nginx ${binary.version})`);
    }
    if (names.length === 0) {
      // A committed vector of this recorder whose scenario no longer exists would never be checked.
      for (const name of committed.keys()) {
        if (name.startsWith('rr-') && !SCENARIOS.some((s) => s.name === name)) {
          console.log(`DRIFT ${name} (nginx ${binary.series}): committed vector has no scenario in rr-scenarios.ts (delete it or restore the scenario)`);
          orphans++;
        }
      }
    }
  }
  console.log(`${recorded.length - drift}/${recorded.length} scenario recordings match the committed vectors (nginx ${versions}, ${wall} s)`);
  return drift + orphans > 0 ? 1 : 0;
}

runMain(() => main(process.argv.slice(2)));
