import { describe, expect, it } from 'vitest';
import { describeMs, formatSeconds, parseNginxTime } from '../../src/config/time';

describe('nginx time values (ngx_parse_time)', () => {
  it.each([
    ['0', 0n], ['10', 10n], ['3s', 3n], ['1m30s', 90n], ['1m30', 90n], ['1h 30m', 5400n], ['1d2h', 93600n],
    ['1w', 604800n], ['1M', 2592000n], ['1y', 31536000n], ['1y1M1w1d1h1m1s', 31536000n + 2592000n + 604800n + 86400n + 3600n + 61n],
    ['1s5', 6n], ['m5', 5n], ['5s ', 5n], ['1 2', 3n], [' 1', 1n], ['9223372036854775807', 9223372036854775807n],
  ])('seconds: %j = %s', (text, v) => {
    expect(parseNginxTime(text, 's')).toBe(v);
  });

  it.each(['', 's', '1ms', '1.5s', '30s1m', '10x', '1s1s', '-1', '+1', '5S', '1h1h', '9223372036854775808', '300000000000y'])(
    'seconds: %j is an error',
    (text) => {
      expect(parseNginxTime(text, 's')).toBeUndefined();
    },
  );

  it('milliseconds: ms allowed, y and M rejected, bare numbers are seconds', () => {
    expect(parseNginxTime('500ms', 'ms')).toBe(500n);
    expect(parseNginxTime('1s500ms', 'ms')).toBe(1500n);
    expect(parseNginxTime('5', 'ms')).toBe(5000n);
    expect(parseNginxTime('1h', 'ms')).toBe(3_600_000n);
    expect(parseNginxTime('1y', 'ms')).toBeUndefined();
    expect(parseNginxTime('1M', 'ms')).toBeUndefined();
    expect(parseNginxTime('1ms1s', 'ms')).toBeUndefined();
  });

  it('formatSeconds writes values that parse back', () => {
    for (const s of [0, 1, 59, 60, 90, 3600, 5400, 86399, 86400, 93784, 1e9]) {
      expect(parseNginxTime(formatSeconds(s), 's')).toBe(BigInt(s));
    }
    expect(formatSeconds(90)).toBe('1m30s');
    expect(() => formatSeconds(1.5)).toThrow(RangeError);
  });

  it('describeMs', () => {
    expect([describeMs(250), describeMs(3000), describeMs(1500), describeMs(120_000)]).toEqual(['250 ms', '3 s', '1.5 s', '2 min']);
  });
});
