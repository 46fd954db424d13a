import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/index';
import { ManualClock } from '../../src/clock';

/** A hand-driven timer queue on a ManualClock (no fake timers, no real waiting). */
function timerQueue(clock: ManualClock) {
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    setTimeout(fn: () => void, ms: number) {
      const id = ++seq;
      timers.set(id, { at: clock.now() + ms, fn });
      return id;
    },
    clearTimeout(handle: unknown) {
      timers.delete(handle as number);
    },
    /** Runs every timer due up to `until`, in time order, letting probe promises settle. */
    async runUntil(until: number) {
      for (;;) {
        let next: [number, { at: number; fn: () => void }] | undefined;
        for (const e of timers) if (e[1].at <= until && (next === undefined || e[1].at < next[1].at)) next = e;
        if (next === undefined) break;
        timers.delete(next[0]);
        clock.set(Math.max(clock.now(), next[1].at));
        next[1].fn();
        for (let k = 0; k < 5; k++) await Promise.resolve();
      }
      clock.set(Math.max(clock.now(), until));
    },
    get size() {
      return timers.size;
    },
  };
}

describe('Balancer with the active-check scheduler', () => {
  it('takes a server out after `fall` failures and back after `rise` successes, on the injected clock', async () => {
    const clock = new ManualClock(0);
    const q = timerQueue(clock);
    const healthy = new Map([['A', true], ['B', true]]);
    const b = new Balancer({
      servers: [{ id: 'A', address: '10.0.0.1:25' }, { id: 'B', address: '10.0.0.2:25' }],
      check: { interval: 1000, rise: 2, fall: 3, timeout: 500, type: (s) => healthy.get(s.id)! },
      clock: clock.now,
      rng: () => 0, // first checks at delay 0
      timers: q,
    });
    const events: string[] = [];
    b.on('state', (s, from, to, cause) => events.push(`${clock.now()} ${s.id} ${from}->${to} ${cause}`));
    expect(b.get('A')!.state).toBe('checking');
    expect(b.pick()).toBeUndefined(); // default down: nothing until rise successes
    b.start();
    await q.runUntil(0);
    expect(b.get('A')!.state).toBe('checking');
    await q.runUntil(1000);
    expect(events).toEqual(['1000 A checking->up check', '1000 B checking->up check']);
    healthy.set('A', false);
    await q.runUntil(4000);
    expect(events.slice(2)).toEqual(['4000 A up->unhealthy check']);
    expect([b.pick()!.id, b.pick()!.id]).toEqual(['B', 'B']);
    healthy.set('A', true);
    await q.runUntil(6000);
    expect(events.slice(3)).toEqual(['6000 A unhealthy->up check']);
    await b.close();
    expect(q.size).toBe(0);
  });

  it('start() without check options is a typed error', () => {
    const b = new Balancer({ servers: [{ address: '10.0.0.1:25' }] });
    expect(() => b.start()).toThrowError(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION' }));
  });
});

describe('check state and admin changes', () => {
  it('a server back from `down` must prove its health again (rise) before it gets traffic', () => {
    const b = new Balancer({
      servers: [{ id: 'A', address: '10.0.0.1:25' }, { id: 'B', address: '10.0.0.2:25' }],
      check: { rise: 2, fall: 2 },
    });
    for (const id of ['A', 'B']) {
      b.reportCheck(id, true);
      b.reportCheck(id, true);
    }
    expect(b.servers.map((s) => s.state)).toEqual(['up', 'up']);
    b.update('A', { down: true });
    expect(b.get('A')!.state).toBe('down');
    b.update('A', { down: false });
    expect(b.get('A')!.state).toBe('checking');
    expect([b.pick()!.id, b.pick()!.id]).toEqual(['B', 'B']);
    b.reportCheck('A', true);
    expect(b.get('A')!.state).toBe('checking');
    b.reportCheck('A', true);
    expect(b.get('A')!.state).toBe('up');
  });

  it('Balancer.fromNginx builds the vendor failover pair with nginx semantics', () => {
    const b = Balancer.fromNginx(
      `stream { upstream smtp {
        server 10.0.0.1:10025 max_fails=3 fail_timeout=3s;
        server 10.0.0.2:10025 backup;
      } }`,
      'smtp',
    );
    expect(b.name).toBe('smtp');
    expect(b.servers.map((s) => [s.address, s.maxFails, s.failTimeout, s.backup])).toEqual([
      ['10.0.0.1:10025', 3, 3000, false],
      ['10.0.0.2:10025', 1, 10000, true],
    ]);
  });

  it('Balancer.fromNginx reports nginx -t errors with file and line', () => {
    expect(() => Balancer.fromNginx('stream {\n upstream u {\n server 127.0.0.1:25 weight=0;\n }\n}', 'u', { filename: '/etc/nginx/x.conf' })).toThrowError(
      expect.objectContaining({ code: 'ERR_UPSTREAM_CONFIG', message: 'invalid parameter "weight=0" in /etc/nginx/x.conf:3', line: 3 }),
    );
  });
});

describe('the timers option', () => {
  it('a timer object whose methods use `this` (a class instance) works: they are called as methods', async () => {
    class Timers {
      readonly due: (() => void)[] = [];
      cleared = 0;
      setTimeout(fn: () => void): number {
        this.due.push(fn);
        return this.due.length;
      }
      clearTimeout(): void {
        this.cleared++;
      }
    }
    const timers = new Timers();
    const b = new Balancer({
      servers: [{ id: 'A', address: '10.0.0.1:25' }],
      check: { interval: 1000, rise: 1, fall: 1, type: () => true },
      clock: () => 0,
      rng: () => 0,
      timers,
    });
    b.start();
    expect(timers.due).toHaveLength(1);
    timers.due[0]!();
    for (let k = 0; k < 5; k++) await Promise.resolve();
    expect(b.get('A')!.state).toBe('up');
    await b.close();
    expect(timers.cleared).toBeGreaterThanOrEqual(1);
  });
});
