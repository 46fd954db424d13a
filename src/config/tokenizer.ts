/**
 * nginx configuration tokenizer: splits text into statements (`args ;`, `args {`, `}`, end of file).
 *
 * A byte-for-byte port of the state machine of nginx's `ngx_conf_read_token`
 * (src/core/ngx_conf_file.c, 1.22.1 and 1.31.5 alike), written from reading it: the same quoting
 * (`"..."`, `'...'`, `\` escapes `\" \' \\ \t \r \n`, other `\x` kept as is), `#` comments only at
 * the start of a token, `${var}` not ending a word at `{`, `)` allowed right after a quoted string,
 * the same error messages (`unexpected "}"`, `unexpected end of file, expecting ";" or "}"`, ...) at
 * the same line, and the same 4096-byte read buffer, so that a token (or comment) that does not end
 * within 4096 bytes of its start fails with `too long parameter ...` exactly where nginx fails.
 *
 * Cost: one pass over the UTF-8 bytes, O(n) time, O(longest token) extra memory. Lines are counted
 * on `\n` like nginx; columns are 1-based byte offsets within the line (equal to character columns
 * for ASCII text).
 */

import { ConfigError } from '../errors';

/** nginx's `NGX_CONF_BUFFER`: the configuration read buffer, in bytes. */
export const NGX_CONF_BUFFER = 4096;

/** One word of a statement, after quote and escape processing. */
export interface Token {
  /** The word with quotes removed and escapes applied (as nginx hands it to directive handlers). */
  text: string;
  /** Line of the first character of the word (1-based). */
  line: number;
  /** Byte column of the first character, quote included (1-based). */
  column: number;
  /** The word was written in single or double quotes. */
  quoted: boolean;
}

/** How a statement ended: `;`, `{` (block start), `}` (block end) or end of file. */
export type StatementEnd = ';' | '{' | '}' | 'eof';

/** One statement: the words up to a terminator. `}` and `eof` statements have no words. */
export interface Statement {
  args: Token[];
  end: StatementEnd;
  /** Line where nginx stands when the statement is complete (the terminator's line): nginx reports directive errors here. */
  line: number;
  /** Byte column of the terminator (for `eof`: one past the last byte of the last line). */
  column: number;
  file: string;
}

const LF = 10;
const CR = 13;
const SPACE = 32;
const TAB = 9;

// (ignoreBOM: a token that starts with U+FEFF keeps it, as nginx keeps the bytes: the default decoder drops it)
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
const encoder = new TextEncoder();

/**
 * Reads statements from one file's text, as nginx reads one configuration file.
 *
 * `next()` throws `ConfigError` (kind `SYNTAX`) with nginx's message; after an error the lexer
 * stands at the offending character and may be called again (lenient parsing recovers that way).
 *
 * @example
 * ```ts
 * const lx = new Lexer('upstream u { server 127.0.0.1:80 weight=2; }', 'nginx.conf');
 * lx.next(); // { args: [upstream, u], end: '{', line: 1, ... }
 * lx.next(); // { args: [server, 127.0.0.1:80, weight=2], end: ';', ... }
 * lx.next(); // { args: [], end: '}', ... }
 * lx.next(); // { args: [], end: 'eof', ... }
 * ```
 */
export class Lexer {
  readonly file: string;
  private readonly buf: Uint8Array;
  private pos = 0;
  /** File offset of the end of nginx's buffer (`b->last`); equals the bytes read so far. */
  private bufLast = 0;
  private lineNo = 1;
  private lineStart = 0;

  constructor(text: string | Uint8Array, file: string) {
    this.file = file;
    this.buf = typeof text === 'string' ? encoder.encode(text) : text;
  }

  /** Current line (nginx's `cf->conf_file->line`). */
  get line(): number {
    return this.lineNo;
  }

  /** Byte column of the last character read (1-based). */
  get column(): number {
    return Math.max(1, this.pos - this.lineStart);
  }

  private fail(reason: string, line = this.lineNo, column = this.column, value?: unknown): never {
    throw new ConfigError(reason, { file: this.file, line, column }, 'SYNTAX', value);
  }

  /** Reads the next statement. */
  next(): Statement {
    const b = this.buf;
    const size = b.length;
    const args: Token[] = [];
    let found = false;
    let needSpace = false;
    let lastSpace = true;
    let sharp = false;
    let variable = false;
    let quoted = false;
    let sQuoted = false;
    let dQuoted = false;
    let start = this.pos;
    let startLine = this.lineNo;
    let startCol = this.pos - this.lineStart + 1;
    let wordQuoted = false;

    for (;;) {
      if (this.pos >= this.bufLast) {
        if (this.bufLast >= size) {
          if (args.length > 0 || !lastSpace) {
            this.fail('unexpected end of file, expecting ";" or "}"');
          }
          return { args, end: 'eof', line: this.lineNo, column: this.pos - this.lineStart + 1, file: this.file };
        }
        const len = this.pos - start;
        if (len === NGX_CONF_BUFFER) {
          this.lineNo = startLine;
          if (dQuoted || sQuoted) {
            this.fail(`too long parameter, probably missing terminating "${dQuoted ? '"' : "'"}" character`, startLine, startCol);
          }
          const head = decoder.decode(b.subarray(start, start + 10));
          this.fail(`too long parameter "${head}..." started`, startLine, startCol);
        }
        this.bufLast = Math.min(size, start + NGX_CONF_BUFFER);
      }

      const ch = b[this.pos++]!;

      if (ch === LF) {
        this.lineNo++;
        this.lineStart = this.pos;
        if (sharp) sharp = false;
      }

      if (sharp) continue;

      if (quoted) {
        quoted = false;
        continue;
      }

      if (needSpace) {
        if (ch === SPACE || ch === TAB || ch === CR || ch === LF) {
          lastSpace = true;
          needSpace = false;
          continue;
        }
        if (ch === 59 /* ; */) return this.done(args, ';');
        if (ch === 123 /* { */) return this.done(args, '{');
        if (ch === 41 /* ) */) {
          lastSpace = true;
          needSpace = false;
        } else {
          this.fail(`unexpected "${String.fromCharCode(ch)}"`);
        }
      }

      if (lastSpace) {
        start = this.pos - 1;
        startLine = this.lineNo;
        startCol = start - this.lineStart + 1;
        wordQuoted = false;

        if (ch === SPACE || ch === TAB || ch === CR || ch === LF) continue;

        switch (ch) {
          case 59: // ;
          case 123: // {
            if (args.length === 0) this.fail(`unexpected "${String.fromCharCode(ch)}"`);
            return this.done(args, ch === 123 ? '{' : ';');
          case 125: // }
            if (args.length !== 0) this.fail('unexpected "}"');
            return this.done(args, '}');
          case 35: // #
            sharp = true;
            continue;
          case 92: // backslash
            quoted = true;
            lastSpace = false;
            continue;
          case 34: // "
            start++;
            dQuoted = true;
            wordQuoted = true;
            lastSpace = false;
            continue;
          case 39: // '
            start++;
            sQuoted = true;
            wordQuoted = true;
            lastSpace = false;
            continue;
          case 36: // $
            variable = true;
            lastSpace = false;
            continue;
          default:
            lastSpace = false;
        }
      } else {
        if (ch === 123 && variable) continue;
        variable = false;
        if (ch === 92) {
          quoted = true;
          continue;
        }
        if (ch === 36) {
          variable = true;
          continue;
        }
        if (dQuoted) {
          if (ch === 34) {
            dQuoted = false;
            needSpace = true;
            found = true;
          }
        } else if (sQuoted) {
          if (ch === 39) {
            sQuoted = false;
            needSpace = true;
            found = true;
          }
        } else if (ch === SPACE || ch === TAB || ch === CR || ch === LF || ch === 59 || ch === 123) {
          lastSpace = true;
          found = true;
        }

        if (found) {
          args.push({ text: unescape(b, start, this.pos - 1), line: startLine, column: startCol, quoted: wordQuoted });
          if (ch === 59) return this.done(args, ';');
          if (ch === 123) return this.done(args, '{');
          found = false;
        }
      }
    }
  }

  private done(args: Token[], end: StatementEnd): Statement {
    return { args, end, line: this.lineNo, column: this.pos - this.lineStart, file: this.file };
  }
}

/** Applies nginx's word escapes to bytes [from, to) and decodes them as UTF-8. */
function unescape(b: Uint8Array, from: number, to: number): string {
  let bs = -1;
  for (let i = from; i < to; i++) {
    if (b[i] === 92) {
      bs = i;
      break;
    }
  }
  if (bs < 0) return decoder.decode(b.subarray(from, to));
  const out = new Uint8Array(to - from);
  let n = 0;
  let src = from;
  while (src < to) {
    const c = b[src]!;
    if (c === 92) {
      const nx = src + 1 < b.length ? b[src + 1] : undefined;
      if (nx === 34 || nx === 39 || nx === 92) {
        src++;
      } else if (nx === 116 /* t */) {
        out[n++] = TAB;
        src += 2;
        continue;
      } else if (nx === 114 /* r */) {
        out[n++] = CR;
        src += 2;
        continue;
      } else if (nx === 110 /* n */) {
        out[n++] = LF;
        src += 2;
        continue;
      }
    }
    out[n++] = b[src++]!;
  }
  return decoder.decode(out.subarray(0, n));
}

/**
 * Tokenizes a whole text into statements (including the final `eof` statement); throws the first
 * `ConfigError`. Convenience for tests and tools.
 *
 * @example
 * ```ts
 * tokenize('a "b c";').map((s) => s.args.map((t) => t.text)); // [['a', 'b c'], []]
 * ```
 */
export function tokenize(text: string, file = 'nginx.conf'): Statement[] {
  const lx = new Lexer(text, file);
  const out: Statement[] = [];
  for (;;) {
    const s = lx.next();
    out.push(s);
    if (s.end === 'eof') return out;
  }
}

/**
 * Quotes a word so that nginx's tokenizer reads it back unchanged: bare when it is safe, else in
 * double quotes with `"` and `\` escaped (and `\t \r \n` written as escapes).
 *
 * @example
 * ```ts
 * quoteWord('127.0.0.1:80'); // '127.0.0.1:80'
 * quoteWord('GET / HTTP/1.0\r\n\r\n'); // '"GET / HTTP/1.0\\r\\n\\r\\n"'
 * ```
 */
export function quoteWord(word: string): string {
  if (word.length > 0 && /^[A-Za-z0-9_.:\/=\-\[\]@+,%*?~!&|^<>$]+$/.test(word) && !word.startsWith('#')) return word;
  let out = '"';
  for (const ch of word) {
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\n') out += '\\n';
    else out += ch;
  }
  return out + '"';
}
