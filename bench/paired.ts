/**
 * The paired mode of the benches (`--pair [K]` of isolated.ts and least-conn.ts): a subject and its
 * anchors in one process, timed in alternating chunks of CPU time, so that the machine's change of
 * pace between processes (this one runs a process at one of two speeds) stays out of their ratio.
 */

/** K of `--pair [K]` (default 3), or null when `--pair` is not given. */
export function pairedChildren(argv: readonly string[]): number | null {
  const at = argv.indexOf('--pair');
  if (at < 0) return null;
  const k = Number(argv[at + 1]);
  return k > 0 ? k : 3;
}

/** The median of `xs` (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const v = [...xs].sort((x, y) => x - y);
  return v.length % 2 === 1 ? v[v.length >> 1]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
}

/** ns of CPU time per operation over `calls` calls of `f`, each making 64 operations. */
export function cpuChunk(f: () => void, calls: number): number {
  const before = process.cpuUsage();
  for (let j = 0; j < calls; j++) f();
  const used = process.cpuUsage(before);
  return ((used.user + used.system) * 1000) / (calls * 64);
}
