/**
 * Bad input to the Balancer: every invalid option or server definition throws a typed error with a
 * `code`, the option path and the offending `value` (src/errors.ts), never a crash or a coercion.
 * nginx's own config errors for the same mistakes are in docs/nginx-semantics.md §6.2 and §3.4.
 */

import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { InvalidOptionError, UpstreamError, isUpstreamError } from '../../src/errors';
import type { BalancerOptions, ServerOptions } from '../../src/options';
import type { ServerRecord } from '../../src/server';

const A: ServerOptions = { id: 'A', address: '10.0.0.1:25' };
const B: ServerOptions = { id: 'B', address: '10.0.0.2:25' };

/** Runs `f`, expects it to throw, returns the error. */
function thrown(f: () => unknown): UpstreamError {
  try {
    f();
  } catch (e) {
    expect(isUpstreamError(e), `not an UpstreamError: ${String(e)}`).toBe(true);
    return e as UpstreamError;
  }
  throw new Error('expected a throw');
}

/** The resolved definition a server record keeps (not part of the public `Server`). */
const configOf = (b: Balancer, id: string): object => (b.get(id) as unknown as ServerRecord).config;

function expectOptionError(f: () => unknown, code: string, option: string, value: unknown) {
  const e = thrown(f);
  expect(e).toBeInstanceOf(InvalidOptionError);
  expect(e.code).toBe(code);
  expect((e as InvalidOptionError).option).toBe(option);
  if (Number.isNaN(value)) expect(Number.isNaN(e.value)).toBe(true);
  else expect(e.value).toEqual(value);
  return e;
}

const make = (options: Partial<BalancerOptions>) => () => new Balancer({ servers: [A, B], ...options } as BalancerOptions);

describe('server definitions', () => {
  it.each([0, 1.5, -1, Number.NaN, Infinity, 2 ** 31, '2', true])('weight %s is rejected with the value', (weight) => {
    const e = expectOptionError(make({ servers: [A, { ...B, weight: weight as number }] }), 'ERR_UPSTREAM_INVALID_OPTION', 'servers[1].weight', weight);
    expect(e.message).toContain('servers[1].weight');
  });

  it('the message reads like the style guide ("Expected `weight` to be ..., got `0`")', () => {
    const e = thrown(make({ servers: [{ ...A, weight: 0 }] }));
    expect(e.message).toBe('Expected `servers[0].weight` to be a positive integer up to 2147483647, got `0`');
  });

  it.each([
    ['maxFails', -1],
    ['maxFails', 1.5],
    ['maxFails', Number.NaN],
    ['failTimeout', -1],
    ['failTimeout', Number.NaN],
    ['failTimeout', Infinity],
    ['maxConns', -1],
    ['maxConns', 0.5],
    ['backup', 'yes'],
    ['down', 1],
    ['drain', 'true'],
    ['address', ''],
    ['address', 25],
    ['id', ''],
  ] as const)('%s = %s is rejected', (key, value) => {
    expectOptionError(make({ servers: [A, { ...B, [key]: value }] }), 'ERR_UPSTREAM_INVALID_OPTION', `servers[1].${key}`, value);
  });

  it('an unknown server key is rejected, naming the key', () => {
    expectOptionError(make({ servers: [{ ...A, wieght: 2 } as ServerOptions] }), 'ERR_UPSTREAM_INVALID_OPTION', 'servers[0].wieght', 'wieght');
  });

  it('an unknown key inherited by a server definition is rejected too (inherited keys are read)', () => {
    const proto = { wieght: 2 };
    const server = Object.assign(Object.create(proto) as ServerOptions, B);
    expectOptionError(make({ servers: [A, server] }), 'ERR_UPSTREAM_INVALID_OPTION', 'servers[1].wieght', 'wieght');
    const inherited = Object.assign(Object.create({ weight: 3 }) as ServerOptions, B);
    expect(new Balancer({ servers: [A, inherited] }).get('B')!.weight).toBe(3);
  });

  it('a resolved server has every parameter, in the rows\' order, defaults where absent', () => {
    const b = new Balancer({ servers: [A, { ...B, route: 'r1', down: true, weight: 4 }] });
    expect(Object.entries(configOf(b, 'A'))).toEqual([
      ['id', 'A'], ['address', '10.0.0.1:25'], ['weight', 1], ['maxFails', 1], ['failTimeout', 10_000], ['maxConns', 0],
      ['backup', false], ['down', false], ['drain', false],
    ]);
    expect(Object.entries(configOf(b, 'B'))).toEqual([
      ['id', 'B'], ['address', '10.0.0.2:25'], ['weight', 4], ['maxFails', 1], ['failTimeout', 10_000], ['maxConns', 0],
      ['backup', false], ['down', true], ['drain', false], ['route', 'r1'],
    ]);
  });

  it('a server that is not an object is rejected', () => {
    expectOptionError(make({ servers: [A, 'B' as unknown as ServerOptions] }), 'ERR_UPSTREAM_INVALID_OPTION', 'servers[1]', 'B');
  });

  it('a duplicate id is rejected (ids default to the address)', () => {
    expectOptionError(make({ servers: [A, { ...B, id: 'A' }] }), 'ERR_UPSTREAM_DUPLICATE_ID', 'servers[1].id', 'A');
    expectOptionError(make({ servers: [{ address: 'x:1' }, { address: 'x:1', weight: 2 }] }), 'ERR_UPSTREAM_DUPLICATE_ID', 'servers[1].id', 'x:1');
  });
});

describe('upstream options', () => {
  it('no servers: ERR_UPSTREAM_NO_SERVERS', () => {
    const e = thrown(make({ servers: [] }));
    expect(e.code).toBe('ERR_UPSTREAM_NO_SERVERS');
    expect(e.value).toBe(0);
  });

  it('only backups: ERR_UPSTREAM_NO_SERVERS (nginx: no servers in upstream)', () => {
    const e = thrown(make({ name: 'mail', servers: [{ ...A, backup: true }, { ...B, backup: true }] }));
    expect(e.code).toBe('ERR_UPSTREAM_NO_SERVERS');
    expect(e.value).toBe(2);
    // (reported: the message names the default "upstream" instead of the `name` option)
    expect(e.message).toContain('no servers in upstream "');
  });

  it('servers that are not an array', () => {
    expectOptionError(make({ servers: 'A' as unknown as ServerOptions[] }), 'ERR_UPSTREAM_INVALID_OPTION', 'servers', 'A');
  });

  it.each(['round_robin', 'least_conn', 'RR', '', 42])('unknown method %s', (method) => {
    expectOptionError(make({ method: method as BalancerOptions['method'] }), 'ERR_UPSTREAM_INVALID_OPTION', 'method', method);
  });

  it.each(['hash', 'ip-hash', 'random'] as const)('backup with method %s (nginx: does not support parameter "backup")', (method) => {
    const e = expectOptionError(make({ method, servers: [A, { ...B, backup: true }] }), 'ERR_UPSTREAM_INVALID_OPTION', 'servers[1].backup', method);
    expect(e.message).toContain('balancing method does not support parameter "backup"');
  });

  it.each([
    ['tries', -1],
    ['tries', 1.5],
    ['name', ''],
    ['clock', 5],
    ['rng', 'x'],
  ] as const)('%s = %s', (key, value) => {
    expectOptionError(make({ [key]: value }), 'ERR_UPSTREAM_INVALID_OPTION', key, value);
  });

  it('an unknown top-level key is rejected', () => {
    expectOptionError(make({ retries: 2 } as Partial<BalancerOptions>), 'ERR_UPSTREAM_INVALID_OPTION', 'retries', 'retries');
  });

  it('options that are not an object', () => {
    expectOptionError(() => new Balancer(null as unknown as BalancerOptions), 'ERR_UPSTREAM_INVALID_OPTION', 'options', null);
  });

  it.each([
    ['rise', 0],
    ['fall', -1],
    ['interval', 0],
    ['timeout', 1.5],
    ['type', 'ftp'],
    ['port', 70000],
  ] as const)('check.%s = %s', (key, value) => {
    expectOptionError(make({ check: { [key]: value } }), 'ERR_UPSTREAM_INVALID_OPTION', `check.${key}`, value);
  });
});

describe('runtime control with bad input', () => {
  const fresh = () => new Balancer({ servers: [A, B] });

  it('unknown id in update / remove / reportCheck: ERR_UPSTREAM_UNKNOWN_ID with the id', () => {
    const b = fresh();
    for (const f of [() => b.update('Z', { weight: 2 }), () => b.remove('Z'), () => b.reportCheck('Z', true)]) {
      const e = thrown(f);
      expect(e.code).toBe('ERR_UPSTREAM_UNKNOWN_ID');
      expect(e.value).toBe('Z');
    }
  });

  it('add() of a duplicate id', () => {
    const b = fresh();
    expectOptionError(() => b.add({ id: 'A', address: '10.0.0.9:25' }), 'ERR_UPSTREAM_DUPLICATE_ID', 'server.id', 'A');
    expect(b.servers.map((s) => s.id)).toEqual(['A', 'B']);
  });

  it('add() of an invalid server', () => {
    const b = fresh();
    expectOptionError(() => b.add({ id: 'C', address: 'c:1', weight: 0 }), 'ERR_UPSTREAM_INVALID_OPTION', 'server.weight', 0);
    expect(b.servers.length).toBe(2);
  });

  it('update() with an invalid value, a changed id, or a non-object patch; nothing changes', () => {
    const b = fresh();
    const before = JSON.stringify(b.snapshot());
    const e1 = thrown(() => b.update('A', { weight: -1 }));
    expect([e1.code, e1.value]).toEqual(['ERR_UPSTREAM_INVALID_OPTION', -1]);
    const e2 = thrown(() => b.update('A', { id: 'Q' } as never));
    expect([e2.code, e2.value]).toEqual(['ERR_UPSTREAM_INVALID_OPTION', 'Q']);
    const e3 = thrown(() => b.update('A', null as never));
    expect([e3.code, e3.value]).toEqual(['ERR_UPSTREAM_INVALID_OPTION', null]);
    expect(JSON.stringify(b.snapshot())).toBe(before);
  });

  it('remove() or update() that would leave no primary: ERR_UPSTREAM_NO_SERVERS; nothing changes', () => {
    const b = new Balancer({ servers: [A, { ...B, backup: true }] });
    const before = JSON.stringify(b.snapshot());
    expect(thrown(() => b.remove('A')).code).toBe('ERR_UPSTREAM_NO_SERVERS');
    expect(thrown(() => b.update('A', { backup: true })).code).toBe('ERR_UPSTREAM_NO_SERVERS');
    expect(JSON.stringify(b.snapshot())).toBe(before);
  });

  it('setServers() with bad lists; nothing changes', () => {
    const b = fresh();
    const before = JSON.stringify(b.snapshot());
    expect(thrown(() => b.setServers([])).code).toBe('ERR_UPSTREAM_NO_SERVERS');
    expect(thrown(() => b.setServers([{ ...A, backup: true }])).code).toBe('ERR_UPSTREAM_NO_SERVERS');
    expect(thrown(() => b.setServers([A, { ...B, id: 'A' }])).code).toBe('ERR_UPSTREAM_DUPLICATE_ID');
    expect(thrown(() => b.setServers([A, { ...B, weight: 0 }])).code).toBe('ERR_UPSTREAM_INVALID_OPTION');
    expect(JSON.stringify(b.snapshot())).toBe(before);
  });

  it('release() of a server of another balancer: ERR_UPSTREAM_UNKNOWN_ID', () => {
    const b1 = fresh();
    const b2 = fresh();
    const s = b2.pick()!;
    const e = thrown(() => b1.release(s));
    expect([e.code, e.value]).toEqual(['ERR_UPSTREAM_UNKNOWN_ID', 'A']);
    expect(s.conns).toBe(1);
  });
});

describe('tuning', () => {
  it.each([
    ['lazyFromServers', 0],
    ['lazyFromServers', 2.5],
    ['leastConnIndexFromServers', 0],
    ['leastConnIndexFromServers', -3],
    ['leastConnIndexFromServers', '16'],
  ])('tuning.%s = %j is rejected with the value', (key, value) => {
    expectOptionError(make({ tuning: { [key]: value } as never }), 'ERR_UPSTREAM_INVALID_OPTION', `tuning.${key}`, value);
  });

  it('an unknown tuning option is rejected, naming the known ones', () => {
    const e = expectOptionError(make({ tuning: { leastConnIndex: 4 } as never }), 'ERR_UPSTREAM_INVALID_OPTION', 'tuning.leastConnIndex', 'leastConnIndex');
    expect(e.message).toContain('lazyFromServers, leastConnIndexFromServers');
  });
});
