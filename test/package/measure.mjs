// The size and import time of each entry of the built package (dist/), for the README: size is
// the bytes of the entry's ES module file and every chunk it imports statically (what an import
// loads; declarations excluded), import time the median over RUNS cold node processes of
// performance.now() around `await import(...)` (ES module) and `require(...)` (CommonJS).
// Usage: npm run build && node test/package/measure.mjs [runs]
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dist = join(root, 'dist');
const RUNS = Number(process.argv[2] ?? 11);
const ENTRIES = [['upstream-balancer', 'index'], ['upstream-balancer/config', 'config'], ['upstream-balancer/health', 'health'],
  ['upstream-balancer/status', 'status'], ['upstream-balancer/sticky', 'sticky'], ['upstream-balancer/undici', 'undici'], ['upstream-balancer/cluster', 'cluster'], ['upstream-balancer/etcd', 'etcd']];

function closure(file) {
  const seen = new Set();
  const stack = [file];
  while (stack.length > 0) {
    const f = stack.pop();
    if (seen.has(f)) continue;
    seen.add(f);
    const text = readFileSync(join(dist, f), 'utf8');
    for (const m of text.matchAll(/(?:^import\s[^;]*?from\s*|^import\s*|\brequire\(\s*)["']\.\/([\w.-]+)["']/gm)) stack.push(m[1]);
  }
  return seen;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function time(code, type) {
  const samples = [];
  for (let i = 0; i < RUNS; i++) {
    const r = spawnSync(process.execPath, ['--input-type', type, '-e', code], { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    samples.push(Number(r.stdout));
  }
  return median(samples);
}

console.log(`node ${process.version}, median of ${RUNS} cold processes`);
console.log('| entry | size (ESM, with its chunks) | files | import (ESM) | require (CJS) |');
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const [name, file] of ENTRIES) {
  const files = closure(`${file}.js`);
  const bytes = [...files].reduce((n, f) => n + statSync(join(dist, f)).size, 0);
  const esm = time(`const t = performance.now(); await import(${JSON.stringify(name)}); process.stdout.write(String(performance.now() - t));`, 'module');
  const cjs = time(`const t = performance.now(); require(${JSON.stringify(name)}); process.stdout.write(String(performance.now() - t));`, 'commonjs');
  console.log(`| \`${name}\` | ${(bytes / 1024).toFixed(1)} KB | ${files.size} | ${esm.toFixed(1)} ms | ${cjs.toFixed(1)} ms |`);
}
