/**
 * `npm run demo -- --threads 2` (docs/examples/threads.ts): the reference proxy on two worker threads
 * sharing one upstream zone, against real SMTP gateways on 127.0.0.1. The threads taking turns follow
 * one SWRR sequence (one balancer's), one refused connect in one thread takes the stopped server out
 * of both, a `down` set in the main thread holds in both, and the zone's `conns` are 0 once the
 * threads have exited; with a Balancer per thread each rotates on its own and each is refused once.
 * The demo runs in a child process (its threads, gateways and sockets end with it); the test waits
 * for its exit.
 */
import { describe, expect, it } from 'vitest';
import { runDemo as demo, timelineLines as linesOf } from './demo-run';

describe('demo --threads 2', () => {
  it('one zone: one SWRR sequence across the threads, one refused connect, down told once, conns 0; per-thread balancers: each its own', async () => {
    const { code, stdout, stderr } = await demo(['--threads', '2'], 90_000);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = linesOf(stdout);
    // 1. The threads in turn follow the single sequence.
    expect(lines).toContain("order B B A B B B B A B B (one balancer's sequence: B B A B B B B A B B)");
    expect(lines).toContain('order thread 1: B A B B B');
    expect(lines).toContain('order thread 2: B B B A B');
    // 2. One failure, in thread 1, excludes B in thread 2 too; the event fires once, in thread 1.
    expect(lines).toContain('mail #11 thread 1 B refused -> A');
    expect(lines).toContain('mail #12 thread 2 A');
    expect(lines).toContain('result 1 refused connect (thread 1): the failure is recorded in the zone, every thread skips B');
    const zonePhase = lines.slice(lines.findIndex((l) => l.startsWith('── 2.')), lines.findIndex((l) => l.startsWith('── 3.')));
    expect(zonePhase.filter((l) => l.startsWith('state B up -> unavail'))).toEqual(['state B up -> unavail (failure; the event fires in thread 1, whose call made the change)']);
    expect(zonePhase.filter((l) => l.startsWith('mail') && l.includes('refused'))).toEqual(['mail #11 thread 1 B refused -> A']);
    // 3. down set in the main thread: both threads send to A only.
    expect(lines).toContain('state B up -> down (admin; the event fires in the main thread, whose call made the change)');
    // 4. A Balancer per thread: each thread's own B B A B B, and each is refused once.
    expect(lines).toContain('order B B B B A A B B B B (each thread its own B B A B B ...)');
    expect(lines).toContain('order thread 1: B B A B B');
    expect(lines).toContain('order thread 2: B B A B B');
    expect(lines).toContain('result 2 refused connects (threads 1, 2): each thread had to fail B itself');
    // Summary.
    expect(lines).toContain('ten sessions, threads in turn B B A B B B B A B B B B B B A A B B B B');
    expect(lines).toContain('shares A 2/10, B 8/10 A 2/10, B 8/10');
    expect(lines).toContain('B stopped: refused connects 1 (thread 1) 2 (threads 1, 2)');
    expect(lines).toContain('B down, set in the main thread every thread: A A A A each thread must be told');
    expect(lines).toContain('conns once the threads exited 0, 0');
    expect(lines.some((l) => l.startsWith('every message accepted exactly once, by the gateway the balancer chose: yes (') && l.includes(' 0 lost, 0 duplicated, 0 misrouted)'))).toBe(true);
  }, 100_000);

  it('exits 1 with one message on a bad thread count or a combination it does not take', async () => {
    const one = await demo(['--threads', '1'], 15_000);
    expect(one.code).toBe(1);
    expect(one.stderr).toMatch(/^demo: --threads expects a number of threads from 2 to 8, got "1"\n/);
    const http = await demo(['--threads', '2', '--http'], 15_000);
    expect(http.code).toBe(1);
    expect(http.stderr).toMatch(/^demo: --threads takes no other option than --speed\n/);
  });
});
