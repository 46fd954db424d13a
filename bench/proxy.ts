/**
 * The balancer in a real proxy (issue 18, item 5): sessions per second through the reference proxy
 * (docs/examples/proxy.ts with a round-robin Balancer) against Debian's nginx stream proxy
 * (`/usr/sbin/nginx` with `ngx_stream_module.so`, started here on a scratch prefix with its own
 * config, never as the system service), on the same loopback backends with the same client
 * concurrency. A figure to report, not a target.
 *
 *   npx tsx bench/proxy.ts [--backends 4] [--concurrency 8,32,128] [--seconds 10] [--warmup 2]
 *                          [--rounds 3] [--subjects library,counter,plain,nginx,nginx2]
 *                          [--profile DIR] [--json]
 *   npx tsx bench/proxy.ts --report FILE     (the tables again from a saved output of --json)
 *
 * Subjects (one proxy process each, started afresh for every measurement):
 * - `library`: docs/examples/proxy.ts with a Balancer (round robin over the backends).
 * - `counter`: the same example code with a counter in place of the Balancer (`attempt()` returns the
 *   next backend of a rotation): what the example costs without the library's selection code.
 * - `plain`: a minimal node:net proxy written here (pause on connect, a counter over the backends,
 *   connect timer, pipe both ways with half-close): the anchor, no library and no example.
 * - `nginx`, `nginx2`: nginx stream, `worker_processes 1` and `2`, `proxy_pass` to an upstream of
 *   the same backends (round robin), `proxy_connect_timeout 5s`.
 *
 * Processes: the backends (one child, `--backends` node:net listeners on 127.0.0.1, each answers
 * `ping\n` with `pong\n` and closes), the client (one child per measurement: `--concurrency` loops
 * of connect, send `ping\n`, read `pong\n`, close), the proxy under test. Per measurement window:
 * sessions/s completed by the client, client errors, CPU per session of the proxy (utime + stime
 * from /proc/<pid>/stat, nginx's master and workers summed), of the client and of the backends, and
 * the machine's busy CPU from /proc/stat (what other processes used in the same window shows how
 * shared the machine was). Rounds alternate the subjects' order.
 *
 * `--profile DIR`: after the rounds, each node subject runs once more under `--cpu-prof`; the main
 * thread's samples inside the measurement window (the proxy notes process.hrtime at the window's
 * start and end; V8's profile timestamps are on the same monotonic clock) are split into the
 * library's own code (src/), the example, node:net/streams/events, native bindings (syscalls), GC.
 *
 * Every process started here is stopped at the end, on an error and on SIGINT/SIGTERM/SIGHUP: the
 * forked children exit when their IPC channel closes (so also when this process is killed), and
 * nginx (its own process group) has a watchdog shell that stops the group when its stdin closes.
 */

import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Balancer } from '../src/index';

const self = fileURLToPath(import.meta.url);
const BACKEND_HOST = '127.0.0.1';
const NGINX_LISTEN = '127.0.250.3';
const CLOCK_TICK_MICROS = 10_000; // getconf CLK_TCK = 100 on Linux
const SUBJECTS = ['library', 'counter', 'plain', 'nginx', 'nginx2'] as const;
type Subject = (typeof SUBJECTS)[number];

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------------------
// Processes started by the driver, and their cleanup.

const liveChildren = new Set<ChildProcess>();
const scratchDirs = new Set<string>();
/** nginx masters; each leads its own process group (master and workers). */
const nginxGroups = new Set<number>();

function started(child: ChildProcess): ChildProcess {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  return child;
}

function exitedOrTimeout(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Asks every live child to stop (watchdogs by closing their stdin), waits up to 3 s, removes scratch dirs. */
async function stopEverything(): Promise<void> {
  const children = [...liveChildren];
  for (const c of children) {
    if (c.stdin) c.stdin.end();
    else if (c.connected) c.disconnect();
    else c.kill('SIGTERM');
  }
  await Promise.all(children.map((c) => exitedOrTimeout(c, 3000)));
  for (const c of liveChildren) c.kill('SIGKILL');
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
  scratchDirs.clear();
}

function installCleanup(): void {
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      console.error(`\n${signal}: stopping every process started by the bench`);
      void stopEverything().finally(() => process.exit(130));
    });
  }
  // Last resort (an exception escaped): synchronous only.
  process.on('exit', () => {
    for (const group of nginxGroups) {
      try {
        process.kill(-group, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    for (const c of liveChildren) if (!nginxGroups.has(c.pid!)) c.kill('SIGTERM');
    for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** Forks this file in a role and waits for its first message. */
async function role<T>(args: string[], execArgv = process.execArgv): Promise<{ child: ChildProcess; first: T }> {
  const child = started(fork(self, args, { execArgv }));
  const first = await new Promise<T>((resolve, reject) => {
    child.once('message', (m: T) => resolve(m));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
  return { child, first };
}

function request<T>(child: ChildProcess, message: unknown): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m: T) => resolve(m));
    child.send(message as object);
  });
}

async function stopRole(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = exitedOrTimeout(child, 10_000);
  child.send('stop');
  await exited;
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** A role's message to the driver; nothing once the driver is gone (the role is exiting then). */
function tell(message: object): void {
  if (process.connected) process.send!(message);
}

/** A role exits when the driver goes away (its IPC channel closes), however the driver ended. */
function exitWithDriver(): void {
  process.on('disconnect', () => process.exit(0));
}

// ------------------------------------------------------------------------------------------------
// Roles.

async function runBackends(count: number): Promise<void> {
  exitWithDriver();
  const servers: net.Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => socket.end('pong\n'));
    });
    await new Promise<void>((r) => server.listen(0, BACKEND_HOST, 4096, () => r()));
    servers.push(server);
    ports.push((server.address() as net.AddressInfo).port);
  }
  process.on('message', () => {
    for (const s of servers) s.close();
    process.exit(0);
  });
  tell({ ports });
}

/** A Balancer-shaped counter: each attempt gets the next backend of a rotation, one try. */
function counterBalancer(ports: number[]): Balancer {
  const servers = ports.map((port, i) => ({ id: `b${i}`, address: `${BACKEND_HOST}:${port}` }));
  let turn = 0;
  const attempt = () => {
    let current: (typeof servers)[number] | undefined;
    let tried = false;
    return {
      get current() {
        return current;
      },
      next() {
        if (tried) return undefined;
        tried = true;
        current = servers[turn++ % servers.length];
        return current;
      },
      connected() {},
      fail() {
        current = undefined;
      },
      release() {
        current = undefined;
      },
    };
  };
  return { attempt } as unknown as Balancer;
}

/** The anchor: a minimal node:net proxy, a counter over the backends, no library. */
async function startPlainProxy(ports: number[]): Promise<{ port: number; close(): Promise<void> }> {
  let turn = 0;
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  };
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    track(client);
    const upstream = net.connect({ host: BACKEND_HOST, port: ports[turn++ % ports.length]!, allowHalfOpen: true });
    track(upstream);
    let piping = false;
    const timer = setTimeout(() => upstream.destroy(), 5000);
    upstream.once('connect', () => {
      clearTimeout(timer);
      piping = true;
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('close', (hadError) => {
      clearTimeout(timer);
      if (!piping || hadError || !client.writableEnded) client.destroy();
    });
    client.on('close', (hadError) => {
      if (!piping || hadError || !upstream.writableEnded) upstream.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', 511, () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

async function runNodeProxy(subject: string, ports: number[]): Promise<void> {
  exitWithDriver();
  let proxy: { port: number; close(): Promise<void> };
  if (subject === 'plain') proxy = await startPlainProxy(ports);
  else {
    const { Balancer } = await import('../src/index');
    const { startProxy } = await import('../docs/examples/proxy');
    const balancer =
      subject === 'counter' ? counterBalancer(ports) : new Balancer({ servers: ports.map((port, i) => ({ id: `b${i}`, address: `${BACKEND_HOST}:${port}` })) });
    proxy = await startProxy({ balancer, port: 0, connectTimeout: 5000 });
  }
  // The measurement window on the monotonic clock V8's profiler stamps its samples with.
  let windowStart = 0n;
  process.on('message', (m: string) => {
    if (m === 'mark') {
      windowStart = process.hrtime.bigint();
      tell({});
    } else if (m === 'unmark') {
      tell({ startMicros: Number(windowStart / 1000n), endMicros: Number(process.hrtime.bigint() / 1000n) });
    } else void proxy.close().then(() => process.exit(0));
  });
  tell({ port: proxy.port });
}

async function runClient(port: number, host: string, concurrency: number): Promise<void> {
  exitWithDriver();
  let done = 0;
  let errors = 0;
  let running = true;
  const once = (): Promise<void> =>
    new Promise((resolve) => {
      const socket = net.connect(port, host);
      let reply = '';
      socket.on('connect', () => socket.write('ping\n'));
      socket.on('data', (d: Buffer) => {
        reply += d.toString('latin1');
      });
      socket.on('error', () => {});
      socket.on('close', () => {
        if (reply === 'pong\n') done += 1;
        else errors += 1;
        resolve();
      });
    });
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) await once();
  });
  process.on('message', (m: string) => {
    if (m === 'count') tell({ done, errors });
    else {
      running = false;
      void Promise.all(loops).then(() => process.exit(0));
    }
  });
  tell({ ready: true });
}

// ------------------------------------------------------------------------------------------------
// Measurement.

/** utime + stime of one process, µs (10 ms resolution); 0 once it is gone. */
function processCpuMicros(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * CLOCK_TICK_MICROS;
  } catch {
    return 0;
  }
}

/** The child pids of `pid` (nginx's workers). */
function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Busy CPU of the whole machine (all CPUs), µs. */
function machineBusyMicros(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - f[3]! - f[4]!) * CLOCK_TICK_MICROS;
}

interface Window {
  sessions: number;
  sessionsPerSecond: number;
  errors: number;
  proxyMicrosPerSession: number;
  clientMicrosPerSession: number;
  backendMicrosPerSession: number;
  /** CPUs busy on the machine outside the proxy, client and backends during the window. */
  otherCpus: number;
}

interface Target {
  port: number;
  host: string;
  pids: () => number[];
  /** Called just before and just after the window (the node proxy notes its clock). */
  mark?: () => Promise<void>;
  unmark?: () => Promise<void>;
}

async function measure(target: Target, backendPid: number, concurrency: number, warmup: number, seconds: number): Promise<Window> {
  const client = await role<{ ready: boolean }>(['--client', String(target.port), '--host', target.host, '--concurrency', String(concurrency)]);
  try {
    const cpuOf = (pids: number[]) => pids.reduce((a, p) => a + processCpuMicros(p), 0);
    await sleep(warmup * 1000);
    await target.mark?.();
    const c0 = await request<{ done: number; errors: number }>(client.child, 'count');
    const proxy0 = cpuOf(target.pids());
    const client0 = processCpuMicros(client.child.pid!);
    const backends0 = processCpuMicros(backendPid);
    const machine0 = machineBusyMicros();
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const c1 = await request<{ done: number; errors: number }>(client.child, 'count');
    await target.unmark?.();
    const proxy = cpuOf(target.pids()) - proxy0;
    const clientCpu = processCpuMicros(client.child.pid!) - client0;
    const backends = processCpuMicros(backendPid) - backends0;
    const machine = machineBusyMicros() - machine0;
    const elapsedMicros = (performance.now() - t0) * 1000;
    const sessions = c1.done - c0.done;
    return {
      sessions,
      sessionsPerSecond: sessions / (elapsedMicros / 1e6),
      errors: c1.errors - c0.errors,
      proxyMicrosPerSession: proxy / sessions,
      clientMicrosPerSession: clientCpu / sessions,
      backendMicrosPerSession: backends / sessions,
      otherCpus: Math.max(0, machine - proxy - clientCpu - backends) / elapsedMicros,
    };
  } finally {
    await stopRole(client.child);
  }
}

interface ProfileRun {
  window: Window;
  file: string;
  startMicros: number;
  endMicros: number;
}

async function nodeRun(subject: string, ports: number[], backendPid: number, concurrency: number, warmup: number, seconds: number, profileDir?: string) {
  const execArgv = profileDir ? [...process.execArgv, '--cpu-prof', `--cpu-prof-dir=${profileDir}`] : process.execArgv;
  const proxy = await role<{ port: number }>(['--node-proxy', subject, '--ports', ports.join(',')], execArgv);
  let window: Window;
  let span = { startMicros: 0, endMicros: 0 };
  try {
    window = await measure(
      {
        port: proxy.first.port,
        host: '127.0.0.1',
        pids: () => [proxy.child.pid!],
        mark: () => request(proxy.child, 'mark'),
        unmark: async () => void (span = await request(proxy.child, 'unmark')),
      },
      backendPid,
      concurrency,
      warmup,
      seconds,
    );
  } finally {
    await stopRole(proxy.child);
  }
  // The main thread's profile: CPU.<date>.<time>.<pid>.0.<seq>.cpuprofile (thread 1 is tsx's loader).
  const file = profileDir ? readdirSync(profileDir).find((f) => f.includes(`.${proxy.child.pid}.0.`) && f.endsWith('.cpuprofile')) : undefined;
  return { window, file: file ? path.join(profileDir!, file) : '', ...span };
}

async function freePort(host: string): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, host, () => r()));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((r) => probe.close(r));
  return port;
}

async function nginxRun(workers: number, ports: number[], backendPid: number, concurrency: number, warmup: number, seconds: number): Promise<Window> {
  const prefix = mkdtempSync(path.join(os.tmpdir(), 'ub-nginx-'));
  scratchDirs.add(prefix);
  mkdirSync(path.join(prefix, 'logs'));
  const listenPort = await freePort(NGINX_LISTEN);
  const conf = [
    'load_module /usr/lib/nginx/modules/ngx_stream_module.so;',
    `worker_processes ${workers};`,
    'daemon off;',
    'master_process on;',
    `pid ${prefix}/nginx.pid;`,
    `error_log ${prefix}/logs/error.log warn;`,
    'events { worker_connections 4096; }',
    'stream {',
    '  upstream backends {',
    ...ports.map((p) => `    server ${BACKEND_HOST}:${p};`),
    '  }',
    `  server { listen ${NGINX_LISTEN}:${listenPort}; proxy_pass backends; proxy_connect_timeout 5s; }`,
    '}',
  ].join('\n');
  writeFileSync(path.join(prefix, 'nginx.conf'), conf + '\n');
  // Its own process group, so that the watchdog can stop master and workers together.
  const nginx = started(
    spawn('/usr/sbin/nginx', ['-p', prefix, '-c', path.join(prefix, 'nginx.conf'), '-e', path.join(prefix, 'logs/error.log')], {
      stdio: 'ignore',
      detached: true,
    }),
  );
  const master = nginx.pid!;
  nginxGroups.add(master);
  // Stops the group and removes the prefix when its stdin closes: when told to, or when this
  // process dies, however it dies.
  const watchdogScript = [
    `trap '' INT TERM HUP; read _; kill -s TERM -- -${master} 2>/dev/null`,
    `while kill -0 -- -${master} 2>/dev/null; do sleep 0.1; done; rm -rf '${prefix}'; exit 0`,
  ].join('; ');
  const watchdog = started(spawn('/bin/sh', ['-c', watchdogScript], { stdio: ['pipe', 'ignore', 'ignore'] }));
  try {
    for (let i = 0; i < 50 && childPids(master).length < workers && nginx.exitCode === null; i++) await sleep(50);
    await sleep(200);
    if (nginx.exitCode !== null || childPids(master).length < workers) {
      throw new Error(`nginx did not start: ${readFileSync(path.join(prefix, 'logs/error.log'), 'utf8')}`);
    }
    return await measure({ port: listenPort, host: NGINX_LISTEN, pids: () => [master, ...childPids(master)] }, backendPid, concurrency, warmup, seconds);
  } finally {
    watchdog.stdin!.end();
    await exitedOrTimeout(nginx, 5000);
    if (nginx.exitCode === null && nginx.signalCode === null) process.kill(-master, 'SIGKILL');
    await exitedOrTimeout(watchdog, 2000);
    nginxGroups.delete(master);
    rmSync(prefix, { recursive: true, force: true });
    scratchDirs.delete(prefix);
  }
}

// ------------------------------------------------------------------------------------------------
// Profile.

const PROFILE_PARTS = [
  'library (src/)',
  'example (docs/examples/proxy.ts)',
  "example's address reads (getpeername, getsockname)",
  'anchor and harness (bench/proxy.ts)',
  "tsx's __name helper",
  'node:net, streams, events, timers (JS; connect() is charged to internalConnect)',
  'native bindings with own frames (writeBuffer, close, shutdown, ...)',
  'GC',
  '(program): V8/libuv outside JS',
  'other',
] as const;

function partOf(functionName: string, url: string): (typeof PROFILE_PARTS)[number] {
  if (functionName === '__name') return "tsx's __name helper";
  if (functionName === 'Socket._getpeername' || functionName === 'Socket._getsockname') return "example's address reads (getpeername, getsockname)";
  if (url.includes('/src/')) return 'library (src/)';
  if (url.includes('/docs/examples/')) return 'example (docs/examples/proxy.ts)';
  if (url.includes('/bench/')) return 'anchor and harness (bench/proxy.ts)';
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(program)') return '(program): V8/libuv outside JS';
  if (url.startsWith('node:')) return 'node:net, streams, events, timers (JS; connect() is charged to internalConnect)';
  if (url === '') return 'native bindings with own frames (writeBuffer, close, shutdown, ...)';
  return 'other';
}

interface ProfileSummary {
  busySamples: number;
  windowMs: number;
  /** Share of the main thread's busy time, by part (sums to 1). */
  shares: Record<string, number>;
  /** The library's share by file. */
  libraryFiles: Record<string, number>;
}

/**
 * Self time of the samples inside [startMicros, endMicros], idle excluded, as shares of the busy
 * time. Shares, not µs: a sample's time delta is wall time, so on a shared machine a stretch where
 * the thread waited for a CPU is charged to whatever ran next; the shares stay fair on average and
 * the driver scales them by the process's measured CPU per session.
 */
function summariseProfile(run: ProfileRun): ProfileSummary {
  const p = JSON.parse(readFileSync(run.file, 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string } }[];
    startTime: number;
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const parts: Record<string, number> = {};
  const files: Record<string, number> = {};
  let busy = 0;
  let busySamples = 0;
  let at = p.startTime;
  let first = Infinity;
  let last = 0;
  p.samples.forEach((id, i) => {
    const delta = p.timeDeltas[i] ?? 0;
    at += delta;
    if (at < run.startMicros || at > run.endMicros) return;
    first = Math.min(first, at);
    last = at;
    const f = byId.get(id)!;
    if (f.functionName === '(idle)') return;
    busy += delta;
    busySamples += 1;
    const part = partOf(f.functionName, f.url);
    parts[part] = (parts[part] ?? 0) + delta;
    if (part === 'library (src/)') {
      const file = f.url.slice(f.url.indexOf('/src/') + 1);
      files[file] = (files[file] ?? 0) + delta;
    }
  });
  const share = (r: Record<string, number>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v / busy]));
  return { busySamples, windowMs: last > first ? (last - first) / 1000 : 0, shares: share(parts), libraryFiles: share(files) };
}

// ------------------------------------------------------------------------------------------------
// Driver.

interface Row extends Window {
  concurrency: number;
  round: number;
  subject: Subject;
}

const fmt = (n: number, digits = 0) => n.toFixed(digits);
const range = (xs: number[], digits = 0) => {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return fmt(lo, digits) === fmt(hi, digits) ? fmt(lo, digits) : `${fmt(lo, digits)}–${fmt(hi, digits)}`;
};

function printTables(rows: Row[], subjects: Subject[]): void {
  const levels = [...new Set(rows.map((r) => r.concurrency))];
  console.log(
    '\n| concurrency | subject | sessions/s | client errors | proxy µs CPU/session | ÷ plain (same round) | ÷ nginx (same round) | client µs/session | backends µs/session | other CPUs busy |',
  );
  console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const c of levels) {
    for (const s of subjects) {
      const mine = rows.filter((r) => r.concurrency === c && r.subject === s);
      const ratiosTo = (anchor: Subject) => {
        const ratios = mine.flatMap((r) => {
          const a = rows.find((x) => x.concurrency === c && x.round === r.round && x.subject === anchor);
          return a ? [r.proxyMicrosPerSession / a.proxyMicrosPerSession] : [];
        });
        return ratios.length ? range(ratios, 2) : '–';
      };
      console.log(
        `| ${c} | ${s} | ${range(mine.map((r) => r.sessionsPerSecond))} | ${mine.reduce((a, r) => a + r.errors, 0)} | ${range(mine.map((r) => r.proxyMicrosPerSession))} | ${ratiosTo('plain')} | ${ratiosTo('nginx')} | ${range(mine.map((r) => r.clientMicrosPerSession))} | ${range(mine.map((r) => r.backendMicrosPerSession))} | ${range(mine.map((r) => r.otherCpus), 2)} |`,
      );
    }
  }
}

interface Profiled {
  concurrency: number;
  subject: string;
  summary: ProfileSummary;
  window: Window;
}

function printProfiles(profiles: Profiled[]): void {
  if (profiles.length === 0) return;
  const head = profiles.map((p) => `${p.subject} c=${p.concurrency}`);
  console.log(`\nProfile, main thread, measurement window only: % of busy time (µs/session = share × the run's proxy CPU/session):\n`);
  console.log(`| part | ${head.join(' | ')} |`);
  console.log(`| --- | ${head.map(() => '---:').join(' | ')} |`);
  const cell = (p: Profiled, share: number) => `${fmt(100 * share, 1)} % (${fmt(share * p.window.proxyMicrosPerSession, 1)})`;
  for (const part of PROFILE_PARTS) {
    if (!profiles.some((p) => p.summary.shares[part])) continue;
    console.log(`| ${part} | ${profiles.map((p) => cell(p, p.summary.shares[part] ?? 0)).join(' | ')} |`);
  }
  console.log(`| proxy CPU µs/session (profiled run) | ${profiles.map((p) => fmt(p.window.proxyMicrosPerSession)).join(' | ')} |`);
  console.log(`| sessions/s (profiled run) | ${profiles.map((p) => fmt(p.window.sessionsPerSecond)).join(' | ')} |`);
  console.log(`| busy samples; window ms | ${profiles.map((p) => `${p.summary.busySamples}; ${fmt(p.summary.windowMs)}`).join(' | ')} |`);
  for (const p of profiles) {
    const files = Object.entries(p.summary.libraryFiles).sort((a, b) => b[1] - a[1]);
    if (files.length) console.log(`\n${p.subject} c=${p.concurrency}, library by file: ${files.map(([f, v]) => cell(p, v)).map((c, i) => `${files[i]![0]} ${c}`).join(', ')}`);
  }
}

/** `--report FILE`: the tables again from a saved run's output (printed with `--json`). */
function reprint(file: string): void {
  const text = readFileSync(file, 'utf8');
  const saved = JSON.parse(text.slice(text.indexOf('\n{\n') + 1, text.lastIndexOf('\n}') + 2)) as { rows: Row[]; profiles: Profiled[] };
  const subjects = SUBJECTS.filter((s) => saved.rows.some((r) => r.subject === s));
  printTables(saved.rows, subjects);
  printProfiles(saved.profiles);
}

async function main(): Promise<void> {
  if (process.argv.includes('--report')) return reprint(arg('report', ''));
  installCleanup();
  const backends = Number(arg('backends', '4'));
  const levels = arg('concurrency', '8,32,128').split(',').map(Number);
  const seconds = Number(arg('seconds', '10'));
  const warmup = Number(arg('warmup', '2'));
  const rounds = Number(arg('rounds', '3'));
  const subjects = arg('subjects', SUBJECTS.join(',')).split(',') as Subject[];
  for (const s of subjects) if (!SUBJECTS.includes(s)) throw new Error(`unknown subject ${s}; known: ${SUBJECTS.join(', ')}`);
  const profileDir = process.argv.includes('--profile') ? path.resolve(arg('profile', 'proxy-profile')) : undefined;
  console.log(`node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model}), load average at start ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const back = await role<{ ports: number[] }>(['--role-backends', String(backends)]);
  const ports = back.first.ports;
  const backendPid = back.child.pid!;
  const rows: Row[] = [];
  const profiles: Profiled[] = [];
  try {
    for (const concurrency of levels) {
      for (let round = 0; round < rounds; round++) {
        // Rotate the order each round; odd rounds also reverse it.
        const rotated = subjects.map((_, i) => subjects[(i + round) % subjects.length]!);
        const order = round % 2 === 1 ? rotated.reverse() : rotated;
        for (const subject of order) {
          const w =
            subject === 'nginx' || subject === 'nginx2'
              ? await nginxRun(subject === 'nginx' ? 1 : 2, ports, backendPid, concurrency, warmup, seconds)
              : (await nodeRun(subject, ports, backendPid, concurrency, warmup, seconds)).window;
          rows.push({ concurrency, round, subject, ...w });
          console.log(
            `c=${concurrency} round ${round} ${subject.padEnd(8)} ${fmt(w.sessionsPerSecond).padStart(6)} sessions/s, ${w.errors} errors, proxy ${fmt(w.proxyMicrosPerSession, 1)} µs/session, client ${fmt(w.clientMicrosPerSession, 1)}, backends ${fmt(w.backendMicrosPerSession, 1)}, other CPUs busy ${fmt(w.otherCpus, 2)}`,
          );
        }
      }
      if (profileDir) {
        mkdirSync(profileDir, { recursive: true });
        for (const subject of subjects.filter((s) => s !== 'nginx' && s !== 'nginx2')) {
          const run = await nodeRun(subject, ports, backendPid, concurrency, warmup, seconds, profileDir);
          if (!run.file) throw new Error(`no main-thread profile for ${subject} in ${profileDir}`);
          profiles.push({ concurrency, subject, summary: summariseProfile(run), window: run.window });
          console.log(`c=${concurrency} profiled ${subject}: ${fmt(run.window.sessionsPerSecond)} sessions/s (${run.file})`);
        }
      }
    }
    console.log(`load average at end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    printTables(rows, subjects);
    printProfiles(profiles);
    if (process.argv.includes('--json')) console.log(JSON.stringify({ node: process.version, backends, seconds, warmup, rows, profiles }, null, 2));
  } finally {
    await stopRole(back.child);
    await stopEverything();
  }
}

if (process.argv.includes('--role-backends')) void runBackends(Number(arg('role-backends', '4')));
else if (process.argv.includes('--node-proxy')) void runNodeProxy(arg('node-proxy', 'library'), arg('ports', '').split(',').map(Number));
else if (process.argv.includes('--client')) void runClient(Number(arg('client', '0')), arg('host', '127.0.0.1'), Number(arg('concurrency', '32')));
else
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
