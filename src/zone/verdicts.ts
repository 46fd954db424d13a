/**
 * The zone's `checks` table (zone/layout.ts): per stable slot, the active-check verdict
 * (nginx_upstream_check_module's rise/fall state, health/rise-fall.ts), the check counters and the
 * server's last committed state, so that every thread reads the verdict the owner thread applied
 * and a `state` event fires once per transition, in the thread that makes it. Pure data access:
 * callers hold the zone's lock.
 */

import type { RiseFallState } from '../health/rise-fall';
import type { ServerRecord, ServerState } from '../server';
import {
  CHECK_COMMITTED, CHECK_DOWN, CHECK_FAILED, CHECK_FALL, CHECK_FLAGS, CHECK_PASSED, CHECK_PENDING, CHECK_RISE, CHECK_WORDS, HAS_CHECK,
} from './layout';

/** `ServerState`s by number (the committed-state word). */
const SERVER_STATES: readonly ServerState[] = ['up', 'down', 'draining', 'unavail', 'checking', 'unhealthy'];

/** The verdict of `slot`, or null when the server has none. */
export function readVerdict(checks: Int32Array, slot: number): RiseFallState | null {
  const at = slot * CHECK_WORDS;
  const flags = checks[at + CHECK_FLAGS]!;
  if ((flags & HAS_CHECK) === 0) return null;
  return { down: (flags & CHECK_DOWN) !== 0, pending: (flags & CHECK_PENDING) !== 0, rise: checks[at + CHECK_RISE]!, fall: checks[at + CHECK_FALL]! };
}

/** The verdict and counters of `slot` into `rec` (its verdict object reused), and its last committed state when `committed`. */
export function loadVerdict(checks: Int32Array, slot: number, rec: ServerRecord, committed: boolean): void {
  const at = slot * CHECK_WORDS;
  const flags = checks[at + CHECK_FLAGS]!;
  if ((flags & HAS_CHECK) === 0) rec.check = null;
  else {
    const k = (rec.check ??= { down: false, pending: false, rise: 0, fall: 0 });
    k.down = (flags & CHECK_DOWN) !== 0;
    k.pending = (flags & CHECK_PENDING) !== 0;
    k.rise = checks[at + CHECK_RISE]!;
    k.fall = checks[at + CHECK_FALL]!;
  }
  rec.checksPassed = checks[at + CHECK_PASSED]!;
  rec.checksFailed = checks[at + CHECK_FAILED]!;
  if (committed) rec.lastState = committedState(checks, slot);
}

/** Publishes `rec`'s verdict, counters and last committed state at `slot`. */
export function storeVerdict(checks: Int32Array, slot: number, rec: ServerRecord): void {
  const at = slot * CHECK_WORDS;
  const k = rec.check;
  checks[at + CHECK_FLAGS] = k === null ? 0 : HAS_CHECK | (k.down ? CHECK_DOWN : 0) | (k.pending ? CHECK_PENDING : 0);
  checks[at + CHECK_RISE] = k === null ? 0 : k.rise;
  checks[at + CHECK_FALL] = k === null ? 0 : k.fall;
  checks[at + CHECK_PASSED] = rec.checksPassed;
  checks[at + CHECK_FAILED] = rec.checksFailed;
  storeCommitted(checks, slot, rec.lastState);
}

/** The last state committed for `slot` (an event was emitted for it, by any thread). */
export function committedState(checks: Int32Array, slot: number): ServerState {
  return SERVER_STATES[checks[slot * CHECK_WORDS + CHECK_COMMITTED]!]!;
}

export function storeCommitted(checks: Int32Array, slot: number, state: ServerState): void {
  checks[slot * CHECK_WORDS + CHECK_COMMITTED] = SERVER_STATES.indexOf(state);
}
