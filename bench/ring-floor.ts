/**
 * How fast can a whole consistent-hash ring be built at all? (issue 18 item 3): the library's whole
 * build beside the floor of its two big parts written as plainly as JavaScript allows, in one process.
 *
 *   node --import tsx bench/ring-floor.ts [--servers 1024] [--weight 10] [--rounds 7]
 *
 * - `library`: `IncrementalRing.update` on fresh tiers (ketama-incremental.ts: generation, radix
 *   sort, deduplication, the bucket layout), i.e. what `setServers` replacing every server pays;
 * - `generate`: the points alone, 160 × weight per server, each one CRC-32 step over four bytes
 *   from the server's base (nginx's `ngx_http_upstream_update_chash` loop), into a typed array;
 * - `sort`: an LSD radix sort of those points carrying their positions, four 8-bit passes with one
 *   histogram pass for all four digits (the cheapest of 8, 11 and 16 bits and this on this machine);
 * - `copy`: one pass writing the sorted points to a second pair of arrays (the least a layout costs).
 * Each row reports the median and the fastest of `rounds` runs, ms. The floor is the sum of the
 * three floor rows: a synchronous change that replaces most of a ring holds the loop at least that
 * long, whatever the code around it. Not part of `npm test`.
 */

import { Membership } from '../src/membership';
import { methodSpec } from '../src/methods';
import { resolveOptions } from '../src/options';
import { crc32Final, crc32Le32 } from '../src/select/crc32';
import { IncrementalRing } from '../src/select/ketama-incremental';
import { ketamaBase, POINTS_PER_WEIGHT } from '../src/select/ketama-ring';

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
}
const servers = arg('servers', 1024);
const weight = arg('weight', 10);
const rounds = arg('rounds', 7);
const total = servers * weight * POINTS_PER_WEIGHT;
const address = (i: number, generation: number) => `10.${generation & 255}.${(i >> 8) & 255}.${i & 255}:25`;

const keys = new Uint32Array(total);
const vals = new Int32Array(total);
const keys2 = new Uint32Array(total);
const vals2 = new Int32Array(total);
const copyKeys = new Uint32Array(total);
const copyVals = new Int32Array(total);

function generate(generation: number): void {
  let at = 0;
  for (let i = 0; i < servers; i++) {
    const base = ketamaBase(address(i, generation));
    let prev = 0;
    for (let j = 0; j < weight * POINTS_PER_WEIGHT; j++) {
      prev = crc32Final(crc32Le32(base, prev));
      keys[at] = prev;
      vals[at] = at;
      at++;
    }
  }
}

function sort(): void {
  const count = new Uint32Array(1024);
  for (let i = 0; i < total; i++) {
    const k = keys[i]!;
    count[k & 255]!++;
    count[256 + ((k >>> 8) & 255)]!++;
    count[512 + ((k >>> 16) & 255)]!++;
    count[768 + (k >>> 24)]!++;
  }
  for (let d = 0; d < 4; d++) {
    let sum = 0;
    for (let r = 0; r < 256; r++) {
      const c = count[d * 256 + r]!;
      count[d * 256 + r] = sum;
      sum += c;
    }
  }
  let [k1, v1, k2, v2] = [keys, vals, keys2, vals2];
  for (let d = 0; d < 4; d++) {
    const shift = d * 8;
    const off = d * 256;
    for (let i = 0; i < total; i++) {
      const k = k1[i]!;
      const at = count[off + ((k >>> shift) & 255)]!++;
      k2[at] = k;
      v2[at] = v1[i]!;
    }
    [k1, k2] = [k2, k1];
    [v1, v2] = [v2, v1];
  }
}

function copy(): void {
  for (let i = 0; i < total; i++) {
    copyKeys[i] = keys[i]!;
    copyVals[i] = vals[i]!;
  }
}

/** A whole build by the keeper (every address new), ms; the tiers are made untimed. */
function library(generation: number, keeper: IncrementalRing): number {
  const list = Array.from({ length: servers }, (_, i) => ({ id: `s${i}`, address: address(i, generation), weight }));
  // the tiers as round robin's membership builds them (no ring of its own), then the keeper's update
  const options = resolveOptions({ servers: list }, { clock: performance.now.bind(performance), rng: Math.random });
  const selector = methodSpec(options.method).selector(options, { clock: options.clock, nginx: options.nginx, tuning: options.tuning });
  const members = new Membership(options, selector, {});
  const t0 = performance.now();
  keeper.update(members.peers);
  return performance.now() - t0;
}

const times: Record<string, number[]> = { library: [], generate: [], sort: [], copy: [] };
const keeper = new IncrementalRing();
for (let r = 0; r <= rounds; r++) {
  const timed = (name: string, fn: () => void) => {
    const t0 = performance.now();
    fn();
    if (r > 0) times[name]!.push(performance.now() - t0); // round 0 warms up
  };
  const built = library(r, keeper); // a new generation of addresses: every point changes
  if (r > 0) times.library!.push(built);
  timed('generate', () => generate(r));
  timed('sort', sort);
  timed('copy', copy);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
console.log(`${servers} servers of weight ${weight}: ${total.toLocaleString('en')} points, ${rounds} rounds (median / fastest, ms)`);
for (const [name, xs] of Object.entries(times)) console.log(`  ${name.padEnd(8)} ${median(xs).toFixed(1)} / ${Math.min(...xs).toFixed(1)}`);
const floor = median(times.generate!) + median(times.sort!) + median(times.copy!);
console.log(`  floor (generate + sort + copy, medians) ${floor.toFixed(1)}; library / floor ${(median(times.library!) / floor).toFixed(2)}`);
