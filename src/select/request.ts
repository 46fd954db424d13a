/**
 * Per-request selection state (nginx's `ngx_http_upstream_rr_peer_data_t`): the tier in use, the
 * tried set of that tier, the lazily read clock, the key, and the method's own per-request data
 * (`walk`: nginx's hash, ip_hash, chash and random peer data). `Attempt` implements it; the
 * Balancer keeps one more instance for one-shot `pick()`, so a pick allocates nothing.
 *
 * The tried set is a 32-bit mask while the tier has at most 32 servers, a `Uint32Array` bitmap
 * beyond that (JS bit operations are 32-bit). Switching tiers clears it.
 */

import type { Peers } from '../peers';
import type { Tier } from '../tier';

export interface RequestState {
  /** The tier being selected from: the primary tier, then (one-way) the backup tier. */
  tier: Tier;
  /** Tried bits for tiers of up to 32 servers. */
  mask: number;
  /** Tried bitmap for larger tiers (null until first needed). */
  bits: Uint32Array | null;
  /** `now` for this call, NaN until first read (the clock is read at most once per call). */
  now: number;
  /** The balancer's clock. */
  readonly clock: () => number;
  /** Hash key (hash methods) or client address (ip-hash); '' when absent. */
  key: string;
  /**
   * The method's per-request data, kept across the retries of one request (hash.ts `HashWalk`,
   * consistent-hash.ts `PointWalk`, ip-hash.ts `IpHashWalk`, random.ts `DrawCount`); created by the
   * method on first use, null for round robin and least_conn.
   */
  walk: object | null;
  /**
   * Servers this request tried that sit on a tier other than `tier` (a membership change moved them,
   * or removed them): marked again when the request reaches their tier, so that no request is given
   * a server twice. Null unless a membership change happened during the request (membership.ts).
   */
  carried: readonly Placed[] | null;
  /**
   * The primary tier a request fell back from, and its tried set there (moved aside, not cleared):
   * read only if a membership change sends the request back to the primaries (membership.ts remap).
   * Null unless the request tried primaries before it fell back (one field on every request; an
   * object only on that fallback).
   */
  passed: Passed | null;
  /**
   * The session id this request asks for (`AttemptOptions.hint`; nginx's `pc->hint`), honoured at
   * every get before the method chooses (hint.ts); null for none (always for one-shot picks).
   */
  readonly hint: string | null;
  /** The latest get returned the hinted server (set by hint.ts, cleared by the Balancer before each get). */
  fromHint: boolean;
}

/** The tried set a request left on the primary tier when it fell back to the backup tier. */
export interface Passed {
  readonly tier: Tier;
  readonly mask: number;
  readonly bits: Uint32Array | null;
}

/** A server as the tried set sees it: where it sits now (`tier` null once removed). */
export interface Placed {
  readonly tier: Tier | null;
  readonly index: number;
}

/** `now` for this call, reading the clock at most once. */
export function nowOf(r: RequestState): number {
  const now = r.now;
  if (now === now) return now;
  return (r.now = r.clock());
}

/** True on a request's first get of its tier: nothing tried yet (the hash methods start their walk then). */
function isFirstGet(r: RequestState): boolean {
  return r.mask === 0 && r.bits === null;
}

/** A method's per-request data: `reset` starts it afresh. */
export interface Walk {
  reset(): void;
}

/**
 * The request's `walk` of class `W`, created on first use and reset on the request's first get of
 * a tier (nothing tried yet), where nginx's hash methods start their walk.
 *
 * @example
 * const walk = walkOf(r, HashWalk);
 */
export function walkOf<W extends Walk>(r: RequestState, Walk: new () => W): W {
  const walk = r.walk as W | null;
  if (walk === null) return (r.walk = new Walk());
  if (isFirstGet(r)) walk.reset();
  return walk;
}

/** True if server `i` of the current tier was already tried by this request. */
export function isTried(r: RequestState, i: number): boolean {
  const bits = r.bits;
  return bits === null ? ((r.mask >>> i) & 1) !== 0 && i < 32 : ((bits[i >>> 5]! >>> (i & 31)) & 1) !== 0;
}

/** Marks server `i` of the current tier as tried. */
export function markTried(r: RequestState, i: number): void {
  let bits = r.bits;
  if (bits === null && r.tier.n <= 32) {
    r.mask |= 1 << i;
    return;
  }
  // Once a bitmap is in use (a tier over 32 servers was seen) it stays the tried set of this request.
  if (bits === null || bits.length * 32 < r.tier.n) {
    const words = (r.tier.n + 31) >>> 5;
    const grown = (bits === null ? r.tier.spare.pop() : undefined) ?? new Uint32Array(words);
    if (bits !== null) grown.set(bits);
    bits = r.bits = grown;
  }
  bits[i >>> 5]! |= 1 << (i & 31);
}

/** The servers a request tried on the primary tier it fell back from (none if it did not). */
export function passedTried(r: RequestState): Placed[] {
  const out: Placed[] = [];
  if (r.passed === null) return out;
  const { tier, mask, bits } = r.passed;
  for (let i = 0; i < tier.n; i++) {
    const tried = bits === null ? i < 32 && ((mask >>> i) & 1) !== 0 : ((bits[i >>> 5]! >>> (i & 31)) & 1) !== 0;
    if (tried) out.push(tier.records[i] as unknown as Placed);
  }
  return out;
}

/** Marks each server of `placed` that sits on the request's tier now. */
export function markPlaced(r: RequestState, placed: readonly Placed[]): void {
  for (const rec of placed) if (rec.tier === r.tier) markTried(r, rec.index);
}

/**
 * Gives a finished request's bitmap back to its tier for reuse, so that attempts on large tiers do
 * not allocate one each in steady state.
 */
export function recycleTried(r: RequestState): void {
  const bits = r.bits;
  if (bits === null) return;
  r.bits = null;
  const t = r.tier;
  if (bits.length === (t.n + 31) >>> 5 && t.spare.length < 64) {
    bits.fill(0);
    t.spare.push(bits);
  }
}

/** Clears the tried set (tier switch, or a new request). */
export function clearTried(r: RequestState): void {
  r.mask = 0;
  if (r.bits !== null) r.bits.fill(0);
}

/**
 * nginx's one-way fallback after the primary tier yielded nothing: the request moves to the backup
 * tier with an empty tried set (`peers->next` in round robin's and least_conn's get); its set on the
 * primaries is moved aside (`passed`), not cleared. False when there is no backup tier or the
 * request is on it already.
 */
export function fallBackToBackup(p: Peers, r: RequestState): boolean {
  if (p.backup === null || r.tier !== p.primary) return false;
  if (r.mask !== 0 || r.bits !== null) {
    // (only a request that tried primaries has a set to move aside: never a one-shot pick)
    r.passed = { tier: r.tier, mask: r.mask, bits: r.bits };
    r.mask = 0;
    r.bits = null;
  }
  r.tier = p.backup;
  if (r.carried !== null) markPlaced(r, r.carried);
  return true;
}
