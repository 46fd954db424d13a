/**
 * Issue 14, item 13: state that must tell the truth under membership changes and bad clocks.
 * - an attempt is never given a server twice, whatever tier a change moves it to;
 * - a clock that steps back, throws or returns something else neither freezes a window for a year
 *   nor leaves a connection counted.
 * (Re-adding a server with connections open: balancer-runtime.test.ts.)
 */

import { afterEach, describe, expect, it, vi } from 'vitest';
import { Balancer } from '../../src/balancer';
import type { UpstreamError } from '../../src/errors';
import type { ServerOptions } from '../../src/options';

const srv = (id: string, extra: Partial<ServerOptions> = {}): ServerOptions => ({ id, address: `10.0.0.${id.length}:${1000 + id.charCodeAt(0)}`, maxFails: 0, ...extra });

/** Every server `a` is given until it finishes, failing each. */
function drain(a: ReturnType<Balancer['attempt']>): string[] {
  const out: string[] = [];
  for (let s = a.next(); s; s = a.next()) {
    out.push(s.id);
    a.fail();
  }
  return out;
}

describe('an attempt is never given a server twice across tier moves', () => {
  it('a tried primary moved to the backup tier is skipped there', () => {
    const b = new Balancer({ servers: [srv('A'), srv('B'), srv('C', { backup: true })], clock: () => 0 });
    const a = b.attempt();
    expect(a.next()!.id).toBe('A');
    a.fail();
    // A joins the backup tier with ten times C's weight: the backup round would pick it first
    b.update('A', { backup: true, weight: 10 });
    expect(a.next()!.id).toBe('B');
    a.fail();
    expect(a.next()!.id).toBe('C');
    a.fail();
    expect(a.next()).toBeUndefined();
    // a new attempt may have A again, on the backup tier
    expect(drain(b.attempt())).toEqual(['B', 'A', 'C']);
  });

  it('a request sent back to the primaries (its backup tier removed) skips the primaries it tried', () => {
    const b = new Balancer({ servers: [srv('A'), srv('B'), srv('K', { backup: true })], clock: () => 0 });
    const a = b.attempt();
    expect(a.next()!.id).toBe('A');
    a.fail();
    expect(a.next()!.id).toBe('B');
    a.fail();
    expect(a.next()!.id).toBe('K');
    b.remove('K'); // the backup tier is gone while K is current
    a.fail();
    expect(a.next()).toBeUndefined();
  });

  it('the same over 40 primaries (a bitmap tried set), each given once', () => {
    const ids = Array.from({ length: 40 }, (_, i) => `P${i}`);
    const b = new Balancer({ servers: [...ids.map((id) => srv(id)), srv('K', { backup: true })], clock: () => 0 });
    const a = b.attempt();
    const seen: string[] = [];
    for (let k = 0; k < 40; k++) {
      seen.push(a.next()!.id);
      a.fail();
    }
    expect([...seen].sort()).toEqual([...ids].sort());
    expect(a.next()!.id).toBe('K');
    b.remove('K');
    a.fail();
    expect(a.next()).toBeUndefined();
  });

  it('a tried server removed and added again (connection still open) is not given again', () => {
    const b = new Balancer({ servers: [srv('A'), srv('B'), srv('C')], clock: () => 0 });
    const a = b.attempt();
    expect(a.next()!.id).toBe('A');
    b.remove('A');
    b.add(srv('A', { weight: 5 }));
    a.fail();
    expect(drain(a)).toEqual(['B', 'C']);
  });
});

describe('an attempt is never given a server twice: by id, and in single-server mode', () => {
  it('a tried server removed (its connection freed) and added again is a new server, but not to this attempt', () => {
    const b = new Balancer({ servers: [srv('A'), srv('B'), srv('C')], clock: () => 0 });
    const a = b.attempt();
    expect(a.next()!.id).toBe('A');
    a.fail();
    b.remove('A');
    const again = b.add(srv('A', { weight: 5 }));
    expect(again.conns).toBe(0);
    expect(drain(a)).toEqual(['B', 'C']);
    expect(b.attempt().next()!.id).toBe('A'); // a new attempt may have it
  });

  it('a change that leaves one server (single-server mode) does not give it again to an attempt that tried it', () => {
    const b = new Balancer({ servers: [srv('A'), srv('B')], clock: () => 0 });
    const a = b.attempt();
    expect(a.next()!.id).toBe('A');
    a.fail();
    b.remove('B');
    expect(a.next()).toBeUndefined();
    const fresh = b.attempt();
    expect(fresh.next()!.id).toBe('A');
    fresh.release();
  });
});

describe('clocks that misbehave', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('a step back (the system time set back a year) pauses time: the window still lasts fail_timeout', () => {
    let now = 1_700_000_000_000;
    const b = new Balancer({ servers: [srv('A', { maxFails: 1, failTimeout: 10_000 }), srv('B')], clock: () => now });
    const a = b.attempt();
    expect(a.next()!.id).toBe('A');
    a.fail();
    now -= 365 * 24 * 3600 * 1000;
    const picked: string[] = [];
    const pickTwice = () => {
      for (let k = 0; k < 2; k++) {
        const s = b.pick()!;
        picked.push(s.id);
        b.release(s);
      }
    };
    pickTwice(); // reads the clock: the step is seen here and taken out
    expect(b.get('A')!.state).toBe('unavail');
    // 10,000 ms later: still inside the window (measured from the failure, the step taken out)
    now += 10_000;
    pickTwice();
    expect(picked).toEqual(['B', 'B', 'B', 'B']);
    // 10,001 ms after the failure: A may be probed (nginx: now - checked > fail_timeout); its
    // effective weight, 0 since the failure, recovers over two rounds first
    now += 1;
    pickTwice();
    pickTwice();
    expect(picked.slice(4)).toEqual(['B', 'B', 'A', 'B']);
    expect(b.get('A')!.state).toBe('up');
  });

  it.each([
    ['NaN', () => NaN, 'got NaN'],
    ['a string', () => '1000' as unknown as number, 'got "1000"'],
    ['Infinity', () => Infinity, 'got Infinity'],
    ['undefined', () => undefined as unknown as number, 'got undefined'],
  ])('a clock returning %s is refused when the balancer is made', (_, clock, text) => {
    expect(() => new Balancer({ servers: [srv('A')], clock })).toThrow(
      expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION', message: `Expected \`clock\` to return a finite number of milliseconds, ${text}` }),
    );
  });

  it('a clock that throws is refused when the balancer is made', () => {
    const clock = () => {
      throw new Error('no time');
    };
    expect(() => new Balancer({ servers: [srv('A')], clock })).toThrow(
      expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION', message: 'Expected `clock` to return milliseconds, but it threw: Error: no time' }),
    );
  });

  it('a clock that throws inside fail(): the failure is recorded at the last good reading, conns go back to 0, a fault event follows', async () => {
    let now = 5_000;
    let broken = false;
    const clock = () => {
      if (broken) throw new Error('clock gone');
      return now;
    };
    const b = new Balancer({ servers: [srv('A', { maxFails: 1, failTimeout: 1_000 }), srv('B')], clock });
    const errors: UpstreamError[] = [];
    b.on('fault', (e) => errors.push(e));
    const a = b.attempt();
    expect(a.next()!.id).toBe('A');
    now = 6_000;
    broken = true;
    a.fail();
    expect(b.get('A')!.conns).toBe(0);
    expect(b.snapshot().servers[0]).toMatchObject({ fails: 1, checked: 5_000, accessed: 5_000 });
    expect(errors).toEqual([]); // reported after the operation, never inside it
    await Promise.resolve();
    expect(errors.map((e) => [e.code, e.message])).toEqual([
      ['ERR_UPSTREAM_CLOCK', 'The clock of upstream "upstream" threw (Error: clock gone); its last good reading was used'],
    ]);
    // more faults in the same turn: one event
    expect(a.next()!.id).toBe('B');
    a.release();
    broken = false;
    now = 6_001; // the window is measured from the last good reading, 5,000: A is probed again
    const picked: string[] = [];
    for (let k = 0; k < 3; k++) {
      const s = b.pick()!;
      picked.push(s.id);
      b.release(s);
    }
    // (A's effective weight went to 0 with the failure: two rounds of B while it recovers, then A)
    expect(picked).toEqual(['B', 'B', 'A']);
    expect(b.snapshot().servers[0]!.fails).toBe(0);
    await Promise.resolve();
    expect(errors).toHaveLength(1);
  });

  it('a clock that starts returning NaN: the last good reading is used; without a listener, one process warning', async () => {
    let reading = 1_000;
    const b = new Balancer({ servers: [srv('A', { maxFails: 1, failTimeout: 1_000 }), srv('B')], clock: () => reading });
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const a = b.attempt();
    expect(a.next()!.id).toBe('A');
    reading = NaN;
    a.fail();
    expect(b.snapshot().servers[0]).toMatchObject({ conns: 0, fails: 1, checked: 1_000 });
    await Promise.resolve();
    const s = b.pick()!; // A is still in its window at the last good reading
    expect(s.id).toBe('B');
    b.release(s);
    await Promise.resolve();
    expect(warn.mock.calls).toEqual([
      ['The clock of upstream "upstream" returned NaN; its last good reading was used', { code: 'ERR_UPSTREAM_CLOCK' }],
    ]);
  });
});
