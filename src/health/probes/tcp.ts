/**
 * `tcp` probe: the check module's default type (docs/nginx-semantics.md §7.2).
 *
 * The module connects and, as soon as the socket is writable, peeks one byte: it passes when a
 * byte is there or the read would block, and fails when the peer has already closed or errored.
 * Node has no MSG_PEEK, so after `connect` this probe lets the event loop poll once more (two
 * `setImmediate` hops: the second runs after a poll phase) and fails only if the peer closed or
 * errored in that window without sending a byte. A silent peer passes; a peer that accepts and
 * closes at once fails; an SMTP server passes on connect whether or not its banner has arrived.
 * Data is discarded as it arrives, so a peer that streams forever costs nothing. One socket per
 * check, destroyed on every path.
 */

import { converse, errorReason, type Probe } from './session';

/**
 * Connects and passes unless the peer closes or errors at once.
 *
 * @example
 * const { ok, reason } = await probeTcp(target, resolveCheck({}), AbortSignal.timeout(1000));
 * // { ok: true, reason: 'connected' } | { ok: false, reason: 'refused' | 'closed' | 'reset' | 'timeout' }
 */
export const probeTcp: Probe = (target, _options, signal) => {
  let bytes = 0;
  return converse(target, signal, {
    connect(session) {
      setImmediate(() => setImmediate(() => session.done(true, 'connected')));
    },
    data(chunk) {
      bytes += chunk.length;
    },
    // A byte before the close is what the module's peek would have seen: a pass.
    end(session) {
      session.done(bytes > 0, bytes > 0 ? 'connected' : 'closed');
    },
    error(error, session) {
      session.done(bytes > 0, bytes > 0 ? 'connected' : errorReason(error));
    },
  });
};
