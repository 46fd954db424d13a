/**
 * The hinted server of a get: nginx 1.30's `ngx_http_upstream_get_rr_peer_by_sid`
 * (src/http/ngx_http_upstream_round_robin.c), which every method's get calls first (round robin's
 * single-server mode and `ngx_http_upstream_get_peer`, least_conn, hash, consistent hash, ip_hash,
 * random and random two; docs/nginx-semantics.md §2.10).
 *
 * The request's hint (a session id: a sticky cookie's value, a route) is looked up in the request's
 * current tier only, and only its first server with that id counts (configuration order). That
 * server is refused, and the method chooses, when this request already tried it, when it is down
 * (`drain` is not down here: a draining server takes the requests that name it), inside its passive
 * failure window or at `maxConns`. An active-check verdict is not tested: nginx's lookup does not
 * test the check module's (the module's patch adds its test to the methods' loops only). Reads the
 * clock only for a server that has reached `maxFails`. O(1) after the tier's first lookup.
 */

import { BLOCK_CHECK, BLOCK_DRAIN } from '../tier';
import { gatedOut } from './available';
import { type RequestState, isTried } from './request';

/** The gate bits a hinted server is tested on: everything but draining and a check verdict. */
const HINT_IGNORES = ~(BLOCK_DRAIN | BLOCK_CHECK);

/**
 * The index in `r.tier` of the server the request's hint names, when it may take the request now,
 * else -1. Sets `r.fromHint` when it returns one.
 *
 * @example
 * const st = hintedServer(r);
 * if (st >= 0) return st; // least_conn, hash, ...: the hinted server without a round
 */
export function hintedServer(r: RequestState): number {
  const hint = r.hint;
  if (hint === null) return -1;
  const t = r.tier;
  const i = t.indexOfSid(hint);
  if (i < 0 || isTried(r, i)) return -1;
  const g = t.gate[i]! & HINT_IGNORES;
  if (g !== 0 && gatedOut(r, t, i, g)) return -1;
  r.fromHint = true;
  return i;
}
