/**
 * Work in steps: a generator that yields after each bounded piece of work (`Steps`), run either to
 * the end at once (`drain`, the synchronous callers) or a few steps per turn of the event loop
 * (slice-runner.ts `runInSlices`: `Balancer.setServersAsync`), so that a long job never holds the
 * loop for more than its budget. Pure: nothing here schedules anything.
 *
 * A step generator keeps its hot loops in plain functions over index ranges and only strings them
 * together, so that the synchronous run (one range per loop) costs what the loop alone costs.
 */

/** Work that yields after each bounded piece and returns its result. */
export type Steps<T> = Generator<void, T, void>;

/** Pieces a step generator is asked to cut its loops into (entries, points or buckets per step). */
export const STEP_SIZE = 4096;

/** Runs `steps` to the end on the caller's turn. */
export function drain<T>(steps: Steps<T>): T {
  for (;;) {
    const next = steps.next();
    if (next.done === true) return next.value;
  }
}
