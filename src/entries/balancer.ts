/**
 * The package root's `Balancer`: the core Balancer (src/balancer.ts) plus nginx configuration text
 * as a constructor. The parser is loaded on the first `fromNginx` / `fromNginxAsync` call
 * (src/entries/lazy.ts), not when the root is imported. `upstream-balancer/config` exports this
 * same class. nginx source: none here (the parser follows ngx_conf_file.c, see src/config/).
 */

import { Balancer as CoreBalancer } from '../balancer';
import type { FromNginxOptions } from '../config/from-nginx';
import { configModule } from './lazy';
import { type ZoneControls, type ZoneLocalOptions, openZone } from '../zone/balancer';

export class Balancer extends CoreBalancer {
  /**
   * Builds a balancer from nginx configuration text: the `upstream` block named `name`, or the only
   * one. Throws `ConfigError` with nginx's message, file, line and column for invalid text. Its
   * default clock counts whole seconds, as nginx's does, so `fail_timeout=3s` excludes a server for
   * 3 to 4 s exactly as nginx would; pass `clock` to choose another. An upstream with
   * `server NAME resolve` lines (nginx 1.30) gets a `NameResolver` attached, started by `start()`
   * and stopped by `close()` (docs/dns.md). The first call loads the parser.
   *
   * @example
   * const b = Balancer.fromNginx(`stream { upstream smtp {
   *   server 10.0.0.1:10025 max_fails=3 fail_timeout=3s;
   *   server 10.0.0.2:10025 backup;
   * } }`, 'smtp');
   */
  static fromNginx(text: string, name?: string, options: FromNginxOptions = {}): Balancer {
    return configModule().NginxBalancer.fromNginx.call(this, text, name, options);
  }

  /**
   * `fromNginx` with nginx's load-time resolution: each `server` line whose address is a host name
   * becomes one server per address (ids `LINE@IP:PORT`), and a name that does not resolve is
   * nginx's `host not found in upstream "NAME"` (`ConfigError` at the line). See docs/dns.md.
   *
   * @example
   * const b = await Balancer.fromNginxAsync('http { upstream u { server localhost:8080; } }');
   */
  /**
   * Opens an upstream zone (`createZone`, which may come from another thread): a balancer whose
   * peer state is the zone's shared memory, so that every thread's balancer follows one SWRR
   * sequence, one failure window, one `conns` per server, with every get and free under the
   * zone's lock (nginx's `zone`). `local` gives this thread's clock, rng and timers. See
   * docs/embedding.md.
   *
   * @example
   * // main thread
   * const zone = createZone({ name: 'smtp', servers });
   * const worker = new Worker(new URL('proxy-worker.js', import.meta.url), { workerData: zone });
   * // proxy-worker.js
   * const balancer = Balancer.fromZone(workerData);
   */
  static fromZone(zone: unknown, local?: ZoneLocalOptions): Balancer & ZoneControls {
    return openZone(this, zone, local);
  }

  static fromNginxAsync(text: string, name?: string, options: FromNginxOptions = {}): Promise<Balancer> {
    return configModule().NginxBalancer.fromNginxAsync.call(this, text, name, options);
  }
}
