/**
 * Conformance recorder for nginx_upstream_check_module (commit e538034, on nginx 1.30.4 built by
 * `shared/nginx/build.sh check`): runs the runs of `scenarios.ts` against the real module and writes
 * what it reported to `test/vectors/check/<run>.json` (format: `format.ts`).
 *
 *   npx tsx test/conformance/check/record.ts [--check] [run...]
 *
 * `--check` re-records in memory and compares with the committed vectors (exit 1 on drift). Exit 2
 * when nginx cannot be built or run. `NGINX_CHECK=` names a built binary instead of build.sh.
 *
 * Per run: one nginx (master process, one worker, `daemon off`, scratch prefix, status locations on a
 * free 127.0.0.1 port; never the system service) with the run's upstreams, and the recorder's peers
 * (`peers.ts`) on fixed loopback addresses. How a replay stays free of timing: the module's check
 * timers fire every `interval / 2` and start a check only when `interval` ms have passed since the
 * peer's last result (`ngx_http_upstream_check_begin_handler`), and the first check of each peer
 * comes at a random moment in [0, max(interval, 1000)) ms (`ngx_http_upstream_check_add_timers`,
 * `srandom(pid)`). So the recorder does not record times: it reads the csv status page every 10 ms,
 * and since every check moves exactly one counter by one (`ngx_http_upstream_check_status_update`)
 * it sees each check as one step, in each peer's own order; right after a peer's step it switches
 * the peer's behaviour for its next check, at least `interval` (250 ms) away. A run is recorded
 * again (at most 8 times) when it cannot show that: a check before the first look (a counter not
 * 0), two checks between looks, a check whose result differs from what its peer's behaviour gives,
 * a page burst that a check interrupted. None of these changes what is recorded. Two runs, in
 * parallel; about 10 s of wall time.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CHECK_VECTOR_DIR, formatCheckVector, loadCheckVectors, type CheckStep, type CheckVector, type PageBurst, type PeerState, type VectorPeer } from './format';
import { freePort, mainContext, Nginx, releasePort, runMain, type NginxBinary } from '../nginx-process';
import { checkBinary } from './nginx';
import { CheckPeer } from './peers';
import { LOCATIONS, PAGE_REQUESTS, RUNS, upstreamText, type CheckRun, type Condition, type PeerScript, type UpstreamScript } from './scenarios';

const MODULE = 'nginx_upstream_check_module e538034 (check_1.16.1+.patch)';
const POLL_MS = 10;
const ATTEMPTS = 8;
const RUN_DEADLINE_MS = 60_000;

/** A run that could not show the module's steps unambiguously: record it again. */
class Retry extends Error {}

/** The status-page name nginx gives a `server` address (an IP literal without a port gets :80). */
const pageName = (server: string): string => (/:\d+$/.test(server) ? server : `${server}:80`);

/** Whether a check of `type` against a peer behaving as `condition` passes (the module's handlers). */
function expectedOk(type: string, expectAlive: string[], condition: Condition): boolean {
  if (condition === 'refuse') return false;
  if (type === 'tcp') return condition === 'open' || condition === 'hold';
  if (type !== 'http') throw new Error(`no expectation for type ${type}`);
  const m = /^http-(\d)\d\d$/.exec(condition);
  return m !== null && expectAlive.includes(`http_${m[1]}xx`);
}

function checkType(u: UpstreamScript): { type: string; expectAlive: string[] } {
  const type = /type=(\w+)/.exec(u.check[0] ?? '')?.[1] ?? 'tcp';
  const expect = u.check.map((c) => /^check_http_expect_alive (.*);$/.exec(c)?.[1]).find((x) => x !== undefined);
  return { type, expectAlive: expect === undefined ? ['http_2xx', 'http_3xx'] : expect.split(/\s+/) };
}

function get(port: number, target: string): Promise<{ code: number; contentType: string; body: string }> {
  return new Promise((done, fail) => {
    const req = http.get({ host: '127.0.0.1', port, path: target, agent: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ code: res.statusCode!, contentType: String(res.headers['content-type']), body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', fail);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${target}: timeout`)));
    req.on('error', fail);
  });
}

/** The csv page as `upstream name` -> state. */
async function look(port: number): Promise<Map<string, PeerState & { index: number }>> {
  const page = await get(port, '/status?format=csv');
  if (page.code !== 200) throw new Error(`status page answered ${page.code}`);
  const out = new Map<string, PeerState & { index: number }>();
  for (const line of page.body.split('\n')) {
    if (line === '') continue;
    const [index, upstream, name, status, rise, fall] = line.split(',');
    out.set(`${upstream} ${name}`, { index: Number(index), down: status === 'down', rise: Number(rise), fall: Number(fall) });
  }
  return out;
}

function conf(dir: string, run: CheckRun, port: number): string {
  const locations = Object.entries(LOCATIONS)
    .map(([path, format]) => `    location = ${path} { check_status${format === null ? '' : ` ${format}`}; }`)
    .join('\n');
  const body = upstreamText(run)
    .split('\n')
    .map((l) => (l === '' ? l : `  ${l}`))
    .join('\n');
  return `${mainContext({}, dir, 256)}http {\n  access_log off;\n${body}  server {\n    listen 127.0.0.1:${port};\n${locations}\n  }\n}\n`;
}

interface Watched {
  upstream: UpstreamScript;
  script: PeerScript;
  peer: CheckPeer;
  key: string;
  vector: VectorPeer;
  type: { type: string; expectAlive: string[] };
  /** Index into the script, and checks left in that stretch. */
  stretch: number;
  left: number;
  done: boolean;
  last: PeerState;
}

async function burst(port: number, at: PageBurst['at'], before: Map<string, PeerState>): Promise<PageBurst> {
  // All at once: the burst is over in a few ms, so a check rarely falls inside it.
  const responses = await Promise.all(PAGE_REQUESTS.map(async (target) => ({ target, ...(await get(port, target)) })));
  const after = await look(port);
  for (const [key, s] of before) {
    const t = after.get(key)!;
    if (t.down !== s.down || t.rise !== s.rise || t.fall !== s.fall) throw new Retry(`a check of ${key} during the ${at} pages`);
  }
  return { at, responses };
}

async function attempt(binary: NginxBinary, run: CheckRun): Promise<CheckVector> {
  const nginx = new Nginx(binary, `ub-check-${run.name}-`);
  const watched: Watched[] = [];
  const port = await freePort();
  let ok = false;
  try {
    for (const u of run.upstreams) {
      for (const s of u.servers) {
        if (s.script === undefined) continue;
        const peer = new CheckPeer(s.checkAt ?? s.server);
        await peer.set(s.script[0]![0]);
        const name = pageName(s.server);
        watched.push({
          upstream: u,
          script: s,
          peer,
          key: `${u.name} ${name}`,
          vector: { upstream: u.name, server: s.server, name, index: -1, checkAt: peer.address, request: null, initial: { down: false, rise: 0, fall: 0 }, steps: [] },
          type: checkType(u),
          stretch: 0,
          left: s.script[0]![1],
          done: false,
          last: { down: false, rise: 0, fall: 0 },
        });
      }
    }
    const confPath = join(nginx.dir, 'nginx.conf');
    writeFileSync(confPath, conf(nginx.dir, run, port));
    await nginx.start(confPath);
    let first: Map<string, PeerState & { index: number }> | undefined;
    for (let i = 0; i < 500 && first === undefined; i++) {
      first = await look(port).catch(() => undefined);
      if (first === undefined) await sleep(2);
    }
    if (first === undefined) throw new Error('the status page never answered');
    for (const w of watched) {
      const s = first.get(w.key);
      if (s === undefined) throw new Error(`${w.key} is not on the status page`);
      if (s.rise !== 0 || s.fall !== 0) throw new Retry(`${w.key} was checked before the first look`);
      w.vector.index = s.index;
      w.vector.initial = { down: s.down, rise: 0, fall: 0 };
      w.last = w.vector.initial;
    }
    // The start pages only where every page is recorded (the other runs record timelines).
    const pages: PageBurst[] = run.frozenPages ? [await burst(port, 'start', first)] : [];
    // Stretches of 0 checks at the start (a peer that only holds) are done at once.
    for (const w of watched) await advance(w);
    const deadline = Date.now() + RUN_DEADLINE_MS;
    let now = first;
    while (watched.some((w) => !w.done)) {
      if (Date.now() > deadline) {
        const stuck = watched.filter((w) => !w.done).map((w) => `${w.key} (${w.peer.condition}, ${w.vector.steps.length} checks seen)`);
        throw new Error(`run ${run.name}: scripts unfinished after ${RUN_DEADLINE_MS} ms: ${stuck.join(', ')}`);
      }
      await sleep(POLL_MS);
      now = await look(port);
      for (const w of watched) {
        const s = now.get(w.key)!;
        const p = w.last;
        if (s.rise === p.rise && s.fall === p.fall && s.down === p.down) continue;
        if (w.done) {
          if (run.frozenPages) throw new Retry(`${w.key} was checked after its script ended`);
          continue;
        }
        const passed = s.rise === p.rise + 1 && s.fall === 0;
        const failed = s.rise === 0 && s.fall === p.fall + 1;
        if (!passed && !failed) throw new Retry(`${w.key}: more than one check between two looks`);
        const condition = w.peer.condition;
        if (passed !== expectedOk(w.type.type, w.type.expectAlive, condition)) {
          throw new Retry(`${w.key}: a check ${passed ? 'passed' : 'failed'} against ${condition}`);
        }
        const step: CheckStep = { condition, ok: passed, down: s.down, rise: s.rise, fall: s.fall };
        w.vector.steps.push(step);
        w.last = s;
        w.left--;
        await advance(w);
      }
    }
    if (run.frozenPages) {
      const interval = 250;
      await sleep(3 * interval);
      const still = await look(port);
      for (const w of watched) {
        const s = still.get(w.key)!;
        if (s.rise !== w.last.rise || s.fall !== w.last.fall || s.down !== w.last.down) throw new Retry(`${w.key} is not frozen`);
      }
      pages.push(await burst(port, 'frozen', still));
    }
    for (const w of watched) w.vector.request = w.type.type === 'http' ? w.peer.firstRequest : null;
    ok = true;
    return {
      format: 1,
      run: run.name,
      description: run.description,
      nginx: binary.version,
      module: MODULE,
      config: upstreamText(run),
      locations: { ...LOCATIONS },
      peers: watched.map((w) => w.vector).sort((a, b) => a.index - b.index),
      pages,
    };
  } finally {
    for (const w of watched) w.peer.close();
    await nginx.close(!ok && process.env.KEEP_NGINX === '1', run.name);
    releasePort(port);
  }
}

/** Moves a peer to its next stretch when the current one is used up; the last stretch ends it. */
async function advance(w: Watched): Promise<void> {
  const script = w.script.script!;
  while (!w.done && w.left <= 0) {
    if (w.stretch === script.length - 1) {
      w.done = true;
      return;
    }
    w.stretch++;
    const [condition, checks] = script[w.stretch]!;
    w.left = checks;
    await w.peer.set(condition);
    if (checks === 0) w.done = true;
  }
}

async function record(binary: NginxBinary, run: CheckRun): Promise<CheckVector> {
  for (let i = 1; ; i++) {
    try {
      return await attempt(binary, run);
    } catch (err) {
      if (!(err instanceof Retry) || i === ATTEMPTS) throw err;
      process.stderr.write(`(${run.name}: attempt ${i} not usable: ${err.message}; recording again)\n`);
    }
  }
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const check = args.includes('--check');
  const names = args.filter((a) => !a.startsWith('--'));
  for (const n of names) if (!RUNS.some((r) => r.name === n)) throw new Error(`unknown run ${n} (runs: ${RUNS.map((r) => r.name).join(', ')})`);
  const runs = RUNS.filter((r) => names.length === 0 || names.includes(r.name));
  const binary = checkBinary();
  const started = Date.now();
  const vectors = await Promise.all(runs.map((r) => record(binary, r)));
  const wall = ((Date.now() - started) / 1000).toFixed(1);
  if (!check) {
    mkdirSync(CHECK_VECTOR_DIR, { recursive: true });
    for (const v of vectors) writeFileSync(join(CHECK_VECTOR_DIR, `${v.run}.json`), formatCheckVector(v));
    const steps = vectors.reduce((n, v) => n + v.peers.reduce((m, p) => m + p.steps.length, 0), 0);
    const pages = vectors.reduce((n, v) => n + v.pages.reduce((m, b) => m + b.responses.length, 0), 0);
    console.log(`wrote ${vectors.length} vectors to ${CHECK_VECTOR_DIR}: ${steps} checks, ${pages} pages (nginx ${binary.version}, ${wall} s)`);
    return 0;
  }
  const committed = new Map(loadCheckVectors().map(({ vector }) => [vector.run, formatCheckVector(vector)]));
  let drift = 0;
  for (const v of vectors) {
    const now = formatCheckVector(v).split('\n');
    const was = committed.get(v.run)?.split('\n');
    if (was === undefined) {
      console.log(`${v.run}: no committed vector`);
      drift++;
      continue;
    }
    const at = now.findIndex((line, i) => line !== was[i]);
    if (at >= 0 || now.length !== was.length) {
      const i = at >= 0 ? at : Math.min(now.length, was.length);
      console.log(`${v.run}: drift at line ${i + 1}\n  committed: ${was[i] ?? '(end)'}\n  recorded:  ${now[i] ?? '(end)'}`);
      drift++;
    } else console.log(`${v.run}: same (${v.peers.length} peers, ${v.pages.length} page bursts)`);
  }
  console.log(`${drift === 0 ? 'no drift' : `${drift} vector(s) drifted`} (nginx ${binary.version}, ${wall} s)`);
  return drift === 0 ? 0 : 1;
}

runMain(main);
