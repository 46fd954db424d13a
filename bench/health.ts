/**
 * Active checks at scale, side by side with their anchors (issue 18, item 1): N servers checked
 * every `interval` ms over loopback by
 * - `library`: the Checker (src/health/checker.ts, from dist/: build first; UB_SRC=1 for src/) with the
 *   built-in probe, in its own process;
 * - `library-exact`: the same with `startWindow: 0` (each check started at its own due time, one
 *   wake-up each, instead of the default window's shared wake-ups);
 * - `plain`: a plain node:net loop in its own process, spread over the interval as the library is
 *   (one 1 ms ticker starts the servers whose slot falls in that ms; tcp: connect then close; smtp:
 *   banner, EHLO, QUIT);
 * - `plain-window`: the same plain loop on a ticker of the library's default start window for N
 *   servers at this interval (every server whose slot has passed): the same sharing of wake-ups;
 * - `burst`: the same plain loop starting all N servers at once, every interval;
 * - `plain-look` (tcp): the plain loop with the tcp probe's look: a connect passes unless the peer
 *   closes or errors by the next poll, the socket reading until then (two `setImmediate` hops shared
 *   by the connects of one poll, as src/health/probes/tcp.ts does): what the look costs a plain loop;
 * - `plain-reset`: the plain loop closing a passed check with an RST (`resetAndDestroy`), as
 *   HAProxy's plain `check` does (SO_LINGER 0), instead of a FIN;
 * - `ticker`: the plain loop's 1 ms ticker and its slot arithmetic with no connection made (each
 *   due slot counted as a check): the fixed cost of waking for the spread, per check;
 * - `haproxy`: Debian's HAProxy (`/usr/sbin/haproxy`, `nbthread 1`, `check inter <interval>`,
 *   `option smtpchk EHLO bench.local` for smtp), started here with its own config in a temp dir,
 *   never as the system service, and stopped at the end.
 *
 *   npx tsx bench/health.ts [--servers 1000] [--seconds 10] [--warmup 3] [--interval 1000]
 *                           [--types tcp,smtp] [--subjects library,library-exact,plain,plain-window,plain-look,plain-reset,ticker,burst,haproxy] [--rounds 1]
 *
 * The peers run in one child process: `--servers` node:net listeners, on 127.0.X.1 (X = 1, 2, ...)
 * ports 21000..21099, so that 10,000 servers need no ephemeral port and 100 addresses (mind
 * `ulimit -n`: the peer process holds one fd per server). SMTP peers send a 220 banner, answer EHLO
 * with a multi-line 250 and close on QUIT. Each subject runs `--warmup` s, then a CPU window of
 * `--seconds` s (no event-loop monitor running), then, for the node subjects, a second window of
 * `--seconds` s with perf_hooks.monitorEventLoopDelay (resolution 1 ms: its values include that
 * ms) for the loop delay. Subjects run one after the other, rotated per round. The tcp peers take
 * connections as bare handles (no net.Socket) and close them 20-40 ms later.
 *
 * Per subject and window: checks/s counted by the subject (HAProxy: by the peers' accepts for smtp;
 * for tcp HAProxy resets after the handshake and the peers never see most of its checks, so its
 * rate is the configured one), results ok, CPU per check and its system (kernel) part (node
 * subjects: process.cpuUsage in the subject; HAProxy: utime + stime from /proc/<pid>/stat), check
 * duration p50 / p99, event-loop delay p50 / p99, and sockets left open after the library's
 * `close()` (must be 0; the exit code says so). Not part of `npm test`; figures go to
 * bench/README.md, "Active checks".
 */

import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { CheckHost, Checker as CheckerClass, checkPhase as CheckPhase } from '../src/health/checker';
import { startWindowFor } from '../src/health/check-queues';
import { initialRiseFall, observeCheck, type RiseFallState } from '../src/health/rise-fall';
import { resolveCheck, type BuiltinCheckType } from '../src/options';

// The checker as users run it: the built package (`npm run build` first), or the sources through tsx
// with UB_SRC=1 (slower and uneven: bench/README.md, least_conn). The rise/fall host below is the
// bench's own bookkeeping and comes from src/ either way.
const { Checker, checkPhase } = (await import(process.env.UB_SRC ? '../src/health/checker' : '../dist/health.js')) as {
  Checker: typeof CheckerClass;
  checkPhase: typeof CheckPhase;
};

const PORTS_PER_ADDRESS = 100;
const FIRST_PORT = 21000;
const HELO = 'bench.local';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

interface Peer {
  host: string;
  port: number;
}

function peerAt(i: number): Peer {
  return { host: `127.0.${1 + Math.floor(i / PORTS_PER_ADDRESS)}.1`, port: FIRST_PORT + (i % PORTS_PER_ADDRESS) };
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------------------
// Peer process: `--peers N` listens for N servers, counts accepts, answers `count` messages.

async function runPeers(count: number, type: string): Promise<void> {
  let accepted = 0;
  const servers: net.Server[] = [];
  const onConnection = (socket: net.Socket): void => {
    accepted += 1;
    socket.on('error', () => {});
    if (type !== 'smtp') return; // tcp: accept and stay silent
    socket.write('220 bench.local ESMTP\r\n');
    let buf = '';
    socket.on('data', (d: Buffer) => {
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
  };
  for (let i = 0; i < count; i++) {
    const server = net.createServer(onConnection);
    const { host, port } = peerAt(i);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, 4096, () => resolve());
    });
    servers.push(server);
    if (type !== 'smtp') acceptRaw(server);
  }
  // tcp: take each accepted connection as a bare handle, no net.Socket, and close it 20-40 ms later
  // (a silent peer as far as the probe's one look can tell), so that the peer process, which shares
  // the machine with the subject, costs as little as possible per check.
  let held: { close(): void }[] = [];
  let older: { close(): void }[] = [];
  function acceptRaw(server: net.Server): void {
    const handle = (server as unknown as { _handle: { onconnection: (err: number, client?: { close(): void }) => void } })._handle;
    handle.onconnection = (err, client) => {
      if (err !== 0 || client === undefined) return;
      accepted += 1;
      held.push(client);
    };
  }
  if (type !== 'smtp') {
    setInterval(() => {
      for (const client of older) client.close();
      older = held;
      held = [];
    }, 20);
  }
  process.on('message', (m: string) => {
    if (m === 'count') return void process.send!({ accepted });
    for (const s of servers) s.close();
    process.exit(0);
  });
  process.send!({ ready: true });
}

// ------------------------------------------------------------------------------------------------
// Node subjects: `--subject library|plain|burst`, driven over IPC.

interface Window {
  checks: number;
  ok: number;
  cpuMicros: number;
  /** The kernel's share of `cpuMicros` (system time). */
  systemMicros: number;
  seconds: number;
  durations: number[];
}

interface SubjectReport {
  cpu: { checks: number; ok: number; cpuMicrosPerCheck: number; systemMicrosPerCheck: number; checksPerSecond: number; checkP50ms: number; checkP99ms: number };
  loop: { checksPerSecond: number; loopDelayP50ms: number; loopDelayP99ms: number };
  openSocketsAfterClose: number;
}

const socketHandles = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;

/** What a subject exposes to its harness: a result sink and a stop. */
interface Running {
  stop(): Promise<void>;
}

async function runSubject(kind: string, type: BuiltinCheckType, servers: number, interval: number, warmup: number, seconds: number): Promise<void> {
  let window: Window = { checks: 0, ok: 0, cpuMicros: 0, systemMicros: 0, seconds: 0, durations: [] };
  const record = (ok: boolean, ms: number): void => {
    window.checks += 1;
    if (ok) window.ok += 1;
    window.durations.push(ms);
  };
  const before = socketHandles();
  const running = kind === 'library' || kind === 'library-exact' ? startLibrary(type, servers, interval, kind === 'library-exact', record) : startPlain(type, servers, interval, kind === 'burst', closeOf(kind), kind === 'plain-window' ? Math.max(1, startWindowFor(resolveCheck({ interval }), servers)) : 1, record);
  await sleep(warmup * 1000);
  const measure = async (): Promise<Window> => {
    window = { checks: 0, ok: 0, cpuMicros: 0, systemMicros: 0, seconds: 0, durations: [] };
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const cpu = process.cpuUsage(cpu0);
    const w = window;
    w.seconds = (performance.now() - t0) / 1000;
    w.cpuMicros = cpu.user + cpu.system;
    w.systemMicros = cpu.system;
    return w;
  };
  const cpuWindow = await measure();
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const loopWindow = await measure();
  loop.disable();
  await running.stop();
  await sleep(50);
  cpuWindow.durations.sort((a, b) => a - b);
  const report: SubjectReport = {
    cpu: {
      checks: cpuWindow.checks,
      ok: cpuWindow.ok,
      cpuMicrosPerCheck: cpuWindow.cpuMicros / cpuWindow.checks,
      systemMicrosPerCheck: cpuWindow.systemMicros / cpuWindow.checks,
      checksPerSecond: cpuWindow.checks / cpuWindow.seconds,
      checkP50ms: percentile(cpuWindow.durations, 0.5),
      checkP99ms: percentile(cpuWindow.durations, 0.99),
    },
    loop: {
      checksPerSecond: loopWindow.checks / loopWindow.seconds,
      loopDelayP50ms: loop.percentile(50) / 1e6,
      loopDelayP99ms: loop.percentile(99) / 1e6,
    },
    openSocketsAfterClose: socketHandles() - before,
  };
  process.send!(report, () => process.exit(0));
}

function startLibrary(type: BuiltinCheckType, servers: number, interval: number, exact: boolean, record: (ok: boolean, ms: number) => void): Running {
  const options = resolveCheck({ type, interval, timeout: 1000, rise: 2, fall: 5, smtpHelo: HELO, ...(exact ? { startWindow: 0 } : {}) });
  const targets = Array.from({ length: servers }, (_, i) => {
    const p = peerAt(i);
    return { id: `s${i}`, address: `${p.host}:${p.port}` };
  });
  const states = new Map<string, RiseFallState>(targets.map((t) => [t.id, initialRiseFall(true)]));
  const host: CheckHost = {
    targets: () => targets,
    report(id, passed, _reason, ms) {
      record(passed, ms);
      observeCheck(states.get(id)!, passed, options.rise, options.fall);
    },
    phase: (id) => checkPhase(states.get(id)!),
  };
  const checker = new Checker(options, host);
  checker.start();
  const keepAlive = setInterval(() => {}, 60_000); // the checker's timers are unref()ed
  return {
    async stop() {
      await checker.close();
      clearInterval(keepAlive);
    },
  };
}

/** The plain loop's check of one peer: connect then close (tcp), or banner, EHLO, QUIT (smtp). */
/**
 * How the plain loop ends a check: `fin` (destroy: the kernel's FIN, then TIME_WAIT), `reset`
 * (`resetAndDestroy` after a passed check: one RST, no TIME_WAIT, what HAProxy's plain `check` does),
 * or `none`: no connection at all, the ticker alone (`ticker`: the loop's fixed cost per check slot).
 */
type PlainClose = 'fin' | 'reset' | 'none' | 'look';
const closeOf = (kind: string): PlainClose => (kind === 'plain-reset' ? 'reset' : kind === 'ticker' ? 'none' : kind === 'plain-look' ? 'look' : 'fin');

/** `plain-look`: the connects of the current poll, each judged after one more poll (two shared hops). */
let connectedThisPoll: Array<() => void> = [];
function afterNextPoll(judge: () => void): void {
  if (connectedThisPoll.push(judge) === 1) {
    setImmediate(() => {
      const batch = connectedThisPoll;
      connectedThisPoll = [];
      setImmediate(() => {
        for (const j of batch) j();
      });
    });
  }
}

function plainCheck(type: BuiltinCheckType, peer: Peer, close: PlainClose, done: (ok: boolean, ms: number) => void): void {
  const reset = close === 'reset';
  const start = performance.now();
  const socket = net.connect(peer.port, peer.host);
  let settled = false;
  const finish = (ok: boolean): void => {
    if (settled) return;
    settled = true;
    if (reset && ok) socket.resetAndDestroy();
    else socket.destroy();
    done(ok, performance.now() - start);
  };
  socket.on('error', () => finish(false));
  socket.on('close', () => finish(false));
  if (type === 'tcp') {
    if (close !== 'look') socket.on('connect', () => finish(true));
    else {
      // reading from the connect on (a byte before a close passes, as the probe's look)
      let spoke = false;
      socket.on('data', () => (spoke = true));
      socket.on('end', () => finish(spoke));
      socket.on('connect', () => afterNextPoll(() => finish(true)));
    }
    return;
  }
  let text = '';
  let greeted = false;
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
    if (!text.endsWith('\n')) return;
    const last = text.slice(text.lastIndexOf('\n', text.length - 2) + 1);
    if (last[3] === '-') return; // a multi-line reply goes on
    if (!greeted) {
      greeted = true;
      text = '';
      if (last.startsWith('2')) socket.write(`EHLO ${HELO}\r\n`);
      else finish(false);
      return;
    }
    socket.write('QUIT\r\n');
    finish(last.startsWith('250'));
  });
}

function startPlain(type: BuiltinCheckType, servers: number, interval: number, burst: boolean, close: PlainClose, tickMs: number, record: (ok: boolean, ms: number) => void): Running {
  const peers = Array.from({ length: servers }, (_, i) => peerAt(i));
  let inFlight = 0;
  let stopped = false;
  let idle: (() => void) | undefined;
  const done = (ok: boolean, ms: number): void => {
    inFlight -= 1;
    if (!stopped) record(ok, ms);
    else if (inFlight === 0) idle?.();
  };
  const check = (i: number): void => {
    if (close === 'none') return record(true, 0);
    inFlight += 1;
    plainCheck(type, peers[i]!, close, done);
  };
  let timer: NodeJS.Timeout;
  if (burst) {
    const round = (): void => {
      for (let i = 0; i < servers; i++) check(i);
    };
    round();
    timer = setInterval(round, interval);
  } else {
    // One ticker every `tickMs`; server i is due at i * interval / servers within each interval.
    const t0 = performance.now();
    let next = 0; // index of the next server to start, counted over all rounds
    timer = setInterval(() => {
      const due = Math.floor(((performance.now() - t0) * servers) / interval);
      for (; next <= due; next++) check(next % servers);
    }, tickMs);
  }
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        stopped = true;
        clearInterval(timer);
        if (inFlight === 0) resolve();
        else idle = resolve;
      }),
  };
}

// ------------------------------------------------------------------------------------------------
// Driver.

interface Row {
  round: number;
  type: string;
  subject: string;
  checksPerSecond: number;
  expectedPerSecond: number;
  ok: number;
  checks: number;
  cpuMicrosPerCheck: number;
  /** Of which system time (the kernel: sockets, connects, closes, polls). */
  systemMicrosPerCheck: number;
  checkP50ms?: number;
  checkP99ms?: number;
  loopDelayP50ms?: number;
  loopDelayP99ms?: number;
  loopChecksPerSecond?: number;
  peerAcceptsPerSecond: number;
  openSocketsAfterClose?: number;
}

const self = fileURLToPath(import.meta.url);

async function startPeers(count: number, type: string): Promise<{ child: ChildProcess; accepted(): Promise<number>; stop(): Promise<void> }> {
  const child = fork(self, ['--peers', String(count), '--type', type], { execArgv: process.execArgv });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`peer process exited with ${code}`)));
  });
  return {
    child,
    accepted: () =>
      new Promise((resolve) => {
        child.once('message', (m: { accepted: number }) => resolve(m.accepted));
        child.send('count');
      }),
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.send('stop');
      await exited;
    },
  };
}

async function nodeSubject(kind: string, type: BuiltinCheckType, servers: number, interval: number, warmup: number, seconds: number, accepted: () => Promise<number>): Promise<Omit<Row, 'round'>> {
  const child = fork(self, ['--subject', kind, '--type', type, '--servers', String(servers), '--interval', String(interval), '--warmup', String(warmup), '--seconds', String(seconds)], {
    execArgv: process.execArgv,
  });
  const result = new Promise<SubjectReport>((resolve, reject) => {
    child.once('message', (m: SubjectReport) => resolve(m));
    child.once('exit', (code) => reject(new Error(`${kind} exited with ${code}`)));
  });
  await sleep(warmup * 1000);
  const a0 = await accepted();
  await sleep(seconds * 1000);
  const a1 = await accepted();
  const r = await result;
  return {
    type,
    subject: kind,
    checksPerSecond: r.cpu.checksPerSecond,
    expectedPerSecond: (servers * 1000) / interval,
    ok: r.cpu.ok,
    checks: r.cpu.checks,
    cpuMicrosPerCheck: r.cpu.cpuMicrosPerCheck,
    systemMicrosPerCheck: r.cpu.systemMicrosPerCheck,
    checkP50ms: r.cpu.checkP50ms,
    checkP99ms: r.cpu.checkP99ms,
    loopDelayP50ms: r.loop.loopDelayP50ms,
    loopDelayP99ms: r.loop.loopDelayP99ms,
    loopChecksPerSecond: r.loop.checksPerSecond,
    peerAcceptsPerSecond: (a1 - a0) / seconds,
    ...(kind.startsWith('library') ? { openSocketsAfterClose: r.openSocketsAfterClose } : {}),
  };
}

/** utime + stime of a process and its stime alone, in µs (from /proc/<pid>/stat, in clock ticks of 10 ms). */
function processCpuMicros(pid: number): { total: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const system = Number(fields[12]) * 10_000; // stime: field 15
  return { total: Number(fields[11]) * 10_000 + system, system }; // utime: field 14
}

async function haproxySubject(type: BuiltinCheckType, servers: number, interval: number, warmup: number, seconds: number, accepted: () => Promise<number>): Promise<Omit<Row, 'round'>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ub-haproxy-'));
  const lines = [
    'global',
    '  nbthread 1',
    '  maxconn 4000', // haproxy wants 2 fds per connection under `ulimit -n`
    `  pidfile ${dir}/haproxy.pid`,
    'defaults',
    '  mode tcp',
    '  timeout connect 1s',
    '  timeout client 1s',
    '  timeout server 1s',
    '  timeout check 1s',
    'listen bench',
    '  bind 127.0.250.1:21999',
    ...(type === 'smtp' ? [`  option smtpchk EHLO ${HELO}`] : []),
    `  default-server check inter ${interval} rise 2 fall 5`,
    ...Array.from({ length: servers }, (_, i) => {
      const p = peerAt(i);
      return `  server s${i} ${p.host}:${p.port}`;
    }),
  ];
  writeFileSync(path.join(dir, 'haproxy.cfg'), lines.join('\n') + '\n');
  const child = spawn('/usr/sbin/haproxy', ['-db', '-f', path.join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise((r) => child.once('exit', r));
  try {
    await sleep(warmup * 1000);
    if (child.exitCode !== null) throw new Error(`haproxy exited: ${stderr}`);
    const c0 = processCpuMicros(child.pid!);
    const a0 = await accepted();
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const c1 = processCpuMicros(child.pid!);
    const a1 = await accepted();
    const elapsed = (performance.now() - t0) / 1000;
    const peerRate = (a1 - a0) / elapsed;
    const expected = (servers * 1000) / interval;
    // smtp checks are seen by the peers; tcp checks are reset before the peers accept them.
    const rate = type === 'smtp' ? peerRate : expected;
    return {
      type,
      subject: 'haproxy',
      checksPerSecond: rate,
      expectedPerSecond: expected,
      ok: NaN,
      checks: Math.round(rate * elapsed),
      cpuMicrosPerCheck: (c1.total - c0.total) / (rate * elapsed),
      systemMicrosPerCheck: (c1.system - c0.system) / (rate * elapsed),
      peerAcceptsPerSecond: peerRate,
    };
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

function fmt(n: number | undefined, digits = 1): string {
  return n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits);
}

async function main(): Promise<void> {
  const servers = Number(arg('servers', '1000'));
  const seconds = Number(arg('seconds', '10'));
  const warmup = Number(arg('warmup', '3'));
  const interval = Number(arg('interval', '1000'));
  const rounds = Number(arg('rounds', '1'));
  const types = arg('types', 'tcp,smtp').split(',') as BuiltinCheckType[];
  const subjects = arg('subjects', 'library,plain,burst,haproxy').split(',');
  const rows: Row[] = [];
  for (const type of types) {
    const peers = await startPeers(servers, type);
    try {
      for (let round = 0; round < rounds; round++) {
        const order = subjects.map((_, i) => subjects[(i + round) % subjects.length]!);
        for (const subject of order) {
          const row =
            subject === 'haproxy'
              ? await haproxySubject(type, servers, interval, warmup, seconds, peers.accepted)
              : await nodeSubject(subject, type, servers, interval, warmup, seconds, peers.accepted);
          rows.push({ round, ...row });
          console.log(
            `${type} ${servers} round ${round} ${subject}: ${fmt(row.checksPerSecond)} checks/s of ${row.expectedPerSecond}, ` +
              `${fmt(row.cpuMicrosPerCheck)} µs CPU/check (system ${fmt(row.systemMicrosPerCheck)}), check p50 ${fmt(row.checkP50ms, 2)} p99 ${fmt(row.checkP99ms, 2)} ms, ` +
              `loop p50 ${fmt(row.loopDelayP50ms, 2)} p99 ${fmt(row.loopDelayP99ms, 2)} ms (${fmt(row.loopChecksPerSecond)} checks/s), ` +
              `peers saw ${fmt(row.peerAcceptsPerSecond)}/s` +
              (row.openSocketsAfterClose !== undefined ? `, open sockets after close ${row.openSocketsAfterClose}` : ''),
          );
        }
        const inRound = rows.filter((r) => r.round === round && r.type === type);
        const of = (s: string): Row | undefined => inRound.find((r) => r.subject === s);
        const lib = of('library');
        if (lib) {
          const ratio = (s: string): string => (of(s) ? (lib.cpuMicrosPerCheck / of(s)!.cpuMicrosPerCheck).toFixed(2) : '–');
          console.log(`  library / library-exact ${ratio('library-exact')}, / plain ${ratio('plain')}, / plain-window ${ratio('plain-window')}, / plain-look ${ratio('plain-look')}, / plain-reset ${ratio('plain-reset')}, / burst ${ratio('burst')}, / haproxy ${ratio('haproxy')}`);
        }
      }
    } finally {
      await peers.stop();
    }
  }
  console.log(JSON.stringify({ node: process.version, servers, interval, seconds, rows }, null, 2));
  if (rows.some((r) => r.openSocketsAfterClose !== undefined && r.openSocketsAfterClose !== 0)) process.exitCode = 1;
}

if (process.argv.includes('--peers')) void runPeers(Number(arg('peers', '0')), arg('type', 'tcp'));
else if (process.argv.includes('--subject')) {
  void runSubject(arg('subject', 'library'), arg('type', 'tcp') as BuiltinCheckType, Number(arg('servers', '1000')), Number(arg('interval', '1000')), Number(arg('warmup', '3')), Number(arg('seconds', '10')));
} else void main();
