/**
 * `resolve` and `service=` against a real DNS server: the `dns2` UDP server of
 * test/conformance/resolve/dns-server.ts on 127.0.0.1, whose records each test changes, asked by
 * the library's default client (node:dns's c-ares resolver, `NodeDnsClient`) on real timers. TTLs
 * of 0 keep the re-resolution at nginx's 1 s. Every server a test starts, it stops.
 */

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Balancer } from '../../src/index';
import type { DnsError } from '../../src/resolve/dns';
import { ZoneServer } from '../conformance/resolve/dns-server';

let zone: ZoneServer;
let balancers: Balancer[] = [];

beforeEach(async () => {
  zone = new ZoneServer();
  await zone.start();
});

afterEach(async () => {
  for (const b of balancers) await b.close();
  balancers = [];
  await zone.close();
});

function balancer(body: string): Balancer {
  const b = Balancer.fromNginx(`http { upstream u { zone u 64k; resolver 127.0.0.1:${zone.port}; ${body} } }`, 'u');
  balancers.push(b);
  return b;
}

/** The next `resolve` (or `resolveError`) event, within `ms`. */
function next<E extends 'resolve' | 'resolveError'>(b: Balancer, event: E, ms = 4000): Promise<unknown[]> {
  return new Promise((done, fail) => {
    const t = setTimeout(() => fail(new Error(`no ${event} event within ${ms} ms`)), ms);
    b.once(event, ((...args: unknown[]) => {
      clearTimeout(t);
      done(args);
    }) as never);
  });
}

const addresses = (b: Balancer): string[] => b.servers.map((s) => `${s.address}${s.backup ? ' backup' : ''}${s.down ? ' down' : ''} w${s.weight}`);

describe('re-resolution against a real DNS server (dns2 on 127.0.0.1, node:dns client)', () => {
  it('resolves at start, follows a record change one TTL + 1 s later, and keeps the surviving peer with its open connection', async () => {
    zone.set('backend.test', { A: [{ address: '127.0.0.2', ttl: 0 }, { address: '127.0.0.3', ttl: 0 }] });
    const b = balancer('server backend.test:8080 resolve;');
    expect(addresses(b)).toEqual(['backend.test:8080 down w1']);
    const first = next(b, 'resolve');
    b.start();
    expect(await first).toEqual(['backend.test:8080', ['backend.test:8080@127.0.0.2:8080', 'backend.test:8080@127.0.0.3:8080'], []]);
    const held = b.pick()!;
    expect(held.address).toBe('127.0.0.2:8080');
    const t0 = performance.now();
    zone.set('backend.test', { A: [{ address: '127.0.0.2', ttl: 0 }, { address: '127.0.0.4', ttl: 0 }] });
    const changed = await next(b, 'resolve');
    const waited = performance.now() - t0;
    expect(changed).toEqual(['backend.test:8080', ['backend.test:8080@127.0.0.4:8080'], ['backend.test:8080@127.0.0.3:8080']]);
    expect(waited).toBeLessThan(2500);
    expect(addresses(b)).toEqual(['127.0.0.2:8080 w1', '127.0.0.4:8080 w1']);
    expect(b.get('backend.test:8080@127.0.0.2:8080')!.conns).toBe(1);
    b.release(held);
    const queries = zone.queriesSince(0, 'backend.test', 'A').map((q) => q.at);
    expect(queries.length).toBeGreaterThanOrEqual(2);
    // TTL 0: nginx asks again 1 s after an answer
    expect(queries[1]! - queries[0]!).toBeGreaterThan(900);
    expect(queries[1]! - queries[0]!).toBeLessThan(1600);
  });

  it('service=: SRV records, their targets\' A records, priorities as backup, SRV weights and ports', async () => {
    zone.set('_http._tcp.backend.test', {
      SRV: [
        { priority: 1, weight: 5, port: 8001, target: 'a.test', ttl: 0 },
        { priority: 2, weight: 1, port: 8002, target: 'b.test', ttl: 0 },
      ],
    });
    zone.set('a.test', { A: [{ address: '127.0.0.2', ttl: 0 }] });
    zone.set('b.test', { A: [{ address: '127.0.0.3', ttl: 0 }] });
    const b = balancer('server backend.test service=http resolve;');
    const first = next(b, 'resolve');
    b.start();
    await first;
    expect(addresses(b)).toEqual(['127.0.0.2:8001 w5', '127.0.0.3:8002 backup w1']);
    expect(b.servers.map((s) => s.id)).toEqual(['backend.test@a.test@127.0.0.2:8001;weight=5', 'backend.test@b.test@127.0.0.3:8002;weight=1']);
  });

  it('NXDOMAIN removes the peers, SERVFAIL keeps them, and a silent server is a TIMEOUT after resolver_timeout', async () => {
    zone.set('backend.test', { A: [{ address: '127.0.0.2', ttl: 0 }] });
    const b = balancer('resolver_timeout 1s; server backend.test:80 resolve; server 127.0.0.9:80 backup;');
    const first = next(b, 'resolve');
    b.start();
    await first;
    expect(addresses(b)).toEqual(['127.0.0.9:80 backup w1', '127.0.0.2:80 w1']);

    zone.set('backend.test', { rcode: 2 });
    const servfail = (await next(b, 'resolveError')) as [string, DnsError, boolean];
    expect([servfail[0], servfail[1].code, servfail[1].failure, servfail[2]]).toEqual(['backend.test:80', 'ERR_UPSTREAM_DNS', 'SERVFAIL', true]);
    expect(addresses(b)).toEqual(['127.0.0.9:80 backup w1', '127.0.0.2:80 w1']);

    zone.set('backend.test', { silent: true });
    const t0 = performance.now();
    const timeout = (await next(b, 'resolveError', 5000)) as [string, DnsError, boolean];
    expect([timeout[1].failure, timeout[2]]).toEqual(['TIMEOUT', true]);
    expect(performance.now() - t0).toBeGreaterThan(900);
    expect(addresses(b)).toEqual(['127.0.0.9:80 backup w1', '127.0.0.2:80 w1']);

    zone.set('backend.test', undefined);
    const nx = (await next(b, 'resolveError', 5000)) as [string, DnsError, boolean];
    expect([nx[1].failure, nx[2]]).toEqual(['NXDOMAIN', false]);
    expect(addresses(b)).toEqual(['backend.test:80 down w1', '127.0.0.9:80 backup w1']);
    expect(b.pick()!.address).toBe('127.0.0.9:80');
  });

  it('close() stops the queries', async () => {
    zone.set('backend.test', { A: [{ address: '127.0.0.2', ttl: 0 }] });
    const b = balancer('server backend.test resolve;');
    const first = next(b, 'resolve');
    b.start();
    await first;
    await b.close();
    const before = zone.log.length;
    await new Promise((done) => setTimeout(done, 1500));
    expect(zone.log.length).toBe(before);
  });
});

describe('load-time names through the system resolver (getaddrinfo)', () => {
  it('localhost becomes one server per address, 127.0.0.1 among them', async () => {
    const b = await Balancer.fromNginxAsync('http { upstream u { server localhost:8080; } }');
    balancers.push(b);
    expect(b.servers.map((s) => s.id)).toContain('localhost:8080@127.0.0.1:8080');
    expect(b.servers.every((s) => s.id.startsWith('localhost:8080@'))).toBe(true);
  });
});
