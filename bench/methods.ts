/**
 * Balancing-method benchmarks (mitata), on the sources:
 *
 *   npx tsx bench/methods.ts [--quick] [--json]
 *   node --expose-gc --import tsx bench/methods.ts     # also bytes allocated per pick
 *
 * Reports ns per pick(key)+release for least-conn, hash, consistent hash, ip-hash, random and
 * random two at n = 2, 8, 64, 1024 servers (weights 1..10, keys rotating over 1024 precomputed
 * strings / client addresses), the ketama ring build for 1024 servers of weight 1 and of weight
 * 10, and (with --expose-gc) heap bytes per pick. Setup is outside the measured functions and
 * results go through `do_not_optimize`. Never part of `npm test`.
 */

import { bench, do_not_optimize, run } from 'mitata';
import { Balancer, seededRandom } from '../src/index';
import { type BalancerOptions, type ServerOptions, resolveServer } from '../src/options';
import type { Peers } from '../src/peers';
import { buildRing } from '../src/select/consistent-hash';
import { ServerRecord } from '../src/server';
import { Tier } from '../src/tier';

const quick = process.argv.includes('--quick');
const asJson = process.argv.includes('--json');
const SIZES = quick ? [8, 1024] : [2, 8, 64, 1024];

const serversOf = (n: number, weight?: number): ServerOptions[] =>
  Array.from({ length: n }, (_, i) => ({ address: `10.${(i >> 8) & 255}.${i & 255}.1:25`, weight: weight ?? 1 + ((i * 7) % 10) }));
const KEYS = Array.from({ length: 1024 }, (_, i) => `user${i * 7919}@example.com`);
const CLIENTS = Array.from({ length: 1024 }, (_, i) => `10.${i & 255}.${(i * 13) & 255}.${i % 200}`);

interface Method {
  name: string;
  options: Partial<BalancerOptions>;
  keys: string[] | null;
}
const METHODS: Method[] = [
  { name: 'least-conn', options: { method: 'least-conn' }, keys: null },
  { name: 'hash', options: { method: 'hash' }, keys: KEYS },
  { name: 'hash consistent', options: { method: 'hash', hash: { consistent: true } }, keys: KEYS },
  { name: 'ip-hash', options: { method: 'ip-hash' }, keys: CLIENTS },
  { name: 'random', options: { method: 'random', rng: seededRandom(1) }, keys: null },
  { name: 'random two', options: { method: 'random', randomTwo: true, rng: seededRandom(1) }, keys: null },
];

interface Row { name: string; n: number | string; what: string }
const rows = new Map<string, Row>();
function add(row: Row, fn: () => void): void {
  const key = `${row.name} | ${row.n} | ${row.what}`;
  rows.set(key, row);
  bench(key, fn);
}

const make = (m: Method, n: number) => new Balancer({ ...m.options, servers: serversOf(n) } as BalancerOptions);

for (const m of METHODS) {
  for (const n of SIZES) {
    const b = make(m, n);
    const keys = m.keys;
    let k = 0;
    add({ name: m.name, n, what: 'pick+release' }, () => {
      const s = b.pick(keys === null ? undefined : keys[k++ & 1023])!;
      b.release(s);
      do_not_optimize(s);
    });
  }
}

/** Peers over `list`, the way the Balancer lays out a tier (for timing the ring build alone). */
function peersOf(list: ServerOptions[]): Peers {
  const owner = {};
  const recs = list.map((s) => new ServerRecord(resolveServer({ address: s.address, weight: s.weight ?? 1 }, 'server'), owner));
  const t = new Tier(recs, false);
  recs.forEach((r, i) => {
    t.weight[i] = r.weight;
    t.effective[i] = r.weight;
    r.tier = t;
    r.index = i;
  });
  t.recount();
  return { primary: t, backup: null, single: false, rng: Math.random };
}
for (const weight of [1, 10]) {
  const p = peersOf(serversOf(1024, weight));
  add({ name: 'ketama ring build', n: 1024, what: `weight ${weight} (${160 * 1024 * weight} points)` }, () => do_not_optimize(buildRing(p)));
}

const result = await run({ format: 'quiet' });

function bytesPerPick(m: Method, n: number): number {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g === undefined) return NaN;
  const b = make(m, n);
  const keys = m.keys;
  const loop = (count: number) => {
    for (let i = 0; i < count; i++) b.release(b.pick(keys === null ? undefined : keys[i & 1023])!);
  };
  loop(100_000);
  g();
  const before = process.memoryUsage().heapUsed;
  loop(1_000_000);
  return (process.memoryUsage().heapUsed - before) / 1_000_000;
}

const table = result.benchmarks.map((x: { alias: string; runs: Array<{ stats?: { p50: number; avg: number } }> }) => {
  const row = rows.get(x.alias)!;
  const stats = x.runs[0]?.stats;
  return { ...row, p50: stats?.p50 ?? NaN, avg: stats?.avg ?? NaN };
});
const allocation = METHODS.map((m) => ({ name: m.name, n: 64, bytesPerPick: bytesPerPick(m, 64) }));

if (asJson) {
  console.log(JSON.stringify({ runtime: process.version, cpu: result.context.cpu.name, table, allocation }, null, 2));
} else {
  const fmt = (ns: number) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(1)} ns`);
  console.log(`node ${process.version}, ${result.context.cpu.name}; p50 and mean per iteration\n`);
  console.log('| method | n | operation | p50 | avg |\n| --- | ---: | --- | ---: | ---: |');
  for (const r of table) console.log(`| ${r.name} | ${r.n} | ${r.what} | ${fmt(r.p50)} | ${fmt(r.avg)} |`);
  if (allocation.some((a) => !Number.isNaN(a.bytesPerPick))) {
    console.log('\n| method | n | heap bytes per pick+release (1e6 picks) |\n| --- | ---: | ---: |');
    for (const a of allocation) console.log(`| ${a.name} | ${a.n} | ${a.bytesPerPick.toFixed(3)} |`);
  }
}
