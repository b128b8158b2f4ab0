/**
 * Attention primitives shared by every model (SAGAN's attention lives in its own file; this is
 * the Transformer form used by CLIP, DINO, GigaGAN and GALIP).
 */
import * as tf from '@tensorflow/tfjs';

export interface SdpaOptions {
  /** Additive mask broadcastable to [B, H, Lq, Lk] (0 keep, large negative drop), or a boolean keep-mask. */
  mask?: tf.Tensor;
  /** Logit scale; default 1/sqrt(head dim). */
  scale?: number;
}

/** Scaled dot-product attention, softmax(Q K^T * scale + mask) V (Vaswani et al. 2017, eq. 1). q,k,v: [B, H, L, D]. */
export function scaledDotProductAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, opts: SdpaOptions = {}): tf.Tensor4D {
  return tf.tidy(() => {
    const d = q.shape[3];
    if (k.shape[3] !== d || v.shape[2] !== k.shape[2]) {
      throw new Error(`attention: expected q [B,H,Lq,${d}], k [B,H,Lk,${d}], v [B,H,Lk,Dv]; found ${JSON.stringify([q.shape, k.shape, v.shape])}`);
    }
    const scale = opts.scale ?? 1 / Math.sqrt(d);
    let logits = tf.mul(tf.matMul(q, k, false, true), scale);
    if (opts.mask) {
      const m = opts.mask.dtype === 'bool' ? tf.mul(tf.sub(1, tf.cast(opts.mask, 'float32')), -1e30) : opts.mask;
      logits = tf.add(logits, m);
    }
    return tf.matMul(tf.softmax(logits, -1), v) as tf.Tensor4D;
  });
}

/** [B, L, H*D] -> [B, H, L, D]. */
export function splitHeads(x: tf.Tensor, heads: number): tf.Tensor4D {
  const [b, l, c] = x.shape;
  if (c % heads !== 0) throw new Error(`splitHeads: width ${c} is not divisible by ${heads} heads`);
  return tf.transpose(tf.reshape(x, [b, l, heads, c / heads]), [0, 2, 1, 3]) as tf.Tensor4D;
}

/** [B, H, L, D] -> [B, L, H*D]. */
export function mergeHeads(x: tf.Tensor): tf.Tensor3D {
  const [b, h, l, d] = x.shape;
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, l, h * d]) as tf.Tensor3D;
}
