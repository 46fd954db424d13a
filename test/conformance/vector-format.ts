/**
 * The conformance vector format: a language-neutral JSON record of what real nginx did, written by
 * `recorder.ts` into `test/vectors/nginx-<series>/*.json` (one file per scenario per nginx series:
 * `nginx-1.22/`, `nginx-1.30/`) and replayed by `replay.test.ts` (and by ports to other
 * languages). Documented in `docs/testing.md`. Types, loading and a one-line text form of each
 * step (used for readable diffs), and the committed file layout; no I/O beyond reading the vector
 * directory.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One `server` line of the recorded upstream, in config order (the library's ServerOptions). */
export interface VectorServer {
  id: string;
  /** Canonical address as written in `config`; the recorder ran the same config on free ports. */
  address: string;
  weight: number;
  maxFails: number;
  /** ms (nginx seconds * 1000). */
  failTimeout: number;
  maxConns: number;
  backup: boolean;
  down: boolean;
}

/** A client connection through nginx: one balancer attempt. */
export interface ConnectStep {
  /** nginx second of the selection, relative to `epoch`. */
  t: number;
  op: 'connect';
  /** Connection number, 1-based, in connect order. */
  conn: number;
  /** Every server nginx tried, in order (ids). */
  tried: string[];
  /** Per tried server: `fail` (connect refused, counted as a failure) or `ok` (connected). */
  outcome: Array<'fail' | 'ok'>;
  /** The connection stayed open after connecting; it is released by a later `close` step. */
  hold: boolean;
  /** nginx found no eligible server after the tried ones ("no live upstreams"). */
  nolive: boolean;
  /** nginx's `$status`: 200 when a server answered, 502 otherwise. */
  status: number;
}

/** A held connection closed by the client: the balancer releases it (success, stream TCP). */
export interface CloseStep {
  t: number;
  op: 'close';
  conn: number;
}

/** The recorder started (`start`) or stopped (`stop`) a backend. No balancer call. */
export interface BackendStep {
  t: number;
  op: 'start' | 'stop';
  server: string;
}

export type Step = ConnectStep | CloseStep | BackendStep;

export interface Vector {
  format: 1;
  /** nginx version string that produced the vector, e.g. `nginx/1.22.1`. */
  nginx: string;
  /** Balancing method; `round-robin` (absent = round-robin). */
  method?: string;
  scenario: string;
  description: string;
  /** nginx module: `stream` (success counted at TCP connect) or `http`. */
  context: 'stream' | 'http';
  /** The `upstream u { ... }` block as run (with canonical addresses). */
  config: string;
  /** The directives of the `server { }` block that proxies to the upstream. */
  proxy: string;
  servers: VectorServer[];
  /** `proxy_next_upstream_tries`; 0 = no extra limit. */
  tries: number;
  /**
   * Ids of the backends that refuse connections (nothing listening) when the scenario starts; the
   * others accept. `stop` / `start` steps change this. A replay connects to a listening backend
   * and fails on a refusing one.
   */
  refusing: string[];
  /** Absolute nginx second (epoch seconds) that `t: 0` stands for. Replay at (epoch + t) * 1000 ms. */
  epoch: number;
  steps: Step[];
}

/** Directory of the committed vectors (the stream ones in a directory per nginx series, `vectorDir`). */
export const VECTOR_DIR = fileURLToPath(new URL('../vectors/', import.meta.url));

/** The nginx series the stream vectors are recorded from, each in its own directory. */
export const VECTOR_SERIES = ['1.22', '1.30'] as const;
export type VectorSeries = (typeof VECTOR_SERIES)[number];

/** The directory of one series' stream vectors: `test/vectors/nginx-1.30/`. */
export function vectorDir(series: string): string {
  return join(VECTOR_DIR, `nginx-${series}`);
}

/** Reads every `*.json` vector in `dir`, sorted by file name. */
export function loadVectors(dir = VECTOR_DIR): Array<{ file: string; vector: Vector }> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
  } catch {
    return [];
  }
  return names.map((file) => ({ file, vector: JSON.parse(readFileSync(join(dir, file), 'utf8')) as Vector }));
}

/**
 * A vector as committed: JSON with one server and one step per line, so that vector diffs read
 * well in git (the head fields first, then `servers`, then `steps`). Any vector of this suite or of
 * `methods/format.ts`.
 */
export function formatVector(v: { servers: readonly object[]; steps: readonly object[] }): string {
  const { servers, steps, ...head } = v;
  const lines = ['{'];
  for (const [k, val] of Object.entries(head)) lines.push(`  ${JSON.stringify(k)}: ${JSON.stringify(val)},`);
  lines.push('  "servers": [');
  servers.forEach((s, i) => lines.push(`    ${JSON.stringify(s)}${i < servers.length - 1 ? ',' : ''}`));
  lines.push('  ],');
  lines.push('  "steps": [');
  steps.forEach((s, i) => lines.push(`    ${JSON.stringify(s)}${i < steps.length - 1 ? ',' : ''}`));
  lines.push('  ]');
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/**
 * One line per step, e.g. `t+3 #5 A!,B hold`, `t+4 #6 NOLIVE 502`, `t+4 close #5`, `t+2 stop A`.
 * `X!` = tried and failed; a trailing `=>502` = the client got 502 after failures.
 */
export function describeStep(step: Step): string {
  const t = `t+${step.t}`;
  switch (step.op) {
    case 'connect': {
      const parts = step.tried.map((id, i) => (step.outcome[i] === 'fail' ? `${id}!` : id));
      if (step.nolive) parts.push('NOLIVE');
      let text = `${t} #${step.conn} ${parts.join(',')}`;
      if (step.status !== 200) text += ` =>${step.status}`;
      if (step.hold) text += ' hold';
      return text;
    }
    case 'close':
      return `${t} close #${step.conn}`;
    default:
      return `${t} ${step.op} ${step.server}`;
  }
}
