/**
 * The address of an upstream `server` line, checked as nginx's `ngx_parse_url` (src/core/ngx_inet.c:
 * `ngx_parse_unix_domain_url`, `ngx_parse_inet6_url`, `ngx_parse_inet_url`) checks it for
 * `ngx_http_upstream_server` / `ngx_stream_upstream_server`: no URI part, http's default port 80,
 * stream needs a port. Host names are not resolved (nginx resolves them while loading and says
 * `host not found` when that fails). Pure.
 */

import { atoi } from './numbers';

/** nginx's message for an address the `server` directive rejects, or `undefined`. */
export function addressError(url: string, context: 'http' | 'stream'): string | undefined {
  const where = ` in upstream "${url}"`;
  if (url.length >= 5 && url.slice(0, 5).toLowerCase() === 'unix:') {
    const path = url.slice(5);
    if (path.length === 0) return 'no path in the unix domain socket' + where;
    if (new TextEncoder().encode(path).length + 1 > 108) return 'too long path in the unix domain socket' + where;
    return undefined;
  }
  let noPort = false;
  if (url.startsWith('[')) {
    const close = url.indexOf(']');
    if (close < 0) return 'invalid host' + where;
    const rest = url.slice(close + 1);
    if (rest.startsWith(':')) {
      const n = atoi(rest.slice(1));
      if (n === undefined || n < 1n || n > 65535n) return 'invalid port' + where;
    } else if (rest.length > 0) return 'invalid host' + where;
    else noPort = true;
    const host = url.slice(1, close);
    if (host.length === 0) return 'no host' + where;
    if (!isIPv6(host)) return 'invalid IPv6 address' + where;
  } else {
    if (url.includes('/') || url.includes('?')) return 'invalid host' + where;
    const colon = url.indexOf(':');
    let host = url;
    if (colon >= 0) {
      const n = atoi(url.slice(colon + 1));
      if (n === undefined || n < 1n || n > 65535n) return 'invalid port' + where;
      host = url.slice(0, colon);
    } else noPort = true;
    if (host.length === 0) return 'no host' + where;
  }
  if (noPort && context === 'stream') return `no port in upstream "${url}"`;
  return undefined;
}

/** inet_pton-style check (`ngx_inet6_addr`): hex groups, one `::`, an optional trailing IPv4. */
export function isIPv6(h: string): boolean {
  if (!/^[0-9A-Fa-f:.]+$/.test(h)) return false;
  const dbl = h.split('::');
  if (dbl.length > 2) return false;
  const groups = (s: string): string[] | undefined => (s === '' ? [] : s.split(':'));
  const parts = [...(groups(dbl[0]!) ?? []), ...(dbl.length === 2 ? groups(dbl[1]!) ?? [] : [])];
  let count = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (i === parts.length - 1 && p.includes('.')) {
      const o = p.split('.');
      if (o.length !== 4 || !o.every((x) => /^[0-9]{1,3}$/.test(x) && Number(x) <= 255)) return false;
      count += 2;
    } else {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(p)) return false;
      count += 1;
    }
  }
  return dbl.length === 2 ? count < 8 : count === 8;
}
