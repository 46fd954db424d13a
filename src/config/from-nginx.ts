/**
 * `Balancer.fromNginx`: a Balancer built from nginx configuration text. It lives on the config
 * side so that the core (src/balancer.ts) loads no parser and no `node:fs`; the package root
 * exports this subclass as `Balancer`, which adds only the static constructor.
 */

import { Balancer as CoreBalancer } from '../balancer';
import { monotonicClock, wholeSeconds } from '../clock';
import type { BalancerOptions } from '../options';
import { type ParseOptions, balancerOptionsFromNginx } from './nginx';

/** Options of `Balancer.fromNginx`: where the text came from, and runtime options a config cannot say. */
export interface FromNginxOptions extends Omit<ParseOptions, 'lenient'> {
  /** Pick the upstream from this context when the name exists in both. */
  context?: 'http' | 'stream';
  /** Default: whole seconds of `performance.now()`, like nginx's `ngx_time()`. */
  clock?: BalancerOptions['clock'];
  rng?: BalancerOptions['rng'];
  timers?: BalancerOptions['timers'];
  /** `proxy_next_upstream_tries` (it lives outside the upstream block). */
  tries?: number;
}

/**
 * The options of the `upstream` block named `name` (or the only one) of nginx configuration text,
 * with the runtime options added. Throws `ConfigError` with nginx's message, file, line and column.
 */
export function fromNginxOptions(text: string, name?: string, options: FromNginxOptions = {}): BalancerOptions {
  const { clock, rng, timers, tries, context, ...parse } = options;
  const base = balancerOptionsFromNginx(text, name, { ...parse, ...(context === undefined ? {} : { context }) });
  return {
    ...base,
    clock: clock ?? wholeSeconds(monotonicClock),
    ...(rng === undefined ? {} : { rng }),
    ...(timers === undefined ? {} : { timers }),
    ...(tries === undefined ? {} : { tries }),
  };
}

export class Balancer extends CoreBalancer {
  /**
   * Builds a balancer from nginx configuration text: the `upstream` block named `name`, or the only
   * one. Throws `ConfigError` with nginx's message, file, line and column for invalid text.
   * Its default clock counts whole seconds, as nginx's does, so `fail_timeout=3s` excludes a server
   * for 3 to 4 s exactly as nginx would; pass `clock` to choose another.
   *
   * @example
   * const b = Balancer.fromNginx(`stream { upstream smtp {
   *   server 10.0.0.1:10025 max_fails=3 fail_timeout=3s;
   *   server 10.0.0.2:10025 backup;
   * } }`, 'smtp');
   */
  static fromNginx(text: string, name?: string, options: FromNginxOptions = {}): Balancer {
    return new Balancer(fromNginxOptions(text, name, options));
  }
}
