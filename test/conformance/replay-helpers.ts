/**
 * What the two vector replays (`replay.test.ts` for round robin, `methods/replay.test.ts`) share:
 * a Balancer on a whole-second ManualClock in the environment a vector recorded — a backend listed
 * in `refusing` fails the connect, any other connects — and the vector checks that do not depend
 * on the method. Each `connect` is one attempt: `next()` until a server connects or `next()`
 * returns undefined; stream marks a server live at connect (`connected()`), http at the end
 * (`release()`); a held connection is released by its `close`. No network, no real time; O(1)
 * per step besides the Balancer's own work.
 */

import { expect } from 'vitest';
import { Balancer, ManualClock, type Attempt, type BalancerOptions } from '../../src/index';

/** What the replay did for one `connect` step, in the vectors' own field names. */
export interface ConnectResult {
  tried: string[];
  outcome: Array<'fail' | 'ok'>;
  hold: boolean;
  nolive: boolean;
  status: number;
}

/** The vector fields a replay reads (both formats have them). */
export interface ReplayEnvironment {
  epoch: number;
  context: 'stream' | 'http';
  refusing: readonly string[];
}

export class Replay {
  readonly clock: ManualClock;
  readonly balancer: Balancer;
  /** Servers whose connects fail now (the vector's `refusing`, then `stop` / `start` steps). */
  readonly refusing: Set<string>;
  readonly #open = new Map<number, Attempt>();
  readonly #epoch: number;
  readonly #context: 'stream' | 'http';

  constructor(v: ReplayEnvironment, options: Omit<BalancerOptions, 'name' | 'clock'>) {
    this.#epoch = v.epoch;
    this.#context = v.context;
    this.clock = new ManualClock(v.epoch * 1000);
    this.balancer = new Balancer({ name: 'u', ...options, clock: this.clock.now });
    this.refusing = new Set(v.refusing);
  }

  /** Sets the clock to step time `t` (whole seconds after the epoch). */
  at(t: number): void {
    this.clock.set((this.#epoch + t) * 1000);
  }

  /** One client connection (attempt) with `key`; with `hold` a connected attempt stays open as `conn`. */
  connect(conn: number, key: string | undefined, hold: boolean): ConnectResult {
    const a = this.balancer.attempt(key);
    const got: ConnectResult = { tried: [], outcome: [], hold: false, nolive: false, status: 502 };
    for (let first = true; ; first = false) {
      const triesLeft = a.tries;
      const server = a.next();
      if (server === undefined) {
        // nginx asks for another server only while tries are left; "no live upstreams" is
        // that request coming back empty (a first request always asks).
        got.nolive = first || triesLeft > 0;
        return got;
      }
      got.tried.push(server.id);
      if (this.refusing.has(server.id)) {
        got.outcome.push('fail');
        a.fail();
        continue;
      }
      got.outcome.push('ok');
      got.status = 200;
      // stream marks a server live at TCP connect; http only at the end of the request.
      if (this.#context === 'stream') a.connected();
      // A held connection stays open (counts in conns) until its close step.
      if (hold) {
        got.hold = true;
        this.#open.set(conn, a);
      } else a.release();
      return got;
    }
  }

  /** Releases held connection `conn`; false if the replay does not hold it. */
  close(conn: number): boolean {
    const a = this.#open.get(conn);
    if (!a) return false;
    a.release();
    this.#open.delete(conn);
    return true;
  }

  /** A line naming the connections still held (none: an empty list). */
  leftovers(): string[] {
    return this.#open.size > 0 ? [`still open at the end: ${[...this.#open.keys()].map((n) => `#${n}`).join(' ')}`] : [];
  }
}

interface CheckedStep {
  t: number;
  op: string;
  conn?: number;
  tried?: string[];
  outcome?: string[];
}

/**
 * Asserts what every vector must hold: format 1, the file named `prefix + scenario + .json`, a
 * known context, steps in time order, connections numbered 1, 2, ... in connect order, one
 * outcome per tried server, and only known server ids tried or refusing.
 */
export function expectWellFormed(
  file: string,
  v: { format: number; scenario: string; context: string; servers: ReadonlyArray<{ id: string }>; refusing: readonly string[]; steps: readonly CheckedStep[] },
  prefix = '',
): void {
  expect({ file, format: v.format }).toEqual({ file, format: 1 });
  expect(file).toBe(`${prefix}${v.scenario}.json`);
  expect(['stream', 'http']).toContain(v.context);
  const ids = v.servers.map((s) => s.id);
  let t = 0;
  let conn = 0;
  for (const s of v.steps) {
    expect(s.t).toBeGreaterThanOrEqual(t);
    t = s.t;
    if (s.op === 'connect') {
      expect(s.conn).toBe(++conn);
      expect(s.outcome!.length).toBe(s.tried!.length);
      for (const id of s.tried!) expect(ids).toContain(id);
    }
  }
  for (const id of v.refusing) expect(ids).toContain(id);
}
