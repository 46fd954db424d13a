/**
 * Conformance recorder for `zone` with two nginx workers: runs the scenarios of `scenarios.ts`
 * through real nginx (Debian's 1.22.1 and a stock 1.30.4, found and run by `../nginx-process.ts`)
 * with `worker_processes 2` and writes what nginx did, per connection and accepting worker, to
 * `test/vectors/zone/nginx-<series>/<scenario>.json` (format: `format.ts`).
 *
 *   npx tsx test/conformance/zone/record.ts [--check] [--nginx 1.22|1.30|all] [--jobs N] [--list] [scenario...]
 *
 * `--check` re-records and compares with the committed vectors: exit 0 = all match, 1 = drift (a
 * per-line diff is printed), 2 = could not record. The kernel chooses the accepting worker, so a
 * fresh recording is compared in the view that does not depend on that choice (`format.ts`): with
 * a zone the connections in order, without one each worker's own connections in order (on the
 * length both recordings have).
 *
 * Per scenario and series: one nginx (`worker_processes 2`, scratch prefix, never the system
 * service) with one upstream `u_<scenario>` (`zone z_<scenario> 64k;` or none) behind
 * `listen 127.0.0.1:PORT reuseport`, so that each worker has its own listening socket and the
 * kernel spreads connections over both by a hash of the client's address and port. The clients
 * bind varied 127.0.x.y source addresses. The access log line of each connection (written at its
 * end, after nginx freed the server) gives `$pid` (the accepting worker, numbered 0/1 by first
 * appearance), `$upstream_addr` (every server tried; the upstream's name at the end = no live
 * upstreams) and `$status`; the client's answer is cross-checked with it (stream: the backend's
 * address line; http: the status line). Connections run one at a time, each waiting for its log
 * line unless it is held open; a `wait` pauses the client (and must leave every burst of connections
 * under a second of nginx's time, else the recording is made again). A recording that does not show the scenario's point (both workers
 * taking enough connections: `ZoneScenario.demonstrates`) is recorded again from other source
 * addresses, at most 6 times in all.
 *
 * Backends: the recorder's own node:net servers on fixed addresses `127.2.S.I:PORT` (scenario S,
 * server I; PORT = $UB_ZONE_PORT or 18091), shared by both series (they keep no state): stream ones
 * write their address and a newline (`Backend` of `../recorder-io.ts`), http ones answer a request
 * with a 200 and close. A `refusing` server gets no listener. Everything started is stopped, also
 * on errors and signals; nginx's second worker, which `Nginx` does not register, is checked by pid.
 * Wall time: about 6 s, 5 of them the pauses of `zone-fail-window` (the recordings run in parallel, `--jobs`).
 */

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { alive, findBinary, freePort, mainContext, Nginx, pool, releasePort, runMain, type NginxBinary } from '../nginx-process';
import { parseRecorderArgs } from '../recorder-cli';
import { AccessLog, Backend, ListeningBackend, parseMs, retryOnTiming, streamClient, TimingError } from '../recorder-io';
import { serverLine, vectorServer } from '../scenario-server';
import { formatVector } from '../vector-format';
import { describeZoneStep, globalView, loadZoneVectors, workerViews, zoneVectorDir, type ZoneConnectStep, type ZoneStep, type ZoneVector } from './format';
import { SCENARIOS, type ZoneScenario } from './scenarios';

const BACKEND_PORT = Number(process.env.UB_ZONE_PORT ?? 18091);
const IO_TIMEOUT_MS = 5000;
const ATTEMPTS = 6;
const USAGE = 'usage: zone/record.ts [--check] [--nginx 1.22|1.30|all] [--jobs N] [--list] [scenario...]';
const HTTP_REQUEST = Buffer.from('GET / HTTP/1.0\r\nHost: zone\r\n\r\n', 'latin1');

// ------------------------------------------------------------------------------------------------
// Backends

/** An http backend: reads a request head, answers 200 with its address as the body, and closes. */
class HttpBackend extends ListeningBackend {
  protected serve(socket: net.Socket): void {
    let head = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      if (head.includes('\r\n\r\n')) return;
      head += chunk;
      if (!head.includes('\r\n\r\n')) return;
      const body = `${this.name}\n`;
      socket.end(`HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
  }
}

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => String.fromCharCode(65 + i));
const backendHost = (scenario: number, server: number): string => `127.2.${scenario}.${server + 1}`;
const backendAddress = (scenario: number, server: number): string => `${backendHost(scenario, server)}:${BACKEND_PORT}`;

async function startBackends(chosen: readonly ZoneScenario[]): Promise<ListeningBackend[]> {
  const started: ListeningBackend[] = [];
  for (const sc of chosen) {
    const index = SCENARIOS.indexOf(sc);
    for (let i = 0; i < sc.servers.length; i++) {
      if (sc.servers[i]!.refusing) continue;
      const host = backendHost(index, i);
      const b = sc.context === 'stream' ? new Backend(backendAddress(index, i), BACKEND_PORT, host) : new HttpBackend(backendAddress(index, i), BACKEND_PORT, host);
      started.push(b);
      try {
        await b.start();
      } catch (e) {
        throw new Error(`${(e as Error).message}; set UB_ZONE_PORT to a free port`);
      }
    }
  }
  return started;
}

// ------------------------------------------------------------------------------------------------
// nginx with two workers

const upstreamName = (sc: ZoneScenario): string => `u_${sc.name.replace(/-/g, '_')}`;

/** The `upstream` block: `zone` first when the scenario has one. */
function upstreamBlock(sc: ZoneScenario, name: string, zoneName: string): string {
  const index = SCENARIOS.indexOf(sc);
  const lines = sc.servers.map((s, i) => serverLine(s, backendAddress(index, i)));
  if (sc.zone) lines.unshift(`zone ${zoneName} 64k;`);
  return [`upstream ${name} {`, ...lines.map((l) => `    ${l}`), '}'].join('\n');
}

function proxyDirectives(sc: ZoneScenario, upstream: string): string {
  return sc.context === 'http' ? `location / { proxy_pass http://${upstream}; proxy_connect_timeout 1s; }` : `proxy_pass ${upstream}; proxy_connect_timeout 1s;`;
}

function nginxConf(binary: NginxBinary, dir: string, sc: ZoneScenario, port: number, log: string): string {
  const main = mainContext(binary, dir, 1024, 2);
  const name = upstreamName(sc);
  const upstream = upstreamBlock(sc, name, `z_${name}`).replace(/\n/g, '\n    ');
  const server = `    server { listen 127.0.0.1:${port} reuseport; access_log ${log} rec; ${proxyDirectives(sc, name)} }`;
  const time = sc.context === 'http' ? '$request_time' : '$session_time';
  const logFormat = `    log_format rec '$remote_addr|$remote_port|$pid|$upstream_addr|$status|$msec|${time}';`;
  const body = [logFormat, `    ${upstream}`, server].join('\n');
  const http =
    sc.context === 'http'
      ? `http {\n    access_log off;\n${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `    ${t}_temp_path ${dir}/${t};`).join('\n')}\n${body}\n}\n`
      : `stream {\n${body}\n}\n`;
  return `# written by test/conformance/zone/record.ts\n${main}${http}`;
}

/** Worker pids that outlived a recorder (SIGKILLed on exit); `Nginx` registers only the first. */
const extraWorkers = new Set<number>();
process.on('exit', () => {
  for (const pid of extraWorkers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Waits until the error log names both workers; their pids. */
async function workerPids(nginx: Nginx): Promise<number[]> {
  const deadline = Date.now() + IO_TIMEOUT_MS;
  for (;;) {
    const pids = [...readFileSync(nginx.errorLog, 'utf8').matchAll(/start worker process (\d+)/g)].map((m) => Number(m[1]));
    if (pids.length >= 2) {
      for (const pid of pids) extraWorkers.add(pid);
      return pids;
    }
    if (Date.now() > deadline) throw new Error(`nginx ${nginx.binary.version} started ${pids.length} worker(s), not 2`);
    await sleep(10);
  }
}

/** After `Nginx.stop` (the master waits for its workers): makes sure, by pid, that both are gone. */
async function reapWorkers(pids: readonly number[]): Promise<void> {
  for (const pid of pids) {
    for (let i = 0; i < 100 && alive(pid); i++) await sleep(10);
    if (alive(pid)) process.kill(pid, 'SIGKILL');
    extraWorkers.delete(pid);
  }
}

// ------------------------------------------------------------------------------------------------
// One recording

interface LogEntry {
  remoteAddr: string;
  remotePort: number;
  pid: number;
  addrs: string[];
  status: number;
  /** nginx's cached time when the session / request started, and ended (ms). */
  startMs: number;
  endMs: number;
}

/** The source address of connection `n` of scenario `s` in attempt `a`: spread over 127.0.0.0/16. */
const sourceAddress = (s: number, n: number, a: number): string =>
  `127.0.${1 + ((s * 31 + n * 7 + a * 101) % 250)}.${2 + ((n * 37 + s * 13 + a * 59) % 250)}`;

async function closeAndWait(socket: net.Socket): Promise<void> {
  if (socket.destroyed) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => socket.destroy(), IO_TIMEOUT_MS);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.end();
  });
}

interface Open {
  step: ZoneConnectStep;
  socket: net.Socket;
  localAddress: string;
  localPort: number;
  answer: string | null;
}

/** Records `sc` once with `binary`; throws TimingError when the recording does not show the scenario's point. */
async function recordOnce(sc: ZoneScenario, binary: NginxBinary, attempt: number): Promise<ZoneVector> {
  const what = `${sc.name} (nginx ${binary.version})`;
  const index = SCENARIOS.indexOf(sc);
  const letters = ids(sc.servers.length);
  const byAddress = new Map(sc.servers.map((_, i) => [backendAddress(index, i), letters[i]!]));
  const name = upstreamName(sc);
  const nginx = new Nginx(binary, `zone-recorder-${sc.name}-${binary.series}-`);
  const port = await freePort();
  const logPath = join(nginx.dir, 'access.log');
  const log = new AccessLog<LogEntry>(logPath, 7, (f) => {
    const endMs = parseMs(f[5]!);
    return { remoteAddr: f[0]!, remotePort: Number(f[1]), pid: Number(f[2]), addrs: f[3]!.split(', '), status: Number(f[4]), startMs: endMs - parseMs(f[6]!), endMs };
  }, IO_TIMEOUT_MS);
  let pids: number[] = [];
  let ok = false;
  try {
    const confPath = join(nginx.dir, 'nginx.conf');
    writeFileSync(confPath, nginxConf(binary, nginx.dir, sc, port, logPath));
    await nginx.start(confPath);
    pids = await workerPids(nginx);
    const workerOf = new Map<number, 0 | 1>();
    const steps: ZoneStep[] = [];
    const times: number[] = [];
    const open = new Map<number, Open>();

    const settle = async (o: Open): Promise<LogEntry> => {
      const e = await log.take((x) => x.remoteAddr === o.localAddress && x.remotePort === o.localPort, `${what} #${o.step.conn}`);
      if (!pids.includes(e.pid)) throw new Error(`${what} #${o.step.conn}: logged by pid ${e.pid}, not a worker (${pids.join(', ')})`);
      if (!workerOf.has(e.pid)) workerOf.set(e.pid, workerOf.size as 0 | 1);
      const s = o.step;
      s.worker = workerOf.get(e.pid)!;
      const addrs = [...e.addrs];
      if (addrs[addrs.length - 1] === name) {
        addrs.pop();
        s.nolive = true;
      }
      if (addrs.length === 1 && addrs[0] === '-') addrs.pop();
      s.tried = addrs.map((a) => {
        const id = byAddress.get(a);
        if (!id) throw new Error(`${what}: unknown upstream address ${a} in the access log`);
        return id;
      });
      s.status = e.status;
      // stream: the backend's address line, or nothing (502); http: the status line.
      const answered = sc.context === 'stream' ? o.answer !== null : / 200 /.test(o.answer ?? '');
      s.outcome = s.tried.map((_, i) => (i === s.tried.length - 1 && answered ? 'ok' : 'fail'));
      if (sc.context === 'stream' && o.answer !== null && byAddress.get(o.answer) !== s.tried[s.tried.length - 1]) {
        throw new Error(`${what} #${s.conn}: answered by ${o.answer} but nginx logged ${e.addrs.join(', ')}`);
      }
      if (answered !== (e.status === 200)) throw new Error(`${what} #${s.conn}: status ${e.status} with answer ${JSON.stringify(o.answer)}`);
      times[steps.indexOf(s)] = e.startMs;
      return e;
    };

    let conn = 0;
    /** The index of the first step of each burst (a `wait` starts a new one). */
    const bursts = [0];
    for (const op of sc.script) {
      if (op.op === 'wait') {
        await sleep(op.ms);
        bursts.push(steps.length);
        continue;
      }
      if (op.op === 'close') {
        const o = open.get(op.conn);
        if (!o) throw new Error(`${what}: close #${op.conn}, which is not open`);
        open.delete(op.conn);
        await closeAndWait(o.socket);
        const e = await settle(o);
        times[steps.length] = e.endMs;
        steps.push({ t: 0, op: 'close', conn: op.conn });
        continue;
      }
      conn++;
      const localAddress = sourceAddress(index, conn, attempt);
      const c = await streamClient(port, { localAddress, hello: sc.context === 'http' ? HTTP_REQUEST : null, timeoutMs: IO_TIMEOUT_MS });
      const step: ZoneConnectStep = { t: 0, op: 'connect', conn, worker: 0, tried: [], outcome: [], hold: false, nolive: false, status: 0 };
      steps.push(step);
      const o: Open = { step, socket: c.socket, localAddress, localPort: c.localPort, answer: c.answer };
      if (op.hold && sc.context === 'stream' && c.answer !== null) {
        step.hold = true;
        open.set(conn, o);
        continue;
      }
      await closeAndWait(c.socket);
      await settle(o);
    }
    if (open.size > 0) throw new Error(`${what}: connections still open at the end: ${[...open.keys()].join(' ')}`);
    const leftovers = log.leftovers();
    if (leftovers.length > 0) throw new Error(`${what}: unexpected access log lines:\n${leftovers.join('\n')}`);
    await nginx.stop();
    await reapWorkers(pids);
    ok = true;

    const why = sc.demonstrates(steps);
    if (why !== null) throw new TimingError(`: ${why}`);
    bursts.forEach((from, i) => {
      const span = times.slice(from, bursts[i + 1] ?? times.length);
      if (Math.max(...span) - Math.min(...span) >= 1000) throw new TimingError(`: burst ${i + 1} took a second or more of nginx's time`);
    });
    // Times: nginx's second of each step, relative to the first; kept non-decreasing.
    const epoch = Math.floor(Math.min(...times) / 1000);
    let last = 0;
    steps.forEach((s, i) => {
      s.t = Math.max(last, Math.floor(times[i]! / 1000) - epoch);
      last = s.t;
    });
    return {
      format: 1,
      nginx: `nginx/${binary.version}`,
      scenario: sc.name,
      description: sc.description,
      context: sc.context,
      zone: sc.zone,
      workers: 2,
      config: upstreamBlock(sc, 'u', 'u'),
      proxy: proxyDirectives(sc, 'u'),
      tries: 0,
      refusing: letters.filter((_, i) => sc.servers[i]!.refusing),
      epoch,
      servers: sc.servers.map((s, i) => vectorServer(s, letters[i]!, backendAddress(index, i))),
      steps,
    };
  } finally {
    log.close();
    await nginx.close(!ok, what);
    await reapWorkers(pids);
    releasePort(port);
  }
}

async function record(sc: ZoneScenario, binary: NginxBinary): Promise<ZoneVector> {
  let attempt = 0;
  return retryOnTiming(`${sc.name} (nginx ${binary.version})`, () => recordOnce(sc, binary, attempt++), ATTEMPTS);
}

// ------------------------------------------------------------------------------------------------
// Comparison, CLI

/** Differences that matter: the head, then the steps in the view the kernel's choice of worker does not change. */
function compare(old: ZoneVector, fresh: ZoneVector): string[] {
  const out: string[] = [];
  for (const k of ['context', 'zone', 'workers', 'config', 'proxy', 'tries', 'refusing', 'servers'] as const) {
    if (JSON.stringify(old[k]) !== JSON.stringify(fresh[k])) out.push(`${k}: ${JSON.stringify(old[k])} -> ${JSON.stringify(fresh[k])}`);
  }
  if (fresh.zone) {
    const a = globalView(old.steps);
    const b = globalView(fresh.steps);
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (a[i] !== b[i]) out.push(`step ${i + 1}: committed ${a[i] ?? '(none)'} | nginx now ${b[i] ?? '(none)'}`);
    }
    return out;
  }
  const a = workerViews(old.steps);
  const b = workerViews(fresh.steps);
  for (const w of [0, 1] as const) {
    for (let i = 0; i < Math.min(a[w].length, b[w].length); i++) {
      if (a[w][i] !== b[w][i]) out.push(`worker ${w} connection ${i + 1}: committed ${a[w][i]} | nginx now ${b[w][i]}`);
    }
  }
  return out;
}

async function main(): Promise<number> {
  const args = parseRecorderArgs(process.argv.slice(2), {
    usage: USAGE,
    scenarios: SCENARIOS,
    defaultJobs: 4,
    listLine: (s) => `${s.name.padEnd(22)} ${s.description}`,
  });
  if (typeof args === 'number') return args;
  const { check, jobs, names, selected, series } = args;
  const binaries = series.map(findBinary);
  const t0 = performance.now();
  const backends = await startBackends(selected);
  try {
    const runs = binaries.flatMap((binary) => selected.map((sc) => ({ sc, binary })));
    const vectors = await pool(runs, jobs, ({ sc, binary }) => record(sc, binary));
    let drift = 0;
    for (const binary of binaries) {
      const dir = zoneVectorDir(binary.series);
      const committed = new Map(loadZoneVectors(binary.series).map(({ vector }) => [vector.scenario, vector]));
      for (const v of vectors.filter((x) => x.nginx === `nginx/${binary.version}`)) {
        const file = join(dir, `${v.scenario}.json`);
        const conns = v.steps.filter((s): s is ZoneConnectStep => s.op === 'connect');
        const split = `${conns.filter((s) => s.worker === 0).length}+${conns.filter((s) => s.worker === 1).length} connections`;
        const label = `${v.scenario} (nginx ${binary.version})`;
        if (!check) {
          mkdirSync(dir, { recursive: true });
          writeFileSync(file, formatVector(v));
          console.log(`wrote ${file} (${split})`);
          continue;
        }
        const old = committed.get(v.scenario);
        if (!old) {
          console.log(`DRIFT ${label}: no committed vector ${file}`);
          drift++;
          continue;
        }
        const diffs = compare(old, v);
        if (diffs.length === 0) {
          console.log(`ok    ${label} (${split})`);
          continue;
        }
        drift++;
        console.log(`DRIFT ${label}:\n  ${diffs.slice(0, 20).join('\n  ')}${diffs.length > 20 ? `\n  ... ${diffs.length - 20} more` : ''}`);
        console.log(`  nginx now: ${v.steps.map(describeZoneStep).join(' | ')}`);
      }
      if (check && names.length === 0) {
        for (const name of committed.keys()) {
          if (!SCENARIOS.some((s) => s.name === name)) {
            console.log(`DRIFT ${name} (nginx ${binary.series}): committed vector has no scenario in scenarios.ts`);
            drift++;
          }
        }
      }
    }
    console.log(`${vectors.length} zone recordings in ${((performance.now() - t0) / 1000).toFixed(1)} s with nginx ${binaries.map((b) => b.version).join(' + ')}`);
    return check && drift > 0 ? 1 : 0;
  } finally {
    for (const b of backends) b.destroy();
  }
}

runMain(main);
