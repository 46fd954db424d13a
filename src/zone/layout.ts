/**
 * The shared memory of an upstream zone (nginx's `zone name size;`, ngx_http_upstream_zone_module.c
 * copies the peers into a shared slab so that every worker picks and frees on the same state):
 * SharedArrayBuffers that any worker thread can map, and the typed views over them.
 *
 * - `control`: the lock word, the published membership generation, the active region, the length
 *   of the published configuration, the owner thread, the waiter count, the zone's id.
 * - `config`: the published server list (JSON, UTF-8): each server's parameters and its stable slot.
 * - two `regions`, each holding every tier field (tier.ts `TIER_NUMBERS`, `TIER_BYTES`) for
 *   `capacity` positions: the primaries at 0..np-1, the backups after them. A membership rebuild
 *   writes the new layout into the inactive region and then makes it active, so that the copy never
 *   overlaps its source (nginx copies the peers of a new configuration into the zone the same way).
 * - `checks`: each slot's active-check verdict (flags, rise, fall, passed, failed), written by
 *   whichever thread applied a result or an admin change.
 * - `threads` and `held`: which balancer (thread) holds how many connections of which slot, so that
 *   a terminated thread's connections can be given back (zone/link.ts `reclaim`).
 *
 * Pure data: no locking here (zone/lock.ts), no semantics (zone/link.ts).
 */

import type { SharedReplayMemory } from '../select/selector';
import { type TierArrays, TIER_BYTES, TIER_NUMBERS } from '../tier';

/** `control` words. */
export const LOCK = 0;
export const GENERATION = 1;
export const REGION = 2;
export const CONFIG_LENGTH = 3;
export const OWNER_THREAD = 4;
/** (Word 5 is unused: the lock's waiters are a bit of the lock word, zone/lock.ts.) */
export const ZONE_ID = 6;
const CONTROL_WORDS = 8;

/** `checks` words per slot. */
export const CHECK_WORDS = 7;
export const CHECK_FLAGS = 0;
export const CHECK_RISE = 1;
export const CHECK_FALL = 2;
export const CHECK_PASSED = 3;
export const CHECK_FAILED = 4;
/** The server's last committed state (events.ts `state`), as its index in `SERVER_STATES`: one event per transition, whichever thread makes it. */
export const CHECK_COMMITTED = 5;
/** Connections of a removed server still open (its `conns`, freed by any thread; a re-added id takes them back). */
export const CHECK_AWAY = 6;
/** CHECK_FLAGS bits. */
export const HAS_CHECK = 1;
export const CHECK_DOWN = 2;
export const CHECK_PENDING = 4;

/** The buffers of a zone: what is posted to other threads (structured clone shares them). */
export interface ZoneBuffers {
  readonly capacity: number;
  readonly maxThreads: number;
  readonly control: SharedArrayBuffer;
  readonly config: SharedArrayBuffer;
  readonly regions: readonly [SharedArrayBuffer, SharedArrayBuffer];
  readonly checks: SharedArrayBuffer;
  /** Round robin's shared replay (select/round-robin/zone-replay.ts). */
  readonly replay: SharedArrayBuffer;
  readonly threads: SharedArrayBuffer;
  readonly held: SharedArrayBuffer;
}

/** Longest period the shared replay keeps (the sum of the eligible weights), as steady-replay.ts's MAX_PERIOD. */
export const MAX_REPLAY_PERIOD = 65536;
const REPLAY_HEADER_WORDS = 8;

/** The bytes of the shared replay: start weights, header, ring, counts, eligibility. */
function replayBytes(capacity: number): number {
  return capacity * 8 + REPLAY_HEADER_WORDS * 4 + MAX_REPLAY_PERIOD * 4 + capacity * 4 + capacity;
}

/** The bytes one region takes for `capacity` positions. */
function regionBytes(capacity: number): number {
  return TIER_NUMBERS.length * capacity * 8 + TIER_BYTES.length * capacity;
}

/** Allocates a zone's buffers (zeroed, as SharedArrayBuffers are). */
export function allocateBuffers(capacity: number, maxThreads: number, configBytes: number): ZoneBuffers {
  return {
    capacity,
    maxThreads,
    control: new SharedArrayBuffer(CONTROL_WORDS * 4),
    config: new SharedArrayBuffer(configBytes),
    regions: [new SharedArrayBuffer(regionBytes(capacity)), new SharedArrayBuffer(regionBytes(capacity))],
    checks: new SharedArrayBuffer(capacity * CHECK_WORDS * 4),
    replay: new SharedArrayBuffer(replayBytes(capacity)),
    threads: new SharedArrayBuffer(maxThreads * 4),
    held: new SharedArrayBuffer(maxThreads * capacity * 4),
  };
}

/** True when `b` has the shape and sizes `allocateBuffers` gives (a zone posted from another thread). */
export function isZoneBuffers(b: unknown): b is ZoneBuffers {
  if (typeof b !== 'object' || b === null) return false;
  const z = b as Partial<Record<keyof ZoneBuffers, unknown>>;
  const sab = (v: unknown, bytes: number): boolean => v instanceof SharedArrayBuffer && v.byteLength === bytes;
  const capacity = z.capacity;
  const maxThreads = z.maxThreads;
  if (!Number.isSafeInteger(capacity) || !Number.isSafeInteger(maxThreads)) return false;
  const c = capacity as number;
  const t = maxThreads as number;
  return (
    c > 0 && t > 0 &&
    sab(z.control, CONTROL_WORDS * 4) &&
    z.config instanceof SharedArrayBuffer &&
    Array.isArray(z.regions) && z.regions.length === 2 && sab(z.regions[0], regionBytes(c)) && sab(z.regions[1], regionBytes(c)) &&
    sab(z.checks, c * CHECK_WORDS * 4) &&
    sab(z.replay, replayBytes(c)) &&
    sab(z.threads, t * 4) &&
    sab(z.held, t * c * 4)
  );
}

/** The typed views of one thread over a zone's buffers. */
export class ZoneViews {
  readonly capacity: number;
  readonly maxThreads: number;
  readonly control: Int32Array;
  readonly config: Uint8Array;
  readonly checks: Int32Array;
  readonly threads: Int32Array;
  readonly held: Int32Array;
  readonly replay: SharedReplayMemory;
  /** Per region, per field: the whole-capacity view (`tierArrays` takes sub-views of it). */
  readonly #regions: readonly TierArrays[];

  constructor(b: ZoneBuffers) {
    this.capacity = b.capacity;
    this.maxThreads = b.maxThreads;
    this.control = new Int32Array(b.control);
    this.config = new Uint8Array(b.config);
    this.checks = new Int32Array(b.checks);
    this.threads = new Int32Array(b.threads);
    this.held = new Int32Array(b.held);
    const c = b.capacity;
    let at = 0;
    const start = new Float64Array(b.replay, at, c);
    at += c * 8;
    const header = new Int32Array(b.replay, at, REPLAY_HEADER_WORDS);
    at += REPLAY_HEADER_WORDS * 4;
    const ring = new Int32Array(b.replay, at, MAX_REPLAY_PERIOD);
    at += MAX_REPLAY_PERIOD * 4;
    const counts = new Int32Array(b.replay, at, c);
    at += c * 4;
    this.replay = { start, header, ring, counts, inPeriod: new Uint8Array(b.replay, at, c) };
    this.#regions = b.regions.map((sab) => {
      const a: Record<string, Float64Array | Uint8Array> = {};
      let offset = 0;
      for (const k of TIER_NUMBERS) {
        a[k] = new Float64Array(sab, offset, b.capacity);
        offset += b.capacity * 8;
      }
      for (const k of TIER_BYTES) {
        a[k] = new Uint8Array(sab, offset, b.capacity);
        offset += b.capacity;
      }
      return a as TierArrays;
    });
  }

  /** Views of positions `from .. from+n-1` of `region`, every field; zeroed first when `fresh`. */
  tierArrays(region: number, from: number, n: number, fresh: boolean): TierArrays {
    const whole = this.#regions[region]!;
    const a: Record<string, Float64Array | Uint8Array> = {};
    for (const k of TIER_NUMBERS) a[k] = whole[k].subarray(from, from + n);
    for (const k of TIER_BYTES) a[k] = whole[k].subarray(from, from + n);
    if (fresh) for (const k in a) a[k]!.fill(0);
    return a as TierArrays;
  }
}
