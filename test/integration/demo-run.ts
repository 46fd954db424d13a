/**
 * Runs `npm run demo -- ARGS` (docs/examples/demo.ts under tsx) in a child process for the demo
 * tests, and reads its timeline: the child's threads, processes, servers and sockets end with it.
 */
import { execFile } from 'node:child_process';

export function runDemo(args: string[], timeout: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'docs/examples/demo.ts', ...args], { timeout }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** The timeline's lines without their time stamps, whitespace collapsed. */
export const timelineLines = (stdout: string): string[] =>
  stdout.split('\n').map((l) => l.replace(/^\s*\d+\.\d{3}\s+/, '').replace(/\s+/g, ' ').trim());
