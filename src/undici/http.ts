/**
 * The HTTP pieces of the undici adapter that hold no state: what an undici error means to
 * nginx's `proxy_next_upstream` (`classify`), which request bodies can be sent twice
 * (`replayable`), the Host header the upstream sees (`withHost`), raw header lists as objects
 * (`headerObject`, for the handlers of undici's newer API), and the response the adapter answers
 * itself when no upstream answered (`synthesized`: nginx's 502 / 504).
 */

/** Raw header lists as undici hands them to handlers: name, value, name, value... */
export type RawHeaders = ReadonlyArray<Buffer | string | ReadonlyArray<Buffer | string>>;

/**
 * What an error that ended a try before its response header means, in `proxy_next_upstream`
 * words; `'client'` for errors that are the caller's (bad options, a request body that failed, a
 * length that did not match, a dispatcher being shut down): those are no upstream's failure and
 * are never retried.
 */
export function classify(error: unknown): 'error' | 'timeout' | 'invalid_header' | 'client' {
  const code = (error as { code?: unknown } | null)?.code;
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT': // proxy_connect_timeout
    case 'UND_ERR_HEADERS_TIMEOUT': // proxy_read_timeout while reading the header
      return 'timeout';
    case 'UND_ERR_HEADERS_OVERFLOW': // nginx: "upstream sent too big header"
      return 'invalid_header';
    case 'UND_ERR_INVALID_ARG':
    case 'UND_ERR_INVALID_RETURN_VALUE':
    case 'UND_ERR_NOT_SUPPORTED':
    case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_ABORTED':
    case 'UND_ERR_ABORT':
    case 'UND_ERR_DESTROYED':
    case 'UND_ERR_CLOSED':
      return 'client';
  }
  // llhttp's errors (HPE_INVALID_STATUS, HPE_INVALID_HEADER_TOKEN, ...): nginx's "upstream sent
  // invalid header" / "upstream sent no valid HTTP/1.0 header".
  if ((typeof code === 'string' && code.startsWith('HPE_')) || (error as { name?: unknown } | null)?.name === 'HTTPParserError') {
    return 'invalid_header';
  }
  return 'error'; // refused, reset, closed, unreachable, TLS: nginx's NGX_HTTP_UPSTREAM_FT_ERROR
}

const tagOf = (body: object): unknown => (body as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag];

/**
 * A body undici can send again on the next server: none, a string, bytes, a Blob or a FormData
 * (undici serialises those anew for each request), an array of chunks. Streams, generators and
 * other iterables can be read once: nginx's unbuffered body (`proxy_request_buffering off`).
 */
export function replayable(body: unknown): boolean {
  if (body == null || typeof body === 'string' || ArrayBuffer.isView(body) || body instanceof ArrayBuffer || Array.isArray(body)) return true;
  if (typeof body !== 'object') return true; // undici refuses it before anything is sent
  const tag = tagOf(body);
  return tag === 'Blob' || tag === 'File' || tag === 'FormData';
}

/** A Node stream (as undici tells one: `pipe` and `on`). */
export function isStream(body: unknown): body is NodeJS.ReadableStream & { errored?: unknown; readableDidRead?: boolean } {
  return typeof body === 'object' && body !== null && typeof (body as { pipe?: unknown }).pipe === 'function' && typeof (body as { on?: unknown }).on === 'function';
}

/**
 * An iterable body (a generator, a web ReadableStream, fetch's request body) as an async generator
 * that reports an error thrown by the source (the caller's, not the upstream's) before rethrowing it.
 */
export async function* guarded(
  source: Iterable<unknown> | AsyncIterable<unknown>,
  failed: (error: unknown) => void,
): AsyncGenerator<unknown, void, undefined> {
  try {
    yield* source as AsyncIterable<unknown>;
  } catch (error) {
    failed(error);
    throw error;
  }
}

/** undici's header forms: a flat array, an object, or an iterable of [name, value] pairs. */
export type HeadersInput = unknown;

/**
 * The headers with `host: value` added, unless the caller set a Host header: a flat array gets two
 * more entries, an iterable of pairs becomes a flat array, an object a copy. The caller's object is
 * never changed.
 */
export function withHost(headers: HeadersInput, value: string): HeadersInput {
  if (headers == null) return ['host', value];
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) if (isHost(headers[i])) return headers;
    return [...headers, 'host', value];
  }
  if (typeof headers !== 'object') return headers; // undici says what is wrong with it
  if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function' && Object.getPrototypeOf(headers) !== Object.prototype) {
    const flat: unknown[] = [];
    for (const pair of headers as Iterable<unknown>) {
      if (!Array.isArray(pair) || pair.length !== 2) return headers; // undici says what is wrong with it
      if (isHost(pair[0])) return headers;
      flat.push(pair[0], pair[1]);
    }
    flat.push('host', value);
    return flat;
  }
  for (const name of Object.keys(headers)) {
    if (isHost(name) && (headers as Record<string, unknown>)[name] !== undefined) return headers;
  }
  return { ...(headers as Record<string, unknown>), host: value };
}

function isHost(name: unknown): boolean {
  return typeof name === 'string' ? name.length === 4 && name.toLowerCase() === 'host' : Buffer.isBuffer(name) && name.length === 4 && name.toString('latin1').toLowerCase() === 'host';
}

/** A raw header list as an object of lower-cased names (values of repeated names in an array). */
export function headerObject(raw: RawHeaders | null | undefined): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (raw == null) return out;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = text(raw[i]!).toLowerCase();
    const value = raw[i + 1]!;
    const values = Array.isArray(value) ? value.map(text) : [text(value as Buffer | string)];
    const had = out[name];
    if (had === undefined) out[name] = values.length === 1 ? values[0]! : values;
    else out[name] = (Array.isArray(had) ? had : [had]).concat(values);
  }
  return out;
}

const text = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('latin1') : String(v));

/** Why the adapter answered itself: no server to try, or the last try's outcome. */
export type SynthesizedReason = 'no-live-upstreams' | 'error' | 'timeout' | 'invalid_header';

/** The status lines nginx writes for the statuses the adapter can answer. */
const STATUS_TEXT: Readonly<Record<number, string>> = {
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Temporarily Unavailable',
  504: 'Gateway Time-out',
};

/** The header name that marks a response the adapter made (its value is the reason). */
export const SYNTHESIZED_HEADER = 'x-upstream-balancer';

/**
 * The response the adapter answers when no upstream response can be passed: nginx answers the
 * client 502 (504 after a timeout) with a short page. Here a plain-text line, `content-length`, and
 * `x-upstream-balancer: <reason>` so that a caller can tell it from an upstream's own 502.
 */
export function synthesized(status: number, reason: SynthesizedReason, method: string): { raw: Buffer[]; body: Buffer | null; statusText: string } {
  const statusText = STATUS_TEXT[status] ?? 'Bad Gateway';
  const body = Buffer.from(`${status} ${statusText} (${reason})\n`, 'latin1');
  const raw = [
    Buffer.from('content-type'), Buffer.from('text/plain; charset=utf-8'),
    Buffer.from('content-length'), Buffer.from(String(body.length)),
    Buffer.from(SYNTHESIZED_HEADER), Buffer.from(reason),
  ];
  return { raw, body: method === 'HEAD' ? null : body, statusText };
}
