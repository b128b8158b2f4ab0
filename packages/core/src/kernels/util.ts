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
