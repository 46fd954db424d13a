/**
 * Properties of the round-robin core (docs/nginx-semantics.md §2-4), with fast-check:
 * - SWRR: from a fresh state with no failures, every window of sum(weights) consecutive picks gives
 *   each eligible server exactly its weight (§2.1: period sum(weights)), whatever the offset;
 * - a backup is never chosen while a primary is eligible (§3.1);
 * - a pick never returns a down, draining, passively excluded, check-down or full server (§2.1, §2.7);
 * - an attempt never returns a server twice (§4.1), across random failures and membership changes;
 * - model-based (`fc.commands`): pick / release / fail / advance clock / add / remove / update /
 *   check / attempt steps, comparing the Balancer with the reference model (test/reference/nginx-rr.ts)
 *   after every command: picked ids and every server's fails / conns / effective / current weight /
 *   state, and accessed / checked where fails > 0 (harness.ts explains why only there).
 *
 * The eligibility oracle below reads only the public view (`servers`, `snapshot()`), so these
 * properties do not depend on the reference model.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock, wholeSeconds } from '../../src/clock';
import type { ServerOptions } from '../../src/options';
import type { Server } from '../../src/server';
import { World, type WorldConfig } from '../reference/harness';
import type { RefServerOptions } from '../reference/nginx-rr';

const letter = (i: number) => (i < 26 ? String.fromCharCode(65 + i) : `Z${i}`);

// -------------------------------------------------------------------------------------------------
// SWRR windows

describe('SWRR period', () => {
  it('every window of sum(weights) consecutive picks holds each server exactly its weight', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 0, max: 7 }), { maxLength: 3 }),
        fc.integer({ min: 1, max: 3 }),
        (list, downIdx, periods) => {
          const servers: ServerOptions[] = list.map((weight, i) => ({ id: letter(i), address: `10.0.0.${i}:25`, weight }));
          // some servers down (never all): they take no share and do not count in the period
          for (const d of downIdx) if (d < servers.length - 1) servers[d]!.down = true;
          const b = new Balancer({ servers, clock: () => 0 });
          const live = servers.filter((s) => !s.down);
          const W = live.reduce((a, s) => a + s.weight!, 0);
          const seq: string[] = [];
          for (let k = 0; k < W * (periods + 1); k++) {
            const s = b.pick()!;
            seq.push(s.id);
            b.release(s);
          }
          for (let start = 0; start + W <= seq.length; start++) {
            const counts = new Map<string, number>();
            for (let k = start; k < start + W; k++) counts.set(seq[k]!, (counts.get(seq[k]!) ?? 0) + 1);
            for (const s of live) expect(counts.get(s.id!) ?? 0).toBe(s.weight);
          }
          // and the period ends with every current weight back at 0 (§2.1)
          for (const s of b.servers) if (!s.down) expect(s.currentWeight).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('attempts see the same sequence as one-shot picks', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 6 }), (weights) => {
        const servers = weights.map((weight, i) => ({ id: letter(i), address: `a${i}:1`, weight }));
        const b1 = new Balancer({ servers });
        const b2 = new Balancer({ servers });
        const W = weights.reduce((a, w) => a + w, 0);
        for (let k = 0; k < 2 * W; k++) {
          const s = b1.pick()!;
          b1.release(s);
          const a = b2.attempt();
          expect(a.next()!.id).toBe(s.id);
          a.release();
        }
      }),
      { numRuns: 200 },
    );
  });
});

// -------------------------------------------------------------------------------------------------
// Invariants under random failures (Balancer only, public view as the oracle)

interface Script {
  servers: ServerOptions[];
  ops: Op[];
  wholeSeconds: boolean;
  tries: number;
}
type Op =
  | { kind: 'pick' }
  | { kind: 'release'; k: number; failed: boolean }
  | { kind: 'request'; failMask: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'check'; k: number; ok: boolean }
  | { kind: 'update'; k: number; patch: Partial<ServerOptions> }
  | { kind: 'add'; server: Omit<ServerOptions, 'id' | 'address'> }
  | { kind: 'remove'; k: number };

const serverFields = {
  weight: fc.integer({ min: 1, max: 8 }),
  maxFails: fc.integer({ min: 0, max: 3 }),
  failTimeout: fc.constantFrom(0, 500, 1000, 3000, 10_000),
  maxConns: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 }) }),
  backup: fc.integer({ min: 0, max: 3 }).map((k) => k === 0),
  down: fc.integer({ min: 0, max: 9 }).map((k) => k === 0),
  drain: fc.integer({ min: 0, max: 19 }).map((k) => k === 0),
};

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<Op>({ kind: 'pick' }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('release' as const), k: fc.nat(), failed: fc.boolean() }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('request' as const), failMask: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 12_000 })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('check' as const), k: fc.nat(), ok: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('update' as const), k: fc.nat(), patch: fc.record(serverFields, { requiredKeys: [] }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('add' as const), server: fc.record(serverFields) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), k: fc.nat() }) },
);

const scriptArb: fc.Arbitrary<Script> = fc.record({
  servers: fc
    .array(fc.record(serverFields), { minLength: 1, maxLength: 7 })
    .map((list) => list.map((s, i) => ({ ...s, id: letter(i), address: `10.0.0.${i}:25`, ...(i === 0 ? { backup: false } : {}) }))),
  ops: fc.array(opArb, { minLength: 1, maxLength: 150, size: 'max' }),
  wholeSeconds: fc.boolean(),
  tries: fc.constantFrom(0, 0, 1, 2),
});

/** Is `s` eligible for a fresh request's selection round at `now` (§2.1 filters)? */
function eligible(b: Balancer, s: Server, now: number): boolean {
  if (s.state === 'down' || s.state === 'draining' || s.state === 'checking' || s.state === 'unhealthy') return false;
  if (s.maxConns !== 0 && s.conns >= s.maxConns) return false;
  if (s.maxFails !== 0 && s.fails >= s.maxFails) {
    const checked = b.snapshot().servers.find((x) => x.id === s.id)!.checked!;
    if (now - checked <= s.failTimeout) return false;
  }
  return true;
}

/** Single mode (§2.2): one primary and no backup; only down / drain / check-down / maxConns refuse it. */
const single = (b: Balancer) => b.servers.length === 1;

/**
 * Runs a script, calling `onPick(server, before)` for every selection with the eligibility of every
 * server *before* the selection (and the attempt's tried set, for attempt selections).
 */
function runInvariants(script: Script, onPick: (b: Balancer, got: Server, before: Map<string, boolean>, tried: ReadonlySet<string> | null) => void) {
  const manual = new ManualClock(1_700_000_000_000);
  const now = script.wholeSeconds ? wholeSeconds(manual.now) : manual.now;
  const b = new Balancer({ servers: script.servers, clock: now, tries: script.tries });
  const held: Server[] = [];
  let nextId = 0;
  const eligibility = () => new Map(b.servers.map((s) => [s.id, single(b) ? !['down', 'draining', 'checking', 'unhealthy'].includes(s.state) && !(s.maxConns !== 0 && s.conns >= s.maxConns) : eligible(b, s, now())]));
  for (const op of script.ops) {
    switch (op.kind) {
      case 'pick': {
        const before = eligibility();
        const s = b.pick();
        if (s !== undefined) {
          onPick(b, s, before, null);
          held.push(s);
        } else {
          // nothing eligible in either tier
          expect([...before.values()].some(Boolean)).toBe(false);
        }
        break;
      }
      case 'release': {
        if (held.length === 0) break;
        const [s] = held.splice(op.k % held.length, 1);
        b.release(s!, op.failed);
        break;
      }
      case 'request': {
        const a = b.attempt();
        const tried = new Set<string>();
        let bit = 0;
        for (;;) {
          const before = eligibility();
          const s = a.next();
          if (s === undefined) break;
          onPick(b, s, before, tried);
          tried.add(s.id);
          if ((op.failMask >>> bit++ % 31) & 1) a.fail();
          else {
            a.release();
            break;
          }
        }
        break;
      }
      case 'advance':
        manual.advance(op.ms);
        break;
      case 'check':
        b.reportCheck(b.servers[op.k % b.servers.length]!.id, op.ok);
        break;
      case 'update': {
        const id = b.servers[op.k % b.servers.length]!.id;
        try {
          b.update(id, op.patch);
        } catch (e) {
          expect((e as { code?: string }).code).toBe('ERR_UPSTREAM_NO_SERVERS');
        }
        break;
      }
      case 'add':
        if (b.servers.length < 10) b.add({ ...op.server, id: `N${nextId}`, address: `10.9.0.${nextId++}:25` });
        break;
      case 'remove': {
        const id = b.servers[op.k % b.servers.length]!.id;
        try {
          b.remove(id);
        } catch (e) {
          expect((e as { code?: string }).code).toBe('ERR_UPSTREAM_NO_SERVERS');
        }
        break;
      }
    }
  }
  return b;
}

describe('selection invariants under random failures, checks and changes', () => {
  it('a backup is never chosen while a primary is eligible', () => {
    let backups = 0;
    fc.assert(
      fc.property(scriptArb, (script) => {
        runInvariants(script, (b, got, before, tried) => {
          if (!got.backup) return;
          backups++;
          for (const s of b.servers) {
            if (s.backup) continue;
            // a primary already tried by this attempt does not count (§3.1)
            if (tried !== null && tried.has(s.id)) continue;
            expect(before.get(s.id), `primary ${s.id} was eligible when backup ${got.id} was chosen`).toBe(false);
          }
        });
      }),
      { numRuns: 300 },
    );
    expect(backups).toBeGreaterThan(100);
  });

  it('a pick never returns a down, draining, excluded, check-down or full server', () => {
    let picks = 0;
    fc.assert(
      fc.property(scriptArb, (script) => {
        runInvariants(script, (_b, got, before) => {
          picks++;
          expect(before.get(got.id), `${got.id} was not eligible`).toBe(true);
        });
      }),
      { numRuns: 300 },
    );
    expect(picks).toBeGreaterThan(1000);
  });

  it('an attempt never returns a server twice', () => {
    let attempts = 0;
    fc.assert(
      fc.property(scriptArb, (script) => {
        runInvariants(script, (_b, got, _before, tried) => {
          if (tried === null) return;
          if (tried.size > 0) attempts++;
          expect(tried.has(got.id), `${got.id} returned twice in one attempt`).toBe(false);
        });
      }),
      { numRuns: 300 },
    );
    expect(attempts).toBeGreaterThan(100);
  });

  it('an attempt never returns a server twice in tiers over 32 servers, nor after switching to a small backup tier', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 30, max: 70 }),
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (n, backupWeights, removals) => {
          const servers: ServerOptions[] = [
            ...Array.from({ length: n }, (_, i) => ({ id: `P${i}`, address: `p${i}:1`, maxFails: 0, down: i % 3 === 1 })),
            ...backupWeights.map((weight, i) => ({ id: `B${i}`, address: `b${i}:1`, weight, maxFails: 0, backup: true })),
          ];
          const b = new Balancer({ servers, clock: () => 0 });
          const a = b.attempt();
          const seen = new Set<string>();
          let r = 0;
          for (let s = a.next(); s !== undefined; s = a.next()) {
            expect(seen.has(s.id), `${s.id} twice`).toBe(false);
            seen.add(s.id);
            a.fail();
            // shrink the primary tier across the 32 boundary mid-attempt
            if (r < removals.length && seen.size % 7 === 0) {
              const primaries = b.servers.filter((x) => !x.backup && !seen.has(x.id));
              if (primaries.length > 1) b.remove(primaries[removals[r++]! % primaries.length]!.id);
            }
          }
          // every non-down server was tried once: the budget covers them all, and backups came last
          const budget = servers.filter((s) => !s.down).length;
          expect(seen.size).toBeLessThanOrEqual(budget);
          for (const id of backupWeights.map((_, i) => `B${i}`)) expect(seen.has(id)).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });
});

// -------------------------------------------------------------------------------------------------
// Model-based: the Balancer against the reference model

type Cmd = fc.Command<object, World>;

const cmd = (name: string, run: (w: World) => void): Cmd => ({
  check: () => true,
  run: (_m, w) => {
    run(w);
    w.compare(true);
  },
  toString: () => name,
});

const refServerFields = {
  weight: fc.integer({ min: 1, max: 8 }),
  maxFails: fc.integer({ min: 0, max: 3 }),
  failTimeout: fc.constantFrom(0, 1000, 2500, 3000, 10_000),
  maxConns: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 }) }),
  backup: fc.integer({ min: 0, max: 3 }).map((k) => k === 0),
  down: fc.integer({ min: 0, max: 9 }).map((k) => k === 0),
  drain: fc.integer({ min: 0, max: 19 }).map((k) => k === 0),
};

const commandArbs: fc.Arbitrary<Cmd>[] = [
  fc.constant(cmd('pick', (w) => void w.pick())),
  fc.tuple(fc.nat(), fc.boolean()).map(([k, failed]) => cmd(`release(${k}, ${failed ? 'failed' : 'ok'})`, (w) => w.release(k, failed))),
  fc.integer({ min: 0, max: 12_000 }).map((ms) => cmd(`advance(${ms})`, (w) => w.advance(ms))),
  fc.integer({ min: 0, max: 1500 }).map((ms) => cmd(`advance(${ms})`, (w) => w.advance(ms))),
  fc.record(refServerFields).map((s) => cmd(`add(${JSON.stringify(s)})`, (w) => void w.add(s))),
  fc.nat().map((k) => cmd(`remove(${k})`, (w) => w.remove(k))),
  fc.tuple(fc.nat(), fc.record(refServerFields, { requiredKeys: [] })).map(([k, patch]) => cmd(`update(${k}, ${JSON.stringify(patch)})`, (w) => w.update(k, patch))),
  fc.tuple(fc.nat(), fc.boolean()).map(([k, ok]) => cmd(`check(${k}, ${ok})`, (w) => w.check(k, ok))),
  // a whole request where the servers in `dead` fail: attempt-next-fail until one answers
  fc.tuple(fc.uniqueArray(fc.constantFrom('A', 'B', 'C', 'D', 'E', 'S5', 'S6'), { maxLength: 4 }), fc.boolean()).map(([dead, connect]) =>
    cmd(`request(dead=${dead.join('')}, connect=${connect})`, (w) => void w.request(new Set(dead), connect)),
  ),
  // attempts left open across other commands
  fc.constant(cmd('open', (w) => w.open())),
  fc.tuple(fc.nat(), fc.constantFrom('fail', 'release', 'connected-release', 'connected-fail') as fc.Arbitrary<'fail' | 'release' | 'connected-release' | 'connected-fail'>).map(
    ([k, outcome]) => cmd(`step(${k}, ${outcome})`, (w) => w.step(k, outcome)),
  ),
];

const worldArb: fc.Arbitrary<WorldConfig> = fc.record({
  servers: fc
    .array(fc.record(refServerFields), { minLength: 1, maxLength: 5 })
    .map((list) => list.map((s, i): RefServerOptions => ({ ...s, id: letter(i), ...(i === 0 ? { backup: false } : {}) }))),
  tries: fc.constantFrom(0, 0, 1, 2),
  clock: fc.constantFrom<'seconds' | 'ms'>('seconds', 'ms'),
  start: fc.integer({ min: 0, max: 4_000_000 }).map((s) => s * 1000 + (s % 5) * 211),
  check: fc.option(fc.record({ rise: fc.integer({ min: 1, max: 2 }), fall: fc.integer({ min: 1, max: 2 }) }), { freq: 4, nil: undefined }),
});

describe('model-based: Balancer vs reference model', () => {
  it('agrees after every command (fc.commands)', () => {
    fc.assert(
      fc.property(worldArb, fc.commands(commandArbs, { maxCommands: 200, size: 'max' }), (config, cmds) => {
        const w = new World(config);
        w.compare(true);
        fc.modelRun(() => ({ model: {}, real: w }), cmds);
        // free what is still held: conns must come back to 0 on both sides
        while (w.held.length > 0) {
          w.release(0, false);
          w.compare(true);
        }
      }),
      { numRuns: 400 },
    );
  });
});
