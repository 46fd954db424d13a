/**
 * Where an upstream is used, and what moves a request on from one of its servers: the `*_pass`
 * directives that name it (http `proxy_pass`, `grpc_pass`, `fastcgi_pass`, `uwsgi_pass`,
 * `scgi_pass`, `memcached_pass`; stream `proxy_pass`) and the `*_next_upstream`, `*_tries` and
 * `*_timeout` directives in force there. Follows nginx's modules (src/http/modules/
 * ngx_http_proxy_module.c and its twins, src/stream/ngx_stream_proxy_module.c): the value checks of
 * `ngx_conf_set_bitmask_slot` / `_num_slot` / `_msec_slot` / `_flag_slot` with their messages, and
 * the merge (a block inherits each setting it does not set itself from the enclosing block, wherever
 * in that block it was written; a bitmask set twice in one block accumulates).
 * docs/nginx-semantics.md §4.1-4.3.
 */

import { type NextUpstreamCondition, nextUpstreamPolicy } from '../next-upstream';
import type { Command, Conf, Ctx, PassModule, Settings, UseScope, UseState } from './conf';
import { atoi } from './numbers';
import { parseNginxTime } from './time';
import type { Statement } from './tokenizer';
import type { UpstreamConfig, UpstreamUse } from './types';

/** Each http module's `*_next_upstream` values (its `ngx_conf_bitmask_t` table), as the shared condition. */
const CONDITIONS: Readonly<Record<Exclude<PassModule, 'stream'>, ReadonlyMap<string, NextUpstreamCondition>>> = (() => {
  const common = ['error', 'timeout', 'invalid_header', 'non_idempotent', 'http_500'] as const;
  const fcgi = new Map<string, NextUpstreamCondition>(
    [...common, 'http_503', 'http_403', 'http_404', 'http_429', 'updating', 'off'].map((c) => [c, c as NextUpstreamCondition]),
  );
  const all = [...common, 'http_502', 'http_503', 'http_504', 'http_403', 'http_404', 'http_429'] as const;
  return {
    proxy: new Map([...all, 'updating', 'off'].map((c) => [c, c as NextUpstreamCondition])),
    grpc: new Map([...all, 'off'].map((c) => [c, c as NextUpstreamCondition])),
    fastcgi: fcgi,
    uwsgi: fcgi,
    scgi: fcgi,
    memcached: new Map<string, NextUpstreamCondition>([['error', 'error'], ['timeout', 'timeout'], ['invalid_response', 'invalid_header'], ['not_found', 'http_404'], ['off', 'off']]),
  };
})();

const HTTP_MODULES = ['proxy', 'grpc', 'fastcgi', 'uwsgi', 'scgi', 'memcached'] as const;
const HTTP_CONTEXTS: readonly Ctx[] = ['http', 'http-server', 'http-location'];
const STREAM_CONTEXTS: readonly Ctx[] = ['stream', 'stream-server'];

export function useState(): UseState {
  return { scope: null, passes: [] };
}

/** Reads a block (`http`, `server`, `location`, `stream`) as a scope of these settings. */
export function withScope(cf: Conf, ctx: Ctx, label: string, read: () => void): void {
  const uses = cf.core.uses;
  const outer = uses.scope;
  uses.scope = { parent: outer, ctx, label, set: new Map() };
  try {
    read();
  } finally {
    uses.scope = outer;
  }
}

function settingsOf(cf: Conf, module: PassModule): Settings {
  const scope = cf.core.uses.scope!;
  let s = scope.set.get(module);
  if (s === undefined) scope.set.set(module, (s = {}));
  return s;
}

/** `ngx_conf_set_bitmask_slot`: values OR-ed in, case-insensitively; a repeated value is a warning. */
function nextUpstreamValues(cf: Conf, st: Statement, module: Exclude<PassModule, 'stream'>): void {
  const s = settingsOf(cf, module);
  const values = s.conditions?.values ?? [];
  const table = CONDITIONS[module];
  for (const tok of st.args.slice(1)) {
    const c = table.get(tok.text.toLowerCase());
    if (c === undefined) return cf.error(`invalid value "${tok.text}"`, cf.at(st), 'INVALID_VALUE', tok.text);
    if (values.includes(c)) cf.warn(`duplicate value "${tok.text}"`, cf.at(st), 'nginx', undefined);
    else values.push(c);
  }
  s.conditions = { values, at: cf.at(st) };
}

/** stream `proxy_next_upstream on|off` (`ngx_conf_set_flag_slot`). */
function streamNextUpstream(cf: Conf, st: Statement): void {
  const s = settingsOf(cf, 'stream');
  if (s.conditions !== undefined) return cf.error('"proxy_next_upstream" directive is duplicate', cf.at(st), 'DUPLICATE', 'proxy_next_upstream');
  const v = st.args[1]!.text;
  const lower = v.toLowerCase();
  if (lower !== 'on' && lower !== 'off') {
    return cf.error(`invalid value "${v}" in "proxy_next_upstream" directive, it must be "on" or "off"`, cf.at(st), 'INVALID_VALUE', v);
  }
  s.conditions = { values: lower === 'on' ? ['error', 'timeout'] : ['off'], at: cf.at(st) };
}

/** `*_next_upstream_tries N` (`ngx_conf_set_num_slot`). */
function triesDirective(cf: Conf, st: Statement, module: PassModule): void {
  const name = st.args[0]!.text;
  const s = settingsOf(cf, module);
  if (s.tries !== undefined) return cf.error(`"${name}" directive is duplicate`, cf.at(st), 'DUPLICATE', name);
  const n = atoi(st.args[1]!.text);
  if (n === undefined) return cf.error(`"${name}" directive invalid number`, cf.at(st), 'INVALID_VALUE', st.args[1]!.text);
  s.tries = { value: n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n), at: cf.at(st) };
}

/** `*_next_upstream_timeout TIME` (`ngx_conf_set_msec_slot`). */
function timeoutDirective(cf: Conf, st: Statement, module: PassModule): void {
  const name = st.args[0]!.text;
  const s = settingsOf(cf, module);
  if (s.timeout !== undefined) return cf.error(`"${name}" directive is duplicate`, cf.at(st), 'DUPLICATE', name);
  const ms = parseNginxTime(st.args[1]!.text, 'ms');
  if (ms === undefined) return cf.error(`"${name}" directive invalid value`, cf.at(st), 'INVALID_VALUE', st.args[1]!.text);
  s.timeout = { value: Number(ms), at: cf.at(st) };
}

/**
 * The upstream name a `*_pass` value would name, lower-cased (nginx compares upstream names
 * case-insensitively), or null: a value with variables is resolved per request, and a URL with a
 * port names a host, not an upstream block.
 */
function upstreamHost(module: PassModule, value: string): string | null {
  if (value.includes('$')) return null;
  let v = value;
  const schemes = module === 'proxy' ? ['http://', 'https://'] : module === 'grpc' ? ['grpc://', 'grpcs://'] : module === 'uwsgi' ? ['uwsgi://', 'suwsgi://'] : [];
  const scheme = schemes.find((s) => v.toLowerCase().startsWith(s));
  if (scheme !== undefined) v = v.slice(scheme.length);
  else if (module === 'proxy') return null; // nginx: invalid URL prefix
  const end = v.search(/[/?]/);
  if (end >= 0) v = v.slice(0, end);
  if (v.length === 0 || v.startsWith('unix:') || v.includes(':')) return null;
  return v.toLowerCase();
}

function passDirective(cf: Conf, st: Statement, module: PassModule): void {
  const scope = cf.core.uses.scope;
  const value = st.args[1]!.text;
  if (scope !== null) cf.core.uses.passes.push({ module, directive: st.args[0]!.text, value, host: upstreamHost(module, value), scope, at: cf.at(st) });
  if (st.args[0]!.text === 'proxy_pass') {
    const block = cf.ctx === 'stream-server' || cf.ctx === 'http-location' ? cf.ctx : 'other';
    cf.core.proxyDirectives.push({ directive: 'proxy_pass', value, file: st.file, line: st.line, block });
  }
}

/** The rows of these directives (nginx's modules allow the settings in every level, `*_pass` where shown). */
export const UPSTREAM_USE_COMMANDS: readonly Command<void>[] = [
  ...HTTP_MODULES.flatMap((m): Command<void>[] => [
    { name: `${m}_next_upstream`, contexts: HTTP_CONTEXTS, block: false, args: '1+', handler: (cf, st) => nextUpstreamValues(cf, st, m) },
    { name: `${m}_next_upstream_tries`, contexts: HTTP_CONTEXTS, block: false, args: '1', handler: (cf, st) => triesDirective(cf, st, m) },
    { name: `${m}_next_upstream_timeout`, contexts: HTTP_CONTEXTS, block: false, args: '1', handler: (cf, st) => timeoutDirective(cf, st, m) },
  ]),
  // http proxy_pass: location, `if` in location, limit_except (the `if` blocks are not walked)
  ...HTTP_MODULES.map((m): Command<void> => ({ name: `${m}_pass`, contexts: ['http-location'], block: false, args: '1', handler: (cf, st) => passDirective(cf, st, m) })),
  { name: 'proxy_next_upstream', contexts: STREAM_CONTEXTS, block: false, args: 'flag', handler: streamNextUpstream },
  { name: 'proxy_next_upstream_tries', contexts: STREAM_CONTEXTS, block: false, args: '1', handler: (cf, st) => triesDirective(cf, st, 'stream') },
  { name: 'proxy_next_upstream_timeout', contexts: STREAM_CONTEXTS, block: false, args: '1', handler: (cf, st) => timeoutDirective(cf, st, 'stream') },
  { name: 'proxy_pass', contexts: ['stream-server'], block: false, args: '1', handler: (cf, st) => passDirective(cf, st, 'stream') },
];

/** The settings in force in `scope` for `module`: each one from the innermost block that sets it. */
function merged(scope: UseScope, module: PassModule): { conditions?: Settings['conditions']; tries?: Settings['tries']; timeout?: Settings['timeout'] } {
  const out: Settings = {};
  for (let s: UseScope | null = scope; s !== null; s = s.parent) {
    const set = s.set.get(module);
    if (set === undefined) continue;
    out.conditions ??= set.conditions;
    out.tries ??= set.tries;
    out.timeout ??= set.timeout;
  }
  return out;
}

function scopePath(scope: UseScope): string[] {
  const out: string[] = [];
  for (let s: UseScope | null = scope; s !== null; s = s.parent) out.unshift(s.label);
  return out;
}

/** Every use of the parsed upstreams, in the order the `*_pass` lines appear. */
export function upstreamUses(state: UseState, upstreams: readonly UpstreamConfig[]): UpstreamUse[] {
  const byName = { http: new Map<string, UpstreamConfig>(), stream: new Map<string, UpstreamConfig>() };
  for (const u of upstreams) if (!u.misplaced) byName[u.context].set(u.name.toLowerCase(), u);
  const out: UpstreamUse[] = [];
  for (const p of state.passes) {
    if (p.host === null) continue;
    const context = p.module === 'stream' ? 'stream' : 'http';
    const u = byName[context].get(p.host);
    if (u === undefined) continue;
    const m = merged(p.scope, p.module);
    const values = m.conditions?.values ?? ['error', 'timeout'];
    out.push({
      upstream: u.name,
      context,
      directive: p.directive,
      value: p.value,
      file: p.at.file,
      line: p.at.line,
      where: scopePath(p.scope),
      nextUpstream: nextUpstreamPolicy(values.length === 0 ? ['error', 'timeout'] : values, { tries: m.tries?.value ?? 0, timeout: m.timeout?.value ?? 0 }),
      setAt: { conditions: m.conditions?.at ?? null, tries: m.tries?.at ?? null, timeout: m.timeout?.at ?? null },
    });
  }
  return out;
}
