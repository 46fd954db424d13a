/**
 * The CLI on real-world configs (test/fixtures/real-world/, issue 16 item 4), called in process
 * through `run()`: the nginx version in every verdict, conf.d fragments (`--context`), `--prefix`
 * and `--missing-includes warn`, each upstream's own `check` line, `[warn]` lines kept before the
 * `[emerg]`, a corrected structure only in the context the text points to, the weight note only
 * where the text states the inversion, NGINX Plus names, and nginx's `unknown directive` /
 * `not allowed here` in the walked blocks. Every nginx verdict asserted here was checked with
 * `nginx -t` (Debian 1.22.1, 1.30.4 stock and 1.30.4 with the check module; see the docs).
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/cli';
import { explain } from '../../src/config/explain';
import { parseConfig, type ParseOptions } from '../../src/config/nginx';
import { FIXTURES, PLACEHOLDER, type RecordedVerdict } from '../fixtures/real-world/record';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'real-world');
const at = (name: string): string => join(FIX, name);

function cli(...args: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = run(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), isTTY: false, env: {}, version: '9.9.9' });
  return { code, out, err };
}

const json = (...args: string[]) => JSON.parse(cli(...args, '--json').out) as Record<string, unknown> & { error: Record<string, unknown> | null; warnings: Record<string, unknown>[] };
const P = 'upstream-balancer: ';

describe('every verdict names the nginx it is judged by (--nginx, default 1.30)', () => {
  it('check: text and JSON, ok and failed, 1.30 and 1.22, stock or with the check module', () => {
    const fine = at('weights/fine.conf');
    expect(cli('check', fine)).toEqual({
      code: 0,
      out: '',
      err: `${P}the configuration file ${fine} syntax is ok\n${P}configuration file ${fine} test is successful (judged as nginx 1.30 with the check module)\n`,
    });
    expect(cli('check', fine, '--nginx', '1.22', '--stock').err).toContain('test is successful (judged as stock nginx 1.22)\n');
    expect(json('check', fine)).toMatchObject({ ok: true, nginx: '1.30', checkModule: true, context: null, error: null, warnings: [] });
    expect(json('check', fine, '--nginx', '1.22', '--stock')).toMatchObject({ ok: true, nginx: '1.22', checkModule: false });
    const bad = at('broken/unknown-in-http.conf');
    expect(cli('check', bad, '--nginx', '1.22').err).toBe(`${P}[emerg] unknown directive "proxy_cache_zone" in ${bad}:5\n${P}configuration file ${bad} test failed (judged as nginx 1.22 with the check module)\n`);
    expect(json('check', bad, '--nginx', '1.22')).toMatchObject({ ok: false, nginx: '1.22', error: { kind: 'UNKNOWN_DIRECTIVE', line: 5 } });
  });

  it('explain: the JSON has `nginx`, the text its verdict line', () => {
    const r = cli('explain', at('weights/fine.conf'), '--nginx', '1.22');
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toBe(`nginx 1.22 -t: ok (${at('weights/fine.conf')})`);
    expect(JSON.parse(cli('explain', at('weights/fine.conf'), '--json').out).nginx).toBe('1.30');
  });
});

describe('--context http|stream: a conf.d fragment (ParseOptions fragment)', () => {
  const app = at('conf.d/app.conf');

  it('without it, nginx\'s verdict on the file as a main configuration; with it, the fragment is checked', () => {
    expect(cli('check', app)).toEqual({
      code: 1,
      out: '',
      err: `${P}[emerg] "upstream" directive is not allowed here in ${app}:2\n${P}configuration file ${app} test failed (judged as nginx 1.30 with the check module)\n`,
    });
    const r = cli('check', app, '--context', 'http');
    expect(r.code).toBe(0);
    expect(r.err).toBe(`${P}the configuration file ${app} syntax is ok\n${P}configuration file ${app} test is successful (judged as nginx 1.30 with the check module, FILE read as the inside of http {})\n`);
    expect(json('check', app, '--context', 'http')).toMatchObject({ ok: true, context: 'http', upstreams: [{ name: 'app_backend', context: 'http', servers: 2 }] });
    const tcp = at('conf.d/tcp.conf');
    expect(json('check', tcp, '--context', 'stream')).toMatchObject({ ok: true, context: 'stream', upstreams: [{ name: 'smtp_relay', context: 'stream', servers: 2 }] });
    // the wrong block: nginx 1.30.4 and 1.22.1 say so at the first http-only directive
    expect(json('check', app, '--context', 'stream').error).toMatchObject({ reason: '"keepalive" directive is not allowed here', line: 5 });
  });

  it('the library option: the top level is the inside of the block; http {} inside it is misplaced; uses are found', () => {
    const text = readFileSync(app, 'utf8');
    const r = parseConfig(text, { filename: 'app.conf', fragment: 'http' });
    expect(r.upstreams.map((u) => [u.name, u.context, u.keepalive])).toEqual([['app_backend', 'http', { connections: 16 }]]);
    expect(r.uses.map((u) => [u.directive, u.value, u.line])).toEqual([['proxy_pass', 'http://app_backend', 13]]);
    expect(() => parseConfig('http { }', { fragment: 'http' })).toThrow('"http" directive is not allowed here in nginx.conf:1');
    expect(() => parseConfig('', { fragment: 'mail' as 'http' })).toThrow("Expected `fragment` to be 'http' or 'stream', got `\"mail\"`");
    // explain reads it as the fragment too, and says so
    const ex = explain(text, { filename: 'app.conf', fragment: 'http' });
    expect(ex.verdict).toEqual({ ok: true });
    expect(ex.fragment).toBe('http');
  });
});

describe('--prefix DIR and --missing-includes warn', () => {
  const main = at('prefix-tree/nginx.conf');

  it('a missing include is nginx\'s [emerg]; with warn it is a [warn] line and the rest is checked', () => {
    const mime = at('prefix-tree/mime.types');
    expect(cli('check', main).err).toBe(`${P}[emerg] open() "${mime}" failed (2: No such file or directory) in ${main}:9\n${P}configuration file ${main} test failed (judged as nginx 1.30 with the check module)\n`);
    const r = cli('check', main, '--missing-includes', 'warn');
    expect(r.code).toBe(0);
    expect(r.err.split('\n')[0]).toBe(`${P}[warn] open() "${mime}" failed (2: No such file or directory): the include is skipped (missing includes are warnings) in ${main}:9`);
    const j = json('check', main, '--missing-includes', 'warn');
    expect(j.warnings).toEqual([
      { reason: `open() "${mime}" failed (2: No such file or directory): the include is skipped (missing includes are warnings)`, file: main, line: 9, column: 13, kind: 'note', include: mime },
    ]);
    expect(j.upstreams).toEqual([{ name: 'app_backend', context: 'http', servers: 3 }]);
  });

  it('the library options: missingIncludes warn (ENOENT only), onWarning in order, typed errors for bad values', () => {
    const enoent = (p: string): never => {
      throw Object.assign(new Error(`no ${p}`), { code: 'ENOENT' });
    };
    const seen: string[] = [];
    const r = parseConfig('http {\n upstream u { server 127.0.0.1:1; hash $a; least_conn; }\n include conf.d/a.conf;\n}\n', {
      filename: 'n.conf', prefix: '/etc/nginx', includes: 'anywhere', readFile: enoent, missingIncludes: 'warn', onWarning: (w) => seen.push(`${w.kind}:${w.line}`),
    });
    expect(r.errors).toEqual([]);
    expect(r.warnings.at(-1)).toEqual({ reason: 'open() "/etc/nginx/conf.d/a.conf" failed (2: No such file or directory): the include is skipped (missing includes are warnings)', file: 'n.conf', line: 3, column: 10, kind: 'note', include: '/etc/nginx/conf.d/a.conf' });
    expect(seen).toEqual(['nginx:2', 'note:3']);
    // another failure stays nginx's error
    const eacces = () => {
      throw Object.assign(new Error('denied'), { code: 'EACCES' });
    };
    expect(() => parseConfig('include a.conf;', { prefix: '/x', includes: 'anywhere', readFile: eacces, missingIncludes: 'warn' })).toThrow('open() "/x/a.conf" failed (13: Permission denied) in nginx.conf:1');
    expect(() => parseConfig('', { missingIncludes: 'skip' as 'warn' })).toThrow("Expected `missingIncludes` to be 'error' or 'warn', got `\"skip\"`");
    expect(() => parseConfig('', { nginx: '1.18' as '1.30' })).toThrow("Expected `nginx` to be one of '1.30', '1.22', got `\"1.18\"`");
    expect(() => parseConfig('', { onWarning: 3 as unknown as () => void })).toThrow('Expected `onWarning` to be a function, got `3`');
  });

  it('--prefix: relative includes resolve against DIR (the Debian tree has mime.types)', () => {
    const r = json('check', main, '--prefix', at('debian'));
    expect(r).toMatchObject({ ok: true, warnings: [], upstreams: [{ name: 'app_backend', context: 'http', servers: 3 }] });
  });

  it('Debian\'s stock /etc/nginx/nginx.conf, its absolute includes read from a copy of the tree (library: readFile, glob)', () => {
    const text = readFileSync(at('debian/nginx.conf'), 'utf8');
    const local = (p: string) => p.replace(/^\/etc\/nginx\//, `${at('debian')}/`);
    const tree: Record<string, string[]> = {
      '/etc/nginx/modules-enabled/*.conf': ['/etc/nginx/modules-enabled/50-mod-stream.conf'],
      '/etc/nginx/conf.d/*.conf': ['/etc/nginx/conf.d/upstreams.conf'],
      '/etc/nginx/sites-enabled/*': ['/etc/nginx/sites-enabled/default'],
    };
    const r = parseConfig(text, { filename: '/etc/nginx/nginx.conf', includes: 'anywhere', readFile: (p) => readFileSync(local(p)), glob: (g) => tree[g] ?? [] });
    expect(r.files).toEqual([
      '/etc/nginx/nginx.conf',
      '/etc/nginx/modules-enabled/50-mod-stream.conf',
      '/etc/nginx/mime.types',
      '/etc/nginx/conf.d/upstreams.conf',
      '/etc/nginx/sites-enabled/default',
    ]);
    expect(r.upstreams.map((u) => [u.name, u.context, u.file, u.line])).toEqual([['app_backend', 'http', '/etc/nginx/conf.d/upstreams.conf', 2]]);
    expect(r.uses.map((u) => [u.value, u.file, u.line, u.nextUpstream.tries])).toEqual([['http://app_backend', '/etc/nginx/sites-enabled/default', 14, 2]]);
  });
});

describe('each upstream\'s own check line; http or stream upstream in the words', () => {
  it('three http upstreams cite lines 10, 18 and 24, and say "http upstream"', () => {
    const ex = explain(readFileSync(at('check-module/http-checks.conf')), { filename: 'c.conf' });
    expect(ex.verdict.ok).toBe(true);
    expect(ex.stock.error!.message).toBe('unknown directive "check" in c.conf:10');
    const checks = ex.findings.filter((f) => f.id === 'check-stock');
    expect(checks.map((f) => f.title)).toEqual([
      'upstream "web": "check" (c.conf:10) is not in stock nginx',
      'upstream "api": "check" (c.conf:18) is not in stock nginx',
      'upstream "db_proxy": "check" (c.conf:24) is not in stock nginx',
    ]);
    for (const f of checks) {
      expect(f.detail).toContain('only health mechanism for an http upstream');
      expect(f.detail).not.toContain('stream upstream');
    }
  });

  it('a stream upstream says stream', () => {
    const ex = explain(readFileSync(at('check-module/stream-check.conf')), { filename: 's.conf' });
    const f = ex.findings.find((x) => x.id === 'check-stock')!;
    expect(f.title).toBe('upstream "smtp": "check" (s.conf:6) is not in stock nginx');
    expect(f.detail).toContain('(in this stream upstream it says "check" directive is not allowed here)');
    expect(f.detail).toContain('only health mechanism for a stream upstream');
  });
});

describe('the [warn] lines nginx prints before an [emerg] are kept', () => {
  const p = at('broken/warn-then-emerg.conf');

  it('text: [warn], [emerg], the NGINX Plus note, the verdict', () => {
    expect(cli('check', p, '--stock')).toEqual({
      code: 1,
      out: '',
      err:
        `${P}[warn] load balancing method redefined in ${p}:4\n` +
        `${P}[emerg] unknown directive "health_check" in ${p}:7\n` +
        `${P}note: "health_check" is valid in NGINX Plus, not in open-source nginx\n` +
        `${P}configuration file ${p} test failed (judged as stock nginx 1.30)\n`,
    });
  });

  it('JSON: the warnings beside the error; explain keeps them too', () => {
    const j = json('check', p);
    expect(j.ok).toBe(false);
    expect(j.warnings).toEqual([{ reason: 'load balancing method redefined', file: p, line: 4, column: 9, kind: 'nginx' }]);
    expect(j.error).toMatchObject({ reason: 'unknown directive "health_check"', line: 7, note: '"health_check" is valid in NGINX Plus, not in open-source nginx' });
    const ex = explain(readFileSync(p), { filename: 'w.conf' });
    expect(ex.warnings).toEqual([{ reason: 'load balancing method redefined', file: 'w.conf', line: 4, column: 9, kind: 'nginx' }]);
    expect(cli('explain', p).out.split('\n').slice(0, 2)).toEqual([`nginx 1.30 -t: error: unknown directive "health_check" in ${p}:7`, `  [warn] load balancing method redefined in ${p}:4`]);
  });
});

describe('a corrected structure only where it applies, in the context the text points to', () => {
  it('an http fragment checked as a main file: http {} with a location, never stream {}', () => {
    const ex = explain(readFileSync(at('conf.d/app.conf')), { filename: 'app.conf' });
    const f = ex.findings.find((x) => x.id === 'structure')!;
    expect(f.title).toBe('upstream outside http {}');
    expect(f.detail).toContain("check it as one (--context http; ParseOptions fragment: 'http')");
    expect(f.fix).toBe(
      'http {\n    upstream app_backend {\n        server 10.0.1.11:8080 weight=3;\n        server 10.0.1.12:8080;\n    }\n' +
        '    server {\n        listen 80;\n        location / {\n            proxy_pass http://app_backend;\n        }\n    }\n}\n',
    );
    expect(f.fix).not.toMatch(/\bstream\b/);
    expect(parseConfig(f.fix!).errors).toEqual([]);
    // its upstreams are explained as the fragment's (keepalive and the location's proxy_pass found)
    expect(ex.explainedAs).toBe('http');
    expect(ex.upstreams.map((u) => [u.name, u.context, u.misplaced, u.uses.map((x) => x.directive)])).toEqual([['app_backend', 'http', false, ['proxy_pass http://app_backend']]]);
    const text = cli('explain', at('conf.d/app.conf')).out.split('\n');
    expect(text[1]).toBe(`${at('conf.d/app.conf')} reads as a conf.d fragment of http {}: its upstreams are explained as nginx reads them when it includes the file there (--context http: that verdict is ok)`);
    expect(text[2]).toBe('');
        // read as what it is, there is nothing to correct
    expect(explain(readFileSync(at('conf.d/app.conf')), { filename: 'app.conf', fragment: 'http' }).findings).toEqual([]);
  });

  it('proxy_pass directly in stream {}: nginx\'s error, and the server {} it belongs in', () => {
    const ex = explain(readFileSync(at('broken/proxy-pass-in-stream.conf')), { filename: 'p.conf' });
    expect(ex.verdict.error!.message).toBe('"proxy_pass" directive is not allowed here in p.conf:6');
    const f = ex.findings.find((x) => x.id === 'structure')!;
    expect(f.title).toBe('proxy_pass in the stream {} block itself');
    // no listen in the text: none is invented (a stream server without one is nginx's error)
    expect(f.fix).toBe('stream {\n    upstream mail {\n        server 10.0.11.51:25;\n        server 10.0.11.52:25;\n    }\n    # server { listen PORT; proxy_pass mail; }   (the text has no listen to take the port from)\n}\n');
    expect(parseConfig(f.fix!).errors).toEqual([]);
    // with a listen in the text, the whole server
    const withListen = explain('stream {\n upstream mail { server 10.0.11.51:25; }\n listen 2525;\n proxy_pass mail;\n}\n', { filename: 'l.conf' });
    const fix = withListen.findings.find((x) => x.id === 'structure')!.fix!;
    expect(fix).toBe('stream {\n    upstream mail {\n        server 10.0.11.51:25;\n    }\n    server {\n        listen 2525;\n        proxy_pass mail;\n    }\n}\n');
    expect(parseConfig(fix).errors).toEqual([]);
  });

  it('unbalanced braces around a well-placed upstream: the problem, no invented structure', () => {
    const ex = explain(readFileSync(at('broken/unbalanced.conf')), { filename: 'u.conf' });
    expect(ex.verdict.error!.message).toBe('directive "server" is not terminated by ";" in u.conf:6');
    const f = ex.findings.find((x) => x.id === 'structure');
    expect(f?.title).toBe('unbalanced braces');
    expect(f?.fix).toBeUndefined();
  });
});

describe('the weight-direction note only where the text states the inversion', () => {
  it('weights that are fine: shares, no note', () => {
    const r = cli('explain', at('weights/fine.conf'));
    expect(r.out).toContain('pick cycle of the primaries: A A B A');
    expect(r.out).not.toContain('higher weight');
    expect(r.out).not.toContain('findings:');
  });

  it('the guide\'s inversion in a comment: the note quotes it', () => {
    const ex = explain(readFileSync(at('weights/inverted.conf'), 'utf8'), { filename: 'i.conf' });
    expect(ex.findings).toEqual([
      {
        id: 'weight-direction',
        title: 'upstream "smtp": higher weight = more traffic, not less',
        detail:
          'The text says the opposite (i.conf:1 "lower the value, the more traffic", i.conf:2 "higher weight to minimize its load"). nginx gives each server its weight out of every 5 connections: 10.0.15.91:10025 weight=1 gets 20%, 10.0.15.92:10025 weight=4 gets 80%. To send less traffic to a server, give it the smaller weight, or mark it backup or down.',
      },
    ]);
  });
});

describe('NGINX Plus names are named as such, by the version judged', () => {
  it.each([
    ['plus/ntlm.conf', '1.30', 'unknown directive "ntlm"', 7, '"ntlm" is valid in NGINX Plus, not in open-source nginx'],
    ['plus/state.conf', '1.30', 'unknown directive "state"', 5, '"state" is valid in NGINX Plus, not in open-source nginx'],
    ['plus/health-check.conf', '1.30', 'unknown directive "queue"', 7, '"queue" is valid in NGINX Plus, not in open-source nginx'],
    ['plus/slow-start.conf', '1.30', 'invalid parameter "slow_start=30s"', 5, 'the server parameter "slow_start=" is valid in NGINX Plus, not in open-source nginx'],
    ['plus/least-time.conf', '1.30', 'unknown directive "least_time"', 4, '"least_time" is valid in NGINX Plus and since open-source nginx 1.31.0, not in open-source nginx 1.30'],
    ['plus/sticky.conf', '1.22', 'unknown directive "sticky"', 7, '"sticky" is valid in NGINX Plus and since open-source nginx 1.29.6 (http upstreams only), not in open-source nginx 1.22'],
    ['plus/drain.conf', '1.22', 'invalid parameter "drain"', 5, 'the server parameter "drain" is valid in NGINX Plus and since open-source nginx 1.29.6 (http upstreams only), not in open-source nginx 1.22'],
    ['plus/resolve.conf', '1.22', 'invalid parameter "resolve"', 7, 'the server parameter "resolve" is valid in NGINX Plus and since open-source nginx 1.27.3, not in open-source nginx 1.22'],
  ])('%s judged as %s: %s (line %i), and the note', (name, nginx, reason, line, note) => {
    const p = at(name);
    const r = cli('check', p, '--nginx', nginx);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`${P}[emerg] ${reason} in ${p}:${line}\n${P}note: ${note}\n${P}configuration file ${p} test failed (judged as nginx ${nginx} with the check module)\n`);
    expect(json('check', p, '--nginx', nginx).error).toMatchObject({ reason, line, note });
    const ex = explain(readFileSync(p), { filename: 'x.conf', nginx: nginx as '1.30' | '1.22' });
    const plus = ex.findings.filter((f) => f.id === 'nginx-plus').map((f) => f.title);
    expect(plus[0]).toBe(note);
    // explain goes on past nginx's first error: health_check (in the location) is named too
    expect(plus.slice(1)).toEqual(name === 'plus/health-check.conf' ? ['"health_check" is valid in NGINX Plus, not in open-source nginx'] : []);
  });

  it('sticky in nginx 1.30: accepted as nginx 1.30.4 accepts it (the sticky configuration parsed); in a stream upstream nginx 1.30 says not allowed here', () => {
    const p = at('plus/sticky.conf');
    expect(json('check', p)).toMatchObject({ ok: true, error: null });
    expect(parseConfig(readFileSync(p, 'utf8')).upstreams[0]!.sticky).toEqual({ mode: 'cookie', name: 'srv_id', expires: 3600, domain: '.example.com', path: '/', secure: false, httponly: false });
    expect(() => parseConfig('stream { upstream u { server 127.0.0.1:1; sticky cookie a; } }')).toThrow('"sticky" directive is not allowed here in nginx.conf:1');
    expect(() => parseConfig('stream { upstream u { server 127.0.0.1:1; sticky cookie a; } }', { nginx: '1.22' })).toThrow('unknown directive "sticky" in nginx.conf:1');
  });
});

describe('unknown directives and misplaced proxy_pass / listen in the walked blocks (nginx 1.22.1 and 1.30.4 agree)', () => {
  it.each([
    ['foo bar;', 'unknown directive "foo"'],
    ['http { foo bar; }', 'unknown directive "foo"'],
    ['stream { foo bar; }', 'unknown directive "foo"'],
    ['http { server { foo bar; } }', 'unknown directive "foo"'],
    ['http { server { location / { foo bar; } } }', 'unknown directive "foo"'],
    ['stream { server { listen 127.0.0.1:1; foo; } }', 'unknown directive "foo"'],
    ['stream { upstream u { server 127.0.0.1:1; } proxy_pass u; }', '"proxy_pass" directive is not allowed here'],
    ['http { upstream u { server 127.0.0.1:1; } proxy_pass http://u; }', '"proxy_pass" directive is not allowed here'],
    ['http { listen 80; }', '"listen" directive is not allowed here'],
    ['http { http2 on; }', null],
    ['http { ssl on; }', 'unknown directive "ssl"'],
  ])('%s -> %s', (text, reason) => {
    if (reason === null) expect(parseConfig(text).errors).toEqual([]);
    else expect(() => parseConfig(text)).toThrow(`${reason} in nginx.conf:1`);
  });

  it('a dynamic module we have no names for (load_module other than stream and mail): unknown names outside upstream are skipped', () => {
    const text = 'load_module modules/ngx_http_geoip_module.so;\nhttp { geoip_country /usr/share/GeoIP/GeoIP.dat; upstream u { server 127.0.0.1:1; } }\n';
    expect(parseConfig(text).errors).toEqual([]);
    expect(() => parseConfig(text.replace('ngx_http_geoip_module', 'ngx_stream_module'))).toThrow('unknown directive "geoip_country" in nginx.conf:2');
    expect(() => parseConfig(text.replace('server 127.0.0.1:1;', 'server 127.0.0.1:1; geoip_x;'))).toThrow('unknown directive "geoip_x" in nginx.conf:2');
  });

  it('nginx 1.22 knows ssl and not http2 (the name lists differ by version)', () => {
    expect(parseConfig('http { ssl on; }', { nginx: '1.22' }).errors).toEqual([]);
    expect(() => parseConfig('http { http2 on; }', { nginx: '1.22' })).toThrow('unknown directive "http2" in nginx.conf:1');
  });

  it('the CLI: the same verdicts, with the line', () => {
    const p = at('broken/proxy-pass-in-stream.conf');
    expect(cli('check', p).err.split('\n')[0]).toBe(`${P}[emerg] "proxy_pass" directive is not allowed here in ${p}:6`);
  });
});

describe('usage errors exit 2 with the usage text, never an [emerg] at line 1', () => {
  it.each([
    [[], 'missing command'],
    [['check'], 'check: missing FILE'],
    [['check', 'f', '--nope'], 'unknown option --nope'],
    [['explain', 'f', '--upstream'], '--upstream needs a value'],
    [['check', 'f', '--nginx', '1.25'], '--nginx expects 1.30 or 1.22, got "1.25"'],
    [['check', 'f', '--context', 'mail'], '--context expects http or stream, got "mail"'],
  ])('%j', (args, message) => {
    const r = cli(...args);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err.startsWith(`${P}${message}\n\nUsage: upstream-balancer <command> FILE [options]\n`)).toBe(true);
  });

  it('--version prints the version it is given (the package\'s by default)', () => {
    expect(cli('--version')).toEqual({ code: 0, out: '9.9.9\n', err: '' });
  });
});

describe('the fixtures against what nginx said (verdicts.json, recorded by test/fixtures/real-world/record.ts)', () => {
  const recorded = JSON.parse(readFileSync(at('verdicts.json'), 'utf8')) as { nginx: Record<string, string>; cases: RecordedVerdict[] };
  // Debian's absolute /etc/nginx/ paths, read from the copy of the tree (as the recorder runs nginx)
  const debianTree: Record<string, string[]> = {
    '/etc/nginx/modules-enabled/*.conf': ['/etc/nginx/modules-enabled/50-mod-stream.conf'],
    '/etc/nginx/conf.d/*.conf': ['/etc/nginx/conf.d/upstreams.conf'],
    '/etc/nginx/sites-enabled/*': ['/etc/nginx/sites-enabled/default'],
  };
  const toFixture = (p: string) => p.replace(/^\/etc\/nginx\//, `${at('debian')}/`);

  function ours(c: RecordedVerdict): Omit<RecordedVerdict, 'file' | 'mode' | 'judge'> {
    const opts: ParseOptions = {
      filename: at(c.file),
      includes: 'anywhere',
      nginx: c.judge === '1.22' ? '1.22' : '1.30',
      checkModule: c.judge === '1.30+check',
      ...(c.mode === 'http' || c.mode === 'stream' ? { fragment: c.mode } : {}),
      ...(c.file === 'debian/nginx.conf' ? { readFile: (p: string) => readFileSync(toFixture(p)), glob: (g: string) => debianTree[g] ?? [] } : {}),
    };
    const warnings: { reason: string; file: string; line: number }[] = [];
    const line = (w: { reason: string; file: string; line: number }) => ({ reason: w.reason.replaceAll(`${FIX}/`, PLACEHOLDER), file: w.file.startsWith(`${FIX}/`) ? w.file.slice(FIX.length + 1) : toFixture(w.file).slice(FIX.length + 1), line: w.line });
    const r = parseConfig(readFileSync(at(c.file)), { ...opts, lenient: true, maxErrors: 1, onWarning: (w) => { if (w.kind === 'nginx') warnings.push(line(w)); } });
    const e = r.errors[0];
    return { ok: e === undefined, emerg: e === undefined ? null : line(e), warnings };
  }

  it('records every fixture with all three nginx (1.22.1, 1.30.4, 1.30.4 + check module)', () => {
    expect(recorded.nginx).toEqual({ '1.22': 'nginx/1.22.1', '1.30': 'nginx/1.30.4', '1.30+check': 'nginx/1.30.4' });
    expect(recorded.cases.map((c) => `${c.file} ${c.mode} ${c.judge}`)).toEqual(FIXTURES.flatMap((f) => ['1.22', '1.30', '1.30+check'].map((j) => `${f.file} ${f.mode} ${j}`)));
  });

  it('the parser says what nginx said, except where upstream-balancer documents that it differs', () => {
    const differences: string[] = [];
    for (const c of recorded.cases) {
      const we = ours(c);
      if (JSON.stringify(we) !== JSON.stringify({ ok: c.ok, emerg: c.emerg, warnings: c.warnings })) {
        differences.push(`${c.file} (${c.mode}, ${c.judge}): nginx ${c.ok ? 'ok' : c.emerg!.reason}, we ${we.ok ? 'ok' : we.emerg!.reason}`);
      }
    }
    // check in a stream upstream: upstream-balancer's documented extension (an [extension] warning)
    expect(differences).toEqual(['check-module/stream-check.conf (top, 1.30+check): nginx "check" directive is not allowed here, we ok']);
  });
});
