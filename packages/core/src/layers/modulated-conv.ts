/**
 * Convolution with FIR up/downsampling (StyleGAN2 torch_utils/ops/conv2d_resample.py) and modulated convolution
 * with demodulation (StyleGAN2 `modulated_conv2d`), channels-last: x [N, H, W, I], weights HWIO [kh, kw, I, O].
 *
 * tfjs has no grouped convolution, so the default ('scale') path of the modulated conv scales the input by the
 * styles, runs one shared convolution and scales the output by the demodulation coefficients (the official
 * non-fused path, mathematically identical to the fused one). The 'fused' path builds each sample's modulated
 * weight and convolves sample by sample (the official fused grouped conv); the two are tested against each other.
 */
import * as tf from '@tensorflow/tfjs';
import { filterSize, PaddingSpec, parsePadding, upfirdn2d } from '../ops/upfirdn2d';

export interface Conv2dResampleOptions {
  up?: number;
  down?: number;
  /** Padding with respect to the upsampled image: number, [x, y] or [x0, x1, y0, y1]. */
  padding?: PaddingSpec;
  /** true (default) = correlation (as torch conv2d / tf.conv2d), false = true convolution (weight flipped). */
  flipWeight?: boolean;
  flipFilter?: boolean;
}

function flipHW(w: tf.Tensor4D): tf.Tensor4D {
  return tf.reverse(w, [0, 1]);
}

/** conv2d with correlation semantics unless flipWeight = false; optional stride and symmetric padding [py, px]. */
function convWrapper(x: tf.Tensor4D, w: tf.Tensor4D, flipWeight: boolean, stride = 1, pad: [number, number] = [0, 0]): tf.Tensor4D {
  const [kh, kw] = w.shape;
  const ww = !flipWeight && (kh > 1 || kw > 1) ? flipHW(w) : w;
  let xx = x;
  if (pad[0] > 0 || pad[1] > 0) xx = tf.pad(x, [[0, 0], [pad[0], pad[0]], [pad[1], pad[1]], [0, 0]]);
  return tf.conv2d(xx, ww, stride, 'valid');
}

/**
 * Transposed convolution as torch conv_transpose2d(x, w_t, stride, padding=[py, px]) where our HWIO weight w
 * [kh, kw, I, O] plays the torch weight [I, O, kh, kw] (scatter-add of w[ky, kx] at s*y + ky - pad).
 * flipWeight = false flips the kernel first (as the official wrapper does).
 */
function convTransposeWrapper(x: tf.Tensor4D, w: tf.Tensor4D, flipWeight: boolean, stride: number, pad: [number, number]): tf.Tensor4D {
  const [kh, kw, , o] = w.shape;
  const ww = !flipWeight && (kh > 1 || kw > 1) ? flipHW(w) : w;
  const [n, h, wd] = x.shape;
  const outH = (h - 1) * stride + kh;
  const outW = (wd - 1) * stride + kw;
  // tf filter layout for conv2dTranspose is [kh, kw, outChannels, inChannels].
  let y = tf.conv2dTranspose(x, tf.transpose(ww, [0, 1, 3, 2]) as tf.Tensor4D, [n, outH, outW, o], stride, 'valid');
  if (pad[0] > 0 || pad[1] > 0) y = tf.slice(y, [0, pad[0], pad[1], 0], [-1, outH - 2 * pad[0], outW - 2 * pad[1], -1]);
  return y;
}

/**
 * conv2d_resample: 2-D convolution with optional FIR up/downsampling, padding applied once (StyleGAN2, Karras et al.
 * 2020, appendix B.2 "fused upsample"). f: a filter from setupFilter (or null). Same branch structure as official.
 */
export function conv2dResample(x: tf.Tensor4D, w: tf.Tensor4D, f: tf.Tensor | null, opts: Conv2dResampleOptions = {}): tf.Tensor4D {
  const up = opts.up ?? 1;
  const down = opts.down ?? 1;
  const flipWeight = opts.flipWeight ?? true;
  const flipFilter = opts.flipFilter ?? false;
  if (!Number.isInteger(up) || up < 1 || !Number.isInteger(down) || down < 1) {
    throw new Error(`conv2dResample: up/down must be integers >= 1, got up=${up} down=${down}`);
  }
  if (x.rank !== 4 || w.rank !== 4 || x.shape[3] !== w.shape[2]) {
    throw new Error(`conv2dResample: x [N,H,W,${w.shape[2]}] and weight [kh,kw,I,O] expected, got x [${x.shape}] and weight [${w.shape}]`);
  }
  const [kh, kw] = w.shape;
  const [fw, fh] = filterSize(f);
  let [px0, px1, py0, py1] = parsePadding(opts.padding ?? 0);
  if (up > 1) {
    px0 += Math.floor((fw + up - 1) / 2);
    px1 += Math.floor((fw - up) / 2);
    py0 += Math.floor((fh + up - 1) / 2);
    py1 += Math.floor((fh - up) / 2);
  }
  if (down > 1) {
    px0 += Math.floor((fw - down + 1) / 2);
    px1 += Math.floor((fw - down) / 2);
    py0 += Math.floor((fh - down + 1) / 2);
    py1 += Math.floor((fh - down) / 2);
  }
  return tf.tidy(() => {
    if (kw === 1 && kh === 1 && down > 1 && up === 1) {
      const y = upfirdn2d(x, f, { down, padding: [px0, px1, py0, py1], flipFilter });
      return convWrapper(y, w, flipWeight);
    }
    if (kw === 1 && kh === 1 && up > 1 && down === 1) {
      const y = convWrapper(x, w, flipWeight);
      return upfirdn2d(y, f, { up, padding: [px0, px1, py0, py1], gain: up * up, flipFilter });
    }
    if (down > 1 && up === 1) {
      const y = upfirdn2d(x, f, { padding: [px0, px1, py0, py1], flipFilter });
      return convWrapper(y, w, flipWeight, down);
    }
    if (up > 1) {
      px0 -= kw - 1;
      px1 -= kw - up;
      py0 -= kh - 1;
      py1 -= kh - up;
      const pxt = Math.max(Math.min(-px0, -px1), 0);
      const pyt = Math.max(Math.min(-py0, -py1), 0);
      let y = convTransposeWrapper(x, w, !flipWeight, up, [pyt, pxt]);
      y = upfirdn2d(y, f, { padding: [px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain: up * up, flipFilter });
      if (down > 1) y = upfirdn2d(y, f, { down, flipFilter });
      return y;
    }
    if (px0 === px1 && py0 === py1 && px0 >= 0 && py0 >= 0) return convWrapper(x, w, flipWeight, 1, [py0, px0]);
    let y = upfirdn2d(x, up > 1 ? f : null, { up, padding: [px0, px1, py0, py1], gain: up * up, flipFilter });
    y = convWrapper(y, w, flipWeight);
    if (down > 1) y = upfirdn2d(y, f, { down, flipFilter });
    return y;
  });
}

/** Demodulation coefficients d[b, o] = (sum_{i,k} (W[k,i,o] s[b,i])^2 + 1e-8)^(-1/2) (StyleGAN2 eq. 3). */
export function demodCoefficients(weight: tf.Tensor4D, styles: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const [kh, kw, i, o] = weight.shape;
    const wsq = tf.sum(tf.reshape(tf.square(weight), [kh * kw, i, o]), 0) as tf.Tensor2D; // [I, O]
    return tf.rsqrt(tf.add(tf.matMul(tf.square(styles), wsq), 1e-8)) as tf.Tensor2D;
  });
}

export interface ModulatedConvOptions extends Conv2dResampleOptions {
  /** Added after the (de)modulated conv, before any bias: a tensor broadcastable to the output [N, H, W, O]. */
  noise?: tf.Tensor | null;
  /** Demodulate (StyleGAN2 eq. 3); default true. ToRGB layers use false. */
  demodulate?: boolean;
  /** FIR filter for up/downsampling (from setupFilter). */
  resampleFilter?: tf.Tensor | null;
  /** 'scale' (default): input scaling -> shared conv -> output scaling. 'fused': per-sample modulated weights. */
  impl?: 'scale' | 'fused';
}

/**
 * Modulated convolution (StyleGAN2, Karras et al. 2020, eqs. 1-3): w'_{ijk} = s_i w_{ijk}, then demodulation
 * w''_{ijk} = w'_{ijk} / sqrt(sum_{i,k} w'^2 + eps). x [N, H, W, I], weight [kh, kw, I, O], styles [N, I].
 */
export function modulatedConv2d(x: tf.Tensor4D, weight: tf.Tensor4D, styles: tf.Tensor2D, opts: ModulatedConvOptions = {}): tf.Tensor4D {
  const [n, , , cin] = x.shape;
  const [, , wi, wo] = weight.shape;
  if (wi !== cin) throw new Error(`modulatedConv2d: input has ${cin} channels but the weight [${weight.shape}] expects ${wi}`);
  if (styles.rank !== 2 || styles.shape[0] !== n || styles.shape[1] !== cin) {
    throw new Error(`modulatedConv2d: styles must be [${n}, ${cin}], got [${styles.shape}]`);
  }
  const demodulate = opts.demodulate ?? true;
  const f = opts.resampleFilter ?? null;
  const convOpts: Conv2dResampleOptions = { up: opts.up, down: opts.down, padding: opts.padding, flipWeight: opts.flipWeight, flipFilter: opts.flipFilter };
  return tf.tidy(() => {
    const d = demodulate ? demodCoefficients(weight, styles) : null;
    let y: tf.Tensor4D;
    if ((opts.impl ?? 'scale') === 'scale') {
      const xs = tf.mul(x, tf.reshape(styles, [n, 1, 1, cin])) as tf.Tensor4D;
      y = conv2dResample(xs, weight, f, convOpts);
      if (d) y = tf.mul(y, tf.reshape(d, [n, 1, 1, wo]));
    } else {
      const outs: tf.Tensor4D[] = [];
      for (let b = 0; b < n; b++) {
        let wb = tf.mul(weight, tf.reshape(tf.slice(styles, [b, 0], [1, cin]), [1, 1, cin, 1])) as tf.Tensor4D;
        if (d) wb = tf.mul(wb, tf.reshape(tf.slice(d, [b, 0], [1, wo]), [1, 1, 1, wo]));
        outs.push(conv2dResample(tf.slice(x, [b, 0, 0, 0], [1, -1, -1, -1]), wb, f, convOpts));
      }
      y = tf.concat(outs, 0);
    }
    if (opts.noise) y = tf.add(y, opts.noise);
    return y;
  });
}
