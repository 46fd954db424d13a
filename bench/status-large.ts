/**
 * The status page at 100,000 checked servers over real HTTP on 127.0.0.1: the longest event-loop
 * stall and the time to the full page, per format (issue 14, item 12). `node --import tsx bench/status-large.ts [n]`
 */
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Balancer } from '../src/balancer';
import { statusHandler } from '../src/status';

const n = Number(process.argv[2] ?? 100_000);
const servers = Array.from({ length: n }, (_, i) => ({ address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:25` }));
const b = new Balancer({ name: 'big', servers, check: { interval: 5000, defaultDown: false } });
const server = http.createServer(statusHandler([b]));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as { port: number }).port;
for (const format of ['prometheus', 'json', 'html', 'csv']) {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const t0 = performance.now();
  const bytes = await new Promise<number>((resolve) => {
    http.get({ host: '127.0.0.1', port, path: `/?format=${format}`, agent: false }, (res) => {
      let len = 0;
      res.on('data', (c: Buffer) => (len += c.length));
      res.on('end', () => resolve(len));
    });
  });
  const ms = performance.now() - t0;
  h.disable();
  console.log(`${format.padEnd(10)} ${(bytes / 1e6).toFixed(1).padStart(6)} MB in ${ms.toFixed(0).padStart(5)} ms; loop delay max ${(h.max / 1e6).toFixed(0)} ms, p99 ${(h.percentile(99) / 1e6).toFixed(0)} ms`);
}
let t = performance.now();
b.snapshot();
console.log(`snapshot() alone: ${(performance.now() - t).toFixed(0)} ms`);
server.close();
