/**
 * What `explain` does with text that is not a clean configuration: a document that mixes prose and
 * configuration (a vendor guide, a wiki page; test/fixtures/vendor-guide.txt), and directives whose
 * `;` is missing. Both only change which text is *explained*: the verdict is always nginx's verdict
 * of the text as given (explain.ts), so neither can turn a broken configuration into a valid one.
 *
 * A line is prose only when it cannot be configuration: not blank, not a comment, not ending a
 * statement or a block (`;`, `{`, `}`), not starting with the name of a known directive (nginx's
 * and the check module's, case-sensitive as nginx compares them) unless it reads as a sentence,
 * and not a quoted continuation of a directive spread over several lines. So
 * `server 127.0.0.1:10025` without its `;` is configuration (a broken one), while "Load balancer",
 * "Directive backup." or "server receives traffic only when the first one is down." are prose.
 *
 * Pure; O(input).
 */

import { CHECK_MODULE_DIRECTIVES, NGINX_DIRECTIVES } from './directives';

const isSpace = (c: string): boolean => /\s/.test(c);

/**
 * `line` without a trailing comment: from the first blank run that a `#` follows, when no line
 * terminator (`\r`, U+2028, U+2029) comes after that `#` (what `line.replace(/\s+#.*$/, '')` does,
 * in linear time: that pattern backtracks quadratically on long blank runs).
 */
function withoutTrailingComment(line: string): string {
  let lastTerminator = -1;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 0x0d || c === 0x2028 || c === 0x2029) lastTerminator = i;
  }
  let runStart = -1;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (isSpace(ch)) {
      if (runStart < 0) runStart = i;
    } else {
      if (ch === '#' && runStart >= 0 && i > lastTerminator) return line.slice(0, runStart);
      runStart = -1;
    }
  }
  return line;
}

/** A line without the CR of a CRLF line end. */
const withoutCR = (line: string): string => (line.endsWith('\r') ? line.slice(0, -1) : line);

/** The content of a line: no trailing comment, no surrounding blanks. */
const contentOf = (line: string): string => withoutTrailingComment(withoutCR(line)).trim();

const isDirectiveName = (w: string): boolean => NGINX_DIRECTIVES.has(w) || CHECK_MODULE_DIRECTIVES.has(w);

const ends = (t: string): boolean => t.endsWith(';') || t.endsWith('{') || t.endsWith('}');

const PLAIN_WORD = /^[A-Za-z][a-z'’-]*[,.;:!?]?$/;

/** Words that read as a sentence: ending in `.`, `:`, `!` or `?`, mostly (3 or more) plain words after the first. */
function isSentence(words: readonly string[]): boolean {
  if (!/[.:!?]$/.test(words[words.length - 1]!)) return false;
  const rest = words.slice(1);
  const plain = rest.filter((w) => PLAIN_WORD.test(w)).length;
  return plain >= 3 && plain * 2 > rest.length;
}

/** The line's content starts with a known directive and does not read as a sentence. */
function startsDirective(t: string): boolean {
  const words = t.split(/\s+/);
  return isDirectiveName(words[0]!) && !isSentence(words);
}

/**
 * The configuration lines of a text that mixes prose and configuration, with every prose line
 * blanked (so line numbers are kept), or undefined when it has fewer than three prose lines.
 */
export function configLines(text: string): { text: string; proseLines: number } | undefined {
  const lines = text.split('\n');
  let prose = 0;
  // the last configuration line left a directive open (no `;`, `{` or `}` at its end)
  let open = false;
  const kept = lines.map((l) => {
    const t = contentOf(l);
    if (t === '' || t.startsWith('#')) return l;
    const config = ends(t) || startsDirective(t) || (open && (t.startsWith("'") || t.startsWith('"')));
    if (!config) {
      prose++;
      return '';
    }
    open = !ends(t);
    return l;
  });
  return prose >= 3 ? { text: kept.join('\n'), proseLines: prose } : undefined;
}

/** Directives that open a block: a line of one of them without its `{` is not a missing `;`. */
const BLOCK_DIRECTIVES: ReadonlySet<string> = new Set([
  'http', 'stream', 'events', 'mail', 'upstream', 'location', 'if', 'limit_except', 'map', 'geo', 'types',
  'split_clients', 'charset_map',
]);

/** An odd number of `"` or `'`: a quoted word that goes on over the next line. */
const opensQuote = (t: string): boolean => (t.split('"').length - 1) % 2 === 1 || (t.split("'").length - 1) % 2 === 1;

/** One line that a `;` was added to: 1-based line number and its content as written. */
export interface TerminatedLine {
  line: number;
  text: string;
}

/**
 * Lines that start a directive and end without `;` while the next configuration line starts
 * another directive or closes the block (`server a:25` then `server b:25;`: nginx reads one
 * directive `server a:25 server b:25` and says invalid parameter "server"), and the text with a
 * `;` added at the end of each of them (before a trailing comment; line numbers kept). A block
 * directive without its `{` (`upstream u` then `server a;`) and a line that opens a quote are left
 * alone.
 */
export function terminateDirectives(text: string): { text: string; lines: TerminatedLine[] } {
  const lines = text.split('\n');
  const contents = lines.map(contentOf);
  const fixed: TerminatedLine[] = [];
  let prev = -1;
  const consider = (i: number, next: string): void => {
    const t = contents[i]!;
    if (ends(t) || opensQuote(t) || !startsDirective(t)) return;
    const words = t.split(/\s+/);
    if (BLOCK_DIRECTIVES.has(words[0]!) || (words[0] === 'server' && words.length === 1)) return;
    if (!(next.startsWith('}') || startsDirective(next))) return;
    const line = lines[i]!;
    const at = withoutTrailingComment(withoutCR(line)).trimEnd().length;
    lines[i] = `${line.slice(0, at)};${line.slice(at)}`;
    fixed.push({ line: i + 1, text: t });
  };
  for (let i = 0; i < lines.length; i++) {
    const t = contents[i]!;
    if (t === '' || t.startsWith('#')) continue;
    if (prev >= 0) consider(prev, t);
    prev = i;
  }
  return fixed.length ? { text: lines.join('\n'), lines: fixed } : { text, lines: [] };
}
