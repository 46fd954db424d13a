/**
 * `probeFor` as the checker reaches it. From source (tests, tsx) this is the probe registry itself;
 * the package build (tsdown.config.ts) puts `lazy.dist.ts` in its place, which loads the probes
 * (node:net, node:tls and the check module's conversations, the `upstream-balancer/health` entry)
 * on the first checker's construction, so that importing the package root loads no probe.
 * nginx source: none (packaging).
 */

export { probeFor } from './index';
