/**
 * One proxy of `npm run demo -- --fleet 3` (./fleet.ts), in its own process: the reference proxy
 * (./proxy.ts) in front of a Balancer that has joined the fleet through etcd
 * (`upstream-balancer/etcd`, docs/fleet.md). The parent forks it with UB_DEMO_FLEET (JSON:
 * etcd hosts, upstream name, servers, check options, lease TTL, this proxy's name) and talks to it
 * over IPC: the proxy reports `ready` (its port), each change of its fleet role, each store revision
 * it applied, each active check its own checker ran, and each proxy session; it answers `view` (its
 * servers now) and `update` (an admin change written through the fleet), and `close` leaves the
 * fleet and exits. Killed with SIGKILL, it ends without a word: its lease expires in etcd and
 * another proxy takes the checker role.
 */

import { Etcd3 } from 'etcd3';
import { Balancer, type ServerPatch } from '../../src/index';
import { etcdStore, joinFleet } from '../../src/etcd/index';
import type { CheckOptions, ServerOptions } from '../../src/options';
import { startProxy } from './proxy';

/** What the parent sends. */
export type FleetCommand =
  | { t: 'view'; n: number }
  | { t: 'update'; n: number; id: string; patch: ServerPatch }
  | { t: 'close' };

/** What a proxy reports; `at` is Date.now() (one machine, one clock). */
export type FleetReport =
  | { t: 'ready'; proxy: string; port: number }
  | { t: 'role'; proxy: string; role: string; leader: string | null; term: number | null; at: number }
  | { t: 'applied'; proxy: string; revision: number; at: number }
  | { t: 'probe'; proxy: string; server: string; ok: boolean; at: number }
  | { t: 'fallback'; proxy: string; reason: string; at: number }
  | { t: 'session'; proxy: string; server: string; at: number }
  | { t: 'view'; proxy: string; n: number; servers: { id: string; state: string; down: boolean }[]; role: string; revision: number }
  | { t: 'updated'; proxy: string; n: number; revision: number; error?: string };

export interface FleetProxyConfig {
  hosts: string[];
  upstream: string;
  servers: ServerOptions[];
  check: CheckOptions;
  ttl: number;
  proxy: string;
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env.UB_DEMO_FLEET ?? '{}') as FleetProxyConfig;
  const name = config.proxy;
  const report = (r: FleetReport): void => {
    process.send?.(r, undefined, undefined, () => {});
  };

  const client = new Etcd3({ hosts: config.hosts, dialTimeout: 1000 });
  // The checks run only while this proxy holds the checker role: never balancer.start() here.
  const balancer = new Balancer({ name: config.upstream, servers: config.servers, check: config.check });
  const fleet = joinFleet(balancer, {
    store: etcdStore(client, { upstream: config.upstream, callTimeout: 1000 }),
    check: config.check,
    ttl: config.ttl,
    retry: 500,
    name,
  });
  fleet.on('role', (role, leader) => report({ t: 'role', proxy: name, role, leader: leader?.candidate ?? null, term: leader?.term ?? null, at: Date.now() }));
  fleet.on('applied', (revision) => report({ t: 'applied', proxy: name, revision, at: Date.now() }));
  fleet.on('fallback', (error) => report({ t: 'fallback', proxy: name, reason: error instanceof Error ? error.message : String(error), at: Date.now() }));
  // A `check` event while this proxy's own checker runs is a probe it sent; a follower's come from the leader.
  balancer.on('check', (server, ok) => {
    if (fleet.checking) report({ t: 'probe', proxy: name, server: server.id, ok, at: Date.now() });
  });

  const proxy = await startProxy({
    balancer,
    connectTimeout: 2000,
    onEvent: (e) => {
      if (e.type === 'connected') report({ t: 'session', proxy: name, server: e.server.id, at: Date.now() });
    },
  });
  await fleet.ready;
  report({ t: 'ready', proxy: name, port: proxy.port });

  process.on('message', (raw: unknown) => {
    const c = raw as FleetCommand;
    if (c.t === 'view') {
      const servers = balancer.snapshot().servers.map((s) => ({ id: s.id, state: s.state, down: s.down }));
      report({ t: 'view', proxy: name, n: c.n, servers, role: fleet.role, revision: fleet.revision });
    } else if (c.t === 'update') {
      fleet.update(c.id, c.patch).then(
        () => report({ t: 'updated', proxy: name, n: c.n, revision: fleet.revision }),
        (error: unknown) => report({ t: 'updated', proxy: name, n: c.n, revision: fleet.revision, error: error instanceof Error ? error.message : String(error) }),
      );
    } else if (c.t === 'close') {
      void (async () => {
        await proxy.close();
        await fleet.close();
        await balancer.close();
        client.close();
        process.disconnect?.();
      })();
    }
  });
}

await main();
