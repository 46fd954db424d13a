/**
 * The active health check module's directives (yaoweibin's nginx_upstream_check_module and
 * Tengine's copy of it, docs/nginx-semantics.md §7.1), in `upstream` blocks: `check`
 * (`ngx_http_upstream_check`), `check_http_send`, `check_http_expect_alive`,
 * `check_keepalive_requests` and `check_fastcgi_param` (ngx_http_upstream_check_module.c), with the
 * module's messages. The module has them in http upstreams only; in a stream upstream they are an
 * upstream-balancer extension, accepted with a warning. Known only with `checkModule` (default on).
 */

import { type CheckOptions, DEFAULT_CHECK, type HttpStatusClass, MAX_TIMER_MS } from '../options';
import { type ArgRule, type Command, type Conf, type UpsState, upstreamCommand } from './conf';
import { atoi } from './numbers';
import type { Statement } from './tokenizer';

/** Check types of the check module (yaoweibin master and Tengine 3.2.0). */
const MODULE_CHECK_TYPES = new Set(['tcp', 'http', 'fastcgi', 'ssl_hello', 'mysql', 'ajp']);

/** The numeric `check` parameters: positive integers (`interval=`, ... in milliseconds). */
const CHECK_NUMBERS = ['interval', 'timeout', 'rise', 'fall', 'port'] as const;

/** The status classes `check_http_expect_alive` names, in the order the options list them. */
const STATUS_CLASSES: readonly HttpStatusClass[] = ['1xx', '2xx', '3xx', '4xx', '5xx'];

/** `check interval=MS rise=N fall=N timeout=MS type=T port=N default_down=BOOL`: the check module's defaults first. */
function check(cf: Conf, st: Statement, u: UpsState): void {
  const a = st.args;
  const c: CheckOptions = { ...DEFAULT_CHECK };
  for (let i = 1; i < a.length; i++) {
    const tok = a[i]!;
    const t = tok.text;
    let bad = false;
    const numeric = CHECK_NUMBERS.find((k) => t.startsWith(`${k}=`));
    if (numeric !== undefined) {
      const v = atoi(t.slice(numeric.length + 1));
      if (v === undefined || v === 0n) bad = true;
      else {
        const n = Number(v);
        if ((numeric === 'interval' || numeric === 'timeout') && n > MAX_TIMER_MS) {
          // The module keeps any ngx_msec_t; a Node timer clamps a longer delay to 1 ms.
          cf.error(
            `check ${numeric}=${n} is longer than the longest timer delay, ${MAX_TIMER_MS} ms (about 24.8 days): upstream-balancer does not accept it (the check module does)`,
            cf.at(st, tok),
            'UNSUPPORTED',
            t,
          );
          return;
        }
        if (numeric === 'port' && n > 65535) {
          cf.warn(`port=${n} is accepted by the check module (and truncated to 16 bits); upstream-balancer rejects ports above 65535`, cf.at(st, tok), 'note');
        }
        c[numeric] = n;
      }
    } else if (t.startsWith('type=')) {
      const ty = t.slice(5);
      if (ty === 'smtp') {
        cf.warn(
          'check type "smtp" is an upstream-balancer extension: no nginx check module has it (yaoweibin and Tengine know tcp, http, fastcgi, ssl_hello, mysql, ajp and say invalid parameter "type=smtp")',
          cf.at(st, tok),
          'extension',
        );
        c.type = 'smtp';
      } else if (!MODULE_CHECK_TYPES.has(ty)) bad = true;
      else if (ty === 'fastcgi' || ty === 'ajp') {
        cf.error(`check type "${ty}" is not implemented by upstream-balancer (implemented: tcp, http, ssl_hello, mysql, and the smtp extension)`, cf.at(st, tok), 'UNSUPPORTED', ty);
        return;
      } else c.type = ty as CheckOptions['type'];
    } else if (t.startsWith('default_down=')) {
      const v = t.slice(13).toLowerCase();
      if (v === 'true') c.defaultDown = true;
      else if (v === 'false') c.defaultDown = false;
      else {
        cf.error(`invalid value "${t}", it must be "true" or "false"`, cf.at(st, tok), 'INVALID_VALUE', t);
        return;
      }
    } else bad = true;
    if (bad) {
      cf.error(`invalid parameter "${t}"`, cf.at(st, tok), 'INVALID_PARAMETER', t);
      return;
    }
  }
  u.check = c;
  u.checkAt = cf.at(st);
}

function httpSend(_cf: Conf, st: Statement, u: UpsState): void {
  u.httpSend = st.args[1]!.text;
}

/** `check_http_expect_alive http_2xx ...`: the classes accumulate over repeated lines. */
function expectAlive(cf: Conf, st: Statement, u: UpsState): void {
  const a = st.args;
  const set = (u.expectAlive ??= new Set());
  for (let i = 1; i < a.length; i++) {
    const t = a[i]!.text;
    const m = /^http_([1-5])xx$/.exec(t);
    if (!m) {
      cf.error(`invalid value "${t}"`, cf.at(st, a[i]), 'INVALID_VALUE', t);
      return;
    }
    const cls = `${m[1]}xx` as HttpStatusClass;
    if (set.has(cls)) cf.warn(`duplicate value "${t}"`, cf.at(st, a[i]), 'note');
    set.add(cls);
  }
}

function keepaliveRequests(cf: Conf, st: Statement, u: UpsState): void {
  const v = atoi(st.args[1]!.text);
  if (v === undefined || v === 0n) {
    cf.error('"check_keepalive_requests" directive invalid value', cf.at(st), 'INVALID_VALUE', st.args[1]!.text);
    return;
  }
  u.checkKeepaliveRequests = Number(v);
}

function fastcgiParam(cf: Conf, st: Statement): void {
  cf.warn('"check_fastcgi_param" is accepted and ignored: upstream-balancer has no fastcgi probe', cf.at(st), 'note');
}

/** The module's handler, preceded in a stream upstream by the extension warning. */
function httpOnly(handler: (cf: Conf, st: Statement, u: UpsState) => void): (cf: Conf, st: Statement, u: UpsState) => void {
  return (cf, st, u) => {
    if (cf.ctx === 'ups-stream') {
      const name = st.args[0]!.text;
      cf.warn(
        `"${name}" in a stream upstream is an upstream-balancer extension: the check module has it in http upstreams only (there it says "${name}" directive is not allowed here), and stock nginx has no "${name}" at all`,
        cf.at(st),
        'extension',
      );
    }
    handler(cf, st, u);
  };
}

const row = (name: string, args: ArgRule, handler: Command<UpsState>['handler']): Command<UpsState> =>
  upstreamCommand(name, ['ups-http', 'ups-stream'], args, httpOnly(handler));

/** The module's command table (`ngx_http_upstream_check_commands`, upstream-block rows). */
export const CHECK_COMMANDS: readonly Command<UpsState>[] = [
  row('check', '1+', check),
  row('check_keepalive_requests', '1', keepaliveRequests),
  row('check_http_send', '1', httpSend),
  row('check_http_expect_alive', '1+', expectAlive),
  row('check_fastcgi_param', '2', fastcgiParam),
];

/** The `check` options of an upstream block: `check` with its companions, or undefined without `check`. */
export function checkOptions(u: UpsState): CheckOptions | undefined {
  if (!u.check) return undefined;
  const c: CheckOptions = { ...u.check };
  if (u.httpSend !== undefined) c.httpSend = u.httpSend;
  if (u.expectAlive) c.httpExpectAlive = STATUS_CLASSES.filter((x) => u.expectAlive!.has(x));
  return c;
}
