/**
 * The upstream modules of nginx 1.22.1, http and stream: the `upstream` block (`ngx_http_upstream`,
 * `ngx_stream_upstream` in src/http/ngx_http_upstream.c, src/stream/ngx_stream_upstream.c), the
 * `server` line (`ngx_http_upstream_server`, `ngx_stream_upstream_server`), the balancing
 * directives (the hash, ip_hash, least_conn and random modules, one row per method of
 * src/methods.ts), `keepalive*` (ngx_http_upstream_keepalive_module.c) and `zone`
 * (ngx_http_upstream_zone_module.c), with nginx's verdicts: the `load balancing method redefined`
 * warning, the `backup` ordering quirk, and the checks made after the block (`no servers are inside
 * upstream`), after the module's block (the round-robin init: `no servers in upstream`) and after the
 * whole configuration (`zero size shared memory zone`). Each block with servers becomes an
 * `UpstreamConfig`.
 *
 * The `server` parameters come from the field table (src/server-fields.ts): its numeric rows by
 * their nginx names (`fail_timeout=` in seconds), its flags except those nginx 1.22 lacks (`drain`).
 */

import { METHOD_SPECS, methodSpec } from '../methods';
import type { BalancerOptions, ServerOptions } from '../options';
import { FLAG_PARAMS, MAX_WEIGHT, NUMERIC_PARAMS, type NumericParam } from '../server-fields';
import { addressError } from './address';
import { checkOptions } from './check';
import { keepaliveSince130, routeParameter, serverFlags } from './target-params';
import { attachResolve, checkResolve, noteResolveLine, resolveAddressError, resolveParameter, RESOLVE_UPSTREAM_COMMANDS, type ResolveWords, staticServers, targetOf } from './resolve';
import { type Command, type Conf, type ServerRec, type UpsState, type UpstreamMain, upstreamCommand as row } from './conf';
import { atoi, PAGE_SIZE, parseSize } from './numbers';
import { parseNginxTime } from './time';
import type { Statement } from './tokenizer';
import type { UpstreamConfig } from './types';
import { checkVariables } from './variables';

const NUMERIC_122 = NUMERIC_PARAMS.filter((p) => p.notIn122 === undefined);

/** The upstream modules' state of one parse. */
export function upstreamMain(): UpstreamMain {
  return { lists: { http: [], stream: [] }, names: { http: new Set(), stream: new Set() }, zones: new Map(), results: [] };
}

/**
 * `upstream NAME { ... }` in `context`; `misplaced` (lenient): the block sits where nginx rejects it
 * and is read anyway, for explanation, under a guessed context.
 */
export function upstreamBlock(cf: Conf, st: Statement, context: 'http' | 'stream', misplaced: boolean): void {
  const main = cf.upstream;
  const nameTok = st.args[1]!;
  const lower = nameTok.text.toLowerCase();
  if (!misplaced && main.names[context].has(lower)) {
    cf.error(`duplicate upstream "${nameTok.text}"`, cf.at(st, nameTok), 'DUPLICATE', nameTok.text);
    return cf.recover(st, 'other');
  }
  if (!misplaced) main.names[context].add(lower);
  const u: UpsState = {
    name: nameTok.text,
    context,
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
  main.lists[context].push(u);
  const before = cf.errors.length;
  cf.block(context === 'http' ? 'ups-http' : 'ups-stream', u);
  if (u.servers.length === 0 && !cf.eofReached() && (cf.errors.length === before || cf.lenient)) {
    cf.error('no servers are inside upstream', { file: st.file, ...cf.position() }, 'NO_SERVERS', u.name);
  }
  if (u.servers.length > 0) main.results.push(result(cf, u));
}

/** The `upstream` block directive, a command of the http and stream blocks. */
export const UPSTREAM_BLOCK: Command<void> = {
  name: 'upstream',
  contexts: ['http', 'stream'],
  block: true,
  args: '1',
  handler: (cf, st) => upstreamBlock(cf, st, cf.ctx === 'http' ? 'http' : 'stream', false),
};

const WEIGHT = NUMERIC_PARAMS.find((p) => p.key === 'weight')!;

/** The value of a numeric parameter as nginx parses it (`fail_timeout=` in seconds). */
const paramValue = (p: NumericParam, text: string): bigint | undefined => (p.seconds ? parseNginxTime(text, 's') : atoi(text));

function server(cf: Conf, st: Statement, u: UpsState): void {
  const a = st.args;
  const values = new Map<NumericParam, bigint>(NUMERIC_PARAMS.map((p) => [p, BigInt(p.seconds ? p.default / 1000 : p.default)]));
  const flags = new Set<string>();
  const words: ResolveWords = { resolve: false };
  let route: string | undefined;
  for (let i = 2; i < a.length; i++) {
    const tok = a[i]!;
    const t = tok.text;
    const p = NUMERIC_122.find((q) => t.startsWith(`${q.nginx}=`));
    const v = p === undefined ? undefined : paramValue(p, t.slice(p.nginx.length + 1));
    const flag = serverFlags(cf, u).find((f) => t === f.nginx);
    // nginx refuses 0 exactly where the option does: `weight=0` is invalid, `max_fails=0` is not
    const taken = p === undefined && flag === undefined ? resolveParameter(cf, st, tok, words) : 'no';
    if (taken === 'error') return;
    if (p !== undefined && v !== undefined && (v !== 0n || p.valid(0))) values.set(p, v);
    else if (taken === 'taken') continue;
    else if (flag === undefined && routeParameter(cf, st, tok, u) === 'taken') route = t.slice('route='.length);
    else if (flag === undefined) return cf.error(`invalid parameter "${t}"`, cf.at(st, tok), 'INVALID_PARAMETER', t);
    else if (flag.key === 'backup' && !u.backupAllowed) return cf.error(`balancing method does not support parameter "${t}"`, cf.at(st, tok), 'NOT_SUPPORTED', t);
    else flags.add(flag.key);
  }
  const addr = a[1]!;
  const err = words.resolve || words.service !== undefined ? resolveAddressError(addr.text, u.context, words) : addressError(addr.text, u.context);
  if (err) return cf.error(err, cf.at(st, addr), 'ADDRESS', addr.text);
  let id = addr.text;
  const dup = u.addressCount.get(addr.text) ?? 0;
  u.addressCount.set(addr.text, dup + 1);
  if (dup > 0) {
    id = `${addr.text}#${dup + 1}`;
    cf.warn(`server "${addr.text}" is listed ${dup + 1} times: nginx makes each line its own peer; its id here is "${id}"`, cf.at(st, addr), 'note');
  }
  const rec = { id, address: addr.text, source: { file: st.file, line: st.line, column: a[0]!.column, words: a.slice(1).map((t) => t.text) } } as ServerRec;
  for (const [p, v] of values) rec[p.key] = Number(v) * (p.seconds ? 1000 : 1);
  for (const f of FLAG_PARAMS) rec[f.key] = flags.has(f.key);
  if (route !== undefined) rec.route = route;
  const weight = values.get(WEIGHT)!;
  if (weight > BigInt(MAX_WEIGHT)) {
    cf.warn(`${WEIGHT.nginx}=${weight} is accepted by nginx but larger than upstream-balancer's limit ${MAX_WEIGHT}: new Balancer() will reject it`, cf.at(st, addr), 'note');
  }
  if (rec.backup && !u.initSet && !u.backupBeforeMethod) u.backupBeforeMethod = rec;
  u.servers.push(rec);
  noteResolveLine(u, rec, words);
}

/** A balancing directive: the method of `spec`, with `hash KEY [consistent]` and `random [two [least_conn]]`. */
function method(cf: Conf, st: Statement, u: UpsState, spec: (typeof METHOD_SPECS)[number]): void {
  const a = st.args;
  if (u.initSet || u.stickyAt !== undefined) cf.warn('load balancing method redefined', cf.at(st), 'nginx');
  if (u.sticky !== undefined && u.stickyReplacedBy === undefined) {
    u.stickyReplacedBy = a[0]!.text;
    cf.warn(
      `"${a[0]!.text}" after "sticky": nginx replaces sticky's handler, so no sessions are kept; put "sticky" after the balancing method`,
      cf.at(st),
      'note',
    );
  }
  if (u.keepaliveSeen && u.initSet && !u.methodDirective) {
    cf.warn(
      `"${a[0]!.text}" after "keepalive": nginx replaces the keepalive handler, so no connections are cached; put "keepalive" after the balancing method`,
      cf.at(st),
      'note',
    );
  }
  u.initSet = true;
  u.methodDirective = a.map((t) => t.text).join(' ');
  u.consistent = false;
  u.randomTwo = false;
  u.randomLeastConn = false;
  u.hashKey = undefined;
  u.method = spec.name;
  u.backupAllowed = spec.backup;
  const invalid = (i: number): void => cf.error(`invalid parameter "${a[i]!.text}"`, cf.at(st, a[i]), 'INVALID_PARAMETER', a[i]!.text);
  if (spec.name === 'hash') {
    u.hashKey = a[1]!.text;
    if (a.length === 3) {
      if (a[2]!.text !== 'consistent') return invalid(2);
      u.consistent = true;
    }
  } else if (spec.name === 'random' && a.length >= 2) {
    if (a[1]!.text !== 'two') return invalid(1);
    // `random two` always picks the less loaded of the two: least_conn is its only (and default) method
    u.randomTwo = true;
    u.randomLeastConn = true;
    if (a.length === 3 && a[2]!.text !== 'least_conn') invalid(2);
  }
}

function keepalive(cf: Conf, st: Statement, u: UpsState): void {
  const a = st.args;
  const name = a[0]!.text;
  const v = a[1]!;
  const ka = (u.keepalive ??= { connections: 0 });
  if (name === 'keepalive') {
    if (u.keepaliveSeen) return cf.error('"keepalive" directive is duplicate', cf.at(st), 'DUPLICATE', name);
    if (targetOf(cf) === '1.30') return keepaliveSince130(cf, st, u, ka);
    if (a.length !== 2) return cf.error(`invalid number of arguments in "${name}" directive`, cf.at(st), 'ARGS', name);
    const n = atoi(v.text);
    if (n === undefined || n === 0n) return cf.error(`invalid value "${v.text}" in "keepalive" directive`, cf.at(st, v), 'INVALID_VALUE', v.text);
    u.keepaliveSeen = true;
    ka.connections = Number(n);
    u.initSet = true;
    return;
  }
  const field = name === 'keepalive_requests' ? 'requests' : name === 'keepalive_time' ? 'timeMs' : 'timeoutMs';
  if (ka[field] !== undefined) return cf.error(`"${name}" directive is duplicate`, cf.at(st), 'DUPLICATE', name);
  if (field === 'requests') {
    const n = atoi(v.text);
    if (n === undefined) return cf.error(`"${name}" directive invalid number`, cf.at(st), 'INVALID_VALUE', v.text);
    ka.requests = Number(n);
  } else {
    const t = parseNginxTime(v.text, 'ms');
    // ngx_msec_t is unsigned 64-bit: NGX_ERROR is the only rejected value
    if (t === undefined) return cf.error(`"${name}" directive invalid value`, cf.at(st), 'INVALID_VALUE', v.text);
    ka[field] = Number(t);
  }
}

/** `zone NAME [SIZE]`: a shared memory zone of the cycle, at least 8 pages, one size and one use per name. */
function zone(cf: Conf, st: Statement, u: UpsState): void {
  const a = st.args;
  const name = a[1]!;
  if (name.text.length === 0) return cf.error(`invalid zone name "${name.text}"`, cf.at(st, name), 'ZONE', name.text);
  let size = 0n;
  if (a.length === 3) {
    const s = parseSize(a[2]!.text);
    if (s === undefined) return cf.error(`invalid zone size "${a[2]!.text}"`, cf.at(st, a[2]), 'ZONE', a[2]!.text);
    if (s < BigInt(8 * PAGE_SIZE)) return cf.error(`zone "${name.text}" is too small`, cf.at(st, a[2]), 'ZONE', a[2]!.text);
    size = s;
  }
  const zones = cf.upstream.zones;
  const z = zones.get(name.text);
  if (z) {
    if (z.tag !== u.context) {
      return cf.error(`the shared memory zone "${name.text}" is already declared for a different use`, cf.at(st, name), 'ZONE', name.text);
    }
    if (z.size === 0n) z.size = size;
    if (size !== 0n && size !== z.size) {
      return cf.error(`the size ${size} of shared memory zone "${name.text}" conflicts with already declared size ${z.size}`, cf.at(st, name), 'ZONE', name.text);
    }
  } else {
    zones.set(name.text, { size, tag: u.context, ...cf.at(st, name) });
  }
  u.zone = { name: name.text, size: Number(size) };
}

const HTTP_ONLY = ['ups-http'] as const;
const BOTH = ['ups-http', 'ups-stream'] as const;


/** The upstream block's command table: the upstream, balancing, keepalive and zone modules' rows. */
export const UPSTREAM_COMMANDS: readonly Command<UpsState>[] = [
  row('server', BOTH, '1+', server),
  row('zone', BOTH, '12', zone),
  ...RESOLVE_UPSTREAM_COMMANDS,
  ...METHOD_SPECS.flatMap((spec) =>
    spec.directive === null
      ? []
      : [row(spec.directive, spec.contexts.map((c) => `ups-${c}` as const), spec.directiveArgs, (cf, st, u) => method(cf, st, u, spec))],
  ),
  ...['keepalive', 'keepalive_time', 'keepalive_timeout', 'keepalive_requests'].map((name) => row(name, HTTP_ONLY, name === 'keepalive' ? '12' : '1', keepalive)),
];

/** After the http or stream block: the round-robin init (`ngx_*_upstream_init_round_robin`) needs a primary server. */
export function initUpstreams(cf: Conf, context: 'http' | 'stream'): void {
  for (const u of cf.upstream.lists[context]) {
    if (u.misplaced) continue;
    if (!checkResolve(cf, u)) continue;
    if (u.servers.length > 0 && !u.servers.some((s) => !s.backup)) {
      cf.error(`no servers in upstream "${u.name}"`, { file: u.file, line: u.line, column: u.column }, 'NO_SERVERS', u.name);
    }
  }
  // ngx_http_block: the modules' init_main_conf (the upstreams above), then ngx_http_variables_init_vars
  if (context === 'http') checkVariables(cf, cf.partial);
}

/** After the whole configuration (`ngx_init_cycle`): a zone declared without a size anywhere. */
export function checkZones(cf: Conf): void {
  for (const [name, z] of cf.upstream.zones) {
    if (z.size === 0n) cf.error(`zero size shared memory zone "${name}"`, { file: z.file, line: z.line, column: z.column }, 'ZONE', name);
  }
}

/** A server's options: the field table's parameters in its order, the flags nginx 1.22 has and any other flag set. */
function serverOptions(s: ServerRec): ServerOptions {
  const o: Record<string, unknown> = { id: s.id, address: s.address };
  for (const p of NUMERIC_PARAMS) o[p.key] = s[p.key];
  for (const f of FLAG_PARAMS) if (f.notIn122 === undefined || s[f.key]) o[f.key] = s[f.key];
  if (s.route !== undefined) o.route = s.route;
  return o as unknown as ServerOptions;
}

function result(cf: Conf, u: UpsState): UpstreamConfig {
  const options: BalancerOptions = { name: u.name, nginx: targetOf(cf), method: u.method, servers: staticServers(u).map(serverOptions) };
  if (u.method === 'hash') options.hash = { consistent: u.consistent };
  if (u.method === 'random' && u.randomTwo) {
    options.randomTwo = true;
    options.randomLeastConn = u.randomLeastConn;
  }
  const check = checkOptions(u);
  if (check) options.check = check;
  const spec = methodSpec(u.method);
  if (!spec.backup && u.servers.some((s) => s.backup)) {
    options.allowBackupWithHash = true;
    const b = u.backupBeforeMethod ?? u.servers.find((s) => s.backup)!;
    cf.warn(
      `backup server "${b.address}" comes before "${u.methodDirective}": nginx accepts it only because of that order (after the directive it says balancing method does not support parameter "backup"); the backup tier is used only when ${spec.directive} falls back to round robin`,
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
  if (u.checkAt) r.checkSource = u.checkAt;
  if (u.methodDirective !== undefined) r.methodDirective = u.methodDirective;
  if (u.misplaced) r.misplaced = true;
  if (u.sticky !== undefined && u.stickyReplacedBy === undefined) r.sticky = u.sticky;
  attachResolve(cf, u, r, serverOptions);
  return r;
}
