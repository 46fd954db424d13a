/**
 * One upstream `server` of a conformance scenario (round robin: `rr-scenarios.ts`, the other
 * methods: `methods/scenarios.ts`, sticky sessions: `sticky/scenarios.ts`): its parameters as written in the config, the `server` line the
 * recorders give nginx, and the vector form with nginx's defaults filled in (`VectorServer`, the
 * library's ServerOptions). Defaults as in nginx's `ngx_http_upstream_server`: weight=1
 * max_fails=1 fail_timeout=10s max_conns=0. Pure functions, O(parameters).
 */

import type { VectorServer } from './vector-format';

/** A `server` line's parameters. Fields left out are left out of the config too (nginx defaults apply). */
export interface ScenarioServerParams {
  weight?: number;
  maxFails?: number;
  /** Seconds, as written in `fail_timeout=Ns`. */
  failTimeout?: number;
  maxConns?: number;
  backup?: boolean;
  down?: boolean;
  /** nginx 1.30's `drain` (the sticky scenarios). */
  drain?: boolean;
  /** nginx 1.30's `route=` (the sticky scenarios). */
  route?: string;
  /** Nothing listens on the server's address when the scenario starts: connects are refused. */
  refusing?: boolean;
}

/** `server ADDRESS weight=.. max_fails=.. fail_timeout=..s max_conns=.. route=.. backup down drain;` (only what is set). */
export function serverLine(s: ScenarioServerParams, address: string): string {
  let line = `server ${address}`;
  if (s.weight !== undefined) line += ` weight=${s.weight}`;
  if (s.maxFails !== undefined) line += ` max_fails=${s.maxFails}`;
  if (s.failTimeout !== undefined) line += ` fail_timeout=${s.failTimeout}s`;
  if (s.maxConns !== undefined) line += ` max_conns=${s.maxConns}`;
  if (s.route !== undefined) line += ` route=${s.route}`;
  if (s.backup) line += ' backup';
  if (s.down) line += ' down';
  if (s.drain) line += ' drain';
  return `${line};`;
}

/** The server as a vector records it: every nginx default filled in, `failTimeout` in ms. */
export function vectorServer(s: ScenarioServerParams, id: string, address: string): VectorServer {
  return {
    id,
    address,
    weight: s.weight ?? 1,
    maxFails: s.maxFails ?? 1,
    failTimeout: (s.failTimeout ?? 10) * 1000,
    maxConns: s.maxConns ?? 0,
    backup: s.backup ?? false,
    down: s.down ?? false,
  };
}
