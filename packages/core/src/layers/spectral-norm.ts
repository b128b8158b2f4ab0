/**
 * Spectral normalisation (Miyato et al. 2018, "Spectral Normalization for GANs"), channels-last.
 *
 * A weight is viewed as a matrix M [fanIn, out] (for a conv kernel [kh, kw, in, out], rows in (kh, kw, in)
 * order; for a dense kernel [in, out] as is). PyTorch views the same weight as W = Mᵀ [out, fanIn]; its
 * `weight_u` is our `u` [out] and its `weight_v` is our `v` [fanIn] (after the converter reorders a conv's
 * (in, kh, kw) entries to (kh, kw, in)). With that, the formulas are the official ones:
 *   power iteration:  v ← normalize(M u),  u ← normalize(Mᵀ v)
 *   σ = vᵀ M u,  W_SN = W / σ.
 * `normalize(x) = x / max(‖x‖, eps)` as torch.nn.functional.normalize.
 */
import * as tf from '@tensorflow/tfjs';

/** Identity whose gradient is zero (torch `.detach()` / TF `stop_gradient`; tfjs has no such op). */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const f = tf.customGrad(((a: tf.Tensor) => ({ value: a.clone(), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) })) as any);
  return f(x) as T;
}

/** Which axis of the weight holds the output features: 'last' for tfjs conv/dense kernels, 'first' for embedding tables. */
export type SnOutAxis = 'last' | 'first';

/** The [fanIn, out] matrix view of a weight. */
export function snMatrix(w: tf.Tensor, outAxis: SnOutAxis = 'last'): tf.Tensor2D {
  if (w.rank < 1) throw new Error(`spectral norm: expected a weight of rank >= 1, found a scalar`);
  if (outAxis === 'last') {
    const out = w.shape[w.rank - 1];
    return tf.reshape(w, [-1, out]) as tf.Tensor2D;
  }
  const out = w.shape[0];
  return tf.transpose(tf.reshape(w, [out, -1])) as tf.Tensor2D;
}

/** Number of output features (length of u) of a weight. */
export function snOutFeatures(w: tf.Tensor | number[], outAxis: SnOutAxis = 'last'): number {
  const shape = Array.isArray(w) ? w : w.shape;
  return outAxis === 'last' ? shape[shape.length - 1] : shape[0];
}

/** x / max(‖x‖₂, eps) over a 1-D vector (torch F.normalize). */
export function l2NormalizeVector(x: tf.Tensor1D, eps: number): tf.Tensor1D {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.norm(x), eps)) as tf.Tensor1D);
}

/**
 * `iterations` power-iteration steps from u (no gradient flows through u or v, as in both official codes):
 * v ← normalize(M u), u ← normalize(Mᵀ v) (Miyato et al. 2018, Algorithm 1).
 */
export function snPowerIteration(
  m: tf.Tensor2D, u: tf.Tensor1D, eps: number, iterations = 1,
): { u: tf.Tensor1D; v: tf.Tensor1D } {
  return tf.tidy(() => {
    const mc = stopGradient(m) as tf.Tensor2D;
    let uu = stopGradient(u) as tf.Tensor1D;
    let vv: tf.Tensor1D | null = null;
    const steps = Math.max(1, iterations);
    for (let i = 0; i < steps; i++) {
      vv = l2NormalizeVector(tf.reshape(tf.matMul(mc, tf.reshape(uu, [-1, 1])), [-1]) as tf.Tensor1D, eps);
      uu = l2NormalizeVector(tf.reshape(tf.matMul(vv.reshape([1, -1]), mc), [-1]) as tf.Tensor1D, eps);
    }
    return { u: uu, v: vv as tf.Tensor1D };
  });
}

/** σ = vᵀ M u: the spectral-norm estimate (Miyato et al. 2018, eq. 12); differentiable in M only. */
export function snSigma(m: tf.Tensor2D, u: tf.Tensor1D, v: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const uc = stopGradient(u);
    const vc = stopGradient(v);
    return tf.sum(tf.mul(tf.reshape(tf.matMul(tf.reshape(vc, [1, -1]), m), [-1]), uc)) as tf.Scalar;
  });
}

export interface SpectralNormOptions {
  /** eps of the vector normalisation (torch spectral_norm default 1e-12; HF BigGAN 1e-4; ajbrock SN_eps). */
  eps?: number;
  /**
   * Power iterations before σ. 0 uses the stored u and v as they are (torch's spectral_norm in eval mode);
   * ajbrock's layers.SN runs 1 even in eval mode. Training uses >= 1.
   */
  iterations?: number;
  outAxis?: SnOutAxis;
}

export interface SpectralNormResult {
  /** W / σ, same shape as the weight. */
  weight: tf.Tensor;
  sigma: tf.Scalar;
  /** u and v after the power iteration (the stored ones when iterations = 0). */
  u: tf.Tensor1D;
  v: tf.Tensor1D;
}

/** W_SN = W / σ(W) with σ from `iterations` power-iteration steps from (u, v) (Miyato et al. 2018, eq. 8). */
export function spectralNormalize(
  w: tf.Tensor, u: tf.Tensor, v: tf.Tensor | null | undefined, opts: SpectralNormOptions = {},
): SpectralNormResult {
  const eps = opts.eps ?? 1e-12;
  const iterations = opts.iterations ?? 1;
  const outAxis = opts.outAxis ?? 'last';
  const out = snOutFeatures(w, outAxis);
  if (u.size !== out) {
    throw new Error(`spectral norm: u has ${u.size} entries, expected ${out} (output features of weight ${JSON.stringify(w.shape)})`);
  }
  const fanIn = w.size / out;
  if (v && v.size !== fanIn) {
    throw new Error(`spectral norm: v has ${v.size} entries, expected ${fanIn} (fan-in of weight ${JSON.stringify(w.shape)})`);
  }
  if (iterations === 0 && !v) throw new Error('spectral norm: iterations = 0 needs a stored v');
  return tf.tidy(() => {
    const m = snMatrix(w, outAxis);
    let uu = tf.reshape(u, [-1]) as tf.Tensor1D;
    let vv = v ? (tf.reshape(v, [-1]) as tf.Tensor1D) : null;
    if (iterations > 0) {
      const r = snPowerIteration(m, uu, eps, iterations);
      uu = r.u;
      vv = r.v;
    }
    const sigma = snSigma(m, uu, vv as tf.Tensor1D);
    return { weight: tf.div(w, sigma), sigma, u: stopGradient(uu) as tf.Tensor1D, v: stopGradient(vv as tf.Tensor1D) as tf.Tensor1D };
  });
}

/**
 * The state of one spectrally normalised weight: the weight variable plus its u (and optional v) vectors.
 * `compute(training)` returns W/σ; in training mode it runs the power iteration and writes u (and v) back,
 * as torch.nn.utils.spectral_norm and ajbrock's layers.SN do in train mode.
 */
export class SpectralNorm {
  constructor(
    readonly weight: tf.Variable,
    readonly u: tf.Variable,
    readonly v: tf.Variable | null = null,
    readonly opts: { eps: number; evalIterations: number; trainIterations: number; outAxis: SnOutAxis } = {
      eps: 1e-12, evalIterations: 0, trainIterations: 1, outAxis: 'last',
    },
  ) {}

  /** W/σ. training = true: power iteration from the stored u, then u (and v) are updated in place. */
  compute(training = false): tf.Tensor {
    const iterations = training ? this.opts.trainIterations : (this.v ? this.opts.evalIterations : Math.max(1, this.opts.evalIterations));
    const r = spectralNormalize(this.weight, this.u, this.v, { eps: this.opts.eps, iterations, outAxis: this.opts.outAxis });
    if (training) {
      this.u.assign(tf.reshape(r.u, this.u.shape));
      if (this.v) this.v.assign(tf.reshape(r.v, this.v.shape));
    }
    tf.dispose([r.sigma, r.u, r.v]);
    return r.weight;
  }
}
