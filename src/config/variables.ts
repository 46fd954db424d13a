/**
 * The http variables nginx 1.30.4 knows when it checks a configuration: the ones `sticky` indexes
 * (`ngx_http_get_variable_index` in src/http/ngx_http_variables.c) must exist when the http block
 * ends (`ngx_http_variables_init_vars`: `unknown "NAME" variable`, printed without a location).
 *
 * A name exists when it is built in (the variable tables of the modules the stock 1.30.4 build
 * compiles: ngx_http_variables.c, ngx_http_upstream.c, the proxy, fastcgi, ssl, ssi, browser,
 * limit_req, limit_conn, gzip, userid and referer modules), when it starts with a prefix nginx
 * answers for any suffix (`http_`, `cookie_`, `arg_`, `upstream_cookie_`, ...), or when the
 * configuration defines it anywhere in the http block, before or after its use: `set $x`, the
 * variable a `map`, `geo` or `split_clients` block defines, or a named regex capture
 * (`(?<x>...)`, `(?P<x>...)`, `(?'x'...)`, in a `location`, `if`, `server_name`, `rewrite` or a
 * `map` entry). Names are ASCII case-insensitive, as nginx lowercases them.
 *
 * What the parser cannot know: a module loaded with `load_module` (njs's `js_set`, geoip, ...)
 * defines variables we have no list of, so the check is skipped then. Named captures are collected
 * from every block (a stream block's too): at worst a name is taken as defined.
 */

import type { Conf, UpstreamMain, Where } from './conf';
import type { Statement } from './tokenizer';

/** Built-in http variables of the stock nginx 1.30.4 build (`build.sh stock`). */
const BUILT_IN: ReadonlySet<string> = new Set([
  // ngx_http_variables.c
  'http_host', 'http_user_agent', 'http_referer', 'http_via', 'http_x_forwarded_for', 'http_cookie', 'content_length',
  'content_type', 'host', 'binary_remote_addr', 'remote_addr', 'remote_port', 'proxy_protocol_addr', 'proxy_protocol_port',
  'proxy_protocol_server_addr', 'proxy_protocol_server_port', 'server_addr', 'server_port', 'server_protocol', 'scheme',
  'https', 'request_port', 'is_request_port', 'request_uri', 'uri', 'document_uri', 'request', 'document_root',
  'realpath_root', 'query_string', 'args', 'is_args', 'request_filename', 'server_name', 'request_method', 'remote_user',
  'bytes_sent', 'body_bytes_sent', 'pipe', 'request_completion', 'request_body', 'request_body_file', 'request_length',
  'request_time', 'request_id', 'status', 'sent_http_content_type', 'sent_http_content_length', 'sent_http_location',
  'sent_http_last_modified', 'sent_http_connection', 'sent_http_keep_alive', 'sent_http_transfer_encoding',
  'sent_http_cache_control', 'sent_http_link', 'limit_rate', 'connection', 'connection_requests', 'connection_time',
  'nginx_version', 'hostname', 'pid', 'msec', 'time_iso8601', 'time_local', 'tcpinfo_rtt', 'tcpinfo_rttvar',
  'tcpinfo_snd_cwnd', 'tcpinfo_rcv_space',
  // ngx_http_upstream.c
  'upstream_addr', 'upstream_status', 'upstream_connect_time', 'upstream_header_time', 'upstream_response_time',
  'upstream_response_length', 'upstream_bytes_received', 'upstream_bytes_sent', 'upstream_cache_status',
  'upstream_cache_last_modified', 'upstream_cache_etag',
  // proxy, fastcgi
  'proxy_host', 'proxy_port', 'proxy_add_x_forwarded_for', 'proxy_add_via', 'proxy_internal_host',
  'proxy_internal_body_length', 'proxy_internal_chunked', 'fastcgi_script_name', 'fastcgi_path_info',
  // ssl
  'ssl_protocol', 'ssl_cipher', 'ssl_ciphers', 'ssl_curve', 'ssl_curves', 'ssl_sigalg', 'ssl_session_id',
  'ssl_session_reused', 'ssl_early_data', 'ssl_server_name', 'ssl_alpn_protocol', 'ssl_ech_status',
  'ssl_ech_outer_server_name', 'ssl_client_cert', 'ssl_client_raw_cert', 'ssl_client_escaped_cert', 'ssl_client_s_dn',
  'ssl_client_i_dn', 'ssl_client_s_dn_legacy', 'ssl_client_i_dn_legacy', 'ssl_client_serial', 'ssl_client_fingerprint',
  'ssl_client_verify', 'ssl_client_v_start', 'ssl_client_v_end', 'ssl_client_v_remain', 'ssl_client_sigalg',
  // ssi, browser, limit_req, limit_conn, gzip, userid, referer
  'date_local', 'date_gmt', 'msie', 'modern_browser', 'ancient_browser', 'limit_req_status', 'limit_conn_status',
  'gzip_ratio', 'uid_got', 'uid_set', 'uid_reset', 'invalid_referer',
]);

/** Prefixes nginx answers for any name that starts with them (`NGX_HTTP_VAR_PREFIX`); the longest match wins. */
const PREFIXES: readonly string[] = [
  'http_', 'sent_http_', 'sent_trailer_', 'cookie_', 'arg_', 'proxy_protocol_tlv_', 'upstream_http_', 'upstream_trailer_',
  'upstream_cookie_',
];

/** A variable a directive indexed, and where (nginx prints no location; ours points at the directive). */
export interface IndexedVariable {
  /** The name without `$`, lowercased as nginx stores it. */
  readonly name: string;
  readonly at: Where;
}

interface VariableState {
  /** Names defined by the configuration (lowercase). */
  readonly defined: Set<string>;
  /** Names indexed by the modules we model, first use first (nginx's `cmcf->variables` order). */
  readonly indexed: IndexedVariable[];
  readonly seen: Set<string>;
}

const states = new WeakMap<UpstreamMain, VariableState>();

function stateOf(cf: Conf): VariableState {
  let s = states.get(cf.upstream);
  if (s === undefined) states.set(cf.upstream, (s = { defined: new Set(), indexed: [], seen: new Set() }));
  return s;
}

/** nginx's `ngx_strlow`: ASCII letters only. */
export const asciiLower = (s: string): string => s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));

/** `ngx_http_get_variable_index` without its empty-name check (the caller reports that): remembers the use. */
export function indexVariable(cf: Conf, name: string, at: Where): void {
  const s = stateOf(cf);
  const lower = asciiLower(name);
  if (s.seen.has(lower)) return;
  s.seen.add(lower);
  s.indexed.push({ name: lower, at });
}

const CAPTURE = /\(\?(?:P?<([A-Za-z_][A-Za-z0-9_]*)>|'([A-Za-z_][A-Za-z0-9_]*)')/g;

/**
 * Notes the variables one statement defines: called by the walker for every statement, inside
 * text blocks (`map` entries) too. `http` says the statement sits in an http block.
 */
export function noteDefinitions(cf: Conf, st: Statement, http: boolean): void {
  const a = st.args;
  if (a.length === 0) return;
  const s = stateOf(cf);
  for (const tok of a) {
    if (!tok.text.includes('(?')) continue;
    for (const m of tok.text.matchAll(CAPTURE)) s.defined.add(asciiLower(m[1] ?? m[2]!));
  }
  if (!http) return;
  const name = a[0]!.text;
  let defined: string | undefined;
  if (name === 'set' && a.length >= 2) defined = a[1]!.text;
  else if ((name === 'map' || name === 'split_clients') && a.length === 3 && st.end === '{') defined = a[2]!.text;
  else if (name === 'geo' && (a.length === 2 || a.length === 3) && st.end === '{') defined = a[a.length - 1]!.text;
  if (defined !== undefined && defined.startsWith('$') && defined.length > 1) s.defined.add(asciiLower(defined.slice(1)));
}

/** The variable exists for nginx 1.30.4's stock build with this configuration's definitions. */
function known(s: VariableState, name: string): boolean {
  return BUILT_IN.has(name) || s.defined.has(name) || PREFIXES.some((p) => name.startsWith(p));
}

/**
 * `ngx_http_variables_init_vars` for the variables we index: after the http block, the first
 * unknown one is nginx's `unknown "NAME" variable`. When the parse cannot see the whole
 * configuration (`partial`: a conf.d fragment, a missing include read as a warning) it is a note.
 */
export function checkVariables(cf: Conf, partial: boolean): void {
  const s = stateOf(cf);
  if (cf.core.otherModulesLoaded) return;
  for (const v of s.indexed) {
    if (known(s, v.name)) continue;
    if (partial) {
      cf.warn(`variable "$${v.name}" is not defined in the files read: nginx says unknown "${v.name}" variable unless another part of the configuration defines it`, v.at, 'note');
      continue;
    }
    return cf.error(`unknown "${v.name}" variable`, v.at, 'UNKNOWN_VARIABLE', v.name);
  }
}
