/**
 * The vector format of the sticky-session suite (`test/vectors/sticky/<scenario>.json`, format 1):
 * one file per scenario with the upstream block as run (canonical addresses), the proxy
 * directives, the servers and their backends' answers, and what nginx 1.30 did, request by
 * request: the servers tried, the client's status, whose response it was, and every Set-Cookie
 * header nginx sent (exact bytes, session ids of the canonical addresses) with the response's
 * `Date`. Written by `record.ts`, replayed by `replay.test.ts`. Types, loading, the committed
 * layout and a one-line text form of each step for readable diffs; no I/O beyond the vector
 * directory.
 */

import { join } from 'node:path';
import { describeHttpTries, formatVersionedVector, loadJsonVectors, VECTOR_DIR, type VectorServer } from '../vector-format';
import type { Answer } from './scenarios';

/** Where the sticky vectors live. */
export const STICKY_VECTOR_DIR = join(VECTOR_DIR, 'sticky');

/**
 * What a tried server did: a scripted answer, `hold` (answered 200 at its release), `hold-body`
 * (sent the 200 header at once, its body at the release) or `refused`.
 */
export type RecordedAnswer = Answer | 'hold' | 'hold-body' | 'refused';

export interface StickyVectorServer extends VectorServer {
  /** The session id nginx gives the canonical address: the `route=`, else the hex MD5 of the address. */
  sid: string;
  drain: boolean;
  route: string | null;
  refusing: boolean;
  /** The backend's scripted answers (then 200). */
  answers: Answer[];
}

/** One client request through nginx. */
export interface RequestStep {
  op: 'request';
  /** Request number, 1-based; the path is `/n<n>`. */
  n: number;
  /** The query string sent (canonical session ids), or null. */
  args: string | null;
  /** The `Cookie` header sent (canonical session ids), or null. */
  cookie: string | null;
  /** The Set-Cookie value the backend added to its response (learn scenarios), or null. */
  backendCookie: string | null;
  /** Held at its backend until its `release` step: the whole `response`, or the `body` after the header; null: not held. */
  hold: 'response' | 'body' | null;
  /** Every server nginx tried, in order (`$upstream_addr`). */
  tried: string[];
  answers: RecordedAnswer[];
  /** `$upstream_status` per try. */
  upstreamStatus: number[];
  /** nginx found no live upstream at the end (`$upstream_addr` ends with the upstream's name). */
  nolive: boolean;
  /** The client's status. */
  status: number;
  /** Whose response the client got (`X-Backend`), or null: nginx's own. */
  from: string | null;
  /** Every `Set-Cookie` header of the response, in order, exact (canonical session ids). */
  setCookie: string[];
  /** The response's `Date` header (what `expires=` counts from). */
  date: string;
}

export type StickyStep =
  | RequestStep
  | { op: 'release'; n: number }
  | { op: 'stop'; server: string }
  | { op: 'start'; server: string }
  | { op: 'wait'; ms: number };

export interface StickyVector {
  format: 1;
  scenario: string;
  description: string;
  context: 'http';
  /** The `upstream u { ... }` block as run (canonical addresses). */
  config: string;
  /** The directives of `location / { }`. */
  proxy: string;
  /** `proxy_next_upstream` as written, or null when not written (nginx's default `error timeout`). */
  nextUpstream: string[] | null;
  servers: StickyVectorServer[];
  /** Per nginx version (`1.30.4`): every step, in order. */
  nginx: Record<string, StickyStep[]>;
}

/** Reads every vector in `dir`, sorted by file name. */
export function loadStickyVectors(dir = STICKY_VECTOR_DIR): Array<{ file: string; vector: StickyVector }> {
  return loadJsonVectors<StickyVector>(dir);
}

/** A vector as committed: the head fields, then one server and one step per line. */
export const formatStickyVector = (v: StickyVector): string => formatVersionedVector(v);

/**
 * One line per step, the Date left out (the replay checks `expires=` against it separately):
 * `#3 cookie=srv_id=… A:reset=502,B:200 =>200 B set=[srv_id=…]`, `#4 NOLIVE =>502`, `release #1`.
 */
export function describeStickyStep(step: StickyStep): string {
  if (step.op === 'release') return `release #${step.n}`;
  if (step.op === 'wait') return `wait ${step.ms}ms`;
  if (step.op !== 'request') return `${step.op} ${step.server}`;
  const sent = [step.args !== null ? `?${step.args}` : '', step.cookie !== null ? `cookie[${step.cookie}]` : '', step.backendCookie !== null ? `backend[${step.backendCookie}]` : '', step.hold !== null ? `hold-${step.hold}` : '']
    .filter(Boolean)
    .join(' ');
  let text = `#${step.n}${sent ? ` ${sent}` : ''} ${describeHttpTries(step)} =>${step.status}`;
  if (step.from !== null) text += ` ${step.from}`;
  text += ` set[${step.setCookie.join(' | ')}]`;
  return text;
}

/** nginx's cookie date (`ngx_http_cookie_time`: `Thu, 31-Dec-37 23:55:55 GMT`, years 20xx) in ms since the epoch. */
export function cookieTime(text: string): number {
  const m = /^\w{3}, (\d{2})-(\w{3})-(\d{2}) (\d{2}:\d{2}:\d{2}) GMT$/.exec(text);
  if (!m) throw new Error(`not an nginx cookie date: ${JSON.stringify(text)}`);
  return Date.parse(`${m[1]} ${m[2]} 20${m[3]} ${m[4]} GMT`);
}

/**
 * The step with each `expires=DATE; max-age=N` (other than `expires=max`'s fixed date) written as
 * `expires=<Date+Ns>`, its distance from the response's Date: what `--check` compares, since the
 * date itself depends on the second of the recording.
 */
export function relativeExpires(step: StickyStep): StickyStep {
  if (step.op !== 'request') return step;
  const base = Date.parse(step.date);
  const relative = (v: string): string =>
    v.replace(/; expires=([^;]+)(?=; max-age=(\d+))/, (whole, date: string, maxAge: string) =>
      maxAge === '315360000' ? whole : `; expires=<Date+${(cookieTime(date) - base) / 1000}s>`,
    );
  return { ...step, setCookie: step.setCookie.map(relative) };
}
