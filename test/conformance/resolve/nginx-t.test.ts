/**
 * The parser against `nginx -t` on the `resolve` cases (`nginx-t-cases.ts`, recorded by
 * `nginx-t.ts` from nginx 1.30.4 and 1.22.1): with `nginx: '1.30'` and `'1.22'` it must accept
 * what that nginx accepts and reject the rest with the same first message and line.
 */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/nginx';
import { ConfigError } from '../../../src/errors';
import type { NginxTarget } from '../../../src/options';
import { CASES } from './nginx-t-cases';
import type { TVerdict } from './nginx-t';

const recorded = JSON.parse(readFileSync('test/vectors/resolve/nginx-t.json', 'utf8')) as Record<string, Record<string, TVerdict>>;

function ours(text: string, nginx: NginxTarget): TVerdict {
  try {
    parseConfig(`${text}\n`, { filename: 'case.conf', nginx, checkModule: false, includes: 'off' });
    return { ok: true, reason: null, line: null };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    // nginx prints no location when the message names it itself (`... in case.conf:1 to be in shared memory`)
    return { ok: false, reason: e.reason, line: / in case\.conf:\d+ /.test(e.reason) ? null : e.line };
  }
}

describe('nginx -t on resolve, service=, resolver and resolver_timeout', () => {
  it('has a verdict of both versions for every case', () => {
    expect(Object.keys(recorded)).toEqual(CASES.map((c) => c.id));
    for (const c of CASES) expect(Object.keys(recorded[c.id]!).sort()).toEqual(['1.22.1', '1.30.4']);
  });
  for (const c of CASES) {
    it(`${c.id}: the verdicts of 1.30.4 and 1.22.1`, () => {
      expect(ours(c.text, '1.30')).toEqual(recorded[c.id]!['1.30.4']);
      expect(ours(c.text, '1.22')).toEqual(recorded[c.id]!['1.22.1']);
    });
  }
});
