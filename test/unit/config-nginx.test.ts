import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors';
import { balancerOptionsFromNginx, parseConfig, parseUpstreams, type ParseOptions } from '../../src/config/nginx';
import { GUIDE_FAILOVER, GUIDE_MAINTENANCE } from '../conformance/nginx-t/corpus';

function err(text: string, opts: ParseOptions = {}): ConfigError {
  try {
    parseConfig(text, { filename: 'u.conf', ...opts });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}
const httpU = (body: string) => `http {\n  upstream u {\n${body}\n  }\n}\n`;
const streamU = (body: string) => `stream {\n  upstream u {\n${body}\n  }\n}\n`;

describe('parseUpstreams: upstream semantics (docs/nginx-semantics.md §6)', () => {
  it('maps every server parameter to BalancerOptions (failTimeout in ms, id = address text)', () => {
    const [u] = parseUpstreams(streamU('    server 127.0.0.1:10025 weight=5 max_fails=3 fail_timeout=1m30s max_conns=7;\n    server 127.0.0.1:10026 backup;\n    server unix:/tmp/s down;'), { filename: 's.conf' });
    expect(u).toMatchObject({ name: 'u', context: 'stream', file: 's.conf', line: 2 });
    expect(u!.options).toEqual({
      name: 'u',
      nginx: '1.30',
      method: 'round-robin',
      servers: [
        { id: '127.0.0.1:10025', address: '127.0.0.1:10025', weight: 5, maxFails: 3, failTimeout: 90_000, maxConns: 7, backup: false, down: false },
        { id: '127.0.0.1:10026', address: '127.0.0.1:10026', weight: 1, maxFails: 1, failTimeout: 10_000, maxConns: 0, backup: true, down: false },
        { id: 'unix:/tmp/s', address: 'unix:/tmp/s', weight: 1, maxFails: 1, failTimeout: 10_000, maxConns: 0, backup: false, down: true },
      ],
    });
    expect(u!.serverSources.map((s) => s.line)).toEqual([3, 4, 5]);
  });

  it('keeps the address text exactly as written (consistent hash hashes it)', () => {
    const [u] = parseUpstreams(httpU('    server "localhost:8080";\n    server [::1];'));
    expect(u!.options.servers.map((s) => s.address)).toEqual(['localhost:8080', '[::1]']);
  });

  it('balancing methods, the hash key and the last directive winning with a warning', () => {
    const r = parseConfig(httpU('    hash $remote_addr consistent;\n    server 127.0.0.1:1;\n    least_conn;\n    random two;'), { filename: 'u.conf' });
    const u = r.upstreams[0]!;
    expect(u.options.method).toBe('random');
    expect(u.options.randomTwo).toBe(true);
    expect(u.options.randomLeastConn).toBe(true);
    expect(u.methodDirective).toBe('random two');
    expect(u.warnings.filter((w) => w.kind === 'nginx').map((w) => [w.reason, w.line])).toEqual([
      ['load balancing method redefined', 5],
      ['load balancing method redefined', 6],
    ]);
    const [h] = parseUpstreams(httpU('    hash $remote_addr consistent;\n    server 127.0.0.1:1;'));
    expect(h!.options).toMatchObject({ method: 'hash', hash: { consistent: true } });
    expect(h!.hashKey).toBe('$remote_addr');
    const [ip] = parseUpstreams(httpU('    ip_hash;\n    server 127.0.0.1:1;'));
    expect(ip!.options.method).toBe('ip-hash');
    const [lc] = parseUpstreams(streamU('    least_conn;\n    server 127.0.0.1:1;'));
    expect(lc!.options.method).toBe('least-conn');
  });

  it('backup before hash/ip_hash/random is accepted (allowBackupWithHash), after it is an error', () => {
    const [u] = parseUpstreams(httpU('    server 127.0.0.1:1;\n    server 127.0.0.1:2 backup;\n    hash $remote_addr;'));
    expect(u!.options.allowBackupWithHash).toBe(true);
    expect(u!.warnings.some((w) => w.kind === 'note' && w.reason.includes('only because of that order'))).toBe(true);
    const e = err(httpU('    ip_hash;\n    server 127.0.0.1:1;\n    server 127.0.0.1:2 backup;'));
    expect([e.reason, e.line, e.column, e.kind]).toEqual(['balancing method does not support parameter "backup"', 5, 24, 'NOT_SUPPORTED']);
    const [lc] = parseUpstreams(httpU('    hash $remote_addr;\n    least_conn;\n    server 127.0.0.1:1;\n    server 127.0.0.1:2 backup;'));
    expect(lc!.options.allowBackupWithHash).toBeUndefined();
  });

  it('keepalive before a balancing method: nginx 1.22 warns "redefined" and we note the lost keepalive; 1.30 does neither', () => {
    const [old] = parseUpstreams(httpU('    keepalive 8;\n    least_conn;\n    server 127.0.0.1:1;'), { nginx: '1.22' });
    expect(old!.warnings.map((w) => w.kind)).toEqual(['nginx', 'note']);
    expect(old!.keepalive).toEqual({ connections: 8 });
    expect(old!.options.nginx).toBe('1.22');
    const [now] = parseUpstreams(httpU('    keepalive 8;\n    least_conn;\n    server 127.0.0.1:1;'), { nginx: '1.30' });
    expect(now!.warnings).toEqual([]);
    expect(now!.keepalive).toEqual({ connections: 8 });
    expect(now!.options.nginx).toBe('1.30');
  });

  it('zone and keepalive companions are kept', () => {
    const [u] = parseUpstreams(httpU('    zone z 1m;\n    server 127.0.0.1:1;\n    keepalive 4;\n    keepalive_requests 100;\n    keepalive_time 1h;\n    keepalive_timeout 60s;'));
    expect(u!.zone).toEqual({ name: 'z', size: 1048576 });
    expect(u!.keepalive).toEqual({ connections: 4, requests: 100, timeMs: 3_600_000, timeoutMs: 60_000 });
  });

  it('duplicate server lines get distinct ids', () => {
    const [u] = parseUpstreams(httpU('    server 127.0.0.1:1;\n    server 127.0.0.1:1;'));
    expect(u!.options.servers.map((s) => s.id)).toEqual(['127.0.0.1:1', '127.0.0.1:1#2']);
  });

  it.each([
    [httpU('    server 127.0.0.1 weight=0;'), 'invalid parameter "weight=0"', 3, 22],
    [httpU('    server 127.0.0.1 resolve;'), 'invalid parameter "resolve"', 3, 22, { nginx: '1.22' }],
    [httpU('    server 127.0.0.1 slow_start=30s;'), 'invalid parameter "slow_start=30s"', 3, 22],
    [streamU('    server 127.0.0.1;'), 'no port in upstream "127.0.0.1"', 3, 12],
    [httpU('    server 127.0.0.1:99999;'), 'invalid port in upstream "127.0.0.1:99999"', 3, 12],
    ['upstream u { server 127.0.0.1:80; }', '"upstream" directive is not allowed here', 1, 1],
    ['http {\n upstream u {\n server 127.0.0.1:80;\n', 'unexpected end of file, expecting "}"', 4, 1],
    [httpU('    server 127.0.0.1 backup;'), 'no servers in upstream "u"', 2, 3],
    [httpU(''), 'no servers are inside upstream', 4, 3],
    [httpU('    server 127.0.0.1;\n    check interval=1000;'), 'unknown directive "check"', 4, 5, { checkModule: false }],
  ] as const)('%j -> %s', (text, reason, line, column, opts?: ParseOptions) => {
    const e = err(text, opts);
    expect([e.reason, e.line, e.column, e.file]).toEqual([reason, line, column, 'u.conf']);
    expect(e.message).toBe(`${reason} in u.conf:${line}`);
    expect(e.code).toBe('ERR_UPSTREAM_CONFIG');
  });

  it('weights nginx accepts beyond the Balancer limit are kept and noted', () => {
    const [u] = parseUpstreams(httpU('    server 127.0.0.1 weight=2147483648;'));
    expect(u!.options.servers[0]!.weight).toBe(2147483648);
    expect(u!.warnings[0]!.reason).toContain('larger than upstream-balancer');
  });
});

describe('check module directives (docs/nginx-semantics.md §7.1)', () => {
  const check = (line: string, ctx = httpU) => parseUpstreams(ctx(`    server 127.0.0.1:1;\n    ${line}`))[0]!;

  it('defaults: interval=30000 fall=5 rise=2 timeout=1000 default_down=true type=tcp port=0', () => {
    expect(check('check interval=30000;').options.check).toEqual({ interval: 30000, rise: 2, fall: 5, timeout: 1000, type: 'tcp', port: 0, defaultDown: true });
  });

  it('parses every parameter; the last check line wins entirely', () => {
    const u = check('check interval=1000 rise=9;\n    check interval=3000 fall=3 rise=4 timeout=500 default_down=FALSE type=http port=8081;');
    expect(u.options.check).toEqual({ interval: 3000, rise: 4, fall: 3, timeout: 500, type: 'http', port: 8081, defaultDown: false });
  });

  it.each([
    ['check;', 'invalid number of arguments in "check" directive'],
    ['check interval=5s;', 'invalid parameter "interval=5s"'],
    ['check interval=0;', 'invalid parameter "interval=0"'],
    ['check rise=0;', 'invalid parameter "rise=0"'],
    ['check fall=x;', 'invalid parameter "fall=x"'],
    ['check timeout=0;', 'invalid parameter "timeout=0"'],
    ['check port=0;', 'invalid parameter "port=0"'],
    ['check type=HTTP;', 'invalid parameter "type=HTTP"'],
    ['check type=udp;', 'invalid parameter "type=udp"'],
    ['check foo=1;', 'invalid parameter "foo=1"'],
    ['check default_down=yes;', 'invalid value "default_down=yes", it must be "true" or "false"'],
    ['check interval=1000;\n    check_keepalive_requests 0;', '"check_keepalive_requests" directive invalid value'],
    ['check interval=1000;\n    check_http_expect_alive http_6xx;', 'invalid value "http_6xx"'],
  ])('%s -> %s', (line, reason) => {
    expect(err(httpU(`    server 127.0.0.1:1;\n    ${line}`)).reason).toBe(reason);
  });

  it('type=smtp is accepted as our extension, with a warning', () => {
    const u = check('check interval=5000 rise=2 fall=5 timeout=2000 type=smtp;');
    expect(u.options.check!.type).toBe('smtp');
    expect(u.warnings.map((w) => w.kind)).toEqual(['extension']);
    expect(u.warnings[0]!.reason).toContain('type "smtp"');
  });

  it('check in a stream upstream is accepted as our extension, with a warning', () => {
    const u = check('check interval=5000 type=tcp;', streamU);
    expect(u.warnings.map((w) => w.kind)).toEqual(['extension']);
    expect(u.warnings[0]!.reason).toContain('http upstreams only');
  });

  it('fastcgi and ajp are module types we do not implement', () => {
    expect(err(httpU('    server 127.0.0.1:1;\n    check type=fastcgi;')).kind).toBe('UNSUPPORTED');
  });

  it('check_http_send (escapes applied), check_http_expect_alive (OR-ed, duplicates warned), check_keepalive_requests', () => {
    const u = check('check interval=1000 type=http;\n    check_http_send "HEAD / HTTP/1.0\\r\\n\\r\\n";\n    check_http_expect_alive http_2xx;\n    check_http_expect_alive http_4xx http_2xx;\n    check_keepalive_requests 10;');
    expect(u.options.check).toMatchObject({ httpSend: 'HEAD / HTTP/1.0\r\n\r\n', httpExpectAlive: ['2xx', '4xx'] });
    expect(u.checkKeepaliveRequests).toBe(10);
    expect(u.warnings.map((w) => w.reason)).toEqual(['duplicate value "http_2xx"']);
  });

  it('with checkModule: false the directives are unknown, as in stock nginx', () => {
    expect(err(streamU('    server 127.0.0.1:1;\n    check_http_send x;'), { checkModule: false }).reason).toBe('unknown directive "check_http_send"');
  });
});

describe('include', () => {
  const files: Record<string, string> = {
    '/etc/nginx/nginx.conf': 'stream {\n  include conf.d/*.conf;\n}\n',
    '/etc/nginx/conf.d/a.conf': 'upstream a {\n  include /etc/nginx/servers;\n}\n',
    '/etc/nginx/conf.d/b.conf': 'upstream b { server 127.0.0.1:2 weight=0; }\n',
    '/etc/nginx/servers': 'server 127.0.0.1:1;\n',
    '/etc/nginx/loop.conf': 'include loop.conf;\n',
  };
  const readFile = (p: string) => {
    if (!(p in files)) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    return files[p]!;
  };
  const glob = (pattern: string) => Object.keys(files).filter((f) => f.startsWith(pattern.replace('*.conf', '')) && f.endsWith('.conf')).sort();
  const opts = { filename: '/etc/nginx/nginx.conf', readFile, glob };

  it('resolves relative to the prefix, expands globs in order, reports errors in the included file', () => {
    const e = err(files['/etc/nginx/nginx.conf']!, opts);
    expect([e.reason, e.file, e.line]).toEqual(['invalid parameter "weight=0"', '/etc/nginx/conf.d/b.conf', 1]);
    files['/etc/nginx/conf.d/b.conf'] = 'upstream b { server 127.0.0.1:2 weight=2; }\n';
    const r = parseConfig(files['/etc/nginx/nginx.conf']!, opts);
    expect(r.upstreams.map((u) => [u.name, u.file, u.options.servers.length])).toEqual([
      ['a', '/etc/nginx/conf.d/a.conf', 1],
      ['b', '/etc/nginx/conf.d/b.conf', 1],
    ]);
    expect(r.files).toEqual(['/etc/nginx/nginx.conf', '/etc/nginx/conf.d/a.conf', '/etc/nginx/servers', '/etc/nginx/conf.d/b.conf']);
  });

  it('a missing file is nginx\'s open() error; a cycle is an error', () => {
    const e = err('http { include missing.conf; }', opts);
    expect([e.reason, e.line, e.kind]).toEqual(['open() "/etc/nginx/missing.conf" failed (2: No such file or directory)', 1, 'INCLUDE']);
    const c = err('include loop.conf;', opts);
    expect(c.kind).toBe('INCLUDE_CYCLE');
    expect(c.file).toBe('/etc/nginx/loop.conf');
  });
});

describe('lenient mode (explain)', () => {
  it('reports nginx\'s first error and recovers the vendor guide\'s upstream', () => {
    const r = parseConfig(GUIDE_FAILOVER, { filename: 'g.conf', lenient: true, glob: () => [], includes: 'anywhere' });
    expect(r.errors.map((e) => [e.reason, e.line])).toEqual([
      ['"upstream" directive is not allowed here', 9],
      ['directive "server" is not terminated by ";"', 12],
      ['unexpected end of file, expecting "}"', 15],
    ]);
    expect(r.upstreams).toHaveLength(1);
    expect(r.upstreams[0]).toMatchObject({ name: 'cluster_mdemailsecurity_smtp', context: 'stream', misplaced: true });
    expect(r.upstreams[0]!.options.servers.map((s) => [s.address, s.maxFails, s.failTimeout, s.backup])).toEqual([
      ['mdemailsecurity1.example.com:10025', 3, 3000, false],
      ['mdemailsecurity2.example.com:10025', 1, 10_000, true],
    ]);
    expect(r.proxyDirectives.map((p) => [p.directive, p.value])).toEqual([['listen', '10025'], ['proxy_pass', 'cluster_mdemailsecurity_smtp']]);
  });

  it('recovers the maintenance config with its check line', () => {
    const r = parseConfig(GUIDE_MAINTENANCE, { lenient: true });
    expect(r.errors[0]!.reason).toBe('"upstream" directive is not allowed here');
    expect(r.upstreams[0]!.options.check).toMatchObject({ interval: 5000, rise: 2, fall: 5, timeout: 2000, type: 'smtp' });
    expect(r.upstreams[0]!.options.servers[0]!.down).toBe(true);
  });

  it('never throws ConfigError, whatever the text', () => {
    for (const t of ['}', '{', '"', 'a', ';', 'http { upstream { } }', 'stream { upstream u { server; } } }']) {
      expect(() => parseConfig(t, { lenient: true })).not.toThrow();
    }
  });
});

describe('balancerOptionsFromNginx', () => {
  const two = 'http { upstream a { server 127.0.0.1:1; } }\nstream { upstream b { server 127.0.0.1:2; } upstream a { server 127.0.0.1:3; } }';
  it('picks the named upstream, or the only one', () => {
    expect(balancerOptionsFromNginx(two, 'b').servers[0]!.address).toBe('127.0.0.1:2');
    expect(balancerOptionsFromNginx(two, 'a', { context: 'stream' }).servers[0]!.address).toBe('127.0.0.1:3');
    expect(balancerOptionsFromNginx('stream { upstream x { server 127.0.0.1:9; } }').name).toBe('x');
  });
  it.each([
    [undefined, 'UPSTREAM_AMBIGUOUS', '3 upstream blocks in nginx.conf (http "a", stream "b", stream "a"): name the one to use'],
    ['zz', 'UPSTREAM_NOT_FOUND', 'upstream "zz" not found in nginx.conf (found: "a", "b", "a")'],
    ['a', 'UPSTREAM_AMBIGUOUS', 'upstream "a" exists in both http and stream: pass { context: \'http\' | \'stream\' }'],
  ])('name %j -> %s', (name, kind, reason) => {
    try {
      balancerOptionsFromNginx(two, name);
      throw new Error('no error');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect([(e as ConfigError).kind, (e as ConfigError).reason]).toEqual([kind, reason]);
    }
  });
  it('no upstream at all', () => {
    expect(() => balancerOptionsFromNginx('http { }')).toThrow(/no upstream block/);
  });
});
