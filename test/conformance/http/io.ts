/**
 * What the http recorder puts around nginx: backends that give each request the scripted answer
 * of `scenarios.ts` (raw node:net servers, so that they can reset, hang or send malformed headers),
 * a raw HTTP/1.1 client that reads nginx's whole answer until nginx closes, and a reader of
 * nginx's error log that files each line under the request it names.
 *
 * The listener, raw exchange and request paths are the shared ones of `../http-io.ts` and
 * `../recorder-io.ts`; every server and socket is registered with `../nginx-process.ts`, so all are
 * closed on exit.
 * Cost: O(bytes) per request; the error log is read incrementally.
 */

import net from 'node:net';
import { onWholeRequest, pathNumber, rawHttpExchange, requestHead, responseHead } from '../http-io';
import { ListeningBackend, LogTail } from '../recorder-io';
import { HEADER_CASES, type Answer, type HeaderCase } from './scenarios';

const REASONS: Record<string, string> = {
  '200': 'OK', '403': 'Forbidden', '404': 'Not Found', '429': 'Too Many Requests', '500': 'Internal Server Error',
  '502': 'Bad Gateway', '503': 'Service Unavailable', '504': 'Gateway Timeout',
};

// ------------------------------------------------------------------------------------------------
// Backends

/** A request as a backend received it, and the answer it gave. */
export interface Received {
  n: number;
  answer: Answer;
}

/**
 * A backend for server `id`: reads each request whole (head and `Content-Length` or chunked body),
 * then gives the next of `answers` (after them, `then`). Every response carries `X-Backend: id` and
 * closes the connection. It can stop listening and start again on the same port.
 */
export class ScriptedBackend extends ListeningBackend {
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #queue: Answer[];
  /** Every request received, in order. */
  readonly received: Received[] = [];

  constructor(
    readonly id: string,
    port: number,
    answers: readonly Answer[],
    readonly then: Answer,
  ) {
    super(id, port);
    this.#queue = [...answers];
  }

  /** Scripted answers not given yet. */
  get unused(): readonly Answer[] {
    return this.#queue;
  }

  /** Closes its connections, timers and listener. */
  override destroy(): void {
    for (const t of this.#timers) clearTimeout(t);
    super.destroy();
  }

  protected serve(socket: net.Socket): void {
    onWholeRequest(socket, wholeRequest, (path) => {
      const answer = this.#queue.length > 0 ? this.#queue.shift()! : this.then;
      const n = pathNumber(path);
      this.received.push({ n, answer });
      this.#answer(socket, n, answer);
    });
  }

  #answer(socket: net.Socket, n: number, answer: Answer): void {
    const body = `${this.id} ${n}\n`;
    const send = (status: string, extra: readonly string[], withLength: boolean): void => {
      const head = [`HTTP/1.1 ${status} ${REASONS[status] ?? 'X'}`, `X-Backend: ${this.id}`, ...extra];
      if (withLength) head.push(`Content-Length: ${body.length}`);
      head.push('Connection: close', '', '');
      socket.end(head.join('\r\n') + body, 'latin1');
    };
    if (answer === 'reset') {
      socket.destroy();
    } else if (answer === 'hang') {
      // nothing: nginx's proxy_read_timeout fires and nginx closes the connection
    } else if (answer === 'reset-body') {
      // A header promising more than is sent, then the close.
      const head = ['HTTP/1.1 200 OK', `X-Backend: ${this.id}`, `Content-Length: ${body.length + 40}`, 'Connection: close', '', ''];
      socket.end(head.join('\r\n') + body, 'latin1');
    } else if (answer.startsWith('header:')) {
      const c = HEADER_CASES[answer.slice('header:'.length) as HeaderCase];
      const own = 'ownLength' in c && c.ownLength;
      send('200', c.lines.map((l) => l.replace('LENGTH', String(body.length))), !own);
    } else {
      const [status, delay] = answer.split('@') as [string, string | undefined];
      if (delay === undefined) send(status, [], true);
      else {
        const t = setTimeout(() => {
          this.#timers.delete(t);
          if (!socket.destroyed) send(status, [], true);
        }, Number(delay));
        this.#timers.add(t);
      }
    }
  }
}

/** The request path once `data` holds a whole request (head and body), else null. */
function wholeRequest(data: string): string | null {
  const head = requestHead(data);
  if (head === null) return null;
  if (head.header('transfer-encoding')?.toLowerCase() === 'chunked') return /(^|\r\n)0\r\n\r\n$/.test(head.body) ? head.path : null;
  return head.body.length >= Number(head.header('content-length') ?? 0) ? head.path : null;
}

// ------------------------------------------------------------------------------------------------
// Client

export interface ClientResult {
  /** The status line's code, or null when nginx closed without one. */
  status: number | null;
  /** The `X-Backend` header: which backend's response this is (null: nginx's own). */
  from: string | null;
  /** The whole body arrived (by Content-Length, the chunked end, or a close-delimited body). */
  complete: boolean;
}

/**
 * One request through nginx on 127.0.0.1:`port` (`Connection: close`), read until nginx closes;
 * rejects after `timeoutMs`.
 */
export async function httpRequest(port: number, method: string, path: string, body: string | null, timeoutMs: number): Promise<ClientResult> {
  const head = [`${method} ${path} HTTP/1.1`, 'Host: upstream-balancer.test', 'Connection: close'];
  if (body !== null) head.push('Content-Type: text/plain', `Content-Length: ${body.length}`);
  return parseResponse(await rawHttpExchange(port, `${method} ${path}`, `${head.join('\r\n')}\r\n\r\n${body ?? ''}`, timeoutMs));
}

/** Reads what nginx sent: the status, `X-Backend`, and whether the body is whole. */
function parseResponse(data: string): ClientResult {
  const response = responseHead(data);
  if (response === null) return { status: null, from: null, complete: false };
  const headers = new Map(response.headers.map(([name, value]) => [name, value.trim()]));
  const { body } = response;
  let complete: boolean;
  if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') complete = /(^|\r\n)0\r\n\r\n$/.test(body);
  else if (/^\d+$/.test(headers.get('content-length') ?? '')) complete = body.length === Number(headers.get('content-length'));
  else complete = true;
  return { status: response.status, from: headers.get('x-backend') ?? null, complete };
}

// ------------------------------------------------------------------------------------------------
// Error log

/**
 * nginx's error log, read as nginx appends to it. `take(n)` returns (and forgets) the `[error]`,
 * `[warn]`, `[crit]` and `[alert]` messages naming request `n`, each without its time, pid,
 * connection number and `, client: ...` context.
 */
export class ErrorLog {
  readonly #tail: LogTail;
  readonly #byRequest = new Map<number, string[]>();

  constructor(readonly path: string) {
    this.#tail = new LogTail(path);
  }

  #poll(): void {
    for (const line of this.#tail.lines()) {
      const m = /^\S+ \S+ \[(error|warn|crit|alert)\] \d+#\d+: (?:\*\d+ )?(.*?), client: .*, request: "\S+ (\S+) HTTP\/1\.1"/.exec(line);
      if (!m) continue;
      const n = pathNumber(m[3]!);
      let list = this.#byRequest.get(n);
      if (!list) this.#byRequest.set(n, (list = []));
      list.push(`[${m[1]}] ${m[2]}`);
    }
  }

  take(n: number): string[] {
    this.#poll();
    const list = this.#byRequest.get(n) ?? [];
    this.#byRequest.delete(n);
    return list;
  }

  close(): void {
    this.#tail.close();
  }
}
