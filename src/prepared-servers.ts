/**
 * A server list made ready off the caller's turn (`Balancer.setServersAsync`): every entry
 * validated as `setServers` validates it (options.ts `resolveServersSteps`, a few dozen entries per
 * step), the method's checks, then the selector's own data for the list (`Selector.prepare`: the
 * consistent-hash ring built whole, ketama-incremental.ts), all in steps (slices.ts) that touch
 * nothing that serves, and last the match of the list's ids against the records (valid while the
 * membership's generation stays; `replace` matches again otherwise). Applying it (`Membership.replace`
 * with it) is then `setServers` without the validation and the matching and with the selector's
 * data ready: the one part left on a single turn.
 *
 * Precondition for the same result as `setServers(list)`: `list` is the array the steps read (the
 * Balancer passes its own copy), and the selector's data depends only on the list (true of the
 * ring: a function of the primaries' addresses and weights in order), so changes made between the
 * steps and the apply do not make it stale. test/unit/set-servers-async.test.ts compares both.
 */

import { type Membership, type PreparedServers, matchServers } from './membership';
import { type ServerOptions, resolveServersSteps } from './options';
import type { Steps } from './slices';

/** Entries validated per step (about 10 µs each before V8 has compiled the validation). */
const ENTRIES_PER_STEP = 64;

/**
 * Validates `list` for the balancer of `members`, prepares its selector's data, then matches the
 * list against the records, in steps. Throws what `setServers(list)` throws, before anything changes.
 */
export function* prepareServers(list: ServerOptions[], members: Membership): Steps<PreparedServers> {
  const { options, selector } = members;
  const resolved = yield* resolveServersSteps(list, 'servers', options.name, ENTRIES_PER_STEP);
  members.validateList(resolved);
  yield;
  const selectorData = selector.prepare === undefined ? undefined : yield* selector.prepare(resolved);
  yield;
  return { list, resolved, selectorData, match: matchServers(members, resolved) };
}
