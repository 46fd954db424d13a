/**
 * The status page server of the status-request fuzz (status-requests.ts), run as its own process so
 * that a crash is observed rather than suffered: `node --import tsx test/fuzz/status-server.ts SECRET`.
 * Serves `statusHandler` on 127.0.0.1, an ephemeral port (printed as `PORT n`), over balancers
 * whose names and addresses hold every format's special characters and spreadsheet formula
 * starters, through a source function that now and then throws an error whose text is `SECRET`,
 * returns no balancer, returns a source whose `snapshot()` throws, or adds a balancer of 3,000
 * servers (a page the handler streams in pieces). Stops on SIGTERM or when
 * stdin closes. Prints `STOP` when it stops cleanly.
 */

import http from 'node:http';
import { Balancer } from '../../src/balancer';
import { statusHandler, type SnapshotSource } from '../../src/status';

const secret = process.argv[2] ?? 'SECRET';
const format = (process.argv[3] ?? 'html') as 'html' | 'json' | 'csv' | 'prometheus';

/** Names and addresses a status page must escape (they are valid Balancer names and ids). */
const HOSTILE = [
  'smtp', '<script>alert(1)</script>', 'a"b\\c', "it's", 'x,y\nz', '=HYPERLINK("http://e/")', '+1', '-2', '@sum', '\tlead', '\rcr',
  'é\u2028\u2029\u0000', '}{"', '# HELP', 'a\\"', '%s%n',
];

function balancers(): Balancer[] {
  const out: Balancer[] = [];
  HOSTILE.forEach((name, i) => {
    const servers = [
      { address: `${HOSTILE[(i + 1) % HOSTILE.length]}:${1 + i}`, id: `a${i}` },
      { address: `10.0.0.${i}:25`, id: `b${i}` },
      { address: `[::${i}]:25`, id: `c${i}`, backup: true },
      { address: `unix:/tmp/${name}`, id: `d${i}`, down: true },
    ];
    const b = new Balancer({ name, servers, check: { type: i % 2 === 0 ? 'tcp' : 'http', port: i % 3 === 0 ? 0 : 8000 + i, rise: 1 + (i % 3), fall: 1 + (i % 4) } });
    for (let k = 0; k < i % 5; k++) b.reportCheck(`a${i}`, k % 2 === 0);
    b.reportCheck(`b${i}`, true);
    const s = b.pick();
    if (s !== undefined && i % 2 === 0) b.release(s, true);
    out.push(b);
  });
  out.push(new Balancer({ name: 'unchecked', servers: [{ address: '10.9.9.9:1' }] }));
  return out;
}

const list = balancers();
/** A page of several pieces (the handler streams pages of more than 1,000 rows, chunked). */
const big = new Balancer({
  name: 'big',
  // prometheus prints every server on 22 lines: 1,100 servers still stream (more than 1,000) in a
  // page of 1.9 MB, which the fuzz client (it re-reads all it received at each chunk) takes in time
  servers: Array.from({ length: format === 'prometheus' ? 1100 : 3000 }, (_, i) => ({ address: `10.1.${i >> 8}.${i & 255}:25`, id: `big${i}` })),
  check: { type: 'tcp', defaultDown: false },
});
const throwingSource: SnapshotSource = {
  snapshot() {
    throw new Error(secret);
  },
};
let calls = 0;
const source = (): readonly SnapshotSource[] => {
  const k = calls++ % 11;
  if (k === 3) throw new Error(secret);
  if (k === 5) return [];
  if (k === 7) return [list[0]!, throwingSource];
  if (k === 9) return [list[list.length - 1]!]; // no checked server: every server listed (the module answered 500)
  if (k === 10) return [list[1]!, big];
  return list;
};

const server = http.createServer(statusHandler(source, { format, generation: 7 }));
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  console.log(`PORT ${typeof a === 'object' && a !== null ? a.port : 0}`);
});

const stop = (): void => {
  server.close(() => {
    console.log('STOP');
    process.exit(0);
  });
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
