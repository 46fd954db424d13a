/**
 * nginx configuration parser: `upstream` blocks in, `BalancerOptions` out, errors like `nginx -t`.
 *
 * The module's public face. The work is split as nginx splits it: conf-file.ts walks the statements
 * (`ngx_conf_parse` / `ngx_conf_handler`), include.ts reads includes (`ngx_conf_include`), core.ts
 * has the main, events, http and stream blocks, upstream.ts the upstream modules (`server`, the
 * balancing directives, keepalive, zone) and builds the results, check.ts the check module's
 * directives (yaoweibin / Tengine, docs/nginx-semantics.md §7.1; known unless `checkModule: false`),
 * address.ts `ngx_parse_url`. One pass; the first error stops a strict parse with nginx's own
 * message at nginx's line. See docs/config.md for the extensions and every known divergence.
 *
 * Cost: O(input size) time; memory O(number of upstream servers) plus the longest token.
 */

import { ConfigError } from '../errors';
import type { BalancerOptions } from '../options';
import { Walker } from './conf-file';
import { upstreamUses } from './upstream-use';
import type { ConfigResult, ParseOptions, UpstreamConfig } from './types';

export type { ConfigResult, ConfigWarning, ParseOptions, ProxyDirective, ServerSource, UpstreamConfig, UpstreamUse } from './types';

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
export function parseConfig(text: string | Uint8Array, opts: ParseOptions = {}): ConfigResult {
  if (typeof text !== 'string' && !(text instanceof Uint8Array)) {
    throw new ConfigError(`Expected configuration text to be a string or bytes (Uint8Array), got ${typeof text}`, { file: opts.filename ?? 'nginx.conf', line: 1, column: 1 }, 'INPUT', text);
  }
  const filename = opts.filename ?? 'nginx.conf';
  const w = new Walker(opts, filename);
  w.parseMain(text, filename);
  if (!opts.lenient && w.errors.length > 0) throw w.errors[0]!;
  return {
    upstreams: w.upstream.results,
    errors: w.errors,
    warnings: w.warnings,
    files: w.includes.files,
    proxyDirectives: w.core.proxyDirectives,
    uses: upstreamUses(w.core.uses, w.upstream.results),
  };
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
export function parseUpstreams(text: string | Uint8Array, opts: Omit<ParseOptions, 'lenient'> = {}): UpstreamConfig[] {
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
  text: string | Uint8Array,
  name?: string,
  opts: Omit<ParseOptions, 'lenient'> & { context?: 'http' | 'stream' } = {},
): BalancerOptions {
  return upstreamFromNginx(text, name, opts).options;
}

/**
 * The whole `UpstreamConfig` of one upstream (its `sticky` too), chosen as `balancerOptionsFromNginx`
 * chooses it, with the same errors.
 */
export function upstreamFromNginx(
  text: string | Uint8Array,
  name?: string,
  opts: Omit<ParseOptions, 'lenient'> & { context?: 'http' | 'stream' } = {},
): UpstreamConfig {
  const file = opts.filename ?? 'nginx.conf';
  const all = parseUpstreams(text, opts).filter((u) => opts.context === undefined || u.context === opts.context);
  const where = { file, line: 1, column: 1 };
  if (name === undefined) {
    if (all.length === 1) return all[0]!;
    if (all.length === 0) throw new ConfigError(`no upstream block in ${file}`, where, 'NO_UPSTREAM');
    throw new ConfigError(
      `${all.length} upstream blocks in ${file} (${all.map((u) => `${u.context} "${u.name}"`).join(', ')}): name the one to use`,
      where,
      'UPSTREAM_AMBIGUOUS',
      all.map((u) => u.name),
    );
  }
  const found = all.filter((u) => u.name === name);
  if (found.length === 1) return found[0]!;
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
