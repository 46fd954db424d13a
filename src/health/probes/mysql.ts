/**
 * `mysql` probe (docs/nginx-semantics.md §7.2): read the server's greeting packet and pass iff its
 * sequence number (the 4th byte of the 4-byte packet header) is 0.
 *
 * The check module waits for the header plus the protocol-version byte (5 bytes, the size of its
 * `ngx_mysql_handshake_init_t`) and looks at nothing else. A peer that closes first fails with
 * `closed`; a server that sends an error packet with a non-zero sequence fails with
 * `greeting seq N`. Nothing is sent. Bounded: at most 5 bytes are kept.
 */

import { defineProbe } from './session';

/** Bytes the module needs before it judges: 3 length bytes, the sequence byte, the protocol version. */
const GREETING_HEAD = 5;

/**
 * Reads a MySQL greeting and passes when its sequence number is 0.
 *
 * @example
 * await probeMysql(target, resolveCheck({ type: 'mysql' }), signal); // { ok: true, reason: 'greeting seq 0' }
 */
export const probeMysql = defineProbe(() => {
  const head = Buffer.alloc(GREETING_HEAD);
  let have = 0;
  return {
    connect() {},
    data(chunk, session) {
      have += chunk.copy(head, have, 0, Math.min(chunk.length, GREETING_HEAD - have));
      if (have < GREETING_HEAD) return;
      const seq = head[3]!;
      session.done(seq === 0, `greeting seq ${seq}`);
    },
  };
});
