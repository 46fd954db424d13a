/**
 * The vector format of the balancing-method conformance suite (`test/vectors/methods-*.json`):
 * the round-robin format of `../vector-format.ts` (format 1) plus the method's parameters and a
 * per-connection `key`. Written by `record.ts` from real nginx, replayed by `replay.test.ts`.
 * Types, loading, and a one-line text form of each step for readable diffs; no I/O beyond
 * reading the vector directory.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VECTOR_DIR, type VectorServer } from '../vector-format';

export type { VectorServer };

/** One client connection (stream session or http request) = one balancer attempt. */
export interface MethodConnectStep {
  /** nginx second of the selection, relative to `epoch`. */
  t: number;
  op: 'connect';
  /** Connection number, 1-based, in connect order. */
  conn: number;
  /**
   * The key the balancer gets: `$ssl_preread_server_name` (SNI sent by the client), or the
   * client address text (`hash $remote_addr`, `ip_hash`); '' for least_conn and for a
   * ClientHello without SNI (an empty hash key: round robin).
   */
  key: string;
  /** Every server nginx tried, in order (ids). */
  tried: string[];
  /** Per tried server: `fail` (connect refused: a counted failure) or `ok` (connected). */
  outcome: Array<'fail' | 'ok'>;
  /** The connection stayed open after connecting; a later `close` step releases it. */
  hold: boolean;
  /** nginx found no eligible server after the tried ones ("no live upstreams"). */
  nolive: boolean;
  /** 200 when a server answered, 502 otherwise. */
  status: number;
}

/** A held connection closed by the client: its server is released (a success). */
export interface MethodCloseStep {
  t: number;
  op: 'close';
  conn: number;
}

export type MethodStep = MethodConnectStep | MethodCloseStep;

export type KeySource = '$ssl_preread_server_name' | '$remote_addr' | 'ip_hash' | 'none';

export interface MethodVector {
  format: 1;
  /** nginx version string that produced the vector, e.g. `nginx/1.22.1`. */
  nginx: string;
  method: 'least-conn' | 'hash' | 'ip-hash';
  /** `hash KEY consistent`. */
  hash?: { consistent: boolean };
  scenario: string;
  description: string;
  /** `stream` (a server is live at TCP connect) or `http` (at the end of the request). */
  context: 'stream' | 'http';
  /** Where nginx took the key from. */
  keySource: KeySource;
  /** The `upstream` block as run (real addresses: consistent hash hashes their text). */
  config: string;
  /** The directives of the proxying `server { }` block (the listen port is not part of it). */
  proxy: string;
  /** `proxy_next_upstream_tries`; 0 = no extra limit. */
  tries: number;
  /** Ids of servers nothing listens on (every connect to them is refused). */
  refusing: string[];
  /** Absolute nginx second that `t: 0` stands for. */
  epoch: number;
  /** The upstream in config order, every nginx default filled in (the library's ServerOptions). */
  servers: VectorServer[];
  steps: MethodStep[];
}

/** Vector files of this suite. */
export const METHOD_VECTOR_PREFIX = 'methods-';

/** Reads every `methods-*.json` vector, sorted by file name. */
export function loadMethodVectors(dir = VECTOR_DIR): Array<{ file: string; vector: MethodVector }> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.startsWith(METHOD_VECTOR_PREFIX) && n.endsWith('.json')).sort();
  } catch {
    return [];
  }
  return names.map((file) => ({ file, vector: JSON.parse(readFileSync(join(dir, file), 'utf8')) as MethodVector }));
}

/**
 * One line per step: `#5 "foo" B!,A`, `#6 "" NOLIVE =>502`, `#7 "" X hold`, `close #7`.
 * `X!` = tried and failed; `=>502` = the client got 502. The time is left out (see record.ts).
 */
export function describeMethodStep(step: MethodStep): string {
  if (step.op === 'close') return `close #${step.conn}`;
  const parts = step.tried.map((id, i) => (step.outcome[i] === 'fail' ? `${id}!` : id));
  if (step.nolive) parts.push('NOLIVE');
  let text = `#${step.conn} ${JSON.stringify(step.key)} ${parts.join(',')}`;
  if (step.status !== 200) text += ` =>${step.status}`;
  if (step.hold) text += ' hold';
  return text;
}
