/**
 * Balancer bugs found by the property / differential tests, reported to the lead and not fixed in
 * src/ yet. While a flag is true the harness models the Balancer's current behaviour for that case
 * (so the random tests keep hunting for other bugs) and the regression test in
 * test/unit/balancer-known-bugs.test.ts runs as `it.fails` (it passes only while the bug is there,
 * so a fix makes it fail and forces the flag to be flipped). Set a flag to false once src/ is fixed.
 */
export const KNOWN_BUGS = {
  /**
   * Single-server mode frees zero `fails` (docs/nginx-semantics.md §2.3, nginx >= 1.27.3's
   * `ngx_http_upstream_free_round_robin_peer`) without committing the state change: a server
   * that was `unavail` when the upstream became single (fails carried over by remove / update)
   * becomes `up` with no `state` event, and its last committed state stays `unavail`, so later
   * events are wrong too. Expected: a `state` event (unavail -> up, cause 'recovery').
   */
  singleModeFreeEmitsNoState: false,
} as const;
