/**
 * HTTP next-upstream conformance scenarios: what `record.ts` drives through real nginx's http proxy
 * (`proxy_pass http://u;`) to produce `test/vectors/http/<name>.json`, replayed by
 * `replay.test.ts`. Semantics under test: docs/nginx-semantics.md §4.1-4.2
 * (`ngx_http_upstream_test_next`, `ngx_http_upstream_next`, tries, `proxy_next_upstream_timeout`).
 *
 * A scenario is data: the upstream's servers, each with the answers its backend gives, in the order
 * requests reach it (`answers`, then `then` for ever: deterministic whichever server nginx picks),
 * the proxy's next-upstream directives, and a script of sequential client requests. Refused
 * connects come from servers marked `refusing` (nothing listens) or stopped by the script.
 * Every scenario runs well inside its servers' `fail_timeout` (the recorder checks nginx's own
 * times), so no passive window ends during one and the replay needs no whole-second timeline.
 */

import type { NextUpstreamCondition } from '../../../src/index';
import type { ScenarioServerParams } from '../scenario-server';

/** The statuses nginx's `ngx_http_upstream_next_errors` looks at, and 200. */
export type StatusAnswer = '200' | '403' | '404' | '429' | '500' | '502' | '503' | '504';

/**
 * Malformed response headers, each after a valid status line (`HTTP/1.1 200 OK`) and the
 * backend's `X-Backend` line. `lines` are raw bytes (latin1); `ownLength`: the case brings its own
 * length headers (or none), so the backend adds no `Content-Length` and closes after the body.
 * Which of them each nginx rejects as an invalid header is the replay's model (`outcomes.ts`),
 * checked against the recording of `invalid-header-bytes`.
 */
export const HEADER_CASES = {
  'space-in-name': { lines: ['Bad Header: 1'] },
  'tab-in-name': { lines: ['Bad\tHeader: 1'] },
  'nul-in-name': { lines: ['Bad\0Header: 1'] },
  'del-in-name': { lines: ['Bad\x7fHeader: 1'] },
  'empty-name': { lines: [': 1'] },
  'folded-line': { lines: [' folded: 1'] },
  'nul-in-value': { lines: ['X-Test: a\0b'] },
  'bare-cr-in-value': { lines: ['X-Test: a\rb'] },
  'no-colon': { lines: ['NoColonHere'] },
  'underscore-in-name': { lines: ['X_Test: 1'] },
  'ctl-in-value': { lines: ['X-Test: a\x01b'] },
  'high-byte-in-name': { lines: ['X-T\xe9st: 1'] },
  'bad-content-length': { lines: ['Content-Length: abc'], ownLength: true },
  'duplicate-content-length': { lines: ['Content-Length: LENGTH', 'Content-Length: LENGTH'], ownLength: true },
  'unknown-transfer-encoding': { lines: ['Transfer-Encoding: gzip'], ownLength: true },
} as const satisfies Record<string, { lines: readonly string[]; ownLength?: boolean }>;

export type HeaderCase = keyof typeof HEADER_CASES;

/**
 * What a backend does with one request (after reading all of it):
 * - a status: a complete response with that status (`500@350`: the same, after 350 ms);
 * - `reset`: closes the connection without a byte of response (before the header);
 * - `reset-body`: sends a header with `Content-Length`, part of the body, then closes;
 * - `hang`: never answers (nginx's `proxy_read_timeout` fires; nginx then closes);
 * - `header:CASE`: a 200 with one malformed header line (`HEADER_CASES`).
 * A refused connect is not an answer: the server has no listener (`refusing`, `stop`).
 */
export type Answer = StatusAnswer | `${StatusAnswer}@${number}` | 'reset' | 'reset-body' | 'hang' | `header:${HeaderCase}`;

export interface HttpScenarioServer extends ScenarioServerParams {
  id: string;
  /** Answers to the first requests that reach this server, in order. */
  answers?: Answer[];
  /** The answer to every later request (default `200`). */
  then?: Answer;
}

export type ScriptOp =
  | { op: 'request'; method: 'GET' | 'POST'; body: boolean; count: number }
  | { op: 'stop' | 'start'; server: string };

export interface HttpScenario {
  name: string;
  description: string;
  servers: HttpScenarioServer[];
  /** `proxy_next_upstream`; left out = the directive is not written (nginx's default `error timeout`). */
  nextUpstream?: NextUpstreamCondition[];
  /** `proxy_next_upstream_tries` (0 / left out: not written). */
  tries?: number;
  /** `proxy_next_upstream_timeout` in ms (0 / left out: not written). */
  timeout?: number;
  /** `proxy_read_timeout` in ms (default 5000: only `hang` reaches it). */
  readTimeout?: number;
  /** Servers the scenario shows were never counted as failed (the replay checks the Balancer's counter). */
  notFailed?: string[];
  script: ScriptOp[];
}

/** `count` sequential GET requests without a body. */
export const get = (count = 1): ScriptOp => ({ op: 'request', method: 'GET', body: false, count });
/** `count` sequential POST requests, with a small body unless `body` is false. */
export const post = (count = 1, body = true): ScriptOp => ({ op: 'request', method: 'POST', body, count });
/** Stop a backend's listener (its connects are refused from now on). */
export const stop = (server: string): ScriptOp => ({ op: 'stop', server });
/** Start a backend's listener again on the same port. */
export const start = (server: string): ScriptOp => ({ op: 'start', server });

/** The default read timeout, and the short one of the scenarios whose backends hang. */
export const READ_TIMEOUT_MS = 5000;
const HANG_READ_MS = 300;

const always = (answer: Answer) => ({ then: answer });

export const SCENARIOS: HttpScenario[] = [
  // ---- the default, proxy_next_upstream error timeout, with each kind of answer
  {
    name: 'default-statuses',
    description:
      'Default proxy_next_upstream (error timeout): A answers 403, 404, 429, 500, 502, 503, 504 in turn. Every status goes to the client and counts nothing: A (max_fails=1) keeps its turn, alternating with B.',
    servers: [{ id: 'A', maxFails: 1, answers: ['403', '404', '429', '500', '502', '503', '504'] }, { id: 'B' }],
    notFailed: ['A'],
    script: [get(16)],
  },
  {
    name: 'default-reset',
    description:
      'Default proxy_next_upstream: A closes the connection before sending a header (error): retried on B, A counted failed (max_fails=1) and skipped by the later requests.',
    servers: [{ id: 'A', answers: ['reset'] }, { id: 'B' }],
    script: [get(4)],
  },
  {
    name: 'default-refused',
    description: 'Default proxy_next_upstream: nothing listens on A (error, request not sent): retried on B, A counted failed and skipped afterwards.',
    servers: [{ id: 'A', refusing: true }, { id: 'B' }],
    script: [get(3)],
  },
  {
    name: 'default-header-timeout',
    description: `Default proxy_next_upstream, proxy_read_timeout ${HANG_READ_MS}ms: A never answers (timeout): A logged 504, retried on B, A counted failed and skipped afterwards.`,
    servers: [{ id: 'A', answers: ['hang'] }, { id: 'B' }],
    readTimeout: HANG_READ_MS,
    script: [get(3)],
  },
  {
    name: 'default-invalid-header',
    description:
      'Default proxy_next_upstream (no invalid_header): A sends a header name with a space. nginx answers 502 itself without trying B, and A is counted failed anyway (ngx_http_upstream_next frees it FAILED first): later requests go to B.',
    servers: [{ id: 'A', answers: ['header:space-in-name'] }, { id: 'B' }],
    script: [get(3)],
  },
  {
    name: 'invalid-header-retried',
    description: 'proxy_next_upstream error timeout invalid_header: the same invalid header from A is retried on B; A counted failed.',
    servers: [{ id: 'A', answers: ['header:space-in-name'] }, { id: 'B' }],
    nextUpstream: ['error', 'timeout', 'invalid_header'],
    script: [get(3)],
  },
  {
    name: 'reset-mid-body',
    description:
      'Default proxy_next_upstream: A sends a 200 header with Content-Length and part of the body, then closes. The response has started: no retry, the client gets a truncated 200, and A is freed as a success (still picked afterwards, max_fails=1).',
    servers: [{ id: 'A', maxFails: 1, answers: ['reset-body'] }, { id: 'B' }],
    notFailed: ['A'],
    script: [get(4)],
  },
  {
    name: 'single-server',
    description:
      'One server (max_fails=1) that resets twice: each request is 502 without "no live upstreams" (single mode counts no failure and never excludes), then it answers.',
    servers: [{ id: 'A', maxFails: 1, answers: ['reset', 'reset'] }],
    script: [get(4)],
  },
  // ---- http_403 / http_404: moved on without counting a failure (NGX_PEER_NEXT)
  {
    name: 'http-404',
    description:
      'proxy_next_upstream error timeout http_404: A answers 404 twice. Each 404 is retried on the next server without counting a failure: A (max_fails=1) is still picked afterwards.',
    servers: [{ id: 'A', maxFails: 1, answers: ['404', '404'] }, { id: 'B' }, { id: 'C' }],
    nextUpstream: ['error', 'timeout', 'http_404'],
    notFailed: ['A'],
    script: [get(8)],
  },
  {
    name: 'http-403',
    description: 'proxy_next_upstream error timeout http_403: A answers 403 once, retried on B without a failure; A is still picked afterwards.',
    servers: [{ id: 'A', maxFails: 1, answers: ['403'] }, { id: 'B' }],
    nextUpstream: ['error', 'timeout', 'http_403'],
    notFailed: ['A'],
    script: [get(5)],
  },
  {
    name: 'http-404-tries-2',
    description:
      'proxy_next_upstream http_404, proxy_next_upstream_tries 2, three servers always answering 404: every request tries two, and the second 404 (the last try) goes to the client. Nobody is ever counted failed.',
    servers: [{ id: 'A', ...always('404') }, { id: 'B', ...always('404') }, { id: 'C', ...always('404') }],
    nextUpstream: ['http_404'],
    tries: 2,
    notFailed: ['A', 'B', 'C'],
    script: [get(6)],
  },
  // ---- 5xx and 429: moved on and counted
  {
    name: 'http-500-502',
    description:
      'proxy_next_upstream error timeout http_500 http_502: A answers 500 and B 502 once: the first request goes A, B, C; A and B are counted failed (max_fails=1) and skipped by the later requests.',
    servers: [{ id: 'A', answers: ['500'] }, { id: 'B', answers: ['502'] }, { id: 'C' }],
    nextUpstream: ['error', 'timeout', 'http_500', 'http_502'],
    script: [get(4)],
  },
  {
    name: 'http-503-504-429',
    description:
      'proxy_next_upstream http_503 http_504 http_429 (no error, no timeout): A 503, B 504, C 429 once each: the first request reaches D; all three are counted failed and skipped afterwards.',
    servers: [{ id: 'A', answers: ['503'] }, { id: 'B', answers: ['504'] }, { id: 'C', answers: ['429'] }, { id: 'D' }],
    nextUpstream: ['http_503', 'http_504', 'http_429'],
    script: [get(4)],
  },
  {
    name: 'last-try-502',
    description:
      'proxy_next_upstream error timeout http_502, A and B always 502: request 1 is A:502 (counted) then B:502 on the last try, passed to the client and not counted; request 2 tries B (counted) and finds no live upstream (502 from nginx); then "no live upstreams" at once.',
    servers: [{ id: 'A', ...always('502') }, { id: 'B', ...always('502') }],
    nextUpstream: ['error', 'timeout', 'http_502'],
    script: [get(4)],
  },
  {
    name: 'tries-1-502',
    description: 'The same with proxy_next_upstream_tries 1: every try is the last, every 502 passes to the client, and neither server is ever counted failed.',
    servers: [{ id: 'A', ...always('502') }, { id: 'B', ...always('502') }],
    nextUpstream: ['error', 'timeout', 'http_502'],
    tries: 1,
    notFailed: ['A', 'B'],
    script: [get(4)],
  },
  {
    name: 'tries-2-502',
    description:
      'proxy_next_upstream error timeout http_502, proxy_next_upstream_tries 2, A, B, C always 502: a request stops after two servers although a third is left, and the second 502 passes (not counted); once A and C are counted, B is tried, counted, and "no live upstreams" follows.',
    servers: [{ id: 'A', ...always('502') }, { id: 'B', ...always('502') }, { id: 'C', ...always('502') }],
    nextUpstream: ['error', 'timeout', 'http_502'],
    tries: 2,
    script: [get(5)],
  },
  // ---- off
  {
    name: 'off',
    description:
      `proxy_next_upstream off, proxy_read_timeout ${HANG_READ_MS}ms: A (max_fails=3) resets, hangs, answers 500. Nothing is retried: the client gets 502, 504 and A's 500; the reset and the timeout still count (A is out after a third failure), the 500 does not.`,
    servers: [{ id: 'A', maxFails: 3, answers: ['reset', 'hang', '500', 'reset'] }, { id: 'B' }],
    nextUpstream: ['off'],
    readTimeout: HANG_READ_MS,
    script: [get(10)],
  },
  // ---- non-idempotent requests
  {
    name: 'post-not-retried',
    description:
      'Default proxy_next_upstream, POST requests: once sent, a reset (502) or a header timeout (504) is not retried, though both count: A (max_fails=2) is out after them, and the last POSTs go to B.',
    servers: [{ id: 'A', maxFails: 2, answers: ['reset', 'hang'] }, { id: 'B' }],
    readTimeout: HANG_READ_MS,
    script: [post(1), get(1), post(1), get(1), post(2)],
  },
  {
    name: 'post-refused-retried',
    description:
      'Default proxy_next_upstream: a POST to a refusing server was never sent, so it is retried (A refusing from the start; then B stopped, reached by a POST without a body); both counted failed, C serves the rest.',
    servers: [{ id: 'A', refusing: true }, { id: 'B' }, { id: 'C' }],
    script: [post(2), stop('B'), post(1, false), post(1), start('B'), post(1)],
  },
  {
    name: 'post-non-idempotent',
    description: 'proxy_next_upstream error timeout http_502 non_idempotent: a POST reset by A, or answered 502 by A, is retried on B.',
    servers: [{ id: 'A', maxFails: 3, answers: ['reset', '502'] }, { id: 'B' }],
    nextUpstream: ['error', 'timeout', 'http_502', 'non_idempotent'],
    script: [post(4)],
  },
  {
    name: 'post-http-500',
    description:
      'proxy_next_upstream error timeout http_500 without non_idempotent: a POST answered 500 by A passes to the client and is a success (A, max_fails=1, keeps its turn); a GET answered 500 is retried and counts.',
    servers: [{ id: 'A', maxFails: 1, answers: ['500', '200', '500'] }, { id: 'B' }],
    nextUpstream: ['error', 'timeout', 'http_500'],
    script: [post(1), get(1), post(1), get(1), get(2)],
  },
  // ---- proxy_next_upstream_timeout
  {
    name: 'timeout-500ms',
    description: `proxy_read_timeout ${HANG_READ_MS}ms, proxy_next_upstream_timeout 500ms, A and B hang: A times out at ~300 ms (retried), B at ~600 ms (past the budget): the client gets 504 and C is not tried. Both counted.`,
    servers: [{ id: 'A', ...always('hang') }, { id: 'B', ...always('hang') }, { id: 'C' }],
    readTimeout: HANG_READ_MS,
    timeout: 500,
    script: [get(3)],
  },
  {
    name: 'timeout-250ms',
    description: `proxy_read_timeout ${HANG_READ_MS}ms, proxy_next_upstream_timeout 250ms: A's timeout comes after the budget: 504 at once, B not tried; A counted.`,
    servers: [{ id: 'A', answers: ['hang'] }, { id: 'B' }],
    readTimeout: HANG_READ_MS,
    timeout: 250,
    script: [get(3)],
  },
  {
    name: 'timeout-status',
    description:
      'proxy_next_upstream error timeout http_500, proxy_next_upstream_timeout 250ms, A (max_fails=2) answers 500 after 100 ms (inside the budget: retried, counted) and then 500 after 350 ms (past it: passed to the client, not counted).',
    servers: [{ id: 'A', maxFails: 2, answers: ['500@100', '500@350'] }, { id: 'B' }],
    nextUpstream: ['error', 'timeout', 'http_500'],
    timeout: 250,
    script: [get(5)],
  },
  // ---- everything failing, backups
  {
    name: 'all-fail-502',
    description: 'Default proxy_next_upstream, A resets and nothing listens on B: A!, B! => 502 from nginx (tries used up), then "no live upstreams" (502).',
    servers: [{ id: 'A', ...always('reset') }, { id: 'B', refusing: true }],
    script: [get(3)],
  },
  {
    name: 'all-fail-504',
    description: `proxy_read_timeout ${HANG_READ_MS}ms, A and B hang: both time out => 504 from nginx, then "no live upstreams" (502).`,
    servers: [{ id: 'A', ...always('hang') }, { id: 'B', ...always('hang') }],
    readTimeout: HANG_READ_MS,
    script: [get(2)],
  },
  {
    name: 'backup',
    description: 'proxy_next_upstream error timeout http_503: A and B answer 503 once; the first request reaches the backup C by retries; then the primaries are out and C serves.',
    servers: [{ id: 'A', answers: ['503'] }, { id: 'B', answers: ['503'] }, { id: 'C', backup: true }],
    nextUpstream: ['error', 'timeout', 'http_503'],
    script: [get(3)],
  },
  {
    name: 'backup-last-try',
    description:
      'proxy_next_upstream http_502, every server always 502, B down: tries = 3 (down excluded, backup included): A:502, C:502, then the backup D on the last try passes its 502; next request the primaries are out: D:502 counted, no live upstreams.',
    servers: [{ id: 'A', ...always('502') }, { id: 'B', down: true }, { id: 'C', ...always('502') }, { id: 'D', backup: true, ...always('502') }],
    nextUpstream: ['http_502'],
    script: [get(3)],
  },
  // ---- invalid headers: which bytes each nginx rejects
  {
    name: 'invalid-header-bytes',
    description:
      'proxy_next_upstream off; each server (max_fails=0, so never excluded) always sends one malformed header (HEADER_CASES in scenarios.ts): one request each in round-robin order. 502 = nginx rejected the header (invalid_header), 200 = accepted. Content-Length and Transfer-Encoding errors are rejected since nginx 1.23.0 only.',
    servers: (Object.keys(HEADER_CASES) as HeaderCase[]).map((c, i) => ({ id: `H${i + 1}`, maxFails: 0, then: `header:${c}` as Answer })),
    nextUpstream: ['off'],
    script: [get(Object.keys(HEADER_CASES).length)],
  },
  {
    name: 'bad-content-length',
    description:
      'proxy_next_upstream error timeout invalid_header, A sends "Content-Length: abc": nginx 1.22.1 passes the response (read until close); 1.30.4 rejects it as an invalid header, retries on B and counts A failed.',
    servers: [{ id: 'A', ...always('header:bad-content-length') }, { id: 'B' }],
    nextUpstream: ['error', 'timeout', 'invalid_header'],
    script: [get(4)],
  },
];
