/**
 * Passive failure window through the Balancer (docs/nginx-semantics.md §2.3-2.6, §2.9, §4.3): the
 * peer-level vectors A-E of §2.4, fail_timeout=0, the 4-second probe cadence of
 * `max_fails=3 fail_timeout=3s`, the weighted-recovery vector, and the stream connect rule.
 *
 * Time: a ManualClock set to whole seconds * 1000, so the Balancer's ms comparisons are nginx's
 * integer-second comparisons. The peer under test is A; B is a backup (or a second primary) so the
 * upstream is never in single mode. With A primary and B backup, a one-shot pick returns A exactly
 * when A is eligible, so `pick()` is the eligibility probe.
 *
 * `snapshot()` reports accessed/checked as null while fails is 0 (they have no effect then, and the
 * Balancer does not even read the clock to maintain them): where §2.4 lists `checked` for a peer with
 * fails = 0 the test asserts null.
 */

import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock, wholeSeconds } from '../../src/clock';
import type { ServerOptions } from '../../src/options';

interface Row {
  fails: number;
  accessed: number | null;
  checked: number | null;
  state: string;
}

function setup(a: Partial<ServerOptions>, second: ServerOptions = { id: 'B', address: '10.0.0.2:25', backup: true, maxFails: 0 }) {
  const clock = new ManualClock(0);
  const b = new Balancer({ name: 'u', servers: [{ id: 'A', address: '10.0.0.1:25', ...a }, second], clock: clock.now });
  const at = (second: number) => clock.set(second * 1000);
  const row = (): Row => {
    const s = b.snapshot().servers.find((x) => x.id === 'A')!;
    return {
      fails: s.fails,
      accessed: s.accessed === null ? null : s.accessed / 1000,
      checked: s.checked === null ? null : s.checked / 1000,
      state: s.state,
    };
  };
  /** Picks at second t; expects A; frees it with the outcome. */
  const op = (t: number, outcome: 'fail' | 'ok') => {
    at(t);
    const s = b.pick();
    expect(s?.id, `pick @${t}`).toBe('A');
    b.release(s!, outcome === 'fail');
    return row();
  };
  /** Is A eligible at second t? (A pick that returns B is released at once; B has maxFails=0.) */
  const eligible = (t: number) => {
    at(t);
    const s = b.pick()!;
    if (s.id === 'A') return true;
    b.release(s);
    return false;
  };
  return { b, clock, at, row, op, eligible };
}

describe('§2.4 peer-level vectors', () => {
  it('A) max_fails=3 fail_timeout=3: three failures, probe at +4, failed probe, successful probe', () => {
    const { b, at, row, eligible } = setup({ maxFails: 3, failTimeout: 3000 });
    at(100);
    const p1 = b.pick()!;
    expect(p1.id).toBe('A');
    expect(row()).toEqual({ fails: 0, accessed: null, checked: null, state: 'up' });
    b.release(p1, true);
    expect(row()).toEqual({ fails: 1, accessed: 100, checked: 100, state: 'up' });
    const p2 = b.pick()!;
    expect(p2.id).toBe('A');
    b.release(p2, true);
    expect(row()).toEqual({ fails: 2, accessed: 100, checked: 100, state: 'up' });
    at(101);
    const p3 = b.pick()!;
    expect(p3.id).toBe('A');
    b.release(p3, true);
    expect(row()).toEqual({ fails: 3, accessed: 101, checked: 101, state: 'unavail' });
    for (const t of [101, 102, 103, 104]) {
      expect(eligible(t), `eligible @${t}`).toBe(false);
      expect(row()).toEqual({ fails: 3, accessed: 101, checked: 101, state: 'unavail' });
    }
    at(105);
    const probe = b.pick()!;
    expect(probe.id).toBe('A');
    // the probe's selection moved `checked`: everybody else sees A excluded in this second
    expect(row()).toEqual({ fails: 3, accessed: 101, checked: 105, state: 'unavail' });
    expect(eligible(105)).toBe(false);
    b.release(probe, true);
    expect(row()).toEqual({ fails: 4, accessed: 105, checked: 105, state: 'unavail' });
    for (const t of [106, 107, 108]) expect(eligible(t), `eligible @${t}`).toBe(false);
    at(109);
    const probe2 = b.pick()!;
    expect(probe2.id).toBe('A');
    expect(row()).toEqual({ fails: 4, accessed: 105, checked: 109, state: 'unavail' });
    b.release(probe2);
    expect(row()).toEqual({ fails: 0, accessed: null, checked: null, state: 'up' });
    // effective weight is not reset by the recovery: weight 1, maxFails 3 -> penalty 1 div 3 = 0
    expect(b.get('A')!.effectiveWeight).toBe(1);
    expect(eligible(109)).toBe(true);
  });

  it('B) failures accumulate across successes: max_fails=3 fail_timeout=10', () => {
    const { op, eligible } = setup({ maxFails: 3, failTimeout: 10_000 });
    expect(op(1000, 'fail')).toEqual({ fails: 1, accessed: 1000, checked: 1000, state: 'up' });
    expect(op(1001, 'ok')).toEqual({ fails: 1, accessed: 1000, checked: 1000, state: 'up' });
    expect(op(1002, 'fail')).toEqual({ fails: 2, accessed: 1002, checked: 1002, state: 'up' });
    expect(op(1005, 'ok')).toEqual({ fails: 2, accessed: 1002, checked: 1002, state: 'up' });
    expect(op(1006, 'fail')).toEqual({ fails: 3, accessed: 1006, checked: 1006, state: 'unavail' });
    for (let t = 1006; t <= 1016; t++) expect(eligible(t), `eligible @${t}`).toBe(false);
    expect(eligible(1017)).toBe(true);
  });

  it('C) sparse failures never expire: max_fails=2 fail_timeout=10', () => {
    const { at, b, row, op, eligible } = setup({ maxFails: 2, failTimeout: 10_000 });
    expect(op(1000, 'fail')).toEqual({ fails: 1, accessed: 1000, checked: 1000, state: 'up' });
    at(1050);
    const s = b.pick()!;
    expect(s.id).toBe('A');
    expect(row()).toEqual({ fails: 1, accessed: 1000, checked: 1050, state: 'up' });
    b.release(s, true);
    expect(row()).toEqual({ fails: 2, accessed: 1050, checked: 1050, state: 'unavail' });
    expect(eligible(1050)).toBe(false);
    expect(eligible(1060)).toBe(false);
    expect(eligible(1061)).toBe(true);
  });

  it('D) a post-window success resets: max_fails=2 fail_timeout=10', () => {
    const { at, b, row, op, eligible } = setup({ maxFails: 2, failTimeout: 10_000 });
    expect(op(1000, 'fail')).toEqual({ fails: 1, accessed: 1000, checked: 1000, state: 'up' });
    at(1011);
    const s = b.pick()!;
    expect(s.id).toBe('A');
    expect(row()).toEqual({ fails: 1, accessed: 1000, checked: 1011, state: 'up' });
    b.release(s);
    expect(row()).toEqual({ fails: 0, accessed: null, checked: null, state: 'up' });
    expect(op(1012, 'fail')).toEqual({ fails: 1, accessed: 1012, checked: 1012, state: 'up' });
    expect(eligible(1012)).toBe(true);
  });

  it('E) fail_timeout=0, max_fails=1: excluded for the rest of the second only', () => {
    const { clock, b, op, eligible } = setup({ maxFails: 1, failTimeout: 0 });
    expect(op(1000, 'fail')).toEqual({ fails: 1, accessed: 1000, checked: 1000, state: 'unavail' });
    expect(eligible(1000)).toBe(false);
    expect(eligible(1001)).toBe(true);
    // the post-window pick is the probe; its success brings A back
    b.release(b.get('A')!);
    expect(b.get('A')!.state).toBe('up');
    expect(clock.now()).toBe(1_001_000);
  });
});

describe('time granularity (§2.5)', () => {
  it('fail_timeout=0 with a whole-second clock: a failure at 1000.999 s is retried at 1001.000 s', () => {
    const ms = new ManualClock(1_000_000);
    const b = new Balancer({
      servers: [{ id: 'A', address: 'a:1', failTimeout: 0 }, { id: 'B', address: 'b:1', backup: true }],
      clock: wholeSeconds(ms.now),
    });
    ms.set(1_000_999);
    b.release(b.pick()!, true);
    expect(b.pick()!.id).toBe('B');
    ms.set(1_001_000);
    expect(b.pick()!.id).toBe('A');
  });

  it('a raw ms clock compares in ms: failTimeout 3000 after a failure at 100.400 s excludes through 103.400 s', () => {
    const ms = new ManualClock(100_400);
    const b = new Balancer({
      servers: [{ id: 'A', address: 'a:1', failTimeout: 3000 }, { id: 'B', address: 'b:1', backup: true, maxFails: 0 }],
      clock: ms.now,
    });
    b.release(b.pick()!, true);
    ms.set(103_400);
    const s = b.pick()!;
    expect(s.id).toBe('B');
    b.release(s);
    ms.set(103_401);
    expect(b.pick()!.id).toBe('A');
  });

  it('max_fails=3 fail_timeout=3s: failures at second T are probed at T+4, T+8, T+12 (4-second cadence)', () => {
    // §2.5 [nginx-verified]: failures at *.424 of second 310 probed at 314, 318, 322.
    const ms = new ManualClock(310_424);
    const b = new Balancer({
      servers: [{ id: 'A', address: 'a:1', maxFails: 3, failTimeout: 3000 }, { id: 'B', address: 'b:1', backup: true, maxFails: 0 }],
      clock: wholeSeconds(ms.now),
    });
    for (let k = 0; k < 3; k++) b.release(b.pick()!, true);
    expect(b.get('A')!.state).toBe('unavail');
    const probes: number[] = [];
    // one request every 100 ms for 15 s; A keeps failing
    for (let t = 310_500; t < 325_500; t += 100) {
      ms.set(t);
      const s = b.pick()!;
      if (s.id === 'A') probes.push(t);
      b.release(s, s.id === 'A');
    }
    expect(probes).toEqual([314_000, 318_000, 322_000]);
  });

  it('stream failover timeline of §4.3: P max_fails=3 fail_timeout=3s, B backup, one session every 0.2 s', () => {
    const ms = new ManualClock(793_717);
    const b = new Balancer({
      servers: [
        { id: 'P', address: '127.0.0.1:20001', maxFails: 3, failTimeout: 3000 },
        { id: 'B', address: '127.0.0.1:20002', backup: true },
      ],
      clock: wholeSeconds(ms.now),
    });
    const listeningFrom = 803_173;
    const sessions: string[] = [];
    for (let t = 793_717; t < 808_000; t += 200) {
      ms.set(t);
      const a = b.attempt();
      const steps: string[] = [];
      for (let s = a.next(); s !== undefined; s = a.next()) {
        if (s.id === 'P' && t < listeningFrom) {
          steps.push('P!');
          a.fail();
        } else {
          steps.push(s.id);
          a.connected();
          a.release();
          break;
        }
      }
      if (steps[0] === 'P!' || steps[0] === 'P') sessions.push(`${(t / 1000).toFixed(3)} ${steps.join(',')}`);
    }
    expect(sessions).toEqual([
      '793.717 P!,B', '793.917 P!,B', '794.117 P!,B',
      '798.117 P!,B', '802.117 P!,B',
      // P listens from 803.173; the probe at 806.117 connects, then P serves every session
      ...Array.from({ length: 10 }, (_, k) => `${((806_117 + 200 * k) / 1000).toFixed(3)} P`),
    ]);
  });
});

describe('weighted recovery (§2.9 last row)', () => {
  it('A weight=6 max_fails=3, first two connections fail; B: exact sequence and effective weights', () => {
    const clock = new ManualClock(1_000_000);
    const b = new Balancer({
      servers: [{ id: 'A', address: 'a:1', weight: 6, maxFails: 3 }, { id: 'B', address: 'b:1' }],
      clock: clock.now,
    });
    const A = b.get('A')!;
    const seq: string[] = [];
    const eff: number[] = [];
    for (let k = 0; k < 16; k++) {
      const a = b.attempt();
      const steps: string[] = [];
      for (let s = a.next(); s !== undefined; s = a.next()) {
        if (s.id === 'A' && k < 2) {
          steps.push('A!');
          a.fail();
        } else {
          steps.push(s.id);
          a.release();
          break;
        }
      }
      seq.push(steps.join(','));
      eff.push(A.effectiveWeight);
    }
    expect(seq.join(' ')).toBe('A!,B A!,B B A A A A B A A A A A A B A');
    // 6 - 6 div 3 = 4; the next round adds 1 (5) before the second failure takes 2 (3); then +1 per
    // round in which A is eligible, up to its weight.
    expect(eff).toEqual([4, 3, 4, 5, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6]);
    // two failures < max_fails and no post-window selection: fails stay at 2 (they never expire by time)
    expect(A.fails).toBe(2);
    expect(A.state).toBe('up');
  });
});

describe('stream connect rule (§2.6)', () => {
  function setupConnect() {
    const clock = new ManualClock(1_000_000);
    const b = new Balancer({
      servers: [{ id: 'A', address: 'a:1', maxFails: 2, failTimeout: 10_000 }, { id: 'B', address: 'b:1', backup: true }],
      clock: clock.now,
    });
    return { clock, b, A: b.get('A')! };
  }

  it('connected() clears fails after a post-window selection, before the session ends', () => {
    const { clock, b, A } = setupConnect();
    b.release(b.pick()!, true);
    b.release(b.pick()!, true);
    expect([A.fails, A.state]).toEqual([2, 'unavail']);
    clock.set(1_011_000);
    const a = b.attempt();
    expect(a.next()!.id).toBe('A');
    expect(A.fails).toBe(2);
    a.connected();
    expect([A.fails, A.state]).toEqual([0, 'up']);
    // a long session: others are served by A meanwhile
    const other = b.pick()!;
    expect(other.id).toBe('A');
    b.release(other);
    a.release();
    expect([A.fails, A.conns]).toEqual([0, 0]);
  });

  it('connected() without a post-window selection does not clear fails', () => {
    const { clock, b, A } = setupConnect();
    b.release(b.pick()!, true);
    expect(A.fails).toBe(1);
    clock.set(1_005_000);
    const a = b.attempt();
    expect(a.next()!.id).toBe('A');
    a.connected();
    expect(A.fails).toBe(1);
    a.release();
    expect(A.fails).toBe(1);
    // a second, post-window selection is needed
    clock.set(1_011_000);
    const a2 = b.attempt();
    expect(a2.next()!.id).toBe('A');
    a2.connected();
    expect(A.fails).toBe(0);
    a2.release();
  });

  it('a connection established before a failure does not clear it', () => {
    const { clock, b, A } = setupConnect();
    clock.set(1_011_000);
    const early = b.attempt();
    expect(early.next()!.id).toBe('A');
    early.connected();
    b.release(b.pick()!, true); // another session fails on A in the meantime
    expect(A.fails).toBe(1);
    early.connected();
    early.release();
    expect(A.fails).toBe(1);
  });

  it('a probe that connects and then fails (e.g. upstream TLS) counts one failure again', () => {
    const { clock, b, A } = setupConnect();
    b.release(b.pick()!, true);
    b.release(b.pick()!, true);
    clock.set(1_011_000);
    const a = b.attempt();
    a.next();
    a.connected();
    expect(A.fails).toBe(0);
    a.fail();
    expect([A.fails, A.state]).toEqual([1, 'up']);
  });
});
