/**
 * Records nginx 1.30.4 re-resolving `server NAME resolve` lines (src/http/modules/
 * ngx_http_upstream_zone_module.c) against a real DNS server: the scenarios of `scenarios.ts`, each
 * run through a stock nginx 1.30.4 (`shared/nginx/build.sh stock`, `NGINX_130=` overrides) whose
 * upstream has `resolver 127.0.0.1:PORT` pointing at this process's `dns2` server (`dns-server.ts`).
 * The backends are http servers on loopback addresses (127.0.0.2, .3, ... all reach this host on
 * Linux) that answer with their own `IP:PORT`; nginx's `$upstream_addr` (header `X-Upstream`) says
 * every peer tried. Writes `test/vectors/resolve/<scenario>.json`.
 *
 *   npx tsx test/conformance/resolve/record.ts [--check] [scenario...]
 *
 * `--check` re-records and compares with the committed vectors: exit 1 on drift, 2 when nginx
 * cannot run (or any other error). A `resolved` step waits until nginx asked the DNS server for the
 * name again after the records changed (both A and AAAA for a name), then 300 ms for nginx to apply
 * the answer. One nginx per scenario (one worker, scratch prefix, never the system service); every
 * backend, the DNS server and nginx are stopped, also on errors. Wall time: about 30 s (the TTLs).
 */

import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { closeServer, findBinary, freePort, listen, mainContext, Nginx, releasePort, runMain, type NginxBinary } from '../nginx-process';
import { ZoneServer, type ZoneName } from './dns-server';
import { PORT_A, PORT_B, RESOLVE_VECTOR_DIR, SCENARIOS, upstreamBlock, type RecordedRequest, type ResolveScenario, type ResolveVector } from './scenarios';

const BACKEND_IPS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'];
const WAIT_MS = 20_000;

/** Maps canonical ports to this run's ports and back. */
class Ports {
  constructor(readonly map: ReadonlyMap<number, number>) {}
  toReal(text: string): string {
    let out = text;
    for (const [c, r] of this.map) out = out.split(String(c)).join(String(r));
    return out;
  }
  toCanonical(addr: string): string {
    const m = /^(.*):(\d+)$/.exec(addr);
    if (!m) return addr;
    for (const [c, r] of this.map) if (Number(m[2]) === r) return `${m[1]}:${c}`;
    return addr;
  }
}

function realAnswers(answers: ZoneName, ports: Ports): ZoneName {
  return JSON.parse(ports.toReal(JSON.stringify(answers))) as ZoneName;
}

function get(port: number): Promise<{ status: number; upstream: string; body: string }> {
  return new Promise((done, fail) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => done({ status: res.statusCode ?? 0, upstream: String(res.headers['x-upstream'] ?? ''), body }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', fail);
  });
}

/** Rounds an interval between queries to 500 ms (nginx's timers are whole seconds plus scheduling). */
const roundInterval = (ms: number): number => Math.round(ms / 500) * 500;

async function runScenario(sc: ResolveScenario, binary: NginxBinary): Promise<{ requests: RecordedRequest[][]; intervals: number[] }> {
  const zone = new ZoneServer();
  const nginx = new Nginx(binary, `resolve-recorder-${sc.name}-`);
  const backends: http.Server[] = [];
  const used: number[] = [];
  let ok = false;
  try {
    const dnsPort = await zone.start();
    const pa = await freePort();
    const pb = await freePort();
    const listenPort = await freePort();
    used.push(pa, pb, listenPort);
    const ports = new Ports(new Map([[PORT_A, pa], [PORT_B, pb]]));
    for (const ip of BACKEND_IPS.filter((i) => !sc.refusing.includes(i))) {
      for (const [canonical, real] of ports.map) {
        const server = http.createServer((_req, res) => {
          res.setHeader('Connection', 'close');
          res.end(`${ip}:${canonical}`);
        });
        await listen(server, real, ip);
        backends.push(server);
      }
    }
    const conf = `${mainContext(binary, nginx.dir, 64)}http {
  access_log off;
  ${ports.toReal(upstreamBlock(sc, dnsPort))}
  server {
    listen 127.0.0.1:${listenPort};
    location / { proxy_pass http://u; add_header X-Upstream $upstream_addr always; }
  }
}
`;
    const confPath = join(nginx.dir, 'nginx.conf');
    writeFileSync(confPath, conf);
    let started = false;
    let changedAt = performance.now();
    const out: RecordedRequest[][] = [];
    let lastSeen = 0;
    for (const step of sc.steps) {
      if (step.op === 'records') {
        zone.set(ports.toReal(step.name), step.answers === null ? undefined : realAnswers(step.answers, ports));
        changedAt = performance.now();
      } else if (step.op === 'resolved') {
        if (!started) {
          await nginx.start(confPath);
          started = true;
        }
        const srv = step.name.startsWith('_');
        const deadline = performance.now() + WAIT_MS;
        for (;;) {
          const main = zone.queriesSince(changedAt, step.name, srv ? 'SRV' : 'A');
          const seen = main.length > 0 && (srv || zone.queriesSince(changedAt, step.name, 'AAAA').length > 0);
          if (seen) {
            lastSeen = main[0]!.at;
            break;
          }
          if (performance.now() > deadline) throw new Error(`${sc.name}: nginx did not ask for ${step.name} within ${WAIT_MS} ms`);
          await sleep(20);
        }
        await sleep(300);
      } else {
        const requests: RecordedRequest[] = [];
        for (let i = 0; i < step.n; i++) {
          const r = await get(listenPort);
          const tried = r.upstream.split(', ').map((a) => ports.toCanonical(a));
          if (r.status === 200 && r.body !== tried[tried.length - 1]) throw new Error(`${sc.name}: answered by ${r.body} but $upstream_addr says ${r.upstream}`);
          requests.push({ tried, status: r.status });
        }
        out.push(requests);
      }
    }
    ok = true;
    const first = sc.steps.find((s) => s.op === 'resolved')!.name;
    const asked = zone.log.filter((q) => q.name === first && q.type === (first.startsWith('_') ? 'SRV' : 'A') && q.at <= lastSeen).map((q) => q.at);
    return { requests: out, intervals: asked.slice(1).map((at, i) => roundInterval(at - asked[i]!)) };
  } finally {
    await nginx.close(!ok, sc.name);
    for (const b of backends) closeServer(b);
    await zone.close();
    for (const p of used) releasePort(p);
  }
}

function vectorPath(name: string): string {
  return join(RESOLVE_VECTOR_DIR, `${name}.json`);
}

/** One step per line, one request step per line. */
function format(v: ResolveVector): string {
  const intervals = Object.entries(v.intervals).map(([version, list]) => `    ${JSON.stringify(version)}: ${JSON.stringify(list)}`).join(',\n');
  const head = [`"format": ${v.format}`, `"scenario": ${JSON.stringify(v.scenario)}`, `"description": ${JSON.stringify(v.description)}`, `"config": ${JSON.stringify(v.config)}`, `"refusing": ${JSON.stringify(v.refusing)}`];
  const steps = v.steps.map((s) => `    ${JSON.stringify(s)}`).join(',\n');
  const versions = Object.entries(v.nginx).map(([version, reqs]) => `    ${JSON.stringify(version)}: [\n${reqs.map((r) => `      ${JSON.stringify(r)}`).join(',\n')}\n    ]`).join(',\n');
  return `{\n  ${head.join(',\n  ')},\n  "steps": [\n${steps}\n  ],\n  "nginx": {\n${versions}\n  },\n  "intervals": {\n${intervals}\n  }\n}\n`;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const check = args.includes('--check');
  const names = args.filter((a) => !a.startsWith('--'));
  const scenarios = names.length === 0 ? SCENARIOS : SCENARIOS.filter((s) => names.includes(s.name));
  if (scenarios.length !== Math.max(names.length, scenarios.length) || (names.length > 0 && scenarios.length !== names.length)) {
    console.error(`unknown scenario among ${names.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
    return 2;
  }
  const binary = findBinary('1.30');
  mkdirSync(RESOLVE_VECTOR_DIR, { recursive: true });
  const results = await Promise.all(scenarios.map(async (sc) => ({ sc, ...(await runScenario(sc, binary)) })));
  let drift = 0;
  for (const { sc, requests, intervals } of results) {
    const v: ResolveVector = {
      format: 1,
      scenario: sc.name,
      description: sc.description,
      config: upstreamBlock(sc, 'DNS'),
      refusing: sc.refusing,
      steps: sc.steps,
      nginx: { [binary.version]: requests },
      intervals: { [binary.version]: intervals },
    };
    const path = vectorPath(sc.name);
    if (check) {
      const committed = existsSync(path) ? readFileSync(path, 'utf8') : '';
      if (committed !== format(v)) {
        drift++;
        console.error(`${sc.name}: drift from ${path}\n${format(v)}`);
      } else console.log(`${sc.name}: same as ${path}`);
    } else {
      writeFileSync(path, format(v));
      console.log(`${sc.name}: ${requests.flat().length} requests -> ${path}`);
    }
  }
  return drift === 0 ? 0 : 1;
}

runMain(main);
