/**
 * The module structure of src/, read from the sources with the TypeScript parser:
 * - no import cycles (a type-only import is an edge like any other);
 * - the core (everything but src/config/, src/cli.ts, src/status.ts, the package root src/index.ts and its entries src/entries/)
 *   imports none of those;
 * - src/select/round-robin/ is entered only through its index.ts (every other file in it is private);
 * - no file over 500 lines, no class over 300 lines (from the line of `class` to the closing brace).
 *
 * The analysis is a set of pure functions over an in-memory map {path: source text}, first checked on
 * small synthetic trees that must produce each kind of violation, then run on the real src/.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// ---------------------------------------------------------------------------------------------------
// The analysis (pure: a tree is a map from a posix path such as 'src/a.ts' to its source text)
// ---------------------------------------------------------------------------------------------------

type Tree = Readonly<Record<string, string>>;

interface ImportRef {
  /** The module specifier as written. */
  specifier: string;
  /** 1-based line of the import/export/import() in the importing file. */
  line: number;
  /** `import type`, `export type`, an import whose every name is `type`, or an `import('...')` type. */
  typeOnly: boolean;
}

interface Edge {
  from: string;
  to: string;
  line: number;
  typeOnly: boolean;
}

interface Graph {
  files: string[];
  edges: Edge[];
  /** Relative specifiers that resolve to no file of the tree. */
  unresolved: { from: string; specifier: string; line: number }[];
}

const MAX_FILE_LINES = 500;
const MAX_CLASS_LINES = 300;
const ROUND_ROBIN_DIR = 'src/select/round-robin/';
const ROUND_ROBIN_INDEX = 'src/select/round-robin/index.ts';

const isTs = (path: string): boolean => path.endsWith('.ts') && !path.endsWith('.d.ts');

/** Every import/export-from/import() of one file, type-only ones included. */
function parseImports(path: string, text: string): ImportRef[] {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const refs: ImportRef[] = [];
  const lineOf = (node: ts.Node): number => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
  const add = (spec: ts.Node | undefined, at: ts.Node, typeOnly: boolean): void => {
    if (spec !== undefined && ts.isStringLiteralLike(spec)) refs.push({ specifier: spec.text, line: lineOf(at), typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const allNamedTypes =
        clause !== undefined &&
        clause.name === undefined &&
        clause.namedBindings !== undefined &&
        ts.isNamedImports(clause.namedBindings) &&
        clause.namedBindings.elements.length > 0 &&
        clause.namedBindings.elements.every((e) => e.isTypeOnly);
      add(node.moduleSpecifier, node, clause?.isTypeOnly === true || allNamedTypes);
    } else if (ts.isExportDeclaration(node)) {
      const allNamedTypes =
        node.exportClause !== undefined &&
        ts.isNamedExports(node.exportClause) &&
        node.exportClause.elements.length > 0 &&
        node.exportClause.elements.every((e) => e.isTypeOnly);
      add(node.moduleSpecifier, node, node.isTypeOnly || allNamedTypes);
    } else if (ts.isImportTypeNode(node)) {
      // import('./x').T in a type position
      const arg = node.argument;
      if (ts.isLiteralTypeNode(arg)) add(arg.literal, node, true);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      // await import('./x')
      add(node.arguments[0], node, false);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      // import x = require('./x')
      add(node.moduleReference.expression, node, node.isTypeOnly);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return refs;
}

/** './x' from 'src/a/b.ts' -> 'src/a/x.ts' or 'src/a/x/index.ts' (or the .ts of a './x.js'); bare specifiers -> null. */
function resolveSpecifier(from: string, specifier: string, tree: Tree): string | null | undefined {
  if (!specifier.startsWith('./') && !specifier.startsWith('../') && specifier !== '.' && specifier !== '..') {
    return null; // a package (eventemitter3, node:*): not part of the graph
  }
  const base = posix.normalize(posix.join(posix.dirname(from), specifier));
  const candidates = [
    base,
    `${base}.ts`,
    `${base.replace(/\.(m|c)?js$/, '')}.ts`,
    `${base}/index.ts`,
  ];
  return candidates.find((c) => isTs(c) && Object.prototype.hasOwnProperty.call(tree, c)); // undefined: dangling
}

function buildGraph(tree: Tree): Graph {
  const files = Object.keys(tree).filter(isTs).sort();
  const edges: Edge[] = [];
  const unresolved: Graph['unresolved'] = [];
  for (const from of files) {
    for (const ref of parseImports(from, tree[from]!)) {
      const to = resolveSpecifier(from, ref.specifier, tree);
      if (to === null) continue;
      if (to === undefined) unresolved.push({ from, specifier: ref.specifier, line: ref.line });
      else edges.push({ from, to, line: ref.line, typeOnly: ref.typeOnly });
    }
  }
  return { files, edges, unresolved };
}

interface Cycle {
  /** The strongly connected component the cycle lies in (sorted). */
  component: string[];
  /** One elementary cycle, first file repeated at the end: [a, b, a]. */
  path: string[];
  /** The import that closes each step of `path`. */
  steps: Edge[];
}

/**
 * The import cycles: for every strongly connected component with more than one file (or a file that
 * imports itself), the shortest cycle through each of its files, deduplicated.
 */
function findCycles(graph: Graph): Cycle[] {
  const out = new Map<string, Edge[]>();
  for (const f of graph.files) out.set(f, []);
  for (const e of graph.edges) out.get(e.from)!.push(e);

  // Tarjan's strongly connected components (iterative, so a long chain cannot overflow the stack).
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let next = 0;
  for (const root of graph.files) {
    if (index.has(root)) continue;
    const work: { v: string; i: number }[] = [{ v: root, i: 0 }];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      const succ = out.get(top.v)!;
      if (top.i < succ.length) {
        const w = succ[top.i++]!.to;
        if (!index.has(w)) {
          index.set(w, next);
          low.set(w, next++);
          stack.push(w);
          onStack.add(w);
          work.push({ v: w, i: 0 });
        } else if (onStack.has(w)) {
          low.set(top.v, Math.min(low.get(top.v)!, index.get(w)!));
        }
      } else {
        work.pop();
        if (work.length > 0) {
          const parent = work[work.length - 1]!.v;
          low.set(parent, Math.min(low.get(parent)!, low.get(top.v)!));
        }
        if (low.get(top.v) === index.get(top.v)) {
          const comp: string[] = [];
          let w: string;
          do {
            w = stack.pop()!;
            onStack.delete(w);
            comp.push(w);
          } while (w !== top.v);
          components.push(comp.sort());
        }
      }
    }
  }

  const cycles: Cycle[] = [];
  const seen = new Set<string>();
  for (const component of components) {
    const inside = new Set(component);
    const selfLoop = component.length === 1 && out.get(component[0]!)!.some((e) => e.to === component[0]);
    if (component.length === 1 && !selfLoop) continue;
    for (const start of component) {
      // Breadth-first from `start` back to `start` within the component: the shortest cycle through it.
      const via = new Map<string, Edge>();
      const queue: string[] = [start];
      let closing: Edge | undefined;
      for (let q = 0; q < queue.length && closing === undefined; q++) {
        for (const e of out.get(queue[q]!)!) {
          if (!inside.has(e.to)) continue;
          if (e.to === start) {
            closing = e;
            break;
          }
          if (!via.has(e.to)) {
            via.set(e.to, e);
            queue.push(e.to);
          }
        }
      }
      if (closing === undefined) continue;
      const steps: Edge[] = [closing];
      for (let v = closing.from; v !== start; v = via.get(v)!.from) steps.unshift(via.get(v)!);
      const nodes = steps.map((e) => e.from);
      // The same cycle found from another of its files: one canonical rotation.
      const first = nodes.indexOf([...nodes].sort()[0]!);
      const key = [...nodes.slice(first), ...nodes.slice(0, first)].join(' -> ');
      if (seen.has(key)) continue;
      seen.add(key);
      cycles.push({ component, path: [...nodes, start], steps });
    }
  }
  return cycles;
}

const isConfig = (path: string): boolean => path.startsWith('src/config/');
const isOuter = (path: string): boolean =>
  isConfig(path) || path === 'src/cli.ts' || path === 'src/status.ts' || path === 'src/index.ts' || path.startsWith('src/entries/') || path.startsWith('src/status/');
const isCore = (path: string): boolean => path.startsWith('src/') && !isOuter(path);

/** Core files importing src/config/, src/cli.ts, src/status.ts or src/index.ts. */
function coreViolations(graph: Graph): Edge[] {
  return graph.edges.filter((e) => isCore(e.from) && isOuter(e.to));
}

/** Files outside src/select/round-robin/ importing one of its files other than its index.ts. */
function privacyViolations(graph: Graph): Edge[] {
  return graph.edges.filter(
    (e) => e.to.startsWith(ROUND_ROBIN_DIR) && e.to !== ROUND_ROBIN_INDEX && !e.from.startsWith(ROUND_ROBIN_DIR),
  );
}

const lineCount = (text: string): number =>
  text.length === 0 ? 0 : text.split('\n').length - (text.endsWith('\n') ? 1 : 0);

interface SizeViolation {
  file: string;
  /** undefined for the file itself, else the class's name ('<anonymous>' for an unnamed one). */
  className?: string;
  /** 1-based line of the `class` keyword (1 for a file). */
  line: number;
  lines: number;
  limit: number;
}

function sizeViolations(tree: Tree): SizeViolation[] {
  const found: SizeViolation[] = [];
  for (const file of Object.keys(tree).filter(isTs).sort()) {
    const text = tree[file]!;
    const n = lineCount(text);
    if (n > MAX_FILE_LINES) found.push({ file, line: 1, lines: n, limit: MAX_FILE_LINES });
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    const visit = (node: ts.Node): void => {
      if (ts.isClassDeclaration(node) || ts.isClassExpression(node)) {
        const keyword = node.getChildren(sf).find((c) => c.kind === ts.SyntaxKind.ClassKeyword) ?? node;
        const first = sf.getLineAndCharacterOfPosition(keyword.getStart(sf)).line;
        const last = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
        const lines = last - first + 1;
        if (lines > MAX_CLASS_LINES) {
          found.push({ file, className: node.name?.text ?? '<anonymous>', line: first + 1, lines, limit: MAX_CLASS_LINES });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return found;
}

// Readable reports -----------------------------------------------------------------------------------

const showEdge = (e: Edge): string => `${e.from}:${e.line} imports ${e.to}${e.typeOnly ? ' (type-only)' : ''}`;
const showCycle = (c: Cycle): string =>
  `cycle of ${c.path.length - 1} file(s): ${c.path.join(' -> ')}\n` + c.steps.map((e) => `      ${showEdge(e)}`).join('\n');
/** One entry per strongly connected set of files: its members, then its cycles. */
const showCycles = (cycles: Cycle[]): string[] => {
  const groups = new Map<string, Cycle[]>();
  for (const c of cycles) {
    const key = c.component.join(', ');
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  return [...groups].map(
    ([members, cs]) =>
      `${cs[0]!.component.length} files import one another in a circle (${members}); ${cs.length} shortest cycle(s):\n` +
      cs.map((c) => `    * ${showCycle(c)}`).join('\n'),
  );
};
const showSize = (v: SizeViolation): string =>
  v.className === undefined
    ? `${v.file}: ${v.lines} lines (limit ${v.limit})`
    : `${v.file}:${v.line} class ${v.className}: ${v.lines} lines (limit ${v.limit})`;
const report = (title: string, items: string[]): string =>
  `${items.length} ${title}:\n${items.map((s) => `  - ${s}`).join('\n')}\n`;

// ---------------------------------------------------------------------------------------------------
// The analysis on synthetic trees: each rule can fail
// ---------------------------------------------------------------------------------------------------

const lines = (n: number): string => Array.from({ length: n }, (_, i) => `export const v${i} = ${i};`).join('\n') + '\n';
const classOf = (name: string, total: number): string =>
  // `export class X {` + (total - 2) member lines + `}`: `total` lines from `class` to `}`.
  `export class ${name} {\n${Array.from({ length: total - 2 }, (_, i) => `  m${i} = ${i};`).join('\n')}\n}\n`;

describe('architecture analysis (synthetic trees)', () => {
  it('parses every kind of import and resolves ./x to x.ts or x/index.ts, ignoring packages', () => {
    const tree: Tree = {
      'src/a.ts': [
        "import { EventEmitter } from 'eventemitter3';",
        "import { setTimeout } from 'node:timers';",
        "import { b } from './b';",
        "import type { C } from './c';",
        "import { type D } from './d/index';",
        "export { e } from './e';",
        "export * from './f.js';",
        "export type T = import('./g').G;",
        "const h = () => import('./h');",
        "import './side';",
      ].join('\n'),
      'src/b.ts': 'export const b = 1;',
      'src/c/index.ts': 'export interface C {}',
      'src/d/index.ts': 'export interface D {}',
      'src/e.ts': 'export const e = 1;',
      'src/f.ts': 'export const f = 1;',
      'src/g.ts': 'export interface G {}',
      'src/h.ts': 'export const h = 1;',
    };
    const g = buildGraph(tree);
    expect(g.edges.map((e) => [e.to, e.line, e.typeOnly])).toEqual([
      ['src/b.ts', 3, false],
      ['src/c/index.ts', 4, true],
      ['src/d/index.ts', 5, true],
      ['src/e.ts', 6, false],
      ['src/f.ts', 7, false],
      ['src/g.ts', 8, true],
      ['src/h.ts', 9, false],
    ]);
    expect(g.unresolved).toEqual([{ from: 'src/a.ts', specifier: './side', line: 10 }]);
  });

  it('finds a cycle A -> B -> A, type-only imports included, and none in a DAG', () => {
    const cyclic = buildGraph({
      'src/a.ts': "import { b } from './b';\nexport const a = 1;",
      'src/b.ts': "import type { A } from './a';\nexport const b = 1;",
      'src/c.ts': "import { a } from './a';",
    });
    const cycles = findCycles(cyclic);
    expect(cycles.map((c) => c.path)).toEqual([['src/a.ts', 'src/b.ts', 'src/a.ts']]);
    expect(showCycle(cycles[0]!)).toContain('src/b.ts:1 imports src/a.ts (type-only)');

    const longer = findCycles(
      buildGraph({
        'src/a.ts': "import './b';",
        'src/b.ts': "import './c';",
        'src/c.ts': "import './a';\nimport './c';", // and a self-import
      }),
    );
    expect(longer.map((c) => c.path)).toEqual([['src/a.ts', 'src/b.ts', 'src/c.ts', 'src/a.ts'], ['src/c.ts', 'src/c.ts']]);

    expect(findCycles(buildGraph({ 'src/a.ts': "import './b';", 'src/b.ts': "import './c';", 'src/c.ts': '' }))).toEqual([]);
  });

  it('flags a core file importing config/, cli, status or the package root, and nothing the other way', () => {
    const g = buildGraph({
      'src/balancer.ts': "import { parse } from './config/nginx';",
      'src/select/x.ts': "import type { S } from '../status';\nimport '../index';\nimport '../cli';",
      'src/select/ok.ts': "import '../balancer';",
      'src/config/nginx.ts': "import { Balancer } from '../balancer';\nexport const parse = 1;",
      'src/status.ts': "import './balancer';",
      'src/cli.ts': "import './config/nginx';\nimport './status';",
      'src/index.ts': "export * from './balancer';\nexport * from './config/nginx';",
    });
    expect(coreViolations(g).map(showEdge)).toEqual([
      'src/balancer.ts:1 imports src/config/nginx.ts',
      'src/select/x.ts:1 imports src/status.ts (type-only)',
      'src/select/x.ts:2 imports src/index.ts',
      'src/select/x.ts:3 imports src/cli.ts',
    ]);
  });

  it('flags a file outside src/select/round-robin/ importing anything there but index.ts', () => {
    const g = buildGraph({
      'src/select/round-robin/index.ts': "export * from './scan';",
      'src/select/round-robin/scan.ts': "import './accel';\nexport const scan = 1;",
      'src/select/round-robin/accel.ts': 'export const accel = 1;',
      'src/balancer.ts': "import { scan } from './select/round-robin';\nimport type { X } from './select/round-robin/accel';",
      'src/tier.ts': "import './select/round-robin/index';",
    });
    expect(privacyViolations(g).map(showEdge)).toEqual([
      'src/balancer.ts:2 imports src/select/round-robin/accel.ts (type-only)',
    ]);
    // No folder yet: vacuous.
    expect(privacyViolations(buildGraph({ 'src/select/round-robin.ts': '', 'src/b.ts': "import './select/round-robin';" }))).toEqual([]);
  });

  it('flags a 501-line file and a 301-line class, not a 500-line file or a 300-line class', () => {
    expect(lineCount(lines(501))).toBe(501);
    const v = sizeViolations({
      'src/big.ts': lines(501),
      'src/edge.ts': lines(500),
      'src/cls.ts': `// header\n${classOf('Big', 301)}`,
      'src/cls-edge.ts': classOf('Edge', 300),
      'src/expr.ts': `export const K = class {\n${'  x = 1;\n'.repeat(300)}};\n`,
    });
    expect(v.map(showSize)).toEqual([
      'src/big.ts: 501 lines (limit 500)',
      'src/cls.ts:2 class Big: 301 lines (limit 300)',
      'src/expr.ts:1 class <anonymous>: 302 lines (limit 300)',
    ]);
    // Decorators/modifiers on earlier lines do not count: from the `class` keyword.
    expect(sizeViolations({ 'src/m.ts': `export\ndefault\n${classOf('M', 300).replace('export ', '')}` })).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------
// The real src/
// ---------------------------------------------------------------------------------------------------

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function readTree(dir: string): Record<string, string> {
  const tree: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && isTs(entry.name)) tree[relative(ROOT, full).split(sep).join('/')] = readFileSync(full, 'utf8');
    }
  };
  walk(dir);
  return tree;
}

describe('architecture of src/', () => {
  const tree = readTree(join(ROOT, 'src'));
  const graph = buildGraph(tree);

  it('reads the tree (a guard against a vacuous pass)', () => {
    expect(graph.files).toContain('src/index.ts');
    expect(graph.files.length).toBeGreaterThan(10);
    expect(graph.edges.length).toBeGreaterThan(graph.files.length);
  });

  it('every relative import resolves to a file of src/', () => {
    const bad = graph.unresolved.map((u) => `${u.from}:${u.line} imports '${u.specifier}', which is no file`);
    expect(bad, report('unresolved relative import(s)', bad)).toHaveLength(0);
  });

  it('has no import cycles', () => {
    const cycles = findCycles(graph);
    expect(cycles, report(`group(s) of files with import cycles (${cycles.length} shortest cycle(s) in all)`, showCycles(cycles))).toHaveLength(0);
  });

  it('the core does not import src/config/, src/cli.ts, src/status.ts or src/index.ts', () => {
    const bad = coreViolations(graph).map(showEdge);
    expect(bad, report('core import(s) of the outer layer', bad)).toHaveLength(0);
  });

  it('src/select/round-robin/ is imported from outside only through its index.ts', () => {
    const bad = privacyViolations(graph).map(showEdge);
    expect(bad, report('import(s) of private round-robin files', bad)).toHaveLength(0);
  });

  it(`no file over ${MAX_FILE_LINES} lines, no class over ${MAX_CLASS_LINES} lines`, () => {
    const bad = sizeViolations(tree).map(showSize);
    expect(bad, report('oversized file(s)/class(es)', bad)).toHaveLength(0);
  });
});
