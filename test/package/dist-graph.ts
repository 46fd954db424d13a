/**
 * Reading a built dist/ without running it: which files each file refers to (static imports and
 * requires, the lazy `createRequire(...)(`./entry.js`)` of src/entries/lazy.dist.ts and
 * src/health/probes/lazy.dist.ts, declaration imports), the closure of an entry, and the source
 * modules a file holds (rolldown's `//#region src/...` markers). Used by dist.test.ts and
 * measure.ts. nginx source: none (packaging).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The dist files `file` (a name relative to `dist`) refers to, by name. */
export function referencesOf(dist: string, file: string): string[] {
  const text = readFileSync(join(dist, file), 'utf8');
  const found = new Set<string>();
  const declaration = /\.d\.c?ts$/.test(file);
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\(\s*|\()["'`]\.\/([\w.-]+)["'`]/g)) {
    let name = m[1]!;
    if (declaration) name = name.replace(/\.js$/, '.d.ts').replace(/\.cjs$/, '.d.cts');
    found.add(name);
  }
  return [...found];
}

/** `roots` and every dist file reachable from them. */
export function closure(dist: string, roots: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const stack = [...roots];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    stack.push(...referencesOf(dist, file));
  }
  return seen;
}

/** Files reachable through static imports only (what loading `root` loads before any lazy call). */
export function staticClosure(dist: string, root: string): Set<string> {
  const seen = new Set<string>();
  const stack = [root];
  while (stack.length > 0) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(join(dist, file), 'utf8');
    for (const m of text.matchAll(/(?:^import\s[^;]*?from\s*|^import\s*|\brequire\(\s*)["']\.\/([\w.-]+)["']/gm)) stack.push(m[1]!);
  }
  return seen;
}

/** The source modules bundled into a dist file, from its `//#region src/...` markers. */
export function sourceModulesOf(dist: string, file: string): string[] {
  const text = readFileSync(join(dist, file), 'utf8');
  return [...text.matchAll(/^\/\/#region (src\/\S+)$/gm)].map((m) => m[1]!);
}

/** The bare modules (builtins, dependencies) a dist file imports or requires. */
export function bareImportsOf(dist: string, file: string): string[] {
  const text = readFileSync(join(dist, file), 'utf8');
  return [...new Set([...text.matchAll(/(?:\bfrom\s*|^import\s*|\brequire\(\s*)["']([^"'./][^"']*)["']/gm)].map((m) => m[1]!))];
}
