#!/usr/bin/env node
/**
 * `upstream-balancer` command line: `explain`, `simulate` and `check` an nginx configuration.
 *
 *   upstream-balancer explain FILE [--upstream NAME] [--stock] [--json]
 *   upstream-balancer simulate FILE [--upstream NAME] [--connections N] [--interval MS]
 *                              [--fail ID@FROM-TO]... [--key KEY] [--seed N] [--clients N] [--json]
 *   upstream-balancer check FILE [--stock] [--json]
 *   common: [--nginx 1.30|1.22] [--context http|stream] [--prefix DIR] [--missing-includes error|warn]
 *   upstream-balancer --version | --help
 *
 * Every verdict names the nginx it is judged by (`--nginx`, default 1.30: ParseOptions `nginx`),
 * open source with the check module or stock (`--stock`). `--context http|stream` reads FILE as a
 * conf.d fragment included from inside that block (ParseOptions `fragment`); `--prefix DIR` is
 * nginx's `-p`, the directory relative includes resolve against (default: FILE's directory);
 * `--missing-includes warn` reports an include that does not exist as a warning and goes on
 * (ParseOptions `missingIncludes`). `check` prints nginx -t's lines: the `[warn]` lines before the
 * `[emerg]`, and a note when the error is about an NGINX Plus name (plus.ts).
 *
 * Exit status: 0 ok; 1 the configuration is invalid (`check`, and `explain` when nginx -t would
 * fail) or the upstream asked for is not there; 2 usage error (usage text on stderr; arguments
 * are parsed by node:util `parseArgs`) or unreadable file. Colours by node:util `styleText`, decided
 * per stream as Node decides its own (`colourFor`): `FORCE_COLOR` first, then only on a terminal,
 * never with `NO_COLOR` / `NODE_DISABLE_COLORS` / `TERM=dumb`, and only where the terminal has 16
 * colours or more (config/colour.ts); `--color` / `--no-color` override, `--json` turns them off. Thin shell over
 * src/config/*: parsing, explanation and simulation live there.
 *
 * Hostile input: FILE and every included file must be regular files of at most
 * `MAX_CONFIG_FILE_BYTES` (a FIFO, a device or /dev/zero is refused at once, never read or waited
 * for: read-file.ts); every text taken from the configuration or the command line is printed with
 * its control characters escaped (`\x1b`, `\r`, `\u009b`: escape.ts), in --json too for DEL and
 * C1; a reader that closes stdout early (`| head -1`) ends the output quietly, the exit status
 * still the command's.
 */

import { readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs as parseArgv } from 'node:util';
import { ConfigError, isUpstreamError } from './errors';
import { colourFor, renderStyle, type Terminal } from './config/colour';
import { escapeControls as esc, safeJson } from './config/escape';
import { explain, renderExplanation, type RenderStyle } from './config/explain';
import { parseConfig, upstreamFromNginx, type ConfigWarning, type ParseOptions } from './config/nginx';
import { plusNote } from './config/plus';
import { MAX_CONFIG_FILE_BYTES, readConfigBytes, ReadFileError } from './config/read-file';
import { MAX_SIMULATED_CONNECTIONS, parseFailureWindow, renderSimulation, simulate, type FailureWindow } from './config/simulate';
import { DEFAULT_NGINX_TARGET, NGINX_TARGETS, type NginxTarget } from './options';

const USAGE = `Usage: upstream-balancer <command> FILE [options]
       upstream-balancer --version | --help

Commands:
  explain FILE     per upstream: servers, roles, weights, traffic shares, failure policy,
                   active check, warnings; the nginx -t verdict and how to fix it
  simulate FILE    run the balancer on a manual clock and print every connection
  check FILE       nginx -t style verdict; exit status 0 (ok) or 1 (invalid)

Options:
  --nginx 1.30|1.22    the nginx whose nginx -t the verdict copies (default ${DEFAULT_NGINX_TARGET})
  --stock              judge as stock nginx (no check module: "check" is an unknown directive)
  --context http|stream
                       FILE is a conf.d fragment included from inside http {} or stream {}
  --prefix DIR         nginx's prefix (-p): relative includes resolve against DIR
                       (default: the directory of FILE)
  --missing-includes error|warn
                       an include that does not exist stops the check (error, as nginx)
                       or is reported as a warning and skipped (warn)
  --upstream NAME      only this upstream (simulate: required when there are several)
  --connections N      simulate: number of connections (default 20, at most ${MAX_SIMULATED_CONNECTIONS}:
                       the timeline has one row per connection)
  --interval MS        simulate: milliseconds between connections (default 1000)
  --fail ID@FROM-TO    simulate: server ID (id, address, letter A.. or index 1..) refuses
                       connections from FROM to TO seconds (repeatable; TO may be empty)
  --key KEY            simulate: hash key / client address for hash and ip_hash
  --seed N             simulate: seed of the random source (random method)
  --clients N          simulate: N clients take turns, each sending back the session id
                       (sticky cookie) it was given (nginx 1.30 sticky sessions)
  --json               machine-readable output
  --color, --no-color  force colours on or off (default: on for a colour terminal, off
                       with NO_COLOR; FORCE_COLOR=0|1|2|3 forces them, as for Node)
  --version            the version of upstream-balancer
  -h, --help           this help

FILE and the files it includes must be regular files of at most ${MAX_CONFIG_FILE_BYTES / 1048576} MiB
(${MAX_CONFIG_FILE_BYTES} bytes); a FIFO, device or directory is refused (exit status 2).
Control characters from the configuration are printed escaped (\\x1b, \\r, \\u009b).
`;

class UsageError extends Error {}

interface Args {
  command: string;
  file: string;
  upstream?: string;
  stock: boolean;
  json: boolean;
  color?: boolean;
  nginx: NginxTarget;
  context?: 'http' | 'stream';
  prefix?: string;
  missingIncludes: 'error' | 'warn';
  connections?: number;
  interval?: number;
  fail: FailureWindow[];
  key?: string;
  seed?: number;
  clients?: number;
}

const OPTIONS = {
  upstream: { type: 'string' },
  stock: { type: 'boolean' },
  json: { type: 'boolean' },
  color: { type: 'boolean' },
  'no-color': { type: 'boolean' },
  nginx: { type: 'string' },
  context: { type: 'string' },
  prefix: { type: 'string' },
  'missing-includes': { type: 'string' },
  connections: { type: 'string' },
  interval: { type: 'string' },
  fail: { type: 'string', multiple: true },
  key: { type: 'string' },
  seed: { type: 'string' },
  clients: { type: 'string' },
  version: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** node:util parseArgs's errors in this CLI's words. */
function argvError(e: Error & { code?: string }): UsageError {
  const quoted = /'([^']*)'/.exec(e.message)?.[1] ?? '';
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return new UsageError(`unknown option ${quoted}`);
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const flag = /^(-{1,2}[^\s,]+)/.exec(quoted)?.[1] ?? quoted;
    return e.message.includes('does not take an argument') ? new UsageError(`${flag} takes no value`) : new UsageError(`${flag} needs a value`);
  }
  return new UsageError(e.message);
}

function oneOf<T extends string>(value: string | undefined, flag: string, allowed: readonly T[], fallback: T): T;
function oneOf<T extends string>(value: string | undefined, flag: string, allowed: readonly T[]): T | undefined;
function oneOf<T extends string>(value: string | undefined, flag: string, allowed: readonly T[], fallback?: T): T | undefined {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${flag} expects ${allowed.join(' or ')}, got "${value}"`);
  return value as T;
}

function parseArgs(argv: string[]): Args | 'help' | 'version' {
  if (argv.length === 0) throw new UsageError('missing command');
  let parsed: ReturnType<typeof parseArgv<{ args: string[]; options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgv({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw argvError(e as Error & { code?: string });
  }
  const v = parsed.values;
  if (v.help) return 'help';
  if (v.version) return 'version';
  const int = (text: string | undefined, flag: string, min: number, max?: number): number | undefined => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < min || !Number.isSafeInteger(n) || (max !== undefined && n > max)) {
      throw new UsageError(`${flag} expects an integer ${max === undefined ? `>= ${min}` : `from ${min} to ${max}`}, got "${text}"`);
    }
    return n;
  };
  const fail = (v.fail ?? []).map((w) => {
    try {
      return parseFailureWindow(w);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  });
  const [command, file, ...extra] = parsed.positionals;
  if (command === undefined) throw new UsageError('missing command');
  if (!['explain', 'simulate', 'check'].includes(command)) throw new UsageError(`unknown command "${command}"`);
  if (file === undefined) throw new UsageError(`${command}: missing FILE`);
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (v.color && v['no-color']) throw new UsageError('--color and --no-color exclude each other');
  if (v.prefix === '') throw new UsageError('--prefix needs a directory');
  const a: Args = {
    command,
    file,
    stock: v.stock === true,
    json: v.json === true,
    nginx: oneOf(v.nginx, '--nginx', NGINX_TARGETS, DEFAULT_NGINX_TARGET),
    missingIncludes: oneOf(v['missing-includes'], '--missing-includes', ['error', 'warn'] as const, 'error'),
    fail,
  };
  const context = oneOf(v.context, '--context', ['http', 'stream'] as const);
  if (context !== undefined) a.context = context;
  if (v.upstream !== undefined) a.upstream = v.upstream;
  if (v.prefix !== undefined) a.prefix = v.prefix;
  if (v.color) a.color = true;
  if (v['no-color']) a.color = false;
  const connections = int(v.connections, '--connections', 1, MAX_SIMULATED_CONNECTIONS);
  const interval = int(v.interval, '--interval', 0);
  const seed = int(v.seed, '--seed', 0);
  if (connections !== undefined) a.connections = connections;
  if (interval !== undefined) a.interval = interval;
  if (seed !== undefined) a.seed = seed;
  const clients = int(v.clients, '--clients', 1, MAX_SIMULATED_CONNECTIONS);
  if (clients !== undefined) a.clients = clients;
  if (v.key !== undefined) a.key = v.key;
  const simOnly = a.connections !== undefined || a.interval !== undefined || a.fail.length > 0 || a.key !== undefined || a.seed !== undefined || a.clients !== undefined;
  if (simOnly && command !== 'simulate') throw new UsageError(`--connections, --interval, --fail, --key, --seed and --clients are for simulate`);
  return a;
}

/** The package's version: package.json next to the CLI's folder (src/ in a checkout, dist/ when installed). */
export function packageVersion(): string {
  const candidates: string[] = [];
  try {
    candidates.push(dirname(fileURLToPath(import.meta.url)));
  } catch {
    // the CommonJS build has no import.meta.url: fall back to the script's own path
  }
  const script = typeof process !== 'undefined' ? process.argv[1] : undefined;
  if (script) {
    try {
      candidates.push(dirname(realpathSync(script)));
    } catch {
      // not a file (node -e): no second candidate
    }
  }
  for (const dir of candidates) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, '..', 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'upstream-balancer' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  throw new Error('upstream-balancer: cannot find its package.json');
}

interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** stdout is a terminal (used when `terminals` is not given: 16 colours, stderr no terminal). */
  isTTY: boolean;
  /** The output streams as terminals (the CLI passes process.stdout and process.stderr). */
  terminals?: { stdout: Terminal; stderr: Terminal };
  env: Record<string, string | undefined>;
  /** The version `--version` prints; default: the package's. */
  version?: string;
}

function dirOf(file: string): string {
  const i = file.lastIndexOf('/');
  return i < 0 ? '' : i === 0 ? '/' : file.slice(0, i);
}

/** What the verdict is judged by, in words: `nginx 1.30 with the check module, read as the inside of http {}`. */
function judgedBy(args: Args): string {
  return `${args.stock ? 'stock ' : ''}nginx ${args.nginx}${args.stock ? '' : ' with the check module'}${args.context ? `, FILE read as the inside of ${args.context} {}` : ''}`;
}

/** Runs the CLI; returns the exit status. Exported for tests. */
export function run(argv: string[], io: Io): number {
  let args: Args | 'help' | 'version';
  try {
    args = parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`upstream-balancer: ${esc(e.message)}\n\n${USAGE}`);
      return 2;
    }
    throw e;
  }
  if (args === 'help') {
    io.stdout(USAGE);
    return 0;
  }
  if (args === 'version') {
    io.stdout(`${io.version ?? packageVersion()}\n`);
    return 0;
  }
  const terminals = io.terminals ?? { stdout: { isTTY: io.isTTY }, stderr: {} };
  const colourOf = (stream: Terminal): boolean => args.color ?? (!args.json && colourFor(stream, io.env));
  const style = renderStyle(colourOf(terminals.stdout));
  const errStyle = renderStyle(colourOf(terminals.stderr));
  let text: Uint8Array; // bytes, as nginx reads them (a byte that is not UTF-8 counts once)
  try {
    text = readConfigBytes(args.file, MAX_CONFIG_FILE_BYTES);
  } catch (e) {
    io.stderr(`upstream-balancer: cannot read ${esc(args.file)}: ${esc(readFailure(e, args.file))}\n`);
    return 2;
  }
  const popts: CliParseOptions = {
    filename: args.file,
    prefix: args.prefix ?? dirOf(args.file),
    checkModule: !args.stock,
    nginx: args.nginx,
    missingIncludes: args.missingIncludes,
    ...(args.context === undefined ? {} : { fragment: args.context }),
    // nginx -t's own reach for an operator's file (absolute paths, other directories); the default
    // reader still refuses a FIFO, a device or a file over the cap, and cycles are found on real paths
    includes: 'anywhere',
  };
  try {
    switch (args.command) {
      case 'check':
        return check(text, args, popts, io, errStyle);
      case 'explain': {
        const ex = explain(text, { ...popts, ...(args.upstream === undefined ? {} : { upstream: args.upstream }) });
        if (args.upstream !== undefined && ex.upstreams.length === 0) {
          io.stderr(`upstream-balancer: no upstream "${esc(args.upstream)}" in ${esc(args.file)}\n`);
          return 1;
        }
        if (args.json) io.stdout(safeJson(ex) + '\n');
        else io.stdout(renderExplanation(ex, style));
        const ok = args.stock ? ex.stock.ok : ex.verdict.ok;
        return ok ? 0 : 1;
      }
      case 'simulate': {
        const upstream = upstreamFromNginx(text, args.upstream, popts);
        const r = simulate(upstream.options, {
          ...(args.clients === undefined ? {} : { sessions: { clients: args.clients, cookie: upstream.sticky?.mode === 'cookie' ? upstream.sticky.name : 'route' } }),
          ...(args.connections === undefined ? {} : { connections: args.connections }),
          ...(args.interval === undefined ? {} : { intervalMs: args.interval }),
          failures: args.fail,
          ...(args.key === undefined ? {} : { key: args.key }),
          ...(args.seed === undefined ? {} : { seed: args.seed }),
        });
        io.stdout(args.json ? safeJson(r) + '\n' : renderSimulation(r));
        return 0;
      }
    }
  } catch (e) {
    if (e instanceof ConfigError && e.kind === 'UPSTREAM_AMBIGUOUS' && args.upstream === undefined) {
      // not a problem of the configuration: the command line has to say which one
      io.stderr(`upstream-balancer: ${esc(e.reason.replace(/: name the one to use$/, ''))}: name the one to use with --upstream NAME\n\n${USAGE}`);
      return 2;
    }
    if (e instanceof ConfigError && (e.kind === 'UPSTREAM_NOT_FOUND' || e.kind === 'UPSTREAM_AMBIGUOUS' || e.kind === 'NO_UPSTREAM')) {
      io.stderr(`upstream-balancer: ${esc(e.reason)}\n`);
      return 1;
    }
    if (e instanceof ConfigError) {
      io.stderr(`upstream-balancer: ${errStyle.red('[emerg]')} ${esc(e.message)}\n`);
      const note = plusNote(e.reason, args.nginx);
      if (note !== undefined) io.stderr(`upstream-balancer: note: ${esc(note)}\n`);
      io.stderr(`upstream-balancer: judged as ${esc(judgedBy(args))}\n`);
      return 1;
    }
    if (isUpstreamError(e)) {
      io.stderr(`upstream-balancer: ${esc(e.message)}\n`);
      return 2;
    }
    throw e;
  }
  return 2;
}

/** The message of a `readConfigBytes` failure, without the path (the caller names it). */
function readFailure(e: unknown, path: string): string {
  if (e instanceof ReadFileError) {
    // "<path> is a FIFO, not a regular file" -> "it is a FIFO, not a regular file"
    return e.message.startsWith(`${path} `) ? `it ${e.message.slice(path.length + 1)}` : e.message;
  }
  if ((e as NodeJS.ErrnoException).code === 'EISDIR') return 'it is a directory';
  const message = (e as Error).message ?? String(e);
  // Node: "ENOENT: no such file or directory, open 'x'" -> "no such file or directory"
  const m = /^[A-Z0-9]+: (.*?), \w+ '/.exec(message);
  return m ? m[1]! : message;
}

type CliParseOptions = Omit<ParseOptions, 'lenient'> & { filename: string; prefix: string; checkModule: boolean; nginx: NginxTarget };

/** What nginx -t prints as `[warn]` (ours: `[extension]`), and skipped missing includes. */
const printed = (w: ConfigWarning): boolean => w.kind !== 'note' || w.include !== undefined;

function check(text: Uint8Array, args: Args, popts: CliParseOptions, io: Io, style: RenderStyle): number {
  const warnings: ConfigWarning[] = [];
  const judged = { nginx: args.nginx, checkModule: !args.stock, context: args.context ?? null };
  const warn = (w: ConfigWarning): void => {
    if (args.json || !printed(w)) return;
    io.stderr(`upstream-balancer: ${style.yellow(w.kind === 'extension' ? '[extension]' : '[warn]')} ${esc(w.reason)} in ${esc(w.file)}:${w.line}\n`);
  };
  try {
    const r = parseConfig(text, {
      ...popts,
      lenient: false,
      onWarning: (w) => {
        if (!printed(w)) return;
        warnings.push(w);
        warn(w);
      },
    });
    if (args.json) {
      io.stdout(safeJson({ ok: true, file: args.file, ...judged, error: null, warnings, upstreams: r.upstreams.map((u) => ({ name: u.name, context: u.context, servers: u.options.servers.length })) }) + '\n');
    } else {
      io.stderr(`upstream-balancer: the configuration file ${esc(args.file)} syntax is ok\n`);
      io.stderr(`upstream-balancer: configuration file ${esc(args.file)} test is successful (judged as ${esc(judgedBy(args))})\n`);
    }
    return 0;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const note = plusNote(e.reason, args.nginx);
    if (args.json) {
      const error = { reason: e.reason, file: e.file, line: e.line, column: e.column, kind: e.kind, message: e.message, ...(note === undefined ? {} : { note }) };
      io.stdout(safeJson({ ok: false, file: args.file, ...judged, error, warnings, upstreams: [] }) + '\n');
    } else {
      io.stderr(`upstream-balancer: ${style.red('[emerg]')} ${esc(e.message)}\n`);
      if (note !== undefined) io.stderr(`upstream-balancer: note: ${esc(note)}\n`);
      io.stderr(`upstream-balancer: configuration file ${esc(args.file)} test failed (judged as ${esc(judgedBy(args))})\n`);
    }
    return 1;
  }
}

const isMain = (() => {
  const argv1 = typeof process !== 'undefined' ? process.argv[1] : undefined;
  if (!argv1) return false;
  return /(?:^|[\\/])(?:cli\.(?:ts|js|cjs|mjs)|upstream-balancer)$/.test(argv1);
})();

/**
 * `stream.write`, made quiet when the reader has gone: on EPIPE (`| head -1` read what it wanted
 * and closed the pipe) the rest of the output is dropped without a stack trace, and the exit
 * status stays the command's; any other write error is reported once on `report` with status 2.
 */
function writer(stream: NodeJS.WriteStream, name: string, report: (s: string) => void): (s: string) => void {
  let closed = false;
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (closed) return;
    closed = true;
    if (e.code === 'EPIPE') return;
    process.exitCode = 2;
    report(`upstream-balancer: cannot write to ${name}: ${esc(e.code ?? e.message)}\n`);
  });
  return (s) => {
    if (!closed) stream.write(s);
  };
}

if (isMain) {
  const stderr = writer(process.stderr, 'stderr', () => {});
  const stdout = writer(process.stdout, 'stdout', stderr);
  const terminals = { stdout: process.stdout, stderr: process.stderr };
  const code = run(process.argv.slice(2), { stdout, stderr, isTTY: process.stdout.isTTY === true, terminals, env: process.env });
  if (process.exitCode === undefined) process.exitCode = code;
}
