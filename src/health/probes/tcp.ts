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
 * without sending a byte first. No timer, no delay beyond that one poll.
 *
 * What a pass proves: the address completed a TCP handshake and had not closed it by the look.
 * The handshake is done by the peer's kernel, so a listener whose process never accepts passes,
 * and so does a peer that accepts and drops the connection a moment later: whether its close lands
 * before the look is a race, in the module as here (docs/health-checks.md gives measured rates). A
 * close or reset that has reached this host before the look always fails; a byte before the close
 * always passes. Data is discarded as it arrives, so a peer that streams costs nothing. One socket
 * per check, destroyed on every path.
 */

import { converse, errorReason, type Probe, type Session } from './session';

/**
 * Connects and passes unless, by the first poll after the connect, the peer has closed or errored
 * without sending a byte.
 *
 * @example
 * const { ok, reason } = await probeTcp(target, resolveCheck({}), AbortSignal.timeout(1000));
 * // { ok: true, reason: 'connected' } | { ok: false, reason: 'refused' | 'closed' | 'reset' | 'timeout' }
 */
export const probeTcp: Probe = (target, _options, signal) => {
  let spoke = false;
  return converse(target, signal, {
    connect(session) {
      setImmediate(afterConnectPoll, session);
    },
    data() {
      spoke = true;
    },
    // A byte before the close is what the module's peek would have seen: a pass.
    end(session) {
      session.done(spoke, spoke ? 'connected' : 'closed');
    },
    error(error, session) {
      session.done(spoke, spoke ? 'connected' : errorReason(error));
    },
  });
};

/** Check phase of the iteration whose poll reported the connect: queue the look after the next poll. */
function afterConnectPoll(session: Session): void {
  if (!session.finished) setImmediate(look, session);
}

/** Check phase after one more poll: any close, reset or byte pending at the connect has been read. */
function look(session: Session): void {
  session.done(true, 'connected');
}
