/**
 * Helpers shared by the composed kernels: turning kernel inputs into tensors, conv geometry, zero-padded windows.
 */
import * as tf from '@tensorflow/tfjs';

/** A kernel input (Tensor or bare TensorInfo) as a Tensor; the wrapper shares the data and is freed by the caller's tidy. */
export function asTensor<T extends tf.Tensor = tf.Tensor>(t: tf.TensorInfo | tf.Tensor): T {
  if (t instanceof tf.Tensor) return t as T;
  return tf.engine().makeTensorFromTensorInfo(t) as T;
}

export type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

export function pair(v: number | [number, number] | number[] | undefined, name: string): [number, number] {
  if (v == null) return [1, 1];
  if (typeof v === 'number') return [v, v];
  if (v.length !== 2) throw new Error(`${name}: expected a number or a [height, width] pair, got [${v}]`);
  return [v[0], v[1]];
}

export function assertUnitDilations(dilations: number | [number, number] | undefined, kernel: string): void {
  const [dh, dw] = pair(dilations, kernel);
  if (dh !== 1 || dw !== 1) throw new Error(`${kernel}: expected dilations [1, 1] (tfjs gradients support no other), got [${dh}, ${dw}]`);
}

/** Conv geometry (output size, padding) for NHWC shapes, exactly as the built-in kernels compute it. */
export function convInfo(
  xShape: number[], filterShape: number[], strides: number | [number, number], pad: Pad,
  dimRoundingMode: 'floor' | 'round' | 'ceil' | undefined, depthwise: boolean,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number],
    strides, 1, pad, dimRoundingMode, depthwise, 'channelsLast');
}

/**
 * Entries [start, start + len) of `axis` of `t`, with zeros where that range leaves [0, size).
 * Used to pad (negative start / overlong len) and crop (positive start / short len) in one call.
 */
export function window(t: tf.Tensor, axis: number, start: number, len: number): tf.Tensor {
  const size = t.shape[axis];
  if (start === 0 && len === size) return t;
  const a = Math.max(start, 0);
  const b = Math.min(start + len, size);
  if (b <= a) {
    const shape = t.shape.slice();
    shape[axis] = len;
    return tf.zeros(shape, t.dtype);
  }
  let r = t;
  if (a > 0 || b < size) {
    const begin = t.shape.map(() => 0);
    const sz = t.shape.slice();
    begin[axis] = a;
    sz[axis] = b - a;
    r = tf.slice(r, begin, sz);
  }
  const before = a - start;
  const after = start + len - b;
  if (before > 0 || after > 0) {
    const paddings = t.shape.map(() => [0, 0] as [number, number]);
    paddings[axis] = [before, after];
    r = tf.pad(r, paddings);
  }
  return r;
}

/** Rows/cols window of an NHWC tensor: `window` on axes 1 and 2. */
export function window2d(t: tf.Tensor4D, h0: number, hLen: number, w0: number, wLen: number): tf.Tensor4D {
  return window(window(t, 1, h0, hLen), 2, w0, wLen) as tf.Tensor4D;
}

/** NCHW <-> NHWC for the kernels that accept a dataFormat attribute. */
export const toNhwc = (t: tf.Tensor4D): tf.Tensor4D => tf.transpose(t, [0, 2, 3, 1]);
export const toNchw = (t: tf.Tensor4D): tf.Tensor4D => tf.transpose(t, [0, 3, 1, 2]);

/*
 * Stride phases without rank-5/6 ops. tfjs-backend-wasm 4.22 slices and transposes tensors of effective rank > 4
 * element by element in JS (a rank-6 slice of 1M floats: ~250 ms vs ~2 ms at rank 4), so every reshuffle here stays
 * at rank <= 4.
 */

/**
 * Split axes 1 and 2 of a rank-4 tensor [A, Q*sh, P*sw, D] into its sh*sw stride phases:
 * out[a][b] = t[:, q*sh + a, p*sw + b, :] of shape [A, Q, P, D].
 */
export function phaseSplit(t: tf.Tensor, sh: number, sw: number): tf.Tensor4D[][] {
  const [A, HH, WW, D] = t.shape;
  const Q = HH / sh;
  const P = WW / sw;
  if (!Number.isInteger(Q) || !Number.isInteger(P)) throw new Error(`phaseSplit: [${t.shape}] is not a multiple of strides ${sh}x${sw}`);
  const rows = tf.reshape(t, [A * Q, sh, P * sw * D]);
  const out: tf.Tensor4D[][] = [];
  for (let a = 0; a < sh; a++) {
    const ra = sh === 1 ? rows : tf.slice(rows, [0, a, 0], [A * Q, 1, P * sw * D]);
    const cols = tf.reshape(ra, [A * Q * P, sw, D]);
    const row: tf.Tensor4D[] = [];
    for (let b = 0; b < sw; b++) {
      const cb = sw === 1 ? cols : tf.slice(cols, [0, b, 0], [A * Q * P, 1, D]);
      row.push(tf.reshape(cb, [A, Q, P, D]) as tf.Tensor4D);
    }
    out.push(row);
  }
  return out;
}

/** Inverse of phaseSplit: interleave phases[a][b] of shape [A, Q, P, D] into [A, Q*sh, P*sw, D]. */
export function phaseMerge(phases: tf.Tensor4D[][]): tf.Tensor4D {
  const sh = phases.length;
  const sw = phases[0].length;
  const [A, Q, P, D] = phases[0][0].shape;
  if (sh === 1 && sw === 1) return phases[0][0];
  const rows = phases.map((row) => {
    const cols = sw === 1 ? tf.reshape(row[0], [A * Q * P, 1, D]) : tf.concat(row.map((t) => tf.reshape(t, [A * Q * P, 1, D])), 1);
    return tf.reshape(cols, [A * Q, 1, P * sw * D]);
  });
  const merged = sh === 1 ? rows[0] : tf.concat(rows, 1);
  return tf.reshape(merged, [A, Q * sh, P * sw, D]) as tf.Tensor4D;
}
