/**
 * What an HTTP proxy built like nginx sees when a backend gives one of the scripted answers of
 * `scenarios.ts`: the `UpstreamOutcome` the replay hands to `nextUpstream`, plus how long it took
 * and whether a passed response reaches the client whole. This is the replay's model of the
 * environment (sockets and header parsing), not of the balancer; the recorded vectors check it.
 *
 * Header parsing, from the sources: `ngx_http_parse_header_line` (identical in 1.22.1 and 1.30.4)
 * rejects a name holding a byte <= 0x20 or 0x7f, a line that starts with one of those or with ':',
 * a NUL in a value and a CR not followed by LF; it accepts a line without a colon, '_' (the proxy
 * allows underscores), other control bytes in a value and bytes >= 0x80 in a name. Since 1.23.0
 * (commit d22157fad, "Upstream: header handlers can now return parsing errors") the header handlers
 * also reject an invalid or duplicate Content-Length, a duplicate or unknown Transfer-Encoding, and
 * both headers at once; 1.22.1 takes `Content-Length: abc` as "no length" and reads until close.
 */

import type { UpstreamOutcome } from '../../../src/index';
import type { Answer, HeaderCase } from './scenarios';

/** What a recorded try's `answer` may be: a scripted answer, or `refused` (nothing listening). */
export type RecordedAnswer = Answer | 'refused';

export interface ModelledOutcome {
  result: UpstreamOutcome['result'];
  /** nginx `u->request_sent`: some of the request reached the server. */
  requestSent: boolean;
  /** ms from sending the request to the outcome (`hang`: `proxy_read_timeout`). */
  delayMs: number;
  /** A passed response reaches the client whole. */
  complete: boolean;
}

/** Header cases rejected by every version: the parser's own rejections. */
const PARSER_REJECTS: ReadonlySet<HeaderCase> = new Set<HeaderCase>([
  'space-in-name', 'tab-in-name', 'nul-in-name', 'del-in-name', 'empty-name', 'folded-line', 'nul-in-value', 'bare-cr-in-value',
]);

/** Header cases rejected by the header handlers since nginx 1.23.0. */
const HANDLER_REJECTS: ReadonlySet<HeaderCase> = new Set<HeaderCase>(['bad-content-length', 'duplicate-content-length', 'unknown-transfer-encoding']);

/** Whether nginx `version` (`1.22.1`, `1.30.4`) rejects header case `c` as an invalid header. */
export function rejectsHeader(version: string, c: HeaderCase): boolean {
  if (PARSER_REJECTS.has(c)) return true;
  if (!HANDLER_REJECTS.has(c)) return false;
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 1 || (major === 1 && minor >= 23);
}

/** The outcome of `answer` through nginx `version` with `proxy_read_timeout` `readTimeoutMs`. */
export function outcomeOf(answer: RecordedAnswer, version: string, readTimeoutMs: number): ModelledOutcome {
  switch (answer) {
    case 'refused':
      return { result: 'error', requestSent: false, delayMs: 0, complete: true };
    case 'reset':
      return { result: 'error', requestSent: true, delayMs: 0, complete: true };
    case 'hang':
      return { result: 'timeout', requestSent: true, delayMs: readTimeoutMs, complete: true };
    case 'reset-body':
      return { result: 200, requestSent: true, delayMs: 0, complete: false };
  }
  if (answer.startsWith('header:')) {
    const c = answer.slice('header:'.length) as HeaderCase;
    return { result: rejectsHeader(version, c) ? 'invalid_header' : 200, requestSent: true, delayMs: 0, complete: true };
  }
  const [status, delay] = answer.split('@');
  return { result: Number(status), requestSent: true, delayMs: delay === undefined ? 0 : Number(delay), complete: true };
}
