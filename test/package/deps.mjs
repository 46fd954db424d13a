// Fails if dist/ imports a bare module that is neither a Node builtin nor a declared dependency.
import { readFileSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
const declared = new Set(Object.keys(pkg.dependencies ?? {}));
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const dist = new URL('../../dist/', import.meta.url);
const used = new Set();
for (const file of readdirSync(dist)) {
  if (!/\.(c?js)$/.test(file)) continue;
  const text = readFileSync(new URL(file, dist), 'utf8');
  for (const m of text.matchAll(/(?:\bfrom\s+|import\s*\(\s*|require\(\s*)["']([^"'./][^"']*)["']/g)) used.add(m[1]);
}
const bad = [...used].filter((m) => !builtins.has(m) && !declared.has(m.split('/').slice(0, m.startsWith('@') ? 2 : 1).join('/')));
if (bad.length > 0) {
  console.error(`dist imports undeclared modules: ${bad.join(', ')}`);
  process.exit(1);
}
for (const d of declared) if (![...used].some((m) => m === d || m.startsWith(`${d}/`))) console.warn(`declared dependency ${d} is not imported by dist/`);
console.log(`dist imports: ${[...used].sort().join(', ')} (all builtins or declared)`);
