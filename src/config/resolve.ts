/**
 * Host names in `server` lines with nginx 1.30.4's semantics, on the configuration side: the
 * `resolve` and `service=NAME` parameters (`ngx_http_upstream_server`, `ngx_stream_upstream_server`
 * in src/http/ngx_http_upstream.c, src/stream/ngx_stream_upstream.c), the upstream-level `resolver`
 * and `resolver_timeout` directives (`ngx_http_upstream_resolver`, `ngx_resolver_create` in
 * src/core/ngx_resolver.c), the http / stream-level `resolver` the upstream falls back to, and the
 * checks of the round-robin init (`ngx_http_upstream_init_round_robin`: a zone is needed, a resolver
 * with at least one address is needed). nginx 1.22 has none of it: there `resolve` stays an
 * `invalid parameter` and `resolver` is not allowed inside `upstream`.
 *
 * What a resolver needs is returned on the upstream as `UpstreamConfig.resolve` (docs/dns.md).
 * A `resolve` line is no peer until its name resolves, so it is left out of `options.servers`; when
 * that would leave no primary server, the first `resolve` line stands in as its template, `down`
 * (never picked: the Balancer needs a primary, nginx has none before the first answer).
 * State is kept beside the parser's (WeakMaps keyed by the upstream block and the parse).
 */

import type { BalancerOptions, NginxTarget, ServerOptions } from '../options';
import { addressError, isIPv6 } from './address';
import { type Command, type Conf, type ServerRec, type UpsState, type UpstreamMain, type Where, upstreamCommand } from './conf';
import { parseNginxTime } from './time';
import type { Statement, Token } from './tokenizer';
import type { ResolverConfig, ResolveServerConfig, UpstreamConfig, UpstreamResolveConfig } from './types';

/** Per upstream block: the `resolve` lines and the upstream's own directives. */
interface BlockState {
  lines: Map<ServerRec, { host: string; port: number; service?: string }>;
  resolver?: ResolverConfig;
  timeoutMs?: number;
  timeoutSeen: boolean;
}

/** Per parse and module: the http / stream block's `resolver` and `resolver_timeout`. */
interface ModuleState {
  resolver?: ResolverConfig;
  timeoutMs?: number;
}

const blocks = new WeakMap<UpsState, BlockState>();
/** Each upstream's result by its options object (`Balancer.fromNginx` finds the lines and sources of its upstream). */
const configs = new WeakMap<BalancerOptions, UpstreamConfig>();

/** The parsed upstream whose `options` this is (the object `parseUpstreams` returned), if any. */
export function upstreamOf(options: BalancerOptions): UpstreamConfig | undefined {
  return configs.get(options);
}

/** The result of each block with `resolve` lines: its resolver is settled after the http / stream block. */
const results = new WeakMap<UpsState, UpstreamResolveConfig>();
const modules = new WeakMap<UpstreamMain, { http: ModuleState; stream: ModuleState }>();

function blockState(u: UpsState): BlockState {
  let s = blocks.get(u);
  if (s === undefined) blocks.set(u, (s = { lines: new Map(), timeoutSeen: false }));
  return s;
}

function moduleState(cf: Conf, context: 'http' | 'stream'): ModuleState {
  let s = modules.get(cf.upstream);
  if (s === undefined) modules.set(cf.upstream, (s = { http: {}, stream: {} }));
  return s[context];
}

/** The nginx series the parse copies (the walker's `target`; 1.30 when absent). */
export function targetOf(cf: Conf): NginxTarget {
  return (cf as Conf & { readonly target?: NginxTarget }).target ?? '1.30';
}

/** The `resolve` / `service=` words of one `server` line while its parameters are read. */
export interface ResolveWords {
  resolve: boolean;
  service?: string;
}

/**
 * One parameter of a `server` line that the upstream module did not take: nginx 1.30's `resolve`
 * and `service=NAME`. Returns `'taken'`, `'no'` (not ours: the caller says `invalid parameter`) or
 * `'error'` (reported: the line is dropped).
 */
export function resolveParameter(cf: Conf, st: Statement, tok: Token, words: ResolveWords): 'taken' | 'no' | 'error' {
  if (targetOf(cf) === '1.22') return 'no';
  const t = tok.text;
  if (t === 'resolve') {
    words.resolve = true;
    return 'taken';
  }
  if (t.startsWith('service=')) {
    words.service = t.slice(8);
    if (words.service.length === 0) {
      cf.error('service is empty', cf.at(st), 'INVALID_PARAMETER', t);
      return 'error';
    }
    return 'taken';
  }
  return 'no';
}

/** Whether `host` is an address literal (nginx's `u.naddrs` without resolving). */
function isLiteral(host: string): boolean {
  if (host.startsWith('[')) return true;
  return /^[0-9]{1,3}(\.[0-9]{1,3}){3}$/.test(host) && host.split('.').every((o) => Number(o) <= 255);
}

/** `NAME[:PORT]` split as `ngx_parse_inet_url` does for a name (IPv6 literals are never names). */
function splitHostPort(url: string, defaultPort: number): { host: string; port: number; hasPort: boolean } {
  if (url.startsWith('[')) {
    const close = url.indexOf(']');
    const rest = url.slice(close + 1);
    return { host: url.slice(1, close), port: rest.startsWith(':') ? Number(rest.slice(1)) : defaultPort, hasPort: rest.startsWith(':') };
  }
  const colon = url.indexOf(':');
  if (colon < 0) return { host: url, port: defaultPort, hasPort: false };
  return { host: url.slice(0, colon), port: Number(url.slice(colon + 1)), hasPort: true };
}

/**
 * The address of a `server` line with its `resolve` / `service=` words, checked in nginx 1.30's
 * order: `service=` needs `resolve`; the address (a stream `service=` needs no port); `service=`
 * takes no port and no address literal. Returns nginx's message, or undefined.
 */
export function resolveAddressError(url: string, context: 'http' | 'stream', words: ResolveWords): string | undefined {
  if (words.service !== undefined && !words.resolve) return `service upstream "${url}" requires "resolve" parameter`;
  const err = addressError(url, words.service !== undefined ? 'http' : context);
  if (err !== undefined) return err;
  if (url.toLowerCase().startsWith('unix:')) return undefined;
  const { host, hasPort } = splitHostPort(url, 80);
  if (words.service !== undefined && hasPort) return `service upstream "${url}" may not have port`;
  if (words.service !== undefined && (isLiteral(`${host}`) || isIPv6(host))) return `service upstream "${url}" requires domain name`;
  return undefined;
}

/**
 * Records a `server` line that named `resolve` with a host name (an address literal with `resolve`
 * is an ordinary server in nginx: it has its address).
 */
export function noteResolveLine(u: UpsState, rec: ServerRec, words: ResolveWords): void {
  if (!words.resolve || rec.address.toLowerCase().startsWith('unix:')) return;
  const { host, port } = splitHostPort(rec.address, 80);
  if (words.service === undefined && (isLiteral(host) || isIPv6(host))) return;
  blockState(u).lines.set(rec, { host, port: words.service === undefined ? port : 0, ...(words.service === undefined ? {} : { service: words.service }) });
}

/** Whether a `server` line of the block is a `resolve` line with a host name. */
export function isResolveLine(u: UpsState, rec: ServerRec): boolean {
  return blocks.get(u)?.lines.has(rec) === true;
}

/** `resolver ADDRESS ... [valid=TIME] [ipv4=on|off] [ipv6=on|off]`, read as `ngx_resolver_create` reads it. */
function readResolver(cf: Conf, st: Statement): ResolverConfig | undefined {
  const r: ResolverConfig = { addresses: [], ipv4: true, ipv6: true, source: cf.at(st) };
  for (const tok of st.args.slice(1)) {
    const t = tok.text;
    const invalid = (): undefined => void cf.error(`invalid parameter: ${t}`, cf.at(st), 'INVALID_PARAMETER', t);
    if (t.startsWith('valid=')) {
      const v = parseNginxTime(t.slice(6), 's');
      if (v === undefined) return invalid();
      r.validMs = Number(v) * 1000;
    } else if (t.startsWith('ipv4=') || t.startsWith('ipv6=')) {
      const v = t.slice(5);
      if (v !== 'on' && v !== 'off') return invalid();
      r[t.startsWith('ipv4') ? 'ipv4' : 'ipv6'] = v === 'on';
    } else {
      const err = addressError(t, 'http');
      if (err !== undefined) {
        cf.error(err.replace(/ in upstream "/, ' in resolver "'), cf.at(st), 'ADDRESS', t);
        return undefined;
      }
      r.addresses.push(t);
    }
  }
  if (!r.ipv4 && !r.ipv6) {
    cf.error('"ipv4" and "ipv6" cannot both be "off"', cf.at(st), 'INVALID_PARAMETER', st.args.slice(1).map((a) => a.text).join(' '));
    return undefined;
  }
  if (r.addresses.length === 0) {
    cf.error('no name servers defined', cf.at(st), 'INVALID_PARAMETER', st.args.slice(1).map((a) => a.text).join(' '));
    return undefined;
  }
  if (r.validMs === undefined) delete r.validMs;
  return r;
}

function upstreamResolver(cf: Conf, st: Statement, u: UpsState): void {
  if (targetOf(cf) === '1.22') return cf.notAllowed(st);
  const s = blockState(u);
  if (s.resolver !== undefined) return cf.error('"resolver" directive is duplicate', cf.at(st), 'DUPLICATE', 'resolver');
  const r = readResolver(cf, st);
  if (r !== undefined) s.resolver = r;
}

/** `resolver_timeout TIME` (`ngx_conf_set_msec_slot`). */
function readTimeout(cf: Conf, st: Statement, seen: boolean): number | undefined {
  if (seen) {
    cf.error('"resolver_timeout" directive is duplicate', cf.at(st), 'DUPLICATE', 'resolver_timeout');
    return undefined;
  }
  const v = parseNginxTime(st.args[1]!.text, 'ms');
  if (v === undefined) {
    cf.error('"resolver_timeout" directive invalid value', cf.at(st), 'INVALID_VALUE', st.args[1]!.text);
    return undefined;
  }
  return Number(v);
}

function upstreamTimeout(cf: Conf, st: Statement, u: UpsState): void {
  if (targetOf(cf) === '1.22') return cf.notAllowed(st);
  const s = blockState(u);
  const v = readTimeout(cf, st, s.timeoutSeen);
  s.timeoutSeen = true;
  if (v !== undefined) s.timeoutMs = v;
}

/** The upstream block's rows (nginx 1.30; nginx 1.22 says `not allowed here`, as for any http directive). */
export const RESOLVE_UPSTREAM_COMMANDS: readonly Command<UpsState>[] = [
  upstreamCommand('resolver', ['ups-http', 'ups-stream'], '1+', upstreamResolver),
  upstreamCommand('resolver_timeout', ['ups-http', 'ups-stream'], '1', upstreamTimeout),
];

/**
 * The http and stream blocks' own `resolver` and `resolver_timeout` (the core modules' main
 * conf, which an upstream without its own falls back to). Only read: nginx checks them as its core
 * modules do, which this parser does not model (it skips them elsewhere as well).
 */
export const RESOLVE_BLOCK_COMMANDS: readonly Command<void>[] = [
  {
    name: 'resolver',
    contexts: ['http', 'stream'],
    block: false,
    args: '1+',
    handler: (cf, st) => {
      const m = moduleState(cf, cf.ctx === 'http' ? 'http' : 'stream');
      const words = st.args.slice(1).map((a) => a.text);
      const r: ResolverConfig = { addresses: words.filter((w) => !/^(valid|ipv4|ipv6)=/.test(w)), ipv4: !words.includes('ipv4=off'), ipv6: !words.includes('ipv6=off'), source: cf.at(st) };
      const valid = words.find((w) => w.startsWith('valid='));
      const v = valid === undefined ? undefined : parseNginxTime(valid.slice(6), 's');
      if (v !== undefined) r.validMs = Number(v) * 1000;
      m.resolver = r;
    },
  },
  {
    name: 'resolver_timeout',
    contexts: ['http', 'stream'],
    block: false,
    args: '1',
    handler: (cf, st) => {
      const v = parseNginxTime(st.args[1]!.text, 'ms');
      if (v !== undefined) moduleState(cf, cf.ctx === 'http' ? 'http' : 'stream').timeoutMs = Number(v);
    },
  },
];

/**
 * The round-robin init's checks of one upstream (nginx 1.30, after its http / stream block): with a
 * zone, a `resolve` line needs a resolver with an address; without one, `resolve` needs a zone.
 * Every method of nginx 1.30 may resolve at run time (`NGX_HTTP_UPSTREAM_MODIFY`). Returns false
 * after reporting an error.
 */
export function checkResolve(cf: Conf, u: UpsState): boolean {
  const s = blocks.get(u);
  if (s === undefined || s.lines.size === 0) return true;
  const where = { file: u.file, line: u.line, column: u.column };
  if (u.zone === undefined) {
    cf.error(`resolving names at run time requires upstream "${u.name}" in ${u.file}:${u.line} to be in shared memory`, where, 'RESOLVE', u.name);
    return false;
  }
  const m = moduleState(cf, u.context);
  const resolver = s.resolver ?? m.resolver;
  const r = results.get(u);
  if (r !== undefined && resolver !== undefined) r.resolver = resolver;
  if (r !== undefined) r.timeoutMs = s.timeoutMs ?? m.timeoutMs ?? 30_000;
  if (resolver === undefined || resolver.addresses.length === 0) {
    cf.error(`no resolver defined to resolve names at run time in upstream "${u.name}"`, where, 'RESOLVE', u.name);
    return false;
  }
  return true;
}

/**
 * The servers of the block that are peers from the start: every line but the `resolve` ones; if
 * no primary is left, the first primary `resolve` line as its template, `down`.
 */
export function staticServers(u: UpsState): ServerRec[] {
  const s = blocks.get(u);
  if (s === undefined || s.lines.size === 0) return u.servers;
  const kept = u.servers.filter((r) => !s.lines.has(r));
  if (kept.some((r) => !r.backup)) return kept;
  const template = u.servers.find((r) => s.lines.has(r) && !r.backup);
  return template === undefined ? kept : [{ ...template, down: true }, ...kept];
}

/**
 * Adds `resolve` to the upstream's result when it has `resolve` lines (at the end of the upstream
 * block; `checkResolve` settles the fallback to the http / stream block's resolver later).
 */
export function attachResolve(cf: Conf, u: UpsState, r: UpstreamConfig, serverOptions: (s: ServerRec) => ServerOptions): void {
  configs.set(r.options, r);
  const s = blocks.get(u);
  if (s === undefined || s.lines.size === 0) return;
  const m = moduleState(cf, u.context);
  const resolver = s.resolver ?? m.resolver ?? { addresses: [], ipv4: true, ipv6: true, source: { file: u.file, line: u.line, column: u.column } };
  const servers: ResolveServerConfig[] = [];
  for (const [rec, line] of s.lines) {
    servers.push({ id: rec.id, host: line.host, port: line.port, ...(line.service === undefined ? {} : { service: line.service }), server: serverOptions(rec), source: rec.source });
  }
  const resolve: UpstreamResolveConfig = { servers, resolver, timeoutMs: s.timeoutMs ?? m.timeoutMs ?? 30_000 };
  results.set(u, resolve);
  r.resolve = resolve;
}
