/**
 * A reference TCP proxy that embeds a Balancer, with nginx stream's semantics (docs/nginx-semantics.md
 * §2.6, §4.3): per client connection one attempt; connect to `next()`; `connected()` once the TCP
 * connect completes; `fail()` on a connect error or a connect timeout, then the next server while
 * the tries budget lasts; the client is closed when no server is left ("no live upstreams"; nginx
 * logs a 502). Once connected, nothing that happens in the session is a failure: the session ends
 * with `release()`, whatever the bytes said (an SMTP `421` is a success to the balancer).
 *
 * Bytes are piped both ways (backpressure by `pipe`), half-close is propagated (`allowHalfOpen`: a
 * FIN from one side ends the other side's writes, the reverse direction stays open), an abrupt close
 * of one side destroys the other. `close()` stops listening, destroys every socket and timer, and
 * resolves once every socket has closed. Cost per session: two sockets, one timer while connecting,
 * one Attempt. Plain node:net; read it as documentation (docs/embedding.md walks through it).
 */

import net from 'node:net';
import { connectOptions, type Balancer, type Server } from '../../src/index';

/** What the proxy did, for logs and tests. `session` numbers client connections from 1. */
export type ProxyEvent =
  | { type: 'select'; session: number; server: Server; try: number }
  | { type: 'connected'; session: number; server: Server; localPort: number }
  | { type: 'fail'; session: number; server: Server; reason: string }
  | { type: 'rejected'; session: number; reason: 'no-live-upstreams' }
  | { type: 'closed'; session: number; server: Server; error: boolean };

export interface ProxyOptions {
  /** The upstream. Replace it later with `proxy.balancer = other` (new sessions use the new one). */
  balancer: Balancer;
  /** Default 0 (ephemeral). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** ms to wait for a TCP connect before `fail()` (nginx `proxy_connect_timeout`); default 60000. */
  connectTimeout?: number;
  /**
   * The selection key of a session (hash, ip-hash); default the client's address, read only for
   * those methods (it costs a getpeername call per session).
   */
  key?: (client: net.Socket) => string;
  /** Opens the upstream socket; default `net.connect`. Tests inject sockets that never connect. */
  connect?: (options: net.NetConnectOpts) => net.Socket;
  onEvent?: (event: ProxyEvent) => void;
}

export interface Proxy {
  readonly port: number;
  balancer: Balancer;
  /** Client connections open now. */
  readonly open: number;
  close(): Promise<void>;
}

/**
 * Starts a TCP proxy in front of `balancer`.
 *
 * @example
 * const balancer = Balancer.fromNginx(readFileSync('failover.conf', 'utf8'));
 * const proxy = await startProxy({ balancer, port: 10025, connectTimeout: 5000 });
 * // ... later
 * await proxy.close();
 */
export async function startProxy(options: ProxyOptions): Promise<Proxy> {
  const connectTimeout = options.connectTimeout ?? 60_000;
  const onEvent = options.onEvent;
  const emit = onEvent ?? (() => {});
  const clientAddress = (c: net.Socket): string => (balancer.method === 'hash' || balancer.method === 'ip-hash' ? (c.remoteAddress ?? '') : '');
  const key = options.key ?? clientAddress;
  const open = options.connect ?? ((o: net.NetConnectOpts) => net.connect(o));
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {}); // every error is handled through 'close' or the connect path
  };
  let sessions = 0;
  let clients = 0;
  let balancer = options.balancer;

  const onClient = (client: net.Socket): void => {
    const session = ++sessions;
    clients++;
    track(client);
    client.pause(); // nothing is read until an upstream is connected
    const attempt = balancer.attempt(key(client));
    let upstream: net.Socket | null = null; // the socket being connected, or the connected one
    let timer: ReturnType<typeof setTimeout> | undefined;
    let piping = false;
    let clientClosed = false;
    let upstreamClosed = false;
    let tries = 0;

    const end = (error: boolean): void => {
      // Both sides are closed (piping), or the client left while connecting: free the server once.
      const server = attempt.current;
      if (server === undefined) return;
      attempt.release();
      emit({ type: 'closed', session, server, error });
    };

    const failed = (u: net.Socket, reason: string): void => {
      if (piping || upstream !== u) return; // errors after the connect end the session, not the attempt
      clearTimeout(timer);
      upstream = null;
      u.destroy();
      const server = attempt.current!;
      attempt.fail();
      emit({ type: 'fail', session, server, reason });
      tryNext();
    };

    const tryNext = (): void => {
      if (clientClosed) return;
      const server = attempt.next();
      if (server === undefined) {
        emit({ type: 'rejected', session, reason: 'no-live-upstreams' });
        client.destroy();
        return;
      }
      emit({ type: 'select', session, server, try: ++tries });
      let u: net.Socket;
      try {
        // `host:port`, `[v6]:port` or `unix:/path` (never split on ':' by hand); checked before
        // node:net, which throws on a bad port only after it has opened a handle.
        u = open({ ...connectOptions(server), allowHalfOpen: true });
      } catch (error) {
        // An address that names no target (bad port, not an address): a failure of this server.
        attempt.fail();
        emit({ type: 'fail', session, server, reason: error instanceof Error ? error.message : String(error) });
        tryNext();
        return;
      }
      upstream = u;
      track(u);
      u.on('error', (error: NodeJS.ErrnoException) => failed(u, error.code ?? error.message));
      timer = setTimeout(() => failed(u, 'timeout'), connectTimeout);
      u.once('connect', () => {
        clearTimeout(timer);
        if (upstream !== u) return;
        piping = true;
        attempt.connected();
        if (onEvent !== undefined) onEvent({ type: 'connected', session, server, localPort: u.localPort ?? 0 }); // (localPort: a getsockname call)
        u.pipe(client); // on the upstream's FIN: client.end(); the other direction stays open
        client.pipe(u);
      });
      u.on('close', (hadError) => {
        if (!piping || upstream !== u) return;
        upstreamClosed = true;
        // An abrupt close (reset, or destroyed before its FIN was passed on) ends the client too.
        if (hadError || !client.writableEnded) client.destroy();
        if (clientClosed) end(hadError);
      });
    };

    client.on('close', (hadError) => {
      clients--;
      clientClosed = true;
      if (!piping) {
        // Left while connecting (or closed by us after "no live upstreams").
        clearTimeout(timer);
        const u = upstream;
        upstream = null;
        u?.destroy();
        end(hadError);
        return;
      }
      if (hadError || !upstream!.writableEnded) upstream!.destroy();
      if (upstreamClosed) end(hadError);
    });

    tryNext();
  };

  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, onClient);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });

  let closing: Promise<void> | undefined;
  return {
    port: (server.address() as net.AddressInfo).port,
    get balancer() {
      return balancer;
    },
    set balancer(b: Balancer) {
      balancer = b;
    },
    get open() {
      return clients;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }).then(async () => {
        // server.close() waits for client sockets only; wait for upstream sockets too.
        while (sockets.size > 0) await new Promise((r) => setImmediate(r));
      });
      return closing;
    },
  };
}
