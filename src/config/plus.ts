/**
 * Names that belong to NGINX Plus (the commercial build) or to a newer open-source nginx than the
 * target: which directive or `server` parameter a `nginx -t` error is about, and the note that
 * says so ("valid in NGINX Plus, not in open-source nginx"). nginx's own message stays the error;
 * the note is added beside it by explain and the CLI.
 *
 * Sources: the NGINX Plus reference (nginx.org/en/docs: directives marked "commercial
 * subscription") and, for what open source gained, nginx 1.30.4's src/http/ngx_http_upstream.c
 * (`ngx_http_upstream_server`: `drain`, `route=`, `resolve`, `service=`),
 * src/http/modules/ngx_http_upstream_sticky_module.c (`sticky`, http only) and
 * ngx_http_upstream_zone_module.c (`resolver` inside `upstream`); 1.22.1 has none of them. Under
 * the 1.30 target `sticky` is parsed (sticky.ts); NGINX Plus's `sticky learn ... sync` stays a Plus name.
 */

import type { NginxTarget } from '../options';

/** A directive or parameter: in which open-source nginx it exists, if any, and where. */
interface PlusName {
  /** The open-source release that has it (the first one), or null for NGINX Plus only. */
  readonly openSince: string | null;
  /** Where open source has it, when not everywhere NGINX Plus has it. */
  readonly openWhere?: string;
}

/** Directives of NGINX Plus. */
const PLUS_DIRECTIVES: ReadonlyMap<string, PlusName> = new Map<string, PlusName>([
  ['sticky', { openSince: '1.29.6', openWhere: 'http upstreams only' }],
  ['ntlm', { openSince: null }],
  ['least_time', { openSince: '1.31.0' }],
  ['queue', { openSince: null }],
  ['state', { openSince: null }],
  ['health_check', { openSince: null }],
  ['health_check_timeout', { openSince: null }],
  ['match', { openSince: null }],
  ['zone_sync', { openSince: null }],
  ['zone_sync_server', { openSince: null }],
  ['zone_sync_interval', { openSince: null }],
  ['zone_sync_timeout', { openSince: null }],
  ['api', { openSince: null }],
  ['status_zone', { openSince: null }],
  ['keyval', { openSince: null }],
  ['keyval_zone', { openSince: null }],
  ['sticky_cookie_insert', { openSince: null }],
  ['resolver', { openSince: '1.27.3' }],
  ['resolver_timeout', { openSince: '1.27.3' }],
]);

/** `server` parameters of NGINX Plus, by their word or the text before `=`. */
const PLUS_PARAMETERS: ReadonlyMap<string, PlusName> = new Map<string, PlusName>([
  ['slow_start', { openSince: null }],
  ['drain', { openSince: '1.29.6', openWhere: 'http upstreams only' }],
  ['route', { openSince: '1.29.6', openWhere: 'http upstreams only' }],
  ['resolve', { openSince: '1.27.3' }],
  ['service', { openSince: '1.27.3' }],
]);

/** The series `target` (`1.30`) includes release `version` (`1.29.6`) or a later one. */
function atLeast(target: NginxTarget, version: string): boolean {
  const [a, b] = target.split('.').map(Number) as [number, number];
  const [c, d] = version.split('.').map(Number) as [number, number];
  return a > c || (a === c && b >= d);
}

/** The name an error is about: `unknown directive "X"`, `"X" directive is not allowed here`, `invalid parameter "P"`. */
function subject(reason: string): { kind: 'directive' | 'parameter'; name: string } | undefined {
  let m = /^unknown directive "([^"]*)"$/.exec(reason) ?? /^"([^"]*)" directive is not allowed here$/.exec(reason);
  if (m) return { kind: 'directive', name: m[1]! };
  m = /^invalid parameter "([a-z_]+)(?:=[^"]*)?"$/.exec(reason);
  if (m) return { kind: 'parameter', name: m[1]! };
  return undefined;
}

/**
 * The note for an nginx error about an NGINX Plus (or newer open-source) name, judged by `target`;
 * undefined when the error is about something else. The name is `resolver` only in an error about
 * an upstream block's line (the caller passes `inUpstream`), since `resolver` is everywhere else open source.
 */
export function plusNote(reason: string, target: NginxTarget, inUpstream = true): string | undefined {
  // the only `unknown parameter "X"` the parser reports is sticky's (sticky.ts): NGINX Plus's
  // `sticky learn` also takes `sync` (its sessions shared by zone_sync), open source does not
  if (reason === 'unknown parameter "sync"') return 'the "sync" parameter of "sticky learn" is valid in NGINX Plus (zone_sync), not in open-source nginx';
  const s = subject(reason);
  if (s === undefined) return undefined;
  const entry = (s.kind === 'directive' ? PLUS_DIRECTIVES : PLUS_PARAMETERS).get(s.name);
  if (entry === undefined) return undefined;
  if (s.name.startsWith('resolver') && !inUpstream) return undefined;
  const what = s.kind === 'directive' ? `"${s.name}"` : `the server parameter "${s.name}${s.name === 'drain' || s.name === 'resolve' ? '' : '='}"`;
  const shown = s.name.startsWith('resolver') ? `${what} inside an upstream block` : what;
  if (entry.openSince === null) return `${shown} is valid in NGINX Plus, not in open-source nginx`;
  const since = `open-source nginx ${entry.openSince}${entry.openWhere ? ` (${entry.openWhere})` : ''}`;
  if (!atLeast(target, entry.openSince)) return `${shown} is valid in NGINX Plus and since ${since}, not in open-source nginx ${target}`;
  return `${shown} is valid in NGINX Plus and in ${since}`;
}
