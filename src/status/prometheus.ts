/**
 * The Prometheus text exposition format (0.0.4) of every server of every balancer, with or
 * without active checks: the families of metrics.ts, in pieces of `ROWS_PER_PIECE` servers so that
 * the handler can stream a large page (each piece labels and renders its own servers only). Byte
 * for byte what prom-client's `register.metrics()` prints for the same families (prom-client.ts):
 * a blank line between families, label values escaped (`\\`, `"`, line feed), numbers as
 * JavaScript prints them.
 *
 * No nginx source (nginx has no such page; Tengine's `prometheus` format is the model of the
 * idea, not of the families: docs/metrics.md says why they differ).
 */

import { checkUniqueSeries, type ExtraLabels, SERVER_FAMILIES, serverLabel } from './metrics';
import { ROWS_PER_PIECE } from './pages';
import type { StatusServer, StatusSnapshot } from './rows';

/** A label value escaped for the text format. */
export const labelValue = (s: string): string =>
  /[\\"\n]/.test(s) ? s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : s;

/**
 * The page in pieces. `prefix` is checked by the caller (`checkedPrefix`); throws
 * `InvalidOptionError` (`ERR_UPSTREAM_DUPLICATE_ID`) at once when two series would have the same
 * labels (not checked again when `seriesChecked`: the caller did, `UniqueSeries`).
 */
export function prometheusPieces(snapshots: readonly StatusSnapshot[], prefix: string, seriesChecked = false): Iterable<string> {
  if (!seriesChecked) checkUniqueSeries(snapshots);
  return pieces(snapshots, prefix);
}

function* pieces(snapshots: readonly StatusSnapshot[], prefix: string): Generator<string> {
  // The servers in page order and their labels, filled as the first family's pieces reach them
  // (a piece costs its own servers), then read by the other families.
  const servers: StatusServer[] = [];
  const labels: string[] = [];
  let total = 0;
  for (const b of snapshots) total += b.servers.length;
  let balancer = 0;
  let next = 0;
  let upstream = '';
  const fill = (to: number): void => {
    while (servers.length < to) {
      const b = snapshots[balancer]!;
      if (next >= b.servers.length) {
        balancer++;
        next = 0;
        continue;
      }
      if (next === 0) upstream = labelValue(b.name);
      const s = b.servers[next++]!;
      servers.push(s);
      labels.push(`upstream="${upstream}",server="${labelValue(serverLabel(s))}"`);
    }
  };
  for (let f = 0; f < SERVER_FAMILIES.length; f++) {
    const family = SERVER_FAMILIES[f]!;
    const name = prefix + family.name;
    yield `${f === 0 ? '' : '\n'}# HELP ${name} ${family.help}\n# TYPE ${name} ${family.type}\n`;
    // One emitter per family: it adds to `lines` the sample of the server whose labels are `current`.
    // A piece is joined from its lines (one flat string): a page of many pieces then joins in linear
    // time, where pieces grown by `+=` (deep cons strings) made a 4,000-server page 9x slower than 1,000.
    let lines: string[] = [];
    let current = '';
    const emit = (value: number, extra?: ExtraLabels): void => {
      let text = current;
      if (extra !== undefined) for (const [k, v] of extra) text += `,${k}="${labelValue(v)}"`;
      lines.push(`${name}{${text}} ${value}\n`);
    };
    for (let from = 0; from < total; from += ROWS_PER_PIECE) {
      lines = [];
      const to = Math.min(total, from + ROWS_PER_PIECE);
      fill(to);
      for (let i = from; i < to; i++) {
        current = labels[i]!;
        family.samples(servers[i]!, emit);
      }
      yield lines.join('');
    }
  }
}
