/**
 * The vendor guide's failover config (docs/examples/failover.conf: `max_fails=3 fail_timeout=3s`
 * primary, a backup, `check ... type=smtp`), for real: two SMTP gateways on 127.0.0.1, the
 * reference proxy embedding the Balancer, nodemailer sending through it.
 *
 * 1. Passive only, on an injected whole-second clock: the exact nginx stream timeline of
 *    docs/nginx-semantics.md §4.3 (three refused connects, probes every 4 s, recovery on the probe's
 *    connect) with real refused connects and real mail. The clock is moved by the test between
 *    sessions; the sockets are real.
 * 2. Active checks with real timers: the smtp probe takes the stopped primary out after `fall`
 *    failures, nothing is sent to it while it is unhealthy, `rise` successes and a connect bring
 *    it back.
 * 3. No server left: the client is closed (nginx's 502), cleanly, and `exhausted` says why.
 * Every message must be accepted exactly once, by the gateway the balancer chose; none is lost.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock, wholeSeconds } from '../../src/index';
import { clean } from '../../docs/examples/mail';
import { allUp, startRig, until, type Rig } from '../../docs/examples/rig';
import { closeLeftoverRigs, finish, handles } from './rig-hooks';

const FAILOVER = 'docs/examples/failover.conf';



let rig: Rig | undefined;
closeLeftoverRigs(() => rig, () => {
  rig = undefined;
});

/** How many entries at the end of `lines` start with `prefix`. */
function trailingRun(lines: string[], prefix: string): number {
  let n = 0;
  while (n < lines.length && lines[lines.length - 1 - n]!.startsWith(prefix)) n++;
  return n;
}

/** `A!refused B` style: every try of a session, failed ones marked. */
function tries(r: Rig, from = 0): string[] {
  return r.journal.sessions.slice(from).map((s) => s.tries.map((t) => (t.outcome === 'connected' ? t.server : `${t.server}!${t.outcome}`)).join(' ') || '-');
}

describe('failover.conf, passive window on a whole-second clock (nginx §2.4 vector A, §4.3)', () => {
  it('three refused connects, a probe every 4 s, back on the probe that connects; every message delivered once', async () => {
    const before = handles();
    const clock = new ManualClock(793_717);
    rig = await startRig(FAILOVER, { clock: wholeSeconds(clock.now) });
    const b = rig.balancer;
    // The file's `check` starts servers down (default_down); this host feeds the verdicts itself.
    for (const id of ['A', 'B']) for (let i = 0; i < 2; i++) b.reportCheck(id, true, 'fed by the test');
    expect(b.servers.map((s) => s.state)).toEqual(['up', 'up']);
    const events: string[] = [];
    b.on('state', (s, from, to, cause) => events.push(`${(clock.now() / 1000).toFixed(3)} ${s.id} ${from}->${to} (${cause})`));
    b.on('tier', (from, to) => events.push(`${(clock.now() / 1000).toFixed(3)} tier ${from}->${to}`));

    const at = async (seconds: number): Promise<string> => {
      clock.set(Math.round(seconds * 1000));
      const n = rig!.journal.sessions.length;
      const m = await rig!.client.send();
      expect(m.ok).toBe(true);
      return tries(rig!, n)[0]!;
    };

    await rig.gateway('A').stop();
    expect(await at(793.717)).toBe('A!ECONNREFUSED B');
    expect(await at(793.917)).toBe('A!ECONNREFUSED B');
    expect(b.get('A')!.fails).toBe(2);
    expect(await at(794.117)).toBe('A!ECONNREFUSED B'); // third failure: "temporarily disabled"
    expect(b.get('A')!.state).toBe('unavail');
    expect(await at(794.317)).toBe('B');
    expect(await at(797.917)).toBe('B'); // 797 - 794 = 3 <= fail_timeout: still excluded
    expect(await at(798.117)).toBe('A!ECONNREFUSED B'); // the probe of second 798
    expect(await at(798.317)).toBe('B'); // one probe per window
    expect(await at(801.917)).toBe('B');
    expect(await at(802.117)).toBe('A!ECONNREFUSED B'); // probe of 802
    clock.set(803_173);
    await rig.gateway('A').start(); // the primary listens again...
    expect(await at(803.317)).toBe('B'); // ...but stays excluded until its window ends
    expect(await at(805.917)).toBe('B');
    expect(await at(806.117)).toBe('A'); // the probe connects: fails := 0 at connect time (§2.6)
    expect(b.get('A')!.fails).toBe(0);
    expect(await at(806.317)).toBe('A');
    expect(await at(806.517)).toBe('A');

    // Tier events report where connections succeed: the backup takes over at the first failover,
    // failed probes of the primary change nothing, and the probe that connects hands back.
    expect(events).toEqual([
      '793.717 tier primary->backup',
      '794.117 A up->unavail (failure)',
      '806.117 A unavail->up (recovery)', // the probe connected...
      '806.117 tier backup->primary', // ...and the primary serves again
    ]);

    const v = rig.journal.verify(rig.client.sent);
    expect(clean(v)).toBe(true);
    expect(v).toMatchObject({ sent: 14, accepted: 14, rejected: 0, byGateway: { A: 3, B: 11 } });
    await finish(rig, before);
  });
});

describe('failover.conf with active smtp checks on real timers', () => {
  it('the checker takes the stopped primary out after `fall` failures, no traffic reaches it, `rise` brings it back', async () => {
    const before = handles();
    rig = await startRig(FAILOVER, { speed: 10, check: { interval: 40, timeout: 1000 } });
    const b = rig.balancer;
    const log: string[] = [];
    b.on('check', (s, ok, reason) => {
      if (s.id === 'A') log.push(`check A ${ok ? 'ok' : 'fail'} ${reason}`);
    });
    b.on('state', (s, from, to, cause) => log.push(`state ${s.id} ${from}->${to} (${cause})`));
    b.on('tier', (from, to) => log.push(`tier ${from}->${to}`));
    b.start();
    await allUp(b, 5000);
    await rig.client.sendMany(3, 3);
    expect(rig.journal.order()).toEqual(['A', 'A', 'A']);

    // Outage: send one message after another until the checker has marked A unhealthy.
    log.length = 0;
    await rig.gateway('A').stop();
    let unhealthy = false;
    const down = until(b, 'state', (s, _f, to) => s.id === 'A' && to === 'unhealthy', 5000, 'A unhealthy').then(() => {
      unhealthy = true;
    });
    for (let i = 0; i < 60 && !unhealthy; i++) expect((await rig.client.send()).ok).toBe(true);
    await down;
    // The 5th consecutive failed check (`fall` = 5) made the transition, not one earlier or later.
    // (A check in flight when the gateway stopped fails with `closed`; the next ones are refused.)
    const checksBefore = log.slice(0, log.findIndex((l) => l.includes('->unhealthy'))).filter((l) => l.startsWith('check A'));
    expect(trailingRun(checksBefore, 'check A fail')).toBe(5);
    expect(checksBefore.slice(-4)).toEqual(Array(4).fill('check A fail refused'));
    expect(checksBefore.at(-5)).toMatch(/^check A fail (refused|closed|reset)$/);
    expect(log.find((l) => l.includes('->unhealthy'))).toMatch(/^state A (up|unavail)->unhealthy \(check\)$/);

    // While unhealthy: not even a try reaches A.
    const mark = rig.journal.sessions.length;
    await rig.client.sendMany(5, 5);
    expect(tries(rig, mark)).toEqual(Array(5).fill('B'));

    // Recovery: A listens again; `rise` = 2 successful checks, then traffic goes back to it.
    log.length = 0;
    await rig.gateway('A').start();
    let back = false;
    rig.journal.listen((e) => {
      if (e.type === 'connected' && e.server.id === 'A') back = true;
    });
    const limit = Date.now() + 5000;
    while (!back && Date.now() < limit) expect((await rig.client.send()).ok).toBe(true);
    expect(back).toBe(true);
    const firstUp = log.findIndex((l) => l.startsWith('state A unhealthy->'));
    const checksUp = log.slice(0, firstUp).filter((l) => l.startsWith('check A'));
    expect(trailingRun(checksUp, 'check A ok')).toBe(2); // `rise` = 2
    expect(checksUp.slice(-2)).toEqual(['check A ok ehlo 250', 'check A ok ehlo 250']);
    expect(log[firstUp]).toMatch(/^state A unhealthy->(up|unavail) \(check\)$/);
    expect(log).toContain('tier backup->primary');
    const after = rig.journal.sessions.length;
    await rig.client.sendMany(3, 3);
    expect(rig.journal.order(after)).toEqual(['A', 'A', 'A']);

    const v = rig.journal.verify(rig.client.sent);
    expect(clean(v)).toBe(true);
    expect(v.accepted).toBe(v.sent);
    expect(v.rejected).toBe(0);
    await finish(rig, before);
  });
});

describe('no server left', () => {
  it('both gateways down: the client is closed without a reply (nginx 502), `exhausted` fires, nothing is half-delivered', async () => {
    const before = handles();
    rig = await startRig(FAILOVER);
    const b = rig.balancer;
    for (const id of ['A', 'B']) for (let i = 0; i < 2; i++) b.reportCheck(id, true);
    const exhausted: string[] = [];
    b.on('exhausted', (reason) => exhausted.push(reason));
    await rig.gateway('A').stop();
    await rig.gateway('B').stop();
    const m = await rig.client.send();
    expect(m.ok).toBe(false);
    expect(m.response).toMatch(/Connection closed|ECONNRESET|socket hang up/i);
    expect(tries(rig)).toEqual(['A!ECONNREFUSED B!ECONNREFUSED']);
    expect(rig.journal.sessions[0]!.rejected).toBe(true);
    // Both tries used up (nginx: tries == 0 after the second failure, then 502).
    expect(exhausted).toEqual(['tries']);
    const v = rig.journal.verify(rig.client.sent);
    expect(clean(v)).toBe(true);
    expect(v).toMatchObject({ sent: 1, accepted: 0, rejected: 1 });
    await finish(rig, before);
  });

  it('`tries: 1` (proxy_next_upstream_tries 1): a refused primary is not retried on the backup', async () => {
    const before = handles();
    rig = await startRig(FAILOVER, { tries: 1 });
    const b = rig.balancer;
    for (const id of ['A', 'B']) for (let i = 0; i < 2; i++) b.reportCheck(id, true);
    const exhausted: string[] = [];
    b.on('exhausted', (reason) => exhausted.push(reason));
    await rig.gateway('A').stop();
    const m = await rig.client.send();
    expect(m.ok).toBe(false);
    expect(tries(rig)).toEqual(['A!ECONNREFUSED']);
    expect(exhausted).toEqual(['tries']);
    expect(rig.gateway('B').connections).toBe(0);
    await finish(rig, before);
  });
});
