/**
 * `smtp` probe: the extension this library adds (the check module has no `smtp` type; the old
 * `nginx_tcp_proxy_module` had one, see docs/nginx-semantics.md §7.1 and §8.3).
 *
 * Conversation: read the greeting (single- or multi-line, `220-...` continued by `220 ...`),
 * require a 2xx code; send `EHLO <smtpHelo>`, require `250` (multi-line accepted); send `QUIT` and
 * pass without waiting for the `221`. Failures: a non-2xx banner (`banner 421`, `banner 554`), a
 * refused EHLO (`ehlo 502`), a line that is not an SMTP reply (`garbage`), a close (`closed`),
 * silence (`timeout`, from the checker), a reply over 4 KiB (`too long`). Bounded: one reply is
 * buffered at a time, at most 4 KiB.
 */

import { BoundedText, converse, type Probe, type Session } from './session';

const REPLY_LINE = /^(\d{3})([ -]|$)/;

/**
 * Parses the first complete SMTP reply in `text`: its code, or `undefined` while it is still
 * incomplete, or `null` when a line is not a reply line.
 */
function smtpReplyCode(text: string): string | null | undefined {
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) return undefined;
    const line = text.slice(start, text[nl - 1] === '\r' ? nl - 1 : nl);
    const m = REPLY_LINE.exec(line);
    if (!m) return null;
    if (m[2] !== '-') return m[1];
    start = nl + 1;
  }
}

/**
 * Greets an SMTP server: banner 2xx, `EHLO` answered 250, then `QUIT`.
 *
 * @example
 * await probeSmtp(target, resolveCheck({ type: 'smtp', smtpHelo: 'balancer.example' }), signal);
 * // { ok: true, reason: 'ehlo 250' } | { ok: false, reason: 'banner 554' }
 */
export const probeSmtp: Probe = (target, options, signal) => {
  let reply = new BoundedText();
  let stage: 'banner' | 'ehlo' = 'banner';
  const judge = (code: string, session: Session): void => {
    if (stage === 'banner') {
      if (code[0] !== '2') return session.done(false, `banner ${code}`);
      stage = 'ehlo';
      reply = new BoundedText();
      session.socket.write(`EHLO ${options.smtpHelo}\r\n`, 'latin1');
      return;
    }
    if (code !== '250') return session.done(false, `ehlo ${code}`);
    session.socket.write('QUIT\r\n', 'latin1');
    session.done(true, 'ehlo 250');
  };
  return converse(target, signal, {
    connect() {},
    data(chunk, session) {
      reply.push(chunk);
      const code = smtpReplyCode(reply.text);
      if (code === null) session.done(false, 'garbage');
      else if (code !== undefined) judge(code, session);
      else if (reply.full) session.done(false, 'too long');
    },
  });
};
