/**
 * HTTP load through undici dispatchers: `npx tsup && npx tsx bench/undici.ts` (or
 * `npm run bench:undici`, which builds first); UB_SRC=1 runs the sources instead of dist/.
 *
 * Four node:http backends on 127.0.0.1, all in one child process (so every subject is served by the
 * same event loop, and the client's loop is not shared with the servers): A, B and C answer 200
 * with a 2-byte body; F answers every request 502 at once (a live process whose application is
 * broken). In this process, the same client drives each subject in turn, --concurrency requests
 * in flight (default 50) for --seconds (default 10) after a 1 s warm-up, with undici's `request()`
 * reading each body in full; --rounds times (default 3), the order rotated each round, each subject
 * with a fresh dispatcher (and balancer) every round:
 *
 * - BalancedDispatcher over A, B, C, F with `nextUpstream: ['error', 'timeout', 'http_502']`
 *   (nginx's way: a 502 is retried on the next server and counts a failure; F then sits out
 *   fail_timeout, 10 s, and is probed by one request after it);
 * - BalancedDispatcher with the default policy (`error timeout`: a 502 is passed to the client, as
 *   undici's BalancedPool does), the same routing as BalancedPool, for the adapter's cost alone;
 * - undici's BalancedPool over the same four origins;
 * - a plain undici Pool to A alone (the floor: no balancing, no failing server).
 *
 * Prints a markdown table: the median over the rounds of req/s, latency p50 / p99 (ms) and client
 * CPU time per request; over all rounds the requests, the 2xx, non-2xx and errors the client saw, and
 * the requests each backend received. Flags: --seconds N, --concurrency N, --rounds N, --json.
 * The backends' child process runs this file with --serve.
 */

import { fork } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BalancedPool, type Dispatcher, Pool, request } from 'undici';

// The built package, as the other benches (`npx tsup` first), or the sources with UB_SRC=1. (Under
// tsx the sources pay for esbuild's keepNames: a `__name()` call on every closure made per request.)
type Core = typeof import('../src/index');
type Adapter = typeof import('../src/undici/index');
const { Balancer }: Core = await import(process.env.UB_SRC ? '../src/index' : '../dist/index.js');
const { BalancedDispatcher }: Adapter = await import(process.env.UB_SRC ? '../src/undici/index' : '../dist/undici.js');

const NAMES = ['A', 'B', 'C', 'F'] as const;

// ---------------------------------------------------------------------------------------------------
// The child: the four backends, counting the requests each receives.

if (process.argv.includes('--serve')) {
  const hits: Record<string, number> = { A: 0, B: 0, C: 0, F: 0 };
  const ports: Record<string, number> = {};
  for (const name of NAMES) {
    const server = http.createServer((req, res) => {
      hits[name]!++;
      req.resume();
      res.setHeader('x-id', name);
      if (name === 'F') res.statusCode = 502;
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    ports[name] = (server.address() as AddressInfo).port;
  }
  process.on('message', (m) => {
    if (m === 'hits') {
      process.send!({ hits: { ...hits } });
      for (const name of NAMES) hits[name] = 0;
    }
  });
  process.send!({ ports });
} else {
  await main();
}

// ---------------------------------------------------------------------------------------------------
// The client.

interface Row {
  subject: string;
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  non2xx: number;
  errors: number;
  /** Client-process CPU time per request, µs. */
  cpu: number;
  hits: Record<string, number>;
  note: string;
  /** req/s of each round. */
  rpsAll: number[];
}

type Run = Awaited<ReturnType<typeof load>> & { hits: Record<string, number>; note: string };

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      concurrency: { type: 'string', default: '50' },
      rounds: { type: 'string', default: '3' },
      json: { type: 'boolean', default: false },
    },
  });
  const seconds = Number(values.seconds);
  const concurrency = Number(values.concurrency);
  const rounds = Number(values.rounds);
  if (!(seconds > 0) || !(Number.isInteger(concurrency) && concurrency > 0) || !(Number.isInteger(rounds) && rounds > 0)) {
    process.stderr.write('undici bench: --seconds expects a positive number, --concurrency and --rounds positive integers\n');
    process.exit(1);
  }

  const child = fork(fileURLToPath(import.meta.url), ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = () => new Promise<Record<string, unknown>>((resolve) => child.once('message', (m) => resolve(m as Record<string, unknown>)));
  const { ports } = (await next()) as { ports: Record<string, number> };
  const address = (name: string) => `127.0.0.1:${ports[name]}`;
  const hits = async () => {
    const reply = next();
    child.send('hits');
    return ((await reply) as { hits: Record<string, number> }).hits;
  };

  const subjects: { subject: string; make: () => { d: Dispatcher; note: () => string } }[] = [
    {
      subject: 'BalancedDispatcher, `error timeout http_502`',
      make: () => {
        const b = new Balancer({ servers: NAMES.map((id) => ({ id, address: address(id) })) });
        const d = new BalancedDispatcher(b, { nextUpstream: ['error', 'timeout', 'http_502'] });
        return { d, note: () => String(b.snapshot().servers[3]!.failures) };
      },
    },
    {
      subject: 'BalancedDispatcher, default `error timeout` (502 passed)',
      make: () => {
        const b = new Balancer({ servers: NAMES.map((id) => ({ id, address: address(id) })) });
        return { d: new BalancedDispatcher(b), note: () => '' };
      },
    },
    {
      subject: "undici's BalancedPool (4 origins)",
      make: () => ({ d: new BalancedPool(NAMES.map((id) => `http://${address(id)}`)), note: () => '' }),
    },
    {
      subject: 'plain undici Pool to A',
      make: () => ({ d: new Pool(`http://${address('A')}`), note: () => '' }),
    },
  ];

  const runs: Run[][] = subjects.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < subjects.length; k++) {
      const i = (k + round) % subjects.length;
      const { d, note } = subjects[i]!.make();
      await load(d, 1, concurrency); // warm-up: connections, JIT, F's first failures
      await hits();
      const r = await load(d, seconds, concurrency);
      runs[i]!.push({ ...r, hits: await hits(), note: note() });
      await d.close();
    }
  }
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const rows: Row[] = subjects.map(({ subject }, i) => {
    const rs = runs[i]!;
    return {
      subject,
      requests: sum(rs.map((r) => r.requests)),
      rps: median(rs.map((r) => r.rps)),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      cpu: median(rs.map((r) => r.cpu)),
      ok: sum(rs.map((r) => r.ok)),
      non2xx: sum(rs.map((r) => r.non2xx)),
      errors: sum(rs.map((r) => r.errors)),
      hits: Object.fromEntries(NAMES.map((n) => [n, sum(rs.map((r) => r.hits[n]!))])),
      note: rs.some((r) => r.note !== '') ? `failures counted on F: ${rs.map((r) => r.note).join(', ')}` : '',
      rpsAll: rs.map((r) => Math.round(r.rps)),
    };
  });
  child.kill();

  if (values.json) {
    process.stdout.write(`${JSON.stringify({ seconds, concurrency, rounds, node: process.version, rows }, null, 2)}\n`);
    return;
  }
  const fmt = (n: number, digits = 2) => n.toFixed(digits);
  const lines = [
    `${rounds} rounds of ${seconds} s per subject (after a 1 s warm-up each), ${concurrency} requests in flight, Node ${process.version}; backends A, B, C (200) and F (502) in one child process; medians of the rounds, counts summed`,
    '',
    '| subject | requests | req/s (each round) | p50 ms | p99 ms | client CPU µs/req | 2xx | non-2xx | errors | received A / B / C / F | |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.subject} | ${r.requests} | ${Math.round(r.rps)} (${r.rpsAll.join(', ')}) | ${fmt(r.p50)} | ${fmt(r.p99)} | ${Math.round(r.cpu)} | ${r.ok} | ${r.non2xx} | ${r.errors} | ${NAMES.map((n) => r.hits[n]).join(' / ')} | ${r.note} |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** `concurrency` loops of `request()` for `seconds`: throughput, latency percentiles, outcomes. */
async function load(d: Dispatcher, seconds: number, concurrency: number) {
  const latencies: number[] = [];
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const end = started + seconds * 1000;
  const loop = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        const r = await request('http://backend/', { dispatcher: d });
        await r.body.text();
        if (r.statusCode >= 200 && r.statusCode < 300) ok++;
        else non2xx++;
      } catch {
        errors++;
      }
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const elapsed = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu0);
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  const cpu = (used.user + used.system) / latencies.length;
  return { requests: latencies.length, rps: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), ok, non2xx, errors, cpu };
}
