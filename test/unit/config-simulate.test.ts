import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors';
import { balancerOptionsFromNginx } from '../../src/config/nginx';
import { MAX_SIMULATED_CONNECTIONS, MAX_SIMULATED_TRIES, parseFailureWindow, renderSimulation, simulate } from '../../src/config/simulate';

const failover = balancerOptionsFromNginx('stream { upstream smtp { server 127.0.0.1:10025 max_fails=3 fail_timeout=3s; server 127.0.0.1:10026 backup; } }');

describe('simulate (Balancer on a whole-second manual clock)', () => {
  it('failover: three refused connects take A out, then one probe every 4 s (docs/nginx-semantics.md §2.5)', () => {
    const r = simulate(failover, { connections: 14, failures: [{ server: 'A', fromS: 1, toS: 20 }] });
    const trace = r.connections.map((c) => c.tries.map((t) => (t.id === '127.0.0.1:10025' ? 'A' : 'B') + (t.ok ? '' : '!')).join(','));
    expect(trace).toEqual(['A', 'A!,B', 'A!,B', 'A!,B', 'B', 'B', 'B', 'A!,B', 'B', 'B', 'B', 'A!,B', 'B', 'B']);
    expect(r.events).toEqual([{ t: 3000, id: '127.0.0.1:10025', from: 'up', to: 'unavail', cause: 'failure', n: 4 }]);
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

describe('simulate on large inputs (issue 14, item 10)', () => {
  it('at most MAX_SIMULATED_CONNECTIONS connections: 4,000,000 is refused up front', () => {
    expect(MAX_SIMULATED_CONNECTIONS).toBe(100_000);
    expect(() => simulate(failover, { connections: 4_000_000 })).toThrow('Expected `connections` to be an integer from 1 to 100000, got `4000000`');
    expect(() => simulate(failover, { connections: 0 })).toThrow('Expected `connections` to be an integer from 1 to 100000, got `0`');
    const r = simulate(failover, { connections: MAX_SIMULATED_CONNECTIONS });
    expect(r.connections).toHaveLength(100_000);
    // the whole result still serialises (4,000,000 made JSON.stringify throw RangeError)
    expect(JSON.parse(JSON.stringify(r, null, 2)).connections).toHaveLength(100_000);
  });

  it('at most MAX_SIMULATED_TRIES tries: 11 refusing servers x 100,000 connections stop with an error', () => {
    const servers = Array.from({ length: 11 }, (_, i) => `server 127.0.0.1:${i + 1} max_fails=0;`).join(' ');
    const o = balancerOptionsFromNginx(`stream { upstream many { ${servers} } }`);
    const failures = Array.from({ length: 11 }, (_, i) => ({ server: String(i + 1), fromS: 0, toS: Infinity }));
    expect(MAX_SIMULATED_TRIES).toBe(1_000_000);
    // 11 tries per connection: the 1,000,001st try is in connection 90,910
    expect(() => simulate(o, { connections: 100_000, failures })).toThrow(
      'Expected the simulation to record at most 1000000 tries, reached at connection 90910 of 100000: simulate fewer connections or fewer refusing servers',
    );
  });

  it('--interval 0: each state change is printed once, under its connection (not under every row of that second)', () => {
    const r = simulate(failover, { connections: 6, intervalMs: 0, failures: [{ server: 'A', fromS: 0, toS: 100 }] });
    expect(r.events).toEqual([{ t: 0, id: '127.0.0.1:10025', from: 'up', to: 'unavail', cause: 'failure', n: 3 }]);
    const text = renderSimulation(r);
    expect(text.split('\n').filter((l) => l.includes('->'))).toEqual(['             A up -> unavail (failure)']);
    const rows = text.split('\n');
    expect(rows[rows.findIndex((l) => l.includes('->')) - 1]).toMatch(/^\s+0\.000s\s+3\s/);
  });

  it('labels past Z are S27, S28, ... (no longer the characters after Z, up to C1 controls)', () => {
    const servers = Array.from({ length: 100 }, (_, i) => `server 127.0.0.1:${i + 1};`).join(' ');
    const r = simulate(balancerOptionsFromNginx(`stream { upstream many { ${servers} } }`), { connections: 1 });
    expect(r.shares.slice(24, 28).map((s) => s.label)).toEqual(['Y', 'Z', 'S27', 'S28']);
    expect(r.shares[90]!.label).toBe('S91');
    expect(() => simulate(balancerOptionsFromNginx(`stream { upstream many { ${servers} } }`), { failures: [{ server: 'nope', fromS: 0, toS: 1 }] })).toThrow(
      /^Unknown server `nope` in --fail \(servers: A=127\.0\.0\.1:1, .*, Z=127\.0\.0\.1:26, \.\.\. 100 in all, 1\.\.100 by index\)$/,
    );
  });
});

describe('renderSimulation escapes control characters (issue 14, item 11)', () => {
  it('the upstream name, ids and addresses from the configuration are shown, not sent', () => {
    const o = balancerOptionsFromNginx('stream { upstream "u\x1b[2J" { server "\x1b[31mevil:25"; server "b\u009b:25"; } }');
    const text = renderSimulation(simulate(o, { connections: 2 }));
    expect(text).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
    expect(text.split('\n').slice(0, 3)).toEqual(['upstream u\\x1b[2J (round-robin): 2 connections', '  A = \\x1b[31mevil:25', '  B = b\\u009b:25']);
    expect(text).toContain('    A \\x1b[31mevil:25: 1 (50%)\n    B b\\u009b:25: 1 (50%)\n');
  });
});
