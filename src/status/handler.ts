/**
 * `statusHandler`: a `node:http` request listener serving the status page in every format, for
 * balancers with or without active checks.
 *
 * Follows nginx_upstream_check_module's `ngx_http_upstream_check_status_handler` (commit e538034):
 * GET and HEAD only, `?format=` (exact) and `?status=` (any case) read as nginx's `ngx_http_arg`
 * reads them, bad values ignored; a json, csv or html page with no row at all is the module's 500.
 * Where the module has no checked server it answers 500; the handler lists every server instead
 * (rows.ts), and the Prometheus page always has every server. The handler reads its query without
 * WHATWG URL parsing (Node's HTTP parser accepts targets that `new URL` rejects, such as
 * `http://a:99999/`), and a failure while building a page is a 500 with a fixed text: nothing a
 * request sends, and nothing an exception says, reaches the response or escapes the handler. Cost:
 * a large source is read 1,000 servers per turn of the event loop (with the Prometheus page's
 * uniqueness check), then one pass over the servers that builds no row (format.ts `statusPage`),
 * then the page is written 1,000 rows per turn (chunked, with backpressure): no turn renders more
 * than one piece, so a large page never holds the loop for long.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkedPrefix, UniqueSeries } from './metrics';
import { ROWS_PER_PIECE } from './pages';
import { nextTurn } from '../slice-runner';
import { STATUS_CONTENT_TYPES, statusPage } from './format';
import {
  checkedFormat,
  checkedGeneration,
  checkedLayout,
  checkedServers,
  FORMATS,
  type StatusFormat,
  type StatusLayout,
  type StatusOptions,
  type StatusServers,
  type StatusSnapshot,
} from './rows';

/** Options of `statusHandler`. */
export interface StatusHandlerOptions {
  /** Format when the request has no valid `?format=`; default `'html'` (the module's default). */
  format?: StatusFormat;
  /** The generation shown on the page; default 1. */
  generation?: number;
  /** The JSON layout; default `'module'`. */
  layout?: StatusLayout;
  /** Which servers the json, csv and html pages list; default: the module's rows when any server has one, else every server. */
  servers?: StatusServers;
  /** Prefix of the Prometheus metric names; default `'upstream_balancer_'`. */
  prefix?: string;
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


/**
 * The snapshots of the sources, a source with `snapshotServers` read `ROWS_PER_PIECE` servers per
 * turn (each row exact for its moment; a page of more than one piece is not one instant). With
 * `unique` (a Prometheus page), each slice's series are checked as it is read (metrics.ts
 * `UniqueSeries`), so that the check too is spread over the turns.
 */
async function gather(sources: readonly SnapshotSource[], unique: UniqueSeries | null): Promise<StatusSnapshot[]> {
  const out: StatusSnapshot[] = [];
  for (let i = 0; i < sources.length; i++) {
    const source = sources[i]!;
    if (!readInSlices(source)) {
      const snapshot = source.snapshot();
      unique?.balancer(snapshot.name, i);
      unique?.servers(snapshot.servers, 0);
      out.push(snapshot);
      continue;
    }
    const n = source.servers!.length;
    const servers: StatusSnapshot['servers'][number][] = [];
    unique?.balancer(source.name!, i);
    for (let from = 0; from < n; from += ROWS_PER_PIECE) {
      if (from > 0) await nextTurn();
      const slice = source.snapshotServers!(from, from + ROWS_PER_PIECE);
      unique?.servers(slice, from);
      for (const s of slice) servers.push(s);
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

/** The module's answer when it has no row to show. */
const NO_ROWS = "can not find any check server, make sure you've added the check servers\n";

/**
 * The handler's answer to a request it can serve (GET or HEAD): at once when every source is small
 * (a client that half-closes after its request still gets it, before Node ends the socket),
 * after a few turns when a source is read in slices.
 */
function page(sources: readonly SnapshotSource[], format: StatusFormat, opts: StatusOptions): Answer | Promise<Answer> {
  if (!sources.some(readInSlices)) return pageOf(sources.map((s) => s.snapshot()), format, opts, false);
  const unique = format === 'prometheus' ? new UniqueSeries() : null;
  return gather(sources, unique).then((snapshots) => pageOf(snapshots, format, opts, unique !== null));
}

function pageOf(snapshots: readonly StatusSnapshot[], format: StatusFormat, opts: StatusOptions, seriesChecked: boolean): Answer {
  const { pieces, size } = statusPage(snapshots, format, opts, seriesChecked);
  if (size === 0 && format !== 'prometheus') return { code: 500, type: 'text/plain', body: NO_ROWS };
  // A page of one piece goes out whole, with its length; a larger one is streamed (chunked).
  return { code: 200, type: STATUS_CONTENT_TYPES[format], body: size <= ROWS_PER_PIECE ? [...pieces].join('') : pieces };
}

/**
 * A `node:http` request listener serving the status page, like the module's `check_status`: GET and
 * HEAD only (else 405), `?format=json|csv|html|prometheus` (exact) and `?status=up|down` (any case,
 * json, csv and html); bad values are ignored. Balancers without checks are listed server by
 * server; with no server at all, json, csv and html answer 500, as the module does.
 *
 * @example
 * import http from 'node:http';
 * http.createServer(statusHandler([smtpBalancer, webBalancer], { format: 'json' })).listen(8080, '127.0.0.1');
 * // curl 'http://127.0.0.1:8080/?format=prometheus'
 */
export function statusHandler(
  balancers: readonly SnapshotSource[] | (() => readonly SnapshotSource[]),
  options: StatusHandlerOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const defaultFormat = checkedFormat(options.format ?? 'html');
  const base: StatusOptions = {
    generation: checkedGeneration(options.generation),
    layout: checkedLayout(options.layout),
    servers: checkedServers(options.servers),
    prefix: checkedPrefix(options.prefix),
  };
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
function send(req: IncomingMessage, res: ServerResponse, answer: Answer): void {
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
  const nextPiece = (): void => {
    setImmediate(step);
  };
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
    // After a drain too, the next piece waits for the next turn: on a fast socket (loopback) a write
    // completes at once and its drain comes in the same turn, so drain -> step -> write would
    // chain every piece of the page into one turn.
    if (res.write(next.value)) setImmediate(step);
    else res.once('drain', nextPiece);
  };
  step();
}
