/**
 * Shared by the SMTP end-to-end tests: counting open sockets and timers with
 * `process.getActiveResourcesInfo()`, checking that a closed rig left none behind, and closing a rig
 * a failed test left open before the next test counts.
 */

import { afterEach, beforeAll, expect } from 'vitest';
import type { Rig } from '../../docs/examples/rig';

export interface Handles {
  sockets: number;
  timers: number;
}

/** Open TCP sockets and servers, and ref'd timers, right now. */
export function handles(): Handles {
  const all = process.getActiveResourcesInfo();
  return {
    sockets: all.filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap').length,
    timers: all.filter((r) => r === 'Timeout').length,
  };
}

/** Waits (bounded, event-loop turns of 10 ms) until no more handles are open than `before`. */
export async function settled(before: Handles): Promise<Handles> {
  const end = Date.now() + 2000;
  for (;;) {
    const now = handles();
    if ((now.sockets <= before.sockets && now.timers <= before.timers) || Date.now() > end) return now;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Closes the rig and checks that it left no socket, server or timer behind. */
export async function finish(r: Rig, before: Handles): Promise<void> {
  await r.close();
  const after = await settled(before);
  expect(after.sockets).toBe(before.sockets);
  expect(after.timers).toBeLessThanOrEqual(before.timers);
}

/**
 * Registers the hooks that close whatever rig a test left open (after a failure) and wait for its
 * sockets to go before the next test counts. `current` returns the test file's rig variable.
 */
export function closeLeftoverRigs(current: () => Rig | undefined, clear: () => void): void {
  let baseline = 0;
  beforeAll(() => {
    baseline = handles().sockets;
  });
  afterEach(async () => {
    await current()?.close();
    clear();
    for (let i = 0; i < 100 && handles().sockets > baseline; i++) await new Promise((r) => setTimeout(r, 10));
  });
}
