/**
 * The balancer in a real proxy (issue 18, item 5): connections per second through the reference
 * proxy (docs/examples/proxy.ts, a Balancer with round robin) against Debian's nginx stream proxy
 * (`/usr/sbin/nginx` with `ngx_stream_module.so`, one worker, started here on a scratch prefix with
 * its own config and stopped at the end), on the same loopback backends with the same client
 * concurrency. A figure to report, not a target.
 *
 *   npx tsx bench/proxy.ts [--backends 4] [--concurrency 32] [--seconds 10] [--warmup 2] [--rounds 3]
 *                          [--subjects library,nginx] [--profile DIR]
 *
 * Processes: the backends (one child, `--backends` node:net listeners on 127.0.0.1, each answers
 * `ping\n` with `pong\n` and closes), the client (one child: `--concurrency` loops of connect, send
 * `ping\n`, read `pong\n`, close), and the proxy under test (the reference proxy in its own child,
 * or nginx). Reported per subject: sessions/s completed by the client, client errors, the proxy's
 * CPU per session (process.cpuUsage in the node proxy; utime + stime of nginx's worker and master
 * from /proc), and with `--profile DIR` the node proxy runs under --cpu-prof: the share of its busy
 * time spent in the library's own code (src/), the rest being node:net, streams, the proxy's code
 * and the garbage collector.
 */

import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);
const BACKEND_HOST = '127.0.0.1';
const NGINX_LISTEN = '127.0.250.3';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Forks this file in a role and waits for its first message. */
async function role<T>(args: string[], execArgv = process.execArgv): Promise<{ child: ChildProcess; first: T }> {
  const child = fork(self, args, { execArgv });
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

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.send('stop');
  await exited;
}

// ------------------------------------------------------------------------------------------------
// Roles.

async function runBackends(count: number): Promise<void> {
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
  process.send!({ ports });
}

async function runLibraryProxy(ports: number[]): Promise<void> {
  const { Balancer } = await import('../src/index');
  const { startProxy } = await import('../docs/examples/proxy');
  const balancer = new Balancer({ servers: ports.map((port, i) => ({ id: `b${i}`, address: `${BACKEND_HOST}:${port}` })) });
  const proxy = await startProxy({ balancer, port: 0, connectTimeout: 5000 });
  let cpu0 = process.cpuUsage();
  process.on('message', (m: string) => {
    if (m === 'mark') {
      cpu0 = process.cpuUsage();
      process.send!({});
    } else if (m === 'cpu') {
      const c = process.cpuUsage(cpu0);
      process.send!({ micros: c.user + c.system });
    } else void proxy.close().then(() => process.exit(0));
  });
  process.send!({ port: proxy.port });
}

async function runClient(port: number, host: string, concurrency: number): Promise<void> {
  let done = 0;
  let errors = 0;
  let running = true;
  const once = (): Promise<void> =>
    new Promise((resolve) => {
      const socket = net.connect(port, host);
      let reply = '';
      let ok = false;
      socket.on('connect', () => socket.write('ping\n'));
      socket.on('data', (d: Buffer) => {
        reply += d.toString('latin1');
        if (reply === 'pong\n') ok = true;
      });
      socket.on('error', () => {});
      socket.on('close', () => {
        if (ok) done += 1;
        else errors += 1;
        resolve();
      });
    });
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) await once();
  });
  process.on('message', (m: string) => {
    if (m === 'count') process.send!({ done, errors });
    else {
      running = false;
      void Promise.all(loops).then(() => process.exit(0));
    }
  });
  process.send!({ ready: true });
}

// ------------------------------------------------------------------------------------------------
// Driver.

interface Row {
  round: number;
  subject: string;
  sessionsPerSecond: number;
  errors: number;
  cpuMicrosPerSession: number;
}

function procCpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10_000;
}

async function measure(port: number, host: string, concurrency: number, warmup: number, seconds: number, mark: () => Promise<void>, cpu: () => Promise<number>) {
  const client = await role<{ ready: boolean }>(['--client', String(port), '--host', host, '--concurrency', String(concurrency)]);
  try {
    await sleep(warmup * 1000);
    const c0 = await request<{ done: number; errors: number }>(client.child, 'count');
    await mark();
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const c1 = await request<{ done: number; errors: number }>(client.child, 'count');
    const micros = await cpu();
    const elapsed = (performance.now() - t0) / 1000;
    const sessions = c1.done - c0.done;
    return { sessionsPerSecond: sessions / elapsed, errors: c1.errors - c0.errors, cpuMicrosPerSession: micros / sessions };
  } finally {
    await stop(client.child);
  }
}

async function libraryRun(ports: number[], concurrency: number, warmup: number, seconds: number, profileDir: string | undefined) {
  const execArgv = profileDir ? [...process.execArgv, '--cpu-prof', `--cpu-prof-dir=${profileDir}`] : process.execArgv;
  const proxy = await role<{ port: number }>(['--library-proxy', ports.join(',')], execArgv);
  try {
    return await measure(
      proxy.first.port,
      '127.0.0.1',
      concurrency,
      warmup,
      seconds,
      () => request(proxy.child, 'mark'),
      async () => (await request<{ micros: number }>(proxy.child, 'cpu')).micros,
    );
  } finally {
    await stop(proxy.child);
  }
}

async function nginxRun(ports: number[], concurrency: number, warmup: number, seconds: number) {
  const prefix = mkdtempSync(path.join(os.tmpdir(), 'ub-nginx-'));
  mkdirSync(path.join(prefix, 'logs'));
  const conf = [
    'load_module /usr/lib/nginx/modules/ngx_stream_module.so;',
    'worker_processes 1;',
    'daemon off;',
    'master_process on;',
    `pid ${prefix}/nginx.pid;`,
    `error_log ${prefix}/logs/error.log warn;`,
    'events { worker_connections 4096; }',
    'stream {',
    '  upstream backends {',
    ...ports.map((p) => `    server ${BACKEND_HOST}:${p};`),
    '  }',
    `  server { listen ${NGINX_LISTEN}:22100; proxy_pass backends; proxy_connect_timeout 5s; }`,
    '}',
  ].join('\n');
  writeFileSync(path.join(prefix, 'nginx.conf'), conf + '\n');
  const child = spawn('/usr/sbin/nginx', ['-p', prefix, '-c', path.join(prefix, 'nginx.conf'), '-e', path.join(prefix, 'logs/error.log')], {
    stdio: 'ignore',
  });
  const exited = new Promise((r) => child.once('exit', r));
  try {
    await sleep(500);
    if (child.exitCode !== null) throw new Error(`nginx exited: ${readFileSync(path.join(prefix, 'logs/error.log'), 'utf8')}`);
    const pids = (): number[] => [child.pid!, ...readChildren(child.pid!)];
    let c0 = 0;
    return await measure(
      22100,
      NGINX_LISTEN,
      concurrency,
      warmup,
      seconds,
      async () => void (c0 = pids().reduce((a, p) => a + procCpuMicros(p), 0)),
      async () => pids().reduce((a, p) => a + procCpuMicros(p), 0) - c0,
    );
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(prefix, { recursive: true, force: true });
  }
}

/** The child pids of `pid` (nginx's worker), from /proc/<pid>/task/<pid>/children. */
function readChildren(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Share of the busy time of a .cpuprofile spent in the library's sources (src/) and in each part. */
function profileShares(file: string): Record<string, number> {
  const p = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parts: Record<string, number> = {};
  let busy = 0;
  p.samples.forEach((id, i) => {
    const f = byId.get(id)!.callFrame;
    if (f.functionName === '(idle)') return;
    const t = p.timeDeltas[i] ?? 0;
    busy += t;
    const part = /\/src\//.test(f.url)
      ? 'library (src/)'
      : /docs\/examples/.test(f.url)
        ? 'proxy example'
        : f.functionName === '(garbage collector)'
          ? 'GC'
          : /^node:|^$/.test(f.url)
            ? 'node (net, streams, events, syscalls)'
            : 'loader and other';
    parts[part] = (parts[part] ?? 0) + t;
  });
  for (const k of Object.keys(parts)) parts[k] = Number(((100 * parts[k]!) / busy).toFixed(2));
  return parts;
}

async function main(): Promise<void> {
  const backends = Number(arg('backends', '4'));
  const concurrency = Number(arg('concurrency', '32'));
  const seconds = Number(arg('seconds', '10'));
  const warmup = Number(arg('warmup', '2'));
  const rounds = Number(arg('rounds', '3'));
  const subjects = arg('subjects', 'library,nginx').split(',');
  const profileDir = process.argv.includes('--profile') ? path.resolve(arg('profile', 'proxy-profile')) : undefined;
  const back = await role<{ ports: number[] }>(['--role-backends', String(backends)]);
  const rows: Row[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const order = subjects.map((_, i) => subjects[(i + round) % subjects.length]!);
      for (const subject of order) {
        const r = subject === 'nginx' ? await nginxRun(back.first.ports, concurrency, warmup, seconds) : await libraryRun(back.first.ports, concurrency, warmup, seconds, undefined);
        rows.push({ round, subject, ...r });
        console.log(`round ${round} ${subject}: ${r.sessionsPerSecond.toFixed(0)} sessions/s, ${r.errors} errors, ${r.cpuMicrosPerSession.toFixed(1)} µs proxy CPU/session`);
      }
    }
    let shares: Record<string, number> | undefined;
    if (profileDir) {
      mkdirSync(profileDir, { recursive: true });
      const before = new Set(readdirSync(profileDir));
      const r = await libraryRun(back.first.ports, concurrency, warmup, seconds, profileDir);
      const file = readdirSync(profileDir).find((f) => !before.has(f) && f.endsWith('.cpuprofile'));
      if (file) shares = profileShares(path.join(profileDir, file));
      console.log(`profiled library run: ${r.sessionsPerSecond.toFixed(0)} sessions/s; busy time by part (%):`, shares);
    }
    console.log(JSON.stringify({ node: process.version, backends, concurrency, seconds, rows, profileShares: shares }, null, 2));
  } finally {
    await stop(back.child);
  }
}

if (process.argv.includes('--role-backends')) void runBackends(Number(arg('role-backends', '4')));
else if (process.argv.includes('--library-proxy')) void runLibraryProxy(arg('library-proxy', '').split(',').map(Number));
else if (process.argv.includes('--client')) void runClient(Number(arg('client', '0')), arg('host', '127.0.0.1'), Number(arg('concurrency', '32')));
else void main();
