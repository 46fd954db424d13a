/**
 * The kept ring's storage (src/select/ketama-buckets.ts `PointBuckets`) against the flat sorted
 * array it stands for (`findPoint` over it, `points[i]`, `owners[i]`): after a layout, after
 * changes that only insert, only remove, or both in one bucket, after a bucket outgrows its region
 * (moved), after the free room runs out and after the ring grows or shrinks fourfold (laid out
 * afresh). Changes come from a seeded generator; every answer is compared after every change.
 */

import { describe, expect, it } from 'vitest';
import { PointBuckets } from '../../src/select/ketama-buckets';
import { findPoint } from '../../src/select/ketama-ring';

/** A seeded 32-bit generator (mulberry32). */
function generator(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** The flat model: point -> owner, and the buckets under test, changed together. */
class Model {
  readonly owner = new Map<number, number>();
  readonly buckets = new PointBuckets();

  constructor(points: number[]) {
    for (const h of points) this.owner.set(h, h % 7);
    const keys = Uint32Array.from(this.owner.keys()).sort();
    this.buckets.layout(keys, Int32Array.from(keys, (h) => this.owner.get(h)!), keys.length);
  }

  /** Removes `gone`, inserts `fresh`; a point of `fresh` held already keeps its owner and comes back. */
  change(gone: number[], fresh: number[]): void {
    for (const h of gone) this.owner.delete(h);
    const held = fresh.filter((h) => this.owner.has(h)).sort((x, y) => x - y);
    for (const h of fresh) if (!this.owner.has(h)) this.owner.set(h, (h >>> 3) % 5);
    const g = Uint32Array.from(gone).sort();
    const f = Uint32Array.from(fresh).sort();
    expect(this.buckets.change(g, f, Int32Array.from(f, (h) => (h >>> 3) % 5))).toEqual(held);
  }

  /** Every point and owner in order, and `find` for each point, its neighbours and both ends. */
  check(): void {
    const points = Uint32Array.from(this.owner.keys()).sort();
    const b = this.buckets;
    expect(b.size).toBe(points.length);
    expect(Array.from({ length: b.size }, (_, i) => b.pointAt(i))).toEqual(Array.from(points));
    expect(Array.from({ length: b.size }, (_, i) => b.ownerAt(i))).toEqual(Array.from(points, (h) => this.owner.get(h)));
    const probes = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
    for (const h of points) probes.push(h, (h + 1) >>> 0, (h - 1) >>> 0);
    expect(probes.map((h) => b.find(h))).toEqual(probes.map((h) => findPoint(points, h)));
    for (const h of points.subarray(0, 50)) expect(b.ownerOf(h)).toBe(this.owner.get(h));
    let absent = 12345;
    while (this.owner.has(absent)) absent++;
    expect(b.ownerOf(absent)).toBe(-1);
  }
}

/** `count` distinct new hashes (not in `model`), drawn by `draw`. */
function freshPoints(model: Model, count: number, draw: () => number): number[] {
  const out = new Set<number>();
  while (out.size < count) {
    const h = draw();
    if (!model.owner.has(h)) out.add(h);
  }
  return [...out];
}

/** `count` present points chosen by `next`. */
function presentPoints(model: Model, count: number, next: () => number): number[] {
  const all = [...model.owner.keys()];
  const out = new Set<number>();
  while (out.size < Math.min(count, all.length)) out.add(all[next() % all.length]!);
  return [...out];
}

describe('PointBuckets: the flat ring in buckets', () => {
  it('answers as the flat array after a layout, wrapping past the last point', () => {
    const m = new Model([10, 20, 30, 0x90000000, 0xfffffff0]);
    m.check();
    expect(m.buckets.find(0xfffffff1)).toBe(5); // past the last point: size, nginx wraps to 0
    expect(m.buckets.find(0x90000001)).toBe(4); // the next point is in a later bucket
    expect(m.buckets.ownerAt(4)).toBe(0xfffffff0 % 7);
  });

  it('random insertions (some of points held already), removals and both at once stay equal to the flat array', () => {
    const next = generator(7);
    const m = new Model(Array.from({ length: 3000 }, next));
    m.check();
    for (let step = 0; step < 40; step++) {
      const kind = step % 3;
      const gone = kind === 0 ? [] : presentPoints(m, 1 + (next() % 60), next);
      const fresh = kind === 1 ? [] : freshPoints(m, 1 + (next() % 60), next);
      if (step % 4 === 0) fresh.push(...presentPoints(m, 3, next).filter((h) => !gone.includes(h))); // held already
      m.change(gone, fresh);
      m.check();
    }
    expect(m.buckets.layouts).toBe(1);
  });

  it('a bucket that outgrows its region moves; when the free room runs out the ring is laid out afresh', () => {
    const next = generator(11);
    const m = new Model(Array.from({ length: 4800 }, next)); // 128 buckets (top 7 bits)
    const crowded = () => (0x12000000 + (next() & 0x00ffffff)) >>> 0; // all in one bucket
    m.change([], freshPoints(m, 60, crowded));
    m.check();
    expect(m.buckets.moved).toBe(1);
    for (let step = 0; step < 30 && m.buckets.layouts === 1; step++) {
      m.change(presentPoints(m, 5, next), freshPoints(m, 80, crowded));
      m.check();
    }
    expect(m.buckets.moved).toBeGreaterThan(1);
    expect(m.buckets.layouts).toBe(2);
    m.change([], freshPoints(m, 200, crowded));
    m.check();
  });

  it('a ring grown through changes is laid out afresh; one shrunk fourfold too', () => {
    const next = generator(3);
    const m = new Model(Array.from({ length: 2000 }, next));
    while (m.buckets.layouts === 1) {
      m.change([], freshPoints(m, 1500, next)); // every bucket grows: moves, then the free room runs out
      m.check();
    }
    const grown = m.buckets.layouts;
    const size = m.buckets.size;
    while (m.buckets.layouts === grown) {
      m.change(presentPoints(m, 400, next), []); // removals only: no bucket moves, only the drift lays out
      m.check();
    }
    expect(m.buckets.size).toBeLessThan(size / 4 + 400);
    m.change([...m.owner.keys()].slice(1), []); // one point left
    m.check();
    m.change([], freshPoints(m, 3, next));
    m.check();
  });
});
