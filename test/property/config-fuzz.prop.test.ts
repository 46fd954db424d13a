/**
 * Robustness of the nginx tokenizer and parser: whatever the input (random bytes, random token
 * soups, deep nesting, includes that fail, 10 MB), only ConfigError is ever thrown (strict mode)
 * and nothing is thrown at all in lenient mode; and the work grows linearly with the input
 * (compared between sizes with a generous factor, never against absolute times).
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors';
import { parseConfig } from '../../src/config/nginx';
import { tokenize } from '../../src/config/tokenizer';
import { explain, renderExplanation } from '../../src/config/explain';
import { formatUpstream } from '../../src/config/format';

const latin1 = (bytes: Uint8Array) => String.fromCharCode(...bytes);
const files: Record<string, string> = { 'a.conf': 'server 127.0.0.1:1;', 'b.conf': 'upstream x {', 'c.conf': '}' };
const readFile = (p: string) => {
  const t = files[p];
  if (t === undefined) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
  return t;
};
const glob = (p: string) => Object.keys(files).filter((f) => f.endsWith(p.slice(-5)));

function onlyConfigError(text: string): void {
  for (const checkModule of [true, false]) {
    try {
      parseConfig(text, { filename: 'f.conf', readFile, glob, checkModule });
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      expect(e.line).toBeGreaterThanOrEqual(1);
      expect(e.reason.length).toBeGreaterThan(0);
    }
    const r = parseConfig(text, { filename: 'f.conf', readFile, glob, checkModule, lenient: true });
    expect(Array.isArray(r.errors)).toBe(true);
  }
}

const TOKENS = [
  '{', '}', ';', ' ', '\n', '\t', '"', "'", '\\', '#', '$', '${', ')', 'http', 'stream', 'events', 'upstream', 'u',
  'server', '127.0.0.1:80', '[::1]:25', 'unix:/s', 'weight=2', 'weight=0', 'max_fails=3', 'fail_timeout=3s', 'backup',
  'down', 'hash', '$remote_addr', 'consistent', 'ip_hash', 'least_conn', 'random', 'two', 'keepalive', '8', 'zone',
  'z', '64k', 'check', 'interval=5000', 'type=smtp', 'check_http_send', 'check_http_expect_alive', 'http_2xx',
  'include', 'a.conf', 'b.conf', 'c.conf', '*.conf', 'location', '/', 'listen', 'proxy_pass', 'map', 'types',
  'sticky', 'cookie', 'route', 'learn', 'drain', 'route=a',
];

/** Words of the `sticky` directive, valid and not (sticky.ts). */
const STICKY_WORDS = [
  'cookie', 'route', 'learn', 'srv', '""', 'expires=1h', 'expires=max', 'expires=', 'expires=1x', 'domain=.a.b', 'domain=$host',
  'domain=${x', 'domain=$', 'domain=', 'path=/', 'path=', 'samesite=lax', 'samesite=$arg_s', 'samesite=no', 'secure', 'httponly',
  '$arg_r', '$cookie_r', '$nosuch', '$', 'arg_r', '$defined', 'create=$upstream_cookie_s', 'create=', 'create=$', 'lookup=$cookie_s',
  'lookup=x', 'zone=z:1m', 'zone=z', 'zone=:1m', 'zone=z:1k', 'zone=y:64k', 'timeout=1h', 'timeout=0', 'header', 'sync', 'x=1',
];

describe('config parser robustness (fuzzing)', () => {
  it('random bytes: only ConfigError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        onlyConfigError(latin1(bytes));
        onlyConfigError(new TextDecoder().decode(bytes));
      }),
      { numRuns: 400 },
    );
  });

  it('random token soups: only ConfigError', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...TOKENS), { maxLength: 120 }), fc.array(fc.constantFrom(' ', '\n', ''), { maxLength: 120 }), (toks, seps) => {
        onlyConfigError(toks.map((t, i) => t + (seps[i] ?? ' ')).join(''));
      }),
      { numRuns: 800 },
    );
  });

  it('explain never throws on token soups', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...TOKENS), { maxLength: 80 }), (toks) => {
        const ex = explain(toks.join(' '), { filename: 'f.conf', readFile, glob });
        expect(typeof ex.verdict.ok).toBe('boolean');
      }),
      { numRuns: 300 },
    );
  });

  it('sticky soups: only ConfigError; what parses formats back to the same StickyConfig', () => {
    let parsed = 0;
    // a mode with its required words (most of the time), then any words
    const heads = ['cookie srv', 'route $arg_r', 'learn create=$upstream_cookie_s lookup=$cookie_s zone=z:1m', ''];
    fc.assert(
      fc.property(fc.constantFrom(...heads), fc.array(fc.constantFrom(...STICKY_WORDS), { minLength: 0, maxLength: 6 }), fc.boolean(), fc.boolean(), (head, words, define, two) => {
        const line = `sticky ${[head, ...words].join(' ').trim()};`;
        const text = `http {\n upstream u { server 127.0.0.1:1; ${line} }\n${two ? ` upstream v { server 127.0.0.1:2; ${line} }\n` : ''}${define ? ' map $uri $defined { default a; }\n' : ''}}\n`;
        onlyConfigError(text);
        let sticky;
        try {
          sticky = parseConfig(text, { filename: 'f.conf' }).upstreams[0]!.sticky;
        } catch (e) {
          if (e instanceof ConfigError) return;
          throw e;
        }
        parsed++;
        const back = parseConfig(`http {\n${formatUpstream('u', { servers: [{ address: '127.0.0.1:1' }] }, { sticky })}${define ? 'map $uri $defined { default a; }\n' : ''}}\n`).upstreams[0]!.sticky;
        expect(back).toEqual(sticky);
      }),
      { numRuns: 800 },
    );
    expect(parsed).toBeGreaterThan(50);
  });

  it('deep nesting: an error, not a stack overflow', () => {
    for (const depth of [150, 1000, 100_000]) {
      const text = 'http {\n' + 'server {\n'.repeat(depth) + '}\n'.repeat(depth) + '}\n';
      onlyConfigError(text);
      onlyConfigError('a {'.repeat(depth));
      onlyConfigError('stream { upstream u { server 127.0.0.1:1 ' + '{ '.repeat(depth));
    }
    // (locations nest without limit in nginx; an unknown name would stop the parse at once)
    expect(() => parseConfig('http { server { ' + 'location / {'.repeat(1000) + '}'.repeat(1002))).toThrow(/nested deeper than 200 levels/);
  });

  it('a 10 MB configuration parses; 10 MB of random bytes only throws ConfigError', () => {
    const block = (i: number) => `upstream u${i} {\n    server 127.0.0.1:${1 + (i % 60000)} weight=${1 + (i % 9)} max_fails=3 fail_timeout=3s;\n    server 127.0.0.2:25 backup;\n}\n`;
    const parts: string[] = ['stream {\n'];
    let size = 0;
    let n = 0;
    while (size < 10 * 1024 * 1024) {
      const b = block(n++);
      parts.push(b);
      size += b.length;
    }
    parts.push('}\n');
    const r = parseConfig(parts.join(''), { filename: 'big.conf' });
    expect(r.upstreams).toHaveLength(n);
    const rnd = new Uint8Array(10 * 1024 * 1024);
    let x = 12345;
    for (let i = 0; i < rnd.length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      rnd[i] = x >>> 24;
    }
    onlyConfigError(new TextDecoder('latin1').decode(rnd));
  });
});

/** Fastest of `runs` calls (the minimum is the least disturbed by GC and other load). */
function time(fn: () => void, runs = 5): number {
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const s = performance.now();
    fn();
    t.push(performance.now() - s);
  }
  return Math.min(...t);
}

/**
 * Cost ratio big/small, the best of three measurements: a busy machine (GC, other processes) can
 * inflate one measurement, but a quadratic algorithm shows 8x8 = 64x every time.
 */
/** The least of three timings: a run slowed by another process or a collection does not count. */
function leastTime(f: () => void): number {
  return Math.min(time(f), time(f), time(f));
}

/** big / small by their least timings, measured again (up to five times) while it looks superlinear. */
function bestRatio(big: () => void, small: () => void): number {
  let best = Infinity;
  for (let k = 0; k < 5 && best >= 24; k++) best = Math.min(best, leastTime(big) / Math.max(leastTime(small), 0.05));
  return best;
}

describe('large inputs: no RangeError from a spread of 10^5 arguments', () => {
  it('renderExplanation of an upstream of 130,000 servers, formatUpstream of 200,000', () => {
    const ex = explain('stream { upstream u { server 10.0.0.1:25; server 10.0.0.2:25 weight=2; } }');
    const row = ex.upstreams[0]!.servers[1]!;
    ex.upstreams[0]!.servers = Array.from({ length: 130_000 }, (_, i) => ({ ...row, address: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}:25` }));
    const text = renderExplanation(ex);
    expect(text).toContain('10.1.251.207:25');
    const servers = Array.from({ length: 200_000 }, (_, i) => ({ address: `10.0.${(i >> 8) & 255}.${i & 255}:${1 + (i >> 16)}` }));
    const out = formatUpstream('u', { servers });
    expect(out.split('\n').length).toBe(200_000 + 3);
  });
});

describe('config parser cost is linear in the input', () => {
  const shapes: Record<string, (n: number) => string> = {
    'many upstreams': (n) => 'http {\n' + Array.from({ length: n }, (_, i) => `upstream u${i} { server 127.0.0.1:${1 + (i % 9000)} weight=2; }\n`).join('') + '}\n',
    'one upstream, many servers (same address)': (n) => 'stream { upstream u {\n' + 'server 127.0.0.1:25 max_fails=1;\n'.repeat(n) + '} }\n',
    'comments and quoted strings': (n) => ('# a comment line with { and } and ;\nhttp { upstream "q" { server \'127.0.0.1:80\' "weight=3"; } }\n').repeat(1) + '# c\n'.repeat(n) + `x "${'y'.repeat(40)}";\n`.repeat(n),
    'nested skipped blocks': (n) => 'http {\n' + 'server { location / { location /a { if ($x) { return 200; } } } }\n'.repeat(n) + '}\n',
    'long tokens': (n) => `x ${'a'.repeat(4000)};\n`.repeat(Math.max(1, n >> 6)),
  };
  it.each(Object.keys(shapes))('%s: 8x the input costs well under 8x8', (name) => {
    const make = shapes[name]!;
    const small = make(2000);
    const big = make(16_000);
    const run = (t: string) => () => parseConfig(t, { lenient: true });
    run(small)();
    run(big)();
    expect(big.length / small.length).toBeGreaterThan(6);
    expect(bestRatio(run(big), run(small))).toBeLessThan(24);
  });

  it('explain is linear on long blank runs (the prose test once backtracked quadratically)', () => {
    const doc = (n: number) => `x${' '.repeat(n)}y\nprose a\nprose b\nprose c\n`;
    const small = doc(10_000);
    const big = doc(80_000);
    explain(small);
    explain(big);
    expect(bestRatio(() => explain(big), () => explain(small))).toBeLessThan(24);
  });

  it('the tokenizer alone is linear too', () => {
    // (sizes whose tokens stay in the young generation: the collection of a large old generation,
    // left by the tests above, is not the tokenizer's cost; a quadratic tokenizer still shows 64x)
    const small = 'server 127.0.0.1:80 weight=1;\n'.repeat(4_000);
    const big = small.repeat(8);
    tokenize(small);
    tokenize(big);
    expect(bestRatio(() => tokenize(big), () => tokenize(small))).toBeLessThan(24);
  });
});
