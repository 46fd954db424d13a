/**
 * Reference model of nginx round robin, for property and differential tests of the Balancer.
 *
 * Written straight from docs/nginx-semantics.md §1-4 (nginx's src/http/ngx_http_upstream_round_robin.c;
 * src/stream/ngx_stream_upstream_round_robin.c is the same) and deliberately plain: an array of
 * peer objects in configuration order, a per-request `tried` Set, `now` passed in by the caller, no
 * typed arrays, no bit masks, no caching, no code shared with src/. O(n) per call everywhere; speed
 * does not matter here, being obviously right does.
 *
 * Time: `now` and `failTimeout` are in the same unit, whatever the caller uses. Pass whole seconds
 * (nginx's `ngx_time()`) and `failTimeout` in seconds to get nginx's timelines literally; the tests
 * pass milliseconds (quantised to whole seconds, or raw) with `failTimeout` in ms, as the Balancer
 * takes them.
 *
 * What is modelled (section numbers of docs/nginx-semantics.md, nginx functions of the file above):
 * - §2.1 selection round (`ngx_http_upstream_get_peer`): skip tried / down / passively excluded / at
 *   max_conns; current += effective, total += effective, effective += 1 while below weight; strict '>'
 *   (first in config order wins ties); winner pays total; `checked := now` on the winner if stale by
 *   more than fail_timeout.
 * - §2.2 get (`ngx_http_upstream_get_round_robin_peer`): single mode (one primary address, no backup:
 *   only down / max_conns can refuse it), else a round on the request's tier, falling back once (tried
 *   cleared) to the backup tier (its `failed:` label).
 * - §2.3 free (`ngx_http_upstream_free_round_robin_peer`): single mode zeroes fails (nginx >= 1.27.3,
 *   option `nginx: '1.30'`; with `'1.22'` it leaves them, which is the same while membership is
 *   static) and ends the request's tries; a
 *   failure counts, stamps accessed = checked = now and costs `weight div max_fails` of effective
 *   weight (floored at 0); a success clears fails iff accessed < checked. Every free decrements the
 *   request's tries.
 * - §2.6 stream connect (`ngx_stream_upstream_notify_round_robin_peer`): `connected()` applies
 *   `if accessed < checked then fails := 0`.
 * - §2.7 down (skipped, not in tries, still in the tier), max_conns.
 * - §3 backup tier: own SWRR state, per-request one-way switch, tried cleared.
 * - §4.1 tries = non-down primaries + non-down backups (macro `ngx_http_upstream_tries`), capped by
 *   `tries` when non-zero (`proxy_next_upstream_tries`, `ngx_http_upstream_init_request`); nginx 1.30
 *   counts a `drain` server as down there (`server[i].down` holds NGX_HTTP_UPSTREAM_DRAINING).
 * - §2.10 hints (nginx 1.30, `ngx_http_upstream_get_rr_peer_by_sid` and `st_peer` in
 *   `ngx_http_upstream_get_peer`): a request's hint is a session id, a peer's id is its `route=` or
 *   the hex MD5 of its address. At every get, the first peer of the request's current tier with that
 *   id is offered unless tried, down (draining is not down here), passively excluded or full. In
 *   single mode it is taken as is. In a round it is taken with no weight change while its current
 *   weight is at most -(tier's total weight - its weight), else the round runs as usual and the
 *   hinted peer wins it and pays the total (whether or not it took part: a draining one did not).
 *   An active-check verdict does not refuse a hinted peer (the check module patches the rounds only).
 *
 * Library extensions (not stock nginx; they mirror the Balancer's documented contract, listed in
 * docs/nginx-compat.md "Where the library differs from nginx, on purpose"):
 * - `drain` behaves like `down` for selection and tries, except for a hint (nginx 1.29.6+ has it in
 *   http only, §2.7, §2.10; the model also gives it to 1.22-target runs, where nothing sets a hint).
 * - Active-check verdicts (`check(id, ok)`: consecutive rise/fall counters, §7.3) skip a check-down
 *   server like `down`, but it still counts in tries (the check module's patch does not change tries,
 *   §7.5).
 * - Runtime membership: add / remove / update / setServers keep a server's state by id, except that
 *   update() or setServers() taking a server out of `down` restarts its active-check state when
 *   checks are configured. A removed
 *   peer's in-flight connections can still be freed (only its conns move). A weight change keeps the
 *   failure penalty: effective := new weight if the server was at full weight, else
 *   min(effective, new weight). A request whose tier lost all its servers continues on the primary
 *   tier. A request's tried set holds every server it tried, wherever a change moved it (never the
 *   same server twice). A server removed while it has connections open and added again by id is
 *   the same peer: fresh state, but those connections (towards max_conns too).
 * - In single mode `connected()` does nothing (nginx applies the rule, a no-op there since fails is
 *   always 0 in single mode while membership is static).
 * - A request marks a single-mode pick as tried too (nginx does not, which is unobservable there:
 *   single mode ends the request after one free) and the pick bumps `checked` like a round's winner
 *   (has an effect only when `fails > 0` was carried into single mode by a membership change).
 */

import { createHash } from 'node:crypto';

export interface RefServerOptions {
  id: string;
  /** The address text (the session id is its MD5); default: the id. */
  address?: string;
  /** `route=`: the session id when set. */
  route?: string;
  weight?: number;
  maxFails?: number;
  failTimeout?: number;
  maxConns?: number;
  backup?: boolean;
  down?: boolean;
  drain?: boolean;
}

export type RefState = 'up' | 'down' | 'draining' | 'unavail' | 'checking' | 'unhealthy';

export class RefPeer {
  readonly id: string;
  readonly address: string;
  /** The hex MD5 of the address (computed once: the address never changes). */
  readonly addressSid: string;
  route: string | undefined = undefined;
  weight = 1;
  maxFails = 1;
  failTimeout = 10_000;
  maxConns = 0;
  backup = false;
  down = false;
  drain = false;

  effectiveWeight = 1;
  currentWeight = 0;
  conns = 0;
  fails = 0;
  accessed = 0;
  checked = 0;

  /** Active-check verdict (rise/fall counters). */
  checkDown = false;
  checkPending = false;
  rise = 0;
  fall = 0;

  /** True once removed from the upstream. */
  removed = false;

  constructor(o: RefServerOptions) {
    this.id = o.id;
    this.address = o.address ?? o.id;
    this.addressSid = createHash('md5').update(this.address).digest('hex');
    this.configure(o);
    this.effectiveWeight = this.weight;
  }

  configure(o: RefServerOptions): void {
    this.weight = o.weight ?? 1;
    this.maxFails = o.maxFails ?? 1;
    this.failTimeout = o.failTimeout ?? 10_000;
    this.maxConns = o.maxConns ?? 0;
    this.backup = o.backup ?? false;
    this.down = o.down ?? false;
    this.drain = o.drain ?? false;
    this.route = o.route;
  }

  options(): RefServerOptions {
    return {
      id: this.id, address: this.address, weight: this.weight, maxFails: this.maxFails, failTimeout: this.failTimeout,
      maxConns: this.maxConns, backup: this.backup, down: this.down, drain: this.drain,
      ...(this.route === undefined ? {} : { route: this.route }),
    };
  }

  /** nginx 1.30's `peer->sid`: the route, else the hex MD5 of the address (printed as nginx prints it). */
  get sid(): string {
    return this.route ?? this.addressSid;
  }

  get state(): RefState {
    if (this.down) return 'down';
    if (this.drain) return 'draining';
    if (this.checkDown) return this.checkPending ? 'checking' : 'unhealthy';
    if (this.maxFails > 0 && this.fails >= this.maxFails) return 'unavail';
    return 'up';
  }
}

/** One request (nginx's per-request peer data, §1.3). */
export class RefRequest {
  tier: 'primary' | 'backup' = 'primary';
  /** Ids of the servers tried (a server removed and added again is the same server). */
  tried = new Set<string>();
  tries: number;
  current: RefPeer | null = null;
  /** 'fresh' | 'active' (a server is current) | 'between' (freed, may retry) | 'finished'. */
  phase: 'fresh' | 'active' | 'between' | 'finished' = 'fresh';
  /** Why the last next() returned null: 'nolive' or 'tries'. */
  ended: 'nolive' | 'tries' | null = null;
  /** The session id this request asks for (nginx's `pc->hint`), or null. */
  readonly hint: string | null;
  /** The latest get returned the hinted peer. */
  hinted = false;

  constructor(tries: number, hint: string | null = null) {
    this.tries = tries;
    this.hint = hint;
  }
}

export interface RefOptions {
  /** proxy_next_upstream_tries; 0 = no extra limit. */
  tries?: number;
  /**
   * Active checks configured (undefined = not configured): with true, servers start check-down
   * (default_down) and are `checking`.
   */
  checkDefaultDown?: boolean;
  rise?: number;
  fall?: number;
  /** The nginx series copied where they differ (single-mode free); default '1.30'. */
  nginx?: '1.30' | '1.22';
}

export class RefUpstream {
  peers: RefPeer[] = [];
  triesCap: number;
  rise: number;
  fall: number;
  checkDefaultDown: boolean | undefined;
  /** nginx 1.27.3+: a free in single mode sets fails to 0; 1.22 leaves them. */
  readonly singleFreeZeroesFails: boolean;
  /** How hinted gets went (for tests that assert each way was taken): kept = no weight change, paid = won a round, single = single mode. */
  readonly hintCounts = { kept: 0, paid: 0, single: 0 };

  constructor(servers: RefServerOptions[], options: RefOptions = {}) {
    this.triesCap = options.tries ?? 0;
    this.rise = options.rise ?? 2;
    this.fall = options.fall ?? 5;
    this.checkDefaultDown = options.checkDefaultDown;
    this.singleFreeZeroesFails = (options.nginx ?? '1.30') === '1.30';
    for (const s of servers) this.peers.push(this.fresh(s));
    this.requirePrimary(this.peers.map((p) => p.backup));
  }

  /** Removed peers by id, with the connections they still had when removed. */
  private readonly removedPeers = new Map<string, RefPeer>();

  /** A new peer; a removed one with connections still open comes back itself, fresh but for them. */
  private fresh(s: RefServerOptions): RefPeer {
    const old = this.removedPeers.get(s.id);
    this.removedPeers.delete(s.id);
    const p = new RefPeer(s);
    if (old !== undefined && old.conns > 0) {
      Object.assign(old, p, { conns: old.conns });
      this.initialCheck(old);
      return old;
    }
    this.initialCheck(p);
    return p;
  }

  private markRemoved(p: RefPeer): void {
    p.removed = true;
    this.removedPeers.set(p.id, p);
  }

  private initialCheck(p: RefPeer): void {
    const down = this.checkDefaultDown === true;
    p.checkDown = down;
    p.checkPending = down;
    p.rise = 0;
    p.fall = 0;
  }

  private requirePrimary(backupFlags: boolean[]): void {
    if (!backupFlags.some((b) => !b)) throw new Error('reference: no servers in upstream');
  }

  primaries(): RefPeer[] {
    return this.peers.filter((p) => !p.backup);
  }

  backups(): RefPeer[] {
    return this.peers.filter((p) => p.backup);
  }

  /** §1.2: exactly one primary (down or not) and no backup. */
  isSingle(): boolean {
    return this.primaries().length === 1 && this.backups().length === 0;
  }

  get(id: string): RefPeer | undefined {
    return this.peers.find((p) => p.id === id);
  }

  // ----------------------------------------------------------------------------------------------
  // Requests

  /** §4.1: tries = primaries not down + backups not down, capped by the `tries` option. */
  request(hint: string | null = null): RefRequest {
    const notDown = (p: RefPeer) => !p.down && !p.drain;
    let tries = this.primaries().filter(notDown).length + this.backups().filter(notDown).length;
    if (this.triesCap !== 0 && tries > this.triesCap) tries = this.triesCap;
    return new RefRequest(tries, hint);
  }

  /** attempt.next(): null when nothing is left or no tries remain; the request is then finished. */
  next(req: RefRequest, now: number): RefPeer | null {
    if (req.phase === 'active' || req.phase === 'finished') throw new Error(`reference: next() in phase ${req.phase}`);
    if (req.phase === 'between' && req.tries === 0) {
      req.phase = 'finished';
      req.ended = 'tries';
      return null;
    }
    const p = this.getPeer(req, now);
    if (p === null) {
      req.phase = 'finished';
      req.ended = 'nolive';
      return null;
    }
    req.current = p;
    req.phase = 'active';
    return p;
  }

  /** attempt.fail() / attempt.release(); `next` = attempt.skip() (NGX_PEER_NEXT: no failure, the request goes on). */
  finish(req: RefRequest, failed: boolean, now: number, next = false): void {
    const p = req.current;
    if (p === null || req.phase !== 'active') throw new Error('reference: free with no current server');
    req.current = null;
    req.phase = 'between';
    this.free(p, failed, now, req);
    if (!failed && !next) req.phase = 'finished';
  }

  /** attempt.connected(): the stream connect notification (§2.6). */
  connected(req: RefRequest): void {
    const p = req.current;
    if (p === null) throw new Error('reference: connected() with no current server');
    this.connect(p);
  }

  /** balancer.pick(): the first get of a fresh request. */
  pick(now: number): RefPeer | null {
    return this.getPeer(new RefRequest(0), now);
  }

  /** balancer.release(server, failed). */
  release(p: RefPeer, failed: boolean, now: number): void {
    if (p.conns <= 0) throw new Error('reference: release() with no connection');
    this.free(p, failed, now, null);
  }

  // ----------------------------------------------------------------------------------------------
  // nginx get / free (§2.1-2.3, §2.6)

  /** §2.2 get for one attempt. */
  getPeer(req: RefRequest, now: number): RefPeer | null {
    // Membership may have changed since the request's last get (library extension).
    if (req.tier === 'backup' && this.backups().length === 0) req.tier = 'primary';
    const tierPeers = req.tier === 'primary' ? this.primaries() : this.backups();

    let chosen: RefPeer | null = null;
    req.hinted = false;
    if (req.tier === 'primary' && this.isSingle()) {
      const p = tierPeers[0]!;
      const hinted = this.byHint(tierPeers, req, now) === p;
      const refused = req.tried.has(p.id) || p.down || p.drain || p.checkDown || (p.maxConns !== 0 && p.conns >= p.maxConns);
      if (hinted) this.hintCounts.single++;
      if (hinted || !refused) {
        chosen = p;
        if (now - p.checked > p.failTimeout) p.checked = now;
      }
    } else {
      chosen = this.round(tierPeers, req.tried, now, req);
    }
    if (chosen === null && req.tier === 'primary' && this.backups().length > 0) {
      req.tier = 'backup';
      // (nginx clears the tried bits here: the backup tier has its own. The set holds peers, and
      // keeps the primaries this request tried, in case a membership change moved one to backup.)
      chosen = this.round(this.backups(), req.tried, now, req);
    }
    if (chosen === null) return null;
    req.tried.add(chosen.id);
    chosen.conns += 1;
    return chosen;
  }

  /**
   * §2.10 `ngx_http_upstream_get_rr_peer_by_sid`: the first peer of `tier` whose session id is the
   * request's hint, if it may take the request (not tried, not down, not excluded, not full; a
   * draining or check-down peer may). Marks the request hinted.
   */
  byHint(tier: RefPeer[], req: RefRequest, now: number): RefPeer | null {
    if (req.hint === null) return null;
    const p = tier.find((q) => q.sid === req.hint);
    if (p === undefined || req.tried.has(p.id) || p.down) return null;
    if (p.maxFails !== 0 && p.fails >= p.maxFails && now - p.checked <= p.failTimeout) return null;
    if (p.maxConns !== 0 && p.conns >= p.maxConns) return null;
    req.hinted = true;
    return p;
  }

  /** §2.1 one selection round over a tier (§2.10 with the request's hint, when `req` has one). */
  round(tier: RefPeer[], tried: ReadonlySet<string>, now: number, req: RefRequest | null = null): RefPeer | null {
    const hinted = req === null ? null : this.byHint(tier, req, now);
    if (hinted !== null) {
      const totalWeight = tier.reduce((sum, p) => sum + p.weight, 0);
      if (hinted.currentWeight <= -(totalWeight - hinted.weight)) {
        this.hintCounts.kept++;
        if (now - hinted.checked > hinted.failTimeout) hinted.checked = now;
        return hinted;
      }
    }
    let best: RefPeer | null = null;
    let total = 0;
    for (const p of tier) {
      if (tried.has(p.id)) continue;
      if (p.down || p.drain || p.checkDown) continue;
      if (p.maxFails !== 0 && p.fails >= p.maxFails && now - p.checked <= p.failTimeout) continue;
      if (p.maxConns !== 0 && p.conns >= p.maxConns) continue;
      p.currentWeight += p.effectiveWeight;
      total += p.effectiveWeight;
      if (p.effectiveWeight < p.weight) p.effectiveWeight += 1;
      if (best === null || p.currentWeight > best.currentWeight) best = p;
    }
    if (hinted !== null) {
      this.hintCounts.paid++;
      best = hinted;
    }
    if (best === null) return null;
    best.currentWeight -= total;
    if (now - best.checked > best.failTimeout) best.checked = now;
    return best;
  }

  /** §2.3 free. `req` is null for a one-shot release. */
  free(p: RefPeer, failed: boolean, now: number, req: RefRequest | null): void {
    if (p.removed) {
      if (p.conns > 0) p.conns -= 1;
      if (req !== null && req.tries > 0) req.tries -= 1;
      return;
    }
    if (this.isSingle() && !p.backup) {
      if (this.singleFreeZeroesFails) p.fails = 0;
      p.conns -= 1;
      if (req !== null) req.tries = 0;
      return;
    }
    if (failed) {
      p.fails += 1;
      p.accessed = now;
      p.checked = now;
      if (p.maxFails !== 0) p.effectiveWeight -= Math.floor(p.weight / p.maxFails);
      if (p.effectiveWeight < 0) p.effectiveWeight = 0;
    } else if (p.accessed < p.checked) {
      p.fails = 0;
    }
    p.conns -= 1;
    if (req !== null && req.tries > 0) req.tries -= 1;
  }

  /** §2.6 stream connect notification. */
  connect(p: RefPeer): void {
    if (p.removed) return;
    if (this.isSingle() && !p.backup) return; // single mode: fails is 0 here in nginx; the Balancer skips it
    if (p.accessed < p.checked) p.fails = 0;
  }

  // ----------------------------------------------------------------------------------------------
  // Active-check verdicts (§7.3, library extension)

  check(id: string, ok: boolean): void {
    const p = this.require(id);
    const rise = this.rise;
    const fall = this.fall;
    if (ok) {
      p.rise += 1;
      p.fall = 0;
      if (p.checkDown && p.rise >= rise) {
        p.checkDown = false;
        p.checkPending = false;
      }
    } else {
      p.rise = 0;
      p.fall += 1;
      p.checkPending = false;
      if (!p.checkDown && p.fall >= fall) p.checkDown = true;
    }
  }

  // ----------------------------------------------------------------------------------------------
  // Runtime membership (library extension)

  private require(id: string): RefPeer {
    const p = this.get(id);
    if (p === undefined) throw new Error(`reference: unknown id ${id}`);
    return p;
  }

  add(s: RefServerOptions): RefPeer {
    if (this.get(s.id) !== undefined) throw new Error(`reference: duplicate id ${s.id}`);
    const p = this.fresh(s);
    this.peers.push(p);
    return p;
  }

  remove(id: string): void {
    const p = this.require(id);
    this.requirePrimary(this.peers.filter((q) => q !== p).map((q) => q.backup));
    this.markRemoved(p);
    this.peers = this.peers.filter((q) => q !== p);
  }

  update(id: string, patch: Omit<Partial<RefServerOptions>, 'id'>): void {
    const p = this.require(id);
    const next = { ...p.options(), ...patch, id };
    this.requirePrimary(this.peers.map((q) => (q === p ? next.backup ?? false : q.backup)));
    this.reweight(p, next.weight ?? 1);
    const wasDown = p.down;
    p.configure(next);
    // back from `down` with active checks configured: health is proven again from the initial state
    if (wasDown && !p.down && this.checkDefaultDown !== undefined) this.initialCheck(p);
  }

  setServers(list: RefServerOptions[]): void {
    this.requirePrimary(list.map((s) => s.backup ?? false));
    const next: RefPeer[] = [];
    for (const s of list) {
      const existing = this.get(s.id);
      if (existing !== undefined) {
        this.reweight(existing, s.weight ?? 1);
        const wasDown = existing.down;
        existing.configure(s);
        if (wasDown && !existing.down && this.checkDefaultDown !== undefined) this.initialCheck(existing);
        next.push(existing);
      } else {
        next.push(this.fresh(s));
      }
    }
    for (const p of this.peers) if (!next.includes(p)) this.markRemoved(p);
    this.peers = next;
  }

  private reweight(p: RefPeer, weight: number): void {
    if (weight === p.weight) return;
    p.effectiveWeight = p.effectiveWeight >= p.weight ? weight : Math.min(p.effectiveWeight, weight);
  }
}
