/**
 * least_conn, exactly as nginx's `ngx_http_upstream_get_least_conn_peer` /
 * `ngx_stream_upstream_get_least_conn_peer` (docs/nginx-semantics.md §5.1).
 *
 * One pass over the request's tier finds the available server with the smallest conns/weight
 * ratio, compared by cross-multiplication (`conns[i] * weight[best] < conns[best] * weight[i]`, no
 * division, exact in doubles while conns * weight < 2^53); the first such server in config order
 * is the initial best. If other servers tie with it, a second pass from the best onwards runs one
 * smooth-WRR round among the tied servers only (current += effective, effective recovers by one,
 * strict `>` so ties of current weight go to the earliest, winner pays back the total); servers
 * that do not tie keep their current weight. Without a tie no weight changes at all.
 * Nothing available: the request switches once to the backup tier (clearing its tried set) and
 * runs least_conn there, as nginx recurses. A single-server upstream uses round robin's get.
 * Cost: O(n) per get (a second pass from the best onwards when there is a tie), no allocation;
 * the clock is read only for a server inside its failure count. This is the plain algorithm, the
 * specification; a fresh one-shot `pick()` takes the selector's shortcut instead
 * (least-conn-fresh.ts: one pass collecting the tied servers, the same answer under its
 * precondition, proved by test/property/least-conn-fresh.prop.test.ts).
 */

import type { Peers } from '../peers';
import { isAvailable } from './available';
import { hintedServer } from './hint';
import { type RequestState, fallBackToBackup, nowOf } from './request';
import { getRoundRobin } from './round-robin/index';
import { FreshLeastConn } from './least-conn-fresh';
import type { Selector, SelectorContext } from './selector';
import { swrrStep } from './swrr';

/**
 * nginx least_conn get for one attempt. Returns the index in `r.tier` (which may have switched to
 * the backup tier), or -1 (NGX_BUSY, "no live upstreams").
 *
 * @example
 * const b = new Balancer({ method: 'least-conn', servers: [{ address: 'x:1', weight: 2 }, { address: 'y:1' }] });
 * // connections held open: x y x y x x x y x (nginx-verified)
 */
function getLeastConn(p: Peers, r: RequestState): number {
  if (p.single && r.tier === p.primary) return getRoundRobin(p, r);
  const i = selectLeastConn(r);
  return i >= 0 || !fallBackToBackup(p, r) ? i : selectLeastConn(r);
}

/**
 * One least_conn selection on `r.tier`: the winner's index, or -1 when no server is available.
 * Updates current/effective weights only when there is a tie.
 *
 * @example
 * const i = selectLeastConn(request); // -1: fall back to the backup tier
 */
function selectLeastConn(r: RequestState): number {
  if (r.hint !== null) {
    const st = hintedServer(r); // nginx 1.30: taken as is, no weight changes
    if (st >= 0) return st;
  }
  const t = r.tier;
  const n = t.n;
  const { conns, weight, current, blocked, fails, maxFails, checked, failTimeout, maxConns } = t;
  const mask = r.mask;
  const bits = r.bits;
  let now = NaN;
  let best = -1;
  let many = false;
  let cb = 0;
  let wb = 0;
  for (let i = 0; i < n; i++) {
    // available: not tried, not blocked, not in its failure window, not at maxConns (inlined isAvailable)
    if (bits === null ? ((mask >>> i) & 1) !== 0 && i < 32 : ((bits[i >>> 5]! >>> (i & 31)) & 1) !== 0) continue;
    if (blocked[i] !== 0) continue;
    const f = fails[i]!;
    if (f !== 0) {
      const mf = maxFails[i]!;
      if (mf !== 0 && f >= mf) {
        if (now !== now) now = nowOf(r);
        if (now - checked[i]! <= failTimeout[i]!) continue;
      }
    }
    const c = conns[i]!;
    const mc = maxConns[i]!;
    if (mc !== 0 && c >= mc) continue;
    const w = weight[i]!;
    if (best < 0) {
      best = i;
      cb = c;
      wb = w;
      continue;
    }
    const lhs = c * wb;
    const rhs = cb * w;
    if (lhs < rhs) {
      best = i;
      cb = c;
      wb = w;
      many = false;
    } else if (lhs === rhs) {
      many = true;
    }
  }
  if (best < 0 || !many) return best;
  let total = 0;
  let win = best;
  let winCurrent = 0;
  for (let i = best; i < n; i++) {
    if (conns[i]! * wb !== cb * weight[i]!) continue;
    if (i !== best && !isAvailable(t, i, r)) continue;
    total += swrrStep(t, i);
    const c = current[i]!;
    if (i === best || c > winCurrent) {
      win = i;
      winCurrent = c;
    }
  }
  current[win] = winCurrent - total;
  return win;
}

/**
 * The least_conn method's selector: the plain get derives nothing from the tiers; a fresh one-shot
 * `pick()` goes through `FreshLeastConn` (least-conn-fresh.ts, the same answer under its stated
 * precondition), which keeps a large primary tier in an index by load (least-conn-index.ts).
 * `context`: its clock lets the shortcut test failure windows (without it, a tier with failures
 * recorded takes the plain get); its tuning sets the size from which the index is kept; in an
 * upstream zone (`shared`) there is no index.
 */
export class LeastConnSelector implements Selector {
  readonly shortcut: FreshLeastConn;

  constructor(context?: Pick<SelectorContext, 'clock' | 'tuning' | 'shared'>) {
    const indexFromServers = context === undefined || context.shared !== undefined ? 0 : context.tuning.leastConnIndexFromServers;
    this.shortcut = new FreshLeastConn({ clock: context?.clock ?? null, indexFromServers });
  }

  get(p: Peers, r: RequestState): number {
    return getLeastConn(p, r);
  }
  rebuilt(p: Peers): void {
    this.shortcut.rebuilt(p);
  }
  validate(): void {}
}
