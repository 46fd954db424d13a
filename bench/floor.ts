/**
 * Floors for the churn rows of bench/isolated.ts: nginx's round-robin get and free
 * (ngx_http_upstream_get_peer, ngx_http_upstream_free_round_robin_peer; docs/nginx-semantics.md §2)
 * reduced to what the churn workload uses — weights, max_fails=1, fail_timeout, the effective weight
 * dropped by a failure and recovered one unit per round, connection counts — and written as the
 * fastest plain JavaScript measured on this machine: 32-bit typed arrays, the branch-free maximum
 * up to 32 servers (keys `current << 5 | (31 - i)`, as in src/select/round-robin/branch-free-round.ts), the clock read
 * only when a server with failures is met (the keys are exact while current weights stay within
 * ±2^25, true of the benchmark's weights; the check below vouches for it). Nothing a library adds is
 * here: no steady-state replay, tried set, backup tier, max_conns, validation, events or server
 * objects.
 *
 * Two shapes: `InstanceScan` keeps its state in an object (what a library with more than one
 * balancer per process has to do), `moduleScan` in module constants and variables (one scan per
 * process; V8 compiles its arrays in as constants, so its loops load no array header). Each is checked pick by pick against the Balancer
 * (`checkAgainst`) before it is timed, so the floor is the same sequence, not a cheaper one.
 */

/** The injected clock, as the Balancer's `clock` option. */
type Clock = () => number;

/** The churn workload's step, shared by the timed loop and the check. */
export interface Scan {
  /** Index of the chosen server, or -1 when every server is inside its window. */
  pick(): number;
  release(i: number, failed: boolean): void;
}

/** nginx's scan with its state in one object. */
export class InstanceScan implements Scan {
  readonly #n: number;
  readonly #weight: Int32Array;
  readonly #effective: Int32Array;
  readonly #current: Int32Array;
  readonly #fails: Int32Array;
  readonly #conns: Int32Array;
  readonly #checked: Float64Array;
  readonly #accessed: Float64Array;
  readonly #failTimeout: number;
  readonly #clock: Clock;
  /** Servers with failures. */
  #failing = 0;
  /** Servers whose effective weight is below their weight. */
  #recovering = 0;
  readonly #total: number;

  constructor(weights: readonly number[], failTimeout: number, clock: Clock) {
    const n = weights.length;
    this.#n = n;
    this.#weight = Int32Array.from(weights);
    this.#effective = Int32Array.from(weights);
    this.#current = new Int32Array(n);
    this.#fails = new Int32Array(n);
    this.#conns = new Int32Array(n);
    this.#checked = new Float64Array(n);
    this.#accessed = new Float64Array(n);
    this.#failTimeout = failTimeout;
    this.#clock = clock;
    this.#total = weights.reduce((a, b) => a + b, 0);
  }

  pick(): number {
    const n = this.#n;
    const current = this.#current;
    const weight = this.#weight;
    let best: number;
    if (this.#failing === 0 && this.#recovering === 0) {
      // Every server eligible with effective = weight: no test, total known.
      if (n <= 32) {
        let key = -0x40000000;
        for (let i = 0; i < n; i++) {
          const c = (current[i]! + weight[i]!) | 0;
          current[i] = c;
          const d = (key - ((c << 5) | (31 - i))) | 0;
          key = (key - (d & (d >> 31))) | 0;
        }
        best = 31 - (key & 31);
      } else {
        best = 0;
        let top = -0x40000000;
        for (let i = 0; i < n; i++) {
          const c = (current[i]! + weight[i]!) | 0;
          current[i] = c;
          if (c > top) {
            best = i;
            top = c;
          }
        }
      }
      current[best] = (current[best]! - this.#total) | 0;
      this.#conns[best]!++;
      return best;
    }
    const fails = this.#fails;
    const checked = this.#checked;
    const effective = this.#effective;
    const failTimeout = this.#failTimeout;
    let now = NaN;
    let total = 0;
    let recovering = 0;
    best = -1;
    if (n <= 32) {
      let key = -0x40000000;
      for (let i = 0; i < n; i++) {
        if (fails[i] !== 0) {
          if (now !== now) now = this.#clock();
          if (now - checked[i]! <= failTimeout) continue; // inside its window (max_fails=1)
        }
        const e = effective[i]!;
        const c = (current[i]! + e) | 0;
        current[i] = c;
        total = (total + e) | 0;
        if (e < weight[i]!) {
          effective[i] = e + 1;
          if (e + 1 < weight[i]!) recovering++;
        }
        const d = (key - ((c << 5) | (31 - i))) | 0;
        key = (key - (d & (d >> 31))) | 0;
      }
      if (key !== -0x40000000) best = 31 - (key & 31);
    } else {
      let top = -0x40000000;
      for (let i = 0; i < n; i++) {
        if (fails[i] !== 0) {
          if (now !== now) now = this.#clock();
          if (now - checked[i]! <= failTimeout) continue;
        }
        const e = effective[i]!;
        const c = (current[i]! + e) | 0;
        current[i] = c;
        total = (total + e) | 0;
        if (e < weight[i]!) {
          effective[i] = e + 1;
          if (e + 1 < weight[i]!) recovering++;
        }
        if (c > top) {
          best = i;
          top = c;
        }
      }
    }
    this.#recovering = recovering;
    if (best < 0) return -1;
    current[best] = (current[best]! - total) | 0;
    if (fails[best] !== 0) {
      if (now !== now) now = this.#clock();
      if (now - checked[best]! > failTimeout) checked[best] = now;
    }
    this.#conns[best]!++;
    return best;
  }

  release(i: number, failed: boolean): void {
    this.#conns[i]!--;
    const fails = this.#fails;
    if (failed) {
      const now = this.#clock();
      if (fails[i]++ === 0) this.#failing++;
      this.#checked[i] = now;
      this.#accessed[i] = now;
      this.#effective[i] = 0; // effective - weight / max_fails, at least 0
      this.#recovering++;
    } else if (fails[i] !== 0 && this.#accessed[i]! < this.#checked[i]!) {
      fails[i] = 0;
      this.#failing--;
    }
  }
}

// The same scan with its state in module constants (arrays of a fixed capacity, which V8 can
// treat as constants in the loops) and variables: one instance per process.
const CAPACITY = 10_000;
let mN = 0;
const mWeight = new Int32Array(CAPACITY);
const mEffective = new Int32Array(CAPACITY);
const mCurrent = new Int32Array(CAPACITY);
const mFails = new Int32Array(CAPACITY);
const mConns = new Int32Array(CAPACITY);
const mChecked = new Float64Array(CAPACITY);
const mAccessed = new Float64Array(CAPACITY);
let mFailTimeout = 0;
let mClock: Clock = () => 0;
let mFailing = 0;
let mRecovering = 0;
let mTotal = 0;

function modulePick(): number {
  const n = mN;
  let best: number;
  if (mFailing === 0 && mRecovering === 0) {
    if (n <= 32) {
      let key = -0x40000000;
      for (let i = 0; i < n; i++) {
        const c = (mCurrent[i]! + mWeight[i]!) | 0;
        mCurrent[i] = c;
        const d = (key - ((c << 5) | (31 - i))) | 0;
        key = (key - (d & (d >> 31))) | 0;
      }
      best = 31 - (key & 31);
    } else {
      best = 0;
      let top = -0x40000000;
      for (let i = 0; i < n; i++) {
        const c = (mCurrent[i]! + mWeight[i]!) | 0;
        mCurrent[i] = c;
        if (c > top) {
          best = i;
          top = c;
        }
      }
    }
    mCurrent[best] = (mCurrent[best]! - mTotal) | 0;
    mConns[best]!++;
    return best;
  }
  let now = NaN;
  let total = 0;
  let recovering = 0;
  best = -1;
  if (n <= 32) {
    let key = -0x40000000;
    for (let i = 0; i < n; i++) {
      if (mFails[i] !== 0) {
        if (now !== now) now = mClock();
        if (now - mChecked[i]! <= mFailTimeout) continue;
      }
      const e = mEffective[i]!;
      const c = (mCurrent[i]! + e) | 0;
      mCurrent[i] = c;
      total = (total + e) | 0;
      if (e < mWeight[i]!) {
        mEffective[i] = e + 1;
        if (e + 1 < mWeight[i]!) recovering++;
      }
      const d = (key - ((c << 5) | (31 - i))) | 0;
      key = (key - (d & (d >> 31))) | 0;
    }
    if (key !== -0x40000000) best = 31 - (key & 31);
  } else {
    let top = -0x40000000;
    for (let i = 0; i < n; i++) {
      if (mFails[i] !== 0) {
        if (now !== now) now = mClock();
        if (now - mChecked[i]! <= mFailTimeout) continue;
      }
      const e = mEffective[i]!;
      const c = (mCurrent[i]! + e) | 0;
      mCurrent[i] = c;
      total = (total + e) | 0;
      if (e < mWeight[i]!) {
        mEffective[i] = e + 1;
        if (e + 1 < mWeight[i]!) recovering++;
      }
      if (c > top) {
        best = i;
        top = c;
      }
    }
  }
  mRecovering = recovering;
  if (best < 0) return -1;
  mCurrent[best] = (mCurrent[best]! - total) | 0;
  if (mFails[best] !== 0) {
    if (now !== now) now = mClock();
    if (now - mChecked[best]! > mFailTimeout) mChecked[best] = now;
  }
  mConns[best]!++;
  return best;
}

function moduleRelease(i: number, failed: boolean): void {
  mConns[i]!--;
  if (failed) {
    const now = mClock();
    if (mFails[i]++ === 0) mFailing++;
    mChecked[i] = now;
    mAccessed[i] = now;
    mEffective[i] = 0;
    mRecovering++;
  } else if (mFails[i] !== 0 && mAccessed[i]! < mChecked[i]!) {
    mFails[i] = 0;
    mFailing--;
  }
}

/** Installs the module-variable scan (replacing any previous one) and returns its two functions. */
export function moduleScan(weights: readonly number[], failTimeout: number, clock: Clock): Scan {
  const n = weights.length;
  if (n > CAPACITY) throw new RangeError(`moduleScan holds up to ${CAPACITY} servers, got ${n}`);
  mN = n;
  mWeight.set(weights);
  mEffective.set(weights);
  for (const a of [mCurrent, mFails, mConns, mChecked, mAccessed]) a.fill(0);
  mFailTimeout = failTimeout;
  mClock = clock;
  mFailing = 0;
  mRecovering = 0;
  mTotal = weights.reduce((a, b) => a + b, 0);
  return { pick: modulePick, release: moduleRelease };
}

/**
 * Runs `steps` steps of the churn workload (the clock advanced by 1 per pick, every 100th release a
 * failure) on `scan` and on `pickIndex`/`release` of a Balancer, and throws at the first step whose
 * choice differs. Both must start fresh with the same weights, fail_timeout and clock.
 */
export function checkAgainst(
  scan: Scan,
  balancer: { pick(): number; release(i: number, failed: boolean): void },
  advance: () => void,
  steps: number,
): void {
  for (let k = 1; k <= steps; k++) {
    advance();
    const want = balancer.pick();
    const got = scan.pick();
    if (got !== want) throw new Error(`floor scan diverged from the Balancer at step ${k}: ${got} instead of ${want}`);
    if (want >= 0) {
      balancer.release(want, k % 100 === 0);
      scan.release(got, k % 100 === 0);
    }
  }
}
