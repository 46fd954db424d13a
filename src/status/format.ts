/**
 * `formatStatus`: balancer snapshots rendered as nginx_upstream_check_module's `check_status` page
 * (json, csv, html: pages.ts) or as Prometheus text (prometheus.ts), whole or in pieces.
 *
 * Follows the module's `ngx_http_upstream_check_status_handler` (commit e538034) for which rows a
 * page has and how `status=` filters them (rows.ts); the Prometheus text is the library's own.
 */

import { checkedPrefix } from './metrics';
import { csvPage, htmlPage, jsonPage } from './pages';
import { prometheusPieces } from './prometheus';
import {
  checkedFormat,
  checkedGeneration,
  checkedLayout,
  checkedServers,
  listsAll,
  rowCounts,
  rowsOf,
  type StatusFormat,
  type StatusOptions,
  type StatusSnapshot,
} from './rows';

/** Content types of the formats (the module's; Prometheus: the text exposition format 0.0.4). */
export const STATUS_CONTENT_TYPES: Readonly<Record<StatusFormat, string>> = {
  html: 'text/html',
  csv: 'text/plain',
  json: 'application/json',
  prometheus: 'text/plain; version=0.0.4',
};

/**
 * Renders snapshots as the status page: json, csv and html list the module's rows (or every
 * server: `servers`), prometheus every server of every balancer.
 *
 * @example
 * formatStatus(balancer.snapshot(), 'csv');
 * // "0,smtp,10.0.0.1:25,up,3,0,smtp,0\n1,smtp,10.0.0.2:25,down,0,5,smtp,0\n"
 * formatStatus([a.snapshot(), b.snapshot()], 'json', { status: 'down', generation: 2 });
 */
export function formatStatus(
  snapshots: readonly StatusSnapshot[] | StatusSnapshot,
  format: StatusFormat,
  opts: StatusOptions = {},
): string {
  return [...statusPage(Array.isArray(snapshots) ? snapshots : [snapshots as StatusSnapshot], format, opts).pieces].join('');
}

/** A page in pieces, and how many rows (json, csv, html) or servers (prometheus) it has. */
export interface StatusPage {
  pieces: Iterable<string>;
  /** Rows before the `status=` filter (json, csv, html), or servers (prometheus). */
  size: number;
}

/**
 * The page of `format`, in pieces (`formatStatus` joins them, the handler streams them). The
 * options are checked at once; a Prometheus page throws at once when two series would be one
 * (unless `seriesChecked`: the handler checked them while it read the servers). Work done here:
 * one pass over the servers without building rows (which servers have rows, the counts the
 * headers print); every piece then builds its own rows or samples (`ROWS_PER_PIECE` of them).
 */
export function statusPage(snapshots: readonly StatusSnapshot[], format: StatusFormat, opts: StatusOptions, seriesChecked = false): StatusPage {
  const checked = checkedFormat(format);
  const generation = checkedGeneration(opts.generation);
  const layout = checkedLayout(opts.layout);
  const servers = checkedServers(opts.servers);
  const prefix = checkedPrefix(opts.prefix);
  if (checked === 'prometheus') {
    let size = 0;
    for (const b of snapshots) size += b.servers.length;
    return { pieces: prometheusPieces(snapshots, prefix, seriesChecked), size };
  }
  const all = listsAll(snapshots, servers);
  const status = opts.status;
  const counts = rowCounts(snapshots, all, status);
  // iterable again from its start (a generator object is not), built as the pieces are written
  const rows = { [Symbol.iterator]: () => rowsOf(snapshots, all, status) };
  switch (checked) {
    case 'json':
      return { pieces: jsonPage(rows, counts, generation, layout, counts.rows - 1), size: counts.rows };
    case 'csv':
      return { pieces: csvPage(rows), size: counts.rows };
    case 'html':
      return { pieces: htmlPage(rows, counts, generation), size: counts.rows };
  }
}
