/**
 * Rise/fall counter (src/health/rise-fall.ts) against docs/nginx-semantics.md §7.3: the module's
 * `ngx_http_upstream_check_status_update` rule, its vector, flapping, and the initial state.
 */
import { describe, expect, it } from 'vitest';
import { initialRiseFall, observeCheck, type RiseFallState } from '../../src/health/rise-fall';

/** Feeds a trace like "S S F" and returns one `down/rise/fall/flip` row per result. */
function run(state: RiseFallState, trace: string, rise: number, fall: number): string[] {
  return trace.split(' ').map((r) => {
    const flipped = observeCheck(state, r === 'S', rise, fall);
    return `${state.down ? 'down' : 'up'} ${state.rise} ${state.fall}${flipped ? ' flip' : ''}`;
  });
}

describe('rise/fall counter', () => {
  it('starts down with zero counters and pending by default (default_down=true)', () => {
    expect(initialRiseFall(true)).toEqual({ down: true, rise: 0, fall: 0, pending: true });
  });

  it('starts up, not pending, with default_down=false', () => {
    expect(initialRiseFall(false)).toEqual({ down: false, rise: 0, fall: 0, pending: false });
  });

  it('reproduces the §7.3 vector exactly (rise=2, fall=5, default_down=true)', () => {
    const s = initialRiseFall(true);
    // S -> down (rise 1); S -> up (rise 2); F -> up (fall 1); F,F,F -> up (fall 4);
    // S -> up (rise 1, fall 0); F x5 -> down at the 5th (fall 5); F -> down (fall 6);
    // S -> down (rise 1); S -> up.
    expect(run(s, 'S S F F F F S F F F F F F S S', 2, 5)).toEqual([
      'down 1 0',
      'up 2 0 flip',
      'up 0 1',
      'up 0 2',
      'up 0 3',
      'up 0 4',
      'up 1 0',
      'up 0 1',
      'up 0 2',
      'up 0 3',
      'up 0 4',
      'down 0 5 flip',
      'down 0 6',
      'down 1 0',
      'up 2 0 flip',
    ]);
  });

  it('keeps counting while already in the target state (counters are unbounded)', () => {
    const s = initialRiseFall(false);
    const rows = run(s, Array(60).fill('S').join(' '), 2, 5);
    expect(rows[57]).toBe('up 58 0');
    expect(rows.some((r) => r.endsWith('flip'))).toBe(false);
  });

  it('never flips while results alternate (flapping) and the thresholds are above 1', () => {
    const up = initialRiseFall(false);
    expect(run(up, 'F S F S F S F S', 2, 2)).toEqual([
      'up 0 1', 'up 1 0', 'up 0 1', 'up 1 0', 'up 0 1', 'up 1 0', 'up 0 1', 'up 1 0',
    ]);
    const down = initialRiseFall(true);
    expect(run(down, 'S F S F S F', 2, 2)).toEqual(['down 1 0', 'down 0 1', 'down 1 0', 'down 0 1', 'down 1 0', 'down 0 1']);
  });

  it('flips on every change with rise=1 fall=1', () => {
    const s = initialRiseFall(true);
    expect(run(s, 'S F S F', 1, 1)).toEqual(['up 1 0 flip', 'down 0 1 flip', 'up 1 0 flip', 'down 0 1 flip']);
  });

  it('ends pending at the first verdict: up after rise successes, unhealthy at the first failure', () => {
    const a = initialRiseFall(true);
    observeCheck(a, true, 2, 5);
    expect(a.pending).toBe(true); // still `checking`: one success of two
    observeCheck(a, true, 2, 5);
    expect(a).toEqual({ down: false, rise: 2, fall: 0, pending: false });

    const b = initialRiseFall(true);
    observeCheck(b, false, 2, 5);
    expect(b).toEqual({ down: true, rise: 0, fall: 1, pending: false });
  });

  it('a server that starts down needs `rise` consecutive successes: a failure in between restarts the count', () => {
    const s = initialRiseFall(true);
    expect(run(s, 'S S F S S S', 3, 5)).toEqual(['down 1 0', 'down 2 0', 'down 0 1', 'down 1 0', 'down 2 0', 'up 3 0 flip']);
  });
});
