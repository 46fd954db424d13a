/**
 * Round trip: `formatUpstream(name, options)` prints nginx text that `parseUpstreams` reads back to
 * equal options (for options in the normal form the parser produces: every server field explicit,
 * id = address, whole-second fail timeouts, `random two` = `random two least_conn`), for both nginx
 * targets (`drain` only where nginx 1.30 has it: http).
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatUpstream } from '../../src/config/format';
import { parseUpstreams } from '../../src/config/nginx';
import type { BalancerOptions, CheckOptions } from '../../src/options';

const address = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 65535 })).map(([a, b, p]) => `10.${a}.${b}.1:${p}`),
  fc.integer({ min: 1, max: 65535 }).map((p) => `[::1]:${p}`),
  fc.stringMatching(/^\/[a-z]{1,8}(\/[a-z.]{1,8}){0,2}$/).map((p) => `unix:${p}`),
);

const server = fc.record({
  address,
  weight: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 1000 })),
  maxFails: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 100 })),
  failTimeout: fc.oneof(fc.constant(10_000), fc.integer({ min: 0, max: 10 * 86400 }).map((s) => s * 1000)),
  maxConns: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 100_000 })),
  backup: fc.boolean(),
  down: fc.boolean(),
  drain: fc.integer({ min: 0, max: 9 }).map((k) => k === 0),
});

const check: fc.Arbitrary<CheckOptions> = fc
  .record({
    interval: fc.integer({ min: 1, max: 600_000 }),
    rise: fc.integer({ min: 1, max: 20 }),
    fall: fc.integer({ min: 1, max: 20 }),
    timeout: fc.integer({ min: 1, max: 60_000 }),
    type: fc.constantFrom('tcp', 'http', 'smtp', 'ssl_hello', 'mysql') as fc.Arbitrary<CheckOptions['type']>,
    port: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 65535 })),
    defaultDown: fc.boolean(),
    httpSend: fc.option(fc.string({ minLength: 1, maxLength: 30 }), { nil: undefined }),
    httpExpectAlive: fc.option(fc.uniqueArray(fc.constantFrom('1xx', '2xx', '3xx', '4xx', '5xx') as fc.Arbitrary<'2xx'>, { minLength: 1 }), { nil: undefined }),
  })
  .map((c) => {
    const out: CheckOptions = { interval: c.interval, rise: c.rise, fall: c.fall, timeout: c.timeout, type: c.type, port: c.port, defaultDown: c.defaultDown };
    if (c.httpSend !== undefined) out.httpSend = c.httpSend;
    if (c.httpExpectAlive !== undefined) out.httpExpectAlive = (['1xx', '2xx', '3xx', '4xx', '5xx'] as const).filter((x) => c.httpExpectAlive!.includes(x as '2xx'));
    return out;
  });

const options = fc
  .record({
    name: fc.stringMatching(/^[a-z_][a-z0-9_]{0,15}$/),
    method: fc.constantFrom('round-robin', 'least-conn', 'hash', 'ip-hash', 'random') as fc.Arbitrary<BalancerOptions['method']>,
    consistent: fc.boolean(),
    two: fc.boolean(),
    servers: fc.array(server, { minLength: 1, maxLength: 8 }),
    check: fc.option(check, { nil: undefined }),
    context: fc.constantFrom('http', 'stream') as fc.Arbitrary<'http' | 'stream'>,
    nginx: fc.constantFrom('1.30', '1.22') as fc.Arbitrary<'1.30' | '1.22'>,
  })
  .filter((o) => o.servers.some((s) => !s.backup) && !(o.context === 'stream' && o.method === 'ip-hash'))
  .map(({ name, method, consistent, two, servers, check, context, nginx }) => {
    const seen = new Set<string>();
    // `drain` exists in nginx 1.30's http upstreams only; the parse writes the flag only when set
    const drainable = nginx === '1.30' && context === 'http';
    const list = servers
      .filter((s) => (seen.has(s.address) ? false : (seen.add(s.address), true)))
      .map(({ drain, ...s }) => ({ id: s.address, ...s, ...(drain && drainable ? { drain } : {}) }));
    const o: BalancerOptions = { name, nginx, method, servers: list };
    if (method === 'hash') o.hash = { consistent };
    if (method === 'random' && two) {
      o.randomTwo = true;
      o.randomLeastConn = true;
    }
    if (check) o.check = check;
    if ((method === 'hash' || method === 'ip-hash' || method === 'random') && list.some((s) => s.backup)) o.allowBackupWithHash = true;
    return { o, context };
  })
  .filter(({ o }) => o.servers.some((s) => !s.backup));

describe('formatUpstream round trip', () => {
  it('parse(format(options)) equals options', () => {
    fc.assert(
      fc.property(options, fc.constantFrom('$remote_addr', '$request_uri', '$cookie_x$arg_y'), ({ o, context }, hashKey) => {
        const text = formatUpstream(o.name!, o, { wrap: context, hashKey });
        const [u] = parseUpstreams(text, { filename: 'rt.conf', nginx: o.nginx! });
        expect(u!.options).toEqual(o);
        expect(u!.context).toBe(context);
        if (o.method === 'hash') expect(u!.hashKey).toBe(hashKey);
      }),
      { numRuns: 500 },
    );
  });
});
