/**
 * The two nginx binaries the http recorder runs, and one nginx master on a scratch prefix for any
 * binary (`../nginx-process.ts` runs only `$NGINX`): `-p DIR/ -c CONF -e DIR/error.log`,
 * `daemon off`, one worker, never the system service.
 *
 * - 1.22: Debian's `/usr/sbin/nginx` (`NGINX_122=` or `NGINX=` override); http is built in.
 * - 1.30: nginx 1.30.4 built by `shared/nginx/build.sh stock` (`NGINX_130=` overrides). The script
 *   is found under `$UPSTREAM_SHARED`, else `../shared` beside the repository, else `/work/shared`;
 *   it builds once (about 40 s) and then only prints the cached binary's path.
 *
 * Every master and worker is registered: `stop` sends SIGTERM to the master (SIGKILL after 5 s) and
 * makes sure by pid that the worker is gone; on SIGINT/SIGTERM each master gets SIGTERM, and on
 * exit every registered pid gets SIGKILL and every scratch directory still registered is removed
 * (`../nginx-process.ts` handles the backends and sockets and the exit code).
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { alive } from '../nginx-process';

/** A version series the recorder knows how to find. */
export type Series = '1.22' | '1.30';
export const SERIES: readonly Series[] = ['1.22', '1.30'];

export interface NginxBinary {
  series: Series;
  path: string;
  /** As `nginx -v` prints it without the `nginx/` prefix: `1.22.1`. */
  version: string;
}

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The directory holding `nginx/build.sh`. */
function sharedDir(): string {
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

/** Finds the binary of `series` and checks that `nginx -v` says that series. */
export function findBinary(series: Series): NginxBinary {
  const path = pathFor(series);
  const r = spawnSync(path, ['-v'], { encoding: 'utf8' });
  if (r.error) throw new Error(`cannot run ${path}: ${r.error.message}`);
  const m = /nginx version: nginx\/(\S+)/.exec(`${r.stderr}${r.stdout}`);
  if (!m) throw new Error(`cannot read the version of ${path}: ${r.stderr}`);
  const version = m[1]!;
  if (!version.startsWith(`${series}.`)) throw new Error(`${path} is nginx ${version}, not ${series}.x`);
  return { series, path, version };
}

// ------------------------------------------------------------------------------------------------
// Registry: nothing outlives the recorder.

const masters = new Set<ChildProcess>();
const pids = new Set<number>();
const dirs = new Set<string>();
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', () => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      // The normal stop first; nginx-process.ts's handler (or the fallback below) then exits and
      // the exit handler kills what is left by pid.
      for (const m of masters) m.kill('SIGTERM');
      setTimeout(() => process.exit(130), 3000).unref();
    });
  }
}

/** The main-context lines: no modules to load (http is built into both binaries). */
export function mainContext(dir: string): string {
  return `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
lock_file ${dir}/nginx.lock;
error_log ${dir}/error.log notice;
events { worker_connections 64; }
`;
}

/** One nginx master of `binary` with its own scratch prefix directory (created by the constructor). */
export class BinaryNginx {
  readonly dir: string;
  #proc: ChildProcess | undefined;
  #worker = 0;
  #output = '';
  #exited: Promise<void> | undefined;

  constructor(
    readonly binary: NginxBinary,
    prefix: string,
  ) {
    install();
    this.dir = mkdtempSync(join(tmpdir(), prefix));
    dirs.add(this.dir);
  }

  get errorLog(): string {
    return join(this.dir, 'error.log');
  }

  /** Starts `nginx -p DIR/ -c confPath` and waits until the error log names the worker. */
  async start(confPath: string): Promise<void> {
    const proc = spawn(this.binary.path, ['-p', `${this.dir}/`, '-c', confPath, '-e', this.errorLog], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#proc = proc;
    masters.add(proc);
    if (proc.pid) pids.add(proc.pid);
    proc.stdout?.on('data', (d) => (this.#output += d));
    proc.stderr?.on('data', (d) => (this.#output += d));
    let exitCode: number | null | undefined;
    this.#exited = new Promise((done) => {
      proc.once('exit', (code) => {
        exitCode = code;
        if (proc.pid) pids.delete(proc.pid);
        masters.delete(proc);
        done();
      });
    });
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && exitCode === undefined) {
      const m = /start worker process (\d+)/.exec(existsSync(this.errorLog) ? readFileSync(this.errorLog, 'utf8') : '');
      if (m) {
        this.#worker = Number(m[1]);
        pids.add(this.#worker);
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
      for (let i = 0; i < 100 && alive(this.#worker); i++) await sleep(10);
      if (alive(this.#worker)) process.kill(this.#worker, 'SIGKILL');
      pids.delete(this.#worker);
      this.#worker = 0;
    }
    this.#proc = undefined;
  }

  /** Stops nginx and removes the scratch directory, or keeps it (`keepFiles`, after an error) and says where. */
  async close(keepFiles: boolean, what: string): Promise<void> {
    await this.stop();
    dirs.delete(this.dir);
    if (keepFiles) process.stderr.write(`(${what}: nginx scratch files kept in ${this.dir})\n`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}
