/**
 * `StickySessions`: nginx 1.30's `sticky` directive over a Balancer, one `StickyRequest` per
 * request (src/http/modules/ngx_http_upstream_sticky_module.c):
 *
 * - init_peer (`StickyRequest` construction): the request's session id (`id`): the cookie
 *   (`cookie`), the first non-empty `route` variable (`route`), or the first non-empty `lookup=`
 *   variable (`learn`).
 * - get_peer (`next()`): the hint is the id itself (cookie, route) or the server the session store
 *   names for it (learn); the Balancer's attempt honours it (`AttemptOptions.hint`), else its
 *   method chooses. In cookie mode every server chosen sets the Set-Cookie value (`setCookie`),
 *   whether or not the request's cookie already named it; a later `next()` that finds nothing
 *   keeps the last one, and nginx's own 502 / 504 carries it.
 * - free_peer (`fail()`, `skip()`, `release()`) and the header notification (`responseHeader()`):
 *   learn mode stores the session at `release()` (nginx's free with no failure), or when the
 *   response header is passed with `header`; never at a failed or skipped try.
 *
 * The host supplies nginx variables by name (`VariableLookup`); `cookie_NAME`, `arg_NAME` and
 * `upstream_cookie_NAME` are built in from the request's Cookie headers, its query string and
 * the passed response's Set-Cookie headers (cookie.ts, variables.ts).
 */

import { InvalidOptionError, show } from '../errors';
import { type HeaderValues, requestCookie, stickyCookie, upstreamCookie, validSameSite } from './cookie';
import { type LearnResult, SessionStore, zoneCapacity } from './session-store';
import type { StickyConfig, StickyCookieConfig, StickyLearnConfig } from './types';
import { type VariableLookup, argument, evaluate, firstVariable, hasVariables } from './variables';

/** A server as the session layer reads it (the core's `Server` fits). */
export interface StickyServer {
  readonly id: string;
  readonly address: string;
  /** The server's session id (route, or MD5 of its address). */
  readonly sid?: string;
}

/** The part of an `Attempt` the session layer drives (the core's `Attempt` fits). */
export interface StickyAttempt<S extends StickyServer = StickyServer> {
  readonly tries: number;
  readonly elapsed: number;
  /** The session id of the current server. */
  readonly sid?: string | undefined;
  /** The current server came from the hint. */
  readonly hinted?: boolean;
  next(): S | undefined;
  fail(): void;
  skip(): void;
  release(): void;
  connected?(): void;
  /** Replaces the hint of the following gets (the core's `Attempt.setHint`): learn mode's per-try lookup. */
  setHint?(hint: string | undefined): void;
}

/** What the session layer needs of a Balancer (the core's `Balancer` fits): attempts of type `A`. */
export interface StickyBalancer<A extends StickyAttempt = StickyAttempt> {
  attempt(key?: string, options?: { tries?: number; timeout?: number; hint?: string }): A;
}

/** The server type an attempt hands out. */
export type ServerOf<A extends StickyAttempt> = NonNullable<ReturnType<A['next']>>;

/** Options of `new StickySessions(balancer, config, options)`. */
export interface StickySessionsOptions {
  /** Wall-clock ms for the cookie's `expires` (nginx's `ngx_time()`); default `Date.now`. */
  clock?: () => number;
  /** learn: the session store (default: one sized by `config.zone` with `zoneCapacity`, timing out after `config.timeout`). */
  store?: SessionStore;
  /** learn: the store's clock when it is made here (default `Date.now`). */
  storeClock?: () => number;
  /** Variables every request can read (a request's own `variables` are asked first). */
  variables?: VariableLookup;
}

/** What a request brings: the inputs of nginx's variables. */
export interface StickyRequestInit {
  /** The request's Cookie header(s), in order (`$cookie_NAME`). */
  cookie?: HeaderValues;
  /** The request's query string without `?` (`$arg_NAME`). */
  args?: string;
  /** Other variables by name without `$` (asked before the built-in ones). */
  variables?: VariableLookup;
  /** The balancer's key (hash methods). */
  key?: string;
  /** `proxy_next_upstream_tries` for this request. */
  tries?: number;
  /** `proxy_next_upstream_timeout` for this request, in ms. */
  timeout?: number;
}

const MODES = ['cookie', 'route', 'learn'];

function invalid(option: string, expected: string, value: unknown): never {
  throw new InvalidOptionError(option, `Expected ${option} to be ${expected}, got ${show(value)}`, value);
}

function checkNames(option: string, names: unknown): void {
  if (!Array.isArray(names) || names.length === 0 || !names.every((n) => typeof n === 'string' && n.length > 1 && n.startsWith('$'))) {
    invalid(option, 'a non-empty list of variable names, each `$name`', names);
  }
}

/** Checks a `StickyConfig` made by hand (the config parser's are valid). */
function checkConfig(config: unknown): asserts config is StickyConfig {
  if (config === null || typeof config !== 'object') invalid('sticky', 'a sticky config (cookie, route or learn)', config);
  const c = config as Record<string, unknown>;
  if (!MODES.includes(c.mode as string)) invalid('sticky.mode', "'cookie', 'route' or 'learn'", c.mode);
  if (c.mode === 'cookie') {
    if (typeof c.name !== 'string' || c.name.length === 0) invalid('sticky.name', 'a non-empty cookie name', c.name);
    const e = c.expires;
    if (e !== undefined && e !== 'max' && !(Number.isSafeInteger(e) && (e as number) >= 0)) invalid('sticky.expires', "a non-negative integer of seconds or 'max'", e);
    for (const k of ['domain', 'path', 'samesite']) {
      if (c[k] !== undefined && (typeof c[k] !== 'string' || (c[k] as string).length === 0)) invalid(`sticky.${k}`, 'a non-empty string', c[k]);
    }
    const s = c.samesite as string | undefined;
    if (s !== undefined && !hasVariables(s) && !validSameSite(s)) invalid('sticky.samesite', "'strict', 'lax', 'none' or text with variables", s);
    if (typeof c.secure !== 'boolean') invalid('sticky.secure', 'a boolean', c.secure);
    if (typeof c.httponly !== 'boolean') invalid('sticky.httponly', 'a boolean', c.httponly);
  } else if (c.mode === 'route') {
    checkNames('sticky.variables', c.variables);
  } else {
    checkNames('sticky.create', c.create);
    checkNames('sticky.lookup', c.lookup);
    const zone = c.zone as { name?: unknown; size?: unknown } | null;
    if (zone === null || typeof zone !== 'object' || typeof zone.name !== 'string' || zone.name.length === 0) invalid('sticky.zone', 'a zone { name, size }', zone);
    if (typeof c.timeout !== 'number' || !(c.timeout > 0) || c.timeout === Infinity) invalid('sticky.timeout', 'a positive number of ms', c.timeout);
    if (typeof c.header !== 'boolean') invalid('sticky.header', 'a boolean', c.header);
  }
}

/**
 * nginx's `sticky` for one upstream: session affinity over a Balancer.
 *
 * @example
 * const sticky = new StickySessions(balancer, { mode: 'cookie', name: 'srv_id', expires: 3600, secure: false, httponly: true });
 * const r = sticky.request({ cookie: req.headers.cookie });
 * const server = r.next();           // the cookie's server when it is usable, else the method's choice
 * res.setHeader('Set-Cookie', r.setCookie!);
 * r.release();
 */
export class StickySessions<A extends StickyAttempt = StickyAttempt> {
  readonly balancer: StickyBalancer<A>;
  readonly config: StickyConfig;
  /** learn: the session store; undefined in the other modes. */
  readonly store: SessionStore | undefined;
  /** @internal */ readonly clock: () => number;
  /** @internal */ readonly variables: VariableLookup | undefined;

  constructor(balancer: StickyBalancer<A>, config: StickyConfig, options: StickySessionsOptions = {}) {
    if (balancer === null || typeof balancer !== 'object' || typeof balancer.attempt !== 'function') invalid('balancer', 'a Balancer', balancer);
    checkConfig(config);
    if (options === null || typeof options !== 'object') invalid('options', 'an options object', options);
    const { clock = Date.now, store, storeClock, variables } = options;
    if (typeof clock !== 'function') invalid('clock', 'a function', clock);
    if (variables !== undefined && typeof variables !== 'function') invalid('variables', 'a function', variables);
    if (store !== undefined && !(store instanceof SessionStore)) invalid('store', 'a SessionStore', store);
    this.balancer = balancer;
    this.config = config;
    this.clock = clock;
    this.variables = variables;
    if (config.mode === 'learn') {
      this.store = store ?? new SessionStore({ capacity: zoneCapacity(config.zone.size, config.zone.name), timeout: config.timeout, ...(storeClock ? { clock: storeClock } : null) });
    } else {
      this.store = undefined;
    }
  }

  /** Starts one request: reads its session id and starts the balancer's attempt with the hint. */
  request(init: StickyRequestInit = {}): StickyRequest<A> {
    return new StickyRequest(this, init);
  }
}

/**
 * One request under `sticky`: an attempt (`next()`, `fail()`, `skip()`, `release()`, `tries`,
 * `elapsed`, as the core's `Attempt`) plus the session's side: `setCookie` to send, and learning.
 */
export class StickyRequest<A extends StickyAttempt = StickyAttempt> implements StickyAttempt<ServerOf<A>> {
  /** The session id the request carries (cookie value, route, or `lookup=` value), or undefined. */
  readonly id: string | undefined;
  /** The hint given to the balancer: `id`, or in learn mode the sid the store names for it. */
  readonly hint: string | undefined;
  /** The balancer's attempt underneath (the core's `Attempt` with a Balancer). */
  readonly attempt: A;
  readonly #owner: StickySessions<A>;
  readonly #init: StickyRequestInit;
  #setCookie: string | undefined = undefined;
  /** The server the latest `next()` returned (kept after its free, as the attempt's `sid`). */
  #server: ServerOf<A> | undefined = undefined;
  /** A server is current: chosen and not yet freed. */
  #current = false;
  /** The Set-Cookie headers of the passed response (`$upstream_cookie_NAME`). */
  #upstreamSetCookie: HeaderValues = undefined;
  #learned: LearnResult | undefined = undefined;

  constructor(owner: StickySessions<A>, init: StickyRequestInit) {
    if (init === null || typeof init !== 'object') invalid('init', 'a request description', init);
    this.#owner = owner;
    this.#init = init;
    const config = owner.config;
    const lookup = (name: string): string | undefined => this.variable(name);
    let id: string | undefined;
    let hint: string | undefined;
    if (config.mode === 'cookie') {
      id = lookup(`cookie_${config.name}`);
      if (id === '') id = undefined;
      hint = id;
    } else if (config.mode === 'route') {
      hint = id = firstVariable(config.variables, lookup)?.value;
    } else {
      id = firstVariable(config.lookup, lookup)?.value;
      hint = id === undefined ? undefined : owner.store!.lookup(id);
    }
    this.id = id;
    this.hint = hint;
    const options: { tries?: number; timeout?: number; hint?: string } = {};
    if (init.tries !== undefined) options.tries = init.tries;
    if (init.timeout !== undefined) options.timeout = init.timeout;
    if (hint !== undefined) options.hint = hint;
    this.attempt = owner.balancer.attempt(init.key, options);
  }

  /**
   * A variable's value: the request's own lookup, then the sessions' lookup, then the built-in
   * `cookie_NAME`, `arg_NAME`, `upstream_cookie_NAME`.
   */
  variable(name: string): string | undefined {
    const own = this.#init.variables?.(name);
    if (own !== undefined) return own;
    const shared = this.#owner.variables?.(name);
    if (shared !== undefined) return shared;
    if (name.startsWith('cookie_')) return requestCookie(this.#init.cookie, name.slice(7));
    if (name.startsWith('arg_')) return argument(this.#init.args, name.slice(4));
    if (name.startsWith('upstream_cookie_')) return upstreamCookie(this.#upstreamSetCookie, name.slice(16));
    return undefined;
  }

  get tries(): number {
    return this.attempt.tries;
  }

  get elapsed(): number {
    return this.attempt.elapsed;
  }

  /**
   * The session id of the server the latest `next()` returned (still readable after its free, as
   * the attempt's): what the cookie carries.
   */
  get sid(): string | undefined {
    return this.#server === undefined ? undefined : (this.attempt.sid ?? this.#server.sid);
  }

  /** The current server came from the hint. */
  get hinted(): boolean {
    return this.attempt.hinted === true;
  }

  /** cookie mode: the Set-Cookie value for the last server chosen (kept when a later `next()` finds none). */
  get setCookie(): string | undefined {
    return this.#setCookie;
  }

  /** learn mode: what the last learning did, or undefined if none happened. */
  get learned(): LearnResult | undefined {
    return this.#learned;
  }

  /** The next server (the hinted one when usable), or undefined when none is left. */
  next(): ServerOf<A> | undefined {
    const owner = this.#owner;
    if (owner.config.mode === 'learn' && this.id !== undefined && this.attempt.setHint !== undefined) {
      // nginx looks the session up before every try, not once per request.
      this.attempt.setHint(owner.store!.lookup(this.id));
    }
    const server = this.attempt.next() as ServerOf<A> | undefined;
    this.#server = server;
    this.#current = server !== undefined;
    if (server === undefined) return undefined;
    const config = this.#owner.config;
    if (config.mode === 'cookie') {
      const sid = this.sid;
      if (sid !== undefined) this.#setCookie = this.#cookie(config, sid);
    }
    return server;
  }

  #cookie(config: StickyCookieConfig, sid: string): string {
    const lookup = (name: string): string | undefined => this.variable(name);
    const domain = config.domain !== undefined && hasVariables(config.domain) ? evaluate(config.domain, lookup) : config.domain;
    const dynamic = config.samesite !== undefined && hasVariables(config.samesite);
    const samesite = dynamic ? evaluate(config.samesite!, lookup) : config.samesite;
    const texts = { ...(domain !== undefined ? { domain } : null), ...(samesite !== undefined ? { samesite } : null), samesiteFromVariables: dynamic };
    return stickyCookie(config, sid, Math.floor(this.#owner.clock() / 1000), texts);
  }

  connected(): void {
    this.attempt.connected?.();
  }

  /** The current server failed (NGX_PEER_FAILED): nothing is learned. */
  fail(): void {
    this.attempt.fail();
    this.#current = false;
  }

  /** The current server's answer is passed over (NGX_PEER_NEXT, a 403 / 404 retried): nothing is learned. */
  skip(): void {
    this.attempt.skip();
    this.#current = false;
  }

  /** The request is done with the current server (nginx's free with no failure): learn mode learns here unless `header`. */
  release(): void {
    const config = this.#owner.config;
    if (config.mode === 'learn' && !config.header && this.#current) this.#learn(config);
    this.attempt.release();
    this.#current = false;
  }

  /**
   * The current server's response header is passed to the client (nginx's
   * NGX_HTTP_UPSTREAM_NOTIFY_HEADER, after the retry rule let it through), with its Set-Cookie
   * headers: `$upstream_cookie_NAME` reads them from now on; learn mode with `header` learns here.
   */
  responseHeader(setCookie?: HeaderValues): void {
    this.#upstreamSetCookie = setCookie;
    const config = this.#owner.config;
    if (config.mode === 'learn' && config.header && this.#current) this.#learn(config);
  }

  #learn(config: StickyLearnConfig): void {
    const sid = this.sid;
    if (sid === undefined) return;
    const lookup = (name: string): string | undefined => this.variable(name);
    const created = firstVariable(config.create, lookup)?.value;
    const store = this.#owner.store!;
    if (created !== undefined) this.#learned = store.learn(created, sid, true);
    else if (this.id !== undefined) this.#learned = store.learn(this.id, sid, false);
  }
}
