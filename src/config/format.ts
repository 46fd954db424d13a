/**
 * Prints `BalancerOptions` as an nginx `upstream` block that `parseUpstreams` reads back to the
 * same options (the round trip is a property test).
 *
 * Server lines are written from the field table (src/server-fields.ts): only the parameters that
 * differ from nginx's defaults (`weight=1`, `max_fails=1`, `fail_timeout=10s`, `max_conns=0`), then
 * the flags. The balancing directive is the method registry's (src/methods.ts); servers come before
 * it when the method does not take backup servers and a backup exists (the ordering nginx requires
 * for that combination, docs/nginx-semantics.md §3.4), after it otherwise. `check` lines use the check module's syntax (milliseconds, no
 * units). Options nginx cannot express (sub-second `failTimeout`, `drain` for nginx 1.22 or in
 * stream, a custom check
 * function, HAProxy-style check extras) throw `InvalidOptionError`. nginx 1.30's `route=` and the
 * `sticky` directive (`FormatOptions.sticky`, written after the balancing directive: one after it
 * would replace its handler) are written for an http upstream of the 1.30 target only. Cost: O(servers).
 */

import { InvalidOptionError, show } from '../errors';
import { type MethodChoice, type MethodSpec, METHOD_SPECS } from '../methods';
import { type BalancerOptions, type CheckOptions, DEFAULT_CHECK, DEFAULT_NGINX_TARGET, type NginxTarget, type ServerOptions } from '../options';
import { FLAG_PARAMS, NUMERIC_PARAMS } from '../server-fields';
import type { StickyConfig } from '../sticky/types';
import { DEFAULT_LEARN_TIMEOUT_MS, MIN_STICKY_ZONE } from './sticky';
import { MAX_ROUTE_LENGTH } from './target-params';
import { formatSeconds } from './time';
import { quoteWord } from './tokenizer';

/** Options of `formatUpstream`. */
export interface FormatOptions {
  /** The hash key expression written after `hash`; default `$remote_addr`. */
  hashKey?: string;
  /** Indentation unit; default four spaces. */
  indent?: string;
  /** Wrap the block in `stream { }` or `http { }`. */
  wrap?: 'stream' | 'http';
  /** The upstream's `sticky` directive (nginx 1.30, http): written after the balancing directive. */
  sticky?: StickyConfig;
}

function cannot(option: string, why: string, value: unknown): never {
  throw new InvalidOptionError(option, `Cannot write \`${option}\` as nginx configuration: ${why}, got \`${show(value)}\``, value);
}

/** The spec of `options.method` (round robin when absent), or undefined for an unknown name. */
export function methodSpecOf(options: BalancerOptions): MethodSpec | undefined {
  const name = options.method ?? 'round-robin';
  return METHOD_SPECS.find((m) => m.name === name);
}

/** The options that refine the method, as the registry's specs take them. */
export function methodChoice(options: BalancerOptions): MethodChoice {
  return { consistent: !!options.hash?.consistent, randomTwo: !!options.randomTwo, randomLeastConn: !!options.randomLeastConn };
}

/**
 * One `server` line from the field table: the numeric parameters that differ from nginx's defaults,
 * then the flags. A flag 1.22 lacks (`drain`) is written for an nginx 1.30 target outside stream.
 */
function serverLine(s: ServerOptions, i: number, target: NginxTarget, wrap: FormatOptions['wrap']): string {
  const words = ['server', quoteWord(s.address)];
  for (const p of NUMERIC_PARAMS) {
    const v = s[p.key];
    if (v === undefined || v === p.default) continue;
    if (p.notIn122 !== undefined) cannot(`servers[${i}].${p.key}`, p.notIn122, v);
    if (!p.seconds) words.push(`${p.nginx}=${v}`);
    else if (!(v >= 0) || v % 1000 !== 0 || !Number.isSafeInteger(v / 1000)) {
      cannot(`servers[${i}].${p.key}`, `nginx takes whole seconds (${p.nginx}=3s)`, v);
    } else words.push(`${p.nginx}=${formatSeconds(v / 1000)}`);
  }
  for (const f of FLAG_PARAMS) {
    if (!s[f.key]) continue;
    if (f.notIn122 !== undefined && target === '1.22') cannot(`servers[${i}].${f.key}`, f.notIn122, s[f.key]);
    if (f.httpOnly && wrap === 'stream') cannot(`servers[${i}].${f.key}`, `nginx has no ${f.nginx} parameter in stream upstreams`, s[f.key]);
    words.push(f.nginx);
  }
  const route = (s as ServerOptions & { route?: unknown }).route;
  if (route !== undefined) {
    const option = `servers[${i}].route`;
    if (target === '1.22') cannot(option, 'nginx 1.22 has no route parameter (open-source nginx 1.29.6+, http upstreams only)', route);
    if (wrap === 'stream') cannot(option, 'nginx has no route parameter in stream upstreams', route);
    if (typeof route !== 'string' || route.length === 0 || Buffer.byteLength(route) > MAX_ROUTE_LENGTH) cannot(option, `nginx takes 1 to ${MAX_ROUTE_LENGTH} bytes`, route);
    words.push(quoteWord(`route=${route}`));
  }
  return words.join(' ') + ';';
}

/** A duration in ms as nginx time text: whole seconds with units, else `Nms`. */
const msText = (ms: number): string => (ms % 1000 === 0 ? formatSeconds(ms / 1000) : `${ms}ms`);

/** A variable of `sticky` (`$name`), checked. */
function stickyVariable(option: string, v: unknown): string {
  if (typeof v !== 'string' || !/^\$[A-Za-z0-9_]+$/.test(v)) cannot(option, 'expected a variable name such as `$cookie_sid`', v);
  return v;
}

/** The `sticky` line of `sticky` (nginx 1.30's http upstream module), after checking it as nginx would. */
export function stickyLine(sticky: StickyConfig, target: NginxTarget, wrap: FormatOptions['wrap']): string {
  if (target === '1.22') cannot('sticky', 'nginx 1.22 has no sticky directive (open-source nginx 1.29.6+, http upstreams only)', sticky.mode);
  if (wrap === 'stream') cannot('sticky', 'nginx has no sticky directive in stream upstreams', sticky.mode);
  const words = ['sticky', sticky.mode];
  if (sticky.mode === 'cookie') {
    if (typeof sticky.name !== 'string' || sticky.name.length === 0) cannot('sticky.name', 'nginx needs a cookie name', sticky.name);
    words.push(quoteWord(sticky.name));
    const e = sticky.expires;
    if (e !== undefined) {
      if (e !== 'max' && !(Number.isSafeInteger(e) && e >= 0)) cannot('sticky.expires', 'expected whole seconds or `max`', e);
      words.push(`expires=${e === 'max' ? 'max' : formatSeconds(e)}`);
    }
    for (const key of ['domain', 'path', 'samesite'] as const) {
      const v = sticky[key];
      if (v === undefined) continue;
      if (typeof v !== 'string' || v.length === 0) cannot(`sticky.${key}`, 'expected non-empty text', v);
      if (key === 'samesite' && !v.includes('$') && !['strict', 'lax', 'none'].includes(v.toLowerCase())) cannot('sticky.samesite', 'expected strict, lax, none or a variable', v);
      words.push(quoteWord(`${key}=${v}`));
    }
    if (sticky.secure) words.push('secure');
    if (sticky.httponly) words.push('httponly');
  } else if (sticky.mode === 'route') {
    if (!Array.isArray(sticky.variables) || sticky.variables.length === 0) cannot('sticky.variables', 'expected at least one variable', sticky.variables);
    sticky.variables.forEach((v, i) => words.push(stickyVariable(`sticky.variables[${i}]`, v)));
  } else if (sticky.mode === 'learn') {
    for (const key of ['create', 'lookup'] as const) {
      const list = sticky[key];
      if (!Array.isArray(list) || list.length === 0) cannot(`sticky.${key}`, 'expected at least one variable', list);
      list.forEach((v, i) => words.push(`${key}=${stickyVariable(`sticky.${key}[${i}]`, v)}`));
    }
    const z = sticky.zone;
    if (typeof z?.name !== 'string' || !/^[^\s:;{}"'#\\$]+$/.test(z.name)) cannot('sticky.zone.name', 'expected a zone name without spaces, quotes or colons', z?.name);
    if (!Number.isSafeInteger(z.size) || z.size < MIN_STICKY_ZONE) cannot('sticky.zone.size', `expected at least ${MIN_STICKY_ZONE} bytes`, z.size);
    words.push(`zone=${z.name}:${z.size % 1048576 === 0 ? `${z.size / 1048576}m` : z.size % 1024 === 0 ? `${z.size / 1024}k` : z.size}`);
    if (!Number.isSafeInteger(sticky.timeout) || sticky.timeout <= 0) cannot('sticky.timeout', 'expected a positive whole number of ms', sticky.timeout);
    if (sticky.timeout !== DEFAULT_LEARN_TIMEOUT_MS) words.push(`timeout=${msText(sticky.timeout)}`);
    if (sticky.header) words.push('header');
  } else cannot('sticky.mode', 'expected cookie, route or learn', (sticky as { mode: unknown }).mode);
  return words.join(' ') + ';';
}

function checkLines(c: CheckOptions): string[] {
  const t = c.type ?? DEFAULT_CHECK.type;
  if (typeof t === 'function') cannot('check.type', 'a custom probe function has no nginx syntax', 'function');
  for (const k of ['initState', 'downInterval', 'fastInterval', 'jitter', 'startWindow', 'smtpHelo', 'tlsServerName'] as const) {
    if (c[k] !== undefined) cannot(`check.${k}`, 'the check module has no such parameter', c[k]);
  }
  const words = [
    'check',
    `interval=${c.interval ?? DEFAULT_CHECK.interval}`,
    `rise=${c.rise ?? DEFAULT_CHECK.rise}`,
    `fall=${c.fall ?? DEFAULT_CHECK.fall}`,
    `timeout=${c.timeout ?? DEFAULT_CHECK.timeout}`,
    `type=${t === 'tls' ? 'ssl_hello' : t}`,
  ];
  if (c.port !== undefined && c.port !== DEFAULT_CHECK.port) words.push(`port=${c.port}`);
  if (c.defaultDown === false) words.push('default_down=false');
  const out = [words.join(' ') + ';'];
  if (c.httpSend !== undefined) out.push(`check_http_send ${quoteWord(c.httpSend)};`);
  if (c.httpExpectAlive !== undefined) out.push(`check_http_expect_alive ${c.httpExpectAlive.map((x) => `http_${x}`).join(' ')};`);
  return out;
}

/**
 * nginx text for one upstream.
 *
 * @example
 * ```ts
 * formatUpstream('smtp', {
 *   servers: [
 *     { address: '127.0.0.1:10025', maxFails: 3, failTimeout: 3000 },
 *     { address: '127.0.0.1:10026', backup: true },
 *   ],
 * }, { wrap: 'stream' });
 * // stream {
 * //     upstream smtp {
 * //         server 127.0.0.1:10025 max_fails=3 fail_timeout=3s;
 * //         server 127.0.0.1:10026 backup;
 * //     }
 * // }
 * ```
 */
export function formatUpstream(name: string, options: BalancerOptions, fmt: FormatOptions = {}): string {
  if (typeof name !== 'string' || name.length === 0) cannot('name', 'an upstream needs a name', name);
  if (!Array.isArray(options?.servers)) cannot('servers', 'expected an array of servers', options?.servers);
  const ind = fmt.indent ?? '    ';
  const spec = methodSpecOf(options);
  if (spec === undefined) cannot('method', 'unknown balancing method', options.method);
  if (spec.contexts.length === 0) cannot('method', 'nginx has no such balancing method', spec.name);
  if (fmt.wrap !== undefined && !spec.contexts.includes(fmt.wrap)) cannot('method', `${spec.directive} exists in ${spec.contexts.join(' and ')} only`, spec.name);
  const directive = spec.directiveText(methodChoice(options), quoteWord(fmt.hashKey ?? '$remote_addr'));
  const target = options.nginx ?? DEFAULT_NGINX_TARGET;
  const servers = options.servers.map((s, i) => serverLine(s, i, target, fmt.wrap));
  // a method without backup support accepts a backup server only before its directive (docs/nginx-semantics.md §3.4)
  const methodLast = !spec.backup && options.servers.some((s) => s.backup);
  const lines: string[] = [];
  if (directive !== null && !methodLast) lines.push(directive);
  for (const line of servers) lines.push(line); // (not push(...servers): 10^5 arguments overflow the stack)
  if (directive !== null && methodLast) lines.push(directive);
  // after the balancing directive: a method after sticky replaces its handler (sticky.ts)
  if (fmt.sticky !== undefined) lines.push(stickyLine(fmt.sticky, target, fmt.wrap));
  if (options.check) for (const line of checkLines(options.check)) lines.push(line);
  const base = fmt.wrap ? ind : '';
  let out = `${base}upstream ${quoteWord(name)} {\n${lines.map((l) => `${base}${ind}${l}\n`).join('')}${base}}\n`;
  if (fmt.wrap) out = `${fmt.wrap} {\n${out}}\n`;
  return out;
}
