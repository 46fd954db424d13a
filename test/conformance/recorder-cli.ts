/**
 * The command line every scenario recorder takes (`recorder.ts`, `http/record.ts`,
 * `sticky/record.ts`): `[--check] [--nginx 1.22|1.30|all] [--jobs N] [--list] [scenario...]`.
 * Reads it into what to record, or prints the usage error or the scenario list and gives the exit
 * status. Pure but for that printing; O(arguments * scenarios).
 */

import { takeNginxFlag, type Series } from './nginx-process';

export interface RecorderArgs<S> {
  /** `--check`: compare with the committed vectors instead of writing them. */
  check: boolean;
  /** `--jobs N`: recordings at once. */
  jobs: number;
  /** The scenarios named (none: all). */
  names: string[];
  /** The scenarios to record, in their list's order. */
  selected: S[];
  /** The nginx series to record with (`--nginx`). */
  series: Series[];
}

export interface RecorderCli<S> {
  usage: string;
  scenarios: readonly S[];
  defaultJobs: number;
  /** One line of `--list`. */
  listLine(scenario: S): string;
  /** Reads (and removes) `--nginx` from the arguments; throws an Error saying what is wrong. Default: `takeNginxFlag`. */
  takeSeries?(argv: string[]): Series[];
}

/** The arguments read, or the exit status when there is nothing to record (0 after `--list`, 2 on a usage error). */
export function parseRecorderArgs<S extends { name: string }>(argv: readonly string[], cli: RecorderCli<S>): RecorderArgs<S> | number {
  const args = [...argv];
  let series: Series[];
  try {
    series = (cli.takeSeries ?? takeNginxFlag)(args);
  } catch (e) {
    console.error(`${(e as Error).message}\n${cli.usage}`);
    return 2;
  }
  let check = false;
  let jobs = cli.defaultJobs;
  const names: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--check') check = true;
    else if (a === '--jobs') jobs = Number(args[++i]);
    else if (a === '--list') {
      for (const s of cli.scenarios) console.log(cli.listLine(s));
      return 0;
    } else if (a.startsWith('-')) {
      console.error(`unknown option ${a}\n${cli.usage}`);
      return 2;
    } else names.push(a);
  }
  if (!Number.isInteger(jobs) || jobs < 1) {
    console.error('--jobs expects a positive integer');
    return 2;
  }
  const unknown = names.filter((n) => !cli.scenarios.some((s) => s.name === n));
  if (unknown.length > 0) {
    console.error(`unknown scenario(s): ${unknown.join(', ')} (see --list)`);
    return 2;
  }
  const selected = names.length > 0 ? cli.scenarios.filter((s) => names.includes(s.name)) : [...cli.scenarios];
  return { check, jobs, names, selected, series };
}
