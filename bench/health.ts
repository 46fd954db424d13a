/**
 * Active-check scale run: N servers (default 1000) checked every second over loopback for a few
 * seconds (default 10) with the `tcp` probe, then the same with `smtp`.
 *
 *   npx tsx bench/health.ts [--servers 1000] [--seconds 10] [--interval 1000] [--types tcp,smtp]
 *
 * The peers run in a child process (one node:net listener per server on 127.0.0.1; SMTP peers send
 * a 220 banner, answer EHLO with a multi-line 250 and close on QUIT), so the CPU time measured here
 * is the checker's and the probes' alone. Reports, per run: checks/s, results ok, CPU time per check
 * (process.cpuUsage delta / checks), event-loop delay p50/p99 (perf_hooks.monitorEventLoopDelay,
 * sampled every 1 ms, so the values include that 1 ms), check duration p50/p99, and the socket
 * handles left open in this process after `close()` (must be 0; the exit code says so). Not part of
 * `npm test`.
 */

import { fork, type ChildProcess } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Checker, checkPhase, type CheckHost } from '../src/health/checker';
import { initialRiseFall, observeCheck, type RiseFallState } from '../src/health/rise-fall';
import { resolveCheck, type BuiltinCheckType } from '../src/options';

// ------------------------------------------------------------------------------------------------
// Peer process: `--peers N` starts N listeners and prints their ports.

async function runPeers(count: number): Promise<void> {
  const net = await import('node:net');
  const ports: number[] = [];
  const servers: import('node:net').Server[] = [];
  for (let i = 0; i < count; i++) {
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      if (process.env.PEER_TYPE !== 'smtp') return; // tcp: accept and stay silent
      socket.write('220 bench.local ESMTP\r\n');
      let buf = '';
      socket.on('data', (d) => {
        buf += d.toString('latin1');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim().toUpperCase();
          buf = buf.slice(nl + 1);
          if (line.startsWith('EHLO')) socket.write('250-bench.local\r\n250-PIPELINING\r\n250 8BITMIME\r\n');
          else if (line === 'QUIT') socket.end('221 bye\r\n');
          else socket.write('502 unknown\r\n');
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', 4096, () => r()));
    ports.push((server.address() as import('node:net').AddressInfo).port);
    servers.push(server);
  }
  process.send!({ ports });
  process.on('message', () => {
    for (const s of servers) s.close();
    process.exit(0);
  });
}

// ------------------------------------------------------------------------------------------------
// Driver.

interface RunResult {
  type: string;
  servers: number;
  seconds: number;
  checks: number;
  ok: number;
  checksPerSecond: number;
  cpuMicrosPerCheck: number;
  loopDelayP50ms: number;
  loopDelayP99ms: number;
  checkP50ms: number;
  checkP99ms: number;
  openSocketsAfterClose: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

function startPeers(count: number, type: string): Promise<{ child: ChildProcess; ports: number[] }> {
  const child = fork(fileURLToPath(import.meta.url), ['--peers', String(count)], {
    env: { ...process.env, PEER_TYPE: type },
    execArgv: process.execArgv,
  });
  return new Promise((resolve, reject) => {
    child.once('message', (m: { ports: number[] }) => resolve({ child, ports: m.ports }));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`peer process exited with ${code}`)));
  });
}

const socketHandles = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function run(type: BuiltinCheckType, servers: number, seconds: number, interval: number): Promise<RunResult> {
  const { child, ports } = await startPeers(servers, type);
  const options = resolveCheck({ type, interval, timeout: 1000, rise: 2, fall: 5, smtpHelo: 'bench.local' });
  const targets = ports.map((port, i) => ({ id: `s${i}`, address: `127.0.0.1:${port}` }));
  const states = new Map<string, RiseFallState>(targets.map((t) => [t.id, initialRiseFall(true)]));
  const durations: number[] = [];
  let checks = 0;
  let ok = 0;
  const host: CheckHost = {
    targets: () => targets,
    report(id, passed, _reason, ms) {
      checks += 1;
      if (passed) ok += 1;
      durations.push(ms);
      observeCheck(states.get(id)!, passed, options.rise, options.fall);
    },
    phase: (id) => checkPhase(states.get(id)!),
  };
  const checker = new Checker(options, host);
  const loop = monitorEventLoopDelay({ resolution: 1 });
  const before = socketHandles();
  loop.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  checker.start();
  // Keep the process alive: the checker's timers are unref()ed.
  await new Promise((r) => setTimeout(r, seconds * 1000));
  await checker.close();
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  loop.disable();
  const openSocketsAfterClose = socketHandles() - before;
  child.send('stop');
  await new Promise((r) => child.once('exit', r));
  durations.sort((a, b) => a - b);
  return {
    type,
    servers,
    seconds: Number(elapsed.toFixed(2)),
    checks,
    ok,
    checksPerSecond: Number((checks / elapsed).toFixed(1)),
    cpuMicrosPerCheck: Number(((cpu.user + cpu.system) / checks).toFixed(1)),
    loopDelayP50ms: Number((loop.percentile(50) / 1e6).toFixed(2)),
    loopDelayP99ms: Number((loop.percentile(99) / 1e6).toFixed(2)),
    checkP50ms: Number(percentile(durations, 0.5).toFixed(2)),
    checkP99ms: Number(percentile(durations, 0.99).toFixed(2)),
    openSocketsAfterClose,
  };
}

async function main(): Promise<void> {
  const servers = Number(arg('servers', '1000'));
  const seconds = Number(arg('seconds', '10'));
  const interval = Number(arg('interval', '1000'));
  const types = arg('types', 'tcp,smtp').split(',') as BuiltinCheckType[];
  const results: RunResult[] = [];
  for (const type of types) {
    const r = await run(type, servers, seconds, interval);
    results.push(r);
    console.log(
      `${r.type}: ${r.servers} servers, ${r.seconds}s, ${r.checks} checks (${r.ok} ok), ${r.checksPerSecond} checks/s, ` +
        `${r.cpuMicrosPerCheck} µs CPU/check, loop delay p50 ${r.loopDelayP50ms} ms p99 ${r.loopDelayP99ms} ms, ` +
        `check p50 ${r.checkP50ms} ms p99 ${r.checkP99ms} ms, open sockets after close: ${r.openSocketsAfterClose}`,
    );
  }
  console.log(JSON.stringify({ node: process.version, results }, null, 2));
  if (results.some((r) => r.openSocketsAfterClose !== 0)) process.exitCode = 1;
}

if (process.argv.includes('--peers')) void runPeers(Number(arg('peers', '0')));
else void main();
