/**
 * What the configuration walker and the modules share, after nginx's src/core/ngx_conf_file.h:
 * the contexts a directive can sit in (the `NGX_*_CONF` type flags, plus the blocks we only walk),
 * the argument-count rules (`NGX_CONF_TAKE1`, `NGX_CONF_1MORE`, ...), the command table row
 * (`ngx_command_t`), the walker as a handler sees it (`ngx_conf_t`), and the state the modules keep
 * (their main and block confs: `ngx_http_upstream_srv_conf_t` and the like). Types and two constant
 * tables and a row constructor; no behaviour.
 */

import type { ConfigError } from '../errors';
import type { Method } from '../methods';
import type { NextUpstreamCondition } from '../next-upstream';
import type { CheckOptions, HttpStatusClass } from '../options';
import type { ResolvedServer } from '../server-fields';
import type { StickyConfig } from '../sticky/types';
import type { Statement, Token } from './tokenizer';
import type { ConfigWarning, IncludePolicy, ProxyDirective, ServerSource, UpstreamConfig } from './types';

/**
 * Where a statement sits. `main`, `events` and the `upstream` blocks are modelled (every directive
 * is checked); `http`, `stream` and their `server`/`location` blocks are walked (their block
 * directives are checked, other directives skipped); `other*` are blocks we do not interpret, and
 * `raw` the text blocks nginx hands to a custom handler (`types`, `map`, ...).
 */
export type Ctx =
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

/** How the walker treats a context, and what a block skipped inside it becomes. */
export interface ContextInfo {
  readonly kind: 'modelled' | 'upstream' | 'walked' | 'skipped' | 'raw';
  /** The context of a block we do not interpret inside this one. */
  readonly inner: Ctx;
  /** The module a misplaced `upstream` found here is guessed to belong to (lenient recovery). */
  readonly guess: 'http' | 'stream';
}

export const CONTEXTS: Readonly<Record<Ctx, ContextInfo>> = {
  main: { kind: 'modelled', inner: 'other', guess: 'stream' },
  events: { kind: 'modelled', inner: 'other', guess: 'stream' },
  http: { kind: 'walked', inner: 'other-http', guess: 'http' },
  stream: { kind: 'walked', inner: 'other-stream', guess: 'stream' },
  'http-server': { kind: 'walked', inner: 'other-http', guess: 'http' },
  'http-location': { kind: 'walked', inner: 'other-http', guess: 'http' },
  'stream-server': { kind: 'walked', inner: 'other-stream', guess: 'stream' },
  'ups-http': { kind: 'upstream', inner: 'other-http', guess: 'http' },
  'ups-stream': { kind: 'upstream', inner: 'other-stream', guess: 'stream' },
  'other-http': { kind: 'skipped', inner: 'other-http', guess: 'http' },
  'other-stream': { kind: 'skipped', inner: 'other-stream', guess: 'stream' },
  other: { kind: 'skipped', inner: 'other', guess: 'stream' },
  raw: { kind: 'raw', inner: 'raw', guess: 'stream' },
};

/** Argument-count classes of `ngx_command_t` (`n` counts the directive name, as nginx's nelts). */
export const ARGS = {
  '0': (n: number) => n === 1,
  '1': (n: number) => n === 2,
  '2': (n: number) => n === 3,
  '12': (n: number) => n === 2 || n === 3,
  '23': (n: number) => n === 3 || n === 4,
  '012': (n: number) => n >= 1 && n <= 3,
  '1+': (n: number) => n >= 2,
  '2+': (n: number) => n >= 3,
  flag: (n: number) => n === 2,
} as const;

export type ArgRule = keyof typeof ARGS;

/**
 * One row of a command table (nginx's `ngx_command_t`): the walker checks the terminator and the
 * argument count, then calls `handler` with the block's configuration (`C`: the upstream block's
 * state inside `upstream`, nothing elsewhere).
 */
export interface Command<C> {
  readonly name: string;
  /** Where nginx allows it. */
  readonly contexts: readonly Ctx[];
  /** `NGX_CONF_BLOCK`: it opens a block (`{`) instead of ending with `;`. */
  readonly block: boolean;
  readonly args: ArgRule;
  /**
   * Lenient mode, after a terminator or argument-count error on a statement that opened a block:
   * walk that block in the current context (`here`), in the current context's `inner` one, or (the
   * default) as `other`.
   */
  readonly recover?: 'here' | 'inner';
  readonly handler: (cf: Conf, st: Statement, conf: C) => void;
}

/**
 * A one-line directive of the `upstream` block; a block it opens by mistake is walked as the
 * context's `inner` one (lenient).
 */
export function upstreamCommand(
  name: string,
  contexts: readonly Ctx[],
  args: ArgRule,
  handler: Command<UpsState>['handler'],
): Command<UpsState> {
  return { name, contexts, block: false, args, recover: 'inner', handler };
}

/** A position in a file, as errors and warnings carry it. */
export interface Where {
  file: string;
  line: number;
  column: number;
}

/** One `server` line of an upstream (every parameter the field table has) and where it came from. */
export type ServerRec = ResolvedServer & { source: ServerSource; route?: string };

/** The state of one `upstream` block while it is read (nginx's `ngx_*_upstream_srv_conf_t`). */
export interface UpsState {
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
  /** Where the last `check` line is. */
  checkAt?: Where;
  expectAlive?: Set<HttpStatusClass>;
  checkKeepaliveRequests?: number;
  httpSend?: string;
  warnings: ConfigWarning[];
  misplaced: boolean;
  backupBeforeMethod?: ServerRec;
  /** How many servers so far have each address (duplicate lines get ids `ADDR#2`, ...). */
  addressCount: Map<string, number>;
  /** Where `sticky` was (nginx's `stcf->lookup_vars` is set: a second one is a duplicate). */
  stickyAt?: Where;
  /** The `sticky` directive read (sticky.ts). */
  sticky?: StickyConfig;
  /** A balancing directive came after `sticky` and replaced its init: nginx keeps no sessions. */
  stickyReplacedBy?: string;
}

/** The upstream modules' main confs (http and stream) and the shared memory zones of the cycle. */
export interface UpstreamMain {
  /** Every upstream block per module, in definition order (misplaced ones included). */
  readonly lists: { readonly http: UpsState[]; readonly stream: UpsState[] };
  /** Lower-cased names of the well-placed upstreams per module: nginx compares them case-insensitively. */
  readonly names: { readonly http: Set<string>; readonly stream: Set<string> };
  /** The cycle's shared memory zones by name: the `zone` directive's (tag: its module) and `sticky learn`'s (`user`: the upstream). */
  readonly zones: Map<string, { size: bigint; tag: 'http' | 'stream' | 'sticky'; user?: string } & Where>;
  /** The results, one per upstream block with servers. */
  readonly results: UpstreamConfig[];
}

/** What the core, events, http and stream modules remember across statements. */
export interface CoreMain {
  /** `http`, `stream`, `events` and the main directives that may appear once, once seen. */
  readonly seen: Set<string>;
  /** `load_module` loaded the mail module (Debian builds it as a dynamic module). */
  mailLoaded: boolean;
  /**
   * `load_module` loaded a module other than stream and mail (geoip, image_filter, njs, a
   * third-party one): its directive names are not in our lists, so unknown names outside
   * `upstream` blocks are skipped instead of reported.
   */
  otherModulesLoaded?: boolean;
  /** The stream `server` block being read has a `listen`. */
  listenSeen: boolean;
  readonly proxyDirectives: ProxyDirective[];
  /** The `*_pass` and `*_next_upstream*` directives, by block (upstream-use.ts). */
  readonly uses: UseState;
}

/** A file being read: its canonical identity (for cycles) and its name as nginx shows it. */
export interface IncludeFrame {
  /** Real path (default reader) or normalised path (a `readFile` of the caller); computed at the first `include`. */
  id: string | undefined;
  readonly name: string;
}

/** `include` (nginx's `ngx_conf_include`): the policy, where files come from, which are open, what was spent. */
export interface Includes {
  readonly policy: IncludePolicy;
  /** nginx's prefix as given or derived (`''`: the current directory). */
  readonly prefix: string;
  /** The prefix was chosen by the caller (`prefix`, or a directory in `filename`), not the current directory by default. */
  readonly prefixGiven: boolean;
  /** Reads a file allowed by the policy, at most `maxBytes` (a caller's `readFile` ignores the cap; it is checked after). */
  readonly readFile: (path: string, maxBytes: number) => string | Uint8Array;
  /** The reader is the default one on `node:fs` (paths are then resolved with realpath). */
  readonly fsRead: boolean;
  readonly glob: (pattern: string) => string[];
  /** The glob is the default one on `node:fs`. */
  readonly fsGlob: boolean;
  readonly maxFileBytes: number;
  readonly maxFiles: number;
  readonly maxBytes: number;
  /** Files and bytes read through `include` so far. */
  readFiles: number;
  readBytes: number;
  /** A budget (files, bytes, glob entries) ran out and was reported: later includes are skipped. */
  exhausted: boolean;
  /** A missing file (ENOENT) is an error (nginx) or a warning, and the parse goes on (`missingIncludes`). */
  readonly missing: 'error' | 'warn';
  /** The real path of the prefix (default reader), once needed. */
  realPrefix: string | undefined;
  /** The files being read, outermost first (for cycles and the depth limit). */
  readonly stack: IncludeFrame[];
  /** Every file read, in order, as nginx names them. */
  readonly files: string[];
  /** `include` statements (file id, line, column) that reported a cycle: later runs of them are skipped. */
  readonly cycled: Set<string>;
}

/** The walker as a handler sees it (nginx's `ngx_conf_t`). */
export interface Conf {
  readonly lenient: boolean;
  /** The context of the statement being handled (nginx's `cf->cmd_type`). */
  readonly ctx: Ctx;
  readonly errors: readonly ConfigError[];
  readonly core: CoreMain;
  readonly upstream: UpstreamMain;
  readonly includes: Includes;
  /**
   * The parse cannot see the whole configuration: a conf.d fragment (`fragment`) or a missing
   * include read as a warning. Checks that need all of it (unknown variables) only warn then.
   */
  readonly partial: boolean;
  /** Records an error; in strict mode it stops the parse (throws). */
  error(reason: string, at: Where, kind: string, value?: unknown): void;
  /** Records a warning, also in `ups` (default: the upstream block being read). */
  warn(reason: string, at: Where, kind: ConfigWarning['kind'], ups?: UpsState, include?: string): void;
  /** Where nginx reports a directive-level error: the terminator's line; the column of `tok` if given. */
  at(st: Statement, tok?: Token): Where;
  /** nginx (with the check module when enabled) has a directive of that name somewhere. */
  known(name: string): boolean;
  notAllowed(st: Statement): void;
  unknown(st: Statement): void;
  /** `ngx_conf_parse(cf, NULL)`: reads the block the statement opened, in `ctx`; `ups` is its upstream state. */
  block(ctx: Ctx, ups?: UpsState): void;
  /** `ngx_conf_parse(cf, filename)`: reads an included file in the current context. */
  file(text: string | Uint8Array, path: string): void;
  /** After an error on a statement that opened a block: walk that block in `ctx` (lenient). */
  recover(st: Statement, ctx: Ctx): void;
  /** A directive we do not interpret: walk its block, if it has one, in `inner` (raw for a text block). */
  skip(st: Statement, inner: Ctx): void;
  /** Where the reader of the current file stands. */
  position(): { line: number; column: number };
  /** The current file ended inside a block (reported once). */
  eofReached(): boolean;
}

/** The http modules that pass a request to an upstream, and the stream proxy. */
export type PassModule = 'proxy' | 'grpc' | 'fastcgi' | 'uwsgi' | 'scgi' | 'memcached' | 'stream';

/** What one block sets for one module. */
export interface Settings {
  conditions?: { values: NextUpstreamCondition[]; at: Where };
  tries?: { value: number; at: Where };
  timeout?: { value: number; at: Where };
}

/** A block that can hold these directives: http, server, location; stream, server. */
export interface UseScope {
  readonly parent: UseScope | null;
  readonly ctx: Ctx;
  /** `location /api`, `server` (with its line), `http`, `stream`. */
  readonly label: string;
  readonly set: Map<PassModule, Settings>;
}

/** A `*_pass` seen while walking. */
export interface PassRecord {
  module: PassModule;
  directive: string;
  value: string;
  /** The upstream name it would name (lower case), or null (variables, a URL with a port, ...). */
  host: string | null;
  scope: UseScope;
  at: Where;
}

/** The state this module keeps across one parse. */
export interface UseState {
  scope: UseScope | null;
  readonly passes: PassRecord[];
}
