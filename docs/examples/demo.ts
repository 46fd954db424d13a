/**
 * `npm run demo`: the vendor guide's SMTP deployment, for real, in under a minute.
 *
 * Two SMTP gateways (A = primary, B = backup) on 127.0.0.1, the guide's failover config
 * (docs/examples/failover.conf, corrected) loaded into a Balancer, the reference proxy
 * (docs/examples/proxy.ts) in front, active smtp checks running, and nodemailer sending real mail
 * through the proxy while the demo stops the primary, restarts it, takes it down for maintenance
 * and switches to the 1:4 weighted config (docs/examples/weighted.conf). It prints a live timeline
 * (which gateway accepted each message; every state change, tier switch, check verdict and
 * exhaustion with its cause) and a summary, verifies that every message was accepted exactly once
 * by the gateway the balancer chose, and exits 0 (1 on any error or lost message).
 *
 *   npm run demo                                 # speed x10: check interval 500 ms, fail_timeout 300-400 ms
 *   npm run demo -- --speed 1                    # the file's own timings (5 s checks, 3 s fail_timeout)
 *   npm run demo -- --duration 60                # each phase lasts at least 60/5 s
 *   npm run demo -- --config my.conf --upstream smtp_backend
 *   npm run demo -- --simulate                   # no sockets: the exact nginx timeline on a manual clock
 *   npm run demo -- --http                       # the HTTP reverse proxy (docs/examples/http-proxy.ts)
 *   npm run demo -- --threads 2                  # the proxy on 2 worker threads sharing one upstream zone (docs/examples/threads.ts)
 *   npm run demo -- --fleet 3                    # 3 proxy processes, one etcd, one elected checker (docs/examples/fleet.ts)
 *
 * Ports: the gateways bind the ports the config names (10025, 10026) and the proxy its `listen`
 * port (2525) when all of them are free on 127.0.0.1; otherwise free ports, substituted for the
 * file's addresses (the demo says which).
 */

import { parseArgs } from 'node:util';
import { isUpstreamError, type Balancer, type Server } from '../../src/index';
import { clean, type SentMessage, type Verdict } from './mail';
import { allUp, startRig } from './rig';
import { runSimulation } from './simulate';

const FAILOVER = 'docs/examples/failover.conf';
const WEIGHTED = 'docs/examples/weighted.conf';

const HELP = `Usage: npm run demo -- [options]

  --speed N         run checks and nginx's clock N times faster than real time (default 10;
                    1 = the config's own timings)
  --duration S      make the five phases last at least S seconds in total (default: as short as
                    the events allow, about 10 s)
  --config FILE     run against your own nginx config (default ${FAILOVER}, then ${WEIGHTED})
  --upstream NAME   the upstream block to use when FILE has several
  --simulate        no sockets: replay the two configs on a manual clock (exact nginx timeline)
  --http            the HTTP reverse proxy instead (docs/examples/http-proxy.ts): proxy_next_upstream,
                    502/404 handling, backup, "no live upstreams", on real node:http backends
  --threads N       the proxy on N worker threads (2 to 8) sharing one upstream zone (docs/zone.md),
                    then a Balancer per thread for comparison (docs/examples/threads.ts); takes --speed
  --fleet N         N proxy processes (2 to 5) sharing admin state and one elected checker through a
                    local etcd (docs/fleet.md; needs etcd-server); takes --speed
  --help            this text
`;

/** A failure the demo reports with exit code 1. */
class DemoError extends Error {}

interface Options {
  speed: number;
  duration: number;
  config: string | undefined;
  upstream: string | undefined;
  simulate: boolean;
  http: boolean;
  /** Proxy threads sharing a zone (`--threads N`); 0 = the single-threaded demo. */
  threads: number;
  /** Proxy processes in a fleet (`--fleet N`); 0 = none. */
  fleet: number;
}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      speed: { type: 'string' },
      duration: { type: 'string' },
      config: { type: 'string' },
      upstream: { type: 'string' },
      simulate: { type: 'boolean' },
      http: { type: 'boolean' },
      threads: { type: 'string' },
      fleet: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const speed = values.speed === undefined ? 10 : Number(values.speed);
  if (!(Number.isFinite(speed) && speed >= 1 && speed <= 100)) throw new DemoError(`--speed expects a number from 1 to 100, got ${JSON.stringify(values.speed)}`);
  const duration = values.duration === undefined ? 0 : Number(values.duration);
  if (!(Number.isFinite(duration) && duration >= 0 && duration <= 3600)) throw new DemoError(`--duration expects seconds from 0 to 3600, got ${JSON.stringify(values.duration)}`);
  if (values.upstream !== undefined && values.config === undefined) throw new DemoError('--upstream needs --config FILE');
  const http = values.http === true;
  if (http && (values.simulate || values.config !== undefined || values.speed !== undefined || values.duration !== undefined)) {
    throw new DemoError('--http takes no other option');
  }
  const threads = values.threads === undefined ? 0 : Number(values.threads);
  if (values.threads !== undefined) {
    if (!(Number.isInteger(threads) && threads >= 2 && threads <= 8)) throw new DemoError(`--threads expects a number of threads from 2 to 8, got ${JSON.stringify(values.threads)}`);
    if (http || values.simulate || values.config !== undefined || values.duration !== undefined) throw new DemoError('--threads takes no other option than --speed');
  }
  const fleet = values.fleet === undefined ? 0 : Number(values.fleet);
  if (values.fleet !== undefined) {
    if (!(Number.isInteger(fleet) && fleet >= 2 && fleet <= 5)) throw new DemoError(`--fleet expects a number of proxies from 2 to 5, got ${JSON.stringify(values.fleet)}`);
    if (http || values.simulate || values.threads !== undefined || values.config !== undefined || values.duration !== undefined) throw new DemoError('--fleet takes no other option than --speed');
  }
  return { speed, duration, config: values.config, upstream: values.upstream, simulate: values.simulate === true, http, threads, fleet };
}

// -------------------------------------------------------------------------------------------------
// Output

const t0 = performance.now();
const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};
const stamp = (): string => ((performance.now() - t0) / 1000).toFixed(3).padStart(7);
const log = (kind: string, text: string): void => out(`${stamp()}  ${kind.padEnd(6)} ${text}`);

function describeServer(s: Server): string {
  const parts = [s.backup ? 'backup' : 'primary'];
  if (s.weight !== 1) parts.push(`weight=${s.weight}`);
  if (s.maxFails !== 1) parts.push(`max_fails=${s.maxFails}`);
  if (s.failTimeout !== 10_000) parts.push(`fail_timeout=${s.failTimeout / 1000}s`);
  if (s.down) parts.push('down');
  return parts.join(' ');
}

/**
 * Prints every balancer event, with its cause, as it happens. Check results are printed when they say
 * something (a failure, a change, counters moving). A tier event is held back and printed just before
 * the mail line of the session whose connect caused it (`flush`), so the timeline reads in order.
 */
function narrate(b: Balancer): { flush(): void; stop(): void } {
  const lastOk = new Map<string, boolean>();
  let tier: { from: string; to: string } | null = null;
  const onState = (s: Server, from: string, to: string, cause: string): void => {
    const why = {
      failure: `${s.fails} failed connect${s.fails === 1 ? '' : 's'}, max_fails=${s.maxFails}: "upstream server temporarily disabled"`,
      recovery: 'a connect after its fail_timeout window cleared its failures',
      check: 'active check verdict',
      admin: 'set at run time',
    }[cause] ?? cause;
    log('state', `${s.id} ${from} -> ${to}   (${cause}: ${why})`);
  };
  const onTier = (from: string, to: string): void => {
    if (tier === null) tier = { from, to };
    else tier.to = to;
  };
  const onExhausted = (reason: string): void => log('none', `no server left (${reason}): the client is closed (nginx: 502)`);
  const onCheck = (s: Server, ok: boolean, reason: string, ms: number): void => {
    const snap = b.snapshot().servers.find((x) => x.id === s.id)?.check;
    const moving = snap != null && (snap.down ? snap.rise > 0 : snap.fall > 0);
    const prev = lastOk.get(s.id);
    lastOk.set(s.id, ok);
    if (ok && prev === true && !moving) return; // a healthy server passing again: not news
    const counter = snap == null ? '' : ok ? `  rise ${snap.rise}` : `  fall ${snap.fall}`;
    log('check', `${s.id} ${ok ? 'ok' : 'FAIL'} (${reason}, ${Math.round(ms)} ms)${counter}`);
  };
  b.on('state', onState);
  b.on('tier', onTier);
  b.on('exhausted', onExhausted);
  b.on('check', onCheck);
  return {
    flush() {
      const t = tier;
      tier = null;
      if (t === null || t.from === t.to) return;
      log('tier', `${t.from} -> ${t.to}${t.to === 'backup' ? '   (no primary can be selected: the backup tier serves)' : '   (hand-back: the primary tier serves again)'}`);
    },
    stop() {
      b.off('state', onState);
      b.off('tier', onTier);
      b.off('exhausted', onExhausted);
      b.off('check', onCheck);
    },
  };
}

// -------------------------------------------------------------------------------------------------
// Live run

interface Phase {
  title: string;
  from: number;
  to: number;
}

async function live(opts: Options): Promise<Verdict> {
  const file = opts.config ?? FAILOVER;
  const speed = opts.speed;
  const phaseMs = (opts.duration * 1000) / 5;
  const custom = opts.config !== undefined;
  out(`upstream-balancer demo: the vendor guide's SMTP deployment, for real (node ${process.version})`);
  const rig = await startRig(file, {
    ...(opts.upstream !== undefined ? { upstream: opts.upstream } : {}),
    speed,
    filePorts: true,
    prefix: `demo-${process.pid}`,
  });
  const phases: Phase[] = [];
  let narration: { flush(): void; stop(): void } = { flush() {}, stop() {} };
  try {
    const b0 = rig.balancer;
    const check = rig.upstream.options.check;
    out();
    out(`config   ${file}: ${rig.upstream.context} upstream "${rig.upstream.name}"`);
    for (const w of rig.upstream.warnings) out(`         note (line ${w.line}): ${w.reason}`);
    for (const s of b0.servers) {
      const p = rig.ports.find((x) => rig.gateway(s.id).address === x.address)!;
      out(`  ${s.id}      ${s.address.padEnd(16)} ${describeServer(s).padEnd(40)} file: ${p.original} (${p.note})`);
    }
    out(`  proxy  127.0.0.1:${rig.proxy.port}`);
    if (speed !== 1) {
      out(`speed    x${speed}: nginx's clock runs ${speed} times faster (one nginx second = ${1000 / speed} ms), so`);
      const ft = (b0.servers.find((s) => !s.backup && !s.down) ?? b0.servers[0]!).failTimeout;
      out(`         the primary's fail_timeout=${ft / 1000}s lasts ${Math.round(ft / speed)}-${Math.round((ft + 1000) / speed)} ms${check ? `; checks every ${Math.round((check.interval ?? 30_000) / speed)} ms with a ${Math.round((check.timeout ?? 1000) / speed)} ms timeout (file: ${check.interval ?? 30_000} / ${check.timeout ?? 1000})` : ''}.`);
      out(`         (--speed 1 runs the file's own timings)`);
    }
    out();
    out('   time  event  what');
    narration = narrate(b0);

    let sentNo = 0;
    const mailLine = (m: SentMessage, session: number): void => {
      narration.flush();
      const s = rig.journal.sessions[session - 1];
      const tries = s === undefined ? '' : s.tries.filter((t) => t.outcome !== 'connected').map((t) => `${t.server} ${t.outcome === 'ECONNREFUSED' ? 'refused' : t.outcome} -> `).join('');
      if (m.ok) {
        const gw = /accepted by (\S+)/.exec(m.response)?.[1] ?? '?';
        log('mail', `#${String(sentNo).padEnd(3)} ${tries}${gw}`);
      } else {
        log('mail', `#${String(sentNo).padEnd(3)} ${tries}REJECTED: ${m.code ? `${m.code} ` : ''}${m.response}`);
      }
    };
    const sendOne = async (): Promise<SentMessage> => {
      sentNo++;
      const session = rig.journal.sessions.length + 1;
      const start = performance.now();
      const m = await rig.client.send();
      mailLine(m, session);
      // A rejected session ends at once: pace the next one like a normal session (~100 ms).
      const left = 100 - (performance.now() - start);
      if (left > 0) await new Promise((r) => setTimeout(r, left));
      return m;
    };
    /** Sends until `done()` (checked before each message) and at least `phaseMs` passed; bounded. */
    const sendWhile = async (more: () => boolean, capMs: number, what: string): Promise<boolean> => {
      const start = performance.now();
      while (more()) {
        if (performance.now() - start > capMs) {
          if (custom) {
            log('note', `gave up waiting for ${what} after ${Math.round(capMs)} ms`);
            return false;
          }
          throw new DemoError(`timed out after ${Math.round(capMs)} ms waiting for ${what}`);
        }
        await sendOne();
      }
      return true;
    };
    const phase = async (title: string, body: () => Promise<void>): Promise<void> => {
      out(`── ${phases.length + 1}. ${title}`);
      const p: Phase = { title, from: rig.client.sent.length, to: 0 };
      phases.push(p);
      const start = performance.now();
      await body();
      await sendWhile(() => performance.now() - start < phaseMs, phaseMs + 60_000, 'the phase duration');
      p.to = rig.client.sent.length;
    };
    const cap = (ms: number): number => Math.max(5000, ms);

    // 0. Checks first: with default_down the servers take no traffic until `rise` checks pass.
    if (check !== undefined) {
      const interval = Math.round((check.interval ?? 30_000) / speed);
      log('start', `checker (type=${String(check.type ?? 'tcp')}): servers start down (default_down) until ${check.rise ?? 2} checks pass`);
      b0.start();
      await allUp(b0, cap(interval * ((check.rise ?? 2) + 2) + 2000));
    }

    // The server the demo stops: the first primary that is not down, else the first server that is not.
    const victim = b0.servers.find((s) => !s.backup && !s.down) ?? b0.servers.find((s) => !s.down);
    if (victim === undefined) throw new DemoError(`every server of upstream "${rig.upstream.name}" is down: nothing to demonstrate`);
    const gwV = rig.gateway(victim.id);
    const others = b0.servers.filter((s) => s !== victim && !s.down).map((s) => s.id);

    await phase(`steady state: mail flows`, async () => {
      for (let i = 0; i < 5; i++) await sendOne();
    });

    await phase(`outage: ${victim.id} stops (connections refused)`, async () => {
      await gwV.stop();
      log('admin', `${victim.id} stopped listening (${victim.address})`);
      const target = check !== undefined ? 'unhealthy' : 'unavail';
      const interval = check === undefined ? 0 : Math.round((check.interval ?? 30_000) / speed);
      const timeout = check === undefined ? 0 : Math.round((check.timeout ?? 1000) / speed);
      const limit = check !== undefined ? cap((interval + timeout) * ((check.fall ?? 5) + 2) + 2000) : 10_000;
      if (victim.maxFails === 0 && check === undefined) {
        for (let i = 0; i < 5; i++) await sendOne();
      } else {
        await sendWhile(() => victim.state !== target, limit, `${victim.id} to become ${target}`);
      }
      for (let i = 0; i < 3; i++) await sendOne();
    });

    await phase(`recovery: ${victim.id} listens again`, async () => {
      await gwV.start();
      log('admin', `${victim.id} listening again (${victim.address})`);
      let back = false;
      const unlisten = rig.journal.listen((e) => {
        if (e.type === 'connected' && e.server.id === victim.id) back = true;
      });
      const interval = check === undefined ? 0 : Math.round((check.interval ?? 30_000) / speed);
      const limit = cap(interval * ((check?.rise ?? 2) + 2) + ((victim.failTimeout + 1000) / speed) + 2000);
      await sendWhile(() => !back, limit, `traffic to return to ${victim.id}`);
      unlisten();
      for (let i = 0; i < 3; i++) await sendOne();
    });

    await phase(`maintenance: ${victim.id} marked down at run time, then back`, async () => {
      log('admin', `balancer.update('${victim.id}', { down: true })`);
      b0.update(victim.id, { down: true });
      for (let i = 0; i < 5; i++) await sendOne();
      log('admin', `balancer.update('${victim.id}', { down: false })`);
      b0.update(victim.id, { down: false });
      if (victim.state === 'checking') log('note', `${victim.id} was not checked while down: like a new peer it waits for ${check?.rise ?? 2} passing checks`);
      let back = false;
      const unlisten = rig.journal.listen((e) => {
        if (e.type === 'connected' && e.server.id === victim.id) back = true;
      });
      const interval = check === undefined ? 0 : Math.round((check.interval ?? 30_000) / speed);
      await sendWhile(() => !back, cap(interval * ((check?.rise ?? 2) + 2) + 2000), `traffic to return to ${victim.id}`);
      unlisten();
      for (let i = 0; i < 2; i++) await sendOne();
      if (others.length === 0) log('note', `${victim.id} is the only server: while it was down, nothing could take the mail`);
    });

    if (!custom) {
      await phase('load balancing: weighted.conf, weight=1 vs weight=4', async () => {
        const { upstream, balancer } = await rig.load(WEIGHTED);
        narration.stop();
        log('reload', `${WEIGHTED}: ${balancer.servers.map((s) => `${s.id} weight=${s.weight}`).join(', ')}${upstream.options.check ? '' : ' (no check line)'}`);
        log('reload', 'new sessions use the new upstream (like an nginx reload: fresh round-robin state)');
        await b0.close();
        rig.balancer = balancer;
        narration = narrate(balancer);
        if (upstream.options.check !== undefined) {
          balancer.start();
          await allUp(balancer, 10_000);
        }
        const from = rig.journal.sessions.length;
        for (let i = 0; i < 20; i++) await sendOne();
        const order = rig.journal.order(from);
        const counts = new Map<string, number>();
        for (const id of order) counts.set(id, (counts.get(id) ?? 0) + 1);
        log('shares', `order ${order.join(' ')}`);
        log('shares', [...counts].sort().map(([id, n]) => `${id} ${n}/${order.length} = ${Math.round((100 * n) / order.length)}%`).join(', ') + ' (weight=4 gets 4 of every 5: higher weight = more traffic)');
        if (order.slice(0, 5).join(' ') !== 'B B A B B') throw new DemoError(`expected the cycle B B A B B, got ${order.slice(0, 5).join(' ')}`);
      });
    }
  } finally {
    narration.stop();
    await rig.close();
  }

  // Summary.
  const v = rig.journal.verify(rig.client.sent);
  const ids = rig.gateways.map((g) => g.name);
  out();
  out('Summary');
  const head = ['phase'.padEnd(58), 'sent'.padStart(5), ...ids.map((id) => `to ${id}`.padStart(6)), 'rejected'.padStart(9)];
  out(head.join(' '));
  const byGateway = new Map(rig.journal.received.map((r) => [r.messageId, r.gateway]));
  for (const [i, p] of phases.entries()) {
    const slice = rig.client.sent.slice(p.from, p.to);
    const cells = ids.map((id) => String(slice.filter((m) => byGateway.get(m.messageId) === id).length).padStart(6));
    out([`${i + 1}. ${p.title}`.slice(0, 58).padEnd(58), String(slice.length).padStart(5), ...cells, String(slice.filter((m) => !m.ok).length).padStart(9)].join(' '));
  }
  out([`total`.padEnd(58), String(v.sent).padStart(5), ...ids.map((id) => String(v.byGateway[id] ?? 0).padStart(6)), String(v.rejected).padStart(9)].join(' '));
  out();
  const ok = clean(v);
  out(`every message accepted exactly once, by the gateway the balancer chose: ${ok ? 'yes' : 'NO'} (${v.accepted} accepted, ${v.rejected} rejected to the client, ${v.lost.length} lost, ${v.duplicated.length} duplicated, ${v.misrouted.length} misrouted)`);
  out(`finished in ${((performance.now() - t0) / 1000).toFixed(1)} s; every server, socket and timer stopped`);
  if (!ok) throw new DemoError(`delivery check failed: ${JSON.stringify({ lost: v.lost, duplicated: v.duplicated, phantom: v.phantom, misrouted: v.misrouted, unmatched: v.unmatched })}`);
  return v;
}

// -------------------------------------------------------------------------------------------------

async function main(argv: string[]): Promise<number> {
  let opts: Options | undefined;
  try {
    opts = parseOptions(argv);
  } catch (error) {
    process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n\n${HELP}`);
    return 1;
  }
  if (opts === undefined) {
    out(HELP);
    return 0;
  }
  if (opts.http) return (await import('./http-proxy')).main({ write: out });
  try {
    if (opts.threads > 0) {
      await (await import('./threads')).runThreads({ threads: opts.threads, speed: opts.speed, write: out });
      return 0;
    }
    if (opts.fleet > 0) {
      await (await import('./fleet')).runFleet({ proxies: opts.fleet, speed: opts.speed, write: out });
      return 0;
    }
    if (opts.simulate) runSimulation({ failover: opts.config ?? FAILOVER, weighted: opts.config === undefined ? WEIGHTED : undefined, upstream: opts.upstream, write: out });
    else await live(opts);
    return 0;
  } catch (error) {
    process.stderr.write(`demo: error: ${error instanceof Error ? error.message : String(error)}\n`);
    if (!(error instanceof DemoError) && !isUpstreamError(error) && error instanceof Error && process.env.DEMO_DEBUG) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
