/**
 * A prom-client collector: the families of metrics.ts registered on a caller's prom-client
 * Registry as Gauges and Counters whose `collect()` reads the balancers at scrape time.
 *
 * The library never imports prom-client (an optional peer dependency): the caller passes the
 * module, whose `Gauge` and `Counter` classes it uses, and optionally the Registry (default the
 * module's global `register`). One snapshot per balancer per scrape: the families of one
 * `register.metrics()` are collected in one turn, and share the snapshots taken by the first.
 * No nginx source (see metrics.ts).
 */

import { InvalidOptionError, show } from '../errors';
import type { SnapshotSource } from './handler';
import { checkedPrefix, checkUniqueSeries, type ExtraLabels, type MetricFamily, SERVER_FAMILIES, serverLabel } from './metrics';
import type { StatusSnapshot } from './rows';

/** The part of a prom-client Registry the collector uses. */
export interface PromRegistry {
  registerMetric(metric: never): void;
  getSingleMetric(name: string): unknown;
  removeSingleMetric(name: string): void;
}

/** The part of a prom-client Gauge or Counter the collector uses. */
export interface PromMetric {
  reset(): void;
}

/** What the collector gives a Gauge's or a Counter's constructor. */
export interface PromMetricConfig {
  name: string;
  help: string;
  labelNames: readonly string[];
  registers: never[];
  collect: () => void;
}

/** The part of the prom-client module the collector uses (`import * as client from 'prom-client'`). */
export interface PromClient {
  Gauge: new (config: PromMetricConfig) => PromMetric & { set(labels: Record<string, string>, value: number): void };
  Counter: new (config: PromMetricConfig) => PromMetric & { inc(labels: Record<string, string>, value: number): void };
  register: PromRegistry;
}

/** Options of `collectBalancerMetrics`. */
export interface BalancerMetricsOptions {
  /** The Registry to register on; default the module's global `register`. */
  registry?: PromRegistry;
  /** Prefix of every metric name; default `'upstream_balancer_'`. */
  prefix?: string;
}

/** What `collectBalancerMetrics` registered. */
export interface BalancerMetrics {
  /** The metric names, in registration order. */
  readonly names: readonly string[];
  /** Removes the metrics from the registry (idempotent). */
  unregister(): void;
}

const isFunction = (v: unknown): v is (...args: never[]) => unknown => typeof v === 'function';

/**
 * Registers the server metrics of `balancers` (a list, or a function giving the list at each
 * scrape) on a prom-client registry. Throws `InvalidOptionError` for a bad argument or when a
 * metric of one of the names is registered already (nothing is registered then); a scrape rejects
 * with `InvalidOptionError` (`ERR_UPSTREAM_DUPLICATE_ID`) when two balancers share a name.
 *
 * @example
 * import * as client from 'prom-client';
 * import { collectBalancerMetrics } from 'upstream-balancer/status';
 * const registry = new client.Registry();
 * collectBalancerMetrics(client, [smtpBalancer], { registry });
 * // await registry.metrics(): upstream_balancer_server_state{upstream="smtp",server="10.0.0.1:25",state="up"} 1 ...
 */
export function collectBalancerMetrics(
  client: PromClient,
  balancers: readonly SnapshotSource[] | (() => readonly SnapshotSource[]),
  options: BalancerMetricsOptions = {},
): BalancerMetrics {
  if (typeof client !== 'object' || client === null || !isFunction(client.Gauge) || !isFunction(client.Counter)) {
    throw new InvalidOptionError('client', `Expected \`client\` to be the prom-client module (with Gauge and Counter), got ${show(client)}`, client);
  }
  if (!Array.isArray(balancers) && typeof balancers !== 'function') {
    throw new InvalidOptionError('balancers', `Expected \`balancers\` to be an array or a function, got ${show(balancers)}`, balancers);
  }
  const prefix = checkedPrefix(options.prefix);
  const registry = options.registry ?? client.register;
  if (typeof registry !== 'object' || registry === null || !isFunction(registry.registerMetric) || !isFunction(registry.getSingleMetric)) {
    throw new InvalidOptionError('registry', `Expected \`registry\` to be a prom-client Registry, got ${show(registry)}`, registry);
  }
  const names = SERVER_FAMILIES.map((f) => prefix + f.name);
  for (const name of names) {
    if (registry.getSingleMetric(name) !== undefined) {
      throw new InvalidOptionError('prefix', `A metric named ${show(name)} is registered already: choose another \`prefix\` or registry`, name);
    }
  }

  const snapshots = scrapeSnapshots(balancers);
  const metrics: PromMetric[] = SERVER_FAMILIES.map((family, f) => {
    const base = { name: names[f]!, help: family.help, labelNames: ['upstream', 'server', ...family.labels], registers: [] };
    if (family.type === 'gauge') {
      const gauge = new client.Gauge({ ...base, collect: () => fill(gauge, family, snapshots(), (labels, value) => gauge.set(labels, value)) });
      return gauge;
    }
    const counter = new client.Counter({ ...base, collect: () => fill(counter, family, snapshots(), (labels, value) => counter.inc(labels, value)) });
    return counter;
  });
  for (const metric of metrics) registry.registerMetric(metric as never);
  let registered = true;
  return {
    names,
    unregister() {
      if (!registered) return;
      registered = false;
      for (let f = 0; f < names.length; f++) if (registry.getSingleMetric(names[f]!) === metrics[f]) registry.removeSingleMetric(names[f]!);
    },
  };
}

/**
 * A metric's `collect`: forget the last scrape's series (a removed server's go with it), then one
 * `put` per sample (a Counter's `inc` after `reset` sets its value).
 */
function fill(metric: PromMetric, family: MetricFamily, snapshots: readonly StatusSnapshot[], put: (labels: Record<string, string>, value: number) => void): void {
  metric.reset();
  for (const b of snapshots) {
    for (const s of b.servers) {
      family.samples(s, (value: number, extra?: ExtraLabels) => {
        const labels: Record<string, string> = { upstream: b.name, server: serverLabel(s) };
        if (extra !== undefined) for (const [k, v] of extra) labels[k] = v;
        put(labels, value);
      });
    }
  }
}

/** The snapshots of the current scrape: taken once, then shared until the turn ends. */
function scrapeSnapshots(balancers: readonly SnapshotSource[] | (() => readonly SnapshotSource[])): () => readonly StatusSnapshot[] {
  let current: StatusSnapshot[] | null = null;
  return () => {
    if (current !== null) return current;
    const sources = typeof balancers === 'function' ? balancers() : balancers;
    const taken = sources.map((source) => source.snapshot());
    checkUniqueSeries(taken);
    current = taken;
    queueMicrotask(() => {
      current = null;
    });
    return taken;
  };
}
