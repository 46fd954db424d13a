/**
 * nginx variables as the sticky module reads them, for a host that is not nginx:
 * - `firstVariable`: the first found, non-empty value of a list of variables
 *   (`ngx_http_upstream_sticky_get_id`, src/http/modules/ngx_http_upstream_sticky_module.c): how
 *   `route`, `lookup=` and `create=` name a session.
 * - `argument`: `$arg_NAME` from a query string (`ngx_http_arg`, src/http/ngx_http_parse.c): the
 *   first `NAME=` (ASCII case aside) at the start or after a `&`, the value up to the next `&`, as
 *   sent (not percent-decoded).
 * - `evaluate`: text with `$name` / `${name}` references (`domain=`, `samesite=`), as nginx's
 *   complex values (`ngx_http_script_compile`): a name is letters, digits and `_`; a variable that
 *   is not found adds nothing.
 * Pure: values come from a lookup the caller gives.
 */

/** A variable's value by its nginx name without the `$` (`cookie_srv_id`, `arg_route`), or undefined when not found. */
export type VariableLookup = (name: string) => string | undefined;

/** A variable name as configured: with or without its leading `$`. */
function bare(name: string): string {
  return name.startsWith('$') ? name.slice(1) : name;
}

/**
 * The first variable of `names` (each `$name` or `name`) whose value is found and not empty, and
 * its index; undefined when none is.
 *
 * @example
 * firstVariable(['$arg_route', '$cookie_route'], (n) => ({ cookie_route: 'b' })[n]); // { value: 'b', index: 1 }
 */
export function firstVariable(names: readonly string[], lookup: VariableLookup): { value: string; index: number } | undefined {
  for (let i = 0; i < names.length; i++) {
    const value = lookup(bare(names[i]!));
    if (value !== undefined && value.length > 0) return { value, index: i };
  }
  return undefined;
}

const AMPERSAND = 38;
const EQUALS = 61;

function lower(code: number): number {
  return code >= 65 && code <= 90 ? code + 32 : code;
}

/**
 * `$arg_NAME` of a query string (without its `?`): undefined when absent.
 *
 * @example
 * argument('x=1&Route=b&route=c', 'route'); // 'b'
 */
export function argument(args: string | undefined, name: string): string | undefined {
  if (args === undefined || args.length === 0 || name.length === 0) return undefined;
  const n = name.length;
  // a match needs its '=' inside the string: the name ends before the last character
  for (let p = 0; p + n < args.length; p++) {
    let k = 0;
    while (k < n && lower(args.charCodeAt(p + k)) === lower(name.charCodeAt(k))) k++;
    if (k < n) continue;
    if ((p === 0 || args.charCodeAt(p - 1) === AMPERSAND) && args.charCodeAt(p + n) === EQUALS) {
      const start = p + n + 1;
      const amp = args.indexOf('&', start);
      return args.slice(start, amp === -1 ? args.length : amp);
    }
  }
  return undefined;
}

function isNameChar(code: number): boolean {
  return (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || (code >= 48 && code <= 57) || code === 95;
}

/** True if `text` holds a variable reference (nginx compiles it per request). */
export function hasVariables(text: string): boolean {
  return text.includes('$');
}

/**
 * `text` with each `$name` or `${name}` replaced by its value ('' when not found).
 *
 * @example
 * evaluate('.$host', (n) => (n === 'host' ? 'example.com' : undefined)); // '.example.com'
 */
export function evaluate(text: string, lookup: VariableLookup): string {
  let out = '';
  let at = 0;
  while (at < text.length) {
    const dollar = text.indexOf('$', at);
    if (dollar === -1) {
      out += text.slice(at);
      break;
    }
    out += text.slice(at, dollar);
    let name: string;
    if (text.charCodeAt(dollar + 1) === 123 /* { */) {
      const close = text.indexOf('}', dollar + 2);
      const end = close === -1 ? text.length : close;
      name = text.slice(dollar + 2, end);
      at = close === -1 ? text.length : close + 1;
    } else {
      let end = dollar + 1;
      while (end < text.length && isNameChar(text.charCodeAt(end))) end++;
      name = text.slice(dollar + 1, end);
      at = end;
    }
    if (name.length > 0) out += lookup(name) ?? '';
  }
  return out;
}
