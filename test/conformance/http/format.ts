/**
 * The vector format of the http next-upstream suite (`test/vectors/http/<scenario>.json`, format 1;
 * docs/testing.md): one file per scenario with the scenario's upstream, proxy directives and
 * backend answers, and what each nginx version did, request by request. Written by `record.ts`,
 * replayed by `replay.test.ts`. Types, loading, the committed layout and a one-line text form of
 * each step for readable diffs; no I/O beyond the vector directory.
 */

import { join } from 'node:path';
import type { NextUpstreamCondition } from '../../../src/index';
import { describeHttpTries, formatVersionedVector, loadJsonVectors, VECTOR_DIR, type VectorServer } from '../vector-format';
import type { RecordedAnswer } from './outcomes';
import type { Answer } from './scenarios';

/** Where the http vectors live. */
export const HTTP_VECTOR_DIR = join(VECTOR_DIR, 'http');

/** A `server` line with nginx's defaults filled in, and its backend's scripted answers. */
export interface HttpVectorServer extends VectorServer {
  /** The answers to the first requests that reach it, in order. */
  answers: Answer[];
  /** The answer to every later request. */
  then: Answer;
}

/** One client request through nginx: one balancer attempt. */
export interface RequestStep {
  op: 'request';
  /** Request number, 1-based. */
  n: number;
  method: 'GET' | 'POST';
  /** The request had a body (`Content-Length` > 0). */
  body: boolean;
  /** Every server nginx tried, in order (`$upstream_addr`, mapped to ids). */
  tried: string[];
  /** What each tried server did: a scripted answer, or `refused` (nothing listening). */
  answers: RecordedAnswer[];
  /** nginx's `$upstream_status` for each try (502 for an error or invalid header, 504 for a timeout). */
  upstreamStatus: number[];
  /** nginx then found no live upstream (`$upstream_addr` ends with the upstream's name). */
  nolive: boolean;
  /** The status the client got (`$status`, and the client's own reading agree). */
  status: number;
  /** Whose response the client got (the backend's `X-Backend`), or null: nginx answered itself. */
  from: string | null;
  /** The client got the whole body (Content-Length or chunked end), or the connection broke first. */
  complete: boolean;
  /**
   * nginx's error log for this request: each `[error]` / `[warn]` line without its time, pid and
   * `, client: ...` context. Documentation of why each try ended; not replayed.
   */
  log: string[];
}

/** The recorder stopped (`stop`) or started (`start`) a backend's listener. No balancer call. */
export interface BackendStep {
  op: 'stop' | 'start';
  server: string;
}

export type HttpStep = RequestStep | BackendStep;

export interface HttpVector {
  format: 1;
  scenario: string;
  description: string;
  context: 'http';
  /** The `upstream u { ... }` block as run (canonical addresses). */
  config: string;
  /** The directives of the proxying `location / { }` block. */
  proxy: string;
  /** `proxy_next_upstream` as written, or null when not written (nginx's default `error timeout`). */
  nextUpstream: NextUpstreamCondition[] | null;
  /** `proxy_next_upstream_tries` (0 = no extra limit). */
  tries: number;
  /** `proxy_next_upstream_timeout` in ms (0 = none). */
  timeout: number;
  /** `proxy_read_timeout` in ms: how long a `hang` takes. */
  readTimeout: number;
  /** Backends with no listener at the start (connects refused); `stop` / `start` steps change this. */
  refusing: string[];
  /** Servers the scenario shows were never counted failed (the replay checks the Balancer's counters). */
  notFailed: string[];
  servers: HttpVectorServer[];
  /** Per nginx version (`1.22.1`, `1.30.4`): every step, in order. */
  nginx: Record<string, HttpStep[]>;
}

/** Reads every vector in `dir`, sorted by file name. */
export function loadHttpVectors(dir = HTTP_VECTOR_DIR): Array<{ file: string; vector: HttpVector }> {
  return loadJsonVectors<HttpVector>(dir);
}

/** A vector as committed: the head fields, then one server and one step per line. */
export const formatHttpVector = (v: HttpVector): string => formatVersionedVector(v);

/**
 * One line per step, without the log: `#3 GET A:reset=502,B:200 =>200 B`, `#4 POST A:hang=504 =>504`,
 * `#5 GET NOLIVE =>502`, `#6 GET A:reset-body =>200 A truncated`, `stop A`.
 */
export function describeHttpStep(step: HttpStep): string {
  if (step.op !== 'request') return `${step.op} ${step.server}`;
  let text = `#${step.n} ${step.method}${step.method !== 'GET' && !step.body ? '(no body)' : ''} ${describeHttpTries(step)} =>${step.status}`;
  if (step.from !== null) text += ` ${step.from}`;
  if (!step.complete) text += ' truncated';
  return text;
}
