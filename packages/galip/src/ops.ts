/**
 * Small NHWC building blocks for GALIP, as functions of explicit parameters (tfjs layouts:
 * conv kernels [kh, kw, in, out], linear weights [in, out]).
 */
import * as tf from '@tensorflow/tfjs';

/** LeakyReLU(0.2), GALIP's only nonlinearity outside CLIP. */
export function lrelu(x: tf.Tensor): tf.Tensor {
  return tf.leakyRelu(x, 0.2);
}

/** x [..., in] @ w [in, out] + b. */
export function dense(x: tf.Tensor2D, w: tf.Tensor, b?: tf.Tensor): tf.Tensor2D {
  return tf.tidy(() => {
    if (w.rank !== 2 || w.shape[0] !== x.shape[1]) {
      throw new Error(`linear: expected a weight [${x.shape[1]}, out] for input [B, ${x.shape[1]}], found [${w.shape}]`);
    }
    const y = tf.matMul(x, w as tf.Tensor2D);
    return (b ? tf.add(y, b) : y) as tf.Tensor2D;
  });
}

/** PyTorch Conv2d(k, stride 1, padding p) on NHWC, optional bias. */
export function conv(x: tf.Tensor4D, w: tf.Tensor, b: tf.Tensor | undefined, pad: number): tf.Tensor4D {
  return tf.tidy(() => {
    if (w.rank !== 4 || w.shape[2] !== x.shape[3]) {
      throw new Error(`conv: expected a kernel [kh, kw, ${x.shape[3]}, out] for input [B, H, W, ${x.shape[3]}], found [${w.shape}]`);
    }
    const padding: [[number, number], [number, number], [number, number], [number, number]] | 'valid' =
      pad === 0 ? 'valid' : [[0, 0], [pad, pad], [pad, pad], [0, 0]];
    const y = tf.conv2d(x, w as tf.Tensor4D, 1, padding);
    return (b ? tf.add(y, b) : y) as tf.Tensor4D;
  });
}

/**
 * Source indices of PyTorch's legacy `F.interpolate(mode='nearest')` (aten nearest_idx): identity when sizes are
 * equal, `dst >> 1` for exact 2x, otherwise min(floor(dst * float(in/out)), in-1) in float32 arithmetic.
 */
export function torchNearestIndices(inSize: number, outSize: number): number[] {
  const f = Math.fround;
  const scale = f(inSize / outSize);
  const idx: number[] = [];
  for (let d = 0; d < outSize; d++) {
    if (outSize === inSize) idx.push(d);
    else if (outSize === 2 * inSize) idx.push(d >> 1);
    else idx.push(Math.min(Math.floor(f(f(d) * scale)), inSize - 1));
  }
  return idx;
}

/** The indices tf.image.resizeNearestNeighbor (alignCorners=false, halfPixelCenters=false) picks. */
function tfNearestIndices(inSize: number, outSize: number): number[] {
  const r = inSize / outSize;
  const idx: number[] = [];
  for (let d = 0; d < outSize; d++) idx.push(Math.min(inSize - 1, Math.floor(r * d)));
  return idx;
}

function sameIndices(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Reference path of nearest resizing: gathers rows and columns at torch's indices. Exact, but its gradient needs
 * the UnsortedSegmentSum kernel.
 */
export function resizeNearestGather(x: tf.Tensor4D, size: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w] = x.shape;
    const rows = tf.tensor1d(torchNearestIndices(h, size), 'int32');
    const cols = tf.tensor1d(torchNearestIndices(w, size), 'int32');
    return tf.gather(tf.gather(x, rows, 1), cols, 2) as tf.Tensor4D;
  });
}

/**
 * `F.interpolate(x, size=(size, size))` (nearest) on NHWC. Uses tf.image.resizeNearestNeighbor (fast, with a
 * gradient kernel on every backend) when its index rule picks the same source pixels as torch for these sizes,
 * which holds for GALIP's upsampling steps; otherwise the exact gather path.
 */
export function resizeNearest(x: tf.Tensor4D, size: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  if (h === size && w === size) return tf.clone(x);
  const fast = sameIndices(torchNearestIndices(h, size), tfNearestIndices(h, size))
    && sameIndices(torchNearestIndices(w, size), tfNearestIndices(w, size));
  if (fast) return tf.image.resizeNearestNeighbor(x, [size, size], false, false);
  return resizeNearestGather(x, size);
}
