/**
 * The check-module nginx for the recorder: finding the binary (`$NGINX_CHECK`, or what
 * `shared/nginx/build.sh check` prints) and running one master on a scratch prefix
 * (`-p DIR/ -c CONF -e DIR/error.log`, `daemon off`, `master_process on` since the module's workers
 * need a master, one worker; never the system service). Every master and worker is registered:
 * `stop` sends SIGTERM to the master (SIGKILL after 5 s) and makes sure by pid that the worker is
 * gone; on exit every registered pid gets SIGKILL and every scratch directory still registered is
 * removed. Sockets, listeners, ports and the exit code stay with `../nginx-process.ts`.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { alive } from '../nginx-process';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export interface CheckBinary {
  path: string;
  /** `nginx -V`'s version: `1.30.4`. */
  version: string;
}

/** The check-module nginx: `$NGINX_CHECK`, or the binary `shared/nginx/build.sh check` prints (built once, cached). */
export function checkBinary(): CheckBinary {
  let path = process.env.NGINX_CHECK;
  if (path === undefined) {
    const dirs = [process.env.UPSTREAM_SHARED, join(REPO, '..', 'shared'), '/work/shared'].filter((d): d is string => !!d);
    const shared = dirs.find((d) => existsSync(join(d, 'nginx', 'build.sh')));
    if (shared === undefined) throw new Error(`cannot find shared/nginx/build.sh (set UPSTREAM_SHARED or NGINX_CHECK); looked in ${dirs.join(', ')}`);
    const r = spawnSync('bash', [join(shared, 'nginx', 'build.sh'), 'check'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`build.sh check failed (exit ${r.status})`);
    path = r.stdout.trim().split('\n').pop()!;
  }
  const v = spawnSync(path, ['-V'], { encoding: 'utf8' });
  if (v.error) throw new Error(`cannot run ${path}: ${v.error.message}`);
  const m = /nginx version: nginx\/(\S+)/.exec(`${v.stderr}${v.stdout}`);
  if (!m) throw new Error(`cannot read the version of ${path}`);
  if (!/upstream_check_module/.test(v.stderr)) throw new Error(`${path} is not built with nginx_upstream_check_module`);
  return { path, version: m[1]! };
}

const masters = new Set<ChildProcess>();
const pids = new Set<number>();
const dirs = new Set<string>();
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', () => {
    for (const m of masters) m.kill('SIGTERM');
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** The main context: master and one worker in the foreground, files in the scratch directory. */
export function mainContext(dir: string): string {
  return `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
lock_file ${dir}/nginx.lock;
error_log ${dir}/error.log notice;
events { worker_connections 256; }
`;
}

/** One nginx master with its own scratch directory (created by the constructor). */
export class CheckNginx {
  readonly dir: string;
  #proc: ChildProcess | undefined;
  #worker = 0;
  #output = '';
  #exited: Promise<void> | undefined;

  constructor(
    readonly binary: CheckBinary,
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
      await sleep(5);
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

  /** Stops nginx and removes the scratch directory, or keeps it (`keep`) and says where. */
  async close(keep: boolean, what: string): Promise<void> {
    await this.stop();
    dirs.delete(this.dir);
    if (keep) process.stderr.write(`(${what}: nginx scratch files kept in ${this.dir})\n`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}
