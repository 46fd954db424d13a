/**
 * Status page formats (src/status/) against the byte layouts of docs/nginx-semantics.md §7.6.
 */
import { describe, expect, it } from 'vitest';
import { formatStatus, statusHandler, type StatusSnapshot } from '../../src/status';
import type { ServerState } from '../../src/server';

type Check = { down: boolean; rise: number; fall: number; type: string; port: number } | null;

function srv(address: string, check: Check, state: ServerState = check?.down ? 'unhealthy' : 'up', extra: { conns?: number; fails?: number; down?: boolean } = {}) {
  return { address, down: extra.down ?? false, state, conns: extra.conns ?? 0, fails: extra.fails ?? 0, check };
}

const backend: StatusSnapshot = {
  name: 'backend',
  servers: [
    srv('127.0.0.1:18081', { down: false, rise: 3, fall: 0, type: 'tcp', port: 0 }),
    srv('127.0.0.1:18089', { down: true, rise: 0, fall: 4, type: 'tcp', port: 0 }),
  ],
};
const web2: StatusSnapshot = {
  name: 'web2',
  servers: [srv('127.0.0.1:18082', { down: false, rise: 4, fall: 0, type: 'http', port: 18083 })],
};

describe('formatStatus json (the module\'s layout, the default)', () => {
  const row0 = '    {"index": 0, "upstream": "backend", "name": "127.0.0.1:18081", "status": "up", "rise": 3, "fall": 0, "type": "tcp", "port": 0}';
  const row1 = '    {"index": 1, "upstream": "backend", "name": "127.0.0.1:18089", "status": "down", "rise": 0, "fall": 4, "type": "tcp", "port": 0}';
  const row2 = '    {"index": 2, "upstream": "web2", "name": "127.0.0.1:18082", "status": "up", "rise": 4, "fall": 0, "type": "http", "port": 18083}';

  it('total, generation and the rows, a comma after every row but the last', () => {
    expect(formatStatus([backend, web2], 'json')).toBe(`{"servers": {\n  "total": 3,\n  "generation": 1,\n  "server": [\n${row0},\n${row1},\n${row2}\n  ]\n}}\n`);
    expect(JSON.parse(formatStatus([backend, web2], 'json')).servers.server).toHaveLength(3);
  });

  it('a filter that drops the last checked server leaves the comma of the last row shown, as the module does', () => {
    expect(formatStatus([backend, web2], 'json', { status: 'down', generation: 7 })).toBe(
      `{"servers": {\n  "total": 1,\n  "generation": 7,\n  "server": [\n${row1},\n  ]\n}}\n`,
    );
    expect(formatStatus([backend, web2], 'json', { status: 'up' })).toBe(`{"servers": {\n  "total": 2,\n  "generation": 1,\n  "server": [\n${row0},\n${row2}\n  ]\n}}\n`);
    expect(formatStatus([web2], 'json', { status: 'down' })).toBe('{"servers": {\n  "total": 0,\n  "generation": 1,\n  "server": [\n  ]\n}}\n');
  });

  it('escapes strings (names nginx accepts need none)', () => {
    const odd: StatusSnapshot = { name: 'a"b\\c', servers: [srv('h:1', { down: false, rise: 0, fall: 0, type: 'custom', port: 0 })] };
    expect(JSON.parse(formatStatus(odd, 'json')).servers.server[0].upstream).toBe('a"b\\c');
  });
});

describe('formatStatus json, layout: tengine (Tengine 3.2.0)', () => {
  it('adds up and down counts and stays valid JSON when the last row is dropped', () => {
    expect(formatStatus([backend, web2], 'json', { layout: 'tengine' })).toBe(
      '{"servers": {\n' +
        '  "total": 3,\n' +
        '  "up": 2,\n' +
        '  "down": 1,\n' +
        '  "generation": 1,\n' +
        '  "server": [\n' +
        '    {"index": 0, "upstream": "backend", "name": "127.0.0.1:18081", "status": "up", "rise": 3, "fall": 0, "type": "tcp", "port": 0},\n' +
        '    {"index": 1, "upstream": "backend", "name": "127.0.0.1:18089", "status": "down", "rise": 0, "fall": 4, "type": "tcp", "port": 0},\n' +
        '    {"index": 2, "upstream": "web2", "name": "127.0.0.1:18082", "status": "up", "rise": 4, "fall": 0, "type": "http", "port": 18083}\n' +
        '  ]\n' +
        '}}\n',
    );
    const out = formatStatus([backend, web2], 'json', { status: 'down', generation: 7, layout: 'tengine' });
    expect(out).toBe(
      '{"servers": {\n  "total": 1,\n  "up": 0,\n  "down": 1,\n  "generation": 7,\n  "server": [\n' +
        '    {"index": 1, "upstream": "backend", "name": "127.0.0.1:18089", "status": "down", "rise": 0, "fall": 4, "type": "tcp", "port": 0}\n' +
        '  ]\n}}\n',
    );
    expect(JSON.parse(formatStatus({ name: 'x', servers: [] }, 'json', { layout: 'tengine' }))).toEqual({ servers: { total: 0, up: 0, down: 0, generation: 1, server: [] } });
  });

  it('is chosen by name only', () => {
    for (const layout of ['Tengine', 'yaoweibin', '', 1, null]) {
      expect(() => formatStatus(backend, 'json', { layout: layout as 'module' })).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION', option: 'layout' }));
      expect(() => statusHandler([], { layout: layout as 'module' })).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION', option: 'layout' }));
    }
    expect(formatStatus(backend, 'json', { layout: 'module' })).toBe(formatStatus(backend, 'json'));
  });
});

describe('formatStatus rows as the module numbers its peers', () => {
  it('primaries first, then backups, per balancer; the module\'s type names; nginx\'s text of a port-less IP', () => {
    const mixed: StatusSnapshot = {
      name: 'm',
      servers: [
        { ...srv('10.0.0.1', { down: false, rise: 1, fall: 0, type: 'tls', port: 0 }), backup: true },
        srv('10.0.0.2:8080', { down: false, rise: 1, fall: 0, type: 'tls', port: 0 }),
        { ...srv('[::1]', { down: false, rise: 1, fall: 0, type: 'tls', port: 0 }), backup: true },
        srv('backend.internal', { down: false, rise: 1, fall: 0, type: 'tls', port: 0 }),
      ],
    };
    expect(formatStatus([mixed, web2], 'csv')).toBe(
      '0,m,10.0.0.2:8080,up,1,0,ssl_hello,0\n1,m,backend.internal,up,1,0,ssl_hello,0\n2,m,10.0.0.1:80,up,1,0,ssl_hello,0\n3,m,[::1]:80,up,1,0,ssl_hello,0\n4,web2,127.0.0.1:18082,up,4,0,http,18083\n',
    );
  });
});

describe('formatStatus rows', () => {
  it('lists only checked servers when any server is checked, skipping admin-down ones and balancers without checks, indexing globally', () => {
    const unchecked: StatusSnapshot = { name: 'plain', servers: [srv('10.0.0.9:25', null)] };
    const mixed: StatusSnapshot = {
      name: 'mixed',
      servers: [
        srv('10.0.0.1:25', { down: false, rise: 2, fall: 0, type: 'smtp', port: 0 }),
        srv('10.0.0.2:25', { down: true, rise: 0, fall: 0, type: 'smtp', port: 0 }, 'down', { down: true }),
        srv('10.0.0.3:25', { down: true, rise: 0, fall: 0, type: 'smtp', port: 0 }, 'checking'),
      ],
    };
    expect(formatStatus([unchecked, mixed, web2], 'csv')).toBe(
      '0,mixed,10.0.0.1:25,up,2,0,smtp,0\n1,mixed,10.0.0.3:25,down,0,0,smtp,0\n2,web2,127.0.0.1:18082,up,4,0,http,18083\n',
    );
  });

  it('accepts one snapshot as well as a list', () => {
    expect(formatStatus(backend, 'csv')).toBe(formatStatus([backend], 'csv'));
  });

  it('rejects an unknown format', () => {
    expect(() => formatStatus(backend, 'xml' as 'json')).toThrow(
      expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION', message: 'Expected `format` to be one of json, csv, html, prometheus, got "xml"' }),
    );
    // the generation is printed raw: only a non-negative integer is taken
    for (const generation of [Infinity, NaN, -1, 1.5, '2', {}]) {
      expect(() => formatStatus(backend, 'json', { generation: generation as number })).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION' }));
      expect(() => statusHandler([], { generation: generation as number })).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION' }));
    }
    expect(() => statusHandler([], { format: 'xml' as 'json' })).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION' }));
  });
});

describe('formatStatus csv', () => {
  it('prefixes a cell a spreadsheet would run as a formula with a quote', () => {
    const snap = (name: string, address: string) => ({
      name,
      servers: [{ address, down: false, state: 'up' as const, conns: 0, fails: 0, check: { down: false, rise: 1, fall: 0, type: 'tcp', port: 0 } }],
    });
    expect(formatStatus(snap('=cmd|calc', '@10.0.0.1:25'), 'csv')).toBe("0,'=cmd|calc,'@10.0.0.1:25,up,1,0,tcp,0\n");
    expect(formatStatus(snap('+1', '-2'), 'csv')).toBe("0,'+1,'-2,up,1,0,tcp,0\n");
    expect(formatStatus(snap('=a,b', 'x'), 'csv')).toBe(`0,"'=a,b",x,up,1,0,tcp,0\n`);
    expect(formatStatus(snap('a=b', 'x'), 'csv')).toBe('0,a=b,x,up,1,0,tcp,0\n');
  });

  it('matches the module: one line per row, no header', () => {
    expect(formatStatus(backend, 'csv')).toBe('0,backend,127.0.0.1:18081,up,3,0,tcp,0\n1,backend,127.0.0.1:18089,down,0,4,tcp,0\n');
    expect(formatStatus(backend, 'csv', { status: 'down' })).toBe('1,backend,127.0.0.1:18089,down,0,4,tcp,0\n');
    expect(formatStatus(backend, 'csv', { status: 'up' })).toBe('0,backend,127.0.0.1:18081,up,3,0,tcp,0\n');
  });

  it('quotes a field that holds a comma or a quote', () => {
    const odd: StatusSnapshot = { name: 'a,b', servers: [srv('h"x:1', { down: false, rise: 1, fall: 0, type: 'tcp', port: 0 })] };
    expect(formatStatus(odd, 'csv')).toBe('0,"a,b","h""x:1",up,1,0,tcp,0\n');
  });
});

describe('formatStatus html', () => {
  it('matches the captured page byte for byte, malformed DOCTYPE included', () => {
    expect(formatStatus(backend, 'html')).toBe(`<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN
"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
  <title>Nginx http upstream check status</title>
</head>
<body>
<h1>Nginx http upstream check status</h1>
<h2>Check upstream server number: 2, generation: 1</h2>
<table style="background-color:white" cellspacing="0"        cellpadding="3" border="1">
  <tr bgcolor="#C0C0C0">
    <th>Index</th>
    <th>Upstream</th>
    <th>Name</th>
    <th>Status</th>
    <th>Rise counts</th>
    <th>Fall counts</th>
    <th>Check type</th>
    <th>Check port</th>
  </tr>
  <tr>
    <td>0</td>
    <td>backend</td>
    <td>127.0.0.1:18081</td>
    <td>up</td>
    <td>3</td>
    <td>0</td>
    <td>tcp</td>
    <td>0</td>
  </tr>
  <tr bgcolor="#FF0000">
    <td>1</td>
    <td>backend</td>
    <td>127.0.0.1:18089</td>
    <td>down</td>
    <td>0</td>
    <td>4</td>
    <td>tcp</td>
    <td>0</td>
  </tr>
</table>
</body>
</html>
`);
  });

  it('counts filtered rows in the h2 and escapes names', () => {
    const odd: StatusSnapshot = { name: '<script>&', servers: [srv(`a'"b:1`, { down: false, rise: 1, fall: 0, type: 'tcp', port: 0 })] };
    const out = formatStatus([backend, odd], 'html', { status: 'up', generation: 3 });
    expect(out).toContain('<h2>Check upstream server number: 2, generation: 3</h2>\n');
    expect(out).toContain('    <td>2</td>\n    <td>&lt;script&gt;&amp;</td>\n    <td>a&#39;&quot;b:1</td>\n');
    expect(out).not.toContain('<script>');
  });
});

/**
 * nginx's `ngx_http_arg` as the C walks it: find `name` (ASCII case-insensitive) anywhere from `p`;
 * a hit counts when it starts the query or follows `&` and is followed by `=`; else go on from the
 * next byte. The value runs to the next `&`.
 */
function ngxHttpArg(args: string, name: string): string | null {
  const lower = (t: string) => t.replace(/[A-Z]/g, (c) => c.toLowerCase());
  const hay = lower(args);
  for (let p = 0; p < args.length; p++) {
    p = hay.indexOf(name, p);
    if (p < 0 || p + name.length >= args.length) return null;
    if ((p === 0 || args[p - 1] === '&') && args[p + name.length] === '=') {
      const amp = args.indexOf('&', p);
      return args.slice(p + name.length + 1, amp < 0 ? args.length : amp);
    }
  }
  return null;
}

describe('the query of a request target', () => {
  it('gives the value nginx\'s ngx_http_arg gives (name in any case, value raw), on random targets', async () => {
    const fc = (await import('fast-check')).default;
    const { queryParam } = await import('../../src/status');
    const piece = fc.constantFrom('format', 'FORMAT', 'Status', 'status', 'fo%72mat', 'f+ormat', 'xformat', 'json', 'csv', '=', '&', '?', '#', '%', '%2', '%zz', '+', 'a', '', '%26', 'é');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 14 }), fc.constantFrom('format', 'status'), (parts, name) => {
        const target = parts.join('');
        const hash = target.indexOf('#');
        const path = hash < 0 ? target : target.slice(0, hash);
        const q = path.indexOf('?');
        const want = q < 0 ? null : ngxHttpArg(path.slice(q + 1), name);
        expect(queryParam(target, name)).toBe(want);
      }),
      { numRuns: 5000 },
    );
  });

  it('examples: the recorded module answers', async () => {
    const { queryParam } = await import('../../src/status');
    expect(queryParam('/status?FORMAT=csv&Status=Down', 'status')).toBe('Down');
    expect(queryParam('/status?format=%63sv', 'format')).toBe('%63sv');
    expect(queryParam('/status?format=csv+', 'format')).toBe('csv+');
    expect(queryParam('/status?xformat=csv&status', 'format')).toBeNull();
    expect(queryParam('/status?xformat=csv&status', 'status')).toBeNull();
    expect(queryParam('/status?format=csv&status=up&status=down', 'status')).toBe('up');
    expect(queryParam('/s?format=', 'format')).toBe('');
  });
});

describe('rows only the library has (docs/health-checks.md, the library\'s extensions)', () => {
  it('smtp and probe-function types, a stream upstream with check, and a balancer without check that got results', async () => {
    const { Balancer } = await import('../../src/index');
    const plain = new Balancer({ name: 'plain', servers: [{ address: '10.0.0.1:25' }, { address: '10.0.0.2:25' }] });
    plain.reportCheck('10.0.0.1:25', false);
    const fn = new Balancer({ name: 'fn', servers: [{ address: '10.0.0.3:25' }], check: { type: async () => true } });
    const mail = Balancer.fromNginx('stream { upstream mail { server 10.0.0.4:25; check interval=5000 rise=2 fall=5 timeout=2000 type=smtp; } }', 'mail');
    expect(formatStatus([plain, fn, mail].map((b) => b.snapshot()), 'csv')).toBe(
      '0,plain,10.0.0.1:25,up,0,1,tcp,0\n1,fn,10.0.0.3:25,down,0,0,custom,0\n2,mail,10.0.0.4:25,down,0,0,smtp,0\n',
    );
  });
});
