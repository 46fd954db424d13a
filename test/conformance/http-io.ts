/**
 * What the http recorders (`http/record.ts`, `sticky/record.ts`) share around nginx's http proxy:
 * request paths that name the request (`/n<n>`), the parts of a raw HTTP/1.1 exchange (a request
 * head as a backend reads it, one request through nginx read until nginx closes, the response
 * head), the config scaffolding of one scratch-prefix nginx proxying `location /` to
 * `upstream u`, canonical addresses, and the reading of one request's tries from its access log
 * line, cross-checked with the backends and the client. Then what both print: `--check`'s diffs.
 *
 * Sockets are registered with `nginx-process.ts`, so all are closed on exit. Cost: O(bytes) per
 * request; the rest is pure.
 */

import net from 'node:net';
import { mainContext, seriesOf, track, type NginxBinary } from './nginx-process';
import { TimingError } from './recorder-io';

// ------------------------------------------------------------------------------------------------
// Requests, canonical addresses

/** The path of request `n` (a query string may follow), and back. */
export const requestPath = (n: number): string => `/n${n}`;
export function pathNumber(uri: string): number {
  const m = /^\/n(\d+)(\?|$)/.exec(uri);
  if (!m) throw new Error(`unexpected request uri ${JSON.stringify(uri)}`);
  return Number(m[1]);
}

/** Upstream name; `$upstream_addr` shows it when no server was eligible. */
export const UPSTREAM = 'u';
/** Canonical addresses written into vectors: server i is 127.0.0.1:(20001 + i). */
export const CANONICAL_PORT = (i: number): number => 20001 + i;
export const canonical = (i: number): string => `127.0.0.1:${CANONICAL_PORT(i)}`;

// ------------------------------------------------------------------------------------------------
// Raw HTTP/1.1

/** A request head as a backend read it: the request target, a header by (lowercase) name, what followed the head. */
export interface RequestHead {
  path: string;
  header(name: string): string | null;
  body: string;
}

/** The head of the request in `data` once it has arrived whole (up to the blank line), else null. */
export function requestHead(data: string): RequestHead | null {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = data.slice(0, end).split('\r\n');
  return {
    path: lines[0]!.split(' ')[1] ?? '',
    header(name) {
      const line = lines.slice(1).find((l) => l.toLowerCase().startsWith(`${name}:`));
      return line === undefined ? null : line.slice(name.length + 1).trim();
    },
    body: data.slice(end + 4),
  };
}

/**
 * Reads `socket` (latin1) until `whole(data)` finds a whole request in what arrived, then hands
 * that to `handle`, once; bytes after it are ignored (every response closes the connection).
 */
export function onWholeRequest<R>(socket: net.Socket, whole: (data: string) => R | null, handle: (request: R) => void): void {
  let data = '';
  let done = false;
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    if (done) return;
    data += chunk;
    const request = whole(data);
    if (request === null) return;
    done = true;
    handle(request);
  });
}

/**
 * Sends `request` (the whole request text, latin1) to nginx on 127.0.0.1:`port` and resolves with
 * everything nginx sent once it closes; rejects after `timeoutMs` (`label` names the request).
 * `onHead` is called when the response head has arrived.
 */
export function rawHttpExchange(port: number, label: string, request: string, timeoutMs: number, onHead?: () => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = track(net.connect({ port, host: '127.0.0.1' }));
    let data = '';
    let settled = false;
    let headSeen = false;
    const timer = setTimeout(() => {
      settled = true;
      socket.destroy();
      reject(new Error(`${label}: no complete answer through nginx on port ${port} within ${timeoutMs} ms (got ${JSON.stringify(data.slice(0, 200))})`));
    }, timeoutMs);
    socket.setEncoding('latin1');
    socket.on('connect', () => socket.write(request, 'latin1'));
    socket.on('data', (chunk: string) => {
      data += chunk;
      if (!headSeen && data.includes('\r\n\r\n')) {
        headSeen = true;
        onHead?.();
      }
    });
    socket.on('close', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(data);
    });
  });
}

/** A response as read: the status line's code (null: none), each header as [lowercase name, text after the colon], the body. */
export interface ResponseHead {
  status: number | null;
  headers: Array<[string, string]>;
  body: string;
}

/** Splits what nginx sent; null when it closed before a whole head. */
export function responseHead(data: string): ResponseHead | null {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = data.slice(0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!);
  const headers: Array<[string, string]> = [];
  for (const l of lines.slice(1)) {
    const colon = l.indexOf(':');
    if (colon > 0) headers.push([l.slice(0, colon).toLowerCase(), l.slice(colon + 1)]);
  }
  return { status: m ? Number(m[1]) : null, headers, body: data.slice(end + 4) };
}

// ------------------------------------------------------------------------------------------------
// nginx config

export interface HttpConfParts {
  /** The recorder's path, for the config's first comment line. */
  recorder: string;
  scenario: string;
  binary: NginxBinary;
  /** The scratch prefix: logs and temp paths. */
  dir: string;
  /** The access log's `log_format rec` fields, `|`-separated. */
  logFormat: string;
  /** The `upstream u { ... }` block as run. */
  upstream: string;
  /** The directives of `location / { }`, on one line. */
  proxy: string;
  listenPort: number;
}

/** The whole config of one recording: one worker on a scratch prefix, `listen 127.0.0.1:port`, `location /` proxied. */
export function httpNginxConf(c: HttpConfParts): string {
  const { dir } = c;
  return `# written by ${c.recorder} for scenario ${c.scenario} (nginx ${c.binary.version})
${mainContext(c.binary, dir, 64)}http {
    log_format rec '${c.logFormat}';
    access_log ${dir}/access.log rec;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    ${c.upstream.replace(/\n/g, '\n    ')}
    server {
        listen 127.0.0.1:${c.listenPort};
        location / { ${c.proxy} }
    }
}
`;
}

// ------------------------------------------------------------------------------------------------
// Reading one request

/** The fields of an access log line both recorders read. */
export interface HttpLogEntry {
  status: number;
  /** `$upstream_addr`, split. */
  addrs: string[];
  /** `$upstream_status`, split. */
  upstreamStatus: string[];
  /** nginx time at the end of the request, and at its start ($msec - $request_time), ms. */
  endMs: number;
  startMs: number;
  line: string;
}

/** The tries of one request, as its vector step records them. */
export interface Tries<A> {
  tried: string[];
  answers: Array<A | 'refused'>;
  upstreamStatus: number[];
  nolive: boolean;
}

/**
 * Request `n`'s tries from its log line: each address mapped to its server's id, what the server
 * did from `answerOf` (undefined: it has no record, so the connect was refused), and whether nginx
 * then found no live upstream; cross-checked: every backend that received the request was logged,
 * the client's status is the logged one, and a response the client got came from the last server
 * tried. `bad` throws with the reason.
 */
export function readTries<A>(
  n: number,
  e: HttpLogEntry,
  client: { status: number | null; from: string | null },
  byAddress: ReadonlyMap<string, string>,
  backends: ReadonlyMap<string, { received: ReadonlyArray<{ n: number; answer: A }> }>,
  bad: (why: string) => never,
): Tries<A> {
  const tries: Tries<A> = { tried: [], answers: [], upstreamStatus: [], nolive: false };
  if (!(e.addrs.length === 1 && e.addrs[0] === '-')) {
    e.addrs.forEach((addr, i) => {
      if (addr === UPSTREAM && i === e.addrs.length - 1) {
        tries.nolive = true;
        if (e.upstreamStatus[i] !== '502') bad(`"no live upstreams" logged with status ${e.upstreamStatus[i]}`);
        return;
      }
      const id = byAddress.get(addr) ?? bad(`unknown upstream address ${addr}`);
      tries.tried.push(id);
      tries.answers.push(backends.get(id)!.received.find((r) => r.n === n)?.answer ?? 'refused');
      tries.upstreamStatus.push(Number(e.upstreamStatus[i]));
    });
  }
  for (const [id, b] of backends) {
    if (b.received.some((r) => r.n === n) && !tries.tried.includes(id)) bad(`${id} received the request but nginx did not log it`);
  }
  if (client.status !== e.status) bad(`the client got status ${client.status}, nginx logged ${e.status}`);
  if (client.from !== null && (tries.nolive || client.from !== tries.tried[tries.tried.length - 1])) bad(`the client got ${client.from}'s response, not the last server's`);
  return tries;
}

/**
 * Throws a TimingError when the requests (their log entries) spanned a whole `fail_timeout` of
 * nginx's clock: a passive window could have ended during the scenario, and the replay has no
 * whole-second timeline. `failTimeouts` in seconds (nginx's default 10 where unset).
 */
export function checkSpan(what: string, failTimeouts: ReadonlyArray<number | undefined>, entries: readonly HttpLogEntry[]): void {
  if (entries.length === 0) return;
  const window = Math.min(...failTimeouts.map((s) => s ?? 10));
  const span = Math.floor(Math.max(...entries.map((e) => e.endMs)) / 1000) - Math.floor(Math.min(...entries.map((e) => e.startMs)) / 1000);
  if (span >= window) throw new TimingError(`${what}: the requests spanned ${span} s of nginx time, not less than fail_timeout=${window}s`);
}

// ------------------------------------------------------------------------------------------------
// --check's diffs

/** The head fields named in `keys` that differ, committed then recorded. */
export function headDiff<H>(keys: ReadonlyArray<keyof H & string>, expected: H, actual: H): string[] {
  const out: string[] = [];
  for (const key of keys) {
    const a = JSON.stringify(expected[key]);
    const b = JSON.stringify(actual[key]);
    if (a !== b) out.push(`  ${key}: committed ${a}`, `  ${key}: recorded  ${b}`);
  }
  return out;
}

/** Line by line, the committed steps (`-`) and the recorded ones (`+`) around the equal ones (the caller found a difference). */
export function stepLinesDiff(version: string, expected: readonly string[], actual: readonly string[]): string[] {
  const out = [`  nginx ${version} steps (- committed, + recorded):`];
  for (let i = 0; i < Math.max(expected.length, actual.length); i++) {
    if (expected[i] === actual[i]) out.push(`      ${expected[i]}`);
    else {
      if (expected[i] !== undefined) out.push(`    - ${expected[i]}`);
      if (actual[i] !== undefined) out.push(`    + ${actual[i]}`);
    }
  }
  return out;
}

/**
 * The `--check` lines of one recording of scenario `name` with `binary`: the committed steps of
 * that version (else of the same series: a patch release is a note, not drift) against the
 * recorded ones, by `stepsDiff`; a missing version is drift.
 */
export function versionDiff<St>(
  name: string,
  committed: Record<string, St[]>,
  binary: NginxBinary,
  recorded: St[],
  stepsDiff: (version: string, expected: St[], actual: St[]) => string[],
): string[] {
  const key = committed[binary.version] !== undefined ? binary.version : Object.keys(committed).find((v) => seriesOf(v) === binary.series);
  if (key === undefined) return [`  nginx ${binary.version}: no committed steps`];
  if (key !== binary.version) console.log(`note ${name}: committed with nginx ${key}, recorded with ${binary.version}`);
  return stepsDiff(binary.version, committed[key]!, recorded);
}

/** Prints `ok NAME` or `DRIFT NAME:` with its diff lines; whether it drifted. */
export function reportDrift(name: string, diff: readonly string[]): boolean {
  if (diff.length === 0) {
    console.log(`ok ${name}`);
    return false;
  }
  console.log(`DRIFT ${name}:\n${diff.join('\n')}`);
  return true;
}

/** Prints a DRIFT line for each committed vector whose scenario is gone (only when all were recorded, `names` empty); how many. */
export function reportOrphans(committed: Iterable<string>, scenarios: ReadonlyArray<{ name: string }>, names: readonly string[]): number {
  if (names.length > 0) return 0;
  let orphans = 0;
  for (const name of committed) {
    if (!scenarios.some((s) => s.name === name)) {
      console.log(`DRIFT ${name}: committed vector has no scenario in scenarios.ts (delete it or restore the scenario)`);
      orphans++;
    }
  }
  return orphans;
}
