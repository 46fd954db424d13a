import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock } from '../../src/clock';
import { isUpstreamError } from '../../src/errors';
import type { ServerOptions } from '../../src/options';
import {
  ConsistentHashSelector, MAX_RING_POINTS, type PointWalk, buildRing, findPoint, ketamaHostPort, ketamaPoints, ringOwner,
} from '../../src/select/consistent-hash';
import { crc32 } from '../../src/select/crc32';
import { request } from '../helpers';
import { peersOf, requestOn } from './methods-harness';

const hex = (n: number) => n.toString(16).padStart(8, '0');
const clock = () => new ManualClock(1_000_000).now;
const chash = (servers: ServerOptions[]) => new Balancer({ method: 'hash', hash: { consistent: true }, servers, clock: clock() });
const three = (extra: Partial<ServerOptions>[] = []) =>
  [1, 2, 3].map((n, i) => ({ id: `.${n}`, address: `10.0.0.${n}:25`, ...(extra[i] ?? {}) }));
const KEYS = ['alice@example.com', 'bob@example.com', 'carol@example.org', 'foo', '1', '2', '3', 'user42', '/index.html'];

describe('hash KEY consistent (§5.3)', () => {
  it.each([
    ['127.0.0.1:18081', '066c01f9 dcebb37d 6ace8d29'],
    ['10.0.0.1:25', 'cbd6f140 3f10c93b 8e261c43'],
    ['backend.example.com', '46127ded d9658b7d d5a2045f'],
    ['unix:/tmp/sock', 'de072055 34b3f031 cd08c58f'],
    ['[::1]:8080', '68fd9523 c3d99972 099e9317'],
  ])('first three points of %s', (server, expected) => {
    expect(ketamaPoints(server, 3).map(hex).join(' ')).toBe(expected);
  });

  it('splits HOST \\0 PORT from the address text as nginx does', () => {
    expect(ketamaHostPort('127.0.0.1:18081')).toEqual(['127.0.0.1', '18081']);
    expect(ketamaHostPort('[::1]:8080')).toEqual(['[::1]', '8080']);
    expect(ketamaHostPort('backend.example.com')).toEqual(['backend.example.com', '']);
    expect(ketamaHostPort('10.0.0.1')).toEqual(['10.0.0.1', '']);
    expect(ketamaHostPort('unix:/tmp/sock')).toEqual(['/tmp/sock', '']);
    expect(ketamaHostPort('UNIX:/tmp/a:1')).toEqual(['/tmp/a:1', '']);
    expect(ketamaHostPort('host:')).toEqual(['host', '']);
    expect(ketamaHostPort('a:b:80')).toEqual(['a:b', '80']);
    expect(ketamaHostPort('[::1]')).toEqual(['[::1]', '']);
  });

  it('10.0.0.1-3:25 (480 points): the nine key placements [nginx-verified]', () => {
    const b = chash(three());
    expect(KEYS.map((k) => b.pick(k)!.id).join(' ')).toBe('.3 .2 .1 .2 .3 .3 .3 .3 .3');
    const p = peersOf(three());
    const ring = buildRing(p);
    expect(ring.points.length).toBe(480);
    expect(ringOwner(ring, 'bob@example.com')).toBe('10.0.0.2:25');
    expect(hex(crc32('alice@example.com'))).toBe('99fdea29');
  });

  it('a down server keeps its points: bob@example.com walks from .2 to .1', () => {
    expect(chash(three([{}, { down: true }])).pick('bob@example.com')!.id).toBe('.1');
    const p1 = buildRing(peersOf(three()));
    const p2 = buildRing(peersOf(three([{}, { down: true }])));
    expect(p2.points).toEqual(p1.points);
  });

  it('a failed attempt walks on within the request: .2 fails -> .1', () => {
    const b = chash(three());
    expect([request(b, new Set(['.2']), 'bob@example.com'), request(b, new Set(['.2']), 'bob@example.com')].join(' ')).toBe('.2!,.1 .1');
  });

  it('weights .1=1, .2=4: all nine keys go to .2 [nginx-verified]', () => {
    const b = chash([{ id: '.1', address: '10.0.0.1:25' }, { id: '.2', address: '10.0.0.2:25', weight: 4 }]);
    expect(KEYS.map((k) => b.pick(k)!.id)).toEqual(Array(9).fill('.2'));
    expect(buildRing(peersOf([{ address: '10.0.0.1:25' }, { address: '10.0.0.2:25', weight: 4 }])).points.length).toBe(800);
  });

  it('hashes the address text as written, not the resolved address', () => {
    expect(ketamaPoints('localhost:18081', 1)[0]).not.toBe(ketamaPoints('127.0.0.1:18081', 1)[0]);
  });

  it('servers sharing an address text share (deduplicated) points and split them by SWRR', () => {
    const servers = [
      { id: 'X', address: 'shared:25', weight: 2 },
      { id: 'Y', address: 'shared:25' },
      { id: 'Z', address: 'other:25' },
    ];
    const ring = buildRing(peersOf(servers));
    expect(ring.points.length).toBe(320 + 160); // X's 320 points include Y's 160 identical ones
    expect(ring.names).toEqual(['shared:25', 'other:25']);
    const key = Array.from({ length: 100 }, (_, i) => `k${i}`).find((k) => ringOwner(ring, k) === 'shared:25')!;
    const b = chash(servers);
    const out: string[] = [];
    for (let k = 0; k < 6; k++) {
      const s = b.pick(key)!;
      out.push(s.id);
      b.release(s);
    }
    expect(out.join(' ')).toBe('X Y X X Y X'); // SWRR {2,1} among X, Y
    expect(b.get('Z')!.currentWeight).toBe(0);
  });

  it('binary search: first point >= hash, exact hits, and the wrap past the last point', () => {
    const pts = new Uint32Array([10, 20, 30]);
    expect([findPoint(pts, 0), findPoint(pts, 10), findPoint(pts, 11), findPoint(pts, 30), findPoint(pts, 31), findPoint(pts, 0xffffffff)]).toEqual([0, 0, 1, 2, 3, 3]);
    const ring = buildRing(peersOf(three()));
    const last = ring.points[ring.points.length - 1]!;
    const key = Array.from({ length: 5000 }, (_, i) => `wrap${i}`).find((k) => crc32(k) > last)!;
    expect(key).toBeDefined();
    expect(ringOwner(ring, key)).toBe(ring.names[ring.groups[0]!]);
  });

  it('the walk gives up after 20 points and falls back to round robin', () => {
    const p = peersOf(three([{ down: true }, { down: true }, { down: true }]));
    const selector = new ConsistentHashSelector();
    selector.rebuilt(p);
    const r = requestOn(p.primary, 'foo');
    expect(selector.get(p, r)).toBe(-1);
    expect((r.walk as PointWalk).tries).toBe(21);
  });

  it('the ring is built by rebuild and reused by every get; an in-place weight change rebuilds it once', () => {
    const p = peersOf(three());
    const selector = new ConsistentHashSelector();
    selector.rebuilt(p);
    const ring = selector.ring;
    for (const k of KEYS) selector.get(p, requestOn(p.primary, k));
    expect(selector.ring).toBe(ring);
    p.primary.weight[0] = 2;
    p.primary.recount();
    selector.get(p, requestOn(p.primary, 'foo'));
    expect(selector.ring).not.toBe(ring);
    expect(selector.ring!.buckets.size).toBe(640);
    const again = selector.ring;
    selector.get(p, requestOn(p.primary, 'bar'));
    expect(selector.ring).toBe(again);
  });

  it('an empty key or a single server uses round robin', () => {
    const b = chash(three([{ weight: 5 }]));
    const out: string[] = [];
    for (let k = 0; k < 7; k++) {
      const s = b.pick('')!;
      out.push(s.id);
      b.release(s);
    }
    expect(out.join(' ')).toBe('.1 .1 .2 .1 .3 .1 .1');
    const single = chash([{ id: 'D', address: '10.0.0.1:25' }]);
    expect([1, 2].map(() => request(single, new Set(['D']), 'foo')).join(' ')).toBe('D!=>502 D!=>502');
  });

  it('membership changes move only the removed server\'s keys and rebuild the ring', () => {
    const b = chash(three());
    const before = KEYS.map((k) => b.pick(k)!.id);
    b.remove('.3');
    const after = KEYS.map((k) => b.pick(k)!.id);
    KEYS.forEach((_, i) => {
      if (before[i] !== '.3') expect(after[i]).toBe(before[i]);
      else expect(after[i]).not.toBe('.3');
    });
    b.setServers([...three().slice(0, 2), { id: '.3', address: '10.0.0.3:25' }]);
    expect(KEYS.map((k) => b.pick(k)!.id)).toEqual(before);
  });

  it('refuses a ring of more than MAX_RING_POINTS points', () => {
    const weight = Math.ceil(MAX_RING_POINTS / 160 / 2) + 1;
    let error: unknown;
    try {
      chash([{ address: 'a:1', weight }, { address: 'b:1', weight }]);
    } catch (e) {
      error = e;
    }
    expect(isUpstreamError(error)).toBe(true);
    expect((error as { code: string; value: unknown }).code).toBe('ERR_UPSTREAM_INVALID_OPTION');
    expect((error as { value: unknown }).value).toBe(2 * weight);
  });
});
