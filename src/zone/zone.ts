/**
 * `createZone`: an upstream whose state lives in shared memory, for balancers in several worker
 * threads (nginx's `zone name size;` in an upstream block, ngx_http_upstream_zone_module.c). The zone
 * is a plain object of SharedArrayBuffers and plain options: post it to a worker (`workerData`,
 * `postMessage`) and open it there with `Balancer.fromZone(zone)`. The thread that creates it is the
 * zone's owner: its balancer runs the active checks for every thread.
 *
 * Sizes are fixed at creation, as nginx's zone size is: `capacity` servers (positions and stable
 * slots), `maxThreads` balancers open at once, `configBytes` for the published server list. A change
 * that does not fit is refused with `ERR_UPSTREAM_ZONE_FULL` before anything changes.
 */

import { threadId } from 'node:worker_threads';
import { InvalidOptionError, UpstreamError, show } from '../errors';
import { type BalancerOptions, type CheckOptions, resolveOptions } from '../options';
import { CONFIG_LENGTH, OWNER_THREAD, ZONE_ID, type ZoneBuffers, allocateBuffers, isZoneBuffers } from './layout';

/** What `createZone` makes: post it to workers as it is. */
export interface UpstreamZone extends ZoneBuffers {
  readonly kind: 'upstream-balancer/zone';
  /** The options every thread's balancer is built with (servers excepted: those are published). */
  readonly options: SharedOptions;
}

/** The options that cross threads: functions stay in the thread that has them (`fromZone`'s `local`). */
export type SharedOptions = Omit<BalancerOptions, 'servers' | 'clock' | 'rng' | 'timers' | 'check'> & {
  check?: Omit<CheckOptions, 'type'> & { type?: string };
};

/** Sizes of a zone. */
export interface ZoneOptions {
  /** Most servers the upstream may have at once (primaries and backups); default max(64, 4 × servers). */
  capacity?: number;
  /** Most balancers open on the zone at once (one per thread, usually); default 64. */
  maxThreads?: number;
  /** Bytes for the published server list; default 512 per server of capacity, at least 64 KiB. */
  configBytes?: number;
}

/** The options a zone's creator gave, functions included, for its own balancers (by zone id). */
const creatorOptions = new Map<number, BalancerOptions>();

const isCount = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0 && v <= max;

/**
 * Creates an upstream zone from balancer options (validated as `new Balancer(options)` validates
 * them). The servers are published at once; open the zone with `Balancer.fromZone(zone)`.
 *
 * @example
 * const zone = createZone({ name: 'smtp', servers: [{ address: '10.0.0.1:25', weight: 1 }, { address: '10.0.0.2:25', weight: 4 }] });
 * const worker = new Worker(new URL('proxy-worker.js', import.meta.url), { workerData: zone });
 * const balancer = Balancer.fromZone(zone); // this thread's view; the worker opens its own
 * balancer.watch(worker);
 */
export function createZone(options: BalancerOptions, sizes: ZoneOptions = {}): UpstreamZone {
  const resolved = resolveOptions(options, { clock: () => 0, rng: Math.random });
  if (typeof sizes !== 'object' || sizes === null) throw new InvalidOptionError('sizes', `Expected \`sizes\` to be an object, got \`${show(sizes)}\``, sizes);
  const capacity = sizes.capacity ?? Math.max(64, resolved.servers.length * 4);
  if (!isCount(capacity, 1 << 20)) throw new InvalidOptionError('sizes.capacity', `Expected \`sizes.capacity\` to be a positive integer up to ${1 << 20}, got \`${show(capacity)}\``, capacity);
  if (resolved.servers.length > capacity) {
    throw new UpstreamError('ERR_UPSTREAM_ZONE_FULL', `upstream zone ${show(resolved.name)} holds ${capacity} servers; ${resolved.servers.length} given`, resolved.servers.length);
  }
  const maxThreads = sizes.maxThreads ?? 64;
  if (!isCount(maxThreads, 4096)) throw new InvalidOptionError('sizes.maxThreads', `Expected \`sizes.maxThreads\` to be a positive integer up to 4096, got \`${show(maxThreads)}\``, maxThreads);
  const configBytes = sizes.configBytes ?? Math.max(65_536, capacity * 512);
  if (!isCount(configBytes, 1 << 30)) throw new InvalidOptionError('sizes.configBytes', `Expected \`sizes.configBytes\` to be a positive integer up to ${1 << 30}, got \`${show(configBytes)}\``, configBytes);
  const buffers = allocateBuffers(capacity, maxThreads, configBytes);
  const { servers: _s, clock: _c, rng: _r, timers: _t, check, ...rest } = options;
  const shared: SharedOptions = check === undefined ? rest : { ...rest, check: { ...check, type: typeof check.type === 'function' ? 'custom' : check.type } };
  const zone: UpstreamZone = { kind: 'upstream-balancer/zone', options: shared, ...buffers };
  const control = new Int32Array(buffers.control);
  control[ZONE_ID] = 1 + Math.floor(Math.random() * 0x7ffffffe);
  control[OWNER_THREAD] = threadId + 1;
  // the first published list: every server in configuration order, slots 0..n-1
  const text = JSON.stringify({ servers: resolved.servers.map((s, slot) => ({ ...s, slot })) });
  const bytes = new TextEncoder().encode(text);
  if (bytes.length > configBytes) {
    throw new UpstreamError('ERR_UPSTREAM_ZONE_FULL', `upstream zone ${show(resolved.name)}: the server list takes ${bytes.length} bytes, more than configBytes ${configBytes}`, bytes.length);
  }
  new Uint8Array(buffers.config).set(bytes);
  control[CONFIG_LENGTH] = bytes.length;
  creatorOptions.set(control[ZONE_ID]!, options);
  return zone;
}

/** The zone's creator options when `zone` was created in this thread (functions included), else undefined. */
export function creatorOptionsOf(zoneId: number): BalancerOptions | undefined {
  return creatorOptions.get(zoneId);
}

/** Checks that `value` is a zone (posted from another thread or not); throws `ERR_UPSTREAM_ZONE` otherwise. */
export function requireZone(value: unknown): UpstreamZone {
  const z = value as Partial<UpstreamZone> | null;
  if (typeof z !== 'object' || z === null || z.kind !== 'upstream-balancer/zone' || typeof z.options !== 'object' || z.options === null || !isZoneBuffers(z)) {
    throw new UpstreamError('ERR_UPSTREAM_ZONE', `Expected an upstream zone made by createZone(), got \`${show(value)}\``, value);
  }
  return z as UpstreamZone;
}
