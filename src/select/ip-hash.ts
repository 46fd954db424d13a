/**
 * ip_hash, exactly as nginx's `ngx_http_upstream_init_ip_hash_peer` /
 * `ngx_http_upstream_get_ip_hash_peer` (http only in nginx; docs/nginx-semantics.md §5.4).
 *
 * Key bytes: an IPv4 client contributes the first three bytes of its address (so a /24 maps to
 * one server), an IPv6 client all sixteen (an IPv4-mapped `::ffff:a.b.c.d` too, as on nginx's
 * dual-stack sockets), a non-inet client (unix socket) three zero bytes. Per request the hash
 * starts at 89; each round mixes every key byte in (`h = (h * 113 + byte) mod 6271`), takes
 * `h mod totalWeight` as a weight slot (down servers keep their slots), and on an unavailable
 * server counts a try and mixes again; the hash of the last successful round carries over to the
 * request's retries. More than 20 tries, or a tier of fewer than two servers, hand over to round
 * robin's get (backup tier included).
 *
 * The key is the client address as text (what `socket.remoteAddress` reports): dotted IPv4, any
 * IPv6 text form (`::` compression, embedded IPv4, a `%zone` suffix is ignored). `''` (no
 * address, e.g. a unix socket) and `unix:...` (nginx's `$remote_addr` for unix sockets) count as
 * non-inet: three zero bytes. Anything else throws `UpstreamError` `ERR_UPSTREAM_INVALID_KEY`
 * with the key as `value`, before any state changes.
 *
 * Per-byte mixing is an affine map modulo 6271, so a whole key folds into one constant
 * `C = mix(0, bytes)` and a round is `h = (h * 113^len + C) mod 6271` (exact: products stay below
 * 2^26). The key is parsed once per request, on its first get, into `(len, C)` kept in the
 * request's walk (`folded = len * 8192 + C`); no bytes are stored and nothing is allocated.
 * Cost per round: O(1) plus O(log n) for the slot lookup.
 *
 * Version note: nginx 1.27.3 changed the round-robin shortcut from `single` to `number < 2`
 * (`roundRobinFirst` in hash.ts follows the balancer's `nginx` target; they differ only with
 * backup servers and one primary).
 */

import { UpstreamError, show } from '../errors';
import type { NginxTarget } from '../nginx-target';
import type { Peers } from '../peers';
import { isAvailable } from './available';
import { HASH_MAX_TRIES, roundRobinFirst } from './hash';
import { hintedServer } from './hint';
import { type RequestState, walkOf } from './request';
import { getRoundRobin } from './round-robin/index';
import { SlotSelector, type TierSlots, slotAt } from './slots';

const MOD = 6271;
const MUL = 113;
/**
 * The initial per-request hash of ip_hash (`iphp->hash = 89`).
 *
 * @example
 * ipHashMix(IP_HASH_SEED, [192, 168, 1]); // 154
 */
export const IP_HASH_SEED = 89;
/** 113^3 and 113^16 modulo 6271: one round over a 3- or 16-byte key multiplies h by these. */
const POW3 = powMod(MUL, 3);
const POW16 = powMod(MUL, 16);

function powMod(b: number, e: number): number {
  let r = 1;
  for (let k = 0; k < e; k++) r = (r * b) % MOD;
  return r;
}

/** Scratch for IPv6 parsing (synchronous use only). */
const GROUPS = new Uint16Array(8);
const BYTES = new Uint8Array(16);

/**
 * Parses an IPv4 dotted quad in `s[from..to)`; returns the 32-bit value (unsigned) or -1.
 * Octets are 1-3 decimal digits, 0-255, no leading zeros (as `inet_pton` and `net.isIPv4`).
 */
function parseV4(s: string, from: number, to: number): number {
  let value = 0;
  let octets = 0;
  let i = from;
  while (i <= to) {
    let digits = 0;
    let octet = 0;
    const first = i;
    while (i < to) {
      const c = s.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      octet = octet * 10 + (c - 0x30);
      digits++;
      i++;
    }
    if (digits === 0 || digits > 3 || octet > 255 || (digits > 1 && s.charCodeAt(first) === 0x30)) return -1;
    value = value * 256 + octet;
    octets++;
    if (i === to) break;
    if (s.charCodeAt(i) !== 0x2e || octets === 4) return -1;
    i++;
    if (i === to) return -1;
  }
  return octets === 4 ? value : -1;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/**
 * Parses an IPv6 text form in `s[from..to)` into `BYTES`; returns false if it is not one.
 * Accepts 1-4 hex digits per group, one `::` (standing for one or more zero groups), and an
 * embedded dotted IPv4 in the last 32 bits.
 */
function parseV6(s: string, from: number, to: number): boolean {
  let n = 0; // groups written
  let gap = -1; // group index where '::' stands
  let i = from;
  if (to - from < 2) return false;
  if (s.charCodeAt(i) === 0x3a) {
    if (s.charCodeAt(i + 1) !== 0x3a) return false;
    gap = 0;
    i += 2;
    if (i === to) {
      GROUPS.fill(0);
      return fill(0, 0);
    }
  }
  for (;;) {
    // one group (or an embedded IPv4)
    const start = i;
    let v = 0;
    let digits = 0;
    while (i < to) {
      const h = hexValue(s.charCodeAt(i));
      if (h < 0) break;
      v = v * 16 + h;
      digits++;
      i++;
    }
    if (i < to && s.charCodeAt(i) === 0x2e) {
      // embedded IPv4: must be the end and take two groups
      if (n > 6) return false;
      const v4 = parseV4(s, start, to);
      if (v4 < 0) return false;
      GROUPS[n++] = v4 >>> 16;
      GROUPS[n++] = v4 & 0xffff;
      break;
    }
    if (digits === 0 || digits > 4 || n === 8) return false;
    GROUPS[n++] = v;
    if (i === to) break;
    if (s.charCodeAt(i) !== 0x3a) return false;
    i++;
    if (i === to) return false; // trailing single ':'
    if (s.charCodeAt(i) === 0x3a) {
      if (gap >= 0) return false; // a second '::'
      gap = n;
      i++;
      if (i === to) break;
    }
  }
  return fill(n, gap);
}

/** Expands the `::` gap and writes the 16 bytes; false if the group count does not fit. */
function fill(n: number, gap: number): boolean {
  if (gap < 0 ? n !== 8 : n > 7) return false;
  const zeros = 8 - n;
  let out = 0;
  for (let g = 0; g < n; g++) {
    if (g === gap) for (let z = 0; z < zeros; z++, out += 2) BYTES[out] = BYTES[out + 1] = 0;
    BYTES[out++] = GROUPS[g]! >>> 8;
    BYTES[out++] = GROUPS[g]! & 0xff;
  }
  if (gap === n) for (let z = 0; z < zeros; z++, out += 2) BYTES[out] = BYTES[out + 1] = 0;
  return true;
}

/**
 * The key bytes nginx's ip_hash uses for a client address text: 3 bytes (IPv4 prefix, or zeros
 * for `''`/`unix:`), or 16 (IPv6). Throws `ERR_UPSTREAM_INVALID_KEY` for anything else.
 * Allocates the result (for tests and explanations; selection itself uses no bytes).
 *
 * @example
 * ipHashKeyBytes('192.168.1.10');     // Uint8Array [192, 168, 1]
 * ipHashKeyBytes('::ffff:10.0.0.1');  // 16 bytes: 0,0,0,0,0,0,0,0,0,0,255,255,10,0,0,1
 * ipHashKeyBytes('');                  // Uint8Array [0, 0, 0]
 */
export function ipHashKeyBytes(key: string): Uint8Array {
  const len = parseInto(key);
  if (len === 3) return key.length === 0 || isUnix(key) ? new Uint8Array(3) : BYTES.slice(12, 15);
  return BYTES.slice(0, 16);
}

/** `unix:` prefix, any case, without allocating. */
function isUnix(key: string): boolean {
  return (
    key.length >= 5 &&
    (key.charCodeAt(0) | 0x20) === 0x75 && // u
    (key.charCodeAt(1) | 0x20) === 0x6e && // n
    (key.charCodeAt(2) | 0x20) === 0x69 && // i
    (key.charCodeAt(3) | 0x20) === 0x78 && // x
    key.charCodeAt(4) === 0x3a // :
  );
}

/** Parses into BYTES (IPv4 in bytes 12..15); returns 3 or 16. Throws on an invalid key. */
function parseInto(key: string): 3 | 16 {
  if (key.length === 0 || isUnix(key)) return 3;
  let end = key.length;
  const pct = key.indexOf('%');
  if (pct < 0) {
    const v4 = parseV4(key, 0, end);
    if (v4 >= 0) {
      BYTES[12] = v4 >>> 24;
      BYTES[13] = (v4 >>> 16) & 0xff;
      BYTES[14] = (v4 >>> 8) & 0xff;
      BYTES[15] = v4 & 0xff;
      return 3;
    }
  } else {
    if (pct === end - 1) invalid(key); // empty zone id
    end = pct;
  }
  if (parseV6(key, 0, end)) return 16;
  return invalid(key);
}

function invalid(key: string): never {
  throw new UpstreamError(
    'ERR_UPSTREAM_INVALID_KEY',
    `ip-hash needs the client address as the key (IPv4 or IPv6 text, or '' / 'unix:' for a non-inet client), got ${show(key)}`,
    key,
  );
}

/**
 * One round's mixing of the key bytes into `h`, byte by byte (nginx's loop:
 * `h = (h * 113 + byte) mod 6271`).
 *
 * @example
 * ipHashMix(89, [192, 168, 1]);  // 154
 * ipHashMix(154, [192, 168, 1]); // 5654 (the next round, after an unavailable server)
 */
export function ipHashMix(h: number, bytes: ArrayLike<number>): number {
  let x = h;
  for (let k = 0; k < bytes.length; k++) x = (x * MUL + bytes[k]!) % MOD;
  return x;
}

/**
 * Parses `key` once and folds it into `len * 8192 + C` where `C = ipHashMix(0, bytes)`.
 * Throws `ERR_UPSTREAM_INVALID_KEY` for an invalid key.
 *
 * @example
 * ipHashFold('10.0.0.1') === 3 * 8192 + ipHashMix(0, [10, 0, 0]); // true
 */
export function ipHashFold(key: string): number {
  const len = parseInto(key);
  let c = 0;
  if (len === 3) {
    if (key.length !== 0 && !isUnix(key)) c = ((BYTES[12]! * MUL + BYTES[13]!) * MUL + BYTES[14]!) % MOD;
  } else {
    for (let k = 0; k < 16; k++) c = (c * MUL + BYTES[k]!) % MOD;
  }
  return len * 8192 + c;
}

/**
 * nginx ip_hash get for one attempt. Returns the index in `r.tier` (which may have switched to
 * the backup tier through the round-robin fallback), or -1 (NGX_BUSY). Throws
 * `ERR_UPSTREAM_INVALID_KEY` on the first get of a request whose key is not an address.
 *
 * @example
 * const b = new Balancer({ method: 'ip-hash', servers: [{ address: 'a:1' }, { address: 'b:1' }, { address: 'c:1' }] });
 * b.pick('192.168.1.10')!.address; // 'b:1' (89 -> 3978 -> 4441 -> 154, 154 mod 3 = 1)
 */
export function getIpHash(p: Peers, r: RequestState, tables: TierSlots, nginx: NginxTarget = '1.30'): number {
  const walk = walkOf(r, IpHashWalk);
  if (walk.folded === 0) {
    walk.folded = ipHashFold(r.key);
    walk.hash = IP_HASH_SEED;
  }
  const t = r.tier;
  if (walk.tries > HASH_MAX_TRIES || roundRobinFirst(p, t, nginx)) return getRoundRobin(p, r);
  if (r.hint !== null) {
    const st = hintedServer(r); // nginx 1.30: the hash stays where it is
    if (st >= 0) return st;
  }
  const folded = walk.folded;
  const pow = folded >= 16 * 8192 ? POW16 : POW3;
  const c = folded & 8191;
  const slots = tables.of(t);
  const total = slots.total;
  let h = walk.hash;
  for (;;) {
    h = (h * pow + c) % MOD;
    const i = slotAt(slots, h % total);
    if (isAvailable(t, i, r)) {
      walk.hash = h;
      return i;
    }
    if (++walk.tries > HASH_MAX_TRIES) return getRoundRobin(p, r);
  }
}

/** ip_hash's per-request data (nginx's `ngx_http_upstream_ip_hash_peer_data_t`). */
export class IpHashWalk {
  /** The hash of the last successful round (`iphp->hash`). */
  hash = 0;
  /** The key folded once per request: `len * 8192 + C` (0 until the first get parses it). */
  folded = 0;
  /** Unsuccessful rounds so far (`iphp->tries`). */
  tries = 0;
  reset(): void {
    this.hash = 0;
    this.folded = 0;
    this.tries = 0;
  }
}

/** The ip_hash method's selector: weight slots per tier. */
export class IpHashSelector extends SlotSelector {
  readonly #nginx: NginxTarget;
  constructor(nginx: NginxTarget) {
    super();
    this.#nginx = nginx;
  }
  get(p: Peers, r: RequestState): number {
    return getIpHash(p, r, this.slots, this.#nginx);
  }
}
