/**
 * Applying active-check verdicts to a server (nginx_upstream_check_module's
 * `ngx_http_upstream_check_status_update`, docs/nginx-semantics.md §7.3): one result feeds the
 * server's rise/fall counter, and a flip sets or clears the server's check-down bit in its tier, so
 * that every selection round sees it. The scheduler (checker.ts) and `Balancer.reportCheck` both
 * come here. Pure: no timers, no I/O.
 */

import type { ResolvedCheck } from '../options';
import type { ServerRecord } from '../server';
import { BLOCK_CHECK } from '../tier';
import { type RiseFallState, initialRiseFall, observeCheck } from './rise-fall';

/**
 * Sets `rec`'s verdict exactly (a cluster worker adopting the primary's, src/cluster/), setting or
 * clearing the server's check-down bit when the verdict differs from the one it had.
 */
export function restoreVerdict(rec: ServerRecord, state: RiseFallState): void {
  const was = rec.check?.down ?? false;
  rec.check = { down: state.down, pending: state.pending, rise: state.rise, fall: state.fall };
  const t = rec.tier;
  if (t === null || was === state.down) return;
  const i = rec.index;
  t.blocked[i] = state.down ? t.blocked[i]! | BLOCK_CHECK : t.blocked[i]! & ~BLOCK_CHECK;
  t.refreshGate(i);
}

/**
 * Feeds one check result for `rec` (checks configured as `check`, or reported from outside without
 * them: the module's defaults rise=2 fall=5 then apply). Returns true when the verdict flipped.
 */
export function applyCheckResult(rec: ServerRecord, ok: boolean, check: ResolvedCheck | undefined): boolean {
  if (rec.check === null) rec.check = initialRiseFall(false);
  if (ok) rec.checksPassed += 1;
  else rec.checksFailed += 1;
  const rise = rec.check.pending && check !== undefined ? check.initialRise : check?.rise ?? 2;
  const flipped = observeCheck(rec.check, ok, rise, check?.fall ?? 5);
  if (flipped) {
    const t = rec.tier!;
    const i = rec.index;
    if (rec.check.down) t.blocked[i] = t.blocked[i]! | BLOCK_CHECK;
    else t.blocked[i] = t.blocked[i]! & ~BLOCK_CHECK;
    t.refreshGate(i);
  }
  return flipped;
}
