import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configLines, terminateDirectives } from '../../src/config/document';
import { escapeControls, safeJson } from '../../src/config/escape';
import { explain, renderExplanation, swrrCycle } from '../../src/config/explain';
import { parseUpstreams } from '../../src/config/nginx';
import { GUIDE_FAILOVER, GUIDE_MAINTENANCE, GUIDE_WEIGHTED } from '../conformance/nginx-t/corpus';

// The guide's `include /usr/share/nginx/modules/*.conf` as nginx reads it (an operator's text), with no modules.
const opts = { filename: 'guide.conf', glob: () => [], includes: 'anywhere' as const };

describe('explain', () => {
  it('swrrCycle is nginx smooth weighted round robin (docs/nginx-semantics.md §2.8)', () => {
    expect(swrrCycle([1, 4])).toEqual([1, 1, 0, 1, 1]);
    expect(swrrCycle([5, 1, 1])).toEqual([0, 0, 1, 0, 2, 0, 0]);
    expect(swrrCycle([1000, 1])).toBeUndefined();
  });

  it('guide mistake (a): the weight=4 server gets 80%; the weight note only where the text states the inversion (issue 16)', () => {
    const ex = explain(GUIDE_WEIGHTED, opts);
    const u = ex.upstreams[0]!;
    expect(u.servers.map((s) => [s.address, s.weight, s.share])).toEqual([
      ['mdemailsecurity1.example.com:10025', 1, 20],
      ['mdemailsecurity2.example.com:10025', 4, 80],
    ]);
    expect(u.cycle).toBe('B B A B B');
    // the config alone says nothing wrong about weights: shares and cycle, no lecture
    expect(ex.findings.map((f) => f.id)).not.toContain('weight-direction');
    expect(u.warnings.join('\n')).not.toContain('higher weight');
    // with the guide's sentence above it, the note quotes it and gives the real shares
    const prose = '# The lower the value, the more traffic the server will receive relative to the other servers.\n';
    const withClaim = explain(prose + GUIDE_WEIGHTED, opts);
    const f = withClaim.findings.find((x) => x.id === 'weight-direction')!;
    expect(f).toEqual({
      id: 'weight-direction',
      title: 'upstream "cluster_mdemailsecurity_smtp": higher weight = more traffic, not less',
      detail:
        'The text says the opposite (guide.conf:1 "lower the value, the more traffic"). nginx gives each server its weight out of every 5 connections: mdemailsecurity1.example.com:10025 weight=1 gets 20%, mdemailsecurity2.example.com:10025 weight=4 gets 80%. To send less traffic to a server, give it the smaller weight, or mark it backup or down.',
    });
  });

  it('guide mistake (b): nginx\'s exact error, what is wrong, and the corrected stream {} structure', () => {
    const ex = explain(GUIDE_FAILOVER, opts);
    expect(ex.verdict).toEqual({ ok: false, error: { message: '"upstream" directive is not allowed here in guide.conf:9', reason: '"upstream" directive is not allowed here', file: 'guide.conf', line: 9, column: 1 } });
    const f = ex.findings.find((x) => x.id === 'structure')!;
    expect(f.detail).toContain('outside a stream {} or http {} block');
    expect(f.detail).toContain('unexpected end of file, expecting "}" (guide.conf:15)');
    expect(f.fix).toBe(
      'stream {\n' +
        '    upstream cluster_mdemailsecurity_smtp {\n' +
        '        server mdemailsecurity1.example.com:10025 max_fails=3 fail_timeout=3s;\n' +
        '        server mdemailsecurity2.example.com:10025 backup;\n' +
        '    }\n' +
        '    server {\n' +
        '        listen 10025;\n' +
        '        proxy_pass cluster_mdemailsecurity_smtp;\n' +
        '    }\n' +
        '}\n',
    );
    // the corrected structure is valid for nginx (names aside) and means the same upstream
    const fixed = parseUpstreams(f.fix!.replace(/mdemailsecurity(\d)\.example\.com/g, '127.0.0.$1'));
    expect(fixed[0]!.context).toBe('stream');
    const u = ex.upstreams[0]!;
    expect(u.servers[0]!.policy).toBe('after 3 failed connects it is out for 3–4 s, then one probe connection every 4 s; a probe that connects brings it back at once');
    expect(u.servers[1]!.role).toBe('backup');
  });

  it('guide mistake (c): check is not in stock nginx, type=smtp exists in no check module', () => {
    const ex = explain(GUIDE_MAINTENANCE, opts);
    const ids = ex.findings.map((f) => f.id);
    expect(ids).toEqual(['structure', 'check-stock', 'check-smtp']);
    expect(ex.findings[1]!.detail).toContain('unknown directive "check"');
    expect(ex.findings[1]!.detail).toContain('http upstreams only');
    expect(ex.findings[2]!.detail).toContain('invalid parameter "type=smtp"');
    const u = ex.upstreams[0]!;
    expect(u.servers.map((s) => s.role)).toEqual(['down', 'backup']);
    expect(u.check).toBe('every 5 s (interval=5000, milliseconds), probe smtp: SMTP greeting (upstream-balancer extension); timeout 2 s; 2 consecutive successes bring a server up, 5 consecutive failures take it down; servers start down until 2 checks pass (default_down=true)');
  });

  it('a valid stream config: ok with the check module, stock nginx\'s verdict reported', () => {
    const text = 'stream {\n    upstream smtp {\n        server 127.0.0.1:10025 max_fails=3 fail_timeout=3s;\n        server 127.0.0.1:10026 backup;\n        check interval=5000 rise=2 fall=5 timeout=2000 type=smtp;\n    }\n}\n';
    const ex = explain(text, { filename: 'f.conf' });
    expect(ex.verdict).toEqual({ ok: true });
    expect(ex.stock.ok).toBe(false);
    expect(ex.stock.error!.reason).toBe('unknown directive "check"');
    const out = renderExplanation(ex);
    expect(out.split('\n')[0]).toBe('nginx 1.30 -t: ok (f.conf, with the check module)');
    expect(out).toContain('stock nginx 1.30: unknown directive "check" in f.conf:5');
    expect(ex.nginx).toBe('1.30');
    expect(explain(text, { filename: 'f.conf', nginx: '1.22' }).nginx).toBe('1.22');
    expect(renderExplanation(explain(text, { filename: 'f.conf', nginx: '1.22' })).split('\n')[0]).toBe('nginx 1.22 -t: ok (f.conf, with the check module)');
    expect(out).toContain('A  127.0.0.1:10025  primary  1       100%');
  });

  it('single-server mode says the server is never excluded', () => {
    const ex = explain('stream { upstream one { server 127.0.0.1:25 max_fails=3 fail_timeout=3s; } }');
    expect(ex.upstreams[0]!.single).toBe(true);
    expect(ex.upstreams[0]!.servers[0]!.policy).toMatch(/^single server: never marked unavailable/);
  });

  it('max_fails=0, fail_timeout=0 and http wording', () => {
    const ex = explain('http { upstream h { server 127.0.0.1:1 max_fails=0; server 127.0.0.1:2 fail_timeout=0; server 127.0.0.1:3 max_fails=2 fail_timeout=10; } }');
    expect(ex.upstreams[0]!.servers.map((s) => s.policy)).toEqual([
      'never excluded by failures (max_fails=0)',
      'after 1 failed attempt (error, timeout, or a listed http_5xx) it is out for the rest of that second, then one probe request every 1 s; a successful probe brings it back at once',
      'after 2 failed attempts (error, timeout, or a listed http_5xx) it is out for 10–11 s, then one probe request every 11 s; a successful probe brings it back at once',
    ]);
  });

  it('--upstream filters', () => {
    const ex = explain('http { upstream a { server 127.0.0.1:1; } upstream b { server 127.0.0.1:2; } }', { upstream: 'b' });
    expect(ex.upstreams.map((u) => u.name)).toEqual(['b']);
  });
});

describe('explain: the guide\'s failover put inside http {}', () => {
  it('reports nginx\'s proxy_pass error and shows the stream {} form', () => {
    const text = 'http {\n    upstream cluster {\n        server 127.0.0.1:10025 max_fails=3 fail_timeout=3s;\n        server 127.0.0.1:10026 backup;\n    }\n    server {\n        listen 10025;\n        proxy_pass cluster;\n    }\n}\n';
    const ex = explain(text, { filename: 'h.conf' });
    expect(ex.verdict.error!.message).toBe('"proxy_pass" directive is not allowed here in h.conf:8');
    const f = ex.findings.find((x) => x.id === 'structure')!;
    expect(f.title).toBe('proxy_pass in an http server');
    expect(f.fix).toContain('stream {\n    upstream cluster {');
    expect(f.fix).toContain('        listen 10025;\n        proxy_pass cluster;');
  });
});

describe('explain on the vendor guide as a document (prose and configs together)', () => {
  const guide = readFileSync(new URL('../fixtures/vendor-guide.txt', import.meta.url), 'utf8');

  it('explains the configuration lines, keeps the document\'s line numbers, and names all three mistakes', () => {
    const ex = explain(guide, { filename: 'guide.txt', glob: () => [], includes: 'anywhere' });
    const error = { message: '"upstream" directive is not allowed here in guide.txt:60', reason: '"upstream" directive is not allowed here', file: 'guide.txt', line: 60, column: 1 };
    // the verdict is the whole document's (nginx 1.22.1 and 1.30.4 stop at the first word of its
    // prose); what its configuration lines alone say is extra
    const whole = { message: 'unknown directive "5.7.2" in guide.txt:52', reason: 'unknown directive "5.7.2"', file: 'guide.txt', line: 52, column: 1 };
    expect(ex.verdict).toEqual({ ok: false, error: whole });
    expect(ex.document).toEqual({ proseLines: 38, configLines: { ok: false, error } });
    expect(ex.upstreams.map((u) => u.line).sort((a, b) => a - b)).toEqual([60, 80, 116]);
    expect(ex.findings.map((f) => f.id)).toEqual(['structure', 'check-stock', 'check-smtp', 'weight-direction']);
    const text = renderExplanation(ex);
    expect(text.split('\n').slice(0, 3)).toEqual([
      'nginx 1.30 -t: error: unknown directive "5.7.2" in guide.txt:52',
      "guide.txt mixes prose and configuration: explaining its configuration lines only (38 prose lines ignored; line numbers are the document's)",
      '  those lines alone: nginx 1.30 -t: error: "upstream" directive is not allowed here in guide.txt:60',
    ]);
    // the guide's own sentence (line 110) is what the weight note answers
    expect(ex.findings.find((f) => f.id === 'weight-direction')!.detail).toMatch(/^The text says the opposite \(guide\.txt:110 "lower the value, the more traffic", guide\.txt:110 "higher weight of 4 to minimize its load"\)/);
    expect(text).toContain('higher weight = more traffic, not less');
    expect(text).toContain('type=smtp exists in no check module');
    expect(text).toContain('unexpected end of file, expecting "}"');
  });

  it('a configuration with a directive over several lines is not taken for a document', () => {
    const conf = "http {\n    log_format main '$remote_addr'\n        '$status'\n        '$body_bytes_sent';\n    upstream u { server 127.0.0.1:80; }\n}\n";
    const ex = explain(conf, { filename: 'f.conf', glob: () => [] });
    expect(ex.verdict.ok).toBe(true);
    expect(ex.document).toBeUndefined();
  });
});

describe('explain never calls a broken configuration valid (issue 14, item 6)', () => {
  // three missing semicolons: nginx reads lines 3-6 as one directive "server ... server ... ;"
  const broken = 'stream {\n    upstream smtp {\n        server 127.0.0.1:10025\n        server 127.0.0.1:10026\n        server 127.0.0.1:10027\n        server 127.0.0.1:10028;\n    }\n}\n';

  it('three missing semicolons: nginx\'s error, not a document, and all four servers explained', () => {
    const ex = explain(broken, { filename: 'f.conf' });
    const error = { message: 'invalid parameter "server" in f.conf:6', reason: 'invalid parameter "server"', file: 'f.conf', line: 6, column: 9 };
    expect(ex.verdict).toEqual({ ok: false, error });
    expect(ex.stock).toEqual({ ok: false, error });
    expect(ex.document).toBeUndefined();
    expect(ex.errors).toEqual([]);
    expect(ex.upstreams[0]!.servers.map((s) => s.address)).toEqual(['127.0.0.1:10025', '127.0.0.1:10026', '127.0.0.1:10027', '127.0.0.1:10028']);
    expect(ex.findings).toEqual([
      {
        id: 'missing-semicolon',
        title: '3 directives not terminated by ";"',
        detail:
          'f.conf:3 "server 127.0.0.1:10025", f.conf:4 "server 127.0.0.1:10026", f.conf:5 "server 127.0.0.1:10027" end without ";" while the next line starts another directive: nginx reads them as one directive and stops (invalid parameter "server" in f.conf:6). Explained below as if each ends with ";"; add the ";" to make it so.',
      },
    ]);
    const text = renderExplanation(ex);
    expect(text.split('\n')[0]).toBe('nginx 1.30 -t: error: invalid parameter "server" in f.conf:6');
    expect(text).not.toContain('-t: ok');
    expect(text).not.toContain('mixes prose');
  });

  it('one missing semicolon before "}": nginx says unexpected "}"; the server is kept', () => {
    const ex = explain('stream {\n upstream u {\n  server a:25;\n  server b:25 # the second\n }\n}\n', { filename: 'f.conf' });
    expect(ex.verdict.error!.message).toBe('unexpected "}" in f.conf:5');
    expect(ex.upstreams[0]!.servers.map((s) => s.address)).toEqual(['a:25', 'b:25']);
    expect(ex.findings[0]!.title).toBe('1 directive not terminated by ";"');
    expect(ex.findings[0]!.detail).toMatch(/^f\.conf:4 "server b:25" ends without ";"/);
  });

  it('a document whose configuration lines are valid still has the whole text\'s verdict', () => {
    const doc = 'Setting up the balancer\nPut this in nginx.conf:\nThen reload nginx\nstream { upstream u { server 127.0.0.1:1; } }\n';
    const ex = explain(doc, { filename: 'doc.txt' });
    // nginx reads lines 1-4 as one block statement "Setting up ... stream {" and stops at its
    // unknown name (nginx 1.22.1 and 1.30.4: unknown directive "Setting" in doc.txt:4)
    const error = { message: 'unknown directive "Setting" in doc.txt:4', reason: 'unknown directive "Setting"', file: 'doc.txt', line: 4, column: 1 };
    expect(ex.verdict).toEqual({ ok: false, error });
    expect(ex.stock).toEqual({ ok: false, error });
    expect(ex.document).toEqual({ proseLines: 3, configLines: { ok: true } });
    expect(ex.upstreams.map((u) => u.servers.length)).toEqual([1]);
    expect(renderExplanation(ex).split('\n').slice(0, 3)).toEqual([
      'nginx 1.30 -t: error: unknown directive "Setting" in doc.txt:4',
      "doc.txt mixes prose and configuration: explaining its configuration lines only (3 prose lines ignored; line numbers are the document's)",
      '  those lines alone: nginx 1.30 -t: ok',
    ]);
  });

  it('prose: not a directive, or a sentence; configuration: a known directive, or a quoted continuation', () => {
    const text = [
      'server 127.0.0.1:1', //                                    directive without ";": configuration
      'Load balancer', //                                          prose
      'server receives traffic only when the first is down.', // a sentence: prose
      "log_format main '$remote_addr'", //                       open directive
      "    '$status'", //                                          its continuation: configuration
      "'quoted' prose after a closed line;", //                   ends with ";": configuration
      '  • max_fails', //                                          prose
      '# a comment',
      '',
    ].join('\n');
    expect(configLines(text)).toEqual({
      text: ['server 127.0.0.1:1', '', '', "log_format main '$remote_addr'", "    '$status'", "'quoted' prose after a closed line;", '', '# a comment', ''].join('\n'),
      proseLines: 3,
    });
    expect(configLines('server a:1\nserver b:1\nserver c:1\nserver d:1;\n')).toBeUndefined();
  });

  it('terminateDirectives: before a trailing comment and a CR, never a block directive or an open quote', () => {
    expect(terminateDirectives('server a:1 # first\r\nserver b:1;\r\n')).toEqual({
      text: 'server a:1; # first\r\nserver b:1;\r\n',
      lines: [{ line: 1, text: 'server a:1' }],
    });
    expect(terminateDirectives('upstream u\nserver a:1;\n').lines).toEqual([]);
    expect(terminateDirectives('server\n{\n').lines).toEqual([]);
    expect(terminateDirectives('return 200 "two\nlines";\n').lines).toEqual([]);
    expect(terminateDirectives("log_format main '$a'\n  '$b';\n").lines).toEqual([]);
    expect(terminateDirectives('server a:1\n\n# gap\nweight=2;\n').lines).toEqual([]);
  });
});

describe('renderExplanation escapes control characters from the configuration (issue 14, item 11)', () => {
  it('escapeControls and safeJson: every C0, DEL and C1 control visible; printable text unchanged', () => {
    expect(escapeControls('a\tb\nc\rd\x00e\x07f\x1b[2Jg\x7fh\u0080i\u009bj\u00a0k\\x1b')).toBe('a\\tb\\nc\\rd\\x00e\\x07f\\x1b[2Jg\\x7fh\\u0080i\\u009bj\u00a0k\\x1b');
    const value = { s: 'x\x1b\x7f\u009b\u00e9' };
    expect(safeJson(value)).toBe('{\n  "s": "x\\u001b\\u007f\\u009b\u00e9"\n}');
    expect(JSON.parse(safeJson(value))).toEqual(value);
  });

  it('ESC/CSI, BEL, CR and C1 in the upstream name and the addresses are printed visibly', () => {
    const conf = '# the lower the weight, the more traffic\nstream {\n upstream "u\x1b]0;t\x07\r" {\n  server "\x1b[2J\x1b[31mevil:25";\n  server "b\u009b31m:25" weight=2;\n }\n}\n';
    const ex = explain(conf, { filename: 'e.conf' });
    expect(ex.upstreams[0]!.name).toBe('u\x1b]0;t\x07\r');
    const text = renderExplanation(ex);
    expect(text).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
    const lines = text.split('\n');
    expect(lines).toContain('upstream u\\x1b]0;t\\x07\\r (stream) e.conf:3');
    expect(lines).toContain('  A  \\x1b[2J\\x1b[31mevil:25  primary  1       33.3%  1          10 s          unlimited');
    expect(lines).toContain('  B  b\\u009b31m:25           primary  2       66.7%  1          10 s          unlimited');
    expect(lines).toContain('  * upstream "u\\x1b]0;t\\x07\\r": higher weight = more traffic, not less');
  });

  it('an error message quoting a value, and the corrected structure keeps its own lines', () => {
    const ex = explain('upstream "a\x1bb" {\n server "x\x9b:25";\n}\n', { filename: 'e.conf' });
    const text = renderExplanation(ex);
    expect(text).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
    expect(text).toContain('upstream "a\\x1bb" (e.conf:1) is outside a stream {} or http {} block');
    expect(text).toContain('      stream {\n          upstream "a\\x1bb" {\n              server "x\\u009b:25";\n          }\n');
  });
});
