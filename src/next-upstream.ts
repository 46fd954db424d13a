/**
 * What an HTTP proxy does with one upstream's outcome: nginx's `proxy_next_upstream` rule
 * (src/http/ngx_http_upstream.c: `ngx_http_upstream_test_next` for a status code,
 * `ngx_http_upstream_next` for an error, a timeout or an invalid header; docs/nginx-semantics.md
 * §4.1-4.2). Pure: the caller passes the attempt's tries left and the time spent, and applies the
 * verdict to its `Attempt` (`fail()` or `skip()`, then `next()`; or `release()` and pass the
 * response; or `fail()` and answer 502 / 504 itself). The same rule holds for nginx's grpc,
 * fastcgi, uwsgi, scgi and memcached modules, which share the bitmask.
 */

import { attemptTimeout, attemptTries } from './attempt';
import { InvalidOptionError } from './errors';

/** The conditions of `proxy_next_upstream` (nginx's `ngx_http_upstream_next_masks`). */
export type NextUpstreamCondition =
  | 'error' | 'timeout' | 'invalid_header' | 'non_idempotent'
  | 'http_500' | 'http_502' | 'http_503' | 'http_504' | 'http_403' | 'http_404' | 'http_429'
  | 'updating' | 'off';

/** nginx's NGX_HTTP_UPSTREAM_FT_* bits (values as in ngx_http_upstream.h). */
const FT = {
  error: 0x2,
  timeout: 0x4,
  invalid_header: 0x8,
  http_500: 0x10,
  http_502: 0x20,
  http_503: 0x40,
  http_504: 0x80,
  http_403: 0x100,
  http_404: 0x200,
  http_429: 0x400,
  updating: 0x800,
  non_idempotent: 0x4000,
  off: 0x80000000,
} as const satisfies Record<NextUpstreamCondition, number>;

/** `ngx_http_upstream_next_errors`: the statuses `test_next` looks at, and their bits. */
const STATUS_BITS: ReadonlyMap<number, number> = new Map([
  [500, FT.http_500], [502, FT.http_502], [503, FT.http_503], [504, FT.http_504],
  [403, FT.http_403], [404, FT.http_404], [429, FT.http_429],
]);

/** The methods whose request, once sent, is retried only with `non_idempotent` (nginx: POST, LOCK, PATCH). */
const NON_IDEMPOTENT = new Set(['POST', 'LOCK', 'PATCH']);

/** A parsed `proxy_next_upstream` set (build it with `nextUpstreamPolicy`). */
export interface NextUpstreamPolicy {
  /** The conditions, as configured (`off` alone when `off` was among them, as nginx merges it). */
  readonly conditions: readonly NextUpstreamCondition[];
  /** `proxy_next_upstream_tries`: 0 = as many as there are servers. */
  readonly tries: number;
  /** `proxy_next_upstream_timeout` in ms from the request's start: 0 = no limit. */
  readonly timeout: number;
  /** @internal nginx's bitmask. */
  readonly mask: number;
}

/**
 * The policy for a `proxy_next_upstream` line (default `error timeout`, as nginx's merge), with
 * `proxy_next_upstream_tries` and `proxy_next_upstream_timeout` (ms). Throws `InvalidOptionError`
 * for an unknown condition, as nginx says `invalid value`.
 *
 * @example
 * const policy = nextUpstreamPolicy(['error', 'timeout', 'http_502'], { tries: 3, timeout: 10_000 });
 */
export function nextUpstreamPolicy(
  conditions: readonly NextUpstreamCondition[] = ['error', 'timeout'],
  limits: { tries?: number; timeout?: number } = {},
): NextUpstreamPolicy {
  if (!Array.isArray(conditions)) throw new InvalidOptionError('conditions', 'Expected an array of proxy_next_upstream conditions', conditions);
  let mask = 0;
  for (const c of conditions) {
    const bit = typeof c === 'string' && Object.hasOwn(FT, c) ? FT[c as NextUpstreamCondition] : undefined;
    if (bit === undefined) {
      throw new InvalidOptionError('conditions', `Expected a proxy_next_upstream condition (${Object.keys(FT).join(', ')}), got ${JSON.stringify(c)}`, c);
    }
    mask |= bit;
  }
  // the same limits as an attempt's, validated the same way
  const tries = attemptTries(limits, 0);
  const timeout = attemptTimeout(limits);
  const off = (mask & FT.off) !== 0;
  return Object.freeze({
    conditions: Object.freeze(off ? ['off' as const] : [...new Set(conditions)]),
    tries,
    timeout,
    mask: off ? FT.off : mask,
  });
}

/** nginx's default: `proxy_next_upstream error timeout`, no tries or time limit. */
export const DEFAULT_NEXT_UPSTREAM: NextUpstreamPolicy = nextUpstreamPolicy();

/** What happened on the current server. */
export interface UpstreamOutcome {
  /**
   * `'error'`: the connection failed, or broke before a whole response header arrived;
   * `'timeout'`: connect, send or header read timed out; `'invalid_header'`: the header could not be
   * parsed; a number: the status line the server sent.
   */
  readonly result: 'error' | 'timeout' | 'invalid_header' | number;
  /** The request method; POST, LOCK and PATCH are not idempotent. Default `'GET'`. */
  readonly method?: string;
  /** Some of the request reached the server (nginx `request_sent`). Default: true for a status or an invalid header, false otherwise. */
  readonly requestSent?: boolean;
  /** The body is streamed unbuffered (nginx `proxy_request_buffering off`): once sent, nothing is retried. */
  readonly unbufferedBody?: boolean;
  /** The attempt's tries left before this server is freed (`attempt.tries`, nginx `pc->tries`). */
  readonly triesLeft: number;
  /** Milliseconds since the attempt started (`attempt.elapsed`); read only when the policy has a timeout. */
  readonly elapsed?: number;
  /**
   * The request went over a kept-alive connection reused from an earlier request. After an error on
   * one, nginx gives the try back (`u->peer.cached`): add one to `attempt.tries` before freeing.
   */
  readonly reused?: boolean;
}

/** The decision, and how to free the current server. */
export type NextUpstreamVerdict =
  /**
   * Free the server (`fail()` when `failed`, else `skip()`), then `next()`; when that finds no server,
   * answer 502 (nginx's "no live upstreams"). `status` is this try's status as nginx logs it.
   */
  | { readonly action: 'retry'; readonly failed: boolean; readonly status: number }
  /** `release()` the server and pass its response to the client as it is. */
  | { readonly action: 'pass'; readonly failed: false }
  /** `fail()` the server and answer `status` (502, or 504 after a timeout) without a response from it. */
  | { readonly action: 'respond'; readonly failed: true; readonly status: number };

const PASS: NextUpstreamVerdict = Object.freeze({ action: 'pass', failed: false } as const);
const verdicts = new Map<string, NextUpstreamVerdict>();
function verdict(action: 'retry' | 'respond', failed: boolean, status: number): NextUpstreamVerdict {
  const k = `${action}${failed ? 1 : 0}${status}`;
  let v = verdicts.get(k);
  if (v === undefined) verdicts.set(k, (v = Object.freeze({ action, failed, status }) as NextUpstreamVerdict));
  return v;
}

/** The status nginx answers when it stops on failure type `ft` (`ngx_http_upstream_next`'s switch). */
function statusFor(ft: number): number {
  switch (ft) {
    case FT.timeout: case FT.http_504: return 504;
    case FT.http_500: return 500;
    case FT.http_503: return 503;
    case FT.http_403: return 403;
    case FT.http_404: return 404;
    case FT.http_429: return 429;
    default: return 502;
  }
}

/**
 * nginx's decision for one outcome. A status that `proxy_next_upstream` names moves on while a try
 * is left (403 and 404 without counting a failure, NGX_PEER_NEXT; the others count one), else the
 * response passes to the client and the server is freed as a success; any other status passes. An
 * error, a timeout or an invalid header always counts a failure, and moves on when configured and a
 * try is left, else nginx answers 502 (504 after a timeout). A request sent with POST, LOCK or PATCH
 * moves on only with `non_idempotent`; an unbuffered body once sent, never; nothing moves on once
 * `elapsed >= timeout`.
 *
 * @example
 * const v = nextUpstream(policy, { result: res.statusCode, method: 'GET', triesLeft: attempt.tries, elapsed: attempt.elapsed });
 * if (v.action === 'retry') { v.failed ? attempt.fail() : attempt.skip(); send(attempt.next()); }
 */
export function nextUpstream(policy: NextUpstreamPolicy, outcome: UpstreamOutcome): NextUpstreamVerdict {
  const result = outcome.result;
  let ft: number;
  let sent: boolean;
  if (typeof result === 'number') {
    const bit = STATUS_BITS.get(result);
    if (bit === undefined) return PASS; // test_next: not a status it looks at
    ft = bit;
    sent = outcome.requestSent ?? true;
  } else {
    ft = result === 'error' ? FT.error : result === 'timeout' ? FT.timeout : result === 'invalid_header' ? FT.invalid_header : 0;
    if (ft === 0) throw new InvalidOptionError('result', `Expected 'error', 'timeout', 'invalid_header' or a status code, got ${JSON.stringify(result)}`, result);
    sent = outcome.requestSent ?? result === 'invalid_header';
  }
  const mask = sent && NON_IDEMPOTENT.has(outcome.method ?? 'GET') ? ft | FT.non_idempotent : ft;
  const timeout = policy.timeout;
  const tries = result === 'error' && outcome.reused === true ? outcome.triesLeft + 1 : outcome.triesLeft;
  const canMove = tries > 1
    && (policy.mask & mask) === mask
    && !(sent && outcome.unbufferedBody === true)
    && !(timeout !== 0 && (outcome.elapsed ?? 0) >= timeout);
  if (typeof result === 'number') {
    // test_next: move on (403/404 as NGX_PEER_NEXT), or pass the response (free without a failure)
    return canMove ? verdict('retry', ft !== FT.http_403 && ft !== FT.http_404, statusFor(ft)) : PASS;
  }
  // ngx_http_upstream_next: the server is freed failed either way
  return verdict(canMove ? 'retry' : 'respond', true, statusFor(ft));
}
