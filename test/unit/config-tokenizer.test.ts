import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors';
import { Lexer, NGX_CONF_BUFFER, quoteWord, tokenize } from '../../src/config/tokenizer';

const words = (text: string) => tokenize(text).map((s) => [s.args.map((t) => t.text), s.end]);

function fails(text: string): ConfigError {
  try {
    tokenize(text, 'f.conf');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error(`expected ${JSON.stringify(text)} to fail`);
}

describe('tokenizer (ngx_conf_read_token)', () => {
  it('splits statements, blocks and the end of file', () => {
    expect(words('a b;\nc {\n d;\n}\n')).toEqual([
      [['a', 'b'], ';'],
      [['c'], '{'],
      [['d'], ';'],
      [[], '}'],
      [[], 'eof'],
    ]);
  });

  it('applies nginx escapes in quotes and outside them; unknown escapes are kept', () => {
    expect(words('x "a\\"b" \'c\\\'d\' "\\t\\r\\n\\\\" e\\;f "\\q";')[0]![0]).toEqual(['x', 'a"b', "c'd", '\t\r\n\\', 'e\\;f', '\\q']);
  });

  it('keeps # inside a word and treats it as a comment only at a token start', () => {
    expect(words('a b#c; # comment ; {\nd;')).toEqual([
      [['a', 'b#c'], ';'],
      [['d'], ';'],
      [[], 'eof'],
    ]);
  });

  it('does not end a word at { after $ (${var})', () => {
    expect(words('hash ${remote_addr}x;')[0]![0]).toEqual(['hash', '${remote_addr}x']);
  });

  it('allows ) right after a quoted word, as a new word', () => {
    expect(words('if ($a = "b") {}')[0]).toEqual([['if', '($a', '=', 'b', ')'], '{']);
  });

  it('records token lines and byte columns, and the terminator line', () => {
    const st = new Lexer('\n  server 1.2.3.4:80\n   weight=2;', 'f').next();
    expect(st.args.map((t) => [t.text, t.line, t.column])).toEqual([
      ['server', 2, 3],
      ['1.2.3.4:80', 2, 10],
      ['weight=2', 3, 4],
    ]);
    expect(st.line).toBe(3);
    expect(st.args[0]!.quoted).toBe(false);
  });

  it.each([
    ['a;;', 'unexpected ";"', 1],
    ['{', 'unexpected "{"', 1],
    ['a }', 'unexpected "}"', 1],
    ['"a"b;', 'unexpected "b"', 1],
    ['a\nb', 'unexpected end of file, expecting ";" or "}"', 2],
    ['a "b;\n\n', 'unexpected end of file, expecting ";" or "}"', 3],
  ])('%j fails with %s at line %i', (text, reason, line) => {
    const e = fails(text);
    expect([e.reason, e.line, e.file, e.kind]).toEqual([reason, line, 'f.conf', 'SYNTAX']);
  });

  it('rejects a token longer than the 4096-byte buffer exactly where nginx does', () => {
    const ok = `w ${'x'.repeat(NGX_CONF_BUFFER - 1)};\n${'y;'.repeat(3000)}`;
    expect(() => tokenize(ok)).not.toThrow();
    const long = `w ${'x'.repeat(NGX_CONF_BUFFER)};\n${'y;'.repeat(3000)}`;
    const e = fails(long);
    expect(e.reason).toBe('too long parameter "xxxxxxxxxx..." started');
    expect(e.line).toBe(1);
    expect(fails(`w "${'x'.repeat(5000)}`).reason).toBe('too long parameter, probably missing terminating """ character');
    expect(fails(`#${'c'.repeat(5000)}\na;`).reason).toBe(`too long parameter "#ccccccccc..." started`);
  });

  it('counts from the token start: 4095 bytes plus its terminator fit, 4096 do not, even at the end of the file', () => {
    expect(() => tokenize(`w ${'x'.repeat(NGX_CONF_BUFFER - 1)};`)).not.toThrow();
    expect(fails(`w ${'x'.repeat(NGX_CONF_BUFFER)};`).reason).toBe('too long parameter "xxxxxxxxxx..." started');
    expect(fails(`w ${'x'.repeat(NGX_CONF_BUFFER)}`).reason).toBe('unexpected end of file, expecting ";" or "}"');
  });

  it('continues after an error (lenient callers)', () => {
    const lx = new Lexer('a;; b;', 'f');
    expect(lx.next().args.map((t) => t.text)).toEqual(['a']);
    expect(() => lx.next()).toThrow(ConfigError);
    expect(lx.next().args.map((t) => t.text)).toEqual(['b']);
  });

  it('quoteWord output reads back unchanged', () => {
    for (const w of ['127.0.0.1:80', '$remote_addr', 'a b', '', 'x"y\\z', 'GET / HTTP/1.0\r\n\r\n', '#x', "it's", '{', 'ü']) {
      const st = tokenize(`k ${quoteWord(w)};`)[0]!;
      expect(st.args[1]!.text).toBe(w);
    }
    expect(quoteWord('127.0.0.1:80')).toBe('127.0.0.1:80');
    expect(quoteWord('a b')).toBe('"a b"');
  });
});
