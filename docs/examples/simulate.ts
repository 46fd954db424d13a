/**
 * `npm run demo -- --simulate`: the demo's two configs replayed on a manual clock, with no sockets.
 *
 * 1. failover.conf: the primary refuses connections from 793.5 s until it listens again at
 *    803.173 s; one SMTP session every 0.2 s from 793.717 s, as in the nginx-verified stream run of
 *    docs/nginx-semantics.md §4.3 (three failures, probes at 798 and 802, back on the probe at 806).
 *    The clock is quantised to whole seconds like nginx's `ngx_time()`. The file's `check` line is
 *    honoured too: its results are fed every `interval` (the probe is simulated: it fails while the
 *    server refuses), which shows that with interval=5000 fall=5 this 10-second outage is handled by
 *    the passive window alone.
 * 2. weighted.conf: ten selections, `B B A B B B B A B B`, then B `down` for maintenance and back.
 *
 * Each session runs exactly as the reference proxy runs it: an attempt, `next()`, `fail()` on a
 * refused connect, `connected()` and `release()` on success.
 */

import { Balancer, ManualClock, wholeSeconds, type BalancerOptions, type Server } from '../../src/index';
import { readExampleUpstream, type ExampleUpstream } from './upstream-file';

export interface SimulationOptions {
  failover: string;
  /** The weighted config; omitted for a custom config. */
  weighted: string | undefined;
  upstream: string | undefined;
  write: (line: string) => void;
}

/** The file's options with servers named A, B, ... (addresses as written) and a manual whole-second clock. */
function lettered(u: ExampleUpstream, clock: ManualClock): BalancerOptions {
  return {
    ...u.options,
    servers: u.options.servers.map((s, i) => ({ ...s, id: String.fromCharCode(65 + i) })),
    clock: wholeSeconds(clock.now),
  };
}

const sec = (ms: number): string => (ms / 1000).toFixed(3).padStart(8);

/**
 * Runs the simulation and writes its timeline.
 *
 * @example
 * runSimulation({ failover: 'docs/examples/failover.conf', weighted: 'docs/examples/weighted.conf', upstream: undefined, write: console.log });
 */
export function runSimulation(opts: SimulationOptions): void {
  const w = opts.write;
  w('upstream-balancer demo, simulated: no sockets, a manual clock in whole seconds (nginx ngx_time())');
  w('');
  failover(opts.failover, opts.upstream, w);
  if (opts.weighted !== undefined) {
    w('');
    weighted(opts.weighted, w);
  }
}

function failover(file: string, name: string | undefined, w: (line: string) => void): void {
  const u = readExampleUpstream(file, name);
  const clock = new ManualClock(780_000);
  const b = new Balancer(lettered(u, clock));
  const victim = b.servers.find((s) => !s.backup && !s.down);
  if (victim === undefined) throw new Error(`upstream "${u.name}" in ${file} has no primary server that is not down`);
  const check = u.options.check;
  const interval = check?.interval ?? 30_000;
  const downFrom = 793_500;
  const upAt = 803_173;
  const refusing = (s: Server, t: number): boolean => s === victim && t >= downFrom && t < upAt;

  w(`1. ${file}: ${u.context} upstream "${u.name}"`);
  for (const s of b.servers) w(`     ${s.id}  ${s.address.padEnd(22)} ${s.backup ? 'backup' : 'primary'}${s.maxFails !== 1 ? ` max_fails=${s.maxFails}` : ''}${s.failTimeout !== 10_000 ? ` fail_timeout=${s.failTimeout / 1000}s` : ''}${s.weight !== 1 ? ` weight=${s.weight}` : ''}${s.down ? ' down' : ''}`);
  w(`   ${victim.id} refuses connections from ${sec(downFrom).trim()} s and listens again at ${sec(upAt).trim()} s; one session every 0.2 s.`);
  if (check !== undefined) {
    w(`   check interval=${interval} rise=${check.rise ?? 2} fall=${check.fall ?? 5}: results fed every ${interval / 1000} s from ${sec(780_000).trim()} s (servers start down).`);
  }
  w('');
  w('             time  what');

  const notes: string[] = [];
  let tierFrom: string | null = null;
  let tierTo: string | null = null;
  b.on('state', (s, from, to, cause) => notes.push(`${s.id} ${from} -> ${to} (${cause})`));
  b.on('tier', (from, to) => {
    tierFrom ??= from;
    tierTo = to;
  });
  b.on('exhausted', (reason) => notes.push(`no server left (${reason}): 502`));
  const flush = (): string[] => {
    const all = [...notes];
    notes.length = 0;
    if (tierFrom !== null && tierFrom !== tierTo) all.push(`tier ${tierFrom} -> ${tierTo}`);
    tierFrom = tierTo = null;
    return all;
  };

  // Collapses runs of identical, uneventful sessions into one line.
  let run: { first: number; last: number; n0: number; n1: number; text: string } | null = null;
  const endRun = (): void => {
    if (run === null) return;
    const count = run.n1 - run.n0 + 1;
    const label = count === 1 ? `#${run.n0}` : `#${run.n0}-#${run.n1}`;
    const time = count === 1 ? sec(run.first) : `${sec(run.first).trim()}-${sec(run.last).trim()}`;
    w(`  ${time.padStart(15)}  ${label.padEnd(9)} ${run.text}${count > 1 ? `  (${count} sessions)` : ''}`);
    run = null;
  };
  const line = (t: number, label: string, text: string, events: string[]): void => {
    endRun();
    w(`  ${sec(t).padStart(15)}  ${label.padEnd(9)} ${text}`);
    for (const e of events) w(`  ${''.padStart(15)}  ${''.padEnd(9)}   ${e}`);
  };

  const steps: { t: number; kind: 'check' | 'session' | 'listen' }[] = [];
  for (let t = 780_000; t <= 808_000; t += interval) if (check !== undefined) steps.push({ t, kind: 'check' });
  for (let t = 793_717; t <= 807_717; t += 200) steps.push({ t, kind: 'session' });
  steps.push({ t: upAt, kind: 'listen' });
  steps.sort((x, y) => x.t - y.t || (x.kind === 'check' ? -1 : 1));

  let n = 0;
  for (const step of steps) {
    clock.set(step.t);
    if (step.kind === 'listen') {
      line(step.t, 'listen', `${victim.id} listens again (still excluded until its window ends)`, flush());
      continue;
    }
    if (step.kind === 'check') {
      const results: string[] = [];
      for (const s of b.servers) {
        if (s.down) continue;
        const ok = !refusing(s, step.t);
        b.reportCheck(s.id, ok, ok ? 'ehlo 250' : 'refused');
        const c = b.snapshot().servers.find((x) => x.id === s.id)!.check!;
        results.push(`${s.id} ${ok ? 'ok' : 'FAIL'} (${ok ? `rise ${c.rise}` : `fall ${c.fall}`})`);
      }
      line(step.t, 'check', results.join(', '), flush());
      continue;
    }
    n++;
    const a = b.attempt();
    const parts: string[] = [];
    for (let s = a.next(); s !== undefined; s = a.next()) {
      if (refusing(s, step.t)) {
        a.fail();
        parts.push(`${s.id} refused (fails ${s.fails})`);
        continue;
      }
      a.connected();
      a.release();
      parts.push(s.id);
      break;
    }
    const text = parts.length === 0 ? 'no server: 502' : parts.join(' -> ');
    const events = flush();
    if (events.length === 0 && parts.length === 1 && run !== null && run.text === text) {
      run.last = step.t;
      run.n1 = n;
      continue;
    }
    if (events.length === 0 && parts.length === 1) {
      endRun();
      run = { first: step.t, last: step.t, n0: n, n1: n, text };
      continue;
    }
    line(step.t, `#${n}`, text, events);
  }
  endRun();
  w('');
  w(`   nginx (§4.3, verified): P,B x3 in seconds 793-794, then B; probes P,B at 798 and 802; back on the probe at 806.`);
}

function weighted(file: string, w: (line: string) => void): void {
  const u = readExampleUpstream(file);
  const clock = new ManualClock(1_000_000);
  const b = new Balancer(lettered(u, clock));
  const events: string[] = [];
  b.on('state', (s, from, to, cause) => events.push(`${s.id} ${from} -> ${to} (${cause})`));
  const picks = (count: number): string[] => {
    const got: string[] = [];
    for (let i = 0; i < count; i++) {
      clock.advance(200);
      const a = b.attempt();
      const s = a.next();
      if (s === undefined) {
        got.push('-');
        continue;
      }
      a.connected();
      a.release();
      got.push(s.id);
    }
    return got;
  };
  const shares = (ids: string[]): string => b.servers.map((s) => `${s.id} ${ids.filter((x) => x === s.id).length}/${ids.length}`).join(', ');
  w(`2. ${file}: ${u.context} upstream "${u.name}": ${b.servers.map((s) => `${s.id} ${s.address} weight=${s.weight}`).join(', ')}`);
  const first = picks(10);
  w(`   ${'10 sessions:'.padEnd(20)} ${first.join(' ')}   (${shares(first)}: the weight-4 server gets 80%)`);
  const down = b.servers.find((s) => s.weight === Math.max(...b.servers.map((x) => x.weight)))!;
  b.update(down.id, { down: true });
  const during = picks(5);
  w(`   ${`update(${down.id}, down):`.padEnd(20)} ${during.join(' ')}   ${events.splice(0).join('; ')}`);
  b.update(down.id, { down: false });
  const after = picks(10);
  w(`   ${`update(${down.id}, up):`.padEnd(20)} ${after.join(' ')}   ${events.splice(0).join('; ')}`);
}
