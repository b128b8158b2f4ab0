/**
 * SAGAN self-attention (Zhang et al. 2019, "Self-Attention GANs", §3), as BigGAN uses it, NHWC.
 *
 *   θ = x W_θ,  φ = maxpool2(x W_φ),  g = maxpool2(x W_g)          (1×1 convs, no bias)
 *   β = softmax over keys of θ φᵀ  (no 1/√d scaling)               [B, HW, HW/4]
 *   o = (β g) W_o;  out = x + γ·o
 * Positions are flattened row-major (h·W + w), as torch's view(-1, C, H·W) does.
 */
import * as tf from '@tensorflow/tfjs';
import { softmaxShift } from '../ops/softmax-shift';

export interface SaganAttentionWeights {
  /** 1×1 kernels as [C, C/8] / [C, C/8] / [C, C/2] / [C/2, C] matrices or [1, 1, in, out] conv kernels (already spectrally normalised). */
  theta: tf.Tensor;
  phi: tf.Tensor;
  g: tf.Tensor;
  o: tf.Tensor;
  /** Residual gate γ (scalar or [1]). */
  gamma: tf.Tensor | number;
}

function asMatrix(w: tf.Tensor, what: string, cin: number): tf.Tensor2D {
  const m = w.rank === 4 ? tf.reshape(w, [w.shape[2] as number, w.shape[3] as number]) : w;
  if (m.rank !== 2 || m.shape[0] !== cin) {
    if (m !== w) m.dispose();
    throw new Error(`SAGAN attention: ${what} must be [${cin}, out] or [1, 1, ${cin}, out], found ${JSON.stringify(w.shape)}`);
  }
  return m as tf.Tensor2D;
}

/** 2×2 max pooling, stride 2 (nn.MaxPool2d(2)), via reshape + max so it is differentiable on every backend. */
export function maxPool2x(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, c] = x.shape;
    return tf.max(tf.reshape(x, [b, h / 2, 2, w / 2, 2, c]), [2, 4]) as tf.Tensor4D;
  });
}

/** [N, 1] made broadcastable to [N, K]: expanded exactly by a ones outer product on cpu (slow broadcasting there). */
function spread(col: tf.Tensor2D, k: number): tf.Tensor2D {
  return tf.getBackend() === 'cpu' ? tf.matMul(col, tf.ones([1, k])) : col;
}

/** softmax over the last axis of [N, K] logits: exp(l − max) / Σ exp(l − max) (the max a constant: `softmaxShift`). */
export function softmaxRows(logits: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const k = logits.shape[1];
    const e = tf.exp(tf.sub(logits, spread(softmaxShift(logits, 1), k)));
    return tf.mul(e, spread(tf.reciprocal(tf.sum(e, 1, true)) as tf.Tensor2D, k)) as tf.Tensor2D;
  });
}

/** out = x + γ · o_conv(softmax(θ φᵀ) g) with 2×2 max-pooled keys/values (SAGAN, eq. 1–3). x: [B, H, W, C]. */
export function saganAttention(x: tf.Tensor4D, w: SaganAttentionWeights): tf.Tensor4D {
  const [b, h, wd, c] = x.shape;
  if (h % 2 !== 0 || wd % 2 !== 0) throw new Error(`SAGAN attention: H and W must be even, found ${h}x${wd}`);
  return tf.tidy(() => {
    const flat = tf.reshape(x, [b * h * wd, c]);
    const proj = (m: tf.Tensor, name: string) => {
      const mm = asMatrix(m, name, c);
      return tf.reshape(tf.matMul(flat, mm), [b, h, wd, mm.shape[1]]) as tf.Tensor4D;
    };
    const theta = proj(w.theta, 'theta');
    const phi = maxPool2x(proj(w.phi, 'phi'));
    const g = maxPool2x(proj(w.g, 'g'));
    const dk = theta.shape[3];
    const dv = g.shape[3];
    const hw = h * wd;
    // per-sample 2-D matmuls with an explicit kᵀ: tfjs-wasm's batched and transposed matmuls are several times slower
    const q = tf.reshape(theta, [b, hw, dk]);
    const kT = tf.transpose(tf.reshape(phi, [b, hw / 4, dk]), [0, 2, 1]);
    const v = tf.reshape(g, [b, hw / 4, dv]);
    const rows: tf.Tensor[] = [];
    for (let i = 0; i < b; i++) {
      const pick = (t: tf.Tensor, n: number, m: number) => (b === 1 ? tf.reshape(t, [n, m]) : tf.reshape(tf.slice(t, [i, 0, 0], [1, -1, -1]), [n, m])) as tf.Tensor2D;
      const logits = tf.matMul(pick(q, hw, dk), pick(kT, dk, hw / 4)) as tf.Tensor2D; // θᵀφ, no 1/√d
      rows.push(tf.matMul(softmaxRows(logits), pick(v, hw / 4, dv))); // [HW, C/2]
    }
    const attn = b === 1 ? rows[0] : tf.concat(rows, 0);
    const om = asMatrix(w.o, 'o', dv);
    const o = tf.reshape(tf.matMul(tf.reshape(attn, [b * h * wd, dv]), om), [b, h, wd, c]);
    const gamma = typeof w.gamma === 'number' ? w.gamma : tf.reshape(w.gamma, []);
    return tf.add(x, tf.mul(gamma, o)) as tf.Tensor4D;
  });
}
