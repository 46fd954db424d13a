/**
 * Regression tests for Balancer bugs found by the property / differential tests and reported to the
 * lead. While a bug is open its flag in test/reference/known-bugs.ts is true and the test runs as
 * `it.fails` (it passes only while the bug is there); once src/ is fixed the test fails, and the
 * flag must be set to false, which turns it into a normal test and re-enables the case in the
 * random tests.
 */

import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock } from '../../src/clock';
import { KNOWN_BUGS } from '../reference/known-bugs';

const when = (open: boolean) => (open ? it.fails : it);

describe('known bugs', () => {
  when(KNOWN_BUGS.singleModeFreeEmitsNoState)('single mode: the free that zeroes fails commits the state change (unavail -> up)', () => {
    const clock = new ManualClock(1_000_000);
    const b = new Balancer({ servers: [{ id: 'A', address: 'a:1' }, { id: 'B', address: 'b:1' }], clock: clock.now });
    const events: string[] = [];
    b.on('state', (s, from, to, cause) => events.push(`${s.id} ${from}->${to} ${cause}`));
    const s1 = b.pick()!;
    expect(s1.id).toBe('A');
    b.release(s1, true);
    expect(events).toEqual(['A up->unavail failure']);
    b.remove('B'); // one primary, no backup: single mode (§1.2), passive state ignored (§2.2)
    const s2 = b.pick()!;
    expect(s2.id).toBe('A');
    b.release(s2); // §2.3 single mode: fails := 0
    expect([s2.fails, s2.state]).toEqual([0, 'up']);
    expect(events).toEqual(['A up->unavail failure', 'A unavail->up recovery']);
  });
});
