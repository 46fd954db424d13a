import { describe, expect, it } from 'vitest';
import {
  CRC32_INIT, crc32, crc32Byte, crc32Bytes, crc32Decimal, crc32Final, crc32Le32, crc32Utf8,
} from '../../src/select/crc32';

/** Bitwise reference CRC-32 (no table), over bytes. */
function reference(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

const hex = (n: number) => n.toString(16).padStart(8, '0');
const utf8 = (s: string) => new TextEncoder().encode(s);

// docs/nginx-semantics.md §5.2 / §5.3 (crc32 column), zlib crc32.
const vectors: [string, string][] = [
  ['', '00000000'],
  ['foo', '8c736521'],
  ['bar', '76ff8caa'],
  ['user42', '7c2fbeb6'],
  ['/index.html', 'ea224b42'],
  ['a', 'e8b7be43'],
  ['1foo', '1ae1fceb'],
  ['2foo', '08545305'],
  ['alice@example.com', '99fdea29'],
  ['bob@example.com', '6493ebfa'],
  ['123456789', 'cbf43926'], // the CRC-32 check value
];

describe('crc32 (IEEE, = zlib crc32 = ngx_crc32_long)', () => {
  it.each(vectors)('crc32(%j) = %s', (text, expected) => {
    expect(hex(crc32(text))).toBe(expected);
    expect(hex(crc32(utf8(text)))).toBe(expected);
    expect(hex(reference(utf8(text)))).toBe(expected);
  });

  it('hashes strings as UTF-8, surrogate pairs as one 4-byte sequence, lone surrogates as U+FFFD', () => {
    for (const s of ['héllo', 'ключ', '鍵', '😀x', 'a\ud800b', '\udc00', 'x\ud83d']) {
      expect(crc32(s)).toBe(reference(utf8(s)));
    }
    expect(crc32('\ud800')).toBe(reference(new Uint8Array([0xef, 0xbf, 0xbd])));
  });

  it('streams: init, updates in parts, final equals the one-shot checksum', () => {
    let c = CRC32_INIT;
    c = crc32Utf8(c, 'alice');
    c = crc32Byte(c, 0x40);
    c = crc32Bytes(c, utf8('xexample.com'), 1);
    expect(crc32Final(c)).toBe(crc32('alice@example.com'));
    expect(crc32Final(CRC32_INIT)).toBe(0);
  });

  it('crc32Decimal feeds the decimal digits (the hash method\'s REHASH prefix)', () => {
    for (const n of [0, 1, 9, 10, 19, 20, 99, 100, 12345, 4294967295]) {
      expect(crc32Final(crc32Utf8(crc32Decimal(CRC32_INIT, n), 'foo'))).toBe(crc32(`${n}foo`));
    }
  });

  it('crc32Le32 feeds four little-endian bytes (the ketama PREV_HASH)', () => {
    expect(hex(crc32Final(crc32Le32(CRC32_INIT, 0)))).toBe('2144df1c');
    expect(crc32Final(crc32Le32(CRC32_INIT, 0x066c01f9))).toBe(reference(new Uint8Array([0xf9, 0x01, 0x6c, 0x06])));
    expect(crc32Final(crc32Le32(CRC32_INIT, 0xffffffff))).toBe(reference(new Uint8Array([255, 255, 255, 255])));
  });
});
