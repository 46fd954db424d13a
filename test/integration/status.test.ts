/**
 * statusHandler served by node:http on 127.0.0.1 over real Balancers: methods, `format=` and
 * `status=` arguments, content types, HEAD, the no-check-servers answer. Every server is stopped.
 */
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { formatStatus, statusHandler, type SnapshotSource } from '../../src/status';
import { listen, stopAll } from '../fixtures/peers';

afterEach(async () => {
  await stopAll();
});

function balancers(): Balancer[] {
  const smtp = new Balancer({
    name: 'smtp',
    servers: [
      { address: '127.0.0.1:10025' },
      { address: '127.0.0.1:10026' },
      { address: '127.0.0.1:10027', down: true }, // admin down: not checked, not listed
      { address: '127.0.0.1:10028', backup: true },
    ],
    check: { type: 'smtp', interval: 5000, rise: 2, fall: 5, timeout: 2000 },
  });
  for (let i = 0; i < 3; i++) smtp.reportCheck('127.0.0.1:10025', true);
  smtp.reportCheck('127.0.0.1:10026', false);
  smtp.reportCheck('127.0.0.1:10028', true);
  smtp.reportCheck('127.0.0.1:10028', true);
  const plain = new Balancer({ name: 'plain', servers: [{ address: '127.0.0.1:8080' }] });
  const web = new Balancer({ name: 'web', servers: [{ address: '127.0.0.1:8081' }], check: { type: 'http', port: 8082, defaultDown: false } });
  return [smtp, plain, web];
}

async function get(port: number, path: string, method = 'GET') {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('statusHandler over node:http', () => {
  it('serves json in the module\'s layout, rows in config order across balancers, backups after primaries', async () => {
    const port = await listen(http.createServer(statusHandler(balancers(), { format: 'json' })));
    const r = await get(port, '/status');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    const rows = [
      '    {"index": 0, "upstream": "smtp", "name": "127.0.0.1:10025", "status": "up", "rise": 3, "fall": 0, "type": "smtp", "port": 0}',
      '    {"index": 1, "upstream": "smtp", "name": "127.0.0.1:10026", "status": "down", "rise": 0, "fall": 1, "type": "smtp", "port": 0}',
      '    {"index": 2, "upstream": "smtp", "name": "127.0.0.1:10028", "status": "up", "rise": 2, "fall": 0, "type": "smtp", "port": 0}',
      '    {"index": 3, "upstream": "web", "name": "127.0.0.1:8081", "status": "up", "rise": 0, "fall": 0, "type": "http", "port": 8082}',
    ];
    expect(r.body).toBe(`{"servers": {\n  "total": 4,\n  "generation": 1,\n  "server": [\n${rows.join(',\n')}\n  ]\n}}\n`);
    expect(r.headers['content-length']).toBe(String(Buffer.byteLength(r.body)));
    // the module's comma after the last row shown when the filter drops the last checked server
    expect((await get(port, '/status?status=down')).body).toBe(`{"servers": {\n  "total": 1,\n  "generation": 1,\n  "server": [\n${rows[1]},\n  ]\n}}\n`);
  });

  it('serves Tengine\'s json with layout: tengine', async () => {
    const port = await listen(http.createServer(statusHandler(balancers(), { format: 'json', layout: 'tengine' })));
    const r = await get(port, '/status?status=down');
    expect(r.body).toBe(
      '{"servers": {\n  "total": 1,\n  "up": 0,\n  "down": 1,\n  "generation": 1,\n  "server": [\n' +
        '    {"index": 1, "upstream": "smtp", "name": "127.0.0.1:10026", "status": "down", "rise": 0, "fall": 1, "type": "smtp", "port": 0}\n' +
        '  ]\n}}\n',
    );
  });

  it('defaults to html and honours ?format= (exact) and ?status= (any case), read raw as nginx reads them; bad values are ignored', async () => {
    const port = await listen(http.createServer(statusHandler(balancers())));
    const html = await get(port, '/');
    expect(html.headers['content-type']).toBe('text/html');
    expect(html.body).toContain('<h2>Check upstream server number: 4, generation: 1</h2>');

    const csv = await get(port, '/?format=csv&status=DOWN');
    expect(csv.headers['content-type']).toBe('text/plain');
    expect(csv.body).toBe('1,smtp,127.0.0.1:10026,down,0,1,smtp,0\n');

    const badFormat = await get(port, '/?format=CSV&status=up');
    expect(badFormat.headers['content-type']).toBe('text/html');
    expect(badFormat.body).toContain('<h2>Check upstream server number: 3, generation: 1</h2>');

    expect((await get(port, '/?FORMAT=csv&Status=down')).body).toBe('1,smtp,127.0.0.1:10026,down,0,1,smtp,0\n');
    expect((await get(port, '/?format=%63sv')).headers['content-type']).toBe('text/html'); // not decoded

    const badStatus = await get(port, '/?format=csv&status=sideways');
    expect(badStatus.body.split('\n')).toHaveLength(5);

    const prom = await get(port, '/?format=prometheus');
    expect(prom.headers['content-type']).toBe('text/plain; version=0.0.4');
    expect(prom.body).toContain('upstream_balancer_server_state{upstream="smtp",server="127.0.0.1:10026",state="unhealthy"} 1\n');
    expect(prom.body).toContain('upstream_balancer_server_state{upstream="plain",server="127.0.0.1:8080",state="up"} 1\n'); // every server, checked or not
    expect(prom.body).toContain('upstream_balancer_server_checks_total{upstream="smtp",server="127.0.0.1:10026",result="failed"} 1\n');
    expect((await get(port, '/?format=prometheus&status=down')).body).toBe(prom.body); // no filter: series never come and go with a state
  });

  it('answers HEAD with headers only, and other methods with 405', async () => {
    const port = await listen(http.createServer(statusHandler(balancers(), { format: 'csv', generation: 4 })));
    const full = await get(port, '/');
    const head = await get(port, '/', 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers['content-length']).toBe(String(full.body.length));
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      const r = await get(port, '/', method);
      expect(r.status).toBe(405);
      expect(r.headers.allow).toBe('GET, HEAD');
    }
  });

  it('reads the balancer list on every request when given a function', async () => {
    let list: SnapshotSource[] = [];
    const port = await listen(http.createServer(statusHandler(() => list, { format: 'csv' })));
    const none = await get(port, '/');
    expect(none.status).toBe(500);
    expect(none.body).toMatch(/can not find any check server/);
    list = balancers().slice(2);
    expect((await get(port, '/')).body).toBe('0,web,127.0.0.1:8081,up,0,0,http,8082\n');
  });

  it('answers 500 with a fixed text, not the exception\'s, when a snapshot throws', async () => {
    const broken: SnapshotSource = {
      snapshot() {
        throw new Error('boom');
      },
    };
    const port = await listen(http.createServer(statusHandler([broken])));
    const r = await get(port, '/');
    expect(r.status).toBe(500);
    expect(r.body).toBe('status unavailable\n');
  });

  it('survives request targets that Node accepts and WHATWG URL rejects, reading their query', async () => {
    const port = await listen(http.createServer(statusHandler(balancers())));
    const raw = (target: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1', () => socket.end(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
        let text = '';
        socket.setEncoding('latin1');
        socket.on('data', (d: string) => (text += d));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
    for (const target of ['http://a:99999/', '//[', 'http://[::1/', 'http://a:99999/?format=csv', '//[?status=down&format=csv']) {
      expect(() => new URL(target, 'http://status.invalid'), target).toThrow();
      const text = await raw(target);
      expect(text.split('\r\n')[0], target).toBe('HTTP/1.1 200 OK');
      if (target.includes('format=csv')) {
        const body = text.slice(text.indexOf('\r\n\r\n') + 4);
        expect(body, target).toBe(target.includes('status=down') ? '1,smtp,127.0.0.1:10026,down,0,1,smtp,0\n' : formatStatus(balancers().map((b) => b.snapshot()), 'csv'));
      }
    }
    expect((await get(port, '/?format=json')).status).toBe(200); // and the server is still up
  });

  it('shows live check state: a report moves a server between the up and down lists', async () => {
    const [smtp] = balancers();
    const port = await listen(http.createServer(statusHandler([smtp!], { format: 'csv' })));
    expect((await get(port, '/?status=down')).body).toBe('1,smtp,127.0.0.1:10026,down,0,1,smtp,0\n');
    smtp!.reportCheck('127.0.0.1:10026', true);
    smtp!.reportCheck('127.0.0.1:10026', true);
    expect((await get(port, '/?status=down')).body).toBe('');
    expect((await get(port, '/?status=up')).body).toContain('1,smtp,127.0.0.1:10026,up,2,0,smtp,0\n');
  });
});

describe('large pages (issue 14, item 12)', () => {
  function large(n: number): Balancer {
    const servers = Array.from({ length: n }, (_, i) => ({ address: `10.0.${i >> 8}.${i & 255}:25` }));
    const b = new Balancer({ name: 'big', servers, check: { interval: 5000, defaultDown: false } });
    for (let i = 0; i < n; i += 7) b.reportCheck(servers[i]!.address, false);
    return b;
  }

  it.each(['json', 'csv', 'html', 'prometheus'] as const)('a page of 5,000 servers is streamed in pieces (chunked), byte for byte formatStatus (%s)', async (format) => {
    const b = large(5000);
    let turns = 0;
    const port = await listen(http.createServer(statusHandler([b], { format })));
    // counts turns of the event loop while the page is written: a page built in one go would allow none
    const tick = (): void => {
      turns++;
      if (!done) setImmediate(tick);
    };
    let done = false;
    setImmediate(tick);
    const r = await get(port, '/');
    done = true;
    expect(r.status).toBe(200);
    expect(r.headers['transfer-encoding']).toBe('chunked');
    expect(r.headers['content-length']).toBeUndefined();
    expect(r.body).toBe(formatStatus(b.snapshot(), format));
    expect(turns).toBeGreaterThanOrEqual(3);
  });

  it('a client that goes away mid-page stops the writing; the server answers the next request', async () => {
    const b = large(20000);
    const port = await listen(http.createServer(statusHandler([b], { format: 'prometheus' })));
    await new Promise<void>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write('GET /?format=prometheus HTTP/1.1\r\nHost: x\r\n\r\n'));
      s.once('data', () => {
        s.destroy();
        resolve();
      });
    });
    const r = await get(port, '/?format=json');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).servers.total).toBe(20000);
  });
});

describe('a client that half-closes after its request (printf ... | nc, HTTP/1.0 tools)', () => {
  it('gets the whole small page: it is answered at once, before Node ends the socket at the FIN', async () => {
    const port = await listen(http.createServer(statusHandler(balancers(), { format: 'csv' })));
    const raw = await new Promise<string>((resolve, reject) => {
      let got = '';
      const s = net.connect(port, '127.0.0.1', () => s.end('GET / HTTP/1.0\r\n\r\n'));
      s.setEncoding('latin1');
      s.on('data', (c: string) => (got += c));
      s.on('end', () => resolve(got));
      s.on('error', reject);
    });
    expect(raw.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(raw.endsWith(formatStatus(balancers().map((b) => b.snapshot()), 'csv'))).toBe(true);
  });
});
