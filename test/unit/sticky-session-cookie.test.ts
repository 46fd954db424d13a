/**
 * The sticky layer's readers and writer of nginx text (src/sticky/cookie.ts, src/sticky/variables.ts):
 * `$cookie_NAME`, `$arg_NAME`, `$upstream_cookie_NAME`, complex values, the Set-Cookie bytes and
 * the cookie date. The cases marked "nginx 1.30.4" were sent to a stock nginx 1.30.4 with
 * `sticky route $arg_route $cookie_r` over `server A route=a weight=1000; server B route=b;` and
 * the server it chose recorded (B = the value read was `b`); the Set-Cookie bytes were read from
 * its response (2026-12-05).
 */

import { describe, expect, it } from 'vitest';
import { MAX_EXPIRES, cookieTime, requestCookie, stickyCookie, upstreamCookie } from '../../src/sticky/cookie';
import type { StickyCookieConfig } from '../../src/sticky/types';
import { argument, evaluate, firstVariable } from '../../src/sticky/variables';

describe('requestCookie ($cookie_NAME)', () => {
  // [Cookie headers, what nginx 1.30.4 routed to: B = read 'b', A = not read as 'b']
  const recorded: [string[], 'A' | 'B'][] = [
    [['r=b'], 'B'],
    [['R=b'], 'B'],
    [['x=1; r = b'], 'B'],
    [['r=b ;x=1'], 'A'],
    [['r;r=b'], 'A'],
    [['rr=a; r=b'], 'B'],
    [['x=1', 'r=b'], 'B'],
    [['r=; r=b'], 'A'],
    [['x=r=a; r=b'], 'B'],
    [['r=b;r=a'], 'B'],
    [['r =b'], 'B'],
    [['r\t=b'], 'A'],
    [['x=1;r=b'], 'B'],
    [['x=1;  r=b'], 'B'],
    [['r='], 'A'],
    [['r'], 'A'],
    [['r=b;'], 'B'],
    [['a=1;;r=b'], 'B'],
  ];
  for (const [headers, server] of recorded) {
    it(`nginx 1.30.4: ${JSON.stringify(headers)} → ${server}`, () => {
      expect(requestCookie(headers, 'r') === 'b' ? 'B' : 'A').toBe(server);
    });
  }

  it('returns the exact value: trailing spaces kept, empty values found, first match wins', () => {
    expect(requestCookie('r=b ;x=1', 'r')).toBe('b ');
    expect(requestCookie('r=; r=b', 'r')).toBe('');
    expect(requestCookie('r;r=b', 'r')).toBeUndefined(); // the byte after a bare name is consumed with its pair's rest
    expect(requestCookie(['x=1', 'R = v ; r=w'], 'r')).toBe('v ');
    expect(requestCookie('srv_id=5f', 'SRV_ID')).toBe('5f');
    expect(requestCookie('srv_idx=1; srv_id=2', 'srv_id')).toBe('2');
    expect(requestCookie(undefined, 'r')).toBeUndefined();
    expect(requestCookie([], 'r')).toBeUndefined();
    expect(requestCookie('ab', 'abc')).toBeUndefined();
    expect(requestCookie(['ab', 'abc=1'], 'abc')).toBe('1');
  });
});

describe('argument ($arg_NAME)', () => {
  const recorded: [string, 'A' | 'B'][] = [
    ['Route=b', 'B'],
    ['xroute=b', 'A'],
    ['x=1&route=b', 'B'],
    ['route=b&route=a', 'B'],
    ['route', 'A'],
    ['x=1&&route=b', 'B'],
    ['route=b&x', 'B'],
    ['x&route=b', 'B'],
    ['ROUTE=b', 'B'],
  ];
  for (const [args, server] of recorded) {
    it(`nginx 1.30.4: ?${args} → ${server}`, () => {
      expect(argument(args, 'route') === 'b' ? 'B' : 'A').toBe(server);
    });
  }

  it('returns the raw value up to the next &', () => {
    expect(argument('route=', 'route')).toBe('');
    expect(argument('a=1&route=x%20y&b', 'route')).toBe('x%20y');
    expect(argument('xroute=1&route=2', 'route')).toBe('2');
    expect(argument(undefined, 'route')).toBeUndefined();
    expect(argument('', 'route')).toBeUndefined();
  });
});

describe('upstreamCookie ($upstream_cookie_NAME)', () => {
  it('reads the first pair of each Set-Cookie header only', () => {
    expect(upstreamCookie(['other=1', 'SID = abc ; Path=/'], 'sid')).toBe('abc ');
    expect(upstreamCookie(['a=1; sid=2'], 'sid')).toBeUndefined();
    expect(upstreamCookie('sid', 'sid')).toBeUndefined();
    expect(upstreamCookie('sid=', 'sid')).toBe('');
    expect(upstreamCookie(['sidx=1', 'sid=2', 'sid=3'], 'sid')).toBe('2');
    expect(upstreamCookie(undefined, 'sid')).toBeUndefined();
  });
});

describe('variables', () => {
  const vars: Record<string, string> = { host: 'example.com', empty: '', a_1: 'x' };
  const lookup = (n: string): string | undefined => vars[n];

  it('firstVariable skips missing and empty values, names with or without $', () => {
    expect(firstVariable(['$missing', '$empty', '$host'], lookup)).toEqual({ value: 'example.com', index: 2 });
    expect(firstVariable(['a_1'], lookup)).toEqual({ value: 'x', index: 0 });
    expect(firstVariable(['$missing', '$empty'], lookup)).toBeUndefined();
  });

  it('evaluate replaces $name and ${name}; missing adds nothing', () => {
    expect(evaluate('.$host', lookup)).toBe('.example.com');
    expect(evaluate('${a_1}y$a_1-$missing!', lookup)).toBe('xyx-!');
    expect(evaluate('plain', lookup)).toBe('plain');
  });
});

describe('cookieTime (ngx_http_cookie_time)', () => {
  it('two-digit years up to 2037, four after', () => {
    expect(cookieTime(0)).toBe('Thu, 01-Jan-70 00:00:00 GMT');
    expect(cookieTime(MAX_EXPIRES)).toBe('Thu, 31-Dec-37 23:55:55 GMT');
    expect(cookieTime(2145916800)).toBe('Fri, 01-Jan-2038 00:00:00 GMT');
    expect(cookieTime(946684799)).toBe('Fri, 31-Dec-99 23:59:59 GMT');
    expect(cookieTime(1_000_000_000)).toBe('Sun, 09-Sep-01 01:46:40 GMT');
  });
});

describe('stickyCookie (ngx_http_upstream_sticky_cookie_insert)', () => {
  const base: StickyCookieConfig = { mode: 'cookie', name: 'srv_id', secure: false, httponly: false };

  it('nginx 1.30.4: every attribute, in nginx order', () => {
    const config: StickyCookieConfig = { ...base, expires: 3600, domain: '.example.com', path: '/p', samesite: 'Lax', secure: true, httponly: true };
    const now = Date.UTC(2026, 11, 5, 12, 8, 49) / 1000;
    expect(stickyCookie(config, '7c3cfdd6f570790f81353e9710412d68', now)).toBe(
      'srv_id=7c3cfdd6f570790f81353e9710412d68; expires=Sat, 05-Dec-26 13:08:49 GMT; max-age=3600; domain=.example.com; httponly; secure; samesite=Lax; path=/p',
    );
  });

  it('nginx 1.30.4: a session cookie is the pair alone', () => {
    expect(stickyCookie(base, '268616662e5694ad429b2be0fdfa0618', 0)).toBe('srv_id=268616662e5694ad429b2be0fdfa0618');
  });

  it("expires=max (and expires of exactly 2145916555 s) is nginx's fixed text", () => {
    const max = 'a=b; expires=Thu, 31-Dec-37 23:55:55 GMT; max-age=315360000';
    expect(stickyCookie({ ...base, name: 'a', expires: 'max' }, 'b', 1e9)).toBe(max);
    expect(stickyCookie({ ...base, name: 'a', expires: MAX_EXPIRES }, 'b', 1e9)).toBe(max);
    expect(stickyCookie({ ...base, name: 'a', expires: 0 }, 'b', 0)).toBe('a=b; expires=Thu, 01-Jan-70 00:00:00 GMT; max-age=0');
  });

  it('domain and samesite from variables: empty omits, an invalid samesite becomes strict', () => {
    const config: StickyCookieConfig = { ...base, domain: '$d', samesite: '$s' };
    expect(stickyCookie(config, 'x', 0, { domain: '', samesite: '', samesiteFromVariables: true })).toBe('srv_id=x');
    expect(stickyCookie(config, 'x', 0, { domain: 'h', samesite: 'NONE', samesiteFromVariables: true })).toBe('srv_id=x; domain=h; samesite=NONE');
    expect(stickyCookie(config, 'x', 0, { domain: 'h', samesite: 'sometimes', samesiteFromVariables: true })).toBe('srv_id=x; domain=h; samesite=strict');
  });
});
