/**
 * Probe registry: check type name -> probe, and the wrapper that turns a custom check function
 * into a probe.
 *
 * Built-in types: `tcp`, `smtp`, `http`, `tls` and its alias `ssl_hello` (the check module's name),
 * `mysql`. A custom function `(server, signal) => boolean | Promise<boolean>` passes only when it
 * returns `true`; a throw or a rejection is a failure whose reason is the error's message. Its
 * result is raced against `signal`, so an abort (timeout, close) settles the probe at once even if
 * the function ignores the signal; the function is still expected to stop its own work then.
 * Built-in probes also carry `start`, the callback form the checker runs (session.ts).
 */

import type { BuiltinCheckType, CheckFunction } from '../../options';
import { probeHttp } from './http';
import { probeMysql } from './mysql';
import { abortReason, type Probe, type ProbeResult, type ProbeRun, type ProbeSink, type StartableProbe } from './session';
import { probeSmtp } from './smtp';
import { probeTcp } from './tcp';
import { probeTls } from './tls';

export { probeHttp, probeMysql, probeSmtp, probeTcp, probeTls };
export type { Probe, ProbeResult, ProbeRun, ProbeSink, StartableProbe };

/** The built-in probes by type name. */
export const PROBES: Readonly<Record<BuiltinCheckType, Probe>> = {
  tcp: probeTcp,
  smtp: probeSmtp,
  http: probeHttp,
  tls: probeTls,
  ssl_hello: probeTls,
  mysql: probeMysql,
};

/**
 * The probe for a check `type`: a built-in by name, or a custom function wrapped.
 *
 * @example
 * const probe = probeFor('smtp');
 * const { ok, reason } = await probe(target, resolveCheck({ type: 'smtp' }), signal);
 */
export function probeFor(type: BuiltinCheckType | CheckFunction): Probe {
  return typeof type === 'function' ? customProbe(type) : PROBES[type];
}

/**
 * Wraps a custom check function as a probe: `true` passes (`ok`), anything else fails (`failed`), a
 * throw fails with its message; an abort settles it with `timeout` / `aborted`.
 *
 * @example
 * const probe = customProbe(async (server, signal) => (await fetch(`http://${server.address}/health`, { signal })).ok);
 */
function customProbe(fn: CheckFunction): Probe {
  return (target, _options, signal) => {
    if (signal.aborted) return Promise.resolve({ ok: false, reason: abortReason(signal) });
    let value: boolean | Promise<boolean>;
    try {
      value = fn(target, signal);
    } catch (error) {
      return Promise.resolve(thrown(error));
    }
    if (!isThenable(value)) return Promise.resolve(verdict(value));
    return new Promise<ProbeResult>((resolve) => {
      const onAbort = (): void => resolve({ ok: false, reason: abortReason(signal) });
      signal.addEventListener('abort', onAbort, { once: true });
      Promise.resolve(value).then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(verdict(v));
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          resolve(thrown(error));
        },
      );
    });
  };
}

function verdict(value: unknown): ProbeResult {
  return value === true ? { ok: true, reason: 'ok' } : { ok: false, reason: 'failed' };
}

function thrown(error: unknown): ProbeResult {
  const message = error instanceof Error ? error.message : String(error);
  return { ok: false, reason: message || 'error' };
}

function isThenable(v: unknown): v is PromiseLike<boolean> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
