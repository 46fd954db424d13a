/**
 * Replays the check-module vectors (`test/vectors/check/*.json`, recorded by `record.ts` against
 * nginx_upstream_check_module on nginx 1.30.4) without nginx: the same upstream text through
 * `parseUpstreams`, the module's recorded check results fed to the library, and the library's
 * rise/fall/status after every check and its status pages compared with the module's, byte for byte.
 *
 * - Timelines run through the active-check scheduler (`check.type` replaced by a probe that returns
 *   the recorded result; a manual clock and a hand-driven timer queue, no real waiting) and again
 *   through `reportCheck`.
 * - Pages: `statusHandler` per status location (its `check_status` format as the default), asked
 *   the recorded request targets; code, content type and body must equal the module's.
 */

import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock';
import { Balancer, parseUpstreams, statusHandler } from '../../../src/index';
import { resolveCheck, type BalancerOptions, type CheckTimers } from '../../../src/options';
import type { StatusFormat } from '../../../src/status';
import { askStatus as ask } from '../../status-request';
import { describeCheckStep, loadCheckVectors, type CheckVector, type PeerState, type VectorPeer } from './format';

const vectors = loadCheckVectors();

/** The upstreams of a vector, as `parseUpstreams` reads them (in the order of the text). */
function upstreamOptions(v: CheckVector): Map<string, BalancerOptions> {
  return new Map(parseUpstreams(`http {\n${v.config}}\n`).map((u) => [u.name, u.options]));
}

/** The library's view of a server, in the vector's terms. */
function stateOf(b: Balancer, address: string): PeerState {
  const s = b.snapshot().servers.find((x) => x.address === address)!;
  return { down: s.check!.down, rise: s.check!.rise, fall: s.check!.fall };
}

const idOf = (b: Balancer, address: string): string => b.servers.find((s) => s.address === address)!.id;

/** A hand-driven timer queue on a ManualClock. */
function timerQueue(clock: ManualClock): CheckTimers & { runNext(): Promise<boolean> } {
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    setTimeout(fn: () => void, ms: number) {
      timers.set(++seq, { at: clock.now() + ms, fn });
      return seq;
    },
    clearTimeout(handle: unknown) {
      timers.delete(handle as number);
    },
    async runNext() {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of timers) if (next === undefined || e[1].at < next[1].at) next = e;
      if (next === undefined) return false;
      timers.delete(next[0]);
      clock.set(Math.max(clock.now(), next[1].at));
      next[1].fn();
      for (let k = 0; k < 10; k++) await Promise.resolve();
      return true;
    },
  };
}

const stepCount = vectors.reduce((n, { vector }) => n + vector.peers.reduce((m, p) => m + p.steps.length, 0), 0);

describe('check-module vectors', () => {
  it('are present: both runs, recorded from nginx 1.30.4 with the module at e538034', () => {
    expect(vectors.map((v) => v.file)).toEqual(['pages.json', 'timelines.json']);
    for (const { vector } of vectors) {
      expect(vector.nginx).toBe('1.30.4');
      expect(vector.module).toMatch(/e538034/);
    }
    expect(stepCount).toBeGreaterThan(60);
  });
});

for (const { file, vector } of vectors) {
  describe(`check module: ${file}`, () => {
    const options = upstreamOptions(vector);
    const byUpstream = new Map<string, VectorPeer[]>();
    for (const p of vector.peers) byUpstream.set(p.upstream, [...(byUpstream.get(p.upstream) ?? []), p]);

    it('the checks the config describes are the module\'s (http request bytes, types)', () => {
      for (const p of vector.peers) {
        const check = options.get(p.upstream)!.check!;
        expect(check, p.upstream).toBeDefined();
        if (p.request !== null) expect(resolveCheck(check).httpSend, p.name).toBe(p.request);
      }
    });

    it('reportCheck: initial state and rise/fall/status after every check equal the module\'s', () => {
      for (const [upstream, peers] of byUpstream) {
        const b = new Balancer({ ...options.get(upstream)!, name: upstream });
        for (const p of peers) {
          expect(stateOf(b, p.server), describeCheckStep(p, -1)).toEqual(p.initial);
          const id = idOf(b, p.server);
          p.steps.forEach((s, n) => {
            b.reportCheck(id, s.ok);
            expect(stateOf(b, p.server), describeCheckStep(p, n)).toEqual({ down: s.down, rise: s.rise, fall: s.fall });
          });
        }
      }
    });

    it('the scheduler with the recorded results (injected clock and timers): the same timeline', async () => {
      for (const [upstream, peers] of byUpstream) {
        const clock = new ManualClock(0);
        const timers = timerQueue(clock);
        const script = new Map(peers.map((p) => [p.server, p.steps.map((s) => s.ok)]));
        const base = options.get(upstream)!;
        const b = new Balancer({
          ...base,
          name: upstream,
          check: { ...base.check!, type: (server) => script.get(server.address)!.shift() ?? false },
          clock: clock.now,
          rng: () => 0,
          timers,
        });
        const seen = new Map<string, PeerState[]>(peers.map((p) => [p.server, [stateOf(b, p.server)]]));
        b.on('check', (server) => {
          const list = seen.get(server.address);
          const p = peers.find((x) => x.server === server.address)!;
          if (list !== undefined && list.length <= p.steps.length) list.push(stateOf(b, server.address));
        });
        b.start();
        for (let guard = 0; guard < 10_000 && peers.some((p) => seen.get(p.server)!.length <= p.steps.length); guard++) {
          if (!(await timers.runNext())) break;
        }
        await b.close();
        for (const p of peers) expect(seen.get(p.server), `${upstream} ${p.name}`).toEqual([p.initial, ...p.steps.map(({ down, rise, fall }) => ({ down, rise, fall }))]);
      }
    });

    for (const burst of vector.pages) {
      it(`status pages ${burst.at}: ${burst.responses.length} requests, bytes equal the module's`, () => {
        const balancers = [...options].map(([name, o]) => new Balancer({ ...o, name }));
        if (burst.at === 'frozen') {
          for (const p of vector.peers) {
            const b = balancers.find((x) => x.name === p.upstream)!;
            for (const s of p.steps) b.reportCheck(idOf(b, p.server), s.ok);
          }
        }
        const handlers = new Map(Object.entries(vector.locations).map(([path, format]) => [path, statusHandler(balancers, { format: (format ?? 'html') as StatusFormat })]));
        for (const r of burst.responses) {
          const path = r.target.replace(/\?.*$/, '');
          expect(ask(handlers.get(path)!, r.target), r.target).toEqual({ code: r.code, contentType: r.contentType, body: r.body });
        }
      });
    }
  });
}
