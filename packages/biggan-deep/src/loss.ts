/**
 * BigGAN-deep's losses and regularisers (ajbrock losses.py / utils.ortho), built on @ganzoo/core.
 */
import * as tf from '@tensorflow/tfjs';
import { addOrthoRegGrads, hingeDLossParts, hingeGLoss } from '@ganzoo/core';

/** D hinge loss on real and fake logits: returns total and its two parts (ajbrock loss_hinge_dis). */
export function discriminatorLoss(dReal: tf.Tensor, dFake: tf.Tensor): { loss: tf.Scalar; real: tf.Scalar; fake: tf.Scalar } {
  return tf.tidy(() => {
    const p = hingeDLossParts(dReal, dFake);
    return { loss: tf.add(p.real, p.fake) as tf.Scalar, real: p.real, fake: p.fake };
  });
}

/** G hinge loss −mean(D(G(z))) (ajbrock loss_hinge_gen). */
export function generatorLoss(dFake: tf.Tensor): tf.Scalar {
  return hingeGLoss(dFake);
}

/** Parameters BigGAN excludes from orthogonal regularisation: the shared class embedding and rank < 2 tensors. */
export function orthoSkip(name: string): boolean {
  return name === 'embeddings.weight' || !name.endsWith('.weight_orig');
}

/**
 * Add BigGAN's modified ortho-reg gradient 2β((WWᵀ)⊙(1−I))W (Brock et al. 2019 eq. 3, ajbrock utils.ortho) to
 * G gradients keyed by parameter name. β = 0 (the BigGAN-deep launch script's G_ortho) returns the input map.
 */
export function addOrthoReg(grads: Record<string, tf.Tensor>, params: Record<string, tf.Tensor>, beta: number): Record<string, tf.Tensor> {
  if (!beta) return grads;
  return addOrthoRegGrads(grads, params, beta, {
    skip: orthoSkip,
    outAxis: (n) => (n === 'discriminator.embed.weight_orig' ? 'first' : 'last'),
  });
}
