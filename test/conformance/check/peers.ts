/**
 * The recorder's check peers: one TCP listener per address on 127.0.0.1's /8 loopback, whose
 * behaviour (`Condition`, scenarios.ts) the recorder switches between the module's checks. A
 * `refuse` peer does not listen at all. Each peer keeps the first request bytes it read (what the
 * module's `check_http_send` sent). Every socket and listener is registered with
 * `../nginx-process.ts`, so nothing outlives the recorder.
 */

import net from 'node:net';
import { closeServer, listen, track } from '../nginx-process';
import type { Condition } from './scenarios';

/** How long an `open` peer keeps a connection before it closes it. */
const OPEN_CLOSE_MS = 30;

const STATUS_TEXT: Record<string, string> = { '200': 'OK', '302': 'Found', '404': 'Not Found', '500': 'Internal Server Error' };

export class CheckPeer {
  readonly host: string;
  readonly port: number;
  /** The first complete request (up to its blank line) a check sent, or null before one arrived. */
  firstRequest: string | null = null;
  #condition: Condition = 'refuse';
  #server: net.Server | null = null;
  readonly #held = new Set<net.Socket>();

  constructor(readonly address: string) {
    const at = address.lastIndexOf(':');
    this.host = address.slice(0, at);
    this.port = Number(address.slice(at + 1));
  }

  get condition(): Condition {
    return this.#condition;
  }

  /** Switches the behaviour for the next connections; leaving `hold` drops the held connections. */
  async set(condition: Condition): Promise<void> {
    const previous = this.#condition;
    this.#condition = condition;
    if (previous === 'hold' && condition !== 'hold') {
      for (const s of this.#held) s.destroy();
      this.#held.clear();
    }
    if (condition === 'refuse' && this.#server !== null) {
      closeServer(this.#server);
      this.#server = null;
    } else if (condition !== 'refuse' && this.#server === null) {
      const server = net.createServer((socket) => this.#accept(track(socket)));
      await listen(server, this.port, this.host);
      this.#server = server;
    }
  }

  #accept(socket: net.Socket): void {
    const condition = this.#condition;
    if (condition === 'open') {
      const timer = setTimeout(() => socket.end(), OPEN_CLOSE_MS);
      socket.on('close', () => clearTimeout(timer));
      socket.resume();
      return;
    }
    if (condition === 'hold') {
      this.#held.add(socket);
      socket.on('close', () => this.#held.delete(socket));
      socket.resume();
      return;
    }
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.firstRequest ??= buffered.slice(0, end + 4);
      buffered = '';
      if (condition === 'close') socket.destroy();
      else if (condition === 'garbage') socket.end('SSH-2.0-OpenSSH_9.2\r\n');
      else {
        const code = condition.slice('http-'.length);
        socket.end(`HTTP/1.0 ${code} ${STATUS_TEXT[code]}\r\nContent-Length: 0\r\n\r\n`);
      }
    });
  }

  /** Stops listening and drops every connection. */
  close(): void {
    for (const s of this.#held) s.destroy();
    this.#held.clear();
    if (this.#server !== null) closeServer(this.#server);
    this.#server = null;
  }
}
