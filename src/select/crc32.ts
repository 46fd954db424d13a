/**
 * CRC-32 (IEEE 802.3: reflected, polynomial 0xEDB88320, init 0xFFFFFFFF, final xor 0xFFFFFFFF),
 * the checksum of zlib's `crc32` and of nginx's `ngx_crc32_init/update/final`
 * (`src/core/ngx_crc32.c`, docs/nginx-semantics.md §5.2).
 *
 * The running register is exposed (init -> update... -> final) because nginx hashes byte
 * sequences built from parts without materialising them: the hash method's `[REHASH] KEY`
 * (decimal counter, then the key) and the ketama base `HOST \0 PORT` extended by four
 * little-endian bytes per point. Strings are hashed as their UTF-8 bytes, encoded on the fly
 * (lone surrogates as U+FFFD, like `TextEncoder`), so hashing a string allocates nothing.
 * Cost: one table lookup per byte; the 1 KiB table is computed once at module load.
 */

const TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c;
}

/**
 * The initial CRC-32 register (`ngx_crc32_init`).
 *
 * @example
 * crc32Final(crc32Utf8(CRC32_INIT, 'foo')).toString(16); // '8c736521'
 */
export const CRC32_INIT = 0xffffffff;

/**
 * Feeds one byte (0..255) into a CRC-32 register.
 *
 * @example
 * crc32Final(crc32Byte(CRC32_INIT, 0x61)).toString(16); // 'e8b7be43' (= crc32('a'))
 */
export function crc32Byte(crc: number, byte: number): number {
  return TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
}

/**
 * Feeds `bytes[start..end)` into a CRC-32 register (`ngx_crc32_update`).
 *
 * @example
 * crc32Final(crc32Bytes(CRC32_INIT, new TextEncoder().encode('foo'))).toString(16); // '8c736521'
 */
export function crc32Bytes(crc: number, bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = crc;
  for (let i = start; i < end; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return c;
}

/**
 * Feeds the UTF-8 encoding of `text` into a CRC-32 register, without allocating.
 *
 * @example
 * crc32Final(crc32Utf8(CRC32_INIT, 'user42')).toString(16); // '7c2fbeb6'
 */
export function crc32Utf8(crc: number, text: string): number {
  let c = crc;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    let u = text.charCodeAt(i);
    if (u < 0x80) {
      c = TABLE[(c ^ u) & 0xff]! ^ (c >>> 8);
      continue;
    }
    if (u < 0x800) {
      c = TABLE[(c ^ (0xc0 | (u >>> 6))) & 0xff]! ^ (c >>> 8);
      c = TABLE[(c ^ (0x80 | (u & 0x3f))) & 0xff]! ^ (c >>> 8);
      continue;
    }
    if (u >= 0xd800 && u <= 0xdfff) {
      const next = i + 1 < n ? text.charCodeAt(i + 1) : 0;
      if (u <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const cp = 0x10000 + ((u - 0xd800) << 10) + (next - 0xdc00);
        i++;
        c = TABLE[(c ^ (0xf0 | (cp >>> 18))) & 0xff]! ^ (c >>> 8);
        c = TABLE[(c ^ (0x80 | ((cp >>> 12) & 0x3f))) & 0xff]! ^ (c >>> 8);
        c = TABLE[(c ^ (0x80 | ((cp >>> 6) & 0x3f))) & 0xff]! ^ (c >>> 8);
        c = TABLE[(c ^ (0x80 | (cp & 0x3f))) & 0xff]! ^ (c >>> 8);
        continue;
      }
      u = 0xfffd; // lone surrogate, as TextEncoder encodes it
    }
    c = TABLE[(c ^ (0xe0 | (u >>> 12))) & 0xff]! ^ (c >>> 8);
    c = TABLE[(c ^ (0x80 | ((u >>> 6) & 0x3f))) & 0xff]! ^ (c >>> 8);
    c = TABLE[(c ^ (0x80 | (u & 0x3f))) & 0xff]! ^ (c >>> 8);
  }
  return c;
}

/**
 * Feeds the ASCII decimal digits of a non-negative integer into a CRC-32 register (nginx's
 * `ngx_sprintf(buf, "%ui", n)` followed by an update), without building the string.
 *
 * @example
 * crc32Final(crc32Utf8(crc32Decimal(CRC32_INIT, 1), 'foo')).toString(16); // '1ae1fceb' (= crc32('1foo'))
 */
export function crc32Decimal(crc: number, n: number): number {
  let div = 1;
  while (div * 10 <= n) div *= 10;
  let c = crc;
  let rest = n;
  for (; div >= 1; div /= 10) {
    const d = Math.floor(rest / div);
    rest -= d * div;
    c = TABLE[(c ^ (0x30 + d)) & 0xff]! ^ (c >>> 8);
  }
  return c;
}

/**
 * Feeds a 32-bit value as four little-endian bytes (the ketama `PREV_HASH` of nginx on
 * little-endian hosts, and explicitly so on big-endian ones).
 *
 * @example
 * crc32Final(crc32Le32(CRC32_INIT, 0)).toString(16); // '2144df1c' (= crc32 of four zero bytes)
 */
export function crc32Le32(crc: number, value: number): number {
  let c = crc;
  c = TABLE[(c ^ value) & 0xff]! ^ (c >>> 8);
  c = TABLE[(c ^ (value >>> 8)) & 0xff]! ^ (c >>> 8);
  c = TABLE[(c ^ (value >>> 16)) & 0xff]! ^ (c >>> 8);
  c = TABLE[(c ^ (value >>> 24)) & 0xff]! ^ (c >>> 8);
  return c;
}

/**
 * Finalises a CRC-32 register (`ngx_crc32_final`): the checksum as an unsigned 32-bit number.
 *
 * @example
 * crc32Final(CRC32_INIT); // 0 (= crc32 of nothing)
 */
export function crc32Final(crc: number): number {
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * CRC-32 of a string (as UTF-8) or of bytes: `ngx_crc32_long`, zlib `crc32`.
 *
 * @example
 * crc32('foo').toString(16);                          // '8c736521'
 * crc32(new Uint8Array([0x66, 0x6f, 0x6f])) === crc32('foo'); // true
 */
export function crc32(input: string | Uint8Array): number {
  return crc32Final(typeof input === 'string' ? crc32Utf8(CRC32_INIT, input) : crc32Bytes(CRC32_INIT, input));
}
