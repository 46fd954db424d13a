/**
 * Replays the `resolve` vectors recorded from nginx 1.30.4 (`record.ts`) through the library:
 * `Balancer.fromNginx` on the same upstream block, its `NameResolver` asking a fake DNS client that
 * answers the recorded records, on a manual clock and hand-driven timers. Each `resolved` step runs
 * the timers until the library asked for the name again (as the recorder waited for nginx); each
 * request walks an Attempt (a refusing address fails and the next peer is tried), and the peers
 * tried and the status must equal nginx's, request for request; the times between the library's
 * queries of the name must equal nginx's (TTL + 1 s, NXDOMAIN `valid=` + 1 s, a failure
 * `max(resolver_timeout, 1 s)`). No network, no real time.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock, wholeSeconds } from '../../../src/clock';
import { Balancer } from '../../../src/index';
import { FakeDns, type FakeName, timerQueue } from '../../unit/resolve-fakes';
import type { ZoneName } from './dns-server';
import { RESOLVE_VECTOR_DIR, SCENARIOS, type RecordedRequest, type ResolveVector } from './scenarios';

const FAILURES: Readonly<Record<number, FakeName['fail']>> = { 1: 'FORMERR', 2: 'SERVFAIL', 4: 'NOTIMP', 5: 'REFUSED' };

/** The recorded zone entry as the fake client's answers. */
function fakeName(z: ZoneName): FakeName {
  if (z.silent) return { silent: true };
  if (z.rcode !== undefined) return { fail: FAILURES[z.rcode] ?? 'ERROR' };
  return {
    ...(z.A ? { A: z.A } : {}),
    ...(z.AAAA ? { AAAA: z.AAAA } : {}),
    ...(z.SRV ? { SRV: z.SRV.map((s) => ({ name: s.target, port: s.port, priority: s.priority, weight: s.weight, ttl: s.ttl })) } : {}),
  };
}

async function replay(v: ResolveVector): Promise<{ requests: RecordedRequest[][]; intervals: number[] }> {
  const clock = new ManualClock(0);
  const timers = timerQueue(clock);
  const dns = new FakeDns(clock);
  const text = `http { ${v.config.replace('127.0.0.1:DNS', '127.0.0.1:53')} }`;
  const b = Balancer.fromNginx(text, 'u', { dns, clock: wholeSeconds(clock.now), timers, rng: () => 0 });
  const refusing = new Set(v.refusing);
  const out: RecordedRequest[][] = [];
  let started = false;
  let changedAt = 0;
  let lastSeen = 0;
  for (const step of v.steps) {
    if (step.op === 'records') {
      if (step.answers === null) dns.zone.delete(step.name);
      else dns.set(step.name, fakeName(step.answers));
      changedAt = dns.log.length;
    } else if (step.op === 'resolved') {
      if (!started) {
        b.start();
        started = true;
      }
      const asked = (): boolean => dns.log.slice(changedAt).some((q) => q.endsWith(` ${step.name}`));
      for (let i = 0; i < 600 && !asked(); i++) await timers.runUntil(clock.now() + 100);
      expect(asked(), `the library asked for ${step.name} within 60 s`).toBe(true);
      lastSeen = dns.log.length;
    } else {
      const requests: RecordedRequest[] = [];
      for (let i = 0; i < step.n; i++) {
        const a = b.attempt();
        const tried: string[] = [];
        let status = 502;
        for (;;) {
          const s = a.next();
          if (s === undefined) {
            tried.push('u');
            break;
          }
          tried.push(s.address);
          if (refusing.has(s.address.slice(0, s.address.lastIndexOf(':')))) {
            a.fail();
            continue;
          }
          a.release();
          status = 200;
          break;
        }
        requests.push({ tried, status });
      }
      out.push(requests);
    }
  }
  await b.close();
  const first = v.steps.find((s) => s.op === 'resolved')!.name;
  const type = first.startsWith('_') ? 'SRV' : 'A';
  const times = dns.log.slice(0, lastSeen).map((q) => q.split(' ')).filter((q) => q[1] === type && q[2] === first).map((q) => Number(q[0]));
  return { requests: out, intervals: times.slice(1).map((t, i) => t - times[i]!) };
}

const vectors = readdirSync(RESOLVE_VECTOR_DIR)
  .filter((f) => f.endsWith('.json') && f !== 'nginx-t.json')
  .map((f) => JSON.parse(readFileSync(join(RESOLVE_VECTOR_DIR, f), 'utf8')) as ResolveVector);

describe('resolve vectors recorded from nginx 1.30.4', () => {
  it('has one vector per scenario, each recorded from 1.30.4 with the scenario as written', () => {
    expect(vectors.map((v) => v.scenario).sort()).toEqual(SCENARIOS.map((s) => s.name).sort());
    for (const v of vectors) {
      const sc = SCENARIOS.find((s) => s.name === v.scenario)!;
      expect(Object.keys(v.nginx)).toEqual(['1.30.4']);
      expect(v.steps).toEqual(sc.steps);
      expect(v.nginx['1.30.4']!.length).toBe(sc.steps.filter((s) => s.op === 'requests').length);
    }
  });

  for (const v of vectors) {
    it(`${v.scenario}: the library tries the same peers as nginx 1.30.4`, async () => {
      const r = await replay(v);
      expect(r.requests).toEqual(v.nginx['1.30.4']);
      expect(r.intervals, 'the time between queries of the name').toEqual(v.intervals['1.30.4']);
    });
  }
});
