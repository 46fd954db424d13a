/**
 * nginx configuration parser: `upstream` blocks in, `BalancerOptions` out, errors like `nginx -t`.
 *
 * Walks the statements of `tokenizer.ts` the way `ngx_conf_parse` / `ngx_conf_handler` do: one
 * pass, the first error stops (strict mode) with nginx's own message at nginx's line. It models
 * the `http`, `stream`, `events` and `upstream` blocks (and recognises them when misplaced); other
 * directives outside `upstream` blocks are skipped (their blocks are walked to find misplaced
 * `upstream`/`http`/`stream` directives). Inside `upstream` it implements, from reading nginx
 * 1.22.1's `ngx_http_upstream_server`, `ngx_stream_upstream_server`, the hash, ip_hash, least_conn,
 * random, keepalive and zone modules: every `server` parameter with nginx's verdicts, the balancing
 * directives with the `load balancing method redefined` warning and the `backup` ordering quirk,
 * and the post-parse checks (`no servers in upstream`, `zero size shared memory zone`). The check
 * module's directives (yaoweibin / Tengine, nginx-semantics §7.1) are known unless
 * `checkModule: false`. See docs/config.md for the extensions and every known divergence.
 *
 * Cost: O(input size) time; memory O(number of upstream servers) plus the longest token.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { ConfigError, isUpstreamError } from '../errors';
import type { BalancerOptions, CheckOptions, HttpStatusClass, Method, ServerOptions } from '../options';
import { CHECK_MODULE_DIRECTIVES, EVENTS_DIRECTIVES, MAIN_DIRECTIVES, NGINX_DIRECTIVES, RAW_BLOCKS } from './directives';
import { parseNginxTime } from './time';
import { Lexer, type Statement, type Token } from './tokenizer';

/** Options of `parseUpstreams` / `parseConfig`. */
export interface ParseOptions {
  /** Name used in messages and as the base of relative includes; default `nginx.conf`. */
  filename?: string;
  /** Reads an included file (sync). Default: `node:fs` `readFileSync(path, 'utf8')`. */
  readFile?: (path: string) => string;
  /** Expands an `include` with `*`, `?` or `[` (nginx uses glob(3)); default: a one-directory matcher on `node:fs`. */
  glob?: (pattern: string) => string[];
  /** nginx's configuration prefix: relative includes resolve against it; default the directory of `filename`. */
  prefix?: string;
  /**
   * Whether the check module's directives (`check`, `check_http_send`, ...) exist. Default `true`
   * (upstream-balancer implements them); `false` behaves like stock nginx: `unknown directive "check"`.
   */
  checkModule?: boolean;
  /**
   * Collect every error and recover (skip the bad statement, accept a misplaced `upstream`, close
   * blocks at end of file) instead of stopping at the first one. The first error is still exactly
   * nginx's. Used by `explain` on hand-written or broken configs.
   */
  lenient?: boolean;
}

/** A warning: nginx's own `[warn]` lines (kind `nginx`), our extensions, and notes. */
export interface ConfigWarning {
  /** The text; for kind `nginx`, exactly nginx's message (e.g. `load balancing method redefined`). */
  reason: string;
  file: string;
  line: number;
  column: number;
  /** `nginx`: nginx -t prints it too; `extension`: accepted by us, not by nginx; `note`: advice. */
  kind: 'nginx' | 'extension' | 'note';
}

/** Where a `server` line came from. */
export interface ServerSource {
  file: string;
  line: number;
  column: number;
  /** The words after `server`, as written (after quote processing). */
  words: string[];
}

/** One `upstream` block. */
export interface UpstreamConfig {
  name: string;
  /** The module that owns the block: `http { upstream ... }` or `stream { upstream ... }`. */
  context: 'stream' | 'http';
  /** What the block means for `new Balancer()`. Durations in ms; server ids = addresses. */
  options: BalancerOptions;
  /** Warnings raised inside this block. */
  warnings: ConfigWarning[];
  file: string;
  /** Line of the `upstream NAME {` statement (nginx reports `no servers in upstream` here). */
  line: number;
  /** `hash KEY`: the key expression as written, e.g. `$remote_addr`. */
  hashKey?: string;
  /** `zone NAME [SIZE]`. */
  zone?: { name: string; size: number };
  /** `keepalive N` and its companions (http only). */
  keepalive?: { connections: number; requests?: number; timeMs?: number; timeoutMs?: number };
  /** `check_keepalive_requests N` (check module). */
  checkKeepaliveRequests?: number;
  /** The balancing directive as written, e.g. `hash $remote_addr consistent`; undefined = round robin. */
  methodDirective?: string;
  /** One entry per server, in order. */
  serverSources: ServerSource[];
  /** Lenient mode: the block sits where nginx rejects it; `context` is a guess (stream outside http). */
  misplaced?: boolean;
}

/** Everything `parseConfig` found. */
export interface ConfigResult {
  upstreams: UpstreamConfig[];
  /** Empty in strict mode (the first error is thrown); lenient: every error, nginx's first. */
  errors: ConfigError[];
  /** Every warning, in order (the per-upstream ones included). */
  warnings: ConfigWarning[];
  /** Files read (the main file first, then includes). */
  files: string[];
  /** Every `listen` and `proxy_pass` seen (any block), for explanations of proxy structure. */
  proxyDirectives: ProxyDirective[];
}

/** A `listen` or `proxy_pass` line found while walking the configuration. */
export interface ProxyDirective {
  directive: 'listen' | 'proxy_pass';
  value: string;
  file: string;
  line: number;
  /** The block kind it sat in: `stream-server`, `http-server`, `http-location`, or `other`. */
  block: string;
}

type Ctx =
  | 'main'
  | 'events'
  | 'http'
  | 'stream'
  | 'ups-http'
  | 'ups-stream'
  | 'http-server'
  | 'http-location'
  | 'stream-server'
  | 'other-http'
  | 'other-stream'
  | 'other'
  | 'raw';

/**
 * Block directives of stock nginx and the blocks they are allowed in (ngx_command_t types): a
 * block directive anywhere else is `"X" directive is not allowed here`. The argument classes are
 * those of the same tables.
 */
const BLOCKS: Record<string, { in: readonly Ctx[]; args: string }> = {
  server: { in: ['http', 'stream'], args: '0' },
  location: { in: ['http-server', 'http-location'], args: '12' },
  limit_except: { in: ['http-location'], args: '1+' },
  types: { in: ['http', 'http-server', 'http-location'], args: '0' },
  map: { in: ['http', 'stream'], args: '2' },
  geo: { in: ['http', 'stream'], args: '12' },
  split_clients: { in: ['http', 'stream'], args: '2' },
  charset_map: { in: ['http'], args: '2' },
};

/** Main-context directives that say `is duplicate` when repeated (nginx.c, ngx_conf_set_*_slot). */
const MAIN_ONCE = new Set([
  'daemon', 'master_process', 'timer_resolution', 'pcre_jit', 'pid', 'lock_file', 'worker_processes', 'user',
  'worker_cpu_affinity', 'worker_rlimit_nofile', 'worker_rlimit_core', 'worker_shutdown_timeout',
  'working_directory', 'debug_points',
]);

/** Argument-count classes of `ngx_command_t` (nelts counts the directive name). */
const ARGS: Record<string, (n: number) => boolean> = {
  '0': (n) => n === 1,
  '1': (n) => n === 2,
  '2': (n) => n === 3,
  '12': (n) => n === 2 || n === 3,
  '23': (n) => n === 3 || n === 4,
  '012': (n) => n >= 1 && n <= 3,
  '1+': (n) => n >= 2,
  flag: (n) => n === 2,
};

interface Spec {
  block: boolean;
  args: string;
}

const UPS_HTTP: Record<string, Spec> = {
  server: { block: false, args: '1+' },
  zone: { block: false, args: '12' },
  hash: { block: false, args: '12' },
  ip_hash: { block: false, args: '0' },
  least_conn: { block: false, args: '0' },
  random: { block: false, args: '012' },
  keepalive: { block: false, args: '1' },
  keepalive_time: { block: false, args: '1' },
  keepalive_timeout: { block: false, args: '1' },
  keepalive_requests: { block: false, args: '1' },
};
const UPS_STREAM: Record<string, Spec> = {
  server: UPS_HTTP.server!,
  zone: UPS_HTTP.zone!,
  hash: UPS_HTTP.hash!,
  least_conn: UPS_HTTP.least_conn!,
  random: UPS_HTTP.random!,
};
const CHECK_SPECS: Record<string, Spec> = {
  check: { block: false, args: '1+' },
  check_keepalive_requests: { block: false, args: '1' },
  check_http_send: { block: false, args: '1' },
  check_http_expect_alive: { block: false, args: '1+' },
  check_fastcgi_param: { block: false, args: '2' },
};

/** Check types of the check module (yaoweibin master and Tengine 3.2.0). */
const MODULE_CHECK_TYPES = new Set(['tcp', 'http', 'fastcgi', 'ssl_hello', 'mysql', 'ajp']);

const MAX_INT = (1n << 63n) - 1n;
const PAGE_SIZE = 4096;
const MAX_INCLUDE_DEPTH = 64;
/** Deepest block nesting walked (nginx recurses in C; we stop with an error instead of a stack overflow). */
const MAX_DEPTH = 200;

interface ServerRec extends Required<Omit<ServerOptions, 'drain' | 'id'>> {
  id: string;
  source: ServerSource;
}

interface UpsState {
  name: string;
  context: 'http' | 'stream';
  file: string;
  line: number;
  column: number;
  servers: ServerRec[];
  /** nginx `uscf->peer.init_upstream` is set (a balancing directive or keepalive ran). */
  initSet: boolean;
  /** nginx `uscf->flags` allow `backup`. */
  backupAllowed: boolean;
  method: Method;
  consistent: boolean;
  randomTwo: boolean;
  randomLeastConn: boolean;
  methodDirective?: string;
  hashKey?: string;
  keepaliveSeen: boolean;
  keepalive?: { connections: number; requests?: number; timeMs?: number; timeoutMs?: number };
  zone?: { name: string; size: number };
  check?: CheckOptions;
  expectAlive?: Set<HttpStatusClass>;
  checkKeepaliveRequests?: number;
  httpSend?: string;
  warnings: ConfigWarning[];
  misplaced: boolean;
  backupBeforeMethod?: ServerRec;
  /** How many servers so far have each address (duplicate lines get ids `ADDR#2`, ...). */
  addressCount: Map<string, number>;
}

/** Thrown inside the walker to stop a strict parse; lenient mode never throws it. */
class Stop extends Error {}

function atoi(text: string): bigint | undefined {
  if (text.length === 0 || !/^[0-9]+$/.test(text)) return undefined;
  const digits = text.replace(/^0+(?=.)/, '');
  if (digits.length > 19) return undefined;
  const v = BigInt(digits);
  return v > MAX_INT ? undefined : v;
}

function parseSize(text: string): bigint | undefined {
  if (text.length === 0) return undefined;
  const unit = text[text.length - 1]!;
  let scale = 1n;
  let digits = text;
  if (unit === 'k' || unit === 'K') {
    scale = 1024n;
    digits = text.slice(0, -1);
  } else if (unit === 'm' || unit === 'M') {
    scale = 1024n * 1024n;
    digits = text.slice(0, -1);
  }
  const v = atoi(digits);
  if (v === undefined || v > MAX_INT / scale) return undefined;
  return v * scale;
}

function toNumber(v: bigint): number {
  return Number(v);
}

function defaultReadFile(path: string): string {
  return readFileSync(path, 'utf8');
}

/** One-directory glob: wildcards allowed in the last path component only (nginx uses glob(3)). */
function defaultGlob(pattern: string): string[] {
  const slash = pattern.lastIndexOf('/');
  const dir = slash < 0 ? '.' : pattern.slice(0, slash) || '/';
  const base = pattern.slice(slash + 1);
  if (/[*?[]/.test(dir)) throw Object.assign(new Error('wildcards are supported in the last path component only'), { code: 'ENOTSUP' });
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  let re = '^';
  for (let i = 0; i < base.length; i++) {
    const c = base[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = base.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re += '[' + base.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\') + ']';
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  const rx = new RegExp(re + '$');
  return names
    .filter((n) => rx.test(n) && !(n.startsWith('.') && !base.startsWith('.')))
    .sort()
    .map((n) => (slash < 0 ? n : `${pattern.slice(0, slash)}/${n}`));
}

function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  if (i < 0) return '';
  if (i === 0) return '/';
  return path.slice(0, i);
}

function joinPath(prefix: string, path: string): string {
  if (path.startsWith('/') || prefix === '' || prefix === '.') return path;
  return prefix.endsWith('/') ? prefix + path : `${prefix}/${path}`;
}

const ERRNO: Record<string, string> = {
  ENOENT: '2: No such file or directory',
  EACCES: '13: Permission denied',
  EISDIR: '21: Is a directory',
  ENOTDIR: '20: Not a directory',
  ELOOP: '40: Too many levels of symbolic links',
  EMFILE: '24: Too many open files',
};

class Walker {
  readonly errors: ConfigError[] = [];
  readonly warnings: ConfigWarning[] = [];
  readonly upstreams: UpstreamConfig[] = [];
  readonly files: string[] = [];
  readonly proxyDirectives: ProxyDirective[] = [];
  private readonly lenient: boolean;
  private readonly checkModule: boolean;
  private readonly readFile: (p: string) => string;
  private readonly glob: (p: string) => string[];
  private readonly prefix: string;
  private readonly includeStack: string[] = [];
  private httpSeen = false;
  private streamSeen = false;
  private eventsSeen = false;
  private readonly mainSeen = new Set<string>();
  private mailLoaded = false;
  private readonly zones = new Map<string, { size: bigint; tag: 'http' | 'stream'; file: string; line: number; column: number }>();
  /** Upstreams of the module being parsed (http or stream), for `duplicate upstream` and init checks. */
  private moduleUpstreams: UpsState[] = [];
  private readonly allModuleUpstreams = { http: [] as UpsState[], stream: [] as UpsState[] };
  /** Lower-cased names of the (well-placed) upstreams per module: nginx compares them case-insensitively. */
  private readonly upstreamNames = { http: new Set<string>(), stream: new Set<string>() };
  private depth = 0;
  private ups: UpsState | undefined;
  /** Lexers (files) whose end was reached inside a block: reported once, enclosing blocks just close. */
  private readonly eofReported = new WeakSet<Lexer>();

  constructor(opts: ParseOptions, filename: string) {
    this.lenient = opts.lenient === true;
    this.checkModule = opts.checkModule !== false;
    this.readFile = opts.readFile ?? defaultReadFile;
    this.glob = opts.glob ?? defaultGlob;
    this.prefix = opts.prefix ?? dirname(filename);
  }

  // ---- errors -------------------------------------------------------------------------------

  private error(reason: string, at: { file: string; line: number; column: number }, kind: string, value?: unknown): void {
    const e = new ConfigError(reason, at, kind, value);
    this.errors.push(e);
    if (!this.lenient) throw new Stop();
  }

  private warn(reason: string, at: { file: string; line: number; column: number }, kind: ConfigWarning['kind'], ups = this.ups): void {
    const w: ConfigWarning = { reason, file: at.file, line: at.line, column: at.column, kind };
    this.warnings.push(w);
    ups?.warnings.push(w);
  }

  /** Location nginx uses for a directive-level error: the terminator's line; column of `tok` if given. */
  private at(st: Statement, tok?: Token): { file: string; line: number; column: number } {
    return { file: st.file, line: st.line, column: tok ? tok.column : st.args[0]?.column ?? st.column };
  }

  // ---- files and blocks ---------------------------------------------------------------------

  parseMain(text: string, filename: string): void {
    this.files.push(filename);
    this.includeStack.push(filename);
    try {
      this.parse(new Lexer(text, filename), 'main', 'file');
      this.finish();
    } catch (e) {
      if (!(e instanceof Stop)) throw e;
    }
  }

  /**
   * `ngx_conf_parse` for one file or block. Returns when the block's `}` or the file's end is
   * reached (errors for the wrong one of those, as nginx).
   */
  private parse(lx: Lexer, ctx: Ctx, type: 'file' | 'block'): void {
    if (type === 'block' && this.depth >= MAX_DEPTH) return this.tooDeep(lx);
    this.depth++;
    try {
      this.parseStatements(lx, ctx, type);
    } finally {
      this.depth--;
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

  private parseStatements(lx: Lexer, ctx: Ctx, type: 'file' | 'block'): void {
    for (;;) {
      let st: Statement;
      try {
        st = lx.next();
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        this.errors.push(e);
        if (!this.lenient) throw new Stop();
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
      if (ctx === 'raw') {
        if (st.end === '{') {
          this.error('unexpected "{"', { file: st.file, line: st.line, column: st.column }, 'SYNTAX');
          this.parse(lx, 'raw', 'block');
          continue;
        }
        if (st.args.length === 2 && st.args[0]!.text === 'include') this.include(st, 'raw');
        continue;
      }
      this.directive(lx, st, ctx);
    }
  }

  /** Walks a block we do not interpret (lenient recovery, or a block of a skipped directive). */
  private skipBlock(lx: Lexer, ctx: Ctx): void {
    this.parse(lx, ctx, 'block');
  }

  private checkSpec(st: Statement, spec: Spec): boolean {
    const name = st.args[0]!.text;
    if (!spec.block && st.end !== ';') {
      this.error(`directive "${name}" is not terminated by ";"`, this.at(st), 'SYNTAX', name);
      return false;
    }
    if (spec.block && st.end !== '{') {
      this.error(`directive "${name}" has no opening "{"`, this.at(st), 'SYNTAX', name);
      return false;
    }
    if (!ARGS[spec.args]!(st.args.length)) {
      this.error(`invalid number of arguments in "${name}" directive`, this.at(st), 'ARGS', name);
      return false;
    }
    return true;
  }

  private known(name: string): boolean {
    return NGINX_DIRECTIVES.has(name) || (this.checkModule && CHECK_MODULE_DIRECTIVES.has(name));
  }

  private notAllowed(st: Statement): void {
    const name = st.args[0]!.text;
    this.error(`"${name}" directive is not allowed here`, this.at(st), 'NOT_ALLOWED', name);
  }

  private unknown(st: Statement): void {
    const name = st.args[0]!.text;
    this.error(`unknown directive "${name}"`, this.at(st), 'UNKNOWN_DIRECTIVE', name);
  }

  /** After an error on a statement that opened a block: walk the block so that parsing can go on (lenient). */
  private recover(lx: Lexer, st: Statement, ctx: Ctx): void {
    if (st.end === '{') this.skipBlock(lx, ctx);
  }

  private directive(lx: Lexer, st: Statement, ctx: Ctx): void {
    const name = st.args[0]!.text;

    if (name === 'include') {
      if (this.checkSpec(st, { block: false, args: '1' })) this.include(st, ctx);
      else this.recover(lx, st, ctx);
      return;
    }

    switch (ctx) {
      case 'main':
        if (name === 'http' || name === 'stream' || name === 'events') return this.topBlock(lx, st, name);
        if (MAIN_DIRECTIVES.has(name)) {
          if (!this.checkSpec(st, { block: false, args: MAIN_DIRECTIVES.get(name)! })) return this.recover(lx, st, 'other');
          if (MAIN_ONCE.has(name)) {
            if (this.mainSeen.has(name)) this.error(`"${name}" directive is duplicate`, this.at(st), 'DUPLICATE', name);
            this.mainSeen.add(name);
          }
          if (name === 'load_module' && /ngx_mail_module/.test(st.args[1]!.text)) this.mailLoaded = true;
          return;
        }
        if (name === 'mail' && !this.mailLoaded) {
          // Debian builds the mail module as a dynamic module: unknown until load_module'ed
          this.unknown(st);
          return this.recover(lx, st, 'other');
        }
        if (name === 'upstream') return this.misplacedUpstream(lx, st, 'stream');
        if (this.known(name)) {
          this.notAllowed(st);
          return this.recover(lx, st, 'other');
        }
        return this.skip(lx, st, 'other');
      case 'events':
        if (EVENTS_DIRECTIVES.has(name)) {
          if (!this.checkSpec(st, { block: false, args: EVENTS_DIRECTIVES.get(name)! })) this.recover(lx, st, 'other');
          return;
        }
        if (name === 'upstream') return this.misplacedUpstream(lx, st, 'stream');
        if (this.known(name)) {
          this.notAllowed(st);
          return this.recover(lx, st, 'other');
        }
        return this.skip(lx, st, 'other');
      case 'http':
      case 'stream':
        if (name === 'upstream') return this.upstream(lx, st, ctx, false);
        break;
      case 'ups-http':
      case 'ups-stream':
        return this.upstreamDirective(lx, st, ctx);
      default:
        break;
    }
    // http, stream and the blocks inside them (server, location, ...), and skipped blocks
    if (name === 'http' || name === 'stream' || name === 'events') {
      this.notAllowed(st);
      return this.recover(lx, st, 'other');
    }
    const httpish = ctx === 'http' || ctx === 'http-server' || ctx === 'http-location' || ctx === 'other-http';
    if (name === 'upstream') return this.misplacedUpstream(lx, st, httpish ? 'http' : 'stream');
    const blk = BLOCKS[name];
    if (blk && ctx !== 'other' && ctx !== 'other-http' && ctx !== 'other-stream') {
      if (!blk.in.includes(ctx)) {
        this.notAllowed(st);
        return this.recover(lx, st, 'other');
      }
      if (!this.checkSpec(st, { block: true, args: blk.args })) return this.recover(lx, st, 'other');
      if (name === 'server') return this.serverBlock(lx, st, ctx === 'http' ? 'http-server' : 'stream-server');
      if (name === 'location') return this.parse(lx, 'http-location', 'block');
      return this.parse(lx, RAW_BLOCKS.has(name) ? 'raw' : httpish ? 'other-http' : 'other-stream', 'block');
    }
    if ((name === 'listen' || name === 'proxy_pass') && st.args.length >= 2) {
      const block = ctx === 'stream-server' || ctx === 'http-server' || ctx === 'http-location' ? ctx : 'other';
      this.proxyDirectives.push({ directive: name, value: st.args[1]!.text, file: st.file, line: st.line, block });
    }
    if (name === 'proxy_pass' && ctx === 'http-server') {
      // http proxy_pass is a location-level directive (nginx-semantics §6.1)
      this.notAllowed(st);
      return;
    }
    if (name === 'listen' && ctx === 'stream-server') this.listenSeen = true;
    const inner: Ctx = httpish ? 'other-http' : ctx === 'other' ? 'other' : 'other-stream';
    this.skip(lx, st, inner);
  }

  private listenSeen = false;

  /** `server { ... }` in http or stream; a stream server needs `listen` (ngx_stream_core_server). */
  private serverBlock(lx: Lexer, st: Statement, ctx: 'http-server' | 'stream-server'): void {
    const saved = this.listenSeen;
    this.listenSeen = false;
    const before = this.errors.length;
    this.parse(lx, ctx, 'block');
    if (ctx === 'stream-server' && !this.listenSeen && this.errors.length === before) {
      this.error('no "listen" is defined for server', { file: st.file, line: st.line, column: st.args[0]!.column }, 'NO_LISTEN');
    }
    this.listenSeen = saved;
  }

  /** A directive we do not interpret: skip it, walking its block if it has one. */
  private skip(lx: Lexer, st: Statement, inner: Ctx): void {
    if (st.end !== '{') return;
    this.skipBlock(lx, RAW_BLOCKS.has(st.args[0]!.text) ? 'raw' : inner);
  }

  private topBlock(lx: Lexer, st: Statement, name: 'http' | 'stream' | 'events'): void {
    if (!this.checkSpec(st, { block: true, args: '0' })) return this.recover(lx, st, 'other');
    const seen = name === 'http' ? this.httpSeen : name === 'stream' ? this.streamSeen : this.eventsSeen;
    if (seen) {
      this.error(`"${name}" directive is duplicate`, this.at(st), 'DUPLICATE', name);
      return this.recover(lx, st, 'other');
    }
    if (name === 'events') {
      this.eventsSeen = true;
      return this.parse(lx, 'events', 'block');
    }
    if (name === 'http') this.httpSeen = true;
    else this.streamSeen = true;
    const saved = this.moduleUpstreams;
    this.moduleUpstreams = this.allModuleUpstreams[name];
    this.parse(lx, name, 'block');
    // ngx_http_block / ngx_stream_block: init_main_conf of the upstream module, in definition order
    for (const u of this.moduleUpstreams) {
      if (u.misplaced) continue;
      this.initUpstream(u);
    }
    this.moduleUpstreams = saved;
  }

  /** The round-robin init (`ngx_*_upstream_init_round_robin`): the primary tier must not be empty. */
  private initUpstream(u: UpsState): void {
    if (u.servers.length > 0 && !u.servers.some((s) => !s.backup)) {
      this.error(`no servers in upstream "${u.name}"`, { file: u.file, line: u.line, column: u.column }, 'NO_SERVERS', u.name);
    }
  }

  private misplacedUpstream(lx: Lexer, st: Statement, guess: 'http' | 'stream'): void {
    this.notAllowed(st);
    // lenient: recover the block for explanation
    if (st.end === '{' && st.args.length === 2) return this.upstream(lx, st, guess === 'http' ? 'http' : 'stream', true);
    this.recover(lx, st, 'other');
  }

  // ---- include ------------------------------------------------------------------------------

  private include(st: Statement, ctx: Ctx): void {
    const arg = st.args[1]!;
    const full = joinPath(this.prefix, arg.text);
    let paths: string[];
    if (/[*?[]/.test(full)) {
      try {
        paths = this.glob(full);
      } catch (e) {
        const code = (e as { code?: string }).code ?? '';
        this.error(`glob() "${full}" failed (${ERRNO[code] ?? `${code}: ${(e as Error).message}`})`, this.at(st, arg), 'INCLUDE', full);
        return;
      }
    } else paths = [full];
    for (const path of paths) {
      if (this.includeStack.includes(path)) {
        this.error(`include cycle: "${path}" includes itself (${[...this.includeStack, path].join(' -> ')})`, this.at(st, arg), 'INCLUDE_CYCLE', path);
        return;
      }
      if (this.includeStack.length >= MAX_INCLUDE_DEPTH) {
        this.error(`open() "${path}" failed (24: Too many open files)`, this.at(st, arg), 'INCLUDE', path);
        return;
      }
      let text: string;
      try {
        text = this.readFile(path);
      } catch (e) {
        if (isUpstreamError(e)) throw e;
        const code = (e as { code?: string }).code ?? '';
        this.error(`open() "${path}" failed (${ERRNO[code] ?? `${code || 'EIO'}: ${(e as Error).message}`})`, this.at(st, arg), 'INCLUDE', path);
        return;
      }
      if (typeof text !== 'string') {
        this.error(`open() "${path}" failed (readFile returned ${typeof text})`, this.at(st, arg), 'INCLUDE', path);
        return;
      }
      this.files.push(path);
      this.includeStack.push(path);
      try {
        const lx = new Lexer(text, path);
        this.parse(lx, ctx, 'file');
      } finally {
        this.includeStack.pop();
      }
    }
  }

  // ---- upstream -----------------------------------------------------------------------------

  private upstream(lx: Lexer, st: Statement, ctx: 'http' | 'stream', misplaced: boolean): void {
    if (!misplaced && !this.checkSpec(st, { block: true, args: '1' })) return this.recover(lx, st, 'other');
    const nameTok = st.args[1]!;
    const list = this.allModuleUpstreams[ctx];
    const lower = nameTok.text.toLowerCase();
    if (!misplaced && this.upstreamNames[ctx].has(lower)) {
      this.error(`duplicate upstream "${nameTok.text}"`, this.at(st, nameTok), 'DUPLICATE', nameTok.text);
      return this.recover(lx, st, 'other');
    }
    if (!misplaced) this.upstreamNames[ctx].add(lower);
    const u: UpsState = {
      name: nameTok.text,
      context: ctx,
      file: st.file,
      line: st.line,
      column: st.args[0]!.column,
      servers: [],
      initSet: false,
      backupAllowed: true,
      method: 'round-robin',
      consistent: false,
      randomTwo: false,
      randomLeastConn: false,
      keepaliveSeen: false,
      warnings: [],
      misplaced,
      addressCount: new Map(),
    };
    list.push(u);
    const outer = this.ups;
    this.ups = u;
    const before = this.errors.length;
    try {
      this.parse(lx, ctx === 'http' ? 'ups-http' : 'ups-stream', 'block');
    } finally {
      this.ups = outer;
    }
    const eof = this.eofReported.has(lx);
    if (u.servers.length === 0 && !eof && (this.errors.length === before || this.lenient)) {
      this.error('no servers are inside upstream', { file: st.file, line: lx.line, column: lx.column }, 'NO_SERVERS', u.name);
    }
    if (u.servers.length > 0) this.upstreams.push(this.result(u));
  }

  private upstreamDirective(lx: Lexer, st: Statement, ctx: 'ups-http' | 'ups-stream'): void {
    const u = this.ups!;
    const name = st.args[0]!.text;
    let spec = (ctx === 'ups-http' ? UPS_HTTP : UPS_STREAM)[name];
    let checkExtension = false;
    if (!spec && this.checkModule && CHECK_SPECS[name]) {
      spec = CHECK_SPECS[name];
      checkExtension = ctx === 'ups-stream';
    }
    if (!spec) {
      if (this.known(name)) this.notAllowed(st);
      else this.unknown(st);
      return this.recover(lx, st, 'other');
    }
    if (!this.checkSpec(st, spec)) return this.recover(lx, st, ctx === 'ups-http' ? 'other-http' : 'other-stream');
    if (checkExtension) {
      this.warn(
        `"${name}" in a stream upstream is an upstream-balancer extension: the check module has it in http upstreams only (there it says "${name}" directive is not allowed here), and stock nginx has no "${name}" at all`,
        this.at(st),
        'extension',
      );
    }
    switch (name) {
      case 'server':
        return this.server(st, u);
      case 'hash':
      case 'ip_hash':
      case 'least_conn':
      case 'random':
        return this.method(st, u);
      case 'keepalive':
      case 'keepalive_time':
      case 'keepalive_timeout':
      case 'keepalive_requests':
        return this.keepalive(st, u);
      case 'zone':
        return this.zone(st, u);
      default:
        return this.checkDirective(st, u);
    }
  }

  private server(st: Statement, u: UpsState): void {
    const a = st.args;
    let weight = 1n;
    let maxConns = 0n;
    let maxFails = 1n;
    let failTimeout = 10n;
    let backup = false;
    let down = false;
    for (let i = 2; i < a.length; i++) {
      const tok = a[i]!;
      const t = tok.text;
      let ok = true;
      if (t.startsWith('weight=')) {
        const v = atoi(t.slice(7));
        if (v === undefined || v === 0n) ok = false;
        else weight = v;
      } else if (t.startsWith('max_conns=')) {
        const v = atoi(t.slice(10));
        if (v === undefined) ok = false;
        else maxConns = v;
      } else if (t.startsWith('max_fails=')) {
        const v = atoi(t.slice(10));
        if (v === undefined) ok = false;
        else maxFails = v;
      } else if (t.startsWith('fail_timeout=')) {
        const v = parseNginxTime(t.slice(13), 's');
        if (v === undefined) ok = false;
        else failTimeout = v;
      } else if (t === 'backup') {
        if (!u.backupAllowed) {
          this.error(`balancing method does not support parameter "${t}"`, this.at(st, tok), 'NOT_SUPPORTED', t);
          return;
        }
        backup = true;
      } else if (t === 'down') {
        down = true;
      } else ok = false;
      if (!ok) {
        this.error(`invalid parameter "${t}"`, this.at(st, tok), 'INVALID_PARAMETER', t);
        return;
      }
    }
    const addr = a[1]!;
    const err = addressError(addr.text, u.context);
    if (err) {
      this.error(err, this.at(st, addr), 'ADDRESS', addr.text);
      return;
    }
    let id = addr.text;
    const dup = u.addressCount.get(addr.text) ?? 0;
    u.addressCount.set(addr.text, dup + 1);
    if (dup > 0) {
      id = `${addr.text}#${dup + 1}`;
      this.warn(
        `server "${addr.text}" is listed ${dup + 1} times: nginx makes each line its own peer; its id here is "${id}"`,
        this.at(st, addr),
        'note',
      );
    }
    const rec: ServerRec = {
      id,
      address: addr.text,
      weight: toNumber(weight),
      maxConns: toNumber(maxConns),
      maxFails: toNumber(maxFails),
      failTimeout: toNumber(failTimeout) * 1000,
      backup,
      down,
      source: { file: st.file, line: st.line, column: a[0]!.column, words: a.slice(1).map((t) => t.text) },
    };
    if (weight > 0x7fffffffn) {
      this.warn(`weight=${weight} is accepted by nginx but larger than upstream-balancer's limit 2147483647: new Balancer() will reject it`, this.at(st, addr), 'note');
    }
    if (backup && !u.initSet && !u.backupBeforeMethod) u.backupBeforeMethod = rec;
    u.servers.push(rec);
  }

  private method(st: Statement, u: UpsState): void {
    const a = st.args;
    const name = a[0]!.text;
    if (name === 'hash' && a.length === 3 && a[2]!.text !== 'consistent') {
      // the key is compiled first; the warning and the flags change precede the parameter check
    }
    if (u.initSet) this.warn('load balancing method redefined', this.at(st), 'nginx');
    if (u.keepaliveSeen && u.initSet && !u.methodDirective) {
      this.warn(
        `"${name}" after "keepalive": nginx replaces the keepalive handler, so no connections are cached; put "keepalive" after the balancing method`,
        this.at(st),
        'note',
      );
    }
    u.initSet = true;
    u.methodDirective = a.map((t) => t.text).join(' ');
    u.consistent = false;
    u.randomTwo = false;
    u.randomLeastConn = false;
    u.hashKey = undefined;
    switch (name) {
      case 'least_conn':
        u.method = 'least-conn';
        u.backupAllowed = true;
        return;
      case 'ip_hash':
        u.method = 'ip-hash';
        u.backupAllowed = false;
        return;
      case 'hash':
        u.method = 'hash';
        u.backupAllowed = false;
        u.hashKey = a[1]!.text;
        if (a.length === 3) {
          if (a[2]!.text !== 'consistent') {
            this.error(`invalid parameter "${a[2]!.text}"`, this.at(st, a[2]), 'INVALID_PARAMETER', a[2]!.text);
            return;
          }
          u.consistent = true;
        }
        return;
      case 'random':
        u.method = 'random';
        u.backupAllowed = false;
        if (a.length >= 2) {
          if (a[1]!.text !== 'two') {
            this.error(`invalid parameter "${a[1]!.text}"`, this.at(st, a[1]), 'INVALID_PARAMETER', a[1]!.text);
            return;
          }
          // `random two` always picks the less loaded of the two: least_conn is its only (and default) method
          u.randomTwo = true;
          u.randomLeastConn = true;
          if (a.length === 3 && a[2]!.text !== 'least_conn') {
            this.error(`invalid parameter "${a[2]!.text}"`, this.at(st, a[2]), 'INVALID_PARAMETER', a[2]!.text);
          }
        }
        return;
    }
  }

  private keepalive(st: Statement, u: UpsState): void {
    const a = st.args;
    const name = a[0]!.text;
    const v = a[1]!;
    const ka = (u.keepalive ??= { connections: 0 });
    if (name === 'keepalive') {
      if (u.keepaliveSeen) {
        this.error('"keepalive" directive is duplicate', this.at(st), 'DUPLICATE', name);
        return;
      }
      const n = atoi(v.text);
      if (n === undefined || n === 0n) {
        this.error(`invalid value "${v.text}" in "keepalive" directive`, this.at(st, v), 'INVALID_VALUE', v.text);
        return;
      }
      u.keepaliveSeen = true;
      ka.connections = toNumber(n);
      u.initSet = true;
      return;
    }
    const field = name === 'keepalive_requests' ? 'requests' : name === 'keepalive_time' ? 'timeMs' : 'timeoutMs';
    if (ka[field] !== undefined) {
      this.error(`"${name}" directive is duplicate`, this.at(st), 'DUPLICATE', name);
      return;
    }
    if (field === 'requests') {
      const n = atoi(v.text);
      if (n === undefined) {
        this.error(`"${name}" directive invalid number`, this.at(st), 'INVALID_VALUE', v.text);
        return;
      }
      ka.requests = toNumber(n);
    } else {
      const t = parseNginxTime(v.text, 'ms');
      // ngx_msec_t is unsigned 64-bit: NGX_ERROR is the only rejected value
      if (t === undefined) {
        this.error(`"${name}" directive invalid value`, this.at(st), 'INVALID_VALUE', v.text);
        return;
      }
      ka[field] = toNumber(t);
    }
  }

  private zone(st: Statement, u: UpsState): void {
    const a = st.args;
    const name = a[1]!;
    if (name.text.length === 0) {
      this.error(`invalid zone name "${name.text}"`, this.at(st, name), 'ZONE', name.text);
      return;
    }
    let size = 0n;
    if (a.length === 3) {
      const s = parseSize(a[2]!.text);
      if (s === undefined) {
        this.error(`invalid zone size "${a[2]!.text}"`, this.at(st, a[2]), 'ZONE', a[2]!.text);
        return;
      }
      if (s < BigInt(8 * PAGE_SIZE)) {
        this.error(`zone "${name.text}" is too small`, this.at(st, a[2]), 'ZONE', a[2]!.text);
        return;
      }
      size = s;
    }
    const z = this.zones.get(name.text);
    if (z) {
      if (z.tag !== u.context) {
        this.error(`the shared memory zone "${name.text}" is already declared for a different use`, this.at(st, name), 'ZONE', name.text);
        return;
      }
      if (z.size === 0n) z.size = size;
      if (size !== 0n && size !== z.size) {
        this.error(`the size ${size} of shared memory zone "${name.text}" conflicts with already declared size ${z.size}`, this.at(st, name), 'ZONE', name.text);
        return;
      }
    } else {
      this.zones.set(name.text, { size, tag: u.context, ...this.at(st, name) });
    }
    u.zone = { name: name.text, size: toNumber(size) };
  }

  private checkDirective(st: Statement, u: UpsState): void {
    const a = st.args;
    const name = a[0]!.text;
    switch (name) {
      case 'check': {
        const c: CheckOptions = { interval: 30000, rise: 2, fall: 5, timeout: 1000, type: 'tcp', port: 0, defaultDown: true };
        for (let i = 1; i < a.length; i++) {
          const tok = a[i]!;
          const t = tok.text;
          const num = (prefix: string): number | undefined => {
            const v = atoi(t.slice(prefix.length));
            return v === undefined || v === 0n ? undefined : toNumber(v);
          };
          let bad = false;
          if (t.startsWith('type=')) {
            const ty = t.slice(5);
            if (ty === 'smtp') {
              this.warn(
                'check type "smtp" is an upstream-balancer extension: no nginx check module has it (yaoweibin and Tengine know tcp, http, fastcgi, ssl_hello, mysql, ajp and say invalid parameter "type=smtp")',
                this.at(st, tok),
                'extension',
              );
              c.type = 'smtp';
            } else if (!MODULE_CHECK_TYPES.has(ty)) bad = true;
            else if (ty === 'fastcgi' || ty === 'ajp') {
              this.error(`check type "${ty}" is not implemented by upstream-balancer (implemented: tcp, http, ssl_hello, mysql, and the smtp extension)`, this.at(st, tok), 'UNSUPPORTED', ty);
              return;
            } else c.type = ty as CheckOptions['type'];
          } else if (t.startsWith('interval=')) {
            const v = num('interval=');
            if (v === undefined) bad = true;
            else c.interval = v;
          } else if (t.startsWith('timeout=')) {
            const v = num('timeout=');
            if (v === undefined) bad = true;
            else c.timeout = v;
          } else if (t.startsWith('rise=')) {
            const v = num('rise=');
            if (v === undefined) bad = true;
            else c.rise = v;
          } else if (t.startsWith('fall=')) {
            const v = num('fall=');
            if (v === undefined) bad = true;
            else c.fall = v;
          } else if (t.startsWith('port=')) {
            const v = num('port=');
            if (v === undefined) bad = true;
            else if (v > 65535) {
              this.warn(`port=${v} is accepted by the check module (and truncated to 16 bits); upstream-balancer rejects ports above 65535`, this.at(st, tok), 'note');
              c.port = v;
            } else c.port = v;
          } else if (t.startsWith('default_down=')) {
            const v = t.slice(13).toLowerCase();
            if (v === 'true') c.defaultDown = true;
            else if (v === 'false') c.defaultDown = false;
            else {
              this.error(`invalid value "${t}", it must be "true" or "false"`, this.at(st, tok), 'INVALID_VALUE', t);
              return;
            }
          } else bad = true;
          if (bad) {
            this.error(`invalid parameter "${t}"`, this.at(st, tok), 'INVALID_PARAMETER', t);
            return;
          }
        }
        u.check = c;
        return;
      }
      case 'check_http_send': {
        u.httpSend = a[1]!.text;
        return;
      }
      case 'check_http_expect_alive': {
        const set = (u.expectAlive ??= new Set());
        for (let i = 1; i < a.length; i++) {
          const t = a[i]!.text;
          const m = /^http_([1-5])xx$/.exec(t);
          if (!m) {
            this.error(`invalid value "${t}"`, this.at(st, a[i]), 'INVALID_VALUE', t);
            return;
          }
          const cls = `${m[1]}xx` as HttpStatusClass;
          if (set.has(cls)) this.warn(`duplicate value "${t}"`, this.at(st, a[i]), 'note');
          set.add(cls);
        }
        return;
      }
      case 'check_keepalive_requests': {
        const v = atoi(a[1]!.text);
        if (v === undefined || v === 0n) {
          this.error('"check_keepalive_requests" directive invalid value', this.at(st), 'INVALID_VALUE', a[1]!.text);
          return;
        }
        u.checkKeepaliveRequests = toNumber(v);
        return;
      }
      case 'check_fastcgi_param':
        this.warn('"check_fastcgi_param" is accepted and ignored: upstream-balancer has no fastcgi probe', this.at(st), 'note');
        return;
    }
  }

  private result(u: UpsState): UpstreamConfig {
    const options: BalancerOptions = {
      name: u.name,
      method: u.method,
      servers: u.servers.map((s) => ({
        id: s.id,
        address: s.address,
        weight: s.weight,
        maxFails: s.maxFails,
        failTimeout: s.failTimeout,
        maxConns: s.maxConns,
        backup: s.backup,
        down: s.down,
      })),
    };
    if (u.method === 'hash') options.hash = { consistent: u.consistent };
    if (u.method === 'random' && u.randomTwo) {
      options.randomTwo = true;
      options.randomLeastConn = u.randomLeastConn;
    }
    if (u.check) {
      const c: CheckOptions = { ...u.check };
      if (u.httpSend !== undefined) c.httpSend = u.httpSend;
      if (u.expectAlive) c.httpExpectAlive = (['1xx', '2xx', '3xx', '4xx', '5xx'] as const).filter((x) => u.expectAlive!.has(x));
      options.check = c;
    }
    const hasBackup = u.servers.some((s) => s.backup);
    if (hasBackup && (u.method === 'hash' || u.method === 'ip-hash' || u.method === 'random')) {
      options.allowBackupWithHash = true;
      const b = u.backupBeforeMethod ?? u.servers.find((s) => s.backup)!;
      this.warn(
        `backup server "${b.address}" comes before "${u.methodDirective}": nginx accepts it only because of that order (after the directive it says balancing method does not support parameter "backup"); the backup tier is used only when ${u.method === 'random' ? 'random' : u.method === 'ip-hash' ? 'ip_hash' : 'hash'} falls back to round robin`,
        b.source,
        'note',
        u,
      );
    }
    const r: UpstreamConfig = {
      name: u.name,
      context: u.context,
      options,
      warnings: u.warnings,
      file: u.file,
      line: u.line,
      serverSources: u.servers.map((s) => s.source),
    };
    if (u.hashKey !== undefined) r.hashKey = u.hashKey;
    if (u.zone) r.zone = u.zone;
    if (u.keepalive && (u.keepalive.connections > 0 || Object.keys(u.keepalive).length > 1)) r.keepalive = u.keepalive;
    if (u.checkKeepaliveRequests !== undefined) r.checkKeepaliveRequests = u.checkKeepaliveRequests;
    if (u.methodDirective !== undefined) r.methodDirective = u.methodDirective;
    if (u.misplaced) r.misplaced = true;
    return r;
  }

  /** Checks nginx makes after the whole configuration is read (ngx_init_cycle). */
  private finish(): void {
    for (const [name, z] of this.zones) {
      if (z.size === 0n) this.error(`zero size shared memory zone "${name}"`, { file: z.file, line: z.line, column: z.column }, 'ZONE', name);
    }
  }
}

/**
 * Address check of `ngx_parse_url` as the upstream `server` directive uses it (no URI part, http
 * default port 80, stream needs a port). Returns nginx's message or `undefined`. Host names are not
 * resolved (nginx resolves them while loading and says `host not found` when that fails).
 */
function addressError(url: string, context: 'http' | 'stream'): string | undefined {
  const where = ` in upstream "${url}"`;
  if (url.length >= 5 && url.slice(0, 5).toLowerCase() === 'unix:') {
    const path = url.slice(5);
    if (path.length === 0) return 'no path in the unix domain socket' + where;
    if (new TextEncoder().encode(path).length + 1 > 108) return 'too long path in the unix domain socket' + where;
    return undefined;
  }
  let noPort = false;
  if (url.startsWith('[')) {
    const close = url.indexOf(']');
    if (close < 0) return 'invalid host' + where;
    const rest = url.slice(close + 1);
    if (rest.startsWith(':')) {
      const n = atoi(rest.slice(1));
      if (n === undefined || n < 1n || n > 65535n) return 'invalid port' + where;
    } else if (rest.length > 0) return 'invalid host' + where;
    else noPort = true;
    const host = url.slice(1, close);
    if (host.length === 0) return 'no host' + where;
    if (!isIPv6(host)) return 'invalid IPv6 address' + where;
  } else {
    if (url.includes('/') || url.includes('?')) return 'invalid host' + where;
    const colon = url.indexOf(':');
    let host = url;
    if (colon >= 0) {
      const n = atoi(url.slice(colon + 1));
      if (n === undefined || n < 1n || n > 65535n) return 'invalid port' + where;
      host = url.slice(0, colon);
    } else noPort = true;
    if (host.length === 0) return 'no host' + where;
  }
  if (noPort && context === 'stream') return `no port in upstream "${url}"`;
  return undefined;
}

function isIPv6(h: string): boolean {
  // inet_pton-style check (ngx_inet6_addr): hex groups, one "::", optional trailing IPv4
  if (!/^[0-9A-Fa-f:.]+$/.test(h)) return false;
  const dbl = h.split('::');
  if (dbl.length > 2) return false;
  const groups = (s: string): string[] | undefined => (s === '' ? [] : s.split(':'));
  const parts = [...(groups(dbl[0]!) ?? []), ...(dbl.length === 2 ? groups(dbl[1]!) ?? [] : [])];
  let count = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (i === parts.length - 1 && p.includes('.')) {
      const o = p.split('.');
      if (o.length !== 4 || !o.every((x) => /^[0-9]{1,3}$/.test(x) && Number(x) <= 255)) return false;
      count += 2;
    } else {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(p)) return false;
      count += 1;
    }
  }
  return dbl.length === 2 ? count < 8 : count === 8;
}

/**
 * Parses nginx configuration text and returns every `upstream` block, every warning and (in
 * lenient mode) every error. Strict mode throws the first error as `ConfigError`, exactly as
 * `nginx -t` reports it.
 *
 * @example
 * ```ts
 * const r = parseConfig('stream { upstream u { server 127.0.0.1:25; } }', { filename: 'smtp.conf' });
 * r.upstreams[0].options.servers[0]; // { id: '127.0.0.1:25', address: '127.0.0.1:25', weight: 1, ... }
 * ```
 */
export function parseConfig(text: string, opts: ParseOptions = {}): ConfigResult {
  if (typeof text !== 'string') {
    throw new ConfigError(`Expected configuration text to be a string, got ${typeof text}`, { file: opts.filename ?? 'nginx.conf', line: 1, column: 1 }, 'INPUT', text);
  }
  const filename = opts.filename ?? 'nginx.conf';
  const w = new Walker(opts, filename);
  w.parseMain(text, filename);
  if (!opts.lenient && w.errors.length > 0) throw w.errors[0]!;
  return { upstreams: w.upstreams, errors: w.errors, warnings: w.warnings, files: w.files, proxyDirectives: w.proxyDirectives };
}

/**
 * Every `upstream` block of a configuration, with the `BalancerOptions` it means. Throws
 * `ConfigError` with nginx's message, file, line and column on the first error.
 *
 * @example
 * ```ts
 * const [u] = parseUpstreams(`
 *   stream {
 *     upstream smtp {
 *       server 10.0.0.1:25 max_fails=3 fail_timeout=3s;
 *       server 10.0.0.2:25 backup;
 *     }
 *   }`, { filename: 'smtp.conf' });
 * u.options.servers[0].failTimeout; // 3000
 * ```
 */
export function parseUpstreams(text: string, opts: Omit<ParseOptions, 'lenient'> = {}): UpstreamConfig[] {
  return parseConfig(text, { ...opts, lenient: false }).upstreams;
}

/**
 * The `BalancerOptions` of one upstream: the one named `name`, or the only one. Throws
 * `ConfigError` (kind `UPSTREAM_NOT_FOUND`, `UPSTREAM_AMBIGUOUS`, `NO_UPSTREAM`) when that choice is
 * impossible, and nginx's error when the text is invalid. `Balancer.fromNginx` calls this.
 *
 * @example
 * ```ts
 * const options = balancerOptionsFromNginx(text, 'smtp_backend');
 * const balancer = new Balancer({ ...options, clock, rng });
 * ```
 */
export function balancerOptionsFromNginx(
  text: string,
  name?: string,
  opts: Omit<ParseOptions, 'lenient'> & { context?: 'http' | 'stream' } = {},
): BalancerOptions {
  const file = opts.filename ?? 'nginx.conf';
  const all = parseUpstreams(text, opts).filter((u) => opts.context === undefined || u.context === opts.context);
  const where = { file, line: 1, column: 1 };
  if (name === undefined) {
    if (all.length === 1) return all[0]!.options;
    if (all.length === 0) throw new ConfigError(`no upstream block in ${file}`, where, 'NO_UPSTREAM');
    throw new ConfigError(
      `${all.length} upstream blocks in ${file} (${all.map((u) => `${u.context} "${u.name}"`).join(', ')}): name the one to use`,
      where,
      'UPSTREAM_AMBIGUOUS',
      all.map((u) => u.name),
    );
  }
  const found = all.filter((u) => u.name === name);
  if (found.length === 1) return found[0]!.options;
  if (found.length === 0) {
    throw new ConfigError(
      `upstream "${name}" not found in ${file}${all.length ? ` (found: ${all.map((u) => `"${u.name}"`).join(', ')})` : ''}`,
      where,
      'UPSTREAM_NOT_FOUND',
      name,
    );
  }
  throw new ConfigError(`upstream "${name}" exists in both http and stream: pass { context: 'http' | 'stream' }`, where, 'UPSTREAM_AMBIGUOUS', name);
}
