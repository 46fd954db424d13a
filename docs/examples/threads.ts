/**
 * `npm run demo -- --threads 2`: the reference proxy on several worker threads sharing one upstream
 * zone (docs/zone.md), as nginx's worker processes share an upstream's `zone`
 * (ngx_http_upstream_zone_module.c: every get and free under the zone's lock, so the smooth weighted
 * round robin, the failure window and `conns` are the upstream's, not each worker's).
 *
 * The main thread starts one SMTP gateway per server of docs/examples/weighted.conf (A weight=1,
 * B weight=4, on free ports), creates the zone, keeps a balancer on it for admin changes and
 * `watch(worker)`, and starts N proxy threads (./proxy-thread.ts), each listening on a port of its
 * own: worker threads cannot share a listening socket as cluster processes do, and a socket cannot
 * be handed from one thread to another, so the client takes the threads in turn (session k goes to
 * thread k mod N), as a kernel spreading connections over nginx's workers would. Then:
 *
 * 1. ten sessions: the threads together follow ONE SWRR sequence, B B A B B B B A B B, the
 *    sequence a single balancer gives;
 * 2. B stops: one refused connect, in one thread, takes B out of every thread's picks (for
 *    fail_timeout, 30 s here so that the window outlasts the phase; the file has the default 10 s);
 * 3. the main thread sets B `down`: every thread obeys (told once), and B comes back;
 * 4. the same with a Balancer per thread (nginx without `zone`): each thread rotates on its own, so
 *    the combined order is B B B B A A B B B B with two threads, and every thread has to be refused
 *    by the stopped B itself.
 *
 * It prints a timeline and a summary, verifies that every message was accepted exactly once by the
 * gateway the balancer chose and that the zone's `conns` are 0 once the threads have exited, and
 * throws (exit 1) when anything differs from what is stated above.
 */

import type { Worker } from 'node:worker_threads';
import { Balancer, type BalancerOptions, type Server } from '../../src/index';
import { createZone } from '../../src/zone';
import { startGateway, type Gateway } from './gateways';
import { Journal, MailClient, clean, type SentMessage, type Verdict } from './mail';
import type { ProxyEvent } from './proxy';
import { type ThreadCommand, type ThreadMessage, startProxyThread, zoneClock } from './proxy-thread';
import { readExampleUpstream } from './upstream-file';

const WEIGHTED = 'docs/examples/weighted.conf';
/** ms (nginx's fail_timeout=30s). */
const FAIL_TIMEOUT = 30_000;

export interface ThreadsOptions {
  /** Proxy threads (2 to 8). */
  threads: number;
  /** nginx's clock runs this many times faster than real time (fail_timeout=10s lasts 10/speed s). */
  speed: number;
  write(line: string): void;
}

/** What the run showed (the test reads it). */
export interface ThreadsResult {
  verdict: Verdict;
  zone: { order: string[]; byThread: string[][]; refused: number[]; downOrder: string[] };
  local: { order: string[]; refused: number[] };
  /** `conns` of every server once the proxy threads had exited. */
  connsAfter: number[];
}

/** The first `count` picks of `balancers[k % balancers.length]`, k = 0, 1, ...: where sessions taken in turn go. */
function expectedOrder(balancers: Balancer[], count: number): string[] {
  const out: string[] = [];
  for (let k = 0; k < count; k++) {
    const b = balancers[k % balancers.length]!;
    const s = b.pick()!;
    b.release(s);
    out.push(s.id);
  }
  return out;
}

export async function runThreads(opts: ThreadsOptions): Promise<ThreadsResult> {
  const { threads: n, speed } = opts;
  const t0 = performance.now();
  const stamp = (): string => ((performance.now() - t0) / 1000).toFixed(3).padStart(7);
  const log = (kind: string, text: string): void => opts.write(`${stamp()}  ${kind.padEnd(6)} ${text}`);
  const out = (line = ''): void => opts.write(line);

  const u = readExampleUpstream(WEIGHTED);
  const journal = new Journal();
  const gateways: Gateway[] = [];
  const workers: Worker[] = [];
  const clients: MailClient[] = [];
  let admin: (Balancer & { watch(w: Worker): Worker }) | undefined;
  /** Global session number of each thread's session. */
  const sessionOf = new Map<string, number>();
  const threadOf: number[] = [];
  /** Refused connects, by thread, since the counter was last cleared. */
  let refused: number[] = [];
  const switched = new Set<number>();
  const closed = new Set<number>();

  const onThread = (m: ThreadMessage): void => {
    if (m.t === 'proxy') {
      const key = `${m.thread}:${m.event.session}`;
      let session = sessionOf.get(key);
      if (session === undefined) {
        session = sessionOf.size + 1;
        sessionOf.set(key, session);
        threadOf[session] = m.thread;
      }
      if (m.event.type === 'fail') refused.push(m.thread);
      journal.onEvent({ ...m.event, session, ...('server' in m.event ? { server: m.event.server as unknown as Server } : {}) } as ProxyEvent);
    } else if (m.t === 'state') {
      log('state', `${m.server.id} ${m.from} -> ${m.to}   (${m.cause}; the event fires in thread ${m.thread}, whose call made the change)`);
    } else if (m.t === 'switched') {
      switched.add(m.thread);
    } else if (m.t === 'closed') {
      closed.add(m.thread);
    }
  };

  const waitFor = async (done: () => boolean, ms: number, what: string): Promise<void> => {
    const end = performance.now() + ms;
    while (!done()) {
      if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  const stopAll = async (): Promise<void> => {
    for (const c of clients) c.close();
    for (const w of workers) if (!closed.has(workerThread(w))) w.postMessage({ t: 'close' } satisfies ThreadCommand);
    await Promise.all(workers.map((w) => new Promise<void>((resolve) => {
      if (w.threadId === -1) resolve();
      else w.once('exit', () => resolve());
    })));
    await admin?.close();
    await Promise.all(gateways.map((g) => g.stop()));
  };
  const numberOf = new Map<Worker, number>();
  const workerThread = (w: Worker): number => numberOf.get(w) ?? 0;

  try {
    // Gateways A, B, ... for the file's servers, in order.
    for (const [k] of u.servers.entries()) gateways.push(await startGateway(String.fromCharCode(65 + k), { onMessage: journal.receive }));
    // fail_timeout=30s instead of the file's default 10s: the window must outlast a failover phase
    // (2N sessions of ~0.1-0.2 s each) at the default speed, so that the count of refused connects
    // says what the zone does, not how fast this machine is.
    const options: BalancerOptions = {
      ...u.options,
      servers: u.options.servers.map((s, k) => ({ ...s, id: gateways[k]!.name, address: gateways[k]!.address, failTimeout: FAIL_TIMEOUT })),
    };
    const clock = zoneClock(speed);
    const zone = createZone(options);
    admin = Balancer.fromZone(zone, { clock });
    admin.on('state', (s, from, to, cause) => log('state', `${s.id} ${from} -> ${to}   (${cause}; the event fires in the main thread, whose call made the change)`));

    const ports: number[] = [];
    for (let k = 1; k <= n; k++) {
      const { worker, port } = await startProxyThread(
        { kind: 'upstream-balancer/demo-proxy-thread', thread: k, zone, options, speed, connectTimeout: Math.max(1, Math.round(60_000 / speed)) },
        onThread,
      );
      admin.watch(worker); // when it exits, the connections it still holds are given back
      workers.push(worker);
      numberOf.set(worker, k);
      ports.push(port);
      clients.push(new MailClient({ port, timeout: 10_000, prefix: `threads-${process.pid}-t${k}` }));
    }

    out(`upstream-balancer demo: the proxy on ${n} worker threads sharing one upstream zone (node ${process.version})`);
    out();
    out(`config   ${WEIGHTED}: upstream "${u.name}", every thread opens it with Balancer.fromZone(zone)`);
    for (const s of admin.servers) out(`  ${s.id}      ${s.address.padEnd(16)} weight=${s.weight} fail_timeout=${s.failTimeout / 1000}s   (a free port; the file says ${u.servers[gateways.findIndex((g) => g.name === s.id)]!.original})`);
    for (const [k, p] of ports.entries()) out(`  thread ${k + 1}  proxy on 127.0.0.1:${p}`);
    out(`         one port per thread: worker threads cannot share a listening socket; the client takes the threads in turn`);
    out(`         fail_timeout=30s (the file's default is 10s): the window outlasts each failover phase below`);
    if (speed !== 1) out(`speed    x${speed}: nginx's clock runs ${speed} times faster, so fail_timeout=30s lasts ${Math.round(FAIL_TIMEOUT / speed)}-${Math.round((FAIL_TIMEOUT + 1000) / speed)} ms`);
    out();
    out('   time  event  what');

    const sent: SentMessage[] = [];
    const sendOne = async (): Promise<{ session: number; server: string; thread: number }> => {
      const k = sent.length % n;
      const session = sessionOf.size + 1;
      const m = await clients[k]!.send();
      sent.push(m);
      // The thread's events come over its message port, the reply over TCP: wait until the session's
      // last event is in, so that the next session's events cannot be numbered before this one's.
      await waitFor(() => journal.sessions[session - 1]?.closed === true, 5000, `the events of session ${session}`);
      const s = journal.sessions[session - 1];
      const tries = s === undefined ? '' : s.tries.filter((t) => t.outcome !== 'connected').map((t) => `${t.server} ${t.outcome === 'ECONNREFUSED' ? 'refused' : t.outcome} -> `).join('');
      const gw = m.ok ? /accepted by (\S+)/.exec(m.response)?.[1] ?? '?' : `REJECTED: ${m.response}`;
      log('mail', `#${String(sent.length).padEnd(3)} thread ${k + 1}  ${tries}${gw}`);
      return { session, server: s?.server ?? '-', thread: k + 1 };
    };
    const sendMany = async (count: number): Promise<string[]> => {
      const order: string[] = [];
      for (let i = 0; i < count; i++) order.push((await sendOne()).server);
      return order;
    };
    const heading = (title: string): void => out(`── ${title}`);
    const victim = admin.servers.reduce((a, b) => (b.weight > a.weight ? b : a));
    const other = admin.servers.find((s) => s !== victim)!;
    const gwVictim = gateways.find((g) => g.name === victim.id)!;
    const plain = (): Balancer => new Balancer(options);

    // 1. One sequence.
    heading(`1. one zone, ${n} threads taking turns: ten sessions`);
    const from1 = sent.length;
    const zoneOrder = await sendMany(10);
    const byThread = Array.from({ length: n }, (_, k) => zoneOrder.filter((_, i) => (from1 + i) % n === k));
    const single = expectedOrder([plain()], 10);
    log('order', `${zoneOrder.join(' ')}   (one balancer's sequence: ${single.join(' ')})`);
    for (const [k, o] of byThread.entries()) log('order', `thread ${k + 1}: ${o.join(' ')}`);
    if (zoneOrder.join(' ') !== single.join(' ')) throw new Error(`the threads did not follow one SWRR sequence: ${zoneOrder.join(' ')}`);

    // 2. Failover.
    heading(`2. ${victim.id} stops: its connections are refused`);
    await gwVictim.stop();
    log('admin', `${victim.id} stopped listening (${victim.address})`);
    refused = [];
    await sendMany(2 * n);
    const zoneRefused = refused;
    log('result', `${zoneRefused.length} refused connect${zoneRefused.length === 1 ? '' : 's'} (thread ${zoneRefused.join(', ')}): the failure is recorded in the zone, every thread skips ${victim.id}`);
    if (zoneRefused.length !== 1) throw new Error(`expected one refused connect with the zone, got ${zoneRefused.length}`);
    await gwVictim.start();
    log('admin', `${victim.id} listening again; after its fail_timeout one session probes it`);
    const back = performance.now() + (FAIL_TIMEOUT + 1000) / speed + 10_000;
    for (;;) {
      const r = await sendOne();
      if (r.server === victim.id) break;
      if (performance.now() > back) throw new Error(`traffic did not return to ${victim.id}`);
      await new Promise((res) => setTimeout(res, 50));
    }

    // 3. Maintenance, told once.
    heading(`3. the main thread sets ${victim.id} down, then up: told once, seen by every thread`);
    log('admin', `balancer.update('${victim.id}', { down: true })   (main thread)`);
    admin.update(victim.id, { down: true });
    const downOrder = await sendMany(2 * n);
    if (downOrder.some((id) => id !== other.id)) throw new Error(`a thread used ${victim.id} while it was down: ${downOrder.join(' ')}`);
    log('admin', `balancer.update('${victim.id}', { down: false })   (main thread)`);
    admin.update(victim.id, { down: false });
    await sendMany(5);

    // 4. A Balancer per thread.
    heading(`4. for comparison: a Balancer per thread (nginx without zone), fresh state`);
    for (const w of workers) w.postMessage({ t: 'local' } satisfies ThreadCommand);
    await waitFor(() => switched.size === n, 5000, 'the threads to switch');
    const from4 = sent.length;
    const localOrder = await sendMany(10);
    const localExpected = expectedOrder(Array.from({ length: n }, plain), 10);
    log('order', `${localOrder.join(' ')}   (each thread its own ${single.slice(0, 5).join(' ')} ...)`);
    for (let k = 0; k < n; k++) log('order', `thread ${k + 1}: ${localOrder.filter((_, i) => (from4 + i) % n === k).join(' ')}`);
    if (localOrder.join(' ') !== localExpected.join(' ')) throw new Error(`per-thread balancers: expected ${localExpected.join(' ')}, got ${localOrder.join(' ')}`);
    await gwVictim.stop();
    log('admin', `${victim.id} stopped listening`);
    refused = [];
    await sendMany(2 * n);
    // Sorted: each thread's events come over its own message port, and messages on two ports have
    // no order between them (thread 2's may be read before thread 1's under load).
    const localRefused = [...refused].sort((a, b) => a - b);
    log('result', `${localRefused.length} refused connects (threads ${localRefused.join(', ')}): each thread had to fail ${victim.id} itself`);
    if (localRefused.join() !== Array.from({ length: n }, (_, k) => k + 1).join()) throw new Error(`expected one refused connect in each of the ${n} threads with a balancer per thread, got threads ${localRefused.join(', ')}`);

    // Stop the threads; the zone's connections must all be back.
    for (const w of workers) w.postMessage({ t: 'close' } satisfies ThreadCommand);
    await Promise.all(workers.map((w) => new Promise<void>((resolve) => w.once('exit', () => resolve()))));
    const connsAfter = admin.snapshot().servers.map((s) => s.conns);
    await stopAll();

    const verdict = journal.verify(sent);
    const ok = clean(verdict);
    out();
    out(`Summary: ${n} proxy threads, ${WEIGHTED} (${other.id} weight=${other.weight}, ${victim.id} weight=${victim.weight})`);
    const row = (a: string, b: string, c: string): void => out(`  ${a.padEnd(40)} ${b.padEnd(30)} ${c}`);
    row('', 'one zone', 'a Balancer per thread');
    row('ten sessions, threads in turn', zoneOrder.join(' '), localOrder.join(' '));
    const share = (o: string[]): string => `${other.id} ${o.filter((x) => x === other.id).length}/${o.length}, ${victim.id} ${o.filter((x) => x === victim.id).length}/${o.length}`;
    row('  shares', share(zoneOrder), share(localOrder));
    row(`${victim.id} stopped: refused connects`, `${zoneRefused.length} (thread ${zoneRefused.join(', ')})`, `${localRefused.length} (threads ${localRefused.join(', ')})`);
    row(`${victim.id} down, set in the main thread`, `every thread: ${downOrder.join(' ')}`, 'each thread must be told');
    row('conns once the threads exited', connsAfter.join(', '), '');
    out();
    out(`every message accepted exactly once, by the gateway the balancer chose: ${ok ? 'yes' : 'NO'} (${verdict.accepted} accepted, ${verdict.rejected} rejected to the client, ${verdict.lost.length} lost, ${verdict.duplicated.length} duplicated, ${verdict.misrouted.length} misrouted)`);
    out(`finished in ${((performance.now() - t0) / 1000).toFixed(1)} s; every thread, server and socket stopped`);
    if (!ok) throw new Error(`delivery check failed: ${JSON.stringify({ lost: verdict.lost, duplicated: verdict.duplicated, phantom: verdict.phantom, misrouted: verdict.misrouted, unmatched: verdict.unmatched })}`);
    if (connsAfter.some((c) => c !== 0)) throw new Error(`conns left in the zone: ${connsAfter.join(', ')}`);
    return {
      verdict,
      zone: { order: zoneOrder, byThread, refused: zoneRefused, downOrder },
      local: { order: localOrder, refused: localRefused },
      connsAfter,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
