/**
 * Checker (src/health/checker.ts): checks stay spread over the interval. Each server keeps the phase
 * of its first check (HAProxy's rule: the next check is due one delay after the previous due time,
 * moved on by whole delays past a slow result), so results that arrive together never make their
 * next checks start together; one due timer and one deadline timer serve every server. Driven by a
 * hand-made timer queue and an injected clock and rng; no real timers, no sockets.
 *
 * The last test is the differential one: the heap-and-two-timers scheduler against a plain model
 * of one timer per server (`modelStarts`), on random servers, phases and check durations.
 */
import { describe, expect, it } from 'vitest';
import { startWindowFor } from '../../src/health/check-queues';
import { Checker, type CheckHost } from '../../src/health/checker';
import { resolveCheck, type CheckOptions } from '../../src/options';
import { ManualTimers } from '../fixtures/manual-timers';


/**
 * A checker over `ids` whose check of server `id` takes `duration(id, n)` ms on its n-th check
 * (a timer of the same fake queue settles it, passing); first-check phases come from `phases`
 * (rng values, one per server in order).
 */
function setup(check: CheckOptions, ids: string[], phases: number[], duration: (id: string, n: number) => number) {
  const timers = new ManualTimers();
  const starts: string[] = [];
  const reports: string[] = [];
  const counts = new Map<string, number>();
  const options = resolveCheck({
    ...check,
    type: (target) => {
      const n = counts.get(target.id) ?? 0;
      counts.set(target.id, n + 1);
      starts.push(`${target.id}@${timers.now}`);
      return new Promise<boolean>((resolve) => void timers.setTimeout(() => resolve(true), duration(target.id, n)));
    },
  });
  const host: CheckHost = {
    targets: () => ids.map((id, i) => ({ id, address: `127.0.0.1:${2500 + i}` })),
    report: (id, ok, reason) => void reports.push(`${id}@${timers.now} ${ok ? 'ok' : 'fail'} ${reason}`),
    phase: () => 'up',
  };
  let draw = 0;
  const checker = new Checker(options, host, {
    clock: timers.clock,
    rng: () => phases[draw++ % phases.length]!,
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
  });
  const startsOf = (id: string): number[] => starts.filter((s) => s.startsWith(`${id}@`)).map((s) => Number(s.slice(id.length + 1)));
  return { timers, starts, reports, checker, startsOf };
}

describe('Checker spread', () => {
  it('keeps every server on its own phase: exact start times of four servers over three intervals', async () => {
    const t = setup({ interval: 1000, timeout: 500, defaultDown: false }, ['A', 'B', 'C', 'D'], [0.1, 0.35, 0.6, 0.85], (id) =>
      id === 'B' ? 240 : 3,
    );
    t.checker.start();
    await t.timers.advance(3000);
    expect(t.starts).toEqual([
      'A@100', 'B@350', 'C@600', 'D@850',
      'A@1100', 'B@1350', 'C@1600', 'D@1850',
      'A@2100', 'B@2350', 'C@2600', 'D@2850',
    ]);
    // B's 240 ms checks do not push its later checks back (the earlier rule: 350, 1590, 2830).
    expect(t.reports.filter((r) => r.startsWith('B'))).toEqual(['B@590 ok ok', 'B@1590 ok ok', 'B@2590 ok ok']);
    await t.checker.close();
  });

  it('does not merge servers whose results arrive together: their next checks keep their own times', async () => {
    // A due at 100, B at 101, C at 102; all three results arrive at 150, in one turn.
    const t = setup({ interval: 1000, timeout: 500, defaultDown: false, startWindow: 0 }, ['A', 'B', 'C'], [0.1, 0.101, 0.102], (id, n) =>
      n === 0 ? { A: 50, B: 49, C: 48 }[id]! : 1,
    );
    t.checker.start();
    await t.timers.advance(150);
    expect(t.reports).toEqual(['A@150 ok ok', 'B@150 ok ok', 'C@150 ok ok']);
    await t.timers.advance(2000);
    // The earlier rule (one interval after the result) started all three at 1150 and 2151.
    expect(t.starts).toEqual(['A@100', 'B@101', 'C@102', 'A@1100', 'B@1101', 'C@1102', 'A@2100', 'B@2101', 'C@2102']);
    await t.checker.close();
  });

  it('start window: checks due within the window of a wake-up start at the next one, and keep their own due times', async () => {
    // Default window at interval 1000: 1000 / 16 = 62 ms. A due at 100, B at 101, C at 102, D at 170, E at 300.
    const t = setup({ interval: 1000, timeout: 500, defaultDown: false }, ['A', 'B', 'C', 'D', 'E'], [0.1, 0.101, 0.102, 0.17, 0.3], () => 1);
    t.checker.start();
    await t.timers.advance(2400);
    // 100: A; the next wake-up no sooner than 162: B and C; then 224 (D, due at 170); E alone at 300.
    // The second and third rounds start the same way: B and C stay due at 101 and 102, not at 162.
    expect(t.starts).toEqual([
      'A@100', 'B@162', 'C@162', 'D@224', 'E@300',
      'A@1100', 'B@1162', 'C@1162', 'D@1224', 'E@1300',
      'A@2100', 'B@2162', 'C@2162', 'D@2224', 'E@2300',
    ]);
    await t.checker.close();
  });

  it('start window: a wake-up that started a full batch of 64 wakes again at once, not a window later', async () => {
    const ids = Array.from({ length: 100 }, (_, i) => `S${i}`);
    const t = setup({ interval: 1000, timeout: 100, defaultDown: false, startWindow: 50 }, ids, [0.01], () => 1);
    t.checker.start();
    await t.timers.advance(10);
    expect(t.starts).toHaveLength(100);
    expect(new Set(t.starts.map((s) => s.split('@')[1]))).toEqual(new Set(['10']));
    await t.checker.close();
  });

  it('start window: cut to the time in which about 64 checks fall due, so that many servers do not make longer batches', () => {
    const at = (interval: number, startWindow: number, servers: number) => startWindowFor(resolveCheck({ interval, startWindow }), servers);
    expect(at(1000, 62, 1)).toBe(62);
    expect(at(1000, 62, 64)).toBe(62);
    expect(at(1000, 62, 1000)).toBe(62); // 64 checks fall due in 64 ms
    expect(at(1000, 64, 1000)).toBe(64);
    expect(at(1000, 64, 1001)).toBe(63);
    expect(at(1000, 62, 2000)).toBe(32);
    expect(at(1000, 62, 5000)).toBe(12);
    expect(at(1000, 62, 10_000)).toBe(6);
    expect(at(1000, 62, 64_000)).toBe(1);
    expect(at(1000, 62, 64_001)).toBe(0);
    expect(at(1000, 0, 10)).toBe(0);
  });

  it('start window at 1,000 servers: every check starts within 62 ms of its due time, 62 per wake-up', async () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `S${i}`);
    const phases = ids.map((_, i) => i / 1000); // one due every ms
    const t = setup({ interval: 1000, timeout: 100, defaultDown: false }, ids, phases, () => 2);
    t.checker.start();
    await t.timers.advance(3007); // the wake-ups at 0, 62, ..., 2976 (the next is at 3038)
    const wakes = new Map<number, number>();
    for (const s of t.starts) {
      const [id, at] = s.split('@');
      const due = Number(id!.slice(1)) % 1000;
      const late = (Number(at) - due) % 1000;
      expect(late, s).toBeGreaterThanOrEqual(0);
      expect(late, s).toBeLessThanOrEqual(62);
      wakes.set(Number(at), (wakes.get(Number(at)) ?? 0) + 1);
    }
    expect(t.starts).toHaveLength(2977); // every check due by 2976
    // 0: S0 alone; then every 62 ms the 62 due since (16 wake-ups a second instead of 1,000)
    expect([...wakes.keys()]).toEqual(Array.from({ length: 49 }, (_, k) => 62 * k));
    expect([...wakes.values()]).toEqual([1, ...Array<number>(48).fill(62)]);
    await t.checker.close();
  });

  it('moves a due time past a slow result by whole intervals, so a slow check skips the slots it overlapped', async () => {
    const t = setup({ interval: 1000, timeout: 10_000, defaultDown: false }, ['A'], [0.2], (_id, n) => (n === 0 ? 2500 : n === 1 ? 1000 : 5));
    t.checker.start();
    await t.timers.advance(6000);
    // 200: result at 2700, so 1200 and 2200 are skipped: 3200. Its 1000 ms check ends at 4200,
    // exactly its next due time, which is not later than the result: 5200.
    expect(t.startsOf('A')).toEqual([200, 3200, 5200]);
    await t.checker.close();
  });

  it('starts every check due in the same millisecond from one timer fire, and keeps one due timer for all servers', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `S${i}`);
    // Five distinct phases: 0, 200, 400, 600, 800 ms, ten servers each.
    const phases = ids.map((_, i) => (i % 5) / 5);
    const t = setup({ interval: 1000, timeout: 100, defaultDown: false }, ids, phases, () => 1);
    t.checker.start();
    expect(t.timers.set).toBe(1); // one due timer for the 50 first checks
    await t.timers.advance(999);
    expect(t.starts).toHaveLength(50);
    expect(new Set(t.starts.map((s) => s.split('@')[1]))).toEqual(new Set(['0', '200', '400', '600', '800']));
    // Per phase: the due timer, each check's settle timer (10), and the deadline timer.
    expect(t.timers.set).toBe(1 + 5 * (1 + 10 + 1));
    // Never more than one due timer and one deadline timer pending besides the probes' own.
    await t.timers.advance(500);
    expect(t.timers.queue.length).toBeLessThanOrEqual(2);
    await t.checker.close();
    expect(t.timers.queue).toEqual([]);
  });

  it('starts at most 64 checks per timer fire: a backlog waits for the next turns, at the same time', async () => {
    const ids = Array.from({ length: 600 }, (_, i) => `S${i}`);
    const t = setup({ interval: 1000, timeout: 100, defaultDown: false }, ids, [0], () => 50);
    const batches: number[] = [];
    let seen = 0;
    // Every 0 ms timer the checker sets is a deferred batch: note how many checks had started by then.
    t.timers.queue.push = function (this: ManualTimers['queue'], ...items) {
      for (const item of items) if (item.at === t.timers.now && t.starts.length > seen) batches.push((seen = t.starts.length));
      return Array.prototype.push.apply(this, items);
    };
    t.checker.start();
    await t.timers.advance(0);
    expect(t.starts).toHaveLength(600);
    expect(new Set(t.starts.map((s) => s.split('@')[1]))).toEqual(new Set(['0']));
    expect(batches).toEqual([64, 128, 192, 256, 320, 384, 448, 512, 576]);
    await t.checker.close();
  });

  it('times out checks in flight from one deadline queue, each exactly `timeout` after its start', async () => {
    const t = setup({ interval: 1000, timeout: 300, defaultDown: false }, ['A', 'B', 'C'], [0, 0.1, 0.25], (id) => (id === 'B' ? 50 : 5000));
    t.checker.start();
    await t.timers.advance(1000);
    expect(t.reports).toEqual(['B@150 ok ok', 'A@300 fail timeout', 'C@550 fail timeout']);
    await t.checker.close();
  });

  it('matches a plain model with one timer per server on random servers, phases and durations', async () => {
    const random = xorshift32(12345);
    for (let trial = 0; trial < 40; trial++) {
      const n = 1 + Math.floor(random() * 25);
      const interval = 100 * (1 + Math.floor(random() * 20));
      const timeout = 50 + Math.floor(random() * 2000);
      const ids = Array.from({ length: n }, (_, i) => `S${i}`);
      const phases = ids.map(() => random());
      // Durations avoid the timeout itself (a tie between the settle and the deadline is not a case).
      const table = new Map<string, number[]>(
        ids.map((id) => [id, Array.from({ length: 200 }, () => Math.floor(random() * 2.5 * interval))]),
      );
      for (const list of table.values()) for (let i = 0; i < list.length; i++) if (list[i] === timeout) list[i] += 1;
      const duration = (id: string, k: number): number => table.get(id)![k]!;
      const horizon = 10 * interval;
      const t = setup({ interval, timeout, defaultDown: false, startWindow: 0 }, ids, phases, duration);
      t.checker.start();
      await t.timers.advance(horizon);
      for (const [i, id] of ids.entries()) {
        expect(t.startsOf(id), `trial ${trial} ${id}`).toEqual(modelStarts(Math.floor(phases[i]! * interval), interval, timeout, (k) => duration(id, k), horizon));
      }
      await t.checker.close();
    }
  });

  it('start window: matches a plain model of shared wake-ups on random servers, phases, durations and windows', async () => {
    const random = xorshift32(777);
    let moved = 0; // servers whose starts the window moved (against the per-server model)
    for (let trial = 0; trial < 60; trial++) {
      const n = 1 + Math.floor(random() * 25);
      const interval = 100 * (1 + Math.floor(random() * 20));
      const timeout = 50 + Math.floor(random() * 2000);
      const window = trial % 6 === 0 ? 0 : 1 + Math.floor(random() * 80);
      const ids = Array.from({ length: n }, (_, i) => `S${i}`);
      const phases = ids.map(() => random());
      const table = ids.map(() => Array.from({ length: 200 }, () => Math.floor(random() * 2.5 * interval)));
      for (const list of table) for (let i = 0; i < list.length; i++) if (list[i] === timeout) list[i] += 1;
      const horizon = 10 * interval;
      const t = setup({ interval, timeout, defaultDown: false, startWindow: window }, ids, phases, (id, k) => table[Number(id.slice(1))]![k]!);
      t.checker.start();
      await t.timers.advance(horizon);
      const model = modelWindowStarts(phases.map((p) => Math.floor(p * interval)), table, interval, timeout, startWindowFor(resolveCheck({ interval, startWindow: window }), n), horizon);
      for (const [i, id] of ids.entries()) {
        expect(t.startsOf(id), `trial ${trial} ${id} (window ${window})`).toEqual(model[i]);
        const alone = modelStarts(Math.floor(phases[i]! * interval), interval, timeout, (k) => table[i]![k]!, horizon);
        if (window === 0) expect(model[i], `trial ${trial} ${id}: the model without a window is the per-server one`).toEqual(alone);
        else if (JSON.stringify(model[i]) !== JSON.stringify(alone)) moved++;
      }
      await t.checker.close();
    }
    expect(moved).toBeGreaterThan(50);
  });
});

/**
 * The shared wake-ups of a checker with a start window, simulated event by event: a wake-up at `f`
 * starts every idle server due by `f`; the next one is at the earliest due time of an idle server,
 * but no sooner than `f + window`. A check ends at its start plus its duration or its timeout if
 * shorter; its server is then due again one interval after its previous due time, moved on by whole
 * intervals until that is later than the end (the same rule as `modelStarts`). Per server, its starts.
 */
function modelWindowStarts(first: number[], durations: number[][], interval: number, timeout: number, window: number, horizon: number): number[][] {
  const n = first.length;
  const starts: number[][] = first.map(() => []);
  const due = [...first];
  const ends = first.map(() => Infinity); // end of the check in flight, Infinity when idle
  let lastWake = -Infinity;
  for (;;) {
    let earliestDue = Infinity;
    let earliestEnd = Infinity;
    for (let i = 0; i < n; i++) {
      if (ends[i] === Infinity) earliestDue = Math.min(earliestDue, due[i]!);
      else earliestEnd = Math.min(earliestEnd, ends[i]!);
    }
    const wake = Math.max(earliestDue, lastWake + window);
    if (Math.min(wake, earliestEnd) > horizon) return starts;
    if (earliestEnd < wake) {
      // results first: each idle again with its next due time
      for (let i = 0; i < n; i++) {
        if (ends[i] !== earliestEnd) continue;
        let next = due[i]! + interval;
        while (next <= earliestEnd) next += interval;
        due[i] = next;
        ends[i] = Infinity;
      }
      continue;
    }
    for (let i = 0; i < n; i++) {
      if (ends[i] !== Infinity || due[i]! > wake) continue;
      const k = starts[i]!.length;
      starts[i]!.push(wake);
      ends[i] = wake + Math.min(durations[i]![k]!, timeout);
    }
    lastWake = wake;
  }
}

/** A deterministic random source in [0, 1): xorshift32 from `seed`. */
function xorshift32(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/**
 * The schedule of one server with its own timer: first due at `first`; each check ends at its
 * start plus its duration, or its timeout if shorter; the next due time is the previous one plus
 * `interval`, moved on by whole intervals until it is later than that end.
 */
function modelStarts(first: number, interval: number, timeout: number, duration: (k: number) => number, horizon: number): number[] {
  const starts: number[] = [];
  let due = first;
  for (let k = 0; due <= horizon; k++) {
    starts.push(due);
    const end = due + Math.min(duration(k), timeout);
    let next = due + interval;
    while (next <= end) next += interval;
    due = next;
  }
  return starts;
}
