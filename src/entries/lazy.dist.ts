/**
 * The built package's `lazy.ts` (tsdown.config.ts swaps it in): each getter requires its entry
 * beside this chunk on the first call, synchronously (require of an ES module: Node ^20.19 or
 * >= 22.12, hence `engines`), and keeps it. The entries run in the package's own module graph, so
 * they share the root's module instances (one `Balancer` class, one `ConfigError`).
 * nginx source: none (packaging).
 */

import { createRequire } from 'node:module';
import type * as Nginx from './nginx-loader';
import type * as Status from '../status';

/** `.js` in the ES module build, `.cjs` in the CommonJS one (defined per format by tsdown.config.ts). */
declare const __ENTRY_EXTENSION__: string;

let nginx: typeof Nginx | undefined;
let status: typeof Status | undefined;

// Each path is written out whole, so that a reader (and test/package/dist-graph.ts) finds the file it loads.
export function configModule(): typeof Nginx {
  return (nginx ??= createRequire(import.meta.url)(`./nginx-loader${__ENTRY_EXTENSION__}`) as typeof Nginx);
}

export function statusModule(): typeof Status {
  return (status ??= createRequire(import.meta.url)(`./status${__ENTRY_EXTENSION__}`) as typeof Status);
}
