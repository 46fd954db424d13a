/**
 * Prints `BalancerOptions` as an nginx `upstream` block that `parseUpstreams` reads back to the
 * same options (the round trip is a property test).
 *
 * Only defaults-differing parameters are written (`weight=1`, `max_fails=1`, `fail_timeout=10s`,
 * `max_conns=0` are nginx's defaults). Servers come before `hash`/`ip_hash`/`random` when a backup
 * exists (the ordering nginx requires for that combination, nginx-semantics §3.4), after the
 * balancing directive otherwise. `check` lines use the check module's syntax (milliseconds, no
 * units). Options nginx cannot express (sub-second `failTimeout`, `drain`, a custom check
 * function, HAProxy-style check extras) throw `InvalidOptionError`. Cost: O(servers).
 */

import { InvalidOptionError, show } from '../errors';
import type { BalancerOptions, CheckOptions, ServerOptions } from '../options';
import { formatSeconds } from './time';
import { quoteWord } from './tokenizer';

/** Options of `formatUpstream`. */
export interface FormatOptions {
  /** The hash key expression written after `hash`; default `$remote_addr`. */
  hashKey?: string;
  /** Indentation unit; default four spaces. */
  indent?: string;
  /** Wrap the block in `stream { }` or `http { }`. */
  wrap?: 'stream' | 'http';
}

function cannot(option: string, why: string, value: unknown): never {
  throw new InvalidOptionError(option, `Cannot write \`${option}\` as nginx configuration: ${why}, got \`${show(value)}\``, value);
}

function serverLine(s: ServerOptions, i: number): string {
  const p = `servers[${i}]`;
  const words = ['server', quoteWord(s.address)];
  if (s.weight !== undefined && s.weight !== 1) words.push(`weight=${s.weight}`);
  if (s.maxFails !== undefined && s.maxFails !== 1) words.push(`max_fails=${s.maxFails}`);
  if (s.failTimeout !== undefined && s.failTimeout !== 10_000) {
    if (!(s.failTimeout >= 0) || s.failTimeout % 1000 !== 0 || !Number.isSafeInteger(s.failTimeout / 1000)) {
      cannot(`${p}.failTimeout`, 'nginx takes whole seconds (fail_timeout=3s)', s.failTimeout);
    }
    words.push(`fail_timeout=${formatSeconds(s.failTimeout / 1000)}`);
  }
  if (s.maxConns !== undefined && s.maxConns !== 0) words.push(`max_conns=${s.maxConns}`);
  if (s.backup) words.push('backup');
  if (s.down) words.push('down');
  if (s.drain) cannot(`${p}.drain`, 'nginx 1.22 has no drain parameter (NGINX Plus / 1.29.6+)', s.drain);
  return words.join(' ') + ';';
}

function checkLines(c: CheckOptions): string[] {
  const t = c.type ?? 'tcp';
  if (typeof t === 'function') cannot('check.type', 'a custom probe function has no nginx syntax', 'function');
  for (const k of ['initState', 'downInterval', 'fastInterval', 'jitter', 'smtpHelo', 'tlsServerName'] as const) {
    if (c[k] !== undefined) cannot(`check.${k}`, 'the check module has no such parameter', c[k]);
  }
  const words = [
    'check',
    `interval=${c.interval ?? 30000}`,
    `rise=${c.rise ?? 2}`,
    `fall=${c.fall ?? 5}`,
    `timeout=${c.timeout ?? 1000}`,
    `type=${t === 'tls' ? 'ssl_hello' : t}`,
  ];
  if (c.port !== undefined && c.port !== 0) words.push(`port=${c.port}`);
  if (c.defaultDown === false) words.push('default_down=false');
  const out = [words.join(' ') + ';'];
  if (c.httpSend !== undefined) out.push(`check_http_send ${quoteWord(c.httpSend)};`);
  if (c.httpExpectAlive !== undefined) out.push(`check_http_expect_alive ${c.httpExpectAlive.map((x) => `http_${x}`).join(' ')};`);
  return out;
}

/**
 * nginx text for one upstream.
 *
 * @example
 * ```ts
 * formatUpstream('smtp', {
 *   servers: [
 *     { address: '127.0.0.1:10025', maxFails: 3, failTimeout: 3000 },
 *     { address: '127.0.0.1:10026', backup: true },
 *   ],
 * }, { wrap: 'stream' });
 * // stream {
 * //     upstream smtp {
 * //         server 127.0.0.1:10025 max_fails=3 fail_timeout=3s;
 * //         server 127.0.0.1:10026 backup;
 * //     }
 * // }
 * ```
 */
export function formatUpstream(name: string, options: BalancerOptions, fmt: FormatOptions = {}): string {
  if (typeof name !== 'string' || name.length === 0) cannot('name', 'an upstream needs a name', name);
  if (!Array.isArray(options?.servers)) cannot('servers', 'expected an array of servers', options?.servers);
  const ind = fmt.indent ?? '    ';
  const method = options.method ?? 'round-robin';
  let directive: string | undefined;
  switch (method) {
    case 'round-robin':
      break;
    case 'least-conn':
      directive = 'least_conn;';
      break;
    case 'ip-hash':
      if (fmt.wrap === 'stream') cannot('method', 'ip_hash exists in http only', method);
      directive = 'ip_hash;';
      break;
    case 'hash':
      directive = `hash ${quoteWord(fmt.hashKey ?? '$remote_addr')}${options.hash?.consistent ? ' consistent' : ''};`;
      break;
    case 'random':
      directive = options.randomTwo ? (options.randomLeastConn ? 'random two least_conn;' : 'random two;') : 'random;';
      break;
    default:
      cannot('method', 'unknown balancing method', method);
  }
  const servers = options.servers.map((s, i) => serverLine(s, i));
  const hasBackup = options.servers.some((s) => s.backup);
  const lines: string[] = [];
  const methodLast = directive !== undefined && hasBackup && (method === 'hash' || method === 'ip-hash' || method === 'random');
  if (directive && !methodLast) lines.push(directive);
  lines.push(...servers);
  if (directive && methodLast) lines.push(directive);
  if (options.check) lines.push(...checkLines(options.check));
  const base = fmt.wrap ? ind : '';
  let out = `${base}upstream ${quoteWord(name)} {\n${lines.map((l) => `${base}${ind}${l}\n`).join('')}${base}}\n`;
  if (fmt.wrap) out = `${fmt.wrap} {\n${out}}\n`;
  return out;
}
