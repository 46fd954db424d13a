/**
 * Hostile requests to the status page (issue 14): a real `node:http` server with `statusHandler` on
 * 127.0.0.1 (status-server.ts, its own process), and raw request bytes over `node:net`: random and
 * hostile request targets (`http://a:99999/`, `//[`, `http://[::1/`, absolute form, `*`, targets up
 * to and past Node's header limit, percent-encoding garbage, repeated and huge query parameters),
 * methods, versions, header sets (Accept variants, Host garbage, duplicate and conflicting
 * Content-Length, chunked bodies, folding, bare LF, NUL, oversize), pipelining, fragmented writes,
 * pure random bytes, and clients that hang up at the first bytes of a (streamed) page.
 *
 * Asserted:
 * - the server process never dies, and still answers a plain request at the end;
 * - every connection gets well-formed responses or a clean close (Node's parser answers malformed
 *   requests with 400 / 431 itself), within a few seconds; a valid GET from a client that
 *   half-closes after sending it (`printf ... | nc`) gets its response;
 * - status codes are among 100 (interim), 200, 400, 404, 405, 408, 413, 414, 431, 500, 501, 505;
 *   a 500 has one of the handler's two fixed texts, a 405 its fixed text;
 * - no response contains the text of an exception thrown by a snapshot source (a secret token), a
 *   stack frame, or an unescaped `<script>` from a balancer name;
 * - a 200 has the content type of its format; json bodies parse; csv cells never start a formula;
 * - the server's RSS grows by less than 64 MB across the run (bounded memory);
 * - in process, the handler's cost on doubling inputs (servers, query length, repeated parameters)
 *   grows linearly (at 4n under 8x the cost at n; 10x for the page over 4n servers, which
 *   allocates one string per line).
 */

import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { Balancer } from '../../src/balancer';
import { formatStatus, statusHandler } from '../../src/status';
import { type Budget, callHandler, doublingCheck, doublingCheckAsync, here, MB, Recorder, Rng, rssOf, type Summary } from './common';

const ALLOWED = new Set([100, 200, 400, 404, 405, 408, 413, 414, 431, 500, 501, 505]);
const FIXED_500 = new Set(["can not find any check server, make sure you've added the check servers\n", 'status unavailable\n']);
const TYPES: Record<string, string> = {
  html: 'text/html',
  csv: 'text/plain',
  json: 'application/json',
  prometheus: 'text/plain; version=0.0.4',
};

// ---------------------------------------------------------------------------------------------
// Request generation (latin1 strings: one char per byte)

const METHODS = ['GET', 'GET', 'GET', 'GET', 'GET', 'HEAD', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT', 'PATCH', 'get', 'GET ', 'G\tET', '', 'PRI', 'SEARCH', 'M-SEARCH', 'X'.repeat(100), '\x00', 'GET\x7f'];
const VERSIONS = ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/0.9', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/9.9', 'http/1.1', 'HTTP/1.1 extra', '', 'HTTP/1.10', 'HTTP/01.1'];
const FIXED_TARGETS = [
  '/', '/?format=json', '/?format=csv', '/?format=html', '/?format=prometheus', '/?format=json&status=up', '/?format=prometheus&status=DOWN', '?format=csv', '*',
  'http://a:99999/', 'http://a:99999/?format=json', '//[', 'http://[::1/', 'http://[::1]/?format=json', 'http://user:pw@h/?format=csv', 'https://h:0/?status=up',
  'http://a/%', '/%', '/%zz?format=%ZZ', '/?format=json#frag?format=csv', '/#?format=json', '/?%00=%00', '/?format=json%00', '/?status=%75p', '/?status=UP',
  '/?format=JSON', '/?format=', '/?format', '/?=&=&&&', '/?format=json&format=csv', '/\xe9', '/\x7f', '/\x80\xff', '/a b', '/"<script>"', '/?format=%C3%28',
  '/?status=%E2%80%A8', '/..%2f..%2fetc/passwd', 'http://[', '[::1]', ':99999', 'a:b', '/?status=down&status=up', '//', '///?format=csv',
];
const PIECES = ['format', 'status', '=', '&', '?', '#', '%', '%0', '%00', '%zz', '%C3%28', '%FF', 'json', 'csv', 'html', 'prometheus', 'up', 'DOWN', '/', '//', '[', ']', ':', '@', '+', ';', ',', '\x80', '\xff', '"', '<', '\\', '..', 'a'];
const ACCEPTS = ['*/*', 'application/json', 'application/json;q=0', 'text/html, */*;q=0.1', 'text/csv', '', ',,,,', 'a/b;q=NaN', '*/*;q=' + '9'.repeat(200), Array.from({ length: 300 }, (_, i) => `t${i}/x`).join(', ')];
const HOSTS = ['127.0.0.1', 'localhost', 'a:99999', '[', '[::1', '[::1]:80', '', ' ', 'a b', '\xff\xfe', 'h'.repeat(300), 'a:-1', '%00', 'a,b', '..', '@'];

function randomTarget(r: Rng): string {
  const k = r.int(10);
  if (k < 5) return r.pick(FIXED_TARGETS);
  if (k < 8) {
    let t = r.chance(0.8) ? '/' : r.pick(['', 'http://h', 'http://a:99999', '//[', '*']);
    const n = r.int(12);
    for (let i = 0; i < n; i++) t += r.pick(PIECES);
    return t;
  }
  if (k < 9) {
    // repeated or huge query parameters, up to and past Node's 16 KB header limit
    const reps = r.pick([10, 100, 1000, 2000]);
    return '/?' + Array.from({ length: reps }, (_, i) => (r.chance(0.5) ? 'format=json' : `a${i}=${'%'.repeat(r.int(4))}x`)).join('&');
  }
  if (r.chance(0.5)) return '/?format=' + r.pick(['%', 'a', '\x80', '%25']).repeat(r.pick([100, 4000, 20_000]));
  return String.fromCharCode(...r.bytes(r.range(1, 40)).filter((b) => b > 0x20 && b !== 0x7f));
}

function randomHeaders(r: Rng, version: string): string[] {
  const h: string[] = [];
  if (!r.chance(0.05) || !version.startsWith('HTTP/1.1')) h.push(`Host: ${r.chance(0.7) ? '127.0.0.1' : r.pick(HOSTS)}`);
  if (r.chance(0.1)) h.push(`Host: ${r.pick(HOSTS)}`);
  if (r.chance(0.5)) h.push(`Accept: ${r.pick(ACCEPTS)}`);
  if (r.chance(0.3)) h.push(`Connection: ${r.pick(['close', 'keep-alive', 'upgrade', 'Upgrade, close', ''])}`);
  if (r.chance(0.05)) h.push('Upgrade: h2c');
  if (r.chance(0.05)) h.push('Expect: 100-continue');
  if (r.chance(0.05)) h.push(`Content-Length: ${r.pick(['0', '5', '-1', '1e3', '1, 2', ' 3', '99999999999999999999'])}`);
  if (r.chance(0.03)) h.push('Content-Length: 0', 'Content-Length: 4');
  if (r.chance(0.05)) h.push(`Transfer-Encoding: ${r.pick(['chunked', 'gzip, chunked', 'chunked, gzip', 'identity', 'xchunked'])}`);
  if (r.chance(0.03)) h.push('X-Folded: a', ' continued');
  if (r.chance(0.03)) h.push('No colon here');
  if (r.chance(0.03)) h.push('Bad Name: x');
  if (r.chance(0.03)) h.push('X-Nul: a\x00b');
  if (r.chance(0.03)) h.push(`X-Big: ${'b'.repeat(r.pick([1000, 17_000]))}`);
  if (r.chance(0.02)) for (let i = 0; i < r.pick([100, 2100]); i++) h.push(`X-${i}: ${i}`);
  if (r.chance(0.03)) h.push(`Cookie: ${'c=1; '.repeat(r.int(2000))}`);
  if (r.chance(0.03)) h.push(`X-High: ${String.fromCharCode(...r.bytes(20).map((b) => 0x80 | b))}`);
  return h;
}

interface Req {
  bytes: Buffer;
  method: string;
  /** Print form for reports. */
  text: string;
  /** Write in pieces, with pauses. */
  split: boolean;
  /** Hang up as soon as the first bytes of the response arrive (a client gone mid-stream). */
  abort?: boolean;
  /**
   * Half-close after the request (FIN), as `printf ... | nc` does; else the socket stays open
   * until the responses are complete or the server closes it.
   */
  halfClose: boolean;
  /** Responses a complete answer has (2 when a second request is pipelined). */
  expect: number;
}

function randomRequest(r: Rng): Req {
  if (r.chance(0.05)) {
    const text = `GET /?format=${r.pick(['json', 'csv', 'html', 'prometheus'])} HTTP/1.1\r\nHost: h\r\n\r\n`;
    return { bytes: Buffer.from(text, 'latin1'), method: 'GET', text: `${text} (hanging up at the first bytes)`, split: false, abort: true, halfClose: false, expect: 1 };
  }
  if (r.chance(0.03)) {
    const bytes = r.bytes(r.range(1, 300));
    return { bytes, method: '', text: `(random bytes ${bytes.toString('hex').slice(0, 80)})`, split: r.chance(0.3), halfClose: true, expect: 1 };
  }
  // half the requests are valid but for their target, 30% have one hostile part more, 20% anything
  const level = r.next();
  const method = level < 0.5 ? r.pick(['GET', 'GET', 'GET', 'HEAD']) : r.pick(METHODS);
  const version = level < 0.8 ? r.pick(['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0']) : r.pick(VERSIONS);
  const target = randomTarget(r);
  let headers: string[];
  if (level < 0.5) headers = ['Host: 127.0.0.1', ...(r.chance(0.5) ? [`Accept: ${r.pick(ACCEPTS)}`] : [])];
  else if (level < 0.8) headers = [`Host: ${r.chance(0.5) ? '127.0.0.1' : r.pick(HOSTS)}`, ...randomHeaders(r, version).slice(1, 3)];
  else headers = randomHeaders(r, version);
  const eol = level >= 0.8 && r.chance(0.1) ? '\n' : '\r\n';
  let text = `${method} ${target}${version === '' ? '' : ` ${version}`}${eol}${headers.map((h) => h + eol).join('')}`;
  const terminated = level < 0.8 || !r.chance(0.1);
  if (terminated) text += eol; // else the head is never terminated
  if (headers.some((h) => h.startsWith('Transfer-Encoding'))) text += r.pick(['0\r\n\r\n', '5\r\nhello\r\n0\r\n\r\n', 'zz\r\n', 'ffffffffffffffffff\r\n']);
  else if (headers.some((h) => h.startsWith('Content-Length: 5'))) text += 'hello';
  const pipelined = r.chance(0.05);
  if (pipelined) text += `GET /?format=json HTTP/1.1\r\nHost: h\r\n\r\n`;
  // a hostile or unterminated request half-closes (the server must not wait for more); others too, now and then
  const halfClose = level >= 0.8 || !terminated || r.chance(0.2);
  return { bytes: Buffer.from(text, 'latin1'), method, text, split: r.chance(0.2), halfClose, expect: pipelined ? 2 : 1 };
}

// ---------------------------------------------------------------------------------------------
// Responses

interface Response {
  status: number;
  headers: Map<string, string>;
  body: string;
  /** False for a body read to the end of the connection (no length, not chunked). */
  delimited: boolean;
}

/** Whether `data` holds `expect` complete, delimited final responses (so the client may hang up). */
function complete(data: string, req: Req): boolean {
  try {
    const rs = parseResponses(data, req.method);
    return rs.every((x) => x.delimited) && rs.filter((x) => x.status !== 100).length >= req.expect;
  } catch {
    return false;
  }
}

/** Splits the bytes a connection received into responses; throws on a malformed one. */
function parseResponses(data: string, method: string): Response[] {
  const out: Response[] = [];
  let i = 0;
  while (i < data.length) {
    const end = data.indexOf('\r\n\r\n', i);
    if (end < 0) throw new Error(`incomplete response head at byte ${i}`);
    const lines = data.slice(i, end).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3}) [^\r\n]*$/.exec(lines[0]!);
    if (m === null) throw new Error(`bad status line ${JSON.stringify(lines[0]!.slice(0, 80))}`);
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':');
      if (c <= 0) throw new Error(`bad header line ${JSON.stringify(l.slice(0, 80))}`);
      headers.set(l.slice(0, c).toLowerCase(), l.slice(c + 1).trim());
    }
    const status = Number(m[1]);
    i = end + 4;
    let body = '';
    let delimited = true;
    const noBody = status === 100 || status === 204 || status === 304 || (method === 'HEAD' && out.filter((x) => x.status !== 100).length === 0);
    if (!noBody) {
      const te = headers.get('transfer-encoding');
      const cl = headers.get('content-length');
      if (te !== undefined && /chunked/i.test(te)) {
        for (;;) {
          const le = data.indexOf('\r\n', i);
          if (le < 0) throw new Error('incomplete chunk size');
          const size = parseInt(data.slice(i, le), 16);
          if (!Number.isFinite(size)) throw new Error(`bad chunk size ${JSON.stringify(data.slice(i, le))}`);
          i = le + 2;
          if (size === 0) {
            const t = data.indexOf('\r\n', i);
            i = t < 0 ? data.length : t + 2;
            break;
          }
          body += data.slice(i, i + size);
          i += size + 2;
        }
      } else if (cl !== undefined) {
        const n = Number(cl);
        if (!Number.isSafeInteger(n) || n < 0) throw new Error(`bad content-length ${cl}`);
        if (data.length - i < n) throw new Error(`body shorter than content-length ${n}`);
        body = data.slice(i, i + n);
        i += n;
      } else {
        body = data.slice(i);
        i = data.length;
        delimited = false;
      }
    }
    out.push({ status, headers, body, delimited });
  }
  return out;
}

/** Fields of CSV text (RFC 4180 quoting), row by row. */
function csvRows(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let i = 0;
  while (i < text.length) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) throw new Error('unterminated quoted CSV field');
        field += text.slice(i, q);
        if (text[q + 1] === '"') {
          field += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      // a quoted field keeps its text; the formula guard is inside the quotes
      row.push(`"${field}`);
    } else {
      let j = i;
      while (j < text.length && text[j] !== ',' && text[j] !== '\n') j++;
      field = text.slice(i, j);
      row.push(field);
      i = j;
    }
    if (text[i] === ',') i++;
    else if (text[i] === '\n') {
      rows.push(row);
      row = [];
      i++;
    } else if (i < text.length) throw new Error(`CSV: unexpected ${JSON.stringify(text[i])} after a quoted field`);
  }
  if (row.length > 0) rows.push(row);
  return rows;
}

// ---------------------------------------------------------------------------------------------

class StatusFuzz {
  readonly rec: Recorder;
  child: ChildProcess | null = null;
  port = 0;
  stderr = '';
  exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  constructor(
    readonly seed: number,
    readonly secret: string,
    rec: Recorder,
  ) {
    this.rec = rec;
  }

  async start(format: string): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', here('status-server.ts'), this.secret, format], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      if (this.stderr.length < 20_000) this.stderr += d;
    });
    child.on('exit', (code, signal) => {
      this.exited = { code, signal };
    });
    this.port = await new Promise<number>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new Error(`status server did not start within 30 s; stderr: ${this.stderr}`)), 30_000);
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (d: string) => {
        buf += d;
        const m = /PORT (\d+)/.exec(buf);
        if (m !== null) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.on('exit', () => reject(new Error(`status server exited at start; stderr: ${this.stderr}`)));
    });
  }

  alive(what: string): void {
    if (this.exited !== null) {
      this.rec.fail('server-died', this.seed, `the status server exited (${JSON.stringify(this.exited)}) ${what}; stderr:\n${this.stderr.slice(0, 4000)}`);
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === null || this.exited !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
      }, 5000);
      child.on('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.stdin!.end();
    });
  }

  /** Sends one request's bytes; resolves with everything received until the server closed. */
  send(req: Req, timeoutMs: number): Promise<{ data: string; timedOut: boolean; reset: boolean }> {
    return new Promise((resolve) => {
      const s = net.connect(this.port, '127.0.0.1');
      const chunks: Buffer[] = [];
      let reset = false;
      let settled = false;
      const finish = (timedOut: boolean): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        s.destroy();
        resolve({ data: Buffer.concat(chunks).toString('latin1'), timedOut, reset });
      };
      const timer = setTimeout(() => finish(true), timeoutMs);
      s.on('data', (c: Buffer) => {
        chunks.push(c);
        if (req.abort === true) finish(false);
        else if (!req.halfClose && complete(Buffer.concat(chunks).toString('latin1'), req)) finish(false);
      });
      s.on('error', () => {
        reset = true;
      });
      s.on('close', () => finish(false));
      const last = (bytes: Buffer): void => {
        if (req.halfClose) s.end(bytes);
        else s.write(bytes);
      };
      s.on('connect', async () => {
        if (!req.split) {
          last(req.bytes);
          return;
        }
        const cut1 = Math.floor(req.bytes.length / 3);
        const cut2 = Math.floor((2 * req.bytes.length) / 3);
        for (const part of [req.bytes.subarray(0, cut1), req.bytes.subarray(cut1, cut2)]) {
          if (s.destroyed) return;
          s.write(part);
          await new Promise((r) => setTimeout(r, 1));
        }
        if (!s.destroyed) last(req.bytes.subarray(cut2));
      });
    });
  }

  check(req: Req, got: { data: string; timedOut: boolean; reset?: boolean }, defaultFormat: string): void {
    const what = `request ${JSON.stringify(req.text.slice(0, 300))}${req.text.length > 300 ? ` (${req.text.length} bytes)` : ''}${req.halfClose ? ' (half-closed after sending)' : ''}`;
    if (req.abort === true) {
      // only the first bytes: no response to check but what they hold
      if (got.data.includes(this.secret)) this.rec.fail('exception-echoed', this.seed, `${what}: the response holds the text of a snapshot source's exception`);
      this.rec.count('aborted');
      return;
    }
    if (got.timedOut) this.rec.fail('no-answer', this.seed, `${what}: neither a response nor a close within the timeout; received ${JSON.stringify(got.data.slice(0, 200))}`);
    if (got.data.includes(this.secret)) this.rec.fail('exception-echoed', this.seed, `${what}: the response holds the text of a snapshot source's exception: ${JSON.stringify(got.data.slice(0, 600))}`);
    if (/\n\s+at [^\n]+:\d+:\d+/.test(got.data)) this.rec.fail('exception-echoed', this.seed, `${what}: the response holds a stack trace: ${JSON.stringify(got.data.slice(0, 600))}`);
    if (got.data.length === 0) {
      this.rec.count('closedWithoutResponse');
      if (process.env.FUZZ_PROFILE === '1') console.log(`closed without a response: ${what}`);
      return;
    }
    let responses: Response[];
    try {
      responses = parseResponses(got.data, req.method);
    } catch (e) {
      // a response cut short after the client half-closed: the server ended the socket at the FIN
      const cut = req.halfClose && /^incomplete|^body shorter/.test((e as Error).message) && got.reset !== true;
      this.rec.fail(
        cut ? 'status-half-close' : 'malformed-response',
        this.seed,
        `${what}: ${(e as Error).message}; received ${got.data.length} bytes before the connection ${got.reset === true ? 'was reset' : 'closed'}: ` +
          `${JSON.stringify(got.data.slice(0, 300))} ... ${JSON.stringify(got.data.slice(-200))}${this.stderr ? `; server stderr: ${this.stderr.slice(0, 1000)}` : ''}`,
      );
      return;
    }
    for (const r of responses) {
      this.rec.count(`status:${r.status}`);
      if (!ALLOWED.has(r.status)) this.rec.fail('status-code', this.seed, `${what}: status ${r.status}`);
      if (r.status === 500 && !FIXED_500.has(r.body) && !(req.method === 'HEAD' && r.body === '')) {
        this.rec.fail('status-500-body', this.seed, `${what}: a 500 with body ${JSON.stringify(r.body.slice(0, 300))}`);
      }
      if (r.status === 405 && r.body !== 'method not allowed\n' && r.body !== '') this.rec.fail('status-405-body', this.seed, `${what}: a 405 with body ${JSON.stringify(r.body.slice(0, 300))}`);
      if (r.status !== 200 || r.body === '') continue;
      // a body read to the close of a half-closed connection may be cut short (status-half-close)
      const cutId = (id: string): string => (req.halfClose && !r.delimited ? 'status-half-close' : id);
      const type = r.headers.get('content-type') ?? '';
      const format = Object.keys(TYPES).find((f) => TYPES[f] === type);
      if (format === undefined) {
        this.rec.fail('content-type', this.seed, `${what}: a 200 with content-type ${JSON.stringify(type)}`);
        continue;
      }
      if (format === 'html' && r.body.includes('<script>')) this.rec.fail('unescaped', this.seed, `${what}: the html page holds an unescaped <script>`);
      if (type === 'application/json') {
        try {
          // The module's JSON keeps the comma of the last row shown when a status= filter drops the
          // last checked server (docs/health-checks.md): that one comma is allowed, nothing else.
          JSON.parse(Buffer.from(r.body, 'latin1').toString('utf8').replace(/\},\n {2}\]\n\}\}\n$/, '}\n  ]\n}}\n'));
        } catch (e) {
          this.rec.fail(cutId('status-json'), this.seed, `${what}: json body does not parse (${(e as Error).message}): ${JSON.stringify(r.body.slice(0, 300))}`);
        }
      } else if (type === 'text/plain' && !r.body.startsWith('# HELP')) {
        // csv (prometheus starts with its HELP line)
        let rows: string[][] = [];
        try {
          rows = csvRows(Buffer.from(r.body, 'latin1').toString('utf8'));
        } catch (e) {
          this.rec.fail(cutId('status-csv'), this.seed, `${what}: csv body does not parse (${(e as Error).message})`);
        }
        for (const row of rows) {
          if (row.length !== 8) this.rec.fail(cutId('status-csv'), this.seed, `${what}: csv row of ${row.length} fields: ${JSON.stringify(row)}`);
          for (const cell of row) {
            if (/^[=+\-@\t\r]/.test(cell.startsWith('"') ? cell.slice(1) : cell)) this.rec.fail('csv-formula', this.seed, `${what}: csv cell starts a formula: ${JSON.stringify(cell)}`);
          }
        }
      }
      void defaultFormat;
    }
  }
}

/**
 * The page's cost in process on doubling inputs: `formatStatus` over n and 4n servers, and the
 * handler (fake request and response, awaited to the end of the response) over long and odd
 * query strings, which Node's parser would refuse past 16 KB.
 */
async function complexity(rec: Recorder, seed: number, long: boolean): Promise<void> {
  const snapshot = (n: number) =>
    new Balancer({ name: 'u', servers: Array.from({ length: n }, (_, i) => ({ address: `10.0.${i >> 8}.${i & 255}:25`, id: `s${i}` })), check: { type: 'tcp', defaultDown: false } }).snapshot();
  // formatStatus at 1,000 and 4,000 servers: past ~8,000 rows its cost jumps with V8's heap (the
  // page is one string of cons strings; e.g. csv 4.3 ms at 16,000, 215 ms at 64,000), which is not
  // the algorithm; the handler, which streams large pages piece by piece, at soak sizes too
  const n = 1000;
  for (const format of ['json', 'csv', 'html', 'prometheus'] as const) {
    // allocation-heavy (one string per line): a collection before each timed call, and 10x (a
    // quadratic shows 16x; the formats measure 3-9x at these sizes)
    // (prometheus prints 22 lines per server, not one: a quarter of the servers keeps it below the same cliff)
    const servers = format === 'prometheus' ? n / 4 : n;
    const r = doublingCheck((k) => {
      const snap = snapshot(k);
      return () => void formatStatus(snap, format);
    }, servers, { gc: true, factor: 10, reps: 2 });
    rec.summary.ops += 2;
    if (!r.ok) rec.fail('superlinear', seed, `formatStatus ${format} over ${4 * servers} servers: ${r.big.toFixed(1)} ms, over ${servers}: ${r.small.toFixed(1)} ms`);
    const m = long ? 4000 : 1000;
    const h = await doublingCheckAsync((k) => {
      const handler = statusHandler([new Balancer({ name: 'u', servers: Array.from({ length: k }, (_, i) => ({ address: `10.0.${i >> 8}.${i & 255}:25`, id: `s${i}` })), check: { type: 'tcp', defaultDown: false } })]);
      return async () => {
        await callHandler(handler, `/?format=${format}`);
      };
    }, m, { gc: true, factor: 10, reps: 2 });
    rec.summary.ops += 2;
    if (!h.ok) rec.fail('superlinear', seed, `status handler, ${format} over ${4 * m} servers: ${h.big.toFixed(1)} ms, over ${m}: ${h.small.toFixed(1)} ms`);
  }
  const b = new Balancer({ name: 'u', servers: [{ address: '10.0.0.1:25' }, { address: '10.0.0.2:25' }], check: { type: 'tcp', defaultDown: false } });
  const handler = statusHandler([b]);
  const L = long ? 1_000_000 : 100_000;
  const shapes: [string, (k: number) => string][] = [
    ['long query', (k) => `/?format=json&x=${'%41'.repeat(k / 3)}`],
    ['repeated parameters', (k) => '/?' + 'format=json&'.repeat(k / 12)],
    ['percent garbage', (k) => '/?format=' + '%'.repeat(k)],
    ['many hashes and question marks', (k) => '/' + '?#'.repeat(k / 2)],
  ];
  for (const [name, url] of shapes) {
    const r = await doublingCheckAsync((k) => {
      const u = url(k);
      return async () => {
        const got = await callHandler(handler, u);
        if (got.code !== 200) rec.fail('status-code', seed, `in process, ${name} of ${u.length} chars: status ${got.code}`);
      };
    }, L);
    rec.summary.ops += 2;
    if (!r.ok) rec.fail('superlinear', seed, `status handler, ${name} of ${4 * L} chars: ${r.big.toFixed(1)} ms, of ${L}: ${r.small.toFixed(1)} ms`);
  }
}

/**
 * Sends `iterations` random requests (8 at a time) to a status server in its own process, then
 * runs the in-process doubling checks. Throws `FuzzFailure` on the first new violation.
 */
export async function run(budget: Budget): Promise<Summary> {
  const rec = new Recorder('status-requests', budget.seed);
  const r = new Rng(budget.seed);
  const secret = `SECRET-${r.seed().toString(36)}-${r.seed().toString(36)}`;
  const defaultFormat = r.pick(['html', 'json', 'csv', 'prometheus']);
  const f = new StatusFuzz(budget.seed, secret, rec);
  const t0 = performance.now();
  await f.start(defaultFormat);
  rec.summary.stats.startMs = Math.round(performance.now() - t0);
  try {
    const plain: Req = { bytes: Buffer.from('GET /?format=json HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n', 'latin1'), method: 'GET', text: 'plain GET', split: false, halfClose: false, expect: 1 };
    f.check(plain, await f.send(plain, 10_000), defaultFormat);
    // requests are drawn up front from the seed, so a run repeats whatever the interleaving
    const reqs: Req[] = Array.from({ length: budget.iterations }, () => randomRequest(r));
    let next = 0;
    let rssAfterWarmup = 0;
    let peakRss = 0;
    const worker = async (): Promise<void> => {
      while (next < reqs.length) {
        const i = next++;
        const req = reqs[i]!;
        const got = await f.send(req, 5000);
        rec.summary.ops++;
        f.alive(`after request #${i} ${JSON.stringify(req.text.slice(0, 200))}`);
        f.check(req, got, defaultFormat);
        if (i === Math.min(200, reqs.length - 1)) rssAfterWarmup = rssOf(f.child!.pid!);
        if ((i & 255) === 0) peakRss = Math.max(peakRss, rssOf(f.child!.pid!));
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    // valid requests from a client that half-closes after sending (printf ... | nc): each is answered
    for (let i = 0; i < 20; i++) {
      const format = ['json', 'csv', 'html', 'prometheus'][i % 4];
      const text = `GET /?format=${format} HTTP/1.${i % 2}\r\nHost: 127.0.0.1\r\n\r\n`;
      const req: Req = { bytes: Buffer.from(text, 'latin1'), method: 'GET', text, split: false, halfClose: true, expect: 1 };
      const got = await f.send(req, 5000);
      rec.summary.ops++;
      if (got.data.length === 0) {
        rec.fail('status-half-close', budget.seed, `${JSON.stringify(text)} from a client that half-closed after sending it: the connection closed without a response`);
      } else f.check(req, got, defaultFormat);
    }
    f.alive('at the end');
    const end = await f.send(plain, 10_000);
    f.check(plain, end, defaultFormat);
    if (!end.data.startsWith('HTTP/1.1 ')) rec.fail('server-died', budget.seed, `the status server no longer answers a plain request: ${JSON.stringify(end.data.slice(0, 200))}`);
    const rss = rssOf(f.child!.pid!);
    peakRss = Math.max(peakRss, rss);
    rec.summary.stats.serverPeakRssMB = Math.round(peakRss / MB);
    if (rssAfterWarmup > 0 && rss - rssAfterWarmup > 64 * MB) {
      rec.fail('memory', budget.seed, `the status server's RSS grew from ${Math.round(rssAfterWarmup / MB)} MB to ${Math.round(rss / MB)} MB over ${reqs.length} requests`);
    }
  } finally {
    await f.stop();
  }
  const t1 = performance.now();
  await complexity(rec, budget.seed, budget.long === true);
  rec.summary.stats.complexityMs = Math.round(performance.now() - t1);
  budget.log?.(`status-requests: ${rec.summary.ops} requests`);
  return rec.done();
}
