/**
 * Convolution backward kernels composed from forward ops every backend has (conv2d, depthwiseConv2d, matMul,
 * pad, slice, reshape, transpose). NHWC; the kernel wrappers in register.ts transpose NCHW in and out.
 *
 * Notation: x [N,H,W,Ci], filter [KH,KW,Ci,Co], dy [N,OH,OW,Co], stride (sh,sw), padding (top,left) from
 * computeConv2DInfo, and the forward pass y[oh,ow] = sum_{kh,kw} xpad[oh*sh+kh, ow*sw+kw] . w[kh,kw].
 */
import * as tf from '@tensorflow/tfjs';
import { convInfo, Pad, phaseMerge, phaseSplit, window, window2d } from './util';

export interface ConvGeometry {
  strides: number | [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/**
 * The filter's taps per output phase: taps[rh][rw] = filter[rh + m*sh, rw + k*sw] for m < Mh = ceil((KH - rh)/sh),
 * k < Mw, as [Mh, Mw, ...]; null where a phase has no taps (kernel smaller than the stride).
 */
function filterPhases(filter: tf.Tensor4D, sh: number, sw: number): Array<Array<tf.Tensor4D | null>> {
  const [KH, KW, a, b] = filter.shape;
  if (sh === 1 && sw === 1) return [[filter]];
  const KHp = Math.ceil(KH / sh) * sh;
  const KWp = Math.ceil(KW / sw) * sw;
  const padded = tf.reshape(window(window(filter, 0, 0, KHp), 1, 0, KWp), [1, KHp, KWp, a * b]);
  const ph = phaseSplit(padded, sh, sw);
  return ph.map((row, rh) => row.map((t, rw) => {
    const Mh = Math.ceil((KH - rh) / sh);
    const Mw = Math.ceil((KW - rw) / sw);
    if (Mh <= 0 || Mw <= 0) return null;
    return tf.reshape(tf.slice(t, [0, 0, 0, 0], [1, Mh, Mw, a * b]), [Mh, Mw, a, b]) as tf.Tensor4D;
  }));
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
  const parts = filterPhases(filter, sh, sw).map((row) => row.map((taps) => {
    if (taps === null) return tf.zeros([n, Qh, Qw, cOut]) as tf.Tensor4D;
    const [Mh, Mw] = taps.shape;
    const dyWin = window2d(dy, q0h - (Mh - 1), Qh + Mh - 1, q0w - (Mw - 1), Qw + Mw - 1);
    return corr(dyWin, tf.reverse(taps, [0, 1]));
  }));
  return window2d(phaseMerge(parts), top - q0h * sh, H, left - q0w * sw, W);
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
 * x as the per-tap patches of the forward pass: returns (kh, kw) -> patch with
 * patch[n, oh, ow, c] = xpad[n, oh*sh + kh, ow*sw + kw, c] (as [N, OH, OW, C], or as [C, N*OH*OW] when
 * `channelsFirst`, ready to be a GEMM operand). One phase split, then one rank-4 slice per tap.
 */
export function tapReader(x: tf.Tensor4D, info: tf.backend_util.Conv2DInfo, KH: number, KW: number, channelsFirst = false) {
  const { strideHeight: sh, strideWidth: sw, outHeight: OH, outWidth: OW } = info;
  const { top, left } = info.padInfo;
  const [n, , , c] = x.shape;
  const Qh = OH + Math.floor((KH - 1) / sh);
  const Qw = OW + Math.floor((KW - 1) / sw);
  let xw: tf.Tensor = window2d(x, -top, Qh * sh, -left, Qw * sw);
  if (channelsFirst) xw = tf.reshape(tf.transpose(xw, [3, 0, 1, 2]), [c * n, Qh * sh, Qw * sw, 1]);
  const ph = phaseSplit(xw, sh, sw);
  return (kh: number, kw: number): tf.Tensor => {
    const p = ph[kh % sh][kw % sw];
    const [A, , , D] = p.shape;
    const t = tf.slice(p, [0, Math.floor(kh / sh), Math.floor(kw / sw), 0], [A, OH, OW, D]);
    return channelsFirst ? tf.reshape(t, [c, n * OH * OW]) : t;
  };
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
    const [KH, KW] = filterShape;
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
    const [KH, KW, , co] = filterShape;
    const rowsN = info.batchSize * info.outHeight * info.outWidth;
    const dy2 = tf.reshape(dy, [rowsN, co]) as tf.Tensor2D;
    const tap = tapReader(x, info, KH, KW, true);
    const out: tf.Tensor2D[] = [];
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++) out.push(tf.matMul(tap(kh, kw) as tf.Tensor2D, dy2)); // [ci, rows] x [rows, co]
    }
    return tf.reshape(out.length === 1 ? out[0] : tf.stack(out), filterShape) as tf.Tensor4D;
  });
}

/**
 * The Conv2DBackpropFilter kernel: the one-conv form, except for 1x1 filters, where the per-tap form is a single
 * GEMM. Measured on wasm (bench/notes-kernels.md): the one-conv form is 3-15x faster than per-tap GEMMs for
 * 3x3 / 4x4 filters; per-tap wins for 1x1. Both forms are tested against the cpu kernel.
 */
export function conv2dBackpropFilter(
  x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number], g: ConvGeometry,
): tf.Tensor4D {
  return filterShape[0] * filterShape[1] === 1
    ? conv2dBackpropFilterByTaps(x, dy, filterShape, g)
    : conv2dBackpropFilterByConv(x, dy, filterShape, g);
}

/**
 * dL/dfilter of depthwiseConv2d per tap: dW[kh,kw,c,m] = sum_{n,oh,ow} patch(kh,kw)[n,oh,ow,c] dy[n,oh,ow,c*M+m].
 * Reference path.
 */
export function depthwiseConv2dBackpropFilterByTaps(
  x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number], g: ConvGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = convInfo(x.shape, filterShape, g.strides, g.pad, g.dimRoundingMode, true);
    checkDy(dy, info, 'DepthwiseConv2dNativeBackpropFilter');
    const [KH, KW, C, M] = filterShape;
    const rowsN = info.batchSize * info.outHeight * info.outWidth;
    // Per tap an elementwise product summed over rows (depthwise has no channel contraction to give a GEMM).
    // Channels-last taps: wasm slices rank-4 tensors row by row, so a channels-first layout (innermost dim = W)
    // made the slices ~10x slower than the axis-0 sums it saved.
    const tap = tapReader(x, info, KH, KW); // (kh, kw) -> [N, OH, OW, C]
    const dy3 = tf.reshape(dy, [rowsN, C, M]);
    const out: tf.Tensor[] = [];
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++) out.push(tf.sum(tf.mul(tf.reshape(tap(kh, kw), [rowsN, C, 1]), dy3), 0)); // [C, M]
    }
    return tf.reshape(out.length === 1 ? out[0] : tf.stack(out), filterShape) as tf.Tensor4D;
  });
}

/**
 * dL/dfilter of depthwiseConv2d as ONE depthwise correlation (the depthwise analogue of conv2dBackpropFilterByConv):
 * channels <- (C, N), filter <- dy dilated by the stride, then a sum over N.
 */
export function depthwiseConv2dBackpropFilterByConv(
  x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number], g: ConvGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = convInfo(x.shape, filterShape, g.strides, g.pad, g.dimRoundingMode, true);
    checkDy(dy, info, 'DepthwiseConv2dNativeBackpropFilter');
    const [KH, KW, C, M] = filterShape;
    const { strideHeight: sh, strideWidth: sw, outHeight: OH, outWidth: OW } = info;
    const N = x.shape[0];
    const rows = (OH - 1) * sh + KH;
    const cols = (OW - 1) * sw + KW;
    const xw = window2d(x, -info.padInfo.top, rows, -info.padInfo.left, cols);
    const xt = tf.reshape(tf.transpose(xw, [1, 2, 3, 0]), [1, rows, cols, C * N]) as tf.Tensor4D; // channel (c, n)
    let dyt: tf.Tensor = tf.transpose(dy, [1, 2, 3, 0]); // [OH, OW, C*M, N]
    if (M > 1) dyt = tf.transpose(tf.reshape(dyt, [OH * OW * C, M, N]), [0, 2, 1]); // -> (c, n, m)
    const f = tf.reshape(dyt, [OH, OW, C * N, M]) as tf.Tensor4D;
    const r = tf.depthwiseConv2d(xt, f, 1, 'valid', 'NHWC', [sh, sw]); // [1, KH, KW, C*N*M]
    return tf.reshape(tf.sum(tf.reshape(r, [KH * KW * C, N, M]), 1), filterShape) as tf.Tensor4D;
  });
}

/** The DepthwiseConv2dNativeBackpropFilter kernel (the one-conv form; see bench/notes-kernels.md). */
export function depthwiseConv2dBackpropFilter(
  x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number], g: ConvGeometry,
): tf.Tensor4D {
  return depthwiseConv2dBackpropFilterByConv(x, dy, filterShape, g);
}
