/**
 * The vector format of the check-module recordings (`test/vectors/check/<run>.json`, format 1):
 * one file per run of scenarios.ts with the nginx text of its upstreams, what the module reported
 * for every peer at every check (nginx_upstream_check_module's `ngx_http_upstream_check_status_update`
 * as its status page shows it), and the status pages' bytes. Written by `record.ts`, replayed by
 * `replay.test.ts`. Types, loading and the committed layout (one step per line); no other I/O.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Condition } from './scenarios';

export const CHECK_VECTOR_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../vectors/check');

/** The module's view of one peer: its verdict and counters. */
export interface PeerState {
  down: boolean;
  rise: number;
  fall: number;
}

/** One check of a peer, as the status page showed it right after. */
export interface CheckStep extends PeerState {
  /** How the recorder's peer behaved during the check. */
  condition: Condition;
  /** The check passed (rise went up) or failed (fall went up). */
  ok: boolean;
}

export interface VectorPeer {
  upstream: string;
  /** The `server` line's address as written. */
  server: string;
  /** The row's `name` on the status page (nginx's text of the address). */
  name: string;
  /** The row's `index` on the status page. */
  index: number;
  /** Where the checks went (differs from `name` with `check port=`). */
  checkAt: string;
  /** The first request a check sent (`http` checks), or null. */
  request: string | null;
  /** Before any check. */
  initial: PeerState;
  steps: CheckStep[];
}

/** One status request and the module's answer. */
export interface PageResponse {
  target: string;
  code: number;
  contentType: string;
  body: string;
}

export interface PageBurst {
  /** `start`: before any check; `frozen`: after every peer's script, with no check able to change a counter. */
  at: 'start' | 'frozen';
  responses: PageResponse[];
}

export interface CheckVector {
  format: 1;
  run: string;
  description: string;
  /** nginx's version (`nginx -v`). */
  nginx: string;
  /** The check module's source and commit. */
  module: string;
  /** The `upstream` blocks (the body of `http {}`). */
  config: string;
  /** Each status location and the format its `check_status` line names (null: none, the module's default). */
  locations: Record<string, 'html' | 'csv' | 'json' | null>;
  peers: VectorPeer[];
  pages: PageBurst[];
}

export function loadCheckVectors(dir = CHECK_VECTOR_DIR): Array<{ file: string; vector: CheckVector }> {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, vector: JSON.parse(readFileSync(join(dir, file), 'utf8')) as CheckVector }));
}

/** The committed text: two-space JSON with every step and every response on one line. */
export function formatCheckVector(v: CheckVector): string {
  const head = { format: v.format, run: v.run, description: v.description, nginx: v.nginx, module: v.module, config: v.config, locations: v.locations };
  const lines: string[] = [JSON.stringify(head, null, 2).replace(/\n}$/, ',')];
  lines.push('  "peers": [');
  v.peers.forEach((p, i) => {
    const { steps, ...rest } = p;
    lines.push(`    ${JSON.stringify(rest).replace(/}$/, ',')}`);
    lines.push('     "steps": [');
    steps.forEach((s, j) => lines.push(`      ${JSON.stringify(s)}${j < steps.length - 1 ? ',' : ''}`));
    lines.push(`    ]}${i < v.peers.length - 1 ? ',' : ''}`);
  });
  lines.push('  ],');
  lines.push('  "pages": [');
  v.pages.forEach((b, i) => {
    lines.push(`    {"at": ${JSON.stringify(b.at)}, "responses": [`);
    b.responses.forEach((r, j) => lines.push(`      ${JSON.stringify(r)}${j < b.responses.length - 1 ? ',' : ''}`));
    lines.push(`    ]}${i < v.pages.length - 1 ? ',' : ''}`);
  });
  lines.push('  ]');
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** One line per step, for diffs and failure messages. */
export function describeCheckStep(p: VectorPeer, n: number): string {
  const s = n < 0 ? p.initial : p.steps[n]!;
  const what = n < 0 ? 'initial' : `check ${n + 1} ${p.steps[n]!.condition} ${p.steps[n]!.ok ? 'pass' : 'fail'}`;
  return `${p.upstream} ${p.name} ${what}: ${s.down ? 'down' : 'up'} rise=${s.rise} fall=${s.fall}`;
}
