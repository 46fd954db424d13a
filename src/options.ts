/**
 * Option types, defaults and validation.
 *
 * Defaults are nginx's (`weight=1 max_fails=1 fail_timeout=10s max_conns=0`) and, for active
 * checks, the check module's (`interval=30000 rise=2 fall=5 timeout=1000 type=tcp port=0
 * default_down=true`). Validation throws `InvalidOptionError` with the option path and the
 * offending value; it never coerces.
 */

import { InvalidOptionError, show } from './errors';
import { DEFAULT_NGINX_TARGET, NGINX_TARGETS, type NginxTarget, isNginxTarget } from './nginx-target';
import type { Clock } from './clock';
import { type Method, type MethodChoice, METHODS, METHOD_SPECS, methodSpec } from './methods';
import { DEFAULT_TUNING, type SelectorTuning } from './select/selector';
import { type ResolvedServer, invalidOption as fail, resolveServer } from './server-fields';
import { STEP_SIZE, type Steps, drain } from './slices';

export type { Method } from './methods';
export { METHODS } from './methods';
export { DEFAULT_SERVER, MAX_WEIGHT, resolveServer, type ResolvedServer } from './server-fields';

/** One `server` line. */
export interface ServerOptions {
  /** `host:port`, `[v6]:port` or `unix:/path`. Its text is what consistent hash hashes. */
  address: string;
  /** Stable identity; default = `address`. Must be unique in the balancer. */
  id?: string;
  /** Positive integer, default 1 (`weight=`). */
  weight?: number;
  /** Failures that take the server out; default 1; 0 = never excluded (`max_fails=`). */
  maxFails?: number;
  /** Exclusion window in ms; default 10000 (`fail_timeout=`). */
  failTimeout?: number;
  /** Connection limit; default 0 = unlimited (`max_conns=`). */
  maxConns?: number;
  /** Used only when no primary server can be selected (`backup`). */
  backup?: boolean;
  /** Administratively out of rotation (`down`). */
  down?: boolean;
  /**
   * Draining (`drain`, nginx 1.30 and NGINX Plus): no new requests; a request whose hint names this
   * server (`AttemptOptions.hint`, a sticky session) still reaches it. Not counted in the tries budget.
   */
  drain?: boolean;
  /**
   * The server's session id (`route=`, nginx 1.30 http): 1 to 32 bytes; without it the id is the hex
   * MD5 of the address as nginx prints it (`Server.sid`).
   */
  route?: string;
}

/** Result class accepted by the http probe (`check_http_expect_alive`). */
export type HttpStatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx';

/** Names of the built-in probes. `ssl_hello` is an alias of `tls` (the check module's name). */
export type BuiltinCheckType = 'tcp' | 'smtp' | 'http' | 'tls' | 'ssl_hello' | 'mysql';

/** A custom probe: resolve `true` for healthy. Must honour `signal` (aborted at `timeout`). */
export type CheckFunction = (server: CheckTarget, signal: AbortSignal) => Promise<boolean> | boolean;

/** What a probe is told about the server it checks. */
export interface CheckTarget {
  id: string;
  address: string;
  host: string;
  port: number;
}

/** Active health check options (the check module's `check` directive, plus HAProxy-style extras). */
export interface CheckOptions {
  /** ms between checks; default 30000. */
  interval?: number;
  /** Consecutive successes that bring a server up; default 2. */
  rise?: number;
  /** Consecutive failures that take a server down; default 5. */
  fall?: number;
  /** ms allowed for one check, counted from the start of the connect; default 1000. */
  timeout?: number;
  /** Probe; default `'tcp'`. */
  type?: BuiltinCheckType | CheckFunction;
  /** Port to probe instead of the server's own; 0 = the server's own (default). */
  port?: number;
  /** Servers start down until `rise` successes (module default `true`). */
  defaultDown?: boolean;
  /**
   * HAProxy-style initial state, overrides `defaultDown`: `'down'` (= defaultDown true),
   * `'up'` (= defaultDown false), `'up-on-first-success'`: starts down, but one success brings it up
   * (the first verdict decides, like HAProxy's `init-state fully-up` after one check).
   */
  initState?: 'down' | 'up' | 'up-on-first-success';
  /** ms between checks while a server is down (HAProxy `downinter`); default = interval. */
  downInterval?: number;
  /** ms between checks while a server is transitioning (HAProxy `fastinter`); default = interval. */
  fastInterval?: number;
  /** Random extra delay added to each interval, as a fraction of it (0..1); default 0. */
  jitter?: number;
  /**
   * ms: the checker wakes for due checks at most once per window and then starts every check due
   * by then, so checks due close together share a wake-up of the process (and the polls of their
   * sockets). A check starts at most this late; its phase stays (the next one is due an interval
   * after its due time, not after its start). 0: each check at its own due time. Default: the
   * shortest of `interval`, `downInterval`, `fastInterval` divided by 16, at most 64 ms. The checker
   * cuts it to the time in which about 64 checks fall due (health/check-queues.ts `startWindowFor`).
   */
  startWindow?: number;
  /** http probe: the raw request; default `GET / HTTP/1.0\r\n\r\n`. */
  httpSend?: string;
  /** http probe: status classes that pass; default `['2xx', '3xx']`. */
  httpExpectAlive?: HttpStatusClass[];
  /** smtp probe: the name sent in `EHLO`; default `localhost`. */
  smtpHelo?: string;
  /** tls probe: SNI server name; default none. */
  tlsServerName?: string;
}

export { DEFAULT_NGINX_TARGET, NGINX_TARGETS, type NginxTarget } from './nginx-target';

/** Options of `new Balancer()`. */
export interface BalancerOptions {
  /** Upstream name, for events and status. Default `'upstream'`. */
  name?: string;
  /** Which nginx series to follow where 1.22 and 1.30 differ; default `'1.30'`. */
  nginx?: NginxTarget;
  /** Balancing method; default `'round-robin'`. */
  method?: Method;
  /** With method `'hash'`: `{ consistent: true }` is nginx's `hash KEY consistent` (ketama). */
  hash?: { consistent?: boolean };
  /** With method `'random'`: `random two`. */
  randomTwo?: boolean;
  /** With method `'random'` and `randomTwo`: `random two least_conn` (the only open-source choice). */
  randomLeastConn?: boolean;
  /** The servers in configuration order. */
  servers: ServerOptions[];
  /** `proxy_next_upstream_tries`: 0 = no extra limit (default). */
  tries?: number;
  /** Active health checks; none by default. */
  check?: CheckOptions;
  /** Time source in ms; default `performance.now()`. */
  clock?: Clock;
  /** Random source in [0, 1); default `Math.random`. */
  rng?: () => number;
  /** Timer functions for the active-check scheduler (tests inject their own); default the globals. */
  timers?: CheckTimers;
  /**
   * Allow `backup` servers with `hash`, `ip-hash` and `random`. nginx rejects that combination
   * (`balancing method does not support parameter "backup"`) unless the `backup` line comes before
   * the balancing directive; the config loader sets this for such configs. The backup tier is then
   * used only when the method falls back to round robin.
   */
  allowBackupWithHash?: boolean;
  /**
   * Thresholds of the accelerators (round robin's lazy rounds, least_conn's index). They change how
   * fast a pick is, never which server it picks; tests use small values to run the large-tier code
   * on small tiers.
   */
  tuning?: Partial<SelectorTuning>;
}

/** The timer functions the active-check scheduler uses. */
export interface CheckTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const DEFAULT_CHECK = {
  interval: 30_000,
  rise: 2,
  fall: 5,
  timeout: 1000,
  type: 'tcp',
  port: 0,
  defaultDown: true,
} as const;

/** The default for an absent option. `null` is not absent: it is validated (and rejected). */
const or = <T, D>(value: T | undefined, fallback: D): T | D => (value === undefined ? fallback : value);

const isPositiveInteger = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
const isNonNegativeInteger = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Validates a server list: each server, unique ids, at least one primary. */
export function resolveServers(list: unknown, path = 'servers', name = 'upstream'): ResolvedServer[] {
  return drain(resolveServersSteps(list, path, name, Infinity));
}

/**
 * `resolveServers` in steps of `step` entries (slices.ts): the same checks in the same order, so
 * the same error for the same list, run a few entries per turn by `Balancer.setServersAsync`.
 */
export function* resolveServersSteps(list: unknown, path = 'servers', name = 'upstream', step = STEP_SIZE): Steps<ResolvedServer[]> {
  if (!Array.isArray(list)) fail(path, 'an array of servers', list);
  const out: ResolvedServer[] = [];
  const seen = new Set<string>();
  for (let from = 0; from < list.length; from += step) {
    resolveRange(list, Math.min(list.length, from + step), path, out, seen);
    if (out.length < list.length) yield;
  }
  requirePrimary(out, path, name);
  return out;
}

/** Resolves `list[out.length .. to)` onto `out`; `seen`: the ids so far. */
function resolveRange(list: unknown[], to: number, path: string, out: ResolvedServer[], seen: Set<string>): void {
  for (let i = out.length; i < to; i++) {
    const s = resolveServer(list[i], path, i);
    if (seen.has(s.id)) {
      throw new InvalidOptionError(`${path}[${i}].id`, `Duplicate server id ${show(s.id)} at \`${path}[${i}]\``, s.id, 'ERR_UPSTREAM_DUPLICATE_ID');
    }
    seen.add(s.id);
    out.push(s);
  }
}

/** nginx: `no servers in upstream "NAME"` when the primary tier is empty. */
export function requirePrimary(servers: readonly ResolvedServer[], path = 'servers', name = 'upstream'): void {
  if (!servers.some((s) => !s.backup)) {
    throw new InvalidOptionError(
      path,
      `no servers in upstream ${show(name)}: \`${path}\` needs at least one server that is not a backup`,
      servers.length,
      'ERR_UPSTREAM_NO_SERVERS',
    );
  }
}

const CHECK_KEYS = new Set([
  'interval', 'rise', 'fall', 'timeout', 'type', 'port', 'defaultDown', 'initState', 'downInterval',
  'fastInterval', 'jitter', 'startWindow', 'httpSend', 'httpExpectAlive', 'smtpHelo', 'tlsServerName',
]);
const CHECK_TYPES = new Set(['tcp', 'smtp', 'http', 'tls', 'ssl_hello', 'mysql']);
const STATUS_CLASSES = new Set(['1xx', '2xx', '3xx', '4xx', '5xx']);

/** Check options with every default applied. */
export interface ResolvedCheck {
  interval: number;
  rise: number;
  fall: number;
  timeout: number;
  type: BuiltinCheckType | CheckFunction;
  port: number;
  /** Initial verdict: servers start check-down. */
  defaultDown: boolean;
  /** Successes needed to leave the initial down state (1 with `initState: 'up-on-first-success'`). */
  initialRise: number;
  downInterval: number;
  fastInterval: number;
  jitter: number;
  /** ms between the checker's wake-ups for due checks, at least (`CheckOptions.startWindow`). */
  startWindow: number;
  httpSend: string;
  httpExpectAlive: HttpStatusClass[];
  smtpHelo: string;
  tlsServerName: string | undefined;
}

/**
 * Largest delay a timer honours: Node runs a `setTimeout` of more than 2^31 - 1 ms after 1 ms, so a
 * longer interval or timeout would check (or time out) at once.
 */
export const MAX_TIMER_MS = 0x7fffffff;

const isTimerDelay = (v: unknown): v is number => isPositiveInteger(v) && v <= MAX_TIMER_MS;
const TIMER_DELAY = `a positive integer of milliseconds up to ${MAX_TIMER_MS} (the largest timer delay)`;

/** Longest default `startWindow`, in ms. */
export const MAX_DEFAULT_START_WINDOW = 64;

/**
 * The default `startWindow` for a shortest interval of `ms`: a sixteenth of it (a check starts at
 * most 6 % of the interval late), at most 64 ms. The check module's own timer is coarser: it fires
 * every `interval / 2` and starts a check once `interval` has passed (docs/health-checks.md).
 */
export function defaultStartWindow(ms: number): number {
  return Math.min(MAX_DEFAULT_START_WINDOW, Math.floor(ms / 16));
}

/** Validates `check` options and applies the check module's defaults. */
export function resolveCheck(input: CheckOptions, path = 'check'): ResolvedCheck {
  if (typeof input !== 'object' || input === null) fail(path, 'an object', input);
  for (const key of Object.keys(input)) {
    if (!CHECK_KEYS.has(key)) fail(`${path}.${key}`, 'a known check option', key);
  }
  const interval = or(input.interval, DEFAULT_CHECK.interval);
  if (!isTimerDelay(interval)) fail(`${path}.interval`, TIMER_DELAY, interval);
  const rise = or(input.rise, DEFAULT_CHECK.rise);
  if (!isPositiveInteger(rise)) fail(`${path}.rise`, 'a positive integer', rise);
  const fall = or(input.fall, DEFAULT_CHECK.fall);
  if (!isPositiveInteger(fall)) fail(`${path}.fall`, 'a positive integer', fall);
  const timeout = or(input.timeout, DEFAULT_CHECK.timeout);
  if (!isTimerDelay(timeout)) fail(`${path}.timeout`, TIMER_DELAY, timeout);
  const type = or(input.type, DEFAULT_CHECK.type);
  if (typeof type !== 'function' && !CHECK_TYPES.has(type as string)) {
    fail(`${path}.type`, 'one of tcp, smtp, http, tls, ssl_hello, mysql, or an async function', type);
  }
  const port = or(input.port, DEFAULT_CHECK.port);
  if (!isNonNegativeInteger(port) || port > 65535) fail(`${path}.port`, 'an integer from 0 to 65535', port);
  if (input.defaultDown !== undefined && typeof input.defaultDown !== 'boolean') fail(`${path}.defaultDown`, 'a boolean', input.defaultDown);
  const initState = input.initState;
  if (initState !== undefined && initState !== 'down' && initState !== 'up' && initState !== 'up-on-first-success') {
    fail(`${path}.initState`, "one of 'down', 'up', 'up-on-first-success'", initState);
  }
  const defaultDown = initState === undefined ? or(input.defaultDown, DEFAULT_CHECK.defaultDown) : initState !== 'up';
  const initialRise = initState === 'up-on-first-success' ? 1 : rise;
  const downInterval = or(input.downInterval, interval);
  if (!isTimerDelay(downInterval)) fail(`${path}.downInterval`, TIMER_DELAY, downInterval);
  const fastInterval = or(input.fastInterval, interval);
  if (!isTimerDelay(fastInterval)) fail(`${path}.fastInterval`, TIMER_DELAY, fastInterval);
  const jitter = or(input.jitter, 0);
  if (!(typeof jitter === 'number' && jitter >= 0 && jitter <= 1)) fail(`${path}.jitter`, 'a number from 0 to 1', jitter);
  // The longest delay the scheduler sets (health/checker.ts): the longest interval plus the jitter.
  if (Math.max(interval, downInterval, fastInterval) + Math.floor(jitter * interval) > MAX_TIMER_MS) {
    fail(`${path}.jitter`, `small enough that the longest interval plus jitter × interval stays within ${MAX_TIMER_MS} ms (the largest timer delay)`, jitter);
  }
  const startWindow = or(input.startWindow, defaultStartWindow(Math.min(interval, downInterval, fastInterval)));
  if (!isNonNegativeInteger(startWindow) || startWindow > MAX_TIMER_MS) fail(`${path}.startWindow`, `an integer of milliseconds from 0 to ${MAX_TIMER_MS}`, startWindow);
  const httpSend = or(input.httpSend, 'GET / HTTP/1.0\r\n\r\n');
  if (typeof httpSend !== 'string' || httpSend.length === 0) fail(`${path}.httpSend`, 'a non-empty string', httpSend);
  const httpExpectAlive = or<HttpStatusClass[], HttpStatusClass[]>(input.httpExpectAlive, ['2xx', '3xx']);
  if (!Array.isArray(httpExpectAlive) || httpExpectAlive.length === 0 || !httpExpectAlive.every((c) => STATUS_CLASSES.has(c))) {
    fail(`${path}.httpExpectAlive`, "a non-empty array of '1xx' | '2xx' | '3xx' | '4xx' | '5xx'", httpExpectAlive);
  }
  const smtpHelo = or(input.smtpHelo, 'localhost');
  if (typeof smtpHelo !== 'string' || !/^[\x21-\x7e]+$/.test(smtpHelo)) fail(`${path}.smtpHelo`, 'a host name without spaces', smtpHelo);
  const tlsServerName = input.tlsServerName;
  if (tlsServerName !== undefined && typeof tlsServerName !== 'string') fail(`${path}.tlsServerName`, 'a string', tlsServerName);
  return {
    interval, rise, fall, timeout, type, port, defaultDown, initialRise, downInterval, fastInterval, jitter, startWindow,
    httpSend, httpExpectAlive: [...httpExpectAlive], smtpHelo, tlsServerName,
  };
}

/** Top-level options, validated, with defaults applied. */
export interface ResolvedOptions {
  name: string;
  nginx: NginxTarget;
  method: Method;
  consistent: boolean;
  randomTwo: boolean;
  randomLeastConn: boolean;
  servers: ResolvedServer[];
  tries: number;
  check: ResolvedCheck | undefined;
  clock: Clock;
  rng: () => number;
  timers: CheckTimers | undefined;
  allowBackupWithHash: boolean;
  tuning: Readonly<SelectorTuning>;
}

const TOP_KEYS = new Set(['name', 'nginx', 'method', 'hash', 'randomTwo', 'randomLeastConn', 'servers', 'tries', 'check', 'clock', 'rng', 'timers', 'allowBackupWithHash', 'tuning']);

/** The method that owns a refining option (`consistent` belongs to hash, `randomTwo` to random). */
function ownerOf(option: keyof MethodChoice): Method {
  return METHOD_SPECS.find((m) => (m.options as readonly string[]).includes(option))!.name;
}

/**
 * nginx: `balancing method does not support parameter "backup"`, for a method without backup
 * servers. The error names `servers[i].backup` when `path` is given, else the option `backup`.
 */
export function requireBackupSupport(method: Method, servers: readonly ResolvedServer[], path?: string): void {
  if (methodSpec(method).backup) return;
  const i = servers.findIndex((s) => s.backup);
  if (i >= 0) {
    throw new InvalidOptionError(
      path === undefined ? 'backup' : `${path}[${i}].backup`,
      `balancing method does not support parameter "backup": method ${show(method)} cannot have backup server ${show(servers[i]!.id)}`,
      method,
    );
  }
}

/** Validates `new Balancer()` options. */
export function resolveOptions(input: BalancerOptions, defaults: { clock: Clock; rng: () => number }): ResolvedOptions {
  if (typeof input !== 'object' || input === null) fail('options', 'an object', input);
  for (const key of Object.keys(input)) {
    if (!TOP_KEYS.has(key)) fail(key, 'a known Balancer option', key);
  }
  const name = or(input.name, 'upstream');
  if (typeof name !== 'string' || name.length === 0) fail('name', 'a non-empty string', name);
  const nginx = or(input.nginx, DEFAULT_NGINX_TARGET);
  if (!isNginxTarget(nginx)) fail('nginx', `one of ${NGINX_TARGETS.map((t) => `'${t}'`).join(', ')}`, nginx);
  const method = or(input.method, 'round-robin');
  if (!METHODS.includes(method)) fail('method', `one of ${METHODS.join(', ')}`, method);
  if (input.hash !== undefined && (typeof input.hash !== 'object' || input.hash === null)) fail('hash', 'an object like { consistent: true }', input.hash);
  const consistent = or(input.hash?.consistent, false);
  if (typeof consistent !== 'boolean') fail('hash.consistent', 'a boolean', consistent);
  if (consistent && method !== ownerOf('consistent')) fail('hash.consistent', `used only with method '${ownerOf('consistent')}'`, method);
  const randomTwo = or(input.randomTwo, false);
  if (typeof randomTwo !== 'boolean') fail('randomTwo', 'a boolean', randomTwo);
  const randomLeastConn = or(input.randomLeastConn, false);
  if (typeof randomLeastConn !== 'boolean') fail('randomLeastConn', 'a boolean', randomLeastConn);
  if ((randomTwo || randomLeastConn) && method !== ownerOf('randomTwo')) {
    fail(randomTwo ? 'randomTwo' : 'randomLeastConn', `used only with method '${ownerOf('randomTwo')}'`, method);
  }
  if (randomLeastConn && !randomTwo) fail('randomLeastConn', 'used only with `randomTwo: true` (nginx: random two least_conn)', randomLeastConn);
  const tries = or(input.tries, 0);
  if (!isNonNegativeInteger(tries)) fail('tries', 'a non-negative integer', tries);
  const clock = or(input.clock, defaults.clock);
  if (typeof clock !== 'function') fail('clock', 'a function returning milliseconds', clock);
  const rng = or(input.rng, defaults.rng);
  if (typeof rng !== 'function') fail('rng', 'a function returning a number in [0, 1)', rng);
  const timers = input.timers;
  if (timers !== undefined && (typeof timers !== 'object' || timers === null || typeof timers.setTimeout !== 'function' || typeof timers.clearTimeout !== 'function')) {
    fail('timers', 'an object with setTimeout and clearTimeout functions', timers);
  }
  const allowBackupWithHash = or(input.allowBackupWithHash, false);
  if (typeof allowBackupWithHash !== 'boolean') fail('allowBackupWithHash', 'a boolean', allowBackupWithHash);
  const servers = resolveServers(input.servers, 'servers', name);
  if (!allowBackupWithHash) requireBackupSupport(method, servers, 'servers');
  const tuning = resolveTuning(input.tuning);
  const check = input.check === undefined ? undefined : resolveCheck(input.check);
  return { name, nginx, method, consistent, randomTwo, randomLeastConn, servers, tries, check, clock, rng, timers, allowBackupWithHash, tuning };
}

/** Validates `tuning` and applies the defaults. */
function resolveTuning(input: Partial<SelectorTuning> | undefined): Readonly<SelectorTuning> {
  if (input === undefined) return DEFAULT_TUNING;
  if (typeof input !== 'object' || input === null) fail('tuning', 'an object like { lazyFromServers: 24 }', input);
  for (const key of Object.keys(input)) {
    if (!(key in DEFAULT_TUNING)) fail(`tuning.${key}`, 'a known tuning option (lazyFromServers, leastConnIndexFromServers)', key);
  }
  const lazyFromServers = or(input.lazyFromServers, DEFAULT_TUNING.lazyFromServers);
  if (!isPositiveInteger(lazyFromServers)) fail('tuning.lazyFromServers', 'a positive integer', lazyFromServers);
  const leastConnIndexFromServers = or(input.leastConnIndexFromServers, DEFAULT_TUNING.leastConnIndexFromServers);
  if (!isPositiveInteger(leastConnIndexFromServers)) fail('tuning.leastConnIndexFromServers', 'a positive integer', leastConnIndexFromServers);
  return Object.freeze({ lazyFromServers, leastConnIndexFromServers });
}
