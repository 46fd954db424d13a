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
  return loadJsonVectors<Vector>(dir);
}

/** Reads every `*.json` file in `dir` as a vector of type `V`, sorted by file name (none: a missing directory). */
export function loadJsonVectors<V>(dir: string): Array<{ file: string; vector: V }> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
  } catch {
    return [];
  }
  return names.map((file) => ({ file, vector: JSON.parse(readFileSync(join(dir, file), 'utf8')) as V }));
}

/**
 * A vector as committed: JSON with one server and one step per line, so that vector diffs read
 * well in git (the head fields first, then `servers`, then `steps`). Any vector of this suite or of
 * `methods/format.ts`.
 */
export function formatVector(v: { servers: readonly object[]; steps: readonly object[] }): string {
  const { servers, steps, ...head } = v;
  const lines = ['{', ...headLines(head), ...jsonList('servers', servers, '  ', true), ...jsonList('steps', steps, '  ', false), '}'];
  return `${lines.join('\n')}\n`;
}

/**
 * A vector with its steps per nginx version (the http and sticky suites) as committed: the head
 * fields, `servers` one per line, then `nginx` with each version's steps one per line, versions in
 * ascending order (`1.22.1` before `1.30.4`).
 */
export function formatVersionedVector(v: { servers: readonly object[]; nginx: Record<string, readonly object[]> }): string {
  const { servers, nginx, ...head } = v;
  const versions = Object.keys(nginx).sort(compareVersions);
  const lines = ['{', ...headLines(head), ...jsonList('servers', servers, '  ', true), '  "nginx": {'];
  versions.forEach((version, i) => lines.push(...jsonList(version, nginx[version]!, '    ', i < versions.length - 1)));
  lines.push('  }', '}');
  return `${lines.join('\n')}\n`;
}

/** Each head field on a line of its own, each followed by a comma. */
const headLines = (head: object): string[] => Object.entries(head).map(([k, val]) => `  ${JSON.stringify(k)}: ${JSON.stringify(val)},`);

/** `"name": [` then one item per line, then `]` (with a comma when `more` follows). */
function jsonList(name: string, items: readonly object[], indent: string, more: boolean): string[] {
  const lines = [`${indent}${JSON.stringify(name)}: [`];
  items.forEach((item, i) => lines.push(`${indent}  ${JSON.stringify(item)}${i < items.length - 1 ? ',' : ''}`));
  lines.push(`${indent}]${more ? ',' : ''}`);
  return lines;
}

/** Orders `1.22.1` before `1.30.4` (numerically, part by part). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The tries of one http request as the http and sticky suites write them in a step's line:
 * `A:reset=502,B:200` (the upstream status after `=` only where it differs from the answer), then
 * `NOLIVE` when nginx found no live upstream after them.
 */
export function describeHttpTries(step: { tried: readonly string[]; answers: readonly string[]; upstreamStatus: readonly number[]; nolive: boolean }): string {
  const parts = step.tried.map((id, i) => {
    const answer = step.answers[i];
    const status = step.upstreamStatus[i];
    return String(status) === answer ? `${id}:${answer}` : `${id}:${answer}=${status}`;
  });
  if (step.nolive) parts.push('NOLIVE');
  return parts.join(',');
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
