/**
 * GALIP's losses (tobran/GALIP code/lib/modules.py train / MA_GP_FP32), on core's hinge formulas.
 *
 *   L_D = hinge_real(C(D(f_real), s)) + ½ [hinge_fake(C(D(f_fake), s)) + hinge_fake(C(D(f_real), s_mis))] + MA-GP
 *   L_G = −mean(C(D(f_fake), s)) − sim_w · mean(cos(e_fake, s))
 *
 * with s_mis the batch of sentence embeddings rolled by one and f the CLIP tap features.
 */
import * as tf from '@tensorflow/tfjs';
import { hingeDLossParts, hingeGLoss } from '@ganzoo/core';

/**
 * Matching-aware zero-centred gradient penalty (DF-GAN, Tao et al. 2022, eq. 6; GALIP MA_GP_FP32):
 * k · mean_b(‖(∂Σ C / ∂f_b, ∂Σ C / ∂s_b)‖₂^p), the gradient taken w.r.t. the real CLIP features and the sentence
 * embedding together. Written as k · mean_b((Σ g²)^(p/2)), equal to the official sqrt-then-power but with a
 * finite gradient at g = 0. Differentiable w.r.t. the variables `score` uses (second-order gradients).
 */
export function maGradientPenalty(
  score: (feats: tf.Tensor4D[], sent: tf.Tensor2D) => tf.Tensor,
  feats: tf.Tensor4D[], sent: tf.Tensor2D, weight: number, power: number,
): tf.Scalar {
  return tf.tidy(() => {
    const n = feats.length;
    const gradFn = tf.grads((...xs: tf.Tensor[]) => tf.sum(score(xs.slice(0, n) as tf.Tensor4D[], xs[n] as tf.Tensor2D)));
    const grads = gradFn([...feats, sent]);
    const b = sent.shape[0];
    const sq = grads.map((g) => tf.sum(tf.reshape(tf.square(g), [b, -1]), 1));
    const normSq = sq.reduce((a, c) => tf.add(a, c));
    return tf.mul(weight, tf.mean(tf.pow(normSq, power / 2))) as tf.Scalar;
  });
}

/** The mismatched-text batch: sentence embeddings rolled by one (cat(s[1:], s[:1])), as GALIP's D step. */
export function rollByOne(sent: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const b = sent.shape[0];
    if (b < 2) throw new Error(`GALIP mismatched-text term: expected a batch of at least 2 sentence embeddings, found ${b}`);
    return tf.concat([tf.slice(sent, [1, 0], [-1, -1]), tf.slice(sent, [0, 0], [1, -1])], 0) as tf.Tensor2D;
  });
}

export interface DLossParts {
  real: tf.Scalar;
  fake: tf.Scalar;
  mis: tf.Scalar;
  magp: tf.Scalar;
  total: tf.Scalar;
}

/** L_D from the NetC outputs of (real, s), (fake, s), (real, s_mis) and the MA-GP value. */
export function galipDLoss(predReal: tf.Tensor, predFake: tf.Tensor, predMis: tf.Tensor, magp: tf.Scalar): DLossParts {
  return tf.tidy(() => {
    const a = hingeDLossParts(predReal, predFake);
    const b = hingeDLossParts(predReal, predMis);
    const total = tf.add(tf.add(a.real, tf.mul(0.5, tf.add(a.fake, b.fake))), magp) as tf.Scalar;
    return { real: a.real, fake: a.fake, mis: b.fake, magp: tf.clone(magp), total };
  });
}

/** torch.cosine_similarity(x, y, dim=1, eps=1e-8): x·y / max(‖x‖‖y‖, eps), per row. */
export function cosineSimilarity(x: tf.Tensor2D, y: tf.Tensor2D, eps = 1e-8): tf.Tensor1D {
  return tf.tidy(() => {
    const dot = tf.sum(tf.mul(x, y), 1);
    const den = tf.maximum(tf.mul(tf.norm(x, 'euclidean', 1), tf.norm(y, 'euclidean', 1)), eps);
    return tf.div(dot, den) as tf.Tensor1D;
  });
}

/** L_G = −mean(C(D(f_fake), s)) − sim_w · mean(cos(e_fake, s)). */
export function galipGLoss(predFake: tf.Tensor, fakeEmb: tf.Tensor2D, sent: tf.Tensor2D, simW: number): { adv: tf.Scalar; sim: tf.Scalar; total: tf.Scalar } {
  return tf.tidy(() => {
    const adv = hingeGLoss(predFake);
    const sim = tf.mean(cosineSimilarity(fakeEmb, sent)) as tf.Scalar;
    return { adv, sim, total: tf.sub(adv, tf.mul(simW, sim)) as tf.Scalar };
  });
}
