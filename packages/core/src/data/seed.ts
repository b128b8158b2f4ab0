/**
 * Counter-based (stateless) seeding: a random value is a pure function of (seed, indices). The trainer and the
 * data loader use it so that any position in a run (step, epoch, sample) can be reproduced without saving RNG
 * state, which is what makes resume exact. For streams of normals/uniforms use core's seeded `Rng`.
 */

/** 32-bit finaliser of MurmurHash3 (fmix32): a bijective avalanche mix of one uint32. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** uint32 hash of a seed and any number of integer indices (order matters). */
export function mixSeed(seed: number, ...indices: number[]): number {
  let h = fmix32((seed >>> 0) ^ 0x9e3779b9);
  for (const i of indices) {
    // Fold in 53-bit safe integers as two 32-bit words.
    const lo = i >>> 0;
    const hi = Math.floor(i / 4294967296) >>> 0;
    h = fmix32((h + Math.imul(lo ^ 0x27d4eb2f, 0x165667b1)) >>> 0);
    h = fmix32((h ^ Math.imul(hi + 0x61c88647, 0x9e3779b1)) >>> 0);
  }
  return h;
}

/** Uniform float in [0, 1) from a seed and indices. */
export function hashUniform(seed: number, ...indices: number[]): number {
  return mixSeed(seed, ...indices) / 4294967296;
}

/** A small sequential generator over `hashUniform(seed, stream, counter++)`. */
export class HashStream {
  private counter = 0;
  constructor(private readonly seed: number, private readonly stream: number = 0) {}
  /** Uniform in [0, 1). */
  next(): number {
    return hashUniform(this.seed, this.stream, this.counter++);
  }
  /** Uniform float in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.min(n - 1, Math.floor(this.next() * n));
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

/** Seeded Fisher-Yates permutation of 0..n-1. */
export function seededPermutation(n: number, seed: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(hashUniform(seed, i) * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}
