/**
 * The `sticky` directive of nginx 1.30's http upstream block (ngx_http_upstream_sticky_module.c:
 * `ngx_http_upstream_sticky`, `_cookie`, `_learn`), read into a `StickyConfig`
 * (src/sticky/types.ts) with nginx 1.30.4's checks and messages, in nginx's order:
 * - the directive: `NGX_HTTP_UPS_CONF|NGX_CONF_2MORE` (the walker checks the count), once per
 *   upstream (`"sticky" directive is duplicate`), a mode `cookie`, `route` or `learn`, else
 *   `unknown parameter "X"`;
 * - `cookie NAME`: a non-empty name, then `domain=` / `samesite=` (nginx text, variables allowed:
 *   `ngx_http_compile_complex_value`), `path=`, `expires=TIME|max`, `httponly`, `secure`, each once;
 *   the variable `$cookie_NAME` is indexed;
 * - `route $var ...`: every word a variable (`invalid variable name "X"`);
 * - `learn create=$var lookup=$var zone=NAME:SIZE [timeout=TIME] [header]`: the three required
 *   parameters, the zone at least 8 pages and one upstream per zone (`sticky zone "Z" is already
 *   used in upstream "U"`), in the cycle's shared memory list beside the `zone` directive's zones.
 * Every variable it names must exist when the http block ends (variables.ts). A balancing
 * directive after `sticky` replaces its init (`load balancing method redefined`): nginx then keeps
 * no sessions, and the parse drops the sticky configuration with a note saying so (upstream.ts).
 */

import type { StickyConfig } from '../sticky/types';
import { type Conf, type UpsState, type Where, upstreamCommand } from './conf';
import { PAGE_SIZE, parseSize } from './numbers';
import { parseNginxTime } from './time';
import type { Statement, Token } from './tokenizer';
import { indexVariable } from './variables';

/** nginx's default `timeout=` of `learn` (10 minutes). */
export const DEFAULT_LEARN_TIMEOUT_MS = 600_000;

/** The smallest learn zone: 8 pages (`zone is too small`). */
export const MIN_STICKY_ZONE = 8 * PAGE_SIZE;

/** A `char *` comparison stops at a NUL byte (`ngx_strcmp`): the text as C sees it. */
const cText = (text: string): string => {
  const nul = text.indexOf('\0');
  return nul < 0 ? text : text.slice(0, nul);
};

/** An error returned by the handler as a string: `ngx_conf_handler` prints `"sticky" directive TEXT`. */
function directiveError(cf: Conf, st: Statement, text: string, value: unknown): void {
  cf.error(`"sticky" directive ${text}`, cf.at(st), 'STICKY', value);
}

/**
 * The variables of a complex value (`ngx_http_compile_complex_value` / `ngx_http_script_compile`):
 * `$name`, `${name}` and the captures `$1`..`$9` (not variables). Reports nginx's errors; returns
 * the names, or undefined after an error.
 */
function complexValueVariables(cf: Conf, st: Statement, text: string): string[] | undefined {
  const names: string[] = [];
  const word = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_]/.test(c);
  let i = 0;
  while (i < text.length) {
    if (text[i] !== '$') {
      i++;
      continue;
    }
    if (++i === text.length) return void cf.error('invalid variable name', cf.at(st), 'INVALID_VARIABLE', text);
    if (text[i]! >= '1' && text[i]! <= '9') {
      i++;
      continue;
    }
    let bracket = false;
    if (text[i] === '{') {
      bracket = true;
      if (++i === text.length) return void cf.error('invalid variable name', cf.at(st), 'INVALID_VARIABLE', text);
    }
    const start = i;
    let end = i;
    while (i < text.length) {
      if (text[i] === '}' && bracket) {
        end = i;
        i++;
        bracket = false;
        break;
      }
      if (!word(text[i])) break;
      i++;
      end = i;
    }
    const name = text.slice(start, end);
    if (bracket) return void cf.error(`the closing bracket in "${name}" variable is missing`, cf.at(st), 'INVALID_VARIABLE', text);
    if (name.length === 0) return void cf.error('invalid variable name', cf.at(st), 'INVALID_VARIABLE', text);
    names.push(name);
  }
  return names;
}

/** Whether a complex value has variables or captures (`ccv.complex_value->lengths != NULL`). */
const hasScript = (text: string): boolean => text.includes('$');

/** `ngx_http_get_variable_index` on a name without its `$`: the empty name is nginx's error. */
function variableIndex(cf: Conf, st: Statement, name: string, at: Where): boolean {
  if (name.length === 0) {
    cf.error('invalid variable name "$"', cf.at(st), 'INVALID_VARIABLE', '$');
    return false;
  }
  indexVariable(cf, name, at);
  return true;
}

function unknownParameter(cf: Conf, st: Statement, tok: Token): void {
  cf.error(`unknown parameter "${tok.text}"`, cf.at(st), 'STICKY', tok.text);
}

/** `sticky cookie NAME ...` (`ngx_http_upstream_sticky_cookie`). */
function cookieMode(cf: Conf, st: Statement): StickyConfig | undefined {
  const a = st.args;
  const name = a[2]!.text;
  if (name.length === 0) return void directiveError(cf, st, 'empty cookie name', name);
  let domain: string | undefined;
  let path: string | undefined;
  let expires: number | 'max' | undefined;
  let samesite: string | undefined;
  let httponly = false;
  let secure = false;
  const duplicate = (p: string) => directiveError(cf, st, `parameter "${p}" is duplicate`, p);
  for (let i = 3; i < a.length; i++) {
    const t = a[i]!.text;
    if (t.startsWith('domain=')) {
      if (domain !== undefined) return void duplicate('domain');
      const v = t.slice(7);
      if (v.length === 0) return void directiveError(cf, st, 'no value for "domain"', t);
      const vars = complexValueVariables(cf, st, v);
      if (vars === undefined) return undefined;
      for (const n of vars) indexVariable(cf, n, cf.at(st, a[i]));
      domain = v;
    } else if (t.startsWith('path=')) {
      if (path !== undefined) return void duplicate('path');
      const v = t.slice(5);
      if (v.length === 0) return void directiveError(cf, st, 'no value for "path"', t);
      path = v;
    } else if (t.startsWith('expires=')) {
      if (expires !== undefined) return void duplicate('expires');
      const v = t.slice(8);
      if (cText(v) === 'max') expires = 'max';
      else {
        const s = parseNginxTime(v, 's');
        if (s === undefined) return void directiveError(cf, st, 'invalid "expires" parameter value', t);
        expires = Number(s);
      }
    } else if (cText(t) === 'httponly') {
      if (httponly) return void duplicate('httponly');
      httponly = true;
    } else if (cText(t) === 'secure') {
      if (secure) return void duplicate('secure');
      secure = true;
    } else if (t.startsWith('samesite=')) {
      if (samesite !== undefined) return void duplicate('samesite');
      const v = t.slice(9);
      const vars = complexValueVariables(cf, st, v);
      if (vars === undefined) return undefined;
      for (const n of vars) indexVariable(cf, n, cf.at(st, a[i]));
      if (!hasScript(v) && !['strict', 'lax', 'none'].includes(v.toLowerCase())) {
        return void directiveError(cf, st, 'invalid "samesite" parameter value', t);
      }
      samesite = v;
    } else return void unknownParameter(cf, st, a[i]!);
  }
  indexVariable(cf, `cookie_${name}`, cf.at(st, a[2]));
  return {
    mode: 'cookie',
    name,
    ...(expires === undefined ? {} : { expires }),
    ...(domain === undefined ? {} : { domain }),
    ...(path === undefined ? {} : { path }),
    ...(samesite === undefined ? {} : { samesite }),
    secure,
    httponly,
  };
}

/** `sticky route $var ...`. */
function routeMode(cf: Conf, st: Statement): StickyConfig | undefined {
  const variables: string[] = [];
  for (const tok of st.args.slice(2)) {
    if (!tok.text.startsWith('$')) return void cf.error(`invalid variable name "${tok.text}"`, cf.at(st), 'INVALID_VARIABLE', tok.text);
    if (!variableIndex(cf, st, tok.text.slice(1), cf.at(st, tok))) return undefined;
    variables.push(tok.text);
  }
  return { mode: 'route', variables };
}

/** `sticky learn ...` (`ngx_http_upstream_sticky_learn`), with the zone registered in the cycle. */
function learnMode(cf: Conf, st: Statement, u: UpsState): StickyConfig | undefined {
  const a = st.args;
  let zone: { name: string; size: number; at: Where } | undefined;
  let timeout: number | undefined;
  let header = false;
  const create: string[] = [];
  const lookup: string[] = [];
  for (let i = 2; i < a.length; i++) {
    const tok = a[i]!;
    const t = tok.text;
    if (t.startsWith('zone=')) {
      if (zone !== undefined) return void directiveError(cf, st, 'duplicate zone', t);
      const spec = cText(t).slice(5);
      const colon = spec.indexOf(':');
      if (colon < 0) return void directiveError(cf, st, 'zone size is not specified', t);
      const name = spec.slice(0, colon);
      if (name.length === 0) return void directiveError(cf, st, 'zone name is not specified', t);
      const size = parseSize(t.slice(5 + colon + 1));
      if (size === undefined) return void directiveError(cf, st, 'invalid zone size', t);
      if (size < BigInt(MIN_STICKY_ZONE)) return void directiveError(cf, st, 'zone is too small', t);
      zone = { name, size: Number(size), at: cf.at(st, tok) };
    } else if (t.startsWith('timeout=')) {
      if (timeout !== undefined) return void directiveError(cf, st, 'duplicate timeout', t);
      const ms = parseNginxTime(t.slice(8), 'ms');
      if (ms === undefined || ms === 0n) return void directiveError(cf, st, 'invalid timeout', t);
      timeout = Number(ms);
    } else if (t.startsWith('create=') || t.startsWith('lookup=')) {
      const which = t.slice(0, 6);
      if (t[7] !== '$') return void directiveError(cf, st, `missing variable in the "${which}" parameter`, t);
      if (!variableIndex(cf, st, t.slice(8), cf.at(st, tok))) return undefined;
      (which === 'create' ? create : lookup).push(t.slice(7));
    } else if (cText(t) === 'header') header = true;
    else return void unknownParameter(cf, st, tok);
  }
  if (lookup.length === 0) return void directiveError(cf, st, '"lookup" parameter is not specified', 'lookup');
  if (create.length === 0) return void directiveError(cf, st, '"create" parameter is not specified', 'create');
  if (zone === undefined) return void directiveError(cf, st, '"zone" parameter is not specified', 'zone');
  if (!addStickyZone(cf, st, zone, u)) return undefined;
  return { mode: 'learn', create, lookup, zone: { name: zone.name, size: zone.size }, timeout: timeout ?? DEFAULT_LEARN_TIMEOUT_MS, header };
}

/** `ngx_shared_memory_add` with the sticky module's tag, then the module's one-upstream-per-zone test. */
function addStickyZone(cf: Conf, st: Statement, zone: { name: string; size: number; at: Where }, u: UpsState): boolean {
  const zones = cf.upstream.zones;
  const z = zones.get(zone.name);
  const size = BigInt(zone.size);
  if (z === undefined) {
    zones.set(zone.name, { size, tag: 'sticky', user: u.name, ...cf.at(st) });
    return true;
  }
  const err = (reason: string) => {
    cf.error(reason, cf.at(st), 'ZONE', zone.name);
    return false;
  };
  if (z.tag !== 'sticky') return err(`the shared memory zone "${zone.name}" is already declared for a different use`);
  if (z.size !== size) return err(`the size ${size} of shared memory zone "${zone.name}" conflicts with already declared size ${z.size}`);
  return err(`sticky zone "${zone.name}" is already used in upstream "${z.user ?? ''}"`);
}

/** The directive's handler (`ngx_http_upstream_sticky`). */
function sticky(cf: Conf, st: Statement, u: UpsState): void {
  if (u.stickyAt !== undefined) return directiveError(cf, st, 'is duplicate', 'sticky');
  u.stickyAt = cf.at(st);
  const mode = cText(st.args[1]!.text);
  let config: StickyConfig | undefined;
  if (mode === 'cookie') config = cookieMode(cf, st);
  else if (mode === 'route') config = routeMode(cf, st);
  else if (mode === 'learn') config = learnMode(cf, st, u);
  else return unknownParameter(cf, st, st.args[1]!);
  if (config !== undefined) u.sticky = config;
}

/** The `sticky` row of the http upstream block: nginx 1.30 only (1.22 has no such directive). */
export const STICKY_COMMAND = upstreamCommand('sticky', ['ups-http'], '2+', sticky);
