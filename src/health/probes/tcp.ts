/**
 * `tcp` probe: the check module's default type (docs/nginx-semantics.md §7.2).
 *
 * The rule is the module's (`ngx_http_upstream_check_peek_handler`): one look at the connection
 * as soon as the connect has completed. The module looks with `recv(MSG_PEEK)` of one byte when the
 * socket is first reported writable: a byte waiting, or nothing to read yet, passes; end of stream
 * or a socket error fails. Nothing after that look counts.
 *
 * Node cannot peek, and libuv does not read in the poll that reports the connect, so the earliest
 * equivalent look is the next poll: after `connect` the probe waits two `setImmediate` hops (the
 * first runs in the check phase right after the poll that connected, the second one loop iteration
 * later, after exactly one more poll) and passes unless the peer closed or errored in between
 * without sending a byte first. No timer, no delay beyond that one poll. The hops are shared: every
 * connection reported by one poll joins one batch, and one pair of `setImmediate`s serves the batch
 * (the same two check phases as a pair per connection, without an Immediate per check).
 *
 * What a pass proves: the address completed a TCP handshake and had not closed it by the look.
 * The handshake is done by the peer's kernel, so a listener whose process never accepts passes,
 * and so does a peer that accepts and drops the connection a moment later: whether its close lands
 * before the look is a race, in the module as here (docs/health-checks.md gives measured rates). A
 * close or reset that has reached this host before the look always fails; a byte before the close
 * always passes. Data is discarded as it arrives, so a peer that streams costs nothing. One socket
 * per check, destroyed on every path.
 */

import { defineProbe, errorReason, type Session, type SessionHandlers } from './session';

/** One check's state: whether the peer sent a byte (what the module's peek would have seen). */
class TcpLook implements SessionHandlers {
  spoke = false;
  connect(session: Session): void {
    lookAfterNextPoll(session);
  }
  data(): void {
    this.spoke = true;
  }
  // A byte before the close is what the module's peek would have seen: a pass.
  end(session: Session): void {
    session.done(this.spoke, this.spoke ? 'connected' : 'closed');
  }
  error(error: Error, session: Session): void {
    session.done(this.spoke, this.spoke ? 'connected' : errorReason(error));
  }
}

/**
 * Connects and passes unless, by the first poll after the connect, the peer has closed or errored
 * without sending a byte.
 *
 * @example
 * const { ok, reason } = await probeTcp(target, resolveCheck({}), AbortSignal.timeout(1000));
 * // { ok: true, reason: 'connected' } | { ok: false, reason: 'refused' | 'closed' | 'reset' | 'timeout' }
 */
export const probeTcp = defineProbe(() => new TcpLook());

/** Sessions connected in the current poll (their first hop is queued). */
let connectedThisPoll: Session[] = [];

function lookAfterNextPoll(session: Session): void {
  if (connectedThisPoll.push(session) === 1) setImmediate(afterConnectPoll);
}

/** Check phase of the iteration whose poll reported the connects: queue the look after the next poll. */
function afterConnectPoll(): void {
  const batch = connectedThisPoll;
  connectedThisPoll = [];
  setImmediate(look, batch);
}

/** Check phase after one more poll: any close, reset or byte pending at the connect has been read. */
function look(batch: Session[]): void {
  for (const session of batch) session.done(true, 'connected');
}
