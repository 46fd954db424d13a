/**
 * The CLI as a subprocess (`node --import tsx src/cli.ts ...`) on temp files: exit statuses,
 * usage errors, --json, colour only on a TTY, and the vendor guide's configs.
 */

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GUIDE_FAILOVER, GUIDE_MAINTENANCE, GUIDE_WEIGHTED } from '../conformance/nginx-t/corpus';

const ROOT = join(import.meta.dirname, '..', '..');
let dir = '';

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, ...env }, // colours as on a pipe
    timeout: 30_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

const FAILOVER = 'stream {\n    upstream smtp {\n        server 127.0.0.1:10025 max_fails=3 fail_timeout=3s;\n        server 127.0.0.1:10026 backup;\n        check interval=5000 rise=2 fall=5 timeout=2000 type=smtp;\n    }\n    server {\n        listen 10025;\n        proxy_pass smtp;\n    }\n}\n';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ub-cli-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('upstream-balancer CLI', () => {
  it('--help and -h print usage with status 0; no arguments is a usage error (2, usage on stderr)', () => {
    for (const args of [['--help'], ['-h'], ['check', 'x', '--help']]) {
      const r = cli(args);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^Usage: upstream-balancer <command> FILE \[options\]/);
    }
    const none = cli([]);
    expect(none.code).toBe(2);
    expect(none.out).toBe('');
    expect(none.err).toMatch(/^upstream-balancer: missing command\n\nUsage: upstream-balancer <command> FILE \[options\]/);
  });

  it('--version prints the package version (0)', () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const r = cli(['--version']);
    expect(r).toEqual({ code: 0, out: `${version}\n`, err: '' });
  });

  it.each([
    [['frob', 'x'], 'unknown command "frob"'],
    [['check'], 'check: missing FILE'],
    [['check', 'a', 'b'], 'unexpected argument "b"'],
    [['check', 'a', '--bogus'], 'unknown option --bogus'],
    [['simulate', 'a', '--connections', '0'], '--connections expects an integer from 1 to 100000, got "0"'],
    [['simulate', 'a', '--connections', '4000000', '--json'], '--connections expects an integer from 1 to 100000, got "4000000"'],
    [['simulate', 'a', '--fail', 'A2-3'], 'Expected `--fail` as ID@FROM-TO'],
    [['explain', 'a', '--fail', 'A@1-2'], 'are for simulate'],
    [['explain', 'a', '--upstream'], '--upstream needs a value'],
    [['simulate', 'a', '--upstream', '--json'], '--upstream needs a value'],
    [['check', 'a', '--nginx', '1.18'], '--nginx expects 1.30 or 1.22, got "1.18"'],
    [['check', 'a', '--nginx'], '--nginx needs a value'],
    [['check', 'a', '--context', 'mail'], '--context expects http or stream, got "mail"'],
    [['check', 'a', '--missing-includes', 'skip'], '--missing-includes expects error or warn, got "skip"'],
    [['check', 'a', '--json=yes'], '--json takes no value'],
  ])('usage error %j -> status 2', (args, message) => {
    const r = cli(args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
    expect(r.err).toContain('Usage:');
    expect(r.err).not.toContain('[emerg]');
  });

  it('unreadable file -> status 2', () => {
    const p = join(dir, 'nope.conf');
    const r = cli(['check', p]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`upstream-balancer: cannot read ${p}: no such file or directory\n`);
  });

  it('the usage text states the limits', () => {
    const r = cli(['--help']);
    expect(r.out).toContain('--connections N      simulate: number of connections (default 20, at most 100000:\n                       the timeline has one row per connection)');
    expect(r.out).toContain('FILE and the files it includes must be regular files of at most 8 MiB\n(8388608 bytes); a FIFO, device or directory is refused (exit status 2).');
  });

  it('check: ok (0) with extension warnings; --stock says unknown directive (1); json', () => {
    const p = file('failover.conf', FAILOVER);
    const ok = cli(['check', p]);
    expect(ok.code).toBe(0);
    expect(ok.err).toContain(`the configuration file ${p} syntax is ok`);
    expect(ok.err).toContain('[extension] check type "smtp"');
    const stock = cli(['check', p, '--stock']);
    expect(stock.code).toBe(1);
    expect(stock.err).toContain(`[emerg] unknown directive "check" in ${p}:5`);
    expect(stock.err).toContain(`configuration file ${p} test failed`);
    const j = JSON.parse(cli(['check', p, '--json', '--stock']).out);
    expect(j).toMatchObject({ ok: false, error: { reason: 'unknown directive "check"', line: 5, column: 9, kind: 'UNKNOWN_DIRECTIVE' } });
    const j2 = JSON.parse(cli(['check', p, '--json']).out);
    expect(j2).toMatchObject({ ok: true, upstreams: [{ name: 'smtp', context: 'stream', servers: 2 }] });
  });

  it('check: nginx warnings are printed like nginx -t', () => {
    const p = file('redef.conf', 'http {\n upstream u {\n  server 127.0.0.1:1;\n  hash $remote_addr;\n  least_conn;\n }\n}\n');
    const r = cli(['check', p]);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`[warn] load balancing method redefined in ${p}:5`);
  });

  it('explain: the guide\'s three configs as published (status 1: nginx -t fails), each mistake reported', () => {
    const f = cli(['explain', file('g1.conf', GUIDE_FAILOVER)]);
    expect(f.code).toBe(1);
    expect(f.out).toContain('nginx 1.30 -t: error: "upstream" directive is not allowed here in');
    expect(f.out).toContain('corrected structure:');
    expect(f.out).toContain('after 3 failed connects it is out for 3–4 s, then one probe connection every 4 s');
    const w = cli(['explain', file('g2.conf', GUIDE_WEIGHTED)]);
    expect(w.out).toContain('B  mdemailsecurity2.example.com:10025  primary  4       80%');
    expect(w.out).not.toContain('higher weight');
    const m = cli(['explain', file('g3.conf', GUIDE_MAINTENANCE)]);
    expect(m.out).toMatch(/"check" \(\S+g3\.conf:4\) is not in stock nginx/);
    expect(m.out).toContain('type=smtp exists in no check module');
  });

  it('explain: three missing semicolons are nginx\'s error (1), not a valid document; all four servers shown', { timeout: 60_000 }, () => {
    const p = file('semi.conf', 'stream {\n    upstream smtp {\n        server 127.0.0.1:10025\n        server 127.0.0.1:10026\n        server 127.0.0.1:10027\n        server 127.0.0.1:10028;\n    }\n}\n');
    const r = cli(['explain', p]);
    expect(r.code).toBe(1);
    expect(r.out.split('\n')[0]).toBe(`nginx 1.30 -t: error: invalid parameter "server" in ${p}:6`);
    expect(r.out).not.toContain('-t: ok');
    expect(r.out).toContain('  * 3 directives not terminated by ";"');
    const j = JSON.parse(cli(['explain', p, '--json']).out);
    expect(j.verdict).toEqual({ ok: false, error: { message: `invalid parameter "server" in ${p}:6`, reason: 'invalid parameter "server"', file: p, line: 6, column: 9 } });
    expect(j.document).toBeUndefined();
    expect(j.upstreams[0].servers.map((s: { address: string }) => s.address)).toEqual(['127.0.0.1:10025', '127.0.0.1:10026', '127.0.0.1:10027', '127.0.0.1:10028']);
    const c = cli(['check', p]);
    expect(c.code).toBe(1);
    expect(c.err).toBe(`upstream-balancer: [emerg] invalid parameter "server" in ${p}:6\nupstream-balancer: configuration file ${p} test failed (judged as nginx 1.30 with the check module)\n`);
  });

  it('explain: ok (0), --upstream, --json, colour only when forced or on a TTY', () => {
    const p = file('two.conf', 'stream {\n upstream a { server 127.0.0.1:1 weight=1; server 127.0.0.1:2 weight=4; }\n upstream b { server 127.0.0.1:3; }\n}\n');
    const r = cli(['explain', p]);
    expect(r.code).toBe(0);
    expect(r.out).not.toContain('\x1b[');
    expect(r.out).toContain('pick cycle of the primaries: B B A B B');
    expect(cli(['explain', p, '--color']).out).toContain('\x1b[32mnginx 1.30 -t: ok\x1b[39m'); // util.styleText's green
    const j = JSON.parse(cli(['explain', p, '--upstream', 'b', '--json']).out);
    expect(j.upstreams.map((u: { name: string }) => u.name)).toEqual(['b']);
    expect(j.upstreams[0].single).toBe(true);
    const miss = cli(['explain', p, '--upstream', 'zz']);
    expect(miss.code).toBe(1);
    expect(miss.err).toContain('no upstream "zz"');
  });

  it('simulate: timeline and shares; json; several upstreams need --upstream', () => {
    const p = file('sim.conf', FAILOVER);
    const r = cli(['simulate', p, '--connections', '8', '--fail', 'A@1-']);
    expect(r.code).toBe(0);
    const rows = r.out.split('\n').filter((l) => /^\s+\d+\.\d{3}s/.test(l)).map((l) => l.trim().split(/\s+/).slice(2).join(' '));
    expect(rows).toEqual([
      'A A 127.0.0.1:10025',
      'A! B B 127.0.0.1:10026',
      'A! B B 127.0.0.1:10026',
      'A! B B 127.0.0.1:10026',
      'B B 127.0.0.1:10026',
      'B B 127.0.0.1:10026',
      'B B 127.0.0.1:10026',
      'A! B B 127.0.0.1:10026',
    ]);
    expect(r.out).toContain('B 127.0.0.1:10026: 7 (87.5%)');
    const j = JSON.parse(cli(['simulate', p, '--connections', '3', '--json']).out);
    expect(j.shares.map((s: { count: number }) => s.count)).toEqual([3, 0]);
    const two = file('sim2.conf', 'stream { upstream a { server 127.0.0.1:1; } upstream b { server 127.0.0.1:2; } }');
    const amb = cli(['simulate', two]);
    // which upstream to run is the command line's business: a usage error, not an [emerg] at line 1
    expect(amb.code).toBe(2);
    expect(amb.err).toMatch(new RegExp(`^upstream-balancer: 2 upstream blocks in ${two.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(stream "a", stream "b"\\): name the one to use with --upstream NAME\\n\\nUsage:`));
    const missing = cli(['simulate', two, '--upstream', 'zz']);
    expect(missing.code).toBe(1);
    expect(missing.err).toBe(`upstream-balancer: upstream "zz" not found in ${two} (found: "a", "b")\n`);
    expect(cli(['simulate', two, '--upstream', 'b', '--connections', '1']).out).toContain('A 127.0.0.1:2');
  });
});
