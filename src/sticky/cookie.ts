/**
 * Cookies as nginx 1.30's sticky module reads and writes them, byte for byte:
 * - `requestCookie`: the request's `$cookie_NAME` (`ngx_http_variable_cookie` →
 *   `ngx_http_parse_cookie_lines`, src/http/ngx_http_parse.c): every Cookie header in order, pairs
 *   split at `;`, the name matched without regard to ASCII case, spaces around `=` skipped, the
 *   value up to the next `;` with its trailing spaces kept, the first match wins.
 * - `upstreamCookie`: the response's `$upstream_cookie_NAME` (`ngx_http_parse_set_cookie_lines`):
 *   only the first pair of each Set-Cookie header counts.
 * - `stickyCookie`: the Set-Cookie value `ngx_http_upstream_sticky_cookie_insert`
 *   (src/http/modules/ngx_http_upstream_sticky_module.c) builds: `NAME=SID`, then `expires` and
 *   `max-age`, `domain`, `httponly`, `secure`, `samesite`, `path`, in that order.
 * - `cookieTime`: nginx's `ngx_http_cookie_time` (src/core/ngx_times.c): `Thu, 31-Dec-37 23:55:55 GMT`,
 *   a two-digit year up to 2037 and four digits after.
 * Pure: the time comes in as an argument.
 */

import type { StickyCookieConfig } from './types';

/** `expires=max`: nginx's NGX_HTTP_STICKY_COOKIE_MAX_EXPIRES, written as a fixed text. */
export const MAX_EXPIRES = 2145916555;

/** What `expires=max` (or an `expires` of exactly MAX_EXPIRES seconds) writes. */
const MAX_EXPIRES_TEXT = '; expires=Thu, 31-Dec-37 23:55:55 GMT; max-age=315360000';

/** One Cookie / Set-Cookie header, several, or none (as Node's and undici's header objects hold them). */
export type HeaderValues = string | readonly string[] | undefined;

function eachValue(values: HeaderValues): readonly string[] {
  if (values === undefined) return [];
  return typeof values === 'string' ? [values] : values;
}

/** ASCII lowercase of one UTF-16 code unit (nginx's `ngx_tolower`: A-Z only). */
function lower(code: number): number {
  return code >= 65 && code <= 90 ? code + 32 : code;
}

/** True if `name` is at `at` in `text`, ASCII case aside, wholly inside `text`. */
function nameAt(text: string, at: number, name: string): boolean {
  if (at + name.length > text.length) return false;
  for (let k = 0; k < name.length; k++) {
    if (lower(text.charCodeAt(at + k)) !== lower(name.charCodeAt(k))) return false;
  }
  return true;
}

const SPACE = 32;
const SEMICOLON = 59;
const EQUALS = 61;

/**
 * The request's `$cookie_NAME`: the value of the first `NAME=value` pair of the Cookie headers
 * (each header in order), or undefined when none has it (nginx: not found). An empty value
 * (`NAME=`) is returned as `''`.
 *
 * @example
 * requestCookie(['a=1; SRV_ID = x ;b=2'], 'srv_id'); // 'x '
 */
export function requestCookie(headers: HeaderValues, name: string): string | undefined {
  for (const value of eachValue(headers)) {
    if (name.length > value.length) continue;
    const end = value.length;
    let at = 0;
    while (at < end) {
      if (nameAt(value, at, name)) {
        at += name.length;
        while (at < end && value.charCodeAt(at) === SPACE) at++;
        if (at < end && value.charCodeAt(at) === EQUALS) {
          at++;
          while (at < end && value.charCodeAt(at) === SPACE) at++;
          let last = at;
          while (last < end && value.charCodeAt(last) !== SEMICOLON) last++;
          return value.slice(at, last);
        }
        if (at < end) at++; // (nginx consumes the byte it compared with '=')
      }
      // skip to after the next ';', then over spaces
      while (at < end) {
        if (value.charCodeAt(at++) === SEMICOLON) break;
      }
      while (at < end && value.charCodeAt(at) === SPACE) at++;
    }
  }
  return undefined;
}

/**
 * The response's `$upstream_cookie_NAME`: the value of the first Set-Cookie header whose first
 * pair is `NAME=value` (nothing after the first `;` of a header is looked at), or undefined.
 *
 * @example
 * upstreamCookie(['other=1', 'SID=abc; Path=/'], 'sid'); // 'abc'
 */
export function upstreamCookie(headers: HeaderValues, name: string): string | undefined {
  for (const value of eachValue(headers)) {
    if (name.length >= value.length) continue;
    if (!nameAt(value, 0, name)) continue;
    const end = value.length;
    let at = name.length;
    while (at < end && value.charCodeAt(at) === SPACE) at++;
    if (at === end || value.charCodeAt(at) !== EQUALS) continue;
    at++;
    while (at < end && value.charCodeAt(at) === SPACE) at++;
    let last = at;
    while (last < end && value.charCodeAt(last) !== SEMICOLON) last++;
    return value.slice(at, last);
  }
  return undefined;
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * A cookie date as nginx writes it, from seconds since the epoch (UTC).
 *
 * @example
 * cookieTime(0);          // 'Thu, 01-Jan-70 00:00:00 GMT'
 * cookieTime(2145916800); // 'Fri, 01-Jan-2038 00:00:00 GMT'
 */
export function cookieTime(seconds: number): string {
  const d = new Date(seconds * 1000);
  const year = d.getUTCFullYear();
  const y = year > 2037 ? String(year) : two(year % 100);
  return `${WEEKDAYS[d.getUTCDay()]}, ${two(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${y} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} GMT`;
}

/** True for the `samesite=` values nginx accepts (`strict`, `lax`, `none`, any ASCII case). */
export function validSameSite(value: string): boolean {
  const v = value.toLowerCase();
  return v === 'strict' || v === 'lax' || v === 'none';
}

/** The per-request texts of a cookie config: `domain=` and `samesite=` after their variables. */
export interface CookieTexts {
  /** `domain=` evaluated ('' or undefined: no domain attribute). */
  readonly domain?: string;
  /** `samesite=` evaluated ('' or undefined: no samesite attribute). */
  readonly samesite?: string;
  /** True when `samesite=` holds variables: an invalid value is then written `strict`, as nginx does. */
  readonly samesiteFromVariables?: boolean;
}

/**
 * The Set-Cookie value nginx's sticky cookie mode sends for the server whose session id is `sid`,
 * at `nowSeconds` (nginx's `ngx_time()`, whole seconds since the epoch).
 *
 * @example
 * stickyCookie({ mode: 'cookie', name: 'srv_id', expires: 3600, path: '/', secure: false, httponly: true }, 'a', 0);
 * // 'srv_id=a; expires=Thu, 01-Jan-70 01:00:00 GMT; max-age=3600; httponly; path=/'
 */
export function stickyCookie(config: StickyCookieConfig, sid: string, nowSeconds: number, texts: CookieTexts = {}): string {
  let out = `${config.name}=${sid}`;
  const expires = config.expires;
  if (expires !== undefined) {
    if (expires === 'max' || expires === MAX_EXPIRES) out += MAX_EXPIRES_TEXT;
    else out += `; expires=${cookieTime(nowSeconds + expires)}; max-age=${expires}`;
  }
  const domain = texts.domain ?? (config.domain !== undefined && !config.domain.includes('$') ? config.domain : undefined);
  if (domain !== undefined && domain.length > 0) out += `; domain=${domain}`;
  if (config.httponly) out += '; httponly';
  if (config.secure) out += '; secure';
  let samesite = texts.samesite ?? (config.samesite !== undefined && !config.samesite.includes('$') ? config.samesite : undefined);
  if (samesite !== undefined && samesite.length > 0) {
    if (texts.samesiteFromVariables === true && !validSameSite(samesite)) samesite = 'strict';
    out += `; samesite=${samesite}`;
  }
  if (config.path !== undefined) out += `; path=${config.path}`;
  return out;
}
