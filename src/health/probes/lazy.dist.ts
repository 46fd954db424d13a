/**
 * The built package's `probeFor` for the checker (tsdown.config.ts swaps it in for `lazy.ts`): the
 * first call requires the `upstream-balancer/health` entry beside this chunk, synchronously
 * (require of an ES module, Node ^20.19 / >= 22.12), and every call goes to its registry. Running
 * inside the package's own module graph, it finds the same module instances an `import` would.
 * nginx source: none (packaging).
 */

import { createRequire } from 'node:module';
import type { BuiltinCheckType, CheckFunction } from '../../options';
import type * as Probes from './index';

/** `.js` in the ES module build, `.cjs` in the CommonJS one (defined per format by tsdown.config.ts). */
declare const __ENTRY_EXTENSION__: string;

let registry: typeof Probes | undefined;

export function probeFor(type: BuiltinCheckType | CheckFunction): Probes.Probe {
  registry ??= createRequire(import.meta.url)(`./health${__ENTRY_EXTENSION__}`) as typeof Probes;
  return registry.probeFor(type);
}
