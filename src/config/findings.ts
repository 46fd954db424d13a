/**
 * The findings of an explanation beside nginx's verdict: the structure (an `upstream` or a
 * `proxy_pass` where nginx rejects it, unbalanced braces) with a corrected structure in the context
 * the text itself points to, the weight direction when the text states the inverted rule (the
 * vendor guide's "the lower the value, the more traffic"), the check module's `check` line per
 * upstream, NGINX Plus names, and directives missing their `;`.
 *
 * The contexts follow nginx's command tables: `proxy_pass` is `NGX_HTTP_LOC_CONF` in http (a URL
 * with a scheme, `ngx_http_proxy_pass`) and `NGX_STREAM_SRV_CONF` in stream (an address or an
 * upstream name, `ngx_stream_proxy_pass`); weights follow smooth weighted round robin
 * (docs/nginx-semantics.md §2.1). Pure.
 */

import type { NginxTarget } from '../options';
import { DEFAULT_SERVER } from '../server-fields';
import type { TerminatedLine } from './document';
import { formatUpstream } from './format';
import { plusNote } from './plus';
import type { ConfigResult, ProxyDirective, UpstreamConfig } from './types';

/** A problem with nginx's message and what to do about it. */
export interface Finding {
  /** Short id: `missing-semicolon`, `weight-direction`, `structure`, `check-stock`, `check-smtp`, `nginx-plus`, ... */
  id: string;
  title: string;
  detail: string;
  /** A corrected configuration, when one can be shown. */
  fix?: string;
}

/** Where nginx stopped: its message, and the reason, file, line and column of it. */
export type ErrorInfo = { message: string; reason: string; file: string; line: number; column: number };

function pct(part: number, total: number): number {
  return total === 0 ? 0 : Math.round((part / total) * 1000) / 10;
}

const indent = (text: string, by: string): string => text.split('\n').map((l) => (l ? `${by}${l}` : l)).join('\n');

function formatted(u: UpstreamConfig): string | undefined {
  try {
    return indent(formatUpstream(u.name, u.options, { hashKey: u.hashKey ?? '$remote_addr' }), '    ');
  } catch {
    return undefined;
  }
}

const hasScheme = (value: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(value);

/**
 * The module the text's own proxying points to: a `proxy_pass` with a URL is http's, a bare name or
 * address is stream's; without `proxy_pass`, an http `server` or `location` block means http;
 * otherwise the module the misplaced upstreams were guessed to belong to.
 */
function intendedContext(r: ConfigResult, ups: readonly UpstreamConfig[]): 'http' | 'stream' {
  const passes = r.proxyDirectives.filter((p) => p.directive === 'proxy_pass');
  if (passes.some((p) => hasScheme(p.value))) return 'http';
  if (passes.length > 0) return 'stream';
  if (r.proxyDirectives.some((p) => p.block === 'http-server' || p.block === 'http-location')) return 'http';
  return ups[0]?.context ?? 'stream';
}

/**
 * The block a text that fails as a main configuration is a fragment of: its upstreams all misplaced
 * and the module its proxying points to; undefined when it has a well-placed upstream or none.
 */
export function fragmentContext(r: ConfigResult): 'http' | 'stream' | undefined {
  if (r.upstreams.length === 0 || r.upstreams.some((u) => !u.misplaced)) return undefined;
  return intendedContext(r, r.upstreams);
}

function structureText(context: 'http' | 'stream', blocks: string, listen: ProxyDirective | undefined, pass: string): string {
  const listenLine = listen ? `        listen ${listen.value};\n` : '';
  if (context === 'stream') {
    // a stream server needs a listen (no "listen" is defined for server): none is invented
    if (!listen) return `stream {\n${blocks}    # server { listen PORT; proxy_pass ${pass}; }   (the text has no listen to take the port from)\n}\n`;
    return `stream {\n${blocks}    server {\n${listenLine}        proxy_pass ${pass};\n    }\n}\n`;
  }
  return `http {\n${blocks}    server {\n${listenLine}        location / {\n            proxy_pass ${pass};\n        }\n    }\n}\n`;
}

/** A misplaced `upstream`, a misplaced `proxy_pass` or unbalanced braces; the corrected structure where it applies. */
export function structureFinding(r: ConfigResult, fragment: 'http' | 'stream' | undefined): Finding | undefined {
  const misplaced = r.upstreams.filter((u) => u.misplaced);
  const passErrors = r.errors.filter((e) => e.reason === '"proxy_pass" directive is not allowed here');
  const unbalanced = r.errors.find((e) => e.reason.startsWith('unexpected end of file') || e.reason === 'unexpected "}"');
  if (misplaced.length === 0 && passErrors.length === 0 && !unbalanced) return undefined;
  const context = intendedContext(r, misplaced.length ? misplaced : r.upstreams);
  const problems: string[] = [];
  const titles: string[] = [];
  if (misplaced.length) {
    const atTop = fragment === undefined;
    titles.push(`upstream outside ${context} {}`);
    problems.push(
      `upstream ${misplaced.map((u) => `"${u.name}" (${u.file}:${u.line})`).join(', ')} is outside a stream {} or http {} block: nginx says "upstream" directive is not allowed here.` +
        (context === 'http'
          ? ' Its proxy_pass and blocks are http\'s, so it belongs in http {}' +
            (atTop ? ', or, if this file is a conf.d fragment that nginx includes from inside http {}, check it as one (--context http; ParseOptions fragment: \'http\').' : '.')
          : ' For SMTP (any TCP protocol) the upstream and the server { listen; proxy_pass; } that uses it belong in stream {}' +
            (atTop ? ', or, if this file is included from inside stream {}, check it as a fragment (--context stream).' : '.')),
    );
  }
  for (const e of passErrors) {
    const seen = r.proxyDirectives.find((p) => p.directive === 'proxy_pass' && p.file === e.file && p.line === e.line);
    const where = seen?.block === 'http-server' ? 'an http server' : seen?.block === 'http' || seen?.block === 'stream' ? `the ${seen.block} {} block itself` : 'a block';
    titles.push(`proxy_pass in ${where}`);
    const value = seen?.value ?? '';
    problems.push(
      hasScheme(value)
        ? `proxy_pass ${value} sits directly in ${where} (${e.file}:${e.line}): http proxy_pass belongs in a location {} inside a server {}.`
        : `proxy_pass ${value} sits directly in ${where} (${e.file}:${e.line}): a proxy_pass to a bare name or address is the stream module's, and belongs in a server { listen; } inside stream {}; http proxy_pass belongs in a location and takes a URL (http://NAME) and speaks HTTP, which an SMTP server does not.`,
    );
  }
  if (unbalanced) {
    titles.push('unbalanced braces');
    problems.push(`The braces are unbalanced: nginx says ${unbalanced.reason} (${unbalanced.file}:${unbalanced.line}); every block needs its closing "}".`);
  }
  let fix: string | undefined;
  // a corrected structure only where the text says what it should be: a misplaced upstream or proxy_pass
  if (misplaced.length || passErrors.length) {
    const pass = r.proxyDirectives.find((p) => p.directive === 'proxy_pass' && hasScheme(p.value) === (context === 'http'));
    const named = pass ? r.upstreams.filter((u) => u.name === upstreamOf(pass.value)) : [];
    const ups = misplaced.length ? misplaced : named.length ? named : r.upstreams.filter((u) => u.context === context);
    const blocks = ups.map(formatted).filter((t) => t !== undefined).join('');
    if (ups.length) {
      const listen = r.proxyDirectives.find((p) => p.directive === 'listen');
      const target = pass?.value ?? (context === 'http' ? `http://${ups[0]!.name}` : ups[0]!.name);
      fix = structureText(context, blocks, listen, target);
    }
  }
  return { id: 'structure', title: titles.join('; '), detail: problems.join(' '), ...(fix ? { fix } : {}) };
}

/** The upstream name a proxy_pass value names (`http://app/x` -> `app`). */
function upstreamOf(value: string): string {
  const rest = value.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  return rest.split(/[/:?]/)[0]!;
}

/** Sentences that state the inverted weight rule (the vendor guide's), each with its own wording. */
const INVERSION_PATTERNS: readonly RegExp[] = [
  // "The lower the value, the more traffic the server will receive"
  /\b(?:lower|smaller|lowest|smallest)\b[^.;\n]{0,40}\b(?:value|weight|number)\b[^.;]{0,60}\bmore\s+(?:traffic|connections|requests|load)\b/gi,
  // "assigned a higher weight of 4 to minimize its load"
  /\b(?:higher|larger|bigger|highest|largest)\b[^.;\n]{0,20}\bweight\b[^.;]{0,60}\b(?:minimi[sz]e|reduce|lessen|lower)\b[^.;]{0,20}\b(?:load|traffic)\b/gi,
  // "a higher weight means less traffic"
  /\b(?:higher|larger|bigger)\b[^.;\n]{0,30}\b(?:value|weight)\b[^.;]{0,60}\b(?:less|fewer)\s+(?:traffic|connections|requests|load)\b/gi,
];

/** Where the text states the inverted rule: line and the words, in order. */
export function weightInversionClaims(text: string): { line: number; text: string }[] {
  const out: { index: number; line: number; text: string }[] = [];
  for (const re of INVERSION_PATTERNS) {
    for (const m of text.matchAll(re)) {
      const line = text.slice(0, m.index).split('\n').length;
      out.push({ index: m.index, line, text: m[0].replace(/\s+/g, ' ') });
    }
  }
  return out.sort((a, b) => a.index - b.index).map(({ line, text: t }) => ({ line, text: t }));
}

/** The weight-direction note: only for an upstream with unequal weights, and only when the text states the inversion. */
export function weightFindings(ups: readonly UpstreamConfig[], text: string, file: string): Finding[] {
  const claims = weightInversionClaims(text);
  if (claims.length === 0) return [];
  const said = claims.slice(0, 3).map((c) => `${file}:${c.line} "${c.text.length > 100 ? `${c.text.slice(0, 99)}…` : c.text}"`).join(', ');
  const out: Finding[] = [];
  for (const u of ups) {
    const live = u.options.servers.filter((x) => !x.backup && !x.down);
    const ws = live.map((x) => x.weight ?? DEFAULT_SERVER.weight);
    if (live.length < 2 || new Set(ws).size < 2) continue;
    const total = ws.reduce((a, b) => a + b, 0);
    const parts = live.map((x, i) => `${x.address} weight=${ws[i]} gets ${pct(ws[i]!, total)}%`);
    out.push({
      id: 'weight-direction',
      title: `upstream "${u.name}": higher weight = more traffic, not less`,
      detail: `The text says the opposite (${said}). nginx gives each server its weight out of every ${total} connections: ${parts.join(', ')}. To send less traffic to a server, give it the smaller weight, or mark it backup or down.`,
    });
  }
  return out;
}

/** The check module's `check`, per upstream at its own `check` line; `type=smtp`, which no module has. */
export function checkFindings(u: UpstreamConfig): Finding[] {
  const c = u.options.check;
  if (!c) return [];
  const at = u.checkSource ? `${u.checkSource.file}:${u.checkSource.line}` : `${u.file}:${u.line}`;
  const out: Finding[] = [
    {
      id: 'check-stock',
      title: `upstream "${u.name}": "check" (${at}) is not in stock nginx`,
      detail:
        `Stock nginx has no active health checks in open source: its check line (${at}) is unknown directive "check". The directive comes from the third-party check module (yaoweibin's nginx_upstream_check_module, Tengine), which has it in http upstreams only` +
        (u.context === 'stream'
          ? ' (in this stream upstream it says "check" directive is not allowed here). Stock nginx\'s only health mechanism for a stream upstream is the passive one (max_fails / fail_timeout); NGINX Plus has health_check in the stream server.'
          : '. Stock nginx\'s only health mechanism for an http upstream is the passive one (max_fails / fail_timeout, with proxy_next_upstream deciding what counts as a failure); NGINX Plus has health_check in the location.') +
        ' upstream-balancer implements the check directive itself.',
    },
  ];
  if (c.type === 'smtp') {
    out.push({
      id: 'check-smtp',
      title: `upstream "${u.name}": type=smtp exists in no check module`,
      detail: `The check module's types are tcp, http, fastcgi, ssl_hello, mysql, ajp: with it nginx says invalid parameter "type=smtp". type=smtp came from the old nginx_tcp_proxy_module (its own tcp {} block). upstream-balancer accepts type=smtp as its documented extension (${at}); the closest faithful choice for the module is type=tcp.`,
    });
  }
  return out;
}

/** NGINX Plus (or newer open-source) names in nginx's errors, each once. */
export function plusFindings(errors: readonly ErrorInfo[], target: NginxTarget): Finding[] {
  const out: Finding[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const note = plusNote(e.reason, target);
    if (note === undefined || seen.has(note)) continue;
    seen.add(note);
    out.push({ id: 'nginx-plus', title: note, detail: `nginx ${target} says ${e.message}. ${note}.` });
  }
  return out;
}

/** Directive lines that end without `;` before the next directive. */
export function missingSemicolons(lines: readonly TerminatedLine[], file: string, error: ErrorInfo): Finding {
  const shown = lines.slice(0, 10).map((l) => `${file}:${l.line} "${l.text.length > 80 ? `${l.text.slice(0, 79)}…` : l.text}"`);
  if (lines.length > shown.length) shown.push(`and ${lines.length - shown.length} more`);
  const one = lines.length === 1;
  return {
    id: 'missing-semicolon',
    title: `${lines.length} directive${one ? '' : 's'} not terminated by ";"`,
    detail: `${shown.join(', ')} ${one ? 'ends' : 'end'} without ";" while the next line starts another directive: nginx reads them as one directive and stops (${error.message}). Explained below as if ${one ? 'it ends' : 'each ends'} with ";"; add the ";" to make it so.`,
  };
}
