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
 * seeded. With `sessions` (nginx 1.30's sticky), clients take turns and each sends back the session
 * id it was last given as the attempt's `hint`, so a client stays on its server while that server
 * is usable (`ngx_http_upstream_get_rr_peer_by_sid`). Cost: O(connections x tries), bounded: at most `MAX_SIMULATED_CONNECTIONS` connections
 * and `MAX_SIMULATED_TRIES` recorded tries (the whole timeline is returned, and printed one row per
 * connection: 100,000 rows are already more than anyone reads, while 4,000,000 made a JSON text
 * longer than V8's largest string, a RangeError). `renderSimulation` escapes control characters.
 */

import { Balancer } from '../balancer';
import { ManualClock, seededRandom, wholeSeconds } from '../clock';
import { InvalidOptionError, show } from '../errors';
import type { BalancerOptions } from '../options';
import { escapeControls as esc } from './escape';

/** The most connections one simulation runs (`--connections`): its timeline is kept and printed whole. */
export const MAX_SIMULATED_CONNECTIONS = 100_000;

/** The most tries (connect attempts, over all connections) one simulation records. */
export const MAX_SIMULATED_TRIES = 1_000_000;

/** The label of the i-th server (0-based): A..Z, then S27, S28, ... (the numbers are 1-based indices). */
const labelOf = (i: number): string => (i < 26 ? String.fromCharCode(65 + i) : `S${i + 1}`);

/** A server refusing connections from `fromS` (inclusive) to `toS` (exclusive), seconds since the start. */
export interface FailureWindow {
  /** Server id, address, letter (A = first server) or 1-based index. */
  server: string;
  fromS: number;
  toS: number;
}

/** Options of `simulate`. */
export interface SimulateOptions {
  /** Number of connections; default 20, at most `MAX_SIMULATED_CONNECTIONS`. */
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
  /**
   * Sticky sessions (nginx 1.30): connection n comes from client ((n - 1) mod `clients`) + 1; each
   * client starts without a cookie and sends back the session id (`Server.sid`) its last answered
   * connection was given, as the attempt's `hint`. `cookie` is the cookie's name in the output
   * (the `sticky cookie` name; default `route`).
   */
  sessions?: SimulatedSessions;
}

/** `SimulateOptions.sessions`. */
export interface SimulatedSessions {
  /** How many clients take turns; 1 to `MAX_SIMULATED_CONNECTIONS`. */
  clients: number;
  cookie?: string;
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
  /** With `sessions`: the client (1-based), the session id it sent, whether the hint chose the server, and the id the response set (null: nothing set, the cookie already named that server, or no server answered). */
  session?: { client: number; sent: string | null; hinted: boolean; set: string | null };
}

/** The result of `simulate`. */
export interface SimulationResult {
  upstream: string;
  method: string;
  connections: SimulatedConnection[];
  /** Per server: its session id (`sid`) too. */
  shares: { id: string; address: string; label: string; sid: string; count: number; percent: number }[];
  /** Connections no server took (nginx: 502 "no live upstreams"). */
  failed: number;
  /** With `sessions`: the cookie's name and the number of clients. */
  sessions?: { cookie: string; clients: number };
  /** State changes in order: `t`, server id, from, to, cause, and `n`, the connection during which it happened. */
  events: { t: number; id: string; from: string; to: string; cause: string; n: number }[];
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
  if (!Number.isSafeInteger(connections) || connections < 1 || connections > MAX_SIMULATED_CONNECTIONS) {
    throw new InvalidOptionError('connections', `Expected \`connections\` to be an integer from 1 to ${MAX_SIMULATED_CONNECTIONS}, got \`${connections}\``, connections);
  }
  if (!(interval >= 0) || !Number.isFinite(interval)) throw new InvalidOptionError('intervalMs', `Expected \`intervalMs\` to be a non-negative number, got \`${interval}\``, interval);
  const sessions = sessionsOf(sim.sessions);
  if (sessions !== undefined && options.nginx === '1.22') {
    throw new InvalidOptionError('sessions', 'Expected no `sessions` with nginx 1.22: it has no sticky sessions (use the 1.30 target)', sim.sessions);
  }
  // each client's session id: what its cookie (or route) carries on its next connection
  const cookies: (string | null)[] = sessions === undefined ? [] : new Array<string | null>(sessions.clients).fill(null);
  const notes: string[] = [];
  // the clock and the random source are the simulation's own: they replace the options' below
  const { check, ...rest } = options;
  if (check) notes.push('active checks are not simulated: every server counts as healthy for the check; only passive failures (max_fails/fail_timeout) act');
  const start = sim.startMs ?? 1_700_000_000_000;
  const manual = new ManualClock(start);
  const b = new Balancer({ ...rest, clock: wholeSeconds(manual.now), rng: seededRandom(sim.seed ?? 1) });
  const servers = b.servers;
  const byId = new Map<string, string>();
  for (const s of [...servers].reverse()) byId.set(s.address, s.id);
  for (const s of servers) byId.set(s.id, s.id);
  const resolveId = (ref: string): string => {
    const id = byId.get(ref);
    if (id !== undefined) return id;
    if (/^[A-Z]$/.test(ref) && ref.charCodeAt(0) - 65 < servers.length) return servers[ref.charCodeAt(0) - 65]!.id;
    if (/^[1-9][0-9]*$/.test(ref) && Number(ref) <= servers.length) return servers[Number(ref) - 1]!.id;
    const list = servers.slice(0, 26).map((s, i) => `${labelOf(i)}=${s.id}`);
    if (servers.length > list.length) list.push(`... ${servers.length} in all, 1..${servers.length} by index`);
    throw new InvalidOptionError('fail', `Unknown server \`${ref}\` in --fail (servers: ${list.join(', ')})`, ref);
  };
  // the windows of each server (a lookup per try, not a scan of every window)
  const windows = new Map<string, { from: number; to: number }[]>();
  for (const w of sim.failures ?? []) {
    const id = resolveId(w.server);
    const list = windows.get(id) ?? [];
    list.push({ from: w.fromS * 1000, to: w.toS * 1000 });
    windows.set(id, list);
  }
  const refuses = (id: string, t: number) => windows.get(id)?.some((w) => t >= w.from && t < w.to) === true;
  const events: SimulationResult['events'] = [];
  let n = 0;
  b.on('state', (server, from, to, cause) => events.push({ t: manual.now() - start, id: server.id, from, to, cause, n }));
  const out: SimulatedConnection[] = [];
  const counts = new Map<string, number>(servers.map((s) => [s.id, 0]));
  let failed = 0;
  let recorded = 0;
  for (n = 1; n <= connections; n++) {
    const t = (n - 1) * interval;
    manual.set(start + t);
    const client = sessions === undefined ? -1 : (n - 1) % sessions.clients;
    const sent = client < 0 ? null : cookies[client]!;
    const a = sent === null ? b.attempt(sim.key) : b.attempt(sim.key, { hint: sent });
    let hinted = false;
    const tries: SimulatedConnection['tries'] = [];
    let server: string | null = null;
    for (let s = a.next(); s; s = a.next()) {
      if (++recorded > MAX_SIMULATED_TRIES) {
        throw new InvalidOptionError('connections', `Expected the simulation to record at most ${MAX_SIMULATED_TRIES} tries, reached at connection ${n} of ${connections}: simulate fewer connections or fewer refusing servers`, connections);
      }
      if (refuses(s.id, t)) {
        tries.push({ id: s.id, ok: false });
        a.fail();
        continue;
      }
      tries.push({ id: s.id, ok: true });
      hinted = a.hinted;
      a.connected();
      a.release();
      server = s.id;
      break;
    }
    if (server === null) failed++;
    else counts.set(server, (counts.get(server) ?? 0) + 1);
    const row: SimulatedConnection = { n, t, tries, server };
    if (client >= 0) {
      // nginx sets the cookie when the answering server's id differs from the one the request sent
      const given = server === null ? null : b.get(server)!.sid;
      const set = given !== null && given !== sent ? given : null;
      if (given !== null) cookies[client] = given;
      row.session = { client: client + 1, sent, hinted, set };
    }
    out.push(row);
  }
  const shares = servers.map((s, i) => {
    const count = counts.get(s.id) ?? 0;
    return { id: s.id, address: s.address, label: labelOf(i), sid: s.sid, count, percent: Math.round((count / connections) * 1000) / 10 };
  });
  const result: SimulationResult = { upstream: b.name, method: b.method, connections: out, shares, failed, events, notes };
  if (sessions !== undefined) result.sessions = { cookie: sessions.cookie, clients: sessions.clients };
  return result;
}

/** `sessions` checked, with the cookie's name defaulted. */
function sessionsOf(s: SimulatedSessions | undefined): { clients: number; cookie: string } | undefined {
  if (s === undefined) return undefined;
  if (s === null || typeof s !== 'object') throw new InvalidOptionError('sessions', `Expected \`sessions\` to be an object such as { clients: 3 }, got \`${show(s)}\``, s);
  if (!Number.isSafeInteger(s.clients) || s.clients < 1 || s.clients > MAX_SIMULATED_CONNECTIONS) {
    throw new InvalidOptionError('sessions.clients', `Expected \`sessions.clients\` to be an integer from 1 to ${MAX_SIMULATED_CONNECTIONS}, got \`${show(s.clients)}\``, s.clients);
  }
  const cookie = s.cookie ?? 'route';
  if (typeof cookie !== 'string' || cookie.length === 0) throw new InvalidOptionError('sessions.cookie', `Expected \`sessions.cookie\` to be a non-empty cookie name, got \`${show(cookie)}\``, cookie);
  return { clients: s.clients, cookie };
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
  // ids, addresses and the upstream name come from the configuration: each is printed through
  // esc(), so its control characters are shown, never sent to the terminal
  const label = new Map(r.shares.map((s) => [s.id, esc(s.label)]));
  const lines = [`upstream ${esc(r.upstream)} (${esc(r.method)}): ${r.connections.length} connections`];
  for (const s of r.shares) lines.push(`  ${esc(s.label)} = ${esc(s.id)}${s.address !== s.id ? ` (${esc(s.address)})` : ''}`);
  for (const n of r.notes) lines.push(`  note: ${esc(n)}`);
  if (r.sessions !== undefined) {
    lines.push(`  sessions: ${r.sessions.clients} client${r.sessions.clients === 1 ? '' : 's'} keep the ${esc(r.sessions.cookie)} cookie (sent / set: the server its session id names)`);
  }
  lines.push('', `  time      #    tries        ${r.sessions === undefined ? '' : 'session                   '}result`);
  // each event once, under the connection during which it happened (several share a time with --interval 0)
  const byN = new Map<number, SimulationResult['events']>();
  for (const e of r.events) {
    const list = byN.get(e.n);
    if (list) list.push(e);
    else byN.set(e.n, [e]);
  }
  // a session id is shown as the label of the server it names (sids are 32 hex digits)
  const sidLabel = new Map(r.shares.map((s) => [s.sid, esc(s.label)]));
  const named = (sid: string | null) => (sid === null ? '-' : sidLabel.get(sid) ?? esc(sid));
  for (const c of r.connections) {
    const tries = c.tries.map((x) => `${label.get(x.id)}${x.ok ? '' : '!'}`).join(' ') || '-';
    const res = c.server === null ? 'no live upstreams (502)' : `${label.get(c.server)} ${esc(c.server)}`;
    const ses = c.session === undefined ? '' : `client ${String(c.session.client).padEnd(3)} sent ${named(c.session.sent).padEnd(3)} set ${named(c.session.set).padEnd(3)} `;
    lines.push(`  ${(c.t / 1000).toFixed(3).padStart(8)}s ${String(c.n).padStart(4)}  ${tries.padEnd(12)} ${ses}${res}`);
    for (const e of byN.get(c.n) ?? []) lines.push(`             ${label.get(e.id)} ${esc(e.from)} -> ${esc(e.to)} (${esc(e.cause)})`);
  }
  lines.push('', '  shares:');
  for (const s of r.shares) lines.push(`    ${esc(s.label)} ${esc(s.id)}: ${s.count} (${s.percent}%)`);
  if (r.failed) lines.push(`    no live upstreams: ${r.failed} (${Math.round((r.failed / r.connections.length) * 1000) / 10}%)`);
  return lines.join('\n') + '\n';
}
