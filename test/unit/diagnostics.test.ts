/**
 * The Balancer's events on `node:diagnostics_channel` (src/events.ts): the channel names, the
 * message of each event, the order against the emitter's listeners, publication with no listener
 * on the emitter, a throwing subscriber (in a child process), and nothing built or published once
 * the last subscriber has gone. Real diagnostics_channel subscriptions; clocks and DNS are fakes
 * (no network, no real time).
 */

import { spawnSync } from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock } from '../../src/clock';
import { DIAGNOSTICS_CHANNELS, isObserved, type BalancerDiagnostics } from '../../src/events';
import { Balancer as RootBalancer } from '../../src/index';
import { a, FakeDns, settle, timerQueue } from './resolve-fakes';

type Event = keyof typeof DIAGNOSTICS_CHANNELS;

/** Subscribes to every channel; `stop()` unsubscribes (afterEach calls it too). */
const subscriptions: (() => void)[] = [];
function subscribeAll(): { messages: [Event, Record<string, unknown>][]; stop: () => void } {
  const messages: [Event, Record<string, unknown>][] = [];
  const handlers = (Object.keys(DIAGNOSTICS_CHANNELS) as Event[]).map((event) => {
    const handler = (message: unknown, name: string | symbol) => {
      expect(name).toBe(DIAGNOSTICS_CHANNELS[event]);
      messages.push([event, message as Record<string, unknown>]);
    };
    diagnostics.subscribe(DIAGNOSTICS_CHANNELS[event], handler);
    return [event, handler] as const;
  });
  const stop = () => {
    for (const [event, handler] of handlers) diagnostics.unsubscribe(DIAGNOSTICS_CHANNELS[event], handler);
  };
  subscriptions.push(stop);
  return { messages, stop };
}

afterEach(() => {
  for (const stop of subscriptions.splice(0)) stop();
});

const servers = () => [
  { id: 'A', address: '10.0.0.1:25', maxFails: 1, failTimeout: 10_000 },
  { id: 'B', address: '10.0.0.2:25', backup: true },
];

describe('diagnostics channels', () => {
  it('are named upstream-balancer:<event>, one per event of BalancerEvents', () => {
    expect(DIAGNOSTICS_CHANNELS).toEqual({
      state: 'upstream-balancer:state',
      tier: 'upstream-balancer:tier',
      exhausted: 'upstream-balancer:exhausted',
      check: 'upstream-balancer:check',
      fault: 'upstream-balancer:fault',
      resolve: 'upstream-balancer:resolve',
      resolveError: 'upstream-balancer:resolveError',
    });
  });

  it('publish state, tier, exhausted and check with the balancer and the fields by name, with no listener on the emitter', () => {
    const clock = new ManualClock(1_000_000);
    const b = new Balancer({ name: 'smtp', servers: servers(), clock: clock.now, check: { interval: 1000, rise: 1, fall: 1, defaultDown: false } });
    const { messages } = subscribeAll();
    expect(b.listenerCount('state')).toBe(0);
    const A = b.get('A')!;
    const B = b.get('B')!;

    const first = b.attempt();
    expect(first.next()).toBe(A);
    first.fail(); // A: max_fails=1 reached
    expect(first.next()).toBe(B);
    first.connected(); // the backup serves: promotion
    first.release();
    b.update('B', { down: true }); // nothing left
    expect(b.pick()).toBeUndefined();
    b.reportCheck('A', false, 'refused', 12);

    expect(messages).toEqual([
      ['state', { balancer: b, server: A, from: 'up', to: 'unavail', cause: 'failure' }],
      ['tier', { balancer: b, from: 'primary', to: 'backup' }],
      ['state', { balancer: b, server: B, from: 'up', to: 'down', cause: 'admin' }],
      ['exhausted', { balancer: b, reason: 'no-live-upstreams', name: 'smtp' }],
      ['check', { balancer: b, server: A, ok: false, reason: 'refused', ms: 12 }],
      ['state', { balancer: b, server: A, from: 'unavail', to: 'unhealthy', cause: 'check' }],
    ]);
    // the very objects: the Balancer and its live server views
    expect(messages[0]![1].balancer).toBe(b);
    expect(messages[0]![1].server).toBe(A);
    expect(Object.keys(messages[0]![1])).toEqual(['balancer', 'server', 'from', 'to', 'cause']);
  });

  it('publish each event before the emitter calls its listeners, in commit order when a listener reacts with another change', () => {
    const clock = new ManualClock(1_000_000);
    const b = new Balancer({ name: 'u', servers: servers(), clock: clock.now });
    const order: string[] = [];
    diagnostics.subscribe(DIAGNOSTICS_CHANNELS.state, onState);
    subscriptions.push(() => diagnostics.unsubscribe(DIAGNOSTICS_CHANNELS.state, onState));
    function onState(message: unknown) {
      const m = message as BalancerDiagnostics<Balancer>['state'];
      order.push(`channel ${m.server.id} ${m.from}->${m.to}`);
    }
    b.on('state', (server, from, to) => {
      order.push(`listener ${server.id} ${from}->${to}`);
      if (server.id === 'A') b.update('B', { drain: true }); // a listener reacting with a change of its own
    });
    b.on('state', (server, from, to) => order.push(`second listener ${server.id} ${from}->${to}`));
    const s = b.pick()!;
    b.release(s, true);
    expect(order).toEqual([
      'channel A up->unavail',
      'listener A up->unavail',
      'channel B up->draining',
      'listener B up->draining',
      'second listener B up->draining',
      'second listener A up->unavail',
    ]);
  });

  it('publish a clock fault on upstream-balancer:fault instead of the process warning', async () => {
    let reading: number = 1_000_000;
    const b = new Balancer({ name: 'u', servers: [{ id: 'A', address: '10.0.0.1:25', maxFails: 3 }, { id: 'B', address: '10.0.0.2:25' }], clock: () => reading });
    const { messages } = subscribeAll();
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      reading = Number.NaN;
      const s = b.pick()!;
      b.release(s, true); // the failure reads the clock
      await settle();
      await new Promise((done) => setImmediate(done)); // a process warning would be delivered by now
    } finally {
      process.off('warning', onWarning);
    }
    expect(messages.map(([event]) => event)).toEqual(['fault']);
    const fault = messages[0]![1] as BalancerDiagnostics<Balancer>['fault'];
    expect(fault.balancer).toBe(b);
    expect(fault.error.code).toBe('ERR_UPSTREAM_CLOCK');
    expect(fault.error.message).toBe('The clock of upstream "u" returned NaN; its last good reading was used');
    expect(warnings).toEqual([]);
  });

  it('publish resolve and resolveError of a NameResolver', async () => {
    const clock = new ManualClock(0);
    const timers = timerQueue(clock);
    const dns = new FakeDns(clock);
    const b = RootBalancer.fromNginx('http { upstream u { zone u 64k; resolver 127.0.0.1; server backend.test:8080 resolve; } }', 'u', { dns, clock: clock.now, timers, rng: () => 0 });
    const { messages } = subscribeAll();
    dns.set('backend.test', { A: a(5, '127.0.0.2') });
    b.start();
    await timers.runUntil(1);
    dns.set('backend.test', { fail: 'SERVFAIL' });
    await timers.runUntil(6001);
    await b.close();
    expect(messages.map(([event, m]) => (event === 'resolveError' ? [event, { ...m, error: (m.error as { failure: string }).failure }] : [event, m]))).toEqual([
      ['resolve', { balancer: b, line: 'backend.test:8080', added: ['backend.test:8080@127.0.0.2:8080'], removed: [] }],
      ['resolveError', { balancer: b, line: 'backend.test:8080', error: 'SERVFAIL', kept: true }],
    ]);
  });

  it('a throwing subscriber: the other subscribers and the listeners still run, the state is committed, the error is an uncaught exception', () => {
    // in a child process: diagnostics_channel rethrows on process.nextTick, which would fail this test run
    const script = `
      import diagnostics from 'node:diagnostics_channel';
      import { Balancer } from ${JSON.stringify(join(import.meta.dirname, '..', '..', 'src', 'balancer.ts'))};
      const seen = [];
      process.on('uncaughtException', (error) => seen.push('uncaught ' + error.message));
      diagnostics.subscribe('upstream-balancer:state', () => { throw new Error('subscriber broke'); });
      diagnostics.subscribe('upstream-balancer:state', (m) => seen.push('subscriber ' + m.server.id + ' ' + m.to));
      const b = new Balancer({ servers: [{ id: 'A', address: '10.0.0.1:25' }, { id: 'B', address: '10.0.0.2:25' }], clock: () => 0 });
      b.on('state', (server, from, to) => seen.push('listener ' + server.id + ' ' + to));
      const s = b.pick();
      b.release(s, true);
      seen.push('state ' + b.get('A').state + ', next pick ' + b.pick().id);
      setImmediate(() => console.log(JSON.stringify(seen)));
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual(['subscriber A unavail', 'listener A unavail', 'state unavail, next pick B', 'uncaught subscriber broke']);
  });

  it('isObserved: an unheard event builds nothing; a subscriber or a listener makes it heard, and unsubscribing ends it', () => {
    const b = new Balancer({ name: 'u', servers: servers(), clock: new ManualClock(0).now });
    const published: unknown[] = [];
    const onTier = (m: unknown) => published.push(m);
    expect(isObserved(b, 'tier')).toBe(false);
    expect(diagnostics.hasSubscribers(DIAGNOSTICS_CHANNELS.tier)).toBe(false);
    diagnostics.subscribe(DIAGNOSTICS_CHANNELS.tier, onTier);
    expect(isObserved(b, 'tier')).toBe(true);
    expect(isObserved(b, 'state')).toBe(false);
    diagnostics.unsubscribe(DIAGNOSTICS_CHANNELS.tier, onTier);
    expect(isObserved(b, 'tier')).toBe(false);
    const listener = () => {};
    b.on('tier', listener);
    expect(isObserved(b, 'tier')).toBe(true);
    b.off('tier', listener);
    expect(isObserved(b, 'tier')).toBe(false);
    // after the unsubscription a promotion publishes nothing
    b.update('A', { down: true });
    const s = b.pick()!;
    expect(s.id).toBe('B');
    b.release(s);
    expect(published).toEqual([]);
  });
});
