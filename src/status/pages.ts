/**
 * The json, csv and html pages of nginx_upstream_check_module, byte for byte, and Tengine 3.2.0's
 * json, written in pieces of `ROWS_PER_PIECE` rows so that the handler can stream a large page: each
 * piece builds its own rows (rows.ts `rowsOf`), the headers take their counts from `rowCounts`.
 *
 * Follows the module's `ngx_http_upstream_check_status_{json,csv,html}_format` (commit e538034);
 * the bytes are recorded from the real module (test/vectors/check/, docs/health-checks.md). The
 * module's JSON puts a comma after every row but the last checked server's, so a filter that drops
 * that server leaves a trailing comma: reproduced, since byte equality is the point; `layout:
 * 'tengine'` gives Tengine's JSON (with `up` and `down` counts, and always valid). Differences,
 * all for safety: strings are escaped for their format (JSON escapes, HTML entities, CSV quoting of
 * a field holding `,` `"` or a line break); with names nginx accepts these change nothing. A CSV
 * cell that a spreadsheet would run as a formula (first character `=`, `+`, `-`, `@`, tab or
 * carriage return) gets a leading `'`.
 */

import type { Row, StatusLayout } from './rows';

/** Rows rendered per piece: the handler yields to the event loop between pieces. */
export const ROWS_PER_PIECE = 1000;

/**
 * `line` of every row (`i`: its position among the rows), `ROWS_PER_PIECE` rows to a piece; the
 * rows are taken from `rows` as each piece is written, so a piece costs its own rows only.
 */
export function* sliced<T>(rows: Iterable<T>, line: (r: T, i: number) => string): Generator<string> {
  let piece = '';
  let i = 0;
  for (const r of rows) {
    piece += line(r, i++);
    if (i % ROWS_PER_PIECE === 0) {
      yield piece;
      piece = '';
    }
  }
  if (i % ROWS_PER_PIECE !== 0) yield piece;
}

/** What the page headers say of the rows shown: how many, how many up. */
export interface ShownRows {
  readonly shown: number;
  readonly up: number;
}

const status = (r: Row): string => (r.down ? 'down' : 'up');

/** The JSON page in the given layout; `lastIndex` is the index of the last row before filtering. */
export function jsonPage(rows: Iterable<Row>, counts: ShownRows, generation: number, layout: StatusLayout, lastIndex: number): Iterable<string> {
  return layout === 'tengine' ? tengineJson(rows, counts, generation) : moduleJson(rows, counts, generation, lastIndex);
}

/**
 * The module's JSON: `total` counts the rows shown; every row but the one of the last checked
 * server (`lastIndex`, filtered or not) ends with a comma, as the module writes it.
 */
function* moduleJson(rows: Iterable<Row>, counts: ShownRows, generation: number, lastIndex: number): Generator<string> {
  yield `{"servers": {\n  "total": ${counts.shown},\n  "generation": ${generation},\n  "server": [\n`;
  yield* sliced(rows, (r) => jsonRow(r, r.index === lastIndex ? '\n' : ',\n'));
  yield '  ]\n}}\n';
}

/** Tengine 3.2.0's JSON: `up` and `down` counts, and a comma between rows only (valid under any filter). */
function* tengineJson(rows: Iterable<Row>, counts: ShownRows, generation: number): Generator<string> {
  const { shown, up } = counts;
  yield `{"servers": {\n  "total": ${shown},\n  "up": ${up},\n  "down": ${shown - up},\n  "generation": ${generation},\n  "server": [\n`;
  yield* sliced(rows, (r, i) => jsonRow(r, i < shown - 1 ? ',\n' : '\n'));
  yield '  ]\n}}\n';
}

/** One row of the JSON page and what follows it (`,\n` or `\n`), as one template: one string per row. */
const jsonRow = (r: Row, end: string): string =>
  `    {"index": ${r.index}, "upstream": ${JSON.stringify(r.upstream)}, "name": ${JSON.stringify(r.name)}, "status": "${status(r)}", "rise": ${r.rise}, "fall": ${r.fall}, "type": ${JSON.stringify(r.type)}, "port": ${r.port}}${end}`;

/** The module's CSV: one line per row, no header. */
export function csvPage(rows: Iterable<Row>): Iterable<string> {
  return sliced(rows, (r) => `${r.index},${csv(r.upstream)},${csv(r.name)},${status(r)},${r.rise},${r.fall},${csv(r.type)},${r.port}\n`);
}

function csv(text: string): string {
  const field = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text; // not a formula to a spreadsheet
  return /[",\r\n]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field;
}

const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]!);

/** The module's XHTML page; `<h2>` counts the rows shown, a down row is red. */
export function* htmlPage(rows: Iterable<Row>, counts: ShownRows, generation: number): Generator<string> {
  // The module's DOCTYPE lacks the closing quote of the public identifier: kept for byte compatibility.
  yield '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN\n' +
    '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n' +
    '<html xmlns="http://www.w3.org/1999/xhtml">\n' +
    '<head>\n' +
    '  <title>Nginx http upstream check status</title>\n' +
    '</head>\n' +
    '<body>\n' +
    '<h1>Nginx http upstream check status</h1>\n' +
    `<h2>Check upstream server number: ${counts.shown}, generation: ${generation}</h2>\n` +
    '<table style="background-color:white" cellspacing="0"        cellpadding="3" border="1">\n' +
    '  <tr bgcolor="#C0C0C0">\n' +
    '    <th>Index</th>\n' +
    '    <th>Upstream</th>\n' +
    '    <th>Name</th>\n' +
    '    <th>Status</th>\n' +
    '    <th>Rise counts</th>\n' +
    '    <th>Fall counts</th>\n' +
    '    <th>Check type</th>\n' +
    '    <th>Check port</th>\n' +
    '  </tr>\n';
  yield* sliced(
    rows,
    (r) =>
      `  <tr${r.down ? ' bgcolor="#FF0000"' : ''}>\n` +
      `    <td>${r.index}</td>\n    <td>${escapeHtml(r.upstream)}</td>\n    <td>${escapeHtml(r.name)}</td>\n` +
      `    <td>${status(r)}</td>\n    <td>${r.rise}</td>\n    <td>${r.fall}</td>\n` +
      `    <td>${escapeHtml(r.type)}</td>\n    <td>${r.port}</td>\n  </tr>\n`,
  );
  yield '</table>\n</body>\n</html>\n';
}
