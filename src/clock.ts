/**
 * Time sources. Every duration in this package is in milliseconds.
 *
 * nginx compares whole seconds (`ngx_time()`); a clock quantised with `wholeSeconds()` reproduces
 * nginx's passive-failure timelines exactly. `ManualClock` is for harnesses and tests: time moves
 * only when you move it.
 */

/**
 * A function returning the current time in milliseconds, as a finite number. A Balancer tolerates
 * a clock that steps back (time pauses at the last reading until the clock moves again), throws or
 * returns something else (the last good reading is used and the fault reported): see `guardClock`.
 */
export type Clock = () => number;

/**
 * The default clock: `performance.now()`, monotonic, in milliseconds. Prefer it (or
 * `wholeSeconds(monotonicClock)`) to `Date.now`, which follows changes of the system time.
 *
 * @example
 * new Balancer({ servers, clock: monotonicClock }); // the same as leaving `clock` out
 */
export const monotonicClock: Clock = () => performance.now();

/** Why a reading of the clock was not used (`guardClock`). */
export type ClockFault = { kind: 'threw'; error: unknown } | { kind: 'invalid'; reading: unknown };

/**
 * A clock the passive windows can trust, over a caller's clock that may not deserve it
 * (`Date.now` steps back when the system time is set; a broken function throws or returns NaN):
 * - a reading that is not a finite number, or a call that throws, is replaced by the last good
 *   reading, and `fault` is told (the Balancer turns it into a `fault` event);
 * - a step back is absorbed: from then on the readings are shifted by the step, so that time pauses
 *   at the last reading instead of running backwards. A server that failed just before the system
 *   time went back a year stays out for its `fail_timeout`, not for a year. (nginx's `ngx_time()` is
 *   the wall clock, and nginx does keep it out; docs/nginx-compat.md lists this difference.)
 *
 * `first` is the reading the caller has already validated (the Balancer's constructor reads the
 * clock once). Cost per reading: the call, two tests and an addition.
 */
export function guardClock(clock: Clock, first: number, fault: (f: ClockFault) => void): Clock {
  let lastRaw = first;
  let shift = 0;
  return () => {
    let raw: unknown;
    try {
      raw = clock();
    } catch (error) {
      fault({ kind: 'threw', error });
      return lastRaw + shift;
    }
    if (typeof raw !== 'number' || !Number.isFinite(raw)) {
      fault({ kind: 'invalid', reading: raw });
      return lastRaw + shift;
    }
    if (raw < lastRaw) shift += lastRaw - raw;
    lastRaw = raw;
    return raw + shift;
  };
}

/**
 * Wraps a clock so that it returns whole seconds (in ms), as nginx's cached `ngx_time()` does:
 * `fail_timeout=3s` then excludes a server for 3 to 4 s, exactly as nginx would.
 *
 * @example
 * new Balancer({ servers, clock: wholeSeconds(monotonicClock) });
 */
export function wholeSeconds(clock: Clock): Clock {
  return () => Math.floor(clock() / 1000) * 1000;
}

/**
 * A clock that only moves when told to. Pass `clock.now` as the `clock` option.
 *
 * @example
 * const clock = new ManualClock(1_000_000);
 * const balancer = new Balancer({ servers, clock: clock.now });
 * clock.advance(3000);
 */
export class ManualClock {
  #now: number;
  /** The clock function to hand to a Balancer (bound, safe to pass around). */
  readonly now: Clock = () => this.#now;

  constructor(start = 0) {
    this.#now = start;
  }

  /** Moves time forward by `ms` (which must be >= 0). */
  advance(ms: number): number {
    if (!(ms >= 0)) throw new RangeError(`ManualClock.advance expects a non-negative number, got ${ms}`);
    this.#now += ms;
    return this.#now;
  }

  /** Sets the time; it may not go backwards. */
  set(ms: number): number {
    if (!(ms >= this.#now)) throw new RangeError(`ManualClock.set cannot go back from ${this.#now} to ${ms}`);
    this.#now = ms;
    return this.#now;
  }
}

/**
 * A small, seedable PRNG (mulberry32) returning floats in [0, 1), for tests, the demo and
 * simulations that need reproducible `rng` streams.
 *
 * @example
 * new Balancer({ method: 'random', servers, rng: seededRandom(42) }); // the same picks every run
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
