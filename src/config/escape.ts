/**
 * Control characters of untrusted text made visible before it reaches a terminal. A configuration
 * can carry any byte in a quoted word (`server "\x1b[2J\x1b[31mevil:25";`): printed raw, an escape
 * sequence clears the screen, recolours or rewrites the lines above, and a CR or a newline forges
 * output lines. Every C0 control (U+0000-U+001F), DEL (U+007F) and every C1 control (U+0080-U+009F,
 * U+009B is CSI on terminals that take 8-bit controls) is replaced by a visible escape: `\t`, `\n`,
 * `\r`, `\xNN` for the other C0 controls and DEL, `\u00NN` for C1. Characters that are invisible or
 * reorder the text around them are escaped as `\uNNNN` too: the byte order mark U+FEFF (nginx reads
 * it as part of a word), zero-width characters U+200B-U+200F, the line and paragraph separators
 * U+2028-U+2029, and the bidirectional overrides and isolates U+202A-U+202E, U+2066-U+2069, which
 * can make an address or an error read as something else. A backslash is left as it is, so ordinary
 * text prints unchanged. Pure; O(length).
 */

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;

const hex = (c: string, width: number): string => c.charCodeAt(0).toString(16).padStart(width, '0');

function visible(c: string): string {
  if (c === '\t') return '\\t';
  if (c === '\n') return '\\n';
  if (c === '\r') return '\\r';
  const code = c.charCodeAt(0);
  return code >= 0x80 ? `\\u${hex(c, 4)}` : `\\x${hex(c, 2)}`;
}

/** `s` with every control character replaced by a visible escape (`\x1b`, `\r`, `\u009b`, ...). */
export function escapeControls(s: string): string {
  return s.replace(CONTROL, visible);
}

/** `s` escaped line by line: its own line breaks (`\n`) are kept, every other control is escaped. */
export function escapeControlsKeepLines(s: string): string {
  return s.split('\n').map(escapeControls).join('\n');
}

/**
 * A copy of `value` (plain objects, arrays, strings, numbers, ...) with every string escaped by
 * `escapeControls`; the strings of the object keys named in `multiline` keep their line breaks.
 * For rendering a whole result (explanation, simulation) without missing a field.
 */
export function escapeStrings<T>(value: T, multiline: ReadonlySet<string> = new Set()): T {
  const walk = (v: unknown, key: string | undefined): unknown => {
    if (typeof v === 'string') return key !== undefined && multiline.has(key) ? escapeControlsKeepLines(v) : escapeControls(v);
    if (Array.isArray(v)) return v.map((x) => walk(x, undefined));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = walk(x, k);
      return out;
    }
    return v;
  };
  return walk(value, undefined) as T;
}

// JSON.stringify escapes C0 controls but writes DEL and the C1 controls as they are.
const JSON_RAW_CONTROL = /[\u007f-\u009f]/g;

/**
 * `JSON.stringify(value, null, 2)` with DEL and the C1 controls also written as `\u00NN` escapes
 * (still valid JSON: they occur only inside string literals, and the escape means the same string).
 */
export function safeJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(JSON_RAW_CONTROL, (c) => `\\u${hex(c, 4)}`);
}
