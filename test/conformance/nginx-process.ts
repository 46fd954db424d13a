/**
 * Running real nginx for every recorder (`recorder.ts`, `methods/record.ts`, `nginx-t/record.ts`,
 * `http/record.ts`): the one place that finds a series' binary, one nginx master on a scratch
 * prefix (`-p DIR/ -c CONF -e DIR/error.log`, never the system service), free ports, the
 * `--nginx 1.22|1.30|all` flag, and a process-wide registry of everything started so that nothing
 * outlives the recorder.
 *
 * The binaries (`findBinary`):
 * - 1.22: Debian's `/usr/sbin/nginx` (`NGINX_122=` or `NGINX=` override), with its dynamic stream
 *   module (`/usr/lib/nginx/modules/ngx_stream_module.so`, `NGINX_STREAM_MODULE=` overrides) loaded
 *   by a `load_module` line;
 * - 1.30: nginx 1.30.4 built by `shared/nginx/build.sh stock` (`NGINX_130=` overrides), stream built
 *   in, no `load_module`. The script is found under `$UPSTREAM_SHARED`, else `../shared` beside the
 *   repository, else `/work/shared`; it builds once (about 40 s) and then only prints the cached
 *   binary's path.
 *
 * `Nginx.start` returns once the error log names the worker; `stop` sends SIGTERM to the master
 * (SIGKILL after 5 s) and then makes sure, by pid, that the worker is gone. The first thing started
 * installs the exit and signal handlers: on exit every registered pid gets SIGKILL and every server
 * and socket is closed; on SIGINT/SIGTERM each nginx is first stopped the normal way (at most 3 s)
 * and the scratch directories are removed, then the process exits with 130.
 * Cost: a start polls the error log every 10 ms (tens of ms in all); the registry is a few sets.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

// ------------------------------------------------------------------------------------------------
// The binaries

/** A version series the recorders know how to find. */
export type Series = '1.22' | '1.30';
export const SERIES: readonly Series[] = ['1.22', '1.30'];

export interface NginxBinary {
  series: Series;
  path: string;
  /** As `nginx -v` prints it without the `nginx/` prefix: `1.22.1`. */
  version: string;
  /** The dynamic modules a config must load for the stream module (`load_module` lines); none (or absent) when built in. */
  modules?: readonly string[];
}

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Debian's dynamic stream module, loaded by the 1.22 configs. */
const STREAM_MODULE_122 = process.env.NGINX_STREAM_MODULE ?? '/usr/lib/nginx/modules/ngx_stream_module.so';

/** The directory holding `nginx/build.sh`. */
export function sharedDir(): string {
  const candidates = [process.env.UPSTREAM_SHARED, join(REPO, '..', 'shared'), '/work/shared'];
  for (const dir of candidates) if (dir && existsSync(join(dir, 'nginx', 'build.sh'))) return dir;
  throw new Error(`cannot find shared/nginx/build.sh (set UPSTREAM_SHARED, or NGINX_130 to a built nginx 1.30.4); looked in ${candidates.filter(Boolean).join(', ')}`);
}

function pathFor(series: Series): string {
  if (series === '1.22') return process.env.NGINX_122 ?? process.env.NGINX ?? '/usr/sbin/nginx';
  if (process.env.NGINX_130) return process.env.NGINX_130;
  const script = join(sharedDir(), 'nginx', 'build.sh');
  const r = spawnSync('bash', [script, 'stock'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`${script} stock failed (exit ${r.status})`);
  return r.stdout.trim().split('\n').pop()!;
}

/**
 * Finds the binary of `series`, checks that `nginx -v` says that series and, for 1.22, that the
 * dynamic stream module exists.
 */
export function findBinary(series: Series): NginxBinary {
  const path = pathFor(series);
  const r = spawnSync(path, ['-v'], { encoding: 'utf8' });
  if (r.error) throw new Error(`cannot run ${path}: ${r.error.message} (set NGINX_${series.replace('.', '')}=/path/to/nginx)`);
  const m = /nginx version: nginx\/(\S+)/.exec(`${r.stderr}${r.stdout}`);
  if (!m) throw new Error(`cannot read the version of ${path}: ${r.stderr}`);
  const version = m[1]!;
  if (!version.startsWith(`${series}.`)) throw new Error(`${path} is nginx ${version}, not ${series}.x`);
  const modules = series === '1.22' ? [STREAM_MODULE_122] : [];
  for (const mod of modules) if (!existsSync(mod)) throw new Error(`stream module not found at ${mod} (set NGINX_STREAM_MODULE)`);
  return { series, path, version, modules };
}

/** The series of a version string: `nginx/1.22.1` or `1.22.1` -> `1.22`. */
export function seriesOf(version: string): string {
  return version.replace(/^nginx\//, '').split('.').slice(0, 2).join('.');
}

/**
 * The recorders' `--nginx 1.22|1.30|all` flag (default all): removes it from `argv` and returns
 * the series it names, or throws on anything else.
 */
export function takeNginxFlag(argv: string[]): Series[] {
  const at = argv.indexOf('--nginx');
  if (at < 0) return [...SERIES];
  const which = argv[at + 1] ?? '';
  argv.splice(at, 2);
  if (which === 'all') return [...SERIES];
  if (!SERIES.includes(which as Series)) throw new Error(`--nginx takes 1.22, 1.30 or all, got ${JSON.stringify(which)}`);
  return [which as Series];
}

// ------------------------------------------------------------------------------------------------
// Process-wide registry of everything started, so that nothing outlives the recorder.

const started = {
  pids: new Set<number>(),
  servers: new Set<net.Server>(),
  sockets: new Set<net.Socket>(),
  nginxes: new Set<Nginx>(),
  dirs: new Set<string>(),
};

function killEverythingSync(): void {
  for (const s of started.sockets) s.destroy();
  for (const s of started.servers) s.close();
  for (const pid of started.pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

let handlersInstalled = false;
/** Set on SIGINT/SIGTERM: the handler then owns stopping, cleanup and the exit code. */
let interrupted = false;

/** Installs the exit and signal handlers, once, when the first thing is started. */
function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killEverythingSync);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      interrupted = true;
      // Stop nginx the normal way (the master reaps its worker), then remove scratch directories.
      const stops = [...started.nginxes].map((n) => n.stop().catch(() => {}));
      void Promise.race([Promise.all(stops), sleep(3000)]).then(() => {
        killEverythingSync();
        for (const dir of started.dirs) rmSync(dir, { recursive: true, force: true });
        process.exit(130);
      });
    });
  }
}

/** Registers a socket (closed on exit; its errors are expected and ignored). */
export function track(socket: net.Socket): net.Socket {
  installHandlers();
  started.sockets.add(socket);
  socket.on('error', () => {});
  socket.on('close', () => started.sockets.delete(socket));
  return socket;
}

/** Registers `server` (closed on exit) and listens on `host:port`. */
export function listen(server: net.Server, port: number, host = '127.0.0.1'): Promise<void> {
  installHandlers();
  started.servers.add(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}

/** Closes a server started with `listen` (open connections stay) and unregisters it once closed. */
export function closeServer(server: net.Server): void {
  server.close(() => started.servers.delete(server));
}

/** Whether a process with this pid exists (signal 0). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs a recorder's main: exits with its code, or with 2 (printing the error) if it throws;
 * after SIGINT/SIGTERM the signal handler exits instead (130), once it has cleaned up.
 */
export function runMain(main: () => Promise<number>): void {
  main().then(
    (code) => {
      if (!interrupted) process.exit(code);
    },
    (err: unknown) => {
      if (interrupted) return;
      console.error(err instanceof Error ? (err.stack ?? err.message) : err);
      process.exit(2);
    },
  );
}

/**
 * Runs `fn` over `items`, at most `jobs` at a time; the results in item order. The first failure
 * stops new work and is thrown once the running ones end.
 */
export async function pool<T, R>(items: T[], jobs: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (next < items.length && failure === undefined) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, worker));
  if (failure !== undefined) throw failure;
  return results;
}

// ------------------------------------------------------------------------------------------------
// Ports

const reservedPorts = new Set<number>();

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * A free port on 127.0.0.1 outside the ephemeral range (32768-60999), so client sockets cannot
 * take it; reserved for this process until `releasePort`.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 21000 + Math.floor(Math.random() * 11000);
    if (reservedPorts.has(port)) continue;
    reservedPorts.add(port);
    if (await portIsFree(port)) return port;
  }
  throw new Error('no free port found in 21000-31999');
}

/** Gives a port of `freePort` back. */
export function releasePort(port: number): void {
  reservedPorts.delete(port);
}

// ------------------------------------------------------------------------------------------------
// nginx

/**
 * The main-context lines of a recorder's config, each needed by `Nginx`: the binary's modules
 * (the stream module for 1.22), `daemon off` (the master is our child), one worker (`workers`: the
 * zone recorder's two), pid / lock /
 * error log in the scratch directory, and the error log at `notice` (`start` waits for its "start
 * worker process" line).
 */
export function mainContext(binary: Pick<NginxBinary, 'modules'>, dir: string, workerConnections: number, workers = 1): string {
  return `${(binary.modules ?? []).map((m) => `load_module ${m};\n`).join('')}daemon off;
master_process on;
worker_processes ${workers};
pid ${dir}/nginx.pid;
lock_file ${dir}/nginx.lock;
error_log ${dir}/error.log notice;
events { worker_connections ${workerConnections}; }
`;
}

/** One nginx master of `binary` with its own scratch prefix directory (created by the constructor). */
export class Nginx {
  /** The scratch prefix: config, pid, lock, logs and temp paths go here. */
  readonly dir: string;
  #proc: ChildProcess | undefined;
  #worker = 0;
  #output = '';
  #exited: Promise<void> | undefined;

  /** Creates the scratch directory `<tmp>/<prefix>XXXXXX` (removed on SIGINT/SIGTERM). */
  constructor(
    readonly binary: NginxBinary,
    prefix: string,
  ) {
    installHandlers();
    this.dir = mkdtempSync(join(tmpdir(), prefix));
    started.dirs.add(this.dir);
  }

  get errorLog(): string {
    return join(this.dir, 'error.log');
  }

  /** Starts `nginx -p DIR/ -c confPath` (the config must say `daemon off`) and waits for its worker. */
  async start(confPath: string): Promise<void> {
    const proc = spawn(this.binary.path, ['-p', `${this.dir}/`, '-c', confPath, '-e', this.errorLog], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#proc = proc;
    started.nginxes.add(this);
    if (proc.pid) started.pids.add(proc.pid);
    proc.stdout?.on('data', (d) => (this.#output += d));
    proc.stderr?.on('data', (d) => (this.#output += d));
    let exitCode: number | null | undefined;
    this.#exited = new Promise((resolve) => {
      proc.once('exit', (code) => {
        exitCode = code;
        if (proc.pid) started.pids.delete(proc.pid);
        resolve();
      });
    });
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      if (exitCode !== undefined) break;
      const log = existsSync(this.errorLog) ? readFileSync(this.errorLog, 'utf8') : '';
      const m = /start worker process (\d+)/.exec(log);
      if (m) {
        this.#worker = Number(m[1]);
        started.pids.add(this.#worker);
        return;
      }
      await sleep(10);
    }
    const log = existsSync(this.errorLog) ? readFileSync(this.errorLog, 'utf8') : '';
    await this.stop();
    throw new Error(`nginx ${this.binary.version} did not start (exit ${exitCode}):\n${this.#output}\n${log}`);
  }

  /** SIGTERM to the master (SIGKILL after 5 s), then the worker by pid if it is still there. */
  async stop(): Promise<void> {
    const proc = this.#proc;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const ok = await Promise.race([this.#exited!.then(() => true), sleep(5000).then(() => false)]);
      if (!ok) {
        proc.kill('SIGKILL');
        await this.#exited;
      }
    }
    if (this.#worker) {
      // The master waits for its worker before exiting; make sure, by id, that it is gone.
      for (let i = 0; i < 100 && alive(this.#worker); i++) await sleep(10);
      if (alive(this.#worker)) process.kill(this.#worker, 'SIGKILL');
      started.pids.delete(this.#worker);
      this.#worker = 0;
    }
    this.#proc = undefined;
    started.nginxes.delete(this);
  }

  /**
   * Stops nginx and removes the scratch directory; with `keepFiles` (after an error) it is kept
   * and its path printed, labelled `what` (not after SIGINT/SIGTERM: the errors that follow an
   * interruption are no reason to keep files).
   */
  async close(keepFiles: boolean, what: string): Promise<void> {
    await this.stop();
    if (interrupted) return; // the signal handler removes the directory
    started.dirs.delete(this.dir);
    if (keepFiles) process.stderr.write(`(${what}: nginx scratch files kept in ${this.dir})\n`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}
