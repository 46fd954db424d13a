// Fails if dist/ imports a bare module that is neither a Node builtin nor a declared dependency, or
// if an optional peer dependency (undici) is imported by any file but its own subpath's.
import { readFileSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
const declared = new Set(Object.keys(pkg.dependencies ?? {}));
const optionalPeers = new Set(Object.keys(pkg.peerDependenciesMeta ?? {}).filter((m) => pkg.peerDependenciesMeta[m].optional && pkg.peerDependencies?.[m]));
/** The only dist files allowed to import each optional peer (the entry points of its subpath). */
const peerFiles = { undici: new Set(['undici.js', 'undici.cjs']) };
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const dist = new URL('../../dist/', import.meta.url);
const used = new Set();
const misplaced = [];
for (const file of readdirSync(dist)) {
  if (!/\.(c?js)$/.test(file)) continue;
  const text = readFileSync(new URL(file, dist), 'utf8');
  for (const m of text.matchAll(/(?:\bfrom\s+|import\s*\(\s*|require\(\s*)["']([^"'./][^"']*)["']/g)) {
    used.add(m[1]);
    const name = m[1].split('/').slice(0, m[1].startsWith('@') ? 2 : 1).join('/');
    if (optionalPeers.has(name) && !peerFiles[name]?.has(file)) misplaced.push(`${file} imports ${name}`);
  }
}
const bad = [...used].filter((m) => {
  const name = m.split('/').slice(0, m.startsWith('@') ? 2 : 1).join('/');
  return !builtins.has(m) && !declared.has(name) && !optionalPeers.has(name);
});
if (misplaced.length > 0) {
  console.error(`an optional peer dependency is imported outside its subpath: ${misplaced.join(', ')}`);
  process.exit(1);
}
if (bad.length > 0) {
  console.error(`dist imports undeclared modules: ${bad.join(', ')}`);
  process.exit(1);
}
for (const d of declared) if (![...used].some((m) => m === d || m.startsWith(`${d}/`))) console.warn(`declared dependency ${d} is not imported by dist/`);
console.log(`dist imports: ${[...used].sort().join(', ')} (all builtins, declared, or optional peers imported by their subpath only)`);
