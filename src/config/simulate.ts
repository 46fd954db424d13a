/**
 * Simulation of an upstream on a manual clock: N connections, one every `intervalMs`, against
 * servers that refuse connections during given time windows; returns the per-connection timeline
 * (every server tried, `!` = refused) and the final shares.
 *
 * Drives the real `Balancer` exactly as a stream proxy does (docs/nginx-semantics.md §4.3): per connection
 * an attempt, `next()` until a server connects (`connected()` then `release()`) or nothing is left
 * ("no live upstreams", nginx's 502). The clock is quantised to whole seconds like nginx's
 * `ngx_time()`, so timelines are nginx's. Active checks are not simulated (no probes run): the
 * `check` options are dropped and every server counts as check-healthy. Deterministic: `rng` is
 * seeded. Cost: O(connections x tries).
 */

import { Balancer } from '../balancer';
import { ManualClock, seededRandom, wholeSeconds } from '../clock';
import { InvalidOptionError } from '../errors';
import type { BalancerOptions } from '../options';

/** A server refusing connections from `fromS` (inclusive) to `toS` (exclusive), seconds since the start. */
export interface FailureWindow {
  /** Server id, address, letter (A = first server) or 1-based index. */
  server: string;
  fromS: number;
  toS: number;
}

/** Options of `simulate`. */
export interface SimulateOptions {
  /** Number of connections; default 20. */
  connections?: number;
  /** ms between connections; default 1000. */
  intervalMs?: number;
  failures?: FailureWindow[];
  /** Hash key (hash) or client address (ip-hash) used for every connection; default none. */
  key?: string;
  /** Seed of the random source (random method); default 1. */
  seed?: number;
  /** Start time of the manual clock in ms; default 1_700_000_000_000 (a whole second). */
  startMs?: number;
}

/** One connection of the timeline. */
export interface SimulatedConnection {
  /** 1-based. */
  n: number;
  /** ms since the start. */
  t: number;
  /** Every server tried, in order, and whether its connect succeeded. */
  tries: { id: string; ok: boolean }[];
  /** The server that took the connection, or null ("no live upstreams"). */
  server: string | null;
}

/** The result of `simulate`. */
export interface SimulationResult {
  upstream: string;
  method: string;
  connections: SimulatedConnection[];
  shares: { id: string; address: string; label: string; count: number; percent: number }[];
  /** Connections no server took (nginx: 502 "no live upstreams"). */
  failed: number;
  /** State changes in order: `t`, server id, from, to, cause. */
  events: { t: number; id: string; from: string; to: string; cause: string }[];
  notes: string[];
}

/** Parses `ID@FROM-TO` (seconds, decimals allowed; TO may be empty = forever). */
export function parseFailureWindow(spec: string): FailureWindow {
  const m = /^(.+)@(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)?$/.exec(spec);
  if (!m) throw new InvalidOptionError('fail', `Expected \`--fail\` as ID@FROM-TO in seconds (e.g. A@2-10), got \`${spec}\``, spec);
  const fromS = Number(m[2]);
  const toS = m[3] === undefined ? Infinity : Number(m[3]);
  if (!(toS > fromS)) throw new InvalidOptionError('fail', `Expected \`--fail\` window to end after it starts, got \`${spec}\``, spec);
  return { server: m[1]!, fromS, toS };
}

/**
 * Runs the simulation.
 *
 * @example
 * ```ts
 * const r = simulate(options, { connections: 10, failures: [{ server: 'A', fromS: 0, toS: 5 }] });
 * r.connections[0]; // { n: 1, t: 0, tries: [{ id: 'A…', ok: false }, { id: 'B…', ok: true }], server: 'B…' }
 * ```
 */
export function simulate(options: BalancerOptions, sim: SimulateOptions = {}): SimulationResult {
  const connections = sim.connections ?? 20;
  const interval = sim.intervalMs ?? 1000;
  if (!Number.isSafeInteger(connections) || connections < 1) throw new InvalidOptionError('connections', `Expected \`connections\` to be a positive integer, got \`${connections}\``, connections);
  if (!(interval >= 0) || !Number.isFinite(interval)) throw new InvalidOptionError('intervalMs', `Expected \`intervalMs\` to be a non-negative number, got \`${interval}\``, interval);
  const notes: string[] = [];
  // the clock and the random source are the simulation's own: they replace the options' below
  const { check, ...rest } = options;
  if (check) notes.push('active checks are not simulated: every server counts as healthy for the check; only passive failures (max_fails/fail_timeout) act');
  const start = sim.startMs ?? 1_700_000_000_000;
  const manual = new ManualClock(start);
  const b = new Balancer({ ...rest, clock: wholeSeconds(manual.now), rng: seededRandom(sim.seed ?? 1) });
  const servers = b.servers;
  const resolveId = (ref: string): string => {
    const byId = servers.find((s) => s.id === ref) ?? servers.find((s) => s.address === ref);
    if (byId) return byId.id;
    if (/^[A-Z]$/.test(ref) && ref.charCodeAt(0) - 65 < servers.length) return servers[ref.charCodeAt(0) - 65]!.id;
    if (/^[1-9][0-9]*$/.test(ref) && Number(ref) <= servers.length) return servers[Number(ref) - 1]!.id;
    throw new InvalidOptionError('fail', `Unknown server \`${ref}\` in --fail (servers: ${servers.map((s, i) => `${String.fromCharCode(65 + i)}=${s.id}`).join(', ')})`, ref);
  };
  const windows = (sim.failures ?? []).map((w) => ({ id: resolveId(w.server), from: w.fromS * 1000, to: w.toS * 1000 }));
  const refuses = (id: string, t: number) => windows.some((w) => w.id === id && t >= w.from && t < w.to);
  const events: SimulationResult['events'] = [];
  b.on('state', (server, from, to, cause) => events.push({ t: manual.now() - start, id: server.id, from, to, cause }));
  const out: SimulatedConnection[] = [];
  const counts = new Map<string, number>(servers.map((s) => [s.id, 0]));
  let failed = 0;
  for (let n = 1; n <= connections; n++) {
    const t = (n - 1) * interval;
    manual.set(start + t);
    const a = b.attempt(sim.key);
    const tries: SimulatedConnection['tries'] = [];
    let server: string | null = null;
    for (let s = a.next(); s; s = a.next()) {
      if (refuses(s.id, t)) {
        tries.push({ id: s.id, ok: false });
        a.fail();
        continue;
      }
      tries.push({ id: s.id, ok: true });
      a.connected();
      a.release();
      server = s.id;
      break;
    }
    if (server === null) failed++;
    else counts.set(server, (counts.get(server) ?? 0) + 1);
    out.push({ n, t, tries, server });
  }
  const shares = servers.map((s, i) => {
    const count = counts.get(s.id) ?? 0;
    return { id: s.id, address: s.address, label: String.fromCharCode(65 + (i % 26)), count, percent: Math.round((count / connections) * 1000) / 10 };
  });
  return { upstream: b.name, method: b.method, connections: out, shares, failed, events, notes };
}

/**
 * Renders a simulation as text: one line per connection, then the shares.
 *
 * @example
 * ```ts
 * console.log(renderSimulation(simulate(options, { connections: 5 })));
 * ```
 */
export function renderSimulation(r: SimulationResult): string {
  const label = new Map(r.shares.map((s) => [s.id, s.label]));
  const lines = [`upstream ${r.upstream} (${r.method}): ${r.connections.length} connections`];
  for (const s of r.shares) lines.push(`  ${s.label} = ${s.id}${s.address !== s.id ? ` (${s.address})` : ''}`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  lines.push('', '  time      #    tries        result');
  const byT = new Map<number, SimulationResult['events']>();
  for (const e of r.events) byT.set(e.t, [...(byT.get(e.t) ?? []), e]);
  for (const c of r.connections) {
    const tries = c.tries.map((x) => `${label.get(x.id)}${x.ok ? '' : '!'}`).join(' ') || '-';
    const res = c.server === null ? 'no live upstreams (502)' : `${label.get(c.server)} ${c.server}`;
    lines.push(`  ${(c.t / 1000).toFixed(3).padStart(8)}s ${String(c.n).padStart(4)}  ${tries.padEnd(12)} ${res}`);
    for (const e of byT.get(c.t) ?? []) lines.push(`             ${label.get(e.id)} ${e.from} -> ${e.to} (${e.cause})`);
  }
  lines.push('', '  shares:');
  for (const s of r.shares) lines.push(`    ${s.label} ${s.id}: ${s.count} (${s.percent}%)`);
  if (r.failed) lines.push(`    no live upstreams: ${r.failed} (${Math.round((r.failed / r.connections.length) * 1000) / 10}%)`);
  return lines.join('\n') + '\n';
}
