import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock } from '../../src/clock';
import { UpstreamError } from '../../src/errors';
import { markTried } from '../../src/select/request';
import { IP_HASH_SEED, type IpHashWalk, getIpHash as getIpHashWith, ipHashFold, ipHashKeyBytes, ipHashMix } from '../../src/select/ip-hash';
import { TierSlots } from '../../src/select/slots';
import type { Peers } from '../../src/peers';
import type { RequestState } from '../../src/select/request';

const getIpHash = (p: Peers, r: RequestState) => getIpHashWith(p, r, new TierSlots());
import { request } from '../helpers';
import { peersOf, requestOn } from './methods-harness';

const clock = () => new ManualClock(1_000_000).now;
const abc = (extra: Record<string, unknown>[] = [], weights = [1, 1, 1]) =>
  new Balancer({
    method: 'ip-hash',
    clock: clock(),
    servers: weights.map((weight, i) => ({ id: 'ABC'[i]!, address: `10.0.0.${i + 1}:25`, weight, ...(extra[i] ?? {}) })),
  });

/** The per-byte hash states of one round from the seed 89. */
function steps(bytes: number[]): number[] {
  const out: number[] = [];
  let h = IP_HASH_SEED;
  for (const b of bytes) {
    h = (h * 113 + b) % 6271;
    out.push(h);
  }
  return out;
}

const bytes = (key: string) => Array.from(ipHashKeyBytes(key));

describe('ip_hash (§5.4)', () => {
  it('per-byte steps: 192.168.1.10 -> 3978 4441 154; 10.0.0.1 -> 3796 2520 2565; 203.0.113.77 -> 3989 5516 2592', () => {
    expect(steps(bytes('192.168.1.10'))).toEqual([3978, 4441, 154]);
    expect(steps(bytes('10.0.0.1'))).toEqual([3796, 2520, 2565]);
    expect(steps(bytes('203.0.113.77'))).toEqual([3989, 5516, 2592]);
    expect(steps(bytes('2001:db8::1')).at(-1)).toBe(2600);
  });

  it.each([
    ['192.168.1.10', 'B'],
    ['192.168.1.200', 'B'],
    ['10.0.0.1', 'A'],
    ['203.0.113.77', 'A'],
    ['2001:db8::1', 'C'],
  ])('3 equal servers: %s -> %s', (key, id) => {
    expect(abc().pick(key)!.id).toBe(id);
  });

  it('only the first three octets of an IPv4 address count', () => {
    const b = abc();
    const ids = new Set(Array.from({ length: 20 }, (_, i) => b.pick(`172.16.5.${i * 12}`)!.id));
    expect(ids.size).toBe(1);
  });

  it('B unavailable: 192.168.1.10 re-mixes from 154 to 5654 -> C', () => {
    expect(ipHashMix(154, [192, 168, 1])).toBe(5654);
    expect(abc([{}, { down: true }]).pick('192.168.1.10')!.id).toBe('C');
  });

  it('retries continue from the last successful round: B fails -> C', () => {
    const b = abc();
    expect(request(b, new Set(['B']), '192.168.1.10')).toBe('B!,C');
  });

  it('weights {1,4}: 192.168.1.10 -> 154 mod 5 = 4 -> B; 10.0.0.1 -> 2565 mod 5 = 0 -> A', () => {
    const b = new Balancer({ method: 'ip-hash', servers: [{ id: 'A', address: 'a:1' }, { id: 'B', address: 'b:1', weight: 4 }] });
    expect([b.pick('192.168.1.10')!.id, b.pick('10.0.0.1')!.id]).toEqual(['B', 'A']);
  });

  it('key bytes: IPv4 prefix, IPv6 sixteen bytes, non-inet three zeros', () => {
    expect(bytes('192.168.1.10')).toEqual([192, 168, 1]);
    expect(bytes('0.0.0.0')).toEqual([0, 0, 0]);
    expect(bytes('255.255.255.255')).toEqual([255, 255, 255]);
    expect(bytes('')).toEqual([0, 0, 0]);
    expect(bytes('unix:')).toEqual([0, 0, 0]);
    expect(bytes('UNIX:/run/app.sock')).toEqual([0, 0, 0]);
    expect(bytes('::')).toEqual(Array(16).fill(0));
    expect(bytes('::1')).toEqual([...Array(15).fill(0), 1]);
    expect(bytes('1::')).toEqual([0, 1, ...Array(14).fill(0)]);
    expect(bytes('2001:db8::1')).toEqual([0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1]);
    expect(bytes('::ffff:10.0.0.1')).toEqual([...Array(10).fill(0), 0xff, 0xff, 10, 0, 0, 1]);
    expect(bytes('64:ff9b::192.0.2.33')).toEqual([0, 0x64, 0xff, 0x9b, ...Array(8).fill(0), 192, 0, 2, 33]);
    expect(bytes('1:2:3:4:5:6:7:8')).toEqual([0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]);
    expect(bytes('1:2:3:4:5:6:1.2.3.4')).toEqual([0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 1, 2, 3, 4]);
    expect(bytes('1:2:3:4:5:6:7::')).toEqual([0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 0]);
    expect(bytes('::2:3:4:5:6:7:8')).toEqual([0, 0, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]);
    expect(bytes('1:2::7:8')).toEqual([0, 1, 0, 2, ...Array(8).fill(0), 0, 7, 0, 8]);
  });

  it('IPv6 text forms of one address hash alike; zone ids are ignored; case does not matter', () => {
    const forms = ['2001:db8::1', '2001:0db8:0000:0000:0000:0000:0000:0001', '2001:DB8:0:0::1', '2001:db8:0::0:1', '2001:db8::0.0.0.1', '2001:db8::1%eth0'];
    const folds = forms.map(ipHashFold);
    expect(new Set(folds).size).toBe(1);
    expect(bytes('fe80::1%25lo0')).toEqual(bytes('fe80::1'));
  });

  it('an IPv4-mapped IPv6 address is hashed as 16 bytes (as nginx does on a dual-stack socket)', () => {
    expect(ipHashFold('::ffff:192.168.1.10')).not.toBe(ipHashFold('192.168.1.10'));
    expect(ipHashFold('::ffff:192.168.1.10') >> 13).toBe(16);
    expect(ipHashFold('192.168.1.10') >> 13).toBe(3);
  });

  it('folding the key equals mixing it byte by byte', () => {
    for (const key of ['192.168.1.10', '10.0.0.1', '2001:db8::1', '::ffff:1.2.3.4', '', 'unix:']) {
      const b = bytes(key);
      const folded = ipHashFold(key);
      expect(folded >> 13).toBe(b.length);
      const c = folded & 8191;
      expect(c).toBe(ipHashMix(0, b));
      let pow = 1;
      for (let k = 0; k < b.length; k++) pow = (pow * 113) % 6271;
      for (const h of [0, 89, 154, 3978, 6270]) expect((h * pow + c) % 6271).toBe(ipHashMix(h, b));
    }
  });

  it('a unix-socket client (key \'\' or \'unix:\') always hashes to the same server', () => {
    const b = abc();
    const ids = [b.pick()!.id, b.pick('')!.id, b.pick('unix:')!.id, b.pick()!.id];
    expect(ids).toEqual(['B', 'B', 'B', 'B']); // 89 -> 3786 -> 1390 -> 295, 295 mod 3 = 1
    expect(steps([0, 0, 0])).toEqual([3786, 1390, 295]);
  });

  it.each([
    'localhost', '1.2.3', '1.2.3.4.5', '1.2.3.256', '01.2.3.4', '1.2.3.4:80', ' 1.2.3.4', '1.2.3.4 ', '1..2.3',
    '[::1]', ':1', '1:', '::1::', '1:::2', '12345::', 'g::1', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:1.2.3.4', '::1%',
    '%eth0', '1.2.3.4%eth0', '::1.2.3', 'fe80::1::2%x', '-1.0.0.0', '1:2:3:4::5:6:7:8', '::1:2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7:8::', '::1:2:3:4:5:6:1.2.3.4',
  ])('rejects %j with ERR_UPSTREAM_INVALID_KEY and the key as value', (key) => {
    let error: unknown;
    try {
      abc().pick(key);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as UpstreamError).code).toBe('ERR_UPSTREAM_INVALID_KEY');
    expect((error as UpstreamError).value).toBe(key);
  });

  it('an invalid key throws from next() before any state changes', () => {
    const b = abc();
    const a = b.attempt('not-an-address');
    expect(() => a.next()).toThrow(/ip-hash needs the client address/);
    expect(b.servers.map((s) => s.conns)).toEqual([0, 0, 0]);
    expect(b.pick('10.0.0.1')!.id).toBe('A');
  });

  it('parses the key once per request, not per retry', () => {
    const p = peersOf([{ address: 'a:1' }, { address: 'b:1' }, { address: 'c:1' }]);
    const r = requestOn(p.primary, '192.168.1.10');
    expect(getIpHash(p, r)).toBe(1);
    markTried(r, 1); // what the Balancer does with the winner
    r.key = 'garbage'; // a retry must not look at the key again
    expect(getIpHash(p, r)).toBe(2);
    expect((r.walk as IpHashWalk).hash).toBe(5654);
  });

  it('more than 20 tries fall back to round robin; a single server always uses it', () => {
    const b = abc([{ down: true }, { down: true }, { down: true }]);
    expect(b.pick('10.0.0.1')).toBeUndefined();
    const single = new Balancer({ method: 'ip-hash', clock: clock(), servers: [{ id: 'D', address: 'd:1' }] });
    expect([1, 2].map(() => request(single, new Set(['D']), '10.0.0.1')).join(' ')).toBe('D!=>502 D!=>502');
  });
});
