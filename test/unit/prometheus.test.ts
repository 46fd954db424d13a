/**
 * The Prometheus text of every server (src/status/prometheus.ts, src/status/metrics.ts): the exact
 * page, checked by a strict parser of the text exposition format 0.0.4 written here; stable series
 * through every state change; the counters; hostile names; the prefix; duplicate series; and the
 * families, types, labels and HELP texts of docs/metrics.md.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer';
import { ManualClock } from '../../src/clock';
import type { ServerSnapshot } from '../../src/server';
import { formatStatus, statusHandler, type StatusSnapshot } from '../../src/status';
import { SERVER_FAMILIES } from '../../src/status/metrics';

interface Sample {
  labels: Record<string, string>;
  value: number;
}
interface Family {
  help: string;
  type: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/**
 * A strict reader of the text exposition format 0.0.4 for gauges and counters: every line is a
 * HELP, a TYPE, a blank line or a sample; a family's HELP and TYPE come once, before its samples,
 * and its samples are contiguous; label values use only the escapes `\\`, `\"` and `\n`; no
 * sample repeats a label set; a counter is never negative. Throws with the line number.
 */
function parseExposition(text: string): Map<string, Family> {
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the text does not end with a line feed');
  const families = new Map<string, Family>();
  const closed = new Set<string>();
  let current: string | null = null;
  const lines = text.split('\n').slice(0, -1);
  const family = (name: string, at: number): Family => {
    if (closed.has(name)) throw new Error(`line ${at}: family ${name} is not contiguous`);
    if (current !== null && current !== name) closed.add(current);
    current = name;
    let f = families.get(name);
    if (f === undefined) families.set(name, (f = { help: '', type: '', samples: [] }));
    return f;
  };
  const seen = new Set<string>();
  lines.forEach((line, i) => {
    const at = i + 1;
    if (line === '') return;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta !== null) {
      const [, kind, name, rest] = meta;
      if (!NAME.test(name!)) throw new Error(`line ${at}: bad metric name ${name}`);
      const f = family(name!, at);
      if (f.samples.length > 0) throw new Error(`line ${at}: ${kind} after the samples of ${name}`);
      if (kind === 'HELP') {
        if (f.help !== '') throw new Error(`line ${at}: second HELP for ${name}`);
        if (/\\[^\\n]/.test(rest!.replace(/\\\\/g, ''))) throw new Error(`line ${at}: bad escape in HELP`);
        f.help = rest!.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
      } else {
        if (f.type !== '') throw new Error(`line ${at}: second TYPE for ${name}`);
        if (!TYPES.has(rest!)) throw new Error(`line ${at}: bad type ${rest}`);
        f.type = rest!;
      }
      return;
    }
    if (line.startsWith('#')) throw new Error(`line ${at}: a comment that is neither HELP nor TYPE`);
    const head = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{|\s)/.exec(line);
    if (head === null) throw new Error(`line ${at}: not a sample: ${JSON.stringify(line)}`);
    const name = head[1]!;
    const f = family(name, at);
    if (f.type === '') throw new Error(`line ${at}: sample of ${name} before its TYPE`);
    let p = name.length;
    const labels: Record<string, string> = {};
    if (line[p] === '{') {
      p++;
      while (line[p] !== '}') {
        const m = /^([^=]*)="/.exec(line.slice(p));
        if (m === null || !LABEL.test(m[1]!) || m[1]!.startsWith('__')) throw new Error(`line ${at}: bad label at ${p}`);
        p += m[0].length;
        let value = '';
        for (;;) {
          const c = line[p];
          if (c === undefined) throw new Error(`line ${at}: unterminated label value`);
          p++;
          if (c === '"') break;
          if (c === '\\') {
            const e = line[p++];
            if (e === '\\') value += '\\';
            else if (e === '"') value += '"';
            else if (e === 'n') value += '\n';
            else throw new Error(`line ${at}: bad escape \\${e}`);
          } else value += c;
        }
        if (Object.prototype.hasOwnProperty.call(labels, m[1]!)) throw new Error(`line ${at}: label ${m[1]} twice`);
        labels[m[1]!] = value;
        if (line[p] === ',') p++;
        else if (line[p] !== '}') throw new Error(`line ${at}: expected , or } at ${p}`);
      }
      p++;
    }
    const rest = /^ (\S+)$/.exec(line.slice(p));
    if (rest === null) throw new Error(`line ${at}: bad value part ${JSON.stringify(line.slice(p))}`);
    const text = rest[1]!;
    if (!/^([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|NaN|[+-]Inf)$/.test(text)) throw new Error(`line ${at}: bad value ${text}`);
    const value = text.endsWith('Inf') ? (text.startsWith('-') ? -Infinity : Infinity) : Number(text);
    if (f.type === 'counter' && !(value >= 0)) throw new Error(`line ${at}: negative counter`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`line ${at}: duplicate series ${key}`);
    seen.add(key);
    f.samples.push({ labels, value });
  });
  return families;
}

/** Every series of a page: `name{labels}` with the labels sorted. */
function seriesOf(text: string): string[] {
  const out: string[] = [];
  for (const [name, f] of parseExposition(text)) for (const s of f.samples) out.push(`${name}${JSON.stringify(Object.entries(s.labels).sort())}`);
  return out.sort();
}

/** The value of one series, or undefined. */
function valueOf(text: string, name: string, labels: Record<string, string>): number | undefined {
  const f = parseExposition(text).get(name);
  return f?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

function server(over: Partial<ServerSnapshot>): ServerSnapshot {
  return {
    id: 'a', address: '10.0.0.1:25', weight: 1, effectiveWeight: 1, currentWeight: 0, backup: false, down: false, drain: false,
    maxFails: 1, failTimeout: 10_000, maxConns: 0, route: null, sid: 'f', state: 'up', conns: 0, fails: 0, accessed: null,
    checked: null, selected: 0, failures: 0, check: null, ...over,
  } as ServerSnapshot;
}

describe('the Prometheus page', () => {
  it('every server, checked or not, in the exact layout prom-client prints', () => {
    const smtp: StatusSnapshot = {
      name: 'smtp',
      servers: [
        server({ id: 'a', address: '10.0.0.1:25', weight: 3, effectiveWeight: 2, maxFails: 2, failTimeout: 1500, state: 'unavail', conns: 2, fails: 2, selected: 7, failures: 5, sid: 'blue', route: 'blue', check: { down: false, rise: 4, fall: 0, type: 'smtp', port: 0, passed: 9, failed: 3 } }),
      ],
    };
    const web: StatusSnapshot = { name: 'web', servers: [server({ id: 'w', address: '[::1]:8080', backup: true, maxConns: 4, sid: 'c0ffee', state: 'draining' })] };
    const h = (name: string, type: string) => `# HELP upstream_balancer_${name} ${SERVER_FAMILIES.find((f) => f.name === name)!.help}\n# TYPE upstream_balancer_${name} ${type}\n`;
    const a = 'upstream="smtp",server="a"';
    const w = 'upstream="web",server="w"';
    const states = (ids: string, current: string) =>
      ['up', 'down', 'draining', 'unavail', 'checking', 'unhealthy'].map((s) => `upstream_balancer_server_state{${ids},state="${s}"} ${s === current ? 1 : 0}\n`).join('');
    expect(formatStatus([smtp, web], 'prometheus')).toBe(
      h('server_info', 'gauge') +
        `upstream_balancer_server_info{${a},address="10.0.0.1:25",sid="blue",route="blue"} 1\n` +
        `upstream_balancer_server_info{${w},address="[::1]:8080",sid="c0ffee"} 1\n\n` +
        h('server_state', 'gauge') + states(a, 'unavail') + states(w, 'draining') + '\n' +
        h('server_backup', 'gauge') + `upstream_balancer_server_backup{${a}} 0\nupstream_balancer_server_backup{${w}} 1\n\n` +
        h('server_conns', 'gauge') + `upstream_balancer_server_conns{${a}} 2\nupstream_balancer_server_conns{${w}} 0\n\n` +
        h('server_weight', 'gauge') + `upstream_balancer_server_weight{${a}} 3\nupstream_balancer_server_weight{${w}} 1\n\n` +
        h('server_effective_weight', 'gauge') + `upstream_balancer_server_effective_weight{${a}} 2\nupstream_balancer_server_effective_weight{${w}} 1\n\n` +
        h('server_fails', 'gauge') + `upstream_balancer_server_fails{${a}} 2\nupstream_balancer_server_fails{${w}} 0\n\n` +
        h('server_max_fails', 'gauge') + `upstream_balancer_server_max_fails{${a}} 2\nupstream_balancer_server_max_fails{${w}} 1\n\n` +
        h('server_fail_timeout_seconds', 'gauge') + `upstream_balancer_server_fail_timeout_seconds{${a}} 1.5\nupstream_balancer_server_fail_timeout_seconds{${w}} 10\n\n` +
        h('server_max_conns', 'gauge') + `upstream_balancer_server_max_conns{${a}} 0\nupstream_balancer_server_max_conns{${w}} 4\n\n` +
        h('server_selections_total', 'counter') + `upstream_balancer_server_selections_total{${a}} 7\nupstream_balancer_server_selections_total{${w}} 0\n\n` +
        h('server_failures_total', 'counter') + `upstream_balancer_server_failures_total{${a}} 5\nupstream_balancer_server_failures_total{${w}} 0\n\n` +
        h('server_check_up', 'gauge') + `upstream_balancer_server_check_up{${a}} 1\n\n` +
        h('server_check_rise', 'gauge') + `upstream_balancer_server_check_rise{${a}} 4\n\n` +
        h('server_check_fall', 'gauge') + `upstream_balancer_server_check_fall{${a}} 0\n\n` +
        h('server_checks_total', 'counter') + `upstream_balancer_server_checks_total{${a},result="passed"} 9\nupstream_balancer_server_checks_total{${a},result="failed"} 3\n`,
    );
  });

  it('has no positional index and no label that moves with the state', () => {
    const b = new Balancer({ name: 'u', servers: [{ address: '10.0.0.1:25' }], check: { rise: 1, fall: 1 } });
    const labels = new Set<string>();
    for (const f of parseExposition(formatStatus(b.snapshot(), 'prometheus')).values()) for (const s of f.samples) for (const k of Object.keys(s.labels)) labels.add(k);
    expect([...labels].sort()).toEqual(['address', 'result', 'server', 'sid', 'state', 'upstream']);
  });

  it('keeps the same series through every state, check result, failure and weight change of a server', () => {
    const clock = new ManualClock(1_000_000);
    const b = new Balancer({
      name: 'smtp',
      clock: clock.now,
      servers: [{ address: '10.0.0.1:25', maxFails: 1, failTimeout: 1000 }, { address: '10.0.0.2:25', backup: true }],
      check: { rise: 2, fall: 2, defaultDown: true },
    });
    const page = () => formatStatus(b.snapshot(), 'prometheus');
    const first = page();
    const series = seriesOf(first);
    expect(series).toHaveLength(2 * 22); // per server: info, 6 states, 10 one-sample families, 3 check gauges, 2 check counters
    const states: string[] = [];
    const steps: (() => void)[] = [
      () => b.reportCheck('10.0.0.1:25', false), // checking -> unhealthy
      () => b.reportCheck('10.0.0.1:25', true),
      () => b.reportCheck('10.0.0.1:25', true), // up
      () => {
        const a = b.attempt();
        a.next();
        a.fail(); // unavail
      },
      () => clock.advance(5000),
      () => b.update('10.0.0.1:25', { weight: 5 }),
      () => b.update('10.0.0.1:25', { drain: true }),
      () => b.update('10.0.0.1:25', { drain: false, down: true }),
      () => b.update('10.0.0.1:25', { down: false }), // back from down: checks again
    ];
    for (const step of steps) {
      step();
      const text = page();
      expect(seriesOf(text)).toEqual(series);
      const state = parseExposition(text).get('upstream_balancer_server_state')!.samples.filter((s) => s.labels.server === '10.0.0.1:25');
      expect(state.reduce((n, s) => n + s.value, 0)).toBe(1);
      states.push(state.find((s) => s.value === 1)!.labels.state!);
    }
    expect(states).toEqual(['unhealthy', 'unhealthy', 'up', 'unavail', 'unavail', 'unavail', 'draining', 'down', 'checking']);
    // the counters never went down: 3 checks passed or failed, then 1 selection and 1 failure
    const last = page();
    const a = { upstream: 'smtp', server: '10.0.0.1:25' };
    expect(valueOf(last, 'upstream_balancer_server_checks_total', { ...a, result: 'passed' })).toBe(2);
    expect(valueOf(last, 'upstream_balancer_server_checks_total', { ...a, result: 'failed' })).toBe(1);
    expect(valueOf(last, 'upstream_balancer_server_check_rise', a)).toBe(0); // restarted by the return from down
    expect(valueOf(last, 'upstream_balancer_server_selections_total', a)).toBe(1);
    expect(valueOf(last, 'upstream_balancer_server_failures_total', a)).toBe(1);
    expect(valueOf(last, 'upstream_balancer_server_weight', a)).toBe(5);
  });

  it('counts selections, failures and check results from the snapshot', () => {
    const clock = new ManualClock(1_000_000);
    const b = new Balancer({ name: 'u', clock: clock.now, servers: [{ id: 'A', address: '10.0.0.1:25', weight: 2, maxFails: 3 }, { id: 'B', address: '10.0.0.2:25' }] });
    for (let i = 0; i < 6; i++) b.release(b.pick()!);
    const a = b.attempt();
    const first = a.next()!;
    a.fail();
    a.next();
    a.release();
    b.reportCheck('B', false);
    b.reportCheck('B', true);
    b.reportCheck('B', true);
    const text = formatStatus(b.snapshot(), 'prometheus');
    const snap = b.snapshot().servers;
    for (const s of snap) {
      const l = { upstream: 'u', server: s.id };
      expect(valueOf(text, 'upstream_balancer_server_selections_total', l)).toBe(s.selected);
      expect(valueOf(text, 'upstream_balancer_server_failures_total', l)).toBe(s.failures);
      expect(valueOf(text, 'upstream_balancer_server_effective_weight', l)).toBe(s.effectiveWeight);
    }
    expect(snap.map((s) => s.selected)).toEqual([5, 3]);
    expect(first.id).toBe('A');
    expect(valueOf(text, 'upstream_balancer_server_failures_total', { server: 'A' })).toBe(1);
    expect(valueOf(text, 'upstream_balancer_server_fails', { server: 'A' })).toBe(1);
    // A never had a check result: no check series; B got three
    expect(valueOf(text, 'upstream_balancer_server_check_up', { server: 'A' })).toBeUndefined();
    expect(valueOf(text, 'upstream_balancer_server_checks_total', { server: 'B', result: 'passed' })).toBe(2);
    expect(valueOf(text, 'upstream_balancer_server_checks_total', { server: 'B', result: 'failed' })).toBe(1);
  });

  it('round-trips any upstream name, id and address through the label escapes', () => {
    const text = fc.string({ unit: 'binary', minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(text, fc.uniqueArray(text, { minLength: 1, maxLength: 4 }), text, (name, ids, address) => {
        const snap: StatusSnapshot = { name, servers: ids.map((id) => server({ id, address, sid: `${id}"\\\n` })) };
        const families = parseExposition(formatStatus(snap, 'prometheus'));
        const info = families.get('upstream_balancer_server_info')!.samples;
        expect(info.map((s) => s.labels)).toEqual(ids.map((id) => ({ upstream: name, server: id, address, sid: `${id}"\\\n` })));
      }),
      { numRuns: 300 },
    );
  });

  it('ignores status= and servers: series do not come and go with a state', () => {
    const b = new Balancer({ name: 'u', servers: [{ address: '10.0.0.1:25' }, { address: '10.0.0.2:25', down: true }] });
    const all = formatStatus(b.snapshot(), 'prometheus');
    expect(formatStatus(b.snapshot(), 'prometheus', { status: 'up' })).toBe(all);
    expect(formatStatus(b.snapshot(), 'prometheus', { status: 'down', servers: 'checked' })).toBe(all);
    expect(valueOf(all, 'upstream_balancer_server_state', { server: '10.0.0.2:25', state: 'down' })).toBe(1);
  });

  it('takes a prefix: empty or the start of a metric name, else InvalidOptionError', () => {
    const b = new Balancer({ name: 'u', servers: [{ address: '10.0.0.1:25' }] });
    expect(formatStatus(b.snapshot(), 'prometheus', { prefix: 'smtp_gw:' })).toContain('\nsmtp_gw:server_conns{upstream="u",server="10.0.0.1:25"} 0\n');
    expect(formatStatus(b.snapshot(), 'prometheus', { prefix: '' }).startsWith('# HELP server_info ')).toBe(true);
    for (const prefix of ['1x_', 'a-b_', 'a b', 'é_', 7, null]) {
      expect(() => formatStatus(b.snapshot(), 'prometheus', { prefix: prefix as string })).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION', option: 'prefix', value: prefix }));
      expect(() => statusHandler([b], { prefix: prefix as string })).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_OPTION', option: 'prefix' }));
    }
  });

  it('refuses two balancers of one name, or one server label twice, with a typed error', () => {
    const one = new Balancer({ servers: [{ address: '10.0.0.1:25' }] });
    const two = new Balancer({ servers: [{ address: '10.0.0.2:25' }] });
    expect(() => formatStatus([one.snapshot(), two.snapshot()], 'prometheus')).toThrow(
      expect.objectContaining({
        code: 'ERR_UPSTREAM_DUPLICATE_ID',
        option: 'balancers[1].name',
        value: 'upstream',
        message: 'Expected every balancer to have its own name for metrics: balancers 0 and 1 are both "upstream"',
      }),
    );
    const twice: StatusSnapshot = { name: 'x', servers: [server({ id: 'a' }), server({ id: 'b' }), server({ id: 'a' })] };
    expect(() => formatStatus(twice, 'prometheus')).toThrow(expect.objectContaining({ code: 'ERR_UPSTREAM_DUPLICATE_ID', option: 'balancers[0].servers[2].id', value: 'a' }));
    // the json, csv and html pages have no series: the same names are fine there
    expect(formatStatus([one.snapshot(), two.snapshot()], 'csv')).toBe('0,upstream,10.0.0.1:25,up,0,0,none,0\n1,upstream,10.0.0.2:25,up,0,0,none,0\n');
  });

  it('an empty list of balancers is a valid page of families without samples', () => {
    const text = formatStatus([], 'prometheus');
    expect([...parseExposition(text).values()].every((f) => f.samples.length === 0)).toBe(true);
    expect(parseExposition(text).size).toBe(SERVER_FAMILIES.length);
  });

  it('a hand-made snapshot without the optional fields gives the samples it can', () => {
    const bare: StatusSnapshot = { name: 'b', servers: [{ address: 'h:1', down: false, state: 'up', conns: 1, fails: 0, check: { down: false, rise: 1, fall: 0, type: 'tcp', port: 0 } }] };
    const families = parseExposition(formatStatus(bare, 'prometheus'));
    const present = [...families].filter(([, f]) => f.samples.length > 0).map(([n]) => n.replace('upstream_balancer_', ''));
    expect(present).toEqual(['server_info', 'server_state', 'server_backup', 'server_conns', 'server_fails', 'server_check_up', 'server_check_rise', 'server_check_fall']);
    expect(families.get('upstream_balancer_server_info')!.samples[0]!.labels).toEqual({ upstream: 'b', server: 'h:1', address: 'h:1' });
  });
});

describe('the strict reader used above', () => {
  it('rejects what Prometheus rejects', () => {
    const ok = '# HELP a_total x\n# TYPE a_total counter\na_total{l="v"} 1\n';
    expect(parseExposition(ok).get('a_total')!.samples).toEqual([{ labels: { l: 'v' }, value: 1 }]);
    const bad: [string, RegExp][] = [
      ['# TYPE a gauge\na{l="v"} 1\na{l="v"} 2\n', /duplicate series/],
      ['a 1\n', /before its TYPE/],
      ['# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na 2\n', /not contiguous/],
      ['# TYPE a gauge\na{l="\\x"} 1\n', /bad escape/],
      ['# TYPE a gauge\na{l="v} 1\n', /unterminated/],
      ['# TYPE a gauge\na{1l="v"} 1\n', /bad label/],
      ['# TYPE a gauge\na{l="v",l="w"} 1\n', /label l twice/],
      ['# TYPE a gauge\na one\n', /bad value/],
      ['# TYPE a counter\na -1\n', /negative counter/],
      ['# TYPE a gauge\na 1\n# HELP a late\n', /HELP after the samples/],
      ['# TYPE a gauge\na 1', /line feed/],
      ['# TYPE a gauge\n# comment\n', /neither HELP nor TYPE/],
    ];
    for (const [text, error] of bad) expect(() => parseExposition(text), text).toThrow(error);
  });
});

describe('docs/metrics.md', () => {
  it('lists every family with its type, labels and HELP text, and nothing else', () => {
    const doc = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\| `upstream_balancer_([a-z_]+)` \| (gauge|counter) \| ([^|]*) \| (.*) \|$/gm)].map((m) => ({
      name: m[1],
      type: m[2],
      labels: m[3]!.trim(),
      help: m[4]!.trim(),
    }));
    expect(rows).toEqual(
      SERVER_FAMILIES.map((f) => ({
        name: f.name,
        type: f.type,
        labels: ['upstream', 'server', ...f.labels].map((l) => `\`${l}\``).join(', '),
        help: f.help.replace(/\|/g, '\\|'),
      })),
    );
  });
});
