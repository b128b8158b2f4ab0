/**
 * Layers of GigaGAN (Kang et al. 2023) as lucidrains/gigagan-pytorch builds them, NHWC, as functions of
 * explicit parameters. Generic pieces (pixel (un)shuffle in PyTorch's channel order, the [1,2,1] blur with
 * reflect borders, PyTorch-exact bilinear resizing by matrices, exact GELU, L2-distance attention) live
 * here too because GigaGAN is their first user; other models may import them.
 *
 * Everything is written with ops whose gradients are themselves differentiable (slices, adds, matMul,
 * conv2d), so a zero-centred gradient penalty (second-order gradients) works through them.
 */
import * as tf from '@tensorflow/tfjs';
import { softmaxShift } from '../ops/softmax-shift';

/** Repeat the rows of `t` (batch b) to batch `n` in the `(s b)` pattern (einops `repeat 'b ... -> (s b) ...'`). */
export function tileBatch<T extends tf.Tensor>(t: T, n: number): T {
  const b = t.shape[0];
  if (b === n) return t;
  if (n % b !== 0) throw new Error(`tileBatch: batch ${n} is not a multiple of ${b}`);
  const reps = t.shape.map((_, i) => (i === 0 ? n / b : 1));
  return tf.tile(t, reps) as T;
}

export interface AdaptiveConvOptions {
  /** StyleGAN2 weight demodulation (default true). */
  demod?: boolean;
  /** Clamp of the squared weight norm before rsqrt (default 1e-8). */
  eps?: number;
}

function prepMods(x: tf.Tensor4D, weights: tf.Tensor, mod: tf.Tensor2D, kernelMod: tf.Tensor2D | null | undefined) {
  if (weights.rank !== 5) throw new Error(`adaptiveConv2dMod: expected weights [N,k,k,in,out], found ${JSON.stringify(weights.shape)}`);
  const [n, , , cin] = weights.shape;
  const b = x.shape[0];
  if (x.shape[3] !== cin) throw new Error(`adaptiveConv2dMod: expected ${cin} input channels, found ${x.shape[3]}`);
  if (mod.shape[1] !== cin) throw new Error(`adaptiveConv2dMod: expected mod [B,${cin}], found ${JSON.stringify(mod.shape)}`);
  const m = tileBatch(mod, b);
  let a: tf.Tensor2D | null = null;
  if (n > 1) {
    if (!kernelMod || kernelMod.size === 0) throw new Error(`adaptiveConv2dMod: ${n} kernels need kernel_mod [B,${n}]`);
    if (kernelMod.shape[1] !== n) throw new Error(`adaptiveConv2dMod: expected kernel_mod [B,${n}], found ${JSON.stringify(kernelMod.shape)}`);
    a = tf.softmax(tileBatch(kernelMod, b), -1) as tf.Tensor2D;
  } else if (kernelMod && kernelMod.size > 0) {
    throw new Error('adaptiveConv2dMod: kernel_mod given to a conv with a single kernel');
  }
  return { m, a, n };
}

/** Per-sample kernels W_b = (sum_n a_bn W_n) * (mod_b + 1), demodulated: [B,k,k,in,out]. */
function sampleKernels(weights: tf.Tensor, a: tf.Tensor2D | null, m: tf.Tensor2D, demod: boolean, eps: number): tf.Tensor {
  const [n, k1, k2, cin, cout] = weights.shape;
  const b = m.shape[0];
  // GigaGAN eq. (sample-adaptive kernel selection): K = sum_i softmax(w)_i K_i
  let w: tf.Tensor = a
    ? tf.reshape(tf.matMul(a, tf.reshape(weights, [n, -1])), [b, k1, k2, cin, cout])
    : tf.tile(tf.reshape(weights, [1, k1, k2, cin, cout]), [b, 1, 1, 1, 1]);
  // StyleGAN2 modulation w' = w * s (Karras et al. 2020, eq. 1), s = mod + 1
  w = tf.mul(w, tf.reshape(tf.add(m, 1), [b, 1, 1, cin, 1]));
  if (demod) {
    // StyleGAN2 demodulation w'' = w' / sqrt(sum w'^2 + eps) (eq. 3; lucidrains clamps instead of adding eps)
    w = tf.mul(w, tf.rsqrt(tf.maximum(tf.sum(tf.square(w), [1, 2, 3], true), eps)));
  }
  return w;
}

/**
 * AdaptiveConv2DMod: softmax-weighted sum of N kernels per sample, StyleGAN2 (de)modulation, 'same' padding,
 * stride 1. x [B,H,W,in], weights [N,k,k,in,out], mod [b,in], kernelMod [b,N] (b divides B: rows are tiled
 * in the `(s b)` pattern as for the multi-scale discriminator). Fast path: the kernel mix and the modulation
 * are linear, so it runs N ordinary convolutions over the whole batch on x * (mod+1) and mixes their outputs per sample.
 */
export function adaptiveConv2dMod(
  x: tf.Tensor4D,
  weights: tf.Tensor,
  mod: tf.Tensor2D,
  kernelMod?: tf.Tensor2D | null,
  opts: AdaptiveConvOptions = {},
): tf.Tensor4D {
  return tf.tidy(() => {
    const demod = opts.demod ?? true;
    const eps = opts.eps ?? 1e-8;
    const { m, a, n } = prepMods(x, weights, mod, kernelMod);
    const [, k1, k2, cin, cout] = weights.shape;
    const [b] = x.shape;
    const xs = tf.mul(x, tf.reshape(tf.add(m, 1), [b, 1, 1, cin])) as tf.Tensor4D;
    let y: tf.Tensor;
    if (n === 1) {
      y = tf.conv2d(xs, tf.reshape(weights, [k1, k2, cin, cout]) as tf.Tensor4D, 1, 'same');
    } else {
      // one convolution per kernel (contiguous slices of the weights: no 5-D transpose, slow on wasm), mixed per sample
      const terms: tf.Tensor[] = [];
      for (let i = 0; i < n; i++) {
        const wi = tf.reshape(tf.slice(weights, [i, 0, 0, 0, 0], [1, -1, -1, -1, -1]), [k1, k2, cin, cout]) as tf.Tensor4D;
        const ai = tf.reshape(tf.slice(a!, [0, i], [b, 1]), [b, 1, 1, 1]);
        terms.push(tf.mul(tf.conv2d(xs, wi, 1, 'same'), ai));
      }
      y = tf.addN(terms);
    }
    if (demod) {
      let w: tf.Tensor = a
        ? tf.reshape(tf.matMul(a, tf.reshape(weights, [n, -1])), [b, k1, k2, cin, cout])
        : tf.reshape(weights, [1, k1, k2, cin, cout]);
      w = tf.mul(w, tf.reshape(tf.add(m, 1), [b, 1, 1, cin, 1]));
      const d = tf.rsqrt(tf.maximum(tf.sum(tf.square(w), [1, 2, 3]), eps)); // [B,out]
      y = tf.mul(y, tf.reshape(d, [b, 1, 1, cout]));
    }
    return y as tf.Tensor4D;
  });
}

/** Reference path of adaptiveConv2dMod: builds each sample's kernel and convolves sample by sample (as the grouped conv). */
export function adaptiveConv2dModReference(
  x: tf.Tensor4D,
  weights: tf.Tensor,
  mod: tf.Tensor2D,
  kernelMod?: tf.Tensor2D | null,
  opts: AdaptiveConvOptions = {},
): tf.Tensor4D {
  return tf.tidy(() => {
    const { m, a } = prepMods(x, weights, mod, kernelMod);
    const w = sampleKernels(weights, a, m, opts.demod ?? true, opts.eps ?? 1e-8);
    const outs: tf.Tensor4D[] = [];
    const [, k1, k2, cin, cout] = weights.shape;
    for (let i = 0; i < x.shape[0]; i++) {
      const xi = tf.slice(x, [i, 0, 0, 0], [1, -1, -1, -1]);
      const wi = tf.reshape(tf.slice(w, [i, 0, 0, 0, 0], [1, -1, -1, -1, -1]), [k1, k2, cin, cout]) as tf.Tensor4D;
      outs.push(tf.conv2d(xi, wi, 1, 'same'));
    }
    return tf.concat(outs, 0);
  });
}

/** PyTorch nn.PixelShuffle(r) on NHWC: input channel c*r*r + i*r + j goes to output pixel (r*h+i, r*w+j), channel c. */
export function pixelShuffle(x: tf.Tensor4D, r = 2): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, c4] = x.shape;
    if (c4 % (r * r) !== 0) throw new Error(`pixelShuffle: ${c4} channels are not divisible by ${r * r}`);
    const c = c4 / (r * r);
    const t = tf.transpose(tf.reshape(x, [b, h, w, c, r, r]), [0, 1, 4, 2, 5, 3]);
    return tf.reshape(t, [b, h * r, w * r, c]) as tf.Tensor4D;
  });
}

/** Inverse of pixelShuffle (einops 'b c (h s1) (w s2) -> b (c s1 s2) h w' on NHWC). */
export function pixelUnshuffle(x: tf.Tensor4D, r = 2): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, c] = x.shape;
    if (h % r !== 0 || w % r !== 0) throw new Error(`pixelUnshuffle: ${h}x${w} is not divisible by ${r}`);
    const t = tf.transpose(tf.reshape(x, [b, h / r, r, w / r, r, c]), [0, 1, 3, 5, 2, 4]);
    return tf.reshape(t, [b, h / r, w / r, c * r * r]) as tf.Tensor4D;
  });
}

function blurAxis(x: tf.Tensor4D, axis: 1 | 2): tf.Tensor4D {
  // reflect pad by 1 along `axis`, then (x[i-1] + 2 x[i] + x[i+1]) / 4
  const n = x.shape[axis];
  if (n < 2) throw new Error(`blur: reflect padding needs a size of at least 2, found ${n}`);
  const begin = [0, 0, 0, 0];
  const size = [-1, -1, -1, -1];
  const sl = (start: number, len: number) => {
    const bb = begin.slice();
    const ss = size.slice();
    bb[axis] = start;
    ss[axis] = len;
    return tf.slice(x, bb, ss);
  };
  const padded = tf.concat([sl(1, 1), x, sl(n - 2, 1)], axis);
  const ps = (start: number) => {
    const bb = begin.slice();
    const ss = size.slice();
    bb[axis] = start;
    ss[axis] = n;
    return tf.slice(padded, bb, ss);
  };
  return tf.mul(tf.add(tf.add(ps(0), tf.mul(ps(1), 2)), ps(2)), 0.25) as tf.Tensor4D;
}

/** lucidrains Blur: kornia filter2d with the normalised [1,2,1] x [1,2,1] kernel and 'reflect' border, NHWC (separable). */
export function blur121(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => blurAxis(blurAxis(x, 1), 2));
}

/** Reference path of blur121: mirror pad + depthwise 3x3 conv with the normalised outer([1,2,1],[1,2,1]). */
export function blur121Reference(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const c = x.shape[3];
    const f = [1, 2, 1];
    const k: number[] = [];
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let ch = 0; ch < c; ch++) k.push((f[i] * f[j]) / 16);
    const p = tf.mirrorPad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], 'reflect');
    return tf.depthwiseConv2d(p, tf.tensor4d(k, [3, 3, c, 1]), 1, 'valid');
  });
}

/** Row-interpolation matrix [outSize, inSize] of PyTorch bilinear resizing (align_corners=False, no antialias). */
export function bilinearMatrix(inSize: number, outSize: number): tf.Tensor2D {
  const m = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const src = Math.max((o + 0.5) * scale - 0.5, 0);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    const l1 = src - i0;
    m[o * inSize + i0] += 1 - l1;
    m[o * inSize + i1] += l1;
  }
  return tf.tensor2d(m, [outSize, inSize]);
}

/**
 * F.interpolate(x, size, mode='bilinear', align_corners=False) on NHWC, as two matrix products (so it is
 * twice differentiable, unlike ResizeBilinearGrad). Matches tf.image.resizeBilinear(halfPixelCenters=true).
 */
export function resizeBilinearMatmul(x: tf.Tensor4D, outH: number, outW: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, c] = x.shape;
    if (h === outH && w === outW) return tf.clone(x);
    const ah = tf.tile(tf.expandDims(bilinearMatrix(h, outH), 0), [b, 1, 1]) as tf.Tensor3D;
    const y1 = tf.matMul(ah, tf.reshape(x, [b, h, w * c]) as tf.Tensor3D); // [b, outH, w*c]
    const aw = tf.tile(tf.expandDims(bilinearMatrix(w, outW), 0), [b * outH, 1, 1]) as tf.Tensor3D;
    const y2 = tf.matMul(aw, tf.reshape(y1, [b * outH, w, c]) as tf.Tensor3D); // [b*outH, outW, c]
    return tf.reshape(y2, [b, outH, outW, c]) as tf.Tensor4D;
  });
}

/** Exact (erf) GELU, 0.5 x (1 + erf(x / sqrt 2)) (Hendrycks & Gimpel 2016, eq. 1): torch nn.GELU() default. */
export function geluErf(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)));
}

/** F.normalize(x, dim=-1): x / max(||x||_2, eps) over the last axis. */
export function l2NormalizeLast(x: tf.Tensor, eps = 1e-12): tf.Tensor {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.sqrt(tf.sum(tf.square(x), -1, true)), eps)));
}

/** Prepend learned null key/value rows nullKv [2,H,D] to k, v [B,H,L,D] (attend-to-nothing slot). */
export function prependNullKv(k: tf.Tensor4D, v: tf.Tensor4D, nullKv: tf.Tensor): [tf.Tensor4D, tf.Tensor4D] {
  const [b, h, , d] = k.shape;
  if (nullKv.shape[0] !== 2 || nullKv.shape[1] !== h || nullKv.shape[2] !== d) {
    throw new Error(`null_kv: expected [2,${h},${d}], found ${JSON.stringify(nullKv.shape)}`);
  }
  const nk = tf.tile(tf.reshape(tf.slice(nullKv, [0, 0, 0], [1, h, d]), [1, h, 1, d]), [b, 1, 1, 1]);
  const nv = tf.tile(tf.reshape(tf.slice(nullKv, [1, 0, 0], [1, h, d]), [1, h, 1, d]), [b, 1, 1, 1]);
  return [tf.concat([nk, k], 2) as tf.Tensor4D, tf.concat([nv, v], 2) as tf.Tensor4D];
}

/**
 * Attention with negative squared L2 distance logits, softmax(-(|q|^2 + |k|^2 - 2 q.k) * scale) v
 * (Kim et al. 2021, "The Lipschitz constant of self-attention", eq. 4; GigaGAN sec. 3.2). q,k,v [B,H,L,D].
 */
export function l2DistanceAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale?: number): tf.Tensor4D {
  return tf.tidy(() => {
    const s = scale ?? 1 / Math.sqrt(q.shape[3]);
    const q2 = tf.sum(tf.square(q), -1, true); // [B,H,Lq,1]
    const k2 = tf.expandDims(tf.sum(tf.square(k), -1), 2); // [B,H,1,Lk]
    const d2 = tf.sub(tf.add(q2, k2), tf.mul(tf.matMul(q, k, false, true), 2));
    return tf.matMul(tf.softmax(tf.mul(tf.neg(d2), s), -1), v) as tf.Tensor4D;
  });
}

/**
 * Linear attention of lucidrains' U-Net (Shen et al. 2021, "Efficient attention", eq. 5): softmax of q over
 * features, of k over positions, out = q (k^T v) * scale. q, k, v [B,H,N,D] (positions-first, like
 * scaledDotProductAttention); returns [B,H,N,D]. No transposes (they are slow on wasm at 256 px).
 */
export function efficientLinearAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale?: number): tf.Tensor4D {
  return tf.tidy(() => {
    const s = scale ?? 1 / Math.sqrt(q.shape[3]);
    const qs = tf.mul(tf.softmax(q, -1), s); // over features
    // softmax over positions (axis 2), written out because tf.softmax only reduces the last axis
    const ke = tf.exp(tf.sub(k, softmaxShift(k, 2)));
    const ks = tf.div(ke, tf.sum(ke, 2, true));
    const context = tf.matMul(ks, v, true, false); // [B,H,D,E]
    return tf.matMul(qs, context) as tf.Tensor4D; // [B,H,N,E]
  });
}
