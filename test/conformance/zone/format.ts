/**
 * The vector format of the zone conformance suite (`test/vectors/zone/nginx-<series>/<scenario>.json`):
 * what nginx with `worker_processes 2` did, per connection, with or without `zone` in the
 * upstream. The round-robin format of `../vector-format.ts` (format 1) plus `zone`, `workers` and,
 * per connection, the worker that accepted it. Written by `record.ts`, replayed by `replay.test.ts`.
 * Types, loading, the one-line text of a step, and the two views `--check` compares (the kernel
 * chooses the accepting worker, so a fresh recording is compared in the view that does not depend
 * on that choice). No I/O beyond reading the vector directory.
 */

import { join } from 'node:path';
import { loadJsonVectors, VECTOR_DIR, type VectorServer } from '../vector-format';

export type { VectorServer };

/** One client connection (stream session or http request) = one balancer attempt in one worker. */
export interface ZoneConnectStep {
  /** nginx second of the session's start, relative to `epoch`. */
  t: number;
  op: 'connect';
  /** Connection number, 1-based, in connect order. */
  conn: number;
  /** The nginx worker that accepted it: 0 = the worker of the scenario's first connection, 1 = the other. */
  worker: 0 | 1;
  /** Every server nginx tried, in order (ids). */
  tried: string[];
  /** Per tried server: `fail` (connect refused: a counted failure) or `ok` (connected). */
  outcome: Array<'fail' | 'ok'>;
  /** The connection stayed open; a later `close` step releases it. */
  hold: boolean;
  /** nginx found no eligible server after the tried ones ("no live upstreams"). */
  nolive: boolean;
  /** 200 when a server answered, 502 otherwise. */
  status: number;
}

/** A held connection closed by the client: its server is released (a success) in its worker. */
export interface ZoneCloseStep {
  t: number;
  op: 'close';
  conn: number;
}

export type ZoneStep = ZoneConnectStep | ZoneCloseStep;

export interface ZoneVector {
  format: 1;
  /** nginx version string that produced the vector, e.g. `nginx/1.22.1`. */
  nginx: string;
  scenario: string;
  description: string;
  /** `stream` (a server is live at TCP connect) or `http` (at the end of the request). */
  context: 'stream' | 'http';
  /** Whether the upstream had `zone` (peers shared by the workers) or not (a copy per worker). */
  zone: boolean;
  /** `worker_processes`. */
  workers: 2;
  /** The `upstream` block as run (real backend addresses; the zone name as written). */
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
  steps: ZoneStep[];
}

/** The zone vectors of one nginx series: `test/vectors/zone/nginx-1.30/`. */
export function zoneVectorDir(series: string): string {
  return join(VECTOR_DIR, 'zone', `nginx-${series}`);
}

/** Reads every vector of one series, sorted by file name. */
export function loadZoneVectors(series: string): Array<{ file: string; vector: ZoneVector }> {
  return loadJsonVectors<ZoneVector>(zoneVectorDir(series));
}

/** The tried servers of a connection: `A!,C` (`!` = failed), `NOLIVE` when none was left, `=>502`, `hold`. */
function triedText(s: Pick<ZoneConnectStep, 'tried' | 'outcome' | 'nolive' | 'status' | 'hold'>): string {
  const parts = s.tried.map((id, i) => (s.outcome[i] === 'fail' ? `${id}!` : id));
  if (s.nolive) parts.push('NOLIVE');
  let text = parts.join(',');
  if (s.status !== 200) text += ` =>${s.status}`;
  if (s.hold) text += ' hold';
  return text;
}

/** One line per step: `#5 w1 B!,A`, `#6 w0 C hold`, `close #6`. The time is left out. */
export function describeZoneStep(step: ZoneStep): string {
  if (step.op === 'close') return `close #${step.conn}`;
  return `#${step.conn} w${step.worker} ${triedText(step)}`;
}

/**
 * What a recording with a zone must reproduce: the steps in connection order without the worker
 * (`#5 B!,A`), which is all the shared state depends on.
 */
export function globalView(steps: readonly ZoneStep[]): string[] {
  return steps.map((s) => (s.op === 'close' ? `close #${s.conn}` : `#${s.conn} ${triedText(s)}`));
}

/**
 * What a recording without a zone must reproduce: each worker's own connections in its order
 * (`w1 3rd: B!,A`), as two lists; each worker's state depends on its own connections only.
 */
export function workerViews(steps: readonly ZoneStep[]): [string[], string[]] {
  const views: [string[], string[]] = [[], []];
  for (const s of steps) if (s.op === 'connect') views[s.worker].push(triedText(s));
  return views;
}
