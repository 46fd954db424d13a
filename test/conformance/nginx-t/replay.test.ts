/**
 * Replays the recorded `nginx -t` verdicts against our parser, once per nginx series:
 * `verdicts-1.22.json` (Debian nginx 1.22.1 + its stream module) with `nginx: '1.22'` and
 * `verdicts-1.30.json` (nginx 1.30.4, stock build) with `nginx: '1.30'`, both recorded by
 * record.ts. For every case of the corpus: same accept/reject verdict, same first message, same
 * file and line, same `[warn]` lines. Runs without nginx.
 */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CORPUS, PARSER_GAPS, VERSION_DIFFERENCES } from './corpus';
import { compare, ourVerdict, VERDICT_SERIES, type Verdict } from './verdict';

const recordedFor = (series: string) =>
  JSON.parse(readFileSync(new URL(`./verdicts-${series}.json`, import.meta.url), 'utf8')) as { nginx: string; cases: Verdict[] };

for (const series of VERDICT_SERIES) {
  const recorded = recordedFor(series);

  describe(`nginx -t differential corpus (recorded from ${recorded.nginx}, parsed with nginx: '${series}')`, () => {
    it('was recorded from that series, has a verdict for every corpus case, and no stale ones', () => {
      expect(recorded.nginx.startsWith(`nginx/${series}.`)).toBe(true);
      expect(recorded.cases.map((c) => c.id)).toEqual(CORPUS.filter((c) => c.unbuilt?.series !== series).map((c) => c.id));
      expect(CORPUS.length).toBeGreaterThanOrEqual(150);
    });

    it('covers both verdicts and warnings', () => {
      expect(recorded.cases.filter((c) => c.ok).length).toBeGreaterThan(50);
      expect(recorded.cases.filter((c) => !c.ok).length).toBeGreaterThan(50);
      expect(recorded.cases.some((c) => c.warnings.some((w) => w.reason === 'load balancing method redefined'))).toBe(true);
    });

    const byId = new Map(recorded.cases.map((c) => [c.id, c]));
    it.each(CORPUS.filter((c) => c.unbuilt?.series !== series).map((c) => [c.id, c] as const))('%s', (id, c) => {
      const nginx = byId.get(id);
      expect(nginx, `no recorded verdict for ${id}`).toBeDefined();
      const gap = PARSER_GAPS[id]?.series === series ? PARSER_GAPS[id]!.diff : [];
      expect(compare(nginx!, ourVerdict(c, series))).toEqual(gap);
    });
  });
}

describe('nginx -t: where 1.22 and 1.30 differ', () => {
  const [old, now] = VERDICT_SERIES.map((s) => new Map(recordedFor(s).cases.map((c) => [c.id, c])));
  it('the cases whose verdicts differ are exactly VERSION_DIFFERENCES', () => {
    const same = (a: Verdict | undefined, b: Verdict | undefined) => JSON.stringify(a) === JSON.stringify(b);
    const differing = CORPUS.filter((c) => c.unbuilt === undefined && !same(old!.get(c.id), now!.get(c.id))).map((c) => c.id);
    expect(differing.sort()).toEqual(Object.keys(VERSION_DIFFERENCES).sort());
  });
  it('only the cases marked unbuilt for a series lack its verdict', () => {
    for (const series of VERDICT_SERIES) {
      const ids = new Set(recordedFor(series).cases.map((c) => c.id));
      expect(CORPUS.filter((c) => !ids.has(c.id)).map((c) => c.id)).toEqual(CORPUS.filter((c) => c.unbuilt?.series === series).map((c) => c.id));
    }
  });
});
