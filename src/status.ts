/**
 * Status page: balancer snapshots rendered as the check module's `check_status` page (json, csv,
 * html) or as Prometheus text, and a `node:http` request listener that serves it.
 *
 * Layouts follow docs/nginx-semantics.md §7.6 byte for byte: the Tengine 3.2.0 JSON variant (with `up`,
 * `down` and separators placed so the output is always valid JSON), the CSV lines, and the HTML page
 * including the module's malformed DOCTYPE. Differences, all for safety: strings are escaped for
 * their format (JSON escapes, HTML entities, CSV quoting of a field holding `,` `"` or a line break,
 * Prometheus label escapes); with names nginx accepts these change nothing. A CSV cell that a
 * spreadsheet would run as a formula (first character `=`, `+`, `-`, `@`, tab or carriage return)
 * gets a leading `'`. The handler reads its query without WHATWG URL parsing (Node's HTTP parser
 * accepts targets that `new URL` rejects, such as `http://a:99999/`), and a failure while building
 * a page is a 500 with a fixed text: nothing a request sends, and nothing an exception says, reaches
 * the response or escapes the handler. Rows are the checked
 * servers (a `check` state, not admin `down`) in configuration order across all balancers; `index`
 * counts them globally and is kept when `status=` filters rows out, as in the module. Cost: one
 * snapshot per request, then the page is written 1,000 rows per turn of the event loop (chunked,
 * with backpressure), so a large page never holds the loop for long.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BalancerSnapshot } from './balancer';
import { InvalidOptionError, show } from './errors';
import type { ServerSnapshot, ServerState } from './server';

/** Output formats of the status page. */
export type StatusFormat = 'json' | 'csv' | 'html' | 'prometheus';

/** What `formatStatus` reads from a snapshot (a `BalancerSnapshot` has all of it). */
export interface StatusSnapshot {
  name: BalancerSnapshot['name'];
  servers: readonly Pick<ServerSnapshot, 'address' | 'down' | 'state' | 'conns' | 'fails' | 'check'>[];
}

/** Options of `formatStatus`. */
export interface StatusOptions {
  /** Keep only rows whose check status is this (`?status=up|down`). */
  status?: 'up' | 'down';
  /** The check module's configuration generation; default 1. */
  generation?: number;
}

/** Content types the module sends (Prometheus: the text exposition format 0.0.4). */
export const STATUS_CONTENT_TYPES: Readonly<Record<StatusFormat, string>> = {
  html: 'text/html',
  csv: 'text/plain',
  json: 'application/json',
  prometheus: 'text/plain; version=0.0.4',
};

const FORMATS = new Set<string>(['json', 'csv', 'html', 'prometheus']);
const STATES: readonly ServerState[] = ['up', 'down', 'draining', 'unavail', 'checking', 'unhealthy'];

interface Row {
  index: number;
  upstream: string;
  name: string;
  down: boolean;
  rise: number;
  fall: number;
  type: string;
  port: number;
  state: ServerState;
  conns: number;
  fails: number;
}

/** Every checked server across `snapshots`, with its global index, before filtering. */
function checkedRows(snapshots: readonly StatusSnapshot[]): Row[] {
  const rows: Row[] = [];
  for (const b of snapshots) {
    for (const s of b.servers) {
      if (s.check === null || s.down) continue;
      const { down, rise, fall, type, port } = s.check;
      rows.push({ index: rows.length, upstream: b.name, name: s.address, down, rise, fall, type, port, state: s.state, conns: s.conns, fails: s.fails });
    }
  }
  return rows;
}

/**
 * Renders snapshots as the status page.
 *
 * @example
 * formatStatus(balancer.snapshot(), 'csv');
 * // "0,smtp,10.0.0.1:25,up,3,0,smtp,0\n1,smtp,10.0.0.2:25,down,0,5,smtp,0\n"
 * formatStatus([a.snapshot(), b.snapshot()], 'json', { status: 'down', generation: 2 });
 */
export function formatStatus(
  snapshots: readonly StatusSnapshot[] | StatusSnapshot,
  format: StatusFormat,
  opts: StatusOptions = {},
): string {
  return [...statusPieces(checkedRows(Array.isArray(snapshots) ? snapshots : [snapshots as StatusSnapshot]), format, opts)].join('');
}

/** Rows rendered per piece: the handler yields to the event loop between pieces. */
const ROWS_PER_PIECE = 1000;

/** The page in pieces of at most `ROWS_PER_PIECE` rows (`formatStatus` joins them, the handler streams them). */
function statusPieces(all: readonly Row[], format: StatusFormat, opts: StatusOptions): Iterable<string> {
  const rows = opts.status === undefined ? all : all.filter((r) => r.down === (opts.status === 'down'));
  const generation = checkedGeneration(opts.generation);
  switch (checkedFormat(format)) {
    case 'json':
      return json(rows, generation);
    case 'csv':
      return sliced(rows, (r) => `${r.index},${csv(r.upstream)},${csv(r.name)},${status(r)},${r.rise},${r.fall},${csv(r.type)},${r.port}\n`);
    case 'html':
      return html(rows, generation);
    case 'prometheus':
      return prometheus(rows, generation);
  }
}

/** `format`, or `InvalidOptionError`. */
function checkedFormat(format: unknown): StatusFormat {
  if (typeof format !== 'string' || !FORMATS.has(format)) {
    throw new InvalidOptionError('format', `Expected \`format\` to be one of json, csv, html, prometheus, got ${show(format)}`, format);
  }
  return format as StatusFormat;
}

/** `generation` (default 1): a non-negative safe integer, or `InvalidOptionError` (it is printed raw). */
function checkedGeneration(generation: unknown): number {
  if (generation === undefined) return 1;
  if (typeof generation !== 'number' || !Number.isSafeInteger(generation) || generation < 0) {
    throw new InvalidOptionError('generation', `Expected \`generation\` to be a non-negative integer, got ${show(generation)}`, generation);
  }
  return generation;
}

/** `line` of every row, `ROWS_PER_PIECE` rows to a piece. */
function* sliced(rows: readonly Row[], line: (r: Row, i: number) => string): Generator<string> {
  for (let from = 0; from < rows.length; from += ROWS_PER_PIECE) {
    let piece = '';
    const to = Math.min(rows.length, from + ROWS_PER_PIECE);
    for (let i = from; i < to; i++) piece += line(rows[i]!, i);
    yield piece;
  }
}

const status = (r: Row): string => (r.down ? 'down' : 'up');

function* json(rows: readonly Row[], generation: number): Generator<string> {
  const up = rows.filter((r) => !r.down).length;
  yield `{"servers": {\n  "total": ${rows.length},\n  "up": ${up},\n  "down": ${rows.length - up},\n  "generation": ${generation},\n  "server": [\n`;
  yield* sliced(
    rows,
    (r, i) =>
      `    {"index": ${r.index}, "upstream": ${JSON.stringify(r.upstream)}, "name": ${JSON.stringify(r.name)}, ` +
      `"status": "${status(r)}", "rise": ${r.rise}, "fall": ${r.fall}, "type": ${JSON.stringify(r.type)}, "port": ${r.port}}` +
      `${i < rows.length - 1 ? ',' : ''}\n`,
  );
  yield '  ]\n}}\n';
}

function csv(text: string): string {
  const field = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text; // not a formula to a spreadsheet
  return /[",\r\n]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field;
}

/**
 * The first value of `name` in the query of a request target in any form Node's HTTP parser lets
 * through (origin `/p?q`, absolute `http://h/p?q`, or malformed ones that `new URL` rejects), decoded
 * as `URLSearchParams` decodes it; null when absent. Never throws. One scan with `indexOf`, and only
 * a name short enough to spell `name` (percent-encoded at most) is decoded, so that a huge query of
 * other parameters costs a scan, not a decoded copy. Exported for its test only.
 */
export function queryParam(target: string, name: string): string | null {
  const hash = target.indexOf('#');
  const end = hash < 0 ? target.length : hash;
  let at = target.indexOf('?');
  if (at < 0 || at >= end) return null;
  at++;
  if (target.charCodeAt(at) === 0x3f && at < end) at++; // (URLSearchParams drops one leading `?` too)
  while (at <= end) {
    let amp = target.indexOf('&', at);
    if (amp < 0 || amp > end) amp = end;
    const eq = target.indexOf('=', at);
    const keyEnd = eq >= 0 && eq < amp ? eq : amp;
    if (keyEnd - at <= name.length * 3 && formDecode(target.slice(at, keyEnd)) === name) {
      return keyEnd === amp ? '' : formDecode(target.slice(keyEnd + 1, amp));
    }
    at = amp + 1;
  }
  return null;
}

/** `application/x-www-form-urlencoded` decoding of one name or value (`+` is a space). */
function formDecode(text: string): string {
  return new URLSearchParams(`k=${text}`).get('k') ?? ''; // (text holds no `&` and no `#`)
}

/** What a request asks for: the format and the row filter (bad values ignored, as the module does). */
function requestOf(req: IncomingMessage, defaultFormat: StatusFormat, generation: number): { format: StatusFormat; opts: StatusOptions } {
  const target = req.url ?? '/';
  const f = queryParam(target, 'format');
  const format = f !== null && FORMATS.has(f) ? (f as StatusFormat) : defaultFormat;
  const s = queryParam(target, 'status')?.toLowerCase();
  const opts: StatusOptions = { generation };
  if (s === 'up' || s === 'down') opts.status = s;
  return { format, opts };
}

/** The next turn of the event loop. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The snapshots of the sources, a source with `snapshotServers` read `ROWS_PER_PIECE` servers per
 * turn (each row exact for its moment; a page of more than one piece is not one instant).
 */
async function gather(sources: readonly SnapshotSource[]): Promise<StatusSnapshot[]> {
  const out: StatusSnapshot[] = [];
  for (const source of sources) {
    if (!readInSlices(source)) {
      out.push(source.snapshot());
      continue;
    }
    const n = source.servers!.length;
    const servers: StatusSnapshot['servers'][number][] = [];
    for (let from = 0; from < n; from += ROWS_PER_PIECE) {
      if (from > 0) await nextTurn();
      for (const s of source.snapshotServers!(from, from + ROWS_PER_PIECE)) servers.push(s);
    }
    out.push({ name: source.name!, servers });
  }
  return out;
}

/** A source large enough to be read a slice per turn. */
function readInSlices(source: SnapshotSource): boolean {
  const n = source.servers?.length;
  return typeof source.snapshotServers === 'function' && typeof source.name === 'string' && n !== undefined && n > ROWS_PER_PIECE;
}

type Answer = { code: number; type: string; body: string | Iterable<string> };

/**
 * The handler's answer to a request it can serve (GET or HEAD): at once when every source is small
 * (a client that half-closes after its request still gets it, before Node ends the socket),
 * after a few turns when a source is read in slices.
 */
function page(sources: readonly SnapshotSource[], format: StatusFormat, opts: StatusOptions): Answer | Promise<Answer> {
  if (!sources.some(readInSlices)) return pageOf(sources.map((s) => s.snapshot()), format, opts);
  return gather(sources).then((snapshots) => pageOf(snapshots, format, opts));
}

function pageOf(snapshots: readonly StatusSnapshot[], format: StatusFormat, opts: StatusOptions): Answer {
  const rows = checkedRows(snapshots);
  if (rows.length === 0) {
    return { code: 500, type: 'text/plain', body: "can not find any check server, make sure you've added the check servers\n" };
  }
  const pieces = statusPieces(rows, format, opts);
  // A page of one piece goes out whole, with its length; a larger one is streamed (chunked).
  return { code: 200, type: STATUS_CONTENT_TYPES[format], body: rows.length <= ROWS_PER_PIECE ? [...pieces].join('') : pieces };
}

const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]!);

function* html(rows: readonly Row[], generation: number): Generator<string> {
  // The module's DOCTYPE lacks the closing quote of the public identifier: kept for byte compatibility.
  yield '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN\n' +
    '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n' +
    '<html xmlns="http://www.w3.org/1999/xhtml">\n' +
    '<head>\n' +
    '  <title>Nginx http upstream check status</title>\n' +
    '</head>\n' +
    '<body>\n' +
    '<h1>Nginx http upstream check status</h1>\n' +
    `<h2>Check upstream server number: ${rows.length}, generation: ${generation}</h2>\n` +
    '<table style="background-color:white" cellspacing="0"        cellpadding="3" border="1">\n' +
    '  <tr bgcolor="#C0C0C0">\n' +
    '    <th>Index</th>\n' +
    '    <th>Upstream</th>\n' +
    '    <th>Name</th>\n' +
    '    <th>Status</th>\n' +
    '    <th>Rise counts</th>\n' +
    '    <th>Fall counts</th>\n' +
    '    <th>Check type</th>\n' +
    '    <th>Check port</th>\n' +
    '  </tr>\n';
  yield* sliced(
    rows,
    (r) =>
      `  <tr${r.down ? ' bgcolor="#FF0000"' : ''}>\n` +
      `    <td>${r.index}</td>\n    <td>${escapeHtml(r.upstream)}</td>\n    <td>${escapeHtml(r.name)}</td>\n` +
      `    <td>${status(r)}</td>\n    <td>${r.rise}</td>\n    <td>${r.fall}</td>\n` +
      `    <td>${escapeHtml(r.type)}</td>\n    <td>${r.port}</td>\n  </tr>\n`,
  );
  yield '</table>\n</body>\n</html>\n';
}

const label = (s: string): string => (/[\\"\n]/.test(s) ? s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : s);

function* prometheus(rows: readonly Row[], generation: number): Generator<string> {
  const up = rows.filter((r) => !r.down).length;
  const gauge = (name: string, help: string): string => `# HELP ${name} ${help}\n# TYPE ${name} gauge\n`;
  yield gauge('nginx_upstream_count_total', 'Nginx total number of servers') +
    `nginx_upstream_count_total ${rows.length}\n` +
    gauge('nginx_upstream_count_up', 'Nginx total number of servers that are UP') +
    `nginx_upstream_count_up ${up}\n` +
    gauge('nginx_upstream_count_down', 'Nginx total number of servers that are DOWN') +
    `nginx_upstream_count_down ${rows.length - up}\n` +
    gauge('nginx_upstream_count_generation', 'Nginx generation') +
    `nginx_upstream_count_generation ${generation}\n`;
  // Each row's identifying labels, escaped once, piece by piece with the first family (every family repeats them).
  const ids: string[] = [];
  const tail: string[] = [];
  yield gauge('nginx_upstream_server_rise', 'Consecutive successful checks (Tengine declares it a counter; it resets)');
  yield* sliced(rows, (r, i) => {
    ids[i] = `index="${r.index}",upstream="${label(r.upstream)}",name="${label(r.name)}"`;
    tail[i] = `,type="${label(r.type)}",port="${r.port}"`;
    return `nginx_upstream_server_rise{${ids[i]},status="${status(r)}"${tail[i]}} ${r.rise}\n`;
  });
  yield gauge('nginx_upstream_server_fall', 'Consecutive failed checks (Tengine declares it a counter; it resets)');
  yield* sliced(rows, (r, i) => `nginx_upstream_server_fall{${ids[i]},status="${status(r)}"${tail[i]}} ${r.fall}\n`);
  yield gauge('nginx_upstream_server_active', 'Nginx active 1 for UP / 0 for DOWN');
  yield* sliced(rows, (r, i) => `nginx_upstream_server_active{${ids[i]}${tail[i]}} ${r.down ? 0 : 1}\n`);
  yield gauge('nginx_upstream_server_state', 'Server state, 1 for the current one (up, down, draining, unavail, checking, unhealthy)');
  yield* sliced(rows, (r, i) => {
    let lines = '';
    for (const s of STATES) lines += `nginx_upstream_server_state{${ids[i]},state="${s}"} ${r.state === s ? 1 : 0}\n`;
    return lines;
  });
  yield gauge('nginx_upstream_server_conns', 'Connections handed out and not yet released');
  yield* sliced(rows, (r, i) => `nginx_upstream_server_conns{${ids[i]}} ${r.conns}\n`);
  yield gauge('nginx_upstream_server_fails', 'Passive failures counted in the current fail_timeout window');
  yield* sliced(rows, (r, i) => `nginx_upstream_server_fails{${ids[i]}} ${r.fails}\n`);
}

/** Options of `statusHandler`. */
export interface StatusHandlerOptions {
  /** Format when the request has no valid `?format=`; default `'html'` (the module's default). */
  format?: StatusFormat;
  /** The generation shown on the page; default 1. */
  generation?: number;
}

/**
 * Anything with a `snapshot()`: a Balancer. A source that also has `servers` and
 * `snapshotServers(from, to)` (a Balancer does) is read `ROWS_PER_PIECE` servers per turn of the
 * event loop, so that a large upstream never holds the loop for a whole snapshot.
 */
export interface SnapshotSource {
  snapshot(): StatusSnapshot;
  readonly name?: string;
  readonly servers?: readonly unknown[];
  snapshotServers?(from: number, to: number): StatusSnapshot['servers'];
}

/**
 * A `node:http` request listener serving the status page, like the module's `check_status`: GET and
 * HEAD only (else 405), `?format=json|csv|html|prometheus` (exact) and `?status=up|down` (any case);
 * bad values are ignored. With no checked server at all it answers 500, as the module does.
 *
 * @example
 * import http from 'node:http';
 * http.createServer(statusHandler([smtpBalancer, webBalancer], { format: 'json' })).listen(8080, '127.0.0.1');
 * // curl 'http://127.0.0.1:8080/?format=prometheus&status=down'
 */
export function statusHandler(
  balancers: readonly SnapshotSource[] | (() => readonly SnapshotSource[]),
  options: StatusHandlerOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const defaultFormat = checkedFormat(options.format ?? 'html');
  const generation = checkedGeneration(options.generation);
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const body = 'method not allowed\n';
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain', 'content-length': body.length });
      res.end(body);
      return;
    }
    // A snapshot source that throws: the host stays up, and the exception's text stays private.
    const failed = (): void => send(req, res, { code: 500, type: 'text/plain', body: 'status unavailable\n' });
    let answer: Answer | Promise<Answer>;
    try {
      const { format, opts } = requestOf(req, defaultFormat, generation);
      answer = page(typeof balancers === 'function' ? balancers() : balancers, format, opts);
    } catch {
      return failed();
    }
    if (answer instanceof Promise) answer.then((a) => send(req, res, a), failed);
    else send(req, res, answer);
  };
}

/** Writes an answer: whole with its length, or streamed. */
function send(req: IncomingMessage, res: ServerResponse, answer: { code: number; type: string; body: string | Iterable<string> }): void {
  if (res.destroyed || res.headersSent) return;
  if (typeof answer.body === 'string') {
    res.writeHead(answer.code, { 'content-type': answer.type, 'content-length': Buffer.byteLength(answer.body) });
    res.end(req.method === 'HEAD' ? undefined : answer.body);
    return;
  }
  res.writeHead(answer.code, { 'content-type': answer.type });
  if (req.method === 'HEAD') res.end();
  else stream(res, answer.body[Symbol.iterator]());
}

/**
 * Writes a page piece by piece, one piece per turn of the event loop (`setImmediate`), waiting for
 * `drain` when the socket's buffer is full and stopping when the client goes away: a page of 100,000
 * servers never holds the loop for more than one piece, nor memory for more than the client takes.
 */
function stream(res: ServerResponse, pieces: Iterator<string>): void {
  let stopped = false;
  res.once('close', () => {
    stopped = true;
  });
  const step = (): void => {
    if (stopped) return;
    let next: IteratorResult<string>;
    try {
      next = pieces.next();
    } catch {
      res.destroy(); // headers are sent: a truncated chunked body is what the client can detect
      return;
    }
    if (next.done === true) {
      res.end();
      return;
    }
    if (res.write(next.value)) setImmediate(step);
    else res.once('drain', step);
  };
  step();
}
