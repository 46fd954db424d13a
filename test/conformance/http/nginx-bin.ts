/**
 * Compatibility names for recorders written against the former http-only binary module (the
 * check-module recorder): everything lives in `../nginx-process.ts` now, which finds each series'
 * binary (1.22 with Debian's dynamic stream module, 1.30 from `shared/nginx/build.sh stock`) and
 * runs one master on a scratch prefix. New code imports `../nginx-process` directly.
 */

import { mainContext as processMainContext } from '../nginx-process';

export { findBinary, Nginx as BinaryNginx, SERIES, type NginxBinary, type Series } from '../nginx-process';

/** The main-context lines of an http-only config (no modules to load; 64 worker connections). */
export function mainContext(dir: string): string {
  return processMainContext({}, dir, 64);
}
