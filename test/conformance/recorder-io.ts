/**
 * What the recorders (`recorder.ts`, `methods/record.ts`, `http/record.ts`, `sticky/record.ts`) put
 * around nginx to observe it: backends that can stop and start listening (`ListeningBackend`; the
 * stream one writes a line naming itself on accept), stream clients that read that line through
 * nginx, an incremental log reader (`LogTail`), the access log lines nginx writes at session end,
 * and the retry of a recording that was too slow to measure cleanly (`TimingError`).
 *
 * Every server and socket is registered with `nginx-process.ts`, so all are closed on exit.
 * Cost: a backend stop probes its port until refused (~ms); a client is one connection; the access
 * log is read incrementally (each poll reads only the bytes appended since the last one).
 */

import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { closeServer, listen, track } from './nginx-process';

// ------------------------------------------------------------------------------------------------
// Backends

/** Whether a connect to `host:port` is refused (nothing listens). */
export function refused(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/**
 * A node:net server on `host:port` that can stop listening and start again on the same address;
 * what it does with each connection is its subclass's `serve`. Every socket is tracked and closed
 * by `destroy`. The base of every recorder's backends (stream here, http in `http-io.ts`).
 */
export abstract class ListeningBackend {
  #server: net.Server | undefined;
  readonly #sockets = new Set<net.Socket>();

  constructor(
    /** The backend's name in error messages. */
    readonly name: string,
    readonly port: number,
    readonly host = '127.0.0.1',
  ) {}

  /** Handles one accepted connection (already tracked). */
  protected abstract serve(socket: net.Socket): void;

  get listening(): boolean {
    return this.#server !== undefined;
  }

  async start(): Promise<void> {
    if (this.#server) throw new Error(`backend ${this.name} is already listening`);
    const server = net.createServer((socket) => {
      track(socket);
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      this.serve(socket);
    });
    try {
      await listen(server, this.port, this.host);
    } catch (e) {
      closeServer(server);
      throw new Error(`cannot listen on ${this.host}:${this.port} (${(e as NodeJS.ErrnoException).code})`);
    }
    this.#server = server;
  }

  /** Stops listening (open connections stay) and waits until a connect is refused. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) throw new Error(`backend ${this.name} is not listening`);
    this.#server = undefined;
    closeServer(server);
    for (let i = 0; i < 50; i++) {
      if (await refused(this.port, this.host)) return;
      await sleep(2);
    }
    throw new Error(`backend ${this.name} still accepts connections on ${this.host}:${this.port} after stop`);
  }

  /** Closes its connections and its listener. */
  destroy(): void {
    for (const s of this.#sockets) s.destroy();
    if (this.#server) closeServer(this.#server);
    this.#server = undefined;
  }
}

/**
 * A stream backend: writes `answer` and a newline on accept and keeps the connection until either
 * side closes it (anything the client sends, such as a ClientHello, is read and ignored).
 */
export class Backend extends ListeningBackend {
  constructor(
    readonly answer: string,
    port: number,
    host = '127.0.0.1',
  ) {
    super(answer, port, host);
  }

  protected serve(socket: net.Socket): void {
    socket.on('data', () => {});
    socket.write(`${this.answer}\n`);
  }
}

// ------------------------------------------------------------------------------------------------
// Clients

export interface StreamAnswer {
  socket: net.Socket;
  /** The client's port: the `$remote_port` of its access log line. */
  localPort: number;
  /** The line the backend wrote, or null if nginx closed the connection without one (502). */
  answer: string | null;
}

export interface StreamClientOptions {
  /** Source address to bind (`127.x.y.z`); default: the system's choice. */
  localAddress?: string;
  /** Bytes to send once connected (a ClientHello). */
  hello?: Buffer | null;
  timeoutMs: number;
}

/**
 * A stream client through nginx on 127.0.0.1:`port`: connects, sends `hello` if any, and resolves
 * with the first line it reads, or with a null answer when nginx closes the connection without
 * one; the socket stays open for the caller to close.
 */
export function streamClient(port: number, options: StreamClientOptions): Promise<StreamAnswer> {
  const { localAddress, hello, timeoutMs } = options;
  const from = localAddress === undefined ? '' : ` from ${localAddress}`;
  return new Promise((resolve, reject) => {
    const socket = track(net.connect({ port, host: '127.0.0.1', ...(localAddress === undefined ? {} : { localAddress }) }));
    let data = '';
    let localPort = 0;
    let settled = false;
    const finish = (err: Error | null, answer: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        socket.destroy();
        reject(err);
      } else resolve({ socket, localPort, answer });
    };
    const timer = setTimeout(() => finish(new Error(`no answer through nginx on port ${port}${from} within ${timeoutMs} ms`), null), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('connect', () => {
      localPort = socket.localPort ?? 0;
      if (hello) socket.write(hello);
    });
    socket.on('data', (chunk: string) => {
      data += chunk;
      const nl = data.indexOf('\n');
      if (nl >= 0) finish(null, data.slice(0, nl));
    });
    const closedByNginx = (): void => {
      if (data !== '') finish(new Error(`connection closed after a partial answer ${JSON.stringify(data)}`), null);
      else if (!localPort) finish(new Error(`could not connect to nginx on port ${port}${from}`), null);
      else finish(null, null);
    };
    socket.on('end', closedByNginx);
    socket.on('close', closedByNginx);
  });
}

// ------------------------------------------------------------------------------------------------
// Access log

/** `1764338400.123` ($msec, $session_time, $request_time) -> 1764338400123, exactly (no floating point). */
export function parseMs(text: string): number {
  const m = /^(\d+)\.(\d{3})$/.exec(text);
  if (!m) throw new Error(`unexpected time value ${JSON.stringify(text)}`);
  return Number(m[1]) * 1000 + Number(m[2]);
}

/**
 * A log file nginx appends to, read incrementally: `lines()` returns the complete lines written
 * since the last call (nothing while the file does not exist yet). Shared by the access-log reader
 * below and the http recorder's error-log reader (`http/io.ts`).
 */
export class LogTail {
  #fd: number | undefined;
  #rest = '';

  constructor(readonly path: string) {}

  lines(): string[] {
    if (this.#fd === undefined) {
      if (!existsSync(this.path)) return [];
      this.#fd = openSync(this.path, 'r');
    }
    const buf = Buffer.alloc(65536);
    for (;;) {
      const n = readSync(this.#fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      this.#rest += buf.toString('latin1', 0, n);
    }
    const out: string[] = [];
    let nl: number;
    while ((nl = this.#rest.indexOf('\n')) >= 0) {
      out.push(this.#rest.slice(0, nl));
      this.#rest = this.#rest.slice(nl + 1);
    }
    return out;
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/**
 * An nginx access log with `|`-separated fields, read as nginx appends to it. Each line becomes an
 * entry (`parse` gets its fields and the line); `take` waits for the entry a caller expects and
 * consumes it, so at the end `leftovers` names the lines nobody expected.
 */
export class AccessLog<E> {
  readonly #tail: LogTail;
  readonly #entries: Array<{ entry: E; line: string }> = [];

  constructor(
    readonly path: string,
    readonly fieldCount: number,
    readonly parse: (fields: string[], line: string) => E,
    readonly timeoutMs: number,
  ) {
    this.#tail = new LogTail(path);
  }

  #poll(): void {
    for (const line of this.#tail.lines()) {
      const fields = line.split('|');
      if (fields.length !== this.fieldCount) throw new Error(`unexpected access log line: ${line}`);
      this.#entries.push({ entry: this.parse(fields, line), line });
    }
  }

  /** Waits (up to `timeoutMs`) for the first entry that `matches`, and consumes it. */
  async take(matches: (e: E) => boolean, what: string): Promise<E> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      this.#poll();
      const i = this.#entries.findIndex((x) => matches(x.entry));
      if (i >= 0) return this.#entries.splice(i, 1)[0]!.entry;
      if (Date.now() > deadline) throw new Error(`no access log line for ${what} in ${this.path}`);
      await sleep(1);
    }
  }

  /** Lines nobody took (should be none at the end of a scenario). */
  leftovers(): string[] {
    this.#poll();
    return this.#entries.map((x) => x.line);
  }

  close(): void {
    this.#tail.close();
  }
}

// ------------------------------------------------------------------------------------------------
// Timing

/** A measurement that could not be made cleanly (timing), as opposed to nginx behaving differently. */
export class TimingError extends Error {}

/**
 * Runs `record` until it returns, again (at most `attempts` times in all) after a TimingError,
 * saying on stderr why; any other error, or the last TimingError, is thrown.
 */
export async function retryOnTiming<T>(what: string, record: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await record();
    } catch (err) {
      if (err instanceof TimingError && attempt < attempts) {
        process.stderr.write(`${what}${err.message}; recording again\n`);
        continue;
      }
      throw err;
    }
  }
}
