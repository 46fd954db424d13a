/**
 * `npm run demo -- --fleet 3` (docs/examples/fleet.ts): three proxy processes, a real etcd
 * (Debian's etcd-server, started by the demo on free ports) and the seed's two SMTP gateways on
 * 127.0.0.1. One proxy checks for the fleet (the gateways see one probe per interval each), a `down`
 * written once is applied by every proxy, and when the checker's process is killed another proxy
 * takes the role within the lease TTL plus one interval. The demo runs in a child process (its
 * proxies, gateways and etcd end with it); skipped, saying so, where etcd is not installed.
 */
import { describe, expect, it } from 'vitest';
import { runDemo as demo, timelineLines as linesOf } from './demo-run';
import { ETCD, SKIP_REASON } from '../fixtures/etcd/etcd';

describe.skipIf(ETCD === null)('demo --fleet 3', () => {
  it('one checker, B down written once and applied by all, takeover after kill -9 of the checker', async () => {
    const { code, stdout, stderr } = await demo(['--fleet', '3'], 90_000);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = linesOf(stdout);
    const leaders = lines.filter((l) => / leader \(checker: /.test(l));
    expect(leaders.length).toBe(2); // the first checker, and the one after the kill
    const first = /^role (proxy-\d): leader/.exec(leaders[0]!)![1]!;
    const second = /^role (proxy-\d): leader/.exec(leaders[1]!)![1]!;
    expect(second).not.toBe(first);
    expect(lines).toContain(`probes sent by: ${first}`);
    // One checker: about one probe per interval at each gateway (a window's edges may cut one more
    // or one less), where three checkers would send 18.
    for (const g of ['A', 'B']) {
      const line = lines.find((l) => l.startsWith(`probes ${g}: `))!;
      expect(line).toMatch(/ probes in 6 intervals \(one proxy checks: 6; each proxy on its own would send 18\)$/);
      expect(Number(/^probes .: (\d+) /.exec(line)![1])).toBeGreaterThanOrEqual(5);
      expect(Number(/^probes .: (\d+) /.exec(line)![1])).toBeLessThanOrEqual(7);
    }
    for (const p of ['proxy-1', 'proxy-2', 'proxy-3']) {
      expect(lines).toContain(`mail ${p}: B B A B B (its own smooth weighted round robin)`);
      expect(lines.some((l) => l.startsWith(`state ${p}: B down=true (applied revision `))).toBe(true);
    }
    expect(lines).toContain('mail every proxy: A A A A A A');
    expect(lines.some((l) => l.startsWith(`admin kill -9 `) && l.endsWith(`(${first})`))).toBe(true);
    const takeover = lines.find((l) => l.startsWith(`result ${second} took the checker role `))!;
    const ms = Number(/role (\d+) ms after the kill/.exec(takeover)![1]);
    expect(ms).toBeLessThanOrEqual(2000 + 500 + 2000); // lease TTL + one interval (+ the demo's margin)
    expect(lines.some((l) => new RegExp(`^probes A: [1-9]\\d*, B: [1-9]\\d* probes in 3 intervals, by ${second}$`).test(l))).toBe(true);
    expect(lines.at(-2)).toMatch(/^finished in [\d.]+ s; every proxy, gateway and etcd stopped$/);
  }, 100_000);

  it('exits 1 with one message on a bad count or a combination it does not take', async () => {
    const one = await demo(['--fleet', '1'], 15_000);
    expect(one.code).toBe(1);
    expect(one.stderr).toMatch(/^demo: --fleet expects a number of proxies from 2 to 5, got "1"\n/);
    const both = await demo(['--fleet', '3', '--threads', '2'], 15_000);
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/^demo: --fleet takes no other option than --speed\n/);
  });
});

describe.skipIf(ETCD !== null)('demo --fleet 3 without etcd', () => {
  it.skip(SKIP_REASON, () => {});
});
