/**
 * The default `glob` of `include`: glob(3)'s matching of one path component (`*`, `?`, `[...]`,
 * `[!...]`, `\` escapes; a leading `.` only matched by a literal `.`), in one directory, sorted.
 *
 * Matching never backtracks more than one star: the classic greedy two-pointer wildcard match
 * (on a mismatch, retry from the last `*` one character further). The mark where the last `*`
 * resumes only moves forward, so a name of n characters costs at most n * n + pattern-length
 * steps, whatever the pattern (`*a*a*a*a*a*a*a*a*b` against 40 `a`s: under 40 * 40 + 18, where a
 * backtracking RegExp took seconds); a pattern needing more characters than the name has is
 * rejected at once, and a bracket expression decides each character once per pattern.
 * Pure apart from `fsGlob`, which reads one directory through `opendirSync` and stops reading when
 * the parse's entry budget runs out (docs/config.md, "Includes from untrusted text").
 */

import { opendirSync } from 'node:fs';

/** One element of a compiled pattern. */
type Part =
  | { readonly t: 'star' }
  | { readonly t: 'any' }
  | { readonly t: 'char'; readonly c: string }
  | {
      readonly t: 'class';
      readonly negated: boolean;
      readonly chars: ReadonlySet<string>;
      readonly ranges: readonly (readonly [number, number])[];
      /** Characters already decided (a class is tested against each character once per pattern). */
      readonly seen: Map<string, boolean>;
    };

/** A compiled pattern: its parts (runs of `*` collapsed into one) and how many characters it needs. */
export interface Pattern {
  readonly parts: readonly Part[];
  /** Parts other than `*`: each consumes exactly one character of a name. */
  readonly needs: number;
  /** The pattern starts with a literal `.`: names starting with `.` may match. */
  readonly dot: boolean;
}

/** The pattern has a wildcard (`*`, `?` or `[`), as nginx decides whether to call glob(). */
export function hasWildcard(text: string): boolean {
  return /[*?[]/.test(text);
}

/** Compiles one path component of a glob(3) pattern (no `/` inside). */
export function compilePattern(pattern: string): Pattern {
  const cs = Array.from(pattern);
  const lastClose = cs.lastIndexOf(']');
  const parts: Part[] = [];
  let needs = 0;
  for (let i = 0; i < cs.length; i++) {
    const c = cs[i]!;
    if (c === '*') {
      if (parts.at(-1)?.t !== 'star') parts.push({ t: 'star' });
      continue;
    }
    needs++;
    if (c === '?') parts.push({ t: 'any' });
    else if (c === '\\' && i + 1 < cs.length) parts.push({ t: 'char', c: cs[++i]! });
    else if (c === '[') {
      const cls = i < lastClose ? bracket(cs, i) : undefined;
      if (cls === undefined) parts.push({ t: 'char', c: '[' });
      else {
        parts.push(cls.part);
        i = cls.end;
      }
    } else parts.push({ t: 'char', c });
  }
  return { parts, needs, dot: cs[0] === '.' || (cs[0] === '\\' && cs[1] === '.') };
}

/** A bracket expression starting at `cs[start]` (`[`), or undefined when it is not closed (then `[` is literal). */
function bracket(cs: readonly string[], start: number): { part: Part; end: number } | undefined {
  let i = start + 1;
  const negated = cs[i] === '!' || cs[i] === '^';
  if (negated) i++;
  const chars = new Set<string>();
  const ranges: [number, number][] = [];
  let first = true;
  for (; i < cs.length; i++) {
    let c = cs[i]!;
    if (c === ']' && !first) return { part: { t: 'class', negated, chars, ranges, seen: new Map() }, end: i };
    first = false;
    if (c === '\\' && i + 1 < cs.length) c = cs[++i]!;
    if (cs[i + 1] === '-' && i + 2 < cs.length && cs[i + 2] !== ']') {
      let hi = cs[i + 2]!;
      i += 2;
      if (hi === '\\' && i + 1 < cs.length) hi = cs[++i]!;
      ranges.push([c.codePointAt(0)!, hi.codePointAt(0)!]);
    } else chars.add(c);
  }
  return undefined;
}

function matchesPart(p: Part, c: string): boolean {
  switch (p.t) {
    case 'any':
      return true;
    case 'char':
      return p.c === c;
    case 'class': {
      let hit = p.seen.get(c);
      if (hit === undefined) {
        const cp = c.codePointAt(0)!;
        hit = (p.chars.has(c) || p.ranges.some(([lo, hi]) => lo <= cp && cp <= hi)) !== p.negated;
        p.seen.set(c, hit);
      }
      return hit;
    }
    case 'star':
      return false;
  }
}

/**
 * Whether `name` (one path component) matches the compiled pattern, glob(3)-style: a name starting
 * with `.` matches only a pattern starting with a literal `.`. Greedy, with one remembered star.
 */
export function matchName(pat: Pattern, name: string): boolean {
  if (name.startsWith('.') && !pat.dot) return false;
  const cs = Array.from(name);
  const ps = pat.parts;
  if (pat.needs > cs.length) return false;
  if (!ps.some((p) => p.t === 'star') && pat.needs !== cs.length) return false;
  let i = 0;
  let j = 0;
  let star = -1;
  let mark = 0;
  while (i < cs.length) {
    const p = ps[j];
    if (p !== undefined && p.t === 'star') {
      star = j++;
      mark = i;
    } else if (p !== undefined && matchesPart(p, cs[i]!)) {
      i++;
      j++;
    } else if (star >= 0) {
      j = star + 1;
      i = ++mark;
    } else return false;
  }
  while (j < ps.length && ps[j]!.t === 'star') j++;
  return j === ps.length;
}

/** Thrown by `fsGlob` when the parse's directory-entry budget is spent (code `ELIMIT`). */
export class GlobLimitError extends Error {
  readonly code = 'ELIMIT';
  constructor(readonly limit: number) {
    super(`more than ${limit} directory entries read by glob in one parse`);
    this.name = 'GlobLimitError';
  }
}

/** What the default glob may still read in this parse (shared by every expansion of one parse). */
export interface GlobBudget {
  /** Directory entries left; each expansion also costs one. */
  left: number;
  readonly limit: number;
}

/**
 * The default `glob` of `include`: wildcards in the last path component only (`ENOTSUP` otherwise),
 * hidden names only for a pattern starting with `.`, sorted, each match as `DIR/NAME` with `DIR` as
 * written. A directory that cannot be opened matches nothing (glob(3)'s `GLOB_NOMATCH`; nginx
 * accepts that). Every entry read, and every expansion, is taken from `budget`; past it,
 * `GlobLimitError`.
 */
export function fsGlob(pattern: string, budget: GlobBudget): string[] {
  const slash = pattern.lastIndexOf('/');
  const dir = slash < 0 ? '.' : pattern.slice(0, slash) || '/';
  const base = pattern.slice(slash + 1);
  if (hasWildcard(dir)) throw Object.assign(new Error('wildcards are supported in the last path component only'), { code: 'ENOTSUP' });
  if (budget.left <= 0) throw new GlobLimitError(budget.limit);
  budget.left--;
  const pat = compilePattern(base);
  let d: import('node:fs').Dir;
  try {
    d = opendirSync(dir);
  } catch {
    return [];
  }
  const names: string[] = [];
  try {
    for (;;) {
      let entry: import('node:fs').Dirent | null;
      try {
        entry = d.readSync();
      } catch {
        break;
      }
      if (entry === null) break;
      if (budget.left <= 0) throw new GlobLimitError(budget.limit);
      budget.left--;
      if (matchName(pat, entry.name)) names.push(entry.name);
    }
  } finally {
    d.closeSync();
  }
  const head = slash < 0 ? '' : pattern.slice(0, slash + 1);
  return names.sort().map((n) => head + n);
}
