/**
 * Drives the method selectors directly, without a Balancer: tiers built the way the Balancer
 * builds them (config into the typed arrays, fresh dynamic state) and bare request states.
 * Shared by the unit and property tests of the balancing methods.
 */

import { resolveServer, type ServerOptions } from '../../src/options';
import type { Peers } from '../../src/peers';
import type { RequestState } from '../../src/select/request';
import { ServerRecord } from '../../src/server';
import { BLOCK_DOWN, Tier } from '../../src/tier';

const OWNER = {};

/** A tier of `list` (fresh state: effective = weight, no conns, no fails). */
export function tierOf(list: ServerOptions[], backup = false): Tier {
  const recs = list.map((s) => new ServerRecord(resolveServer(s, 'server'), OWNER));
  const t = new Tier(recs, backup);
  recs.forEach((rec, i) => {
    t.weight[i] = rec.weight;
    t.effective[i] = rec.weight;
    t.maxFails[i] = rec.maxFails;
    t.failTimeout[i] = rec.failTimeout;
    t.maxConns[i] = rec.maxConns;
    t.blocked[i] = rec.down ? BLOCK_DOWN : 0;
    rec.tier = t;
    rec.index = i;
  });
  t.recount();
  return t;
}

/** Peers over a primary list (and an optional backup list). */
export function peersOf(primary: ServerOptions[], backup: ServerOptions[] = [], rng: () => number = Math.random): Peers {
  const p = tierOf(primary);
  return { primary: p, backup: backup.length > 0 ? tierOf(backup, true) : null, single: primary.length === 1 && backup.length === 0, rng };
}

/** A fresh request state on tier `t` (what `attempt(key)` starts with). */
export function requestOn(t: Tier, key = '', now = 0): RequestState {
  return { tier: t, mask: 0, bits: null, now: NaN, clock: () => now, key, walk: null, carried: null, passed: null, hint: null, fromHint: false };
}
