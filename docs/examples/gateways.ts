/**
 * SMTP gateways for the demo, the SMTP integration tests and the load benchmark: real SMTP servers
 * (the `smtp-server` package) on 127.0.0.1 that record every message they accept, with their name,
 * and that can be stopped, restarted on the same port, and switched into fault modes.
 *
 * Modes (settable at any time; they apply to connections accepted afterwards):
 * - `accept`: a normal SMTP server; a message is recorded when its DATA is complete, and the reply
 *   names the gateway (`250 accepted by NAME as N`);
 * - `hang`: accepts the TCP connection and never sends the `220` banner (the TCP connect succeeds,
 *   so a stream proxy has nothing to fail over on; only an SMTP-level check notices);
 * - `reject-421`: answers `421` instead of the banner and closes (a *success* for nginx stream);
 * - `reset`: greets normally, then resets the connection (TCP RST) when the client sends DATA.
 *
 * Ports: unless one is given, a gateway binds a port *below* the kernel's ephemeral range, so that
 * after `stop()` no client socket can be auto-bound to it and `start()` can always listen again on
 * the same port (an ephemeral listen port can be taken by an outgoing connection while it is down).
 * Cost: one net.Server and one SMTPServer per start; messages are kept in memory.
 */

import { readFileSync } from 'node:fs';
import net from 'node:net';
import { SMTPServer } from 'smtp-server';

/** What a gateway does with new connections. */
export type GatewayMode = 'accept' | 'hang' | 'reject-421' | 'reset';

/** One message a gateway accepted. */
export interface ReceivedMessage {
  /** The gateway that accepted it. */
  gateway: string;
  /** The gateway's own address (`host:port`). */
  address: string;
  /** The `Message-ID` header, as sent (with angle brackets). */
  messageId: string;
  from: string;
  to: string[];
  /** Port of the peer that delivered it (the proxy's upstream socket): correlates with the proxy's log. */
  remotePort: number;
  /** `performance.now()` when the DATA was complete. */
  at: number;
}

export interface GatewayOptions {
  /** Port to bind; default: a free port below the ephemeral range (see the header). */
  port?: number;
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default `accept`. */
  mode?: GatewayMode;
  /** Called for every accepted message, after it is recorded. */
  onMessage?: (message: ReceivedMessage) => void;
}

/** A running (or stopped) SMTP gateway. */
export interface Gateway {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** `host:port` (`[v6]:port` for an IPv6 host), as a server address for a Balancer. */
  readonly address: string;
  /** Every message accepted so far, in order. */
  readonly messages: ReceivedMessage[];
  /** TCP connections accepted so far (health probes included). */
  readonly connections: number;
  mode: GatewayMode;
  readonly running: boolean;
  /** Listens again on the same port (a restart). */
  start(): Promise<void>;
  /**
   * Stops listening: new connections are refused. `graceful` lets sessions in progress finish and
   * resolves when they have; otherwise (default) they are destroyed at once, as in a crash.
   */
  stop(options?: { graceful?: boolean }): Promise<void>;
}

/** A socket that remembers the mode in force when it was accepted. */
type ModedSocket = net.Socket & { gatewayMode?: GatewayMode };

const MESSAGE_ID = /^message-id:[ \t]*(.+?)\s*$/im;

/** `host:port`, or `[v6]:port` for an IPv6 host: the form a `server` line takes. */
function addressOf(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The lowest ephemeral port of this host, or undefined when it cannot be read. */
function ephemeralLow(): number | undefined {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'latin1').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 12_000 ? low : undefined;
  } catch {
    return undefined;
  }
}

function listenOn(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/**
 * Starts an SMTP gateway named `name` on 127.0.0.1.
 *
 * @example
 * const gw = await startGateway('mx1');
 * // ... send mail to gw.address ...
 * gw.messages.length;
 * await gw.stop();
 */
export async function startGateway(name: string, options: GatewayOptions = {}): Promise<Gateway> {
  const host = options.host ?? '127.0.0.1';
  const messages: ReceivedMessage[] = [];
  let mode: GatewayMode = options.mode ?? 'accept';
  let connections = 0;
  let smtp: SMTPServer | null = null;
  let port = options.port ?? 0;
  const sockets = new Set<ModedSocket>();
  /** Sockets by remote port: smtp-server's hooks see a session (with its port), not the socket. */
  const byPort = new Map<number, ModedSocket>();

  const modeOf = (remotePort: number): GatewayMode => byPort.get(remotePort)?.gatewayMode ?? mode;

  const create = (): SMTPServer => {
    const server = new SMTPServer({
      name,
      banner: `${name} ready`,
      logger: false,
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      hideSTARTTLS: true,
      disableReverseLookup: true,
      size: 1 << 20,
      onConnect(session, callback) {
        const m = modeOf(session.remotePort);
        if (m === 'hang') return; // never greet
        if (m === 'reject-421') {
          const error = new Error(`${name} Service not available, closing transmission channel`) as Error & { responseCode: number };
          error.responseCode = 421;
          return callback(error);
        }
        callback();
      },
      onData(stream, session, callback) {
        if (modeOf(session.remotePort) === 'reset') {
          stream.on('error', () => {});
          stream.resume();
          byPort.get(session.remotePort)?.resetAndDestroy();
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        stream.on('data', (c: Buffer) => {
          if (size < 64 * 1024) chunks.push(c);
          size += c.length;
        });
        stream.on('end', () => {
          const text = Buffer.concat(chunks).toString('latin1');
          const end = text.indexOf('\r\n\r\n');
          const message: ReceivedMessage = {
            gateway: name,
            address: addressOf(host, port),
            messageId: MESSAGE_ID.exec(end < 0 ? text : text.slice(0, end))?.[1] ?? '',
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            remotePort: session.remotePort,
            at: performance.now(),
          };
          messages.push(message);
          callback(null, `accepted by ${name} as ${messages.length}`);
          options.onMessage?.(message);
        });
      },
    });
    // smtp-server reports socket errors (resets by clients) here; they are part of the job.
    server.on('error', () => {});
    // Runs before smtp-server's own handler, which may call onConnect synchronously.
    server.server.prependListener('connection', (socket: ModedSocket) => {
      connections++;
      socket.gatewayMode = mode;
      sockets.add(socket);
      const remote = socket.remotePort ?? 0;
      byPort.set(remote, socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        if (byPort.get(remote) === socket) byPort.delete(remote);
      });
    });
    return server;
  };

  const start = async (): Promise<void> => {
    if (smtp !== null) return;
    const server = create();
    if (port !== 0) {
      await listenOn(server.server, port, host);
    } else {
      const low = ephemeralLow();
      let bound = false;
      for (let i = 0; low !== undefined && i < 100 && !bound; i++) {
        const candidate = 10_000 + Math.floor(Math.random() * (low - 10_000));
        try {
          await listenOn(server.server, candidate, host);
          bound = true;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' && (error as NodeJS.ErrnoException).code !== 'EACCES') throw error;
        }
      }
      if (!bound) await listenOn(server.server, 0, host);
      port = (server.server.address() as net.AddressInfo).port;
    }
    smtp = server;
  };

  const stop = async ({ graceful = false } = {}): Promise<void> => {
    const server = smtp;
    if (server === null) return;
    smtp = null;
    const closed = new Promise<void>((resolve) => server.server.close(() => resolve()));
    if (!graceful) for (const s of sockets) s.destroy();
    await closed;
  };

  await start();
  return {
    name,
    host,
    get port() {
      return port;
    },
    get address() {
      return addressOf(host, port);
    },
    messages,
    get connections() {
      return connections;
    },
    get mode() {
      return mode;
    },
    set mode(m: GatewayMode) {
      mode = m;
    },
    get running() {
      return smtp !== null;
    },
    start,
    stop,
  };
}
