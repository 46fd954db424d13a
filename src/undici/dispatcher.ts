/**
 * BalancedDispatcher: an undici `Dispatcher` that sends each request to the server a Balancer
 * picks, with nginx's `proxy_next_upstream` retries (walk.ts), over one keep-alive undici `Pool`
 * per server, created on first use and closed when the server leaves the balancer, on `close()`
 * (gracefully) and on `destroy()`. docs/undici.md is the user's guide.
 */

import * as undici from 'undici';
import { Dispatcher, Pool, errors } from 'undici';
import { InvalidOptionError, show } from '../errors';
import { type NextUpstreamPolicy, nextUpstreamPolicy } from '../next-upstream';
import { connectOptions } from '../target';
import { toSink } from './sink';
import type { BalancerLike, NextUpstreamConditionName, NextUpstreamPolicyLike, UpstreamServerLike as Server } from './types';
import { ControllerTry, type Route, Try, Walk, type WalkHost, type WalkOptions } from './walk';
import type { StickySessions } from '../sticky/sessions';
import type { StickyConfig } from '../sticky/types';
import { DispatcherSticky, type StickyVariables } from './sticky';

/** Options of `new BalancedDispatcher(balancer, options)`. */
export interface BalancedDispatcherOptions {
  /**
   * nginx's `proxy_next_upstream`: the conditions (default `['error', 'timeout']`), or a policy from
   * `nextUpstreamPolicy()` (its tries and timeout apply unless `tries` / `timeout` are given here).
   */
  nextUpstream?: readonly NextUpstreamConditionName[] | NextUpstreamPolicyLike;
  /** `proxy_next_upstream_tries`: the most servers one request tries; 0 = no limit (default). */
  tries?: number;
  /** `proxy_next_upstream_timeout` in ms from the request's start: no retry after it; 0 = none (default). */
  timeout?: number;
  /** `proxy_connect_timeout` in ms (default 60000, nginx's; undici's own default is 10000). */
  connectTimeout?: number;
  /** `proxy_read_timeout` for the response header, in ms from the request's write (default 60000). 0 = none. */
  headersTimeout?: number;
  /** `proxy_read_timeout` between two reads of the response body, in ms (default 60000). 0 = none. */
  bodyTimeout?: number;
  /**
   * nginx's `keepalive N`: connections kept open per server after their request. `true` (default):
   * every connection (undici's Pool); a number: a request that finds N others in flight on its
   * server asks for `connection: close`; `false` or 0: every connection closes after its request.
   */
  keepalive?: number | boolean;
  /** ms an idle kept-alive connection stays open (undici's `keepAliveTimeout`, default 4000; nginx's `keepalive_timeout` 60s). */
  keepAliveTimeout?: number;
  /**
   * The Host header the server sees when the request has none: `'origin'` (default) the request
   * URL's host, as nginx's `proxy_set_header Host $proxy_host`; `'upstream'` the server's address;
   * any other string is sent as is.
   */
  host?: 'origin' | 'upstream' | (string & NonNullable<unknown>);
  /** The origin of requests dispatched without one (`dispatcher.request({ path })`). */
  origin?: string | URL;
  /** The balancer's key for a request (hash methods: the hash key; ip-hash: the client address). */
  key?: (options: Dispatcher.DispatchOptions) => string | undefined;
  /**
   * The handler API the dispatcher speaks to its pools: `'auto'` (default) the older one
   * (`onConnect` ... `onError`) when the installed undici's Client calls it directly (6 and 7), the
   * newer one (`onRequestStart` ... `onResponseError`) from undici 8, which has only that one;
   * `'controller'` the newer one always (undici 7 converts it, at some cost per request).
   */
  handlerApi?: 'auto' | 'controller';
  /**
   * nginx 1.30's `sticky` (docs/sticky.md): a `StickyConfig` (`cookie`, `route` or `learn`, as
   * `parseNginx` puts it on an upstream), or a `StickySessions` over this dispatcher's balancer.
   * Each request's Cookie headers and query string are read (`$cookie_NAME`, `$arg_NAME`), the
   * session's server is tried first, the response gains the `Set-Cookie` (cookie mode) and learn
   * mode learns from the response's Set-Cookie headers (`$upstream_cookie_NAME`).
   */
  sticky?: StickyConfig | StickySessions;
  /** Other nginx variables `sticky` reads (`$host`, `$http_x_user`...), by name without `$`, per request. */
  stickyVariables?: StickyVariables;
  /**
   * More options for each server's undici Pool (`connect` for TLS, `connections`, `pipelining`,
   * `maxResponseSize`, ...). The options above win over these.
   */
  pool?: Pool.Options;
}

/** A server's pools (one per protocol, nearly always one), and its tries in flight. */
class Entry {
  readonly lanes = new Map<string, Lane>();
  inflight = 0;
  constructor(
    readonly address: string,
    readonly keepalive: number,
  ) {}
}

/** One pool of a server: the route its tries take (made once, not per request). */
class Lane implements Route {
  constructor(
    readonly pool: Pool,
    readonly entry: Entry,
  ) {}
  begin(): boolean {
    const e = this.entry;
    return ++e.inflight > e.keepalive;
  }
  end(): void {
    this.entry.inflight--;
  }
}

const DEFAULT_TIMEOUT = 60_000;

/** undici 8 (the first without the older handler API in its Client) exports the wrapper for old handlers. */
const CONTROLLER_ONLY = 'Dispatcher1Wrapper' in undici;

function ms(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0) || value === Infinity) {
    throw new InvalidOptionError(name, `Expected ${name} to be a non-negative finite number of ms, got ${show(value)}`, value);
  }
  return value;
}

function isPolicy(value: unknown): value is NextUpstreamPolicyLike {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Array.isArray((value as NextUpstreamPolicyLike).conditions);
}

/**
 * An undici Dispatcher over a Balancer: `fetch(url, { dispatcher })`, `request(url, { dispatcher })`,
 * `dispatcher.request()`, `stream()`, `pipeline()` send each request to the server the balancer
 * picks, retrying as nginx's `proxy_next_upstream` says, and answer 502 / 504 themselves when no
 * server is left (as nginx does).
 *
 * @example
 * import { Balancer } from 'upstream-balancer';
 * import { BalancedDispatcher } from 'upstream-balancer/undici';
 * const balancer = new Balancer({ servers: [{ address: '10.0.0.1:8080' }, { address: '10.0.0.2:8080' }] });
 * const dispatcher = new BalancedDispatcher(balancer, { nextUpstream: ['error', 'timeout', 'http_502'] });
 * const res = await fetch('http://backend/api', { dispatcher });
 */
export class BalancedDispatcher extends Dispatcher {
  readonly balancer: BalancerLike;
  /** The session layer with `sticky` (its `store` in learn mode), else undefined. */
  readonly sticky: StickySessions | undefined;
  /** The `proxy_next_upstream` policy in use (with its tries and timeout). */
  readonly policy: NextUpstreamPolicyLike;
  readonly #policy: NextUpstreamPolicy;
  /** The attempt options of every request (the policy's tries and timeout). */
  readonly #limits: { readonly tries: number; readonly timeout: number };
  readonly #host: 'origin' | 'upstream' | string;
  readonly #origin: string | undefined;
  readonly #key: ((options: Dispatcher.DispatchOptions) => string | undefined) | undefined;
  readonly #keepalive: number;
  readonly #poolOptions: Pool.Options;
  readonly #entries = new Map<Server, Entry>();
  /** Pools of servers that left the balancer, closing. */
  readonly #retiring = new Set<Pool>();
  /**
   * The walks in flight, newest first, linked through `Walk.older` / `newer` (a Set with an insert
   * and a delete per request doubled the GC time of a load test), and their number.
   */
  #newest: Walk | null = null;
  #inFlight = 0;
  readonly #walkHost: WalkHost;
  #seen: readonly Server[] | null = null;
  #closed = false;
  #destroyed = false;
  #idle: (() => void) | null = null;
  #closing: Promise<void> | null = null;
  #destroying: Promise<void> | null = null;
  /** The last origin seen, parsed (requests mostly share one). */
  #lastOrigin: unknown = undefined;
  #lastTarget: { protocol: string; host: string | null } = { protocol: 'http:', host: null };

  constructor(balancer: BalancerLike, options: BalancedDispatcherOptions = {}) {
    super();
    if (balancer === null || typeof balancer !== 'object' || typeof balancer.attempt !== 'function') {
      throw new InvalidOptionError('balancer', `Expected a Balancer, got ${show(balancer)}`, balancer);
    }
    if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', `Expected an options object, got ${show(options)}`, options);
    this.balancer = balancer;
    const given = options.nextUpstream;
    const conditions = isPolicy(given) ? given.conditions : given;
    this.policy = this.#policy = nextUpstreamPolicy(conditions, {
      tries: options.tries ?? (isPolicy(given) ? given.tries : 0),
      timeout: options.timeout ?? (isPolicy(given) ? given.timeout : 0),
    });
    this.#limits = Object.freeze({ tries: this.#policy.tries, timeout: this.#policy.timeout });
    const host = options.host ?? 'origin';
    if (typeof host !== 'string' || host.length === 0) throw new InvalidOptionError('host', `Expected host to be 'origin', 'upstream' or a Host header value, got ${show(host)}`, host);
    this.#host = host;
    this.#origin = options.origin === undefined ? undefined : String(options.origin);
    if (options.key !== undefined && typeof options.key !== 'function') throw new InvalidOptionError('key', `Expected key to be a function, got ${show(options.key)}`, options.key);
    this.#key = options.key;
    const keepalive = options.keepalive ?? true;
    if (keepalive !== true && keepalive !== false && !(Number.isInteger(keepalive) && keepalive >= 0)) {
      throw new InvalidOptionError('keepalive', `Expected keepalive to be a boolean or a non-negative integer, got ${show(keepalive)}`, keepalive);
    }
    this.#keepalive = keepalive === true ? Infinity : keepalive === false ? 0 : keepalive;
    const pool = options.pool ?? {};
    if (pool === null || typeof pool !== 'object') throw new InvalidOptionError('pool', `Expected pool to be undici Pool options, got ${show(pool)}`, pool);
    this.#poolOptions = {
      ...pool,
      connectTimeout: ms('connectTimeout', options.connectTimeout, DEFAULT_TIMEOUT),
      headersTimeout: ms('headersTimeout', options.headersTimeout, DEFAULT_TIMEOUT),
      bodyTimeout: ms('bodyTimeout', options.bodyTimeout, DEFAULT_TIMEOUT),
      ...(options.keepAliveTimeout === undefined ? null : { keepAliveTimeout: ms('keepAliveTimeout', options.keepAliveTimeout, 0) }),
    };
    if (options.stickyVariables !== undefined && typeof options.stickyVariables !== 'function') {
      throw new InvalidOptionError('stickyVariables', `Expected stickyVariables to be a function, got ${show(options.stickyVariables)}`, options.stickyVariables);
    }
    const sticky = options.sticky === undefined ? undefined : new DispatcherSticky(balancer, options.sticky, options.stickyVariables);
    this.sticky = sticky?.sessions;
    const api = options.handlerApi ?? 'auto';
    if (api !== 'auto' && api !== 'controller') throw new InvalidOptionError('handlerApi', `Expected handlerApi to be 'auto' or 'controller', got ${show(api)}`, api);
    this.#walkHost = {
      policy: this.#policy,
      Try: api === 'controller' || CONTROLLER_ONLY ? ControllerTry : Try,
      attempt: sticky === undefined ? (key) => this.balancer.attempt(key, this.#limits) : (key, o) => sticky.attempt(key, this.#limits, o as unknown as Dispatcher.DispatchOptions),
      route: (server, protocol) => this.#route(server, protocol),
      done: (walk) => this.#unlink(walk),
    };
  }

  /** True once `close()` or `destroy()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True once `destroy()` was called. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /**
   * Starts one balanced request (undici's low-level API; `request`, `stream`, `fetch` call it).
   * Always returns true: requests queue in the servers' pools, not here.
   */
  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const sink = toSink(handler);
    let walk: Walk;
    try {
      if (this.#destroyed) throw new errors.ClientDestroyedError();
      if (this.#closed) throw new errors.ClientClosedError();
      if (options === null || typeof options !== 'object') throw new errors.InvalidArgumentError('opts must be an object.');
      this.#sweep();
      const target = this.#target(options.origin);
      const key = this.#key === undefined ? undefined : this.#key(options);
      walk = new Walk(this.#walkHost, sink, options as unknown as WalkOptions, target.protocol, target.host, key);
    } catch (error) {
      sink.error(error as Error);
      return false;
    }
    this.#link(walk);
    walk.start();
    return true;
  }

  #link(walk: Walk): void {
    const newest = this.#newest;
    walk.older = newest;
    if (newest !== null) newest.newer = walk;
    this.#newest = walk;
    this.#inFlight++;
  }

  #unlink(walk: Walk): void {
    const { older, newer } = walk;
    if (newer !== null) newer.older = older;
    else this.#newest = older;
    if (older !== null) older.newer = newer;
    walk.older = walk.newer = null;
    if (--this.#inFlight === 0 && this.#idle !== null) this.#idle();
  }

  /** The protocol and Host header for a request's origin (the last one is remembered). */
  #target(origin: unknown): { protocol: string; host: string | null } {
    const given = origin ?? this.#origin;
    if (given === this.#lastOrigin) return this.#lastTarget;
    let target: { protocol: string; host: string | null };
    if (given === undefined) {
      target = { protocol: 'http:', host: this.#host === 'origin' || this.#host === 'upstream' ? null : this.#host };
    } else {
      let url: URL;
      try {
        url = new URL(String(given));
      } catch {
        throw new errors.InvalidArgumentError(`invalid origin ${show(String(given))}`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new errors.InvalidArgumentError(`invalid protocol ${show(url.protocol)}: http: or https:`);
      const host = this.#host === 'origin' ? url.host : this.#host === 'upstream' ? null : this.#host;
      target = { protocol: url.protocol, host };
    }
    this.#lastOrigin = given;
    this.#lastTarget = target;
    return target;
  }

  /** A server's pool for `protocol`, made on first use; its entry counts tries in flight. */
  #route(server: Server, protocol: string): Route {
    let entry = this.#entries.get(server);
    if (entry === undefined || entry.address !== server.address) {
      if (entry !== undefined) this.#retire(entry);
      entry = new Entry(server.address, this.#keepalive);
      this.#entries.set(server, entry);
    }
    let lane = entry.lanes.get(protocol);
    if (lane === undefined) {
      lane = new Lane(this.#pool(server, protocol), entry);
      entry.lanes.set(protocol, lane);
    }
    return lane;
  }

  #pool(server: Server, protocol: string): Pool {
    const target = connectOptions(server, protocol === 'https:' ? 443 : 80);
    let origin: string;
    let socketPath: string | undefined;
    if ('path' in target) {
      origin = `${protocol}//localhost`;
      socketPath = target.path;
    } else {
      origin = `${protocol}//${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
    }
    const pool = new Pool(origin, socketPath === undefined ? this.#poolOptions : { ...this.#poolOptions, socketPath });
    // (the pools' connection events, as undici's Agent forwards them)
    pool.on('connect', (o, targets) => this.emit('connect', o, [this, ...targets]));
    pool.on('disconnect', (o, targets, error) => this.emit('disconnect', o, [this, ...targets], error));
    pool.on('connectionError', (o, targets, error) => this.emit('connectionError', o, [this, ...targets], error));
    return pool;
  }

  /** Closes the pools of servers that left the balancer (checked when the server list changed). */
  #sweep(): void {
    const servers = this.balancer.servers;
    if (servers === this.#seen) return;
    this.#seen = servers;
    if (this.#entries.size === 0) return;
    const live = new Set(servers);
    for (const [server, entry] of this.#entries) {
      if (!live.has(server) || server.address !== entry.address) {
        this.#entries.delete(server);
        this.#retire(entry);
      }
    }
  }

  /** Closes an entry's pools gracefully (requests in flight finish first). */
  #retire(entry: Entry): void {
    for (const { pool } of entry.lanes.values()) {
      this.#retiring.add(pool);
      pool.close().then(
        () => this.#retiring.delete(pool),
        () => this.#retiring.delete(pool),
      );
    }
    entry.lanes.clear();
  }

  #pools(): Pool[] {
    const all = [...this.#retiring];
    for (const entry of this.#entries.values()) for (const { pool } of entry.lanes.values()) all.push(pool);
    return all;
  }

  /**
   * Stops taking requests, lets those in flight finish (their retries included), then closes every
   * pool: no socket is left open when it resolves.
   */
  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    const done = this.#close();
    if (callback === undefined) return done;
    done.then(() => callback(), () => callback());
  }

  #close(): Promise<void> {
    if (this.#destroyed) return this.#destroying ?? Promise.reject(new errors.ClientDestroyedError());
    if (this.#closing !== null) return this.#closing;
    this.#closed = true;
    this.#closing = (async () => {
      if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
      this.#idle = null;
      await Promise.all(this.#pools().map((p) => p.close().catch(() => {})));
    })();
    return this.#closing;
  }

  /**
   * Aborts every request in flight with `error` (undici's `ClientDestroyedError` by default; the
   * servers are released, not failed) and destroys every pool and its sockets.
   */
  override destroy(): Promise<void>;
  override destroy(error: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(error: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const callback = typeof a === 'function' ? a : b;
    const error = typeof a === 'function' ? null : a;
    const done = this.#destroy(error ?? null);
    if (callback === undefined) return done;
    done.then(() => callback(), () => callback());
  }

  #destroy(error: Error | null): Promise<void> {
    if (this.#destroying !== null) return this.#destroying;
    this.#closed = true;
    this.#destroyed = true;
    const reason = error ?? new errors.ClientDestroyedError();
    const walks: Walk[] = [];
    for (let w = this.#newest; w !== null; w = w.older) walks.push(w);
    for (const walk of walks) walk.abort(reason);
    this.#idle?.();
    this.#destroying = Promise.all(this.#pools().map((p) => p.destroy(reason).catch(() => {}))).then(() => {});
    return this.#destroying;
  }
}
