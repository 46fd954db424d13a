/**
 * collectBalancerMetrics (src/status/prom-client.ts) on real prom-client 15 registries: the bytes
 * of `registry.metrics()` equal the library's Prometheus page, values are read at scrape time with
 * one snapshot per balancer per scrape, removed servers' series go, names that are taken are
 * refused, `unregister` removes everything, and an OpenMetrics registry works. No network.
 */
import * as client from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock } from '../../src/clock';
import { collectBalancerMetrics, formatStatus, type BalancerMetrics, type SnapshotSource } from '../../src/status';

const registered: BalancerMetrics[] = [];
afterEach(() => {
  for (const m of registered.splice(0)) m.unregister();
});

function collect(...args: Parameters<typeof collectBalancerMetrics>): BalancerMetrics {
  const m = collectBalancerMetrics(...args);
  registered.push(m);
  return m;
}

function balancers(): Balancer[] {
  const clock = new ManualClock(1_000_000);
  const smtp = new Balancer({
    name: 'smtp',
    clock: clock.now,
    servers: [{ id: 'mx1', address: '10.0.0.1:25', weight: 2, maxFails: 2, failTimeout: 2500 }, { address: '10.0.0.2:25', backup: true, route: 'b' }],
    check: { type: 'smtp', rise: 1, fall: 1 },
  });
  smtp.reportCheck('mx1', true);
  smtp.reportCheck('10.0.0.2:25', false);
  const a = smtp.attempt();
  a.next();
  a.fail();
  smtp.pick();
  const web = new Balancer({ name: 'web "quoted"\\', clock: clock.now, servers: [{ address: 'unix:/run/app.sock', maxConns: 3 }, { address: '[::1]:8080', drain: true }] });
  web.pick();
  return [smtp, web];
}

describe('collectBalancerMetrics on a prom-client Registry', () => {
  it('registry.metrics() is byte for byte the library\'s Prometheus page', async () => {
    const registry = new client.Registry();
    const list = balancers();
    const m = collect(client, list, { registry });
    const text = await registry.metrics();
    expect(text).toBe(formatStatus(list.map((b) => b.snapshot()), 'prometheus'));
    expect(text).toContain('upstream_balancer_server_state{upstream="smtp",server="mx1",state="up"} 1\n');
    expect(text).toContain('upstream_balancer_server_checks_total{upstream="smtp",server="10.0.0.2:25",result="failed"} 1\n');
    expect(text).toContain('upstream_balancer_server_info{upstream="smtp",server="10.0.0.2:25",address="10.0.0.2:25",sid="b",route="b"} 1\n');
    expect(text).toContain('upstream_balancer_server_state{upstream="web \\"quoted\\"\\\\",server="[::1]:8080",state="draining"} 1\n');
    expect(text).toContain('upstream_balancer_server_fail_timeout_seconds{upstream="smtp",server="mx1"} 2.5\n');
    expect(m.names).toEqual(registry.getMetricsAsArray().map((x) => (x as unknown as { name: string }).name));
    expect(m.names).toHaveLength(16);
  });

  it('reads the values at scrape time, with one snapshot per balancer per scrape, and drops removed servers', async () => {
    const registry = new client.Registry();
    const [smtp] = balancers();
    let snapshots = 0;
    const counted: SnapshotSource = {
      snapshot() {
        snapshots += 1;
        return smtp!.snapshot();
      },
    };
    collect(client, [counted], { registry, prefix: 'mail_' });
    const before = await registry.metrics();
    expect(snapshots).toBe(1);
    expect(before).toContain('mail_server_selections_total{upstream="smtp",server="mx1"} 2\n');
    for (let i = 0; i < 3; i++) smtp!.pick();
    smtp!.remove('10.0.0.2:25');
    const after = await registry.metrics();
    expect(snapshots).toBe(2);
    expect(after).toContain('mail_server_selections_total{upstream="smtp",server="mx1"} 5\n');
    expect(after).not.toContain('10.0.0.2:25');
    expect(after).toBe(formatStatus(smtp!.snapshot(), 'prometheus', { prefix: 'mail_' }));
  });

  it('a function gives the balancers at each scrape', async () => {
    const registry = new client.Registry();
    let list: Balancer[] = [];
    collect(client, () => list, { registry });
    expect(await registry.metrics()).not.toMatch(/^upstream_balancer_/m);
    list = balancers();
    expect(await registry.metrics()).toBe(formatStatus(list.map((b) => b.snapshot()), 'prometheus'));
  });

  it('getMetricsAsJSON gives the same values', async () => {
    const registry = new client.Registry();
    collect(client, balancers(), { registry });
    const json = await registry.getMetricsAsJSON();
    const conns = json.find((x) => x.name === 'upstream_balancer_server_conns')!;
    expect(conns.type).toBe('gauge');
    expect(conns.values).toEqual([
      { labels: { upstream: 'smtp', server: 'mx1' }, value: 1 },
      { labels: { upstream: 'smtp', server: '10.0.0.2:25' }, value: 0 },
      { labels: { upstream: 'web "quoted"\\', server: 'unix:/run/app.sock' }, value: 1 },
      { labels: { upstream: 'web "quoted"\\', server: '[::1]:8080' }, value: 0 },
    ]);
  });

  it('refuses names that are taken, registering nothing; another prefix is fine; unregister removes all, once', async () => {
    const registry = new client.Registry();
    const list = balancers();
    const first = collect(client, list, { registry });
    expect(() => collectBalancerMetrics(client, list, { registry })).toThrow(
      expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION', option: 'prefix', value: 'upstream_balancer_server_info' }),
    );
    const other = new client.Gauge({ name: 'mine_server_conns', help: 'x', registers: [registry] });
    expect(() => collectBalancerMetrics(client, list, { registry, prefix: 'mine_' })).toThrow(expect.objectContaining({ value: 'mine_server_conns' }));
    expect(registry.getMetricsAsArray()).toHaveLength(17);
    const second = collect(client, list, { registry, prefix: 'b_' });
    expect(registry.getMetricsAsArray()).toHaveLength(33);
    first.unregister();
    first.unregister();
    expect(registry.getMetricsAsArray()).toHaveLength(17);
    expect(registry.getSingleMetric('mine_server_conns')).toBe(other);
    second.unregister();
    expect(registry.getMetricsAsArray()).toEqual([other]);
  });

  it('a scrape rejects with the typed error when two balancers share a name', async () => {
    const registry = new client.Registry();
    collect(client, [new Balancer({ servers: [{ address: '10.0.0.1:25' }] }), new Balancer({ servers: [{ address: '10.0.0.2:25' }] })], { registry });
    await expect(registry.metrics()).rejects.toMatchObject({ code: 'ERR_UPSTREAM_DUPLICATE_ID', option: 'balancers[1].name', value: 'upstream' });
  });

  it('works on an OpenMetrics registry and on the module\'s global register', async () => {
    const open = new client.Registry<client.OpenMetricsContentType>();
    open.setContentType(client.Registry.OPENMETRICS_CONTENT_TYPE);
    const list = balancers();
    const m = collect(client, list, { registry: open });
    const text = await open.metrics();
    expect(text).toContain('# TYPE upstream_balancer_server_selections counter\n');
    expect(text).toContain('upstream_balancer_server_selections_total{upstream="smtp",server="mx1"} 2\n');
    expect(text.endsWith('# EOF\n')).toBe(true);
    m.unregister();
    expect(open.getMetricsAsArray()).toEqual([]);

    const before = client.register.getMetricsAsArray().length;
    const global = collect(client, list, { prefix: 'p2_global_' });
    expect(client.register.getMetricsAsArray()).toHaveLength(before + 16);
    expect(await client.register.metrics()).toContain('\np2_global_server_weight{upstream="smtp",server="mx1"} 2\n');
    global.unregister();
    expect(client.register.getMetricsAsArray()).toHaveLength(before);
  });

  it('refuses what is not prom-client, a registry or a prefix, with typed errors', () => {
    const list = balancers();
    for (const bad of [null, {}, { Gauge: client.Gauge }, 'prom-client']) {
      expect(() => collectBalancerMetrics(bad as unknown as typeof client, list)).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION', option: 'client' }));
    }
    expect(() => collectBalancerMetrics(client, 'smtp' as unknown as Balancer[])).toThrow(expect.objectContaining({ option: 'balancers' }));
    expect(() => collectBalancerMetrics(client, list, { registry: {} as client.Registry })).toThrow(expect.objectContaining({ option: 'registry' }));
    expect(() => collectBalancerMetrics(client, list, { prefix: '9_' })).toThrow(expect.objectContaining({ option: 'prefix', value: '9_' }));
  });
});
