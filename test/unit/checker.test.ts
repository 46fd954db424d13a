/**
 * Checker (src/health/checker.ts): the scheduling timeline, driven by a hand-made timer queue, an
 * injected clock and rng, and probe results injected through a custom check function. No real
 * timers, no sockets.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Checker, checkPhase, checkTarget, type CheckHost, type CheckPhase } from '../../src/health/checker';
import { initialRiseFall, observeCheck, type RiseFallState } from '../../src/health/rise-fall';
import { resolveCheck, type CheckOptions, type CheckTarget } from '../../src/options';
import { isUpstreamError } from '../../src/errors';
import { ManualTimers, flush } from '../fixtures/manual-timers';


/** One call of the injected probe. */
interface Call {
  id: string;
  at: number;
  target: CheckTarget;
  signal: AbortSignal;
  resolve(ok: boolean): void;
  reject(error: Error): void;
}

/** A balancer stand-in: applies rise/fall with the real counter and records every report. */
function setup(check: CheckOptions, ids: string[] = ['A'], rng: number[] | (() => number) = [0]) {
  const timers = new ManualTimers();
  const calls: Call[] = [];
  const options = resolveCheck({
    ...check,
    type: (target, signal) =>
      new Promise<boolean>((resolve, reject) => {
        calls.push({ id: target.id, at: timers.now, target, signal, resolve, reject });
      }),
  });
  let targets = ids.map((id, i) => ({ id, address: `127.0.0.1:${2500 + i}` }));
  const states = new Map<string, RiseFallState>();
  const reports: string[] = [];
  const host: CheckHost = {
    targets: () => targets,
    report(id, ok, reason, ms) {
      let s = states.get(id);
      if (!s) states.set(id, (s = initialRiseFall(options.defaultDown)));
      observeCheck(s, ok, s.pending ? options.initialRise : options.rise, options.fall);
      reports.push(`${timers.now} ${id} ${ok ? 'ok' : 'fail'} ${reason} ${ms}`);
    },
    phase(id): CheckPhase {
      return checkPhase(states.get(id) ?? initialRiseFall(options.defaultDown));
    },
  };
  const seq = typeof rng === 'function' ? rng : (() => {
    let i = 0;
    return () => rng[i++ % rng.length]!;
  })();
  const checker = new Checker(options, host, { clock: timers.clock, rng: seq, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout });
  const setTargets = (list: string[]): void => {
    targets = list.map((id) => ({ id, address: targets.find((t) => t.id === id)?.address ?? `127.0.0.1:${3000 + list.indexOf(id)}` }));
  };
  const moveTo = (id: string, address: string): void => {
    targets = targets.map((t) => (t.id === id ? { id, address } : t));
  };
  /** Resolves the oldest pending call of `id`. */
  const answer = async (id: string, ok: boolean): Promise<void> => {
    const call = pending(id);
    call.resolve(ok);
    settled.add(call);
    await flush();
  };
  const settled = new Set<Call>();
  const pending = (id: string): Call => {
    const call = calls.find((c) => c.id === id && !settled.has(c) && !c.signal.aborted);
    if (!call) throw new Error(`no pending check of ${id}`);
    return call;
  };
  const starts = (id?: string): number[] => calls.filter((c) => id === undefined || c.id === id).map((c) => c.at);
  return { timers, calls, reports, checker, options, setTargets, moveTo, answer, starts, states };
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('Checker scheduling', () => {
  it('does nothing at construction', () => {
    const targets = vi.fn(() => [{ id: 'A', address: '127.0.0.1:25' }]);
    const setTimeout = vi.fn();
    new Checker(resolveCheck({}), { targets, report: vi.fn(), phase: () => 'up' }, { setTimeout, clearTimeout: vi.fn() });
    expect(targets).not.toHaveBeenCalled();
    expect(setTimeout).not.toHaveBeenCalled();
  });

  it('applies the module defaults: interval 30000, timeout 1000', async () => {
    const t = setup({}, ['A'], [0.5]);
    t.checker.start();
    await t.timers.advance(14_999);
    expect(t.starts()).toEqual([]);
    await t.timers.advance(1);
    expect(t.starts()).toEqual([15_000]);
    await t.timers.advance(1000); // timeout 1000 from the start
    expect(t.reports).toEqual(['16000 A fail timeout 1000']);
    await t.timers.advance(30_000);
    expect(t.starts()).toEqual([15_000, 45_000]); // one interval after the previous due time
    await t.checker.close();
  });

  it('starts each server at a random delay in [0, interval) taken from rng, in target order', async () => {
    const t = setup({ interval: 1000 }, ['A', 'B', 'C'], [0.5, 0.1, 0.999]);
    t.checker.start();
    await t.timers.advance(2000);
    expect(t.calls.map((c) => `${c.id}@${c.at}`)).toEqual(['B@100', 'A@500', 'C@999']);
    await t.checker.close();
  });

  it('is idempotent on start() and refuses start() after close()', async () => {
    const t = setup({ interval: 1000 }, ['A'], [0]);
    t.checker.start();
    t.checker.start();
    await t.timers.advance(0);
    expect(t.starts()).toEqual([0]);
    await t.answer('A', true);
    await t.checker.close();
    let error: unknown;
    try {
      t.checker.start();
    } catch (e) {
      error = e;
    }
    expect(isUpstreamError(error) && error.code).toBe('ERR_UPSTREAM_CLOSED');
  });

  it('starts the next check one interval after the previous due time, not after its result (the phase is kept)', async () => {
    const t = setup({ interval: 1000, timeout: 900, defaultDown: false }, ['A'], [0.2]);
    t.checker.start();
    await t.timers.advance(200);
    expect(t.starts()).toEqual([200]);
    await t.timers.advance(300);
    await t.answer('A', true); // result at 500, took 300 ms
    expect(t.reports).toEqual(['500 A ok ok 300']);
    await t.timers.advance(699);
    expect(t.starts()).toEqual([200]);
    await t.timers.advance(1);
    expect(t.starts()).toEqual([200, 1200]);
    await t.timers.advance(800);
    await t.answer('A', true); // result at 2000, took 800 ms
    await t.timers.advance(200);
    expect(t.starts()).toEqual([200, 1200, 2200]);
    await t.checker.close();
  });

  it('never runs two checks of one server at once when a check is slower than the interval', async () => {
    const t = setup({ interval: 1000, timeout: 60_000, defaultDown: false }, ['A'], [0]);
    t.checker.start();
    await t.timers.advance(0);
    await t.timers.advance(5000);
    expect(t.starts()).toEqual([0]); // still the first check
    await t.answer('A', true);
    expect(t.reports).toEqual(['5000 A ok ok 5000']);
    await t.timers.advance(5000);
    expect(t.starts()).toEqual([0, 6000]);
    await t.checker.close();
  });

  it('aborts a check at `timeout` ms after its start with a TimeoutError and reports `timeout`', async () => {
    const t = setup({ interval: 1000, timeout: 250, defaultDown: false }, ['A'], [0.1]);
    t.checker.start();
    await t.timers.advance(100);
    const call = t.calls[0]!;
    await t.timers.advance(249);
    expect(call.signal.aborted).toBe(false);
    await t.timers.advance(1);
    expect(call.signal.aborted).toBe(true);
    expect((call.signal.reason as Error).name).toBe('TimeoutError');
    // The custom function ignored its signal; the wrapper settled the check anyway.
    expect(t.reports).toEqual(['350 A fail timeout 250']);
    await t.timers.advance(750);
    expect(t.starts()).toEqual([100, 1100]); // due 100 + 1000
    call.resolve(true); // a late answer of the aborted check changes nothing
    await flush();
    expect(t.reports).toEqual(['350 A fail timeout 250']);
    await t.checker.close();
  });

  it('clears the timeout timer when the check settles first', async () => {
    const t = setup({ interval: 1000, timeout: 500, defaultDown: false }, ['A'], [0]);
    t.checker.start();
    await t.timers.advance(0);
    await t.timers.advance(100);
    await t.answer('A', false);
    expect(t.timers.queue.map((q) => q.at)).toEqual([1000]); // only the next check (due 0 + 1000)
    await t.checker.close();
  });

  it('reports a rejected or throwing check as a failure with its message', async () => {
    const t = setup({ interval: 1000, timeout: 500, defaultDown: false }, ['A'], [0]);
    t.checker.start();
    await t.timers.advance(0);
    t.calls[0]!.reject(new Error('EHLO refused'));
    await flush();
    expect(t.reports).toEqual(['0 A fail EHLO refused 0']);
    await t.checker.close();
  });

  it('uses downInterval while down and fastInterval while counters move toward a flip', async () => {
    // Starts down (default_down). rise 2, fall 2.
    const t = setup({ interval: 1000, downInterval: 5000, fastInterval: 200, rise: 2, fall: 2, timeout: 100 }, ['A'], [0]);
    t.checker.start();
    await t.timers.advance(0);
    expect(checkPhase(initialRiseFall(true))).toBe('down');
    await t.answer('A', false); // 0: down, fall 1 -> down phase -> +5000
    await t.timers.advance(5000);
    await t.answer('A', true); // 5000: down, rise 1 -> transition -> +200
    await t.timers.advance(200);
    await t.answer('A', true); // 5200: up (rise 2) -> up -> +1000
    await t.timers.advance(1000);
    await t.answer('A', false); // 6200: up, fall 1 -> transition -> +200
    await t.timers.advance(200);
    await t.answer('A', true); // 6400: up, fall 0 -> up -> +1000
    await t.timers.advance(1000);
    await t.answer('A', false); // 7400: transition
    await t.timers.advance(200);
    await t.answer('A', false); // 7600: down (fall 2) -> +5000
    await t.timers.advance(5000);
    expect(t.starts()).toEqual([0, 5000, 5200, 6200, 6400, 7400, 7600, 12_600]);
    expect(t.reports.map((r) => r.split(' ').slice(0, 3).join(' '))).toEqual([
      '0 A fail', '5000 A ok', '5200 A ok', '6200 A fail', '6400 A ok', '7400 A fail', '7600 A fail',
    ]);
    expect(t.states.get('A')).toMatchObject({ down: true, rise: 0, fall: 2 });
    await t.checker.close();
  });

  it('adds floor(jitter * interval * rng) to every interval, and draws rng only when jitter > 0', async () => {
    const draws: number[] = [];
    const values = [0.25, 0.5, 0.999];
    let i = 0;
    const rng = (): number => {
      const v = values[i++ % values.length]!;
      draws.push(v);
      return v;
    };
    const t = setup({ interval: 1000, jitter: 0.2, defaultDown: false, timeout: 100 }, ['A'], rng);
    t.checker.start(); // first delay: 0.25 * 1000 = 250 (no jitter on the first delay)
    await t.timers.advance(250);
    await t.answer('A', true); // next: 1000 + floor(0.2 * 1000 * 0.5) = 1100
    await t.timers.advance(1100);
    await t.answer('A', true); // next: 1000 + floor(0.2 * 1000 * 0.999) = 1199
    await t.timers.advance(1199);
    expect(t.starts()).toEqual([250, 1350, 2549]);
    expect(draws).toEqual([0.25, 0.5, 0.999]);

    const u = setup({ interval: 1000, defaultDown: false, timeout: 10_000 }, ['A'], rng);
    draws.length = 0;
    u.checker.start();
    await u.timers.advance(1000);
    await u.answer('A', true);
    await u.timers.advance(1000);
    await u.answer('A', true);
    expect(draws).toHaveLength(1); // the first delay only
    await t.checker.close();
    await u.checker.close();
  });

  it('sync() schedules new servers at a random delay and cancels removed ones', async () => {
    const t = setup({ interval: 1000, timeout: 10_000, defaultDown: false }, ['A', 'B'], [0, 0.5, 0.3]);
    t.checker.start(); // A at 0, B at 500
    await t.timers.advance(0);
    await t.answer('A', true); // A next at 1000
    t.setTargets(['A', 'C']); // B removed before its first check; C added
    t.checker.sync(); // C at 0 + floor(0.3 * 1000)
    await t.timers.advance(2000);
    expect(t.calls.map((c) => `${c.id}@${c.at}`)).toEqual(['A@0', 'C@300', 'A@1000']);
    expect(t.calls.map((c) => c.target.address)).toEqual(['127.0.0.1:2500', '127.0.0.1:3001', '127.0.0.1:2500']);
    await t.checker.close();
  });

  it('sync() aborts the check in flight of a removed server and drops its result', async () => {
    const t = setup({ interval: 1000, timeout: 500, defaultDown: false }, ['A', 'B'], [0, 0]);
    t.checker.start();
    await t.timers.advance(0);
    const b = t.calls.find((c) => c.id === 'B')!;
    t.setTargets(['A']);
    t.checker.sync();
    expect(b.signal.aborted).toBe(true);
    expect((b.signal.reason as Error).name).toBe('AbortError');
    await t.answer('A', true);
    await t.timers.advance(3000);
    expect(t.reports.filter((r) => r.includes(' B '))).toEqual([]);
    expect(t.starts('B')).toEqual([0]);
    await t.checker.close();
  });

  it('sync() re-adding a server whose aborted check is settling reschedules it once, without overlap', async () => {
    let slow: ((v: boolean) => void) | undefined;
    const timers = new ManualTimers();
    const starts: number[] = [];
    const reports: string[] = [];
    let targets = [{ id: 'A', address: '127.0.0.1:25' }];
    const checker = new Checker(
      resolveCheck({
        interval: 1000,
        timeout: 500,
        type: () => {
          starts.push(timers.now);
          // A probe that settles only when told to, even when aborted.
          return { then: (ok: (v: boolean) => void) => void (slow = ok) } as unknown as Promise<boolean>;
        },
      }),
      { targets: () => targets, report: (id, ok, reason) => void reports.push(`${timers.now} ${id} ${ok} ${reason}`), phase: () => 'up' },
      { clock: timers.clock, rng: () => 0.5, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout },
    );
    checker.start();
    await timers.advance(500); // check starts at 500
    targets = [];
    checker.sync(); // aborted: the wrapper settles it at once
    targets = [{ id: 'A', address: '127.0.0.1:25' }];
    checker.sync();
    // The aborted check (started at 500) is never reported; the re-added server gets a fresh first
    // delay (500) after it settled, then times out (500 ms) and repeats every interval from 1000.
    await timers.advance(5000);
    expect(starts).toEqual([500, 1000, 2000, 3000, 4000, 5000]);
    expect(reports).toEqual(['1500 A false timeout', '2500 A false timeout', '3500 A false timeout', '4500 A false timeout', '5500 A false timeout']);
    expect(slow).toBeTypeOf('function');
    await checker.close();
  });

  it('checks at the new address after an address change', async () => {
    const t = setup({ interval: 1000, timeout: 500, defaultDown: false, port: 0 }, ['A'], [0]);
    t.checker.start();
    await t.timers.advance(0);
    await t.answer('A', true); // next at 1000
    t.moveTo('A', '127.0.0.2:2525');
    t.checker.sync(); // keeps the schedule
    await t.timers.advance(1000);
    expect(t.calls.map((c) => `${c.at} ${c.target.host}:${c.target.port}`)).toEqual(['0 127.0.0.1:2500', '1000 127.0.0.2:2525']);
    await t.checker.close();
  });

  it('close() during an in-flight check aborts it, reports nothing, clears every timer, then resolves', async () => {
    const t = setup({ interval: 1000, timeout: 800, defaultDown: false }, ['A', 'B'], [0, 0.5]);
    t.checker.start();
    await t.timers.advance(0); // A in flight, B waiting
    const a = t.calls[0]!;
    let closed = false;
    const closing = t.checker.close().then(() => {
      closed = true;
    });
    expect(t.checker.close()).toBe(t.checker.close());
    expect(a.signal.aborted).toBe(true);
    expect((a.signal.reason as Error).name).toBe('AbortError');
    await closing;
    expect(closed).toBe(true);
    expect(t.timers.queue).toEqual([]);
    await t.timers.advance(10_000);
    expect(t.reports).toEqual([]);
    expect(t.starts()).toEqual([0]);
    t.checker.sync(); // a no-op after close
    expect(t.timers.queue).toEqual([]);
  });

  it('close() resolves even when a custom function ignores its abort signal (the wrapper settles it)', async () => {
    const timers = new ManualTimers();
    let release: (() => void) | undefined;
    const checker = new Checker(
      resolveCheck({ interval: 1000, type: () => new Promise<boolean>((r) => (release = () => r(false))) }),
      { targets: () => [{ id: 'A', address: '127.0.0.1:25' }], report: vi.fn(), phase: () => 'up' },
      { clock: timers.clock, rng: () => 0, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout },
    );
    checker.start();
    await timers.advance(0);
    let done = false;
    void checker.close().then(() => (done = true));
    await flush();
    expect(done).toBe(true);
    release!();
  });

  it('does not report a result that arrives after close()', async () => {
    const report = vi.fn();
    const timers = new ManualTimers();
    let answer: ((v: boolean) => void) | undefined;
    const checker = new Checker(
      resolveCheck({ interval: 1000, type: () => new Promise<boolean>((r) => (answer = r)) }),
      { targets: () => [{ id: 'A', address: '127.0.0.1:25' }], report, phase: () => 'up' },
      { clock: timers.clock, rng: () => 0, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout },
    );
    checker.start();
    await timers.advance(0);
    const closing = checker.close();
    answer!(true);
    await closing;
    await flush();
    expect(report).not.toHaveBeenCalled();
  });

  it('stops checking a server that the report removes (sync inside report) and stops everything on close inside report', async () => {
    const timers = new ManualTimers();
    const starts: string[] = [];
    let targets = [{ id: 'A', address: 'a:1' }, { id: 'B', address: 'b:1' }];
    let checker!: Checker;
    checker = new Checker(
      resolveCheck({ interval: 1000, type: (s) => (starts.push(`${s.id}@${timers.now}`), true) }),
      {
        targets: () => targets,
        report(id) {
          if (id === 'A') {
            targets = targets.filter((t) => t.id !== 'A');
            checker.sync();
          }
        },
        phase: () => 'up',
      },
      { clock: timers.clock, rng: () => 0, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout },
    );
    checker.start();
    await timers.advance(3000);
    expect(starts).toEqual(['A@0', 'B@0', 'B@1000', 'B@2000', 'B@3000']);
    await checker.close();
  });

  it('keeps checking after a report that throws, surfacing the error as an uncaught exception', async () => {
    const thrown: unknown[] = [];
    vi.stubGlobal('queueMicrotask', (fn: () => void) => {
      try {
        fn();
      } catch (e) {
        thrown.push(e);
      }
    });
    const timers = new ManualTimers();
    const starts: number[] = [];
    const checker = new Checker(
      resolveCheck({ interval: 1000, type: () => (starts.push(timers.now), true) }),
      { targets: () => [{ id: 'A', address: 'a:1' }], report: () => { throw new Error('listener bug'); }, phase: () => 'up' },
      { clock: timers.clock, rng: () => 0, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout },
    );
    checker.start();
    await timers.advance(2000);
    expect(starts).toEqual([0, 1000, 2000]);
    expect(thrown.map((e) => (e as Error).message)).toEqual(['listener bug', 'listener bug', 'listener bug']);
    await checker.close();
  });

  it('unref()s every timer whose handle has unref (one due timer and one deadline timer per checker)', async () => {
    const t = setup({ interval: 1000, timeout: 500 }, ['A', 'B'], [0]);
    t.checker.start();
    expect(t.timers.unrefs).toBe(1); // the due timer, for both first checks
    await t.timers.advance(0);
    expect(t.timers.unrefs).toBe(2); // plus the deadline timer, for both checks in flight
    await t.checker.close();
  });

  it('passes the check port (options.port || the server port) to the probe', async () => {
    const seen: CheckTarget[] = [];
    const timers = new ManualTimers();
    const env = { clock: timers.clock, rng: () => 0, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout };
    const host = (address: string): CheckHost => ({ targets: () => [{ id: 'A', address }], report: vi.fn(), phase: () => 'up' });
    const type = (s: CheckTarget): boolean => (seen.push(s), true);
    const a = new Checker(resolveCheck({ type, port: 2525 }), host('10.0.0.1:25'), env);
    const b = new Checker(resolveCheck({ type }), host('10.0.0.1:25'), env);
    a.start();
    b.start();
    await timers.advance(0);
    expect(seen).toEqual([
      { id: 'A', address: '10.0.0.1:25', host: '10.0.0.1', port: 2525 },
      { id: 'A', address: '10.0.0.1:25', host: '10.0.0.1', port: 25 },
    ]);
    await a.close();
    await b.close();
  });
});

describe('checkTarget', () => {
  it.each([
    ['127.0.0.1:25', 0, '127.0.0.1', 25],
    ['mail.example.com:587', 0, 'mail.example.com', 587],
    ['[::1]:25', 0, '::1', 25],
    ['[2001:db8::1]:10025', 2525, '2001:db8::1', 2525],
    ['[::1]', 0, '::1', 80],
    ['backend.example.com', 0, 'backend.example.com', 80],
    ['backend.example.com', 8080, 'backend.example.com', 8080],
    ['::1', 0, '::1', 80],
    ['unix:/run/smtp.sock', 0, '/run/smtp.sock', 0],
  ])('%s with port=%i -> %s %i', (address, port, host, expected) => {
    expect(checkTarget('x', address, port)).toEqual({ id: 'x', address, host, port: expected });
  });
});

describe('checkPhase', () => {
  it.each([
    [{ down: true, rise: 0, fall: 0 }, 'down'],
    [{ down: true, rise: 0, fall: 7 }, 'down'],
    [{ down: true, rise: 1, fall: 0 }, 'transition'],
    [{ down: false, rise: 0, fall: 0 }, 'up'],
    [{ down: false, rise: 9, fall: 0 }, 'up'],
    [{ down: false, rise: 0, fall: 1 }, 'transition'],
  ] as const)('%o -> %s', (state, phase) => {
    expect(checkPhase(state)).toBe(phase);
  });
});

describe('Checker host failures', () => {
  it('keeps the interval when phase() throws, surfacing the error', async () => {
    const thrown: unknown[] = [];
    vi.stubGlobal('queueMicrotask', (fn: () => void) => {
      try {
        fn();
      } catch (e) {
        thrown.push(e);
      }
    });
    const timers = new ManualTimers();
    const starts: number[] = [];
    const checker = new Checker(
      resolveCheck({ interval: 1000, downInterval: 9000, type: () => (starts.push(timers.now), false) }),
      { targets: () => [{ id: 'A', address: 'a:1' }], report: () => {}, phase: () => { throw new Error('unknown id'); } },
      { clock: timers.clock, rng: () => 0, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout },
    );
    checker.start();
    await timers.advance(2000);
    expect(starts).toEqual([0, 1000, 2000]);
    expect(thrown.map((e) => (e as Error).message)).toEqual(['unknown id', 'unknown id', 'unknown id']);
    await checker.close();
  });
});
