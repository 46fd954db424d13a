/**
 * The demo's simulation (`npm run demo -- --simulate`) prints nginx's exact timeline for the guide's
 * failover config (docs/nginx-semantics.md §4.3) and the 1:4 split; the demo's command line fails
 * cleanly (exit 1, one message) on a bad option or a config nginx rejects.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSimulation } from '../../docs/examples/simulate';

function simulate(): string[] {
  const lines: string[] = [];
  runSimulation({ failover: 'docs/examples/failover.conf', weighted: 'docs/examples/weighted.conf', upstream: undefined, write: (l) => lines.push(l) });
  return lines.map((l) => l.replace(/\s+/g, ' ').trim());
}

function demo(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'docs/examples/demo.ts', ...args], { timeout: 15_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('demo --simulate', () => {
  it('failover.conf: three failures, probes at 798 and 802, back on the probe at 806 (nginx §4.3)', () => {
    const lines = simulate();
    const at = (prefix: string): number => lines.findIndex((l) => l.startsWith(prefix));
    expect(lines).toContain('793.717 #1 A refused (fails 1) -> B');
    expect(lines).toContain('793.917 #2 A refused (fails 2) -> B');
    expect(lines).toContain('794.117 #3 A refused (fails 3) -> B');
    expect(lines[at('794.117 #3') + 1]).toBe('A up -> unavail (failure)');
    expect(lines).toContain('794.317-794.917 #4-#7 B (4 sessions)');
    expect(lines).toContain('795.117-797.917 #8-#22 B (15 sessions)');
    expect(lines).toContain('798.117 #23 A refused (fails 4) -> B');
    expect(lines).toContain('802.117 #43 A refused (fails 5) -> B');
    expect(lines).toContain('803.317-804.917 #49-#57 B (9 sessions)');
    expect(lines).toContain('806.117 #63 A');
    expect(lines.slice(at('806.117 #63') + 1, at('806.117 #63') + 3)).toEqual(['A unavail -> up (recovery)', 'tier backup -> primary']);
    expect(lines).toContain('806.317-807.717 #64-#71 A (8 sessions)');
    // The file's checks (interval 5 s, fall 5) see two failures and never take A down.
    expect(lines).toContain('795.000 check A FAIL (fall 1), B ok (rise 4)');
    expect(lines).toContain('800.000 check A FAIL (fall 2), B ok (rise 5)');
    expect(lines.some((l) => l.includes('unhealthy'))).toBe(false);
  });

  it('weighted.conf: B B A B B twice, B down for maintenance, then the cycle again', () => {
    const lines = simulate();
    expect(lines).toContain('10 sessions: B B A B B B B A B B (A 2/10, B 8/10: the weight-4 server gets 80%)');
    expect(lines).toContain('update(B, down): A A A A A B up -> down (admin)');
    expect(lines).toContain('update(B, up): B B A B B B B A B B B down -> up (admin)');
  });
});

describe('demo command line', () => {
  it('exits 1 with one message on a bad option, and on the guide\'s config as printed', async () => {
    const bad = await demo(['--speed', 'fast']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^demo: --speed expects a number from 1 to 100, got "fast"/);
    const dir = mkdtempSync(join(tmpdir(), 'ub-demo-'));
    try {
      const file = join(dir, 'guide.conf');
      writeFileSync(file, 'events {\nworker_connections 1024;\nupstream u {\nserver 10.0.0.1:10025 max_fails=3 fail_timeout=3s;\n');
      const guide = await demo(['--simulate', '--config', file]);
      expect(guide.code).toBe(1);
      expect(guide.stderr).toBe(`demo: error: "upstream" directive is not allowed here in ${file}:3\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
