// The packed tarball in a TypeScript ES module project and a CommonJS one (test/package/consumers/):
// `npm pack` of the built package into a scratch directory, then per project: copy it there,
// `npm install <tgz> typescript prom-client undici @types/node@20` (from the npm cache when it can:
// --offline, else --prefer-offline), type-check and compile with tsc (no skipLibCheck), run it.
// Each project uses `await using` on a Balancer, every subpath and the prom-client collector with
// exact results (consumers/shared.ts). Run by .ci/run after `npm run build`; exits 1 on a failure.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const here = fileURLToPath(new URL('./consumers/', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const typescript = JSON.parse(readFileSync(join(root, 'node_modules/typescript/package.json'), 'utf8')).version;
const scratch = mkdtempSync(join(tmpdir(), 'ub-consumers-'));
const EXPECTED = ['root', 'status', 'prom-client', 'await using', 'config', 'health', 'sticky', 'undici'];

const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

function install(dir, tarball) {
  const deps = [tarball, `typescript@${typescript}`, 'prom-client@^15', 'undici@^7', '@types/node@^20.19'];
  const base = ['install', '--no-audit', '--no-fund', '--no-package-lock', ...deps];
  const offline = spawnSync('npm', [...base, '--offline'], { cwd: dir, encoding: 'utf8' });
  if (offline.status === 0) return 'offline';
  run('npm', [...base, '--prefer-offline'], dir);
  return 'prefer-offline';
}

let failed = false;
try {
  const packed = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch], root));
  const tarball = join(scratch, packed[0].filename);
  console.log(`packed ${packed[0].filename}: ${packed[0].entryCount} files, ${packed[0].size} bytes packed, ${packed[0].unpackedSize} unpacked`);
  for (const kind of ['esm', 'cjs']) {
    const dir = join(scratch, kind);
    execFileSync('cp', ['-r', join(here, kind), dir]);
    copyFileSync(join(here, 'shared.ts'), join(dir, 'shared.ts'));
    const how = install(dir, tarball);
    const installed = JSON.parse(readFileSync(join(dir, 'node_modules/upstream-balancer/package.json'), 'utf8'));
    if (installed.version !== pkg.version) throw new Error(`${kind}: installed ${installed.version}, expected ${pkg.version}`);
    const tsc = spawnSync(process.execPath, [join(dir, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' });
    if (tsc.status !== 0) throw new Error(`${kind}: tsc failed\n${tsc.stdout}${tsc.stderr}`);
    const out = spawnSync(process.execPath, [join(dir, 'out/main.js')], { cwd: dir, encoding: 'utf8' });
    const expected = `${kind}: ${EXPECTED.join(', ')}\n`;
    if (out.status !== 0 || out.stdout !== expected) throw new Error(`${kind}: expected ${JSON.stringify(expected)}, got status ${out.status}\n${out.stdout}${out.stderr}`);
    console.log(`${kind} consumer (installed ${how}; ${readdirSync(join(dir, 'out')).length} compiled files): ${out.stdout.trim()}`);
  }
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  failed = true;
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
