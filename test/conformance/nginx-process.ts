/**
 * Running real nginx for the recorders (`recorder.ts`, `methods/record.ts`; `nginx-t/record.ts`
 * takes the binary and its version): the binary and stream module, one nginx master on a scratch
 * prefix (`-p DIR/ -c CONF -e DIR/error.log`, never the system service), free ports, and a
 * process-wide registry of everything started so that nothing outlives the recorder.
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
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The nginx binary (`NGINX=` overrides). */
export const NGINX = process.env.NGINX ?? '/usr/sbin/nginx';
/** The dynamic stream module the recorders' configs load (`NGINX_STREAM_MODULE=` overrides). */
export const STREAM_MODULE = process.env.NGINX_STREAM_MODULE ?? '/usr/lib/nginx/modules/ngx_stream_module.so';

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

/** The version nginx reports (`nginx/1.22.1`); throws if nginx or the stream module is missing. */
export function nginxVersion(): string {
  const r = spawnSync(NGINX, ['-v'], { encoding: 'utf8' });
  if (r.error) throw new Error(`cannot run ${NGINX}: ${r.error.message} (set NGINX=/path/to/nginx)`);
  const m = /nginx version: (\S+)/.exec(`${r.stderr}${r.stdout}`);
  if (!m) throw new Error(`cannot read the version of ${NGINX}: ${r.stderr}`);
  if (!existsSync(STREAM_MODULE)) throw new Error(`stream module not found at ${STREAM_MODULE} (set NGINX_STREAM_MODULE)`);
  return m[1]!;
}

/**
 * The main-context lines of a recorder's config, each needed by `Nginx`: the stream module,
 * `daemon off` (the master is our child), one worker, pid / lock / error log in the scratch
 * directory, and the error log at `notice` (`start` waits for its "start worker process" line).
 */
export function mainContext(dir: string, workerConnections: number): string {
  return `load_module ${STREAM_MODULE};
daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
lock_file ${dir}/nginx.lock;
error_log ${dir}/error.log notice;
events { worker_connections ${workerConnections}; }
`;
}

/** One nginx master with its own scratch prefix directory (created by the constructor). */
export class Nginx {
  /** The scratch prefix: config, pid, lock, logs and temp paths go here. */
  readonly dir: string;
  #proc: ChildProcess | undefined;
  #worker = 0;
  #output = '';
  #exited: Promise<void> | undefined;

  /** Creates the scratch directory `<tmp>/<prefix>XXXXXX` (removed on SIGINT/SIGTERM). */
  constructor(prefix: string) {
    installHandlers();
    this.dir = mkdtempSync(join(tmpdir(), prefix));
    started.dirs.add(this.dir);
  }

  get errorLog(): string {
    return join(this.dir, 'error.log');
  }

  /** Starts `nginx -p DIR/ -c confPath` (the config must say `daemon off`) and waits for its worker. */
  async start(confPath: string): Promise<void> {
    const proc = spawn(NGINX, ['-p', `${this.dir}/`, '-c', confPath, '-e', this.errorLog], { stdio: ['ignore', 'pipe', 'pipe'] });
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
    throw new Error(`nginx did not start (exit ${exitCode}):\n${this.#output}\n${log}`);
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
