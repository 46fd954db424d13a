/**
 * Round-robin conformance scenarios: what `recorder.ts` drives through real nginx (stream) to
 * produce `test/vectors/nginx-<series>/rr-*.json` (nginx 1.22 and 1.30). Each scenario is an
 * upstream block plus a script of timed blocks: `at(s)` starts block s (relative nginx second s,
 * 100 ms into it); the operations that follow run sequentially and must finish before 80 ms
 * ahead of the next second, so every selection lands in a known whole second. Semantics under test: docs/nginx-semantics.md
 * §2-4 (SWRR, passive window and probe, backup tier, tries, down, max_conns).
 */

import type { ScenarioServerParams } from './scenario-server';

/** A `server` line (parameters: `scenario-server.ts`) and the id the recorder and vectors use for it. */
export interface ScenarioServer extends ScenarioServerParams {
  id: string;
}

export type ScriptOp =
  | { op: 'at'; second: number }
  | { op: 'connect'; count: number; hold: boolean }
  | { op: 'close'; conns: number[] }
  | { op: 'stop' | 'start'; server: string };

export interface Scenario {
  name: string;
  description: string;
  servers: ScenarioServer[];
  /** `proxy_next_upstream_tries`; 0 (default) = no extra limit. */
  tries?: number;
  script: ScriptOp[];
}

/** Start block `second` (relative nginx second), 100 ms into that second. */
export const at = (second: number): ScriptOp => ({ op: 'at', second });
/** `count` sequential connections, each closed by the client once it knows who answered. */
export const connect = (count = 1): ScriptOp => ({ op: 'connect', count, hold: false });
/** `count` sequential connections kept open (those that reach a server) until a `close`. */
export const hold = (count = 1): ScriptOp => ({ op: 'connect', count, hold: true });
/** Close held connections by number (connections are numbered from 1 in connect order). */
export const close = (...conns: number[]): ScriptOp => ({ op: 'close', conns });
/** Stop a backend's listener (new connections are refused; open ones stay). */
export const stop = (server: string): ScriptOp => ({ op: 'stop', server });
/** Start a backend's listener again on the same port. */
export const start = (server: string): ScriptOp => ({ op: 'start', server });

const IDS = ['A', 'B', 'C', 'D', 'E', 'F'];

function swrr(weights: number[]): Scenario {
  const total = weights.reduce((a, b) => a + b, 0);
  return {
    name: `rr-swrr-${weights.join('-')}`,
    description: `Smooth weighted round robin, weights {${weights.join(',')}}, all servers answering: the first 2*sum(weights) = ${2 * total} connections.`,
    servers: weights.map((weight, i) => ({ id: IDS[i]!, weight })),
    script: [at(0), connect(2 * total)],
  };
}

export const SCENARIOS: Scenario[] = [
  swrr([5, 1, 1]),
  swrr([1, 4]),
  swrr([1, 1]),
  swrr([3, 2, 1]),
  swrr([2, 2, 1]),
  swrr([1, 2, 3]),
  swrr([4, 2]),
  swrr([1, 1, 1]),
  {
    name: 'rr-failover-backup',
    description:
      'The vendor failover pair (A max_fails=3 fail_timeout=3s; B backup). A stops: three refused connects (the third in second 1) exclude A through second 4 and B takes over; A restarts at second 3; the probe in second 5 connects (held open: stream clears fails at connect) and A takes everything back at once.',
    servers: [
      { id: 'A', maxFails: 3, failTimeout: 3 },
      { id: 'B', backup: true },
    ],
    script: [
      at(0), connect(2), stop('A'), connect(2),
      at(1), connect(2),
      at(2), connect(2),
      at(3), start('A'), connect(2),
      at(4), connect(2),
      at(5), hold(1), connect(2),
      at(6), connect(2), close(13), connect(1),
    ],
  },
  {
    name: 'rr-failover-probe-fails',
    description:
      'The vendor failover pair with a longer outage: A fails three times in second 0; the probes in seconds 4 and 8 are refused (each re-arms the 3 s window, a 4-second cadence); A restarts in second 9 and the probe in second 12 hands traffic back.',
    servers: [
      { id: 'A', maxFails: 3, failTimeout: 3 },
      { id: 'B', backup: true },
    ],
    script: [
      at(0), connect(1), stop('A'), connect(4),
      at(1), connect(2),
      at(3), connect(2),
      at(4), connect(2),
      at(5), connect(1),
      at(7), connect(1),
      at(8), connect(2),
      at(9), start('A'), connect(1),
      at(11), connect(1),
      at(12), connect(3),
      at(13), connect(2),
    ],
  },
  {
    name: 'rr-fails-accumulate',
    description:
      'max_fails=3 fail_timeout=10s: A alternately refuses and accepts. Successes in between do not clear fails (accessed == checked), so the third refusal (second 2) excludes A through second 12; second 13 probes A, the probe connects and A is back.',
    servers: [{ id: 'A', maxFails: 3, failTimeout: 10 }, { id: 'B' }],
    script: [
      at(0), stop('A'), connect(2), start('A'), connect(2),
      at(1), stop('A'), connect(2), start('A'), connect(2),
      at(2), stop('A'), connect(2), start('A'), connect(2),
      at(6), connect(2),
      at(12), connect(2),
      at(13), connect(4),
    ],
  },
  {
    name: 'rr-single-refusing',
    description:
      'A single server (D max_fails=1 fail_timeout=10s) that refuses: every connection is D! => 502, never "no live upstreams" (single mode ignores max_fails); once D listens again it answers at once.',
    servers: [{ id: 'D', maxFails: 1, failTimeout: 10, refusing: true }],
    script: [at(0), connect(3), at(1), connect(2), start('D'), connect(2)],
  },
  {
    name: 'rr-all-refusing',
    description:
      'Every server refusing (D, E with fail_timeout=3s): D!,E! => 502, then "no live upstreams" until the windows elapse (second 4), where both are tried again; E starts in second 5 and the probe in second 8 reaches it while D is tried and excluded again.',
    servers: [
      { id: 'D', failTimeout: 3, refusing: true },
      { id: 'E', failTimeout: 3, refusing: true },
    ],
    script: [
      at(0), connect(3),
      at(1), connect(1),
      at(3), connect(1),
      at(4), connect(2),
      at(5), start('E'), connect(1),
      at(8), connect(3),
      at(9), connect(2),
    ],
  },
  {
    name: 'rr-down',
    description: 'A `down` server (B) is never selected; the others keep their weights (A weight=2, C).',
    servers: [{ id: 'A', weight: 2 }, { id: 'B', down: true }, { id: 'C' }],
    script: [at(0), connect(8)],
  },
  {
    name: 'rr-down-tries',
    description:
      '`down` servers do not count in the tries (nginx >= 1.19.6): D refusing, E down: D! => 502 with no further get, then "no live upstreams" while D is excluded.',
    servers: [{ id: 'D', refusing: true }, { id: 'E', down: true }],
    script: [at(0), connect(3)],
  },
  {
    name: 'rr-max-conns',
    description:
      'max_conns=2 and max_conns=1 with five held connections: three are connected, two get "no live upstreams"; closing held connections frees slots for later ones.',
    servers: [
      { id: 'A', maxConns: 2 },
      { id: 'B', maxConns: 1 },
    ],
    script: [
      at(0), hold(5),
      at(1), close(1), hold(1), connect(1), close(2), connect(2),
      at(2), close(3, 6), connect(4),
    ],
  },
  {
    name: 'rr-backups-weighted',
    description:
      'Dead primaries D and E (refusing), two backups A weight=2 and B: the first connection tries D!,E! and falls to the backup tier; after that the backups share the load 2:1 by SWRR.',
    servers: [
      { id: 'D', refusing: true },
      { id: 'E', refusing: true },
      { id: 'A', weight: 2, backup: true },
      { id: 'B', backup: true },
    ],
    script: [at(0), connect(7)],
  },
  {
    name: 'rr-weighted-recovery',
    description:
      'A weight=6 max_fails=3, B: the first two selections of A are refused (effective weight 6 -> 4 -> 2, fails 2 so A stays eligible); A then answers and its effective weight climbs back by +1 per round.',
    servers: [{ id: 'A', weight: 6, maxFails: 3 }, { id: 'B' }],
    script: [at(0), stop('A'), connect(2), start('A'), connect(14)],
  },
  {
    name: 'rr-tries-limit',
    description:
      'proxy_next_upstream_tries 2 with D and E refusing and A answering: the first connection gives up after D!,E! (502) although A was left; later ones go to A.',
    servers: [{ id: 'D', refusing: true }, { id: 'E', refusing: true }, { id: 'A' }],
    tries: 2,
    script: [at(0), connect(4)],
  },
];
