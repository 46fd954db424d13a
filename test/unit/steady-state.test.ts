import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock } from '../../src/clock';
import { roundRobinStateOf } from '../../src/select/round-robin/index';
import { windowEnd } from '../../src/select/round-robin/steady-replay';
import type { ServerRecord } from '../../src/server';
import { RefUpstream } from '../reference/nginx-rr';
import { named } from '../helpers';
import { seededRandom } from '../../src/clock';

/** The next double above `x` (x > 0). */
function above(x: number): number {
  const f = new Float64Array([x]);
  new BigInt64Array(f.buffer)[0]! += 1n;
  return f[0]!;
}

/** Introspection: the steady replay of the tier a server belongs to. */
const tierOf = (b: Balancer, id: string) => roundRobinStateOf(b.get(id) as ServerRecord)!.replay;

describe('windowEnd: the last now inside a passive window', () => {
  it('is checked + failTimeout for integer times', () => {
    expect(windowEnd(1000, 50)).toBe(1050);
    expect(windowEnd(0, 0)).toBe(0);
    expect(windowEnd(1_764_000_000_000, 10_000)).toBe(1_764_000_010_000);
  });

  it.each([
    [0.1, 0.2],
    [1e15 + 0.5, 0.3],
    [123.456, 789.0123],
    [2 ** 52 - 0.5, 1.5],
  ])('agrees with now - checked <= failTimeout at the boundary (checked %d, failTimeout %d)', (checked, failTimeout) => {
    const end = windowEnd(checked, failTimeout);
    expect(end - checked <= failTimeout).toBe(true);
    expect(above(end) - checked <= failTimeout).toBe(false);
  });
});

describe('replay around a server inside its passive window', () => {
  it('replays the others while A sits out fail_timeout, then probes A exactly when nginx would', () => {
    const clock = new ManualClock(0);
    const servers = named([1, 2, 3], [{ failTimeout: 10_000 }, { failTimeout: 10_000 }, { failTimeout: 10_000 }]);
    const b = new Balancer({ servers, clock: clock.now });
    const ref = new RefUpstream(servers);
    const mine: string[] = [];
    const theirs: string[] = [];
    const replaying: number[] = [];
    const step = (fail = false) => {
      const s = b.pick()!;
      const p = ref.pick(clock.now())!;
      mine.push(s.id);
      theirs.push(p.id);
      b.release(s, fail);
      ref.release(p, fail, clock.now());
      const t = tierOf(b, 'B');
      if (t.replaying && t.validUntil !== Infinity) replaying.push(clock.now());
    };
    // C B A ...: A, the third pick, fails at t = 0 and is out while now - 0 <= 10 s.
    step();
    step();
    step(true);
    expect(mine).toEqual(['C', 'B', 'A']);
    for (let k = 0; k < 150; k++) {
      clock.advance(100);
      step();
    }
    expect(mine).toEqual(theirs);
    // A comes back only after its window (picks at t = 100, 200, ..., 15000: index k+3 is t = 100(k+1)).
    const firstA = mine.indexOf('A', 3);
    expect(firstA).toBeGreaterThan(3);
    expect((firstA - 2) * 100).toBeGreaterThan(10_000);
    // The B/C rounds in between were replayed from a period (after one recorded window), with the
    // clock compared to the end of A's window, and the replay stopped at it.
    expect(replaying.length).toBeGreaterThan(80);
    expect(Math.max(...replaying)).toBeLessThanOrEqual(10_000);
    expect(tierOf(b, 'B').validUntil).toBe(Infinity);
  });

  it("leaves the replay when a probe's success brings the server back early", () => {
    // A probe selected at the window's end is out again for another window; its success clears the
    // failures at release, before that second window ends: A must join the very next round.
    const clock = new ManualClock(0);
    const servers = named([1, 1, 1], [{ failTimeout: 1000 }, { failTimeout: 1000 }, { failTimeout: 1000 }]);
    const b = new Balancer({ servers, clock: clock.now });
    const ref = new RefUpstream(servers);
    const a = b.pick()!;
    const ra = ref.pick(0)!;
    expect(a.id).toBe('A');
    b.release(a, true);
    ref.release(ra, true, 0);
    const seq: string[] = [];
    let probe: ReturnType<Balancer['pick']>;
    let refProbe: ReturnType<RefUpstream['pick']> = null;
    let replayedAtRelease = false;
    for (let k = 0; k < 40; k++) {
      clock.advance(50);
      const s = b.pick()!;
      const p = ref.pick(clock.now())!;
      expect(s.id).toBe(p.id);
      seq.push(s.id);
      if (s.id === 'A' && probe === undefined) {
        probe = s; // held: A is out again until the probe ends
        refProbe = p;
        continue;
      }
      b.release(s);
      ref.release(p, false, clock.now());
      if (probe !== undefined && k % 7 === 0 && refProbe !== null) {
        const t = tierOf(b, 'A');
        if (t.replaying && t.validUntil !== Infinity) replayedAtRelease = true;
        b.release(probe);
        ref.release(refProbe, false, clock.now());
        refProbe = null;
      }
    }
    expect(replayedAtRelease).toBe(true);
    expect(seq.filter((id) => id === 'A').length).toBeGreaterThan(1);
    expect(b.get('A')!.fails).toBe(0);
  });
});

describe('finding the period after a change (ring of the last W picks)', () => {
  it('replays from the middle of the ring after a transient, with the picks and weights of the scan', () => {
    const rand = seededRandom(2026);
    let midRing = 0;
    let entered = 0;
    for (let scenario = 0; scenario < 60; scenario++) {
      const n = 2 + Math.floor(rand() * 5);
      const weights = Array.from({ length: n }, () => 1 + Math.floor(rand() * 7));
      const servers = named(weights);
      // Lazy tiers keep the recording window (smaller tiers compute calm rounds ahead instead:
      // test/unit/churn-ahead.test.ts).
      const b = new Balancer({ servers, tuning: { lazyFromServers: 1 } });
      const ref = new RefUpstream(servers);
      const W = weights.reduce((x, y) => x + y, 0);
      const step = () => {
        const s = b.pick()!;
        const p = ref.pick(0)!;
        b.release(s);
        ref.release(p, false, 0);
        return [s.id, p.id];
      };
      for (let k = Math.floor(rand() * 2 * W); k > 0; k--) step();
      // A weight change leaves the tier in a state that is not a period start.
      const id = String.fromCharCode(65 + Math.floor(rand() * n));
      const weight = 1 + Math.floor(rand() * 7);
      b.update(id, { weight });
      ref.update(id, { weight });
      const t = tierOf(b, 'A');
      const W2 = W - weights[id.charCodeAt(0) - 65]! + weight;
      for (let k = 0; k < 6 * W2; k++) {
        const recording = t.windowRounds >= 0;
        const [mine, theirs] = step();
        expect(mine, `scenario ${scenario} pick ${k}`).toBe(theirs);
        if (recording && t.replaying) {
          // this pick completed a period in the ring: replay continues from its oldest entry
          entered++;
          if (t.position !== 0) midRing++;
        }
      }
      expect(b.servers.map((x) => x.currentWeight)).toEqual(ref.peers.map((p) => p.currentWeight));
    }
    expect(entered).toBeGreaterThan(40);
    expect(midRing).toBeGreaterThan(5);
  });
});

