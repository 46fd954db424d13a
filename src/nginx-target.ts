/**
 * The nginx release series the library can follow where nginx's releases differ: `'1.22'` (Debian's
 * nginx 1.22.1) and `'1.30'` (nginx 1.30.4, the default). A leaf module, so that the selectors
 * (src/select/) can read the target without importing the option validation above them.
 * docs/nginx-compat.md ("nginx 1.22 and 1.30") lists every difference, each with its recorded
 * vector or `nginx -t` case.
 */

/**
 * The nginx release series whose semantics a balancer or a parse follows where releases differ
 * (docs/nginx-compat.md lists every difference, each with its recorded vector). Default `'1.30'`.
 */
export type NginxTarget = '1.30' | '1.22';
export const NGINX_TARGETS: readonly NginxTarget[] = ['1.30', '1.22'];
export const DEFAULT_NGINX_TARGET: NginxTarget = '1.30';

/** True for a value `nginx:` accepts. */
export function isNginxTarget(v: unknown): v is NginxTarget {
  return (NGINX_TARGETS as readonly unknown[]).includes(v);
}
