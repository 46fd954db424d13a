/**
 * Where a server's address points: the forms the `server` directive takes (nginx `ngx_parse_url`,
 * src/core/ngx_inet.c): `host:port`, `[IPv6]:port`, `unix:/path`, and a host without a port (http's
 * default port 80 applies there; stream requires a port). `connectOptions` turns one into options
 * for `net.connect` / `tls.connect`, so that no proxy splits an address on ':' by hand. Pure: no
 * name is resolved here (net.connect does that).
 */

import { UpstreamError } from './errors';

/** A parsed address. `port` is null for a host written without one. */
export type UpstreamTarget =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number | null }
  | { readonly kind: 'unix'; readonly path: string };

/** What `connectOptions` returns: `net.connect` options for TCP or a unix socket. */
export type ConnectOptionsFor = { host: string; port: number } | { path: string };

/** Port digits as nginx's `ngx_atoi` reads them, 1-65535; NaN otherwise. */
function portOf(text: string): number {
  if (text.length === 0 || text.length > 5) return NaN;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return NaN;
  }
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : NaN;
}

/**
 * The target an address names, or `null` when it is not one of the `server` forms (a test may name
 * servers `A` and `B`: the balancer accepts any text as an address).
 *
 * @example
 * upstreamTarget('[::1]:25');      // { kind: 'tcp', host: '::1', port: 25 }
 * upstreamTarget('unix:/run/x');   // { kind: 'unix', path: '/run/x' }
 */
export function upstreamTarget(address: string): UpstreamTarget | null {
  if (typeof address !== 'string' || address.length === 0) return null;
  if (address.length > 5 && address.slice(0, 5).toLowerCase() === 'unix:') return { kind: 'unix', path: address.slice(5) };
  if (address.charCodeAt(0) === 91 /* [ */) {
    const close = address.indexOf(']');
    if (close < 2) return null;
    const host = address.slice(1, close);
    if (!/^[0-9A-Fa-f:.]+(%[\w.-]+)?$/.test(host) || !host.includes(':')) return null;
    const rest = address.slice(close + 1);
    if (rest.length === 0) return { kind: 'tcp', host, port: null };
    if (rest.charCodeAt(0) !== 58 /* : */) return null;
    const port = portOf(rest.slice(1));
    return port === port ? { kind: 'tcp', host, port } : null;
  }
  const colon = address.indexOf(':');
  const host = colon < 0 ? address : address.slice(0, colon);
  if (host.length === 0 || /[\s/?#@[\]]/.test(host)) return null;
  if (colon < 0) return { kind: 'tcp', host, port: null };
  const port = portOf(address.slice(colon + 1));
  return port === port ? { kind: 'tcp', host, port } : null;
}

/**
 * `net.connect` options for a server (or an address): `{ host, port }` or `{ path }`. A host without
 * a port takes `defaultPort` (nginx http: 80). Throws `UpstreamError` `ERR_UPSTREAM_ADDRESS` for an
 * address that names no target, or no port and no default.
 *
 * @example
 * const upstream = net.connect({ ...connectOptions(server), timeout: 5000 });
 */
export function connectOptions(server: { readonly address: string } | string, defaultPort?: number): ConnectOptionsFor {
  const address = typeof server === 'string' ? server : server?.address;
  const t = upstreamTarget(address);
  if (t === null) throw new UpstreamError('ERR_UPSTREAM_ADDRESS', `Expected an address host:port, [IPv6]:port or unix:/path, got ${JSON.stringify(address)}`, address);
  if (t.kind === 'unix') return { path: t.path };
  const port = t.port ?? defaultPort;
  if (port === undefined) throw new UpstreamError('ERR_UPSTREAM_ADDRESS', `The address ${JSON.stringify(address)} has no port, and no default port was given`, address);
  return { host: t.host, port };
}
