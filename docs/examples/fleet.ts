/**
 * `npm run demo -- --fleet 3`: three proxy processes in front of the seed's two SMTP gateways, one
 * etcd, one upstream state (docs/fleet.md). Each proxy (./fleet-proxy.ts) is the reference proxy
 * with a Balancer that joined the fleet (`upstream-balancer/etcd`): the proxies elect one checker on
 * an etcd lease, follow its verdicts, and apply admin changes written once to etcd.
 *
 * The parent starts etcd (Debian's `etcd-server`, on free ports with a scratch data directory), the
 * gateways of docs/examples/weighted.conf (A weight=1, B weight=4) with the seed's active check
 * (`check interval=5000 rise=2 fall=5 timeout=2000 type=smtp`, scaled by --speed), and the proxies,
 * then shows:
 *
 * 1. one checker: one proxy holds the role; the gateways see one proxy's probes per interval, not
 *    three; every proxy routes its own sessions (SWRR per process, as nginx without `zone`);
 * 2. `down` told once: one proxy writes `B down` to etcd, every proxy applies it (the latency of
 *    each), and every session goes to A; then `B up` the same way;
 * 3. takeover: the checker's process is killed (SIGKILL); its lease expires and another proxy takes
 *    the role within the lease TTL plus one check interval, and the probes go on.
 *
 * It prints a timeline and a summary, and throws (exit 1) when anything differs from the above.
 * Every process, socket and the etcd it started are stopped before it returns.
 */

import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ServerOptions } from '../../src/options';
import { EtcdCluster, ETCD, stopAll as stopEtcd } from '../../test/fixtures/etcd/etcd';
import type { FleetCommand, FleetProxyConfig, FleetReport } from './fleet-proxy';
import { startGateway, type Gateway } from './gateways';
import { MailClient } from './mail';
import { readExampleUpstream, scaleCheck } from './upstream-file';

const WEIGHTED = 'docs/examples/weighted.conf';
const SEED_CHECK = 'docs/examples/maintenance.conf';
/** s: the checker's lease. etcd's shortest is about 1.5 s (1.5 election timeouts at its defaults). */
const TTL = 2;
const CHILD = fileURLToPath(new URL('./fleet-proxy.ts', import.meta.url));

export interface FleetDemoOptions {
  /** Proxy processes (2 to 5). */
  proxies: number;
  /** Checks run this many times faster than the file says (interval 5000 ms / speed). */
  speed: number;
  write(line: string): void;
}

/** What the run showed (the test reads it). */
export interface FleetDemoResult {
  /** The checker at the start, and after its process was killed. */
  leaders: [string, string];
  /** Probes each gateway received per check interval while the fleet was whole (mean). */
  probesPerInterval: number;
  /** ms from the write of `B down` to each proxy's applying it. */
  downLatency: number[];
  /** ms from the SIGKILL of the checker to the new checker's role event. */
  takeoverMs: number;
  /** Where the sessions of each phase went. */
  orders: { normal: string[]; down: string[]; after: string[] };
}

export class FleetDemoError extends Error {}

export async function runFleet(opts: FleetDemoOptions): Promise<FleetDemoResult> {
  if (ETCD === null) throw new FleetDemoError('--fleet needs etcd: apt-get install etcd-server (Debian), then run it again');
  const n = opts.proxies;
  const t0 = Date.now();
  const stamp = (at = Date.now()): string => ((at - t0) / 1000).toFixed(3).padStart(7);
  const log = (kind: string, text: string, at?: number): void => opts.write(`${stamp(at)}  ${kind.padEnd(6)} ${text}`);
  const out = (line = ''): void => opts.write(line);

  const u = readExampleUpstream(WEIGHTED);
  const check = scaleCheck(readExampleUpstream(SEED_CHECK).options.check!, opts.speed);
  const gateways: Gateway[] = [];
  const children = new Map<string, ChildProcess>();
  const reports: FleetReport[] = [];
  const listeners = new Set<(r: FleetReport) => void>();
  const ports = new Map<string, number>();
  const clients = new Map<string, MailClient>();
  let asked = 0;
  let stopping = false;

  const onReport = (r: FleetReport): void => {
    reports.push(r);
    if (r.t === 'role' && !stopping) log('role', `${r.proxy}: ${r.role}${r.leader !== null ? `   (checker: ${r.leader}, term ${r.term})` : ''}`, r.at);
    if (r.t === 'fallback') log('etcd', `${r.proxy} checks on its own: ${r.reason}`, r.at);
    for (const l of listeners) l(r);
  };
  const waitFor = <R extends FleetReport>(match: (r: FleetReport) => r is R, ms: number, what: string): Promise<R> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        listeners.delete(l);
        reject(new FleetDemoError(`timed out after ${ms} ms waiting for ${what}`));
      }, ms);
      const l = (r: FleetReport): void => {
        if (!match(r)) return;
        clearTimeout(timer);
        listeners.delete(l);
        resolve(r);
      };
      listeners.add(l);
    });
  const send = (proxy: string, c: FleetCommand): void => {
    children.get(proxy)?.send(c);
  };
  const view = async (proxy: string): Promise<Extract<FleetReport, { t: 'view' }>> => {
    const k = ++asked;
    const answer = waitFor((r): r is Extract<FleetReport, { t: 'view' }> => r.t === 'view' && r.n === k && r.proxy === proxy, 5000, `${proxy}'s view`);
    send(proxy, { t: 'view', n: k });
    return answer;
  };
  const checker = (): string | null => {
    const latest = new Map<string, string>();
    for (const r of reports) if (r.t === 'role') latest.set(r.proxy, r.role);
    const leaders = [...latest].filter(([p, role]) => role === 'leader' && children.has(p)).map(([p]) => p);
    return leaders.length === 1 ? leaders[0]! : null;
  };

  const stop = async (): Promise<void> => {
    stopping = true;
    for (const c of clients.values()) c.close();
    await Promise.all([...children.values()].map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      const kill = setTimeout(() => c.kill('SIGKILL'), 3000);
      c.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      c.send({ t: 'close' } satisfies FleetCommand, () => {});
    })));
    await stopEtcd();
    await Promise.all(gateways.map((g) => g.stop()));
  };

  try {
    const etcd = await EtcdCluster.start(1);
    for (const [k] of u.servers.entries()) gateways.push(await startGateway(String.fromCharCode(65 + k)));
    const servers: ServerOptions[] = u.options.servers.map((s, k) => ({ ...s, id: gateways[k]!.name, address: gateways[k]!.address }));
    const interval = check.interval!;

    out(`upstream-balancer demo: ${n} proxy processes, one etcd, one upstream state (node ${process.version})`);
    out();
    out(`etcd     ${etcd.hosts[0]} (etcd-server ${ETCD}, one member, scratch data directory)`);
    out(`config   ${WEIGHTED}: upstream "${u.name}"; the seed's check (${SEED_CHECK}): interval=${interval} ms rise=${check.rise} fall=${check.fall} timeout=${check.timeout} type=${check.type}${opts.speed !== 1 ? ` (x${opts.speed})` : ''}`);
    for (const s of servers) out(`  ${s.id}      ${s.address}  weight=${s.weight ?? 1}`);
    out(`lease    ${TTL} s: a dead checker is replaced within ${TTL} s + one check interval`);
    out();
    out('   time  event  what');

    for (let k = 1; k <= n; k++) {
      const proxy = `proxy-${k}`;
      const config: FleetProxyConfig = { hosts: etcd.hosts, upstream: u.name, servers, check, ttl: TTL, proxy };
      const child = fork(CHILD, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, UB_DEMO_FLEET: JSON.stringify(config) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.on('message', (m) => onReport(m as FleetReport));
      children.set(proxy, child);
      const ready = await waitFor((r): r is Extract<FleetReport, { t: 'ready' }> => r.t === 'ready' && r.proxy === proxy, 20_000, `${proxy} to start`);
      ports.set(proxy, ready.port);
      clients.set(proxy, new MailClient({ port: ready.port, timeout: 10_000, prefix: `fleet-${process.pid}-${k}` }));
      log('proxy', `${proxy} listening on 127.0.0.1:${ready.port}, joined the fleet`);
    }
    const names = [...children.keys()];
    const settle = Date.now() + 10_000;
    while (checker() === null) {
      if (Date.now() > settle) throw new FleetDemoError('no single checker after 10 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    const first = checker()!;

    // 1. One checker.
    out('── 1. one checker for the fleet; every proxy routes its own sessions');
    const window = 6;
    const before = gateways.map((g) => g.connections);
    await new Promise((r) => setTimeout(r, window * interval));
    const probes = gateways.map((g, k) => g.connections - before[k]!);
    const probers = new Set(reports.filter((r) => r.t === 'probe' && r.at >= Date.now() - window * interval).map((r) => (r as { proxy: string }).proxy));
    for (const [k, g] of gateways.entries()) log('probes', `${g.name}: ${probes[k]} probes in ${window} intervals (one proxy checks: ${window}; each proxy on its own would send ${window * n})`);
    log('probes', `sent by: ${[...probers].join(', ') || 'nobody'}`);
    if (probers.size !== 1 || !probers.has(first)) throw new FleetDemoError(`expected only ${first} to probe, saw ${[...probers].join(', ')}`);
    const perInterval = probes.reduce((a, b) => a + b, 0) / gateways.length / window;
    if (perInterval > 1.5) throw new FleetDemoError(`the gateways saw ${perInterval.toFixed(1)} probes per interval: more than one checker`);
    const sendRound = async (count: number): Promise<string[]> => {
      const order: string[] = [];
      for (const c of clients.values()) {
        for (let i = 0; i < count; i++) {
          const m = await c.send();
          order.push(m.ok ? (/accepted by (\S+)/.exec(m.response)?.[1] ?? '?') : 'REJECTED');
        }
      }
      return order;
    };
    const normal = await sendRound(5);
    for (const [k, p] of names.entries()) log('mail', `${p}: ${normal.slice(k * 5, k * 5 + 5).join(' ')}   (its own smooth weighted round robin)`);

    // 2. down, told once.
    out('── 2. one proxy writes B down to etcd: every proxy applies it');
    const writer = names.find((p) => p !== first)!;
    const k2 = ++asked;
    const applied: number[] = [];
    const appliedBy = new Map<string, number>();
    const writtenAt = Date.now();
    const done = waitFor((r): r is Extract<FleetReport, { t: 'updated' }> => r.t === 'updated' && r.n === k2, 10_000, 'the write of B down');
    const seen = new Promise<void>((resolve) => {
      const l = (r: FleetReport): void => {
        if (r.t !== 'applied' || appliedBy.has(r.proxy) || r.at < writtenAt) return;
        appliedBy.set(r.proxy, r.at);
        if (appliedBy.size === n) {
          listeners.delete(l);
          resolve();
        }
      };
      listeners.add(l);
    });
    log('admin', `${writer}: fleet.update('B', { down: true })   (one write to etcd)`, writtenAt);
    send(writer, { t: 'update', n: k2, id: 'B', patch: { down: true } });
    const wrote = await done;
    if (wrote.error !== undefined) throw new FleetDemoError(`the write failed: ${wrote.error}`);
    await Promise.race([seen, new Promise((_, reject) => setTimeout(() => reject(new FleetDemoError('not every proxy applied the change in 10 s')), 10_000))]);
    for (const p of [...names].sort((a, b) => appliedBy.get(a)! - appliedBy.get(b)!)) {
      applied.push(appliedBy.get(p)! - writtenAt);
      const v = await view(p);
      const b = v.servers.find((s) => s.id === 'B')!;
      log('state', `${p}: B down=${b.down}   (applied revision ${v.revision}, ${appliedBy.get(p)! - writtenAt} ms after the write)`, appliedBy.get(p));
      if (!b.down) throw new FleetDemoError(`${p} did not apply B down`);
    }
    const down = await sendRound(2);
    log('mail', `every proxy: ${down.join(' ')}`);
    if (down.some((g) => g !== 'A')) throw new FleetDemoError(`a session went to B while it was down: ${down.join(' ')}`);
    const k3 = ++asked;
    const up = waitFor((r): r is Extract<FleetReport, { t: 'updated' }> => r.t === 'updated' && r.n === k3, 10_000, 'the write of B up');
    log('admin', `${writer}: fleet.update('B', { down: false })`);
    send(writer, { t: 'update', n: k3, id: 'B', patch: { down: false } });
    await up;

    // 3. Takeover.
    out(`── 3. the checker's process (${first}) is killed`);
    const killedAt = Date.now();
    const takeover = waitFor((r): r is Extract<FleetReport, { t: 'role' }> => r.t === 'role' && r.role === 'leader' && r.proxy !== first, (TTL + 10) * 1000, 'a new checker');
    children.get(first)!.kill('SIGKILL');
    log('admin', `kill -9 ${children.get(first)!.pid} (${first})`, killedAt);
    children.delete(first);
    clients.get(first)!.close();
    clients.delete(first);
    const next = await takeover;
    const takeoverMs = next.at - killedAt;
    log('result', `${next.proxy} took the checker role ${takeoverMs} ms after the kill (lease ${TTL} s)`, next.at);
    if (takeoverMs > TTL * 1000 + interval + 2000) throw new FleetDemoError(`takeover took ${takeoverMs} ms`);
    const before3 = gateways.map((g) => g.connections);
    await new Promise((r) => setTimeout(r, 3 * interval));
    const probes3 = gateways.map((g, k) => g.connections - before3[k]!);
    log('probes', `${gateways.map((g, k) => `${g.name}: ${probes3[k]}`).join(', ')} probes in 3 intervals, by ${next.proxy}`);
    if (probes3.some((p) => p === 0)) throw new FleetDemoError('no probes after the takeover');
    const after = await sendRound(5);
    log('mail', `the ${n - 1} proxies left: ${after.join(' ')}`);
    if (after.some((g) => g === 'REJECTED')) throw new FleetDemoError(`a session was rejected after the takeover: ${after.join(' ')}`);

    out();
    out(`Summary: ${n} proxies, one etcd, ${WEIGHTED} with the seed's check`);
    out(`  checker                   ${first}, then ${next.proxy} (takeover ${takeoverMs} ms after kill -9; lease ${TTL} s)`);
    out(`  probes per gateway        ${perInterval.toFixed(1)} per interval (one proxy's; ${n} without the fleet)`);
    out(`  B down, written once      applied by every proxy in ${Math.min(...applied)}-${Math.max(...applied)} ms; sessions: ${down.join(' ')}`);
    out(`  sessions, each proxy      ${normal.slice(0, 5).join(' ')} (SWRR per process)`);
    out(`finished in ${((Date.now() - t0) / 1000).toFixed(1)} s; every proxy, gateway and etcd stopped`);
    return { leaders: [first, next.proxy], probesPerInterval: perInterval, downLatency: applied, takeoverMs, orders: { normal, down, after } };
  } finally {
    await stop();
  }
}
