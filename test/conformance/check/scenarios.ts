/**
 * The check-module recordings as data: each run is one nginx (the check-module build) with a few
 * `upstream` blocks that carry `check` lines, and a script per peer saying how the recorder's peer
 * behaves for how many of the module's checks. `record.ts` runs them; `replay.test.ts` reads the
 * vectors they produce. Follows nginx_upstream_check_module's `check` directive and the peer
 * numbering of its round-robin patch (primaries, then backups, `down` servers left out).
 *
 * Peer addresses are fixed (127.3.R.I, ports 28080 and 28081) because they appear in the status
 * page's bytes; every port the recorder listens on is on 127.0.0.1's /8 loopback.
 */

/**
 * How a peer answers a check connection:
 * - `refuse`: nothing listens (the connect is refused);
 * - `open`: accept, close 30 ms later without a byte (a `tcp` check passes: nothing was pending at its
 *   look, and the later close lets the module drop the connection it keeps after a pass and check
 *   again; a peer that sends a byte and closes at once can leave the module holding a connection it
 *   never reads again, when both arrive before its check handler runs: no further check);
 * - `hold`: accept and keep the connection open without a byte (a `tcp` check passes and the module
 *   keeps that connection, so it checks no more; an `http`/`ssl_hello`/`mysql` check waits for its timeout);
 * - `http-NNN`: read the request, answer `HTTP/1.0 NNN` with an empty body, close;
 * - `garbage`: read the request, answer a line that is not a status line, close;
 * - `close`: read the request, close without an answer.
 */
export type Condition = 'refuse' | 'open' | 'hold' | 'http-200' | 'http-302' | 'http-404' | 'http-500' | 'garbage' | 'close';

/** One stretch of a peer's script: `condition` for the next `checks` checks (0: set it and stop watching). */
export type ScriptStep = [condition: Condition, checks: number];

export interface PeerScript {
  /** The `server` line's address as written (its status-page name is nginx's text of the address). */
  server: string;
  /** Extra `server` parameters (`backup`, `down`, `weight=2`). */
  params?: string;
  /** Where the module's checks go when it differs from the server (the upstream's `check port=`). */
  checkAt?: string;
  /** Absent for a `down` server or one in an upstream without `check`: no peer is run for it. */
  script?: ScriptStep[];
}

export interface UpstreamScript {
  name: string;
  /** The directives after the `server` lines (`check ...;`, `check_http_send ...;`), or none. */
  check: string[];
  servers: PeerScript[];
}

export interface CheckRun {
  name: string;
  description: string;
  upstreams: UpstreamScript[];
  /**
   * Every peer's script ends in a state the module no longer changes (`hold` after a `tcp` pass, or a
   * check waiting for a long `timeout`): the status pages are recorded again once all are there.
   */
  frozenPages: boolean;
}

const T = 'check interval=250';

export const RUNS: readonly CheckRun[] = [
  {
    name: 'timelines',
    description:
      'rise/fall counts at every check of tcp and http checks against peers that go up and down; initial state with default_down true and false; thresholds 1, 2, 3; check_http_send and check_http_expect_alive; a check timeout',
    frozenPages: false,
    upstreams: [
      {
        name: 'tcp_default_down',
        check: [`${T} rise=2 fall=3 timeout=1000 type=tcp;`],
        servers: [
          { server: '127.3.1.1:28080', script: [['open', 3], ['refuse', 4], ['open', 1], ['refuse', 1], ['open', 2]] },
          { server: '127.3.1.2:28080', script: [['refuse', 2], ['open', 1], ['refuse', 1], ['open', 2]] },
        ],
      },
      {
        name: 'tcp_default_up',
        check: [`${T} rise=3 fall=2 timeout=1000 type=tcp default_down=false;`],
        servers: [
          { server: '127.3.1.3:28080', script: [['refuse', 1], ['open', 1], ['refuse', 2], ['open', 3]] },
          { server: '127.3.1.4:28080', script: [['open', 2], ['refuse', 3], ['open', 2], ['refuse', 1], ['open', 1]] },
        ],
      },
      {
        name: 'tcp_rise1_fall1',
        check: [`${T} rise=1 fall=1 timeout=1000 type=tcp;`],
        servers: [{ server: '127.3.1.5:28080', script: [['open', 1], ['refuse', 1], ['open', 2], ['refuse', 1]] }],
      },
      {
        name: 'http_expect',
        check: [`${T} rise=2 fall=2 timeout=1000 type=http;`, 'check_http_send "GET /health HTTP/1.0\\r\\n\\r\\n";', 'check_http_expect_alive http_2xx http_3xx;'],
        servers: [
          {
            server: '127.3.1.6:28080',
            script: [['http-200', 2], ['http-500', 2], ['http-302', 2], ['garbage', 1], ['http-404', 1], ['http-200', 2], ['close', 1], ['http-200', 1]],
          },
          { server: '127.3.1.7:28080', script: [['refuse', 2], ['http-200', 2], ['refuse', 1]] },
        ],
      },
      {
        name: 'http_2xx_only',
        check: [`${T} rise=2 fall=2 timeout=1000 type=http default_down=false;`, 'check_http_expect_alive http_2xx;'],
        servers: [{ server: '127.3.1.8:28080', script: [['http-302', 2], ['http-200', 1], ['http-500', 1], ['http-200', 2]] }],
      },
      {
        name: 'http_timeout',
        check: [`${T} rise=1 fall=2 timeout=150 type=http;`],
        servers: [{ server: '127.3.1.9:28080', script: [['http-200', 1], ['hold', 2], ['http-200', 1]] }],
      },
    ],
  },
  {
    name: 'pages',
    description:
      'status pages (json, csv, html; check_status default and fixed formats; status=up/down filters) at the start and once every peer is frozen: primaries before backups, down servers and upstreams without check left out, a server without a port, check port=, the type names tcp, http, ssl_hello, mysql',
    frozenPages: true,
    upstreams: [
      {
        name: 'web',
        check: [`${T} rise=2 fall=2 timeout=1000 type=tcp;`],
        servers: [
          { server: '127.3.2.1:28080', script: [['open', 3], ['hold', 1]] },
          { server: '127.3.2.2:28080', params: 'backup', script: [['refuse', 3], ['hold', 1]] },
          { server: '127.3.2.3:28080', params: 'down' },
          { server: '127.3.2.4:28080', params: 'weight=2', script: [['open', 2], ['refuse', 2], ['hold', 1]] },
        ],
      },
      {
        name: 'api',
        check: [`${T} rise=2 fall=3 timeout=20000 type=http port=28081 default_down=false;`, 'check_http_send "HEAD / HTTP/1.0\\r\\n\\r\\n";'],
        servers: [
          { server: '127.3.2.5:28080', checkAt: '127.3.2.5:28081', script: [['http-200', 2], ['hold', 0]] },
          { server: '127.3.2.6', checkAt: '127.3.2.6:28081', script: [['http-500', 3], ['hold', 0]] },
          { server: '127.3.2.7:28080', checkAt: '127.3.2.7:28081', script: [['http-500', 1], ['hold', 0]] },
        ],
      },
      { name: 'nocheck', check: [], servers: [{ server: '127.3.2.8:28080' }] },
      {
        name: 'tls',
        check: [`${T} rise=2 fall=2 timeout=20000 type=ssl_hello;`],
        servers: [{ server: '127.3.2.9:28080', script: [['hold', 0]] }],
      },
      {
        name: 'db',
        check: [`${T} timeout=20000 type=mysql default_down=false;`],
        servers: [{ server: '127.3.2.10:28080', script: [['hold', 0]] }],
      },
    ],
  },
];

/** The status locations of every run's nginx: `check_status` with its default format, and fixed ones. */
export const LOCATIONS: Readonly<Record<string, 'html' | 'csv' | 'json' | null>> = {
  '/status': null,
  '/status-json': 'json',
  '/status-csv': 'csv',
};

/** The requests of each page burst. */
export const PAGE_REQUESTS: readonly string[] = [
  '/status',
  '/status?format=json',
  '/status?format=csv',
  '/status?format=html',
  '/status?format=json&status=up',
  '/status?format=json&status=down',
  '/status?format=csv&status=up',
  '/status?format=csv&status=down',
  '/status?format=html&status=up',
  '/status?format=html&status=down',
  '/status?status=down',
  '/status-json',
  '/status-json?status=up',
  '/status-csv?status=down',
  '/status-csv?format=json',
  // How the module reads its arguments (nginx's ngx_http_arg: the name in any case, the value raw).
  '/status?FORMAT=csv&Status=Down',
  '/status?format=%63sv',
  '/status?format=csv+',
  '/status?format=xml',
  '/status?format=csv&status=sideways',
  '/status?format=csv&status=up&status=down',
  '/status?xformat=csv&status',
  '/status?a=1&format=csv&status=up',
];

/** The `upstream` blocks of a run as nginx text (the `http {}` body the recorder and the replay share). */
export function upstreamText(run: CheckRun): string {
  const blocks = run.upstreams.map((u) => {
    const lines = u.servers.map((s) => `    server ${s.server}${s.params ? ` ${s.params}` : ''};`);
    for (const c of u.check) lines.push(`    ${c}`);
    return `upstream ${u.name} {\n${lines.join('\n')}\n}`;
  });
  return `${blocks.join('\n')}\n`;
}
