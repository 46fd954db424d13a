/**
 * The Prometheus text exposition format (0.0.4) of every server of every balancer, with or
 * without active checks: the families of metrics.ts, in pieces of `ROWS_PER_PIECE` servers so that
 * the handler can stream a large page. Byte for byte what prom-client's `register.metrics()` prints
 * for the same families (prom-client.ts): a blank line between families, label values escaped
 * (`\\`, `"`, line feed), numbers as JavaScript prints them.
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
 * `InvalidOptionError` (`ERR_UPSTREAM_DUPLICATE_ID`) at once when two series would have the same labels.
 */
export function prometheusPieces(snapshots: readonly StatusSnapshot[], prefix: string): Iterable<string> {
  checkUniqueSeries(snapshots);
  return pieces(snapshots, prefix);
}

function* pieces(snapshots: readonly StatusSnapshot[], prefix: string): Generator<string> {
  const servers: StatusServer[] = [];
  const labels: string[] = [];
  for (const b of snapshots) {
    const upstream = labelValue(b.name);
    for (const s of b.servers) {
      servers.push(s);
      labels.push(`upstream="${upstream}",server="${labelValue(serverLabel(s))}"`);
    }
  }
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
    for (let from = 0; from < servers.length; from += ROWS_PER_PIECE) {
      lines = [];
      const to = Math.min(servers.length, from + ROWS_PER_PIECE);
      for (let i = from; i < to; i++) {
        current = labels[i]!;
        family.samples(servers[i]!, emit);
      }
      yield lines.join('');
    }
  }
}
