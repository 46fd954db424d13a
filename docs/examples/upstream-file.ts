/**
 * Loading an example nginx config for the demo, the SMTP tests and the load benchmark: pick one
 * `upstream` block, give each server a short name, substitute the real addresses of local gateways
 * for the addresses written in the file (server by server, in order), and optionally run faster
 * than real time.
 *
 * Speed: with `speed: 10`, active-check `interval` and `timeout` are divided by 10 and the balancer's
 * clock runs 10 times faster than real time, in whole seconds as nginx's `ngx_time()` does (one
 * nginx second = 100 ms of real time), so `fail_timeout=3s` lasts 300-400 ms of real time with
 * nginx's exact whole-second rule (docs/nginx-semantics.md §2.5). With `speed: 1` everything runs as
 * written. Parsing and validation are the library's own (`parseUpstreams`): a bad file fails with
 * nginx's message, file and line.
 */

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import {
  ConfigError, parseUpstreams, type BalancerOptions, type CheckOptions, type Clock, type ConfigWarning, type UpstreamConfig,
} from '../../src/index';

/** One upstream block from a file, ready to be pointed at local gateways. */
export interface ExampleUpstream {
  file: string;
  name: string;
  context: 'stream' | 'http';
  /** The servers as written: `original` address and flags. */
  servers: { original: string; weight: number; backup: boolean; down: boolean }[];
  /** The parsed options (addresses and ids as in the file). */
  options: BalancerOptions;
  /** The extensions and notes the parser raised for this block (e.g. `check` in a stream upstream). */
  warnings: ConfigWarning[];
}

/**
 * Reads `file` and returns its upstream `name` (or its only one).
 *
 * @example
 * const u = readExampleUpstream('docs/examples/failover.conf');
 * u.servers.map((s) => s.original); // ['127.0.0.1:10025', '127.0.0.1:10026']
 */
export function readExampleUpstream(file: string, name?: string): ExampleUpstream {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
  }
  const all = parseUpstreams(text, { filename: file });
  const found = name === undefined ? all : all.filter((u) => u.name === name);
  if (found.length !== 1) {
    const names = all.map((u) => `"${u.name}"`).join(', ') || 'none';
    const reason = name === undefined
      ? `${all.length} upstream blocks in ${basename(file)} (${names}): choose one with --upstream NAME`
      : `upstream "${name}" not found in ${basename(file)} (found: ${names})`;
    throw new ConfigError(reason, { file, line: 1, column: 1 }, all.length === 0 ? 'NO_UPSTREAM' : 'UPSTREAM_NOT_FOUND', name);
  }
  const u: UpstreamConfig = found[0]!;
  return {
    file,
    name: u.name,
    context: u.context,
    servers: u.options.servers.map((s) => ({
      original: s.address,
      weight: s.weight ?? 1,
      backup: s.backup === true,
      down: s.down === true,
    })),
    options: u.options,
    warnings: u.warnings,
  };
}

/** Check options with `interval` and `timeout` (and the HAProxy-style intervals) divided by `speed`. */
export function scaleCheck(check: CheckOptions, speed: number): CheckOptions {
  const scale = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : Math.max(1, Math.round(ms / speed)));
  const out: CheckOptions = { ...check };
  for (const k of ['interval', 'timeout', 'downInterval', 'fastInterval'] as const) {
    const v = scale(check[k] ?? (k === 'interval' ? 30_000 : k === 'timeout' ? 1000 : undefined));
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/**
 * nginx's clock running `speed` times faster than real time: whole (fast) seconds, in ms, counted
 * from `start` (default: now), plus `origin`.
 *
 * @example
 * const clock = fastClock(10); // one nginx second per 100 ms of real time
 */
export function fastClock(speed: number, origin = 1_000_000_000, start = performance.now()): Clock {
  return () => origin + Math.floor(((performance.now() - start) * speed) / 1000) * 1000;
}

/**
 * `BalancerOptions` for `u` with each server's id and address given by `target(original)` (the
 * address written in the file), checks and time scaled by `speed`; `check` overrides single check
 * options of a block that has a `check` line (tests shorten them further).
 *
 * @example
 * const options = pointAt(u, (orig) => ({ id: names.get(orig)!, address: gateways.get(orig)!.address }), { speed: 10 });
 * const balancer = new Balancer(options);
 */
export function pointAt(
  u: ExampleUpstream,
  target: (original: string) => { id: string; address: string },
  opts: { speed?: number; clock?: Clock; rng?: () => number; tries?: number; check?: CheckOptions } = {},
): BalancerOptions {
  const speed = opts.speed ?? 1;
  const options: BalancerOptions = {
    ...u.options,
    servers: u.options.servers.map((s) => ({ ...s, ...target(s.address) })),
    clock: opts.clock ?? (speed === 1 ? () => Math.floor(Date.now() / 1000) * 1000 : fastClock(speed)),
  };
  if (u.options.check !== undefined) options.check = { ...scaleCheck(u.options.check, speed), ...opts.check };
  if (opts.rng !== undefined) options.rng = opts.rng;
  if (opts.tries !== undefined) options.tries = opts.tries;
  return options;
}
