/**
 * Explanations of an nginx configuration in plain words: per upstream, who gets which share of the
 * traffic, what happens after failures, what the active check does, and every warning; plus the
 * `nginx -t` verdict, what stock nginx would say, and how to fix a misplaced block.
 *
 * Built on the lenient parse (`parseConfig(..., { lenient: true })`), so broken text (the vendor
 * guide's configs, with unbalanced braces and no `stream {}`) is still explained, while the
 * verdict reports nginx's exact first error of the text as given. A document mixing prose and
 * configuration, and directives missing their `;`, change only what is explained (document.ts),
 * never the verdict. `renderExplanation` escapes control characters (escape.ts). Shares follow
 * smooth weighted round robin (docs/nginx-semantics.md §2.1: each server gets exactly `weight` of
 * every sum(weights) picks), the failure policy follows §2.3-2.5 (whole seconds: excluded while
 * now - failure <= fail_timeout, so a probe every fail_timeout + 1 s), single-server mode
 * §1.2/§2.3, the check module §7.1-7.4. Pure: no I/O beyond the injected reader. Cost:
 * O(input + servers x sum(weights)) for the small cycle shown.
 */

import { Balancer } from '../balancer';
import { ConfigError } from '../errors';
import { methodSpec } from '../methods';
import { type CheckOptions, DEFAULT_CHECK, DEFAULT_NGINX_TARGET, type NginxTarget } from '../options';
import { DEFAULT_SERVER } from '../server-fields';
import { configLines, terminateDirectives, type TerminatedLine } from './document';
import { escapeStrings } from './escape';
import { checkFindings, type ErrorInfo, type Finding, fragmentContext, missingSemicolons, plusFindings, structureFinding, weightFindings } from './findings';
import { methodChoice, methodSpecOf } from './format';
import { explainUse, type UseExplanation } from './explain-retries';
import { parseConfig, type ConfigResult, type ConfigWarning, type ParseOptions, type UpstreamConfig, type UpstreamUse } from './nginx';
import { sessionId } from '../session-id';
import { stickyFindings, stickyWords } from './explain-sticky';
import { describeMs } from './time';

/** One server row of an explanation. */
export interface ServerExplanation {
  /** Letter used in the pick cycle (A, B, ...). */
  label: string;
  id: string;
  address: string;
  /** `draining`: nginx 1.30's `drain` (no new requests; a session that names it still reaches it). */
  role: 'primary' | 'backup' | 'down' | 'draining';
  /** The session id a sticky cookie or route names it by: its `route=`, else the MD5 of its address. */
  sid: string;
  /** Its `route=` (nginx 1.30), if set. */
  route?: string;
  weight: number;
  /** Percent of connections while every primary is healthy (backups and down: 0). */
  share: number;
  /** Percent within the backup tier, for backups (used only when no primary is available). */
  backupShare?: number;
  maxFails: number;
  failTimeoutMs: number;
  maxConns: number;
  /** The failure policy in words. */
  policy: string;
}

/** The explanation of one upstream. */
export interface UpstreamExplanation {
  name: string;
  context: 'http' | 'stream';
  file: string;
  line: number;
  /** The balancing method in words. */
  method: string;
  servers: ServerExplanation[];
  /** The order of one smooth-weighted-round-robin cycle of the primaries, e.g. `B B A B B` (round robin only). */
  cycle?: string;
  /** Single-server mode (one primary, no backup): never marked unavailable. */
  single: boolean;
  /** The active check in words, or null. */
  check: string | null;
  /** The `sticky` directive in words (nginx 1.30): how a client is kept on its server; null without it. */
  sticky: string | null;
  /** Every warning and note, in words. */
  warnings: string[];
  /** The block was recovered from a place nginx rejects (lenient). */
  misplaced: boolean;
  /** Every `*_pass` that uses it, with what moves a request on and what counts as a failure there. */
  uses: UseExplanation[];
}

export type { ErrorInfo, Finding };

/** The whole explanation. */
export interface Explanation {
  file: string;
  /** The nginx series every verdict is judged by (`ParseOptions.nginx`, default `'1.30'`). */
  nginx: NginxTarget;
  /** The text is read as a fragment included from inside this block (`ParseOptions.fragment`). */
  fragment?: 'http' | 'stream';
  /**
   * The text fails as a main configuration only because it is a conf.d fragment (its upstreams
   * misplaced at top level, and read as the inside of this block it has no error): the upstreams
   * are explained as that fragment's. The verdict stays the text's as given.
   */
  explainedAs?: 'http' | 'stream';
  /**
   * nginx's `[warn]` lines (kind `nginx`), our extensions and skipped missing includes, as the
   * verdict's parse met them: with an error, the ones nginx prints before its `[emerg]`.
   */
  warnings: ConfigWarning[];
  /**
   * What `nginx -t` says of the text as given (with the check module, as upstream-balancer reads
   * it). Always the whole text's verdict, also when only part of it is explained (`document`,
   * finding `missing-semicolon`).
   */
  verdict: { ok: boolean; error?: ErrorInfo };
  /** What stock nginx (no check module) says of the text as given. */
  stock: { ok: boolean; error?: ErrorInfo };
  /** Every error of the lenient parse of the text explained (the first one is nginx's). */
  errors: ErrorInfo[];
  upstreams: UpstreamExplanation[];
  findings: Finding[];
  /**
   * Set when the text is a document that mixes prose and configuration (a guide, a wiki page) and
   * does not parse as a whole: the explanation then covers its configuration lines only (prose
   * lines blanked, so line numbers still point into the document). `verdict` stays the whole
   * text's; `configLines` is what nginx says of the configuration lines alone.
   */
  document?: {
    proseLines: number;
    configLines: { ok: boolean; error?: ErrorInfo };
  };
}

/** The configuration lines of a document (prose lines blanked); see document.ts. */
export { configLines };

const LABELS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const label = (i: number): string => (i < 26 ? LABELS[i]! : `S${i + 1}`);

function errInfo(e: ConfigError): ErrorInfo {
  return { message: e.message, reason: e.reason, file: e.file, line: e.line, column: e.column };
}

/**
 * One full cycle of smooth weighted round robin over static weights (docs/nginx-semantics.md §2.1),
 * as the library's own round-robin selector picks it (no second copy of the algorithm here):
 * indices into `weights`, or undefined when the cycle would be longer than `limit` picks.
 */
export function swrrCycle(weights: readonly number[], limit = 40): number[] | undefined {
  const total = weights.reduce((a, b) => a + b, 0);
  if (total === 0 || total > limit) return undefined;
  const b = new Balancer({ servers: weights.map((weight, i) => ({ address: `cycle-${i}`, weight })) });
  const index = new Map(b.servers.map((s, i) => [s, i] as const));
  const out: number[] = [];
  for (let n = 0; n < total; n++) {
    const s = b.pick()!;
    out.push(index.get(s)!);
    b.release(s);
  }
  return out;
}

function pct(part: number, total: number): number {
  return total === 0 ? 0 : Math.round((part / total) * 1000) / 10;
}

function policyWords(u: UpstreamConfig, s: UpstreamConfig['options']['servers'][number], single: boolean): string {
  const stream = u.context === 'stream';
  if (s.down) return 'down: never selected (administratively out)';
  if (single) {
    return 'single server: never marked unavailable (nginx ignores max_fails and fail_timeout when an upstream has one server and no backup); a failed connection is not retried';
  }
  const maxFails = s.maxFails ?? DEFAULT_SERVER.maxFails;
  const ft = Math.floor((s.failTimeout ?? DEFAULT_SERVER.failTimeout) / 1000);
  if (maxFails === 0) return 'never excluded by failures (max_fails=0)';
  const what = stream ? `failed connect${maxFails === 1 ? '' : 's'}` : `failed attempt${maxFails === 1 ? '' : 's'} (error, timeout, or a listed http_5xx)`;
  const probe = stream ? 'one probe connection' : 'one probe request';
  const out = ft === 0 ? 'out for the rest of that second' : `out for ${ft}–${ft + 1} s`;
  const back = stream ? 'a probe that connects brings it back at once' : 'a successful probe brings it back at once';
  return `after ${maxFails} ${what} it is ${out}, then ${probe} every ${ft + 1} s; ${back}`;
}

const CHECK_TYPE_WORDS: Record<string, string> = {
  tcp: 'TCP connect (the module then peeks one byte; an SMTP server passes on connect, banner or not)',
  http: 'HTTP request, status class compared with check_http_expect_alive',
  ssl_hello: 'TLS ClientHello, passes on a ServerHello',
  tls: 'TLS ClientHello, passes on a ServerHello',
  mysql: 'MySQL greeting packet',
  smtp: 'SMTP greeting (upstream-balancer extension)',
};

function checkWords(c: CheckOptions): string {
  const t = typeof c.type === 'function' ? 'custom' : c.type ?? DEFAULT_CHECK.type;
  const interval = c.interval ?? DEFAULT_CHECK.interval;
  const rise = c.rise ?? DEFAULT_CHECK.rise;
  const fall = c.fall ?? DEFAULT_CHECK.fall;
  const parts = [
    `every ${describeMs(interval)} (interval=${interval}, milliseconds), probe ${t}: ${CHECK_TYPE_WORDS[t] ?? 'custom probe'}`,
    `timeout ${describeMs(c.timeout ?? DEFAULT_CHECK.timeout)}`,
    `${rise} consecutive successes bring a server up, ${fall} consecutive failures take it down`,
    c.defaultDown === false ? 'servers start up' : `servers start down until ${rise} checks pass (default_down=true)`,
  ];
  if (c.port) parts.push(`checks port ${c.port} instead of the server's own`);
  return parts.join('; ');
}

/** The method in words (the registry's); an unknown method name reads as round robin. */
function methodWords(u: UpstreamConfig): string {
  const spec = methodSpecOf(u.options) ?? methodSpec('round-robin');
  return spec.describe(methodChoice(u.options), u.hashKey ?? '');
}

function explainUpstream(u: UpstreamConfig, uses: readonly UpstreamUse[]): UpstreamExplanation {
  const servers = u.options.servers;
  const primaries = servers.filter((s) => !s.backup);
  const backups = servers.filter((s) => s.backup);
  const single = primaries.length === 1 && backups.length === 0;
  const weightOf = (s: (typeof servers)[number]): number => s.weight ?? DEFAULT_SERVER.weight;
  const selectable = (s: (typeof servers)[number]): boolean => !s.down && !s.drain;
  const livePrimaryWeight = primaries.filter(selectable).reduce((a, s) => a + weightOf(s), 0);
  const liveBackupWeight = backups.filter(selectable).reduce((a, s) => a + weightOf(s), 0);
  const rows: ServerExplanation[] = servers.map((s, i) => {
    const w = weightOf(s);
    const role = s.down ? 'down' : s.drain ? 'draining' : s.backup ? 'backup' : 'primary';
    const route = (s as typeof s & { route?: string }).route;
    const row: ServerExplanation = {
      label: label(i),
      id: s.id ?? s.address,
      address: s.address,
      role,
      sid: sessionId(s.address, route),
      ...(route === undefined ? {} : { route }),
      weight: w,
      share: role === 'primary' ? pct(w, livePrimaryWeight) : 0,
      maxFails: s.maxFails ?? DEFAULT_SERVER.maxFails,
      failTimeoutMs: s.failTimeout ?? DEFAULT_SERVER.failTimeout,
      maxConns: s.maxConns ?? DEFAULT_SERVER.maxConns,
      policy: policyWords(u, s, single),
    };
    if (role === 'backup') row.backupShare = pct(w, liveBackupWeight);
    return row;
  });
  const warnings = u.warnings.map((w) => `${w.kind === 'nginx' ? 'nginx [warn] ' : w.kind === 'extension' ? 'extension: ' : ''}${w.reason} (${w.file}:${w.line})`);
  const live = rows.filter((r) => r.role === 'primary');
  if (livePrimaryWeight === 0) warnings.push('every primary server is down: every connection goes to the backups, or fails with "no live upstreams" (502) if there are none');
  const weights = live.map((r) => r.weight);
  let cycle: string | undefined;
  if ((u.options.method ?? 'round-robin') === 'round-robin' && live.length > 1) {
    const c = swrrCycle(weights);
    if (c) cycle = c.map((i) => live[i]!.label).join(' ');
  }
  return {
    name: u.name,
    context: u.context,
    file: u.file,
    line: u.line,
    method: methodWords(u),
    servers: rows,
    ...(cycle ? { cycle } : {}),
    single,
    check: u.options.check ? checkWords(u.options.check) : null,
    sticky: u.sticky === undefined ? null : stickyWords(u.sticky, rows.some((r) => r.role === 'draining')),
    warnings,
    misplaced: u.misplaced === true,
    uses: uses.filter((x) => x.upstream === u.name && x.context === u.context && u.misplaced !== true).map(explainUse),
  };
}

/**
 * The text as the fragment its misplaced top-level upstreams point to (findings.ts
 * `fragmentContext`), when that reading has no error; undefined otherwise.
 */
function fragmentReading(text: string | Uint8Array, opts: ParseOptions, r: ConfigResult): { context: 'http' | 'stream'; result: ConfigResult } | undefined {
  const context = fragmentContext(r);
  if (context === undefined) return undefined;
  const result = parseConfig(text, { ...opts, lenient: true, fragment: context });
  return result.errors.length === 0 ? { context, result } : undefined;
}

/** The strict parse's verdict; `warnings`, when given, receives what nginx -t would print before it. */
function strictVerdict(text: string | Uint8Array, opts: ParseOptions, warnings?: ConfigWarning[]): Explanation['verdict'] {
  const onWarning = warnings === undefined ? undefined : (w: ConfigWarning) => {
    if (w.kind !== 'note' || w.include !== undefined) warnings.push(w);
  };
  try {
    parseConfig(text, { ...opts, lenient: false, ...(onWarning ? { onWarning } : {}) });
    return { ok: true };
  } catch (e) {
    if (e instanceof ConfigError) return { ok: false, error: errInfo(e) };
    throw e;
  }
}

/**
 * Explains a configuration. Never throws `ConfigError` for bad text: the errors are part of the
 * explanation (`verdict`, `errors`).
 *
 * @example
 * ```ts
 * const ex = explain(readFileSync('smtp.conf', 'utf8'), { filename: 'smtp.conf' });
 * ex.verdict.ok;                      // true
 * ex.upstreams[0].servers[1].share;   // 80  (weight=4 of 1+4)
 * console.log(renderExplanation(ex));
 * ```
 */
export function explain(input: string | Uint8Array, opts: Omit<ParseOptions, 'lenient'> & { upstream?: string } = {}): Explanation {
  const file = opts.filename ?? 'nginx.conf';
  const { upstream, ...popts } = opts;
  const withModule = { ...popts, checkModule: popts.checkModule ?? true };
  // the verdicts are always the whole text's: what is explained below may be part of it
  const target = popts.nginx ?? DEFAULT_NGINX_TARGET;
  const warnings: ConfigWarning[] = [];
  const verdict = strictVerdict(input, withModule, warnings);
  const stock = strictVerdict(input, { ...popts, checkModule: false });
  // (bytes are parsed as bytes, as nginx reads them; the prose and `;` analysis reads their text)
  const decoded = typeof input === 'string' ? input : new TextDecoder('utf-8', { ignoreBOM: true }).decode(input);
  let text = decoded;
  let document: Explanation['document'];
  let terminated: TerminatedLine[] = [];
  if (!verdict.ok) {
    // A guide or a wiki page: explain the configuration in it rather than its prose.
    const config = configLines(decoded);
    if (config !== undefined) {
      text = config.text;
      document = { proseLines: config.proseLines, configLines: strictVerdict(text, withModule) };
    }
    // `server a:25` then `server b:25;`: explain both servers, and say that the `;` is missing
    ({ text, lines: terminated } = terminateDirectives(text));
  }
  const r = parseConfig(text === decoded ? input : text, { ...popts, lenient: true });
  const stockOfText = text === decoded ? stock : strictVerdict(text, { ...popts, checkModule: false });
  // a conf.d fragment checked as a main file: explain it as the fragment its text says it is
  const asFragment = popts.fragment === undefined ? fragmentReading(text === decoded ? input : text, popts, r) : undefined;
  const read = asFragment?.result ?? r;
  let ups = read.upstreams;
  if (upstream !== undefined) ups = ups.filter((u) => u.name === upstream);
  const findings: Finding[] = [];
  if (terminated.length) findings.push(missingSemicolons(terminated, file, verdict.error!));
  const s = structureFinding(r, popts.fragment);
  if (s) findings.push(s);
  for (const u of ups) findings.push(...checkFindings(u), ...stickyFindings(u));
  findings.push(...weightFindings(ups, decoded, file));
  const judged = [verdict.error, stock.error, stockOfText.error, ...r.errors.map(errInfo)].filter((e): e is ErrorInfo => e !== undefined);
  findings.push(...plusFindings(judged, target));
  return {
    file,
    nginx: target,
    ...(popts.fragment === undefined ? {} : { fragment: popts.fragment }),
    warnings,
    verdict,
    stock,
    errors: r.errors.map(errInfo),
    upstreams: ups.map((u) => explainUpstream(u, read.uses)),
    ...(asFragment === undefined ? {} : { explainedAs: asFragment.context }),
    findings,
    ...(document === undefined ? {} : { document }),
  };
}

/** Styling hooks for `renderExplanation` (the CLI passes ANSI colours on a TTY). */
export interface RenderStyle {
  bold(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  green(s: string): string;
  dim(s: string): string;
}

const PLAIN: RenderStyle = { bold: (s) => s, red: (s) => s, yellow: (s) => s, green: (s) => s, dim: (s) => s };

function table(rows: string[][]): string[] {
  // (a loop, not Math.max(...): a spread of 10^5 arguments overflows the stack)
  const widths = rows[0]!.map((_, c) => rows.reduce((w, r) => (r[c]!.length > w ? r[c]!.length : w), 0));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ').trimEnd());
}

/**
 * Renders an explanation as text (the CLI's `explain` output).
 *
 * @example
 * ```ts
 * console.log(renderExplanation(explain(text, { filename: 'smtp.conf' })));
 * ```
 */
export function renderExplanation(explanation: Explanation, style: RenderStyle = PLAIN): string {
  // every string can quote the configuration: its control characters are shown, never sent
  const ex = escapeStrings(explanation, new Set(['fix']));
  const out: string[] = [];
  const judge = `nginx ${ex.nginx}`;
  const as = ex.fragment === undefined ? '' : `, read as the inside of ${ex.fragment} {}`;
  if (ex.verdict.ok) out.push(`${style.green(`${judge} -t: ok`)} (${ex.file}${as}${ex.stock.ok ? '' : ', with the check module'})`);
  else out.push(`${style.red(`${judge} -t: error:`)} ${ex.verdict.error!.message}${as ? ` (${as.slice(2)})` : ''}`);
  if (!ex.stock.ok && ex.verdict.ok) out.push(`${style.yellow(`stock ${judge}:`)} ${ex.stock.error!.message}`);
  // nginx -t's [warn] lines (before its [emerg] when it fails), our extensions, skipped includes
  for (const w of ex.warnings) out.push(`  ${style.yellow(w.kind === 'extension' ? '[extension]' : '[warn]')} ${w.reason} in ${w.file}:${w.line}`);
  const shown = new Set([ex.verdict.error?.message]);
  if (ex.document !== undefined) {
    const lines = ex.document.configLines;
    out.push(`${style.yellow(`${ex.file} mixes prose and configuration:`)} explaining its configuration lines only (${ex.document.proseLines} prose lines ignored; line numbers are the document's)`);
    out.push(`  those lines alone: ${lines.ok ? `${judge} -t: ok` : `${judge} -t: error: ${lines.error!.message}`}`);
    shown.add(lines.error?.message);
  }
  if (ex.explainedAs !== undefined) {
    out.push(`${style.yellow(`${ex.file} reads as a conf.d fragment of ${ex.explainedAs} {}:`)} its upstreams are explained as nginx reads them when it includes the file there (--context ${ex.explainedAs}: that verdict is ok)`);
  }
  // (read as the fragment it is, the text has no error: the main reading's recovery errors are its own)
  const more = ex.explainedAs !== undefined ? [] : ex.errors.filter((e) => !shown.has(e.message));
  if (more.length) {
    out.push(style.dim(`further problems found while recovering (nginx stops at the first):`));
    for (const e of more) out.push(style.dim(`  ${e.message}`));
  }
  for (const u of ex.upstreams) {
    out.push('');
    out.push(style.bold(`upstream ${u.name} (${u.context}${u.misplaced ? ', misplaced: recovered for explanation' : ''}) ${u.file}:${u.line}`));
    out.push(`  method: ${u.method}`);
    const rows = [['', 'server', 'role', 'weight', 'share', 'max_fails', 'fail_timeout', 'max_conns']];
    for (const s of u.servers) {
      rows.push([
        s.label,
        s.address,
        s.role,
        String(s.weight),
        s.role === 'primary' ? `${s.share}%` : s.role === 'backup' ? `0% (${s.backupShare}% of backup traffic)` : '0%',
        String(s.maxFails),
        describeMs(s.failTimeoutMs),
        s.maxConns === 0 ? 'unlimited' : String(s.maxConns),
      ]);
    }
    for (const line of table(rows)) out.push(`  ${line}`);
    if (u.cycle) out.push(`  pick cycle of the primaries: ${u.cycle}`);
    if (u.servers.some((s) => s.role === 'backup')) out.push('  backups take traffic only when no primary can be selected (down, failed, or at max_conns); traffic returns to a primary as soon as it is eligible again');
    out.push('  failures:');
    for (const s of u.servers) out.push(`    ${s.label} ${s.address}: ${s.policy}`);
    out.push(`  active check: ${u.check ?? 'none (passive failure detection only)'}`);
    if (u.sticky !== null || u.servers.some((s) => s.route !== undefined || s.role === 'draining')) {
      out.push(`  sessions: ${u.sticky ?? 'none (no sticky directive): route= and drain only matter to sticky; a draining server takes no requests'}`);
      for (const s of u.servers) out.push(`    ${s.label} ${s.address}: session id ${s.sid}${s.route === undefined ? ' (MD5 of the address)' : ' (route=)'}${s.role === 'draining' ? ', draining' : ''}`);
    }
    for (const x of u.uses) {
      out.push(`  used by ${x.directive} (${x.file}:${x.line}, ${x.where}): next upstream ${x.nextUpstream}`);
      out.push(`    moves on to the next server after: ${x.retries.length ? x.retries.join('; ') : 'nothing'}`);
      out.push(`    counts against max_fails: ${x.counts.join('; ')}`);
      for (const n of x.notes) out.push(`    ${n}`);
    }
    if (u.warnings.length) {
      out.push('  warnings:');
      for (const w of u.warnings) out.push(`    ${style.yellow('!')} ${w}`);
    }
  }
  if (ex.upstreams.length === 0) out.push('', 'no upstream blocks found');
  if (ex.findings.length) {
    out.push('', style.bold('findings:'));
    for (const f of ex.findings) {
      out.push(`  ${style.yellow('*')} ${f.title}`);
      out.push(`    ${f.detail}`);
      if (f.fix) {
        out.push('    corrected structure:');
        for (const l of f.fix.trimEnd().split('\n')) out.push(`      ${l}`);
      }
    }
  }
  return out.join('\n') + '\n';
}
