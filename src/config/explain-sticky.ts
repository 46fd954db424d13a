/**
 * The `sticky` directive in words for explain (nginx 1.30, ngx_http_upstream_sticky_module.c and
 * `ngx_http_upstream_get_rr_peer_by_sid` in ngx_http_upstream_round_robin.c): which cookie or
 * variables carry the session id, what the response sets, learn's zone and timeout, and how a
 * session meets `drain`, `down`, failures, `max_conns` and retries; and the findings about them
 * (`drain` or `route=` without `sticky`, `sticky` disabled by a later balancing directive).
 */

import type { StickyConfig } from '../sticky/types';
import type { Finding } from './findings';
import { describeMs, formatSeconds } from './time';
import type { UpstreamConfig } from './types';

/** What a session id does when a request carries one (the same for the three modes). */
const HONOURED =
  'the request goes to the server with that session id if it is usable (not down, not failed, not at max_conns, not already tried by this request; a draining server still counts as usable), else the balancing method chooses';

const list = (names: readonly string[]): string => (names.length === 1 ? names[0]! : `the first non-empty of ${names.join(', ')}`);

function sizeWords(bytes: number): string {
  if (bytes % 1048576 === 0) return `${bytes / 1048576} MB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KB`;
  return `${bytes} bytes`;
}

/** The cookie's attributes as nginx writes them in its Set-Cookie header. */
function cookieAttributes(c: Extract<StickyConfig, { mode: 'cookie' }>): string {
  const parts: string[] = [];
  if (c.expires === undefined) parts.push('a session cookie (no expires)');
  else if (c.expires === 'max') parts.push('expires=Thu, 31-Dec-37 23:55:55 GMT; max-age=315360000');
  else parts.push(`expires in ${formatSeconds(c.expires)} (expires= and max-age=${c.expires})`);
  if (c.domain !== undefined) parts.push(`domain=${c.domain}`);
  if (c.path !== undefined) parts.push(`path=${c.path}`);
  if (c.samesite !== undefined) parts.push(`samesite=${c.samesite}`);
  if (c.secure) parts.push('secure');
  if (c.httponly) parts.push('httponly');
  return parts.join('; ');
}

/**
 * `sticky` in words; `draining`: the upstream has a server in `drain`.
 *
 * @example
 * ```ts
 * stickyWords({ mode: 'route', variables: ['$arg_route'] }, false);
 * // 'route: $arg_route names a server by its session id (route= or the MD5 of its address); ...'
 * ```
 */
export function stickyWords(sticky: StickyConfig, draining: boolean): string {
  let words: string;
  if (sticky.mode === 'cookie') {
    words =
      `cookie "${sticky.name}": a request carrying it names a server by its session id (route= or the MD5 of its address): ${HONOURED}; ` +
      `a response from a server whose id differs from the cookie (or without one) sets ${sticky.name}=<that server's id>, ${cookieAttributes(sticky)}`;
  } else if (sticky.mode === 'route') {
    words = `route: ${list(sticky.variables)} names a server by its session id (route= or the MD5 of its address): ${HONOURED}; nothing is set in the response`;
  } else {
    words =
      `learn: ${list(sticky.lookup)} of a request is looked up in zone "${sticky.zone.name}" (${sizeWords(sticky.zone.size)}); a known session names its server: ${HONOURED}; ` +
      `${sticky.header ? 'when the response header arrives' : 'when the request ends'}, ${list(sticky.create)} (from the response) is remembered as a session of the server that answered; ` +
      `a session unused for ${describeMs(sticky.timeout)} is forgotten, and when the zone is full the oldest sessions go first`;
  }
  if (draining) words += '; draining servers take only requests whose session names them, never a new session';
  return words;
}

/**
 * Findings about sessions: `drain` without `sticky` (the server then takes nothing at all, as if
 * `down`), `route=` without `sticky` (no request can name it), and a `sticky` that a balancing
 * directive after it disabled.
 */
export function stickyFindings(u: UpstreamConfig): Finding[] {
  const out: Finding[] = [];
  const at = `${u.file}:${u.line}`;
  const replaced = u.warnings.find((w) => w.kind === 'note' && w.reason.endsWith('put "sticky" after the balancing method'));
  if (replaced) {
    out.push({
      id: 'sticky-disabled',
      title: `upstream "${u.name}": sticky does nothing (${replaced.file}:${replaced.line})`,
      detail: `${replaced.reason}. nginx accepts the configuration with only the [warn] "load balancing method redefined".`,
    });
  }
  if (u.sticky !== undefined) return out;
  const draining = u.options.servers.filter((s) => s.drain && !s.down);
  if (draining.length > 0) {
    out.push({
      id: 'drain-without-sticky',
      title: `upstream "${u.name}" (${at}): ${draining.map((s) => s.address).join(', ')} drain${draining.length === 1 ? 's' : ''} with no sticky sessions`,
      detail: 'A draining server takes only requests whose sticky session names it; without an active sticky directive no request names it, so it takes no traffic at all, like down.',
    });
  }
  if (u.options.servers.some((s) => (s as { route?: string }).route !== undefined)) {
    out.push({
      id: 'route-without-sticky',
      title: `upstream "${u.name}" (${at}): route= without sticky sessions`,
      detail: 'route= sets the session id a sticky cookie, route or learned session names a server by; without an active sticky directive nothing uses it.',
    });
  }
  return out;
}
