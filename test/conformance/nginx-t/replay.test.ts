/**
 * Replays the recorded `nginx -t` verdicts (verdicts.json, recorded by record.ts from Debian nginx
 * 1.22.1 + stream) against our parser: same accept/reject verdict, same first message, same file
 * and line, same `[warn]` lines, for every case of the corpus. Runs without nginx.
 */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CORPUS } from './corpus';
import { compare, ourVerdict, type Verdict } from './verdict';

const recorded = JSON.parse(readFileSync(new URL('./verdicts.json', import.meta.url), 'utf8')) as { nginx: string; cases: Verdict[] };

describe(`nginx -t differential corpus (recorded from nginx ${recorded.nginx})`, () => {
  it('has a recorded verdict for every corpus case, and no stale ones', () => {
    expect(recorded.cases.map((c) => c.id)).toEqual(CORPUS.map((c) => c.id));
    expect(CORPUS.length).toBeGreaterThanOrEqual(150);
  });

  it('covers both verdicts and warnings', () => {
    expect(recorded.cases.filter((c) => c.ok).length).toBeGreaterThan(50);
    expect(recorded.cases.filter((c) => !c.ok).length).toBeGreaterThan(50);
    expect(recorded.cases.some((c) => c.warnings.some((w) => w.reason === 'load balancing method redefined'))).toBe(true);
  });

  const byId = new Map(recorded.cases.map((c) => [c.id, c]));
  it.each(CORPUS.map((c) => [c.id, c] as const))('%s', (id, c) => {
    const nginx = byId.get(id);
    expect(nginx, `no recorded verdict for ${id}`).toBeDefined();
    expect(compare(nginx!, ourVerdict(c))).toEqual([]);
  });
});
