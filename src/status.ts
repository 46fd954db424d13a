/**
 * Status page: balancer snapshots rendered as nginx_upstream_check_module's `check_status` page
 * (json, csv, html) or as Prometheus text, and a `node:http` request listener that serves it.
 *
 * Follows the module's `ngx_http_upstream_check_status_{json,csv,html}_format` and
 * `ngx_http_upstream_check_status_handler` (commit e538034); the bytes are recorded from the real
 * module (test/vectors/check/, docs/health-checks.md). Rows are the peers the module would check:
 * per balancer, in order, the servers that are not admin `down` in a balancer with `check`, the
 * primaries first and then the backups (the module's patch numbers peers as nginx's round robin
 * builds them); `index` counts them across all balancers and is kept when `status=` filters rows
 * out. A row's name is the address as nginx prints it (an IP literal without a port gets `:80`).
 * The module's JSON puts a comma after every row but the last checked server's, so a filter that
 * drops that server leaves a trailing comma: reproduced, since byte equality is the point; the
 * `layout: 'tengine'` option gives Tengine 3.2.0's JSON instead (with `up` and `down` counts, and
 * always valid). Differences, all for safety: strings are escaped for their format (JSON escapes,
 * HTML entities, CSV quoting of a field holding `,` `"` or a line break, Prometheus label escapes);
 * with names nginx accepts these change nothing. A CSV cell that a spreadsheet would run as a
 * formula (first character `=`, `+`, `-`, `@`, tab or carriage return) gets a leading `'`. The
 * handler reads its query without WHATWG URL parsing (Node's HTTP parser accepts targets that
 * `new URL` rejects, such as `http://a:99999/`), and a failure while building a page is a 500 with
 * a fixed text: nothing a request sends, and nothing an exception says, reaches the response or
 * escapes the handler. Cost: one snapshot per request, then the page is written 1,000 rows per turn
 * of the event loop (chunked, with backpressure), so a large page never holds the loop for long.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { BalancerSnapshot } from './balancer';
import { InvalidOptionError, show } from './errors';
import type { ServerSnapshot, ServerState } from './server';
import { upstreamTarget } from './target';

/** Output formats of the status page. */
export type StatusFormat = 'json' | 'csv' | 'html' | 'prometheus';

/** What `formatStatus` reads from a snapshot (a `BalancerSnapshot` has all of it). */
export interface StatusSnapshot {
  name: BalancerSnapshot['name'];
  /** `backup` places a row after the primaries, as the module numbers its peers (absent: a primary). */
  servers: readonly (Pick<ServerSnapshot, 'address' | 'down' | 'state' | 'conns' | 'fails' | 'check'> & { backup?: boolean })[];
}

/**
 * How the JSON page is laid out: `'module'` (the default) is nginx_upstream_check_module's bytes;
 * `'tengine'` is Tengine 3.2.0's, which adds `up` and `down` counts and places its commas so that
 * the page stays valid JSON under a `status=` filter.
 */
export type StatusLayout = 'module' | 'tengine';

/** Options of `formatStatus`. */
export interface StatusOptions {
  /** Keep only rows whose check status is this (`?status=up|down`). */
  status?: 'up' | 'down';
  /** The check module's configuration generation; default 1. */
  generation?: number;
  /** The JSON layout; default `'module'`. */
  layout?: StatusLayout;
}

/** Content types the module sends (Prometheus: the text exposition format 0.0.4). */
export const STATUS_CONTENT_TYPES: Readonly<Record<StatusFormat, string>> = {
  html: 'text/html',
  csv: 'text/plain',
  json: 'application/json',
  prometheus: 'text/plain; version=0.0.4',
};

const FORMATS = new Set<string>(['json', 'csv', 'html', 'prometheus']);
const LAYOUTS = new Set<string>(['module', 'tengine']);
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

/** The module's name of a check type (`tls` is its `ssl_hello`; `smtp` and `custom` are this library's). */
const typeName = (type: string): string => (type === 'tls' ? 'ssl_hello' : type);

/**
 * A server's name as nginx prints it on the page (`peer_addr->name`, the text of the parsed
 * address): an IP literal without a port gets http's default `:80`. Other addresses as written
 * (nginx would print one row per resolved address of a host name).
 */
function pageName(address: string): string {
  const t = upstreamTarget(address);
  if (t === null || t.kind !== 'tcp' || t.port !== null || isIP(t.host) === 0) return address;
  return isIP(t.host) === 6 ? `[${t.host}]:80` : `${t.host}:80`;
}

/** Every checked server across `snapshots`, with its global index, before filtering. */
function checkedRows(snapshots: readonly StatusSnapshot[]): Row[] {
  const rows: Row[] = [];
  const add = (b: StatusSnapshot, backups: boolean): void => {
    for (const s of b.servers) {
      if (s.check === null || s.down || (s.backup === true) !== backups) continue;
      const { down, rise, fall, type, port } = s.check;
      rows.push({ index: rows.length, upstream: b.name, name: pageName(s.address), down, rise, fall, type: typeName(type), port, state: s.state, conns: s.conns, fails: s.fails });
    }
  };
  for (const b of snapshots) {
    add(b, false);
    add(b, true);
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
  const layout = checkedLayout(opts.layout);
  switch (checkedFormat(format)) {
    case 'json':
      return layout === 'tengine' ? tengineJson(rows, generation) : json(rows, generation, all.length - 1);
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

/** `layout` (default `'module'`), or `InvalidOptionError`. */
function checkedLayout(layout: unknown): StatusLayout {
  if (layout === undefined) return 'module';
  if (typeof layout !== 'string' || !LAYOUTS.has(layout)) {
    throw new InvalidOptionError('layout', `Expected \`layout\` to be one of module, tengine, got ${show(layout)}`, layout);
  }
  return layout as StatusLayout;
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

/**
 * The module's JSON: `total` counts the rows shown; every row but the one of the last checked
 * server (`lastIndex`, filtered or not) ends with a comma, as the module writes it.
 */
function* json(rows: readonly Row[], generation: number, lastIndex: number): Generator<string> {
  yield `{"servers": {\n  "total": ${rows.length},\n  "generation": ${generation},\n  "server": [\n`;
  yield* sliced(
    rows,
    (r) =>
      `    {"index": ${r.index}, "upstream": ${JSON.stringify(r.upstream)}, "name": ${JSON.stringify(r.name)}, ` +
      `"status": "${status(r)}", "rise": ${r.rise}, "fall": ${r.fall}, "type": ${JSON.stringify(r.type)}, "port": ${r.port}}` +
      `${r.index === lastIndex ? '' : ','}\n`,
  );
  yield '  ]\n}}\n';
}

/** Tengine 3.2.0's JSON: `up` and `down` counts, and a comma between rows only (valid under any filter). */
function* tengineJson(rows: readonly Row[], generation: number): Generator<string> {
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

/** ASCII lowercase (nginx compares argument names with `ngx_strlcasestrn`, ASCII only). */
const asciiLower = (text: string): string => text.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));

/**
 * The value of argument `name` (lowercase) in the query of a request target in any form Node's
 * HTTP parser lets through (origin `/p?q`, absolute `http://h/p?q`, or malformed ones that `new URL`
 * rejects), read as nginx's `ngx_http_arg` reads it for the module: the first `&`-separated piece
 * that is `name` in any ASCII case followed by `=`; the value raw (no percent-decoding, `+` stays);
 * null when absent. The query ends at `#`. Never throws; one scan with `indexOf`, no copy but the
 * value. Exported for its test only.
 */
export function queryParam(target: string, name: string): string | null {
  const hash = target.indexOf('#');
  const end = hash < 0 ? target.length : hash;
  let at = target.indexOf('?');
  if (at < 0 || at >= end) return null;
  at++;
  while (at < end) {
    let amp = target.indexOf('&', at);
    if (amp < 0 || amp > end) amp = end;
    const eq = at + name.length;
    if (eq < amp && target.charCodeAt(eq) === 0x3d && asciiLower(target.slice(at, eq)) === name) return target.slice(eq + 1, amp);
    at = amp + 1;
  }
  return null;
}

/**
 * What a request asks for: the format (exact, as the module's `ngx_http_get_check_status_format_conf`
 * compares it) and the row filter (`up` or `down` in any ASCII case); bad values are ignored, as the module does.
 */
function requestOf(req: IncomingMessage, defaultFormat: StatusFormat, base: StatusOptions): { format: StatusFormat; opts: StatusOptions } {
  const target = req.url ?? '/';
  const f = queryParam(target, 'format');
  const format = f !== null && FORMATS.has(f) ? (f as StatusFormat) : defaultFormat;
  const s = queryParam(target, 'status');
  const filter = s === null ? null : asciiLower(s);
  const opts: StatusOptions = { ...base };
  if (filter === 'up' || filter === 'down') opts.status = filter;
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
  /** The JSON layout; default `'module'`. */
  layout?: StatusLayout;
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
  const base: StatusOptions = { generation: checkedGeneration(options.generation), layout: checkedLayout(options.layout) };
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
      const { format, opts } = requestOf(req, defaultFormat, base);
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
