/**
 * Lifecycle of Balancer, Checker and NameResolver (src/lifecycle.ts): `await using`
 * (`Symbol.asyncDispose`), `start({ signal })` (aborting closes), `close({ signal })` (aborting
 * stops only the wait for probes in flight), idempotence and the abort listeners left behind.
 * Timers are a hand-driven queue on a ManualClock and probes are functions the test settles: no
 * real time, no network.
 */

import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock } from '../../src/clock';
import { Checker } from '../../src/health/checker';
import { Balancer as RootBalancer } from '../../src/index';
import { asyncDispose } from '../../src/lifecycle';
import { NameResolver } from '../../src/resolve/resolver';
import { resolveCheck, type CheckTarget } from '../../src/options';
import { FakeDns, a, timerQueue } from './resolve-fakes';

/** A probe per server that the test settles by hand; `signals` are the AbortSignals it was given. */
function handProbe() {
  const pending: { id: string; signal: AbortSignal; settle: (ok: boolean) => void }[] = [];
  const probe = (server: CheckTarget, signal: AbortSignal) =>
    new Promise<boolean>((settle) => {
      pending.push({ id: server.id, signal, settle }); // ignores its signal, as a slow probe may
    });
  return { pending, probe };
}

function checkedBalancer() {
  const clock = new ManualClock(0);
  const timers = timerQueue(clock);
  const { pending, probe } = handProbe();
  const b = new Balancer({
    name: 'u',
    servers: [{ id: 'A', address: '10.0.0.1:25' }, { id: 'B', address: '10.0.0.2:25' }],
    check: { interval: 1000, rise: 1, fall: 1, timeout: 500, type: probe, defaultDown: false },
    clock: clock.now,
    rng: () => 0,
    timers,
  });
  const checks: string[] = [];
  b.on('check', (s, ok) => checks.push(`${clock.now()} ${s.id} ${ok}`));
  return { b, clock, timers, pending, checks };
}

/** A service (`balancer.attach`) whose close takes until the test calls `finish()`. */
function slowService() {
  const log: string[] = [];
  let finish = () => {};
  const closing = new Promise<void>((done) => (finish = done));
  return {
    log,
    finish: () => finish(),
    start: () => void log.push('start'),
    close: () => {
      log.push('close');
      return closing;
    },
  };
}

const abortListeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length;

describe('Symbol.asyncDispose', () => {
  it("is Node's own symbol on this Node (Symbol.for('nodejs.asyncDispose') on 20.x) and the key of close on Balancer, Checker and NameResolver", () => {
    expect(typeof Symbol.asyncDispose).toBe('symbol');
    expect(asyncDispose).toBe(Symbol.asyncDispose);
    if (process.versions.node.startsWith('20.')) expect(Symbol.asyncDispose).toBe(Symbol.for('nodejs.asyncDispose'));
    expect(typeof Balancer.prototype[Symbol.asyncDispose]).toBe('function');
    expect(typeof Checker.prototype[Symbol.asyncDispose]).toBe('function');
    expect(typeof NameResolver.prototype[Symbol.asyncDispose]).toBe('function');
    expect(typeof RootBalancer.prototype[Symbol.asyncDispose]).toBe('function');
  });

  it('await using closes the balancer at the end of the block: timers cleared, probes in flight aborted, start() refused', async () => {
    const { b: outer, timers, pending } = checkedBalancer();
    let probed: AbortSignal[] = [];
    {
      await using b = outer;
      b.start();
      await timers.runUntil(0); // the first checks start at delay 0 and hang
      probed = pending.map((p) => p.signal);
      expect(probed.map((s) => s.aborted)).toEqual([false, false]);
      expect(timers.size).toBe(1); // the checker's one timeout timer (both checks in its queue)
    } // the block ends: close() is awaited
    expect(probed.map((s) => s.aborted)).toEqual([true, true]);
    expect((probed[0]!.reason as DOMException).message).toBe('checker closed');
    expect(timers.size).toBe(0);
    expect(() => outer.start()).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_CLOSED' }));
  });
});

describe('start({ signal })', () => {
  it('aborting closes the balancer as close() does: checks aborted, services closed, and a later close() waits for the same close', async () => {
    const { b, timers, pending, checks } = checkedBalancer();
    const service = slowService();
    b.attach(service);
    const controller = new AbortController();
    b.start({ signal: controller.signal });
    expect(service.log).toEqual(['start']);
    expect(abortListeners(controller.signal)).toBe(1);
    await timers.runUntil(0);
    expect(pending.length).toBe(2);
    controller.abort();
    expect(service.log).toEqual(['start', 'close']);
    expect(pending.map((p) => p.signal.aborted)).toEqual([true, true]);
    expect(timers.size).toBe(0);
    expect(abortListeners(controller.signal)).toBe(0);
    let closed = false;
    const close = b.close().then(() => (closed = true));
    await timers.runUntil(5000);
    expect(closed).toBe(false); // the service has not finished closing
    service.finish();
    await close;
    expect(service.log).toEqual(['start', 'close']); // closed once
    expect(checks).toEqual([]); // nothing is reported after the close
    expect(() => b.start()).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_CLOSED' }));
  });

  it('an already aborted signal closes at once and starts nothing', async () => {
    const { b, timers, pending } = checkedBalancer();
    b.start({ signal: AbortSignal.abort() });
    await timers.runUntil(10_000);
    expect(pending).toEqual([]);
    expect(timers.size).toBe(0);
    await b.close();
    expect(() => b.start()).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_CLOSED' }));
  });

  it('a close for another reason forgets the signal: a later abort does nothing, and the signal holds no listener', async () => {
    const { b } = checkedBalancer();
    const first = new AbortController();
    const second = new AbortController();
    b.start({ signal: first.signal });
    b.start({ signal: second.signal }); // idempotent start; both signals close it
    expect([abortListeners(first.signal), abortListeners(second.signal)]).toEqual([1, 1]);
    await b.close();
    expect([abortListeners(first.signal), abortListeners(second.signal)]).toEqual([0, 0]);
    first.abort();
    await b.close();
  });

  it('refuses a signal that is not an AbortSignal, with the option path and the value, before starting anything', async () => {
    const { b, timers } = checkedBalancer();
    expect(() => b.start({ signal: 'soon' as unknown as AbortSignal })).toThrow(
      expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION', option: 'start.signal', value: 'soon', message: 'Expected `signal` of `start` to be an AbortSignal, got "soon"' }),
    );
    expect(() => b.start(42 as never)).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION', option: 'start', value: 42 }));
    expect(timers.size).toBe(0);
    b.start();
    await timers.runUntil(0);
    expect(timers.size).toBe(1); // one timeout timer for both checks in flight
  });
});

describe('close({ signal })', () => {
  it('aborting stops the wait (rejects with signal.reason); the close itself is done at once and close() still waits for the rest', async () => {
    const { b, timers, pending, checks } = checkedBalancer();
    const service = slowService();
    b.attach(service);
    b.start();
    await timers.runUntil(0);
    const controller = new AbortController();
    const waiting = b.close({ signal: controller.signal });
    expect(pending.map((p) => p.signal.aborted)).toEqual([true, true]); // aborted at once, not at the abort
    expect(service.log).toEqual(['start', 'close']);
    expect(timers.size).toBe(0);
    const reason = new Error('shutdown deadline');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(abortListeners(controller.signal)).toBe(0);
    let closed = false;
    const rest = b.close().then(() => (closed = true));
    for (let k = 0; k < 10; k++) await Promise.resolve();
    expect(closed).toBe(false);
    service.finish();
    await rest;
    expect(closed).toBe(true);
    expect(service.log).toEqual(['start', 'close']);
    expect(checks).toEqual([]);
  });

  it('an already aborted signal rejects at once and still closes; with nothing in flight an unaborted one resolves and leaves no listener', async () => {
    const { b, timers, pending } = checkedBalancer();
    b.start();
    await timers.runUntil(0);
    const gone = AbortSignal.abort();
    await expect(b.close({ signal: gone })).rejects.toBe(gone.reason);
    expect((gone.reason as DOMException).name).toBe('AbortError');
    expect(pending.map((p) => p.signal.aborted)).toEqual([true, true]);
    for (const p of pending) p.settle(true);
    const controller = new AbortController();
    await b.close({ signal: controller.signal });
    expect(abortListeners(controller.signal)).toBe(0);
  });

  it('rejects invalid options without closing', async () => {
    const { b, timers } = checkedBalancer();
    b.start();
    await expect(b.close({ signal: {} as AbortSignal })).rejects.toMatchObject({ code: 'ERR_UPSTREAM_INVALID_OPTION', option: 'close.signal' });
    await expect(b.close(null as never)).rejects.toMatchObject({ code: 'ERR_UPSTREAM_INVALID_OPTION', option: 'close', value: null });
    expect(timers.size).toBe(1); // the first checks are still scheduled (one timer: the earliest due)
    await b.close();
    expect(timers.size).toBe(0);
  });

  it('every close() without a signal returns the same promise', () => {
    const { b } = checkedBalancer();
    expect(b.close()).toBe(b.close());
  });
});

describe('Checker and NameResolver on their own', () => {
  it('Checker: start({ signal }) closes on abort, close({ signal }) stops waiting, await using closes', async () => {
    const clock = new ManualClock(0);
    const timers = timerQueue(clock);
    const { pending, probe } = handProbe();
    const reports: string[] = [];
    const host = {
      targets: () => [{ id: 'A', address: '10.0.0.1:25' }],
      report: (id: string, ok: boolean) => reports.push(`${id} ${ok}`),
      phase: () => 'up' as const,
    };
    const env = { clock: clock.now, rng: () => 0, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout };
    const check = resolveCheck({ interval: 1000, timeout: 500, type: probe });

    const controller = new AbortController();
    const aborted = new Checker(check, host, env);
    aborted.start({ signal: controller.signal });
    await timers.runUntil(0);
    expect(aborted.running).toBe(true);
    controller.abort();
    expect(aborted.running).toBe(false);
    expect(pending[0]!.signal.aborted).toBe(true);
    const deadline = new AbortController();
    const waiting = aborted.close({ signal: deadline.signal });
    deadline.abort();
    await expect(waiting).rejects.toBe(deadline.signal.reason);
    await aborted.close();
    expect(reports).toEqual([]);

    let disposed: Checker;
    {
      await using checker = new Checker(check, host, env);
      disposed = checker;
      checker.start();
      expect(checker.running).toBe(true);
    }
    expect(disposed.running).toBe(false);
    expect(() => disposed.start()).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_CLOSED' }));
  });

  it('NameResolver: start({ signal }) through the balancer and on its own closes on abort; no query after it', async () => {
    const clock = new ManualClock(0);
    const timers = timerQueue(clock);
    const dns = new FakeDns(clock);
    dns.set('backend.test', { A: a(5, '127.0.0.2') });
    const b = RootBalancer.fromNginx('http { upstream u { zone u 64k; resolver 127.0.0.1; server backend.test:8080 resolve; } }', 'u', { dns, clock: clock.now, timers, rng: () => 0 });
    const controller = new AbortController();
    b.start({ signal: controller.signal });
    await timers.runUntil(1);
    expect(dns.log).toEqual(['1 A backend.test', '1 AAAA backend.test']);
    controller.abort();
    expect(timers.size).toBe(0);
    await timers.runUntil(60_000);
    expect(dns.log.length).toBe(2);
    expect(() => b.start()).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_CLOSED' }));
    await b.close();

    // on its own, beside a plain balancer: the same, and await using closes it
    const own = new Balancer({ servers: [{ id: 'backend.test:8080', address: 'backend.test:8080', down: true }], clock: clock.now });
    const line = { id: 'backend.test:8080', host: 'backend.test', port: 8080, server: { id: 'backend.test:8080', address: 'backend.test:8080' } };
    const env = { client: dns, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout, rng: () => 0 };
    const alone = new NameResolver(own, { lines: [line], servers: [] }, env);
    const signal = new AbortController();
    alone.start({ signal: signal.signal });
    await timers.runUntil(clock.now() + 1);
    expect(dns.log.length).toBe(4);
    expect(own.servers.map((s) => s.id)).toEqual(['backend.test:8080@127.0.0.2:8080']);
    signal.abort();
    expect(abortListeners(signal.signal)).toBe(0);
    await timers.runUntil(clock.now() + 60_000);
    expect(dns.log.length).toBe(4);
    expect(() => alone.start()).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_CLOSED' }));
    let disposed: NameResolver;
    {
      await using scoped = new NameResolver(own, { lines: [line], servers: [] }, env);
      disposed = scoped;
      scoped.start();
    }
    await timers.runUntil(clock.now() + 60_000);
    expect(dns.log.length).toBe(4); // closed before its first query
    expect(() => disposed.start()).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_CLOSED' }));
  });
});
