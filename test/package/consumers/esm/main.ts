/** An ES module TypeScript consumer of the packed package (run by test/package/consumers.mjs). */
import * as root from 'upstream-balancer';
import * as config from 'upstream-balancer/config';
import * as health from 'upstream-balancer/health';
import * as status from 'upstream-balancer/status';
import * as sticky from 'upstream-balancer/sticky';
import * as undici from 'upstream-balancer/undici';
import * as promClient from 'prom-client';
import * as undiciModule from 'undici';
import { exercise } from './shared.js';

const done = await exercise({ root, config, health, status, sticky, undici, promClient, undiciModule });
console.log(`esm: ${done.join(', ')}`);
