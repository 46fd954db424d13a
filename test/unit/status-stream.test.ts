/**
 * The status page rendered in bounded pieces (src/status/: rows, pages and Prometheus text produced
 * a slice at a time, the Prometheus uniqueness check and the handler's reading spread over turns of
 * the event loop) prints the same bytes as before: SHA-256 digests of every format and option over
 * a fixed large fixture, recorded from the renderer that built each page whole (commit 187397a),
 * and the handler's streamed body equal to `formatStatus`. Then the bound itself: no turn of the
 * event loop reads more than a few pieces' worth of servers, also on a socket whose `drain` comes
 * in the same turn as the write (loopback).
 */

import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/clock';
import { formatStatus, statusHandler, type StatusOptions, type StatusServer, type StatusSnapshot } from '../../src/status';
import type { ServerState } from '../../src/server';

const STATES: ServerState[] = ['up', 'down', 'draining', 'unavail', 'checking', 'unhealthy'];
const ODD_NAMES = ['a"b', 'back\\slash', 'line\nfeed', '=formula', '+1', 'x,y', '<tag>&', "it's"];

/** A fixed fixture: 3 balancers, 2,600 + 1,234 + 3 servers, checked and not, backups, odd texts. */
function fixture(): StatusSnapshot[] {
  const rng = seededRandom(18);
  const int = (n: number) => Math.floor(rng() * n);
  const server = (b: number, i: number, checked: boolean): StatusServer => {
    const kind = int(10);
    const address = kind === 0 ? `10.${b}.${i >> 8}.${i & 255}` : kind === 1 ? `[fd00::${i.toString(16)}]:8080` : kind === 2 ? `host-${i}.example:25` : `10.${b}.${i >> 8}.${i & 255}:25`;
    const id = int(40) === 0 ? ODD_NAMES[int(ODD_NAMES.length)]! + i : address + (int(3) === 0 ? `#${i}` : '');
    const down = int(12) === 0;
    const check = checked
      ? { down: int(4) === 0, rise: int(5), fall: int(5), type: ['tcp', 'http', 'smtp', 'tls'][int(4)]!, port: int(3) === 0 ? 8080 : 0, passed: int(1000), failed: int(100) }
      : null;
    return {
      id, address, down, state: down ? 'down' : STATES[int(STATES.length)]!, conns: int(50), fails: int(3), backup: int(7) === 0,
      weight: 1 + int(10), effectiveWeight: 1 + int(10), maxFails: int(4), failTimeout: 1000 * int(30), maxConns: int(100),
      selected: int(100000), failures: int(1000), check,
      ...(int(5) === 0 ? { sid: `sid${i}`, route: int(2) === 0 ? `r${i}` : '' } : {}),
    } as StatusServer;
  };
  return [
    { name: 'smtp', servers: Array.from({ length: 2600 }, (_, i) => server(0, i, true)) },
    { name: 'web "edge"', servers: Array.from({ length: 1234 }, (_, i) => server(1, i, false)) },
    { name: 'tiny', servers: Array.from({ length: 3 }, (_, i) => server(2, i, i !== 1)) },
  ];
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

/** Every format and option the pages take, by name. */
const CASES: [string, 'json' | 'csv' | 'html' | 'prometheus', StatusOptions][] = [];
for (const status of [undefined, 'up', 'down'] as const) {
  for (const servers of [undefined, 'all', 'checked'] as const) {
    for (const layout of ['module', 'tengine'] as const) CASES.push([`json ${layout} ${status} ${servers}`, 'json', { status, servers, layout, generation: 7 }]);
    CASES.push([`csv ${status} ${servers}`, 'csv', { status, servers }]);
    CASES.push([`html ${status} ${servers}`, 'html', { status, servers, generation: 3 }]);
  }
}
CASES.push(['prometheus', 'prometheus', {}], ['prometheus prefix', 'prometheus', { prefix: 'lb_' }]);

/** Digests recorded from the renderer that built each page whole (before the pages were produced in bounded pieces). */
const RECORDED: Record<string, string> = {
  "csv down all": 'cd9d6c3c1b5a9681',
  "csv down checked": '14097616aa57b248',
  "csv down undefined": '14097616aa57b248',
  "csv undefined all": '8dfd0e45bc1bb9c8',
  "csv undefined checked": '941f6ee3d40f8b7f',
  "csv undefined undefined": '941f6ee3d40f8b7f',
  "csv up all": '5cd7301239a25a78',
  "csv up checked": '30d499a83335c259',
  "csv up undefined": '30d499a83335c259',
  "html down all": 'db0027ea08ec8085',
  "html down checked": '835a20f16460e842',
  "html down undefined": '835a20f16460e842',
  "html undefined all": '03ae74fe60f81687',
  "html undefined checked": '047de988fbf5f30a',
  "html undefined undefined": '047de988fbf5f30a',
  "html up all": 'df0aff3f5ffdec30',
  "html up checked": '60f595723c555c29',
  "html up undefined": '60f595723c555c29',
  "json module down all": '3c413277ccf57f28',
  "json module down checked": '25f62e37995161ab',
  "json module down undefined": '25f62e37995161ab',
  "json module undefined all": 'ed7b038c50ec2253',
  "json module undefined checked": 'ed39c8747bd3779f',
  "json module undefined undefined": 'ed39c8747bd3779f',
  "json module up all": 'c5b85ffba892026e',
  "json module up checked": 'a9aa05687bff02b2',
  "json module up undefined": 'a9aa05687bff02b2',
  "json tengine down all": '5c1c32886d93ce06',
  "json tengine down checked": '514223aaf1c420dc',
  "json tengine down undefined": '514223aaf1c420dc',
  "json tengine undefined all": '5e6b7cffdacf1e5c',
  "json tengine undefined checked": 'eebffb8ec4ba59e7',
  "json tengine undefined undefined": 'eebffb8ec4ba59e7',
  "json tengine up all": '5669e9b86a876b41',
  "json tengine up checked": 'dba0e11518316a3d',
  "json tengine up undefined": 'dba0e11518316a3d',
  "prometheus prefix": '1656c5acdd14cf8c',
  "prometheus": '8e9c2d269eaa6ad6',
};

describe('status pages in bounded pieces: the same bytes', () => {
  const snapshots = fixture();
  it.each(CASES)('%s', (name, format, opts) => {
    const digest = sha(formatStatus(snapshots, format, opts));
    if (process.env.RECORD_STATUS_DIGESTS) console.log(`  ${JSON.stringify(name)}: '${digest}',`);
    else expect(digest).toBe(RECORDED[name]);
  });
});

/**
 * A source of `n` servers read in slices, as a Balancer is, whose servers count the reads of their
 * `id` and `address` (what rows, labels and the uniqueness check read).
 */
function countingSource(n: number) {
  const counter = { reads: 0 };
  const plain = fixture()[0]!.servers.slice(0, 1);
  const make = (i: number): StatusServer => {
    const s = { ...plain[0]!, backup: i % 9 === 0, check: { ...plain[0]!.check!, down: i % 5 === 0 } } as Record<string, unknown>;
    Object.defineProperty(s, 'id', { get: () => (counter.reads++, `server-${i}`), enumerable: true });
    Object.defineProperty(s, 'address', { get: () => (counter.reads++, `10.9.${i >> 8}.${i & 255}:25`), enumerable: true });
    return s as unknown as StatusServer;
  };
  const all = Array.from({ length: n }, (_, i) => make(i));
  return {
    counter,
    source: {
      name: 'counted',
      servers: all,
      snapshot: () => ({ name: 'counted', servers: all }),
      snapshotServers: (from: number, to: number) => all.slice(from, to),
    },
  };
}

/** One GET through the handler with a fake response; resolves with the body and the most reads seen in one turn of the event loop. */
function streamed(
  handler: ReturnType<typeof statusHandler>,
  target: string,
  counter: { reads: number },
  fastDrain = false,
): Promise<{ code: number; body: string; maxReads: number; turns: number }> {
  return new Promise((resolve) => {
    let code = 0;
    let body = '';
    let maxReads = 0;
    let turns = 0;
    let last = counter.reads;
    let done = false;
    const sample = (): void => {
      maxReads = Math.max(maxReads, counter.reads - last);
      last = counter.reads;
      turns++;
      if (!done) setImmediate(sample);
      else resolve({ code, body, maxReads, turns });
    };
    const res = {
      destroyed: false,
      headersSent: false,
      writeHead(status: number) {
        code = status;
        this.headersSent = true;
      },
      write(chunk: string) {
        body += chunk;
        return !fastDrain; // a full buffer, drained at once (below)
      },
      end(chunk?: string) {
        if (chunk !== undefined) body += chunk;
        done = true;
      },
      // loopback: the write completes at once and 'drain' comes in the same turn (process.nextTick)
      once(event: string, listener: () => void) {
        if (fastDrain && event === 'drain') process.nextTick(listener);
      },
    };
    setImmediate(sample);
    handler({ method: 'GET', url: target } as IncomingMessage, res as unknown as ServerResponse);
  });
}

describe('the handler holds the event loop for one piece at a time', () => {
  const N = 12_000;
  it.each(['prometheus', 'json', 'csv', 'html', 'json&status=down'])('%s: at most 3 pieces of servers read per turn, and the page of formatStatus', async (format) => {
    const { counter, source } = countingSource(N);
    const expected = formatStatus(source.snapshot(), format.split('&')[0] as 'json', format.includes('status=down') ? { status: 'down' } : {});
    counter.reads = 0;
    const answer = await streamed(statusHandler([source]), `/?format=${format}`, counter);
    expect(answer.code).toBe(200);
    expect(answer.body).toBe(expected);
    expect(counter.reads).toBeGreaterThanOrEqual(format.includes('status=down') ? N / 5 : N); // every row's server was read ...
    expect(answer.maxReads).toBeLessThanOrEqual(3 * 1000); // ... a bounded number of them per turn
    expect(answer.turns).toBeGreaterThan(N / 1000);
  });

  it('a socket whose drain comes in the same turn (loopback) still gets one piece per turn', async () => {
    const { counter, source } = countingSource(N);
    const expected = formatStatus(source.snapshot(), 'csv');
    counter.reads = 0;
    const answer = await streamed(statusHandler([source]), '/?format=csv', counter, true);
    expect(answer.body).toBe(expected);
    expect(answer.maxReads).toBeLessThanOrEqual(3 * 1000);
  });

  it('a duplicate series found while reading is the fixed 500', async () => {
    const { counter, source } = countingSource(3_000);
    const servers = source.servers.slice();
    servers[2_500] = servers[10]!;
    const answer = await streamed(statusHandler([{ ...source, servers, snapshotServers: (a: number, b: number) => servers.slice(a, b) }]), '/?format=prometheus', counter);
    expect(answer.code).toBe(500);
    expect(answer.body).toBe('status unavailable\n');
  });
});
