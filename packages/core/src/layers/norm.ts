/** Normalisation layers as functions of explicit parameters (NHWC / channels-last). */
import * as tf from '@tensorflow/tfjs';

/** LayerNorm over the last axis (Ba et al. 2016): (x - mean) / sqrt(var + eps) * gamma + beta. */
export function layerNorm(x: tf.Tensor, gamma?: tf.Tensor, beta?: tf.Tensor, eps = 1e-5): tf.Tensor {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
    if (gamma) y = tf.mul(y, gamma);
    if (beta) y = tf.add(y, beta);
    return y;
  });
}

/** GroupNorm on channels-last input [N, ..., C] (Wu & He 2018), biased variance as PyTorch. */
export function groupNorm(x: tf.Tensor, groups: number, gamma?: tf.Tensor, beta?: tf.Tensor, eps = 1e-5): tf.Tensor {
  return tf.tidy(() => {
    const shape = x.shape;
    const c = shape[shape.length - 1];
    if (c % groups !== 0) throw new Error(`groupNorm: ${c} channels are not divisible by ${groups} groups`);
    const n = shape[0];
    const g = tf.reshape(x, [n, -1, groups, c / groups]);
    const { mean, variance } = tf.moments(g, [1, 3], true);
    let y = tf.reshape(tf.mul(tf.sub(g, mean), tf.rsqrt(tf.add(variance, eps))), shape);
    if (gamma) y = tf.mul(y, gamma);
    if (beta) y = tf.add(y, beta);
    return y;
  });
}

/** RMSNorm over the last axis as lucidrains writes it: x / max(||x||_2, eps) * sqrt(d) * gamma (F.normalize form). */
export function rmsNorm(x: tf.Tensor, gamma?: tf.Tensor, eps = 1e-12): tf.Tensor {
  return tf.tidy(() => {
    const d = x.shape[x.shape.length - 1];
    const norm = tf.maximum(tf.norm(x, 'euclidean', -1, true), eps);
    let y = tf.mul(tf.div(x, norm), Math.sqrt(d));
    if (gamma) y = tf.mul(y, gamma);
    return y;
  });
}
