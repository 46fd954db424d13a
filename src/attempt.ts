/**
 * One request's walk over the upstream (nginx's per-request peer data, docs/nginx-semantics.md §1.3 and §4): the tried set,
 * the tries budget, the one-way switch to the backup tier, and the hash walk.
 *
 * Usage mirrors nginx's get / notify / free: `next()` hands out a server not yet tried by this
 * attempt, then exactly one of `fail()`, `skip()` or `release()` frees it (`connected()` may come in
 * between): `fail()` is NGX_PEER_FAILED, `skip()` is NGX_PEER_NEXT (http's 403 / 404 passed on),
 * `release()` ends the attempt. `next()` returns `undefined` when nothing is left (no live upstreams,
 * no tries left, or the time budget spent: `proxy_next_upstream_tries` / `_timeout`), after which
 * the attempt is finished. Misuse throws `AttemptStateError` and changes no counters.
 * One allocation per attempt (this object; plus a bitmap for tiers over 32 servers); none per `next()`.
 */

import { AttemptStateError, InvalidOptionError, show } from './errors';
import type { Server, ServerRecord } from './server';
import type { Tier } from './tier';
import { type Passed, type Placed, type RequestState, recycleTried } from './select/request';

/** What an Attempt needs from its Balancer (the library's own protocol: no entry exports it). */
export interface AttemptOwner {
  readonly clock: () => number;
  getFor(r: Attempt): ServerRecord | undefined;
  freeFor(server: ServerRecord, failed: boolean, r: Attempt | null, triesLeft: number, announce: boolean): void;
  connectedFor(server: ServerRecord): void;
  remap(r: Attempt): void;
  triesExhausted(reason: 'tries' | 'timeout'): void;
  readonly generation: number;
  /** The nginx version the balancer follows (hints need 1.30). */
  readonly nginx: string;
}

const FRESH = 0;
const ACTIVE = 1;
const BETWEEN = 2;
const FINISHED = 3;

/**
 * The error for a call made out of order (kept out of the methods, so that their hot paths stay small
 * enough for V8 to inline): `next()` while a server is current or after the end, `connected()`,
 * `fail()` or `release()` with no current server, or a free of a connection already released.
 */
function misuse(call: 'next' | 'connected' | 'fail' | 'skip' | 'release', current: ServerRecord | null): AttemptStateError {
  if (call === 'next') {
    return current !== null
      ? new AttemptStateError(`next() called while ${JSON.stringify(current.id)} is still current: call fail() or release() first`, current.id)
      : new AttemptStateError('next() called on a finished attempt', undefined);
  }
  if (current === null) return new AttemptStateError(`${call}() called with no current server: call next() first`, undefined);
  return new AttemptStateError(`${call}() of ${JSON.stringify(current.id)}, whose connection was already released`, current.id);
}

/** Per-attempt limits: nginx's `proxy_next_upstream_tries` and `proxy_next_upstream_timeout`. */
export interface AttemptOptions {
  /** The most servers this attempt tries; 0 = the balancer's `tries` option (itself 0 = no limit). */
  tries?: number;
  /** ms from the attempt's start (on the balancer's clock) after which no further server is tried; 0 = none. */
  timeout?: number;
  /**
   * A session id (nginx 1.30's `pc->hint`: a sticky cookie's value, a route, a learned session):
   * every `next()` first offers the server whose `sid` it is, in the tier the attempt is on, unless
   * this attempt tried it, it is down (draining is not down here), inside its failure window or at
   * `maxConns`; then the method chooses (docs/nginx-semantics.md §2.10). Not with `nginx: '1.22'`.
   */
  hint?: string;
}

/** The hint of an attempt, or null. @internal */
export function attemptHint(options: AttemptOptions, nginx: string): string | null {
  const hint = options.hint;
  if (hint === undefined) return null;
  if (typeof hint !== 'string') throw new InvalidOptionError('hint', `Expected hint to be a session id string, got ${show(hint)}`, hint);
  if (nginx === '1.22') {
    throw new InvalidOptionError('hint', `nginx 1.22 has no sticky sessions: a hint needs the balancer's nginx target 1.30, got hint ${show(hint)}`, hint);
  }
  return hint;
}

/** The tries cap of an attempt: its own `tries`, else the balancer's. @internal */
export function attemptTries(options: AttemptOptions, balancerTries: number): number {
  const t = options.tries ?? 0;
  if (!Number.isInteger(t) || t < 0) throw new InvalidOptionError('tries', `Expected tries to be a non-negative integer, got ${show(t)}`, t);
  return t !== 0 ? t : balancerTries;
}

/** The time budget of an attempt in ms, 0 = none. @internal */
export function attemptTimeout(options: AttemptOptions): number {
  const ms = options.timeout ?? 0;
  if (typeof ms !== 'number' || !(ms >= 0) || ms === Infinity) {
    throw new InvalidOptionError('timeout', `Expected timeout to be a non-negative finite number of ms, got ${show(ms)}`, ms);
  }
  return ms;
}

export class Attempt implements RequestState {
  /** @internal */ tier: Tier;
  /** @internal */ mask = 0;
  /** @internal */ bits: Uint32Array | null = null;
  /** @internal */ now = NaN;
  /** @internal */ readonly clock: () => number;
  /** @internal */ key: string;
  /** @internal */ walk: object | null = null;
  /** @internal */ carried: readonly Placed[] | null = null;
  /** @internal */ passed: Passed | null = null;
  /** @internal */ generation: number;
  /** @internal The session id the next get asks for (`AttemptOptions.hint`, `setHint`), or null. */ hint: string | null;
  /** @internal The latest get returned the hinted server. */ fromHint = false;
  /** Tries left (nginx `pc->tries`): non-down primaries + non-down backups, capped by `tries`. */
  tries: number;
  /** The time budget in ms (`proxy_next_upstream_timeout`); 0 = none. */
  readonly timeout: number;
  /** The clock's reading at the start (nginx `peer.start_time`), read only with a time budget or by `elapsed`. */
  #started: number;
  #owner: AttemptOwner;
  #current: ServerRecord | null = null;
  /** The server the latest `next()` returned (kept after its free, for `sid`). */
  #last: ServerRecord | null = null;
  /** connected() was called for the current server. */
  #connected = false;
  #phase = FRESH;

  /** @internal Use `balancer.attempt()`. */
  constructor(owner: AttemptOwner, tier: Tier, tries: number, key: string, timeout = 0, hint: string | null = null) {
    this.#owner = owner;
    this.clock = owner.clock;
    this.tier = tier;
    this.tries = tries;
    this.key = key;
    this.generation = owner.generation;
    this.timeout = timeout;
    this.hint = hint;
    this.#started = timeout === 0 ? NaN : owner.clock();
  }

  /**
   * Milliseconds since the attempt started, on the balancer's clock. With a time budget the start is
   * the attempt's creation; without one the clock is not read then, and the start is the first read
   * of `elapsed`.
   */
  get elapsed(): number {
    const started = this.#started;
    if (started === started) return this.#owner.clock() - started;
    this.#started = this.#owner.clock();
    return 0;
  }

  /** The server handed out by the last `next()` and not yet freed, if any. */
  get current(): Server | undefined {
    return this.#current ?? undefined;
  }

  /**
   * The session id of the server the latest `next()` returned (nginx's `pc->sid`): what a sticky
   * cookie of the response carries. Still readable after that server is freed, until the next
   * `next()`; undefined before the first and after a `next()` that found nothing.
   */
  get sid(): string | undefined {
    return this.#last?.sid;
  }

  /** True when the server the latest `next()` returned is the one the hint named. */
  get hinted(): boolean {
    return this.fromHint && this.#last !== null;
  }

  /**
   * Replaces the hint that the following `next()` calls honour (`undefined` = none). nginx's sticky
   * `learn` mode looks its session up again before every try (`ngx_http_upstream_sticky_get_peer`), so
   * a session relearned by another request between two tries moves the next try: the session layer
   * (`upstream-balancer/sticky`) calls this before each `next()`. Not with `nginx: '1.22'`.
   */
  setHint(hint: string | undefined): void {
    this.hint = attemptHint({ hint }, this.#owner.nginx);
  }

  /** True once the attempt has ended (a release, or `next()` found nothing). */
  get finished(): boolean {
    return this.#phase === FINISHED;
  }

  /**
   * The next server to try, never one this attempt already tried (within a tier).
   * `undefined` when no server is available or no tries are left; the attempt is then finished.
   *
   * @example
   * const a = balancer.attempt();
   * for (let s = a.next(); s; s = a.next()) {
   *   if (await tryConnect(s.address)) { a.connected(); break; }
   *   a.fail();
   * }
   */
  next(): Server | undefined {
    const phase = this.#phase;
    if (phase === ACTIVE || phase === FINISHED) throw misuse('next', this.#current);
    const owner = this.#owner;
    if (phase === BETWEEN && (this.tries === 0 || (this.timeout !== 0 && owner.clock() - this.#started >= this.timeout))) {
      this.#phase = FINISHED;
      this.#last = null;
      recycleTried(this);
      owner.triesExhausted(this.tries === 0 ? 'tries' : 'timeout');
      return undefined;
    }
    if (this.generation !== owner.generation) owner.remap(this);
    const server = owner.getFor(this);
    this.#last = server ?? null;
    if (server === undefined) {
      this.#phase = FINISHED;
      recycleTried(this);
      return undefined;
    }
    this.#current = server;
    this.#phase = ACTIVE;
    return server;
  }

  /**
   * The connection to the current server is established (nginx stream's connect notification):
   * a server whose failures were followed by a post-window selection is marked live now, not when
   * the session ends. Optional for protocols where only the final outcome counts.
   */
  connected(): void {
    const server = this.#current;
    if (server === null) throw misuse('connected', null);
    this.#owner.connectedFor(server);
    this.#connected = true;
  }

  /** The current server failed (refused, timed out, reset): counts against its `maxFails`. */
  fail(): void {
    this.#free(true, 'fail');
  }

  /**
   * The current server answered, but this request moves on (nginx's NGX_PEER_NEXT: http's 403 or
   * 404 named in `proxy_next_upstream`): freed as a success, no failure counted, one try used; call
   * `next()` for the next server. `nextUpstream()` says when.
   */
  skip(): void {
    this.#free(false, 'skip');
  }

  /** The current server's work is done without failure; the attempt is finished. */
  release(): void {
    this.#free(false, 'release');
    if (this.bits !== null) recycleTried(this);
  }

  #free(failed: boolean, call: 'fail' | 'skip' | 'release'): void {
    const server = this.#current;
    if (server === null || server.conns <= 0) throw misuse(call, server);
    this.#current = null;
    this.#phase = call === 'release' ? FINISHED : BETWEEN;
    const announce = !failed && !this.#connected;
    this.#connected = false;
    // nginx decrements tries after free; free may zero them (single mode), so compute first.
    const before = this.tries;
    this.#owner.freeFor(server, failed, this, before > 0 ? before - 1 : 0, announce);
  }
}
