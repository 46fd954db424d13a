import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';

const servers = (n: number, weight = 1) => Array.from({ length: n }, (_, i) => ({ id: `s${i}`, address: `10.0.0.${i + 1}:25`, weight }));
const keys = Array.from({ length: 500 }, (_, i) => `key-${i}`);
const placement = (b: Balancer) => keys.map((k) => {
  const s = b.pick(k)!;
  b.release(s);
  return s.id;
});

describe('runtime changes with the hash methods', () => {
  it('consistent hash re-places keys after update() changes an address, exactly as a fresh balancer does', () => {
    const b = new Balancer({ method: 'hash', hash: { consistent: true }, servers: servers(4) });
    b.update('s2', { address: '10.9.9.9:25' });
    const fresh = new Balancer({ method: 'hash', hash: { consistent: true }, servers: servers(4).map((s) => (s.id === 's2' ? { ...s, address: '10.9.9.9:25' } : s)) });
    expect(placement(b)).toEqual(placement(fresh));
  });

  it('a ring that would be too large is rejected before membership changes', () => {
    const b = new Balancer({ method: 'hash', hash: { consistent: true }, servers: servers(2, 50_000) });
    expect(() => b.add({ id: 'big', address: '10.0.1.1:25', weight: 10_000 })).toThrowError(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION', value: 110_000 }));
    expect(b.servers.map((s) => s.id)).toEqual(['s0', 's1']);
    expect(() => b.setServers([...servers(2, 50_000), { id: 'big', address: '10.0.1.1:25', weight: 10_000 }])).toThrowError(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION' }));
    expect(() => b.update('s0', { weight: 60_000 })).toThrowError(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION' }));
    expect(b.servers.map((s) => [s.id, s.weight])).toEqual([['s0', 50_000], ['s1', 50_000]]);
  });
});
