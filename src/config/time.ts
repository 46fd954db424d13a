/**
 * nginx time values: `ms s m h d w M y`, combined from most to least significant (`1h 30m`, `1m30s`).
 *
 * Semantics of `ngx_parse_time` (src/core/ngx_parse.c), re-implemented from reading it: a bare
 * number is seconds; each unit at most once and in order; a space may follow a unit; a trailing bare
 * number after units adds seconds (`1m30` = 90 s); seconds-typed values (`fail_timeout`) reject `ms`,
 * millisecond-typed values (`keepalive_timeout`) reject `y` and `M`; anything else (sign, `.`,
 * unknown letters, an empty value) is an error, and so is overflow past 2^63-1 (64-bit nginx).
 * Cost: O(length). Exact arithmetic in BigInt.
 */

const MAX = (1n << 63n) - 1n;

const enum Step {
  Start = 0,
  Year,
  Month,
  Week,
  Day,
  Hour,
  Min,
  Sec,
  Msec,
  Last,
}

/**
 * Parses an nginx time value. `unit` `'s'` is nginx's `is_sec` mode (result in seconds, `ms`
 * rejected); `'ms'` returns milliseconds and rejects `y`/`M`. Returns `undefined` where nginx
 * returns `NGX_ERROR`.
 *
 * @example
 * ```ts
 * parseNginxTime('1m30s', 's'); // 90n
 * parseNginxTime('3s', 'ms');   // 3000n
 * parseNginxTime('1ms', 's');   // undefined (seconds only)
 * parseNginxTime('30s1m', 's'); // undefined (out of order)
 * ```
 */
export function parseNginxTime(text: string, unit: 's' | 'ms'): bigint | undefined {
  const isSec = unit === 's';
  let valid = false;
  let value = 0n;
  let total = 0n;
  let step: Step = isSec ? Step.Start : Step.Month;
  let p = 0;
  const last = text.length;
  while (p < last) {
    const c = text.charCodeAt(p);
    if (c >= 48 && c <= 57) {
      value = value * 10n + BigInt(c - 48);
      if (value > MAX) return undefined;
      valid = true;
      p++;
      continue;
    }
    p++;
    let max: bigint;
    let scale: bigint;
    switch (c) {
      case 121: // y
        if (step > Step.Start) return undefined;
        step = Step.Year;
        scale = 60n * 60n * 24n * 365n;
        break;
      case 77: // M
        if (step >= Step.Month) return undefined;
        step = Step.Month;
        scale = 60n * 60n * 24n * 30n;
        break;
      case 119: // w
        if (step >= Step.Week) return undefined;
        step = Step.Week;
        scale = 60n * 60n * 24n * 7n;
        break;
      case 100: // d
        if (step >= Step.Day) return undefined;
        step = Step.Day;
        scale = 60n * 60n * 24n;
        break;
      case 104: // h
        if (step >= Step.Hour) return undefined;
        step = Step.Hour;
        scale = 60n * 60n;
        break;
      case 109: // m or ms
        if (p < last && text.charCodeAt(p) === 115) {
          if (isSec || step >= Step.Msec) return undefined;
          p++;
          step = Step.Msec;
          scale = 1n;
          break;
        }
        if (step >= Step.Min) return undefined;
        step = Step.Min;
        scale = 60n;
        break;
      case 115: // s
        if (step >= Step.Sec) return undefined;
        step = Step.Sec;
        scale = 1n;
        break;
      case 32: // space after a bare number
        if (step >= Step.Sec) return undefined;
        step = Step.Last;
        scale = 1n;
        break;
      default:
        return undefined;
    }
    max = MAX / scale;
    if (step !== Step.Msec && !isSec) {
      scale *= 1000n;
      max = MAX / scale;
    }
    if (value > max) return undefined;
    value *= scale;
    if (total > MAX - value) return undefined;
    total += value;
    value = 0n;
    while (p < last && text.charCodeAt(p) === 32) p++;
  }
  if (!valid) return undefined;
  if (!isSec) {
    if (value > MAX / 1000n) return undefined;
    value *= 1000n;
  }
  if (total > MAX - value) return undefined;
  return total + value;
}

/**
 * Formats whole seconds the way a person writes them in nginx: `10s`, `1m30s`, `2h`, `0s`.
 * The result parses back to the same value with `parseNginxTime(_, 's')`.
 *
 * @example
 * ```ts
 * formatSeconds(90); // '1m30s'
 * formatSeconds(3);  // '3s'
 * ```
 */
export function formatSeconds(seconds: number): string {
  if (!Number.isSafeInteger(seconds) || seconds < 0) throw new RangeError(`Expected whole non-negative seconds, got ${seconds}`);
  if (seconds === 0) return '0s';
  let rest = seconds;
  let out = '';
  for (const [u, n] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (rest >= n) {
      out += `${Math.floor(rest / n)}${u}`;
      rest %= n;
    }
  }
  return out;
}

/**
 * Describes milliseconds in words for explanations: `3 s`, `1.5 s`, `250 ms`, `2 min`.
 *
 * @example
 * ```ts
 * describeMs(3000); // '3 s'
 * ```
 */
export function describeMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms % 60_000 === 0 && ms >= 120_000) return `${ms / 60_000} min`;
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(3).replace(/0+$/, '')} s`;
}
