/**
 * The metric families of every server, as data: name, type, HELP, labels and how a server's
 * snapshot gives its samples. The Prometheus text (prometheus.ts) and the prom-client collector
 * (prom-client.ts) both walk this one table, so they print the same series.
 *
 * No nginx source: nginx has no metrics of its own; the values are its peer fields
 * (`ngx_http_upstream_rr_peer_t`: conns, weight, effective_weight, fails, max_fails,
 * fail_timeout, max_conns) and the check module's rise/fall counts, as `snapshot()` reports them.
 * Labels are stable: `upstream` (the balancer's name) and `server` (the server's id, its address
 * unless given) on every sample, and no label whose value changes with the state: the state is one
 * 0/1 sample per possible state (`state` label: six series per server, whatever happens), the check
 * results one counter per result. An address lives in the `server_info` family only.
 */

import { InvalidOptionError, show } from '../errors';
import type { ServerState } from '../server';
import type { StatusServer, StatusSnapshot } from './rows';

/** The default prefix of every metric name. */
export const DEFAULT_METRIC_PREFIX = 'upstream_balancer_';

/** A sample's labels after `upstream` and `server`, as name/value pairs. */
export type ExtraLabels = readonly (readonly [string, string])[];

/** One metric family over the servers. */
export interface MetricFamily {
  /** The name after the prefix. */
  readonly name: string;
  readonly type: 'gauge' | 'counter';
  readonly help: string;
  /** Label names after `upstream` and `server` (those a sample may carry). */
  readonly labels: readonly string[];
  /** Calls `emit` once per sample of server `s` (not at all when the snapshot lacks the value). */
  samples(s: StatusServer, emit: (value: number, extra?: ExtraLabels) => void): void;
}

/** Every state a server can be in, in the order of its `server_state` samples. */
export const SERVER_STATES: readonly ServerState[] = ['up', 'down', 'draining', 'unavail', 'checking', 'unhealthy'];

const STATE_LABELS: readonly ExtraLabels[] = SERVER_STATES.map((s) => [['state', s]] as const);
const PASSED: ExtraLabels = [['result', 'passed']];
const FAILED: ExtraLabels = [['result', 'failed']];

/** A family whose one sample is a number field of the snapshot, when present. */
function field(name: string, type: 'gauge' | 'counter', help: string, read: (s: StatusServer) => number | undefined): MetricFamily {
  return {
    name,
    type,
    help,
    labels: [],
    samples(s, emit) {
      const value = read(s);
      if (typeof value === 'number') emit(value);
    },
  };
}

/**
 * The session id and route of a server when its snapshot has them (sticky sessions, issue 20),
 * read without depending on their declaration.
 */
function stickyLabels(s: StatusServer): ExtraLabels {
  const { sid, route } = s as { readonly sid?: unknown; readonly route?: unknown };
  const out: (readonly [string, string])[] = [['address', s.address]];
  if (typeof sid === 'string' && sid.length > 0) out.push(['sid', sid]);
  if (typeof route === 'string' && route.length > 0) out.push(['route', route]);
  return out;
}

/** The families, in the order they are printed. */
export const SERVER_FAMILIES: readonly MetricFamily[] = [
  {
    name: 'server_info',
    type: 'gauge',
    help: 'Server address, and its sticky session id and route when it has them; always 1',
    labels: ['address', 'sid', 'route'],
    samples: (s, emit) => emit(1, stickyLabels(s)),
  },
  {
    name: 'server_state',
    type: 'gauge',
    help: 'Server state: 1 for the current one of up, down, draining, unavail, checking, unhealthy; 0 for the others',
    labels: ['state'],
    samples(s, emit) {
      for (let i = 0; i < SERVER_STATES.length; i++) emit(s.state === SERVER_STATES[i] ? 1 : 0, STATE_LABELS[i]);
    },
  },
  field('server_backup', 'gauge', 'Backup server: 1 for a backup, 0 for a primary', (s) => (s.backup === true ? 1 : 0)),
  field('server_conns', 'gauge', 'Connections handed out and not yet released (nginx conns)', (s) => s.conns),
  field('server_weight', 'gauge', 'Configured weight', (s) => s.weight),
  field(
    'server_effective_weight',
    'gauge',
    "nginx's effective_weight: lowered by weight/max_fails at each failure, raised by 1 per selection round until it is the weight again",
    (s) => s.effectiveWeight,
  ),
  field(
    'server_fails',
    'gauge',
    "nginx's fails: passive failures counted; cleared only by a success after a selection made once fail_timeout had passed, never by time alone",
    (s) => s.fails,
  ),
  field('server_max_fails', 'gauge', 'max_fails: fails that make the server unavailable for fail_timeout (0: never)', (s) => s.maxFails),
  field('server_fail_timeout_seconds', 'gauge', 'fail_timeout in seconds', (s) => (typeof s.failTimeout === 'number' ? s.failTimeout / 1000 : undefined)),
  field('server_max_conns', 'gauge', 'max_conns: the most connections at once (0: no limit)', (s) => s.maxConns),
  field('server_selections_total', 'counter', 'Selections of this server', (s) => s.selected),
  field('server_failures_total', 'counter', 'Failures reported for this server (attempt.fail, release with failed)', (s) => s.failures),
  field('server_check_up', 'gauge', 'Active check verdict: 1 up, 0 down (servers with active checks only)', (s) => (s.check === null ? undefined : s.check.down ? 0 : 1)),
  field('server_check_rise', 'gauge', 'Consecutive passed active checks (0 after a failed one)', (s) => s.check?.rise),
  field('server_check_fall', 'gauge', 'Consecutive failed active checks (0 after a passed one)', (s) => s.check?.fall),
  {
    name: 'server_checks_total',
    type: 'counter',
    help: 'Active check results of this server, by result (passed, failed)',
    labels: ['result'],
    samples(s, emit) {
      const c = s.check;
      if (c === null || typeof c.passed !== 'number' || typeof c.failed !== 'number') return;
      emit(c.passed, PASSED);
      emit(c.failed, FAILED);
    },
  },
];

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** `prefix` (default `DEFAULT_METRIC_PREFIX`): empty or the start of a valid metric name, or `InvalidOptionError`. */
export function checkedPrefix(prefix: unknown): string {
  if (prefix === undefined) return DEFAULT_METRIC_PREFIX;
  if (typeof prefix !== 'string' || (prefix !== '' && !METRIC_NAME.test(prefix))) {
    throw new InvalidOptionError('prefix', `Expected \`prefix\` to be empty or to match ${METRIC_NAME.source}, got ${show(prefix)}`, prefix);
  }
  return prefix;
}

/** The `server` label of a server: its id, or its address when the snapshot has no id. */
export const serverLabel = (s: StatusServer): string => (typeof s.id === 'string' ? s.id : s.address);

/**
 * Throws when two samples of a family would carry the same labels: two balancers of one name
 * (`'upstream'` unless named), or one server label twice in a balancer. Prometheus rejects such a
 * scrape; the error says which.
 */
export function checkUniqueSeries(snapshots: readonly StatusSnapshot[]): void {
  const unique = new UniqueSeries();
  for (let i = 0; i < snapshots.length; i++) {
    const b = snapshots[i]!;
    unique.balancer(b.name, i);
    unique.servers(b.servers, 0);
  }
}

/**
 * `checkUniqueSeries` a slice at a time, for a reader that gets a balancer's servers over several
 * turns (the status handler): `balancer(name, i)` when balancer `i` starts, then `servers(slice,
 * from)` for each slice of its servers (`from`: the first one's position). Same errors.
 */
export class UniqueSeries {
  readonly #names = new Map<string, number>();
  #ids = new Set<string>();
  #name = '';

  balancer(name: string, i: number): void {
    const first = this.#names.get(name);
    if (first !== undefined) {
      throw new InvalidOptionError(
        `balancers[${i}].name`,
        `Expected every balancer to have its own name for metrics: balancers ${first} and ${i} are both ${show(name)}`,
        name,
        'ERR_UPSTREAM_DUPLICATE_ID',
      );
    }
    this.#names.set(name, i);
    this.#ids = new Set();
    this.#name = name;
  }

  servers(slice: readonly StatusServer[], from: number): void {
    const i = this.#names.get(this.#name)!;
    for (let k = 0; k < slice.length; k++) {
      const id = serverLabel(slice[k]!);
      if (this.#ids.has(id)) {
        throw new InvalidOptionError(`balancers[${i}].servers[${from + k}].id`, `Expected server ids to be unique in balancer ${show(this.#name)}, got ${show(id)} twice`, id, 'ERR_UPSTREAM_DUPLICATE_ID');
      }
      this.#ids.add(id);
    }
  }
}
