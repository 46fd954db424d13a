import { describe, expect, it } from 'vitest';
import { InstanceScan, type Scan, checkAgainst, moduleScan } from '../../bench/floor';
import { Balancer } from '../../src/balancer';
import { ManualClock } from '../../src/clock';

// bench/floor.ts times nginx's scan alone next to the Balancer's churn row; it is only a floor if it
// makes the same choices. bench/isolated.ts checks that before timing; this keeps the check itself
// honest (it must catch a scan that differs) and runs it on the sizes and weights of the bench.
const weightsOf = (n: number, skewed: boolean): number[] => Array.from({ length: n }, (_, i) => (skewed ? 1 + ((i * 7) % 10) : 1));

/** A fresh Balancer with the churn row's servers, as `checkAgainst` drives it (indices, not objects). */
function balancerOf(weights: number[], clock: ManualClock) {
  const b = new Balancer({ servers: weights.map((weight, i) => ({ address: `10.0.${i >> 8}.${i & 255}:25`, weight, failTimeout: 50 })), clock: clock.now });
  const servers = b.servers;
  const index = new Map(servers.map((s, i) => [s, i]));
  return {
    pick: () => {
      const s = b.pick();
      return s === undefined ? -1 : index.get(s)!;
    },
    release: (i: number, failed: boolean) => b.release(servers[i]!, failed),
  };
}

function check(n: number, skewed: boolean, shape: (w: number[], ft: number, clock: () => number) => Scan, failTimeout = 50): void {
  const clock = new ManualClock(0);
  const weights = weightsOf(n, skewed);
  checkAgainst(shape(weights, failTimeout, clock.now), balancerOf(weights, clock), () => clock.advance(1), 20_000);
}

const instance = (w: number[], ft: number, clock: () => number) => new InstanceScan(w, ft, clock);

describe('bench floor scans make the Balancer’s churn choices', () => {
  for (const n of [2, 8, 33, 64]) {
    for (const skewed of [false, true]) {
      it(`n=${n} ${skewed ? 'skewed' : 'uniform'}, object and module state`, () => {
        check(n, skewed, instance);
        check(n, skewed, moduleScan);
      });
    }
  }

  it('fails loudly when a scan differs (a different fail_timeout)', () => {
    expect(() => check(8, true, instance, 40)).toThrow(/floor scan diverged from the Balancer at step (\d+): \d+ instead of \d+/);
    expect(() => check(8, true, moduleScan, 60)).toThrow(/diverged/);
  });
});
