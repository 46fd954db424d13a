/**
 * The check-module nginx for the recorder: `$NGINX_CHECK`, or the binary `shared/nginx/build.sh
 * check` prints (built once, cached), checked to carry nginx_upstream_check_module. It runs as any
 * recorder's nginx does (`../nginx-process.ts` `Nginx` and `mainContext`: one master, since the
 * module's workers need one, and one worker on a scratch prefix; never the system service).
 */

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { sharedDir, type NginxBinary } from '../nginx-process';

/** Finds the check-module nginx 1.30.4; throws when it cannot be run or lacks the module. */
export function checkBinary(): NginxBinary {
  let path = process.env.NGINX_CHECK;
  if (path === undefined) {
    const script = join(sharedDir(), 'nginx', 'build.sh');
    const r = spawnSync('bash', [script, 'check'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`${script} check failed (exit ${r.status})`);
    path = r.stdout.trim().split('\n').pop()!;
  }
  const v = spawnSync(path, ['-V'], { encoding: 'utf8' });
  if (v.error) throw new Error(`cannot run ${path}: ${v.error.message}`);
  const m = /nginx version: nginx\/(\S+)/.exec(`${v.stderr}${v.stdout}`);
  if (!m) throw new Error(`cannot read the version of ${path}`);
  if (!/upstream_check_module/.test(v.stderr)) throw new Error(`${path} is not built with nginx_upstream_check_module`);
  return { series: '1.30', path, version: m[1]!, modules: [] };
}
