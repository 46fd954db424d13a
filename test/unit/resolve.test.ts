import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock';
import { Balancer } from '../../src/index';
import { a, FakeDns, timerQueue } from './resolve-fakes';

/** An http upstream around `body` with a resolver, on a manual clock, timers and fake DNS. */
function setup(body: string, rng: () => number = () => 0) {
  const clock = new ManualClock(0);
  const timers = timerQueue(clock);
  const dns = new FakeDns(clock);
  const text = `http { upstream u { zone u 64k; resolver 127.0.0.1; ${body} } }`;
  const b = Balancer.fromNginx(text, 'u', { dns, clock: clock.now, timers, rng });
  const events: string[] = [];
  b.on('resolve', (line, added, removed) => events.push(`${clock.now()} resolve ${line} +[${added.join(' ')}] -[${removed.join(' ')}]`));
  b.on('resolveError', (line, error, kept) => events.push(`${clock.now()} error ${line} ${error.failure} ${kept ? 'kept' : 'removed'}`));
  return { b, dns, timers, clock, events };
}

const ids = (b: Balancer): string[] => b.servers.map((s) => `${s.id}${s.backup ? ' backup' : ''}${s.down ? ' down' : ''} w${s.weight}`);
const picks = (b: Balancer, n: number): string[] => {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const s = b.pick();
    out.push(s === undefined ? '-' : s.address);
    if (s !== undefined) b.release(s);
  }
  return out;
};

describe('re-resolution of `server NAME resolve` (nginx 1.30 zone module timers)', () => {
  it('holds the line as a down template until the first answer, 1 ms after start(); then asks again TTL + 1 s after each answer', async () => {
    const { b, dns, timers, events } = setup('server backend.test:8080 resolve;');
    dns.set('backend.test', { A: a(5, '127.0.0.2', '127.0.0.3') });
    expect(ids(b)).toEqual(['backend.test:8080 down w1']);
    expect(b.pick()).toBeUndefined();
    b.start();
    await timers.runUntil(0);
    expect(dns.log).toEqual([]);
    await timers.runUntil(1);
    expect(dns.log).toEqual(['1 A backend.test', '1 AAAA backend.test']);
    expect(ids(b)).toEqual(['backend.test:8080@127.0.0.2:8080 w1', 'backend.test:8080@127.0.0.3:8080 w1']);
    expect(picks(b, 3)).toEqual(['127.0.0.2:8080', '127.0.0.3:8080', '127.0.0.2:8080']);
    dns.set('backend.test', { A: a(2, '127.0.0.3', '127.0.0.4') });
    await timers.runUntil(6000);
    expect(dns.log.length).toBe(2);
    await timers.runUntil(6001);
    expect(ids(b)).toEqual(['backend.test:8080@127.0.0.3:8080 w1', 'backend.test:8080@127.0.0.4:8080 w1']);
    await timers.runUntil(9001);
    expect(dns.log.filter((q) => q.includes(' A ')).map((q) => Number(q.split(' ')[0]))).toEqual([1, 6001, 9001]);
    expect(events).toEqual([
      '1 resolve backend.test:8080 +[backend.test:8080@127.0.0.2:8080 backend.test:8080@127.0.0.3:8080] -[]',
      '6001 resolve backend.test:8080 +[backend.test:8080@127.0.0.4:8080] -[backend.test:8080@127.0.0.2:8080]',
    ]);
    await b.close();
  });

  it('asks again after 1 s for TTL 0, and after valid= + 1 s whatever the TTL', async () => {
    const zero = setup('server backend.test resolve;');
    zero.dns.set('backend.test', { A: a(0, '127.0.0.2') });
    zero.b.start();
    await zero.timers.runUntil(3001);
    expect(zero.dns.log.filter((q) => q.includes(' A ')).map((q) => q.split(' ')[0])).toEqual(['1', '1001', '2001', '3001']);
    await zero.b.close();

    const clock = new ManualClock(0);
    const timers = timerQueue(clock);
    const dns = new FakeDns(clock);
    dns.set('backend.test', { A: a(100, '127.0.0.2') });
    const b = Balancer.fromNginx('http { upstream u { zone u 64k; resolver 127.0.0.1 valid=3s; server backend.test resolve; } }', 'u', { dns, clock: clock.now, timers });
    b.start();
    await timers.runUntil(8001);
    expect(dns.log.filter((q) => q.includes(' A ')).map((q) => q.split(' ')[0])).toEqual(['1', '4001', '8001']);
    await b.close();
  });

  it('puts AAAA addresses after the A ones ([v6]:port), takes the smallest TTL, and asks no AAAA with ipv6=off', async () => {
    const { b, dns, timers } = setup('server backend.test:81 resolve;');
    dns.set('backend.test', { A: a(9, '127.0.0.2'), AAAA: a(3, '::1', 'fe80::2') });
    b.start();
    await timers.runUntil(1);
    expect(b.servers.map((s) => s.address)).toEqual(['127.0.0.2:81', '[::1]:81', '[fe80::2]:81']);
    expect(b.servers[1]!.id).toBe('backend.test:81@[::1]:81');
    await timers.runUntil(4001);
    expect(dns.log.filter((q) => q.includes(' A ')).map((q) => q.split(' ')[0])).toEqual(['1', '4001']);
    await b.close();

    const clock = new ManualClock(0);
    const t2 = timerQueue(clock);
    const d2 = new FakeDns(clock);
    d2.set('backend.test', { A: a(9, '127.0.0.2'), AAAA: a(3, '::1') });
    const b2 = Balancer.fromNginx('http { upstream u { zone u 64k; resolver 127.0.0.1 ipv6=off; server backend.test resolve; } }', 'u', { dns: d2, clock: clock.now, timers: t2 });
    b2.start();
    await t2.runUntil(1);
    expect(d2.log).toEqual(['1 A backend.test']);
    expect(b2.servers.map((s) => s.address)).toEqual(['127.0.0.2:80']);
    await b2.close();
  });

  it('NXDOMAIN (and NODATA) removes every peer of the name and asks again 11 s later; the template stands in while no primary is left', async () => {
    const { b, dns, timers, events } = setup('server backend.test resolve; server 10.0.0.9 backup;');
    dns.set('backend.test', { A: a(1, '127.0.0.2') });
    b.start();
    await timers.runUntil(1);
    expect(ids(b)).toEqual(['10.0.0.9 backup w1', 'backend.test@127.0.0.2:80 w1']);
    dns.zone.delete('backend.test');
    await timers.runUntil(2001);
    expect(ids(b)).toEqual(['backend.test down w1', '10.0.0.9 backup w1']);
    expect(picks(b, 2)).toEqual(['10.0.0.9', '10.0.0.9']);
    dns.set('backend.test', {});
    await timers.runUntil(13001);
    expect(dns.log.filter((q) => q.includes(' A ')).map((q) => q.split(' ')[0])).toEqual(['1', '2001', '13001']);
    dns.set('backend.test', { A: a(1, '127.0.0.3') });
    await timers.runUntil(24001);
    expect(ids(b)).toEqual(['10.0.0.9 backup w1', 'backend.test@127.0.0.3:80 w1']);
    expect(events).toEqual([
      '1 resolve backend.test +[backend.test@127.0.0.2:80] -[]',
      '2001 resolve backend.test +[] -[backend.test@127.0.0.2:80]',
      '2001 error backend.test NXDOMAIN removed',
      '13001 error backend.test NXDOMAIN removed',
      '24001 resolve backend.test +[backend.test@127.0.0.3:80] -[]',
    ]);
    await b.close();
  });

  it('any other failure keeps the last good peers and tries again max(resolver_timeout, 1 s) later', async () => {
    const { b, dns, timers, events } = setup('resolver_timeout 500ms; server backend.test resolve;');
    dns.set('backend.test', { A: a(1, '127.0.0.2') });
    b.start();
    await timers.runUntil(1);
    dns.set('backend.test', { fail: 'SERVFAIL' });
    await timers.runUntil(2001);
    dns.set('backend.test', { fail: 'REFUSED' });
    await timers.runUntil(3001);
    expect(ids(b)).toEqual(['backend.test@127.0.0.2:80 w1']);
    dns.set('backend.test', { A: a(1, '127.0.0.3') });
    await timers.runUntil(4001);
    expect(ids(b)).toEqual(['backend.test@127.0.0.3:80 w1']);
    expect(events).toEqual([
      '1 resolve backend.test +[backend.test@127.0.0.2:80] -[]',
      '2001 error backend.test SERVFAIL kept',
      '3001 error backend.test REFUSED kept',
      '4001 resolve backend.test +[backend.test@127.0.0.3:80] -[backend.test@127.0.0.2:80]',
    ]);
    await b.close();
  });

  it('no answer within resolver_timeout is a TIMEOUT: the peers stay, the next try resolver_timeout later', async () => {
    const { b, dns, timers, events } = setup('resolver_timeout 3s; server backend.test resolve;');
    dns.set('backend.test', { A: a(1, '127.0.0.2') });
    b.start();
    await timers.runUntil(1);
    dns.set('backend.test', { silent: true });
    await timers.runUntil(2001 + 2999);
    expect(events.length).toBe(1);
    await timers.runUntil(5001);
    expect(events[1]).toBe('5001 error backend.test TIMEOUT kept');
    dns.set('backend.test', { A: a(1, '127.0.0.4') });
    await timers.runUntil(8001);
    expect(dns.log.filter((q) => q.includes(' A ')).map((q) => q.split(' ')[0])).toEqual(['1', '2001', '8001']);
    expect(ids(b)).toEqual(['backend.test@127.0.0.4:80 w1']);
    await b.close();
  });

  it('keeps the state of surviving peers (fails, connections, current weight) and lets a removed peer with a connection be released', async () => {
    const { b, dns, timers, clock } = setup('server backend.test resolve max_fails=1 fail_timeout=30s;');
    dns.set('backend.test', { A: a(1, '127.0.0.2', '127.0.0.3', '127.0.0.4') });
    b.start();
    await timers.runUntil(1);
    const held = b.pick()!; // .2, kept open
    const failed = b.pick()!; // .3
    b.release(failed, true);
    expect([held.address, failed.address]).toEqual(['127.0.0.2:80', '127.0.0.3:80']);
    dns.set('backend.test', { A: a(1, '127.0.0.2', '127.0.0.3', '127.0.0.5') });
    await timers.runUntil(2001);
    expect(b.get('backend.test@127.0.0.2:80')!.conns).toBe(1);
    expect(b.get('backend.test@127.0.0.3:80')!.fails).toBe(1);
    expect(b.get('backend.test@127.0.0.3:80')!.state).toBe('unavail');
    expect(picks(b, 4)).toEqual(['127.0.0.5:80', '127.0.0.2:80', '127.0.0.5:80', '127.0.0.2:80']);
    dns.set('backend.test', { A: a(1, '127.0.0.5') });
    await timers.runUntil(4001);
    expect(b.get('backend.test@127.0.0.2:80')).toBeUndefined();
    b.release(held);
    expect(held.conns).toBe(0);
    expect(clock.now()).toBe(4001);
    await b.close();
  });

  it('close() clears the timers and drops an answer still in flight', async () => {
    const { b, dns, timers } = setup('resolver_timeout 3s; server backend.test resolve;');
    dns.set('backend.test', { silent: true });
    b.start();
    await timers.runUntil(1);
    expect(timers.size).toBe(1); // the resolver_timeout of the query in flight
    await b.close();
    expect(timers.size).toBe(1);
    await timers.runUntil(60_000);
    expect(dns.log).toEqual(['1 A backend.test', '1 AAAA backend.test']);
    expect(ids(b)).toEqual(['backend.test down w1']);
    expect(() => b.start()).toThrow(/closed/);
  });
});

describe('service= (SRV records, nginx 1.30 priorities and weights)', () => {
  const srv = (priority: number, weight: number, port: number, name: string, ttl = 5) => ({ priority, weight, port, name, ttl });

  it('asks _NAME._tcp.HOST; the lowest priority serves, higher ones are backup peers; SRV weights are peer weights (0 read as 1)', async () => {
    const { b, dns, timers } = setup('server backend.test service=http resolve;');
    dns.set('_http._tcp.backend.test', { SRV: [srv(10, 0, 9001, 'c.test'), srv(1, 3, 8001, 'a.test'), srv(20, 1, 9002, 'd.test')] });
    dns.set('a.test', { A: a(5, '127.0.0.2') });
    dns.set('c.test', { A: a(5, '127.0.0.3') });
    dns.set('d.test', { A: a(5, '127.0.0.4') });
    b.start();
    await timers.runUntil(1);
    expect(dns.log.slice(0, 1)).toEqual(['1 SRV _http._tcp.backend.test']);
    expect(ids(b)).toEqual([
      'backend.test@a.test@127.0.0.2:8001;weight=3 w3',
      'backend.test@c.test@127.0.0.3:9001;weight=1 backup w1',
      'backend.test@d.test@127.0.0.4:9002;weight=1 backup w1',
    ]);
    expect(picks(b, 2)).toEqual(['127.0.0.2:8001', '127.0.0.2:8001']);
    await b.close();
  });

  it('a line weight overrides the SRV weights; a dotted service is asked as written', async () => {
    const { b, dns, timers } = setup('server backend.test service=_x._udp weight=4 resolve;');
    dns.set('_x._udp.backend.test', { SRV: [srv(1, 9, 8001, 'a.test')] });
    dns.set('a.test', { A: a(5, '127.0.0.2') });
    b.start();
    await timers.runUntil(1);
    expect(ids(b)).toEqual(['backend.test@a.test@127.0.0.2:8001 w4']);
    dns.set('_x._udp.backend.test', { SRV: [srv(1, 2, 8001, 'a.test')] });
    await timers.runUntil(6001);
    expect(ids(b)).toEqual(['backend.test@a.test@127.0.0.2:8001 w4']);
    await b.close();
  });

  it('a changed SRV weight (line weight 1) is a new peer at the end; lower priorities are dropped without a backup tier (hash)', async () => {
    const { b, dns, timers, events } = setup('hash $remote_addr; server backend.test service=http resolve;');
    dns.set('_http._tcp.backend.test', { SRV: [srv(1, 2, 8001, 'a.test'), srv(1, 1, 8002, 'b.test', 5), srv(2, 1, 8003, 'c.test')] });
    dns.set('a.test', { A: a(5, '127.0.0.2') });
    dns.set('b.test', { A: a(5, '127.0.0.3') });
    dns.set('c.test', { A: a(5, '127.0.0.4') });
    b.start();
    await timers.runUntil(1);
    // rng 0: the rotation starts at the first record of the priority
    expect(ids(b)).toEqual(['backend.test@a.test@127.0.0.2:8001;weight=2 w2', 'backend.test@b.test@127.0.0.3:8002;weight=1 w1']);
    dns.set('_http._tcp.backend.test', { SRV: [srv(1, 1, 8001, 'a.test'), srv(1, 1, 8002, 'b.test')] });
    await timers.runUntil(6001);
    expect(ids(b)).toEqual(['backend.test@b.test@127.0.0.3:8002;weight=1 w1', 'backend.test@a.test@127.0.0.2:8001;weight=1 w1']);
    expect(events[1]).toBe('6001 resolve backend.test +[backend.test@a.test@127.0.0.2:8001;weight=1] -[backend.test@a.test@127.0.0.2:8001;weight=2]');
    await b.close();
  });

  it('starts each priority at a target drawn by addresses x weight (rng) and goes round', async () => {
    const order = async (r: number): Promise<string[]> => {
      const { b, dns, timers } = setup('server backend.test service=http resolve;', () => r);
      dns.set('_http._tcp.backend.test', { SRV: [srv(1, 1, 8001, 'a.test'), srv(1, 1, 8002, 'b.test'), srv(1, 2, 8003, 'c.test')] });
      dns.set('a.test', { A: a(5, '127.0.0.2') });
      dns.set('b.test', { A: a(5, '127.0.0.3', '127.0.0.5') });
      dns.set('c.test', { A: a(5, '127.0.0.4') });
      b.start();
      await timers.runUntil(1);
      await b.close();
      return b.servers.map((s) => s.address);
    };
    // weights x addresses: a 1, b 2, c 2 (nw = 5): [0,1) a, [1,3) b, [3,5) c
    expect(await order(0)).toEqual(['127.0.0.2:8001', '127.0.0.3:8002', '127.0.0.5:8002', '127.0.0.4:8003']);
    expect(await order(0.3)).toEqual(['127.0.0.3:8002', '127.0.0.5:8002', '127.0.0.4:8003', '127.0.0.2:8001']);
    expect(await order(0.7)).toEqual(['127.0.0.4:8003', '127.0.0.2:8001', '127.0.0.3:8002', '127.0.0.5:8002']);
  });

  it('a target that fails loses its peers (the others stay); SRV NXDOMAIN removes every peer', async () => {
    const { b, dns, timers, events } = setup('server backend.test service=http resolve;');
    dns.set('_http._tcp.backend.test', { SRV: [srv(1, 1, 8001, 'a.test'), srv(1, 1, 8002, 'b.test')] });
    dns.set('a.test', { A: a(5, '127.0.0.2') });
    dns.set('b.test', { A: a(5, '127.0.0.3') });
    b.start();
    await timers.runUntil(1);
    dns.set('b.test', { fail: 'SERVFAIL' });
    await timers.runUntil(6001);
    expect(ids(b)).toEqual(['backend.test@a.test@127.0.0.2:8001;weight=1 w1']);
    dns.zone.delete('_http._tcp.backend.test');
    await timers.runUntil(12001);
    expect(ids(b)).toEqual(['backend.test down w1']);
    expect(events.slice(1)).toEqual([
      '6001 error backend.test SERVFAIL kept',
      '6001 resolve backend.test +[] -[backend.test@b.test@127.0.0.3:8002;weight=1]',
      '12001 resolve backend.test +[] -[backend.test@a.test@127.0.0.2:8001;weight=1]',
      '12001 error backend.test NXDOMAIN removed',
    ]);
    await b.close();
  });
});
