/**
 * The `nginx` option: its validation, and every selection difference between the two targets
 * (docs/nginx-compat.md, "nginx 1.22 and 1.30"): hash, ip_hash and random hand a request to round
 * robin on `single` (1.22) or on a tier of fewer than two servers (1.30, commit db6870e06), and a
 * free in single-server mode zeroes `fails` only in 1.30. The recorded vectors
 * `methods-hash-sni-backup-first` and `methods-ip-hash-backup-first` show the first with real nginx
 * of both series; the second cannot happen in nginx without a zone (single mode never counts a
 * failure), so it is shown here through `setServers`.
 */

import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock } from '../../src/clock';
import { fromNginxOptions } from '../../src/config/from-nginx';
import { parseUpstreams } from '../../src/config/nginx';
import { InvalidOptionError } from '../../src/errors';
import { type Method, type NginxTarget, resolveOptions } from '../../src/options';

const clock = () => new ManualClock(1_000_000).now;
const defaults = { clock: clock(), rng: Math.random };

describe('the nginx option', () => {
  it("defaults to '1.30' and takes '1.22'", () => {
    const servers = [{ address: 'a:1' }];
    expect(resolveOptions({ servers }, defaults).nginx).toBe('1.30');
    expect(resolveOptions({ nginx: '1.22', servers }, defaults).nginx).toBe('1.22');
  });

  it.each([
    ['1.24', '"1.24"'],
    [1.3, '1.3'],
    [null, 'null'],
    ['1.30.4', '"1.30.4"'],
    ['', '""'],
  ])('rejects %j with a typed error naming the option and the value', (bad, shown) => {
    let err: unknown;
    try {
      new Balancer({ nginx: bad as NginxTarget, servers: [{ address: 'a:1' }], clock: clock() });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidOptionError);
    const e = err as InvalidOptionError;
    expect([e.code, e.option, e.value]).toEqual(['ERR_UPSTREAM_INVALID_OPTION', 'nginx', bad]);
    expect(e.message).toBe(`Expected \`nginx\` to be one of '1.30', '1.22', got \`${shown}\``);
  });
});

/**
 * One primary D and backups E, F, G (allowBackupWithHash: the backup lines written before the
 * directive), none ever excluded (max_fails=0). Each attempt: D fails, the first backup fails,
 * the next one is taken. Returns the servers each attempt tried.
 */
function retries(method: Method, nginx: NginxTarget, keys: string[]): string[] {
  let x = 0;
  const rng = () => {
    x = (x * 7 + 3) % 10;
    return x / 10;
  };
  const ids = ['D', 'E', 'F', 'G'];
  const b = new Balancer({
    nginx,
    method,
    allowBackupWithHash: true,
    rng,
    clock: clock(),
    servers: ids.map((id, i) => ({ id, address: `10.0.0.${i + 4}:25`, maxFails: 0, backup: i > 0 })),
  });
  return keys.map((key) => {
    const a = b.attempt(key);
    const seq: string[] = [];
    for (;;) {
      const s = a.next()!;
      seq.push(s.id);
      if (seq.length === 3) {
        a.release();
        return seq.join(',');
      }
      a.fail();
    }
  });
}

const STRING_KEYS = ['foo', 'bar', 'user42', '/index.html', 'a'];
const ADDRESSES = ['10.0.0.1', '10.0.7.1', '10.0.14.1', '10.0.21.1', '10.0.28.1'];

describe('hash, ip_hash, random: round robin first on `single` (1.22) or on fewer than two servers (1.30)', () => {
  it('1.22: a one-server primary beside backups is hashed (21 rounds on the tried server), then round robin runs the backup tier', () => {
    // round robin's SWRR over E, F, G whatever the key: (E, F), (G, F), (E, F), (G, F), (E, F)
    const swrr = ['D,E,F', 'D,G,F', 'D,E,F', 'D,G,F', 'D,E,F'];
    expect(retries('hash', '1.22', STRING_KEYS)).toEqual(swrr);
    expect(retries('ip-hash', '1.22', ADDRESSES)).toEqual(swrr);
    expect(retries('random', '1.22', STRING_KEYS)).toEqual(swrr);
  });

  it('1.30: round robin on the one-server primary, then the key is hashed over the backup tier', () => {
    // foo: 3187 mod 3 = 1 -> F; bar after F: 30463 mod 3 = 1 -> F (tried), rehash -> G
    expect(retries('hash', '1.30', STRING_KEYS)).toEqual(['D,E,F', 'D,F,G', 'D,G,E', 'D,E,G', 'D,F,G']);
    expect(retries('ip-hash', '1.30', ADDRESSES)).toEqual(['D,E,F', 'D,F,G', 'D,G,E', 'D,E,G', 'D,F,E']);
    expect(retries('random', '1.30', STRING_KEYS)).toEqual(['D,E,F', 'D,F,E', 'D,G,E', 'D,E,F', 'D,F,E']);
  });

  it('both: one server and no backup is round robin (single mode) in either rule', () => {
    for (const nginx of ['1.22', '1.30'] as const) {
      for (const method of ['hash', 'ip-hash', 'random'] as const) {
        const b = new Balancer({ nginx, method, clock: clock(), servers: [{ id: 'A', address: '10.0.0.1:1', down: true }] });
        // single mode: a down server ends the request at once (no 21 hash rounds, no NOLIVE walk)
        expect(b.pick('10.0.0.9')).toBeUndefined();
      }
    }
  });
});

describe('single-server mode free: fails zeroed by 1.30, kept by 1.22', () => {
  it.each([
    ['1.30', 0],
    ['1.22', 2],
  ] as const)('nginx %s: fails after A becomes the only server and serves one request: %i', (nginx, after) => {
    const b = new Balancer({ nginx, clock: clock(), servers: [{ id: 'A', address: 'a:1', maxFails: 5 }, { id: 'B', address: 'b:1' }] });
    const failsOfA = () => b.snapshot().servers.find((s) => s.id === 'A')!.fails;
    for (let n = 0; n < 10 && failsOfA() < 2; n++) {
      const a = b.attempt();
      for (let s = a.next(); s !== undefined; s = a.next()) {
        if (s.id === 'A') {
          a.fail();
        } else {
          a.release();
          break;
        }
      }
    }
    expect(b.snapshot().servers.find((s) => s.id === 'A')!.fails).toBe(2);
    b.setServers([{ id: 'A', address: 'a:1', maxFails: 5 }]);
    expect(b.snapshot().servers[0]!.fails).toBe(2);
    const a = b.attempt();
    expect(a.next()!.id).toBe('A');
    a.release();
    expect(b.snapshot().servers[0]!.fails).toBe(after);
  });
});

describe('the parse passes its target on to the Balancer options it produces', () => {
  const text = 'stream {\n    upstream u {\n        server 127.0.0.1:1;\n    }\n}\n';
  it.each([
    [{}, '1.30'],
    [{ nginx: '1.22' }, '1.22'],
    [{ nginx: '1.30' }, '1.30'],
  ] as const)('parseUpstreams / fromNginxOptions with %j -> nginx %s', (opts, target) => {
    expect(parseUpstreams(text, opts)[0]!.options.nginx).toBe(target);
    expect(fromNginxOptions(text, 'u', opts).nginx).toBe(target);
  });
});
