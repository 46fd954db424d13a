/**
 * Built-in probes against real peers on 127.0.0.1: an SMTP server (smtp-server) that accepts, one
 * that refuses with 554 / 421, scripted raw peers (silent, accept-and-close, reset, garbage,
 * streaming forever, split writes), node:http answering 200/500/302, node:tls with the test
 * certificate, MySQL-like greetings. Every probe's sockets are tracked: each must be destroyed and
 * closed by the time the probe settles. Every server is stopped by the test file.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { SMTPServer } from 'smtp-server';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { checkTarget } from '../../src/health/checker';
import { probeFor, type ProbeResult } from '../../src/health/probes/index';
import { MAX_REPLY } from '../../src/health/probes/session';
import { resolveCheck, type CheckOptions } from '../../src/options';
import { deadPort, eventually, listen, rawPeer, stopAll, streamForever, tcpSockets } from '../fixtures/peers';

const CERT = readFileSync(new URL('../fixtures/tls-cert.pem', import.meta.url));
const KEY = readFileSync(new URL('../fixtures/tls-key.pem', import.meta.url));

/** Sockets opened by probes during the current test. */
let opened: net.Socket[] = [];
let baseline = 0;

beforeAll(() => {
  baseline = tcpSockets();
});

beforeEach(() => {
  opened = [];
  const realNet = net.connect;
  const realTls = tls.connect;
  vi.spyOn(net, 'connect').mockImplementation(((...args: Parameters<typeof net.connect>) => {
    const s = (realNet as (...a: unknown[]) => net.Socket)(...args);
    opened.push(s);
    return s;
  }) as typeof net.connect);
  vi.spyOn(tls, 'connect').mockImplementation(((...args: Parameters<typeof tls.connect>) => {
    const s = (realTls as (...a: unknown[]) => tls.TLSSocket)(...args);
    opened.push(s);
    return s;
  }) as typeof tls.connect);
});

afterEach(async () => {
  vi.restoreAllMocks();
  await stopAll();
});

afterAll(async () => {
  await stopAll();
  // Nothing left open by the whole file: probe sockets and server sockets alike.
  // (Handles close asynchronously after `server.close()`'s callback: allow them a moment.)
  expect(await eventually(() => tcpSockets() === baseline)).toBe(true);
});

/** Runs one probe of `type` against `address` with a real AbortSignal timeout. */
async function probe(type: CheckOptions['type'], address: string, opts: CheckOptions = {}, timeout = 1500): Promise<ProbeResult & { ms: number }> {
  const options = resolveCheck({ ...opts, type, timeout });
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException('check timed out', 'TimeoutError')), timeout);
  const start = performance.now();
  const result = await probeFor(options.type)(checkTarget('t', address, options.port), options, controller.signal);
  clearTimeout(timer);
  // Every socket the probe opened is destroyed and has emitted `close` by the time it settles.
  expect(opened.length).toBeGreaterThan(0);
  for (const s of opened) {
    expect(s.destroyed).toBe(true);
    expect(s.closed).toBe(true);
  }
  return { ...result, ms: performance.now() - start };
}

const at = (port: number): string => `127.0.0.1:${port}`;

/** A peer that accepts and says nothing. */
const silent = (): Promise<number> => rawPeer(() => {});
/** A peer that accepts and closes at once. */
const acceptClose = (): Promise<number> => rawPeer((s) => s.destroy());

describe('tcp probe', () => {
  it('passes on a silent peer', async () => {
    expect(await probe('tcp', at(await silent()))).toMatchObject({ ok: true, reason: 'connected' });
  });

  // In this process the peer's accept is reported no later than the probe's connect (on loopback
  // the handshake completes inside the connect call), so its close or reset lands before the
  // probe's look. Peers in another process race with the look: probes-tcp-peek.test.ts.
  it('fails on an in-process peer that accepts and closes at once (the close precedes the look)', async () => {
    const port = await acceptClose();
    for (let i = 0; i < 20; i++) expect(await probe('tcp', at(port))).toMatchObject({ ok: false, reason: 'closed' });
  });

  it('fails on an in-process peer that accepts and resets (the reset precedes the look)', async () => {
    const port = await rawPeer((s) => s.resetAndDestroy());
    expect(await probe('tcp', at(port))).toMatchObject({ ok: false, reason: 'reset' });
  });

  it('fails with `refused` when nothing listens', async () => {
    expect(await probe('tcp', at(await deadPort()))).toMatchObject({ ok: false, reason: 'refused' });
  });

  it('passes on a peer that sends a banner and closes (the module peeks a byte)', async () => {
    const port = await rawPeer((s) => s.end('220 bye\r\n'));
    expect(await probe('tcp', at(port))).toMatchObject({ ok: true, reason: 'connected' });
  });

  it('passes on an SMTP server, banner or not', async () => {
    const smtp = new SMTPServer({ disableReverseLookup: true, logger: false, onConnect: (_s, cb) => cb(new Error('busy')) });
    const port = await listen(smtp.server);
    expect(await probe('tcp', at(port))).toMatchObject({ ok: true, reason: 'connected' });
  });

  it('passes on a peer that streams forever, discarding what it sends', async () => {
    const port = await rawPeer((s) => streamForever(s, Buffer.alloc(65536, 0x41)));
    const r = await probe('tcp', at(port));
    expect(r).toMatchObject({ ok: true, reason: 'connected' });
    expect(r.ms).toBeLessThan(1000);
  });

  it('connects to a unix socket for `unix:/path`, and fails with `no such socket` when it is missing', async () => {
    const file = path.join(os.tmpdir(), `ub-probe-${process.pid}-${Date.now()}.sock`);
    const server = net.createServer(() => {});
    await new Promise<void>((r) => server.listen(file, () => r()));
    try {
      expect(await probe('tcp', `unix:${file}`)).toMatchObject({ ok: true, reason: 'connected' });
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    expect(await probe('tcp', `unix:${file}`)).toMatchObject({ ok: false, reason: 'no such socket' });
  });

  it('probes `port` instead of the server port when it is set', async () => {
    const port = await silent();
    expect(await probe('tcp', at(await deadPort()), { port })).toMatchObject({ ok: true, reason: 'connected' });
  });

  it('fails, without opening a socket, on an address it cannot connect to', async () => {
    const options = resolveCheck({});
    const r = await probeFor('tcp')(checkTarget('t', '127.0.0.1:notaport', 0), options, new AbortController().signal);
    expect(r.ok).toBe(false);
    expect(r.reason).toBe('bad address: port NaN');
    expect(opened).toEqual([]);
  });

  it('settles with `aborted` at once when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const r = await probeFor('tcp')(checkTarget('t', at(await silent()), 0), resolveCheck({}), controller.signal);
    expect(r).toEqual({ ok: false, reason: 'aborted' });
    expect(opened).toEqual([]);
  });
});

describe('smtp probe', () => {
  it('passes on a real SMTP server: 220 banner, EHLO answered 250 (multi-line)', async () => {
    let helo = '';
    const smtp = new SMTPServer({
      disableReverseLookup: true,
      logger: false,
      onConnect: (session, cb) => {
        cb();
        void session;
      },
    });
    smtp.on('close', () => {});
    const port = await listen(smtp.server);
    smtp.server.on('connection', (s: net.Socket) => {
      s.on('data', (d) => (helo += d.toString('latin1')));
    });
    expect(await probe('smtp', at(port), { smtpHelo: 'probe.example' })).toMatchObject({ ok: true, reason: 'ehlo 250' });
    expect(helo.startsWith('EHLO probe.example\r\n')).toBe(true);
  });

  it('sends exactly `EHLO <smtpHelo>` then `QUIT`, reading multi-line replies split into single bytes', async () => {
    let got = '';
    const port = await rawPeer((s) => {
      const bytes = '220-mx.example ESMTP\r\n220-second line\r\n220 ready\r\n';
      let i = 0;
      const drip = (): void => {
        if (i < bytes.length && !s.destroyed) {
          s.write(bytes[i++]!);
          setImmediate(drip);
        }
      };
      drip();
      s.on('data', (d) => {
        got += d.toString('latin1');
        if (got === 'EHLO balancer.local\r\n') s.write('250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n');
      });
    });
    expect(await probe('smtp', at(port), { smtpHelo: 'balancer.local' })).toMatchObject({ ok: true, reason: 'ehlo 250' });
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toBe('EHLO balancer.local\r\nQUIT\r\n');
  });

  it('fails on a server that refuses at connect with 554 (smtp-server onConnect)', async () => {
    const err = Object.assign(new Error('No SMTP service here'), { responseCode: 554 });
    const smtp = new SMTPServer({ disableReverseLookup: true, logger: false, onConnect: (_s, cb) => cb(err) });
    expect(await probe('smtp', at(await listen(smtp.server)))).toMatchObject({ ok: false, reason: 'banner 554' });
  });

  it('fails on a 421 banner', async () => {
    const err = Object.assign(new Error('Too busy'), { responseCode: 421 });
    const smtp = new SMTPServer({ disableReverseLookup: true, logger: false, onConnect: (_s, cb) => cb(err) });
    expect(await probe('smtp', at(await listen(smtp.server)))).toMatchObject({ ok: false, reason: 'banner 421' });
  });

  it('fails with `timeout` on a server that never sends a banner', async () => {
    const r = await probe('smtp', at(await silent()), {}, 300);
    expect(r).toMatchObject({ ok: false, reason: 'timeout' });
    expect(r.ms).toBeGreaterThanOrEqual(290);
  });

  it('fails on a refused EHLO', async () => {
    const port = await rawPeer((s) => {
      s.write('220 hi\r\n');
      s.on('data', () => s.write('502 5.5.1 EHLO not implemented\r\n'));
    });
    expect(await probe('smtp', at(port))).toMatchObject({ ok: false, reason: 'ehlo 502' });
  });

  it('fails on garbage', async () => {
    const port = await rawPeer((s) => s.write('HELLO THERE\r\n'));
    expect(await probe('smtp', at(port))).toMatchObject({ ok: false, reason: 'garbage' });
  });

  it('fails on a peer that accepts and closes', async () => {
    expect(await probe('smtp', at(await acceptClose()))).toMatchObject({ ok: false, reason: 'closed' });
  });

  it('fails on a peer that closes after the banner without answering EHLO', async () => {
    const port = await rawPeer((s) => s.on('data', () => s.end()).write('220 hi\r\n'));
    expect(await probe('smtp', at(port))).toMatchObject({ ok: false, reason: 'closed' });
  });

  it('fails with `refused` when nothing listens', async () => {
    expect(await probe('smtp', at(await deadPort()))).toMatchObject({ ok: false, reason: 'refused' });
  });

  it('fails with `too long` on a peer that streams a never-ending multi-line reply', async () => {
    const port = await rawPeer((s) => streamForever(s, '220-continued line\r\n'.repeat(512)));
    const r = await probe('smtp', at(port), {}, 5000);
    expect(r).toMatchObject({ ok: false, reason: 'too long' });
    expect(r.ms).toBeLessThan(2000);
  });
});

describe('http probe', () => {
  async function httpPeer(status: number, seen?: string[]): Promise<number> {
    return listen(
      http.createServer((req, res) => {
        seen?.push(`${req.method} ${req.url} ${req.headers.host ?? '-'}`);
        res.writeHead(status, status === 302 ? { location: '/elsewhere' } : {});
        res.end('body');
      }),
    );
  }

  it.each([
    [200, undefined, true],
    [500, undefined, false],
    [302, undefined, true],
    [302, ['2xx'] as const, false],
    [500, ['5xx'] as const, true],
    [404, ['2xx', '3xx', '4xx'] as const, true],
  ])('status %i with expect %o -> ok %s', async (status, expect_, ok) => {
    const port = await httpPeer(status);
    const opts: CheckOptions = expect_ ? { httpExpectAlive: [...expect_] } : {};
    expect(await probe('http', at(port), opts)).toMatchObject({ ok, reason: `http ${status}` });
  });

  it('sends `GET / HTTP/1.0` by default and `httpSend` verbatim when given', async () => {
    const seen: string[] = [];
    const port = await httpPeer(200, seen);
    await probe('http', at(port));
    await probe('http', at(port), { httpSend: 'HEAD /health HTTP/1.0\r\nHost: check.local\r\n\r\n' });
    expect(seen).toEqual(['GET / -', 'HEAD /health check.local']);
  });

  it.each([
    ['HTTP/1.1 204\n', true, 'http 204'],
    ['HTTP/1.0 301 Moved\r\n', true, 'http 301'],
    ['HTTP/1.1 600 Odd\r\n', false, 'http 600'],
    ['HTTP/1.1 099 Low\r\n', false, 'http 99'],
    ['HTTP/1.1 20 Short\r\n', false, 'garbage'],
    ['SSH-2.0-OpenSSH_9.2\r\n', false, 'garbage'],
  ])('raw reply %j -> ok %s (%s)', async (reply, ok, reason) => {
    const port = await rawPeer((s) => s.once('data', () => s.write(reply)));
    expect(await probe('http', at(port))).toMatchObject({ ok, reason });
  });

  it('fails with `closed` when the peer closes before a full status line', async () => {
    const port = await rawPeer((s) => s.once('data', () => s.end('HTTP/1.1 20')));
    expect(await probe('http', at(port))).toMatchObject({ ok: false, reason: 'closed' });
  });

  it('fails with `too long` on a status line that never ends', async () => {
    const port = await rawPeer((s) => s.once('data', () => {
      s.write('HTTP/1.1 200 ');
      streamForever(s, 'x'.repeat(MAX_REPLY));
    }));
    const r = await probe('http', at(port), {}, 5000);
    expect(r).toMatchObject({ ok: false, reason: 'too long' });
    expect(r.ms).toBeLessThan(2000);
  });

  it('passes at the status line of a response whose body streams forever', async () => {
    const port = await rawPeer((s) => s.once('data', () => {
      s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n');
      streamForever(s, 'y'.repeat(65536));
    }));
    expect(await probe('http', at(port))).toMatchObject({ ok: true, reason: 'http 200' });
  });
});

describe('tls probe (ssl_hello)', () => {
  it('passes when the handshake completes (self-signed certificate accepted)', async () => {
    const port = await listen(tls.createServer({ cert: CERT, key: KEY }, (s) => s.on('error', () => {})));
    expect(await probe('tls', at(port))).toMatchObject({ ok: true, reason: 'handshake' });
    expect(await probe('ssl_hello', at(port))).toMatchObject({ ok: true, reason: 'handshake' });
  });

  it('sends tlsServerName as SNI', async () => {
    const names: string[] = [];
    const server = tls.createServer({
      cert: CERT,
      key: KEY,
      SNICallback: (name, cb) => {
        names.push(name);
        cb(null, tls.createSecureContext({ cert: CERT, key: KEY }));
      },
    });
    const port = await listen(server);
    expect(await probe('tls', at(port), { tlsServerName: 'mail.example' })).toMatchObject({ ok: true });
    expect(names).toEqual(['mail.example']);
  });

  it('passes when the ServerHello arrived even if the handshake then fails (TLS 1.2, client certificate required)', async () => {
    const server = tls.createServer({ cert: CERT, key: KEY, requestCert: true, rejectUnauthorized: true, maxVersion: 'TLSv1.2' });
    server.on('tlsClientError', () => {});
    const port = await listen(server);
    expect(await probe('tls', at(port))).toMatchObject({ ok: true, reason: 'server hello' });
  });

  it('fails on a plain-text peer', async () => {
    const port = await rawPeer((s) => s.write('220 mx.example ESMTP\r\n'));
    const r = await probe('tls', at(port));
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/^tls /);
  });

  it('fails on a peer that accepts and closes', async () => {
    expect(await probe('tls', at(await acceptClose()))).toMatchObject({ ok: false, reason: 'closed' });
  });

  it('fails with `timeout` on a silent peer and with `refused` when nothing listens', async () => {
    expect(await probe('tls', at(await silent()), {}, 300)).toMatchObject({ ok: false, reason: 'timeout' });
    expect(await probe('tls', at(await deadPort()))).toMatchObject({ ok: false, reason: 'refused' });
  });
});

describe('mysql probe', () => {
  /** A MySQL v10 greeting packet with sequence number `seq`. */
  function greeting(seq: number): Buffer {
    const body = Buffer.concat([Buffer.from([10]), Buffer.from('8.0.36\0', 'latin1'), Buffer.alloc(40, 1)]);
    const head = Buffer.from([body.length & 0xff, (body.length >> 8) & 0xff, body.length >> 16, seq]);
    return Buffer.concat([head, body]);
  }

  it('passes on a greeting with sequence number 0', async () => {
    const port = await rawPeer((s) => s.write(greeting(0)));
    expect(await probe('mysql', at(port))).toMatchObject({ ok: true, reason: 'greeting seq 0' });
  });

  it('fails on a greeting with sequence number 1', async () => {
    const port = await rawPeer((s) => s.write(greeting(1)));
    expect(await probe('mysql', at(port))).toMatchObject({ ok: false, reason: 'greeting seq 1' });
  });

  it('waits for the 5-byte head across split writes', async () => {
    const g = greeting(0);
    const port = await rawPeer((s) => {
      s.write(g.subarray(0, 2));
      setTimeout(() => s.write(g.subarray(2, 4)), 20);
      setTimeout(() => !s.destroyed && s.write(g.subarray(4)), 40);
    });
    expect(await probe('mysql', at(port))).toMatchObject({ ok: true, reason: 'greeting seq 0' });
  });

  it('fails with `closed` when the peer closes before the head, and `timeout` when it is silent', async () => {
    const port = await rawPeer((s) => s.end(Buffer.from([0x4a, 0, 0, 0])));
    expect(await probe('mysql', at(port))).toMatchObject({ ok: false, reason: 'closed' });
    expect(await probe('mysql', at(await silent()), {}, 300)).toMatchObject({ ok: false, reason: 'timeout' });
  });

  it('judges a peer that streams forever on its first 5 bytes', async () => {
    const port = await rawPeer((s) => streamForever(s, Buffer.alloc(65536, 0x41)));
    expect(await probe('mysql', at(port))).toMatchObject({ ok: false, reason: 'greeting seq 65' });
  });
});
