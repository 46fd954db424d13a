/**
 * What the sticky recorder puts around nginx: backends (raw node:net servers) that answer each
 * request as the scenario says (a 200 naming themselves, a 502, a close before any byte, a
 * `Set-Cookie` of their own when the request asks for one, a response held until the recorder
 * releases it), and a raw HTTP/1.1 client that sends a request with its `Cookie` header and reads
 * nginx's whole answer: the status, `X-Backend`, every `Set-Cookie` value byte for byte, `Date`.
 *
 * Control headers the recorder adds and nginx passes to the backend: `X-Hold: response` (hold the
 * response) or `X-Hold: body` (send the header, hold the body) and `X-Backend-Cookie: VALUE` (answer with `Set-Cookie: VALUE`).
 * Every server and socket is registered with `../nginx-process.ts`, so all are closed on exit.
 * Cost: O(bytes) per request.
 */

import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { closeServer, listen, track } from '../nginx-process';
import { refused } from '../recorder-io';
import type { RecordedAnswer } from './format';
import type { Answer } from './scenarios';

/** The path of request `n` (its query string follows), and back. */
export const requestPath = (n: number): string => `/n${n}`;
export function pathNumber(uri: string): number {
  const m = /^\/n(\d+)(\?|$)/.exec(uri);
  if (!m) throw new Error(`unexpected request uri ${JSON.stringify(uri)}`);
  return Number(m[1]);
}

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
export class StickyBackend {
  #server: net.Server | undefined;
  readonly #sockets = new Set<net.Socket>();
  readonly #queue: Answer[];
  readonly #held = new Map<number, () => void>();
  readonly received: Received[] = [];

  constructor(
    readonly id: string,
    readonly port: number,
    answers: readonly Answer[],
  ) {
    this.#queue = [...answers];
  }

  get listening(): boolean {
    return this.#server !== undefined;
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

  async start(): Promise<void> {
    if (this.#server) throw new Error(`backend ${this.id} is already listening`);
    const server = net.createServer((socket) => this.#accept(socket));
    try {
      await listen(server, this.port);
    } catch (e) {
      closeServer(server);
      throw new Error(`cannot listen on 127.0.0.1:${this.port} (${(e as NodeJS.ErrnoException).code})`);
    }
    this.#server = server;
  }

  /** Stops listening (open connections stay) and waits until a connect is refused. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) throw new Error(`backend ${this.id} is not listening`);
    this.#server = undefined;
    closeServer(server);
    for (let i = 0; i < 50; i++) {
      if (await refused(this.port)) return;
      await sleep(2);
    }
    throw new Error(`backend ${this.id} still accepts connections on port ${this.port} after stop`);
  }

  destroy(): void {
    for (const s of this.#sockets) s.destroy();
    if (this.#server) closeServer(this.#server);
    this.#server = undefined;
    this.#held.clear();
  }

  #accept(socket: net.Socket): void {
    track(socket);
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    let data = '';
    let done = false;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      if (done) return;
      data += chunk;
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      done = true;
      const lines = data.slice(0, end).split('\r\n');
      const header = (name: string): string | null => {
        const line = lines.slice(1).find((l) => l.toLowerCase().startsWith(`${name}:`));
        return line === undefined ? null : line.slice(name.length + 1).trim();
      };
      const n = pathNumber(lines[0]!.split(' ')[1] ?? '');
      const cookie = header('cookie');
      const setCookie = header('x-backend-cookie');
      const body = `${this.id} ${n}\n`;
      const head = ['HTTP/1.1 200 OK', `X-Backend: ${this.id}`];
      if (setCookie !== null) head.push(`Set-Cookie: ${setCookie}`);
      head.push(`Content-Length: ${body.length}`, 'Connection: close', '', '');
      const ok = (): void => {
        socket.end(head.join('\r\n') + body, 'latin1');
      };
      const hold = header('x-hold');
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
        const body = `${this.id} ${n}\n`;
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
export function httpGet(port: number, r: ClientRequest, timeoutMs: number, onHead?: () => void): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const socket = track(net.connect({ port, host: '127.0.0.1' }));
    let data = '';
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      socket.destroy();
      reject(new Error(`GET ${r.path}: no complete answer through nginx on port ${port} within ${timeoutMs} ms (got ${JSON.stringify(data.slice(0, 200))})`));
    }, timeoutMs);
    socket.setEncoding('latin1');
    socket.on('connect', () => {
      const head = [`GET ${r.path} HTTP/1.1`, 'Host: upstream-balancer.test', 'Connection: close'];
      if (r.cookie !== null) head.push(`Cookie: ${r.cookie}`);
      if (r.backendCookie !== null) head.push(`X-Backend-Cookie: ${r.backendCookie}`);
      if (r.hold !== null) head.push(`X-Hold: ${r.hold}`);
      socket.write(`${head.join('\r\n')}\r\n\r\n`, 'latin1');
    });
    let head = false;
    socket.on('data', (chunk: string) => {
      data += chunk;
      if (!head && data.includes('\r\n\r\n')) {
        head = true;
        onHead?.();
      }
    });
    socket.on('close', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(parseResponse(data));
    });
  });
}

function parseResponse(data: string): ClientResult {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return { status: null, from: null, setCookie: [], date: null };
  const lines = data.slice(0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!);
  const setCookie: string[] = [];
  let from: string | null = null;
  let date: string | null = null;
  for (const l of lines.slice(1)) {
    const colon = l.indexOf(':');
    if (colon <= 0) continue;
    const name = l.slice(0, colon).toLowerCase();
    // nginx writes "Name: value": exactly one space after the colon.
    const value = l.slice(colon + 2);
    if (name === 'set-cookie') setCookie.push(value);
    else if (name === 'x-backend') from = value;
    else if (name === 'date') date = value;
  }
  return { status: m ? Number(m[1]) : null, from, setCookie, date };
}
