/**
 * Runs work in steps (slices.ts) a slice per turn of the event loop, for `Balancer.setServersAsync`.
 * No timers: a slice ends by the clock and the next one starts on the next turn (`setImmediate`),
 * after the I/O that arrived meanwhile, as the status handler writes a large page.
 */

import type { Steps } from './slices';

/** How `runInSlices` runs. */
export interface SliceOptions {
  /** Longest slice in ms (checked after each step). */
  budgetMs: number;
  /** Stops between slices: the promise rejects with `signal.reason`. */
  signal?: AbortSignal | undefined;
  /** Time source in ms; default `performance.now()`. */
  clock?: () => number;
}

/**
 * Runs `steps` a slice per turn of the event loop: steps until `budgetMs` has passed, then the rest
 * on a later turn (`setImmediate`). The first slice runs on a later turn too, never on the caller's.
 * Resolves with the result; rejects with what a step throws, or with `signal.reason` once
 * `signal` is aborted (between slices: a step is never cut).
 */
export function runInSlices<T>(steps: Steps<T>, options: SliceOptions): Promise<T> {
  const { budgetMs, signal } = options;
  const clock = options.clock ?? (() => performance.now());
  return new Promise<T>((resolve, reject) => {
    const slice = (): void => {
      try {
        if (signal?.aborted === true) {
          steps.return(undefined as T);
          reject(signal.reason);
          return;
        }
        const until = clock() + budgetMs;
        do {
          const next = steps.next();
          if (next.done === true) {
            resolve(next.value);
            return;
          }
        } while (clock() < until);
        setImmediate(slice);
      } catch (error) {
        reject(error);
      }
    };
    setImmediate(slice);
  });
}

/** Resolves on the next turn of the event loop. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
