/**
 * Faulty SMTP gateways behind the reference proxy (docs/examples/proxy.ts) and docs/examples/failover.conf,
 * with nginx stream's semantics (docs/nginx-semantics.md §4.3): only a failure to *connect* is a failure.
 *
 * - hang (accepts, never sends the 220 banner): the TCP connect succeeds, so the proxy calls
 *   `connected()` and does not fail over; the client times out waiting for the banner. Only the
 *   smtp check notices (`timeout`) and takes the gateway out after `fall` failures.
 * - connect timeout (the SYN is never answered): impossible to produce on loopback, where a listening
 *   port always completes the handshake; the proxy is given a socket that never connects, and its
 *   `connectTimeout` fails the server and moves on, as `proxy_connect_timeout` does.
 * - reset mid-session (RST at DATA): the client sees the error, the message is not accepted, and the
 *   balancer counts a success (the session had connected).
 * - 421 instead of the banner: a success for the balancer, the client gets the 421; the smtp check
 *   (`banner 421`) is what takes such a gateway out.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { clean } from '../../docs/examples/mail';
import { allUp, startRig, until, type Rig } from '../../docs/examples/rig';
import { closeLeftoverRigs, finish, handles } from './rig-hooks';

const FAILOVER = 'docs/examples/failover.conf';



let rig: Rig | undefined;
closeLeftoverRigs(() => rig, () => {
  rig = undefined;
});

function tries(r: Rig, from = 0): string[] {
  return r.journal.sessions.slice(from).map((s) => s.tries.map((t) => (t.outcome === 'connected' ? t.server : `${t.server}!${t.outcome}`)).join(' ') || '-');
}

/** Brings both servers up without a checker (the file's `check` starts them down). */
function upByHand(r: Rig): void {
  for (const id of ['A', 'B']) for (let i = 0; i < 2; i++) r.balancer.reportCheck(id, true, 'fed by the test');
}

describe('a gateway that accepts and hangs (no banner)', () => {
  it('the proxy connects and stays (no failover, no failure counted); the smtp check times out and takes it out', async () => {
    const before = handles();
    rig = await startRig(FAILOVER, { speed: 10, check: { interval: 30, timeout: 150, fall: 2 }, clientTimeout: 600 });
    const b = rig.balancer;
    const checks: string[] = [];
    b.on('check', (s, ok, reason) => {
      if (s.id === 'A' && !ok) checks.push(reason);
    });
    b.start();
    await allUp(b, 5000);

    rig.gateway('A').mode = 'hang';
    const out = until(b, 'state', (s, _from, to) => s.id === 'A' && to === 'unhealthy', 5000, 'A unhealthy');
    const hung = await rig.client.send();
    expect(hung.ok).toBe(false);
    expect(hung.response).toMatch(/greeting/i); // nodemailer: "Greeting never received"
    expect(hung.ms).toBeGreaterThanOrEqual(590);
    expect(tries(rig)).toEqual(['A']); // connected: nginx stream would not fail over either
    await rig.journal.idle(); // the client gave up and closed; the proxy released A
    expect(b.get('A')!.fails).toBe(0);
    expect(b.get('A')!.conns).toBe(0);

    const [, from, , cause] = await out;
    expect(from).toBe('up');
    expect(cause).toBe('check');
    expect(checks.slice(0, 2)).toEqual(['timeout', 'timeout']);

    const mark = rig.journal.sessions.length;
    await rig.client.sendMany(3, 3);
    expect(tries(rig, mark)).toEqual(['B', 'B', 'B']);
    const v = rig.journal.verify(rig.client.sent);
    expect(clean(v)).toBe(true);
    expect(v).toMatchObject({ sent: 4, accepted: 3, rejected: 1, byGateway: { B: 3 } });
    await finish(rig, before);
  });
});

describe('a connect that never completes (proxy_connect_timeout)', () => {
  it('fails the server after connectTimeout and retries on the next one within the same session', async () => {
    const before = handles();
    let blackhole = -1;
    rig = await startRig(FAILOVER, {
      connectTimeout: 120,
      // On loopback every SYN to a listening port is answered; model the unanswered SYN instead.
      connect: (o) => ((o as net.TcpNetConnectOpts).port === blackhole ? new net.Socket() : net.connect(o)),
    });
    blackhole = rig.gateway('A').port;
    upByHand(rig);
    const m = await rig.client.send();
    expect(m.ok).toBe(true);
    expect(m.ms).toBeGreaterThanOrEqual(120);
    expect(tries(rig)).toEqual(['A!timeout B']);
    expect(rig.balancer.get('A')!.fails).toBe(1);
    expect(rig.gateway('A').connections).toBe(0);
    const v = rig.journal.verify(rig.client.sent);
    expect(clean(v)).toBe(true);
    expect(v).toMatchObject({ sent: 1, accepted: 1, byGateway: { B: 1 } });
    await finish(rig, before);
  });
});

describe('a gateway that resets mid-session', () => {
  it('the client sees the reset, nothing is accepted, and the balancer counts a success (the session had connected)', async () => {
    const before = handles();
    rig = await startRig(FAILOVER);
    upByHand(rig);
    const states: string[] = [];
    rig.balancer.on('state', (s, from, to) => states.push(`${s.id} ${from}->${to}`));
    rig.gateway('A').mode = 'reset';
    const first = await rig.client.send();
    const second = await rig.client.send();
    for (const m of [first, second]) {
      expect(m.ok).toBe(false);
      expect(m.response).toMatch(/ECONNRESET|Connection closed|socket hang up/i);
    }
    expect(tries(rig)).toEqual(['A', 'A']); // no failover: A is still the one chosen
    await rig.journal.idle(); // both sessions ended on the proxy
    expect(rig.balancer.get('A')!.fails).toBe(0);
    expect(rig.balancer.get('A')!.conns).toBe(0);
    expect(states).toEqual([]);
    rig.gateway('A').mode = 'accept';
    expect((await rig.client.send()).ok).toBe(true);
    const v = rig.journal.verify(rig.client.sent);
    expect(clean(v)).toBe(true); // in particular: no phantom (accepted although the client saw an error)
    expect(v).toMatchObject({ sent: 3, accepted: 1, rejected: 2, byGateway: { A: 1 } });
    expect(rig.gateway('A').messages).toHaveLength(1);
    await finish(rig, before);
  });
});

describe('a gateway that answers 421', () => {
  it('is a success to the balancer (the client gets the 421); the smtp check takes it out, then mail flows to the backup', async () => {
    const before = handles();
    rig = await startRig(FAILOVER, { speed: 10, check: { interval: 30, timeout: 500, fall: 2 } });
    const b = rig.balancer;
    upByHand(rig);
    rig.gateway('A').mode = 'reject-421';
    const first = await rig.client.send();
    const second = await rig.client.send();
    for (const m of [first, second]) {
      expect(m.ok).toBe(false);
      expect(m.code).toBe(421);
    }
    expect(tries(rig)).toEqual(['A', 'A']);
    expect(b.get('A')!.fails).toBe(0);
    expect(b.get('A')!.state).toBe('up');

    const reasons: string[] = [];
    b.on('check', (s, ok, reason) => {
      if (s.id === 'A') reasons.push(`${ok} ${reason}`);
    });
    const out = until(b, 'state', (s, _f, to) => s.id === 'A' && to === 'unhealthy', 5000, 'A unhealthy');
    b.start();
    const [, , , cause] = await out;
    expect(cause).toBe('check');
    expect(reasons).toEqual(['false banner 421', 'false banner 421']);
    const mark = rig.journal.sessions.length;
    expect((await rig.client.send()).ok).toBe(true);
    expect(tries(rig, mark)).toEqual(['B']);
    const v = rig.journal.verify(rig.client.sent);
    expect(clean(v)).toBe(true);
    expect(v).toMatchObject({ sent: 3, accepted: 1, rejected: 2, byGateway: { B: 1 } });
    await finish(rig, before);
  });
});
