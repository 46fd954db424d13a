/**
 * Error classes with stable string codes.
 *
 * Misuse is thrown, expected outcomes are returned (`pick()` returns `undefined` when nothing is
 * eligible, as nginx's get returns NGX_BUSY). Every error carries a `code`, the offending value in
 * `value`, and a `Symbol.for` brand so that `isUpstreamError` works across the ESM and CJS copies
 * of this package (undici's error classes are the model).
 */

const BRAND = Symbol.for('upstream-balancer.error');

export type ErrorCode =
  | 'ERR_UPSTREAM_INVALID_OPTION'
  | 'ERR_UPSTREAM_DUPLICATE_ID'
  | 'ERR_UPSTREAM_UNKNOWN_ID'
  | 'ERR_UPSTREAM_NO_SERVERS'
  | 'ERR_UPSTREAM_ATTEMPT_STATE'
  | 'ERR_UPSTREAM_INVALID_KEY'
  | 'ERR_UPSTREAM_CLOSED'
  | 'ERR_UPSTREAM_CONFIG'
  | 'ERR_UPSTREAM_CLOCK'
  | 'ERR_UPSTREAM_ADDRESS'
  /** A DNS resolution of a `resolve` server failed (src/resolve/dns.ts `DnsError`; docs/dns.md). */
  | 'ERR_UPSTREAM_DNS'
  /** An upstream zone has no room for the change (servers, threads or configuration bytes; src/zone/). */
  | 'ERR_UPSTREAM_ZONE_FULL'
  /** A value given as an upstream zone is not one (`Balancer.fromZone`). */
  | 'ERR_UPSTREAM_ZONE'
  /** The fleet store (etcd) could not take or give a change (`upstream-balancer/etcd`; docs/fleet.md). */
  | 'ERR_UPSTREAM_FLEET';

/**
 * Base class of every error this package throws.
 *
 * @example
 * try { balancer.update('nope', { down: true }); }
 * catch (e) { if (isUpstreamError(e) && e.code === 'ERR_UPSTREAM_UNKNOWN_ID') console.error(e.value); }
 */
export class UpstreamError extends Error {
  readonly code: ErrorCode;
  /** The offending value, when there is one. */
  readonly value: unknown;

  constructor(code: ErrorCode, message: string, value?: unknown, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UpstreamError';
    this.code = code;
    this.value = value;
  }

  get [BRAND](): true {
    return true;
  }
}

/**
 * An option or server definition is invalid (weight 0, unknown method, duplicate id, ...).
 *
 * @example
 * new Balancer({ servers: [{ address: '10.0.0.1:25', weight: 0 }] });
 * // InvalidOptionError: Expected `servers[0].weight` to be a positive integer up to 2147483647, got `0`
 */
export class InvalidOptionError extends UpstreamError {
  /** Dotted path of the option, e.g. `servers[1].weight`. */
  readonly option: string;
  constructor(option: string, message: string, value: unknown, code: ErrorCode = 'ERR_UPSTREAM_INVALID_OPTION') {
    super(code, message, value);
    this.name = 'InvalidOptionError';
    this.option = option;
  }
}

/**
 * An attempt was used out of order (`fail()` with no current server, `next()` after it finished, ...).
 *
 * @example
 * const a = balancer.attempt();
 * a.fail(); // AttemptStateError: fail() called with no current server: call next() first
 */
export class AttemptStateError extends UpstreamError {
  constructor(message: string, value?: unknown) {
    super('ERR_UPSTREAM_ATTEMPT_STATE', message, value);
    this.name = 'AttemptStateError';
  }
}

/**
 * nginx configuration text is invalid. `message` reads like `nginx -t`
 * (`invalid parameter "weight=0" in /etc/nginx/nginx.conf:3`); `reason` is the bare nginx message.
 *
 * @example
 * parseUpstreams('stream { upstream u { server 127.0.0.1:25 weight=0; } }');
 * // ConfigError: invalid parameter "weight=0" in nginx.conf:1 (with reason, file, line, column)
 */
export class ConfigError extends UpstreamError {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** nginx's own message text without the location, e.g. `invalid parameter "weight=0"`. */
  readonly reason: string;
  /** A finer-grained code than `ERR_UPSTREAM_CONFIG`, e.g. `INVALID_PARAMETER`. */
  readonly kind: string;
  constructor(reason: string, where: { file: string; line: number; column: number }, kind = 'INVALID', value?: unknown) {
    super('ERR_UPSTREAM_CONFIG', `${reason} in ${where.file}:${where.line}`, value);
    this.name = 'ConfigError';
    this.reason = reason;
    this.kind = kind;
    this.file = where.file;
    this.line = where.line;
    this.column = where.column;
  }
}

/**
 * True for any error thrown by this package, from either the ESM or the CJS build.
 *
 * @example
 * if (isUpstreamError(e)) log(e.code, e.value);
 */
export function isUpstreamError(error: unknown): error is UpstreamError {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[BRAND] === true;
}

/** Formats a value for an error message: strings quoted, everything else through JSON or String. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null) return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
