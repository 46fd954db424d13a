/**
 * least_conn pick+release against two anchors, in one run (issue 18, item 2):
 *
 *   node --import tsx bench/least-conn.ts [--rounds 3] [--repeat 1] [--sizes 8,1024] [--json]
 *                                        (the library from dist/: build first; UB_SRC=1: src/ through tsx)
 *
 * Subjects, each in its own child process (no shared inline caches) for every row:
 * - `library`: the Balancer (`method: 'least-conn'`), `pick()` then `release()`.
 * - `plain-js`: a plain JavaScript copy of nginx 1.30.4's `ngx_http_upstream_get_least_conn_peer`
 *   and the free of `ngx_http_upstream_free_round_robin_peer`: peers as objects in configuration
 *   order (nginx's list of structs), a tried bitmap per request, both passes of the C loop.
 * - `plain-arrays`: the same copy with the peers' fields in typed arrays (struct of arrays); the
 *   ratio is taken against the faster of the two plain copies in each row.
 * - `c`: the same loop in C (peer structs in a linked list, `uintptr_t` tried bitmap), compiled
 *   here with `gcc -O2` into a temporary directory.
 * Rows: n = 8 (12 connections held) and n = 1024 (1,536 held), weights uniform or skewed
 * (1 + (i * 7) % 10), two workloads after the held connections are taken by the subject itself:
 * `pair` (pick then release the same server: the tied set is the same every time) and `rotate`
 * (pick one more, release the oldest held: the counts move). Before timing, each subject's picks
 * over the first 20,000 operations are hashed and must equal the plain-js copy's, so every subject
 * runs nginx's sequence. JS subjects report mitata's p50 per operation (64 per call); C reports
 * the median of 7 timed batches. With `--repeat K` every subject runs K times per row, taking turns,
 * and the row shows each one's median. Ratios are taken within one round; rounds show the spread.
 * Measure dist/ (what users run): through tsx, src/ runs slower and unevenly (see bench/README.md).
 *
 * `--pair [K]`: n = 8 only, every row with the library and the plain copy with peer objects (the
 * faster copy at 8 servers in every run) in each child, K children per row (default 3). A child
 * times the two in rounds of one chunk each (1.28 M operations, CPU time), the order alternating,
 * so that the machine's change of pace between processes (it runs a process at one of two speeds)
 * does not land in the ratio. One plain loop per child: two plain classes through one loop would
 * make its call sites polymorphic. Each child first checks that the library and both copies run
 * nginx's pick sequence (on instances of their own), as the default mode does.
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuChunk, median as medianOf, pairedChildren } from './paired';

type Shape = 'uniform' | 'skewed';
type Workload = 'pair' | 'rotate';
const CHECK_OPS = 20_000;
const heldFor = (n: number) => (n === 8 ? 12 : Math.round(n * 1.5));
const weightsOf = (n: number, shape: Shape) => Array.from({ length: n }, (_, i) => (shape === 'skewed' ? 1 + ((i * 7) % 10) : 1));

/** A subject in index terms: pick returns a server index, release frees one. */
interface Subject {
  pick(): number;
  release(i: number): void;
}

interface Peer {
  weight: number;
  effective: number;
  current: number;
  conns: number;
  maxConns: number;
  fails: number;
  maxFails: number;
  failTimeout: number;
  accessed: number;
  checked: number;
  down: boolean;
}

/** nginx's least_conn get and free, copied plainly into JavaScript (the anchor). */
class PlainLeastConn implements Subject {
  readonly peers: Peer[];
  readonly #tried: Uint32Array;
  #now = 1000;

  constructor(weights: number[]) {
    this.peers = weights.map((w) => ({ weight: w, effective: w, current: 0, conns: 0, maxConns: 0, fails: 0, maxFails: 1, failTimeout: 10_000, accessed: 0, checked: 0, down: false }));
    this.#tried = new Uint32Array((weights.length + 31) >>> 5);
  }

  pick(): number {
    const peers = this.peers;
    const tried = this.#tried; // a fresh request's set (cleared below, as a new request's would be)
    const now = this.#now;
    let best: Peer | null = null;
    let p = 0;
    let many = false;
    for (let i = 0; i < peers.length; i++) {
      const peer = peers[i]!;
      if ((tried[i >>> 5]! & (1 << (i & 31))) !== 0) continue;
      if (peer.down) continue;
      if (peer.maxFails !== 0 && peer.fails >= peer.maxFails && now - peer.checked <= peer.failTimeout) continue;
      if (peer.maxConns !== 0 && peer.conns >= peer.maxConns) continue;
      if (best === null || peer.conns * best.weight < best.conns * peer.weight) {
        best = peer;
        many = false;
        p = i;
      } else if (peer.conns * best.weight === best.conns * peer.weight) {
        many = true;
      }
    }
    if (best === null) return -1;
    if (many) {
      let total = 0;
      const first: Peer = best;
      for (let i = p; i < peers.length; i++) {
        const peer = peers[i]!;
        if ((tried[i >>> 5]! & (1 << (i & 31))) !== 0) continue;
        if (peer.down) continue;
        if (peer.conns * first.weight !== first.conns * peer.weight) continue;
        if (peer.maxFails !== 0 && peer.fails >= peer.maxFails && now - peer.checked <= peer.failTimeout) continue;
        if (peer.maxConns !== 0 && peer.conns >= peer.maxConns) continue;
        peer.current += peer.effective;
        total += peer.effective;
        if (peer.effective < peer.weight) peer.effective++;
        if (peer.current > best.current) {
          best = peer;
          p = i;
        }
      }
      best.current -= total;
    }
    if (now - best.checked > best.failTimeout) best.checked = now;
    best.conns++;
    tried[p >>> 5]! |= 1 << (p & 31);
    tried[p >>> 5]! &= ~(1 << (p & 31)); // the request ends: the next pick is a fresh request
    return p;
  }

  release(i: number): void {
    const peer = this.peers[i]!;
    if (peer.accessed < peer.checked) peer.fails = 0;
    peer.conns--;
  }
}

/** The same get and free with the peers' fields in typed arrays (struct of arrays, as the library's tiers keep them). */
class PlainLeastConnArrays implements Subject {
  readonly #n: number;
  readonly #weight: Float64Array;
  readonly #effective: Float64Array;
  readonly #current: Float64Array;
  readonly #conns: Float64Array;
  readonly #maxConns: Float64Array;
  readonly #fails: Float64Array;
  readonly #maxFails: Float64Array;
  readonly #failTimeout: Float64Array;
  readonly #accessed: Float64Array;
  readonly #checked: Float64Array;
  readonly #down: Uint8Array;
  readonly #tried: Uint32Array;
  #now = 1000;

  constructor(weights: number[]) {
    const n = weights.length;
    this.#n = n;
    this.#weight = Float64Array.from(weights);
    this.#effective = Float64Array.from(weights);
    this.#current = new Float64Array(n);
    this.#conns = new Float64Array(n);
    this.#maxConns = new Float64Array(n);
    this.#fails = new Float64Array(n);
    this.#maxFails = new Float64Array(n).fill(1);
    this.#failTimeout = new Float64Array(n).fill(10_000);
    this.#accessed = new Float64Array(n);
    this.#checked = new Float64Array(n);
    this.#down = new Uint8Array(n);
    this.#tried = new Uint32Array((n + 31) >>> 5);
  }

  pick(): number {
    const n = this.#n;
    const weight = this.#weight;
    const conns = this.#conns;
    const maxConns = this.#maxConns;
    const fails = this.#fails;
    const maxFails = this.#maxFails;
    const checked = this.#checked;
    const failTimeout = this.#failTimeout;
    const down = this.#down;
    const tried = this.#tried;
    const now = this.#now;
    let best = -1;
    let many = false;
    for (let i = 0; i < n; i++) {
      if ((tried[i >>> 5]! & (1 << (i & 31))) !== 0) continue;
      if (down[i] !== 0) continue;
      if (maxFails[i] !== 0 && fails[i]! >= maxFails[i]! && now - checked[i]! <= failTimeout[i]!) continue;
      if (maxConns[i] !== 0 && conns[i]! >= maxConns[i]!) continue;
      if (best < 0 || conns[i]! * weight[best]! < conns[best]! * weight[i]!) {
        best = i;
        many = false;
      } else if (conns[i]! * weight[best]! === conns[best]! * weight[i]!) {
        many = true;
      }
    }
    if (best < 0) return -1;
    if (many) {
      const current = this.#current;
      const effective = this.#effective;
      const first = best;
      let total = 0;
      for (let i = first; i < n; i++) {
        if ((tried[i >>> 5]! & (1 << (i & 31))) !== 0) continue;
        if (down[i] !== 0) continue;
        if (conns[i]! * weight[first]! !== conns[first]! * weight[i]!) continue;
        if (maxFails[i] !== 0 && fails[i]! >= maxFails[i]! && now - checked[i]! <= failTimeout[i]!) continue;
        if (maxConns[i] !== 0 && conns[i]! >= maxConns[i]!) continue;
        current[i] = current[i]! + effective[i]!;
        total += effective[i]!;
        if (effective[i]! < weight[i]!) effective[i] = effective[i]! + 1;
        if (current[i]! > current[best]!) best = i;
      }
      current[best] = current[best]! - total;
    }
    if (now - checked[best]! > failTimeout[best]!) checked[best] = now;
    conns[best] = conns[best]! + 1;
    tried[best >>> 5]! |= 1 << (best & 31);
    tried[best >>> 5]! &= ~(1 << (best & 31)); // the request ends: the next pick is a fresh request
    return best;
  }

  release(i: number): void {
    if (this.#accessed[i]! < this.#checked[i]!) this.#fails[i] = 0;
    this.#conns[i] = this.#conns[i]! - 1;
  }
}

const C_SOURCE = String.raw`
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
typedef struct peer { struct peer *next; long weight, effective_weight, current_weight, conns, max_conns, fails, max_fails; time_t accessed, checked, fail_timeout; unsigned down:1; } peer_t;
static peer_t *peers; static uintptr_t *tried; static time_t now = 1000;
static long get(void) {
  peer_t *peer, *best = NULL; uintptr_t m; long total = 0; unsigned long i, n, p = 0, many = 0;
  for (peer = peers, i = 0; peer; peer = peer->next, i++) {
    n = i / (8 * sizeof(uintptr_t)); m = (uintptr_t) 1 << i % (8 * sizeof(uintptr_t));
    if (tried[n] & m) continue;
    if (peer->down) continue;
    if (peer->max_fails && peer->fails >= peer->max_fails && now - peer->checked <= peer->fail_timeout) continue;
    if (peer->max_conns && peer->conns >= peer->max_conns) continue;
    if (best == NULL || peer->conns * best->weight < best->conns * peer->weight) { best = peer; many = 0; p = i; }
    else if (peer->conns * best->weight == best->conns * peer->weight) many = 1;
  }
  if (best == NULL) return -1;
  if (many) {
    for (peer = best, i = p; peer; peer = peer->next, i++) {
      n = i / (8 * sizeof(uintptr_t)); m = (uintptr_t) 1 << i % (8 * sizeof(uintptr_t));
      if (tried[n] & m) continue;
      if (peer->down) continue;
      if (peer->conns * best->weight != best->conns * peer->weight) continue;
      if (peer->max_fails && peer->fails >= peer->max_fails && now - peer->checked <= peer->fail_timeout) continue;
      if (peer->max_conns && peer->conns >= peer->max_conns) continue;
      peer->current_weight += peer->effective_weight; total += peer->effective_weight;
      if (peer->effective_weight < peer->weight) peer->effective_weight++;
      if (peer->current_weight > best->current_weight) { best = peer; p = i; }
    }
    best->current_weight -= total;
  }
  if (now - best->checked > best->fail_timeout) best->checked = now;
  best->conns++;
  n = p / (8 * sizeof(uintptr_t)); m = (uintptr_t) 1 << p % (8 * sizeof(uintptr_t));
  tried[n] |= m; tried[n] &= ~m; /* the request ends */
  return (long) p;
}
static void release(peer_t *peer) { if (peer->accessed < peer->checked) peer->fails = 0; peer->conns--; }
static double ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
static int cmp(const void *a, const void *b) { double x = *(const double *) a, y = *(const double *) b; return x < y ? -1 : x > y; }
int main(int argc, char **argv) {
  long n = atol(argv[1]), held = atol(argv[3]), checkOps = atol(argv[5]); int skewed = argv[2][0] == 's', rotate = argv[4][0] == 'r';
  peer_t *arr = calloc(n, sizeof(peer_t)); tried = calloc((n + 63) / 64, sizeof(uintptr_t));
  for (long i = 0; i < n; i++) { arr[i].weight = arr[i].effective_weight = skewed ? 1 + (i * 7) % 10 : 1; arr[i].max_fails = 1; arr[i].fail_timeout = 10000; arr[i].next = i + 1 < n ? &arr[i + 1] : NULL; }
  peers = arr;
  peer_t **ring = calloc(held, sizeof(peer_t *)); long head = 0;
  uint32_t hash = 2166136261u;
  for (long k = 0; k < held; k++) { long i = get(); ring[k] = &arr[i]; hash = (hash ^ (uint32_t) i) * 16777619u; }
  #define OP() do { long i = get(); if (rotate) { release(ring[head]); ring[head] = &arr[i]; head = (head + 1) % held; } else release(&arr[i]); sink += i; } while (0)
  volatile long sink = 0;
  for (long k = 0; k < checkOps; k++) { long i = get(); hash = (hash ^ (uint32_t) i) * 16777619u; if (rotate) { release(ring[head]); ring[head] = &arr[i]; head = (head + 1) % held; } else release(&arr[i]); }
  long batch = n <= 8 ? 2000000 : 20000; double t[7];
  for (long k = 0; k < batch; k++) OP();
  for (int r = 0; r < 7; r++) { double s = ns(); for (long k = 0; k < batch; k++) OP(); t[r] = (ns() - s) / batch; }
  qsort(t, 7, sizeof(double), cmp);
  printf("%u %f\n", hash, t[3]);
  return 0;
}
`;

/** The hash of a subject's picks: the held ones, then `CHECK_OPS` operations of the workload (FNV-1a over indexes). */
function pickHash(s: Subject, held: number, workload: Workload, ring: number[]): number {
  let hash = 2166136261;
  const mix = (i: number) => (hash = Math.imul(hash ^ i, 16777619) >>> 0);
  for (let k = 0; k < held; k++) {
    const i = s.pick();
    ring.push(i);
    mix(i);
  }
  let head = 0;
  for (let k = 0; k < CHECK_OPS; k++) {
    const i = s.pick();
    mix(i);
    if (workload === 'rotate') {
      s.release(ring[head]!);
      ring[head] = i;
      head = (head + 1) % held;
    } else s.release(i);
  }
  return hash;
}

/** What the timed loops call: the Balancer's `pick` and `release`. */
interface Picker {
  pick(): unknown;
  release(server: unknown): void;
}

/**
 * The library's timed loop: 64 operations of `workload` per call on `b` (its `held` connections
 * taken first), each chosen server passed to `use` (mitata's `do_not_optimize`, or a sink). A
 * process builds one library loop and one plain loop at most, so each loop's call sites stay
 * monomorphic.
 */
function libraryLoop(b: Picker, held: number, workload: Workload, use: (server: unknown) => void): () => void {
  const ring: unknown[] = [];
  for (let k = 0; k < held; k++) ring.push(b.pick());
  let head = 0;
  return workload === 'pair'
    ? () => {
        for (let j = 0; j < 64; j++) {
          const s = b.pick();
          b.release(s);
          use(s);
        }
      }
    : () => {
        for (let j = 0; j < 64; j++) {
          const s = b.pick();
          b.release(ring[head]);
          ring[head] = s;
          head = head + 1 === held ? 0 : head + 1;
          use(s);
        }
      };
}

/** The same loop over a plain copy, in index terms. */
function plainLoop(s: Subject, held: number, workload: Workload, use: (i: number) => void): () => void {
  const ring: number[] = [];
  for (let k = 0; k < held; k++) ring.push(s.pick());
  let head = 0;
  return workload === 'pair'
    ? () => {
        for (let j = 0; j < 64; j++) {
          const i = s.pick();
          s.release(i);
          use(i);
        }
      }
    : () => {
        for (let j = 0; j < 64; j++) {
          const i = s.pick();
          s.release(ring[head]!);
          ring[head] = i;
          head = head + 1 === held ? 0 : head + 1;
          use(i);
        }
      };
}

/** A balancer of the library as the loops and the checks use it. */
interface LibraryBalancer extends Picker {
  readonly servers: readonly unknown[];
}

/** A maker of least_conn balancers over `weights` (the library from dist/, or src/ with UB_SRC=1), each on its own clock. */
async function libraryBalancers(weights: number[]): Promise<() => LibraryBalancer> {
  const { Balancer, ManualClock } = await import(process.env.UB_SRC ? '../src/index' : '../dist/index.js');
  return () =>
    new Balancer({
      method: 'least-conn',
      clock: new ManualClock(1000).now,
      servers: weights.map((weight, i) => ({ address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:25`, weight })),
    });
}

/** A balancer in index terms, for the pick-sequence check only (a map lookup per pick). */
function indexed(b: LibraryBalancer): Subject {
  const servers = b.servers;
  const index = new Map<unknown, number>(servers.map((s, i) => [s, i] as const));
  return { pick: () => index.get(b.pick())!, release: (i: number) => b.release(servers[i]!) };
}

/** Chunk rounds timed by the `pair` child (each round one chunk of every subject, in CPU time). */
const PAIRED_ROUNDS = 24;

/**
 * The `pair` child: the library and the plain copy with peer objects in one process (no call site
 * shared), timed in rounds of one chunk each (1.28 M operations, CPU time), the order alternating
 * from round to round. Prints each round's two figures (ns per operation) as JSON.
 */
async function pairedChild(n: number, shape: Shape, workload: Workload): Promise<void> {
  const weights = weightsOf(n, shape);
  const held = heldFor(n);
  const balancer = await libraryBalancers(weights);
  // the same pick sequence as nginx's loop first, on instances of their own
  const hashes = [
    pickHash(indexed(balancer()), held, workload, []),
    pickHash(new PlainLeastConn(weights), held, workload, []),
    pickHash(new PlainLeastConnArrays(weights), held, workload, []),
  ];
  if (new Set(hashes).size !== 1) throw new Error(`pick sequences differ at n=${n} ${shape} ${workload}: ${hashes.join(', ')}`);
  // the plain copy with peer objects: the faster of the two at 8 servers in every run (one plain
  // loop per process, so that its call sites see one class)
  // each loop hands its results to a sink of its own (one shared function would see both types)
  let sink = 0;
  const loops = [
    libraryLoop(balancer(), held, workload, (server) => {
      if (server === undefined) sink++;
    }),
    plainLoop(new PlainLeastConn(weights), held, workload, (i) => {
      sink += i;
    }),
  ];
  const chunk = (f: () => void): number => cpuChunk(f, 20_000);
  for (let w = 0; w < 20; w++) for (const f of loops) chunk(f);
  const rounds: number[][] = [];
  for (let r = 0; r < PAIRED_ROUNDS; r++) {
    const figures = [0, 0];
    for (let q = 0; q < 2; q++) {
      const which = (q + r) % 2;
      figures[which] = chunk(loops[which]!);
    }
    rounds.push(figures);
  }
  process.stdout.write(JSON.stringify({ rounds, sink }));
}

async function child(subjectName: string, n: number, shape: Shape, workload: Workload): Promise<void> {
  if (subjectName === 'pair') return pairedChild(n, shape, workload);
  const { bench, do_not_optimize, run } = await import('mitata');
  const weights = weightsOf(n, shape);
  const held = heldFor(n);
  let subject: Subject;
  if (subjectName === 'plain-js') subject = new PlainLeastConn(weights);
  else if (subjectName === 'plain-arrays') subject = new PlainLeastConnArrays(weights);
  else {
    const balancer = await libraryBalancers(weights);
    subject = indexed(balancer());
    const hash = pickHash(subject, held, workload, []);
    const want = pickHash(new PlainLeastConn(weights), held, workload, []);
    if (hash !== want) throw new Error(`library diverged from nginx's loop: ${hash} != ${want}`);
    // a second balancer for the timed loop, which calls it directly, as a proxy does (no index map)
    const f = libraryLoop(balancer(), held, workload, do_not_optimize);
    for (let j = 0; j < Math.max(200, 200_000 / (n + 50)); j++) f();
    bench('library', f);
    const r = await run({ format: 'quiet' });
    process.stdout.write(`${hash} ${(r.benchmarks[0]?.runs[0]?.stats?.p50 ?? NaN) / 64}`);
    return;
  }
  const hash = pickHash(subject, held, workload, []);
  const f = plainLoop(subjectName === 'plain-js' ? new PlainLeastConn(weights) : new PlainLeastConnArrays(weights), held, workload, do_not_optimize);
  for (let j = 0; j < Math.max(200, 200_000 / (n + 50)); j++) f();
  bench(subjectName, f);
  const r = await run({ format: 'quiet' });
  process.stdout.write(`${hash} ${(r.benchmarks[0]?.runs[0]?.stats?.p50 ?? NaN) / 64}`);
}

function fmt(ns: number): string {
  return ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(1)} ns`;
}

if (process.argv[2] === '--child') {
  await child(process.argv[3]!, Number(process.argv[4]), process.argv[5] as Shape, process.argv[6] as Workload);
} else if (pairedChildren(process.argv) !== null) {
  // n = 8, the library against the plain copies in each child (issue 18 item 2)
  const self = fileURLToPath(import.meta.url);
  const runs = pairedChildren(process.argv)!;
  console.log(`| weights | workload | child | library, median of ${PAIRED_ROUNDS} chunks | plain JS, objects | library / plain JS, median of the rounds | fastest / fastest |`);
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
  for (let r = 0; r < runs; r++) {
    for (const shape of ['uniform', 'skewed'] as const) {
      for (const workload of ['pair', 'rotate'] as const) {
        const out = execFileSync(process.execPath, ['--import', 'tsx', self, '--child', 'pair', '8', shape, workload], { encoding: 'utf8' });
        const { rounds } = JSON.parse(out) as { rounds: number[][] };
        const col = (k: number) => rounds.map((x) => x[k]!);
        const ratios = rounds.map(([l, p]) => l! / p!);
        const spread = `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`;
        const fastest = Math.min(...col(0)) / Math.min(...col(1));
        console.log(`| ${shape} | ${workload} | ${r} | ${medianOf(col(0)).toFixed(1)} ns | ${medianOf(col(1)).toFixed(1)} ns | ${medianOf(ratios).toFixed(2)} (rounds ${spread}) | ${fastest.toFixed(2)} |`);
      }
    }
  }
} else {
  const self = fileURLToPath(import.meta.url);
  const flag = (name: string, fallback: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1]! : fallback);
  const rounds = Number(flag('--rounds', '3')) || 3;
  // each subject runs `repeat` times per row, the subjects taking turns; the row reports each one's median
  const repeat = Number(flag('--repeat', '1')) || 1;
  const sizes = flag('--sizes', '8,1024').split(',').map(Number);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const dir = mkdtempSync(join(tmpdir(), 'ub-lc-'));
  const rows: Array<{ round: number; n: number; shape: Shape; workload: Workload; library: number; plain: number; arrays: number; c: number }> = [];
  try {
    writeFileSync(join(dir, 'lc.c'), C_SOURCE);
    execFileSync('gcc', ['-O2', '-o', join(dir, 'lc'), join(dir, 'lc.c')]);
    for (let round = 1; round <= rounds; round++) {
      for (const n of sizes) {
        for (const shape of ['uniform', 'skewed'] as const) {
          for (const workload of ['pair', 'rotate'] as const) {
            const js = (name: string) => execFileSync(process.execPath, ['--import', 'tsx', self, '--child', name, String(n), shape, workload], { encoding: 'utf8' }).trim().split(' ');
            const times = { plain: [] as number[], arrays: [] as number[], library: [] as number[], c: [] as number[] };
            for (let k = 0; k < repeat; k++) {
              const [hPlain, plain] = js('plain-js');
              const [hArrays, arrays] = js('plain-arrays');
              const [hLib, library] = js('library');
              const [hC, c] = execFileSync(join(dir, 'lc'), [String(n), shape, String(heldFor(n)), workload, String(CHECK_OPS)], { encoding: 'utf8' }).trim().split(' ');
              if (hLib !== hPlain || hC !== hPlain || hArrays !== hPlain) throw new Error(`pick sequences differ at n=${n} ${shape} ${workload}: plain ${hPlain}, arrays ${hArrays}, library ${hLib}, C ${hC}`);
              times.plain.push(Number(plain));
              times.arrays.push(Number(arrays));
              times.library.push(Number(library));
              times.c.push(Number(c));
            }
            rows.push({ round, n, shape, workload, library: median(times.library), plain: median(times.plain), arrays: median(times.arrays), c: median(times.c) });
          }
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (process.argv.includes('--json')) console.log(JSON.stringify(rows, null, 2));
  else {
    console.log(`node ${process.version}; the library from ${process.env.UB_SRC ? 'src/ (through tsx)' : 'dist/'}; least_conn pick+release, p50 per operation${repeat > 1 ? `, median of ${repeat} runs per subject (taking turns)` : ''}; same pick sequence checked for all\n`);
    console.log('| round | n (held) | weights | workload | library | plain JS loop, peer objects | plain JS loop, typed arrays | C loop (gcc -O2) | library / faster plain JS | library / C |');
    console.log('| ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of rows) {
      const plainBest = Math.min(r.plain, r.arrays);
      console.log(`| ${r.round} | ${r.n} (${heldFor(r.n)}) | ${r.shape} | ${r.workload} | ${fmt(r.library)} | ${fmt(r.plain)} | ${fmt(r.arrays)} | ${fmt(r.c)} | ${(r.library / plainBest).toFixed(2)} | ${(r.library / r.c).toFixed(2)} |`);
    }
  }
}
