/**
 * The blocks around the upstreams: the core module's main directives (src/core/nginx.c
 * `ngx_core_commands`, each once where nginx says `is duplicate`), `events`
 * (src/event/ngx_event.c `ngx_events_block`), `http` and `stream` (`ngx_http_block`,
 * `ngx_stream_block`: after the block, the upstream module's init), and the block directives of the
 * http and stream modules with the blocks nginx allows them in (`server`, `location`, `types`,
 * `map`, ...; a stream `server` needs `listen`, `ngx_stream_core_server`).
 *
 * nginx knows every directive of every block; we model `main`, `events` and `upstream` fully and
 * only walk the rest: `elsewhere` decides what becomes of a directive no table row allows where it
 * stands. A name no module of the target nginx has is `unknown directive "X"` in every block
 * (`ngx_conf_handler` looks the name up before the context); a known name is `"X" directive is not
 * allowed here` where we model the block, and for `proxy_pass` / `listen` outside the blocks nginx
 * allows them in (`NGX_HTTP_LOC_CONF`, `NGX_STREAM_SRV_CONF`, `NGX_*_SRV_CONF`); otherwise it is
 * skipped, its block walked so that a misplaced `upstream`, `http` or `stream` is still found, and
 * `listen` / `proxy_pass` noted.
 */

import { CONTEXTS, type Command, type Conf, type CoreMain } from './conf';
import { EVENTS_DIRECTIVES, MAIN_DIRECTIVES, RAW_BLOCKS } from './directives';
import type { Statement } from './tokenizer';
import { initUpstreams, upstreamBlock } from './upstream';
import { useState, withScope } from './upstream-use';

/** Main-context directives that say `is duplicate` when repeated (nginx.c, ngx_conf_set_*_slot). */
const MAIN_ONCE = new Set([
  'daemon', 'master_process', 'timer_resolution', 'pcre_jit', 'pid', 'lock_file', 'worker_processes', 'user',
  'worker_cpu_affinity', 'worker_rlimit_nofile', 'worker_rlimit_core', 'worker_shutdown_timeout',
  'working_directory', 'debug_points',
]);

/** The core modules' state of one parse. */
export function coreMain(): CoreMain {
  return { seen: new Set(), mailLoaded: false, listenSeen: false, proxyDirectives: [], uses: useState() };
}

/** `http { }`, `stream { }`, `events { }`: once each; http and stream then check their upstreams. */
function topBlock(cf: Conf, st: Statement, name: 'http' | 'stream' | 'events'): void {
  if (cf.core.seen.has(name)) {
    cf.error(`"${name}" directive is duplicate`, cf.at(st), 'DUPLICATE', name);
    return cf.recover(st, 'other');
  }
  cf.core.seen.add(name);
  if (name === 'events') return cf.block(name);
  withScope(cf, name, name, () => cf.block(name));
  initUpstreams(cf, name);
}

/**
 * A conf.d fragment (ParseOptions `fragment`): the file's top level read as the inside of `http {}`
 * or `stream {}`, as nginx reads a file included there, then the module's upstream init.
 */
export function fragmentBlock(cf: Conf, name: 'http' | 'stream', walk: () => void): void {
  cf.core.seen.add(name);
  withScope(cf, name, name, walk);
  initUpstreams(cf, name);
}

function mainDirective(cf: Conf, st: Statement): void {
  const name = st.args[0]!.text;
  if (MAIN_ONCE.has(name)) {
    if (cf.core.seen.has(name)) cf.error(`"${name}" directive is duplicate`, cf.at(st), 'DUPLICATE', name);
    cf.core.seen.add(name);
  }
  if (name === 'load_module' && /ngx_mail_module/.test(st.args[1]!.text)) cf.core.mailLoaded = true;
  else if (name === 'load_module' && !/ngx_stream_module/.test(st.args[1]!.text)) cf.core.otherModulesLoaded = true;
}

/** `server { ... }` in http or stream; a stream server needs `listen` (ngx_stream_core_server). */
function serverBlock(cf: Conf, st: Statement): void {
  const ctx = cf.ctx === 'http' ? 'http-server' : 'stream-server';
  const saved = cf.core.listenSeen;
  cf.core.listenSeen = false;
  const before = cf.errors.length;
  withScope(cf, ctx, `server (${st.file}:${st.line})`, () => cf.block(ctx));
  if (ctx === 'stream-server' && !cf.core.listenSeen && cf.errors.length === before) {
    cf.error('no "listen" is defined for server', { file: st.file, line: st.line, column: st.args[0]!.column }, 'NO_LISTEN');
  }
  cf.core.listenSeen = saved;
}

/** A block we do not interpret: its text (`types`, `map`, ...) or its directives, walked. */
function otherBlock(cf: Conf, st: Statement): void {
  cf.block(RAW_BLOCKS.has(st.args[0]!.text) ? 'raw' : CONTEXTS[cf.ctx].inner);
}

/** The core, events, http and stream modules' rows (block directives with the blocks nginx allows them in). */
export const CORE_COMMANDS: readonly Command<void>[] = [
  ...(['http', 'stream', 'events'] as const).map((name): Command<void> => ({
    name,
    contexts: ['main'],
    block: true,
    args: '0',
    handler: (cf, st) => topBlock(cf, st, name),
  })),
  ...[...MAIN_DIRECTIVES].map(([name, args]): Command<void> => ({ name, contexts: ['main'], block: false, args, handler: mainDirective })),
  ...[...EVENTS_DIRECTIVES].map(([name, args]): Command<void> => ({ name, contexts: ['events'], block: false, args, handler: () => {} })),
  { name: 'server', contexts: ['http', 'stream'], block: true, args: '0', handler: serverBlock },
  {
    name: 'location',
    contexts: ['http-server', 'http-location'],
    block: true,
    args: '12',
    handler: (cf, st) => withScope(cf, 'http-location', `location ${st.args.slice(1).map((a) => a.text).join(' ')}`, () => cf.block('http-location')),
  },
  { name: 'limit_except', contexts: ['http-location'], block: true, args: '1+', handler: otherBlock },
  { name: 'types', contexts: ['http', 'http-server', 'http-location'], block: true, args: '0', handler: otherBlock },
  { name: 'map', contexts: ['http', 'stream'], block: true, args: '2', handler: otherBlock },
  { name: 'geo', contexts: ['http', 'stream'], block: true, args: '12', handler: otherBlock },
  { name: 'split_clients', contexts: ['http', 'stream'], block: true, args: '2', handler: otherBlock },
  { name: 'charset_map', contexts: ['http'], block: true, args: '2', handler: otherBlock },
];

/** Block directives of the table: in a walked block, one that is not allowed there is an error. */
const BLOCKS = new Set(CORE_COMMANDS.filter((c) => c.block).map((c) => c.name));
/** Blocks of the main context only: no nested block, interpreted or not, can hold them. */
const MAIN_BLOCKS = new Set(CORE_COMMANDS.filter((c) => c.block && c.contexts.every((x) => x === 'main')).map((c) => c.name));

/** `upstream` where nginx does not allow it: the error, then (lenient) the block read under a guessed module. */
function misplacedUpstream(cf: Conf, st: Statement): void {
  cf.notAllowed(st);
  if (st.end === '{' && st.args.length === 2) return upstreamBlock(cf, st, CONTEXTS[cf.ctx].guess, true);
  cf.recover(st, 'other');
}

/** A directive that no command row allows in the current context. */
export function elsewhere(cf: Conf, st: Statement): void {
  const name = st.args[0]!.text;
  const here = CONTEXTS[cf.ctx];
  if (name.charCodeAt(0) === 0xfeff) {
    // A byte order mark (a file saved "with BOM"): nginx reads its bytes as part of the first word,
    // and no module has such a directive. Skipping it as a directive we do not model would pass a
    // file that nginx -t fails.
    cf.unknown(st);
    return cf.recover(st, 'other');
  }
  if (here.kind === 'upstream') {
    if (cf.known(name)) cf.notAllowed(st);
    else cf.unknown(st);
    return cf.recover(st, 'other');
  }
  if (here.kind === 'modelled') {
    if (name === 'mail' && cf.ctx === 'main' && !cf.core.mailLoaded) {
      // Debian builds the mail module as a dynamic module: unknown until load_module'ed
      cf.unknown(st);
      return cf.recover(st, 'other');
    }
    if (name === 'upstream') return misplacedUpstream(cf, st);
    if (cf.known(name)) cf.notAllowed(st);
    else if (cf.core.otherModulesLoaded) return cf.skip(st, here.inner);
    else cf.unknown(st);
    return cf.recover(st, 'other');
  }
  // walked and skipped blocks
  if (name === 'upstream') return misplacedUpstream(cf, st);
  if (!cf.known(name) && !cf.core.otherModulesLoaded) {
    cf.unknown(st);
    return cf.recover(st, here.inner);
  }
  if (here.kind === 'walked' ? BLOCKS.has(name) : MAIN_BLOCKS.has(name)) {
    cf.notAllowed(st);
    return cf.recover(st, 'other');
  }
  if (name === 'sticky' && !cf.core.otherModulesLoaded) {
    // NGX_HTTP_UPS_CONF only (nginx 1.30's sticky module): anywhere else nginx says not allowed here
    cf.notAllowed(st);
    return cf.recover(st, 'other');
  }
  if ((name === 'listen' || name === 'proxy_pass') && st.args.length >= 2) {
    const block = cf.ctx === 'stream-server' || cf.ctx === 'http-server' || cf.ctx === 'http-location' || cf.ctx === 'http' || cf.ctx === 'stream' ? cf.ctx : 'other';
    cf.core.proxyDirectives.push({ directive: name, value: st.args[1]!.text, file: st.file, line: st.line, block });
  }
  if (name === 'proxy_pass' && (cf.ctx === 'http-server' || cf.ctx === 'http' || cf.ctx === 'stream')) {
    // http proxy_pass is a location-level directive (docs/nginx-semantics.md §6.1), stream's a server-level one
    cf.notAllowed(st);
    return cf.recover(st, here.inner);
  }
  if (name === 'listen' && (cf.ctx === 'http' || cf.ctx === 'stream' || cf.ctx === 'http-location')) {
    cf.notAllowed(st);
    return cf.recover(st, here.inner);
  }
  if (name === 'listen' && cf.ctx === 'stream-server') cf.core.listenSeen = true;
  cf.skip(st, here.inner);
}
