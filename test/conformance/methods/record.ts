/**
 * Conformance recorder for the balancing methods other than round robin: runs the scenarios of
 * `scenarios.ts` through real nginx and writes what nginx did to `test/vectors/nginx-<series>/methods-<name>.json`
 * (format: `format.ts`), one file per scenario per nginx series.
 *
 *   npx tsx test/conformance/methods/record.ts [--check] [--nginx 1.22|1.30|all] [--list] [scenario...]
 *
 * `--check` re-records and compares with the committed vectors: exit 0 = all match, 1 = drift (a
 * per-step diff is printed), 2 = could not record (nginx missing, a backend address taken, ...).
 *
 * Per nginx series, one nginx (`worker_processes 1`, `daemon off`, scratch prefix under the temp directory, never
 * the system service) runs every scenario at once, each as its own upstream behind its own listen
 * port and access log:
 * - stream `least_conn`, `hash $ssl_preread_server_name [consistent]` (the client sends a minimal
 *   TLS ClientHello carrying the key as SNI; `ssl_preread on`), `hash $remote_addr [consistent]`;
 * - http `ip_hash` (http only in nginx), `proxy_pass http://u;`.
 * Clients bind 127.0.x.y source addresses (Linux routes all of 127/8 to lo) where the client
 * address is the key. Backends are the recorder's own node:net / node:http servers on fixed
 * addresses `127.1.S.I:PORT` (scenario S, server I; PORT = $UB_METHODS_PORT or 18081): fixed,
 * because consistent hash hashes the address text. Each answers with its address; servers marked
 * `refusing` get no listener, so connects to them are refused.
 *
 * Per connection the access log gives every server tried (`$upstream_addr`; the upstream's name
 * at the end = no live upstreams) and `$status`; the answer the client got is cross-checked with
 * the last server tried. Connections of one scenario run one at a time, each waiting for its log
 * line (nginx logs after it has freed the server) unless it is held open; scenarios run in
 * parallel. Everything started is stopped, also on errors and signals. Wall time: a few seconds.
 */

import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { join } from 'node:path';
import { closeServer, findBinary, freePort, listen, mainContext, Nginx, runMain, takeNginxFlag, track, type NginxBinary } from '../nginx-process';
import { AccessLog, Backend, parseMs, streamClient } from '../recorder-io';
import { serverLine, vectorServer } from '../scenario-server';
import { formatVector, vectorDir } from '../vector-format';
import { describeMethodStep, loadMethodVectors, type MethodConnectStep, type MethodStep, type MethodVector } from './format';
import { SCENARIOS, type MethodScenario } from './scenarios';

const BACKEND_PORT = Number(process.env.UB_METHODS_PORT ?? 18081);
const IO_TIMEOUT_MS = 5000;

// ------------------------------------------------------------------------------------------------
// Backends (TCP ones: `Backend` of recorder-io.ts, answering with their address)

interface Stoppable {
  destroy(): void;
}

/** An http backend: answers every request with its address. */
async function httpBackend(host: string, port: number): Promise<Stoppable> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.setHeader('connection', 'close');
    res.end(`${host}:${port}\n`);
  });
  server.on('connection', (s) => track(s));
  await listen(server, port, host).catch((e: NodeJS.ErrnoException) => {
    closeServer(server);
    throw new Error(`cannot listen on ${host}:${port} (${e.code})`);
  });
  return {
    destroy: () => {
      server.closeAllConnections();
      closeServer(server);
    },
  };
}
/** A listening backend on `host:BACKEND_PORT` for the scenario's context. */
async function startBackend(sc: MethodScenario, host: string): Promise<Stoppable> {
  try {
    if (sc.context === 'http') return await httpBackend(host, BACKEND_PORT);
    const backend = new Backend(`${host}:${BACKEND_PORT}`, BACKEND_PORT, host);
    await backend.start();
    return backend;
  } catch (e) {
    throw new Error(`${(e as Error).message}; set UB_METHODS_PORT to a free port`);
  }
}

// ------------------------------------------------------------------------------------------------
// Scenario plumbing

interface Plan {
  sc: MethodScenario;
  index: number;
  upstream: string;
  listenPort: number;
  addresses: string[];
  log: string;
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => String.fromCharCode(65 + i));

function directive(sc: MethodScenario): string {
  switch (sc.method) {
    case 'least-conn':
      return 'least_conn;';
    case 'ip-hash':
      return 'ip_hash;';
    case 'hash': {
      const key = sc.keySource === '$remote_addr' ? '$remote_addr' : '$ssl_preread_server_name';
      return `hash ${key}${sc.consistent ? ' consistent' : ''};`;
    }
  }
}

function upstreamBlock(p: Plan, name = p.upstream): string {
  const servers = p.sc.servers.map((s, i) => serverLine(s, p.addresses[i]!));
  // hash and ip_hash take `backup` servers only before their directive (docs/nginx-semantics.md §3.4)
  const backupFirst = p.sc.method !== 'least-conn' && p.sc.servers.some((s) => s.backup);
  const lines = backupFirst ? [...servers, directive(p.sc)] : [directive(p.sc), ...servers];
  return [`upstream ${name} {`, ...lines.map((l) => `    ${l}`), '}'].join('\n');
}

function proxyDirectives(p: Plan, upstream = p.upstream): string {
  if (p.sc.context === 'http') return `location / { proxy_pass http://${upstream}; proxy_connect_timeout 1s; }`;
  const d = [];
  if (p.sc.keySource === '$ssl_preread_server_name') d.push('ssl_preread on;');
  d.push(`proxy_pass ${upstream};`, 'proxy_connect_timeout 1s;');
  return d.join(' ');
}

function nginxConf(binary: NginxBinary, dir: string, plans: Plan[]): string {
  const indent = (text: string) => text.replace(/\n/g, '\n    ');
  const block = (ctx: 'stream' | 'http') =>
    plans
      .filter((p) => p.sc.context === ctx)
      .map((p) => `    ${indent(upstreamBlock(p))}\n    server { listen 127.0.0.1:${p.listenPort}; access_log ${p.log} rec; ${proxyDirectives(p)} }`)
      .join('\n');
  return `# written by test/conformance/methods/record.ts
${mainContext(binary, dir, 1024)}stream {
    log_format rec '$remote_addr|$remote_port|$upstream_addr|$status|$msec|$session_time';
${block('stream')}
}
http {
    log_format rec '$remote_addr|$remote_port|$upstream_addr|$status|$msec|$request_time';
    access_log off;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
${block('http')}
}
`;
}

// ------------------------------------------------------------------------------------------------
// Access logs

interface LogEntry {
  remoteAddr: string;
  remotePort: number;
  addrs: string[];
  status: number;
  /** nginx's cached time when the session / request started (ms). */
  startMs: number;
  /** ... and when it ended (ms). */
  endMs: number;
}

function accessLog(path: string): AccessLog<LogEntry> {
  return new AccessLog(path, 6, (f) => {
    const endMs = parseMs(f[4]!);
    return { remoteAddr: f[0]!, remotePort: Number(f[1]), addrs: f[2]!.split(', '), status: Number(f[3]), startMs: endMs - parseMs(f[5]!), endMs };
  }, IO_TIMEOUT_MS);
}

// ------------------------------------------------------------------------------------------------
// Clients

/** A minimal TLS 1.2 ClientHello; with `sni` non-empty it carries a server_name extension. */
export function clientHello(sni: string): Buffer {
  const u8 = (n: number) => Buffer.from([n]);
  const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
  const u24 = (n: number) => Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]);
  const name = Buffer.from(sni, 'utf8');
  const ext = sni === '' ? Buffer.alloc(0) : Buffer.concat([u16(0), u16(name.length + 5), u16(name.length + 3), u8(0), u16(name.length), name]);
  const body = Buffer.concat([
    Buffer.from([3, 3]), randomBytes(32), u8(0), u16(2), Buffer.from([0x00, 0x2f]), u8(1), u8(0), u16(ext.length), ext,
  ]);
  const hs = Buffer.concat([u8(1), u24(body.length), body]);
  return Buffer.concat([Buffer.from([0x16, 3, 1]), u16(hs.length), hs]);
}

interface Conn {
  socket: net.Socket | null;
  localAddress: string;
  localPort: number;
  answer: string | null;
}

/** A stream client: connect (from `localAddress`), optionally send a ClientHello, read one line. */
async function streamConn(port: number, localAddress: string, hello: Buffer | null): Promise<Conn> {
  const { socket, localPort, answer } = await streamClient(port, { localAddress, hello, timeoutMs: IO_TIMEOUT_MS });
  return { socket, localAddress, localPort, answer };
}

/** An http client: GET / from `localAddress`; the body is the backend's address, or null on 502. */
function httpClient(port: number, localAddress: string): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, localAddress, path: '/', agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ socket: null, localAddress, localPort, answer: res.statusCode === 200 ? body.trim() : null }));
    });
    let localPort = 0;
    req.on('socket', (s) => {
      track(s);
      s.on('connect', () => (localPort = s.localPort ?? 0));
    });
    req.setTimeout(IO_TIMEOUT_MS, () => req.destroy(new Error(`http request through nginx on port ${port} timed out`)));
    req.on('error', reject);
  });
}

async function closeAndWait(socket: net.Socket): Promise<void> {
  if (socket.destroyed) return;
  await new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.end();
    setTimeout(() => socket.destroy(), IO_TIMEOUT_MS);
  });
}

// ------------------------------------------------------------------------------------------------
// Running one scenario

interface Pending {
  step: MethodConnectStep;
  conn: Conn;
}

async function runScenario(p: Plan, nginx: string): Promise<MethodVector> {
  const sc = p.sc;
  const letters = ids(sc.servers.length);
  const byAddress = new Map(p.addresses.map((a, i) => [a, letters[i]!]));
  const log = accessLog(p.log);
  const take = (addr: string, port: number): Promise<LogEntry> =>
    log.take((e) => e.remotePort === port && e.remoteAddr === addr, `${addr}:${port}`);
  const steps: MethodStep[] = [];
  const open = new Map<number, Pending>();
  /** Per step: nginx's time of it (ms): a connection's start, a close's session end. */
  const times: number[] = [];
  let conn = 0;

  const resolveEntry = (pending: Pending, e: LogEntry) => {
    const { step } = pending;
    const addrs = [...e.addrs];
    if (addrs.length > 0 && addrs[addrs.length - 1] === p.upstream) {
      addrs.pop();
      step.nolive = true;
    }
    if (addrs.length === 1 && addrs[0] === '-') addrs.pop();
    step.tried = addrs.map((a) => {
      const id = byAddress.get(a);
      if (!id) throw new Error(`${sc.name}: unknown upstream address ${a} in the access log`);
      return id;
    });
    step.status = e.status;
    const answered = pending.conn.answer;
    step.outcome = step.tried.map((_, i) => (i === step.tried.length - 1 && answered !== null ? 'ok' : 'fail'));
    if (answered !== null && byAddress.get(answered) !== step.tried[step.tried.length - 1]) {
      throw new Error(`${sc.name} #${step.conn}: answered by ${answered} but nginx logged ${e.addrs.join(', ')}`);
    }
    if ((answered !== null) !== (e.status === 200)) throw new Error(`${sc.name} #${step.conn}: status ${e.status} with answer ${answered}`);
    times[steps.indexOf(step)] = e.startMs;
    return e;
  };

  for (const op of sc.script) {
    if (op.op === 'close') {
      const pending = open.get(op.conn);
      if (!pending || !pending.conn.socket) throw new Error(`${sc.name}: close #${op.conn}, which is not open`);
      open.delete(op.conn);
      await closeAndWait(pending.conn.socket);
      const e = resolveEntry(pending, await take(pending.conn.localAddress, pending.conn.localPort));
      times[steps.length] = e.endMs;
      steps.push({ t: 0, op: 'close', conn: op.conn });
      continue;
    }
    conn++;
    const key = op.key ?? '';
    const localAddress = sc.keySource === '$remote_addr' || sc.keySource === 'ip_hash' ? key : '127.0.0.1';
    const c =
      sc.context === 'http'
        ? await httpClient(p.listenPort, localAddress)
        : await streamConn(p.listenPort, localAddress, sc.keySource === '$ssl_preread_server_name' ? clientHello(key) : null);
    const step: MethodConnectStep = { t: 0, op: 'connect', conn, key, tried: [], outcome: [], hold: false, nolive: false, status: 0 };
    steps.push(step);
    const pending: Pending = { step, conn: c };
    if (op.hold && c.answer !== null && c.socket) {
      step.hold = true;
      open.set(conn, pending);
      continue;
    }
    if (c.socket) await closeAndWait(c.socket);
    resolveEntry(pending, await take(localAddress, c.localPort));
  }
  if (open.size > 0) throw new Error(`${sc.name}: connections still open at the end: ${[...open.keys()].join(' ')}`);
  const leftovers = log.leftovers();
  log.close();
  if (leftovers.length > 0) throw new Error(`${sc.name}: unexpected access log lines:\n${leftovers.join('\n')}`);

  // Times: nginx's second of each step, relative to the first; kept non-decreasing.
  const epoch = Math.floor(Math.min(...times) / 1000);
  let last = 0;
  steps.forEach((s, i) => {
    s.t = Math.max(last, Math.floor(times[i]! / 1000) - epoch);
    last = s.t;
  });

  const servers = sc.servers.map((s, i) => vectorServer(s, letters[i]!, p.addresses[i]!));
  const vector: MethodVector = {
    format: 1,
    nginx,
    method: sc.method,
    ...(sc.method === 'hash' ? { hash: { consistent: sc.consistent ?? false } } : {}),
    scenario: sc.name,
    description: sc.description,
    context: sc.context,
    keySource: sc.keySource,
    config: upstreamBlock(p, 'u'),
    proxy: proxyDirectives(p, 'u'),
    tries: 0,
    refusing: letters.filter((_, i) => sc.servers[i]!.refusing),
    epoch,
    servers,
    steps,
  };
  return vector;
}

// ------------------------------------------------------------------------------------------------
// Comparison, CLI

/** Differences that matter (everything but `epoch`, `nginx` and the step times). */
function compare(old: MethodVector, fresh: MethodVector): string[] {
  const out: string[] = [];
  for (const k of ['method', 'hash', 'context', 'keySource', 'config', 'proxy', 'tries', 'refusing', 'servers'] as const) {
    if (JSON.stringify(old[k]) !== JSON.stringify(fresh[k])) out.push(`${k}: ${JSON.stringify(old[k])} -> ${JSON.stringify(fresh[k])}`);
  }
  const a = old.steps.map(describeMethodStep);
  const b = fresh.steps.map(describeMethodStep);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) out.push(`step ${i + 1}: committed ${a[i] ?? '(none)'} | nginx now ${b[i] ?? '(none)'}`);
  }
  return out;
}

/** Runs every chosen scenario through one nginx of `binary` (the backends already listen). */
async function recordWith(binary: NginxBinary, chosen: Array<{ sc: MethodScenario; index: number }>): Promise<MethodVector[]> {
  const nginx = new Nginx(binary, `methods-recorder-${binary.series}-`);
  const dir = nginx.dir;
  let ok = false;
  try {
    const plans: Plan[] = [];
    for (const { sc, index } of chosen) {
      const addresses = sc.servers.map((_, i) => `127.1.${index}.${i + 1}:${BACKEND_PORT}`);
      plans.push({ sc, index, upstream: `u_${sc.name.replace(/-/g, '_')}`, listenPort: await freePort(), addresses, log: join(dir, `${sc.name}.log`) });
    }
    const confPath = join(dir, 'nginx.conf');
    writeFileSync(confPath, nginxConf(binary, dir, plans));
    await nginx.start(confPath);
    const vectors = await Promise.all(plans.map((p) => runScenario(p, `nginx/${binary.version}`)));
    await nginx.stop();
    ok = true;
    return vectors;
  } finally {
    await nginx.close(!ok, `methods (nginx ${binary.version})`);
  }
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.includes('--list')) {
    for (const sc of SCENARIOS) console.log(`${sc.name.padEnd(34)} ${sc.description}`);
    return 0;
  }
  const series = takeNginxFlag(args);
  const check = args.includes('--check');
  for (const a of args) if (a.startsWith('--') && a !== '--check') throw new Error(`unknown option ${a}; usage: methods/record.ts [--check] [--nginx 1.22|1.30|all] [--list] [scenario...]`);
  const names = args.filter((a) => !a.startsWith('--'));
  for (const n of names) if (!SCENARIOS.some((s) => s.name === n)) throw new Error(`unknown scenario ${n} (see --list)`);
  const chosen = SCENARIOS.map((sc, index) => ({ sc, index })).filter(({ sc }) => names.length === 0 || names.includes(sc.name));

  const binaries = series.map(findBinary);
  const backends: Stoppable[] = [];
  const t0 = Date.now();
  try {
    for (const { sc, index } of chosen) {
      for (let i = 0; i < sc.servers.length; i++) {
        if (sc.servers[i]!.refusing) continue;
        backends.push(await startBackend(sc, `127.1.${index}.${i + 1}`));
      }
    }
    let drift = 0;
    let total = 0;
    for (const binary of binaries) {
      const vectors = await recordWith(binary, chosen);
      total += vectors.length;
      const dir = vectorDir(binary.series);
      const committed = new Map(loadMethodVectors(dir).map(({ vector }) => [vector.scenario, vector]));
      for (const v of vectors) {
        const file = join(dir, `methods-${v.scenario}.json`);
        const conns = v.steps.filter((s) => s.op === 'connect').length;
        const label = `${v.scenario} (nginx ${binary.version})`;
        if (check) {
          const old = committed.get(v.scenario);
          if (!old) {
            console.log(`DRIFT ${label}: no committed vector ${file}`);
            drift++;
            continue;
          }
          const diffs = compare(old, v);
          if (old.nginx !== v.nginx) console.log(`note ${v.scenario}: recorded with ${old.nginx}, now ${v.nginx}`);
          if (diffs.length > 0) {
            drift++;
            console.log(`DRIFT ${label}:\n  ${diffs.slice(0, 20).join('\n  ')}${diffs.length > 20 ? `\n  ... ${diffs.length - 20} more` : ''}`);
          } else console.log(`ok    ${label} (${conns} connections)`);
        } else {
          mkdirSync(dir, { recursive: true });
          writeFileSync(file, formatVector(v));
          console.log(`wrote ${file} (${conns} connections)`);
        }
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
    console.log(`${total} scenario recordings in ${((Date.now() - t0) / 1000).toFixed(1)} s with nginx ${binaries.map((b) => b.version).join(' + ')}`);
    return check && drift > 0 ? 1 : 0;
  } finally {
    for (const b of backends) b.destroy();
  }
}

runMain(main);
