/**
 * Where the package root finds the modules it loads on first use: the nginx configuration side
 * (`Balancer.fromNginx`, `parseUpstreams`) and the status pages (`formatStatus`, `statusHandler`).
 * From source (tests, tsx) they are plain imports. The package build (tsdown.config.ts) puts
 * `lazy.dist.ts` in this module's place, which requires them on the first call instead, so that
 * importing `upstream-balancer` loads no parser, no node:fs and no status page.
 * nginx source: none (packaging).
 */

import * as nginx from './nginx-loader';
import * as status from '../status';

/** The nginx side: the parser and the `fromNginx` constructors. */
export function configModule(): typeof nginx {
  return nginx;
}

/** The status pages and their HTTP handler. */
export function statusModule(): typeof status {
  return status;
}
