/**
 * DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training"), as the
 * mit-han-lab code that StyleGAN-T vendors (training/diffaug.py), on channels-last images [N, H, W, C] in [-1, 1].
 * Every op is differentiable in x; the random parameters (one draw per sample) come from a seeded stream.
 */
import * as tf from '@tensorflow/tfjs';
import { tfSeed } from './rng';

export type DiffAugmentPolicy = 'color' | 'translation' | 'cutout';

export interface DiffAugmentOptions {
  /** Comma-separated policies, applied in order; default 'color,translation,cutout' (StyleGAN-T's D). */
  policy?: string;
  /** Seed of the random parameters (reproducible, 0 included); none: unseeded. Ignored when `random` is given. */
  seed?: number;
  /** A uniform [0, 1) source, for callers that own their random stream. */
  random?: () => number;
}

function sampleColumn(values: number[]): tf.Tensor4D {
  return tf.tensor4d(values, [values.length, 1, 1, 1], 'float32');
}

/** Uniform integer in [lo, hi) from a uniform [0, 1) draw (torch.randint's range). */
function randint(rand: () => number, lo: number, hi: number): number {
  return Math.min(hi - 1, lo + Math.floor(rand() * (hi - lo)));
}

/** brightness: x + U(-0.5, 0.5) per sample. */
export function randBrightness(x: tf.Tensor4D, rand: () => number): tf.Tensor4D {
  const r = Array.from({ length: x.shape[0] }, () => rand() - 0.5);
  return tf.tidy(() => tf.add(x, sampleColumn(r)));
}

/** saturation: (x - mean_c) * U(0, 2) + mean_c per sample. */
export function randSaturation(x: tf.Tensor4D, rand: () => number): tf.Tensor4D {
  const r = Array.from({ length: x.shape[0] }, () => rand() * 2);
  return tf.tidy(() => {
    const m = tf.mean(x, 3, true);
    return tf.add(tf.mul(tf.sub(x, m), sampleColumn(r)), m);
  });
}

/** contrast: (x - mean_hwc) * U(0.5, 1.5) + mean_hwc per sample. */
export function randContrast(x: tf.Tensor4D, rand: () => number): tf.Tensor4D {
  const r = Array.from({ length: x.shape[0] }, () => rand() + 0.5);
  return tf.tidy(() => {
    const m = tf.mean(x, [1, 2, 3], true);
    return tf.add(tf.mul(tf.sub(x, m), sampleColumn(r)), m);
  });
}

/** translation: shift each sample by integers in [-round(ratio*size), +round(ratio*size)], zero fill. */
export function randTranslation(x: tf.Tensor4D, rand: () => number, ratio = 0.125): tf.Tensor4D {
  const [n, h, w] = x.shape;
  const sh = Math.floor(h * ratio + 0.5);
  const sw = Math.floor(w * ratio + 0.5);
  const ty = Array.from({ length: n }, () => randint(rand, -sh, sh + 1));
  const tx = Array.from({ length: n }, () => randint(rand, -sw, sw + 1));
  return tf.tidy(() => {
    // y[i, j] = x[i + ty, j + tx] inside the image, 0 outside (the official clamp into a 1-pixel zero border).
    const p = tf.pad(x, [[0, 0], [sh, sh], [sw, sw], [0, 0]]);
    const outs: tf.Tensor4D[] = [];
    for (let b = 0; b < n; b++) outs.push(tf.slice(p, [b, sh + ty[b], sw + tx[b], 0], [1, h, w, -1]));
    return tf.concat(outs, 0);
  });
}

/** cutout: zero a square of round(ratio*size) at a random centre per sample (clipped at the border). */
export function randCutout(x: tf.Tensor4D, rand: () => number, ratio = 0.2): tf.Tensor4D {
  const [n, h, w] = x.shape;
  const ch = Math.floor(h * ratio + 0.5);
  const cw = Math.floor(w * ratio + 0.5);
  const mask = new Float32Array(n * h * w).fill(1);
  for (let b = 0; b < n; b++) {
    const oy = randint(rand, 0, h + (1 - (ch % 2)));
    const ox = randint(rand, 0, w + (1 - (cw % 2)));
    const y0 = Math.max(0, oy - Math.floor(ch / 2));
    const y1 = Math.min(h - 1, oy - Math.floor(ch / 2) + ch - 1);
    const x0 = Math.max(0, ox - Math.floor(cw / 2));
    const x1 = Math.min(w - 1, ox - Math.floor(cw / 2) + cw - 1);
    for (let i = y0; i <= y1; i++) for (let j = x0; j <= x1; j++) mask[(b * h + i) * w + j] = 0;
  }
  return tf.tidy(() => tf.mul(x, tf.tensor4d(mask, [n, h, w, 1])));
}

const POLICIES: Record<DiffAugmentPolicy, Array<(x: tf.Tensor4D, rand: () => number) => tf.Tensor4D>> = {
  color: [randBrightness, randSaturation, randContrast],
  translation: [randTranslation],
  cutout: [randCutout],
};

/** The augmentations of a comma-separated policy, in order; an Error names an unknown one. */
export function parseDiffAugmentPolicy(policy: string): DiffAugmentPolicy[] {
  const names = policy.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const p of names) {
    if (!(p in POLICIES)) throw new Error(`diffAugment: unknown policy '${p}' (expected a comma list of ${Object.keys(POLICIES).join(', ')})`);
  }
  return names as DiffAugmentPolicy[];
}

/** DiffAugment(x, policy): the listed augmentations in order, each with fresh per-sample parameters. */
export function diffAugment(x: tf.Tensor4D, opts: DiffAugmentOptions = {}): tf.Tensor4D {
  if (x.rank !== 4) throw new Error(`diffAugment: expected images [N, H, W, C], got shape [${x.shape}]`);
  const policy = opts.policy ?? 'color,translation,cutout';
  const names = parseDiffAugmentPolicy(policy);
  let rand = opts.random;
  if (!rand) {
    // One seeded draw per random parameter: color 3, translation 2, cutout 2 per sample.
    const perSample: Record<DiffAugmentPolicy, number> = { color: 3, translation: 2, cutout: 2 };
    const count = Math.max(1, x.shape[0] * names.reduce((a, p) => a + perSample[p as DiffAugmentPolicy], 0));
    const t = tf.randomUniform([count], 0, 1, 'float32', opts.seed === undefined ? undefined : tfSeed(opts.seed));
    const draws = t.dataSync();
    t.dispose();
    let k = 0;
    rand = () => draws[k++ % draws.length];
  }
  return tf.tidy(() => {
    let y = x;
    for (const p of names) for (const fn of POLICIES[p as DiffAugmentPolicy]) y = fn(y, rand as () => number);
    return y === x ? x.clone() : y;
  });
}
