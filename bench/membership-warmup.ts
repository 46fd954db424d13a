/**
 * One membership change kind in a fresh process, call after call (issue 18 item 3): how long each
 * call blocks from the first on, so the warm-up (V8 compiling the change path) shows apart from the
 * steady cost that `membership.ts` reports; with `--phases`, the time inside each call by part.
 *
 *   node --import tsx bench/membership-warmup.ts [--dist DIR] [--kind set1|add|remove|update|all]
 *     [--method rr|lc|hash|chash] [--rounds N] [--phases] [--cold] [--async [--slice-ms MS]]
 *     [--after-gc (with node --expose-gc)]
 *
 * 1,024 servers of weight 10, as `membership.ts`. Between calls: 64 picks (each released) and a
 * 1 ms timer, so every call starts on a new turn of the loop. Kinds: `set1` setServers with one
 * server replaced on even rounds and the list restored on odd ones (each call moves one server
 * out and one in), `add` one new server (removed again, untimed), `remove` that server, `update`
 * one server's weight 10 -> 11 and back, `all` setServers replacing every server (not a target).
 * Prints the first five calls, the median, p90 and longest, and which calls took over 5 ms.
 * `--async` (set1, all): `setServersAsync` instead, each call's figure being the longest turn of the
 * event loop while it runs (a `setImmediate` ticker's longest gap), with its time until applied.
 *
 * `--after-gc`: then 1, 4 and 16 full collections with the path idle, three changes after each
 * (whether the compiled path survives idle time). UB_EACH=1 prints every call's figure.
 *
 * `--phases` wraps the built library's methods with timers (the Balancer's change methods, the
 * membership's `replace` / `rebuild`, the selector's `rebuilt` and, for consistent hash, the bucket
 * store's `change`; each includes the ones it calls) and prints the median of each over the rounds
 * from 20 on, with the first three calls. `--cold` writes 64 MB and idles 5 ms between calls, so
 * that each change starts with cold caches, as between real changes. Library from `dist/` by
 * default (build first), or from DIR. Figures in bench/README.md (membership, fourth and fifth steps).
 */

import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Root from '../src/index';

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(name);
  return at < 0 ? fallback : process.argv[at + 1]!;
}
const dist = path.resolve(arg('--dist', 'dist'));
const kind = arg('--kind', 'set1');
const method = arg('--method', 'chash');
const rounds = Number(arg('--rounds', '100'));
const phases = process.argv.includes('--phases');
const afterGcs = process.argv.includes('--after-gc');
const cold = process.argv.includes('--cold');
const sliced = process.argv.includes('--async');
const sliceMs = process.argv.includes('--slice-ms') ? Number(arg('--slice-ms', '2')) : undefined;
if (!['set1', 'add', 'remove', 'update', 'all'].includes(kind)) throw new Error(`unknown --kind ${kind}`);
if (sliced && kind !== 'set1' && kind !== 'all') throw new Error('--async applies to --kind set1 or all (setServersAsync)');

const METHODS: Record<string, Partial<Root.BalancerOptions>> = {
  rr: {},
  lc: { method: 'least-conn' },
  hash: { method: 'hash' },
  chash: { method: 'hash', hash: { consistent: true } },
};
if (!(method in METHODS)) throw new Error(`unknown --method ${method} (rr, lc, hash, chash)`);

const { Balancer } = (await import(pathToFileURL(path.join(dist, 'index.js')).href)) as typeof Root;
const N = 1024;
const W = 10;
const address = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:25`;
const serversOf = (n: number, offset = 0) => Array.from({ length: n }, (_, i) => ({ id: `s${i + offset}`, address: address(i + offset), weight: W }));
const b = new Balancer({ ...METHODS[method], servers: serversOf(N) });
const base = serversOf(N);

/** Per-phase totals of the current call (`--phases`). */
const spent: Record<string, number> = {};
function wrap(target: object | undefined, name: string, label: string): void {
  const o = target as Record<string, unknown> | undefined;
  const f = o?.[name];
  if (typeof f !== 'function') return;
  o![name] = function (this: unknown, ...a: unknown[]) {
    const t0 = performance.now();
    try {
      return (f as (...x: unknown[]) => unknown).apply(this, a);
    } finally {
      spent[label] = (spent[label] ?? 0) + performance.now() - t0;
    }
  };
}
if (phases) {
  // internal fields of the built classes: a measuring aid only, not an API
  const members = (b as unknown as { members: Record<string, unknown> & { selector: Record<string, unknown> } }).members;
  for (const n of ['replace', 'rebuild']) wrap(members, n, `membership.${n}`);
  wrap(members.selector, 'rebuilt', 'selector.rebuilt');
  const ring = members.selector.ring as { buckets?: object } | undefined;
  if (ring?.buckets !== undefined) wrap(Object.getPrototypeOf(ring.buckets) as object, 'change', 'ring buckets.change');
  for (const n of ['setServers', 'add', 'remove', 'update']) wrap(b, n, `balancer.${n}`);
}

const thrash = new Int32Array(cold ? 16 << 20 : 0);
const turn = (ms: number) => new Promise((r) => setTimeout(r, ms));
const times: number[] = [];
/** `--async`: each call's time from call to applied, and the turns it took. */
const walls: number[] = [];
const turnCounts: number[] = [];

/**
 * Runs `change` with a `setImmediate` ticker beside it: the longest gap between two ticks (the
 * loop held by one turn: a slice, or the apply), the time until the promise settles, the ticks.
 */
async function whileTicking(change: () => Promise<void>): Promise<{ longest: number; wall: number; turns: number }> {
  let last = performance.now();
  const t0 = last;
  let longest = 0;
  let turns = 0;
  let on = true;
  const tick = () => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    turns++;
    if (on) setImmediate(tick);
  };
  setImmediate(tick);
  await change();
  on = false;
  const end = performance.now();
  return { longest: Math.max(longest, end - last), wall: end - t0, turns };
}
const perCall: Record<string, number>[] = [];
if (kind === 'remove') b.add({ id: 'x0', address: address(N + 1), weight: W });

/** Change number `k`: its time (or longest turn) goes to `times`, its parts to `perCall`. */
async function change(k: number): Promise<void> {
  for (let j = 0; j < 64; j++) {
    const s = b.pick(`user${(k * 64 + j) * 7919}@example.com`);
    if (s !== undefined) b.release(s);
  }
  for (const key of Object.keys(spent)) spent[key] = 0;
  let t0 = 0;
  if (kind === 'set1' || kind === 'all') {
    let list = base.slice();
    if (kind === 'all') list = serversOf(N, k % 2 === 0 ? N * 4 : 0);
    else if (k % 2 === 0) list[(k * 257) % N] = { id: `y${k}`, address: address(N + 100 + k), weight: W };
    if (sliced) {
      const { longest, wall, turns } = await whileTicking(() => b.setServersAsync(list, { sliceMs }));
      times.push(longest);
      walls.push(wall);
      turnCounts.push(turns);
      perCall.push({ ...spent });
      await turn(1);
      return;
    }
    t0 = performance.now();
    b.setServers(list);
  } else if (kind === 'add') {
    t0 = performance.now();
    b.add({ id: `x${k}`, address: address(N + 1 + (k % 64)), weight: W });
  } else if (kind === 'remove') {
    t0 = performance.now();
    b.remove(`x${k}`);
  } else {
    t0 = performance.now();
    b.update(`s${(k * 131) % N}`, { weight: k % 2 === 0 ? W + 1 : W });
  }
  times.push(performance.now() - t0);
  perCall.push({ ...spent });
  await turn(1);
  if (kind === 'add') b.remove(`x${k}`);
  if (kind === 'remove') b.add({ id: `x${k + 1}`, address: address(N + 1 + ((k + 1) % 64)), weight: W });
  if (cold) {
    for (let q = 0; q < thrash.length; q += 16) thrash[q]!++;
    await turn(5);
  }
}
for (let k = 0; k < rounds; k++) await change(k);

/**
 * `--after-gc` (node --expose-gc): after the rounds, 1, then 4, then 16 full collections with the
 * change path idle, each followed by three changes: whether the compiled path survives (V8 flushes
 * the bytecode of functions left unused across collections, and their optimized code with it).
 */
const afterGc: string[] = [];
if (afterGcs) {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('--after-gc needs node --expose-gc');
  let k = rounds;
  for (const gcs of [1, 4, 16]) {
    for (let g = 0; g < gcs; g++) {
      gc();
      await turn(5);
    }
    const from = times.length;
    for (let q = 0; q < 3; q++) await change(k++);
    afterGc.push(`after ${gcs} full GC${gcs === 1 ? '' : 's'}: ${times.splice(from).map((t) => t.toFixed(1)).join(' ')} ms`);
    perCall.splice(from);
  }
}

const sorted = [...times].sort((x, y) => x - y);
const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!.toFixed(2);
const over = times.flatMap((t, i) => (t > 5 ? [i] : []));
console.log(
  `${kind} ${method}${sliced ? ' setServersAsync, longest turn per call' : ''} (${rounds} calls, ${path.relative(process.cwd(), dist) || '.'}${cold ? ', cold' : ''}): first five ` +
    `${times.slice(0, 5).map((t) => t.toFixed(1)).join(' ')} ms | median ${at(0.5)} p90 ${at(0.9)} longest ${at(1)} | ` +
    `over 5 ms: ${over.length === 0 ? 'none' : `calls ${over.join(', ')}`}`,
);
if (process.env.UB_EACH) console.log(`  every call, ms: ${times.map((t) => t.toFixed(1)).join(' ')}`);
if (afterGc.length > 0) console.log(`  ${afterGc.join('; ')}`);
if (sliced) {
  const mid = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
  console.log(`  until applied: median ${mid(walls).toFixed(1)} ms, longest ${Math.max(...walls).toFixed(1)} ms; turns per call: median ${mid(turnCounts)}`);
}
if (phases) {
  const skip = Math.min(20, rounds - 1);
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
  console.log(`per part (ms; median of calls ${skip}..${rounds - 1}, longest, [first three calls]):`);
  // (a label only the untimed steps reach, e.g. `remove` after an `add`, stays at 0: left out)
  const labels = [...new Set(perCall.flatMap((c) => Object.keys(c).filter((k) => c[k]! > 0)))];
  for (const label of labels) {
    const v = perCall.slice(skip).map((c) => c[label] ?? 0);
    const first = perCall.slice(0, 3).map((c) => (c[label] ?? 0).toFixed(1)).join(' ');
    console.log(`  ${label.padEnd(22)} ${median(v).toFixed(3).padStart(7)}  ${Math.max(...v).toFixed(2).padStart(6)}  [${first}]`);
  }
}
