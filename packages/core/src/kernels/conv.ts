/**
 * Convolution backward kernels composed from forward ops every backend has (conv2d, depthwiseConv2d, matMul,
 * pad, slice, reshape, transpose). NHWC; the kernel wrappers in register.ts transpose NCHW in and out.
 *
 * Notation: x [N,H,W,Ci], filter [KH,KW,Ci,Co], dy [N,OH,OW,Co], stride (sh,sw), padding (top,left) from
 * computeConv2DInfo, and the forward pass y[oh,ow] = sum_{kh,kw} xpad[oh*sh+kh, ow*sw+kw] . w[kh,kw].
 */
import * as tf from '@tensorflow/tfjs';
import { convInfo, Pad, window, window2d } from './util';

export interface ConvGeometry {
  strides: number | [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/**
 * Split the spatial axes of an NHWC tensor into stride phases: returns a view [N, Q, s_h, P, s_w, C] of the
 * window rows [h0, h0 + Q*s_h) and cols [w0, w0 + P*s_w) (zero outside), so that
 * phases[n, q, a, p, b, c] = t[n, h0 + q*s_h + a, w0 + p*s_w + b, c]. Strided access without stridedSlice.
 */
function phases(t: tf.Tensor4D, h0: number, Q: number, sh: number, w0: number, P: number, sw: number): tf.Tensor {
  const [n, , , c] = t.shape;
  const win = window2d(t, h0, Q * sh, w0, P * sw);
  return tf.reshape(win, [n, Q, sh, P, sw, c]);
}

/** filter[r + m*s] for m = 0..M-1 along both spatial axes (M = ceil((K - r)/s)), as [Mh, Mw, ...rest]. */
function filterPhase(filter: tf.Tensor4D, rh: number, sh: number, rw: number, sw: number): tf.Tensor4D | null {
  const [KH, KW, a, b] = filter.shape;
  const Mh = Math.ceil((KH - rh) / sh);
  const Mw = Math.ceil((KW - rw) / sw);
  if (Mh <= 0 || Mw <= 0) return null;
  if (sh === 1 && sw === 1) return filter;
  const KHp = Math.ceil(KH / sh) * sh;
  const KWp = Math.ceil(KW / sw) * sw;
  const f6 = tf.reshape(window(window(filter, 0, 0, KHp), 1, 0, KWp), [KHp / sh, sh, KWp / sw, sw, a, b]);
  return tf.reshape(tf.slice(f6, [0, rh, 0, rw, 0, 0], [Mh, 1, Mw, 1, a, b]), [Mh, Mw, a, b]);
}

/**
 * The transpose of a strided correlation, computed as s_h*s_w stride-1 correlations (one per output phase,
 * "sub-pixel" decomposition) so that no multiply is spent on the zeros a dilated-dy formulation would insert.
 * For every phase (rh, rw): out[q*sh + rh - top] = sum_m dy[q - m] . w[rh + m*sh], i.e. a valid correlation of
 * the dy window [q0 - (Mh-1), q1) with the phase's filter taps reversed. `corr(dyWindow, tapsReversed)` does the
 * per-phase correlation (conv2d for dense filters, depthwise + channel sum for depthwise ones).
 */
function transposedCorrelation(
  dy: tf.Tensor4D, filter: tf.Tensor4D, outShape: [number, number, number, number],
  info: tf.backend_util.Conv2DInfo,
  corr: (dyWin: tf.Tensor4D, taps: tf.Tensor4D) => tf.Tensor4D,
): tf.Tensor4D {
  const [n, H, W, cOut] = outShape;
  const sh = info.strideHeight;
  const sw = info.strideWidth;
  const { top, left } = info.padInfo;
  const q0h = Math.floor(top / sh);
  const Qh = Math.ceil((top + H) / sh) - q0h;
  const q0w = Math.floor(left / sw);
  const Qw = Math.ceil((left + W) / sw) - q0w;
  const parts: tf.Tensor4D[] = [];
  for (let rh = 0; rh < sh; rh++) {
    for (let rw = 0; rw < sw; rw++) {
      const taps = filterPhase(filter, rh, sh, rw, sw);
      if (taps === null) {
        parts.push(tf.zeros([n, Qh, Qw, cOut]));
        continue;
      }
      const [Mh, Mw] = taps.shape;
      const dyWin = window2d(dy, q0h - (Mh - 1), Qh + Mh - 1, q0w - (Mw - 1), Qw + Mw - 1);
      parts.push(corr(dyWin, tf.reverse(taps, [0, 1])));
    }
  }
  let full: tf.Tensor4D;
  if (parts.length === 1) {
    full = parts[0];
  } else {
    const st = tf.reshape(tf.stack(parts), [sh, sw, n, Qh, Qw, cOut]);
    full = tf.reshape(tf.transpose(st, [2, 3, 0, 4, 1, 5]), [n, Qh * sh, Qw * sw, cOut]);
  }
  return window2d(full, top - q0h * sh, H, left - q0w * sw, W);
}

/** dL/dx of conv2d: Conv2DBackpropInput (also conv2dTranspose's forward pass). */
export function conv2dBackpropInput(
  dy: tf.Tensor4D, filter: tf.Tensor4D, inputShape: [number, number, number, number], g: ConvGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = convInfo(inputShape, filter.shape, g.strides, g.pad, g.dimRoundingMode, false);
    checkDy(dy, info, 'Conv2DBackpropInput');
    const ci = filter.shape[2];
    return transposedCorrelation(dy, filter, [inputShape[0], inputShape[1], inputShape[2], ci], info,
      (dyWin, taps) => tf.conv2d(dyWin, tf.transpose(taps, [0, 1, 3, 2]) as tf.Tensor4D, 1, 'valid'));
  });
}

/** dL/dx of depthwiseConv2d (filter [KH,KW,C,M], dy channels C*M). */
export function depthwiseConv2dBackpropInput(
  dy: tf.Tensor4D, filter: tf.Tensor4D, inputShape: [number, number, number, number], g: ConvGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = convInfo(inputShape, filter.shape, g.strides, g.pad, g.dimRoundingMode, true);
    checkDy(dy, info, 'DepthwiseConv2dNativeBackpropInput');
    const [, , C, M] = filter.shape;
    return transposedCorrelation(dy, filter, [inputShape[0], inputShape[1], inputShape[2], C], info, (dyWin, taps) => {
      const [Mh, Mw] = taps.shape;
      const r = tf.depthwiseConv2d(dyWin, tf.reshape(taps, [Mh, Mw, C * M, 1]) as tf.Tensor4D, 1, 'valid');
      if (M === 1) return r;
      const [n, h, w] = r.shape;
      return tf.sum(tf.reshape(r, [n, h, w, C, M]), 4) as tf.Tensor4D;
    });
  });
}

/**
 * x as the per-tap patches of the forward pass: returns (kh, kw) -> [N, OH, OW, C] with
 * patch[n, oh, ow, c] = xpad[n, oh*sh + kh, ow*sw + kw, c].
 */
function tapReader(x: tf.Tensor4D, info: tf.backend_util.Conv2DInfo, KH: number, KW: number) {
  const { strideHeight: sh, strideWidth: sw, outHeight: OH, outWidth: OW } = info;
  const { top, left } = info.padInfo;
  const Qh = OH + Math.floor((KH - 1) / sh);
  const Qw = OW + Math.floor((KW - 1) / sw);
  const x6 = phases(x, -top, Qh, sh, -left, Qw, sw);
  const [n, , , , , c] = x6.shape;
  return (kh: number, kw: number): tf.Tensor4D => tf.reshape(
    tf.slice(x6, [0, Math.floor(kh / sh), kh % sh, Math.floor(kw / sw), kw % sw, 0], [n, OH, 1, OW, 1, c]),
    [n, OH, OW, c]);
}

function checkDy(dy: tf.Tensor4D, info: tf.backend_util.Conv2DInfo, kernel: string): void {
  const want = [info.batchSize, info.outHeight, info.outWidth, info.outChannels];
  if (dy.rank !== 4 || dy.shape.some((d, i) => d !== want[i])) {
    throw new Error(`${kernel}: expected dy of shape [${want}] for this geometry, got [${dy.shape}]`);
  }
}

/**
 * dL/dfilter of conv2d as ONE stride-1 correlation: batch <- Ci, channels <- N, filter <- dy dilated by the stride
 * (dW[kh,kw,ci,co] = sum_{n,oh,ow} xpad[n, oh*sh+kh, ow*sw+kw, ci] dy[n,oh,ow,co]). Reference path.
 */
export function conv2dBackpropFilterByConv(
  x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number], g: ConvGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = convInfo(x.shape, filterShape, g.strides, g.pad, g.dimRoundingMode, false);
    checkDy(dy, info, 'Conv2DBackpropFilter');
    const [KH, KW, ci, co] = filterShape;
    const { strideHeight: sh, strideWidth: sw, outHeight: OH, outWidth: OW } = info;
    const rows = (OH - 1) * sh + KH;
    const cols = (OW - 1) * sw + KW;
    const xw = window2d(x, -info.padInfo.top, rows, -info.padInfo.left, cols);
    const xt = tf.transpose(xw, [3, 1, 2, 0]) as tf.Tensor4D; // [Ci, rows, cols, N]
    const dyt = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [OH, OW, N, Co]
    const r = tf.conv2d(xt, dyt, 1, 'valid', 'NHWC', [sh, sw]); // [Ci, KH, KW, Co]
    return tf.transpose(r, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/**
 * dL/dfilter of conv2d as one GEMM per filter tap: dW[kh,kw] = patch(kh,kw)^T . dy over N*OH*OW rows.
 * The patches are read through the stride-phase view, so there is no im2col copy of x and no strided slice.
 */
export function conv2dBackpropFilterByTaps(
  x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number], g: ConvGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = convInfo(x.shape, filterShape, g.strides, g.pad, g.dimRoundingMode, false);
    checkDy(dy, info, 'Conv2DBackpropFilter');
    const [KH, KW, ci, co] = filterShape;
    const rowsN = info.batchSize * info.outHeight * info.outWidth;
    const dy2 = tf.reshape(dy, [rowsN, co]) as tf.Tensor2D;
    const tap = tapReader(x, info, KH, KW);
    const out: tf.Tensor2D[] = [];
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++) {
        out.push(tf.matMul(tf.reshape(tap(kh, kw), [rowsN, ci]) as tf.Tensor2D, dy2, true, false));
      }
    }
    return tf.reshape(out.length === 1 ? out[0] : tf.stack(out), filterShape) as tf.Tensor4D;
  });
}

/**
 * The Conv2DBackpropFilter kernel: the per-tap GEMM form, which measured faster on wasm for every shape in
 * bench/kernels.ts except tiny-batch large-kernel ones; both forms are tested against the cpu kernel.
 */
export function conv2dBackpropFilter(
  x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number], g: ConvGeometry,
): tf.Tensor4D {
  return conv2dBackpropFilterByTaps(x, dy, filterShape, g);
}

/** dL/dfilter of depthwiseConv2d: dW[kh,kw,c,m] = sum_{n,oh,ow} patch(kh,kw)[n,oh,ow,c] dy[n,oh,ow,c*M+m]. */
export function depthwiseConv2dBackpropFilter(
  x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number], g: ConvGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = convInfo(x.shape, filterShape, g.strides, g.pad, g.dimRoundingMode, true);
    checkDy(dy, info, 'DepthwiseConv2dNativeBackpropFilter');
    const [KH, KW, C, M] = filterShape;
    const rowsN = info.batchSize * info.outHeight * info.outWidth;
    // Batched over channels: [C, T, rows] x [C, rows, M] -> [C, T, M], T = KH*KW taps.
    const tap = tapReader(x, info, KH, KW);
    const cols: tf.Tensor[] = [];
    for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) cols.push(tf.reshape(tap(kh, kw), [rowsN, C]));
    const xcol = tf.transpose(tf.stack(cols, 2), [1, 2, 0]) as tf.Tensor3D; // [C, T, rows]
    const dyc = tf.transpose(tf.reshape(dy, [rowsN, C, M]), [1, 0, 2]) as tf.Tensor3D; // [C, rows, M]
    const r = tf.matMul(xcol, dyc); // [C, T, M]
    return tf.reshape(tf.transpose(r, [1, 0, 2]), filterShape) as tf.Tensor4D;
  });
}
