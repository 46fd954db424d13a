/**
 * The status page of balancers without active checks (src/status/rows.ts, handler.ts): the json,
 * csv and html pages list every server where the module would answer 500, the `servers` option
 * chooses the rows, and the handler serves every format. Requests go through a fake response: no
 * socket (`../status-request.ts`).
 */
import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock } from '../../src/clock';
import { formatStatus, statusHandler, type StatusServers } from '../../src/status';
import { askStatus as ask } from '../status-request';

/** A balancer without checks: a failed primary (unavail), a draining one, an admin-down one and a backup. */
function plain(): Balancer {
  const clock = new ManualClock(1_000_000);
  const b = new Balancer({
    name: 'smtp',
    clock: clock.now,
    servers: [
      { address: '10.0.0.1:25' },
      { address: '10.0.0.2:25', backup: true },
      { address: '10.0.0.3:25', drain: true },
      { address: '10.0.0.4:25', down: true },
      { address: '10.0.0.5' },
    ],
  });
  const a = b.attempt();
  expect(a.next()!.address).toBe('10.0.0.1:25');
  a.fail();
  expect(b.get('10.0.0.1:25')!.state).toBe('unavail');
  return b;
}

function checked(): Balancer {
  const b = new Balancer({ name: 'web', servers: [{ address: '10.0.1.1:80' }, { address: '10.0.1.2:80', down: true }], check: { type: 'http', port: 8080, rise: 1, fall: 1 } });
  b.reportCheck('10.0.1.1:80', true);
  return b;
}

const PLAIN_CSV =
  '0,smtp,10.0.0.1:25,down,0,0,none,0\n' + // unavail: down
  '1,smtp,10.0.0.3:25,up,0,0,none,0\n' + // draining: up
  '2,smtp,10.0.0.4:25,down,0,0,none,0\n' + // admin down: listed, down
  '3,smtp,10.0.0.5:80,up,0,0,none,0\n' + // nginx's name of a port-less IP
  '4,smtp,10.0.0.2:25,up,0,0,none,0\n'; // the backup after the primaries

describe('pages of balancers without checks', () => {
  it('csv lists every server, primaries then backups, type none, the status read from the state', () => {
    expect(formatStatus(plain().snapshot(), 'csv')).toBe(PLAIN_CSV);
    expect(formatStatus(plain().snapshot(), 'csv', { status: 'down' })).toBe('0,smtp,10.0.0.1:25,down,0,0,none,0\n2,smtp,10.0.0.4:25,down,0,0,none,0\n');
  });

  it('json in both layouts and html carry the same rows', () => {
    const snap = plain().snapshot();
    const module = JSON.parse(formatStatus(snap, 'json'));
    expect(module.servers.total).toBe(5);
    expect(module.servers.server.map((r: { name: string; status: string; type: string }) => `${r.name} ${r.status} ${r.type}`)).toEqual([
      '10.0.0.1:25 down none',
      '10.0.0.3:25 up none',
      '10.0.0.4:25 down none',
      '10.0.0.5:80 up none',
      '10.0.0.2:25 up none',
    ]);
    expect(formatStatus(snap, 'json', { layout: 'tengine' })).toContain('  "total": 5,\n  "up": 3,\n  "down": 2,\n');
    const html = formatStatus(snap, 'html');
    expect(html).toContain('<h2>Check upstream server number: 5, generation: 1</h2>');
    expect(html.match(/<tr bgcolor="#FF0000">/g)).toHaveLength(2);
    expect(html).toContain('    <td>2</td>\n    <td>smtp</td>\n    <td>10.0.0.4:25</td>\n    <td>down</td>\n    <td>0</td>\n    <td>0</td>\n    <td>none</td>\n    <td>0</td>\n');
  });

  it('where any server is checked, the default is the module\'s rows; servers: all adds the others', () => {
    const snaps = [plain().snapshot(), checked().snapshot()];
    expect(formatStatus(snaps, 'csv')).toBe('0,web,10.0.1.1:80,up,1,0,http,8080\n');
    expect(formatStatus(snaps, 'csv', { servers: 'checked' })).toBe('0,web,10.0.1.1:80,up,1,0,http,8080\n');
    expect(formatStatus(snaps, 'csv', { servers: 'all' })).toBe(
      `${PLAIN_CSV}5,web,10.0.1.1:80,up,1,0,http,8080\n6,web,10.0.1.2:80,down,0,0,http,8080\n`, // a checked server that is admin down: listed down, its counts kept
    );
    expect(formatStatus(plain().snapshot(), 'csv', { servers: 'checked' })).toBe('');
  });

  it('rejects an unknown servers option with a typed error', () => {
    for (const servers of ['every', 'ALL', 1, null]) {
      const expected = expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION', option: 'servers', value: servers, message: `Expected \`servers\` to be one of checked, all, got ${servers === null ? 'null' : typeof servers === 'string' ? `"${servers}"` : servers}` });
      expect(() => formatStatus(plain().snapshot(), 'csv', { servers: servers as StatusServers })).toThrow(expected);
      expect(() => statusHandler([], { servers: servers as StatusServers })).toThrow(expected);
    }
  });
});

describe('statusHandler without checks', () => {
  it('serves every format with 200 (the module answered 500)', () => {
    const handler = statusHandler([plain()]);
    const html = ask(handler, '/');
    expect([html.code, html.contentType]).toEqual([200, 'text/html']);
    expect(html.body).toBe(formatStatus(plain().snapshot(), 'html'));
    expect(ask(handler, '/?format=csv')).toEqual({ code: 200, contentType: 'text/plain', body: PLAIN_CSV });
    const json = ask(handler, '/?format=json&status=up');
    expect([json.code, json.contentType, JSON.parse(json.body).servers.total]).toEqual([200, 'application/json', 3]);
    const prom = ask(handler, '/?format=prometheus');
    expect([prom.code, prom.contentType]).toEqual([200, 'text/plain; version=0.0.4']);
    expect(prom.body).toContain('upstream_balancer_server_state{upstream="smtp",server="10.0.0.1:25",state="unavail"} 1\n');
    expect(prom.body).toContain('upstream_balancer_server_failures_total{upstream="smtp",server="10.0.0.1:25"} 1\n');
  });

  it('answers the module\'s 500 only when there is no row at all; prometheus has its families even then', () => {
    const none = ask(statusHandler([]), '/?format=json');
    expect(none).toEqual({ code: 500, contentType: 'text/plain', body: "can not find any check server, make sure you've added the check servers\n" });
    const onlyChecked = ask(statusHandler([plain()], { servers: 'checked' }), '/?format=csv');
    expect(onlyChecked.code).toBe(500);
    const prom = ask(statusHandler([]), '/?format=prometheus');
    expect(prom.code).toBe(200);
    expect(prom.body.startsWith('# HELP upstream_balancer_server_info ')).toBe(true);
    expect(prom.body).not.toMatch(/^upstream_balancer_/m);
  });

  it('answers 500 with the fixed text when two balancers would be one series, and takes a prefix', () => {
    const twins = [new Balancer({ servers: [{ address: '10.0.0.1:25' }] }), new Balancer({ servers: [{ address: '10.0.0.2:25' }] })];
    expect(ask(statusHandler(twins), '/?format=prometheus')).toEqual({ code: 500, contentType: 'text/plain', body: 'status unavailable\n' });
    expect(ask(statusHandler(twins), '/?format=csv').code).toBe(200); // the module's pages have no series
    expect(ask(statusHandler([plain()], { prefix: 'mail_' }), '/?format=prometheus').body).toContain('\nmail_server_conns{upstream="smtp",server="10.0.0.1:25"} 0\n');
  });
});
