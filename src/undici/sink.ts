/**
 * The caller's handler, whichever of undici's two handler APIs it speaks, behind one interface.
 *
 * undici 7's `request`, `stream`, `pipeline` and `fetch` (and Node's built-in fetch) hand a
 * dispatcher a handler of the older API (`onConnect`, `onHeaders`, `onData`, `onComplete`,
 * `onError`); interceptors composed with `dispatcher.compose()` and handlers written for undici 7
 * use the newer one (`onRequestStart`, `onResponseStart`, `onResponseData`, `onResponseEnd`,
 * `onResponseError`, with a controller for pause / resume / abort). The adapter talks to its pools
 * in whichever API the installed undici calls (walk.ts `Try`) and to the caller
 * through a `Sink`. (undici 8 has only the newer API; the per-server handler speaks both.)
 */

import type { Duplex } from 'node:stream';
import { errors } from 'undici';
import { headerObject, type RawHeaders } from './http';

/** What a balanced request tells its caller. `false` from `headers` / `data` asks to pause. */
export interface Sink {
  /** Once, before anything else: `abort(reason)` stops the request whatever it is doing. */
  start(abort: (reason?: Error) => void, context: object): void;
  responseStarted(): void;
  /** `parsed`: the headers as an object, when undici parsed them already (for the newer API). */
  headers(status: number, raw: RawHeaders, resume: () => void, statusText: string, parsed: Record<string, unknown> | undefined): boolean;
  data(chunk: Buffer): boolean;
  complete(trailers: RawHeaders | null): void;
  error(error: Error): void;
  upgrade(status: number, raw: RawHeaders, socket: Duplex): void;
  bodySent(args: unknown[]): void;
}

/** The older handler API (undici's `DispatchHandler` without the `onRequestStart` family). */
interface LegacyHandler {
  onConnect?(abort: (reason?: Error) => void, context?: object): void;
  onResponseStarted?(): void;
  onHeaders?(status: number, raw: unknown, resume: () => void, statusText: string): boolean | void;
  onData?(chunk: Buffer): boolean | void;
  onComplete?(trailers: unknown): void;
  onError?(error: Error): void;
  onUpgrade?(status: number, raw: unknown, socket: Duplex): void;
  onBodySent?(...args: unknown[]): void;
}

/** The controller of undici's newer handler API (`Dispatcher.DispatchController`). */
interface Controller {
  readonly aborted: boolean;
  readonly paused: boolean;
  readonly reason: Error | null;
  rawHeaders: unknown;
  rawTrailers: unknown;
  abort(reason?: Error): void;
  pause(): void;
  resume(): void;
}

/** The newer handler API. */
interface ControllerHandler {
  onRequestStart?(controller: Controller, context: object): void;
  onRequestUpgrade?(controller: Controller, status: number, headers: Record<string, string | string[]>, socket: Duplex): void;
  onResponseStart?(controller: Controller, status: number, headers: Record<string, string | string[]>, statusMessage?: string): void;
  onResponseData?(controller: Controller, chunk: Buffer): void;
  onResponseEnd?(controller: Controller, trailers: Record<string, string | string[]>): void;
  onResponseError?(controller: Controller, error: Error): void;
}

class LegacySink implements Sink {
  readonly #h: LegacyHandler;
  constructor(handler: LegacyHandler) {
    this.#h = handler;
  }
  start(abort: (reason?: Error) => void, context: object): void {
    this.#h.onConnect?.(abort, context);
  }
  responseStarted(): void {
    this.#h.onResponseStarted?.();
  }
  headers(status: number, raw: RawHeaders, resume: () => void, statusText: string): boolean {
    return this.#h.onHeaders?.(status, raw, resume, statusText) !== false;
  }
  data(chunk: Buffer): boolean {
    return this.#h.onData?.(chunk) !== false;
  }
  complete(trailers: RawHeaders | null): void {
    this.#h.onComplete?.(trailers);
  }
  error(error: Error): void {
    this.#h.onError!(error); // checked by toSink
  }
  upgrade(status: number, raw: RawHeaders, socket: Duplex): void {
    if (typeof this.#h.onUpgrade !== 'function') {
      socket.destroy();
      this.error(new errors.InvalidArgumentError('invalid onUpgrade method'));
      return;
    }
    this.#h.onUpgrade(status, raw, socket);
  }
  bodySent(args: unknown[]): void {
    this.#h.onBodySent?.(...args);
  }
}

/** The newer API's controller, backed by the balanced request's abort and the upstream's resume. */
class PassController implements Controller {
  rawHeaders: unknown = null;
  rawTrailers: unknown = null;
  #paused = false;
  #aborted = false;
  #reason: Error | null = null;
  #abort: ((reason?: Error) => void) | null = null;
  /** @internal The upstream's resume, set with the response header. */
  upstreamResume: (() => void) | null = null;

  get aborted(): boolean {
    return this.#aborted;
  }
  get paused(): boolean {
    return this.#paused;
  }
  get reason(): Error | null {
    return this.#reason;
  }
  /** @internal */
  bind(abort: (reason?: Error) => void): void {
    this.#abort = abort;
  }
  abort(reason?: Error): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason ?? new errors.RequestAbortedError();
    this.#abort?.(this.#reason);
  }
  pause(): void {
    this.#paused = true;
  }
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.upstreamResume?.();
  }
}

class ControllerSink implements Sink {
  readonly #h: ControllerHandler;
  readonly #c = new PassController();
  constructor(handler: ControllerHandler) {
    this.#h = handler;
  }
  start(abort: (reason?: Error) => void, context: object): void {
    this.#c.bind(abort);
    this.#h.onRequestStart?.(this.#c, context);
  }
  responseStarted(): void {}
  headers(status: number, raw: RawHeaders, resume: () => void, statusText: string, parsed: Record<string, unknown> | undefined): boolean {
    const c = this.#c;
    c.upstreamResume = resume;
    c.rawHeaders = raw;
    this.#h.onResponseStart?.(c, status, (parsed as Record<string, string | string[]> | undefined) ?? headerObject(raw), statusText);
    return !c.paused;
  }
  data(chunk: Buffer): boolean {
    this.#h.onResponseData?.(this.#c, chunk);
    return !this.#c.paused;
  }
  complete(trailers: RawHeaders | null): void {
    this.#c.rawTrailers = trailers;
    this.#h.onResponseEnd?.(this.#c, headerObject(trailers));
  }
  error(error: Error): void {
    this.#h.onResponseError?.(this.#c, error);
  }
  upgrade(status: number, raw: RawHeaders, socket: Duplex): void {
    this.#c.rawHeaders = raw;
    if (typeof this.#h.onRequestUpgrade !== 'function') {
      socket.destroy();
      this.error(new errors.InvalidArgumentError('invalid onRequestUpgrade method'));
      return;
    }
    this.#h.onRequestUpgrade(this.#c, status, headerObject(raw), socket);
  }
  bodySent(): void {}
}

/**
 * The sink for a handler: the newer API when it has `onRequestStart` (as undici decides), else
 * the older one, which must have `onError`. Throws undici's `InvalidArgumentError` otherwise.
 */
export function toSink(handler: unknown): Sink {
  if (handler === null || typeof handler !== 'object') throw new errors.InvalidArgumentError('handler must be an object');
  if (typeof (handler as ControllerHandler).onRequestStart === 'function') return new ControllerSink(handler as ControllerHandler);
  if (typeof (handler as LegacyHandler).onError !== 'function') throw new errors.InvalidArgumentError('invalid onError method');
  return new LegacySink(handler as LegacyHandler);
}
