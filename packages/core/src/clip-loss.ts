/**
 * Losses and scores on CLIP embeddings, shared by StyleGAN-T, GigaGAN and GALIP. Inputs are embeddings [B, D]
 * (any scale: each function L2-normalises them itself, as the official code does with F.normalize, eps 1e-12).
 */
import * as tf from '@tensorflow/tfjs';
import { l2NormalizeLast as l2NormalizeRows } from './layers/gigagan-layers';

function checkPair(a: tf.Tensor, b: tf.Tensor, what: string): void {
  if (a.rank !== 2 || b.rank !== 2 || a.shape[1] !== b.shape[1]) {
    throw new Error(`${what}: expected embeddings [B, D] and [B', D] with the same D, found [${a.shape}] and [${b.shape}]`);
  }
}

/**
 * Spherical distance per row, arccos(<x̂, ŷ>)^2 (StyleGAN-T training/loss.py ProjectedGANLoss.spherical_distance;
 * Sauer et al. 2023, sec. 3.3 CLIP guidance). x, y: [B, D] (y may be [1, D] and broadcast). The cosine is clamped to
 * [-1, 1] against rounding (torch would give NaN there); the gradient is unbounded when x̂ = ±ŷ exactly.
 */
export function sphericalDistance(x: tf.Tensor2D, y: tf.Tensor2D): tf.Tensor1D {
  checkPair(x, y, 'sphericalDistance');
  return tf.tidy(() => {
    const cos = tf.sum(tf.mul(l2NormalizeRows(x), l2NormalizeRows(y)), -1);
    return tf.square(tf.acos(tf.clipByValue(cos, -1, 1))) as tf.Tensor1D;
  });
}

/** StyleGAN-T CLIP guidance loss: mean over the batch of arccos(<x̂, ŷ>)^2 (image features x, text features y). */
export function clipSphericalLoss(imageEmbeds: tf.Tensor2D, textEmbeds: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mean(sphericalDistance(imageEmbeds, textEmbeds)) as tf.Scalar);
}

/**
 * Symmetric CLIP contrastive loss (Radford et al. 2021, fig. 3; GigaGAN G loss as lucidrains' OpenClipAdapter
 * .contrastive_loss): sim = τ · t̂ x̂ᵀ [N, N], loss = (CE(sim, diag) + CE(simᵀ, diag)) / 2, τ = exp(logit_scale).
 */
export function clipContrastiveLoss(textEmbeds: tf.Tensor2D, imageEmbeds: tf.Tensor2D, temperature: number | tf.Scalar): tf.Scalar {
  checkPair(textEmbeds, imageEmbeds, 'clipContrastiveLoss');
  if (textEmbeds.shape[0] !== imageEmbeds.shape[0]) {
    throw new Error(`clipContrastiveLoss: expected as many texts as images, found ${textEmbeds.shape[0]} and ${imageEmbeds.shape[0]}`);
  }
  return tf.tidy(() => {
    const n = textEmbeds.shape[0];
    const sim = tf.mul(tf.matMul(l2NormalizeRows(textEmbeds), l2NormalizeRows(imageEmbeds), false, true), temperature) as tf.Tensor2D;
    const labels = tf.oneHot(tf.range(0, n, 1, 'int32'), n);
    // cross-entropy with integer targets, mean over rows (F.cross_entropy)
    const ce = (logits: tf.Tensor2D) => tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.logSoftmax(logits, -1)), -1)));
    return tf.div(tf.add(ce(sim), ce(tf.transpose(sim) as tf.Tensor2D)), 2) as tf.Scalar;
  });
}

/**
 * CLIP score (Hessel et al. 2021 with w = 100, as torchmetrics CLIPScore): 100 · cos(image, text) of matched pairs.
 * reduce 'none': per pair, max(100 · cos, 0) [B]; 'mean': max(mean(100 · cos), 0) (torchmetrics' clip_score).
 */
export function clipScore(imageEmbeds: tf.Tensor2D, textEmbeds: tf.Tensor2D, reduce: 'none' | 'mean' = 'mean'): tf.Tensor {
  checkPair(imageEmbeds, textEmbeds, 'clipScore');
  if (imageEmbeds.shape[0] !== textEmbeds.shape[0]) {
    throw new Error(`clipScore: expected matched pairs, found ${imageEmbeds.shape[0]} images and ${textEmbeds.shape[0]} texts`);
  }
  return tf.tidy(() => {
    const s = tf.mul(tf.sum(tf.mul(l2NormalizeRows(imageEmbeds), l2NormalizeRows(textEmbeds)), -1), 100);
    return reduce === 'none' ? tf.relu(s) : tf.relu(tf.mean(s));
  });
}
