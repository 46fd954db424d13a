/**
 * `tls` probe, alias `ssl_hello` (the check module's name, docs/nginx-semantics.md §7.2).
 *
 * The module sends a fixed ClientHello and passes when the reply is a handshake record carrying a
 * ServerHello. This probe runs a real handshake with node:tls (`rejectUnauthorized: false`: the
 * certificate is not judged, as the module does not judge it; SNI from `tlsServerName`) and
 * passes when the handshake completes (`handshake`), or when it fails after the ServerHello was
 * processed (`server hello`): that is when OpenSSL first derives key material, which node:tls
 * reports as a `keylog` event. A plain-text peer, a close or a reset before the ServerHello fail.
 */

import { defineProbe, errorReason, type Session } from './session';

/**
 * TLS handshake check.
 *
 * @example
 * await probeTls(target, resolveCheck({ type: 'tls', tlsServerName: 'mail.example' }), signal);
 * // { ok: true, reason: 'handshake' } | { ok: false, reason: 'closed' }
 */
export const probeTls = defineProbe(
  () => {
    let serverHello = false;
    const failed = (reason: string, session: Session): void =>
      serverHello ? session.done(true, 'server hello') : session.done(false, reason);
    return {
      opened(session) {
        session.socket.on('keylog', () => {
          serverHello = true;
        });
      },
      connect(session) {
        session.done(true, 'handshake');
      },
      end(session) {
        failed('closed', session);
      },
      error(error, session) {
        failed(tlsReason(error), session);
      },
    };
  },
  (options) => ({
    rejectUnauthorized: false,
    ...(options.tlsServerName ? { servername: options.tlsServerName } : {}),
  }),
);

function tlsReason(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNRESET' && /disconnected before secure TLS/.test(error.message)) return 'closed';
  if (code !== undefined && code.startsWith('ERR_SSL_')) return `tls ${code.slice(8).toLowerCase().replace(/_/g, ' ')}`;
  return errorReason(error);
}
