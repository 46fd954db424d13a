/**
 * The balancing methods, one spec each: the only place a method's identity is spelled. The `Method`
 * type, option validation (options.ts), the selector a Balancer builds, which methods take backup
 * servers, and on the config side the parser's balancing directives, `formatUpstream` and `explain`
 * are all derived from these rows (nginx: each balancing module owns its directive, its flags and
 * its `init_peer`; src/http/modules/ngx_http_upstream_*_module.c).
 *
 * | method | nginx directive | contexts | backup | selector |
 * | --- | --- | --- | --- | --- |
 * | `round-robin` | (default) | http, stream | yes | select/round-robin/ |
 * | `least-conn` | `least_conn` | http, stream | yes | select/least-conn.ts |
 * | `hash` | `hash KEY [consistent]` | http, stream | no | select/hash.ts, select/consistent-hash.ts |
 * | `ip-hash` | `ip_hash` | http | no | select/ip-hash.ts |
 * | `random` | `random [two [least_conn]]` | http, stream | no | select/random.ts |
 *
 * "backup: no" is nginx's method flags without `NGX_HTTP_UPSTREAM_BACKUP`: a `backup` server after
 * the directive is rejected (docs/nginx-semantics.md §3.4).
 */

import { ConsistentHashSelector } from './select/consistent-hash';
import { HashSelector } from './select/hash';
import { IpHashSelector } from './select/ip-hash';
import { LeastConnSelector } from './select/least-conn';
import { RandomSelector } from './select/random';
import { RoundRobinSelector } from './select/round-robin/index';
import type { Selector, SelectorContext } from './select/selector';

/** The method options that refine a method (`hash: { consistent }`, `randomTwo`, `randomLeastConn`). */
export interface MethodChoice {
  consistent: boolean;
  randomTwo: boolean;
  randomLeastConn: boolean;
}

export interface MethodSpec {
  /** The `method` option's value. */
  readonly name: string;
  /** nginx's directive, or null for round robin (no directive: the default) and for methods nginx lacks. */
  readonly directive: string | null;
  /** nginx's argument rule of the directive (`ngx_command_t` types: '0' none, '12' one or two, ...). */
  readonly directiveArgs: '0' | '1' | '12' | '012';
  /** The contexts whose upstream module has the method: empty for a method nginx lacks (the formatter refuses it). */
  readonly contexts: readonly ('http' | 'stream')[];
  /** Accepts `backup` servers (nginx's `NGX_*_UPSTREAM_BACKUP` flag). */
  readonly backup: boolean;
  /** Top-level options that refine this method and no other (validated by options.ts). */
  readonly options: readonly (keyof MethodChoice)[];
  /** The selector a balancer with this method builds. */
  readonly selector: (choice: MethodChoice, context: SelectorContext) => Selector;
  /** The directive line as nginx writes it, or null for round robin. */
  readonly directiveText: (choice: MethodChoice, hashKey: string) => string | null;
  /** What the method does, in words (explain). */
  readonly describe: (choice: MethodChoice, hashKey: string) => string;
}

export const METHOD_SPECS = [
  {
    name: 'round-robin',
    directive: null,
    directiveArgs: '0',
    contexts: ['http', 'stream'],
    backup: true,
    options: [],
    selector: (_c, context) => new RoundRobinSelector(context),
    directiveText: () => null,
    describe: () => 'round robin (smooth weighted): each server gets exactly its weight out of every sum(weights) connections',
  },
  {
    name: 'least-conn',
    directive: 'least_conn',
    directiveArgs: '0',
    contexts: ['http', 'stream'],
    backup: true,
    options: [],
    selector: (_c, context) => new LeastConnSelector(context),
    directiveText: () => 'least_conn;',
    describe: () => 'least_conn: the server with the fewest active connections relative to its weight; ties by weighted round robin',
  },
  {
    name: 'hash',
    directive: 'hash',
    directiveArgs: '12',
    contexts: ['http', 'stream'],
    backup: false,
    options: ['consistent'],
    selector: (c, context) => (c.consistent ? new ConsistentHashSelector() : new HashSelector(context.nginx)),
    directiveText: (c, key) => `hash ${key}${c.consistent ? ' consistent' : ''};`,
    describe: (c, key) =>
      `hash ${key}${c.consistent ? ' consistent (ketama ring, 160 points per weight unit)' : ' (key hash modulo total weight)'}: the same key goes to the same server`,
  },
  {
    name: 'ip-hash',
    directive: 'ip_hash',
    directiveArgs: '0',
    contexts: ['http'],
    backup: false,
    options: [],
    selector: (_c, context) => new IpHashSelector(context.nginx),
    directiveText: () => 'ip_hash;',
    describe: () => 'ip_hash: the first three octets of the client IPv4 address (whole IPv6 address) pick the server',
  },
  {
    name: 'random',
    directive: 'random',
    directiveArgs: '012',
    contexts: ['http', 'stream'],
    backup: false,
    options: ['randomTwo', 'randomLeastConn'],
    selector: (c, context) => new RandomSelector(c.randomTwo, context.nginx),
    directiveText: (c) => (c.randomTwo ? (c.randomLeastConn ? 'random two least_conn;' : 'random two;') : 'random;'),
    describe: (c) =>
      c.randomTwo ? 'random two least_conn: two servers drawn at random by weight, the one with fewer connections wins' : 'random: a server drawn at random by weight',
  },
] as const satisfies readonly MethodSpec[];

/** Balancing method (nginx directive in the table above). */
export type Method = (typeof METHOD_SPECS)[number]['name'];

/** Every method's name, in the table's order. */
export const METHODS: readonly Method[] = METHOD_SPECS.map((m) => m.name);

const BY_NAME = new Map<string, MethodSpec>(METHOD_SPECS.map((m) => [m.name, m]));
const BY_DIRECTIVE = new Map<string, MethodSpec>(METHOD_SPECS.flatMap((m) => (m.directive === null ? [] : [[m.directive, m] as const])));

/** The spec of a method (the method must be valid: options.ts checks it first). */
export function methodSpec(name: Method): MethodSpec {
  return BY_NAME.get(name)!;
}

/** The spec whose nginx directive is `directive`, if any. */
export function methodByDirective(directive: string): MethodSpec | undefined {
  return BY_DIRECTIVE.get(directive);
}
