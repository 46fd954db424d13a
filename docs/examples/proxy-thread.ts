/**
 * One proxy thread of the multi-core demo (`npm run demo -- --threads 2`, docs/examples/threads.ts):
 * a worker thread that runs the reference TCP proxy (./proxy.ts) on a port of its own in front of
 * `Balancer.fromZone(zone)`, the upstream zone the main thread created, as an nginx worker process
 * serves its connections from the upstream's shared `zone` (ngx_http_upstream_zone_module.c).
 * On request it switches to a Balancer of its own (`new Balancer(options)`, nginx without `zone`),
 * for the comparison the demo prints.
 *
 * It tells the main thread everything the proxy and the balancer do (`ThreadMessage`), with servers
 * as `{ id, address }` (records do not cross threads). `startProxyThread` starts one from the main
 * thread; `zoneClock` is the clock every thread builds for itself (functions are not shared): the
 * demo's fast nginx clock on the process-wide monotonic clock, so all threads read the same time.
 */

import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Balancer, type BalancerOptions, type Clock, type Server } from '../../src/index';
import { type UpstreamZone, processClock } from '../../src/zone';
import { type ProxyEvent, startProxy } from './proxy';

/** What the main thread gives each proxy thread. */
export interface ProxyThreadData {
  kind: 'upstream-balancer/demo-proxy-thread';
  /** 1, 2, ...: how the demo names the thread. */
  thread: number;
  zone: UpstreamZone;
  /** The upstream's options without functions, for the thread's own Balancer (`{ t: 'local' }`). */
  options: BalancerOptions;
  speed: number;
  connectTimeout: number;
}

/** A server as it crosses threads. */
export interface ServerRef {
  id: string;
  address: string;
}

/** A proxy event with its server as a `ServerRef`. */
type WithRef<E> = E extends { server: Server } ? Omit<E, 'server'> & { server: ServerRef } : E;
export type ProxyEventRef = WithRef<ProxyEvent>;

/** What a proxy thread posts. */
export type ThreadMessage =
  | { t: 'ready'; thread: number; port: number }
  | { t: 'proxy'; thread: number; event: ProxyEventRef }
  | { t: 'state'; thread: number; server: ServerRef; from: string; to: string; cause: string }
  | { t: 'switched'; thread: number; balancer: 'zone' | 'local' }
  | { t: 'closed'; thread: number };

/** What the main thread posts to a proxy thread. */
export type ThreadCommand = { t: 'local' } | { t: 'close' };

/**
 * nginx's clock running `speed` times faster than real time, in whole (fast) seconds, on
 * `processClock` (the same in every thread, unlike `performance.now()`, whose origin is the thread's).
 *
 * @example
 * const clock = zoneClock(10); // one nginx second per 100 ms; every thread that builds it agrees
 */
export function zoneClock(speed: number, origin = 1_000_000_000): Clock {
  return () => origin + Math.floor((processClock() * speed) / 1000) * 1000;
}

/**
 * Starts a proxy thread; resolves with the worker and the port it listens on (127.0.0.1).
 *
 * @example
 * const { worker, port } = await startProxyThread({ kind: 'upstream-balancer/demo-proxy-thread', thread: 1, zone, options, speed: 10, connectTimeout: 6000 });
 */
export async function startProxyThread(data: ProxyThreadData, onMessage: (m: ThreadMessage) => void): Promise<{ worker: Worker; port: number }> {
  // Node 20 does not run a worker's TypeScript through tsx by itself: the worker registers tsx first.
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); })`;
  const worker = new Worker(boot, { eval: true, workerData: data });
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    const onExit = (code: number): void => reject(new Error(`proxy thread ${data.thread} exited with code ${code} before it listened`));
    worker.once('error', onError);
    worker.once('exit', onExit);
    worker.on('message', (m: ThreadMessage) => {
      if (m.t === 'ready') {
        worker.off('error', onError);
        worker.off('exit', onExit);
        resolve({ worker, port: m.port });
      }
      onMessage(m);
    });
  });
}

// -------------------------------------------------------------------------------------------------
// In the worker

async function runThread(data: ProxyThreadData): Promise<void> {
  const port = parentPort!;
  const thread = data.thread;
  const clock = zoneClock(data.speed);
  const ref = (s: Server): ServerRef => ({ id: s.id, address: s.address });
  const post = (m: ThreadMessage): void => port.postMessage(m);

  const zoned = Balancer.fromZone(data.zone, { clock });
  let local: Balancer | undefined;
  // Events fire in the thread whose call made the change: this thread reports its own.
  const onState = (s: Server, from: string, to: string, cause: string): void => post({ t: 'state', thread, server: ref(s), from, to, cause });
  zoned.on('state', onState);

  const proxy = await startProxy({
    balancer: zoned,
    connectTimeout: data.connectTimeout,
    onEvent: (e) => post({ t: 'proxy', thread, event: ('server' in e ? { ...e, server: ref(e.server) } : e) as ProxyEventRef }),
  });

  port.on('message', async (c: ThreadCommand) => {
    if (c.t === 'local') {
      local = new Balancer({ ...data.options, clock });
      local.on('state', onState);
      proxy.balancer = local;
      post({ t: 'switched', thread, balancer: 'local' });
    } else if (c.t === 'close') {
      await proxy.close();
      zoned.off('state', onState);
      await zoned.close(); // leaves the zone (any connection still held is given back)
      await local?.close();
      post({ t: 'closed', thread });
      port.close();
    }
  });
  post({ t: 'ready', thread, port: proxy.port });
}

const data = workerData as Partial<ProxyThreadData> | null;
if (!isMainThread && data?.kind === 'upstream-balancer/demo-proxy-thread') await runThread(data as ProxyThreadData);
