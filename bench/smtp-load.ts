/**
 * SMTP load through the reference proxy while a gateway flaps: `npx tsx bench/smtp-load.ts`.
 *
 * Starts the demo's deployment (docs/examples/rig.ts: SMTP gateways, a Balancer from
 * docs/examples/failover.conf with its smtp checks at --speed 10, the reference proxy), then sends
 * --sessions messages (default 10000), one SMTP session each, with --concurrency clients in flight
 * (default 100), while the primary gateway stops listening and starts again every --flap ms (default
 * 2000). A flap is graceful by default (the listener closes, sessions in progress finish: new
 * connects are refused, which is what the balancer must route around); --hard destroys the sessions
 * in progress too, as a crash does.
 *
 * Reports sessions/s, session time percentiles (client side: connect, 220 banner, EHLO, MAIL, RCPT,
 * DATA, 250), and the delivery check: every message accepted exactly once, by the gateway the
 * balancer chose, or cleanly rejected to its client; lost / duplicated / phantom (accepted while the
 * client saw an error) / misrouted must be 0. Everything runs in this one process (clients, proxy,
 * gateways), so the figures are a floor for the proxy, not a ceiling. Not part of `npm test`.
 *
 * Flags: --sessions N, --concurrency N, --flap MS, --hard, --config FILE, --json.
 */

import { parseArgs } from 'node:util';
import { clean } from '../docs/examples/mail';
import { allUp, startRig } from '../docs/examples/rig';

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '100' },
    flap: { type: 'string', default: '2000' },
    hard: { type: 'boolean', default: false },
    config: { type: 'string', default: 'docs/examples/failover.conf' },
    json: { type: 'boolean', default: false },
  },
});
const sessions = Number(values.sessions);
const concurrency = Number(values.concurrency);
const flapMs = Number(values.flap);
for (const [name, v] of [['sessions', sessions], ['concurrency', concurrency], ['flap', flapMs]] as const) {
  if (!(Number.isInteger(v) && v > 0)) {
    process.stderr.write(`smtp-load: --${name} expects a positive integer, got ${JSON.stringify(values[name])}\n`);
    process.exit(1);
  }
}

const speed = 10;
const rig = await startRig(values.config, { speed, clientTimeout: 30_000, prefix: 'load' });
const b = rig.balancer;
const counts = { state: 0, tier: 0, exhausted: 0, checkFailures: 0 };
b.on('state', () => counts.state++);
b.on('tier', () => counts.tier++);
b.on('exhausted', () => counts.exhausted++);
b.on('check', (_s, ok) => {
  if (!ok) counts.checkFailures++;
});
if (rig.upstream.options.check !== undefined) {
  b.start();
  await allUp(b, 10_000);
}

// The flapping gateway: the first primary.
const victim = b.servers.find((s) => !s.backup && !s.down)!;
const gw = rig.gateway(victim.id);
let flaps = 0;
let stopping = false;
let flapping = Promise.resolve();
const flapTimer = setInterval(() => {
  if (stopping) return;
  flapping = flapping.then(async () => {
    if (stopping) return;
    if (gw.running) {
      flaps++;
      await gw.stop({ graceful: !values.hard });
    } else {
      await gw.start();
    }
  });
}, flapMs);

const elu0 = performance.eventLoopUtilization();
const start = performance.now();
const sent = await rig.client.sendMany(sessions, concurrency);
const elapsed = performance.now() - start;
const elu = performance.eventLoopUtilization(elu0);
stopping = true;
clearInterval(flapTimer);
await flapping;
await rig.journal.idle();

const v = rig.journal.verify(sent);
const ms = sent.map((m) => m.ms).sort((x, y) => x - y);
const pct = (p: number): number => ms[Math.min(ms.length - 1, Math.ceil((p / 100) * ms.length) - 1)]!;
const failovers = rig.journal.sessions.filter((s) => s.tries.length > 1).length;
const result = {
  config: values.config,
  sessions,
  concurrency,
  flapMs,
  hard: values.hard,
  flaps,
  seconds: Number((elapsed / 1000).toFixed(2)),
  sessionsPerSecond: Math.round(sessions / (elapsed / 1000)),
  sessionMs: { p50: Math.round(pct(50)), p90: Math.round(pct(90)), p99: Math.round(pct(99)), max: Math.round(ms.at(-1)!) },
  eventLoopUtilization: Number(elu.utilization.toFixed(2)),
  rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
  accepted: v.accepted,
  rejected: v.rejected,
  lost: v.lost.length,
  duplicated: v.duplicated.length,
  phantom: v.phantom.length,
  misrouted: v.misrouted.length,
  unmatched: v.unmatched.length,
  byGateway: v.byGateway,
  sessionsWithFailover: failovers,
  events: counts,
  clean: clean(v),
};
await rig.close();

if (values.json) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  const lines = [
    `smtp-load: ${sessions} SMTP sessions, ${concurrency} concurrent clients, ${values.config}`,
    `  gateway ${victim.id} flapped ${flaps} times (every ${flapMs} ms, ${values.hard ? 'hard: sessions in progress destroyed' : 'graceful: listener closed, sessions in progress finish'})`,
    `  ${result.sessionsPerSecond} sessions/s over ${result.seconds} s; session time p50 ${result.sessionMs.p50} ms, p90 ${result.sessionMs.p90} ms, p99 ${result.sessionMs.p99} ms, max ${result.sessionMs.max} ms`,
    `  (each session includes smtp-server's fixed 100 ms greeting delay; one process, event loop ${Math.round(result.eventLoopUtilization * 100)}% busy, rss ${result.rssMiB} MiB)`,
    `  accepted ${v.accepted}, rejected to the client ${v.rejected}; lost ${v.lost.length}, duplicated ${v.duplicated.length}, phantom ${v.phantom.length}, misrouted ${v.misrouted.length}`,
    `  by gateway: ${Object.entries(v.byGateway).sort().map(([k, n]) => `${k} ${n}`).join(', ')}; ${failovers} sessions failed over within the session`,
    `  balancer events: ${counts.state} state, ${counts.tier} tier, ${counts.exhausted} exhausted, ${counts.checkFailures} failed checks`,
    `  ${result.clean ? 'OK: every message accepted exactly once by the gateway the balancer chose, or cleanly rejected' : 'FAILED: see the counts above'}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
process.exitCode = result.clean ? 0 : 1;
