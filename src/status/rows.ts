/**
 * The rows of the status page: which servers nginx_upstream_check_module lists, in its order, and
 * the rows the library adds for servers without active checks; the options every format shares.
 *
 * Follows the module's `ngx_http_upstream_check_status_handler` (commit e538034): per balancer, the
 * servers that are not admin `down` in a balancer with `check`, the primaries first and then the
 * backups (the module's patch numbers peers as nginx's round robin builds them); `index` counts
 * them across all balancers and is kept when `status=` filters rows out. A row's name is the
 * address as nginx prints it (`peer_addr->name`: an IP literal without a port gets `:80`).
 *
 * Where the module has no page at all (no checked server anywhere: its 500), the library lists
 * every server instead (`servers: 'all'`, the default then): same order, admin-down servers
 * included, check columns `none` / 0 for a server without checks and a status read from its state.
 */

import { isIP } from 'node:net';
import type { BalancerSnapshot } from '../balancer';
import { InvalidOptionError, show } from '../errors';
import type { ServerSnapshot, ServerState } from '../server';
import { upstreamTarget } from '../target';

/** Output formats of the status page. */
export type StatusFormat = 'json' | 'csv' | 'html' | 'prometheus';

/** The fields of a server every format reads (a `ServerSnapshot` has them). */
type PageFields = 'address' | 'down' | 'state' | 'conns' | 'fails';

/**
 * One server of a `StatusSnapshot`: what the module's pages read, plus (optional, a
 * `ServerSnapshot` has them all) what the Prometheus families read. `check` may lack `passed` /
 * `failed` (then no `checks_total` samples); `backup` places a row after the primaries (absent: a
 * primary).
 */
export type StatusServer = Pick<ServerSnapshot, PageFields> &
  Partial<Omit<ServerSnapshot, PageFields | 'check'>> & {
    check: (Omit<NonNullable<ServerSnapshot['check']>, 'passed' | 'failed'> & Partial<Pick<NonNullable<ServerSnapshot['check']>, 'passed' | 'failed'>>) | null;
  };

/** What `formatStatus` reads from a snapshot (a `BalancerSnapshot` has all of it). */
export interface StatusSnapshot {
  name: BalancerSnapshot['name'];
  servers: readonly StatusServer[];
}

/**
 * How the JSON page is laid out: `'module'` (the default) is nginx_upstream_check_module's bytes;
 * `'tengine'` is Tengine 3.2.0's, which adds `up` and `down` counts and places its commas so that
 * the page stays valid JSON under a `status=` filter.
 */
export type StatusLayout = 'module' | 'tengine';

/**
 * Which servers the json, csv and html pages list: `'checked'`, the module's rows (the servers with
 * active checks that are not admin `down`), or `'all'`, every server. Default: `'checked'` when
 * any server has a row there, else `'all'` (where the module would answer 500).
 */
export type StatusServers = 'checked' | 'all';

/** Options of `formatStatus`. */
export interface StatusOptions {
  /** Keep only rows whose status is this (`?status=up|down`); json, csv and html only. */
  status?: 'up' | 'down';
  /** The check module's configuration generation; default 1. */
  generation?: number;
  /** The JSON layout; default `'module'`. */
  layout?: StatusLayout;
  /** Which servers the json, csv and html pages list; default: see `StatusServers`. */
  servers?: StatusServers;
  /** Prefix of the Prometheus metric names; default `'upstream_balancer_'`. */
  prefix?: string;
}

/** One row of the json, csv and html pages. */
export interface Row {
  index: number;
  upstream: string;
  name: string;
  down: boolean;
  rise: number;
  fall: number;
  type: string;
  port: number;
}

export const FORMATS: ReadonlySet<string> = new Set<string>(['json', 'csv', 'html', 'prometheus']);
const LAYOUTS = new Set<string>(['module', 'tengine']);
const SERVER_SETS = new Set<string>(['checked', 'all']);

/** `format`, or `InvalidOptionError`. */
export function checkedFormat(format: unknown): StatusFormat {
  if (typeof format !== 'string' || !FORMATS.has(format)) {
    throw new InvalidOptionError('format', `Expected \`format\` to be one of json, csv, html, prometheus, got ${show(format)}`, format);
  }
  return format as StatusFormat;
}

/** `layout` (default `'module'`), or `InvalidOptionError`. */
export function checkedLayout(layout: unknown): StatusLayout {
  if (layout === undefined) return 'module';
  if (typeof layout !== 'string' || !LAYOUTS.has(layout)) {
    throw new InvalidOptionError('layout', `Expected \`layout\` to be one of module, tengine, got ${show(layout)}`, layout);
  }
  return layout as StatusLayout;
}

/** `servers` (undefined: the default, chosen per page), or `InvalidOptionError`. */
export function checkedServers(servers: unknown): StatusServers | undefined {
  if (servers === undefined) return undefined;
  if (typeof servers !== 'string' || !SERVER_SETS.has(servers)) {
    throw new InvalidOptionError('servers', `Expected \`servers\` to be one of checked, all, got ${show(servers)}`, servers);
  }
  return servers as StatusServers;
}

/** `generation` (default 1): a non-negative safe integer, or `InvalidOptionError` (it is printed raw). */
export function checkedGeneration(generation: unknown): number {
  if (generation === undefined) return 1;
  if (typeof generation !== 'number' || !Number.isSafeInteger(generation) || generation < 0) {
    throw new InvalidOptionError('generation', `Expected \`generation\` to be a non-negative integer, got ${show(generation)}`, generation);
  }
  return generation;
}

/** The module's name of a check type (`tls` is its `ssl_hello`; `smtp` and `custom` are this library's). */
const typeName = (type: string): string => (type === 'tls' ? 'ssl_hello' : type);

/**
 * A server's name as nginx prints it on the page (`peer_addr->name`, the text of the parsed
 * address): an IP literal without a port gets http's default `:80`. Other addresses as written
 * (nginx would print one row per resolved address of a host name).
 */
function pageName(address: string): string {
  const t = upstreamTarget(address);
  if (t === null || t.kind !== 'tcp' || t.port !== null || isIP(t.host) === 0) return address;
  return isIP(t.host) === 6 ? `[${t.host}]:80` : `${t.host}:80`;
}

/** A server the module checks: it has check state and is not admin `down`. */
const isChecked = (s: StatusServer): boolean => s.check !== null && !s.down;

/** States in which a server without a check verdict shows `down`: admin down and the passive window. */
const DOWN_STATES: ReadonlySet<ServerState> = new Set<ServerState>(['down', 'unavail']);

/**
 * Whether a page lists every server (`'all'`), or the module's rows: `undefined` picks `'checked'`
 * when any server has a row there.
 */
export function listsAll(snapshots: readonly StatusSnapshot[], servers: StatusServers | undefined): boolean {
  return servers === 'all' || (servers === undefined && !snapshots.some((b) => b.servers.some(isChecked)));
}

/** A server's row status (`down`) before `status=` filtering, or null when it has no row. */
function rowDown(s: StatusServer, all: boolean): boolean | null {
  if (isChecked(s)) return s.check!.down;
  if (!all) return null;
  const c = s.check;
  return s.down || (c !== null ? c.down : DOWN_STATES.has(s.state));
}

/**
 * The rows of a page one at a time, with their global index, keeping those whose status is
 * `status` (all when undefined): the module's order (per balancer, the primaries, then the backups).
 * A row's name is computed as it is reached, and a row filtered out costs no name.
 */
export function* rowsOf(snapshots: readonly StatusSnapshot[], all: boolean, status?: 'up' | 'down'): Generator<Row> {
  let index = 0;
  for (const b of snapshots) {
    for (const backups of [false, true]) {
      for (const s of b.servers) {
        if ((s.backup === true) !== backups) continue;
        const down = rowDown(s, all);
        if (down === null) continue;
        const at = index++;
        if (status !== undefined && down !== (status === 'down')) continue;
        const c = s.check;
        yield { index: at, upstream: b.name, name: pageName(s.address), down, rise: c?.rise ?? 0, fall: c?.fall ?? 0, type: c === null ? 'none' : typeName(c.type), port: c?.port ?? 0 };
      }
    }
  }
}

/** How many rows a page has before filtering (`rows`), how many it shows, and how many of those are up. */
export function rowCounts(snapshots: readonly StatusSnapshot[], all: boolean, status?: 'up' | 'down'): { rows: number; shown: number; up: number } {
  let rows = 0;
  let shown = 0;
  let up = 0;
  for (const b of snapshots) {
    for (const s of b.servers) {
      const down = rowDown(s, all);
      if (down === null) continue;
      rows++;
      if (status !== undefined && down !== (status === 'down')) continue;
      shown++;
      if (!down) up++;
    }
  }
  return { rows, shown, up };
}
