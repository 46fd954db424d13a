/**
 * The retry policy where an upstream is used, in words: which outcomes move a request on to the
 * next server, which count against `max_fails`, and the tries and time limits. The rule is
 * `nextUpstream` (src/next-upstream.ts: nginx's `ngx_http_upstream_test_next` and
 * `ngx_http_upstream_next`; stream: `ngx_stream_proxy_next_upstream`), docs/nginx-semantics.md §4.1-4.3.
 * Pure.
 */

import type { NextUpstreamCondition } from '../next-upstream';
import { describeMs } from './time';
import type { UpstreamUse } from './types';

/** One `*_pass` of an upstream, explained. */
export interface UseExplanation {
  /** e.g. `proxy_pass http://app` */
  directive: string;
  file: string;
  line: number;
  /** The enclosing blocks: `http > server (nginx.conf:4) > location /api`. */
  where: string;
  /** The configured conditions as written in nginx's words (`error timeout http_502`). */
  nextUpstream: string;
  /** Outcomes that move a request on to the next server. */
  retries: string[];
  /** Outcomes that count against the server's max_fails. */
  counts: string[];
  /** The rest of the policy in sentences (tries, time budget, methods, what the client gets). */
  notes: string[];
}

const STATUS_CONDITIONS: readonly NextUpstreamCondition[] = ['http_500', 'http_502', 'http_503', 'http_504', 'http_429', 'http_403', 'http_404'];

const OUTCOME_WORDS: Partial<Record<NextUpstreamCondition, string>> = {
  error: 'connection errors (refused, reset, closed before a full response header)',
  timeout: 'timeouts (connect, send, response header)',
  invalid_header: 'an invalid response header',
};

function outcomeWords(c: NextUpstreamCondition): string {
  return OUTCOME_WORDS[c] ?? c.replace('http_', '');
}

function streamUse(u: UpstreamUse, notes: string[]): UseExplanation {
  const off = u.nextUpstream.conditions.includes('off');
  if (off) notes.push('a failed connect is not retried: the client is closed');
  return {
    directive: `${u.directive} ${u.value}`,
    file: u.file,
    line: u.line,
    where: u.where.join(' > '),
    nextUpstream: off ? 'off' : 'on',
    retries: off ? [] : ['a failed or timed-out connect'],
    counts: ['a failed or timed-out connect (always, also with proxy_next_upstream off)'],
    notes,
  };
}

export function explainUse(u: UpstreamUse): UseExplanation {
  const p = u.nextUpstream;
  const notes: string[] = [];
  if (p.tries !== 0) notes.push(`at most ${p.tries} server${p.tries === 1 ? '' : 's'} per ${u.context === 'stream' ? 'connection' : 'request'} (${u.directive.replace(/_pass$/, '')}_next_upstream_tries)`);
  if (p.timeout !== 0) notes.push(`no further server once ${describeMs(p.timeout)} have passed since the ${u.context === 'stream' ? 'connection' : 'request'} started (${u.directive.replace(/_pass$/, '')}_next_upstream_timeout)`);
  if (u.context === 'stream') return streamUse(u, notes);
  const set = new Set(p.conditions);
  const off = set.has('off');
  const retries: string[] = [];
  if (!off) {
    for (const c of ['error', 'timeout', 'invalid_header'] as const) if (set.has(c)) retries.push(outcomeWords(c));
    const counted = STATUS_CONDITIONS.filter((c) => set.has(c) && c !== 'http_403' && c !== 'http_404');
    if (counted.length) retries.push(`status ${counted.map(outcomeWords).join(', ')}`);
    const skipped = STATUS_CONDITIONS.filter((c) => set.has(c) && (c === 'http_403' || c === 'http_404'));
    if (skipped.length) retries.push(`status ${skipped.map(outcomeWords).join(', ')} (not counted as a failure)`);
  }
  const counts = ['connection errors, timeouts and invalid headers, always (retried or not)'];
  const countedStatuses = off ? [] : STATUS_CONDITIONS.filter((c) => set.has(c) && c !== 'http_403' && c !== 'http_404');
  if (countedStatuses.length) counts.push(`status ${countedStatuses.map(outcomeWords).join(', ')}, only when the request moves on (on the last try the response is passed to the client and not counted)`);
  if (off) notes.push('nothing is retried: a failed connection gets 502 (504 after a timeout)');
  else {
    if (!set.has('error')) notes.push('a failed connection is not retried: the client gets 502, and the failure still counts');
    if (!set.has('timeout')) notes.push('a timeout is not retried: the client gets 504, and the failure still counts');
    notes.push(set.has('non_idempotent')
      ? 'POST, LOCK and PATCH requests are retried like the others (non_idempotent)'
      : 'POST, LOCK and PATCH requests are not retried once they were sent to a server (add non_idempotent to allow it)');
    notes.push('when no server is left the client gets 502 (504 after a timeout), or the last server\'s own response');
  }
  return {
    directive: `${u.directive} ${u.value}`,
    file: u.file,
    line: u.line,
    where: u.where.join(' > '),
    nextUpstream: p.conditions.join(' '),
    retries,
    counts,
    notes,
  };
}
