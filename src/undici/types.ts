/**
 * The public types of `upstream-balancer/undici`, declared here rather than imported from the core
 * so that the subpath's type declarations stand alone (the package root's stay as they are) and
 * any build of the core fits them structurally. test/integration/undici.test.ts checks that they
 * match the core's (`NextUpstreamCondition`, `Server`, `Attempt`).
 */

/** The conditions of `proxy_next_upstream` (the core's `NextUpstreamCondition`). */
export type NextUpstreamConditionName =
  | 'error' | 'timeout' | 'invalid_header' | 'non_idempotent'
  | 'http_500' | 'http_502' | 'http_503' | 'http_504' | 'http_403' | 'http_404' | 'http_429'
  | 'updating' | 'off';

/** A `proxy_next_upstream` policy as the core's `nextUpstreamPolicy()` returns it. */
export interface NextUpstreamPolicyLike {
  readonly conditions: readonly NextUpstreamConditionName[];
  /** `proxy_next_upstream_tries`: 0 = as many as there are servers. */
  readonly tries: number;
  /** `proxy_next_upstream_timeout` in ms: 0 = no limit. */
  readonly timeout: number;
}

/** A server as the dispatcher reads it (a Balancer's `Server` fits). */
export interface UpstreamServerLike {
  readonly id: string;
  /** `host:port`, `[IPv6]:port`, `host` (port 80, or 443 for https) or `unix:/path`. */
  readonly address: string;
}

/** The part of an `Attempt` the dispatcher uses. */
export interface BalancedAttempt {
  /** Tries left (nginx `pc->tries`). */
  readonly tries: number;
  /** ms since the attempt started. */
  readonly elapsed: number;
  next(): UpstreamServerLike | undefined;
  fail(): void;
  skip(): void;
  release(): void;
  /** With `sticky` (a StickyRequest): the Set-Cookie value for the last server chosen. */
  readonly setCookie?: string | undefined;
  /** With `sticky`: the passed response's header arrived, with its Set-Cookie values. */
  responseHeader?(setCookie: readonly string[]): void;
}

/** What the dispatcher needs of a Balancer. */
export interface BalancerLike {
  /** The servers; a new array after every membership change (the dispatcher then closes the pools of removed servers). */
  readonly servers: readonly UpstreamServerLike[];
  attempt(key?: string, options?: { tries?: number; timeout?: number; hint?: string }): BalancedAttempt;
}
