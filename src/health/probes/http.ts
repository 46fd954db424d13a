/**
 * `http` probe (docs/nginx-semantics.md §7.1-7.2): send `check_http_send` (default
 * `GET / HTTP/1.0\r\n\r\n`), parse only the status line, and pass when its class is in
 * `check_http_expect_alive` (default 2xx and 3xx).
 *
 * The status line is `HTTP/d.d ddd` followed by a space or the end of the line, terminated by LF
 * (CRLF or bare LF, as nginx's status-line parser accepts). Codes 100-599 map to a class; others
 * fail (`http 600`). A peer that closes before a full status line fails with `closed`, one that
 * answers anything else with `garbage`, one that sends more than 4 KiB without a line end with
 * `too long`. The rest of the response is never read: the socket is destroyed at the verdict.
 */

import type { HttpStatusClass } from '../../options';
import { BoundedText, defineProbe } from './session';

const STATUS_LINE = /^HTTP\/\d+\.\d+ (\d{3})(?: [^\n]*|\r)?\n/;
const CLASSES: readonly (HttpStatusClass | undefined)[] = [undefined, '1xx', '2xx', '3xx', '4xx', '5xx'];

/** The class of a status code (`'2xx'` for 204), or undefined outside 100-599. */
function statusClass(code: number): HttpStatusClass | undefined {
  return code >= 100 && code <= 599 ? CLASSES[Math.floor(code / 100)] : undefined;
}

/**
 * Sends the configured request and judges the status line.
 *
 * @example
 * await probeHttp(target, resolveCheck({ type: 'http', httpExpectAlive: ['2xx'] }), signal);
 * // { ok: true, reason: 'http 200' } | { ok: false, reason: 'http 302' }
 */
export const probeHttp = defineProbe((options) => {
  const reply = new BoundedText();
  return {
    connect(session) {
      session.socket.write(options.httpSend, 'latin1');
    },
    data(chunk, session) {
      reply.push(chunk);
      const nl = reply.text.indexOf('\n');
      if (nl < 0) {
        if (reply.full) session.done(false, 'too long');
        else if (!'HTTP/'.startsWith(reply.text.slice(0, 5))) session.done(false, 'garbage');
        return;
      }
      const m = STATUS_LINE.exec(reply.text.slice(0, nl + 1));
      if (!m) return session.done(false, 'garbage');
      const code = Number(m[1]);
      const cls = statusClass(code);
      session.done(cls !== undefined && options.httpExpectAlive.includes(cls), `http ${code}`);
    },
  };
});
