/**
 * Balancer events (src/events.ts; STYLE.md 11): `state` (server, from, to, cause), `tier` (from, to),
 * `exhausted` (reason, name), `check` (server, ok, reason, ms). They fire on transitions only, never
 * per pick, and after the state they describe is committed: a listener reads the new state, and a
 * listener that throws cannot leave the balancer half-updated (its error is rethrown on a
 * microtask). Semantics of the transitions: docs/nginx-semantics.md §2.4 (window, probe), §3 (backup
 * tier, hand-back), §3.2 (no live upstreams), §4.1 (tries), §7.3 (rise/fall).
 */

import { afterEach, describe, expect, it, vi } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock } from '../../src/clock';
import type { BalancerOptions, ServerOptions } from '../../src/options';

const srv = (id: string, extra: Partial<ServerOptions> = {}): ServerOptions => ({ id, address: `10.0.0.${id.charCodeAt(0)}:25`, ...extra });

/** Picks (releasing other servers as successes) until `id` is chosen, then frees it as failed. */
function failOn(b: Balancer, id: string): void {
  for (let k = 0; k < 100; k++) {
    const s = b.pick()!;
    if (s.id === id) {
      b.release(s, true);
      return;
    }
    b.release(s);
  }
  throw new Error(`${id} was never picked`);
}

function record(options: Omit<BalancerOptions, 'clock'>) {
  const clock = new ManualClock(1_000_000);
  const b = new Balancer({ ...options, clock: clock.now });
  const events: string[] = [];
  b.on('state', (s, from, to, cause) => events.push(`state ${s.id} ${from}->${to} ${cause}`));
  b.on('tier', (from, to) => events.push(`tier ${from}->${to}`));
  b.on('exhausted', (reason, name) => events.push(`exhausted ${reason} ${name}`));
  b.on('check', (s, ok, reason) => events.push(`check ${s.id} ${ok}${reason ? ` ${reason}` : ''}`));
  const take = () => events.splice(0, events.length);
  return { clock, b, take };
}

describe('state', () => {
  it("up -> unavail with cause 'failure' when fails reach maxFails; unavail -> up with 'recovery' after the probe", () => {
    const { clock, b, take } = record({ servers: [srv('A', { maxFails: 2, failTimeout: 5000 }), srv('B'), srv('K', { backup: true })] });
    failOn(b, 'A'); // 1 of 2
    expect(take()).toEqual([]);
    failOn(b, 'A'); // 2 of 2
    expect(take()).toEqual(['state A up->unavail failure']);
    // failures while already unavail emit nothing (nginx logs every one; the state does not change)
    clock.advance(6000);
    failOn(b, 'A');
    expect(b.get('A')!.fails).toBe(3);
    expect(take()).toEqual([]);
    clock.advance(6000);
    let probe = b.pick()!;
    while (probe.id !== 'A') {
      b.release(probe);
      probe = b.pick()!;
    }
    expect(take()).toEqual([]); // a selection is not a transition
    b.release(probe);
    expect(take()).toEqual(['state A unavail->up recovery']);
  });

  it("stream connect recovers at connected(), with cause 'recovery'", () => {
    const { clock, b, take } = record({ servers: [srv('A', { failTimeout: 1000 }), srv('B', { backup: true })] });
    b.release(b.pick()!, true);
    take();
    clock.advance(2000);
    const a = b.attempt();
    a.next();
    expect(take()).toEqual([]);
    a.connected();
    expect(take()).toEqual(['state A unavail->up recovery']);
    a.release();
    expect(take()).toEqual([]);
  });

  it("admin changes: 'admin' from update() and setServers(), none from add()/remove()", () => {
    const { b, take } = record({ servers: [srv('A', { maxFails: 0 }), srv('B', { maxFails: 1 })] });
    b.update('A', { down: true });
    b.update('A', { down: false, drain: true });
    b.update('A', { drain: false });
    b.update('A', { weight: 3 }); // no state change, no event
    expect(take()).toEqual(['state A up->down admin', 'state A down->draining admin', 'state A draining->up admin']);
    failOn(b, 'A'); // max_fails 0: counted, never unavail
    failOn(b, 'B');
    expect(take()).toEqual(['state B up->unavail failure']);
    b.update('B', { maxFails: 0 }); // max_fails 0: never unavail
    expect(take()).toEqual(['state B unavail->up admin']);
    b.setServers([srv('A', { weight: 3, maxFails: 0, down: true }), srv('B', { maxFails: 0 })]);
    expect(take()).toEqual(['state A up->down admin']);
    b.add(srv('C', { down: true }));
    b.remove('C');
    expect(take()).toEqual([]);
  });

  it("check verdicts: 'check' events per result, 'state' with cause 'check' on rise/fall", () => {
    const { b, take } = record({ servers: [srv('A'), srv('B')], check: { rise: 2, fall: 2 } });
    expect(b.servers.map((s) => s.state)).toEqual(['checking', 'checking']);
    b.reportCheck('A', true, 'ok');
    expect(take()).toEqual(['check A true ok']);
    b.reportCheck('A', true);
    expect(take()).toEqual(['check A true', 'state A checking->up check']);
    b.reportCheck('B', false, 'refused');
    expect(take()).toEqual(['check B false refused', 'state B checking->unhealthy check']);
    b.reportCheck('A', false);
    b.reportCheck('A', false);
    expect(take()).toEqual(['check A false', 'check A false', 'state A up->unhealthy check']);
  });

  it('listeners see committed state', () => {
    const { b } = record({ servers: [srv('A', { maxFails: 1 }), srv('B')] });
    const seen: unknown[] = [];
    b.on('state', (s, _from, to) => {
      seen.push({ state: s.state, to, fails: s.fails, conns: s.conns, snap: b.snapshot().servers[0]!.state, tier: b.snapshot().tier });
    });
    const a = b.attempt();
    a.next();
    a.fail();
    expect(seen).toEqual([{ state: 'unavail', to: 'unavail', fails: 1, conns: 0, snap: 'unavail', tier: 'primary' }]);
    const tierSeen: unknown[] = [];
    b.on('tier', () => tierSeen.push(b.snapshot().tier));
    const s = a.next()!;
    expect(s.id).toBe('B');
    expect(tierSeen).toEqual([]);
  });
});

describe('tier', () => {
  it('primary -> backup when the backup first serves, backup -> primary at hand-back, once each', () => {
    const { clock, b, take } = record({ servers: [srv('D', { failTimeout: 3000 }), srv('K', { backup: true }), srv('L', { backup: true })] });
    const a = b.attempt();
    expect(a.next()!.id).toBe('D');
    a.fail();
    expect(take()).toEqual(['state D up->unavail failure']);
    expect(a.next()!.id).toBe('K');
    expect(take()).toEqual([]); // selected, not yet serving
    a.connected();
    expect(take()).toEqual(['tier primary->backup']);
    a.release();
    expect(take()).toEqual([]);
    expect(b.snapshot().tier).toBe('backup');
    for (const id of ['L', 'K', 'L']) {
      const s = b.pick()!;
      expect(s.id).toBe(id);
      b.release(s);
    }
    expect(take()).toEqual([]);
    clock.advance(4000);
    const probe = b.pick()!;
    expect(probe.id).toBe('D');
    expect(take()).toEqual([]);
    b.release(probe);
    expect(take()).toEqual(['state D unavail->up recovery', 'tier backup->primary']);
    expect(b.snapshot().tier).toBe('primary');
  });

  it('a failed probe of the primary while the backup serves emits no tier event', () => {
    const { clock, b, take } = record({ servers: [srv('D', { failTimeout: 3000 }), srv('K', { backup: true })] });
    const first = b.attempt();
    first.next();
    first.fail();
    first.next();
    first.connected();
    first.release();
    expect(take()).toEqual(['state D up->unavail failure', 'tier primary->backup']);
    clock.advance(4000);
    const a = b.attempt();
    expect(a.next()!.id).toBe('D'); // the probe
    a.fail();
    expect(a.next()!.id).toBe('K');
    a.connected();
    a.release();
    expect(take()).toEqual([]);
  });

  it('a listener sees the new tier in snapshot()', () => {
    const { b } = record({ servers: [srv('D', { down: true }), srv('K', { backup: true })] });
    const seen: string[] = [];
    b.on('tier', (_from, to) => seen.push(`${to}:${b.snapshot().tier}`));
    b.release(b.pick()!);
    expect(seen).toEqual(['backup:backup']);
  });
});

describe('exhausted', () => {
  it("'no-live-upstreams' once per transition, again after a successful selection in between", () => {
    const { clock, b, take } = record({ name: 'mx', servers: [srv('A', { failTimeout: 10_000 }), srv('B', { failTimeout: 10_000 })] });
    b.release(b.pick()!, true);
    b.release(b.pick()!, true);
    take();
    expect(b.pick()).toBeUndefined();
    expect(b.pick()).toBeUndefined();
    const a = b.attempt();
    expect(a.next()).toBeUndefined();
    expect(take()).toEqual(['exhausted no-live-upstreams mx']);
    clock.advance(11_000);
    // both windows elapsed: one probe each, both fail, nothing is left again
    const probe = b.pick()!;
    b.release(probe, true);
    const probe2 = b.pick()!;
    b.release(probe2, true);
    expect([probe.id, probe2.id].sort()).toEqual(['A', 'B']);
    expect(take()).toEqual([]);
    expect(b.pick()).toBeUndefined();
    expect(b.pick()).toBeUndefined();
    expect(take()).toEqual(['exhausted no-live-upstreams mx']);
  });

  it("'tries' when an attempt used its budget", () => {
    const { b, take } = record({ name: 'mx', servers: [srv('A', { maxFails: 0 }), srv('B', { maxFails: 0 }), srv('C', { maxFails: 0 })], tries: 2 });
    const a = b.attempt();
    a.next();
    a.fail();
    a.next();
    a.fail();
    expect(a.next()).toBeUndefined();
    expect(take()).toEqual(['exhausted tries mx']);
    // a new request is served again, and the next exhaustion is reported again
    const a2 = b.attempt();
    expect(a2.next()!.id).toBe('C');
    a2.fail();
    a2.next();
    a2.fail();
    expect(a2.next()).toBeUndefined();
    expect(take()).toEqual(['exhausted tries mx']);
  });

  it('single mode: a failure ends the attempt with reason tries', () => {
    const { b, take } = record({ name: 'one', servers: [srv('A')] });
    const a = b.attempt();
    a.next();
    a.fail();
    expect(a.next()).toBeUndefined();
    expect(take()).toEqual(['exhausted tries one']);
  });

  it('every server down: no-live-upstreams from the first get', () => {
    const { b, take } = record({ name: 'u', servers: [srv('A', { down: true }), srv('K', { backup: true, down: true })] });
    expect(b.attempt().next()).toBeUndefined();
    expect(take()).toEqual(['exhausted no-live-upstreams u']);
  });
});

describe('a listener that throws', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  function capture() {
    const queued: (() => void)[] = [];
    vi.stubGlobal('queueMicrotask', (f: () => void) => queued.push(f));
    return queued;
  }

  it('release(): the connection is freed and the tier committed; the error is rethrown on a microtask', () => {
    const queued = capture();
    const { b } = record({ servers: [srv('D', { down: true }), srv('K', { backup: true })] });
    b.on('tier', () => {
      throw new Error('listener broke');
    });
    const s = b.pick();
    expect(s?.id).toBe('K');
    expect(s!.conns).toBe(1);
    b.release(s!);
    expect(s!.conns).toBe(0);
    expect(b.snapshot().tier).toBe('backup');
    expect(queued.length).toBe(1);
    expect(() => queued[0]!()).toThrow('listener broke');
  });

  it('fail() / release(): tries and the finished phase are committed', () => {
    const queued = capture();
    const { b } = record({ servers: [srv('A'), srv('B')] });
    b.on('state', () => {
      throw new Error('listener broke');
    });
    const a = b.attempt();
    a.next();
    a.fail();
    expect([a.tries, a.current, b.get('A')!.state, b.get('A')!.conns]).toEqual([1, undefined, 'unavail', 0]);
    expect(a.next()!.id).toBe('B');
    a.release();
    expect(a.finished).toBe(true);
    expect(queued.length).toBe(1);
    expect(() => queued[0]!()).toThrow('listener broke');
  });

  it('the listeners after it still run, in order, with their context; `once` listeners run once', () => {
    const queued = capture();
    const { b } = record({ servers: [srv('A'), srv('B')] });
    const calls: string[] = [];
    const context = { name: 'ctx' };
    const before = b.listenerCount('state');
    b.on('state', () => {
      calls.push('first');
      throw new Error('first broke');
    });
    b.on('state', function (this: { name: string }, s) {
      calls.push(`second ${this.name} ${s.id}`);
    }, context);
    b.once('state', () => {
      calls.push('once');
      throw new Error('once broke');
    });
    b.on('state', (s, from, to) => calls.push(`last ${s.id} ${from}->${to}`));
    b.release(b.pick()!, true);
    expect(calls).toEqual(['first', 'second ctx A', 'once', 'last A up->unavail']);
    expect(queued.length).toBe(2);
    expect(() => queued[0]!()).toThrow('first broke');
    expect(() => queued[1]!()).toThrow('once broke');
    b.release(b.pick()!, true);
    expect(calls.slice(4)).toEqual(['first', 'second ctx B', 'last B up->unavail']);
    expect(b.listenerCount('state')).toBe(before + 3); // the once listener is gone
  });

  it('reportCheck(): the verdict is applied', () => {
    const queued = capture();
    const { b } = record({ servers: [srv('A'), srv('B')], check: { rise: 1, fall: 1, defaultDown: false } });
    b.on('check', () => {
      throw new Error('check listener');
    });
    b.reportCheck('A', false);
    expect(b.get('A')!.state).toBe('unhealthy');
    expect(queued.length).toBe(1);
  });
});
