/**
 * What an `upstream` block accepts differently in nginx 1.22 and 1.30 (the parse's `nginx`
 * target), outside the resolver's words (`resolve`, `service=`: resolve.ts) and `sticky`:
 * - the `drain` server flag: 1.30 has it in http upstreams (`ngx_http_upstream_server`, a peer
 *   marked draining: no new requests without sticky); 1.22 and stream say `invalid parameter`;
 * - the `route=` server parameter (http, 1.30): the route `sticky route` matches; at most 32
 *   bytes (`NGX_HTTP_UPSTREAM_SID_LEN`), not empty;
 * - `keepalive N [local]` (ngx_http_upstream_keepalive_module.c of 1.29.7+, commits 4fbe4b627,
 *   c5d36eac3, d787755d5): 0 is accepted (no cache), a second argument must be `local`, and the
 *   directive no longer takes over the balancing method's init, so a method after it is not
 *   "redefined". 1.22 takes exactly one positive number and counts as a balancing method.
 * The upstream module (upstream.ts) calls these; docs/nginx-compat.md lists the differences.
 */

import { FLAG_PARAMS, type FlagParam } from '../server-fields';
import type { Conf, UpsState } from './conf';
import { atoi } from './numbers';
import { targetOf } from './resolve';
import type { Statement, Token } from './tokenizer';

/** nginx 1.30's route length limit (`NGX_HTTP_UPSTREAM_SID_LEN`, an MD5 in hex). */
export const MAX_ROUTE_LENGTH = 32;

const FLAGS_122 = FLAG_PARAMS.filter((f) => f.notIn122 === undefined);
const FLAGS_130_STREAM = FLAG_PARAMS.filter((f) => !f.httpOnly);

/** The flags the `server` line of upstream `u` knows under the parse's target. */
export function serverFlags(cf: Conf, u: UpsState): readonly FlagParam[] {
  if (targetOf(cf) === '1.22') return FLAGS_122;
  return u.context === 'stream' ? FLAGS_130_STREAM : FLAG_PARAMS;
}

/**
 * `route=ID` on an http `server` line under the 1.30 target: 'taken' (valid: the caller keeps it as
 * the server's `route`, its session id), 'error' (reported), or 'no' (not this parameter).
 */
export function routeParameter(cf: Conf, st: Statement, tok: Token, u: UpsState): 'taken' | 'no' | 'error' {
  if (targetOf(cf) === '1.22' || u.context !== 'http' || !tok.text.startsWith('route=')) return 'no';
  const route = tok.text.slice('route='.length);
  if (route.length === 0) {
    cf.error('route is empty', cf.at(st), 'INVALID_PARAMETER', tok.text);
    return 'error';
  }
  if (Buffer.byteLength(route) > MAX_ROUTE_LENGTH) {
    cf.error(`route is longer than ${MAX_ROUTE_LENGTH}`, cf.at(st), 'INVALID_PARAMETER', tok.text);
    return 'error';
  }
  return 'taken';
}

/**
 * `keepalive N [local]` as nginx 1.30 reads it (the duplicate test done by the caller): any
 * number `ngx_atoi` takes, 0 included; `local` or nothing after it; the method's init untouched.
 */
export function keepaliveSince130(cf: Conf, st: Statement, u: UpsState, ka: { connections: number }): void {
  const [name, v, extra] = st.args;
  const n = atoi(v!.text);
  if (n === undefined) return cf.error(`invalid value "${v!.text}" in "${name!.text}" directive`, cf.at(st, v), 'INVALID_VALUE', v!.text);
  if (extra !== undefined && extra.text !== 'local') return cf.error(`invalid parameter "${extra.text}"`, cf.at(st, extra), 'INVALID_PARAMETER', extra.text);
  u.keepaliveSeen = true;
  ka.connections = Number(n);
}
