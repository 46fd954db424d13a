/**
 * CLI colours (src/config/colour.ts, src/cli.ts): `colourFor` follows Node's own rule (FORCE_COLOR,
 * then a terminal of 16 colours or more, never with NO_COLOR / NODE_DISABLE_COLORS / TERM=dumb),
 * decided per stream, painted by util.styleText. The CLI runs in a child process, on pipes and on
 * a pseudo-terminal made by util-linux `script` (stdout and stderr on the terminal, or one of them
 * redirected to a file), and in process with injected terminals.
 */

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli';
import { colourFor } from '../../src/config/colour';

// each case spawns the CLI (about 0.5 s, more on a loaded machine)
vi.setConfig({ testTimeout: 90_000 });

const ROOT = join(import.meta.dirname, '..', '..');
const GREEN_OK = '\x1b[32mnginx 1.30 -t: ok\x1b[39m';
const RED_EMERG = '\x1b[31m[emerg]\x1b[39m';
/**
 * The environment with every variable that Node's getColorDepth reads removed; each case adds its
 * own. `CI` (set by CI runners) makes Node report 2 colours on a terminal unless a known CI's own
 * variable is present, and TMUX / COLORTERM / TEAMCITY_VERSION change the depth too.
 */
const BASE_ENV = {
  ...process.env,
  NO_COLOR: undefined,
  FORCE_COLOR: undefined,
  NODE_DISABLE_COLORS: undefined,
  CI: undefined,
  TEAMCITY_VERSION: undefined,
  TMUX: undefined,
  COLORTERM: undefined,
  TERM: 'xterm-256color',
};

let dir = '';
let good = '';
let bad = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ub-colour-'));
  good = join(dir, 'good.conf');
  bad = join(dir, 'bad.conf');
  writeFileSync(good, 'stream {\n upstream a { server 127.0.0.1:1 weight=2; server 127.0.0.1:2; }\n}\n');
  writeFileSync(bad, 'stream {\n upstream a { server 127.0.0.1:1 wat; }\n}\n');
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const CLI = [process.execPath, '--import', 'tsx', join(ROOT, 'src/cli.ts')];

/** The CLI on pipes. */
function onPipes(args: string[], env: Record<string, string | undefined> = {}) {
  const r = spawnSync(CLI[0]!, [...CLI.slice(1), ...args], { cwd: ROOT, encoding: 'utf8', env: { ...BASE_ENV, ...env }, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/**
 * The CLI on a pseudo-terminal (`script -qefc CMD /dev/null`): what the terminal showed (stdout and
 * stderr, unless `redirect` sends one to a file, whose bytes are returned as `file`), with the
 * terminal's CRLF turned back into LF.
 */
function onTerminal(args: string[], env: Record<string, string | undefined> = {}, redirect?: '1' | '2') {
  const file = join(dir, `redirected-${redirect ?? 'none'}`);
  const command = [...CLI, ...args].map(quote).join(' ') + (redirect === undefined ? '' : ` ${redirect}>${quote(file)}`);
  const r = spawnSync('script', ['-qefc', command, '/dev/null'], { cwd: ROOT, encoding: 'utf8', env: { ...BASE_ENV, ...env }, timeout: 60_000 });
  expect(r.error, 'util-linux script makes the pseudo-terminal').toBeUndefined();
  return { code: r.status, shown: r.stdout.replace(/\r\n/g, '\n'), file: redirect === undefined ? '' : readFileSync(file, 'utf8') };
}

describe('colourFor: Node’s rule', () => {
  const tty = (depth: number) => ({ isTTY: true, getColorDepth: () => depth });
  it.each([
    ['a pipe', {}, {}, false],
    ['a 256-colour terminal', tty(8), {}, true],
    ['a 16-colour terminal', tty(4), {}, true],
    ['a 2-colour terminal (TERM unknown)', tty(1), {}, false],
    ['a terminal with NO_COLOR=1', tty(8), { NO_COLOR: '1' }, false],
    ['a terminal with NO_COLOR set empty (Node: set is set)', tty(8), { NO_COLOR: '' }, false],
    ['a terminal with NODE_DISABLE_COLORS', tty(8), { NODE_DISABLE_COLORS: '1' }, false],
    ['a terminal with TERM=dumb', tty(8), { TERM: 'dumb' }, false],
    ['a pipe with FORCE_COLOR=1', {}, { FORCE_COLOR: '1' }, true],
    ['a pipe with FORCE_COLOR set empty', {}, { FORCE_COLOR: '' }, true],
    ['a pipe with FORCE_COLOR=true', {}, { FORCE_COLOR: 'true' }, true],
    ['a pipe with FORCE_COLOR=3', {}, { FORCE_COLOR: '3' }, true],
    ['a terminal with FORCE_COLOR=0', tty(8), { FORCE_COLOR: '0' }, false],
    ['a terminal with FORCE_COLOR=false', tty(8), { FORCE_COLOR: 'false' }, false],
    ['a pipe with FORCE_COLOR=1 and NO_COLOR=1 (FORCE_COLOR wins)', {}, { FORCE_COLOR: '1', NO_COLOR: '1' }, true],
  ] as const)('%s', (_, stream, env, expected) => {
    expect(colourFor(stream, env)).toBe(expected);
  });

  it('asks the terminal for its depth with the given environment', () => {
    const seen: unknown[] = [];
    const env = { TERM: 'xterm-256color' };
    expect(colourFor({ isTTY: true, getColorDepth: (e) => (seen.push(e), 8) }, env)).toBe(true);
    expect(seen).toEqual([env]);
  });
});

describe('run() with injected terminals', () => {
  const runWith = (args: string[], stdout: { isTTY?: boolean }, stderr: { isTTY?: boolean }, env: Record<string, string | undefined> = {}) => {
    let out = '';
    let err = '';
    const code = run(args, { stdout: (s) => (out += s), stderr: (s) => (err += s), isTTY: stdout.isTTY === true, terminals: { stdout, stderr }, env, version: '0.0.0' });
    return { code, out, err };
  };

  it('decides per stream: a terminal stdout is painted while a piped stderr is not, and the other way round', () => {
    const out = runWith(['explain', good], { isTTY: true }, {});
    expect(out.out).toContain(GREEN_OK);
    const err = runWith(['check', bad], {}, { isTTY: true });
    expect(err.code).toBe(1);
    expect(err.err.split('\n')[0]).toBe(`upstream-balancer: ${RED_EMERG} invalid parameter "wat" in ${bad}:2`);
    const plain = runWith(['check', bad], { isTTY: true }, {});
    expect(plain.err).not.toContain('\x1b[');
  });

  it('--no-color, --json and NO_COLOR turn them off on a terminal; --color turns them on on a pipe', () => {
    expect(runWith(['explain', good, '--no-color'], { isTTY: true }, { isTTY: true }).out).not.toContain('\x1b[');
    expect(runWith(['explain', good, '--json'], { isTTY: true }, { isTTY: true }).out).not.toContain('\x1b[');
    expect(runWith(['explain', good], { isTTY: true }, { isTTY: true }, { NO_COLOR: '1' }).out).not.toContain('\x1b[');
    expect(runWith(['explain', good, '--color'], {}, {}).out).toContain(GREEN_OK);
  });
});

describe('the CLI as a child process', () => {
  it('on pipes: no colour; FORCE_COLOR=1 paints both streams; FORCE_COLOR=0 none', () => {
    const plain = onPipes(['explain', good]);
    expect(plain.code).toBe(0);
    expect(plain.out).toContain('nginx 1.30 -t: ok');
    expect(plain.out).not.toContain('\x1b[');
    const forced = onPipes(['explain', good], { FORCE_COLOR: '1' });
    expect(forced.out).toContain(GREEN_OK);
    expect(forced.out).toContain('\x1b[1mupstream a (stream) ');
    const forcedErr = onPipes(['check', bad], { FORCE_COLOR: '1' });
    expect(forcedErr.err.split('\n')[0]).toBe(`upstream-balancer: ${RED_EMERG} invalid parameter "wat" in ${bad}:2`);
    expect(onPipes(['explain', good], { FORCE_COLOR: '0' }).out).not.toContain('\x1b[');
  });

  it.runIf(process.platform === 'linux')('on a pseudo-terminal: colours; none with NO_COLOR (even empty), TERM=dumb or --no-color', () => {
    const shown = onTerminal(['explain', good]);
    expect(shown.code).toBe(0);
    expect(shown.shown).toContain(GREEN_OK);
    expect(shown.shown).toContain('\x1b[1mupstream a (stream) ');
    // the same text as on a pipe once the colours are taken out
    expect(shown.shown.replace(/\x1b\[\d+m/g, '')).toBe(onPipes(['explain', good]).out);
    for (const env of [{ NO_COLOR: '1' }, { NO_COLOR: '' }, { TERM: 'dumb' }]) {
      const r = onTerminal(['explain', good], env);
      expect(r.shown, JSON.stringify(env)).toContain('nginx 1.30 -t: ok');
      expect(r.shown, JSON.stringify(env)).not.toContain('\x1b[');
    }
    expect(onTerminal(['explain', good, '--no-color']).shown).not.toContain('\x1b[');
    expect(onTerminal(['explain', good], { NO_COLOR: '1', FORCE_COLOR: '1' }).shown).toContain(GREEN_OK);
  });

  it.runIf(process.platform === 'linux')('on a pseudo-terminal, per stream: stderr redirected to a file is plain while stdout stays painted, and the other way round', () => {
    const errToFile = onTerminal(['check', bad], {}, '2');
    expect(errToFile.code).toBe(1);
    expect(errToFile.file.split('\n')[0]).toBe(`upstream-balancer: [emerg] invalid parameter "wat" in ${bad}:2`);
    const outToFile = onTerminal(['check', bad], {}, '1');
    expect(outToFile.shown.split('\n')[0]).toBe(`upstream-balancer: ${RED_EMERG} invalid parameter "wat" in ${bad}:2`);
    const explainToFile = onTerminal(['explain', good], {}, '1');
    expect(explainToFile.file).toContain('nginx 1.30 -t: ok');
    expect(explainToFile.file).not.toContain('\x1b[');
  });
});
