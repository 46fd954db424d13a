import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock } from '../../src/clock';
import { isUpstreamError } from '../../src/errors';
import type { Method } from '../../src/options';
import type { Peers } from '../../src/peers';
import { type HashWalk, getHash as getHashWith, hashStep } from '../../src/select/hash';
import { TierSlots } from '../../src/select/slots';
import type { RequestState } from '../../src/select/request';

const getHash = (p: Peers, r: RequestState) => getHashWith(p, r, new TierSlots());
const walkOf = (r: RequestState) => r.walk as HashWalk;
import { named, picks, request } from '../helpers';
import { requestOn, tierOf } from './methods-harness';

const clock = () => new ManualClock(1_000_000).now;
const hash = (weights: number[], extra: Record<string, unknown>[] = []) =>
  new Balancer({ method: 'hash', servers: named(weights, extra), clock: clock() });
const abc = (extra: Record<string, unknown>[] = []) =>
  new Balancer({
    method: 'hash',
    clock: clock(),
    servers: ['A', 'B', 'C'].map((id, i) => ({ id, address: `10.0.0.${i + 1}:25`, ...(extra[i] ?? {}) })),
  });

describe('hash KEY (§5.2)', () => {
  it.each([
    ['foo', 'B'],
    ['bar', 'B'],
    ['user42', 'A'],
    ['/index.html', 'C'],
  ])('3 equal servers: %s -> %s [nginx-verified]', (key, id) => {
    expect(abc().pick(key)!.id).toBe(id);
  });

  it('weights are slot counts: `a` over {3,1,2} -> C (26807 mod 6 = 5), `foo` over {1,4} -> B (3187 mod 5 = 2)', () => {
    expect(hash([3, 1, 2]).pick('a')!.id).toBe('C');
    expect(hash([1, 4]).pick('foo')!.id).toBe('B');
  });

  it('the per-round step is (crc32([REHASH] KEY) >> 16) & 0x7fff', () => {
    expect([0, 1, 2, 3].map((n) => hashStep('foo', n))).toEqual([3187, 6881, 2132, 12520]);
    expect([hashStep('bar', 0), hashStep('user42', 0), hashStep('/index.html', 0), hashStep('a', 0)]).toEqual([30463, 31791, 27170, 26807]);
  });

  it('the rehash chain of `foo` over 3 servers: cum 3187 -> 1, 10068 -> 0, 12200 -> 2, 24720 -> 0', () => {
    let cum = 0;
    const out: number[] = [];
    for (let n = 0; n < 4; n++) {
      cum += hashStep('foo', n);
      out.push(cum, cum % 3);
    }
    expect(out).toEqual([3187, 1, 10068, 0, 12200, 2, 24720, 0]);
  });

  it('a down server keeps its slots: `foo` walks B(down) -> A; with A and B down -> C [nginx-verified]', () => {
    expect(abc([{}, { down: true }]).pick('foo')!.id).toBe('A');
    expect(abc([{ down: true }, { down: true }]).pick('foo')!.id).toBe('C');
  });

  it('the walk counts tries and keeps hash/rehash in the request state', () => {
    const t = tierOf([{ address: 'a:1' }, { address: 'b:1', down: true }, { address: 'c:1' }]);
    const p: Peers = { primary: t, backup: null, single: false, rng: Math.random };
    const r = requestOn(t, 'foo');
    expect(getHash(p, r)).toBe(0);
    expect([walkOf(r).hash, walkOf(r).rehash, walkOf(r).tries]).toEqual([10068, 2, 1]);
  });

  it('retries of one request continue the chain: B fails -> A; A and B fail -> C', () => {
    const b1 = abc();
    expect([request(b1, new Set(['B']), 'foo'), request(b1, new Set(['B']), 'foo')].join(' ')).toBe('B!,A A');
    const b2 = abc();
    expect([request(b2, new Set(['A', 'B']), 'foo'), request(b2, new Set(['A', 'B']), 'foo')].join(' ')).toBe('B!,A!,C C');
  });

  it('servers 10.0.0.1-3:25 [nginx-verified]', () => {
    const b = abc();
    const keys = ['alice@example.com', 'bob@example.com', 'carol@example.org', '1', '2', '3'];
    expect(keys.map((k) => b.pick(k)!.address)).toEqual(['10.0.0.3:25', '10.0.0.2:25', '10.0.0.3:25', '10.0.0.2:25', '10.0.0.3:25', '10.0.0.2:25']);
  });

  it('hashes the key as UTF-8', () => {
    const key = 'ключ-😀';
    const step = hashStep(key, 0);
    const bytes = new TextEncoder().encode(key);
    let c = 0xffffffff;
    for (const x of bytes) {
      c ^= x;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    }
    expect(step).toBe((((c ^ 0xffffffff) >>> 0) >>> 16) & 0x7fff);
    expect(hash([1, 1, 1, 1, 1]).pick(key)!.id).toBe(['A', 'B', 'C', 'D', 'E'][step % 5]);
  });

  it('an empty key falls back to round robin (SWRR)', () => {
    const b = hash([5, 1, 1]);
    const out: string[] = [];
    for (let k = 0; k < 7; k++) {
      const s = b.pick('')!;
      out.push(s.id);
      b.release(s);
    }
    expect(out.join(' ')).toBe('A A B A C A A');
    expect(picks(b, 7)).toBe('A A B A C A A'); // pick() without key = ''
  });

  it('a single server falls back to round robin get (never excluded, never retried)', () => {
    const b = new Balancer({ method: 'hash', servers: [{ id: 'D', address: '10.0.0.1:25' }], clock: clock() });
    expect([1, 2, 3].map(() => request(b, new Set(['D']), 'foo')).join(' ')).toBe('D!=>502 D!=>502 D!=>502');
  });

  it('more than 20 unsuccessful rounds fall back to round robin, for the rest of the request', () => {
    const t = tierOf([{ address: 'a:1', down: true }, { address: 'b:1', down: true }, { address: 'c:1', maxConns: 1 }, { address: 'd:1' }]);
    t.conns[2] = 1; // C is at maxConns
    t.refreshGate(2);
    const p: Peers = { primary: t, backup: null, single: false, rng: Math.random };
    const r = requestOn(t, 'foo');
    r.mask = 1 << 3; // D was tried by this request already: nothing is available
    expect(getHash(p, r)).toBe(-1);
    expect([walkOf(r).tries, walkOf(r).rehash]).toEqual([21, 21]);
    t.conns[2] = 0;
    t.refreshGate(2);
    expect(getHash(p, r)).toBe(2); // round robin now: no further hash rounds
    expect([walkOf(r).tries, walkOf(r).rehash]).toEqual([21, 21]);
  });

  it('everything unavailable: no live upstreams', () => {
    const b = abc([{ down: true }, { down: true }, { down: true }]);
    expect(b.pick('foo')).toBeUndefined();
  });

  it('a weight changed in place (update) re-slots at once', () => {
    const b = abc();
    expect(b.pick('foo')!.id).toBe('B');
    b.update('A', { weight: 4 }); // 3187 mod 6 = 1 -> A's slots 0..3
    expect(b.pick('foo')!.id).toBe('A');
  });
});

describe('backup servers with hash, ip-hash, random (§3.4)', () => {
  const withBackup = (method: Method, allow: boolean, extra: object = {}) =>
    new Balancer({
      method,
      allowBackupWithHash: allow,
      clock: clock(),
      servers: [
        { id: 'D', address: '10.0.0.1:25' },
        { id: 'E', address: '10.0.0.2:25' },
        { id: 'A', address: '10.0.0.3:25', backup: true },
      ],
      ...extra,
    });

  it.each(['hash', 'ip-hash', 'random'] as const)('%s rejects backup servers (nginx: balancing method does not support parameter "backup")', (method) => {
    let error: unknown;
    try {
      withBackup(method, false);
    } catch (e) {
      error = e;
    }
    expect(isUpstreamError(error)).toBe(true);
    expect((error as { code: string }).code).toBe('ERR_UPSTREAM_INVALID_OPTION');
    expect((error as Error).message).toContain('balancing method does not support parameter "backup"');
  });

  it('least-conn and round-robin accept backup servers', () => {
    expect(withBackup('least-conn', false).servers.length).toBe(3);
    expect(withBackup('round-robin', false).servers.length).toBe(3);
  });

  it.each(['hash', 'ip-hash', 'random'] as const)('%s: adding or turning a server into a backup later is rejected too', (method) => {
    const b = new Balancer({ method, clock: clock(), servers: named([1, 1]) });
    expect(() => b.add({ id: 'X', address: '10.0.0.9:25', backup: true })).toThrow(/does not support parameter "backup"/);
    expect(() => b.update('B', { backup: true })).toThrow(/does not support parameter "backup"/);
    expect(b.servers.map((s) => s.id)).toEqual(['A', 'B']);
  });

  // [nginx-verified]: `server D; server E; server A backup; hash $arg_k;` (backup line first) gives
  // `D!,E!,A` then `A` `A`; the same with ip_hash and random. The backup tier is used only through
  // the round-robin fallback (more than 20 rounds here, both primaries being excluded).
  it.each([
    ['hash', 'k', {}, 'D!,E!,A A A'],
    ['hash', '', {}, 'D!,E!,A A A'],
    ['hash', 'k', { hash: { consistent: true } }, 'E!,D!,A A A'],
    ['ip-hash', '10.0.0.1', {}, 'E!,D!,A A A'],
  ] as const)('allowBackupWithHash: %s key %j falls back to the backup tier', (method, key, extra, expected) => {
    const b = withBackup(method, true, extra);
    const dead = new Set(['D', 'E']);
    expect([1, 2, 3].map(() => request(b, dead, key)).join(' ')).toBe(expected);
  });

  // rng alternates E, D, E, D...: random takes E first; random two draws E then D and takes the
  // second on a tie (D), then on the retry E is the only candidate left and the round-robin
  // fallback (after more than 20 draws) gets it.
  it.each([
    [{}, 'E!,D!,A A A'],
    [{ randomTwo: true }, 'D!,E!,A A A'],
  ])('allowBackupWithHash: random %j falls back to the backup tier', (extra, expected) => {
    let n = 0;
    const rng = () => [0.9, 0.1][n++ % 2]!;
    const b = withBackup('random', true, { ...extra, rng });
    const dead = new Set(['D', 'E']);
    expect([1, 2, 3].map(() => request(b, dead)).join(' ')).toBe(expected);
  });
});
