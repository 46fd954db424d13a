/**
 * A server's session id (nginx 1.30's `peer->sid`, src/http/ngx_http_upstream_round_robin.c
 * `ngx_http_upstream_create_sid` / `ngx_http_upstream_init_round_robin_sid`): its `route=` text when
 * it has one, else the lowercase hex MD5 of its address as nginx prints the peer's name
 * (`ngx_sock_ntop` with the port: `127.0.0.1:8080`, `[::1]:8080`, `unix:/path`).
 *
 * `peerName` prints an address the way nginx prints the socket address it parsed from it: an IPv4
 * literal with its octets and port as numbers (`127.000.0.1:080` is `127.0.0.1:80`), an IPv6
 * literal compressed as `ngx_inet6_ntop` does (the longest run of two or more zero groups, the
 * first of equal runs; an IPv4 tail for the mapped and compatible forms), a literal without a port
 * with http's default port 80. A host name stays as written: nginx resolves it when it reads the
 * configuration and prints the address it found, which the library cannot know (a server added by
 * the resolver, src/resolve/, carries the address found). Any other text (a test's `A`) is kept.
 * Pure; MD5 comes from node:crypto.
 */

import { createHash } from 'node:crypto';
import { upstreamTarget } from './target';

/** The 4 bytes of a dotted IPv4 literal as nginx's `ngx_inet_addr` reads it, or null. */
function ipv4Bytes(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const part of parts) {
    if (!/^[0-9]{1,3}$/.test(part)) return null;
    const n = Number(part);
    if (n > 255) return null;
    out.push(n);
  }
  return out;
}

/** The 16 bytes of an IPv6 literal (with an optional dotted IPv4 tail), or null. */
function ipv6Bytes(text: string): number[] | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groupsOf = (part: string): number[] | null => {
    if (part.length === 0) return [];
    const out: number[] = [];
    const words = part.split(':');
    for (let k = 0; k < words.length; k++) {
      const word = words[k]!;
      if (k === words.length - 1 && word.includes('.')) {
        const v4 = ipv4Bytes(word);
        if (v4 === null) return null;
        out.push(v4[0]! * 256 + v4[1]!, v4[2]! * 256 + v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(word)) out.push(parseInt(word, 16));
      else return null;
    }
    return out;
  };
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const bytes: number[] = [];
  for (const g of groups) bytes.push(g >>> 8, g & 255);
  return bytes;
}

/** An IPv6 address printed as nginx's `ngx_inet6_ntop` prints it. */
export function printIpv6(bytes: readonly number[]): string {
  // The longest run of zero groups (at least two; the first of equal runs) becomes '::'.
  let zeroAt = -1;
  let zeroLength = 1;
  let runAt = -1;
  let runLength = 0;
  for (let g = 0; g <= 8; g++) {
    const isZero = g < 8 && bytes[2 * g] === 0 && bytes[2 * g + 1] === 0;
    if (isZero) {
      if (runLength++ === 0) runAt = g;
      continue;
    }
    if (runLength > zeroLength) {
      zeroAt = runAt;
      zeroLength = runLength;
    }
    runLength = 0;
  }
  // From the start: an IPv4 tail for ::ffff:a.b.c.d, ::a.b.c.d (not ::1) and ::ffff:0:a.b.c.d-like forms.
  let groups = 8;
  let text = '';
  if (zeroAt === 0) {
    const mapped = zeroLength === 5 && bytes[10] === 0xff && bytes[11] === 0xff;
    const compatible = zeroLength === 7 && bytes[14] !== 0 && bytes[15] !== 1;
    if (mapped || zeroLength === 6 || compatible) groups = 6;
    text = ':';
  }
  for (let g = 0; g < groups; g++) {
    if (g === zeroAt) {
      text += ':';
      g += zeroLength - 1;
      continue;
    }
    text += (bytes[2 * g]! * 256 + bytes[2 * g + 1]!).toString(16);
    if (g < 7) text += ':';
  }
  if (groups === 6) text += `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  return text;
}

/**
 * The address as nginx prints the peer's name (`peer->name`); see the header for host names.
 *
 * @example
 * peerName('[0:0::1]:8080'); // '[::1]:8080'
 * peerName('10.0.0.1');      // '10.0.0.1:80'
 */
export function peerName(address: string): string {
  const target = upstreamTarget(address);
  if (target === null) return address;
  if (target.kind === 'unix') return `unix:${target.path}`;
  const port = target.port ?? 80;
  const v4 = ipv4Bytes(target.host);
  if (v4 !== null) return `${v4.join('.')}:${port}`;
  if (target.host.includes(':')) {
    const v6 = ipv6Bytes(target.host);
    return v6 === null ? address : `[${printIpv6(v6)}]:${port}`;
  }
  return address;
}

/** The lowercase hex MD5 of `text` (UTF-8), nginx's `ngx_hex_dump` of `ngx_md5_final`. */
export function md5Hex(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

/**
 * A server's session id: its route, else the MD5 of its peer name.
 *
 * @example
 * sessionId('127.0.0.1:8080', undefined); // md5Hex('127.0.0.1:8080')
 * sessionId('127.0.0.1:8080', 'a');       // 'a'
 */
export function sessionId(address: string, route: string | undefined): string {
  return route !== undefined ? route : md5Hex(peerName(address));
}
