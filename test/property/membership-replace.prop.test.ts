/**
 * `setServers` (membership.ts `replace`, which edits the id map in place and marks survivors by
 * their tier slot) and `remove` (which asks for a primary only when the last one goes) against a
 * model computed from the state before the call: after random traffic (open connections, failures)
 * and a random new list (survivors reordered with changed parameters, servers dropped, new ids, ids
 * dropped earlier while in use added again), every server's state is what the rules say, the id map
 * and the tiers hold exactly the new list, `state` events name exactly the survivors whose state
 * changed, and consistent hash's picks equal those of a balancer built afresh from the same list.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import type { ServerOptions } from '../../src/options';
import type { Peers } from '../../src/peers';
import type { Server } from '../../src/server';

const RUNS = Number(process.env.DIFF_RUNS ?? 60);
const POOL = ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80', '10.0.0.5:80', '10.0.0.6:80', '10.0.0.7:80', '10.0.0.8:80'];

interface Internals {
  peers: Peers;
  byId: Map<string, Server>;
}
const internals = (b: Balancer) => (b as unknown as { members: Internals }).members;

/** The dynamic state a change must carry over. */
const stateOf = (s: Server) => ({ conns: s.conns, fails: s.fails, effective: s.effectiveWeight, current: s.currentWeight });

const entry = fc.record({
  address: fc.nat({ max: POOL.length - 1 }),
  weight: fc.integer({ min: 1, max: 4 }),
  maxFails: fc.integer({ min: 0, max: 2 }),
  down: fc.boolean(),
  backup: fc.constantFrom(false, false, false, true),
});
type Entry = typeof entry extends fc.Arbitrary<infer T> ? T : never;
const options = (id: string, e: Entry, consistent: boolean): ServerOptions => ({
  id, address: POOL[e.address]!, weight: e.weight, maxFails: e.maxFails, down: e.down, backup: consistent ? false : e.backup,
});

/** Traffic: each step picks, then keeps the connection open, releases it, or fails it. */
const traffic = fc.array(fc.constantFrom('keep', 'release', 'fail'), { maxLength: 30 });

/** The next list: a subset of the current ids in a new order, with new parameters, and new ids. */
const change = fc.record({
  order: fc.array(fc.nat({ max: 1000 }), { minLength: 12, maxLength: 12 }),
  keep: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
  params: fc.array(entry, { minLength: 12, maxLength: 12 }),
  touch: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
  fresh: fc.array(entry, { maxLength: 3 }),
  revive: fc.boolean(),
});

function run(b: Balancer, steps: readonly string[], held: Server[]): void {
  let k = 0;
  for (const step of steps) {
    const a = b.attempt(`key${k++}`);
    const s = a.next();
    if (s === undefined) continue;
    if (step === 'keep') held.push(s);
    else if (step === 'release') a.release();
    else a.fail();
  }
}

describe('setServers / remove against the state before the call', () => {
  for (const consistent of [false, true]) {
    it(`${consistent ? 'consistent hash' : 'round robin'}: survivors keep their state, new servers start fresh, the id map and tiers hold the list`, () => {
      fc.assert(
        fc.property(fc.array(entry, { minLength: 2, maxLength: 8 }), traffic, change, traffic, (start, before, next, after) => {
          const list = start.map((e, i) => options(`s${i}`, e, consistent));
          if (list.every((s) => s.backup)) list[0]!.backup = false;
          const b = new Balancer({ ...(consistent ? { method: 'hash', hash: { consistent: true } } : {}), servers: list });
          const held: Server[] = [];
          run(b, before, held);
          // a server removed while in use, to be added again under its id
          let revived: { id: string; conns: number } | null = null;
          const inUse = held.find((s) => s.conns > 0 && !s.backup && b.servers.filter((x) => !x.backup).length > 1);
          if (next.revive && inUse !== undefined) {
            revived = { id: inUse.id, conns: inUse.conns };
            b.remove(inUse.id);
            expect(b.get(inUse.id)).toBeUndefined();
            expect(inUse.conns).toBe(revived.conns);
          }

          const current = [...b.servers];
          const prior = new Map(current.map((s) => [s.id, { record: s, state: s.state, ...stateOf(s), weight: s.weight, config: { ...s } }]));
          const keyed = current.map((s, i) => [next.order[i % 12]! * 100 + i, s] as const).sort((x, y) => x[0] - y[0]);
          const nextList: ServerOptions[] = [];
          keyed.forEach(([, s], i) => {
            if (!next.keep[i % 12]) return;
            const base = { id: s.id, address: s.address, weight: s.weight, maxFails: s.maxFails, down: s.down, backup: s.backup };
            nextList.push(next.touch[i % 12] ? { ...options(s.id, next.params[i % 12]!, consistent), address: s.address } : base);
          });
          next.fresh.forEach((e, i) => nextList.push(options(`n${i}`, e, consistent)));
          if (revived !== null) nextList.push(options(revived.id, next.params[0]!, consistent));
          if (!nextList.some((s) => !s.backup)) nextList.push(options('p', { ...next.params[1]!, down: false, backup: false }, consistent));

          const events: string[] = [];
          b.on('state', (s, from, to, cause) => events.push(`${s.id}:${from}->${to}:${cause}`));
          b.setServers(nextList);

          // the list, the id map and the tiers
          expect(b.servers.map((s) => s.id)).toEqual(nextList.map((s) => s.id));
          const m = internals(b);
          expect([...m.byId.keys()].sort()).toEqual(nextList.map((s) => s.id).sort());
          for (const s of b.servers) expect(m.byId.get(s.id)).toBe(s);
          const tiers = [m.peers.primary, ...(m.peers.backup === null ? [] : [m.peers.backup])];
          expect(tiers.flatMap((t) => [...t.records])).toEqual([...b.servers.filter((s) => !s.backup), ...b.servers.filter((s) => s.backup)]);
          for (const t of tiers) for (let i = 0; i < t.n; i++) expect(t.weight[i]).toBe((t.records[i] as Server).weight);

          // each server's state by the rules
          const expected: string[] = [];
          const back = revived as { id: string; conns: number } | null;
          for (const s of nextList) {
            const id = s.id!;
            const rec = b.get(id)!;
            const was = prior.get(id);
            if (was === undefined) {
              expect(stateOf(rec)).toEqual({ conns: back !== null && back.id === id ? back.conns : 0, fails: 0, effective: s.weight, current: 0 });
              continue;
            }
            expect(rec).toBe(was.record);
            const weight = s.weight!;
            const effective = was.weight === weight ? was.effective : was.effective >= was.weight ? weight : Math.min(was.effective, weight);
            expect(stateOf(rec)).toEqual({ conns: was.conns, fails: was.fails, effective, current: was.current });
            if (rec.state !== was.state) expected.push(`${id}:${was.state}->${rec.state}:admin`);
          }
          expect(events.sort()).toEqual(expected.sort());
          // servers dropped keep their last state readable
          for (const [id, was] of prior) {
            if (nextList.some((s) => s.id === id)) continue;
            expect(b.get(id)).toBeUndefined();
            expect(stateOf(was.record)).toEqual({ conns: was.conns, fails: was.fails, effective: was.effective, current: was.current });
          }

          // picks go on; consistent hash picks as a balancer built afresh from the list (no state)
          run(b, after, []);
          if (consistent) {
            const clean = new Balancer({ method: 'hash', hash: { consistent: true }, servers: nextList });
            const again = new Balancer({ method: 'hash', hash: { consistent: true }, servers: list });
            again.setServers(nextList);
            for (let k = 0; k < 64; k++) expect(again.pick(`user${k}`)?.id).toBe(clean.pick(`user${k}`)?.id);
          }
        }),
        { numRuns: RUNS },
      );
    });
  }

  it('remove() refuses only the last primary, with the list-wide check\'s error', () => {
    const b = new Balancer({ servers: [{ id: 'a', address: POOL[0]! }, { id: 'b', address: POOL[1]!, backup: true }, { id: 'c', address: POOL[2]! }] });
    b.remove('b'); // a backup: never the last primary
    b.remove('a');
    let error: unknown;
    try {
      b.remove('c');
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'ERR_UPSTREAM_NO_SERVERS', value: 0 });
    expect(b.servers.map((s) => s.id)).toEqual(['c']);
  });
});
