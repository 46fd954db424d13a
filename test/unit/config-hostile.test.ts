/**
 * Issue 14: configuration text that nginx -t fails must not pass here, and limits that Node cannot
 * honour are refused where the text is read (items 5 and 13: timer range, byte order marks).
 */

import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/nginx';
import { escapeControls } from '../../src/config/escape';

const errorOf = (text: string): { kind: string; message: string; line: number; column: number; value: unknown } => {
  try {
    parseConfig(text);
  } catch (e) {
    const c = e as { kind: string; message: string; line: number; column: number; value: unknown };
    return { kind: c.kind, message: c.message, line: c.line, column: c.column, value: c.value };
  }
  throw new Error('parsed');
};

describe('check durations beyond a timer', () => {
  it.each([
    ['interval', 4294967296],
    ['interval', 2147483648],
    ['timeout', 2147483648],
  ])('check %s=%d is refused with the limit (a Node timer would fire after 1 ms)', (name, n) => {
    expect(errorOf(`http {\n  upstream u {\n    server 10.0.0.1:80;\n    check ${name}=${n};\n  }\n}\n`)).toEqual({
      kind: 'UNSUPPORTED',
      message: `check ${name}=${n} is longer than the longest timer delay, 2147483647 ms (about 24.8 days): upstream-balancer does not accept it (the check module does) in nginx.conf:4`,
      line: 4,
      column: 11,
      value: `${name}=${n}`,
    });
  });

  it('the largest timer delay itself is accepted', () => {
    const [u] = parseConfig('http { upstream u { server 10.0.0.1:80; check interval=2147483647 timeout=2147483647; } }').upstreams;
    expect(u!.options.check).toMatchObject({ interval: 2147483647, timeout: 2147483647 });
  });
});

describe('a byte order mark is part of the word, as in nginx', () => {
  it('at the start of the file: unknown directive (nginx -t 1.22.1: unknown directive "\\xEF\\xBB\\xBFevents")', () => {
    expect(errorOf('\uFEFFevents {}\n')).toEqual({
      kind: 'UNKNOWN_DIRECTIVE',
      message: 'unknown directive "\uFEFFevents" in nginx.conf:1',
      line: 1,
      column: 1,
      value: '\uFEFFevents',
    });
  });

  it('before a directive nginx knows but we skip (user): still unknown, never skipped', () => {
    expect(errorOf('\uFEFFuser nobody;\n').kind).toBe('UNKNOWN_DIRECTIVE');
  });

  it('inside a word it is kept (the decoder no longer drops it)', () => {
    const r = parseConfig('stream { upstream u { server "\uFEFFb:25"; } }', { lenient: true });
    expect(r.upstreams[0]!.serverSources[0]!.words).toEqual(['\uFEFFb:25']);
  });

  it('printed escaped, with the other invisible and reordering characters', () => {
    expect(escapeControls('\uFEFFa\u202Eb\u200Bc\u2066d\u2028e')).toBe('\\ufeffa\\u202eb\\u200bc\\u2066d\\u2028e');
  });
});

describe('bytes that are not UTF-8 count once towards the 4096-byte token buffer, as in nginx', () => {
  // nginx -t 1.22.1 accepts a comment of 2,000 0xFF bytes (it fails this file only at its dynamic `stream`)
  const conf = Buffer.concat([Buffer.from('#'), Buffer.alloc(2000, 0xff), Buffer.from('\nstream { upstream u { server 127.0.0.1:1; } }\n')]);

  it('given as bytes: accepted', () => {
    expect(parseConfig(conf).upstreams.map((u) => u.name)).toEqual(['u']);
  });

  it('given as text decoded from them (three bytes a replacement character): too long, which is why bytes are taken', () => {
    expect(errorOf(conf.toString('utf8')).message).toMatch(/^too long parameter "#\uFFFD+\.\.\." started in nginx\.conf:1$/);
  });

  it('an include whose reader returns bytes', () => {
    const r = parseConfig('include inc.conf;', { prefix: '/conf', readFile: () => conf });
    expect(r.upstreams.map((u) => u.name)).toEqual(['u']);
  });

  it('parseConfig refuses anything but text or bytes, with a typed error', () => {
    expect(() => parseConfig(42 as unknown as string)).toThrow(
      expect.objectContaining({ code: 'ERR_UPSTREAM_CONFIG', message: expect.stringContaining('Expected configuration text to be a string or bytes (Uint8Array), got number') }),
    );
  });
});
