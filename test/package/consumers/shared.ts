/**
 * What both consumer projects run against the installed tarball (copied beside each main.ts as
 * shared.ts): the root, `await using`, each subpath and the prom-client collector, with exact
 * results. Only `import type` here, so that the same file compiles as ES module and as CommonJS;
 * the modules come in as arguments from main.ts.
 */
import assert from 'node:assert/strict';
import type * as Root from 'upstream-balancer';
import type * as Config from 'upstream-balancer/config';
import type * as Health from 'upstream-balancer/health';
import type * as Status from 'upstream-balancer/status';
import type * as Sticky from 'upstream-balancer/sticky';
import type * as Undici from 'upstream-balancer/undici';
import type * as PromClientModule from 'prom-client';
import type * as UndiciModule from 'undici';

export interface Modules {
  root: typeof Root;
  config: typeof Config;
  health: typeof Health;
  status: typeof Status;
  sticky: typeof Sticky;
  undici: typeof Undici;
  promClient: typeof PromClientModule;
  undiciModule: typeof UndiciModule;
}

const CONF = 'http { upstream app { server 127.0.0.1:8001 weight=2; server 127.0.0.1:8002; } }';

export async function exercise(m: Modules): Promise<string[]> {
  const done: string[] = [];
  const { Balancer, ManualClock, ConfigError, isUpstreamError } = m.root;

  // The root: fromNginx (the parser loads on this first call), exact picks, typed errors.
  const clock = new ManualClock(0);
  let outside: Root.Balancer;
  {
    await using b = Balancer.fromNginx(CONF, 'app', { clock: clock.now });
    outside = b;
    const picks = [0, 1, 2, 3, 4, 5].map(() => { const s = b.pick()!; b.release(s); return s.address; });
    assert.deepEqual(picks, ['127.0.0.1:8001', '127.0.0.1:8002', '127.0.0.1:8001', '127.0.0.1:8001', '127.0.0.1:8002', '127.0.0.1:8001']);
    assert.ok(b instanceof m.config.Balancer);
    b.reportCheck('127.0.0.1:8002', false);
    done.push('root');

    // /status: the same page from the root's lazy name and from the subpath; the prom-client collector.
    const csv = m.status.formatStatus(b.snapshot(), 'csv');
    assert.equal(m.root.formatStatus(b.snapshot(), 'csv'), csv);
    const registry = new m.promClient.Registry();
    const metrics = m.status.collectBalancerMetrics(m.promClient, [b], { registry });
    const text = await registry.metrics();
    assert.match(text, /^upstream_balancer_server_state\{upstream="app",server="127\.0\.0\.1:8001",state="up"\} 1$/m);
    assert.match(text, /^upstream_balancer_server_state\{upstream="app",server="127\.0\.0\.1:8001",state="down"\} 0$/m);
    metrics.unregister();
    assert.equal(await registry.metrics(), '\n');
    done.push('status', 'prom-client');
  }
  // `await using` closed it: a closed balancer refuses to start.
  assert.throws(() => outside.start(), (e: unknown) => isUpstreamError(e) && e.code === 'ERR_UPSTREAM_CLOSED');
  done.push('await using');

  // /config: the parser, explain, and nginx's own message for a bad parameter.
  const [u] = m.config.parseUpstreams(CONF);
  assert.deepEqual(u!.options.servers.map((s) => [s.address, s.weight]), [['127.0.0.1:8001', 2], ['127.0.0.1:8002', 1]]);
  assert.throws(() => m.config.parseUpstreams('http { upstream u { server 127.0.0.1:1 wieght=2; } }'),
    (e: unknown) => e instanceof ConfigError && e instanceof m.config.ConfigError && /invalid parameter "wieght=2"/.test(e.message));
  const explained = m.config.explain(CONF).upstreams[0]!;
  assert.deepEqual([explained.name, explained.context, explained.servers.length], ['app', 'http', 2]);
  done.push('config');

  // /health: a custom probe through the registry.
  const probe = m.health.probeFor(async () => true);
  assert.equal(typeof probe, 'function');
  assert.deepEqual(Object.keys(m.health.PROBES).sort(), ['http', 'mysql', 'smtp', 'ssl_hello', 'tcp', 'tls']);
  done.push('health');

  // /sticky: nginx's cookie parsing.
  assert.equal(m.sticky.requestCookie('a=1; srv=abc; b=2', 'srv'), 'abc');
  done.push('sticky');

  // /undici: a Dispatcher of the installed undici.
  const dispatcher = new m.undici.BalancedDispatcher(new Balancer({ servers: [{ address: '127.0.0.1:1' }] }));
  assert.ok(dispatcher instanceof m.undiciModule.Dispatcher);
  await dispatcher.close();
  done.push('undici');
  return done;
}
