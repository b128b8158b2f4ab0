/**
 * Seeded randomness for ganzoo: identical numbers for a seed on every run, machine and backend (generated in JS,
 * then uploaded), with a checkpointable position.
 *
 * Generator: xoshiro128** (Blackman & Vigna, 2018), 128-bit state, seeded through splitmix32.
 * Normal: Box–Muller on 53-bit uniforms. Truncated normal: draws outside ±bound are redrawn, which yields the
 * distribution scipy.stats.truncnorm(-bound, bound) samples (not its exact stream).
 */
import * as tf from '@tensorflow/tfjs';

export interface RngState {
  algorithm: 'xoshiro128**';
  /** The four 32-bit state words (unsigned). */
  s: [number, number, number, number];
}

const TWO_PI = 2 * Math.PI;
const TWO_POW_32 = 4294967296;

function splitmix32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x9e3779b9) | 0;
    let t = a ^ (a >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    return (t ^ (t >>> 15)) >>> 0;
  };
}

/** FNV-1a over UTF-16 code units, for string seeds. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function checkShape(shape: number[], what: string): number {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`Rng.${what}: expected a shape of whole numbers >= 0, got ${JSON.stringify(shape)}`);
  }
  return shape.reduce((a, b) => a * b, 1);
}

export class Rng {
  private s = new Uint32Array(4);

  /** `seed`: any finite number (integers up to 2^53 are distinct seeds) or string. */
  constructor(seed: number | string = 0) {
    let lo: number;
    let hi: number;
    if (typeof seed === 'string') {
      lo = hashString(seed);
      hi = hashString(`${seed}\u0000ganzoo`);
    } else {
      if (!Number.isFinite(seed)) throw new Error(`Rng: expected a finite number or a string as seed, got ${seed}`);
      const v = Math.trunc(seed) === seed && Math.abs(seed) <= Number.MAX_SAFE_INTEGER ? seed : hashString(String(seed));
      lo = Math.abs(v) % TWO_POW_32;
      hi = Math.floor(Math.abs(v) / TWO_POW_32) ^ (v < 0 ? 0x80000000 : 0);
    }
    const mix = splitmix32(lo ^ splitmix32(hi)());
    for (let i = 0; i < 4; i++) this.s[i] = mix();
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1; // the one forbidden state
  }

  /** A generator at a saved position (see getState). */
  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    r.setState(state);
    return r;
  }

  /** Next 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  random(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Uniform integer in [0, n), unbiased. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > Number.MAX_SAFE_INTEGER) {
      throw new Error(`Rng.int: expected a whole number n with 1 <= n <= 2^53-1, got ${n}`);
    }
    if (n <= TWO_POW_32) {
      const limit = TWO_POW_32 - (TWO_POW_32 % n); // reject the biased tail
      for (;;) {
        const x = this.nextUint32();
        if (x < limit) return x % n;
      }
    }
    return Math.floor(this.random() * n);
  }

  /** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): number[] {
    if (!Number.isInteger(n) || n < 0) throw new Error(`Rng.permutation: expected a whole number >= 0, got ${n}`);
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  /** Standard-normal pairs by Box–Muller: z0 = r cos(2 pi u2), z1 = r sin(2 pi u2), r = sqrt(-2 ln u1). */
  private fillNormal(out: Float32Array | Float64Array, mean: number, std: number): void {
    for (let i = 0; i < out.length; i += 2) {
      const u1 = 1 - this.random(); // (0, 1]
      const u2 = this.random();
      const r = Math.sqrt(-2 * Math.log(u1));
      out[i] = mean + std * r * Math.cos(TWO_PI * u2);
      if (i + 1 < out.length) out[i + 1] = mean + std * r * Math.sin(TWO_PI * u2);
    }
  }

  uniformArray(n: number, lo = 0, hi = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * this.random();
    return out;
  }

  normalArray(n: number, mean = 0, std = 1): Float32Array {
    const out = new Float32Array(n);
    this.fillNormal(out, mean, std);
    return out;
  }

  /** Standard normal truncated to [-bound, bound] (values outside redrawn), then scaled: mean + std * z. */
  truncatedNormalArray(n: number, bound = 2, mean = 0, std = 1): Float32Array {
    if (!(bound > 0)) throw new Error(`Rng.truncatedNormal: expected bound > 0, got ${bound}`);
    const out = new Float32Array(n);
    const z = new Float64Array(n);
    this.fillNormal(z, 0, 1);
    const pair = new Float64Array(2);
    for (let i = 0; i < n; i++) {
      let v = z[i];
      while (Math.abs(v) > bound) {
        this.fillNormal(pair, 0, 1);
        v = Math.abs(pair[0]) <= bound ? pair[0] : pair[1];
      }
      out[i] = mean + std * v;
    }
    return out;
  }

  /** float32 tensor of uniform values in [lo, hi). */
  uniform(shape: number[], lo = 0, hi = 1): tf.Tensor {
    if (!(hi >= lo)) throw new Error(`Rng.uniform: expected lo <= hi, got lo=${lo}, hi=${hi}`);
    return tf.tensor(this.uniformArray(checkShape(shape, 'uniform'), lo, hi), shape, 'float32');
  }

  /** float32 tensor of normal values N(mean, std^2). */
  normal(shape: number[], mean = 0, std = 1): tf.Tensor {
    if (!(std >= 0)) throw new Error(`Rng.normal: expected std >= 0, got ${std}`);
    return tf.tensor(this.normalArray(checkShape(shape, 'normal'), mean, std), shape, 'float32');
  }

  /**
   * float32 tensor distributed as scipy.stats.truncnorm(-bound, bound) (BigGAN's truncated z), optionally
   * scaled: mean + std * z.
   */
  truncatedNormal(shape: number[], bound = 2, opts: { mean?: number; std?: number } = {}): tf.Tensor {
    const n = checkShape(shape, 'truncatedNormal');
    return tf.tensor(this.truncatedNormalArray(n, bound, opts.mean ?? 0, opts.std ?? 1), shape, 'float32');
  }

  /** An independent generator seeded from this one's stream (advances this one by four draws). */
  fork(): Rng {
    const child = new Rng(0);
    const mix = splitmix32(this.nextUint32() ^ splitmix32(this.nextUint32())());
    const extra = splitmix32(this.nextUint32() ^ splitmix32(this.nextUint32())());
    child.s[0] = mix();
    child.s[1] = mix();
    child.s[2] = extra();
    child.s[3] = extra();
    if ((child.s[0] | child.s[1] | child.s[2] | child.s[3]) === 0) child.s[0] = 1;
    return child;
  }

  /** The current position, JSON-serialisable, for checkpoints. */
  getState(): RngState {
    return { algorithm: 'xoshiro128**', s: [this.s[0], this.s[1], this.s[2], this.s[3]] };
  }

  /** Resume from a getState() value. */
  setState(state: RngState): void {
    const ok = state != null && state.algorithm === 'xoshiro128**' && Array.isArray(state.s) && state.s.length === 4
      && state.s.every((w) => Number.isInteger(w) && w >= 0 && w < TWO_POW_32) && state.s.some((w) => w !== 0);
    if (!ok) {
      throw new Error(`Rng.setState: expected {algorithm: 'xoshiro128**', s: four uint32 words, not all zero}, got ${JSON.stringify(state)}`);
    }
    this.s.set(state.s);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * What `tf.randomNormal` / `tf.randomUniform` / `tf.truncatedNormal` get for seed 0. tfjs-core treats a falsy seed
 * as "no seed" (`seed ? seed : Math.random()`), so 0 must be mapped; a non-integer never equals an integer seed.
 */
export const TF_SEED_ZERO = 0.5;

/**
 * A seed for tfjs's seeded random ops that is always honoured: 0 (and -0) become TF_SEED_ZERO, every other finite
 * number is returned unchanged (so outputs for non-zero seeds stay what they were). Pass the final value through
 * it, after any arithmetic: `tf.randomNormal(shape, 0, 1, 'float32', tfSeed(seed * 1000 + k))`.
 */
export function tfSeed(seed: number): number {
  if (typeof seed !== 'number' || !Number.isFinite(seed)) {
    throw new Error(`tfSeed: expected a finite number as seed, got ${typeof seed === 'number' ? seed : JSON.stringify(seed)}`);
  }
  return seed === 0 ? TF_SEED_ZERO : seed;
}
