import { describe, expect, it } from 'vitest';
import { Balancer, ConfigError, parseUpstreams } from '../../src/index';
import { lookup } from '../../src/resolve/lookup';
import { expandHostNames } from '../../src/resolve/load';
import { ManualClock } from '../../src/clock';
import { a, FakeDns } from './resolve-fakes';

describe('parse result of resolve lines (nginx 1.30)', () => {
  it('leaves resolve lines out of options.servers and says what a resolver needs', () => {
    const [u] = parseUpstreams(
      `http {
  resolver 10.0.0.53 valid=7s ipv6=off;
  resolver_timeout 4s;
  upstream u {
    zone u 64k;
    server 10.0.0.1:80 weight=2;
    server backend.test:8080 resolve max_fails=3;
    server backend.test:8080 resolve backup;
    server api.test service=http resolve;
  }
}`,
      { filename: 'u.conf' },
    );
    expect(u!.options.servers.map((s) => s.id)).toEqual(['10.0.0.1:80']);
    expect(u!.serverSources.map((s) => s.line)).toEqual([6, 7, 8, 9]);
    const r = u!.resolve!;
    expect(r.resolver).toEqual({ addresses: ['10.0.0.53'], validMs: 7000, ipv4: true, ipv6: false, source: { file: 'u.conf', line: 2, column: 3 } });
    expect(r.timeoutMs).toBe(4000);
    expect(r.servers.map((s) => [s.id, s.host, s.port, s.service ?? null, s.server.maxFails, s.server.backup, s.source.line])).toEqual([
      ['backend.test:8080', 'backend.test', 8080, null, 3, false, 7],
      ['backend.test:8080#2', 'backend.test', 8080, null, 1, true, 8],
      ['api.test', 'api.test', 0, 'http', 1, false, 9],
    ]);
  });

  it('the upstream resolver wins over the http one; without a static primary the first resolve line is a down template', () => {
    const [u] = parseUpstreams('http { resolver 10.0.0.53; upstream u { zone u 64k; resolver 127.0.0.1:5353; resolver_timeout 2s; server b.test resolve; server 10.0.0.2 backup; } }');
    expect(u!.resolve!.resolver.addresses).toEqual(['127.0.0.1:5353']);
    expect(u!.resolve!.timeoutMs).toBe(2000);
    expect(u!.options.servers.map((s) => [s.id, s.down, s.backup])).toEqual([
      ['b.test', true, false],
      ['10.0.0.2', false, true],
    ]);
  });

  it('an address literal with resolve is an ordinary server (no zone needed, as in nginx)', () => {
    const [u] = parseUpstreams('http { upstream u { server 127.0.0.1:8080 resolve; } }');
    expect(u!.resolve).toBeUndefined();
    expect(u!.options.servers.map((s) => s.address)).toEqual(['127.0.0.1:8080']);
  });

  it('nginx 1.22 keeps rejecting resolve and the upstream resolver', () => {
    expect(() => parseUpstreams('http { upstream u { zone u 64k; server b resolve; } }', { nginx: '1.22' })).toThrow(/invalid parameter "resolve"/);
    expect(() => parseUpstreams('http { upstream u { server b service=http; } }', { nginx: '1.22' })).toThrow(/invalid parameter "service=http"/);
  });
});

describe('load-time names (Balancer.fromNginxAsync, nginx: one peer per address)', () => {
  const hosts: Record<string, { address: string; family: number }[]> = {
    'app.test': [{ address: '10.0.0.2', family: 4 }, { address: '10.0.0.3', family: 4 }, { address: 'fd00::4', family: 6 }],
  };
  const hostLookup = async (host: string) => hosts[host] ?? [];

  it('makes one server per address, in the lookup order, ids LINE@IP:PORT, with the line parameters', async () => {
    const b = await Balancer.fromNginxAsync('http { upstream u { server app.test:8080 weight=3; server 10.0.0.9; server app.test:8080 backup; } }', 'u', { hostLookup });
    expect(b.servers.map((s) => [s.id, s.address, s.weight, s.backup])).toEqual([
      ['app.test:8080@10.0.0.2:8080', '10.0.0.2:8080', 3, false],
      ['app.test:8080@10.0.0.3:8080', '10.0.0.3:8080', 3, false],
      ['app.test:8080@[fd00::4]:8080', '[fd00::4]:8080', 3, false],
      ['10.0.0.9', '10.0.0.9', 1, false],
      ['app.test:8080#2@10.0.0.2:8080', '10.0.0.2:8080', 1, true],
      ['app.test:8080#2@10.0.0.3:8080', '10.0.0.3:8080', 1, true],
      ['app.test:8080#2@[fd00::4]:8080', '[fd00::4]:8080', 1, true],
    ]);
  });

  it('a name that does not resolve is nginx\'s "host not found in upstream" at its line', async () => {
    const text = 'stream {\n  upstream u {\n    server 10.0.0.1:25;\n      server nowhere.test:25 max_fails=2;\n  }\n}\n';
    const e = await Balancer.fromNginxAsync(text, 'u', { hostLookup, filename: 's.conf' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect(e).toMatchObject({ reason: 'host not found in upstream "nowhere.test:25"', file: 's.conf', line: 4, column: 7, kind: 'HOST_NOT_FOUND', value: 'nowhere.test:25' });
    const thrown = await expandHostNames([{ address: 'x.test:1' }], [undefined], 'stream', () => Promise.reject(new Error('EAI_AGAIN'))).catch((x: unknown) => x);
    expect(thrown).toMatchObject({ reason: 'host not found in upstream "x.test:1"' });
  });

  it('leaves resolve lines to the resolver and unix sockets as they are', async () => {
    const b = await Balancer.fromNginxAsync('http { upstream u { zone u 64k; resolver 127.0.0.1; server app.test resolve; server unix:/tmp/s.sock; } }', 'u', {
      hostLookup: async () => {
        throw new Error('not asked');
      },
    });
    expect(b.servers.map((s) => s.id)).toEqual(['unix:/tmp/s.sock']);
  });
});

describe('one lookup (nginx resolver answers)', () => {
  const clock = new ManualClock(0);
  it('any failed type fails the whole name; NODATA for both is NXDOMAIN; no AAAA asked with ipv6 off', async () => {
    const dns = new FakeDns(clock);
    dns.set('a.test', { A: a(5, '10.0.0.1') });
    expect(await lookup(dns, { host: 'a.test', ipv4: true, ipv6: true }, () => 0)).toEqual({
      ok: true,
      addresses: [{ ip: '10.0.0.1', family: 4, priority: 0, weight: 1 }],
      ttl: 5,
      targetFailures: [],
    });
    dns.set('b.test', {});
    expect(await lookup(dns, { host: 'b.test', ipv4: true, ipv6: true }, () => 0)).toEqual({ ok: false, failure: 'NXDOMAIN' });
    const half = { ...dns, addresses: (name: string, family: 4 | 6) => (family === 6 ? Promise.reject(Object.assign(new Error('x'))) : dns.addresses(name, family)), services: dns.services.bind(dns) };
    expect(await lookup(half, { host: 'a.test', ipv4: true, ipv6: true }, () => 0)).toEqual({ ok: false, failure: 'ERROR' });
    expect(await lookup(half, { host: 'a.test', ipv4: true, ipv6: false }, () => 0)).toMatchObject({ ok: true, ttl: 5 });
  });

  it('SRV: no records is NXDOMAIN; all targets failing gives NXDOMAIN if any had it, else the first failure', async () => {
    const dns = new FakeDns(clock);
    dns.set('_h._tcp.s.test', {});
    expect(await lookup(dns, { host: 's.test', service: 'h', ipv4: true, ipv6: true }, () => 0)).toEqual({ ok: false, failure: 'NXDOMAIN' });
    dns.set('_h._tcp.s.test', { SRV: [{ name: 'x.test', port: 1, priority: 0, weight: 1 }, { name: 'y.test', port: 1, priority: 0, weight: 1 }] });
    dns.set('x.test', { fail: 'SERVFAIL' });
    dns.set('y.test', { fail: 'REFUSED' });
    expect(await lookup(dns, { host: 's.test', service: 'h', ipv4: true, ipv6: true }, () => 0)).toEqual({ ok: false, failure: 'SERVFAIL' });
    dns.zone.delete('y.test');
    expect(await lookup(dns, { host: 's.test', service: 'h', ipv4: true, ipv6: true }, () => 0)).toEqual({ ok: false, failure: 'NXDOMAIN' });
  });
});

describe('the node:dns client', () => {
  it('takes name servers as address literals only (a typed error names the value)', async () => {
    const { NodeDnsClient } = await import('../../src/resolve/dns');
    expect(() => new NodeDnsClient({ servers: ['127.0.0.1:5353', '[::1]:53', '::1', '10.0.0.1'] })).not.toThrow();
    expect(() => new NodeDnsClient({ servers: ['ns.example:53'] })).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION', option: 'servers', value: 'ns.example:53' }));
  });
});

describe('stream upstreams', () => {
  it('resolve lines in stream take the line port; service= lines take the SRV port', async () => {
    const clock = new ManualClock(0);
    const { timerQueue } = await import('./resolve-fakes');
    const timers = timerQueue(clock);
    const dns = new FakeDns(clock);
    dns.set('mx.test', { A: a(5, '10.0.0.2') });
    dns.set('_smtp._tcp.relay.test', { SRV: [{ name: 'r.test', port: 2525, priority: 0, weight: 1 }] });
    dns.set('r.test', { A: a(5, '10.0.0.3') });
    const b = Balancer.fromNginx('stream { upstream s { zone s 64k; resolver 127.0.0.1; server mx.test:25 resolve; server relay.test service=smtp resolve; } }', 's', { dns, clock: clock.now, timers });
    expect(b.servers.map((s) => s.id)).toEqual(['mx.test:25']);
    b.start();
    await timers.runUntil(1);
    expect(b.servers.map((s) => s.address)).toEqual(['10.0.0.2:25', '10.0.0.3:2525']);
    await b.close();
  });
});
