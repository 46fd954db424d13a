/** Small helpers shared by the unit and property tests. */

import { expect } from 'vitest';
import { Balancer } from '../src/balancer';
import type { ServerOptions } from '../src/options';
import type { Peers } from '../src/peers';
import { type Ring, buildRing } from '../src/select/consistent-hash';
import { IncrementalRing, flatRing } from '../src/select/ketama-incremental';

/** `n` one-shot picks, each released at once as a success; ids joined by spaces ('-' = none). */
export function picks(b: Balancer, n: number): string {
  const out: string[] = [];
  for (let k = 0; k < n; k++) {
    const s = b.pick();
    out.push(s === undefined ? '-' : s.id);
    if (s !== undefined) b.release(s);
  }
  return out.join(' ');
}

/**
 * Runs one request: `dead` ids fail, others succeed. Returns nginx-style notation:
 * `D!,A` (D failed, A answered), `D!,E!=>502`, `NOLIVE`.
 */
export function request(b: Balancer, dead: ReadonlySet<string>, key?: string): string {
  const a = b.attempt(key);
  const steps: string[] = [];
  for (let s = a.next(); s !== undefined; s = a.next()) {
    if (dead.has(s.id)) {
      steps.push(`${s.id}!`);
      a.fail();
    } else {
      a.connected();
      a.release();
      steps.push(s.id);
      return steps.join(',');
    }
  }
  return steps.length === 0 ? 'NOLIVE' : `${steps.join(',')}=>502`;
}

/** Servers A, B, C, ... with the given weights (and extra options per server). */
export function named(weights: number[], extra: Record<string, unknown>[] = []) {
  return weights.map((weight, i) => ({
    id: String.fromCharCode(65 + i),
    address: `10.0.0.${i + 1}:25`,
    weight,
    ...(extra[i] ?? {}),
  }));
}

/** docs/nginx-semantics.md §2.8: the first 2*sum(weights) picks from a fresh state, servers A, B, C... */
export const SWRR_VECTORS: [number[], string][] = [
  [[5, 1, 1], 'A A B A C A A A A B A C A A'],
  [[1, 4], 'B B A B B B B A B B'],
  [[1, 1], 'A B A B'],
  [[3, 2, 1], 'A B A C B A A B A C B A'],
  [[2, 2, 1], 'A B C A B A B C A B'],
  [[1, 2, 3], 'C B A C B C C B A C B C'],
  [[4, 2], 'A B A A B A A B A A B A'],
  [[1, 1, 1], 'A B C A B C'],
];

/**
 * A consistent-hash balancer over `servers`, a ring keeper that patches every change after its
 * first build (share 0), and `step()`: the kept ring after the latest change, checked equal to
 * `buildRing` of the same tiers through `view` (what the test compares of a ring).
 */
export function keptRingSteps(servers: ServerOptions[], view: (ring: Ring) => unknown, allowBackupWithHash = false) {
  const b = new Balancer({ method: 'hash', hash: { consistent: true }, allowBackupWithHash, servers });
  const peers = (b as unknown as { members: { peers: Peers } }).members.peers;
  const keeper = new IncrementalRing(0);
  keeper.update(peers);
  const step = (): Ring => {
    const ring = flatRing(keeper.update(peers));
    expect(view(ring)).toEqual(view(buildRing(peers)));
    return ring;
  };
  return { b, step };
}
