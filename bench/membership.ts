/**
 * Membership changes and status rendering against the event loop (issue 18, item 3):
 *
 *   node --expose-gc --import tsx bench/membership.ts [--rounds N] [--only METHOD] [--no-status] [--no-largest]
 *     [--status-servers N] [--prom-client] [--before DIR] [--dist DIR]
 *
 * `--dist DIR`: the library measured is the built one, `DIR/index.js` (and `DIR/status.js`), e.g.
 * `dist/` after `npm run build`; tsx on `src/` runs slower and less evenly than the bundle. Without
 * it, `src/` through tsx. The consistent-hash anchor (`buildRing`, not exported by the package)
 * always comes from `src/`: it reads only the tiers' addresses and weights.
 *
 * Part 1: for every method at 1,024 servers of weight 10, the synchronous time of each change kind
 * (a change runs on the caller's turn, so its duration is how long it blocks the event loop):
 * `add` (a new server), `remove` (that server again), `update` (one server's weight 10 -> 11 and
 * back), `setServers` (the list with one server replaced by a new address, alternately), and, as a
 * non-target row, `setServers` replacing every server. Each change kind runs `rounds` times (20)
 * with 64 picks between changes; the table gives the longest and the median change, and the sum.
 * A loop-delay histogram (1 ms resolution), fresh for each change, catches any work a change defers.
 * Sticky sessions' membership state is the tier's session-id map (built at the first hinted get
 * after a change): its row times the change plus one hinted attempt.
 * Garbage collection is told apart from the library's work: every GC pause (`PerformanceObserver`,
 * entry type 'gc', on the same clock as `performance.now()`) that overlaps a change is counted
 * against that change; the table gives the longest change less the GC pauses inside it, how
 * many changes took over 5 ms (with how many of those held a GC pause), and the longest process
 * CPU time of a change (`process.cpuUsage`: the work done, without the time the machine's other
 * processes took while the change waited for a CPU).
 * `--before DIR`: a copy of `src/` from another revision (e.g. `git archive HEAD src`), or a built
 * `dist/` of one (any directory holding `index.js`); every
 * method then runs twice in turn, the copy's library first ("before"), then this tree's ("after"),
 * in one process, so both meet the same machine load (the copy's table, run first, slows this
 * tree's table after it somewhat: bench/README.md). The copy needs `node_modules` beside it.
 * For consistent hash, the anchor in the same run: `buildRing` (the whole ring, what the selector
 * built on every change before the incremental ring) timed `rounds` times over the tiers the last
 * change left, after all of the method's changes (not between changes: see `bothTables`).
 * Then consistent hash at the largest ring this library builds (1,024 servers of weight 102:
 * 16,711,680 points).
 *
 * Part 2: the status handler at 100,000 checked servers over HTTP on 127.0.0.1, one request per
 * format: the longest event-loop block (loop-delay histogram, 1 ms resolution, minus nothing: a
 * block of b ms shows as a delay of about b ms) and the time to the whole page; plus, as reference
 * rows, `formatStatus` (one string, synchronous by its API) and, with --prom-client, the prom-client
 * collector's `registry.metrics()` (prom-client serialises in one turn: about 45 s at 100,000).
 *
 * Figures go in bench/README.md ("Membership changes and status at scale"); never part of `npm test`.
 */

import http from 'node:http';
import path from 'node:path';
import { PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';
import type * as Root from '../src/index';
import type { BalancerOptions, ServerOptions } from '../src/options';
import type { Peers } from '../src/peers';
import { buildRing } from '../src/select/consistent-hash';
import type * as Status from '../src/status';

/** The library's root from a directory: a built `dist/` (`index.js`) or a copy of `src/` (`index.ts`, through tsx). */
async function rootIn(dir: string): Promise<typeof Root> {
  const built = path.resolve(dir, 'index.js');
  return (await import(pathToFileURL(existsSync(built) ? built : path.resolve(dir, 'index.ts')).href)) as typeof Root;
}
const distAt = process.argv.indexOf('--dist');
const DIST = distAt < 0 ? null : path.resolve(process.argv[distAt + 1]!);
const { Balancer, seededRandom } = DIST === null ? await import('../src/index') : await rootIn(DIST);
type Balancer = Root.Balancer;
const { formatStatus, statusHandler, collectBalancerMetrics } = (
  DIST === null ? await import('../src/status') : await import(pathToFileURL(path.join(DIST, 'status.js')).href)
) as typeof Status;

/** The Balancer class of this tree (or of `--dist`), or of the copy given with `--before`. */
type BalancerClass = typeof Root.Balancer;
const beforeAt = process.argv.indexOf('--before');
const BEFORE: BalancerClass | null = beforeAt < 0 ? null : (await rootIn(process.argv[beforeAt + 1]!)).Balancer;

/** GC pauses seen so far: [start, end] on the `performance.now()` clock. */
const gcPauses: [number, number][] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcPauses.push([e.startTime, e.startTime + e.duration]);
}).observe({ entryTypes: ['gc'] });
/** GC pause time inside [from, to]. */
function gcWithin(from: number, to: number): number {
  let ms = 0;
  for (const [a, b] of gcPauses) if (b > from && a < to) ms += Math.min(b, to) - Math.max(a, from);
  return ms;
}

const arg = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(name);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
};
const ROUNDS = arg('--rounds', 20);
/** Untimed rounds before each change kind (the first calls compile the path). */
const WARMUP = 2;
const STATUS_SERVERS = arg('--status-servers', 100_000);
const N = 1024;
const gc = (globalThis as { gc?: () => void }).gc;

const address = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:25`;
const serversOf = (n: number, weight: number, offset = 0): ServerOptions[] =>
  Array.from({ length: n }, (_, i) => ({ id: `s${i + offset}`, address: address(i + offset), weight }));
const KEYS = Array.from({ length: 1024 }, (_, i) => `user${i * 7919}@example.com`);
const CLIENTS = Array.from({ length: 1024 }, (_, i) => `10.${i & 255}.${(i * 13) & 255}.${i % 200}`);

interface MethodCase {
  name: string;
  options: Partial<BalancerOptions>;
  keys: string[] | null;
  hinted?: boolean;
}
const METHODS: MethodCase[] = [
  { name: 'round-robin', options: {}, keys: null },
  { name: 'least-conn', options: { method: 'least-conn' }, keys: null },
  { name: 'hash', options: { method: 'hash' }, keys: KEYS },
  { name: 'hash consistent', options: { method: 'hash', hash: { consistent: true } }, keys: KEYS },
  { name: 'ip-hash', options: { method: 'ip-hash' }, keys: CLIENTS },
  { name: 'random', options: { method: 'random', rng: seededRandom(1) }, keys: null },
  { name: 'random two', options: { method: 'random', randomTwo: true, rng: seededRandom(1) }, keys: null },
  { name: 'sticky (hinted get)', options: {}, keys: null, hinted: true },
];

interface Stat {
  max: number; median: number; total: number; loopMax: number;
  /** Longest change less the GC pauses inside it; changes over 5 ms, and of those, the ones holding a GC pause. */
  maxLessGc: number; over5: number; over5WithGc: number;
  /** Longest process CPU time (user + system) of a change: its work without the time the machine gave to others. */
  maxCpu: number;
  /** Rounds (0-based, after the untimed ones) whose change took over 5 ms. */
  slowRounds: number[];
}

const summary = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return { max: sorted[sorted.length - 1]!, median: sorted[sorted.length >> 1]!, total: samples.reduce((a, b) => a + b, 0) };
};

function stat(samples: number[], gc: number[], cpu: number[], loopMax: number): Stat {
  const over5 = samples.filter((ms) => ms > 5).length;
  const over5WithGc = samples.filter((ms, k) => ms > 5 && gc[k]! > 0).length;
  const maxLessGc = Math.max(...samples.map((ms, k) => ms - gc[k]!));
  const slowRounds = samples.flatMap((ms, k) => (ms > 5 ? [k] : []));
  return { ...summary(samples), loopMax, maxLessGc, over5, over5WithGc, maxCpu: Math.max(...cpu), slowRounds };
}

/** The tiers of a balancer (internal: the anchor rebuilds the ring over them as the old selector did). */
const peersOf = (b: Balancer): Peers => (b as unknown as { members: { peers: Peers } }).members.peers;

/** Runs `change(k)` `rounds` times with picks between, timing each call; the loop is free between rounds. */
async function measure(b: Balancer, m: MethodCase, rounds: number, change: (k: number) => void, prepare?: (k: number) => void): Promise<Stat> {
  const samples: number[] = [];
  const gcs: number[] = [];
  const cpus: number[] = [];
  let loopMax = 0;
  // No forced gc() here: changes after a forced full collection ran about 1.5x slower for a while
  // (setServers with one server replaced at consistent hash: 3.8 -> 5.5 ms median, isolated loop).
  for (let k = -WARMUP; k < rounds; k++) {
    if (prepare !== undefined) {
      prepare(k);
      await new Promise((r) => setTimeout(r, 2));
    }
    for (let j = 0; j < 64; j++) {
      const s = b.pick(m.keys === null ? undefined : m.keys[(k * 64 + j) & 1023]);
      if (s !== undefined) b.release(s);
    }
    // a fresh histogram per change: it sees the change and whatever the change leaves for later turns
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    await new Promise((r) => setTimeout(r, 3));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    change(k);
    if (m.hinted === true) {
      const a = b.attempt(undefined, { hint: b.servers[((k + WARMUP) * 37) % b.servers.length]!.sid });
      const s = a.next();
      if (s !== undefined) a.release();
    }
    const t1 = performance.now();
    const cpu = process.cpuUsage(cpu0);
    const ms = t1 - t0;
    await new Promise((r) => setTimeout(r, 5)); // (the GC observer's entries arrive by now)
    h.disable();
    if (k >= 0) {
      samples.push(ms);
      gcs.push(gcWithin(t0, t1));
      cpus.push((cpu.user + cpu.system) / 1000);
      loopMax = Math.max(loopMax, h.max / 1e6);
    }
  }
  gcPauses.length = 0;
  return stat(samples, gcs, cpus, loopMax);
}

const fmt = (ms: number): string => (ms < 10 ? ms.toFixed(2) : ms.toFixed(0));
const row = (cells: (string | number)[]): void => console.log(`| ${cells.join(' | ')} |`);

async function membershipTable(m: MethodCase, n: number, weight: number, rounds: number, label: string, Lib: BalancerClass = Balancer, source = '-'): Promise<Balancer> {
  const options = { ...m.options, servers: serversOf(n, weight) } as BalancerOptions;
  if (m.options.rng !== undefined) options.rng = seededRandom(1); // a fresh generator per run
  const t0 = performance.now();
  const b = new Lib(options) as Balancer;
  const build = performance.now() - t0;
  const extra = (k: number): ServerOptions => ({ id: `x${k + WARMUP}`, address: address(n + 1 + ((k + WARMUP) % 64)), weight });
  const results: [string, Stat][] = [];
  // add: a new server (removed again untimed before the next round); remove: one added untimed
  results.push(['add', await measure(b, m, rounds, (k) => b.add(extra(k)), (k) => k > -WARMUP && b.remove(`x${k - 1 + WARMUP}`))]);
  b.remove(`x${rounds - 1 + WARMUP}`);
  results.push(['remove', await measure(b, m, rounds, (k) => b.remove(`x${k + WARMUP}`), (k) => b.add(extra(k)))]);
  results.push(['update (weight)', await measure(b, m, rounds, (k) => b.update(`s${((k + WARMUP) * 131) % n}`, { weight: k % 2 === 0 ? weight + 1 : weight }))]);
  const base = serversOf(n, weight);
  results.push([
    'setServers (one replaced)',
    await measure(b, m, rounds, (k) => {
      const list = base.slice();
      const at = ((k + WARMUP) * 257) % n;
      if (k % 2 === 0) list[at] = { id: `y${k + WARMUP}`, address: address(n + 100 + k + WARMUP), weight };
      b.setServers(list);
    }),
  ]);
  results.push([
    'setServers (all replaced; not a target)',
    await measure(b, m, Math.max(3, rounds >> 2), (k) => b.setServers(serversOf(n, weight, k % 2 === 0 ? n * 4 : 0))),
  ]);
  for (const [kind, s] of results) {
    row([label, kind, source, fmt(s.median), fmt(s.max), fmt(s.maxLessGc), fmt(s.maxCpu), `${s.over5} (${s.over5WithGc})`, fmt(s.total), fmt(s.loopMax)]);
    if (s.slowRounds.length > 0) console.error(`  (${label}, ${kind}: rounds over 5 ms: ${s.slowRounds.join(', ')})`);
  }
  console.error(`  (${label}: construction ${fmt(build)} ms)`);
  return b;
}

async function statusTable(n: number): Promise<void> {
  const servers = Array.from({ length: n }, (_, i) => ({ address: address(i) }));
  const b = new Balancer({ name: 'big', servers, check: { interval: 5000, defaultDown: false } });
  const server = http.createServer(statusHandler([b]));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as { port: number }).port;
    for (const format of ['prometheus', 'json', 'html', 'csv']) {
      gc?.();
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      const t0 = performance.now();
      const bytes = await new Promise<number>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: `/?format=${format}`, agent: false }, (res) => {
            let len = 0;
            res.on('data', (c: Buffer) => (len += c.length));
            res.on('end', () => resolve(len));
          })
          .on('error', reject);
      });
      const ms = performance.now() - t0;
      await new Promise((r) => setTimeout(r, 5));
      h.disable();
      row([`statusHandler ${format}`, `${(bytes / 1e6).toFixed(1)} MB`, fmt(h.max / 1e6), fmt(h.percentile(99) / 1e6), fmt(ms)]);
    }
  } finally {
    server.close();
  }
  gc?.();
  let t0 = performance.now();
  const text = formatStatus(b.snapshot(), 'prometheus');
  row(['formatStatus prometheus (one string, sync API)', `${(text.length / 1e6).toFixed(1)} MB`, fmt(performance.now() - t0), '-', fmt(performance.now() - t0)]);
  let client: typeof import('prom-client') | null = null;
  try {
    client = await import('prom-client');
  } catch {
    client = null;
  }
  if (client !== null && process.argv.includes('--prom-client')) {
    const registry = new client.Registry();
    collectBalancerMetrics(client, [b], { registry });
    gc?.();
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    t0 = performance.now();
    const scraped = await registry.metrics();
    const ms = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 5));
    h.disable();
    row(['prom-client registry.metrics() (reference)', `${(scraped.length / 1e6).toFixed(1)} MB`, fmt(h.max / 1e6), '-', fmt(ms)]);
  }
}

/** The method's table, for the `--before` copy first when there is one, then for this tree. */
async function bothTables(m: MethodCase, n: number, weight: number, rounds: number, label: string): Promise<void> {
  if (BEFORE !== null) await membershipTable(m, n, weight, rounds, label, BEFORE, 'before');
  const b = await membershipTable(m, n, weight, rounds, label, Balancer, BEFORE === null ? '-' : 'after');
  if (m.options.hash?.consistent !== true) return;
  // The anchor, in the same run: the whole ring the selector built on every change before the kept
  // ring, over the tiers the last change left. Timed after every change of the method, not between
  // changes: 26 MB of typed arrays allocated between two changes made the next change 2-3x slower
  // (V8's marking of the external memory, on the same 2 vCPUs), and for a while after.
  const anchor: number[] = [];
  for (let k = 0; k < rounds; k++) {
    const t1 = performance.now();
    buildRing(peersOf(b));
    anchor.push(performance.now() - t1);
    await new Promise((r) => setTimeout(r, 2));
  }
  const a = summary(anchor);
  row([label, 'anchor: whole ring build (`buildRing`)', '-', fmt(a.median), fmt(a.max), '-', '-', '-', fmt(a.total), '-']);
}

const HEADER = ['method', 'change', 'source', 'median', 'longest', 'longest less its GC', 'longest CPU time', 'calls > 5 ms (with GC)', 'total', 'loop delay max'];
const RULE = ['---', '---', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:'];
console.log(`Node ${process.version}, ${ROUNDS} rounds per change kind${gc === undefined ? ' (no --expose-gc)' : ''}, library: ${DIST ?? 'src/ (tsx)'}`);
console.log('\n### Membership changes at 1,024 servers of weight 10 (ms)\n');
row(HEADER);
row(RULE);
const only = process.argv.indexOf('--only');
for (const m of METHODS) if (only < 0 || m.name === process.argv[only + 1]) await bothTables(m, N, 10, ROUNDS, m.name);
if (!process.argv.includes('--no-largest')) {
  console.log('\n### Consistent hash at the largest ring (1,024 servers of weight 102: 16,711,680 points) (ms)\n');
  row(HEADER);
  row(RULE);
  await bothTables(METHODS[3]!, N, 102, Math.max(4, ROUNDS >> 2), 'hash consistent, largest ring');
}
if (!process.argv.includes('--no-status')) {
  console.log(`\n### Status at ${STATUS_SERVERS.toLocaleString('en')} checked servers (ms)\n`);
  row(['subject', 'bytes', 'longest block (loop delay max)', 'loop delay p99', 'whole page']);
  row(['---', '---:', '---:', '---:', '---:']);
  await statusTable(STATUS_SERVERS);
}
