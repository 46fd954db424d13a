/**
 * The vendor guide's load-balancing and maintenance configs, for real: SMTP gateways on 127.0.0.1,
 * the reference proxy (docs/examples/proxy.ts) embedding a Balancer built from
 * docs/examples/weighted.conf and maintenance.conf, and nodemailer sending real mail through it.
 *
 * Every message is matched to the proxy session that carried it (by the upstream socket's port) and
 * must be accepted exactly once, by the gateway the balancer chose for that session.
 */
import { describe, expect, it } from 'vitest';
import { allUp, startRig, type Rig } from '../../docs/examples/rig';
import { clean } from '../../docs/examples/mail';
import { closeLeftoverRigs, finish, handles } from './rig-hooks';

const WEIGHTED = 'docs/examples/weighted.conf';
const MAINTENANCE = 'docs/examples/maintenance.conf';

/**
 * Sockets and listening servers open now, and ref'd timers (unref'd ones, like the checker's, do not
 * show in getActiveResourcesInfo; the checker's own tests cover those).
 */


let rig: Rig | undefined;
closeLeftoverRigs(() => rig, () => {
  rig = undefined;
});


describe('weighted.conf: weight=1 and weight=4 (the guide has the direction backwards)', () => {
  it('100 messages through the proxy: exactly B B A B B x 20, 80/20, each accepted once where the balancer chose', async () => {
    const before = handles();
    rig = await startRig(WEIGHTED);
    const sent = await rig.client.sendMany(100, 10);
    expect(sent.every((m) => m.ok)).toBe(true);
    // Sessions are numbered (and selected) in accept order: this is the balancer's pick order.
    expect(rig.journal.order().join(' ')).toBe(Array(20).fill('B B A B B').join(' '));
    const v = rig.journal.verify(rig.client.sent);
    expect(clean(v)).toBe(true);
    expect(v).toMatchObject({ sent: 100, accepted: 100, rejected: 0, byGateway: { A: 20, B: 80 } });
    expect(rig.gateway('A').messages).toHaveLength(20);
    expect(rig.gateway('B').messages).toHaveLength(80);
    // One try per session: nothing failed.
    expect(rig.journal.sessions.every((s) => s.tries.length === 1 && s.messages.length === 1)).toBe(true);
    await finish(rig, before);
  });

  it('update(B, { down: true }) at run time: no connection reaches B; back in, the cycle resumes where it stopped', async () => {
    const before = handles();
    rig = await startRig(WEIGHTED);
    const states: string[] = [];
    rig.balancer.on('state', (s, from, to, cause) => states.push(`${s.id} ${from}->${to} (${cause})`));
    await rig.client.sendMany(5, 5);
    expect(rig.journal.order()).toEqual(['B', 'B', 'A', 'B', 'B']);

    rig.balancer.update('B', { down: true });
    const bConnections = rig.gateway('B').connections;
    await rig.client.sendMany(10, 5);
    expect(rig.journal.order(5)).toEqual(Array(10).fill('A'));
    expect(rig.gateway('B').connections).toBe(bConnections);

    rig.balancer.update('B', { down: false });
    await rig.client.sendMany(10, 10);
    expect(rig.journal.order(15).join(' ')).toBe('B B A B B B B A B B');
    expect(states).toEqual(['B up->down (admin)', 'B down->up (admin)']);

    const v = rig.journal.verify(rig.client.sent);
    expect(clean(v)).toBe(true);
    expect(v).toMatchObject({ sent: 25, accepted: 25, byGateway: { A: 13, B: 12 } });
    await finish(rig, before);
  });
});

describe('maintenance.conf: the primary is `down`, the backup is checked (type=smtp)', () => {
  it('every message goes to the backup once its checks pass; the down primary gets no connection, not even a probe', async () => {
    const before = handles();
    rig = await startRig(MAINTENANCE, { speed: 100, check: { interval: 40, timeout: 1000 } });
    const checks: string[] = [];
    rig.balancer.on('check', (s, ok, reason) => checks.push(`${s.id} ${ok} ${reason}`));
    expect(rig.balancer.get('A')!.state).toBe('down');
    expect(rig.balancer.get('B')!.state).toBe('checking');
    rig.balancer.start();
    await allUp(rig.balancer, 5000);
    await rig.client.sendMany(10, 5);
    expect(rig.journal.order()).toEqual(Array(10).fill('B'));
    expect(rig.journal.sessions.every((s) => s.tries.length === 1)).toBe(true);
    expect(rig.gateway('A').connections).toBe(0);
    expect(checks.length).toBeGreaterThanOrEqual(2);
    expect(checks.every((c) => c === 'B true ehlo 250')).toBe(true);
    expect(clean(rig.journal.verify(rig.client.sent))).toBe(true);
    await finish(rig, before);
  });
});
