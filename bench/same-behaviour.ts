/**
 * Same behaviour, two trees: runs random operation scripts on the Balancer of two source trees side
 * by side (a base commit's and this one's) and requires every result, every error (class, code,
 * message), every event and the snapshot after every step to be identical. For restructurings that
 * claim no behaviour change; the reference-model differential (test/property/differential.prop.test.ts)
 * checks round robin against nginx, this checks every method, the control API and the errors against
 * the previous code.
 *
 *   node --import tsx bench/ab.ts --base <commit> --rows 'steady 8 uniform' --rounds 1   # extracts /tmp/ub-base-<sha>
 *   node --import tsx bench/same-behaviour.ts /tmp/ub-base-<sha> . [scripts]
 *
 * Each script: one of the seven methods, 1-40 servers with random weights, limits, backups and
 * `down`, optional checks, then 400 operations: picks and releases (failed or not) with hash keys and
 * client addresses (valid and invalid), attempts and their next / connected / fail / release,
 * `update`, `add`, `remove`, `reportCheck`, `setServers`, and clock advances. Then `scripts / 3`
 * churn scripts (round robin, picks released at once, rare failures: `churn` below).
 */

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [baseRoot, headRoot, runsArg] = process.argv.slice(2);
if (baseRoot === undefined || headRoot === undefined) throw new Error("usage: bench/same-behaviour.ts <base root> <head root> [scripts]");
const A = await import(pathToFileURL(resolve(baseRoot, 'src/index.ts')).href);
const B = await import(pathToFileURL(resolve(headRoot, 'src/index.ts')).href);
const METHODS = [{ method: 'round-robin' }, { method: 'least-conn' }, { method: 'hash' }, { method: 'hash', hash: { consistent: true } }, { method: 'ip-hash' }, { method: 'random' }, { method: 'random', randomTwo: true }];
function run(seed: number): number {
  const r: () => number = B.seededRandom(seed * 7919 + 1); // drives the script only
  const pick = <T,>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  const m = pick(METHODS);
  const hashy = m.method !== 'round-robin' && m.method !== 'least-conn';
  const n = 1 + Math.floor(r() * (r() < 0.2 ? 40 : 8));
  const mk = (i: number) => ({ address: `10.0.${i >> 8}.${i & 255}:${1000 + i}`, weight: 1 + Math.floor(r() * (r() < 0.1 ? 2000 : 5)), maxFails: Math.floor(r() * 3), failTimeout: Math.floor(r() * 5) * 1000, maxConns: r() < 0.2 ? 1 + Math.floor(r() * 3) : 0, backup: !hashy && i > 0 && r() < 0.2, down: r() < 0.1 });
  const servers = Array.from({ length: n }, (_, i) => mk(i));
  const check = r() < 0.3 ? { rise: 1 + Math.floor(r() * 3), fall: 1 + Math.floor(r() * 3) } : undefined;
  const sides = [A, B].map((L) => {
    const clock = new L.ManualClock(1_000_000);
    const events: string[] = [];
    let b: any; let err: string | null = null;
    try { b = new L.Balancer({ ...m, servers: structuredClone(servers), clock: clock.now, rng: L.seededRandom(seed), ...(check ? { check } : {}) }); } catch (e: any) { err = `${e.name}|${e.code}|${e.message}`; }
    if (b) for (const ev of ['state', 'tier', 'exhausted', 'check']) b.on(ev, (...a: any[]) => events.push(ev + ':' + JSON.stringify(a.map((x) => (x && typeof x === 'object' ? x.id : x)))));
    return { L, b, clock, events, err, held: [] as any[], attempts: [] as any[] };
  });
  const out = (s: any, f: () => unknown) => { try { const v = f(); return JSON.stringify(v === undefined ? 'undef' : v && typeof v === 'object' && 'id' in (v as any) ? (v as any).id : v); } catch (e: any) { return `ERR ${e.name}|${e.code}|${e.message}`; } };
  if (sides[0]!.err !== sides[1]!.err) throw new Error(`seed ${seed}: constructor ${sides[0]!.err} vs ${sides[1]!.err}`);
  if (sides[0]!.err) return 0;
  let ops = 0;
  for (let step = 0; step < 400; step++) {
    const op = r(); const adv = r() < 0.3 ? Math.floor(r() * 3000) : 0; const key = pick(['', 'foo', 'bar', '10.0.0.1', '192.168.7.9', '::1', 'k' + Math.floor(r() * 50), 'not-an-ip']);
    const k1 = r(), k2 = r(), k3 = r();
    const res = sides.map((s) => {
      s.clock.advance(adv);
      const b = s.b;
      if (op < 0.35) return out(s, () => { const v = b.pick(key || undefined); if (v) s.held.push(v); return v; });
      if (op < 0.55) { if (s.held.length === 0) return 'none'; const i = Math.floor(k1 * s.held.length); const v = s.held.splice(i, 1)[0]; return out(s, () => b.release(v, k2 < 0.3)); }
      if (op < 0.7) return out(s, () => { const a = b.attempt(key || undefined); s.attempts.push(a); return a.tries; });
      if (op < 0.85) { if (s.attempts.length === 0) return 'none'; const a = s.attempts[Math.floor(k1 * s.attempts.length)]; return out(s, () => { if (a.finished) return 'fin'; if (a.current) { if (k2 < 0.4) return a.fail(); if (k2 < 0.5) return a.connected(); return a.release(); } return a.next(); }); }
      if (op < 0.9) { const s0 = b.servers[Math.floor(k1 * b.servers.length)]; return out(s, () => b.update(s0.id, k2 < 0.3 ? { down: !s0.down } : k2 < 0.6 ? { weight: 1 + Math.floor(k3 * 6) } : k2 < 0.8 ? { maxConns: Math.floor(k3 * 3) } : { backup: !s0.backup })); }
      if (op < 0.93) return out(s, () => b.add({ address: `10.9.9.${Math.floor(k1 * 20)}:1`, weight: 1 + Math.floor(k2 * 3) }));
      if (op < 0.95) { const s0 = b.servers[Math.floor(k1 * b.servers.length)]; return out(s, () => b.remove(s0.id)); }
      if (op < 0.98) { const s0 = b.servers[Math.floor(k1 * b.servers.length)]; return out(s, () => b.reportCheck(s0.id, k2 < 0.5)); }
      return out(s, () => b.setServers(b.servers.filter((_: any, i: number) => i % 3 !== Math.floor(k1 * 3) || i === 0).map((x: any) => ({ id: x.id, address: x.address, weight: x.weight + (k2 < 0.5 ? 1 : 0), maxFails: x.maxFails, failTimeout: x.failTimeout, maxConns: x.maxConns, backup: x.backup, down: x.down }))));
    });
    ops++;
    const snaps = sides.map((s) => JSON.stringify(s.b.snapshot()));
    if (res[0] !== res[1] || snaps[0] !== snaps[1] || sides[0]!.events.join() !== sides[1]!.events.join()) {
      throw new Error(`seed ${seed} step ${step} (${m.method}, op ${op.toFixed(2)}): ${res[0]} vs ${res[1]}\n${snaps[0]}\n${snaps[1]}\n${sides[0]!.events.slice(-3)}\n${sides[1]!.events.slice(-3)}`);
    }
  }
  return ops;
}
/**
 * A churn script: round robin on 2-40 servers of weights 1-10 (max_fails 1-2, fail_timeout 20-60
 * ms), then 3,000 one-shot picks each released at once, one in ~100 as a failure, the clock 0-2 ms
 * on, now and then a held pick, a weight update or a `down` flip: the calm stretches between
 * failures that the steady replay (recorded, built or computed ahead) hands out, compared with
 * every result, event and snapshot as above.
 */
function churn(seed: number): number {
  const r: () => number = B.seededRandom(seed * 104729 + 7);
  const n = 2 + Math.floor(r() * (r() < 0.3 ? 39 : 12));
  const servers = Array.from({ length: n }, (_, i) => ({ address: `10.1.${i >> 8}.${i & 255}:25`, weight: 1 + Math.floor(r() * 10), maxFails: 1 + Math.floor(r() * 2), failTimeout: 20 + 10 * Math.floor(r() * 5) }));
  const sides = [A, B].map((L) => {
    const clock = new L.ManualClock(5_000);
    const events: string[] = [];
    const b = new L.Balancer({ servers: structuredClone(servers), clock: clock.now });
    b.on('state', (s: any, from: string, to: string) => events.push(`${s.id}:${from}>${to}`));
    return { b, clock, events, held: [] as any[] };
  });
  let ops = 0;
  for (let step = 0; step < 3000; step++) {
    const adv = Math.floor(r() * 3); const op = r(); const k1 = r(); const k2 = r();
    const res = sides.map((s) => {
      s.clock.advance(adv);
      const b = s.b;
      if (op < 0.003) { const x = b.servers[Math.floor(k1 * b.servers.length)]; b.update(x.id, k2 < 0.5 ? { weight: 1 + Math.floor(k2 * 20) } : { down: !x.down }); return 'update'; }
      const v = b.pick();
      if (v === undefined) return 'none';
      if (op < 0.02) s.held.push(v);
      else b.release(v, k1 < 0.01);
      if (s.held.length > 0 && k2 < 0.05) b.release(s.held.shift(), k1 < 0.3);
      return v.id;
    });
    ops++;
    const snaps = sides.map((s) => JSON.stringify(s.b.snapshot()));
    if (res[0] !== res[1] || snaps[0] !== snaps[1] || sides[0]!.events.join() !== sides[1]!.events.join()) {
      throw new Error(`churn seed ${seed} step ${step}: ${res[0]} vs ${res[1]}\n${snaps[0]}\n${snaps[1]}`);
    }
  }
  return ops;
}

let total = 0; const runs = Number(runsArg ?? 300);
for (let s = 1; s <= runs; s++) total += run(s);
let churned = 0; const churnRuns = Math.max(1, Math.floor(runs / 3));
for (let s = 1; s <= churnRuns; s++) churned += churn(s);
console.log(`identical: ${runs} scripts, ${total} operations, and ${churnRuns} churn scripts, ${churned} operations: every result, error, event and snapshot`);
