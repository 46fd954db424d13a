/**
 * The scenarios `record.ts` runs through real nginx for the balancing methods other than round
 * robin: least_conn with held connections (stream), hash / hash consistent with string keys sent
 * as TLS SNI (stream `ssl_preread`) and with client addresses (`hash $remote_addr`), and ip_hash
 * (http only in nginx) with clients bound to 127.0.x.y source addresses. Each has weights, and
 * most have a `down` server and a server nothing listens on (`refusing`).
 *
 * Timing never matters here: a refusing server has either `max_fails=0` (never excluded: every
 * selection of it is a refused connect and a retry) or `fail_timeout=600s` (excluded for the rest
 * of the recording after its first refusal); the other servers never fail.
 */

import type { ScenarioServerParams } from '../scenario-server';
import type { KeySource } from './format';

export type ScriptOp = { op: 'connect'; key?: string; hold?: boolean } | { op: 'close'; conn: number };

export interface MethodScenario {
  name: string;
  description: string;
  context: 'stream' | 'http';
  method: 'least-conn' | 'hash' | 'ip-hash';
  consistent?: boolean;
  keySource: KeySource;
  /** In config order; ids are A, B, C, ... */
  servers: ScenarioServerParams[];
  script: ScriptOp[];
}

// ------------------------------------------------------------------------------------------------
// Keys

/** The string keys of docs/nginx-semantics.md §5.2/§5.3 plus 220 more, UTF-8 and empty ones included. */
export function stringKeys(): string[] {
  const keys = ['foo', 'bar', 'user42', '/index.html', 'a', 'alice@example.com', 'bob@example.com', 'carol@example.org', '1', '2', '3'];
  for (let i = 0; i < 120; i++) keys.push(`user${i}@mail${i % 7}.example`);
  for (let i = 0; i < 60; i++) keys.push(`/static/${i}/app-${(i * 7919) % 1000}.js`);
  for (let i = 0; i < 20; i++) keys.push(`${i * 104729}`);
  for (const w of ['ключ', 'clé', '键', 'schlüssel', 'κλειδί', '🔑', 'ĉefa', 'llave', 'anahtar', 'kulcs']) keys.push(`${w}-${keys.length}`);
  for (let i = 0; i < 10; i++) keys.push(`k${i}`.repeat(1 + (i % 5)));
  // empty keys (a ClientHello without SNI): round robin takes over
  for (const at of [15, 80, 150]) keys.splice(at, 0, '');
  return keys;
}

/** 200 client addresses in 127/8, varied in the last three octets (hash $remote_addr). */
export function clientAddresses(): string[] {
  const out: string[] = [];
  for (let k = 0; k < 200; k++) out.push(`127.0.${1 + (k % 40)}.${1 + ((k * 37) % 250)}`);
  return out;
}

/** ip_hash clients: 127.0.x.1 for x = 0..63, plus addresses that share a /24 or differ higher up. */
export function ipHashClients(): string[] {
  const out: string[] = [];
  for (let x = 0; x < 64; x++) out.push(`127.0.${x}.1`);
  out.push('127.0.5.77', '127.0.5.200', '127.0.40.40', '127.0.63.254', '127.3.2.1', '127.200.100.50', '127.9.0.3', '127.255.1.1');
  return out;
}

const connects = (keys: string[], hold = false): ScriptOp[] => keys.map((key) => ({ op: 'connect', key, hold }));
const holds = (n: number): ScriptOp[] => Array.from({ length: n }, () => ({ op: 'connect', hold: true }));
const closes = (...conns: number[]): ScriptOp[] => conns.map((conn) => ({ op: 'close', conn }));
const seq = (n: number): ScriptOp[] => Array.from({ length: n }, () => ({ op: 'connect' }));

// ------------------------------------------------------------------------------------------------

export const SCENARIOS: MethodScenario[] = [
  // least_conn ----------------------------------------------------------------------------------
  {
    name: 'lc-held-2-1',
    description: 'least_conn, weights 2,1, connections held open: X Y X Y X X X Y X (§5.1); two closed, three more held, all closed, then sequential traffic (all conns 0: plain SWRR).',
    context: 'stream', method: 'least-conn', keySource: 'none',
    servers: [{ weight: 2 }, { weight: 1 }],
    script: [...holds(9), ...closes(2, 5), ...holds(3), ...closes(1, 3, 4, 6, 7, 8, 9, 10, 11, 12), ...seq(6)],
  },
  {
    name: 'lc-held-3-2-1',
    description: 'least_conn, weights 3,2,1, held: X Y Z X Y X Y Z X X Y X (§5.1); three closed, four more held, all closed, six sequential.',
    context: 'stream', method: 'least-conn', keySource: 'none',
    servers: [{ weight: 3 }, { weight: 2 }, { weight: 1 }],
    script: [...holds(12), ...closes(1, 2, 3), ...holds(4), ...closes(4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16), ...seq(6)],
  },
  {
    name: 'lc-backup-max-conns',
    description: 'least_conn with max_conns on the primaries (1 and 2) and two backups (weights 1,2): held connections overflow to the backup tier, where least_conn runs again; a closed primary slot is taken back.',
    context: 'stream', method: 'least-conn', keySource: 'none',
    servers: [{ maxConns: 1 }, { weight: 2, maxConns: 2 }, { backup: true }, { backup: true, weight: 2 }],
    script: [...holds(8), ...closes(1), ...holds(2), ...closes(2, 3, 4, 5, 6, 7, 8, 9, 10), ...seq(4)],
  },
  {
    name: 'lc-refusing',
    description: 'least_conn, A refuses (fail_timeout=600s: excluded after its first refusal), B weight 2, C: held and sequential connections between B and C only.',
    context: 'stream', method: 'least-conn', keySource: 'none',
    servers: [{ refusing: true, failTimeout: 600 }, { weight: 2 }, {}],
    script: [...holds(6), ...closes(2, 4), ...holds(2), ...closes(1, 3, 5, 6, 7, 8), ...seq(5)],
  },

  // hash, string keys via SNI ------------------------------------------------------------------
  {
    name: 'hash-sni-3',
    description: 'hash $ssl_preread_server_name over three equal servers: the §5.2 keys and 220 more (UTF-8 ones included); a ClientHello without SNI is an empty key, which falls back to round robin.',
    context: 'stream', method: 'hash', keySource: '$ssl_preread_server_name',
    servers: [{}, {}, {}],
    script: connects(stringKeys()),
  },
  {
    name: 'hash-sni-weighted-down-refusing',
    description: 'hash $ssl_preread_server_name, weights 3,1,2,1 with B down (keeps its slots) and C refusing (fail_timeout=600s): keys on B walk the rehash chain; the first key on C fails over, later ones walk past it.',
    context: 'stream', method: 'hash', keySource: '$ssl_preread_server_name',
    servers: [{ weight: 3 }, { down: true }, { weight: 2, refusing: true, failTimeout: 600 }, {}],
    script: connects(stringKeys()),
  },
  {
    name: 'hash-sni-refusing-retry',
    description: 'hash $ssl_preread_server_name over A, B (refusing, max_fails=0: never excluded), C, D weight 2: every key on B is a refused connect and the retry continues the rehash chain of the same request.',
    context: 'stream', method: 'hash', keySource: '$ssl_preread_server_name',
    servers: [{}, { refusing: true, maxFails: 0 }, {}, { weight: 2 }],
    script: connects(stringKeys()),
  },

  // hash consistent, string keys via SNI ------------------------------------------------------
  {
    name: 'chash-sni-3',
    description: 'hash $ssl_preread_server_name consistent over three equal servers (480 ketama points over the address texts): the §5.3 keys and 220 more; empty keys use round robin.',
    context: 'stream', method: 'hash', consistent: true, keySource: '$ssl_preread_server_name',
    servers: [{}, {}, {}],
    script: connects(stringKeys()),
  },
  {
    name: 'chash-sni-weighted-down-refusing',
    description: 'hash ... consistent, weights 1,4,1,2 with C down (keeps its points) and D refusing (fail_timeout=600s): keys walk to the next point.',
    context: 'stream', method: 'hash', consistent: true, keySource: '$ssl_preread_server_name',
    servers: [{}, { weight: 4 }, { down: true }, { weight: 2, refusing: true, failTimeout: 600 }],
    script: connects(stringKeys()),
  },
  {
    name: 'chash-sni-refusing-retry',
    description: 'hash ... consistent over A, B (refusing, max_fails=0), C weight 2: every key on B fails and the retry walks on from the same point.',
    context: 'stream', method: 'hash', consistent: true, keySource: '$ssl_preread_server_name',
    servers: [{}, { refusing: true, maxFails: 0 }, { weight: 2 }],
    script: connects(stringKeys()),
  },

  // hash $remote_addr ------------------------------------------------------------------------------
  {
    name: 'hash-remote-addr',
    description: 'hash $remote_addr (the client address as text) over weights 1,2,1 and a down D, from 200 client addresses in 127/8.',
    context: 'stream', method: 'hash', keySource: '$remote_addr',
    servers: [{}, { weight: 2 }, {}, { down: true }],
    script: connects(clientAddresses()),
  },
  {
    name: 'chash-remote-addr',
    description: 'hash $remote_addr consistent over weights 1,2,1 and a down D, from 200 client addresses in 127/8.',
    context: 'stream', method: 'hash', consistent: true, keySource: '$remote_addr',
    servers: [{}, { weight: 2 }, {}, { down: true }],
    script: connects(clientAddresses()),
  },

  // ip_hash (http) -----------------------------------------------------------------------------------
  {
    name: 'ip-hash-3',
    description: 'ip_hash over three equal servers, clients 127.0.x.1 (x = 0..63) and addresses sharing a /24 with them or differing in the second octet: only the first three octets count.',
    context: 'http', method: 'ip-hash', keySource: 'ip_hash',
    servers: [{}, {}, {}],
    script: connects(ipHashClients()),
  },
  {
    name: 'ip-hash-weighted-down-refusing',
    description: 'ip_hash, weights 2,1,3,1 with B down (keeps its slots) and C refusing (fail_timeout=600s): re-mixing walks past them.',
    context: 'http', method: 'ip-hash', keySource: 'ip_hash',
    servers: [{ weight: 2 }, { down: true }, { weight: 3, refusing: true, failTimeout: 600 }, {}],
    script: connects(ipHashClients()),
  },
  {
    name: 'ip-hash-refusing-retry',
    description: 'ip_hash over A, B (refusing, max_fails=0), C weight 2: every client on B fails and the retry re-mixes from the failed round.',
    context: 'http', method: 'ip-hash', keySource: 'ip_hash',
    servers: [{}, { refusing: true, maxFails: 0 }, { weight: 2 }],
    script: connects(ipHashClients()),
  },

  // backup servers before the method directive: where nginx 1.22 and 1.30 differ -----------------
  {
    name: 'hash-sni-backup-first',
    description:
      'hash $ssl_preread_server_name written after the server lines, so that nginx accepts backups (§3.4): primary A and backup B refuse (max_fails=0), backups C and D (weight 2) answer. Every connection fails on A and reaches the backup tier through round robin; after B refuses, nginx 1.22 stays with round robin (it hashed the one-server primary 21 times, `single` being off with backups) while 1.27.3+ (`number < 2`) hashes the key over the backup tier.',
    context: 'stream', method: 'hash', keySource: '$ssl_preread_server_name',
    servers: [{ refusing: true, maxFails: 0 }, { backup: true, refusing: true, maxFails: 0 }, { backup: true }, { backup: true, weight: 2 }],
    script: connects(stringKeys()),
  },
  {
    name: 'ip-hash-backup-first',
    description:
      'ip_hash after the server lines (backups accepted, §3.4): primary A and backup B refuse (max_fails=0), backups C and D (weight 2) answer. After B refuses, nginx 1.22 keeps round robin on the backup tier while 1.27.3+ re-mixes the client address over it.',
    context: 'http', method: 'ip-hash', keySource: 'ip_hash',
    servers: [{ refusing: true, maxFails: 0 }, { backup: true, refusing: true, maxFails: 0 }, { backup: true }, { backup: true, weight: 2 }],
    script: connects(ipHashClients()),
  },
];
