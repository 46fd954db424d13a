/**
 * `Balancer.fromNginx`: a Balancer built from nginx configuration text. It lives on the config
 * side so that the core (src/balancer.ts) loads no parser and no `node:fs`; the package root
 * exports this subclass as `Balancer`, which adds only the static constructors (`fromNginx`, and
 * `fromNginxAsync`, which resolves host names at load as nginx does; both attach the re-resolution
 * of `resolve` lines, src/resolve/, docs/dns.md).
 */

import { Balancer as CoreBalancer } from '../balancer';
import { monotonicClock, wholeSeconds } from '../clock';
import type { BalancerOptions } from '../options';
import { type ParseOptions, balancerOptionsFromNginx } from './nginx';
import type { DnsClient } from '../resolve/dns';
import { expandHostNames, type HostLookup, type LineSource } from '../resolve/load';
import { NameResolver } from '../resolve/resolver';
import { methodSpec } from '../methods';
import { upstreamOf } from './resolve';
import type { UpstreamConfig } from './types';

/** Options of `Balancer.fromNginx`: where the text came from, and runtime options a config cannot say. */
export interface FromNginxOptions extends Omit<ParseOptions, 'lenient'> {
  /** Pick the upstream from this context when the name exists in both. */
  context?: 'http' | 'stream';
  /** Default: whole seconds of `performance.now()`, like nginx's `ngx_time()`. */
  clock?: BalancerOptions['clock'];
  rng?: BalancerOptions['rng'];
  timers?: BalancerOptions['timers'];
  /** `proxy_next_upstream_tries` (it lives outside the upstream block). */
  tries?: number;
  /** The DNS client of `resolve` servers; default node:dns asking the `resolver` addresses (docs/dns.md). */
  dns?: DnsClient;
  /** `fromNginxAsync`: how host names of `server` lines are resolved at load; default the system resolver (getaddrinfo). */
  hostLookup?: HostLookup;
}

/**
 * The options of the `upstream` block named `name` (or the only one) of nginx configuration text,
 * with the runtime options added. Throws `ConfigError` with nginx's message, file, line and column.
 */
export function fromNginxOptions(text: string, name?: string, options: FromNginxOptions = {}): BalancerOptions {
  return load(text, name, options).options;
}

/** The options (with the runtime ones) and the parsed upstream they came from. */
function load(text: string, name: string | undefined, options: FromNginxOptions): { options: BalancerOptions; config: UpstreamConfig | undefined } {
  const { clock, rng, timers, tries, context, dns: _dns, hostLookup: _lookup, ...parse } = options;
  const base = balancerOptionsFromNginx(text, name, { ...parse, ...(context === undefined ? {} : { context }) });
  const config = upstreamOf(base);
  const o: BalancerOptions = {
    ...base,
    clock: clock ?? wholeSeconds(monotonicClock),
    ...(rng === undefined ? {} : { rng }),
    ...(timers === undefined ? {} : { timers }),
    ...(tries === undefined ? {} : { tries }),
  };
  return { options: o, config };
}

export class Balancer extends CoreBalancer {
  /**
   * Builds a balancer from nginx configuration text: the `upstream` block named `name`, or the only
   * one. Throws `ConfigError` with nginx's message, file, line and column for invalid text.
   * Its default clock counts whole seconds, as nginx's does, so `fail_timeout=3s` excludes a server
   * for 3 to 4 s exactly as nginx would; pass `clock` to choose another.
   * An upstream with `server NAME resolve` lines (nginx 1.30) gets a `NameResolver` attached:
   * `start()` starts the re-resolution, `close()` stops it (docs/dns.md; `dns` injects the client).
   * A host name without `resolve` stays one server here; `fromNginxAsync` resolves it as nginx does.
   *
   * @example
   * const b = Balancer.fromNginx(`stream { upstream smtp {
   *   server 10.0.0.1:10025 max_fails=3 fail_timeout=3s;
   *   server 10.0.0.2:10025 backup;
   * } }`, 'smtp');
   */
  static fromNginx(text: string, name?: string, options: FromNginxOptions = {}): Balancer {
    const { options: o, config } = load(text, name, options);
    return withResolver(new this(o), config, options);
  }

  /**
   * `fromNginx` with nginx's load-time resolution: each `server` line whose address is a host name
   * becomes one server per address (A and AAAA, in the system resolver's order; ids `LINE@IP:PORT`),
   * and a name that does not resolve is nginx's `host not found in upstream "NAME"` (`ConfigError`
   * at the line). `resolve` lines are left to the attached resolver, as in `fromNginx` (docs/dns.md).
   *
   * @example
   * const b = await Balancer.fromNginxAsync('http { upstream u { server localhost:8080; } }');
   * b.servers.map((s) => s.id); // ['localhost:8080@127.0.0.1:8080', 'localhost:8080@[::1]:8080']
   */
  static async fromNginxAsync(text: string, name?: string, options: FromNginxOptions = {}): Promise<Balancer> {
    const { options: o, config } = load(text, name, options);
    if (config !== undefined) {
      const skip = new Set(config.resolve?.servers.map((l) => l.id) ?? []);
      o.servers = await expandHostNames(o.servers, sourcesOf(config, o.servers), config.context, options.hostLookup, skip);
    }
    return withResolver(new this(o), config, options);
  }
}

/** Where each server of the upstream's options was written (line ids as the parser forms them). */
function sourcesOf(config: UpstreamConfig, servers: readonly { id?: string; address: string }[]): (LineSource | undefined)[] {
  const byId = new Map<string, LineSource>();
  const count = new Map<string, number>();
  for (const src of config.serverSources) {
    const address = src.words[0]!;
    const n = (count.get(address) ?? 0) + 1;
    count.set(address, n);
    byId.set(n === 1 ? address : `${address}#${n}`, { file: src.file, line: src.line, column: src.column });
  }
  return servers.map((s) => byId.get(s.id ?? s.address));
}

/** Attaches the `NameResolver` of the upstream's `resolve` lines, if it has any. */
function withResolver(balancer: Balancer, config: UpstreamConfig | undefined, options: FromNginxOptions): Balancer {
  const resolve = config?.resolve;
  if (resolve === undefined) return balancer;
  const servers = config!.options.servers;
  const resolver = new NameResolver(
    balancer,
    {
      lines: resolve.servers.map((l) => ({ id: l.id, host: l.host, port: l.port, ...(l.service === undefined ? {} : { service: l.service }), server: l.server })),
      servers: resolve.resolver.addresses,
      ...(resolve.resolver.validMs === undefined ? {} : { validMs: resolve.resolver.validMs }),
      ipv4: resolve.resolver.ipv4,
      ipv6: resolve.resolver.ipv6,
      timeoutMs: resolve.timeoutMs,
      backupTier: methodSpec(config!.options.method ?? 'round-robin').backup || servers.some((s) => s.backup === true) || resolve.servers.some((l) => l.server.backup === true),
    },
    {
      ...(options.dns === undefined ? {} : { client: options.dns }),
      ...(options.rng === undefined ? {} : { rng: options.rng }),
      ...(options.timers === undefined ? {} : { setTimeout: (fn: () => void, ms: number) => options.timers!.setTimeout(fn, ms), clearTimeout: (h: unknown) => options.timers!.clearTimeout(h) }),
    },
  );
  balancer.attach(resolver);
  return balancer;
}
