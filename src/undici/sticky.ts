/**
 * nginx 1.30's `sticky` in the undici adapter (docs/undici.md, "Sticky sessions"): what a request
 * brings to the session layer (src/sticky/: its Cookie headers, its query string, the host's
 * variables) and the Set-Cookie header the response gains. Follows
 * `ngx_http_upstream_sticky_module.c`: the cookie is a header of its own, listed before the
 * upstream's own headers (nginx adds it to the response's header list when it picks the server,
 * before it copies the upstream's), and nginx's own 502 / 504 after a try carries it too.
 */

import type { Dispatcher } from 'undici';
import { StickySessions, type StickyRequest } from '../sticky/sessions';
import type { StickyConfig } from '../sticky/types';
import type { RawHeaders } from './http';
import type { BalancedAttempt, BalancerLike } from './types';

/** Variables for `sticky` that are not built in, by nginx name without `$`, for one request. */
export type StickyVariables = (name: string, request: Dispatcher.DispatchOptions) => string | undefined;

const text = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('latin1') : String(v));

function sameName(a: unknown, lowerName: string): boolean {
  const s = text(a);
  return s.length === lowerName.length && s.toLowerCase() === lowerName;
}

function push(out: string[], value: unknown): void {
  if (Array.isArray(value)) for (const v of value) out.push(text(v));
  else if (value !== undefined && value !== null) out.push(text(value));
}

/** Every value of the request header `lowerName`, in order, from any of undici's header forms. */
export function requestHeaderValues(headers: unknown, lowerName: string): string[] {
  const out: string[] = [];
  if (headers == null || typeof headers !== 'object') return out;
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const pair of headers as unknown[][]) if (sameName(pair[0], lowerName)) push(out, pair[1]);
    } else {
      for (let i = 0; i + 1 < headers.length; i += 2) if (sameName(headers[i], lowerName)) push(out, headers[i + 1]);
    }
    return out;
  }
  if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function' && Object.getPrototypeOf(headers) !== Object.prototype) {
    for (const pair of headers as Iterable<unknown>) {
      if (Array.isArray(pair) && sameName(pair[0], lowerName)) push(out, pair[1]);
    }
    return out;
  }
  for (const name of Object.keys(headers)) {
    if (sameName(name, lowerName)) push(out, (headers as Record<string, unknown>)[name]);
  }
  return out;
}

/** nginx's `$args`: the path's text after its first `?` (undefined without one). */
export function queryOf(path: unknown): string | undefined {
  if (typeof path !== 'string') return undefined;
  const q = path.indexOf('?');
  return q === -1 ? undefined : path.slice(q + 1);
}

/** The Set-Cookie values of an upstream's raw response header list. */
export function setCookiesOf(raw: RawHeaders): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (sameName(raw[i], 'set-cookie')) push(out, raw[i + 1]);
  return out;
}

/** The raw header list with `set-cookie: value` first (a new list: undici's is left as it was). */
export function withSetCookie(raw: RawHeaders, value: string, at: 'first' | 'last'): RawHeaders {
  const pair = [Buffer.from('set-cookie'), Buffer.from(value, 'latin1')];
  return at === 'first' ? [...pair, ...raw] : [...raw, ...pair];
}

/** The session layer of one dispatcher: a StickyRequest per dispatched request. */
export class DispatcherSticky {
  readonly sessions: StickySessions;
  readonly #variables: StickyVariables | undefined;

  constructor(balancer: BalancerLike, sticky: StickyConfig | StickySessions, variables: StickyVariables | undefined) {
    this.sessions = sticky instanceof StickySessions ? sticky : new StickySessions(balancer, sticky);
    this.#variables = variables;
  }

  /** The request's sticky attempt: its cookies, query string and variables read, the hint given. */
  attempt(key: string | undefined, limits: { tries: number; timeout: number }, options: Dispatcher.DispatchOptions): BalancedAttempt & StickyRequest {
    const variables = this.#variables;
    const init = {
      cookie: requestHeaderValues(options.headers, 'cookie'),
      args: queryOf(options.path),
      tries: limits.tries,
      timeout: limits.timeout,
      ...(key !== undefined ? { key } : null),
      ...(variables !== undefined ? { variables: (name: string) => variables(name, options) } : null),
    };
    return this.sessions.request(init) as BalancedAttempt & StickyRequest;
  }
}
