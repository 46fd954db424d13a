/**
 * What the package root loads on the first `Balancer.fromNginx` / `fromNginxAsync` /
 * `parseUpstreams` call (src/entries/lazy.ts). A build entry of its own (dist/nginx-loader.js and
 * .cjs, without declarations and outside `exports`: nothing imports it by name).
 * nginx source: none (packaging; the parser follows ngx_conf_file.c, see src/config/).
 */

export { Balancer as NginxBalancer } from '../config/from-nginx';
export { parseUpstreams } from '../config/nginx';
