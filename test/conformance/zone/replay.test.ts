/**
 * Replays every zone vector (`test/vectors/zone/nginx-<series>/*.json`, written by `record.ts` from
 * nginx with `worker_processes 2`) through the library, one balancer per nginx worker, and asserts
 * the whole trace: each connection goes through the balancer of the worker that accepted it, and
 * the servers it tried must be nginx's, in order.
 * - with `zone`: ONE `createZone(...)` and two `Balancer.fromZone(zone)` (two balancers over the
 *   same shared state, as two nginx workers over one zone; both in this thread);
 * - without: two independent `new Balancer(...)`, as each nginx worker has its own copy of the peers.
 * The environment is re-enacted as in the other replays (`../replay-helpers.ts`): a server listed
 * in `refusing` fails every connect, any other connects; stream marks a server live at connect,
 * http at the end; a held connection is released by its `close` step. Each worker's balancer runs
 * on its own whole-second ManualClock, and both are set to the step's time before every step.
 *
 * Independently of the library, the vectors themselves are checked against a ten-line reference of
 * nginx's smooth weighted round robin (`swrr`): with a zone the connections of both workers
 * together follow one sequence; without, each worker's connections follow a sequence of their own.
 * No network, no nginx, no real time.
 */

import { afterAll, describe, expect, test } from 'vitest';
import { Balancer, type BalancerOptions } from '../../../src/index';
import { createZone, type UpstreamZone } from '../../../src/zone';
import { expectWellFormed, Replay } from '../replay-helpers';
import { VECTOR_SERIES, type VectorSeries } from '../vector-format';
import { describeZoneStep, globalView, loadZoneVectors, workerViews, type ZoneConnectStep, type ZoneVector } from './format';

/** A Replay whose balancer is a zone's, opened on the replay's own clock (one per nginx worker). */
class ZoneWorkerReplay extends Replay {
  declare readonly balancer: Balancer;

  constructor(v: ZoneVector, options: Omit<BalancerOptions, 'name' | 'clock'>, zone: UpstreamZone) {
    super(v, options);
    this.balancer = Balancer.fromZone(zone, { clock: this.clock.now });
  }
}

const opened: Balancer[] = [];
afterAll(async () => {
  for (const b of opened) await b.close();
});

/** Runs a vector's steps through one balancer per worker; one `describeZoneStep` line per step. */
function replay(v: ZoneVector, series: VectorSeries): string[] {
  const options = { nginx: series, method: 'round-robin' as const, servers: v.servers, tries: v.tries };
  let workers: [Replay, Replay];
  if (v.zone) {
    const zone = createZone({ name: 'u', ...options });
    workers = [new ZoneWorkerReplay(v, options, zone), new ZoneWorkerReplay(v, options, zone)];
  } else workers = [new Replay(v, options), new Replay(v, options)];
  opened.push(...workers.map((w) => w.balancer));
  const acceptedBy = new Map<number, Replay>();
  const lines = v.steps.map((step) => {
    for (const w of workers) w.at(step.t);
    if (step.op === 'close') {
      const w = acceptedBy.get(step.conn);
      return w?.close(step.conn) ? describeZoneStep(step) : `${describeZoneStep(step)} (not open in the replay)`;
    }
    const w = workers[step.worker];
    acceptedBy.set(step.conn, w);
    return describeZoneStep({ ...step, ...w.connect(step.conn, undefined, step.hold) });
  });
  return [...lines, ...workers.flatMap((w) => w.leftovers())];
}

/** nginx's smooth weighted round robin over always-eligible servers: the first `n` picks. */
function swrr(servers: ReadonlyArray<{ id: string; weight: number }>, n: number): string[] {
  const current = servers.map(() => 0);
  const total = servers.reduce((s, x) => s + x.weight, 0);
  const out: string[] = [];
  for (let k = 0; k < n; k++) {
    let best = 0;
    servers.forEach((s, i) => {
      current[i]! += s.weight;
      if (current[i]! > current[best]!) best = i;
    });
    current[best]! -= total;
    out.push(servers[best]!.id);
  }
  return out;
}

const connects = (v: ZoneVector): ZoneConnectStep[] => v.steps.filter((s): s is ZoneConnectStep => s.op === 'connect');
const tried = (steps: readonly ZoneConnectStep[]): string[] => steps.map((s) => s.tried.join(','));

const bySeries = VECTOR_SERIES.map((series) => ({ series, vectors: loadZoneVectors(series) }));

test('both series hold the same zone scenarios, and nginx 1.22 and 1.30 behave alike in each view', () => {
  const names = bySeries.map(({ vectors }) => vectors.map(({ vector }) => vector.scenario));
  expect(names[0]!.length).toBeGreaterThanOrEqual(9);
  for (const n of names) expect(n).toEqual(names[0]);
  const [old, now] = bySeries.map(({ vectors }) => new Map(vectors.map(({ vector }) => [vector.scenario, vector])));
  for (const [name, a] of old!) {
    const b = now!.get(name)!;
    if (a.zone) expect({ name, steps: globalView(b.steps) }).toEqual({ name, steps: globalView(a.steps) });
    else {
      const [va, vb] = [workerViews(a.steps), workerViews(b.steps)];
      for (const w of [0, 1] as const) {
        const n = Math.min(va[w].length, vb[w].length);
        expect({ name, w, steps: vb[w].slice(0, n) }).toEqual({ name, w, steps: va[w].slice(0, n) });
      }
    }
  }
});

for (const { series, vectors } of bySeries) describe(`zone vectors recorded from nginx ${series} with worker_processes 2`, () => {
  const get = (name: string): ZoneVector => vectors.find(({ vector }) => vector.scenario === name)!.vector;

  test('vectors are present, well-formed, recorded from that series, and both workers took connections', () => {
    for (const { file, vector } of vectors) {
      expectWellFormed(file, vector);
      expect(vector.nginx.startsWith(`nginx/${series}.`)).toBe(true);
      expect(vector.workers).toBe(2);
      const [a, b] = workerViews(vector.steps);
      expect({ file, w0: a.length >= 4, w1: b.length >= 4 }).toEqual({ file, w0: true, w1: true });
      expect(connects(vector)[0]!.worker).toBe(0);
    }
  });

  test('with a zone, the connections of both workers follow ONE smooth weighted sequence (weight=1/2/4)', () => {
    for (const name of ['zone-weighted', 'zone-weighted-http']) {
      const v = get(name);
      expect(tried(connects(v))).toEqual(swrr(v.servers, connects(v).length));
    }
  });

  test('without a zone, each worker follows its own smooth weighted sequence from the start', () => {
    for (const name of ['nozone-weighted', 'nozone-weighted-http']) {
      const v = get(name);
      for (const w of [0, 1]) {
        const mine = connects(v).filter((s) => s.worker === w);
        expect(tried(mine)).toEqual(swrr(v.servers, mine.length));
      }
      // ... so the two together do not follow the single sequence
      expect(tried(connects(v))).not.toEqual(swrr(v.servers, connects(v).length));
    }
  });

  test('with a zone, B fails once, in one worker, and neither worker tries it again (max_fails=1 fail_timeout=30s)', () => {
    for (const name of ['zone-fail', 'zone-fail-http']) {
      const v = get(name);
      const withB = connects(v).filter((s) => s.tried.includes('B'));
      expect(withB.map((s) => s.tried.join(','))).toEqual(['B,A']);
      expect(withB[0]!.conn).toBe(4); // A C A B: the 4th pick of the one sequence
      expect(connects(v).some((s) => s.conn > 4 && s.worker !== withB[0]!.worker)).toBe(true);
    }
  });

  test('without a zone, each worker tries B at its own 4th connection: a failure in one does not exclude it in the other', () => {
    for (const name of ['nozone-fail', 'nozone-fail-http']) {
      const v = get(name);
      for (const w of [0, 1]) {
        const mine = connects(v).filter((s) => s.worker === w);
        expect(mine.map((s) => s.tried.includes('B'))).toEqual(mine.map((_, i) => i === 3));
        expect(mine[3]!.tried).toEqual(['B', 'A']);
      }
    }
  });

  test('with a zone, the failure window is shared: B is retried once per burst in all (fail_timeout=1s, bursts 2.5 s apart)', () => {
    const v = get('zone-fail-window');
    const withB = connects(v).filter((s) => s.tried.includes('B'));
    expect(withB.map((s) => s.tried.join(','))).toEqual(['B,A', 'B,A', 'B,A']);
    expect(new Set(withB.map((s) => s.t)).size).toBe(3);
  });

  test('with a zone, conns is global: while #1 holds A (max_conns=1) neither worker picks it', () => {
    const v = get('zone-max-conns');
    const closeAt = v.steps.findIndex((s) => s.op === 'close');
    const held = v.steps.slice(1, closeAt) as ZoneConnectStep[];
    expect(held.map((s) => s.tried.join(','))).toEqual(held.map(() => 'B'));
    expect(new Set(held.map((s) => s.worker)).size).toBe(2);
  });

  for (const { file, vector } of vectors) {
    const n = connects(vector).length;
    test(`${vector.scenario} (${file}, ${vector.zone ? 'one zone, two fromZone balancers' : 'two balancers'}): ${n} connections replay exactly`, () => {
      expect(replay(vector, series)).toEqual(vector.steps.map(describeZoneStep));
    });
  }
});
