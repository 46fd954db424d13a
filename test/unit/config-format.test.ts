import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors';
import { formatUpstream } from '../../src/config/format';
import { parseUpstreams } from '../../src/config/nginx';

describe('formatUpstream', () => {
  it('writes only non-default parameters, in nginx syntax', () => {
    expect(
      formatUpstream('smtp', {
        servers: [
          { address: '127.0.0.1:10025', maxFails: 3, failTimeout: 3000 },
          { address: '127.0.0.1:10026', backup: true, weight: 2, maxConns: 5 },
          { address: 'unix:/run/a b.sock', down: true, failTimeout: 90_000 },
        ],
        check: { interval: 5000, rise: 2, fall: 5, timeout: 2000, type: 'smtp' },
      }, { wrap: 'stream' }),
    ).toBe(
      'stream {\n' +
        '    upstream smtp {\n' +
        '        server 127.0.0.1:10025 max_fails=3 fail_timeout=3s;\n' +
        '        server 127.0.0.1:10026 weight=2 max_conns=5 backup;\n' +
        '        server "unix:/run/a b.sock" fail_timeout=1m30s down;\n' +
        '        check interval=5000 rise=2 fall=5 timeout=2000 type=smtp;\n' +
        '    }\n' +
        '}\n',
    );
  });

  it('puts servers before hash/ip_hash/random when a backup exists (the order nginx needs)', () => {
    expect(formatUpstream('u', { method: 'hash', hash: { consistent: true }, servers: [{ address: '127.0.0.1:1' }, { address: '127.0.0.1:2', backup: true }] }, { hashKey: '$remote_addr' })).toBe(
      'upstream u {\n    server 127.0.0.1:1;\n    server 127.0.0.1:2 backup;\n    hash $remote_addr consistent;\n}\n',
    );
    expect(formatUpstream('u', { method: 'least-conn', servers: [{ address: '127.0.0.1:1' }] })).toBe('upstream u {\n    least_conn;\n    server 127.0.0.1:1;\n}\n');
    expect(formatUpstream('u', { method: 'random', randomTwo: true, randomLeastConn: true, servers: [{ address: '127.0.0.1:1' }] })).toContain('random two least_conn;');
  });

  it('check module extras', () => {
    const t = formatUpstream('u', { servers: [{ address: '127.0.0.1:1' }], check: { type: 'tls', port: 8443, defaultDown: false, httpSend: 'GET / HTTP/1.0\r\n\r\n', httpExpectAlive: ['2xx'] } });
    expect(t).toContain('check interval=30000 rise=2 fall=5 timeout=1000 type=ssl_hello port=8443 default_down=false;');
    expect(t).toContain('check_http_send "GET / HTTP/1.0\\r\\n\\r\\n";');
    expect(t).toContain('check_http_expect_alive http_2xx;');
  });

  it.each([
    [{ servers: [{ address: 'a:1', failTimeout: 1500 }] }, 'servers[0].failTimeout'],
    [{ nginx: '1.22', servers: [{ address: 'a:1', drain: true }] }, 'servers[0].drain'],
    [{ servers: [{ address: 'a:1' }], check: { type: () => true } }, 'check.type'],
    [{ servers: [{ address: 'a:1' }], check: { jitter: 0.5 } }, 'check.jitter'],
    [{ servers: [{ address: 'a:1' }], check: { startWindow: 5 } }, 'check.startWindow'],
  ])('cannot express %j', (opts, option) => {
    try {
      formatUpstream('u', opts as never);
      throw new Error('no error');
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidOptionError);
      expect((e as InvalidOptionError).option).toBe(option);
    }
  });

  it('drain: written for nginx 1.30 in http (and read back by the 1.30 parse), refused in stream and for 1.22', () => {
    const text = formatUpstream('u', { servers: [{ address: '127.0.0.1:1', drain: true }, { address: '127.0.0.1:2' }] }, { wrap: 'http' });
    expect(text).toBe('http {\n    upstream u {\n        server 127.0.0.1:1 drain;\n        server 127.0.0.1:2;\n    }\n}\n');
    expect(parseUpstreams(text, { nginx: '1.30' })[0]!.options.servers.map((x) => x.drain ?? false)).toEqual([true, false]);
    expect(() => parseUpstreams(text, { nginx: '1.22' })).toThrow(/invalid parameter "drain"/);
    expect(() => formatUpstream('u', { servers: [{ address: '127.0.0.1:1', drain: true }] }, { wrap: 'stream' })).toThrow(/no drain parameter in stream/);
    expect(() => formatUpstream('u', { nginx: '1.22', servers: [{ address: '127.0.0.1:1', drain: true }] })).toThrow(/nginx 1.22 has no drain parameter/);
  });

  it('ip_hash does not exist in stream', () => {
    expect(() => formatUpstream('u', { method: 'ip-hash', servers: [{ address: 'a:1' }] }, { wrap: 'stream' })).toThrow(/http only/);
  });
});
