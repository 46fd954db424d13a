/**
 * The package build (tsdown 0.21, rolldown): ES modules and CommonJS with declarations for both,
 * target Node 20, chunks shared between the entries (the CLI carries no second copy of the
 * library), `stripInternal` applied to the declarations, no source maps (the bundles are not
 * minified, so a stack trace already reads as the code; maps would need the sources shipped too).
 *
 * Entries: the root and the seven subpaths of `exports`; the CLI (ES module only, no declarations:
 * it is a `bin`); `nginx-loader`, what the root requires on the first `fromNginx` /
 * `parseUpstreams` call (no declarations, not in `exports`). Two source modules are swapped for
 * their `.dist.ts` twins, which require an entry on first use instead of importing it: that is how
 * the root stays free of the parser, the status page and the probes (src/entries/lazy.ts,
 * src/health/probes/lazy.ts). `__ENTRY_EXTENSION__` tells them which build they are in.
 */
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { defineConfig } from 'tsdown';

const here = (path: string): string => resolve(import.meta.dirname, path);

/** Source modules replaced by their `.dist.ts` twin in the build. */
const LAZY = new Set([here('src/entries/lazy.ts'), here('src/health/probes/lazy.ts')]);

const library: Record<string, string> = {
  index: 'src/index.ts',
  config: 'src/entries/config.ts',
  health: 'src/entries/health.ts',
  status: 'src/entries/status.ts',
  sticky: 'src/sticky/index.ts',
  undici: 'src/undici/index.ts',
  cluster: 'src/cluster/index.ts',
  etcd: 'src/etcd/index.ts',
  'nginx-loader': 'src/entries/nginx-loader.ts',
};

/** Built files nothing refers to: the declarations of the two entries that are no public subpath. */
const UNREFERENCED = ['cli.d.ts', 'nginx-loader.d.ts', 'nginx-loader.d.cts'];

const perFormat = (extension: string) => ({ define: { __ENTRY_EXTENSION__: JSON.stringify(extension) } });

export default defineConfig({
  format: {
    esm: { ...perFormat('.js'), entry: { ...library, cli: 'src/cli.ts' } },
    cjs: { ...perFormat('.cjs'), entry: library },
  },
  outDir: 'dist',
  platform: 'node',
  target: 'node20',
  fixedExtension: false,
  hash: true,
  sourcemap: false,
  shims: true,
  clean: true,
  dts: { compilerOptions: { stripInternal: true } },
  // The JSDoc lives in the declarations; the JavaScript keeps only legal and tree-shaking comments.
  outputOptions: { comments: { legal: true, annotation: true, jsdoc: false } },
  checks: { pluginTimings: false },
  plugins: [
    {
      name: 'upstream-balancer:lazy-entries',
      async resolveId(source, importer, extra) {
        if (importer === undefined || !/^\.{1,2}\/(.*\/)?lazy$/.test(source)) return null;
        const target = await this.resolve(source, importer, { ...extra, skipSelf: true });
        if (target === null || !LAZY.has(target.id)) return null;
        return resolve(dirname(target.id), target.id.replace(/\.ts$/, '.dist.ts'));
      },
    },
  ],
  hooks: {
    'build:done': ({ options }) => {
      for (const file of UNREFERENCED) rmSync(resolve(options.outDir, file), { force: true });
      // stripInternal removes members that an `implements` clause of the declarations still asks
      // for (Attempt implements RequestState, Selection implements AttemptOwner). The clause checks
      // the library's source, never a consumer's code, so the declarations go without it.
      for (const file of readdirSync(options.outDir).filter((f) => /\.d\.c?ts$/.test(f))) {
        const path = resolve(options.outDir, file);
        const text = readFileSync(path, 'utf8');
        const stripped = text.replace(/(\bclass\s+[\w$]+[^{\n]*?)\s+implements\s+[^{\n]+\{/g, '$1 {');
        if (stripped !== text) writeFileSync(path, stripped);
      }
    },
  },
});
