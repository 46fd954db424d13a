/**
 * What the sticky recorder puts around nginx: backends (raw node:net servers) that answer each
 * request as the scenario says (a 200 naming themselves, a 502, a close before any byte, a
 * `Set-Cookie` of their own when the request asks for one, a response held until the recorder
 * releases it), and a raw HTTP/1.1 client that sends a request with its `Cookie` header and reads
 * nginx's whole answer: the status, `X-Backend`, every `Set-Cookie` value byte for byte, `Date`.
 *
 * Control headers the recorder adds and nginx passes to the backend: `X-Hold: response` (hold the
 * response) or `X-Hold: body` (send the header, hold the body) and `X-Backend-Cookie: VALUE` (answer with `Set-Cookie: VALUE`).
 * The listener, raw exchange and request paths are the shared ones of `../http-io.ts` and
 * `../recorder-io.ts`; every server and socket is registered with `../nginx-process.ts`, so all are
 * closed on exit.
 * Cost: O(bytes) per request.
 */

import net from 'node:net';
import { onWholeRequest, pathNumber, rawHttpExchange, requestHead, responseHead } from '../http-io';
import { ListeningBackend } from '../recorder-io';
import type { RecordedAnswer } from './format';
import type { Answer } from './scenarios';

/** A request as a backend received it, and what it did. */
export interface Received {
  n: number;
  answer: RecordedAnswer;
  /** The `Cookie` header nginx passed on, or null. */
  cookie: string | null;
}

/**
 * A backend for server `id`: reads each request head (the requests carry no body), then answers it
 * with the next of `answers` (then 200), or holds it until `release(n)`. A 200 carries
 * `X-Backend: id` and the requested `Set-Cookie`; every response closes the connection.
 */
export class StickyBackend extends ListeningBackend {
  readonly #queue: Answer[];
  readonly #held = new Map<number, () => void>();
  readonly received: Received[] = [];

  constructor(
    readonly id: string,
    port: number,
    answers: readonly Answer[],
  ) {
    super(id, port);
    this.#queue = [...answers];
  }

  get unused(): readonly Answer[] {
    return this.#queue;
  }

  /** Whether request `n` is held here. */
  holds(n: number): boolean {
    return this.#held.has(n);
  }

  /** Sends held request `n` its 200. */
  release(n: number): void {
    const send = this.#held.get(n);
    if (!send) throw new Error(`backend ${this.id} holds no request ${n}`);
    this.#held.delete(n);
    send();
  }

  override destroy(): void {
    super.destroy();
    this.#held.clear();
  }

  protected serve(socket: net.Socket): void {
    onWholeRequest(socket, requestHead, (request) => {
      const n = pathNumber(request.path);
      const cookie = request.header('cookie');
      const setCookie = request.header('x-backend-cookie');
      const body = `${this.id} ${n}\n`;
      const head = ['HTTP/1.1 200 OK', `X-Backend: ${this.id}`];
      if (setCookie !== null) head.push(`Set-Cookie: ${setCookie}`);
      head.push(`Content-Length: ${body.length}`, 'Connection: close', '', '');
      const ok = (): void => {
        socket.end(head.join('\r\n') + body, 'latin1');
      };
      const hold = request.header('x-hold');
      if (hold === 'response') {
        this.received.push({ n, answer: 'hold', cookie });
        this.#held.set(n, ok);
        return;
      }
      if (hold === 'body') {
        this.received.push({ n, answer: 'hold-body', cookie });
        socket.write(head.join('\r\n'), 'latin1');
        this.#held.set(n, () => socket.end(body, 'latin1'));
        return;
      }
      const answer = this.#queue.length > 0 ? this.#queue.shift()! : '200';
      this.received.push({ n, answer, cookie });
      if (answer === 'reset') socket.destroy();
      else if (answer === '502') {
        socket.end(`HTTP/1.1 502 Bad Gateway\r\nX-Backend: ${this.id}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`, 'latin1');
      } else ok();
    });
  }
}

/** What the client read. */
export interface ClientResult {
  status: number | null;
  from: string | null;
  /** Every Set-Cookie value, in order, exactly as sent (after `Set-Cookie: `). */
  setCookie: string[];
  date: string | null;
}

export interface ClientRequest {
  path: string;
  cookie: string | null;
  backendCookie: string | null;
  hold: 'response' | 'body' | null;
}

/**
 * One GET through nginx on 127.0.0.1:`port` (`Connection: close`), read until nginx closes;
 * `onHead` is called when the response header has arrived.
 */
export async function httpGet(port: number, r: ClientRequest, timeoutMs: number, onHead?: () => void): Promise<ClientResult> {
  const head = [`GET ${r.path} HTTP/1.1`, 'Host: upstream-balancer.test', 'Connection: close'];
  if (r.cookie !== null) head.push(`Cookie: ${r.cookie}`);
  if (r.backendCookie !== null) head.push(`X-Backend-Cookie: ${r.backendCookie}`);
  if (r.hold !== null) head.push(`X-Hold: ${r.hold}`);
  return parseResponse(await rawHttpExchange(port, `GET ${r.path}`, `${head.join('\r\n')}\r\n\r\n`, timeoutMs, onHead));
}

function parseResponse(data: string): ClientResult {
  const response = responseHead(data);
  if (response === null) return { status: null, from: null, setCookie: [], date: null };
  const setCookie: string[] = [];
  let from: string | null = null;
  let date: string | null = null;
  for (const [name, afterColon] of response.headers) {
    // nginx writes "Name: value": exactly one space after the colon.
    const value = afterColon.slice(1);
    if (name === 'set-cookie') setCookie.push(value);
    else if (name === 'x-backend') from = value;
    else if (name === 'date') date = value;
  }
  return { status: response.status, from, setCookie, date };
}
