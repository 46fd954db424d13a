/**
 * The configuration walker: nginx's `ngx_conf_parse` and `ngx_conf_handler`
 * (src/core/ngx_conf_file.c). One pass over the statements of tokenizer.ts, file by file (the main
 * file, then each `include` in place); each directive is looked up in the command tables of the
 * modules (include.ts, core.ts, upstream.ts, check.ts: nginx's `ngx_command_t` arrays), its
 * terminator and argument count are checked (`directive "X" is not terminated by ";"`, `has no
 * opening "{"`, `invalid number of arguments in "X" directive`) and its handler runs. A name no row
 * allows where it stands goes to core.ts (`not allowed here`, `unknown directive`, or skipped).
 *
 * The main file is nginx's main context, or (ParseOptions `fragment`) the inside of `http {}` or
 * `stream {}` for a conf.d fragment. Which names exist follows the target (`nginx`: 1.30 or 1.22,
 * directives.ts); `sticky` is a row of the http upstream block under 1.30 only (sticky.ts). Every
 * statement, text blocks included, is shown to variables.ts, which notes the variables the
 * configuration defines. Every warning also goes to `onWarning` as it is found, so that a strict
 * parse's caller keeps the `[warn]` lines nginx prints before its `[emerg]`.
 *
 * The first error stops a strict parse, with nginx's message at nginx's line. Lenient mode records
 * it and recovers: the statement is skipped, a block it opened is walked, a block the file does not
 * close is closed at end of file (reported once per file); after `maxErrors` errors (default
 * `MAX_ERRORS`) one last error of kind `TOO_MANY_ERRORS` stops it. Blocks nest at most `MAX_DEPTH`
 * deep.
 *
 * Cost: O(input size, included files counted) time, the includes bounded by include.ts's budget;
 * memory O(number of upstream servers + errors kept) plus the longest token.
 */

import { ConfigError, InvalidOptionError, show } from '../errors';
import { DEFAULT_NGINX_TARGET, NGINX_TARGETS, type NginxTarget } from '../options';
import { CHECK_COMMANDS } from './check';
import { ARGS, CONTEXTS, type Command, type Conf, type Ctx, type Includes, type UpsState, type Where } from './conf';
import { CORE_COMMANDS, coreMain, elsewhere, fragmentBlock } from './core';
import { UPSTREAM_USE_COMMANDS } from './upstream-use';
import { RESOLVE_BLOCK_COMMANDS } from './resolve';
import { CHECK_MODULE_DIRECTIVES, isNginxDirective, RAW_BLOCKS } from './directives';
import { include, INCLUDE, includes, limitOption } from './include';
import { MAX_DEPTH, MAX_ERRORS } from './numbers';
import { Lexer, type Statement, type Token } from './tokenizer';
import type { ConfigWarning, ParseOptions } from './types';
import { STICKY_COMMAND } from './sticky';
import { checkZones, UPSTREAM_BLOCK, UPSTREAM_COMMANDS, upstreamMain } from './upstream';
import { noteDefinitions } from './variables';

type Table<C> = ReadonlyMap<string, readonly Command<C>[]>;

/** The rows of each name (nginx's modules may share a name: `server` is a block and an upstream line). */
function table<C>(rows: readonly Command<C>[]): Table<C> {
  const out = new Map<string, Command<C>[]>();
  for (const row of rows) out.set(row.name, [...(out.get(row.name) ?? []), row]);
  return out;
}

/** Commands of the blocks outside `upstream` (and `include`, which is everywhere). */
const BLOCK_TABLE = table<void>([INCLUDE, ...CORE_COMMANDS, UPSTREAM_BLOCK, ...UPSTREAM_USE_COMMANDS, ...RESOLVE_BLOCK_COMMANDS]);
/** Commands inside `upstream`: nginx 1.30 adds `sticky`; the check module its directives. */
const UPSTREAM_TABLES = {
  '1.22': { plain: table(UPSTREAM_COMMANDS), check: table([...UPSTREAM_COMMANDS, ...CHECK_COMMANDS]) },
  '1.30': { plain: table([...UPSTREAM_COMMANDS, STICKY_COMMAND]), check: table([...UPSTREAM_COMMANDS, STICKY_COMMAND, ...CHECK_COMMANDS]) },
} as const;

/** The contexts of the http module, where `set`, `map`, `geo` and `split_clients` define http variables. */
const HTTP_CONTEXTS: ReadonlySet<Ctx> = new Set<Ctx>(['http', 'http-server', 'http-location', 'other-http', 'ups-http']);

const find = <C>(t: Table<C>, name: string, ctx: Ctx): Command<C> | undefined => t.get(name)?.find((c) => c.contexts.includes(ctx));

/** Thrown inside the walker to stop a strict parse; lenient mode never throws it. */
class Stop extends Error {}

export class Walker implements Conf {
  readonly errors: ConfigError[] = [];
  readonly warnings: ConfigWarning[] = [];
  readonly lenient: boolean;
  readonly core = coreMain();
  readonly upstream = upstreamMain();
  readonly includes: Includes;
  private readonly checkModule: boolean;
  /** The nginx series whose verdicts the parse copies. */
  readonly target: NginxTarget;
  /** The main file is a fragment included from inside this block (`fragment`). */
  private readonly fragment: 'http' | 'stream' | undefined;
  private readonly onWarning: ((w: ConfigWarning) => void) | undefined;
  /** Lenient mode: errors kept before the parse stops with `TOO_MANY_ERRORS`. */
  private readonly maxErrors: number;
  private readonly upstreamTable: Table<UpsState>;
  /** The reader of the file being walked (nginx's `cf->conf_file`). */
  private lx: Lexer | undefined;
  /** The upstream block being read, if any. */
  private ups: UpsState | undefined;
  private depth = 0;
  private here: Ctx = 'main';
  /** Lexers (files) whose end was reached inside a block: reported once, enclosing blocks just close. */
  private readonly eofReported = new WeakSet<Lexer>();

  constructor(opts: ParseOptions, filename: string) {
    this.lenient = opts.lenient === true;
    this.checkModule = opts.checkModule !== false;
    this.maxErrors = limitOption(opts.maxErrors, 'maxErrors', MAX_ERRORS);
    this.includes = includes(opts, filename);
    this.target = opts.nginx ?? DEFAULT_NGINX_TARGET;
    if (!NGINX_TARGETS.includes(this.target)) {
      throw new InvalidOptionError('nginx', `Expected \`nginx\` to be one of ${NGINX_TARGETS.map((t) => `'${t}'`).join(', ')}, got \`${show(this.target)}\``, this.target);
    }
    this.upstreamTable = UPSTREAM_TABLES[this.target][this.checkModule ? 'check' : 'plain'];
    this.fragment = opts.fragment;
    if (this.fragment !== undefined && this.fragment !== 'http' && this.fragment !== 'stream') {
      throw new InvalidOptionError('fragment', `Expected \`fragment\` to be 'http' or 'stream', got \`${show(this.fragment)}\``, this.fragment);
    }
    if (opts.onWarning !== undefined && typeof opts.onWarning !== 'function') {
      throw new InvalidOptionError('onWarning', `Expected \`onWarning\` to be a function, got \`${show(opts.onWarning)}\``, opts.onWarning);
    }
    this.onWarning = opts.onWarning;
  }

  get ctx(): Ctx {
    return this.here;
  }

  get partial(): boolean {
    return this.fragment !== undefined || this.warnings.some((w) => w.include !== undefined);
  }

  // ---- errors -------------------------------------------------------------------------------

  error(reason: string, at: Where, kind: string, value?: unknown): void {
    this.record(new ConfigError(reason, at, kind, value));
  }

  /**
   * Keeps an error; strict mode stops at the first one, lenient mode after `maxErrors` of them, with
   * one more error of kind `TOO_MANY_ERRORS` where the next one was found.
   */
  private record(e: ConfigError): void {
    if (this.lenient && this.errors.length >= this.maxErrors) {
      const at = { file: e.file, line: e.line, column: e.column };
      this.errors.push(new ConfigError(`too many errors: the parse stopped after ${this.maxErrors}`, at, 'TOO_MANY_ERRORS', this.maxErrors));
      throw new Stop();
    }
    this.errors.push(e);
    if (!this.lenient) throw new Stop();
  }

  warn(reason: string, at: Where, kind: ConfigWarning['kind'], ups = this.ups, include?: string): void {
    const w: ConfigWarning = { reason, file: at.file, line: at.line, column: at.column, kind, ...(include === undefined ? {} : { include }) };
    this.warnings.push(w);
    ups?.warnings.push(w);
    this.onWarning?.(w);
  }

  at(st: Statement, tok?: Token): Where {
    return { file: st.file, line: st.line, column: tok ? tok.column : st.args[0]?.column ?? st.column };
  }

  known(name: string): boolean {
    return isNginxDirective(name, this.target) || (this.checkModule && CHECK_MODULE_DIRECTIVES.has(name));
  }

  notAllowed(st: Statement): void {
    const name = st.args[0]!.text;
    this.error(`"${name}" directive is not allowed here`, this.at(st), 'NOT_ALLOWED', name);
  }

  unknown(st: Statement): void {
    const name = st.args[0]!.text;
    this.error(`unknown directive "${name}"`, this.at(st), 'UNKNOWN_DIRECTIVE', name);
  }

  // ---- files and blocks ---------------------------------------------------------------------

  parseMain(text: string | Uint8Array, filename: string): void {
    try {
      const lx = new Lexer(text, filename);
      const fragment = this.fragment;
      if (fragment === undefined) this.parse(lx, 'main', 'file');
      else fragmentBlock(this, fragment, () => this.parse(lx, fragment, 'file'));
      checkZones(this);
    } catch (e) {
      if (!(e instanceof Stop)) throw e;
    }
  }

  block(ctx: Ctx, ups = this.ups): void {
    const outer = this.ups;
    this.ups = ups;
    try {
      this.parse(this.lx!, ctx, 'block');
    } finally {
      this.ups = outer;
    }
  }

  file(text: string | Uint8Array, path: string): void {
    this.parse(new Lexer(text, path), this.ctx, 'file');
  }

  recover(st: Statement, ctx: Ctx): void {
    if (st.end === '{') this.block(ctx);
  }

  skip(st: Statement, inner: Ctx): void {
    if (st.end === '{') this.block(RAW_BLOCKS.has(st.args[0]!.text) ? 'raw' : inner);
  }

  position(): { line: number; column: number } {
    return { line: this.lx!.line, column: this.lx!.column };
  }

  eofReached(): boolean {
    return this.eofReported.has(this.lx!);
  }

  /**
   * `ngx_conf_parse` for one file or block. Returns when the block's `}` or the file's end is
   * reached (errors for the wrong one of those, as nginx).
   */
  private parse(lx: Lexer, ctx: Ctx, type: 'file' | 'block'): void {
    if (type === 'block' && this.depth >= MAX_DEPTH) return this.tooDeep(lx);
    const outer = { lx: this.lx, ctx: this.here };
    this.lx = lx;
    this.here = ctx;
    this.depth++;
    try {
      this.statements(lx, type);
    } finally {
      this.depth--;
      this.lx = outer.lx;
      this.here = outer.ctx;
    }
  }

  /** Blocks nested deeper than MAX_DEPTH: one error, then the block is skipped without recursion. */
  private tooDeep(lx: Lexer): void {
    this.error(`blocks nested deeper than ${MAX_DEPTH} levels`, { file: lx.file, line: lx.line, column: lx.column }, 'TOO_DEEP');
    let open = 1;
    while (open > 0) {
      let st: Statement;
      try {
        st = lx.next();
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        if (e.reason.startsWith('unexpected end of file')) return;
        continue;
      }
      if (st.end === '{') open++;
      else if (st.end === '}') open--;
      else if (st.end === 'eof') return;
    }
  }

  private statements(lx: Lexer, type: 'file' | 'block'): void {
    for (;;) {
      let st: Statement;
      try {
        st = lx.next();
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        this.record(e);
        if (e.reason.startsWith('unexpected end of file')) {
          this.eofReported.add(lx);
          return;
        }
        if (e.reason === 'unexpected "}"' && type === 'block') return;
        continue;
      }
      if (st.end === '}') {
        if (type !== 'block') {
          this.error('unexpected "}"', { file: st.file, line: st.line, column: st.column }, 'SYNTAX');
          continue;
        }
        return;
      }
      if (st.end === 'eof') {
        if (type === 'block' && !this.eofReported.has(lx)) {
          this.eofReported.add(lx);
          this.error('unexpected end of file, expecting "}"', { file: st.file, line: st.line, column: st.column }, 'SYNTAX');
        }
        return;
      }
      if (this.ctx === 'raw') {
        if (st.end === '{') {
          this.error('unexpected "{"', { file: st.file, line: st.line, column: st.column }, 'SYNTAX');
          this.block('raw');
          continue;
        }
        noteDefinitions(this, st, false);
        if (st.args.length === 2 && st.args[0]!.text === 'include') include(this, st);
        continue;
      }
      noteDefinitions(this, st, HTTP_CONTEXTS.has(this.ctx));
      this.dispatch(st);
    }
  }

  /** `ngx_conf_handler`: the row of that name allowed here, or what core.ts makes of the name. */
  private dispatch(st: Statement): void {
    const name = st.args[0]!.text;
    const row = find(BLOCK_TABLE, name, this.ctx);
    if (row) return this.run(row, st, undefined);
    const ups = this.ups;
    if (ups !== undefined && CONTEXTS[this.ctx].kind === 'upstream') {
      const upsRow = find(this.upstreamTable, name, this.ctx);
      if (upsRow) return this.run(upsRow, st, ups);
    }
    elsewhere(this, st);
  }

  private run<C>(cmd: Command<C>, st: Statement, conf: C): void {
    if (this.checkArgs(cmd, st)) return cmd.handler(this, st, conf);
    this.recover(st, cmd.recover === 'here' ? this.ctx : cmd.recover === 'inner' ? CONTEXTS[this.ctx].inner : 'other');
  }

  /** The terminator and the argument count `ngx_conf_handler` checks before the handler runs. */
  private checkArgs<C>(cmd: Command<C>, st: Statement): boolean {
    const name = cmd.name;
    if (!cmd.block && st.end !== ';') this.error(`directive "${name}" is not terminated by ";"`, this.at(st), 'SYNTAX', name);
    else if (cmd.block && st.end !== '{') this.error(`directive "${name}" has no opening "{"`, this.at(st), 'SYNTAX', name);
    else if (!ARGS[cmd.args](st.args.length)) this.error(`invalid number of arguments in "${name}" directive`, this.at(st), 'ARGS', name);
    else return true;
    return false;
  }
}
