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

import type { ResolvedCheck } from '../../options';
import { BoundedText, defineProbe, type Session, type SessionHandlers } from './session';

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

/** One check's state: the reply read so far and the stage it answers. */
class SmtpGreeting implements SessionHandlers {
  readonly #reply = new BoundedText();
  #stage: 'banner' | 'ehlo' = 'banner';
  readonly #helo: string;

  constructor(helo: string) {
    this.#helo = helo;
  }

  connect(): void {}

  data(chunk: Buffer, session: Session): void {
    this.#reply.push(chunk);
    const code = smtpReplyCode(this.#reply.text);
    if (code === null) session.done(false, 'garbage');
    else if (code !== undefined) this.#judge(code, session);
    else if (this.#reply.full) session.done(false, 'too long');
  }

  #judge(code: string, session: Session): void {
    if (this.#stage === 'banner') {
      if (code[0] !== '2') return session.done(false, `banner ${code}`);
      this.#stage = 'ehlo';
      this.#reply.clear();
      session.socket.write(this.#helo, 'latin1');
      return;
    }
    if (code !== '250') return session.done(false, `ehlo ${code}`);
    session.socket.write('QUIT\r\n', 'latin1');
    session.done(true, 'ehlo 250');
  }
}

/** The EHLO line of each options object, built once. */
const ehloLines = new WeakMap<ResolvedCheck, string>();

function ehloLine(options: ResolvedCheck): string {
  let line = ehloLines.get(options);
  if (line === undefined) ehloLines.set(options, (line = `EHLO ${options.smtpHelo}\r\n`));
  return line;
}

/**
 * Greets an SMTP server: banner 2xx, `EHLO` answered 250, then `QUIT`.
 *
 * @example
 * await probeSmtp(target, resolveCheck({ type: 'smtp', smtpHelo: 'balancer.example' }), signal);
 * // { ok: true, reason: 'ehlo 250' } | { ok: false, reason: 'banner 554' }
 */
export const probeSmtp = defineProbe((options) => new SmtpGreeting(ehloLine(options)));
