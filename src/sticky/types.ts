/**
 * The `sticky` directive of nginx 1.30's http upstream block as data: what the config parser
 * produces (src/config/sticky.ts) and what the session layer (src/sticky/) runs. Follows
 * `ngx_http_upstream_sticky_module.c` (`ngx_http_upstream_sticky_srv_conf_t`): one of three modes.
 *
 * Values that nginx evaluates per request (a `$variable`, or text with variables, in `domain=` and
 * `samesite=`; every variable of `route`, `create=` and `lookup=`) are kept as nginx text. The host
 * evaluates them: the session layer asks it for a variable's value by name.
 */

/** `sticky cookie NAME [expires=] [domain=] [path=] [samesite=] [secure] [httponly]`. */
export interface StickyCookieConfig {
  readonly mode: 'cookie';
  /** The cookie's name; its value is the chosen server's session id. */
  readonly name: string;
  /** `expires=TIME` in seconds, `'max'` (nginx's fixed 2037 date and max-age 315360000), or absent (a session cookie). */
  readonly expires?: number | 'max';
  /** `domain=` as nginx text (may contain variables). */
  readonly domain?: string;
  /** `path=` (plain text). */
  readonly path?: string;
  /** `samesite=` as nginx text: `strict`, `lax`, `none`, or text with variables. */
  readonly samesite?: string;
  readonly secure: boolean;
  readonly httponly: boolean;
}

/** `sticky route $var ...`: the first non-empty variable names the server's session id (route). */
export interface StickyRouteConfig {
  readonly mode: 'route';
  /** Variable names with their `$`, in order. */
  readonly variables: readonly string[];
}

/** `sticky learn create=$var lookup=$var zone=NAME:SIZE [timeout=] [header]`. */
export interface StickyLearnConfig {
  readonly mode: 'learn';
  /** `create=` variables, in order: the first non-empty one names a new session after a response. */
  readonly create: readonly string[];
  /** `lookup=` variables, in order: the first non-empty one is looked up in the session store. */
  readonly lookup: readonly string[];
  /** The shared zone: its name and size in bytes. */
  readonly zone: { readonly name: string; readonly size: number };
  /** `timeout=` in ms: a session unused this long is removed (nginx default 10 minutes). */
  readonly timeout: number;
  /** `header`: learn when the response header arrives (NGX_HTTP_UPSTREAM_NOTIFY_HEADER) instead of at free. */
  readonly header: boolean;
}

export type StickyConfig = StickyCookieConfig | StickyRouteConfig | StickyLearnConfig;
