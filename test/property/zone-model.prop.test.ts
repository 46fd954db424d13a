/**
 * Model-based property of upstream zones (src/zone/) with real worker threads: random operation
 * sequences (pick, release ok / failed, attempt / retry after a failure / finish, update weight or
 * down, add, remove, setServers, advance the shared clock, active-check results) are spread over 4 threads that
 * run them in the generated global order (a turn counter in a SharedArrayBuffer,
 * test/fixtures/zone/ops.ts). Each step's result and the shared state of every server after it
 * (conns, fails, effective and current weight, state, accessed / checked) must equal the same
 * sequence on one plain Balancer, the model (itself checked against the nginx reference,
 * test/reference/nginx-rr.ts, by core.prop.test.ts and differential.prop.test.ts): no torn state,
 * nginx's one zone shared by workers (ngx_http_upstream_zone_module.c). When every thread has given
 * back what it held, every `conns` is 0.
 *
 * The threads are started once for the file and take one job per run; all are terminated after.
 */

import type { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Balancer } from '../../src/index';
import type { BalancerOptions, ServerOptions } from '../../src/options';
import { createZone } from '../../src/zone';
import { type Entry, type Op, type Step, runSequential, stepsOf } from '../fixtures/zone/ops';
import { Threads } from '../fixtures/zone/pool';

const THREADS = 4;
const START = 5_000_000;

const threads = new Threads();
let pool: Worker[] = [];
beforeAll(async () => {
  pool = await threads.start(THREADS);
});
afterAll(() => threads.stop());

const IDS = ['a', 'b', 'c', 'd', 'e', 'f'];
const address = (id: string): string => `10.9.0.${IDS.indexOf(id) + 1}:25`;

const serverArb = (id: string): fc.Arbitrary<ServerOptions> =>
  fc.record({
    weight: fc.integer({ min: 1, max: 5 }),
    maxFails: fc.integer({ min: 0, max: 2 }),
    failTimeout: fc.constantFrom(1000, 3000),
    maxConns: fc.constantFrom(0, 0, 2),
  }).map((s) => ({ id, address: address(id), ...s }));

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<Op>({ t: 'pick' }) },
  { weight: 5, arbitrary: fc.record({ k: fc.nat(5), failed: fc.boolean() }).map((r): Op => ({ t: 'release', ...r })) },
  { weight: 4, arbitrary: fc.constant<Op>({ t: 'pickRelease' }) },
  { weight: 3, arbitrary: fc.constant<Op>({ t: 'attempt' }) },
  { weight: 2, arbitrary: fc.nat(3).map((k): Op => ({ t: 'retry', k })) },
  { weight: 2, arbitrary: fc.nat(3).map((k): Op => ({ t: 'finish', k })) },
  { weight: 1, arbitrary: fc.record({ id: fc.constantFrom(...IDS), w: fc.integer({ min: 1, max: 6 }) }).map((r): Op => ({ t: 'update', id: r.id, patch: { weight: r.w } })) },
  { weight: 1, arbitrary: fc.record({ id: fc.constantFrom(...IDS), down: fc.boolean() }).map((r): Op => ({ t: 'update', id: r.id, patch: { down: r.down } })) },
  { weight: 1, arbitrary: fc.record({ id: fc.constantFrom(...IDS), w: fc.integer({ min: 1, max: 4 }) }).map((r): Op => ({ t: 'add', server: { id: r.id, address: address(r.id), weight: r.w, maxFails: 1, failTimeout: 1000 } })) },
  { weight: 1, arbitrary: fc.constantFrom(...IDS).map((id): Op => ({ t: 'remove', id })) },
  {
    weight: 1,
    arbitrary: fc.subarray(IDS, { minLength: 1, maxLength: 4 }).chain((ids) => fc.tuple(...ids.map(serverArb))).map((list): Op => ({ t: 'setServers', servers: [...list] })),
  },
  { weight: 2, arbitrary: fc.constantFrom(400, 1000, 1001, 2500).map((ms): Op => ({ t: 'advance', ms })) },
  { weight: 1, arbitrary: fc.record({ id: fc.constantFrom(...IDS), ok: fc.boolean() }).map((r): Op => ({ t: 'check', ...r })) },
);

const caseArb = fc.record({
  method: fc.constantFrom<BalancerOptions['method']>('round-robin', 'round-robin', 'least-conn'),
  servers: fc.integer({ min: 1, max: 4 }).chain((n) => fc.tuple(...IDS.slice(0, n).map(serverArb))),
  steps: fc.array(fc.record({ thread: fc.nat(THREADS - 1), op: opArb }), { minLength: 1, maxLength: 60 }),
});

/** Runs one case on the zone (threads taking turns) and on one plain Balancer. */
async function runCase(options: BalancerOptions, steps: Step[]): Promise<{ zoneLog: Entry[]; plainLog: Entry[]; after: number[] }> {
  const clockBuffer = new SharedArrayBuffer(8);
  new Float64Array(clockBuffer)[0] = START;
  const turnBuffer = new SharedArrayBuffer(4);
  const zone = createZone(options);
  const logs = await Promise.all(
    pool.map((w, k) =>
      threads.run(w, { t: 'turns', zone, clock: clockBuffer, turn: turnBuffer, thread: k, mine: stepsOf(steps, k), total: steps.length }, 'log').then((r) => r.log as Entry[]),
    ),
  );
  const zoneLog = logs.flat().sort((a, b) => a.at - b.at);
  const plainClock = new Float64Array(1);
  plainClock[0] = START;
  const plainLog = runSequential(new Balancer({ ...options, clock: () => plainClock[0]! }), plainClock, steps);
  // every worker gave back what it held and left the zone before replying
  const main = Balancer.fromZone(zone, { clock: () => plainClock[0]! });
  const after = main.snapshot().servers.map((s) => s.conns);
  await main.close();
  return { zoneLog, plainLog, after };
}

describe('zone: threads taking turns = one Balancer (model), no torn state', () => {
  it('random operations on 4 threads', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ method, servers, steps }) => {
        const options: BalancerOptions = { servers: [...servers], method };
        const { zoneLog, plainLog, after } = await runCase(options, steps);
        expect(zoneLog.map((e) => e.at)).toEqual(steps.map((_, k) => k));
        expect(zoneLog).toEqual(plainLog);
        expect(after.every((c) => c === 0)).toBe(true);
      }),
      { numRuns: Number(process.env.ZONE_RUNS ?? 300), endOnFailure: false },
    );
  });
});
