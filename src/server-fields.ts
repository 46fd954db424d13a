/**
 * The per-server parameters of an upstream, one row each: the `server` line's parameters
 * (nginx's `ngx_http_upstream_server` / `ngx_stream_upstream_server`, docs/nginx-semantics.md §1.1)
 * and the dynamic peer state nginx keeps beside them (`ngx_http_upstream_rr_peer_t`).
 *
 * The tier's configuration load and rebuild copy (membership.ts), `snapshot()` (server.ts), the
 * config parser's result and the formatter (config/) walk these rows. Option resolution
 * (`resolveServer`) and membership.ts's `sameConfig` name each parameter (they run per server on
 * every `setServers`, where a walk over the rows' keys costs a megamorphic access per key), so adding
 * a server parameter is one row here, its line in each of those two (the compiler asks for the
 * first, test/unit/balancer-runtime.test.ts for the second), plus its semantics where a pick or a
 * free reads it. Pure data and validation; imports nothing but errors.
 */

import { InvalidOptionError, show } from './errors';

/** The longest `route=` nginx accepts, in bytes (`NGX_HTTP_UPSTREAM_SID_LEN`: an MD5 in hex). */
export const MAX_ROUTE_BYTES = 32;

/** Largest accepted weight: SWRR sums must stay exact in doubles and small in typed arrays. */
export const MAX_WEIGHT = 0x7fffffff;

/** A numeric `server` parameter. */
export interface NumericParam {
  /** The option's name in `ServerOptions`. */
  readonly key: 'weight' | 'maxFails' | 'failTimeout' | 'maxConns';
  /** nginx's parameter (`weight=3`). */
  readonly nginx: string;
  /** nginx's default when the parameter is absent. */
  readonly default: number;
  /** nginx writes it in seconds (`fail_timeout=3s`); the option is in milliseconds. */
  readonly seconds: boolean;
  /** Validation: true if `v` is acceptable. */
  readonly valid: (v: unknown) => v is number;
  /** What `valid` expects, for the error message. */
  readonly expected: string;
  /** Why nginx 1.22 cannot write it, when it cannot (the parser says `invalid parameter`, the formatter refuses). */
  readonly notIn122?: string;
}

/** A boolean `server` parameter: present or absent. */
export interface FlagParam {
  readonly key: 'backup' | 'down' | 'drain';
  /** nginx's parameter word. */
  readonly nginx: string;
  /** Why nginx 1.22 cannot write it, when it cannot (the parser says `invalid parameter`, the formatter refuses). */
  readonly notIn122?: string;
  /** nginx 1.30 has it in http upstreams only (stream's `server` says `invalid parameter`). */
  readonly httpOnly?: true;
}

/** A text `server` parameter (`route=ID`): absent, or a string. */
export interface TextParam {
  readonly key: 'route';
  /** nginx's parameter name, written `name=value`. */
  readonly nginx: string;
  /** Validation: true if `v` is acceptable. */
  readonly valid: (v: unknown) => v is string;
  /** What `valid` expects, for the error message. */
  readonly expected: string;
  /** Why nginx 1.22 cannot write it. */
  readonly notIn122: string;
  /** nginx 1.30 has it in http upstreams only. */
  readonly httpOnly: true;
}

const isRoute = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && Buffer.byteLength(v, 'utf8') <= MAX_ROUTE_BYTES;

const isPositiveWeight = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0 && v <= MAX_WEIGHT;
const isNonNegativeInteger = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isNonNegativeNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** The numeric parameters, in the order they are validated and printed. */
export const NUMERIC_PARAMS: readonly NumericParam[] = [
  { key: 'weight', nginx: 'weight', default: 1, seconds: false, valid: isPositiveWeight, expected: `a positive integer up to ${MAX_WEIGHT}` },
  { key: 'maxFails', nginx: 'max_fails', default: 1, seconds: false, valid: isNonNegativeInteger, expected: 'a non-negative integer' },
  { key: 'failTimeout', nginx: 'fail_timeout', default: 10_000, seconds: true, valid: isNonNegativeNumber, expected: 'a non-negative number of milliseconds' },
  { key: 'maxConns', nginx: 'max_conns', default: 0, seconds: false, valid: isNonNegativeInteger, expected: 'a non-negative integer' },
];

/** The flags, in the order they are validated and printed. */
export const FLAG_PARAMS: readonly FlagParam[] = [
  { key: 'backup', nginx: 'backup' },
  { key: 'down', nginx: 'down' },
  { key: 'drain', nginx: 'drain', notIn122: 'nginx 1.22 has no drain parameter (NGINX Plus; open-source nginx 1.29.6+, http upstreams only)', httpOnly: true },
];

/**
 * The text parameters: `route=` (nginx 1.30, `ngx_http_upstream_server`: "route is empty", "route is
 * longer than 32"), the server's session id when set (session-id.ts).
 */
export const TEXT_PARAMS: readonly TextParam[] = [
  {
    key: 'route',
    nginx: 'route',
    valid: isRoute,
    expected: `a non-empty string of at most ${MAX_ROUTE_BYTES} bytes`,
    notIn122: 'nginx 1.22 has no route= parameter (NGINX Plus; open-source nginx 1.29.6+, http upstreams only)',
    httpOnly: true,
  },
];

/** A server definition with every default applied (a text parameter is absent when not set). */
export type ResolvedServer = { id: string; address: string } & { [K in NumericParam['key']]: number } & {
  [K in FlagParam['key']]: boolean;
} & { [K in TextParam['key']]?: string };

/** nginx's defaults of the numeric parameters (`weight=1 max_fails=1 fail_timeout=10s max_conns=0`). */
export const DEFAULT_SERVER = Object.freeze(
  Object.fromEntries(NUMERIC_PARAMS.map((p) => [p.key, p.default])) as { readonly [K in NumericParam['key']]: number },
);

/** Every key `ServerOptions` accepts, in the order of the error message. */
const SERVER_KEYS: readonly string[] = ['address', 'id', ...NUMERIC_PARAMS.map((p) => p.key), ...FLAG_PARAMS.map((p) => p.key), ...TEXT_PARAMS.map((p) => p.key)];

/**
 * The dynamic per-server state a tier keeps in typed arrays beside the configuration (nginx's peer
 * fields), carried over by `id` when the tiers are rebuilt. A new server starts with `effective =
 * weight` and zeros elsewhere.
 */
export const PEER_STATE = ['effective', 'current', 'conns', 'fails', 'accessed', 'checked'] as const;

export function invalidOption(option: string, expected: string, value: unknown): never {
  throw new InvalidOptionError(option, `Expected \`${option}\` to be ${expected}, got \`${show(value)}\``, value);
}

const KNOWN_KEYS = new Set(SERVER_KEYS);

/** The row of a parameter, by its key. */
const numericRow = (key: NumericParam['key']): NumericParam => NUMERIC_PARAMS.find((p) => p.key === key)!;
const WEIGHT = numericRow('weight');
const MAX_FAILS = numericRow('maxFails');
const FAIL_TIMEOUT = numericRow('failTimeout');
const MAX_CONNS = numericRow('maxConns');
const ROUTE = TEXT_PARAMS.find((p) => p.key === 'route')!;

/** The name of entry `index` of `path` in an error (`index` < 0: `path` itself), built only on a failure. */
const nameOf = (path: string, index: number): string => (index < 0 ? path : `${path}[${index}]`);

/** A numeric parameter: the row's default when absent, else the value once the row accepts it. */
function numericOf(p: NumericParam, v: unknown, path: string, index: number): number {
  if (v === undefined) return p.default;
  if (!p.valid(v)) invalidOption(`${nameOf(path, index)}.${p.key}`, p.expected, v);
  return v;
}

/** A flag: false when absent, else a boolean. */
function flagOf(key: FlagParam['key'], v: unknown, path: string, index: number): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') invalidOption(`${nameOf(path, index)}.${key}`, 'a boolean', v);
  return v;
}

/**
 * Validates one server definition and applies defaults. `path` names it in errors, with `[index]`
 * appended when `index` is given (the list's position, so that no name is built unless it fails).
 * Every enumerable key must be a known option, inherited ones included (they are read too).
 *
 * Each parameter is read by its name and the result is one object literal (every key in the rows'
 * order; `route` only when set): one hidden class for all of them, and reads that stay monomorphic
 * for a list whose entries share a shape. A loop over the rows' keys made each read and store a
 * megamorphic keyed access (bench/README.md, membership, eighth step). A row added to
 * `NUMERIC_PARAMS` or `FLAG_PARAMS` widens `ResolvedServer`, so the literal below fails to compile
 * until it resolves the new parameter.
 */
export function resolveServer(value: unknown, path: string, index = -1): ResolvedServer {
  if (typeof value !== 'object' || value === null) invalidOption(nameOf(path, index), 'an object with an `address`', value);
  const input = value as Readonly<Record<string, unknown>>;
  for (const key in input) {
    if (!KNOWN_KEYS.has(key)) invalidOption(`${nameOf(path, index)}.${key}`, `a known server option (${SERVER_KEYS.join(', ')})`, key);
  }
  const { address } = input;
  if (typeof address !== 'string' || address.length === 0) invalidOption(`${nameOf(path, index)}.address`, 'a non-empty string', address);
  const id = input.id === undefined ? address : input.id;
  if (typeof id !== 'string' || id.length === 0) invalidOption(`${nameOf(path, index)}.id`, 'a non-empty string', input.id);
  const out: ResolvedServer = {
    id,
    address,
    weight: numericOf(WEIGHT, input.weight, path, index),
    maxFails: numericOf(MAX_FAILS, input.maxFails, path, index),
    failTimeout: numericOf(FAIL_TIMEOUT, input.failTimeout, path, index),
    maxConns: numericOf(MAX_CONNS, input.maxConns, path, index),
    backup: flagOf('backup', input.backup, path, index),
    down: flagOf('down', input.down, path, index),
    drain: flagOf('drain', input.drain, path, index),
  };
  const route = input.route;
  if (route !== undefined) {
    if (!ROUTE.valid(route)) invalidOption(`${nameOf(path, index)}.${ROUTE.key}`, ROUTE.expected, route);
    out.route = route;
  }
  return out;
}
