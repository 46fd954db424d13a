/**
 * Attempt lifecycle and misuse (nginx's per-request get / notify / free, docs/nginx-semantics.md §1.3,
 * §2.2-2.3, §4.1). Misuse throws AttemptStateError (code ERR_UPSTREAM_ATTEMPT_STATE) and leaves
 * every counter of the balancer as it was: `snapshot()` before and after are equal.
 */

import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock } from '../../src/clock';
import { AttemptStateError, isUpstreamError } from '../../src/errors';
import type { ServerOptions } from '../../src/options';

const servers: ServerOptions[] = [
  { id: 'A', address: '10.0.0.1:25', weight: 2, maxFails: 2 },
  { id: 'B', address: '10.0.0.2:25' },
  { id: 'C', address: '10.0.0.3:25', backup: true },
];

function setup(list = servers, tries = 0) {
  const clock = new ManualClock(1_000_000);
  return { clock, b: new Balancer({ servers: list, clock: clock.now, tries }) };
}

/** Expects `f` to throw AttemptStateError without changing the balancer's snapshot. */
function misuse(b: Balancer, f: () => unknown): AttemptStateError {
  const before = JSON.stringify(b.snapshot());
  let error: unknown;
  try {
    f();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(AttemptStateError);
  expect(isUpstreamError(error)).toBe(true);
  expect((error as AttemptStateError).code).toBe('ERR_UPSTREAM_ATTEMPT_STATE');
  expect(JSON.stringify(b.snapshot())).toBe(before);
  return error as AttemptStateError;
}

describe('attempt misuse', () => {
  it('fail(), release() or connected() before next()', () => {
    const { b } = setup();
    const a = b.attempt();
    misuse(b, () => a.fail());
    misuse(b, () => a.release());
    misuse(b, () => a.connected());
    // the attempt is still usable
    expect(a.next()!.id).toBe('A');
  });

  it('next() while a server is current names it', () => {
    const { b } = setup();
    const a = b.attempt();
    a.next();
    const e = misuse(b, () => a.next());
    expect(e.value).toBe('A');
    expect(a.current!.id).toBe('A');
    a.release();
  });

  it('release() twice; fail() after release()', () => {
    const { b } = setup();
    const a = b.attempt();
    a.next();
    a.release();
    expect(b.get('A')!.conns).toBe(0);
    misuse(b, () => a.release());
    misuse(b, () => a.fail());
    misuse(b, () => a.connected());
  });

  it('fail() twice', () => {
    const { b } = setup();
    const a = b.attempt();
    a.next();
    a.fail();
    expect(b.get('A')!.fails).toBe(1);
    misuse(b, () => a.fail());
    expect(b.get('A')!.fails).toBe(1);
  });

  it('next() after the attempt finished: released, no live upstreams, or out of tries', () => {
    const { b } = setup();
    const a = b.attempt();
    a.next();
    a.release();
    expect(a.finished).toBe(true);
    misuse(b, () => a.next());

    const { b: b2 } = setup([{ id: 'A', address: 'a:1', down: true }, { id: 'B', address: 'b:1', down: true }]);
    const a2 = b2.attempt();
    expect(a2.next()).toBeUndefined();
    expect(a2.finished).toBe(true);
    misuse(b2, () => a2.next());

    const { b: b3 } = setup(servers, 1);
    const a3 = b3.attempt();
    a3.next();
    a3.fail();
    expect(a3.next()).toBeUndefined();
    misuse(b3, () => a3.next());
  });

  it('one-shot release() of a server with no connection handed out', () => {
    const { b } = setup();
    const s = b.pick()!;
    b.release(s);
    const e = misuse(b, () => b.release(s));
    expect(e.value).toBe('A');
    misuse(b, () => b.release(b.get('B')!, true));
  });
});

describe('attempt lifecycle', () => {
  it('tries = non-down primaries + non-down backups (§4.1), capped by the tries option', () => {
    const list: ServerOptions[] = [...servers, { id: 'D', address: 'd:1', down: true }, { id: 'E', address: 'e:1', backup: true, down: true }];
    expect(setup(list).b.attempt().tries).toBe(3);
    expect(setup(list, 2).b.attempt().tries).toBe(2);
    expect(setup(list, 9).b.attempt().tries).toBe(3);
  });

  it('every free decrements tries; a request stops at 0 with 502 semantics (§4.1)', () => {
    const { b } = setup(servers, 2);
    const a = b.attempt();
    expect(a.next()!.id).toBe('A');
    a.fail();
    expect(a.tries).toBe(1);
    expect(a.next()!.id).toBe('B');
    a.fail();
    expect(a.tries).toBe(0);
    expect(a.next()).toBeUndefined();
    expect(a.finished).toBe(true);
    // C (the backup) was never reached
    expect(b.get('C')!.conns).toBe(0);
  });

  it('a failed attempt moves to the backup tier once the primaries are used up, and stays there (§3.1)', () => {
    const { b } = setup();
    const a = b.attempt();
    const got: string[] = [];
    for (let s = a.next(); s !== undefined; s = a.next()) {
      got.push(s.id);
      a.fail();
    }
    expect(got).toEqual(['A', 'B', 'C']);
    expect(b.servers.map((s) => [s.id, s.conns, s.fails])).toEqual([['A', 0, 1], ['B', 0, 1], ['C', 0, 1]]);
  });

  it('single mode (§2.2-2.3): no retry after a failure, fails never accumulate', () => {
    const { b } = setup([{ id: 'A', address: 'a:1', maxFails: 1 }]);
    const a = b.attempt();
    expect(a.tries).toBe(1);
    a.next();
    a.fail();
    expect([b.get('A')!.fails, b.get('A')!.state, a.tries]).toEqual([0, 'up', 0]);
    expect(a.next()).toBeUndefined();
    expect(b.pick()!.id).toBe('A');
  });

  it('current is the server handed out and not yet freed', () => {
    const { b } = setup();
    const a = b.attempt();
    expect(a.current).toBeUndefined();
    const s = a.next()!;
    expect(a.current).toBe(s);
    a.fail();
    expect(a.current).toBeUndefined();
  });

  it('connected() may be called more than once; it does not free the server', () => {
    const { b } = setup();
    const a = b.attempt();
    a.next();
    a.connected();
    a.connected();
    expect(b.get('A')!.conns).toBe(1);
    a.release();
    expect(b.get('A')!.conns).toBe(0);
  });

  it('the servers view and get() return the same live objects', () => {
    const { b } = setup();
    const s = b.pick()!;
    expect(b.get('A')).toBe(s);
    expect(b.servers[0]).toBe(s);
    expect(s.conns).toBe(1);
    b.release(s, true);
    expect([s.conns, s.fails]).toEqual([0, 1]);
  });
});
