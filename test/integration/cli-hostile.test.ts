/**
 * The CLI as a subprocess on hostile input (issue 14, item 11): FILE that is a device, a FIFO, a
 * directory or too large (refused at once, status 2), an include of one (nginx's open() error,
 * status 1), a reader that closes stdout early (`| head -1`: quiet, the command's status), and
 * control characters from the configuration or the command line (printed escaped, in --json too
 * for C1). No timed assertions: a CLI that blocked would be killed by spawnSync's timeout and fail
 * on its status.
 */

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

// each test spawns the CLI up to three times (about 0.5 s each, more on a loaded machine)
vi.setConfig({ testTimeout: 90_000 });

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = [process.execPath, '--import', 'tsx', join(ROOT, 'src/cli.ts')] as const;
let dir = '';

function cli(args: string[]) {
  const r = spawnSync(CLI[0], [...CLI.slice(1), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined }, // colours as on a pipe
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

const file = (name: string, text: string | Buffer) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

/** Any control character but the newline: what must never reach a terminal from the configuration. */
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ub-cli-hostile-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('FILE is read only as a regular file, capped (status 2)', () => {
  it('check /dev/zero is refused at once, not read (it reached 16.8 GB in 60 s)', () => {
    const r = cli(['check', '/dev/zero']);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(2);
    expect(r.err).toBe('upstream-balancer: cannot read /dev/zero: it is a character device, not a regular file\n');
    expect(r.out).toBe('');
  });

  it('a FIFO without a writer does not block', () => {
    const fifo = join(dir, 'fifo.conf');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const r = cli(['explain', fifo]);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(2);
    expect(r.err).toBe(`upstream-balancer: cannot read ${fifo}: it is a FIFO, not a regular file\n`);
    rmSync(fifo);
  });

  it('a directory, and a file one byte over 8 MiB', () => {
    const d = cli(['check', dir]);
    expect(d.code).toBe(2);
    expect(d.err).toBe(`upstream-balancer: cannot read ${dir}: it is a directory\n`);
    const big = file('big.conf', Buffer.alloc(8 * 1024 * 1024 + 1, 0x20));
    const b = cli(['check', big]);
    expect(b.code).toBe(2);
    expect(b.err).toBe(`upstream-balancer: cannot read ${big}: it is 8388609 bytes, more than the limit of 8388608\n`);
    rmSync(big);
  });

  it('an include of a device or a FIFO is refused (status 1), without blocking (nginx would read or wait forever)', () => {
    const zero = file('inc-zero.conf', 'stream {\n    include /dev/zero;\n}\n');
    const z = cli(['check', zero]);
    expect(z.signal).toBeNull();
    expect(z.code).toBe(1);
    expect(z.err).toMatch(/^upstream-balancer: \[emerg\] include "\/dev\/zero" refused: not a regular file in .*inc-zero\.conf:2\n/);
    const fifo = join(dir, 'inc.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const main = file('inc-fifo.conf', 'stream {\n    include inc.fifo;\n}\n');
    const f = cli(['check', main]);
    expect(f.signal).toBeNull();
    expect(f.code).toBe(1);
    expect(f.err).toContain(`[emerg] include "${fifo}" refused: not a regular file in `);
    rmSync(fifo);
  });
});

describe('stdout closed early (`| head -1`)', () => {
  it('ends quietly: no EPIPE stack trace, the command\'s status (0)', async () => {
    const conf = file('epipe.conf', 'stream { upstream u { server 127.0.0.1:1; server 127.0.0.1:2; } }\n');
    // about 1 MB of timeline: far more than a pipe buffer, so the CLI is still writing when the pipe closes
    const child = spawn(CLI[0], [...CLI.slice(1), 'simulate', conf, '--connections', '20000'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let first = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => (err += s));
    child.stdout.once('data', (chunk: Buffer) => {
      first = chunk.toString('utf8');
      child.stdout.destroy();
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    expect(first.split('\n')[0]).toBe('upstream u (round-robin): 20000 connections');
    expect(err).toBe('');
    expect(signal).toBeNull();
    expect(code).toBe(0);
  });
});

describe('control characters are printed escaped (issue 14, item 11)', () => {
  // ESC/CSI (clear screen, red), OSC with BEL (window title), CR, and C1 CSI (U+009B)
  const EVIL = 'stream {\n upstream "up\x1b]0;owned\x07\r" {\n  server "\x1b[2J\x1b[31mevil:25";\n  server "b\u009b31m:25" weight=2;\n }\n}\n';

  it('check: an error quoting a value', () => {
    const p = file('bad-param.conf', 'stream {\n upstream u {\n  server a:25 "\x1b[2J\u009bwat";\n }\n}\n');
    const r = cli(['check', p]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`upstream-balancer: [emerg] invalid parameter "\\x1b[2J\\u009bwat" in ${p}:3\nupstream-balancer: configuration file ${p} test failed (judged as nginx 1.30 with the check module)\n`);
  });

  it('explain: the name and the addresses, with and without colour', () => {
    const p = file('evil.conf', EVIL);
    const r = cli(['explain', p]);
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(RAW_CONTROL);
    const lines = r.out.split('\n');
    expect(lines).toContain(`upstream up\\x1b]0;owned\\x07\\r (stream) ${p}:2`);
    expect(lines).toContain('  A  \\x1b[2J\\x1b[31mevil:25  primary  1       33.3%  1          10 s          unlimited');
    expect(lines).toContain('  B  b\\u009b31m:25           primary  2       66.7%  1          10 s          unlimited');
    // with --color the only escape sequences are the CLI's own SGR colours
    const c = cli(['explain', p, '--color']);
    expect(c.out).toContain('\x1b[1mupstream up\\x1b]0;owned\\x07\\r (stream)');
    expect(c.out.replace(/\x1b\[\d+m/g, '')).not.toMatch(RAW_CONTROL);
  });

  it('explain --json and check --json: C0 by JSON.stringify, DEL and C1 as \\u escapes too; the strings are unchanged', () => {
    const p = file('evil-json.conf', EVIL.replace('weight=2', 'weight=2;\n  server "d\x7fel:25"'));
    const r = cli(['explain', p, '--json']);
    expect(r.out).not.toMatch(RAW_CONTROL);
    expect(r.out).toContain('"address": "\\u001b[2J\\u001b[31mevil:25"');
    expect(r.out).toContain('"address": "b\\u009b31m:25"');
    expect(r.out).toContain('"address": "d\\u007fel:25"');
    const j = JSON.parse(r.out);
    expect(j.upstreams[0].name).toBe('up\x1b]0;owned\x07\r');
    expect(j.upstreams[0].servers.map((s: { address: string }) => s.address)).toEqual(['\x1b[2J\x1b[31mevil:25', 'b\u009b31m:25', 'd\x7fel:25']);
    const c = cli(['check', p, '--json']);
    expect(c.out).not.toMatch(RAW_CONTROL);
    expect(JSON.parse(c.out).upstreams).toEqual([{ name: 'up\x1b]0;owned\x07\r', context: 'stream', servers: 3 }]);
  });

  it('simulate: the upstream name and the ids', () => {
    const p = file('evil-sim.conf', EVIL);
    const r = cli(['simulate', p, '--connections', '3']);
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(RAW_CONTROL);
    expect(r.out.split('\n').slice(0, 3)).toEqual(['upstream up\\x1b]0;owned\\x07\\r (round-robin): 3 connections', '  A = \\x1b[2J\\x1b[31mevil:25', '  B = b\\u009b31m:25']);
    const j = cli(['simulate', p, '--connections', '3', '--json']);
    expect(j.out).not.toMatch(RAW_CONTROL);
    expect(JSON.parse(j.out).shares.map((s: { id: string }) => s.id)).toEqual(['\x1b[2J\x1b[31mevil:25', 'b\u009b31m:25']);
  });

  it('a file name, an --upstream name and a command from the command line', () => {
    const missing = join(dir, '\x1b[31mnope\r.conf');
    const m = cli(['check', missing]);
    expect(m.code).toBe(2);
    expect(m.err).toBe(`upstream-balancer: cannot read ${dir}/\\x1b[31mnope\\r.conf: no such file or directory\n`);
    const p = file('plain.conf', 'stream { upstream u { server 127.0.0.1:1; } }\n');
    const u = cli(['explain', p, '--upstream', 'x\x1b[2J']);
    expect(u.code).toBe(1);
    expect(u.err).toBe(`upstream-balancer: no upstream "x\\x1b[2J" in ${p}\n`);
    const c = cli(['\x1b[2Jcheck', p]);
    expect(c.code).toBe(2);
    expect(c.err.split('\n')[0]).toBe('upstream-balancer: unknown command "\\x1b[2Jcheck"');
  });
});

describe('simulate at its limit (issue 14, item 10)', () => {
  it('--connections 4000000 is a usage error stating the limit; 100000 --json works', () => {
    const p = file('sim-limit.conf', 'stream { upstream u { server 127.0.0.1:1; server 127.0.0.1:2; } }\n');
    const over = cli(['simulate', p, '--connections', '4000000', '--json']);
    expect(over.code).toBe(2);
    expect(over.err.split('\n')[0]).toBe('upstream-balancer: --connections expects an integer from 1 to 100000, got "4000000"');
    expect(over.out).toBe('');
    const at = cli(['simulate', p, '--connections', '100000', '--fail', 'A@0-', '--json']);
    expect(at.code).toBe(0);
    const j = JSON.parse(at.out);
    expect(j.connections).toHaveLength(100_000);
    expect(j.shares.map((s: { count: number }) => s.count)).toEqual([0, 100_000]);
  });
});
