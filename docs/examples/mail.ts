/**
 * Sending mail through the proxy and proving where it went, for the demo, the SMTP tests and the
 * load benchmark.
 *
 * `Journal` records the proxy's side (which server each session tried and connected to, and the
 * local port of its upstream socket) and the gateways' side (each accepted message with the port it
 * came from). A message is matched to its proxy session *when it arrives*, by the pair (address the
 * proxy connected to, local port): the kernel may give the same local port to two connections at
 * once when their destinations differ, and ports are reused later. `verify()` then checks, per Message-ID: accepted
 * exactly once, by the gateway the balancer chose for its session, and never accepted when the
 * client was told it failed (or the reverse).
 *
 * `MailClient` sends one message per SMTP session with nodemailer (no pooling: each message is one
 * TCP connection through the proxy, i.e. one balancer attempt).
 */

import nodemailer from 'nodemailer';
import type { ProxyEvent } from './proxy';
import type { ReceivedMessage } from './gateways';

/** The proxy's view of one client connection. */
export interface SessionRecord {
  session: number;
  /** Every server tried, in order, with its outcome (`connected`, or the connect failure). */
  tries: { server: string; outcome: string }[];
  /** The server the session was connected to, if any. */
  server: string | undefined;
  /** Local port of the upstream socket (what the gateway sees as the remote port). */
  localPort: number;
  /** Closed with no server left ("no live upstreams"). */
  rejected: boolean;
  closed: boolean;
  messages: ReceivedMessage[];
}

/** One message as the client saw it. */
export interface SentMessage {
  messageId: string;
  ok: boolean;
  /** The final SMTP reply (`250 accepted by ...`) or the error text. */
  response: string;
  /** The SMTP reply code of a failure, when the server gave one (e.g. 421). */
  code?: number;
  /** Session time, ms. */
  ms: number;
}

/** What `verify()` found. Every list is empty for a clean run. */
export interface Verdict {
  /** Messages the client sent, and how many of them were accepted (by exactly one gateway). */
  sent: number;
  accepted: number;
  /** Client errors with no gateway record: the client knows (a clean rejection). */
  rejected: number;
  /** Client got 250 but no gateway has it. */
  lost: string[];
  /** Accepted more than once. */
  duplicated: string[];
  /** Accepted by a gateway while the client was told it failed. */
  phantom: string[];
  /** Accepted by a gateway other than the one its proxy session connected to. */
  misrouted: string[];
  /** Accepted through no known proxy session (e.g. sent to a gateway directly). */
  unmatched: string[];
  /** Accepted messages per gateway. */
  byGateway: Record<string, number>;
}

/**
 * Collects the proxy's events and the gateways' receipts. Pass `journal.onEvent` as the proxy's
 * `onEvent` and `journal.receive` as each gateway's `onMessage`.
 *
 * @example
 * const journal = new Journal();
 * const gw = await startGateway('mx1', { onMessage: journal.receive });
 * const proxy = await startProxy({ balancer, onEvent: journal.onEvent });
 */
export class Journal {
  readonly sessions: SessionRecord[] = [];
  readonly received: (ReceivedMessage & { session: SessionRecord | undefined })[] = [];
  /** Open sessions by `upstream address|local port`. */
  readonly #byPort = new Map<string, SessionRecord>();
  readonly #listeners: ((e: ProxyEvent, s: SessionRecord) => void)[] = [];

  readonly onEvent = (e: ProxyEvent): void => {
    let s = this.sessions[e.session - 1];
    if (s === undefined) {
      s = { session: e.session, tries: [], server: undefined, localPort: 0, rejected: false, closed: false, messages: [] };
      this.sessions[e.session - 1] = s;
    }
    switch (e.type) {
      case 'select':
        s.tries.push({ server: e.server.id, outcome: 'selected' });
        break;
      case 'connected':
        s.tries[s.tries.length - 1]!.outcome = 'connected';
        s.server = e.server.id;
        s.localPort = e.localPort;
        this.#byPort.set(`${e.server.address}|${e.localPort}`, s);
        break;
      case 'fail':
        s.tries[s.tries.length - 1]!.outcome = e.reason;
        break;
      case 'rejected':
        s.rejected = true;
        s.closed = true;
        break;
      case 'closed': {
        s.closed = true;
        const key = `${e.server.address}|${s.localPort}`;
        if (this.#byPort.get(key) === s) this.#byPort.delete(key);
        break;
      }
    }
    for (const l of this.#listeners) l(e, s);
  };

  readonly receive = (m: ReceivedMessage): void => {
    const s = this.#byPort.get(`${m.address}|${m.remotePort}`);
    const live = s !== undefined && !s.closed ? s : undefined;
    live?.messages.push(m);
    this.received.push({ ...m, session: live });
  };

  /** Calls `listener` after each proxy event is recorded; returns the function that unsubscribes it. */
  listen(listener: (e: ProxyEvent, s: SessionRecord) => void): () => void {
    this.#listeners.push(listener);
    return () => {
      const i = this.#listeners.indexOf(listener);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  /** Resolves once every session seen so far has closed on the proxy (client and upstream side). */
  idle(): Promise<void> {
    if (this.sessions.every((s) => s.closed)) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (!this.sessions.every((s) => s.closed)) return;
        this.#listeners.splice(this.#listeners.indexOf(check), 1);
        resolve();
      };
      this.#listeners.push(check);
    });
  }

  /** The server each session connected to, in session order (`-` for a rejected session). */
  order(from = 0): string[] {
    return this.sessions.slice(from).map((s) => s.server ?? '-');
  }

  /** Checks every sent message against the gateways' receipts and the proxy's choices. */
  verify(sent: readonly SentMessage[]): Verdict {
    const counts = new Map<string, number>();
    for (const r of this.received) counts.set(r.messageId, (counts.get(r.messageId) ?? 0) + 1);
    const v: Verdict = {
      sent: sent.length, accepted: 0, rejected: 0, lost: [], duplicated: [], phantom: [], misrouted: [], unmatched: [], byGateway: {},
    };
    const sentIds = new Set(sent.map((m) => m.messageId));
    for (const m of sent) {
      const n = counts.get(m.messageId) ?? 0;
      if (n > 1) v.duplicated.push(m.messageId);
      if (m.ok && n === 0) v.lost.push(m.messageId);
      if (!m.ok && n > 0) v.phantom.push(m.messageId);
      if (!m.ok && n === 0) v.rejected++;
      if (n === 1 && m.ok) v.accepted++;
    }
    for (const r of this.received) {
      if (!sentIds.has(r.messageId)) continue;
      v.byGateway[r.gateway] = (v.byGateway[r.gateway] ?? 0) + 1;
      if (r.session === undefined) v.unmatched.push(r.messageId);
      else if (r.session.server !== r.gateway) v.misrouted.push(r.messageId);
    }
    return v;
  }
}

/** True when a verdict has no lost, duplicated, phantom, misrouted or unmatched message. */
export function clean(v: Verdict): boolean {
  return v.lost.length + v.duplicated.length + v.phantom.length + v.misrouted.length + v.unmatched.length === 0;
}

export interface MailClientOptions {
  /** Proxy port on 127.0.0.1. */
  port: number;
  /** Message-IDs are `<PREFIX-N@upstream-balancer.test>`; default `msg`. */
  prefix?: string;
  /** ms to wait for the TCP connect, the 220 banner, and between replies; default 10000. */
  timeout?: number;
}

/**
 * Sends numbered test messages through the proxy, one SMTP session each.
 *
 * @example
 * const client = new MailClient({ port: proxy.port });
 * const m = await client.send(); // { messageId: '<msg-1@upstream-balancer.test>', ok: true, response: '250 accepted by mx1 as 1', ... }
 * client.close();
 */
export class MailClient {
  readonly sent: SentMessage[] = [];
  #n = 0;
  readonly #prefix: string;
  readonly #transport: ReturnType<typeof nodemailer.createTransport>;

  constructor(options: MailClientOptions) {
    const timeout = options.timeout ?? 10_000;
    this.#prefix = options.prefix ?? 'msg';
    this.#transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: options.port,
      secure: false,
      ignoreTLS: true,
      name: 'client.upstream-balancer.test',
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
      dnsTimeout: timeout,
    });
  }

  /** Sends one message; never throws (a failure is returned with `ok: false`). */
  async send(): Promise<SentMessage> {
    const n = ++this.#n;
    const messageId = `<${this.#prefix}-${n}@upstream-balancer.test>`;
    const start = performance.now();
    let result: SentMessage;
    try {
      const info = await this.#transport.sendMail({
        from: 'sender@upstream-balancer.test',
        to: 'rcpt@upstream-balancer.test',
        subject: `test message ${n}`,
        text: `message ${n}\n`,
        messageId,
      });
      result = { messageId, ok: true, response: String(info.response), ms: performance.now() - start };
    } catch (error) {
      const e = error as { message?: string; responseCode?: number };
      result = { messageId, ok: false, response: e.message ?? String(error), ms: performance.now() - start };
      if (typeof e.responseCode === 'number') result.code = e.responseCode;
    }
    this.sent.push(result);
    return result;
  }

  /** Sends `count` messages with `concurrency` sessions in flight at a time. */
  async sendMany(count: number, concurrency = 1): Promise<SentMessage[]> {
    const out: SentMessage[] = [];
    let left = count;
    const worker = async (): Promise<void> => {
      while (left > 0) {
        left--;
        out.push(await this.send());
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
    return out;
  }

  close(): void {
    this.#transport.close();
  }
}
