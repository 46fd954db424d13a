/**
 * Round trip: `formatUpstream(name, options)` prints nginx text that `parseUpstreams` reads back to
 * equal options (for options in the normal form the parser produces: every server field explicit,
 * id = address, whole-second fail timeouts, `random two` = `random two least_conn`), for both nginx
 * targets (`drain`, `route=` and `sticky` only where nginx 1.30 has them: http). The `sticky`
 * directive (all three modes, every parameter) comes back as the same `StickyConfig`.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatUpstream } from '../../src/config/format';
import { parseUpstreams } from '../../src/config/nginx';
import type { BalancerOptions, CheckOptions } from '../../src/options';
import type { StickyConfig } from '../../src/sticky/types';

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
  route: fc.option(fc.string({ minLength: 1, maxLength: 32 }).filter((r) => Buffer.byteLength(r) <= 32 && !r.includes('\0')), { nil: undefined }),
});

const variable = fc.oneof(
  fc.stringMatching(/^[a-z0-9_]{1,12}$/).map((n) => `$cookie_${n}`),
  fc.stringMatching(/^[A-Za-z0-9_]{1,12}$/).map((n) => `$arg_${n}`),
  fc.constantFrom('$remote_addr', '$request_id', '$upstream_cookie_sid', '$upstream_http_x_session', '$http_x_route'),
);
const text = fc.string({ minLength: 1, maxLength: 20 }).filter((t) => !t.includes('\0') && !t.includes('$'));

const sticky: fc.Arbitrary<StickyConfig> = fc.oneof(
  fc
    .record({
      name: text,
      expires: fc.option(fc.oneof(fc.constant('max' as const), fc.integer({ min: 0, max: 10 * 365 * 86400 })), { nil: undefined }),
      domain: fc.option(fc.oneof(text, variable), { nil: undefined }),
      path: fc.option(text, { nil: undefined }),
      samesite: fc.option(fc.constantFrom('strict', 'Lax', 'NONE', '$arg_ss'), { nil: undefined }),
      secure: fc.boolean(),
      httponly: fc.boolean(),
    })
    .map((c) => {
      const out: Record<string, unknown> = { mode: 'cookie', name: c.name };
      for (const k of ['expires', 'domain', 'path', 'samesite'] as const) if (c[k] !== undefined) out[k] = c[k];
      return { ...out, secure: c.secure, httponly: c.httponly } as unknown as StickyConfig;
    }),
  fc.array(variable, { minLength: 1, maxLength: 4 }).map((variables): StickyConfig => ({ mode: 'route', variables })),
  fc
    .record({
      create: fc.array(variable, { minLength: 1, maxLength: 3 }),
      lookup: fc.array(variable, { minLength: 1, maxLength: 3 }),
      zone: fc.record({ name: fc.stringMatching(/^[a-z][a-z0-9_]{0,11}$/), size: fc.oneof(fc.integer({ min: 32768, max: 1 << 30 }), fc.integer({ min: 32, max: 1024 }).map((k) => k * 1024)) }),
      timeout: fc.oneof(fc.constant(600_000), fc.integer({ min: 1, max: 86_400_000 })),
      header: fc.boolean(),
    })
    .map((l): StickyConfig => ({ mode: 'learn', ...l })),
);

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
    sticky: fc.option(sticky, { nil: undefined }),
  })
  .filter((o) => o.servers.some((s) => !s.backup) && !(o.context === 'stream' && o.method === 'ip-hash'))
  .map(({ name, method, consistent, two, servers, check, context, nginx, sticky }) => {
    const seen = new Set<string>();
    // `drain` exists in nginx 1.30's http upstreams only; the parse writes the flag only when set
    const drainable = nginx === '1.30' && context === 'http';
    const list = servers
      .filter((s) => (seen.has(s.address) ? false : (seen.add(s.address), true)))
      .map(({ drain, route, ...s }) => ({ id: s.address, ...s, ...(drain && drainable ? { drain } : {}), ...(route !== undefined && drainable ? { route } : {}) }));
    const o: BalancerOptions = { name, nginx, method, servers: list };
    if (method === 'hash') o.hash = { consistent };
    if (method === 'random' && two) {
      o.randomTwo = true;
      o.randomLeastConn = true;
    }
    if (check) o.check = check;
    if ((method === 'hash' || method === 'ip-hash' || method === 'random') && list.some((s) => s.backup)) o.allowBackupWithHash = true;
    return { o, context, sticky: drainable ? sticky : undefined };
  })
  .filter(({ o }) => o.servers.some((s) => !s.backup));

describe('formatUpstream round trip', () => {
  it('parse(format(options)) equals options', () => {
    fc.assert(
      fc.property(options, fc.constantFrom('$remote_addr', '$request_uri', '$cookie_x$arg_y'), ({ o, context, sticky }, hashKey) => {
        const text = formatUpstream(o.name!, o, { wrap: context, hashKey, ...(sticky === undefined ? {} : { sticky }) });
        const [u] = parseUpstreams(text, { filename: 'rt.conf', nginx: o.nginx! });
        expect(u!.options).toEqual(o);
        expect(u!.sticky).toEqual(sticky);
        expect(u!.context).toBe(context);
        if (o.method === 'hash') expect(u!.hashKey).toBe(hashKey);
      }),
      { numRuns: 500 },
    );
  });
});
