/**
 * Test doubles for the DNS re-resolution tests: a hand-driven timer queue on a ManualClock, and a
 * DNS client answering from a record table the test changes (each query logged with its time).
 * Nothing here touches the network or the real clock.
 */

import { ManualClock } from '../../src/clock';
import { type AddressRecord, type DnsClient, DnsError, type DnsFailure, type ServiceRecord } from '../../src/resolve/dns';

export interface TimerQueue {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Runs every timer due up to `until` (ms), in time order, letting promises settle after each. */
  runUntil(until: number): Promise<void>;
  readonly size: number;
}

/** Lets queued promise callbacks run (the resolver awaits a few of them per resolution). */
export async function settle(): Promise<void> {
  for (let k = 0; k < 20; k++) await Promise.resolve();
}

export function timerQueue(clock: ManualClock): TimerQueue {
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void; seq: number }>();
  return {
    setTimeout(fn, ms) {
      const id = ++seq;
      timers.set(id, { at: clock.now() + ms, fn, seq: id });
      return id;
    },
    clearTimeout(handle) {
      timers.delete(handle as number);
    },
    async runUntil(until) {
      await settle();
      for (;;) {
        let next: [number, { at: number; fn: () => void; seq: number }] | undefined;
        for (const e of timers) if (e[1].at <= until && (next === undefined || e[1].at < next[1].at || (e[1].at === next[1].at && e[1].seq < next[1].seq))) next = e;
        if (next === undefined) break;
        timers.delete(next[0]);
        clock.set(Math.max(clock.now(), next[1].at));
        next[1].fn();
        await settle();
      }
      clock.set(Math.max(clock.now(), until));
    },
    get size() {
      return timers.size;
    },
  };
}

/** What the fake answers for one name: records per type, a failure, or silence (no answer ever). */
export interface FakeName {
  A?: AddressRecord[];
  AAAA?: AddressRecord[];
  SRV?: ServiceRecord[];
  /** Every query of this name fails so. */
  fail?: DnsFailure;
  /** Every query of this name never answers. */
  silent?: boolean;
}

/** A DNS client answering from `zone` (an unknown name is NXDOMAIN). */
export class FakeDns implements DnsClient {
  zone = new Map<string, FakeName>();
  /** `TIME TYPE NAME` per query, TIME from `clock`. */
  readonly log: string[] = [];

  constructor(private readonly clock: ManualClock) {}

  set(name: string, records: FakeName): void {
    this.zone.set(name, records);
  }

  #answer<T>(name: string, type: 'A' | 'AAAA' | 'SRV'): Promise<T[]> {
    this.log.push(`${this.clock.now()} ${type} ${name}`);
    const z = this.zone.get(name);
    if (z?.silent) return new Promise(() => {});
    if (z === undefined) return Promise.reject(new DnsError('NXDOMAIN', name));
    if (z.fail !== undefined) return Promise.reject(new DnsError(z.fail, name));
    return Promise.resolve(((z as Record<string, unknown>)[type] as T[] | undefined) ?? []);
  }

  addresses(name: string, family: 4 | 6): Promise<AddressRecord[]> {
    return this.#answer(name, family === 4 ? 'A' : 'AAAA');
  }

  services(name: string): Promise<ServiceRecord[]> {
    return this.#answer(name, 'SRV');
  }
}

/** `n` A records 127.0.0.2, 127.0.0.3, ... with `ttl`. */
export function a(ttl: number, ...ips: string[]): AddressRecord[] {
  return ips.map((address) => ({ address, ttl }));
}
