/**
 * The public types of the nginx configuration parser: its options and everything `parseConfig`
 * returns. `nginx.ts` re-exports them; the walker and the modules (conf-file.ts, upstream.ts, ...)
 * build them. Types only.
 */

import type { ConfigError } from '../errors';
import type { BalancerOptions } from '../options';

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
