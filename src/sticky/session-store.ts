/**
 * The session store of `sticky learn` (src/http/modules/ngx_http_upstream_sticky_module.c: the
 * `zone=` of `ngx_http_upstream_sticky_sess_*`): session id → server session id (sid), bounded,
 * with an injected clock.
 *
 * - A session is keyed by the MD5 of its id, as nginx keys its tree (`_sess_init_key`), so an
 *   entry costs the same whatever the id's length.
 * - `lookup` finds a session and changes nothing (nginx's get_peer does not touch `last`).
 * - `learn` (`_learn_peer`): a session found is refreshed (its `last` set to now, moved to the end
 *   of the expiry order) and, when it names another server, reused for the new sid; a session not
 *   found is created only when the request has a `create=` value.
 * - Expiry (`_sess_expire`, run by nginx's session timer at the oldest session's deadline): a
 *   session whose `last + timeout <= now` is gone. The store expires lazily, on every call, with
 *   the same effect as the timer firing on time.
 * - A full zone (`_sess_create`: the slab allocation fails): the least recently learned session
 *   is evicted (the first of equal `last`s), then the expired ones, and the new one stored.
 * - `zoneCapacity` is how many sessions nginx 1.30.4's slab allocator fits in a zone of a given
 *   size on 64-bit Linux with 4 KiB pages (measured: 32k → 80, 64k → 208, 1m → 4032; docs/sticky.md).
 */

import { createHash } from 'node:crypto';
import { InvalidOptionError, show } from '../errors';

const PAGE = 4096;
/** sizeof(ngx_slab_pool_t) on x86_64 Linux with POSIX semaphores. */
const SLAB_POOL_HEADER = 208;
/** The slot lists and their statistics: 9 size classes × (sizeof(ngx_slab_page_t) 24 + sizeof(ngx_slab_stat_t) 32). */
const SLAB_SLOTS = 9 * (24 + 32);
/** sizeof(ngx_slab_page_t): one per page. */
const PAGE_ENTRY = 24;
/** A session node (two rbtree nodes, the MD5, `last`, the sid: 144 bytes) takes a 256-byte chunk: 16 a page. */
const SESSIONS_PER_PAGE = 16;
/** `sizeof(" in sticky session zone \"\"")`: the zone's log context is this plus its name. */
const LOG_CONTEXT = 27;

/** The slab chunk size nginx rounds an allocation of `bytes` up to (8 at least). */
function chunk(bytes: number): number {
  let size = 8;
  while (size < bytes) size *= 2;
  return size;
}

/**
 * How many sessions nginx 1.30.4 keeps in a `zone=NAME:SIZE` before it evicts (x86_64 Linux, 4 KiB
 * pages): the slab pool's pages, less one for the trees' header and one for the zone's log
 * context (unless that shares a page), times 16.
 *
 * @example
 * zoneCapacity(32768, 'z'); // 80
 */
export function zoneCapacity(sizeBytes: number, zoneName: string): number {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 8 * PAGE) {
    throw new InvalidOptionError('zone.size', `Expected zone.size to be an integer of at least ${8 * PAGE} bytes (nginx: "zone is too small"), got ${show(sizeBytes)}`, sizeBytes);
  }
  const after = sizeBytes - SLAB_POOL_HEADER - SLAB_SLOTS;
  let pages = Math.floor(after / (PAGE + PAGE_ENTRY));
  const start = Math.ceil((SLAB_POOL_HEADER + SLAB_SLOTS + pages * PAGE_ENTRY) / PAGE) * PAGE;
  pages = Math.min(pages, Math.floor((sizeBytes - start) / PAGE));
  // the trees' header (128 bytes) takes a page of 128-byte chunks
  let sessionPages = pages - 1;
  let shared = 0;
  const log = chunk(LOG_CONTEXT + Buffer.byteLength(zoneName, 'utf8'));
  if (log === 256) shared = 1; // one chunk of a session page
  else if (log > PAGE / 2) sessionPages -= Math.ceil((LOG_CONTEXT + Buffer.byteLength(zoneName, 'utf8')) / PAGE);
  else if (log !== 128) sessionPages -= 1;
  return Math.max(0, sessionPages * SESSIONS_PER_PAGE - shared);
}

/** Options of a `SessionStore`. */
export interface SessionStoreOptions {
  /** The most sessions kept (see `zoneCapacity`). */
  readonly capacity: number;
  /** ms a session unused stays (nginx's `timeout=`, default 600000). */
  readonly timeout?: number;
  /** ms (nginx reads the wall clock, `ngx_timeofday()`); default `Date.now`. Readings that go back count as the last one. */
  readonly clock?: () => number;
}

/** What `learn` did. */
export type LearnResult = 'created' | 'refreshed' | 'reused' | 'ignored';

interface Session {
  sid: string;
  last: number;
}

/** The counters of a store. */
export interface SessionStoreStats {
  readonly sessions: number;
  readonly capacity: number;
  /** Sessions removed because the zone was full (nginx warns "could not allocate node ... expiring least recently used session"). */
  readonly evicted: number;
  /** Sessions removed by `timeout`. */
  readonly expired: number;
}

function keyOf(id: string): string {
  return createHash('md5').update(id, 'utf16le').digest('base64');
}

/**
 * The bounded session store of one `sticky learn` zone.
 *
 * @example
 * const store = new SessionStore({ capacity: zoneCapacity(1 << 20, 'sessions'), timeout: 3_600_000 });
 * store.learn('abc123', sidOfServerA, true); // 'created'
 * store.lookup('abc123');                     // sidOfServerA
 */
export class SessionStore {
  readonly capacity: number;
  readonly timeout: number;
  readonly #clock: () => number;
  /** By key, in expiry order (least recently learned first). */
  readonly #sessions = new Map<string, Session>();
  #now = -Infinity;
  #evicted = 0;
  #expired = 0;

  constructor(options: SessionStoreOptions) {
    if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', `Expected session store options, got ${show(options)}`, options);
    const { capacity, timeout = 600_000, clock = Date.now } = options;
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new InvalidOptionError('capacity', `Expected capacity to be a positive integer, got ${show(capacity)}`, capacity);
    if (typeof timeout !== 'number' || !(timeout > 0) || timeout === Infinity) {
      throw new InvalidOptionError('timeout', `Expected timeout to be a positive finite number of ms (nginx: "invalid timeout"), got ${show(timeout)}`, timeout);
    }
    if (typeof clock !== 'function') throw new InvalidOptionError('clock', `Expected clock to be a function, got ${show(clock)}`, clock);
    this.capacity = capacity;
    this.timeout = timeout;
    this.#clock = clock;
  }

  /** Reads the clock (never backwards) and removes the sessions whose time is up. */
  #tick(): number {
    const reading = this.#clock();
    if (reading > this.#now) this.#now = reading;
    const now = this.#now;
    for (const [key, session] of this.#sessions) {
      if (session.last + this.timeout > now) break;
      this.#sessions.delete(key);
      this.#expired++;
    }
    return now;
  }

  /** The sid the session `id` names, or undefined (not learned, or expired). */
  lookup(id: string): string | undefined {
    this.#tick();
    return this.#sessions.get(keyOf(id))?.sid;
  }

  /**
   * Learns that session `id` is served by the server whose session id is `sid`: refreshes (and
   * if needed repoints) a session found; creates one only when `create` (the id came from a
   * `create=` variable).
   */
  learn(id: string, sid: string, create: boolean): LearnResult {
    const now = this.#tick();
    const key = keyOf(id);
    const found = this.#sessions.get(key);
    if (found !== undefined) {
      const reused = found.sid !== sid;
      found.sid = sid;
      found.last = now;
      this.#sessions.delete(key);
      this.#sessions.set(key, found);
      return reused ? 'reused' : 'refreshed';
    }
    if (!create) return 'ignored';
    if (this.#sessions.size >= this.capacity) {
      const oldest = this.#sessions.keys().next().value as string;
      this.#sessions.delete(oldest);
      this.#evicted++;
    }
    this.#sessions.set(key, { sid, last: now });
    return 'created';
  }

  /** The number of sessions held now. */
  get size(): number {
    this.#tick();
    return this.#sessions.size;
  }

  stats(): SessionStoreStats {
    const sessions = this.size;
    return { sessions, capacity: this.capacity, evicted: this.#evicted, expired: this.#expired };
  }

  /** Removes every session. */
  clear(): void {
    this.#sessions.clear();
  }
}
