/**
 * The reference proxy (docs/examples/proxy.ts) as a TCP proxy, with raw sockets on 127.0.0.1:
 * half-close in both directions, backpressure (a slow client holds the data at the source, not in
 * the proxy), an aborting client, and `close()` with sessions open. Every server a test starts is
 * stopped by it, and no socket is left behind.
 */
import net from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Balancer } from '../../src/index';
import { startProxy, type Proxy, type ProxyEvent } from '../../docs/examples/proxy';

const servers: net.Server[] = [];
let proxy: Proxy | undefined;

function sockets(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap').length;
}

let baseline = 0;
beforeAll(() => {
  baseline = sockets();
});
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => (s.listening ? s.close(() => r()) : r()))));
  // Sockets of a finished test close asynchronously; the next test counts from a quiet state.
  for (let i = 0; i < 100 && sockets() > baseline; i++) await new Promise((r) => setTimeout(r, 10));
});

async function settled(before: number): Promise<number> {
  const end = Date.now() + 2000;
  while (sockets() > before && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  return sockets();
}

/** A backend on 127.0.0.1 whose connections are handled by `onConnection`; tracks its sockets. */
async function backend(onConnection: (s: net.Socket) => void): Promise<{ port: number; sockets: Set<net.Socket> }> {
  const open = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => {});
    onConnection(s);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as net.AddressInfo).port, sockets: open };
}

async function stopServer(port: number): Promise<void> {
  const s = servers.find((x) => (x.address() as net.AddressInfo | null)?.port === port)!;
  await new Promise<void>((r) => s.close(() => r()));
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(s));
    s.once('error', reject);
  });
}

function balancerFor(...ports: number[]): Balancer {
  return new Balancer({ servers: ports.map((p, i) => ({ id: String.fromCharCode(65 + i), address: `127.0.0.1:${p}` })) });
}

describe('reference proxy: TCP plumbing', () => {
  it('half-close: the client FIN reaches the backend, whose reply (sent after it) still reaches the client', async () => {
    const before = sockets();
    const be = await backend((s) => {
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      // Replies only after the client's FIN: proves the proxy passed the FIN on and kept the other direction open.
      s.on('end', () => s.end(`got ${Buffer.concat(chunks).toString()} then FIN`));
    });
    const events: ProxyEvent[] = [];
    proxy = await startProxy({ balancer: balancerFor(be.port), onEvent: (e) => events.push(e) });
    const c = await connect(proxy.port);
    let reply = '';
    c.on('data', (d: Buffer) => (reply += d.toString()));
    const closed = new Promise<void>((r) => c.on('close', () => r()));
    c.end('hello');
    await new Promise<void>((r) => c.on('end', () => r()));
    expect(reply).toBe('got hello then FIN');
    await closed;
    await new Promise<void>((r) => (events.some((e) => e.type === 'closed') ? r() : setTimeout(r, 50)));
    expect(events.map((e) => e.type)).toEqual(['select', 'connected', 'closed']);
    expect(events.at(-1)).toMatchObject({ type: 'closed', error: false });
    await proxy.close();
    proxy = undefined;
    await stopServer(be.port);
    expect(await settled(before)).toBe(before);
  });

  it('half-close the other way: the backend FIN reaches the client, which can still send', async () => {
    let late!: (text: string) => void;
    const received = new Promise<string>((r) => (late = r));
    const be = await backend((s) => {
      let got = '';
      s.end('banner and bye\n'); // server closes its side first
      s.on('data', (d: Buffer) => (got += d.toString()));
      s.on('end', () => late(got));
    });
    proxy = await startProxy({ balancer: balancerFor(be.port) });
    const c = await connect(proxy.port);
    let text = '';
    c.on('data', (d: Buffer) => (text += d.toString()));
    await new Promise<void>((r) => c.on('end', () => r()));
    expect(text).toBe('banner and bye\n');
    const closed = new Promise<void>((r) => c.on('close', () => r()));
    c.end('late data');
    await closed;
    expect(await received).toBe('late data'); // the client's bytes after the backend's FIN arrived
  });

  it('backpressure: while the client does not read, the proxy stops reading from the backend', async () => {
    const total = 64 * 1024 * 1024;
    let source: net.Socket | undefined;
    const be = await backend((s) => {
      source = s;
      const chunk = Buffer.alloc(1024 * 1024, 120);
      let sent = 0;
      const pump = (): void => {
        while (sent < total) {
          sent += chunk.length;
          if (!s.write(chunk)) return void s.once('drain', pump);
        }
        s.end();
      };
      pump();
    });
    proxy = await startProxy({ balancer: balancerFor(be.port) });
    const c = await connect(proxy.port);
    c.pause();
    await new Promise((r) => setTimeout(r, 300));
    // Held back: what left the source is bounded by kernel buffers plus the proxy's stream buffers,
    // far from the 64 MiB a proxy without backpressure would have read into memory by now.
    const early = source!.bytesWritten;
    expect(early).toBeLessThan(24 * 1024 * 1024);
    let received = 0;
    c.on('data', (d: Buffer) => (received += d.length));
    c.resume();
    await new Promise<void>((r) => c.on('end', () => r()));
    expect(received).toBe(total);
    const closed = new Promise<void>((r) => c.on('close', () => r()));
    c.end();
    await closed;
  });

  it('an aborting client (RST) tears down the upstream side too; no socket is left', async () => {
    const before = sockets();
    const be = await backend((s) => s.on('end', () => s.end()));
    const events: ProxyEvent[] = [];
    proxy = await startProxy({ balancer: balancerFor(be.port), onEvent: (e) => events.push(e) });
    const c = await connect(proxy.port);
    await new Promise<void>((r) => {
      const t = setInterval(() => be.sockets.size === 1 && (clearInterval(t), r()), 5);
    });
    c.resetAndDestroy();
    await new Promise<void>((r) => {
      const t = setInterval(() => be.sockets.size === 0 && events.some((e) => e.type === 'closed') && (clearInterval(t), r()), 5);
    });
    expect(events.at(-1)).toMatchObject({ type: 'closed' });
    expect(proxy.open).toBe(0);
    await proxy.close();
    proxy = undefined;
    await stopServer(be.port);
    expect(await settled(before)).toBe(before);
  });

  it('an address node:net cannot use is a failure of that server: the session moves on, no handle leaks', async () => {
    const before = sockets();
    const be = await backend((s) => s.end('hi\n'));
    const events: ProxyEvent[] = [];
    const balancer = new Balancer({ servers: [{ id: 'X', address: '127.0.0.1:70000' }, { id: 'A', address: `127.0.0.1:${be.port}` }] });
    proxy = await startProxy({ balancer, onEvent: (e) => events.push(e) });
    const c = await connect(proxy.port);
    let text = '';
    c.on('data', (d: Buffer) => (text += d.toString()));
    await new Promise<void>((r) => c.on('end', () => r()));
    c.end();
    expect(text).toBe('hi\n');
    expect(events.slice(0, 4).map((e) => `${e.type} ${'server' in e ? e.server.id : ''}`)).toEqual(['select X', 'fail X', 'select A', 'connected A']);
    expect(balancer.get('X')!.fails).toBe(1);
    await proxy.close();
    proxy = undefined;
    await stopServer(be.port);
    expect(await settled(before)).toBe(before);
  });

  it('the default key is the client address for hash and ip-hash, and is not read for other methods', async () => {
    const be = await backend((s) => s.end('hi\n'));
    for (const [method, want] of [
      ['round-robin', ''],
      ['least-conn', ''],
      ['ip-hash', '127.0.0.1'],
      ['hash', '127.0.0.1'],
    ] as const) {
      const balancer = new Balancer({ method, servers: [{ id: 'A', address: `127.0.0.1:${be.port}` }] });
      const keys: string[] = [];
      const attempt = balancer.attempt.bind(balancer);
      balancer.attempt = (key, options) => {
        keys.push(key ?? '(none)');
        return attempt(key, options);
      };
      proxy = await startProxy({ balancer });
      const c = await connect(proxy.port);
      await new Promise<void>((r) => c.on('end', () => r()).resume());
      c.end();
      expect(keys, method).toEqual([want]);
      await proxy.close();
      proxy = undefined;
    }
  });

  it('close() with sessions open and a connect pending: destroys everything, releases every server, resolves', async () => {
    const before = sockets();
    const be = await backend((s) => s.on('end', () => s.end()));
    const dead = await backend((s) => s.on('end', () => s.end()));
    await stopServer(dead.port);
    const balancer = new Balancer({ servers: [{ id: 'A', address: `127.0.0.1:${be.port}` }] });
    // Second proxy whose only server never answers the connect (a socket that never connects).
    const hanging = new Balancer({ servers: [{ id: 'H', address: `127.0.0.1:${dead.port}` }] });
    proxy = await startProxy({ balancer });
    const other = await startProxy({ balancer: hanging, connect: () => new net.Socket(), connectTimeout: 60_000 });
    const clients = await Promise.all([connect(proxy.port), connect(proxy.port), connect(other.port)]);
    // Each client sees its connection go (FIN or reset) when the proxy closes.
    const gone = clients.map((c) => new Promise<void>((r) => {
      c.on('error', () => r());
      c.on('end', () => r());
    }));
    await new Promise<void>((r) => {
      const t = setInterval(() => be.sockets.size === 2 && hanging.get('H')!.conns === 1 && (clearInterval(t), r()), 5);
    });
    expect(balancer.get('A')!.conns).toBe(2);
    await Promise.all([proxy.close(), other.close()]);
    proxy = undefined;
    expect(balancer.get('A')!.conns).toBe(0);
    expect(hanging.get('H')!.conns).toBe(0);
    expect(hanging.get('H')!.fails).toBe(0); // closed, not failed
    await Promise.all(gone);
    for (const c of clients) c.destroy();
    await stopServer(be.port);
    expect(await settled(before)).toBe(before);
  });
});
