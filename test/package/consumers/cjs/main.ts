/** A CommonJS TypeScript consumer of the packed package (run by test/package/consumers.mjs). */
import root = require('upstream-balancer');
import config = require('upstream-balancer/config');
import health = require('upstream-balancer/health');
import status = require('upstream-balancer/status');
import sticky = require('upstream-balancer/sticky');
import undici = require('upstream-balancer/undici');
import promClient = require('prom-client');
import undiciModule = require('undici');
import { exercise } from './shared';

exercise({ root, config, health, status, sticky, undici, promClient, undiciModule }).then(
  (done) => console.log(`cjs: ${done.join(', ')}`),
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
