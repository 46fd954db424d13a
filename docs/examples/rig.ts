/**
 * The whole deployment of the vendor guide on one machine, for the demo, the SMTP tests and the
 * load benchmark: one SMTP gateway per server of an nginx config (named A, B, C, ... in order of
 * appearance), a Balancer built from the config and pointed at the gateways, the reference proxy in
 * front of it, a Journal of every session and receipt, and a mail client.
 *
 * Addresses: by default every gateway gets a free port and the config's addresses are replaced by
 * the gateways' real ones (tests run in parallel and cannot rely on fixed ports). With `filePorts`,
 * the gateways bind the ports their server lines name and the proxy the config's `listen` port, if
 * every one of those ports is free on 127.0.0.1; otherwise all of them get free ports.
 * `close()` stops everything it started: client, proxy, every balancer's checker, every gateway.
 */

import { readFileSync } from 'node:fs';
import net from 'node:net';
import { Balancer, upstreamTarget, type BalancerEvents, type CheckOptions, type Clock } from '../../src/index';
import { startGateway, type Gateway } from './gateways';
import { Journal, MailClient } from './mail';
import { startProxy, type Proxy, type ProxyOptions } from './proxy';
import { pointAt, readExampleUpstream, type ExampleUpstream } from './upstream-file';

export interface RigOptions {
  /** Upstream name in the file; default its only one. */
  upstream?: string;
  /** Run checks and the balancer's clock this many times faster than real time; default 1. */
  speed?: number;
  /** The balancer's clock (overrides `speed` for the clock only). */
  clock?: Clock;
  rng?: () => number;
  /** Overrides of single check options. */
  check?: CheckOptions;
  /** `proxy_next_upstream_tries`. */
  tries?: number;
  /** Proxy connect timeout, ms; default 60000 / speed. */
  connectTimeout?: number;
  /** Opens upstream sockets (tests inject sockets that never connect). */
  connect?: ProxyOptions['connect'];
  /** Bind the ports the file names when free (the demo); default false: free ports. */
  filePorts?: boolean;
  /** Client timeouts (connect, banner, reply), ms; default 10000. */
  clientTimeout?: number;
  /** Message-ID prefix. */
  prefix?: string;
}

export interface Rig {
  upstream: ExampleUpstream;
  /** Gateways in order of their first server line. */
  gateways: Gateway[];
  /** The gateway behind a server id (A, B, ...). */
  gateway(id: string): Gateway;
  /** The balancer the proxy uses now. */
  balancer: Balancer;
  proxy: Proxy;
  journal: Journal;
  client: MailClient;
  /** What the config's addresses were replaced with (`original -> real`), and why. */
  ports: { original: string; address: string; note: string }[];
  /**
   * Builds a balancer from another config (same gateways for the same addresses, new gateways for
   * new ones). It is not used until you assign it to `proxy.balancer`.
   */
  load(file: string, upstream?: string): Promise<{ upstream: ExampleUpstream; balancer: Balancer }>;
  close(): Promise<void>;
}

async function portIsFree(port: number): Promise<boolean> {
  const probe = net.createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/** The port of a `host:port` / `[v6]:port` address, if any (none for `unix:/path`). */
function portOf(address: string): number | undefined {
  const t = upstreamTarget(address);
  return t?.kind === 'tcp' && t.port !== null ? t.port : undefined;
}

/**
 * Starts gateways, balancer, proxy and client for the upstream in `file`.
 *
 * @example
 * const rig = await startRig('docs/examples/weighted.conf');
 * await rig.client.sendMany(10);
 * rig.journal.order(); // ['B', 'B', 'A', 'B', 'B', ...]
 * await rig.close();
 */
export async function startRig(file: string, options: RigOptions = {}): Promise<Rig> {
  const speed = options.speed ?? 1;
  const journal = new Journal();
  const byOriginal = new Map<string, Gateway>();
  const gateways: Gateway[] = [];
  const balancers: Balancer[] = [];
  const ports: Rig['ports'] = [];
  let proxy: Proxy | undefined;
  let client: MailClient | undefined;

  const close = async (): Promise<void> => {
    client?.close();
    await proxy?.close();
    await Promise.all(balancers.map((b) => b.close()));
    await Promise.all(gateways.map((g) => g.stop()));
  };

  /** With `filePorts`: false once any port the files name was busy (then every port is a free one). */
  let usePorts = options.filePorts === true;
  let busy = '';

  const ensureGateways = async (u: ExampleUpstream, listen: number | undefined): Promise<void> => {
    const fresh = [...new Set(u.servers.map((s) => s.original))].filter((o) => !byOriginal.has(o));
    if (usePorts) {
      // All or nothing: a config's ports are used only if every one of them is free now. A port
      // that is free only because another demo's gateway is down at this moment stays unused as
      // long as that demo holds any of the others.
      const wanted = [...fresh.map(portOf), listen];
      for (const p of wanted) {
        if (p === undefined) continue;
        if (wanted.filter((x) => x === p).length > 1 || gateways.some((g) => g.port === p) || !(await portIsFree(p))) {
          usePorts = false;
          busy = `port ${p} is busy: free ports instead`;
          break;
        }
      }
    }
    for (const original of fresh) {
      const name = String.fromCharCode(65 + gateways.length);
      const wanted = usePorts ? portOf(original) : undefined;
      const g = await startGateway(name, { onMessage: journal.receive, ...(wanted !== undefined ? { port: wanted } : {}) });
      byOriginal.set(original, g);
      gateways.push(g);
      ports.push({
        original,
        address: g.address,
        note: !options.filePorts ? 'free port' : wanted !== undefined ? 'as in the file' : busy || 'no port in the file: a free port',
      });
    }
  };

  const build = (u: ExampleUpstream): Balancer => {
    const b = new Balancer(
      pointAt(u, (original) => {
        const g = byOriginal.get(original)!;
        return { id: g.name, address: g.address };
      }, {
        speed,
        ...(options.clock ? { clock: options.clock } : {}),
        ...(options.rng ? { rng: options.rng } : {}),
        ...(options.check ? { check: options.check } : {}),
        ...(options.tries !== undefined ? { tries: options.tries } : {}),
      }),
    );
    balancers.push(b);
    return b;
  };

  try {
    const upstream = readExampleUpstream(file, options.upstream);
    let fileListen: number | undefined;
    if (options.filePorts) {
      const m = /^\s*listen\s+(?:127\.0\.0\.1:|\*:)?(\d+)\s*;/m.exec(readFileSync(file, 'utf8'));
      if (m) fileListen = Number(m[1]);
    }
    await ensureGateways(upstream, fileListen);
    const balancer = build(upstream);
    const listen = usePorts && fileListen !== undefined ? fileListen : 0;
    proxy = await startProxy({
      balancer,
      port: listen,
      connectTimeout: options.connectTimeout ?? Math.max(1, Math.round(60_000 / speed)),
      onEvent: journal.onEvent,
      ...(options.connect ? { connect: options.connect } : {}),
    });
    client = new MailClient({ port: proxy.port, timeout: options.clientTimeout ?? 10_000, prefix: options.prefix ?? 'msg' });
    const p = proxy;
    return {
      upstream,
      gateways,
      gateway: (id) => {
        const g = gateways.find((x) => x.name === id);
        if (g === undefined) throw new Error(`no gateway ${JSON.stringify(id)}`);
        return g;
      },
      get balancer() {
        return p.balancer;
      },
      set balancer(b: Balancer) {
        p.balancer = b;
      },
      proxy: p,
      journal,
      client,
      ports,
      async load(other, name) {
        const u = readExampleUpstream(other, name);
        await ensureGateways(u, undefined);
        return { upstream: u, balancer: build(u) };
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * Resolves with the arguments of the first `event` of `balancer` for which `accept` returns true;
 * rejects after `ms` (real time) with a message naming `what`. No listener or timer is left behind.
 *
 * @example
 * await until(balancer, 'state', (server, from, to) => server.id === 'A' && to === 'unhealthy', 5000, 'A unhealthy');
 */
export function until<K extends keyof BalancerEvents>(
  balancer: Balancer,
  event: K,
  accept: (...args: BalancerEvents[K]) => boolean,
  ms: number,
  what: string,
): Promise<BalancerEvents[K]> {
  return new Promise((resolve, reject) => {
    const listener = (...args: BalancerEvents[K]): void => {
      if (!accept(...args)) return;
      clearTimeout(timer);
      balancer.off(event, listener as never);
      resolve(args);
    };
    const timer = setTimeout(() => {
      balancer.off(event, listener as never);
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    balancer.on(event, listener as never);
  });
}

/** Resolves once every server that is not `down` is `up`; rejects after `ms`. */
export async function allUp(balancer: Balancer, ms: number): Promise<void> {
  const ready = (): boolean => balancer.servers.every((s) => s.down || s.state === 'up');
  if (ready()) return;
  await until(balancer, 'state', () => ready(), ms, `every server of ${balancer.name} up`);
}
