/**
 * Batch normalisation pieces for class-conditional GAN generators (BigGAN, SAGAN), channels-last (NHWC).
 *
 * - Conditional BN (de Vries et al. 2017; Brock et al. 2019 §3): BN(x) · (1 + γ(c)) + β(c), γ, β per sample.
 * - BigGAN-deep's "standing statistics by truncation": the TF-Hub / Hugging Face generator stores n_stats
 *   (mean, var) rows, one per truncation on the grid k/(n_stats-1); off-grid truncations mix two rows with the
 *   official (reversed) weights, see `truncationStats`.
 */
import * as tf from '@tensorflow/tfjs';
import { stopGradient } from './spectral-norm';

export interface TruncationStatsIndex {
  /** Row of the stats table (floor of truncation · (n_stats − 1)). */
  index: number;
  /** Fractional part; 0 means row `index` is used alone. */
  coef: number;
}

/**
 * Row and weight of the BN-stat table for a truncation, as HF BigGANBatchNorm computes them in float64:
 * (coef, index) = modf(truncation / (1 / (n_stats − 1))). Pass the truncation as a JS number (float64);
 * a float32-rounded 0.4 would land off the grid.
 */
export function truncationStatsIndex(truncation: number, nStats: number): TruncationStatsIndex {
  if (!Number.isInteger(nStats) || nStats < 1) throw new Error(`BN stats: n_stats must be a positive integer, found ${nStats}`);
  if (nStats === 1) return { index: 0, coef: 0 };
  if (!(truncation > 0 && truncation <= 1)) throw new Error(`BN stats: truncation must be in (0, 1], found ${truncation}`);
  const stepSize = 1.0 / (nStats - 1);
  const k = truncation / stepSize;
  const index = Math.trunc(k);
  const coef = k - index;
  return { index, coef };
}

/**
 * The statistics row for a truncation from a [n_stats, C] table: table[i] when coef = 0, else
 * table[i]·coef + table[i+1]·(1 − coef) — the weight `coef` goes to row i, as in the official HF code
 * (reversed relative to linear interpolation; reproduced for parity).
 */
export function truncationStats(table: tf.Tensor2D, truncation: number): tf.Tensor1D {
  const nStats = table.shape[0];
  const { index, coef } = truncationStatsIndex(truncation, nStats);
  return tf.tidy(() => {
    const row = (i: number) => tf.reshape(tf.slice(table, [i, 0], [1, -1]), [-1]) as tf.Tensor1D;
    if (coef === 0) return row(index);
    if (index + 1 >= nStats) throw new Error(`BN stats: truncation ${truncation} needs row ${index + 1} of a ${nStats}-row table`);
    return tf.add(tf.mul(row(index), coef), tf.mul(row(index + 1), 1 - coef)) as tf.Tensor1D;
  });
}

/** Per-channel mean and biased variance over N, H, W of an NHWC tensor (the batch statistics of BN). */
export function batchMoments(x: tf.Tensor): { mean: tf.Tensor1D; variance: tf.Tensor1D } {
  return tf.tidy(() => {
    const axes = x.shape.map((_, i) => i).slice(0, -1);
    const m = tf.moments(x, axes);
    return { mean: m.mean as tf.Tensor1D, variance: m.variance as tf.Tensor1D };
  });
}

/**
 * A per-sample [B, C] tensor made broadcastable against a [B, ..., C] tensor of shape `shape`. On the cpu backend
 * (whose general broadcasting walks indices element by element) it is expanded to the full shape exactly with a
 * ones outer product (a batched matmul with inner dimension 1); elsewhere it is reshaped to [B, 1, ..., 1, C].
 */
export function expandPerSample(t: tf.Tensor2D, shape: number[], mode: 'auto' | 'reshape' | 'matmul' = 'auto'): tf.Tensor {
  return tf.tidy(() => {
    const [b, c] = t.shape;
    const useMatmul = mode === 'matmul' || (mode === 'auto' && tf.getBackend() === 'cpu');
    if (!useMatmul) return tf.reshape(t, [b, ...new Array(shape.length - 2).fill(1), c]);
    const inner = shape.slice(1, -1).reduce((p, q) => p * q, 1);
    return tf.reshape(tf.matMul(tf.ones([b, inner, 1]), tf.reshape(t, [b, 1, c])), shape);
  });
}

/**
 * (x − μ) / √(σ² + eps) · gain + bias (Ioffe & Szegedy 2015, Algorithm 1), x NHWC, computed as x·a + b with
 * a = gain/√(σ² + eps), b = bias − μ·a (two broadcasts instead of four: the cpu backend's broadcasting is slow).
 * gain/bias are [C] (plain BN) or [B, C] (conditional BN, per sample); either may be omitted.
 */
export function batchNormApply(
  x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, eps: number, gain?: tf.Tensor | null, bias?: tf.Tensor | null,
): tf.Tensor {
  return tf.tidy(() => {
    const perSample = (t: tf.Tensor) => (t.rank === 1 ? t : expandPerSample(t as tf.Tensor2D, x.shape));
    let a: tf.Tensor = tf.rsqrt(tf.add(variance, eps));
    if (gain) a = tf.mul(gain, a);
    let b: tf.Tensor = tf.neg(tf.mul(mean, a));
    if (bias) b = tf.add(bias, b);
    return tf.add(tf.mul(x, perSample(a)), perSample(b));
  });
}

/**
 * Conditional BN: BN(x) · (1 + scale) + offset with per-sample scale/offset [B, C] (the projections of the
 * conditioning vector), statistics given (inference) or from the batch (training).
 */
export function conditionalBatchNorm(
  x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor, eps: number,
): tf.Tensor {
  return tf.tidy(() => batchNormApply(x, mean, variance, eps, tf.add(1, scale), offset));
}

/**
 * Running-stat update of torch's BatchNorm in train mode: r ← (1 − m)·r + m·batch, the variance entering
 * unbiased (n/(n−1)). Returns the new [C] mean and variance.
 */
export function updatedRunningStats(
  runningMean: tf.Tensor, runningVar: tf.Tensor, batchMean: tf.Tensor, batchVar: tf.Tensor, count: number, momentum = 0.1,
): { mean: tf.Tensor; variance: tf.Tensor } {
  return tf.tidy(() => {
    const unbiased = count > 1 ? tf.mul(batchVar, count / (count - 1)) : batchVar;
    return {
      mean: tf.add(tf.mul(runningMean, 1 - momentum), tf.mul(stopGradient(batchMean), momentum)),
      variance: tf.add(tf.mul(runningVar, 1 - momentum), tf.mul(stopGradient(unbiased), momentum)),
    };
  });
}
