/**
 * The built package, as `npm pack` would ship it: builds dist/ with tsdown into a scratch copy of
 * the package (.tmp/, inside the repository so that node_modules resolves) and checks
 * - the packed files (`npm pack --dry-run --json`): exactly what the `exports` and `bin` targets
 *   reach (no orphan: no cli.cjs, no cli.d.ts, no source map), and their total size within
 *   `PACKED_BYTES_BOUND`;
 * - no `@internal` member of src/ in the declarations, and the declarations of every subpath
 *   type-check without skipLibCheck (a dangling name left by stripInternal fails here);
 * - the root is the core: importing it (ESM, observed by a resolve hook; CJS, by require.cache)
 *   loads no parser, no node:fs, no probe, no status page; the lazily loaded names work and load
 *   their modules on first use, into the same module instances (one Balancer class, one ConfigError);
 * - the CLI carries no copy of the library (its file holds src/cli.ts alone).
 * No network, no nginx; it spawns node and npm on the scratch copy and removes it afterwards.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bareImportsOf, closure, sourceModulesOf, staticClosure } from './dist-graph';

/**
 * Unpacked size of the tarball today (1.41 MB with `setServersAsync` and its steps, 1.39 MB before;
 * 1.31 MB with the zone, `/cluster` and `/etcd`; 1.24 MB before `/etcd`, see the README) plus about
 * 6 %: a regression past it fails.
 */
const PACKED_BYTES_BOUND = 1_500_000;

const ROOT = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  exports: Record<string, string | Record<string, Record<string, string>>>;
  bin: Record<string, string>;
};
let stage = '';
let dist = '';
let packed: { path: string; size: number }[] = [];

beforeAll(() => {
  mkdirSync(join(ROOT, '.tmp'), { recursive: true });
  stage = mkdtempSync(join(ROOT, '.tmp', 'package-'));
  dist = join(stage, 'dist');
  const build = spawnSync('npx', ['tsdown', '--out-dir', dist, '--log-level', 'error'], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`tsdown failed: ${build.stderr}${build.stdout}`);
  for (const f of ['package.json', 'README.md', 'LICENSE']) copyFileSync(join(ROOT, f), join(stage, f));
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: stage, encoding: 'utf8' });
  packed = (JSON.parse(out) as { files: { path: string; size: number }[] }[])[0]!.files;
}, 240_000);
afterAll(() => {
  if (stage !== '') rmSync(stage, { recursive: true, force: true });
});

/** Every file named by `exports` and `bin`, relative to dist/. */
function targets(): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') {
      const m = /^(?:\.\/)?dist\/(.+)$/.exec(v);
      if (m !== null) out.push(m[1]!);
    } else if (v !== null && typeof v === 'object') for (const x of Object.values(v)) walk(x);
  };
  walk(pkg.exports);
  walk(pkg.bin);
  return out;
}

describe('the packed files', () => {
  it('are exactly the exports and bin targets and what they load, plus package.json, README.md and LICENSE', () => {
    const reached = [...closure(dist, targets())].map((f) => `dist/${f}`);
    const expected = [...reached, 'package.json', 'README.md', 'LICENSE'].sort();
    expect(packed.map((f) => f.path).sort()).toEqual(expected);
    expect(readdirSync(dist).map((f) => `dist/${f}`).sort()).toEqual(reached.sort());
  });

  it('hold no source map, no CommonJS CLI and no CLI declarations', () => {
    const paths = packed.map((f) => f.path);
    expect(paths.filter((p) => p.endsWith('.map'))).toEqual([]);
    expect(paths).toContain('dist/cli.js');
    expect(paths.filter((p) => /^dist\/cli\.(cjs|d\.c?ts)$/.test(p))).toEqual([]);
  });

  it(`weigh at most ${PACKED_BYTES_BOUND} bytes unpacked`, () => {
    const total = packed.reduce((n, f) => n + f.size, 0);
    expect(total).toBeGreaterThan(100_000);
    expect(total).toBeLessThanOrEqual(PACKED_BYTES_BOUND);
  });

  it('give every subpath import and require targets with types', () => {
    const subpaths = Object.keys(pkg.exports).filter((k) => k !== './package.json').sort();
    expect(subpaths).toEqual(['.', './cluster', './config', './etcd', './health', './status', './sticky', './undici']);
    for (const k of subpaths) {
      const e = pkg.exports[k] as Record<string, Record<string, string>>;
      for (const [cond, ext, dts] of [['import', '.js', '.d.ts'], ['require', '.cjs', '.d.cts']] as const) {
        expect(Object.keys(e[cond]!)).toEqual(['types', 'default']);
        expect(e[cond]!.default!.endsWith(ext)).toBe(true);
        expect(e[cond]!.types).toBe(e[cond]!.default!.replace(/\.c?js$/, dts));
      }
    }
  });

  it('the CLI shares the library chunks instead of carrying a copy (it holds only modules no library file holds)', () => {
    const cli = sourceModulesOf(dist, 'cli.js');
    expect(cli).toContain('src/cli.ts');
    const library = readdirSync(dist).filter((f) => f.endsWith('.js') && f !== 'cli.js').flatMap((f) => sourceModulesOf(dist, f));
    expect(library).toContain('src/config/nginx.ts');
    expect(cli.filter((m) => library.includes(m))).toEqual([]);
    const chunks = staticClosure(dist, 'cli.js');
    expect([...chunks].filter((f) => f !== 'cli.js').flatMap((f) => sourceModulesOf(dist, f))).toContain('src/config/nginx.ts');
  });
});

/** `Container.member` (or a top-level name) of every `@internal` declaration in `files`. */
function internalNames(files: string[], onlyInternal: boolean): Set<string> {
  const names = new Set<string>();
  for (const file of files) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    const visit = (node: ts.Node, container: string): void => {
      const named = (node as { name?: ts.Node }).name;
      const name = named !== undefined && (ts.isIdentifier(named) || ts.isPrivateIdentifier(named)) ? named.text : node.kind === ts.SyntaxKind.Constructor ? 'constructor' : undefined;
      const tagged = ts.getJSDocTags(node).some((t) => t.tagName.text === 'internal') || /@internal\b/.test(node.getFullText().slice(0, node.getLeadingTriviaWidth()));
      const declaration = ts.isClassElement(node) || ts.isTypeElement(node) || ts.isFunctionDeclaration(node) || ts.isInterfaceDeclaration(node) || ts.isClassDeclaration(node) || ts.isTypeAliasDeclaration(node);
      if (declaration && name !== undefined && (!onlyInternal || tagged)) names.add(container === '' ? name : `${container}.${name}`);
      const inner = (ts.isClassDeclaration(node) || ts.isInterfaceDeclaration(node)) && node.name !== undefined ? node.name.text : container;
      ts.forEachChild(node, (c) => visit(c, inner));
    };
    visit(sf, '');
  }
  return names;
}

function filesUnder(dir: string, test: (f: string) => boolean): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter(test).map((f) => join(dir, f));
}

describe('the declarations', () => {
  it('hold no @internal member of src/', () => {
    const internal = internalNames(filesUnder(join(ROOT, 'src'), (f) => f.endsWith('.ts') && !f.endsWith('.d.ts')), true);
    expect(internal.size).toBeGreaterThan(19);
    const declared = internalNames(filesUnder(dist, (f) => /\.d\.c?ts$/.test(f)), false);
    expect(declared.size).toBeGreaterThan(100);
    expect([...internal].filter((n) => declared.has(n))).toEqual([]);
  });

  it('type-check for a consumer of every subpath, ESM and CommonJS, without skipLibCheck', () => {
    const subpaths = Object.keys(pkg.exports).filter((k) => k !== './package.json').map((k) => `upstream-balancer${k.slice(1)}`);
    const esm = join(stage, 'consumer.mts');
    const cjs = join(stage, 'consumer.cts');
    const lines = subpaths.map((s, i) => `import * as m${i} from '${s}';\nexport const e${i} = Object.keys(m${i});`).join('\n');
    for (const f of [esm, cjs]) ts.sys.writeFile(f, lines);
    const program = ts.createProgram([esm, cjs], {
      module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16, target: ts.ScriptTarget.ES2022,
      strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')],
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    expect(diagnostics).toEqual([]);
  }, 180_000);
});

/** Runs `code` as an ES module (or CommonJS) in a child node and returns what it printed as JSON. */
function child(code: string, type: 'module' | 'commonjs'): unknown {
  const r = spawnSync(process.execPath, ['--input-type', type, '-e', code], { cwd: stage, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** The modules the root must not load: the parser, the status page, the probes (not their lazy shim), DNS. */
const LEAN = (modules: string[]): string[] => modules.filter((m) => /^src\/(config\/|status|health\/probes\/(?!lazy)|resolve\/|entries\/nginx-loader)/.test(m));
const NGINX = 'http { upstream u { server 127.0.0.1:1 weight=2; server 127.0.0.1:2; } }';

describe('the root is the core', () => {
  it('statically reaches no parser, no status page, no probe and no node:fs', () => {
    for (const root of ['index.js', 'index.cjs']) {
      const files = [...staticClosure(dist, root)];
      const modules = files.flatMap((f) => sourceModulesOf(dist, f));
      expect(modules).toContain('src/balancer.ts');
      expect(LEAN(modules)).toEqual([]);
      const bare = files.flatMap((f) => bareImportsOf(dist, f));
      expect(bare.filter((m) => /^(node:)?(fs|net|tls|dns|http)(\/|$)/.test(m))).toEqual([]);
    }
  });

  it('ESM: importing it resolves only its chunk graph; fromNginx and parseUpstreams load the parser then', () => {
    const hooks = 'let port; export function initialize(d) { port = d.port; } export async function resolve(s, c, next) { const r = await next(s, c); port.postMessage(r.url); return r; }';
    const out = child(`
      import { register } from 'node:module';
      import { MessageChannel } from 'node:worker_threads';
      const { port1, port2 } = new MessageChannel();
      const seen = [];
      port1.on('message', (u) => seen.push(u));
      register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}), { data: { port: port2 }, transferList: [port2] });
      const root = await import('upstream-balancer');
      await new Promise((r) => setTimeout(r, 100));
      port1.close();
      const loaded = [...new Set(seen)].filter((u) => u.includes('/dist/')).map((u) => u.slice(u.lastIndexOf('/') + 1));
      const builtins = [...new Set(seen)].filter((u) => u.startsWith('node:'));
      const b = root.Balancer.fromNginx(${JSON.stringify(NGINX)});
      const picks = [0, 1, 2].map(() => { const s = b.pick(); b.release(s); return s.address; });
      let error;
      try { root.parseUpstreams('http { upstream u { server 127.0.0.1:1 wieght=2; } }'); } catch (e) { error = e; }
      const config = await import('upstream-balancer/config');
      console.log(JSON.stringify({ loaded, builtins, picks, sameClass: b instanceof root.Balancer && config.Balancer === root.Balancer,
        sameError: error instanceof root.ConfigError && error instanceof config.ConfigError, code: error.code,
        status: root.formatStatus(b.snapshot(), 'csv'), statusEntry: (await import('upstream-balancer/status')).formatStatus(b.snapshot(), 'csv') }));
    `, 'module') as { loaded: string[]; builtins: string[]; picks: string[]; sameClass: boolean; sameError: boolean; code: string; status: string; statusEntry: string };
    expect(out.loaded.sort()).toEqual([...staticClosure(dist, 'index.js')].sort());
    expect(out.builtins.filter((m) => /^node:(fs|net|tls|dns|http)/.test(m))).toEqual([]);
    expect(out.picks).toEqual(['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:1']);
    expect(out.sameClass).toBe(true);
    expect(out.sameError).toBe(true);
    expect(out.code).toBe('ERR_UPSTREAM_CONFIG');
    expect(out.status).toContain('127.0.0.1:2');
    expect(out.status).toBe(out.statusEntry);
  });

  it('CommonJS: requiring it loads only its chunk graph; each lazy name loads its module on first use', () => {
    const out = child(`
      const files = () => Object.keys(require.cache).filter((f) => f.includes('/dist/')).map((f) => f.slice(f.lastIndexOf('/') + 1)).sort();
      const root = require('upstream-balancer');
      const atImport = files();
      const b = root.Balancer.fromNginx(${JSON.stringify(NGINX)});
      const afterNginx = files();
      root.formatStatus(b.snapshot(), 'json');
      const afterStatus = files();
      const checked = new root.Balancer({ servers: [{ address: '127.0.0.1:1' }], check: { type: 'tcp', interval: 60000 } });
      checked.start();
      const afterCheck = files();
      checked.close().then(() => console.log(JSON.stringify({ atImport, afterNginx, afterStatus, afterCheck,
        sameClass: b instanceof root.Balancer && require('upstream-balancer/config').Balancer === root.Balancer })));
    `, 'commonjs') as Record<'atImport' | 'afterNginx' | 'afterStatus' | 'afterCheck', string[]> & { sameClass: boolean };
    const modules = (files: string[]): string[] => files.flatMap((f) => sourceModulesOf(dist, f));
    expect(out.atImport).toEqual([...staticClosure(dist, 'index.cjs')].sort());
    expect(LEAN(modules(out.atImport))).toEqual([]);
    expect(modules(out.afterNginx)).toContain('src/config/nginx.ts');
    expect(LEAN(modules(out.afterNginx)).filter((m) => m.startsWith('src/status') || m.startsWith('src/health/'))).toEqual([]);
    expect(out.afterStatus.filter((f) => !out.afterNginx.includes(f))).toEqual(['status.cjs']);
    expect(out.afterCheck.filter((f) => !out.afterStatus.includes(f))).toEqual(['health.cjs']);
    expect(modules(['health.cjs'])).toContain('src/health/probes/tcp.ts');
    expect(out.sameClass).toBe(true);
  });
});
