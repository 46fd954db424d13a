/**
 * Runtime control: add / remove / update / setServers keep every surviving server's state by `id`
 * (fails, conns, accessed/checked, current and effective weight, check verdict), so round robin
 * continues where it was (docs/nginx-semantics.md §2.1 state, carried over; docs/nginx-compat.md, "Runtime
 * changes"). A removed server's in-flight connections can still be freed.
 */

import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock } from '../../src/clock';
import { isUpstreamError } from '../../src/errors';
import type { Server } from '../../src/server';
import { resolveCheck, type ServerOptions } from '../../src/options';
import { FLAG_PARAMS, NUMERIC_PARAMS, TEXT_PARAMS } from '../../src/server-fields';
import { picks } from '../helpers';

const srv = (id: string, extra: Partial<ServerOptions> = {}): ServerOptions => ({ id, address: `10.0.0.${id.charCodeAt(0)}:25`, ...extra });

/** The dynamic state of one server, from the snapshot. */
function stateOf(b: Balancer, id: string) {
  const s = b.snapshot().servers.find((x) => x.id === id)!;
  return { fails: s.fails, conns: s.conns, effective: s.effectiveWeight, current: s.currentWeight, accessed: s.accessed, checked: s.checked, check: s.check, state: s.state };
}

/**
 * A balancer with some history: A failed once (fails 1; effective 3 - 3 div 3 = 2, then +1 in the
 * next round), B is the open attempt's current server and also held by a one-shot pick (conns 2),
 * C has one failed check.
 */
function withHistory() {
  const clock = new ManualClock(1_000_000);
  const b = new Balancer({
    servers: [srv('A', { weight: 3, maxFails: 3 }), srv('B', { weight: 2, maxFails: 2 }), srv('C'), srv('K', { backup: true })],
    clock: clock.now,
  });
  const a = b.attempt();
  expect(a.next()!.id).toBe('A');
  a.fail();
  expect(a.next()!.id).toBe('B');
  // round: A -3+2 = -1, B 1+2 = 3, C 2+1 = 3: B (first of the tie)
  const held = b.pick()!;
  expect(held.id).toBe('B');
  b.reportCheck('C', false);
  expect(stateOf(b, 'A')).toMatchObject({ fails: 1, conns: 0, effective: 3, current: -1 });
  expect(stateOf(b, 'B')).toMatchObject({ fails: 0, conns: 2 });
  return { clock, b, a, held };
}

const ALL = ['A', 'B', 'C', 'K'];

describe('state survives membership changes', () => {
  it('add() keeps every other server exactly, and SWRR continues from there', () => {
    const { b } = withHistory();
    const before = ALL.map((id) => stateOf(b, id));
    b.add(srv('D', { weight: 2 }));
    expect(ALL.map((id) => stateOf(b, id))).toEqual(before);
    expect(stateOf(b, 'D')).toMatchObject({ fails: 0, conns: 0, effective: 2, current: 0 });
  });

  it('add(): exact continuation ({1,1}: A, then add C: B C A)', () => {
    const b = new Balancer({ servers: [srv('A'), srv('B')] });
    expect(picks(b, 1)).toBe('A');
    b.add(srv('C'));
    expect(picks(b, 3)).toBe('B C A');
  });

  it('remove() keeps every other server exactly ({1,1,1}: A, remove B: C C A)', () => {
    const { b } = withHistory();
    const keep = ['A', 'C', 'K'];
    const before = keep.map((id) => stateOf(b, id));
    b.remove('B');
    expect(keep.map((id) => stateOf(b, id))).toEqual(before);
    expect(b.get('B')).toBeUndefined();
    expect(b.snapshot().servers.map((s) => s.id)).toEqual(['A', 'C', 'K']);

    const b2 = new Balancer({ servers: [srv('A'), srv('B'), srv('C')] });
    expect(picks(b2, 1)).toBe('A');
    b2.remove('B');
    expect(picks(b2, 3)).toBe('C C A');
  });

  it('update() of one server keeps the others and its own dynamic state', () => {
    const { b } = withHistory();
    const before = ALL.map((id) => stateOf(b, id));
    b.update('B', { maxConns: 5, failTimeout: 3000 });
    expect(ALL.map((id) => stateOf(b, id))).toEqual(before);
    expect([b.get('B')!.maxConns, b.get('B')!.failTimeout]).toEqual([5, 3000]);
  });

  it('update() that moves a server between tiers keeps its state', () => {
    const { b } = withHistory();
    const before = ALL.map((id) => stateOf(b, id));
    b.update('A', { backup: true });
    b.update('K', { backup: false });
    expect(ALL.map((id) => stateOf(b, id))).toEqual(before);
    expect(b.servers.map((s) => [s.id, s.backup])).toEqual([['A', true], ['B', false], ['C', false], ['K', false]]);
  });

  it('setServers() keeps survivors by id across reordering and parameter changes; new ones start fresh', () => {
    const { b } = withHistory();
    const before = Object.fromEntries(['A', 'C', 'K'].map((id) => [id, stateOf(b, id)]));
    b.setServers([srv('K', { backup: true }), srv('C'), srv('E', { weight: 4 }), srv('A', { weight: 3, maxFails: 3, maxConns: 9 })]);
    expect(b.servers.map((s) => s.id)).toEqual(['K', 'C', 'E', 'A']);
    for (const id of ['A', 'C', 'K']) expect(stateOf(b, id)).toEqual(before[id]);
    expect(b.get('A')!.maxConns).toBe(9);
    expect(stateOf(b, 'E')).toMatchObject({ fails: 0, conns: 0, effective: 4, current: 0, state: 'up' });
    // C's check verdict (one failure, not yet down with fall=5) survived
    expect(stateOf(b, 'C').check).toMatchObject({ down: false, rise: 0, fall: 1 });
  });

  it('setServers() applies a change of any one parameter, each row of server-fields.ts alone', () => {
    // a value other than the one A has for every parameter a server takes (the rows, so a new row is covered)
    const changed: Array<[string, unknown]> = [
      ['address', '10.9.9.9:25'],
      ...NUMERIC_PARAMS.map((p): [string, unknown] => [p.key, p.key === 'weight' ? 7 : p.default + 3]),
      ...FLAG_PARAMS.filter((f) => f.key !== 'backup').map((f): [string, unknown] => [f.key, true]),
      ...TEXT_PARAMS.map((p): [string, unknown] => [p.key, 'r1']),
    ];
    expect(changed.map(([k]) => k).sort()).toEqual(['address', 'down', 'drain', 'failTimeout', 'maxConns', 'maxFails', 'route', 'weight']);
    for (const [key, value] of changed) {
      const b = new Balancer({ servers: [srv('A'), srv('B')] });
      const before = b.get('A')!;
      b.setServers([srv('A', { [key]: value }), srv('B')]);
      expect(b.get('A')).toBe(before); // the same server, its parameter changed
      expect((b.get('A') as unknown as Record<string, unknown>)[key], key).toBe(value);
    }
    // backup: A moves to the backup tier (B stays the primary)
    const b = new Balancer({ servers: [srv('A'), srv('B')] });
    b.setServers([srv('A', { backup: true }), srv('B')]);
    expect(b.get('A')!.backup).toBe(true);
    expect(picks(b, 3)).toBe('B B B');
  });

  it('setServers() keeps a check-down verdict', () => {
    const b = new Balancer({ servers: [srv('A'), srv('B')], check: { rise: 1, fall: 1, defaultDown: false } });
    b.reportCheck('B', false);
    expect(b.get('B')!.state).toBe('unhealthy');
    b.setServers([srv('B'), srv('A'), srv('C')]);
    expect(b.get('B')!.state).toBe('unhealthy');
    expect(b.get('C')!.state).toBe('up');
    expect(picks(b, 4)).toBe('A C A C');
  });
});

describe('weight changes keep the failure penalty', () => {
  function penalised() {
    const b = new Balancer({ servers: [srv('A', { weight: 6, maxFails: 3 }), srv('B')], clock: () => 1_000_000 });
    const a = b.attempt();
    a.next();
    a.fail(); // effective 6 - 6 div 3 = 4
    a.next();
    a.release();
    return b;
  }

  it('a penalised server keeps min(effective, new weight)', () => {
    const b = penalised();
    expect(b.get('A')!.effectiveWeight).toBe(4);
    b.update('A', { weight: 8 });
    expect([b.get('A')!.weight, b.get('A')!.effectiveWeight]).toEqual([8, 4]);
    b.update('A', { weight: 3 });
    expect([b.get('A')!.weight, b.get('A')!.effectiveWeight]).toEqual([3, 3]);
  });

  it('a server at full weight takes the new weight', () => {
    const b = new Balancer({ servers: [srv('A', { weight: 6 }), srv('B')] });
    b.update('A', { weight: 2 });
    expect(b.get('A')!.effectiveWeight).toBe(2);
    b.update('A', { weight: 9 });
    expect(b.get('A')!.effectiveWeight).toBe(9);
  });

  it('also when the same update moves the server to the other tier', () => {
    const b = new Balancer({ servers: [srv('A', { weight: 5 }), srv('B'), srv('C', { backup: true })] });
    b.update('A', { backup: true, weight: 1 });
    expect([b.get('A')!.weight, b.get('A')!.effectiveWeight]).toEqual([1, 1]);
    b.update('C', { backup: false });
    b.update('A', { backup: false });
    // all three at weight 1 again (A's effective weight did not stay at 5)
    expect(picks(b, 6)).toBe('A B C A B C');
  });

  it('setServers() applies the same rule', () => {
    const b = penalised();
    b.setServers([srv('A', { weight: 12, maxFails: 3 }), srv('B')]);
    expect(b.get('A')!.effectiveWeight).toBe(4);
  });
});

describe('removed servers with connections in flight', () => {
  it('a removed server can still be released, and only its own count moves', () => {
    const { b, a, held } = withHistory();
    b.remove('B');
    const others = ['A', 'C', 'K'].map((id) => stateOf(b, id));
    expect(held.conns).toBe(2);
    b.release(held);
    expect(held.conns).toBe(1);
    a.fail(); // the attempt's connection to B
    expect(held.conns).toBe(0);
    expect(held.fails).toBe(0); // a removed server's failures no longer count anywhere
    expect(['A', 'C', 'K'].map((id) => stateOf(b, id))).toEqual(others);
    expect(() => b.release(held)).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_ATTEMPT_STATE' }));
  });

  it('an attempt whose current server was removed frees it and goes on, never returning to it', () => {
    const { b, a } = withHistory();
    b.remove('B');
    a.fail();
    expect(a.tries).toBe(2);
    // A and B were tried: C (one failed check out of fall=5: still up)
    expect(a.next()!.id).toBe('C');
    a.release();
  });

  it('re-adding an id whose connections are still open gives the same server: fresh state, those connections', () => {
    const { b, a, held } = withHistory();
    b.remove('B');
    const back = b.add(srv('B', { weight: 2, maxFails: 2, maxConns: 2 }));
    expect(back).toBe(held);
    // the two connections (the attempt's and the pick's) still count, towards max_conns too
    expect(stateOf(b, 'B')).toMatchObject({ fails: 0, conns: 2, effective: 2, current: 0, state: 'up' });
    // B is full; A (current -1, effective 3) and C (current 3, effective 1) share the rounds
    expect(picks(b, 4)).toBe('C A A A');
    b.release(held);
    expect(back.conns).toBe(1);
    a.fail(); // the attempt's connection to B, opened before the removal: B's failure now
    expect(stateOf(b, 'B')).toMatchObject({ fails: 1, conns: 0 });
  });

  it('re-adding an id after its last connection was released gives a fresh server', () => {
    const { b, a, held } = withHistory();
    b.remove('B');
    b.release(held);
    a.fail();
    expect(held.conns).toBe(0);
    const fresh = b.add(srv('B', { weight: 2, maxFails: 2 }));
    expect(fresh).not.toBe(held);
    expect(stateOf(b, 'B')).toMatchObject({ fails: 0, conns: 0, effective: 2, current: 0 });
    expect(() => b.release(held)).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_ATTEMPT_STATE' }));
    expect(fresh.conns).toBe(0);
  });

  it('max_conns=1 holds across remove and re-add while the connection is open', () => {
    const b = new Balancer({ servers: [srv('A', { maxConns: 1 }), srv('B')], clock: () => 0 });
    const first = b.pick()!;
    expect(first.id).toBe('A');
    b.remove('A');
    b.setServers([srv('A', { maxConns: 1 }), srv('B')]);
    expect(picks(b, 3)).toBe('B B B');
    expect(b.get('A')!.conns).toBe(1);
    b.release(first);
    expect(b.get('A')!.conns).toBe(0);
    // the rounds without A left B at current 1, A at -1: B once more, then A
    expect(picks(b, 2)).toBe('B A');
  });

  it('setServers() without a server detaches it the same way', () => {
    const { b, a, held } = withHistory();
    b.setServers([srv('A', { weight: 3, maxFails: 3 }), srv('C')]);
    expect(b.get('B')).toBeUndefined();
    b.release(held);
    a.release();
    expect(held.conns).toBe(0);
    expect(b.servers.map((s) => s.conns)).toEqual([0, 0]);
  });
});

describe('attempts across membership changes', () => {
  it('the tried set follows servers, not positions', () => {
    const b = new Balancer({ servers: [srv('A'), srv('B'), srv('C')], clock: () => 0 });
    const a = b.attempt();
    expect(a.next()!.id).toBe('A');
    a.fail();
    // A moves to the end of the list (remove + re-add would make it a new server; setServers keeps it)
    b.setServers([srv('B'), srv('C'), srv('A')]);
    const rest: string[] = [];
    for (let s = a.next(); s !== undefined; s = a.next()) {
      rest.push(s.id);
      a.fail();
    }
    expect(rest.sort()).toEqual(['B', 'C']);
  });

  it('the tries budget is fixed when the attempt starts', () => {
    const b = new Balancer({ servers: [srv('A'), srv('B')], clock: () => 0 });
    const a = b.attempt();
    expect(a.tries).toBe(2);
    b.add(srv('C'));
    expect(a.tries).toBe(2);
    expect(b.attempt().tries).toBe(3);
  });
});

describe('servers: a frozen view, not the balancer\'s own list', () => {
  it('cannot be sorted or spliced, and picks keep their order', () => {
    const b = new Balancer({ servers: [{ address: 'a:1', weight: 2 }, { address: 'b:1' }, { address: 'c:1' }] });
    const view = b.servers as Server[];
    expect(Object.isFrozen(view)).toBe(true);
    expect(() => view.sort((x, y) => y.address.localeCompare(x.address))).toThrow(TypeError);
    expect(() => view.splice(0, 1)).toThrow(TypeError);
    expect(picks(b, 8)).toBe('a:1 b:1 c:1 a:1 a:1 b:1 c:1 a:1');
    expect(b.servers).toBe(b.servers); // the same array until the membership changes
    b.add({ address: 'd:1' });
    expect(b.servers.map((s) => s.address)).toEqual(['a:1', 'b:1', 'c:1', 'd:1']);
    expect(view.map((s) => s.address)).toEqual(['a:1', 'b:1', 'c:1']); // an old view stays as it was
  });
});

describe('check durations within the range of a timer (Node runs longer ones after 1 ms)', () => {
  const servers = [{ address: 'a:1' }];
  it.each([
    [{ interval: 2 ** 32 }, 'check.interval'],
    [{ timeout: 2 ** 31 + 1000 }, 'check.timeout'],
    [{ downInterval: 4e9 }, 'check.downInterval'],
    [{ fastInterval: 2 ** 31 }, 'check.fastInterval'],
    [{ interval: 2e9, jitter: 0.5 }, 'check.jitter'],
  ])('%o is rejected as %s', (check, option) => {
    let error: unknown;
    try {
      new Balancer({ servers, check });
    } catch (e) {
      error = e;
    }
    expect(isUpstreamError(error) && error.code).toBe('ERR_UPSTREAM_INVALID_OPTION');
    expect((error as Error).message).toContain(`\`${option}\``);
    expect((error as Error).message).toContain('2147483647');
  });
  it.each([-1, 1.5, NaN, 2 ** 31, '5', null])('startWindow %o is rejected as check.startWindow', (startWindow) => {
    let error: unknown;
    try {
      new Balancer({ servers, check: { startWindow: startWindow as number } });
    } catch (e) {
      error = e;
    }
    expect(isUpstreamError(error) && error.code).toBe('ERR_UPSTREAM_INVALID_OPTION');
    expect((error as Error).message).toContain('`check.startWindow`');
  });
  it('startWindow defaults to the shortest interval / 16, at most 64 ms; 0 and the largest delay are accepted', () => {
    expect(resolveCheck({}).startWindow).toBe(64); // interval 30000
    expect(resolveCheck({ interval: 1024 }).startWindow).toBe(64);
    expect(resolveCheck({ interval: 1000 }).startWindow).toBe(62);
    expect(resolveCheck({ interval: 500 }).startWindow).toBe(31);
    expect(resolveCheck({ interval: 5000, fastInterval: 250 }).startWindow).toBe(15);
    expect(resolveCheck({ interval: 5000, downInterval: 31 }).startWindow).toBe(1);
    expect(resolveCheck({ interval: 5000, downInterval: 15 }).startWindow).toBe(0);
    expect(resolveCheck({ interval: 1000, startWindow: 0 }).startWindow).toBe(0);
    expect(resolveCheck({ startWindow: 2 ** 31 - 1 }).startWindow).toBe(2 ** 31 - 1);
  });
  it('the largest delays are accepted', () => {
    expect(() => new Balancer({ servers, check: { interval: 2 ** 31 - 1, timeout: 2 ** 31 - 1 } })).not.toThrow();
    expect(() => new Balancer({ servers, check: { interval: 2 ** 30, jitter: 0.99 } })).not.toThrow();
  });
});
