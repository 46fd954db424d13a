/**
 * The fleet member's active checks: a `Checker` (health/checker.ts) over the balancer's servers
 * that runs only while this member holds the checker role or checks on its own (etcd unreachable),
 * and is stopped, not paused, when it loses the role (a Checker cannot start again after `close()`,
 * so each run has its own). Results go to `balancer.reportCheck` (nginx_upstream_check_module's
 * rise/fall, health/verdicts.ts) and then to the `report` callback, which publishes them. The
 * balancer's own `start()` is never called: its checker could not be stopped without closing it.
 */

import type { Balancer } from '../balancer';
import { checkStateOf } from '../cluster/state';
import { Checker, type CheckerEnv, checkPhase } from '../health/checker';
import type { Clock } from '../clock';
import { type CheckOptions, type CheckTimers, resolveCheck } from '../options';
import type { CheckState } from '../cluster/messages';

export interface FleetCheckerEnv {
  clock?: Clock;
  rng?: () => number;
  timers?: CheckTimers;
}

/** Runs the fleet member's checks on demand. */
export class FleetChecker {
  readonly #balancer: Balancer;
  readonly #options: ReturnType<typeof resolveCheck>;
  readonly #env: Partial<CheckerEnv>;
  readonly #report: (id: string, ok: boolean, reason: string, ms: number, state: CheckState | null) => void;
  #checker: Checker | null = null;
  #stopping: Promise<void> = Promise.resolve();
  /** Checks started so far (one per `run()` that found the checker stopped). */
  runs = 0;

  constructor(
    balancer: Balancer,
    check: CheckOptions,
    env: FleetCheckerEnv,
    report: (id: string, ok: boolean, reason: string, ms: number, state: CheckState | null) => void,
  ) {
    this.#balancer = balancer;
    this.#options = resolveCheck(check);
    const { clock, rng, timers } = env;
    this.#env = {
      ...(clock === undefined ? {} : { clock }),
      ...(rng === undefined ? {} : { rng }),
      ...(timers === undefined ? {} : { setTimeout: (fn: () => void, ms: number) => timers.setTimeout(fn, ms), clearTimeout: (h: unknown) => timers.clearTimeout(h) }),
    };
    this.#report = report;
  }

  get running(): boolean {
    return this.#checker !== null;
  }

  /** Starts checking (each server's first check at a random delay in [0, interval)). Idempotent. */
  run(): void {
    if (this.#checker !== null) return;
    const balancer = this.#balancer;
    const checker = new Checker(
      this.#options,
      {
        targets: () => balancer.servers.filter((s) => !s.down).map((s) => ({ id: s.id, address: s.address })),
        report: (id, ok, reason, ms) => {
          if (this.#checker !== checker || balancer.get(id) === undefined) return;
          balancer.reportCheck(id, ok, reason, ms);
          this.#report(id, ok, reason, ms, checkStateOf(balancer.get(id)));
        },
        phase: (id) => {
          const state = checkStateOf(balancer.get(id));
          return state === null ? 'up' : checkPhase(state);
        },
      },
      this.#env,
    );
    this.#checker = checker;
    this.runs += 1;
    checker.start();
  }

  /** The server list changed: new servers get a first check, removed ones lose theirs. */
  sync(): void {
    this.#checker?.sync();
  }

  /** Stops checking; resolves when every probe in flight has settled. Idempotent. */
  stop(): Promise<void> {
    const checker = this.#checker;
    if (checker === null) return this.#stopping;
    this.#checker = null;
    this.#stopping = checker.close();
    return this.#stopping;
  }
}
