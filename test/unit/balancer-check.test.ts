/**
 * How active-check verdicts affect selection, fed through `reportCheck()` (docs/nginx-semantics.md §7.3
 * rise/fall, §7.5: the check module's patch skips a check-down peer in the round like `down`, and
 * leaves the passive counters alone). The scheduler itself is tested in balancer-scheduler.test.ts.
 */

import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock } from '../../src/clock';
import type { CheckOptions, ServerOptions } from '../../src/options';
import { picks } from '../helpers';

const srv = (id: string, extra: Partial<ServerOptions> = {}): ServerOptions => ({ id, address: `10.0.0.${id.charCodeAt(0)}:25`, ...extra });
const upFirst: CheckOptions = { rise: 1, fall: 1, defaultDown: false };

function dynamic(b: Balancer, id: string) {
  const s = b.get(id)!;
  return { fails: s.fails, effective: s.effectiveWeight, current: s.currentWeight, conns: s.conns };
}

describe('check-down servers in selection', () => {
  it('a check-down server is skipped like down and keeps its SWRR and passive state', () => {
    const clock = new ManualClock(1_000_000);
    const b = new Balancer({ servers: [srv('A'), srv('B', { weight: 2, maxFails: 2 }), srv('C')], check: upFirst, clock: clock.now });
    expect(picks(b, 2)).toBe('B A');
    // give B a passive failure (1 of 2) and a reduced effective weight (2 - 2 div 2 = 1)
    let s = b.pick()!;
    while (s.id !== 'B') {
      b.release(s);
      s = b.pick()!;
    }
    b.release(s, true);
    const before = dynamic(b, 'B');
    expect(before.fails).toBe(1);
    b.reportCheck('B', false);
    expect(b.get('B')!.state).toBe('unhealthy');
    expect(picks(b, 6)).toBe('A C A C A C');
    expect(dynamic(b, 'B')).toEqual(before);
    // back up: B competes again from its stale current weight, with its passive state intact
    b.reportCheck('B', true);
    expect(b.get('B')!.state).toBe('up');
    expect(dynamic(b, 'B')).toEqual(before);
    expect(b.get('B')!.fails).toBe(1);
  });

  it('check-down servers are not counted out of the tries budget (only down ones are)', () => {
    const b = new Balancer({ servers: [srv('A'), srv('B'), srv('C', { down: true })], check: upFirst });
    b.reportCheck('B', false);
    const a = b.attempt();
    expect(a.tries).toBe(2);
    expect(a.next()!.id).toBe('A');
    a.fail();
    expect(a.next()).toBeUndefined();
  });

  it('every primary check-down: the backup tier serves, and the primaries take over again when up', () => {
    const b = new Balancer({ servers: [srv('A'), srv('B'), srv('K', { backup: true }), srv('L', { backup: true })], check: upFirst });
    b.reportCheck('A', false);
    b.reportCheck('B', false);
    expect(picks(b, 4)).toBe('K L K L');
    b.reportCheck('B', true);
    expect(picks(b, 2)).toBe('B B');
    expect(b.snapshot().tier).toBe('primary');
  });

  it('every server check-down: no live upstreams', () => {
    const b = new Balancer({ servers: [srv('A'), srv('K', { backup: true })], check: upFirst });
    b.reportCheck('A', false);
    b.reportCheck('K', false);
    expect(b.pick()).toBeUndefined();
    expect(b.attempt().next()).toBeUndefined();
  });

  it('single-server mode: check-down makes the pick fail (passive state is ignored there, the check is not)', () => {
    const b = new Balancer({ servers: [srv('A')], check: upFirst });
    expect(picks(b, 1)).toBe('A');
    b.reportCheck('A', false);
    expect(b.pick()).toBeUndefined();
    expect(b.attempt().next()).toBeUndefined();
    b.reportCheck('A', true);
    expect(picks(b, 1)).toBe('A');
  });

  it('a check-up verdict does not clear passive failures, and a passive recovery does not clear a check-down', () => {
    const clock = new ManualClock(1_000_000);
    const b = new Balancer({ servers: [srv('A', { failTimeout: 1000 }), srv('K', { backup: true })], check: upFirst, clock: clock.now });
    b.release(b.pick()!, true);
    expect(b.get('A')!.state).toBe('unavail');
    b.reportCheck('A', false);
    expect(b.get('A')!.state).toBe('unhealthy');
    b.reportCheck('A', true);
    // the check verdict is up, the passive window still holds A out
    expect([b.get('A')!.state, b.get('A')!.fails]).toEqual(['unavail', 1]);
    expect(b.pick()!.id).toBe('K');
    clock.advance(2000);
    const probe = b.pick()!;
    expect(probe.id).toBe('A');
    b.release(probe);
    expect(b.get('A')!.state).toBe('up');
  });
});

describe('initial check state', () => {
  it("defaultDown (the default): 'checking' and out of rotation until rise successes", () => {
    const b = new Balancer({ servers: [srv('A'), srv('B')], check: { rise: 2, fall: 3 } });
    expect(b.servers.map((s) => s.state)).toEqual(['checking', 'checking']);
    expect(b.pick()).toBeUndefined();
    b.reportCheck('A', true);
    expect(b.get('A')!.state).toBe('checking');
    expect(b.pick()).toBeUndefined();
    b.reportCheck('A', true);
    expect(b.get('A')!.state).toBe('up');
    expect(picks(b, 2)).toBe('A A');
  });

  it("'unhealthy' after the first failed check, and it still needs rise successes", () => {
    const b = new Balancer({ servers: [srv('A'), srv('B')], check: { rise: 2, fall: 3 } });
    b.reportCheck('B', false);
    expect(b.get('B')!.state).toBe('unhealthy');
    b.reportCheck('B', true);
    expect(b.get('B')!.state).toBe('unhealthy');
    b.reportCheck('B', true);
    expect(b.get('B')!.state).toBe('up');
  });

  it("defaultDown false: 'up' from the start; fall failures take a server down", () => {
    const b = new Balancer({ servers: [srv('A'), srv('B')], check: { rise: 2, fall: 2, defaultDown: false } });
    expect(b.servers.map((s) => s.state)).toEqual(['up', 'up']);
    b.reportCheck('A', false);
    expect(b.get('A')!.state).toBe('up');
    b.reportCheck('A', false);
    expect(b.get('A')!.state).toBe('unhealthy');
    expect(picks(b, 2)).toBe('B B');
  });

  it("initState 'up-on-first-success': one success brings a new server up", () => {
    const b = new Balancer({ servers: [srv('A'), srv('B')], check: { rise: 3, fall: 2, initState: 'up-on-first-success' } });
    expect(b.get('A')!.state).toBe('checking');
    b.reportCheck('A', true);
    expect(b.get('A')!.state).toBe('up');
  });

  it('servers added later start in the initial check state; without check options reportCheck uses rise 2 / fall 5', () => {
    const b = new Balancer({ servers: [srv('A')], check: { rise: 1, fall: 1 } });
    b.reportCheck('A', true);
    b.add(srv('B'));
    expect(b.get('B')!.state).toBe('checking');
    expect(b.snapshot().servers[1]!.check).toEqual({ down: true, rise: 0, fall: 0, type: 'tcp', port: 0, passed: 0, failed: 0 });

    const plain = new Balancer({ servers: [srv('A'), srv('B')] });
    expect(plain.snapshot().servers[0]!.check).toBeNull();
    for (let k = 0; k < 4; k++) plain.reportCheck('A', false);
    expect(plain.get('A')!.state).toBe('up');
    plain.reportCheck('A', false);
    expect(plain.get('A')!.state).toBe('unhealthy');
    plain.reportCheck('A', true);
    expect(plain.get('A')!.state).toBe('unhealthy');
    plain.reportCheck('A', true);
    expect(plain.get('A')!.state).toBe('up');
  });
});
