/**
 * Option values at and beyond every limit (issue 14): every numeric, boolean and string option of
 * `new Balancer()` and of a server (src/options.ts, src/server-fields.ts), through the constructor,
 * `add`, `update` and `setServers`; the status page's options (`statusHandler`, `formatStatus`);
 * an `rng` and a `clock` returning values at and past their ranges; the same limits written in
 * nginx configuration text (`weight=`, `max_fails=`, `fail_timeout=`, `max_conns=`, `check
 * interval=` ...) through `parseConfig` and `Balancer.fromNginx`; and huge server lists.
 *
 * Values: 0, -0, ±1, fractions, each limit (65535, 2^31-1, 2^32-1, 2^53-1) and its neighbours,
 * 2^31, 2^32, 2^53, 2^63, 1e308, ±Infinity, NaN, numeric strings, null, booleans, objects, arrays,
 * BigInt, Symbol, functions, boxed numbers, objects with `valueOf`, and values whose getters throw.
 *
 * Asserted: each call either returns or throws a typed error (`isUpstreamError`, with a `code`) —
 * the hostile value's own exception may surface, nothing else; an accepted value is kept as given
 * (never coerced); an accepted configuration works (picks, an attempt, `snapshot`, every status
 * format, valid JSON); every timer the active-check scheduler sets is a finite delay in
 * [0, 2^31 - 1] ms (a longer one fires at once in Node); and `new Balancer` and `setServers` over
 * 4n servers cost under 8x n (a coarse check of linear time over two doublings).
 */

import { Balancer } from '../../src/balancer';
import { parseConfig } from '../../src/config/nginx';
import { explain } from '../../src/config/explain';
import { formatUpstream } from '../../src/config/format';
import { isUpstreamError } from '../../src/errors';
import type { BalancerOptions, CheckTimers } from '../../src/options';
import { formatStatus, statusHandler, type StatusFormat } from '../../src/status';
import { type Budget, callHandler, doublingCheck, onFaults, Recorder, Rng, type Summary } from './common';

/** The largest delay Node's setTimeout honours. */
const MAX_TIMER = 2 ** 31 - 1;

/** A value's own exception (a throwing getter or Proxy trap): allowed to surface. */
class HostileError extends Error {}

const hostileProxy = (): object =>
  new Proxy(
    {},
    {
      get() {
        throw new HostileError('proxy get');
      },
      ownKeys() {
        throw new HostileError('proxy ownKeys');
      },
      getOwnPropertyDescriptor() {
        throw new HostileError('proxy descriptor');
      },
      has() {
        throw new HostileError('proxy has');
      },
    },
  );

const LIMITS = [65535, 2 ** 31 - 1, 2 ** 32 - 1, 2 ** 53 - 1];

/** The values tried for every option, with a printable label each. */
function values(): [string, unknown][] {
  const out: [string, unknown][] = [
    ['0', 0], ['-0', -0], ['1', 1], ['-1', -1], ['0.5', 0.5], ['1.5', 1.5], ['2', 2], ['1e-300', 1e-300],
    ['MIN_VALUE', Number.MIN_VALUE], ['EPSILON', Number.EPSILON], ['1+EPSILON', 1 + Number.EPSILON],
    ['2^31', 2 ** 31], ['2^32', 2 ** 32], ['2^53', 2 ** 53], ['2^53+2', 2 ** 53 + 2], ['2^63', 2 ** 63], ['1e308', 1e308],
    ['MAX_VALUE', Number.MAX_VALUE], ['Infinity', Infinity], ['-Infinity', -Infinity], ['NaN', NaN],
    ["'1'", '1'], ["''", ''], ["'0x10'", '0x10'], ["' 1'", ' 1'], ["'Infinity'", 'Infinity'], ['null', null], ['true', true], ['false', false],
    ['{}', {}], ['[]', []], ['[1]', [1]], ['1n', 1n], ['Symbol', Symbol('s')], ['function', () => 1],
    ['new Number(3)', new Number(3)], ['valueOf 3', { valueOf: () => 3 }], ['Object.create(null)', Object.create(null)],
    ['Date', new Date(0)], ['proxy', hostileProxy()],
  ];
  for (const l of LIMITS) out.push([`${l}-1`, l - 1], [`${l}`, l], [`${l}+1`, l + 1]);
  return out;
}

type Outcome = { kind: 'ok'; value: unknown } | { kind: 'typed'; code: string } | { kind: 'hostile' } | { kind: 'other'; error: unknown };

function attempt<T>(f: () => T): Outcome {
  try {
    return { kind: 'ok', value: f() };
  } catch (e) {
    if (isUpstreamError(e)) return { kind: 'typed', code: e.code };
    if (e instanceof HostileError) return { kind: 'hostile' };
    return { kind: 'other', error: e };
  }
}

/** A printable form of an options object holding any of the values above. */
function label(v: unknown): string {
  try {
    return JSON.stringify(v, (_, x) =>
      typeof x === 'bigint' ? `${x}n` : typeof x === 'symbol' ? 'Symbol' : typeof x === 'function' ? 'function' : Number.isNaN(x) ? 'NaN' : x === Infinity ? 'Infinity' : x === -Infinity ? '-Infinity' : x,
    );
  } catch {
    return '(an object with a hostile value)';
  }
}

const describe = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message.slice(0, 300)}` : String(e));

/** Fake timers that record every delay the scheduler asks for (own bound functions). */
class RecordingTimers implements CheckTimers {
  delays: number[] = [];
  pending: (() => void)[] = [];
  setTimeout = (fn: () => void, ms: number): unknown => {
    this.delays.push(ms);
    this.pending.push(fn);
    return this.pending.length;
  };
  clearTimeout = (): void => {};
}

/** The same with prototype methods, as a timer class would have them (they need their `this`). */
class MethodTimers implements CheckTimers {
  delays: number[] = [];
  setTimeout(_fn: () => void, ms: number): unknown {
    this.delays.push(ms);
    return this.delays.length;
  }
  clearTimeout(): void {
    void this.delays;
  }
}

export class Limits {
  readonly rec: Recorder;
  readonly rng: Rng;
  constructor(
    readonly seed: number,
    rec: Recorder,
  ) {
    this.rec = rec;
    this.rng = new Rng(seed);
  }

  /** Typed error or acceptance; the outcome otherwise is a failure. */
  expect(what: string, o: Outcome, id = 'untyped-exception'): void {
    this.rec.summary.ops++;
    if (o.kind === 'other') this.rec.fail(id, this.seed, `${what} threw ${describe(o.error)}`);
    else this.rec.count(o.kind);
  }

  /** An accepted balancer works: picks, an attempt, snapshot, status formats, timers within range. */
  async exercise(what: string, b: Balancer, timers?: RecordingTimers): Promise<void> {
    const o = attempt(() => {
      for (let i = 0; i < 3; i++) {
        const s = b.pick(b.method === 'ip-hash' ? '10.0.0.1' : 'k');
        if (s !== undefined) b.release(s, i === 1);
      }
      const a = b.attempt(b.method === 'ip-hash' ? '10.0.0.2' : 'k');
      for (let s = a.next(), k = 0; s !== undefined && k < 3; s = a.next(), k++) {
        if (k === 2) {
          a.release();
          break;
        }
        a.fail();
      }
      const snap = b.snapshot();
      JSON.stringify(snap);
      for (const f of ['json', 'csv', 'html', 'prometheus'] as const) {
        const text = formatStatus(snap, f);
        if (f === 'json') JSON.parse(text);
      }
      return snap;
    });
    if (o.kind === 'other') this.rec.fail('accepted-but-broken', this.seed, `${what}: accepted, then ${describe(o.error)}`);
    if (timers !== undefined) {
      const s = attempt(() => b.start());
      if (s.kind === 'other') this.rec.fail('untyped-exception', this.seed, `${what}: start() threw ${describe(s.error)}`);
      // run two rounds of checks (the probe is a function here: no sockets), so that the
      // interval, downInterval, fastInterval and jitter delays are all asked for
      for (let round = 0; round < 2; round++) {
        const fns = timers.pending.splice(0);
        for (const fn of fns) fn();
        await new Promise((r) => setImmediate(r));
      }
      for (const d of timers.delays) {
        if (typeof d !== 'number' || !Number.isFinite(d) || d < 0 || d > MAX_TIMER) {
          this.rec.fail('timer-delay', this.seed, `${what}: the check scheduler set a timer of ${d} ms (allowed: 0 to ${MAX_TIMER})`);
        }
      }
      this.rec.count('timers', timers.delays.length);
      await b.close();
    }
  }

  /** Server fields through the constructor, add, update and setServers. */
  async serverFields(): Promise<void> {
    const keys = ['weight', 'maxFails', 'failTimeout', 'maxConns', 'backup', 'down', 'drain', 'address', 'id'];
    for (const key of keys) {
      for (const [label, v] of values()) {
        const what = `servers[0].${key} = ${label}`;
        const server = { address: '10.0.0.1:25', [key]: v };
        const other = { address: '10.0.0.2:25' };
        const o = attempt(() => new Balancer({ servers: [server, other] }));
        this.expect(`new Balancer(${what})`, o);
        if (o.kind === 'ok') {
          const b = o.value as Balancer;
          const s = b.servers[0]!;
          if (['weight', 'maxFails', 'failTimeout', 'maxConns'].includes(key) && !Object.is((s as unknown as Record<string, unknown>)[key], v)) {
            this.rec.fail('coerced', this.seed, `${what}: accepted as ${String((s as unknown as Record<string, unknown>)[key])}`);
          }
          await this.exercise(what, b);
        }
        const b = new Balancer({ servers: [{ address: '10.0.0.3:25' }, { address: '10.0.0.4:25' }] });
        this.expect(`add(${what})`, attempt(() => b.add({ address: '10.0.0.9:25', [key]: v } as never)));
        if (key !== 'id' && key !== 'address') this.expect(`update(${what})`, attempt(() => b.update('10.0.0.3:25', { [key]: v })));
        this.expect(`setServers(${what})`, attempt(() => b.setServers([{ address: '10.0.0.3:25', [key]: v } as never, { address: '10.0.0.5:25' }])));
        await this.exercise(`after add/update/setServers(${what})`, b);
      }
    }
    // whole server entries that are not objects, and hostile ones
    for (const [label, v] of values()) {
      this.expect(`servers = ${label}`, attempt(() => new Balancer({ servers: v as never })));
      this.expect(`servers = [${label}]`, attempt(() => new Balancer({ servers: [v as never] })));
      this.expect(`update(patch = ${label})`, attempt(() => new Balancer({ servers: [{ address: 'a:1' }, { address: 'b:1' }] }).update('a:1', v as never)));
    }
  }

  /** Top-level options and check options. */
  async topLevel(): Promise<void> {
    const servers = () => [{ address: '10.0.0.1:25' }, { address: '10.0.0.2:25', weight: 3 }];
    const top: [string, (v: unknown) => Partial<BalancerOptions>][] = [
      ['tries', (v) => ({ tries: v as number })],
      ['name', (v) => ({ name: v as string })],
      ['method', (v) => ({ method: v as never })],
      ['hash', (v) => ({ method: 'hash', hash: v as never })],
      ['hash.consistent', (v) => ({ method: 'hash', hash: { consistent: v as boolean } })],
      ['randomTwo', (v) => ({ method: 'random', randomTwo: v as boolean })],
      ['randomLeastConn', (v) => ({ method: 'random', randomTwo: true, randomLeastConn: v as boolean })],
      ['allowBackupWithHash', (v) => ({ method: 'hash', allowBackupWithHash: v as boolean })],
      ['tuning.lazyFromServers', (v) => ({ tuning: { lazyFromServers: v as number } })],
      ['tuning', (v) => ({ tuning: v as never })],
      ['clock', (v) => ({ clock: v as never })],
      ['clock()', (v) => ({ clock: () => v as number })],
      ['rng', (v) => ({ rng: v as never })],
      ['timers', (v) => ({ timers: v as never })],
      ['check', (v) => ({ check: v as never })],
    ];
    const checkKeys = ['interval', 'rise', 'fall', 'timeout', 'port', 'downInterval', 'fastInterval', 'jitter', 'startWindow', 'defaultDown', 'initState', 'httpSend', 'httpExpectAlive', 'smtpHelo', 'tlsServerName', 'type'];
    for (const key of checkKeys) top.push([`check.${key}`, (v) => ({ check: { [key]: v } })]);
    for (const [name, make] of top) {
      for (const [label, v] of values()) {
        const what = `${name} = ${label}`;
        const checked = name.startsWith('check');
        const timers = checked ? new RecordingTimers() : undefined;
        const extra = make(v);
        if (checked && label !== 'proxy' && extra.check !== undefined && typeof extra.check === 'object' && extra.check !== null && !(extra.check instanceof Array)) {
          // a probe that is a function (no sockets), unless the type itself is under test
          const c = extra.check as Record<string, unknown>;
          if (!('type' in c) && Object.getPrototypeOf(c) === Object.prototype) c.type = (() => { let k = 0; return () => k++ % 3 !== 0; })();
        }
        const o = attempt(() => new Balancer({ servers: servers(), ...extra, ...(timers ? { timers } : {}) }));
        this.expect(`new Balancer(${what})`, o);
        if (o.kind === 'ok') await this.exercise(what, o.value as Balancer, timers && (o.value as Balancer).servers.length > 0 ? timers : undefined);
      }
    }
    // a timers object whose methods need their `this` (a class instance)
    {
      const timers = new MethodTimers();
      const b = new Balancer({ servers: servers(), check: { type: () => true }, timers });
      const o = attempt(() => b.start());
      this.rec.summary.ops++;
      if (o.kind === 'other') this.rec.fail('timers-this-lost', this.seed, `start() with timers = an instance of a class with setTimeout/clearTimeout methods threw ${describe(o.error)}`);
      await b.close();
    }
    // interval + jitter at the limit, and every interval at its limit together
    for (const interval of [1, 1000, MAX_TIMER - 1, MAX_TIMER]) {
      for (const jitter of [0, 0.5, 1, 1e-9, 1 - 1e-16]) {
        const timers = new RecordingTimers();
        let k = 0;
        const check = { interval, jitter, downInterval: interval, fastInterval: interval, timeout: MAX_TIMER, type: () => k++ % 2 === 0 };
        const o = attempt(() => new Balancer({ servers: servers(), check, timers, rng: () => 1 - 2 ** -53 }));
        this.expect(`check ${JSON.stringify({ interval, jitter })}`, o);
        if (o.kind === 'ok') await this.exercise(`check interval ${interval} jitter ${jitter}`, o.value as Balancer, timers);
      }
    }
  }

  /** An rng or a clock returning values at and past their range, while picking (the random methods read it). */
  async sources(): Promise<void> {
    const readings: [string, unknown][] = [
      ['0', 0], ['-0', -0], ['1-2^-53', 1 - 2 ** -53], ['1', 1], ['2', 2], ['-1e-300', -1e-300], ['-1', -1], ['NaN', NaN],
      ['Infinity', Infinity], ['-Infinity', -Infinity], ["'0.5'", '0.5'], ['undefined', undefined], ['null', null], ['{}', {}], ['1e308', 1e308],
    ];
    const methods: Partial<BalancerOptions>[] = [
      { method: 'random' }, { method: 'random', randomTwo: true }, { method: 'random', randomTwo: true, randomLeastConn: true },
      { method: 'round-robin' }, { method: 'least-conn' }, { method: 'hash' }, { method: 'hash', hash: { consistent: true } },
    ];
    for (const m of methods) {
      for (const [label, v] of readings) {
        const servers = [{ address: '10.0.0.1:25', weight: 2 }, { address: '10.0.0.2:25' }, { address: '10.0.0.3:25', maxFails: 1 }];
        for (const which of ['rng', 'clock'] as const) {
          const what = `${m.method}${m.randomTwo ? ' two' : ''}${m.hash ? ' consistent' : ''} with ${which}() returning ${label}`;
          let calls = 0;
          // the clock returns a good reading first (the constructor may read it once), then the value
          const source = which === 'rng' ? () => v as number : () => (calls++ === 0 ? 1000 : (v as number));
          const o = attempt(() => {
            const b = new Balancer({ servers, ...m, [which]: source });
            onFaults(b, () => {});
            for (let i = 0; i < 6; i++) {
              const a = b.attempt('k');
              const s = a.next();
              if (s !== undefined) {
                if (i % 2 === 0) a.fail();
                else a.release();
              }
              const p = b.pick('k');
              if (p !== undefined) b.release(p, i === 3);
            }
            return b;
          });
          this.expect(what, o);
          if (o.kind !== 'ok') continue;
          for (const s of (o.value as Balancer).snapshot().servers) {
            for (const k of ['accessed', 'checked', 'effectiveWeight', 'currentWeight'] as const) {
              const x = s[k];
              if (x !== null && !Number.isFinite(x)) this.rec.fail(which === 'clock' ? 'bad-clock-accepted' : 'bad-rng-accepted', this.seed, `${what}: snapshot ${s.id}.${k} = ${x}`);
            }
          }
        }
      }
    }
  }

  /** statusHandler and formatStatus options. */
  async status(): Promise<void> {
    const b = new Balancer({ servers: [{ address: '10.0.0.1:25' }], check: { type: 'tcp', defaultDown: false } });
    const snap = b.snapshot();
    for (const [label, v] of values()) {
      this.expect(`statusHandler({ format: ${label} })`, attempt(() => statusHandler([b], { format: v as StatusFormat })), 'status-format-untyped');
      this.expect(`formatStatus(_, ${label})`, attempt(() => formatStatus(snap, v as StatusFormat)), 'status-format-untyped');
      for (const f of ['json', 'csv', 'html', 'prometheus'] as const) {
        const o = attempt(() => formatStatus(snap, f, { generation: v as number }));
        this.expect(`formatStatus(_, ${f}, { generation: ${label} })`, o, 'status-generation-unvalidated');
        if (o.kind === 'ok' && f === 'json') {
          const text = o.value as string;
          try {
            JSON.parse(text);
          } catch {
            this.rec.fail('status-generation-unvalidated', this.seed, `formatStatus(_, 'json', { generation: ${label} }) is not JSON: ${text.split('\n').find((l) => l.includes('generation'))}`);
          }
        }
        this.expect(`formatStatus(_, ${f}, { status: ${label} })`, attempt(() => formatStatus(snap, f, { status: v as 'up' })));
      }
      const h = attempt(() => statusHandler([b], { generation: v as number, format: 'json' }));
      this.expect(`statusHandler({ generation: ${label} })`, h);
      if (h.kind === 'ok') {
        const handler = h.value as ReturnType<typeof statusHandler>;
        this.rec.summary.ops++;
        let got: { code: number; body: string } | null = null;
        try {
          got = await callHandler(handler, '/?format=json', 'GET', 10_000);
        } catch (e) {
          this.rec.fail(e instanceof HostileError ? 'untyped-exception' : 'status-generation-unvalidated', this.seed, `statusHandler({ generation: ${label} }) request: ${describe(e)}`);
        }
        if (got !== null && got.code === 200) {
          try {
            JSON.parse(got.body);
          } catch {
            this.rec.fail('status-generation-unvalidated', this.seed, `statusHandler({ generation: ${label} }) serves invalid JSON: ${got.body.split('\n').find((l) => l.includes('generation'))}`);
          }
        }
      }
    }
  }

  /** The same limits written in configuration text. */
  async config(): Promise<void> {
    const numbers = [
      '0', '1', '-1', '00', '01', '65535', '65536', '2147483647', '2147483648', '4294967295', '4294967296', '9007199254740991', '9007199254740993',
      '9223372036854775807', '9223372036854775808', '99999999999999999999999', '1e3', '0x10', '1.5', '', '+1', '1'.repeat(400),
    ];
    const times = ['', 's', 'ms', 'm', 'h', 'd', 'w', 'M', 'y', 'sms', '1h'];
    const lines: string[] = [];
    for (const n of numbers) {
      for (const p of ['weight', 'max_fails', 'max_conns']) lines.push(`stream { upstream u { server 127.0.0.1:25 ${p}=${n}; server 127.0.0.2:25; } }`);
      for (const t of times) lines.push(`stream { upstream u { server 127.0.0.1:25 fail_timeout=${n}${t}; } }`);
      for (const p of ['interval', 'rise', 'fall', 'timeout', 'port']) lines.push(`http { upstream u { server 127.0.0.1:80; check ${p}=${n} type=tcp; } }`);
      lines.push(`http { upstream u { server 127.0.0.1:80; keepalive ${n}; keepalive_requests ${n}; keepalive_time ${n}; keepalive_timeout ${n}; } }`);
      lines.push(`http { upstream u { zone z ${n}; server 127.0.0.1:80; } }`, `http { upstream u { zone z ${n}k; server 127.0.0.1:80; } }`);
      lines.push(`stream { upstream u { hash $remote_addr consistent; server 127.0.0.1:25 weight=${n}; server 127.0.0.2:25 weight=${n}; } }`);
      lines.push(`stream { upstream u { server 127.0.0.1:${n}; } }`, `stream { upstream u { server [::1]:${n} weight=2; } }`);
      lines.push(`http { upstream u { server 127.0.0.1:80; check interval=${n} rise=${n} fall=${n} timeout=${n} port=${n} type=http; check_keepalive_requests ${n}; } }`);
    }
    for (const text of lines) {
      const o = attempt(() => parseConfig(text, { filename: 'limits.conf' }));
      this.expect(`parseConfig(${JSON.stringify(text.slice(0, 120))})`, o);
      this.expect(`explain(${JSON.stringify(text.slice(0, 120))})`, attempt(() => explain(text, { filename: 'limits.conf' })));
      if (o.kind !== 'ok') continue;
      for (const u of (o.value as ReturnType<typeof parseConfig>).upstreams) {
        const timers = new RecordingTimers();
        const options = { ...u.options };
        if (options.check !== undefined) options.check = { ...options.check, type: () => true };
        const b = attempt(() => new Balancer({ ...options, ...(options.check ? { timers } : {}) }));
        this.expect(`new Balancer(options of ${JSON.stringify(text)})`, b);
        if (b.kind === 'ok') await this.exercise(`config ${JSON.stringify(text)}`, b.value as Balancer, options.check ? timers : undefined);
        this.expect(`formatUpstream(options of ${JSON.stringify(text)})`, attempt(() => formatUpstream(u.name, u.options)));
      }
    }
  }

  /** Huge server lists, and constructor cost on doubling lists. */
  async huge(long: boolean): Promise<void> {
    const n = long ? 100_000 : 5000;
    const list = (k: number, weight = 1) => Array.from({ length: k }, (_, i) => ({ address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:${1 + (i % 60000)}`, weight }));
    const cases: [string, () => unknown][] = [
      [`sparse array of ${n * 200}`, () => new Balancer({ servers: new Array(n * 200) })],
      ['10^6 duplicates', () => new Balancer({ servers: new Array(1_000_000).fill({ address: 'a:1' }) })],
      ['array-like {length: 1e9}', () => new Balancer({ servers: { length: 1e9 } as never })],
      [`${n} servers of weight 2^31-1`, () => new Balancer({ servers: list(n, MAX_TIMER) })],
      [`${n} servers, consistent hash`, () => new Balancer({ servers: list(n), method: 'hash', hash: { consistent: true } })],
      [`${n} servers, consistent hash, weight 2^31-1`, () => new Balancer({ servers: list(2, MAX_TIMER), method: 'hash', hash: { consistent: true } })],
      [`${n} servers, least-conn`, () => new Balancer({ servers: list(n), method: 'least-conn' })],
      [`${n} servers, random two`, () => new Balancer({ servers: list(n), method: 'random', randomTwo: true })],
      [`${n} servers, ip-hash`, () => new Balancer({ servers: list(n), method: 'ip-hash' })],
    ];
    for (const [what, f] of cases) {
      const o = attempt(f);
      this.expect(what, o);
      if (o.kind === 'ok') await this.exercise(what, o.value as Balancer);
    }
    for (const method of ['round-robin', 'least-conn', 'hash', 'random'] as const) {
      const servers = list(n);
      const r = doublingCheck((k) => {
        const part = servers.slice(0, k);
        return () => void new Balancer({ servers: part, method });
      }, n / 4);
      this.rec.summary.ops += 2;
      if (!r.ok) this.rec.fail('superlinear', this.seed, `new Balancer(${method}) over ${n} servers took ${r.big.toFixed(1)} ms, over ${n / 4}: ${r.small.toFixed(1)} ms`);
      const b = new Balancer({ servers: list(8), method });
      const s = doublingCheck((k) => {
        const part = servers.slice(0, k);
        return () => b.setServers(part);
      }, n / 4);
      if (!s.ok) this.rec.fail('superlinear', this.seed, `setServers(${method}) of ${n} servers took ${s.big.toFixed(1)} ms, of ${n / 4}: ${s.small.toFixed(1)} ms`);
    }
  }

  /** Random option objects drawing several keys from the value list. */
  async random(count: number): Promise<void> {
    const vals = values();
    const serverKeys = ['weight', 'maxFails', 'failTimeout', 'maxConns', 'backup', 'down', 'drain'];
    const topKeys = ['tries', 'method', 'randomTwo', 'allowBackupWithHash'];
    const good: Record<string, unknown[]> = {
      weight: [1, 2, 0x7fffffff], maxFails: [0, 1, 3], failTimeout: [0, 1000, 1e12], maxConns: [0, 1, 2], backup: [true, false], down: [true, false], drain: [false, true],
      tries: [0, 1, 2 ** 53 - 1], method: ['round-robin', 'least-conn', 'hash', 'ip-hash', 'random'], randomTwo: [false, true], allowBackupWithHash: [true, false],
    };
    for (let i = 0; i < count; i++) {
      const r = this.rng;
      const pickValue = (k: string): unknown => (r.chance(0.7) ? r.pick(good[k]!) : r.pick(vals)[1]);
      const servers = Array.from({ length: r.range(1, 5) }, (_, j) => {
        const s: Record<string, unknown> = { address: `10.0.0.${j}:25` };
        for (const k of serverKeys) if (r.chance(0.4)) s[k] = pickValue(k);
        return s;
      });
      const opts: Record<string, unknown> = { servers };
      for (const k of topKeys) if (r.chance(0.4)) opts[k] = pickValue(k);
      const what = `new Balancer(${label(opts)}) (random case ${i})`;
      const o = attempt(() => new Balancer(opts as never));
      this.expect(what, o);
      if (o.kind === 'ok') await this.exercise(what, o.value as Balancer);
    }
  }
}

/**
 * Runs every fixed case once (about 8,000 calls) and `iterations` random option objects. Throws
 * `FuzzFailure` on the first new violation.
 */
export async function run(budget: Budget): Promise<Summary> {
  const rec = new Recorder('option-limits', budget.seed);
  const l = new Limits(budget.seed, rec);
  await l.serverFields();
  await l.topLevel();
  await l.sources();
  await l.status();
  await l.config();
  await l.huge(budget.long === true);
  await l.random(budget.iterations);
  budget.log?.(`option-limits: ${rec.summary.ops} calls`);
  return rec.done();
}
