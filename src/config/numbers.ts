/**
 * nginx's number parsers and the limits the configuration parser checks against: `ngx_atoi`
 * (src/core/ngx_string.c), `ngx_parse_size` (src/core/ngx_parse.c), `NGX_MAX_INT_T_VALUE` and
 * `ngx_pagesize` as on x86-64 Linux, and the walker's own limits (include depth and budget, block
 * depth, the glob's directory entries, lenient errors). The `server` and `check` defaults are the
 * options' own: `DEFAULT_SERVER` / `NUMERIC_PARAMS` (server-fields.ts) and `DEFAULT_CHECK`
 * (options.ts). Pure.
 */

/** `NGX_MAX_INT_T_VALUE` (64-bit `ngx_int_t`). */
export const MAX_INT = (1n << 63n) - 1n;
/** `ngx_pagesize`: a shared memory zone must hold at least 8 pages. */
export const PAGE_SIZE = 4096;
/** Files open at once through nested includes before `open() failed (24: Too many open files)`. */
export const MAX_INCLUDE_DEPTH = 64;
/** Deepest block nesting walked (nginx recurses in C; we stop with an error instead of a stack overflow). */
export const MAX_DEPTH = 200;
/** Default `maxIncludeFiles`: files read through `include` in one parse, repetitions counted. */
export const MAX_INCLUDE_FILES = 4096;
/** Default `maxIncludeBytes`: bytes read through `include` in one parse, repetitions counted (32 MiB). */
export const MAX_INCLUDE_BYTES = 32 * 1024 * 1024;
/** Directory entries the default glob reads in one parse (each expansion counts one more). */
export const MAX_GLOB_ENTRIES = 100_000;
/** Default `maxErrors`: errors a lenient parse keeps before it stops (`TOO_MANY_ERRORS`). */
export const MAX_ERRORS = 100;

/** `ngx_atoi`: decimal digits only, up to `NGX_MAX_INT_T_VALUE`; undefined where nginx returns NGX_ERROR. */
export function atoi(text: string): bigint | undefined {
  if (text.length === 0 || !/^[0-9]+$/.test(text)) return undefined;
  const digits = text.replace(/^0+(?=.)/, '');
  if (digits.length > 19) return undefined;
  const v = BigInt(digits);
  return v > MAX_INT ? undefined : v;
}

/** `ngx_parse_size`: `N`, `Nk`/`NK`, `Nm`/`NM` bytes; undefined where nginx returns NGX_ERROR. */
export function parseSize(text: string): bigint | undefined {
  if (text.length === 0) return undefined;
  const unit = text[text.length - 1]!;
  let scale = 1n;
  let digits = text;
  if (unit === 'k' || unit === 'K') {
    scale = 1024n;
    digits = text.slice(0, -1);
  } else if (unit === 'm' || unit === 'M') {
    scale = 1024n * 1024n;
    digits = text.slice(0, -1);
  }
  const v = atoi(digits);
  if (v === undefined || v > MAX_INT / scale) return undefined;
  return v * scale;
}
