/**
 * The fleet store's key layout and value parsing (src/etcd/store.ts) on hostile input, and the
 * admin changes as store writes (src/etcd/admin.ts): exact keys, exact parsed values, null for
 * anything malformed, typed errors with codes for changes every member would refuse.
 */

import { describe, expect, it } from 'vitest';
import { addWrite, operationsOf, removeWrite, replaceWrite, updateWrite, withoutUnchanged } from '../../src/etcd/admin';
import { type DesiredServer, FleetKeys, desiredValue, orderedServers, parseDesired, parseLeader, parseVerdict, verdictValue } from '../../src/etcd/store';

describe('FleetKeys', () => {
  const keys = new FleetKeys('ub/', 'smtp out');
  it('lays out one upstream under the prefix, ids URI-encoded', () => {
    expect([keys.base, keys.server('a/b'), keys.verdict('x'), keys.leader, keys.seeded]).toEqual([
      'ub/smtp%20out/',
      'ub/smtp%20out/servers/a%2Fb',
      'ub/smtp%20out/verdicts/x',
      'ub/smtp%20out/leader',
      'ub/smtp%20out/seeded',
    ]);
  });
  it('classifies keys, and anything it does not know as other', () => {
    expect(
      ['ub/smtp%20out/servers/a%2Fb', 'ub/smtp%20out/verdicts/x', 'ub/smtp%20out/leader', 'ub/smtp%20out/seeded', 'ub/smtp%20out/servers/', 'ub/smtp%20out/servers/%E0%A4%A', 'ub/smtp%20out/other'].map((k) => keys.classify(k)),
    ).toEqual([{ kind: 'server', id: 'a/b' }, { kind: 'verdict', id: 'x' }, { kind: 'leader' }, { kind: 'seeded' }, { kind: 'other' }, { kind: 'other' }, { kind: 'other' }]);
  });
});

describe('parsing stored values', () => {
  const d: DesiredServer = { order: 2, server: { id: 'a', address: '10.0.0.1:25', down: true } };
  const state = { down: false, pending: false, rise: 2, fall: 0, passed: 7, failed: 1 };

  it('reads back what it writes', () => {
    expect(parseDesired(desiredValue(d), 'a')).toEqual(d);
    const v = { id: 'a', term: 9, ok: true, reason: '', ms: 3.5, state };
    expect(parseVerdict(verdictValue(v), 'a')).toEqual(v);
    expect(parseLeader('{"candidate":"h/1/ab"}', 12, '77')).toEqual({ candidate: 'h/1/ab', term: 12, lease: '77' });
  });

  it('returns null for malformed values', () => {
    for (const text of ['', 'null', '[]', '{"order":"1","server":{"id":"a","address":"x"}}', '{"order":1,"server":{"id":"b","address":"x"}}', '{"order":1,"server":{"id":"a"}}', '{"order":1e999,"server":{"id":"a","address":"x"}}']) {
      expect(parseDesired(text, 'a')).toBeNull();
    }
    for (const text of ['{', '{"term":-1,"ok":true,"reason":"","ms":0,"state":null}', '{"term":1,"ok":"yes","reason":"","ms":0,"state":null}', '{"term":1,"ok":true,"reason":"","ms":null,"state":null}', '{"term":1,"ok":true,"reason":"","ms":0,"state":{"down":false}}', '{"term":1,"ok":true,"reason":"","ms":0,"state":{"down":false,"pending":false,"rise":1.5,"fall":0,"passed":0,"failed":0}}']) {
      expect(parseVerdict(text, 'a')).toBeNull();
    }
    for (const text of ['{}', '{"candidate":""}', '"x"']) expect(parseLeader(text, 3, '1')).toBeNull();
  });

  it('orders the desired servers by order, then id', () => {
    const list = [{ order: 1, server: { id: 'b', address: 'b:1' } }, { order: 0, server: { id: 'z', address: 'z:1' } }, { order: 1, server: { id: 'a', address: 'a:1' } }];
    expect(orderedServers(list).map((s) => s.server.id)).toEqual(['z', 'a', 'b']);
  });
});

describe('admin writes', () => {
  const desired = new Map<string, DesiredServer>([
    ['a', { order: 0, server: { id: 'a', address: '10.0.0.1:25', weight: 2 } }],
    ['b', { order: 1, server: { id: 'b', address: '10.0.0.2:25' } }],
  ]);

  it('update merges the patch into the stored server, keeping its place', () => {
    expect(updateWrite(desired, 'a', { down: true, weight: undefined })).toEqual({ put: [{ order: 0, server: { id: 'a', address: '10.0.0.1:25', down: true } }], remove: [] });
  });

  it('add goes last; remove deletes; setServers puts the list in order and deletes the rest', () => {
    expect(addWrite(desired, { address: '10.0.0.3:25' })).toEqual({ put: [{ order: 2, server: { id: '10.0.0.3:25', address: '10.0.0.3:25' } }], remove: [] });
    expect(removeWrite(desired, 'b')).toEqual({ put: [], remove: ['b'] });
    const write = replaceWrite(desired, [{ id: 'b', address: '10.0.0.2:25' }, { id: 'c', address: '10.0.0.3:25' }]);
    expect(write).toEqual({ put: [{ order: 0, server: { id: 'b', address: '10.0.0.2:25' } }, { order: 1, server: { id: 'c', address: '10.0.0.3:25' } }], remove: ['a'] });
    expect(operationsOf(write)).toBe(4);
    expect(withoutUnchanged(desired, replaceWrite(desired, [{ id: 'a', address: '10.0.0.1:25', weight: 2 }, { id: 'b', address: '10.0.0.2:25' }]))).toEqual({ put: [], remove: [] });
  });

  it('refuses with typed errors what every member would refuse', () => {
    expect(() => updateWrite(desired, 'nope', {})).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_UNKNOWN_ID' }));
    expect(() => updateWrite(desired, 'a', { id: 'z' } as never)).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION', option: 'patch.id' }));
    expect(() => updateWrite(desired, 'a', null as never)).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION' }));
    expect(() => updateWrite(desired, 'a', { maxFails: -1 })).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION' }));
    expect(() => addWrite(desired, { id: 'b', address: '10.0.0.9:25' })).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_DUPLICATE_ID' }));
    expect(() => addWrite(desired, { address: 42 } as never)).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION' }));
    expect(() => removeWrite(new Map([['a', desired.get('a')!]]), 'a')).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_NO_SERVERS' }));
    expect(() => replaceWrite(desired, [{ address: 'x:1' }, { address: 'x:1' }])).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_DUPLICATE_ID' }));
    expect(() => replaceWrite(desired, 'a' as never)).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_NO_SERVERS' }));
  });
});
