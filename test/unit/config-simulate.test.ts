import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors';
import { balancerOptionsFromNginx } from '../../src/config/nginx';
import { parseFailureWindow, renderSimulation, simulate } from '../../src/config/simulate';

const failover = balancerOptionsFromNginx('stream { upstream smtp { server 127.0.0.1:10025 max_fails=3 fail_timeout=3s; server 127.0.0.1:10026 backup; } }');

describe('simulate (Balancer on a whole-second manual clock)', () => {
  it('failover: three refused connects take A out, then one probe every 4 s (docs/nginx-semantics.md §2.5)', () => {
    const r = simulate(failover, { connections: 14, failures: [{ server: 'A', fromS: 1, toS: 20 }] });
    const trace = r.connections.map((c) => c.tries.map((t) => (t.id === '127.0.0.1:10025' ? 'A' : 'B') + (t.ok ? '' : '!')).join(','));
    expect(trace).toEqual(['A', 'A!,B', 'A!,B', 'A!,B', 'B', 'B', 'B', 'A!,B', 'B', 'B', 'B', 'A!,B', 'B', 'B']);
    expect(r.events).toEqual([{ t: 3000, id: '127.0.0.1:10025', from: 'up', to: 'unavail', cause: 'failure' }]);
    expect(r.shares.map((s) => [s.label, s.count, s.percent])).toEqual([['A', 1, 7.1], ['B', 13, 92.9]]);
    expect(r.failed).toBe(0);
  });

  it('recovery: the probe connects and traffic returns to the primary at once', () => {
    const r = simulate(failover, { connections: 10, failures: [{ server: '127.0.0.1:10025', fromS: 0, toS: 5 }] });
    expect(r.connections.map((c) => c.server === '127.0.0.1:10025' ? 'A' : 'B').join('')).toBe('BBBBBBAAAA');
  });

  it('weighted: 1 and 4 give B B A B B', () => {
    const o = balancerOptionsFromNginx('stream { upstream w { server 127.0.0.1:1 weight=1; server 127.0.0.1:2 weight=4; } }');
    const r = simulate(o, { connections: 10 });
    expect(r.connections.map((c) => (c.server === '127.0.0.1:1' ? 'A' : 'B')).join(' ')).toBe('B B A B B B B A B B');
    expect(r.shares.map((s) => s.percent)).toEqual([20, 80]);
  });

  it('no live upstreams when everything refuses', () => {
    const r = simulate(failover, { connections: 2, failures: [{ server: '1', fromS: 0, toS: 100 }, { server: 'B', fromS: 0, toS: 100 }] });
    expect(r.connections.map((c) => c.server)).toEqual([null, null]);
    expect(r.failed).toBe(2);
    expect(renderSimulation(r)).toContain('no live upstreams (502)');
  });

  it('drops active checks with a note', () => {
    const o = balancerOptionsFromNginx('stream { upstream s { server 127.0.0.1:1; server 127.0.0.1:2; check interval=1000 type=smtp; } }');
    const r = simulate(o, { connections: 2 });
    expect(r.notes[0]).toMatch(/active checks are not simulated/);
    expect(r.failed).toBe(0);
  });

  it('parses failure windows and rejects bad ones', () => {
    expect(parseFailureWindow('A@2-10')).toEqual({ server: 'A', fromS: 2, toS: 10 });
    expect(parseFailureWindow('127.0.0.1:25@1.5-')).toEqual({ server: '127.0.0.1:25', fromS: 1.5, toS: Infinity });
    expect(() => parseFailureWindow('A2-10')).toThrow(InvalidOptionError);
    expect(() => parseFailureWindow('A@5-2')).toThrow(/end after it starts/);
    expect(() => simulate(failover, { failures: [{ server: 'Z', fromS: 0, toS: 1 }] })).toThrow(/Unknown server `Z`/);
  });
});
