/**
 * bias_act (StyleGAN2/3 torch_utils/ops/bias_act.py, reference path): add a per-channel bias, apply an activation,
 * scale by a gain and clamp. Channels-last: the bias runs along the last axis (or `axis`).
 */
import * as tf from '@tensorflow/tfjs';

export type Activation = 'linear' | 'relu' | 'lrelu' | 'tanh' | 'sigmoid' | 'elu' | 'selu' | 'softplus' | 'swish';

/** Default alpha and gain per activation, as the official activation_funcs table. */
export const ACTIVATION_DEFAULTS: Record<Activation, { alpha: number; gain: number }> = {
  linear: { alpha: 0, gain: 1 },
  relu: { alpha: 0, gain: Math.SQRT2 },
  lrelu: { alpha: 0.2, gain: Math.SQRT2 },
  tanh: { alpha: 0, gain: 1 },
  sigmoid: { alpha: 0, gain: 1 },
  elu: { alpha: 0, gain: 1 },
  selu: { alpha: 0, gain: 1 },
  softplus: { alpha: 0, gain: 1 },
  swish: { alpha: 0, gain: Math.SQRT2 },
};

export interface BiasActOptions {
  act?: Activation;
  /** Leaky-ReLU slope; default from ACTIVATION_DEFAULTS (0.2 for lrelu). */
  alpha?: number;
  /** Output gain; default from ACTIVATION_DEFAULTS (sqrt(2) for lrelu / relu / swish, else 1). */
  gain?: number;
  /** Clamp the output to [-clamp, clamp] after the gain; undefined / null = no clamp. */
  clamp?: number | null;
  /** Axis the bias runs along; default the last axis (channels-last). */
  axis?: number;
}

function applyActivation(x: tf.Tensor, act: Activation, alpha: number): tf.Tensor {
  switch (act) {
    case 'linear':
      return x;
    case 'relu':
      return tf.relu(x);
    case 'lrelu':
      return tf.leakyRelu(x, alpha);
    case 'tanh':
      return tf.tanh(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'elu':
      return tf.elu(x);
    case 'selu':
      return tf.selu(x);
    case 'softplus':
      return tf.softplus(x);
    case 'swish':
      return tf.mul(tf.sigmoid(x), x);
    default:
      throw new Error(`biasAct: unknown activation '${act as string}' (expected one of ${Object.keys(ACTIVATION_DEFAULTS).join(', ')})`);
  }
}

/** y = clamp(act(x + b) * gain, -clamp, clamp) (StyleGAN2 bias_act; Karras et al. 2020, the clamp of section 4). */
export function biasAct(x: tf.Tensor, b?: tf.Tensor | null, opts: BiasActOptions = {}): tf.Tensor {
  const act = opts.act ?? 'linear';
  const spec = ACTIVATION_DEFAULTS[act];
  if (!spec) throw new Error(`biasAct: unknown activation '${act}' (expected one of ${Object.keys(ACTIVATION_DEFAULTS).join(', ')})`);
  const alpha = opts.alpha ?? spec.alpha;
  const gain = opts.gain ?? spec.gain;
  const clamp = opts.clamp ?? null;
  if (clamp !== null && !(clamp >= 0)) throw new Error(`biasAct: clamp must be >= 0, got ${clamp}`);
  return tf.tidy(() => {
    let y = x;
    if (b) {
      const axis = opts.axis === undefined ? x.rank - 1 : opts.axis < 0 ? x.rank + opts.axis : opts.axis;
      if (b.rank !== 1 || b.shape[0] !== x.shape[axis]) {
        throw new Error(`biasAct: bias of shape [${b.shape}] does not match axis ${axis} of input [${x.shape}]`);
      }
      const shape = x.shape.map((_, i) => (i === axis ? -1 : 1));
      y = tf.add(y, axis === x.rank - 1 ? b : tf.reshape(b, shape));
    }
    y = applyActivation(y, act, alpha);
    if (gain !== 1) y = tf.mul(y, gain);
    if (clamp !== null) y = tf.clipByValue(y, -clamp, clamp);
    return y;
  });
}
