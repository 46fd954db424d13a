/**
 * The Checker with its real environment (timers, clock) and built-in probes against real peers on
 * 127.0.0.1: results flow to the host, and `close()` — also in the middle of a check — leaves no
 * socket and no timer behind.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Checker, checkPhase, type CheckHost } from '../../src/health/checker';
import { initialRiseFall, observeCheck, type RiseFallState } from '../../src/health/rise-fall';
import { resolveCheck, type CheckOptions } from '../../src/options';
import { deadPort, eventually, rawPeer, stopAll, tcpSockets } from '../fixtures/peers';

afterEach(async () => {
  await stopAll();
});

function recordingHost(check: CheckOptions, targets: { id: string; address: string }[]) {
  const options = resolveCheck(check);
  const states = new Map<string, RiseFallState>(targets.map((t) => [t.id, initialRiseFall(options.defaultDown)]));
  const results: { id: string; ok: boolean; reason: string; ms: number }[] = [];
  const host: CheckHost = {
    targets: () => targets,
    report(id, ok, reason, ms) {
      observeCheck(states.get(id)!, ok, options.rise, options.fall);
      results.push({ id, ok, reason, ms });
    },
    phase: (id) => checkPhase(states.get(id)!),
  };
  return { options, host, results, states };
}

describe('Checker with real timers and sockets', () => {
  it('checks every server repeatedly, brings the live one up and keeps the dead one down', async () => {
    const before = tcpSockets();
    const live = await rawPeer(() => {});
    const dead = await deadPort();
    const h = recordingHost({ interval: 20, timeout: 500, rise: 2, fall: 2, type: 'tcp' }, [
      { id: 'live', address: `127.0.0.1:${live}` },
      { id: 'dead', address: `127.0.0.1:${dead}` },
    ]);
    const checker = new Checker(h.options, h.host);
    checker.start();
    expect(await eventually(() => h.results.filter((r) => r.id === 'live').length >= 3 && h.results.filter((r) => r.id === 'dead').length >= 3)).toBe(true);
    await checker.close();
    const count = h.results.length;
    expect(h.results.filter((r) => r.id === 'live').every((r) => r.ok && r.reason === 'connected')).toBe(true);
    expect(h.results.filter((r) => r.id === 'dead').every((r) => !r.ok && r.reason === 'refused')).toBe(true);
    expect(h.states.get('live')).toMatchObject({ down: false });
    expect(h.states.get('dead')).toMatchObject({ down: true });
    // Nothing is reported after close, and no probe socket is left.
    await new Promise((r) => setTimeout(r, 60));
    expect(h.results.length).toBe(count);
    await stopAll();
    expect(await eventually(() => tcpSockets() === before)).toBe(true);
  });

  it('close() in the middle of an SMTP check aborts it and resolves after its socket closed', async () => {
    const before = tcpSockets();
    let accepted: net.Socket | undefined;
    const port = await rawPeer((s) => {
      accepted = s; // never sends a banner
    });
    const h = recordingHost({ interval: 1000, timeout: 60_000, type: 'smtp' }, [{ id: 'mx', address: `127.0.0.1:${port}` }]);
    const checker = new Checker(h.options, h.host, { rng: () => 0 });
    checker.start();
    expect(await eventually(() => accepted !== undefined)).toBe(true);
    await checker.close();
    expect(h.results).toEqual([]);
    // The peer sees the probe's close.
    expect(await eventually(() => accepted!.destroyed)).toBe(true);
    await stopAll();
    expect(await eventually(() => tcpSockets() === before)).toBe(true);
  });

  it('enforces the timeout with real timers: a silent SMTP peer fails with `timeout` after ~timeout ms', async () => {
    const port = await rawPeer(() => {});
    const h = recordingHost({ interval: 10_000, timeout: 150, type: 'smtp' }, [{ id: 'mx', address: `127.0.0.1:${port}` }]);
    const checker = new Checker(h.options, h.host, { rng: () => 0 });
    checker.start();
    expect(await eventually(() => h.results.length === 1)).toBe(true);
    await checker.close();
    expect(h.results[0]).toMatchObject({ id: 'mx', ok: false, reason: 'timeout' });
    expect(h.results[0]!.ms).toBeGreaterThanOrEqual(140);
    expect(h.results[0]!.ms).toBeLessThan(1000);
  });

  it('does not keep the process alive: its timers are unref()ed', async () => {
    const port = await rawPeer(() => {});
    const h = recordingHost({ interval: 60_000, type: 'tcp' }, [{ id: 'a', address: `127.0.0.1:${port}` }]);
    const seen: unknown[] = [];
    const checker = new Checker(h.options, h.host, {
      rng: () => 0.5,
      setTimeout: (fn, ms) => {
        const t = setTimeout(fn, ms);
        seen.push(t);
        return t;
      },
    });
    checker.start();
    expect(seen).toHaveLength(1);
    expect((seen[0] as NodeJS.Timeout).hasRef()).toBe(false);
    await checker.close();
  });
});
