/**
 * The learn mode's session store (src/sticky/session-store.ts): lookup, learn (create, refresh,
 * reuse for another sid, ignore), `timeout` expiry on an injected clock, eviction of the least
 * recently learned session when full, and the zone capacities measured on nginx 1.30.4 (a stock
 * build on x86_64 Linux: sessions created one by one until the error log said "could not allocate
 * node in sticky session zone ..., expiring least recently used session").
 */

import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock';
import { InvalidOptionError } from '../../src/errors';
import { SessionStore, zoneCapacity } from '../../src/sticky/session-store';

function store(capacity = 3, timeout = 1000) {
  const clock = new ManualClock(5_000);
  return { clock, s: new SessionStore({ capacity, timeout, clock: clock.now }) };
}

describe('zoneCapacity', () => {
  it('nginx 1.30.4: 32k → 80, 64k → 208, 1m → 4032 sessions; a 41-byte zone name → 96 in 32k', () => {
    expect(zoneCapacity(32 * 1024, 'z')).toBe(80);
    expect(zoneCapacity(64 * 1024, 'z')).toBe(208);
    expect(zoneCapacity(1024 * 1024, 'z')).toBe(4032);
    expect(zoneCapacity(32 * 1024, 'averyveryverylongzonenamethatisfortychars')).toBe(96);
  });

  it('the log context shares a page with sessions past 101 bytes of name, and with the tree header from 38', () => {
    expect(zoneCapacity(32 * 1024, 'n'.repeat(37))).toBe(80);
    expect(zoneCapacity(32 * 1024, 'n'.repeat(38))).toBe(96);
    expect(zoneCapacity(32 * 1024, 'n'.repeat(101))).toBe(96);
    expect(zoneCapacity(32 * 1024, 'n'.repeat(102))).toBe(95);
  });

  it('rejects a zone under 32k (nginx: "zone is too small")', () => {
    expect(() => zoneCapacity(32 * 1024 - 1, 'z')).toThrow(InvalidOptionError);
    expect(() => zoneCapacity(Number.NaN, 'z')).toThrow(/at least 32768 bytes/);
  });
});

describe('SessionStore', () => {
  it('creates only with create, refreshes, reuses for another sid', () => {
    const { s } = store();
    expect(s.learn('u1', 'sidA', false)).toBe('ignored');
    expect(s.lookup('u1')).toBeUndefined();
    expect(s.learn('u1', 'sidA', true)).toBe('created');
    expect(s.lookup('u1')).toBe('sidA');
    expect(s.learn('u1', 'sidA', false)).toBe('refreshed');
    expect(s.learn('u1', 'sidB', false)).toBe('reused');
    expect(s.lookup('u1')).toBe('sidB');
    expect(s.learn('u1', 'sidA', true)).toBe('reused');
    expect(s.lookup('u1')).toBe('sidA');
  });

  it('expires a session at last + timeout; lookups do not refresh, learning does', () => {
    const { s, clock } = store(3, 1000);
    s.learn('u1', 'A', true); // last 5000
    clock.advance(600);
    s.learn('u2', 'B', true); // last 5600
    clock.advance(399); // 5999
    expect(s.lookup('u1')).toBe('A');
    clock.advance(1); // 6000 = 5000 + 1000
    expect(s.lookup('u1')).toBeUndefined();
    expect(s.lookup('u2')).toBe('B');
    s.learn('u2', 'B', false); // refreshed at 6000
    clock.advance(999); // 6999
    expect(s.lookup('u2')).toBe('B');
    clock.advance(1);
    expect(s.lookup('u2')).toBeUndefined();
    expect(s.stats()).toEqual({ sessions: 0, capacity: 3, evicted: 0, expired: 2 });
  });

  it('a full store evicts the least recently learned session (the first of equal times)', () => {
    const { s, clock } = store(3, 10_000);
    s.learn('u1', 'A', true);
    s.learn('u2', 'B', true); // same ms as u1: u1 is first
    clock.advance(1);
    s.learn('u3', 'A', true);
    clock.advance(1);
    s.learn('u1', 'A', false); // u1 refreshed: u2 is now the oldest
    expect(s.learn('u4', 'B', true)).toBe('created');
    expect([s.lookup('u1'), s.lookup('u2'), s.lookup('u3'), s.lookup('u4')]).toEqual(['A', undefined, 'A', 'B']);
    expect(s.learn('u5', 'A', true)).toBe('created'); // evicts u3
    expect([s.lookup('u1'), s.lookup('u3'), s.lookup('u4'), s.lookup('u5')]).toEqual(['A', undefined, 'B', 'A']);
    expect(s.stats()).toEqual({ sessions: 3, capacity: 3, evicted: 2, expired: 0 });
  });

  it('expired sessions make room before any eviction', () => {
    const { s, clock } = store(2, 100);
    s.learn('u1', 'A', true);
    clock.advance(50);
    s.learn('u2', 'B', true);
    clock.advance(50); // u1 expires now
    s.learn('u3', 'A', true);
    expect(s.stats()).toEqual({ sessions: 2, capacity: 2, evicted: 0, expired: 1 });
    expect(s.lookup('u2')).toBe('B');
  });

  it('a clock that steps back counts as its last reading', () => {
    let now = 5000;
    const s = new SessionStore({ capacity: 2, timeout: 100, clock: () => now });
    s.learn('u1', 'A', true); // 5000
    now = 4000;
    s.learn('u2', 'B', true); // counted at 5000
    now = 5099;
    expect(s.lookup('u2')).toBe('B');
    now = 5100;
    expect(s.lookup('u1')).toBeUndefined();
    expect(s.lookup('u2')).toBeUndefined();
  });

  it('keys by the id exactly (case and length matter)', () => {
    const { s } = store();
    s.learn('Abc', 'A', true);
    expect(s.lookup('abc')).toBeUndefined();
    expect(s.lookup('Abc')).toBe('A');
    const long = 'x'.repeat(100_000);
    s.learn(long, 'B', true);
    expect(s.lookup(long)).toBe('B');
    expect(s.lookup(long + 'y')).toBeUndefined();
  });

  it('rejects bad options with typed errors', () => {
    expect(() => new SessionStore({ capacity: 0 })).toThrow(InvalidOptionError);
    expect(() => new SessionStore({ capacity: 1, timeout: 0 })).toThrow(/invalid timeout/);
    expect(() => new SessionStore({ capacity: 1, clock: 5 as never })).toThrow(InvalidOptionError);
  });
});
