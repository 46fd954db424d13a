/**
 * The scenarios `record.ts` runs through real nginx with `worker_processes 2`, each upstream with
 * or without `zone` (ngx_stream_upstream_zone_module.c / ngx_http_upstream_zone_module.c): with a
 * zone the peers live in shared memory and both workers pick and free under its lock, so the
 * smooth weighted round robin, the failure window and `conns` are global; without one each worker
 * has its own copy of the peers (forked from the master's) and rotates on its own.
 *
 * Which worker accepts a connection is the kernel's choice (`listen ... reuseport`: a hash of the
 * client's address and port), so a scenario fixes only the script of connections; `demonstrates`
 * says whether a recording shows what the scenario is about (both workers took enough connections,
 * in the right places), and the recorder records again, from other source addresses, when not.
 *
 * Timing matters in one scenario only, `zone-fail-window` (fail_timeout=1s, bursts of connections
 * 2.5 s apart: the window has always run out between bursts and never inside one); elsewhere the
 * refusing server has `fail_timeout=30s` and a recording lasts well under a second. Pure data and
 * pure functions.
 */

import type { ScenarioServerParams } from '../scenario-server';
import type { ZoneStep } from './format';

/**
 * A client connection (held open with `hold`), the close of a held one, or a pause of the client
 * (`wait`, ms of real time; it starts a new burst: the recorder checks that each burst lasts less
 * than a second of nginx's time, so that a 1 s failure window cannot run out inside one).
 */
export type ZoneScriptOp = { op: 'connect'; hold?: boolean } | { op: 'close'; conn: number } | { op: 'wait'; ms: number };

export interface ZoneScenario {
  name: string;
  description: string;
  context: 'stream' | 'http';
  /** `zone NAME 64k;` in the upstream. */
  zone: boolean;
  /** In config order; ids are A, B, C, ... */
  servers: ScenarioServerParams[];
  script: ZoneScriptOp[];
  /** Whether a recording shows the scenario's point: null if it does, else why not. */
  demonstrates(steps: readonly ZoneStep[]): string | null;
}

const connects = (n: number): ZoneScriptOp[] => Array.from({ length: n }, () => ({ op: 'connect' as const }));

/** The connections of each worker (0, 1). */
function perWorker(steps: readonly ZoneStep[]): [number, number] {
  const n: [number, number] = [0, 0];
  for (const s of steps) if (s.op === 'connect') n[s.worker]++;
  return n;
}

/** Each worker took at least `min` connections. */
const bothWorkers = (min: number) => (steps: readonly ZoneStep[]): string | null => {
  const [a, b] = perWorker(steps);
  return a >= min && b >= min ? null : `workers took ${a} and ${b} connections (want >= ${min} each)`;
};

/**
 * The first connection that tried `id` and failed on it, and then at least `min` connections
 * accepted by the other worker: the other worker has had the chance to try it.
 */
const otherWorkerAfterFailure = (id: string, min: number) => (steps: readonly ZoneStep[]): string | null => {
  const at = steps.findIndex((s) => s.op === 'connect' && s.tried.includes(id));
  if (at < 0) return `${id} was never tried`;
  const first = steps[at]!;
  if (first.op !== 'connect') return 'unreachable';
  const other = steps.slice(at + 1).filter((s) => s.op === 'connect' && s.worker !== first.worker).length;
  return other >= min ? null : `only ${other} connections of the other worker after ${id} failed in worker ${first.worker} (want >= ${min})`;
};

const all = (...checks: Array<(steps: readonly ZoneStep[]) => string | null>) => (steps: readonly ZoneStep[]): string | null => {
  for (const c of checks) {
    const why = c(steps);
    if (why !== null) return why;
  }
  return null;
};

/** weight=1/2/4: a period of 7 picks, C B C A C B C (nginx's smooth order). */
const WEIGHTED: ScenarioServerParams[] = [{ weight: 1 }, { weight: 2 }, { weight: 4 }];
/** A w4, B w1 refusing (max_fails=1 fail_timeout=30s), C w2: the smooth order reaches B at the 4th pick (A C A B). */
const FAILING: ScenarioServerParams[] = [{ weight: 4 }, { weight: 1, maxFails: 1, failTimeout: 30, refusing: true }, { weight: 2 }];

function weighted(context: 'stream' | 'http', zone: boolean): ZoneScenario {
  return {
    name: `${zone ? 'zone' : 'nozone'}-weighted${context === 'http' ? '-http' : ''}`,
    description: zone
      ? `${context}, zone: weight=1/2/4, 42 sequential connections follow one smooth order whichever worker accepts them`
      : `${context}, no zone: weight=1/2/4, 42 sequential connections; each worker follows its own smooth order`,
    context,
    zone,
    servers: WEIGHTED,
    script: connects(42),
    demonstrates: bothWorkers(zone ? 8 : 10),
  };
}

function failing(context: 'stream' | 'http', zone: boolean): ZoneScenario {
  return {
    name: `${zone ? 'zone' : 'nozone'}-fail${context === 'http' ? '-http' : ''}`,
    description: zone
      ? `${context}, zone: A w4, B w1 refusing max_fails=1 fail_timeout=30s, C w2; B fails once, in one worker, and neither worker tries it again`
      : `${context}, no zone: A w4, B w1 refusing max_fails=1 fail_timeout=30s, C w2; each worker tries B at its own 4th connection`,
    context,
    zone,
    servers: FAILING,
    script: connects(28),
    // Without a zone each worker reaches B at its 4th connection: give both a few more.
    demonstrates: zone ? all(bothWorkers(4), otherWorkerAfterFailure('B', 5)) : bothWorkers(7),
  };
}

/**
 * zone, stream: A w3 max_conns=1, B w1. #1 holds A; while it is open every pick that would be A
 * goes to B in both workers (conns is global); after its close A is picked again.
 */
const MAX_CONNS: ZoneScenario = {
  name: 'zone-max-conns',
  description: 'stream, zone: A w3 max_conns=1, B w1; #1 holds A open for 10 connections (neither worker picks A), then closes',
  context: 'stream',
  zone: true,
  servers: [{ weight: 3, maxConns: 1 }, { weight: 1 }],
  script: [{ op: 'connect', hold: true }, ...connects(10), { op: 'close', conn: 1 }, ...connects(12)],
  demonstrates: (steps) => {
    const holder = steps[0];
    if (!holder || holder.op !== 'connect') return 'no first connection';
    const held = steps.slice(1, 11).filter((s) => s.op === 'connect' && s.worker !== holder.worker).length;
    return held >= 3 ? null : `only ${held} connections of the other worker while #1 was held (want >= 3)`;
  },
};

/**
 * zone, stream: A w4, B w1 refusing max_fails=1 fail_timeout=1s, C w2, three bursts of 14
 * connections 2.5 s apart. B fails in the first burst; after each pause the window has run out
 * (`accessed` and `checked` are shared), so B is tried once more per burst in all, by whichever
 * worker's pick reaches it, and then excluded for both again.
 */
const FAIL_WINDOW: ZoneScenario = {
  name: 'zone-fail-window',
  description: 'stream, zone: A w4, B w1 refusing max_fails=1 fail_timeout=1s, C w2; 3 bursts of 14 connections 2.5 s apart; B is retried once per burst in all',
  context: 'stream',
  zone: true,
  servers: [{ weight: 4 }, { weight: 1, maxFails: 1, failTimeout: 1, refusing: true }, { weight: 2 }],
  script: [...connects(14), { op: 'wait', ms: 2500 }, ...connects(14), { op: 'wait', ms: 2500 }, ...connects(14)],
  demonstrates: (steps) => {
    for (let burst = 0; burst < 3; burst++) {
      const why = bothWorkers(3)(steps.slice(burst * 14, burst * 14 + 14));
      if (why !== null) return `burst ${burst + 1}: ${why}`;
    }
    return null;
  },
};

export const SCENARIOS: readonly ZoneScenario[] = [
  weighted('stream', true),
  failing('stream', true),
  MAX_CONNS,
  weighted('stream', false),
  failing('stream', false),
  weighted('http', true),
  failing('http', true),
  weighted('http', false),
  failing('http', false),
  // (new scenarios go last: a scenario's backend addresses, 127.2.S.I, follow its place in this list)
  FAIL_WINDOW,
];
