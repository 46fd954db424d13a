/**
 * Re-resolution of `server NAME resolve` lines: the timers of nginx 1.30.4's zone module
 * (`ngx_http_upstream_zone_init_worker`, `ngx_http_upstream_zone_resolve_timer`,
 * `ngx_http_upstream_zone_resolve_handler` in src/http/modules/ngx_http_upstream_zone_module.c;
 * the stream twin is the same) driving the lookups of lookup.ts and the peer changes of peers.ts,
 * applied with `balancer.setServers` so that surviving peers keep their state.
 *
 * Timeline per line (every time in whole seconds, as nginx's `ngx_time()`):
 * - `start()`: the first resolution 1 ms later (nginx: `valid` is 0 before any answer);
 * - an answer: the peers change; the next resolution `(T + 1)` s later, T = `valid=` of `resolver`
 *   or else the answer's smallest TTL, and 1 s when T is 0 (`valid - now + 1`, `valid > now`);
 * - NXDOMAIN (or NODATA): the name's peers are all removed, the next try `(valid= or 10) + 1` s later;
 * - any other failure (SERVFAIL, REFUSED, FORMERR, NOTIMP, no answer within `resolver_timeout`):
 *   the peers stay as they are, the next try `max(resolver_timeout, 1000)` ms later.
 * One resolution per line at a time; `close()` clears every timer and drops answers still in flight.
 * Lifecycle (src/lifecycle.ts): `start({ signal })` closes on abort; `await using` closes.
 * Events: `resolve` when a line's peers changed, `resolveError` for a failed resolution.
 */

import type { Balancer } from '../balancer';
import { UpstreamError, show } from '../errors';
import { emitSafely, isObserved } from '../events';
import { asyncDispose, closeOnAbort, signalOf, type StartOptions } from '../lifecycle';
import type { ServerOptions } from '../options';
import { type DnsClient, DnsError, NodeDnsClient } from './dns';
import { lookup, type Resolution } from './lookup';
import { applyAnswer, type NameLine, withTemplate } from './peers';

/** What a resolver of one upstream is configured with (`UpstreamConfig.resolve`, converted). */
export interface NameResolverOptions {
  /** The `resolve` lines, in configuration order. */
  lines: NameLine[];
  /** `resolver` name servers (`ADDR[:PORT]`, address literals) for the default client. */
  servers: readonly string[];
  /** `valid=` of `resolver`, in ms (whole seconds count); undefined = the TTL. */
  validMs?: number;
  ipv4?: boolean;
  ipv6?: boolean;
  /** `resolver_timeout` in ms; default 30000. */
  timeoutMs?: number;
  /**
   * Whether the upstream has a backup tier for a service's lower priorities (nginx: round robin and
   * least_conn always, other methods only with backup lines). Default: the method supports backup.
   */
  backupTier?: boolean;
}

/** Injectable environment: the DNS client, randomness (SRV rotation) and timers. */
export interface NameResolverEnv {
  client?: DnsClient;
  rng?: () => number;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
}

/** The state of one line. */
interface LineState {
  readonly line: NameLine;
  timer: unknown;
  /** A resolution is in flight (its answer is dropped if `generation` moved on). */
  busy: boolean;
}

const TEMPLATE_KEYS = ['id', 'address', 'weight', 'maxFails', 'failTimeout', 'maxConns', 'backup', 'down', 'drain'] as const;

/** The balancer's servers as options, in order. */
function currentServers(balancer: Balancer): ServerOptions[] {
  return balancer.snapshotServers().map((s) => {
    const o: Record<string, unknown> = {};
    for (const k of TEMPLATE_KEYS) o[k] = s[k];
    return o as unknown as ServerOptions;
  });
}

/**
 * Keeps a balancer's `resolve` servers in step with DNS. Attach it with `balancer.attach(resolver)`
 * (the config loader does): `balancer.start()` starts it and `balancer.close()` stops it.
 */
export class NameResolver {
  readonly #balancer: Balancer;
  readonly #lines: LineState[];
  readonly #templates: ReadonlySet<string>;
  readonly #client: DnsClient;
  readonly #rng: () => number;
  readonly #setTimeout: (fn: () => void, ms: number) => unknown;
  readonly #clearTimeout: (handle: unknown) => void;
  readonly #validMs: number | undefined;
  readonly #timeoutMs: number;
  readonly #ipv4: boolean;
  readonly #ipv6: boolean;
  readonly #backupTier: boolean;
  #running = false;
  #closed = false;
  /** Forgets the signal of `start({ signal })`. */
  #forgetSignal: (() => void) | undefined;
  /** Peer id → the line that owns it. */
  readonly #owner = new Map<string, string>();

  constructor(balancer: Balancer, options: NameResolverOptions, env: NameResolverEnv = {}) {
    if (!Array.isArray(options.lines) || options.lines.length === 0) {
      throw new UpstreamError('ERR_UPSTREAM_INVALID_OPTION', `A NameResolver needs at least one \`resolve\` line, got ${show(options.lines)}`, options.lines);
    }
    this.#balancer = balancer;
    this.#lines = options.lines.map((line) => ({ line, timer: undefined, busy: false }));
    this.#templates = new Set(options.lines.map((l) => l.id));
    this.#validMs = options.validMs;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#ipv4 = options.ipv4 ?? true;
    this.#ipv6 = options.ipv6 ?? true;
    this.#backupTier = options.backupTier ?? true;
    if (env.client === undefined && options.servers.length === 0) {
      throw new UpstreamError('ERR_UPSTREAM_INVALID_OPTION', 'no resolver defined to resolve names at run time: `servers` is empty and no `client` was given', options.servers);
    }
    this.#client = env.client ?? new NodeDnsClient({ servers: options.servers, timeout: Math.min(5000, this.#timeoutMs) });
    this.#rng = env.rng ?? Math.random;
    const st = env.setTimeout;
    const ct = env.clearTimeout;
    this.#setTimeout = st
      ? (fn, ms) => st(fn, ms)
      : (fn, ms) => {
          const t = setTimeout(fn, ms);
          t.unref();
          return t;
        };
    this.#clearTimeout = ct ? (h) => ct(h) : (h) => clearTimeout(h as ReturnType<typeof setTimeout>);
  }

  /**
   * Schedules every line's first resolution (1 ms later, as nginx's worker start). Idempotent.
   * Aborting `signal` closes the resolver (an already aborted one closes it at once).
   */
  start(options?: StartOptions): void {
    const signal = signalOf(options, 'start');
    if (this.#closed) throw new UpstreamError('ERR_UPSTREAM_CLOSED', 'This NameResolver is closed');
    if (signal !== undefined) {
      const forget = closeOnAbort(signal, () => this.close());
      if (signal.aborted) return;
      this.#forgetSignal?.();
      this.#forgetSignal = forget;
    }
    if (this.#running) return;
    this.#running = true;
    for (const s of this.#lines) this.#schedule(s, 1);
  }

  /**
   * Clears every timer; answers still in flight are dropped. Idempotent. Nothing is waited for, so
   * it takes no signal.
   */
  async close(): Promise<void> {
    this.#forgetSignal?.();
    this.#forgetSignal = undefined;
    this.#closed = true;
    this.#running = false;
    for (const s of this.#lines) {
      if (s.timer !== undefined) this.#clearTimeout(s.timer);
      s.timer = undefined;
    }
    this.#client.cancel?.();
  }

  /** `close()`, for `await using`. */
  [asyncDispose](): Promise<void> {
    return this.close();
  }

  #schedule(s: LineState, ms: number): void {
    if (!this.#running) return;
    s.timer = this.#setTimeout(() => {
      s.timer = undefined;
      void this.#resolve(s);
    }, ms);
  }

  async #resolve(s: LineState): Promise<void> {
    if (!this.#running || s.busy) return;
    s.busy = true;
    const line = s.line;
    let timer: unknown;
    const timedOut = new Promise<Resolution>((done) => {
      timer = this.#setTimeout(() => done({ ok: false, failure: 'TIMEOUT' }), this.#timeoutMs);
    });
    const query = { host: line.host, ipv4: this.#ipv4, ipv6: this.#ipv6, ...(line.service === undefined ? {} : { service: line.service }) };
    const answer = lookup(this.#client, query, this.#rng).catch((): Resolution => ({ ok: false, failure: 'ERROR' }));
    const result = await Promise.race([answer, timedOut]);
    this.#clearTimeout(timer);
    s.busy = false;
    if (!this.#running) return;
    this.#handle(s, result);
  }

  /** nginx's resolve handler: apply (or keep), then the next timer. */
  #handle(s: LineState, r: Resolution): void {
    const line = s.line;
    const validS = this.#validMs === undefined ? undefined : Math.floor(this.#validMs / 1000);
    if (!r.ok) {
      const error = new DnsError(r.failure, line.host, r.failure === 'NXDOMAIN' ? `${describe(line)} could not be resolved (Host not found): its servers are removed` : `${describe(line)} could not be resolved (${r.failure}): its servers are kept`);
      if (r.failure !== 'NXDOMAIN') {
        if (isObserved(this.#balancer, 'resolveError')) emitSafely(this.#balancer, 'resolveError', line.id, error, true);
        return this.#schedule(s, Math.max(this.#timeoutMs, 1000));
      }
      this.#apply(line, []);
      if (isObserved(this.#balancer, 'resolveError')) emitSafely(this.#balancer, 'resolveError', line.id, error, false);
      return this.#schedule(s, 1000 * ((validS ?? 10) + 1));
    }
    for (const f of r.targetFailures) {
      if (isObserved(this.#balancer, 'resolveError')) {
        emitSafely(this.#balancer, 'resolveError', line.id, new DnsError(f.failure, f.target, `${f.target} could not be resolved (${f.failure}) while resolving ${describe(line)}`), true);
      }
    }
    this.#apply(line, r.addresses);
    const t = validS ?? r.ttl;
    this.#schedule(s, t > 0 ? 1000 * (t + 1) : 1000);
  }

  #apply(line: NameLine, addresses: Parameters<typeof applyAnswer>[2]): void {
    const owned = (id: string): boolean => this.#owner.get(id) === line.id;
    const change = applyAnswer(currentServers(this.#balancer), line, addresses, owned, this.#templates, this.#lines[0]!.line, this.#backupTier);
    if (change.added.length === 0 && change.removed.length === 0 && sameList(change.servers, currentServers(this.#balancer))) return;
    try {
      this.#balancer.setServers(change.servers);
    } catch (error) {
      if (isObserved(this.#balancer, 'fault') && error instanceof UpstreamError) emitSafely(this.#balancer, 'fault', error);
      return;
    }
    for (const id of change.removed) this.#owner.delete(id);
    for (const id of change.added) this.#owner.set(id, line.id);
    if (isObserved(this.#balancer, 'resolve')) emitSafely(this.#balancer, 'resolve', line.id, change.added, change.removed);
  }

  /** The template list the balancer starts with when no primary is static (for `fromNginx`). */
  static initialServers(servers: ServerOptions[], lines: NameLine[]): ServerOptions[] {
    return withTemplate(servers, new Set(lines.map((l) => l.id)), lines[0]!);
  }
}

function sameList(a: readonly ServerOptions[], b: readonly ServerOptions[]): boolean {
  return a.length === b.length && a.every((s, i) => s.id === b[i]!.id);
}

/** `NAME` or `service S of NAME`, as nginx's log lines say. */
function describe(line: NameLine): string {
  return line.service === undefined ? line.host : `service ${line.service} of ${line.host}`;
}
