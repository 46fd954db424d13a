#!/usr/bin/env node
/**
 * `upstream-balancer` command line: `explain`, `simulate` and `check` an nginx configuration.
 *
 *   upstream-balancer explain FILE [--upstream NAME] [--stock] [--json]
 *   upstream-balancer simulate FILE [--upstream NAME] [--connections N] [--interval MS]
 *                              [--fail ID@FROM-TO]... [--key KEY] [--seed N] [--json]
 *   upstream-balancer check FILE [--stock] [--json]
 *
 * Exit status: 0 ok; 1 the configuration is invalid (`check`, and `explain` when nginx -t would
 * fail) or a simulation found no upstream; 2 usage error or unreadable file. Colour only on a TTY
 * (and never with NO_COLOR). Includes resolve against the file's directory, as nginx's prefix.
 * Thin shell over src/config/*: parsing, explanation and simulation live there.
 *
 * Hostile input: FILE and every included file must be regular files of at most
 * `MAX_CONFIG_FILE_BYTES` (a FIFO, a device or /dev/zero is refused at once, never read or waited
 * for: read-file.ts); every text taken from the configuration or the command line is printed with
 * its control characters escaped (`\x1b`, `\r`, `\u009b`: escape.ts), in --json too for DEL and
 * C1; a reader that closes stdout early (`| head -1`) ends the output quietly, the exit status
 * still the command's.
 */

import { ConfigError, isUpstreamError } from './errors';
import { escapeControls as esc, safeJson } from './config/escape';
import { explain, renderExplanation, type RenderStyle } from './config/explain';
import { balancerOptionsFromNginx, parseConfig, type ParseOptions } from './config/nginx';
import { MAX_CONFIG_FILE_BYTES, readConfigBytes, ReadFileError } from './config/read-file';
import { MAX_SIMULATED_CONNECTIONS, parseFailureWindow, renderSimulation, simulate, type FailureWindow } from './config/simulate';

const USAGE = `Usage: upstream-balancer <command> FILE [options]

Commands:
  explain FILE     per upstream: servers, roles, weights, traffic shares, failure policy,
                   active check, warnings; the nginx -t verdict and how to fix it
  simulate FILE    run the balancer on a manual clock and print every connection
  check FILE       nginx -t style verdict; exit status 0 (ok) or 1 (invalid)

Options:
  --upstream NAME      only this upstream (simulate: required when there are several)
  --stock              judge as stock nginx (no check module: "check" is an unknown directive)
  --connections N      simulate: number of connections (default 20, at most ${MAX_SIMULATED_CONNECTIONS}:
                       the timeline has one row per connection)
  --interval MS        simulate: milliseconds between connections (default 1000)
  --fail ID@FROM-TO    simulate: server ID (id, address, letter A.. or index 1..) refuses
                       connections from FROM to TO seconds (repeatable; TO may be empty)
  --key KEY            simulate: hash key / client address for hash and ip_hash
  --seed N             simulate: seed of the random source (random method)
  --json               machine-readable output
  --color, --no-color  force colours on or off (default: on for a TTY unless NO_COLOR)
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
  connections?: number;
  interval?: number;
  fail: FailureWindow[];
  key?: string;
  seed?: number;
}

function parseArgs(argv: string[]): Args | 'help' {
  if (argv.length === 0 || argv.includes('-h') || argv.includes('--help')) return 'help';
  const rest: string[] = [];
  const a: Partial<Args> & { fail: FailureWindow[] } = { fail: [], stock: false, json: false };
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  const int = (v: string, flag: string, min: number, max?: number): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || !Number.isSafeInteger(n) || (max !== undefined && n > max)) {
      throw new UsageError(`${flag} expects an integer ${max === undefined ? `>= ${min}` : `from ${min} to ${max}`}, got "${v}"`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    const take = (): string => {
      if (inline !== undefined) return inline;
      const v = value(i, flag);
      i++;
      return v;
    };
    switch (flag) {
      case '--upstream':
        a.upstream = take();
        break;
      case '--stock':
        a.stock = true;
        break;
      case '--json':
        a.json = true;
        break;
      case '--color':
        a.color = true;
        break;
      case '--no-color':
        a.color = false;
        break;
      case '--connections':
        a.connections = int(take(), flag, 1, MAX_SIMULATED_CONNECTIONS);
        break;
      case '--interval':
        a.interval = int(take(), flag, 0);
        break;
      case '--fail':
        try {
          a.fail.push(parseFailureWindow(take()));
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
        break;
      case '--key':
        a.key = take();
        break;
      case '--seed':
        a.seed = int(take(), flag, 0);
        break;
      default:
        if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg}`);
        rest.push(arg);
    }
  }
  const [command, file, ...extra] = rest;
  if (command === undefined) throw new UsageError('missing command');
  if (!['explain', 'simulate', 'check'].includes(command)) throw new UsageError(`unknown command "${command}"`);
  if (file === undefined) throw new UsageError(`${command}: missing FILE`);
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const simOnly = a.connections !== undefined || a.interval !== undefined || a.fail.length > 0 || a.key !== undefined || a.seed !== undefined;
  if (simOnly && command !== 'simulate') throw new UsageError(`--connections, --interval, --fail, --key and --seed are for simulate`);
  return { ...a, command, file } as Args;
}

function styleFor(on: boolean): RenderStyle {
  const w = (code: string) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { bold: w('1'), red: w('31'), yellow: w('33'), green: w('32'), dim: w('2') };
}

interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  isTTY: boolean;
  env: Record<string, string | undefined>;
}

function dirOf(file: string): string {
  const i = file.lastIndexOf('/');
  return i < 0 ? '' : i === 0 ? '/' : file.slice(0, i);
}

/** Runs the CLI; returns the exit status. Exported for tests. */
export function run(argv: string[], io: Io): number {
  let args: Args | 'help';
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
  const color = args.color ?? (io.isTTY && !io.env.NO_COLOR && !args.json);
  const style = styleFor(color);
  let text: Uint8Array; // bytes, as nginx reads them (a byte that is not UTF-8 counts once)
  try {
    text = readConfigBytes(args.file, MAX_CONFIG_FILE_BYTES);
  } catch (e) {
    io.stderr(`upstream-balancer: cannot read ${esc(args.file)}: ${esc(readFailure(e, args.file))}\n`);
    return 2;
  }
  const popts: CliParseOptions = {
    filename: args.file,
    prefix: dirOf(args.file),
    checkModule: !args.stock,
    // nginx -t's own reach for an operator's file (absolute paths, other directories); the default
    // reader still refuses a FIFO, a device or a file over the cap, and cycles are found on real paths
    includes: 'anywhere',
  };
  try {
    switch (args.command) {
      case 'check':
        return check(text, args, popts, io, style);
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
        const options = balancerOptionsFromNginx(text, args.upstream, popts);
        const r = simulate(options, {
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
    if (e instanceof ConfigError) {
      io.stderr(`upstream-balancer: ${style.red('[emerg]')} ${esc(e.message)}\n`);
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

type CliParseOptions = Omit<ParseOptions, 'lenient'> & { filename: string; prefix: string; checkModule: boolean };

function check(text: Uint8Array, args: Args, popts: CliParseOptions, io: Io, style: RenderStyle): number {
  try {
    const r = parseConfig(text, { ...popts, lenient: false });
    const warnings = r.warnings.filter((w) => w.kind === 'nginx' || w.kind === 'extension');
    if (args.json) {
      io.stdout(safeJson({ ok: true, file: args.file, error: null, warnings, upstreams: r.upstreams.map((u) => ({ name: u.name, context: u.context, servers: u.options.servers.length })) }) + '\n');
    } else {
      for (const w of warnings) io.stderr(`upstream-balancer: ${style.yellow(w.kind === 'nginx' ? '[warn]' : '[extension]')} ${esc(w.reason)} in ${esc(w.file)}:${w.line}\n`);
      io.stderr(`upstream-balancer: the configuration file ${esc(args.file)} syntax is ok\n`);
      io.stderr(`upstream-balancer: configuration file ${esc(args.file)} test is successful\n`);
    }
    return 0;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    if (args.json) {
      io.stdout(safeJson({ ok: false, file: args.file, error: { reason: e.reason, file: e.file, line: e.line, column: e.column, kind: e.kind, message: e.message }, warnings: [], upstreams: [] }) + '\n');
    } else {
      io.stderr(`upstream-balancer: ${style.red('[emerg]')} ${esc(e.message)}\n`);
      io.stderr(`upstream-balancer: configuration file ${esc(args.file)} test failed\n`);
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
  const code = run(process.argv.slice(2), { stdout, stderr, isTTY: process.stdout.isTTY === true, env: process.env });
  if (process.exitCode === undefined) process.exitCode = code;
}
