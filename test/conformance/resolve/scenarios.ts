/**
 * The `resolve` scenarios recorded against nginx 1.30.4 (record.ts) and replayed through the
 * library (replay.test.ts), and the vector format they share (docs/dns.md, docs/testing.md).
 *
 * A scenario is an http upstream with `zone`, `resolver 127.0.0.1:PORT` and `resolve` lines, run
 * as steps: `records` sets a name's answers on the DNS server (`null`: NXDOMAIN), `resolved` waits
 * until nginx asked for a name again after the last change, `requests` sends N requests one at a
 * time. Addresses in the vectors use canonical ports (`PORT_A` for names, the SRV ports as
 * written); the recorder maps them to free ports. `refusing`: loopback addresses with no backend
 * (a connect there is refused, so nginx counts a failure and tries the next peer).
 */

import type { ZoneName } from './dns-server';

/** The backends' port in every vector (a name's peers use it). */
export const PORT_A = 20001;
/** A second canonical port, for SRV records. */
export const PORT_B = 20002;

export type ResolveStep =
  | { op: 'records'; name: string; answers: ZoneName | null }
  | { op: 'resolved'; name: string }
  | { op: 'requests'; n: number };

export interface ResolveScenario {
  name: string;
  description: string;
  /** The lines inside `upstream u { zone u 64k; resolver 127.0.0.1:DNS ...; ... }` after the resolver. */
  upstream: string;
  /** Words after the resolver's address (e.g. `valid=1s`). */
  resolverParams: string;
  /** Lines after `resolver` (e.g. `resolver_timeout 1s;`). */
  extra?: string;
  refusing: string[];
  steps: ResolveStep[];
}

const A = (ttl: number, ...ips: string[]): ZoneName => ({ A: ips.map((address) => ({ address, ttl })) });

export const SCENARIOS: readonly ResolveScenario[] = [
  {
    name: 'add-remove',
    description: 'one name, records added and removed: surviving peers keep their place and round-robin state, new ones go to the end',
    upstream: `server backend.test:${PORT_A} resolve;`,
    resolverParams: '',
    refusing: [],
    steps: [
      { op: 'records', name: 'backend.test', answers: A(1, '127.0.0.2', '127.0.0.3') },
      { op: 'resolved', name: 'backend.test' },
      { op: 'requests', n: 3 },
      { op: 'records', name: 'backend.test', answers: A(1, '127.0.0.2', '127.0.0.3', '127.0.0.4') },
      { op: 'resolved', name: 'backend.test' },
      { op: 'requests', n: 7 },
      { op: 'records', name: 'backend.test', answers: A(1, '127.0.0.3', '127.0.0.4') },
      { op: 'resolved', name: 'backend.test' },
      { op: 'requests', n: 3 },
      { op: 'records', name: 'backend.test', answers: A(1, '127.0.0.4', '127.0.0.2', '127.0.0.3') },
      { op: 'resolved', name: 'backend.test' },
      { op: 'requests', n: 6 },
    ],
  },
  {
    name: 'static-and-weight',
    description: 'a static server before a resolved name with weight=2: resolved peers follow the static one, a new address joins at the end with the line weight',
    upstream: `server 127.0.0.6:${PORT_A}; server backend.test:${PORT_A} resolve weight=2;`,
    resolverParams: '',
    refusing: [],
    steps: [
      { op: 'records', name: 'backend.test', answers: A(1, '127.0.0.2') },
      { op: 'resolved', name: 'backend.test' },
      { op: 'requests', n: 5 },
      { op: 'records', name: 'backend.test', answers: A(1, '127.0.0.2', '127.0.0.3') },
      { op: 'resolved', name: 'backend.test' },
      { op: 'requests', n: 10 },
    ],
  },
  {
    name: 'failed-peer-survives',
    description: 'a peer that failed (max_fails=1, fail_timeout=60s) stays failed when the answer changes around it',
    upstream: `server backend.test:${PORT_A} resolve max_fails=1 fail_timeout=60s;`,
    resolverParams: '',
    refusing: ['127.0.0.5'],
    steps: [
      { op: 'records', name: 'backend.test', answers: A(1, '127.0.0.5', '127.0.0.2') },
      { op: 'resolved', name: 'backend.test' },
      { op: 'requests', n: 3 },
      { op: 'records', name: 'backend.test', answers: A(1, '127.0.0.5', '127.0.0.2', '127.0.0.3') },
      { op: 'resolved', name: 'backend.test' },
      { op: 'requests', n: 4 },
    ],
  },
  {
    name: 'nxdomain',
    description: 'NXDOMAIN removes every peer of the name (the backup serves), an answer brings peers back; valid=1s',
    upstream: `server backend.test:${PORT_A} resolve; server 127.0.0.6:${PORT_A} backup;`,
    resolverParams: 'valid=1s',
    refusing: [],
    steps: [
      { op: 'records', name: 'backend.test', answers: A(30, '127.0.0.2', '127.0.0.3') },
      { op: 'resolved', name: 'backend.test' },
      { op: 'requests', n: 3 },
      { op: 'records', name: 'backend.test', answers: null },
      { op: 'resolved', name: 'backend.test' },
      { op: 'requests', n: 2 },
      { op: 'records', name: 'backend.test', answers: A(30, '127.0.0.3') },
      { op: 'resolved', name: 'backend.test' },
      { op: 'requests', n: 2 },
    ],
  },
  {
    name: 'servfail-keeps',
    description: 'SERVFAIL keeps the last good peers (retried after resolver_timeout 1s), then a new answer applies',
    upstream: `server backend.test:${PORT_A} resolve;`,
    resolverParams: '',
    extra: 'resolver_timeout 1s;',
    refusing: [],
    steps: [
      { op: 'records', name: 'backend.test', answers: A(1, '127.0.0.2', '127.0.0.3') },
      { op: 'resolved', name: 'backend.test' },
      { op: 'requests', n: 3 },
      { op: 'records', name: 'backend.test', answers: { rcode: 2 } },
      { op: 'resolved', name: 'backend.test' },
      { op: 'requests', n: 3 },
      { op: 'records', name: 'backend.test', answers: A(1, '127.0.0.4') },
      { op: 'resolved', name: 'backend.test' },
      { op: 'requests', n: 2 },
    ],
  },
  {
    name: 'srv-priority-weight',
    description: 'service=http: the lowest SRV priority serves, a higher one is backup; SRV weights are peer weights; a changed weight is a new peer at the end',
    upstream: 'server backend.test service=http resolve;',
    resolverParams: '',
    refusing: [],
    steps: [
      { op: 'records', name: 'a.test', answers: A(30, '127.0.0.2') },
      { op: 'records', name: 'b.test', answers: A(30, '127.0.0.3') },
      { op: 'records', name: 'c.test', answers: A(30, '127.0.0.4') },
      {
        op: 'records',
        name: '_http._tcp.backend.test',
        answers: { SRV: [{ priority: 1, weight: 2, port: PORT_A, target: 'a.test', ttl: 1 }, { priority: 5, weight: 1, port: PORT_B, target: 'b.test', ttl: 1 }] },
      },
      { op: 'resolved', name: '_http._tcp.backend.test' },
      { op: 'requests', n: 3 },
      {
        op: 'records',
        name: '_http._tcp.backend.test',
        answers: { SRV: [{ priority: 1, weight: 2, port: PORT_A, target: 'a.test', ttl: 1 }, { priority: 1, weight: 1, port: PORT_B, target: 'b.test', ttl: 1 }] },
      },
      { op: 'resolved', name: '_http._tcp.backend.test' },
      { op: 'requests', n: 6 },
      {
        op: 'records',
        name: '_http._tcp.backend.test',
        answers: { SRV: [{ priority: 1, weight: 1, port: PORT_A, target: 'a.test', ttl: 1 }, { priority: 1, weight: 1, port: PORT_B, target: 'b.test', ttl: 1 }] },
      },
      { op: 'resolved', name: '_http._tcp.backend.test' },
      { op: 'requests', n: 4 },
    ],
  },
];

/** What nginx did in one `requests` step: per request, the peers tried (`$upstream_addr`) and the status. */
export interface RecordedRequest {
  tried: string[];
  status: number;
}

export interface ResolveVector {
  format: 1;
  scenario: string;
  description: string;
  /** The upstream block as run (DNS port written as `DNS`). */
  config: string;
  refusing: string[];
  steps: ResolveStep[];
  /** Per nginx version: the requests of each `requests` step, in order. */
  nginx: Record<string, RecordedRequest[][]>;
  /**
   * Per nginx version: the time between successive queries of the first name a `resolved` step
   * waits for (A, or SRV for a service), up to the last one waited for, in ms rounded to 500.
   */
  intervals: Record<string, number[]>;
}

/** The upstream block of a scenario, with the DNS server's port. */
export function upstreamBlock(sc: ResolveScenario, dnsPort: number | 'DNS'): string {
  const params = sc.resolverParams === '' ? '' : ` ${sc.resolverParams}`;
  return `upstream u { zone u 64k; resolver 127.0.0.1:${dnsPort}${params}; ${sc.extra ?? ''}${sc.extra ? ' ' : ''}${sc.upstream} }`;
}

export const RESOLVE_VECTOR_DIR = 'test/vectors/resolve';
