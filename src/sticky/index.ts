/**
 * `upstream-balancer/sticky`: nginx 1.30's sticky sessions (`sticky cookie | route | learn`) over a
 * Balancer (docs/sticky.md). Follows src/http/modules/ngx_http_upstream_sticky_module.c.
 */

export { StickySessions, StickyRequest } from './sessions';
export { SessionStore, zoneCapacity } from './session-store';
export { requestCookie, upstreamCookie, stickyCookie, cookieTime, MAX_EXPIRES } from './cookie';
export { argument, evaluate, firstVariable } from './variables';

export type { ServerOf, StickyAttempt, StickyBalancer, StickyRequestInit, StickyServer, StickySessionsOptions } from './sessions';
export type { LearnResult, SessionStoreOptions, SessionStoreStats } from './session-store';
export type { CookieTexts, HeaderValues } from './cookie';
export type { VariableLookup } from './variables';
export type { StickyConfig, StickyCookieConfig, StickyLearnConfig, StickyRouteConfig } from './types';
