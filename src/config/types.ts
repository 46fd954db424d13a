/**
 * The public types of the nginx configuration parser: its options and everything `parseConfig`
 * returns. `nginx.ts` re-exports them; the walker and the modules (conf-file.ts, upstream.ts, ...)
 * build them. Types only.
 */

import type { ConfigError } from '../errors';
import type { NextUpstreamPolicy } from '../next-upstream';
import type { BalancerOptions, NginxTarget, ServerOptions } from '../options';
import type { StickyConfig } from '../sticky/types';

/**
 * Where `include` may read (docs/config.md, "Includes from untrusted text"):
 * - `prefix` (the default): only under the prefix directory, checked on the normalised path and,
 *   with the default reader, on the real path (symlinks resolved); anything else is refused
 *   (`INCLUDE_REFUSED`) whether or not it exists. With the default reader the prefix must be given
 *   (`prefix`, or a directory in `filename`): the current directory is never a prefix by default.
 * - `anywhere`: nginx's own behaviour (absolute paths, `..`), for text from a trusted operator;
 *   the CLI uses it.
 * - `off`: every `include` is an error (`INCLUDE_REFUSED`); nothing is read.
 *
 * Whatever the policy: only regular files, at most `maxFileBytes` each, `maxIncludeFiles` files
 * and `maxIncludeBytes` bytes per parse, cycles found on canonical paths.
 */
export type IncludePolicy = 'prefix' | 'anywhere' | 'off';

/** Options of `parseUpstreams` / `parseConfig`. */
export interface ParseOptions {
  /** Name used in messages and as the base of relative includes; default `nginx.conf`. */
  filename?: string;
  /** The nginx series whose `nginx -t` the parse copies (accepted directives and parameters); default `'1.30'`. */
  nginx?: NginxTarget;
  /**
   * Reads an included file (sync). It receives the path normalised (`.`, `..` and repeated `/`
   * resolved), after the `includes` policy allowed it. Default: `readConfigBytes` (a regular file
   * only, at most `maxFileBytes`, never blocking on a FIFO or a device).
   */
  readFile?: (path: string) => string | Uint8Array;
  /**
   * Expands an `include` with `*`, `?` or `[` (nginx uses glob(3)); each path it returns is then
   * checked and read like a plain include. Default: a one-directory matcher on `node:fs` without
   * backtracking, hidden names only for a pattern starting with `.`, sorted, at most
   * `MAX_GLOB_ENTRIES` directory entries read per parse.
   */
  glob?: (pattern: string) => string[];
  /** nginx's configuration prefix: relative includes resolve against it; default the directory of `filename`. */
  prefix?: string;
  /**
   * The file is a fragment included from inside `http { }` or `stream { }` (a conf.d file): its top
   * level is read as the inside of that block, as nginx reads an `include` there. Default: the file
   * is a main configuration (its top level is nginx's main context).
   */
  fragment?: 'http' | 'stream';
  /**
   * What a missing include file is (nginx: `open() "PATH" failed (2: No such file or directory)`):
   * `'error'` (the default, as nginx) or `'warn'`: a warning of kind `note` with `include` set to the
   * path, and the parse goes on without the file (to check a config whose includes live on another
   * machine). Only a file that does not exist (ENOENT) is affected; a pattern that matches nothing
   * is fine in nginx anyway.
   */
  missingIncludes?: 'error' | 'warn';
  /**
   * Called with every warning as it is found, in order: also the ones a strict parse found before
   * the error it throws (nginx -t prints those `[warn]` lines before its `[emerg]`).
   */
  onWarning?: (warning: ConfigWarning) => void;
  /** Where `include` may read; default `'prefix'` (see `IncludePolicy`). */
  includes?: IncludePolicy;
  /** Largest included file, in bytes (UTF-8); default `MAX_CONFIG_FILE_BYTES` (8 MiB). */
  maxFileBytes?: number;
  /** Files included (read) in one parse, every repetition counted; default `MAX_INCLUDE_FILES` (4096). */
  maxIncludeFiles?: number;
  /** Bytes of included files in one parse, every repetition counted; default `MAX_INCLUDE_BYTES` (32 MiB). */
  maxIncludeBytes?: number;
  /**
   * Lenient mode: errors kept before the parse stops with one last error of kind `TOO_MANY_ERRORS`;
   * default `MAX_ERRORS` (100). Strict mode stops at the first error anyway.
   */
  maxErrors?: number;
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
  /** A missing include reported as a warning (`missingIncludes: 'warn'`): the path nginx would open. */
  include?: string;
}

/** Where a `server` line came from. */
export interface ServerSource {
  file: string;
  line: number;
  column: number;
  /** The words after `server`, as written (after quote processing). */
  words: string[];
}

/** A `resolver` directive as nginx's `ngx_resolver_create` reads it. */
export interface ResolverConfig {
  /** The name servers, `ADDR[:PORT]` as written (port 53 when absent). */
  addresses: string[];
  /** `valid=TIME` in ms: overrides every answer's TTL; undefined = the TTL. */
  validMs?: number;
  ipv4: boolean;
  ipv6: boolean;
  /** Where the directive is (the upstream block, or the http / stream block it falls back to). */
  source: { file: string; line: number; column: number };
}

/** One `server NAME[:PORT] resolve [service=NAME]` line. */
export interface ResolveServerConfig {
  /** The line's id (the address as written; `ADDR#2` for a repeated line): the prefix of its peers' ids. */
  id: string;
  /** The host name to resolve. */
  host: string;
  /** The port of its peers (A/AAAA); 0 with `service=` (the SRV records say). */
  port: number;
  /** `service=NAME`: the SRV records of `_NAME._tcp.HOST`, or of `NAME.HOST` when NAME has a dot (`ngx_resolve_name`). */
  service?: string;
  /** The line's parameters (`address` as written), which every peer of the name gets. */
  server: ServerOptions;
  source: ServerSource;
}

/** What a resolver of one upstream needs (`UpstreamConfig.resolve`). */
export interface UpstreamResolveConfig {
  /** The `resolve` lines, in order. */
  servers: ResolveServerConfig[];
  /** The upstream's `resolver`, else the http / stream block's. */
  resolver: ResolverConfig;
  /** `resolver_timeout` in ms: the upstream's, else the http / stream block's, else 30000. */
  timeoutMs: number;
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
  /** Where the upstream's (last) `check` line is (check module). */
  checkSource?: { file: string; line: number; column: number };
  /** `check_keepalive_requests N` (check module). */
  checkKeepaliveRequests?: number;
  /**
   * nginx 1.30: the `server NAME resolve` lines (not in `options.servers`: their peers come from DNS)
   * and the resolver they use. See docs/dns.md.
   */
  resolve?: UpstreamResolveConfig;
  /** The balancing directive as written, e.g. `hash $remote_addr consistent`; undefined = round robin. */
  methodDirective?: string;
  /** One entry per server, in order. */
  serverSources: ServerSource[];
  /** Lenient mode: the block sits where nginx rejects it; `context` is a guess (stream outside http). */
  misplaced?: boolean;
  /**
   * nginx 1.30: the `sticky` directive (cookie, route or learn; src/sticky/types.ts). Absent when a
   * balancing directive after it replaced its handler (nginx then keeps no sessions; a note says so).
   */
  sticky?: StickyConfig;
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
  /** Every `*_pass` that names a parsed upstream, with the next-upstream policy in force there. */
  uses: UpstreamUse[];
}

/** A `listen` or `proxy_pass` line found while walking the configuration. */
export interface ProxyDirective {
  directive: 'listen' | 'proxy_pass';
  value: string;
  file: string;
  line: number;
  /** The block kind it sat in: `stream-server`, `http-server`, `http-location`, `http`, `stream` (misplaced there), or `other`. */
  block: string;
}

/** One upstream's use by a `*_pass`, with the next-upstream policy in force there. */
export interface UpstreamUse {
  /** The upstream block's name, as it is written in its `upstream` line. */
  upstream: string;
  context: 'http' | 'stream';
  /** `proxy_pass`, `grpc_pass`, ... */
  directive: string;
  value: string;
  file: string;
  line: number;
  /** The enclosing blocks, outermost first: `http`, `server (file:line)`, `location /api`. */
  where: string[];
  /** `*_next_upstream`, `*_next_upstream_tries` and `*_next_upstream_timeout` in force there. */
  nextUpstream: NextUpstreamPolicy;
  /** Where each of the three was set (`null`: nginx's default). */
  setAt: { conditions: { file: string; line: number; column: number } | null; tries: { file: string; line: number; column: number } | null; timeout: { file: string; line: number; column: number } | null };
}
