/**
 * Properties of the balancing methods (least-conn, hash, consistent hash, ip-hash, random), and
 * differential checks of the hash family against naive transcriptions of nginx's loops
 * (string concatenation, a bitwise CRC over Buffer bytes, a linear weight walk, a sorted array
 * of points with a linear search).
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock, seededRandom } from '../../src/clock';
import type { ServerOptions } from '../../src/options';
import { crc32 } from '../../src/select/crc32';
import { ipHashKeyBytes } from '../../src/select/ip-hash';
import type { Server } from '../../src/server';

// ------------------------------------------------------------------------------------------------
// Naive references

function refCrc(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
const refCrcText = (s: string) => refCrc(Buffer.from(s, 'utf8'));

/** Linear weight walk (nginx's `while (w >= peer->weight)`). */
function walk(weights: number[], w: number): number {
  let p = 0;
  while (w >= weights[p]!) {
    w -= weights[p]!;
    p++;
  }
  return p;
}

/** nginx's hash loop on a fresh request; -1 = round-robin fallback. */
function refHash(weights: number[], available: boolean[], key: string): number {
  if (weights.length < 2 || key === '') return -1;
  const total = weights.reduce((a, b) => a + b, 0);
  let hash = 0;
  for (let rehash = 0, tries = 0; ; rehash++) {
    const h = (refCrcText((rehash > 0 ? String(rehash) : '') + key) >>> 16) & 0x7fff;
    hash = (hash + h) >>> 0;
    const p = walk(weights, hash % total);
    if (available[p]) return p;
    if (++tries > 20) return -1;
  }
}

/** Ketama points as nginx builds them, sorted with a stable comparator and deduplicated. */
function refRing(addresses: string[], weights: number[]): Array<{ hash: number; server: string }> {
  const pts: Array<{ hash: number; server: string }> = [];
  addresses.forEach((s, i) => {
    let host = s;
    let port = '';
    if (s.toLowerCase().startsWith('unix:')) host = s.slice(5);
    else {
      const m = /^(.*):(\d*)$/.exec(s);
      if (m) [host, port] = [m[1]!, m[2]!];
    }
    const base = Buffer.concat([Buffer.from(host), Buffer.from([0]), Buffer.from(port)]);
    let prev = 0;
    for (let j = 0; j < 160 * weights[i]!; j++) {
      const le = Buffer.alloc(4);
      le.writeUInt32LE(prev);
      prev = refCrc(Buffer.concat([base, le]));
      pts.push({ hash: prev, server: s });
    }
  });
  pts.sort((a, b) => a.hash - b.hash);
  return pts.filter((p, i) => i === 0 || pts[i - 1]!.hash !== p.hash);
}

/** nginx's consistent-hash walk on a fresh request: the chosen address text, or null = fallback. */
function refChash(ring: Array<{ hash: number; server: string }>, upAddresses: Set<string>, key: string): string | null {
  const h = refCrcText(key);
  let idx = ring.findIndex((p) => p.hash >= h);
  if (idx < 0) idx = ring.length;
  for (let tries = 0; ; ) {
    const s = ring[idx % ring.length]!.server;
    if (upAddresses.has(s)) return s;
    idx++;
    if (++tries > 20) return null;
  }
}

/** IPv6 text -> 16 bytes, independently of the library's parser (split on '::', pad). */
function refV6(text: string): number[] {
  let t = text.replace(/%.*$/, '');
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(t);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    t = t.slice(0, v4.index) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16);
  }
  const [head, tail] = t.includes('::') ? t.split('::') : [t, undefined];
  const h = head ? head.split(':') : [];
  const tl = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - tl.length).fill('0'), ...tl];
  return groups.flatMap((g) => {
    const v = parseInt(g, 16);
    return [v >> 8, v & 0xff];
  });
}

// ------------------------------------------------------------------------------------------------
// Arbitraries

const weightsArb = fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 2, maxLength: 9 });
const keyArb = fc.string({ minLength: 1, maxLength: 24, unit: 'grapheme' });

function servers(weights: number[], down: boolean[] = []): ServerOptions[] {
  return weights.map((weight, i) => ({ id: `s${i}`, address: `10.1.${i}.7:25`, weight, down: down[i] ?? false }));
}

// ------------------------------------------------------------------------------------------------

describe('crc32 property', () => {
  it('equals a bitwise CRC over the UTF-8 bytes for any string (lone surrogates included)', () => {
    const units = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((u) => String.fromCharCode(u)), maxLength: 40 });
    fc.assert(fc.property(fc.oneof(units, fc.string({ unit: 'binary', maxLength: 40 })), (s) => crc32(s) === refCrcText(s)), { numRuns: 500 });
  });
});

describe('hash: differential against nginx\'s loop', () => {
  it('a fresh pick equals the naive hash walk (down servers keep their slots)', () => {
    fc.assert(
      fc.property(weightsArb, fc.array(fc.boolean(), { maxLength: 9 }), fc.array(keyArb, { minLength: 1, maxLength: 20 }), (weights, downs, keys) => {
        const down = weights.map((_, i) => downs[i] ?? false);
        if (down.every(Boolean)) down[0] = false;
        const b = new Balancer({ method: 'hash', servers: servers(weights, down) });
        for (const key of keys) {
          const expected = refHash(weights, down.map((d) => !d), key);
          const got = b.pick(key)!;
          b.release(got);
          if (expected >= 0) expect(got.id).toBe(`s${expected}`);
          else expect(got.down).toBe(false); // round-robin fallback: some available server
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('consistent hash: differential and stability', () => {
  const addrArb = fc.oneof(
    fc.tuple(fc.integer({ min: 1, max: 254 }), fc.integer({ min: 1, max: 65535 })).map(([a, p]) => `192.0.2.${a}:${p}`),
    fc.stringMatching(/^[a-z]{1,8}\.example$/),
    fc.stringMatching(/^unix:\/run\/[a-z]{1,6}\.sock$/),
  );

  it('a fresh pick lands on the naive ring\'s owner (walking past down servers)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(addrArb, { minLength: 2, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 6, maxLength: 6 }),
        fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
        fc.array(keyArb, { minLength: 1, maxLength: 15 }),
        (addresses, ws, downs, keys) => {
          const weights = addresses.map((_, i) => ws[i]!);
          const down = addresses.map((_, i) => downs[i]!);
          if (down.every(Boolean)) down[0] = false;
          const ring = refRing(addresses, weights);
          const up = new Set(addresses.filter((_, i) => !down[i]));
          const b = new Balancer({
            method: 'hash',
            hash: { consistent: true },
            servers: addresses.map((address, i) => ({ address, weight: weights[i]!, down: down[i]! })),
          });
          for (const key of keys) {
            const expected = refChash(ring, up, key);
            const got = b.pick(key)!;
            b.release(got);
            if (expected !== null) expect(got.address).toBe(expected);
            else expect(got.down).toBe(false);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('removing a server moves only the keys that server owned', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 10 }), fc.nat(), fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 10, maxLength: 10 }), fc.integer({ min: 0, max: 1e6 }), (n, victim, ws, salt) => {
        const list = Array.from({ length: n }, (_, i) => ({ id: `s${i}`, address: `10.2.${i}.${salt % 250}:${1000 + i}`, weight: ws[i]! }));
        const b = new Balancer({ method: 'hash', hash: { consistent: true }, servers: list });
        const keys = Array.from({ length: 2000 }, (_, k) => `user${salt}-${k}`);
        const owner = (key: string) => {
          const s = b.pick(key)!;
          b.release(s);
          return s.id;
        };
        const before = keys.map(owner);
        const gone = `s${victim % n}`;
        b.remove(gone);
        const after = keys.map(owner);
        let moved = 0;
        keys.forEach((_, k) => {
          if (before[k] === gone) {
            expect(after[k]).not.toBe(gone);
            moved++;
          } else {
            expect(after[k]).toBe(before[k]);
          }
        });
        expect(moved).toBe(before.filter((id) => id === gone).length);
      }),
      { numRuns: 25 },
    );
  });
});

describe('share of keys tracks weight (100k keys)', () => {
  const N = 100_000;
  const share = (b: Balancer, n: number, key: (k: number) => string | undefined) => {
    const counts = new Array<number>(n).fill(0);
    for (let k = 0; k < N; k++) {
      const s = b.pick(key(k))!;
      counts[Number(s.id.slice(1))]!++;
      b.release(s);
    }
    return counts.map((c) => c / N);
  };
  const runs = fc.tuple(weightsArb, fc.integer({ min: 0, max: 1e9 }));

  // hash: 15-bit steps summed modulo total weight: within 1 percentage point (absolute).
  it('hash: |share - weight/total| <= 0.01', () => {
    fc.assert(
      fc.property(runs, ([weights, salt]) => {
        const total = weights.reduce((a, b) => a + b, 0);
        const got = share(new Balancer({ method: 'hash', servers: servers(weights) }), weights.length, (k) => `k${salt}:${k}`);
        got.forEach((s, i) => expect(Math.abs(s - weights[i]! / total)).toBeLessThanOrEqual(0.01));
      }),
      { numRuns: 8 },
    );
  });

  // consistent hash: 160 points per weight unit spread arcs unevenly (ketama): each server's share
  // is within 35% (relative) of weight/total. Measured worst case over 40 random sets: 14%.
  it('consistent hash: |share - expected| <= 0.35 * expected', () => {
    fc.assert(
      fc.property(runs, ([weights, salt]) => {
        const total = weights.reduce((a, b) => a + b, 0);
        const list = weights.map((weight, i) => ({ id: `s${i}`, address: `10.${salt % 200}.${i}.${(salt >> 8) % 250}:25`, weight }));
        const got = share(new Balancer({ method: 'hash', hash: { consistent: true }, servers: list }), weights.length, (k) => `k${salt}:${k}`);
        got.forEach((s, i) => {
          const expected = weights[i]! / total;
          expect(Math.abs(s - expected)).toBeLessThanOrEqual(0.35 * expected);
        });
      }),
      { numRuns: 8 },
    );
  });

  // random on a seeded rng: within 1 percentage point (absolute; ~6 sigma at 100k draws).
  it('random: |share - weight/total| <= 0.01', () => {
    fc.assert(
      fc.property(runs, ([weights, seed]) => {
        const total = weights.reduce((a, b) => a + b, 0);
        const got = share(new Balancer({ method: 'random', rng: seededRandom(seed), servers: servers(weights) }), weights.length, () => undefined);
        got.forEach((s, i) => expect(Math.abs(s - weights[i]! / total)).toBeLessThanOrEqual(0.01));
      }),
      { numRuns: 8 },
    );
  });
});

describe('least_conn property', () => {
  type Op = { kind: 'pick' } | { kind: 'release'; at: number } | { kind: 'toggle'; server: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 5, arbitrary: fc.constant({ kind: 'pick' as const }) },
    { weight: 3, arbitrary: fc.nat().map((at) => ({ kind: 'release' as const, at })) },
    { weight: 1, arbitrary: fc.nat({ max: 7 }).map((server) => ({ kind: 'toggle' as const, server })) },
  );

  it('never picks a server with a higher conns/weight than another eligible one', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 2, maxLength: 8 }),
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 8, maxLength: 8 }),
        fc.array(opArb, { minLength: 1, maxLength: 150 }),
        (weights, limits, ops) => {
          const list = weights.map((weight, i) => ({ id: `s${i}`, address: `10.3.0.${i}:25`, weight, maxConns: limits[i]! }));
          const b = new Balancer({ method: 'least-conn', servers: list, clock: new ManualClock(1000).now });
          const held: Server[] = [];
          for (const op of ops) {
            if (op.kind === 'pick') {
              const eligible = b.servers.filter((s) => !s.down && (s.maxConns === 0 || s.conns < s.maxConns));
              const before = new Map(b.servers.map((s) => [s.id, s.conns]));
              const got = b.pick();
              if (eligible.length === 0) {
                expect(got).toBeUndefined();
                continue;
              }
              expect(got).toBeDefined();
              const c = before.get(got!.id)!;
              for (const o of eligible) expect(c * o.weight).toBeLessThanOrEqual(before.get(o.id)! * got!.weight);
              held.push(got!);
            } else if (op.kind === 'release') {
              if (held.length > 0) b.release(held.splice(op.at % held.length, 1)[0]!);
            } else if (op.server < weights.length) {
              const id = `s${op.server}`;
              b.update(id, { down: !b.get(id)!.down });
              if (b.servers.every((s) => s.down)) b.update(id, { down: false });
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('ip-hash key parsing', () => {
  it('IPv4 keys use their first three bytes', () => {
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        expect(Array.from(ipHashKeyBytes(ip))).toEqual(ip.split('.').slice(0, 3).map(Number));
      }),
      { numRuns: 300 },
    );
  });

  it('every IPv6 text form parses to the same 16 bytes as an independent expansion', () => {
    fc.assert(
      fc.property(fc.ipV6(), fc.boolean(), (ip, upper) => {
        const text = upper ? ip.toUpperCase() : ip;
        expect(Array.from(ipHashKeyBytes(text))).toEqual(refV6(ip));
        expect(Array.from(ipHashKeyBytes(`${text}%eth0`))).toEqual(refV6(ip));
      }),
      { numRuns: 500 },
    );
  });
});

describe('hints (nginx 1.30 get_rr_peer_by_sid) in every method but round robin', () => {
  // round robin's hinted rounds are compared op by op with the reference model in
  // differential.prop.test.ts; here each other method's hinted get is compared with a twin balancer
  // that never sees the hint.
  type Kind = 'least-conn' | 'hash' | 'chash' | 'ip-hash' | 'random' | 'random-two';
  const KINDS: readonly Kind[] = ['least-conn', 'hash', 'chash', 'ip-hash', 'random', 'random-two'];
  type Op = { kind: 'pick'; key: number } | { kind: 'release'; at: number; failed: boolean } | { kind: 'advance'; ms: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.nat({ max: 50 }).map((key) => ({ kind: 'pick' as const, key })) },
    { weight: 3, arbitrary: fc.tuple(fc.nat(), fc.boolean()).map(([at, failed]) => ({ kind: 'release' as const, at, failed })) },
    { weight: 1, arbitrary: fc.nat({ max: 4000 }).map((ms) => ({ kind: 'advance' as const, ms })) },
  );
  const serverArb = fc.record({
    weight: fc.integer({ min: 1, max: 5 }),
    maxFails: fc.integer({ min: 0, max: 2 }),
    maxConns: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 }) }),
    down: fc.integer({ min: 0, max: 7 }).map((k) => k === 0),
    drain: fc.integer({ min: 0, max: 5 }).map((k) => k === 0),
    route: fc.option(fc.constantFrom('r1', 'r2'), { freq: 3, nil: undefined }),
  });
  const keyOf = (kind: Kind, k: number): string => (kind === 'ip-hash' ? `192.168.${k % 7}.${k}` : `key-${k}`);

  /** A balancer of `kind` whose rng calls are counted. */
  function twin(kind: Kind, servers: ServerOptions[], clock: ManualClock): { b: Balancer; draws: () => number } {
    const rng = seededRandom(99);
    let draws = 0;
    const method = kind === 'chash' ? 'hash' : kind === 'random-two' ? 'random' : kind;
    const b = new Balancer({
      method, servers, clock: clock.now, rng: () => (draws++, rng()),
      ...(kind === 'chash' ? { hash: { consistent: true } } : {}), ...(kind === 'random-two' ? { randomTwo: true } : {}),
    });
    return { b, draws: () => draws };
  }

  /** What nginx's lookup decides, from the server views: the first server with the id, if it may take the request. */
  function usable(b: Balancer, hint: string, now: number): Server | undefined {
    const s = b.servers.find((x) => x.sid === hint);
    if (s === undefined || s.down) return undefined;
    const snap = b.snapshot().servers.find((x) => x.id === s.id)!;
    if (s.maxFails > 0 && s.fails >= s.maxFails && now - snap.checked! <= s.failTimeout) return undefined;
    if (s.maxConns > 0 && s.conns >= s.maxConns) return undefined;
    return s;
  }

  const weightsOf = (b: Balancer) => b.snapshot().servers.map((s) => [s.id, s.effectiveWeight, s.currentWeight, s.conns, s.fails]);

  it('a usable hinted server is taken with no state change; otherwise the method chooses as without the hint', () => {
    let taken = 0;
    let refused = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(...KINDS),
        fc.array(serverArb, { minLength: 2, maxLength: 6 }),
        fc.array(opArb, { maxLength: 60 }),
        fc.nat(),
        fc.nat({ max: 50 }),
        (kind, params, ops, pickHint, key) => {
          const servers: ServerOptions[] = params.map((p, i) => ({ ...p, id: `s${i}`, address: `10.4.0.${i + 1}:80`, failTimeout: 2000 }));
          servers[0] = { ...servers[0]!, down: false, drain: false }; // nginx: at least one server a method can choose
          const clockX = new ManualClock(5000);
          const clockY = new ManualClock(5000);
          const x = twin(kind, servers, clockX);
          const y = twin(kind, servers, clockY);
          const held: [Server, Server][] = [];
          for (const op of ops) {
            if (op.kind === 'pick') {
              const a = x.b.pick(keyOf(kind, op.key));
              const b = y.b.pick(keyOf(kind, op.key));
              expect(a?.id).toBe(b?.id);
              if (a !== undefined && b !== undefined) held.push([a, b]);
            } else if (op.kind === 'release') {
              if (held.length === 0) continue;
              const [a, b] = held.splice(op.at % held.length, 1)[0]!;
              x.b.release(a, op.failed);
              y.b.release(b, op.failed);
            } else {
              clockX.advance(op.ms);
              clockY.advance(op.ms);
            }
          }
          const candidates = [...x.b.servers.map((s) => s.sid), 'r1', 'r2', 'unknown'];
          const hint = candidates[pickHint % candidates.length]!;
          const expected = usable(y.b, hint, clockY.now());
          const before = weightsOf(y.b);
          const drawsBefore = x.draws();
          const a = x.b.attempt(keyOf(kind, key), { hint });
          const got = a.next();
          if (expected !== undefined) {
            taken++;
            expect(got?.id).toBe(expected.id);
            expect(a.hinted).toBe(true);
            expect(a.sid).toBe(hint);
            // no weight moved, nothing drawn, one connection more
            const after = weightsOf(x.b).map((row) => (row[0] === expected.id ? [row[0], row[1], row[2], (row[3] as number) - 1, row[4]] : row));
            expect(after).toEqual(before);
            expect(x.draws()).toBe(drawsBefore);
          } else {
            refused++;
            const want = y.b.attempt(keyOf(kind, key)).next();
            expect(got?.id).toBe(want?.id);
            expect(a.hinted).toBe(false);
            expect(a.sid).toBe(want?.sid);
            expect(weightsOf(x.b)).toEqual(weightsOf(y.b));
            expect(x.draws()).toBe(y.draws());
          }
        },
      ),
      { numRuns: 600 },
    );
    expect(taken).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(100);
  });
});
