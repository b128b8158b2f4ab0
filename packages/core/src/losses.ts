/**
 * GAN losses and regularisers shared by every model. Each formula lives here once.
 */
import * as tf from '@tensorflow/tfjs';

/** Hinge D loss parts (Lim & Ye 2017; Miyato et al. 2018 eq. 16): mean(relu(1 − D(x))), mean(relu(1 + D(G(z)))). */
export function hingeDLossParts(dReal: tf.Tensor, dFake: tf.Tensor): { real: tf.Scalar; fake: tf.Scalar } {
  return tf.tidy(() => ({
    real: tf.mean(tf.relu(tf.sub(1, dReal))) as tf.Scalar,
    fake: tf.mean(tf.relu(tf.add(1, dFake))) as tf.Scalar,
  }));
}

/** Hinge D loss: mean(relu(1 − D(x))) + mean(relu(1 + D(G(z)))) (Miyato et al. 2018 eq. 16). */
export function hingeDLoss(dReal: tf.Tensor, dFake: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const p = hingeDLossParts(dReal, dFake);
    return tf.add(p.real, p.fake) as tf.Scalar;
  });
}

/** Hinge G loss: −mean(D(G(z))) (Miyato et al. 2018 eq. 17). */
export function hingeGLoss(dFake: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(dFake)) as tf.Scalar);
}

/** Non-saturating logistic D loss: mean(softplus(−D(x))) + mean(softplus(D(G(z)))) (Goodfellow et al. 2014). */
export function logisticDLoss(dReal: tf.Tensor, dFake: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.add(tf.mean(tf.softplus(tf.neg(dReal))), tf.mean(tf.softplus(dFake))) as tf.Scalar);
}

/** Non-saturating logistic G loss: mean(softplus(−D(G(z)))) (Goodfellow et al. 2014, §3). */
export function logisticGLoss(dFake: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.softplus(tf.neg(dFake))) as tf.Scalar);
}

/** Which axis of a weight holds its output features: 'last' for tfjs kernels ([..., out]), 'first' for [out, ...]. */
export type OrthoOutAxis = 'last' | 'first';

/** The weight as torch views it for ortho reg: rows = output features, W [out, fanIn]. */
function orthoRows(w: tf.Tensor, outAxis: OrthoOutAxis): tf.Tensor2D {
  if (outAxis === 'first') return tf.reshape(w, [w.shape[0], -1]) as tf.Tensor2D;
  return tf.transpose(tf.reshape(w, [-1, w.shape[w.rank - 1]])) as tf.Tensor2D;
}

/**
 * BigGAN's modified orthogonal regularisation (Brock et al. 2019, eq. 3): β‖W Wᵀ ⊙ (1 − I)‖²_F with W [out, fanIn].
 * ajbrock's utils.ortho adds the gradient 2β (W Wᵀ ⊙ (1 − I)) W directly; this loss is scaled by 1/2 so its
 * gradient equals exactly that (see `orthoRegGrad`).
 */
export function orthoRegLoss(w: tf.Tensor, beta: number, outAxis: OrthoOutAxis = 'last'): tf.Scalar {
  return tf.tidy(() => {
    const m = orthoRows(w, outAxis);
    const gram = tf.matMul(m, m, false, true);
    const off = tf.mul(gram, tf.sub(1, tf.eye(m.shape[0])));
    return tf.mul(0.5 * beta, tf.sum(tf.square(off))) as tf.Scalar;
  });
}

/** Gradient of `orthoRegLoss` in closed form: 2β (W Wᵀ ⊙ (1 − I)) W (ajbrock utils.ortho), shaped like w. */
export function orthoRegGrad(w: tf.Tensor, beta: number, outAxis: OrthoOutAxis = 'last'): tf.Tensor {
  return tf.tidy(() => {
    const m = orthoRows(w, outAxis);
    const off = tf.mul(tf.matMul(m, m, false, true), tf.sub(1, tf.eye(m.shape[0])));
    const g = tf.mul(2 * beta, tf.matMul(off, m)); // [out, fanIn]
    if (outAxis === 'first') return tf.reshape(g, w.shape);
    return tf.reshape(tf.transpose(g), w.shape);
  });
}

/**
 * Add the ortho-reg gradient to a gradient map for every parameter of rank >= 2 not in `skip` (as ajbrock's
 * utils.ortho does after backward). Returns a new map; the input gradients are not disposed.
 */
export function addOrthoRegGrads(
  grads: Record<string, tf.Tensor>, params: Record<string, tf.Tensor>, beta: number,
  opts: { skip?: (name: string) => boolean; outAxis?: (name: string) => OrthoOutAxis } = {},
): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, g] of Object.entries(grads)) {
    const p = params[name];
    if (!p || p.rank < 2 || beta === 0 || opts.skip?.(name)) {
      out[name] = g;
      continue;
    }
    out[name] = tf.tidy(() => tf.add(g, orthoRegGrad(p, beta, opts.outAxis?.(name) ?? 'last')));
  }
  return out;
}

/**
 * R1 gradient penalty (Mescheder et al. 2018, eq. 9): (γ/2) · E_x[‖∇ₓ D(x)‖²] on real data.
 * `d` maps a batch of images to per-sample logits; returns a scalar differentiable w.r.t. D's variables
 * when called inside tf.variableGrads (needs second-order gradients of D's ops).
 */
export function r1Penalty(d: (x: tf.Tensor) => tf.Tensor, real: tf.Tensor, gamma: number): tf.Scalar {
  return tf.tidy(() => {
    const gradFn = tf.grad((x: tf.Tensor) => tf.sum(d(x)));
    const g = gradFn(real);
    const perSample = tf.sum(tf.reshape(tf.square(g), [g.shape[0], -1]), 1);
    return tf.mul(gamma / 2, tf.mean(perSample)) as tf.Scalar;
  });
}

/**
 * Mode-seeking regularisation (Mao et al. 2019, "Mode Seeking GANs", eq. 3–4): for two latents z1, z2 under the same
 * condition, L_ms = 1 / (mean|G(z1) − G(z2)| / mean|z1 − z2| + ε), added to G's loss with a weight λ_ms. Minimising it
 * makes G's outputs move with z, against per-condition mode collapse. `images1[i]` / `z1[i]` pair with
 * `images2[i]` / `z2[i]`.
 */
export function modeSeekingLoss(images1: tf.Tensor, images2: tf.Tensor, z1: tf.Tensor, z2: tf.Tensor, eps = 1e-5): tf.Scalar {
  if (images1.shape.join() !== images2.shape.join()) throw new Error(`modeSeekingLoss: image pairs of shapes [${images1.shape}] and [${images2.shape}]`);
  if (z1.shape.join() !== z2.shape.join()) throw new Error(`modeSeekingLoss: latent pairs of shapes [${z1.shape}] and [${z2.shape}]`);
  return tf.tidy(() => {
    const ratio = tf.div(tf.mean(tf.abs(tf.sub(images1, images2))), tf.mean(tf.abs(tf.sub(z1, z2))));
    return tf.div(1, tf.add(ratio, eps)) as tf.Scalar;
  });
}
