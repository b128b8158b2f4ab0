/**
 * Registers the composed training kernels on a backend (once per backend; idempotent).
 *
 * wasm: Conv2DBackpropFilter, DepthwiseConv2dNativeBackprop{Input,Filter}, UnsortedSegmentSum, Einsum (missing);
 *       Conv2DBackpropInput (built-in is a naive loop, ~2 GFLOP/s) and MaxPoolGrad (misroutes all-negative windows)
 *       replaced.
 * cpu:  Conv2DBackpropFilter (built-in runs at ~0.01 GFLOP/s), DepthwiseConv2dNativeBackpropFilter (10x) and
 *       UnsortedSegmentSum (built-in makes one pass over x per segment: 9-13 s for a 1000-class embedding gradient)
 *       replaced.
 * wasm: BatchMatMul with transposeA/transposeB (what every matMul gradient asks for) runs 5-10x slower than the
 *       same product on explicitly transposed operands (e.g. [65536,16]x[64,16]ᵀ: 51 ms vs 4 ms): transposed here,
 *       the built-in called without transposes (tiny products, ≤ 8192 multiply-adds in all, keep the built-in);
 *       aᵀb with more columns in a than in b as (bᵀa)ᵀ. AvgPoolGrad for windows that tile the input (2×2 stride 2)
 *       as one broadcast multiply (3-4x faster than the built-in).
 * both: ResizeBilinearGrad and ResizeNearestNeighborGrad: exact adjoints of the forward kernels where the built-ins
 *       are wrong (all of them ignore halfPixelCenters; cpu's nearest one is also wrong for non-square sizes), the
 *       built-in elsewhere (cpu's bilinear one with its swapped [N,W,H,C] output shape corrected).
 */
import * as tf from '@tensorflow/tfjs';
import {
  conv2dBackpropFilter, conv2dBackpropInput, depthwiseConv2dBackpropFilter, depthwiseConv2dBackpropInput,
} from './conv';
import { einsum, maxPoolGrad, resizeGrad, unsortedSegmentSum } from './misc';
import { asTensor, assertUnitDilations, toNchw, toNhwc } from './util';

type Attrs = Record<string, any>;
type KernelFn = (inputs: Record<string, tf.Tensor>, attrs: Attrs) => tf.Tensor;

/** x with its last two axes swapped (an explicit transpose). */
function swapLastAxes(x: tf.Tensor): tf.Tensor {
  const r = x.rank;
  return tf.transpose(x, [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2]);
}

function nchwShape(s: number[]): [number, number, number, number] {
  return [s[0], s[2], s[3], s[1]];
}

export const COMPOSED_KERNELS: Record<string, KernelFn> = {
  Conv2DBackpropFilter: ({ x, dy }, a) => {
    const nchw = a.dataFormat === 'NCHW';
    const g = { strides: a.strides, pad: a.pad, dimRoundingMode: a.dimRoundingMode };
    return conv2dBackpropFilter(nchw ? toNhwc(x as tf.Tensor4D) : (x as tf.Tensor4D),
      nchw ? toNhwc(dy as tf.Tensor4D) : (dy as tf.Tensor4D), a.filterShape, g);
  },
  Conv2DBackpropInput: ({ dy, filter }, a) => {
    const g = { strides: a.strides, pad: a.pad, dimRoundingMode: a.dimRoundingMode };
    if (a.dataFormat === 'NCHW') {
      return toNchw(conv2dBackpropInput(toNhwc(dy as tf.Tensor4D), filter as tf.Tensor4D, nchwShape(a.inputShape), g));
    }
    return conv2dBackpropInput(dy as tf.Tensor4D, filter as tf.Tensor4D, a.inputShape, g);
  },
  DepthwiseConv2dNativeBackpropInput: ({ dy, filter }, a) => {
    assertUnitDilations(a.dilations, 'DepthwiseConv2dNativeBackpropInput');
    return depthwiseConv2dBackpropInput(dy as tf.Tensor4D, filter as tf.Tensor4D, a.inputShape,
      { strides: a.strides, pad: a.pad, dimRoundingMode: a.dimRoundingMode });
  },
  DepthwiseConv2dNativeBackpropFilter: ({ x, dy }, a) => {
    assertUnitDilations(a.dilations, 'DepthwiseConv2dNativeBackpropFilter');
    return depthwiseConv2dBackpropFilter(x as tf.Tensor4D, dy as tf.Tensor4D, a.filterShape,
      { strides: a.strides, pad: a.pad, dimRoundingMode: a.dimRoundingMode });
  },
  UnsortedSegmentSum: ({ x, segmentIds }, a) => unsortedSegmentSum(x, segmentIds, a.numSegments),
  MaxPoolGrad: ({ dy, input, output }, a) =>
    maxPoolGrad(dy as tf.Tensor4D, input as tf.Tensor4D, output as tf.Tensor4D, a.filterSize, a.strides, a.pad, a.dimRoundingMode),
  BatchMatMul: ({ a, b }, at) => {
    // aᵀb with a [.., K, M], b [.., K, N] (every weight gradient): XNNPACK's GEMM is 1.3–4.6x faster when the output
    // is wider than tall (K = 65 536, M = 128, N = 32: 134 vs 44 ms), so for M > N compute (bᵀa)ᵀ, transposing the
    // narrower operand and the small result instead.
    if (at.transposeA && !at.transposeB && a.shape[a.rank - 1] > b.shape[b.rank - 1]) return swapLastAxes(tf.matMul(swapLastAxes(b), a));
    return tf.matMul(at.transposeA ? swapLastAxes(a) : a, at.transposeB ? swapLastAxes(b) : b);
  },
  AvgPoolGrad: ({ dy, input }, a) => {
    // Windows that tile the input only (see KEEP_BUILTIN): each input pixel gets dy / (fh·fw) of its window, a
    // broadcast multiply of dy viewed as [b, h', 1, w', 1, c] (3-4x faster than wasm's own kernel: 64×32×32×128
    // 152 → 41 ms); rows / columns that 'valid' pooling dropped get 0.
    const [b, h, w, c] = input.shape;
    const [, ho, wo] = dy.shape;
    const [fh, fw] = pair(a.filterSize);
    const share = tf.fill([1, 1, fh, 1, fw, 1], 1 / (fh * fw));
    const dx = tf.reshape(tf.mul(tf.reshape(dy, [b, ho, 1, wo, 1, c]), share), [b, ho * fh, wo * fw, c]);
    return ho * fh === h && wo * fw === w ? dx : tf.pad(dx, [[0, 0], [0, h - ho * fh], [0, w - wo * fw], [0, 0]]);
  },
  ResizeBilinearGrad: ({ images, dy }, a) =>
    resizeGrad('bilinear', images as tf.Tensor4D, dy as tf.Tensor4D, !!a.alignCorners, !!a.halfPixelCenters),
  ResizeNearestNeighborGrad: ({ images, dy }, a) =>
    resizeGrad('nearest', images as tf.Tensor4D, dy as tf.Tensor4D, !!a.alignCorners, !!a.halfPixelCenters),
};

/**
 * Where the backend's own kernel is right for some attributes (and faster), use it there: wasm's resize gradients
 * are exact adjoints unless halfPixelCenters is set.
 */
const KEEP_BUILTIN: Record<string, (attrs: Attrs, backendName: string, inputs: Record<string, tf.TensorInfo>) => boolean> = {
  BatchMatMul: (a, _b, inputs) => (!a.transposeA && !a.transposeB) || isTinyProduct(inputs.a, inputs.b, a),
  AvgPoolGrad: (a) => !tilesExactly(a),
  // cpu's bilinear one too, once its swapped output shape is corrected (the values are laid out right).
  ResizeBilinearGrad: (a) => !a.halfPixelCenters,
  ResizeNearestNeighborGrad: (a, b) => b === 'wasm' && !a.halfPixelCenters,
};

/**
 * A product of at most 8192 multiply-adds in all, batch included (spectral norm's power-iteration vectors, u·W, W·v):
 * there the explicit transpose costs more than it saves, and the built-in with its transpose flags is 3-7x faster
 * (wasm, 1 thread: [1,64]·[32,64]ᵀ 26 vs 88 µs, [64,32]·[1,32]ᵀ 4 vs 28 µs; from [16,64]ᵀ·[16,32] on they are even).
 */
function isTinyProduct(a: tf.TensorInfo | undefined, b: tf.TensorInfo | undefined, at: Attrs): boolean {
  if (!a || !b) return false;
  const [ar, ac] = a.shape.slice(-2);
  const bc = b.shape[b.shape.length - 1];
  const br = b.shape[b.shape.length - 2];
  const m = at.transposeA ? ac : ar;
  const k = at.transposeA ? ar : ac;
  const n = at.transposeB ? br : bc;
  const batch = Math.max(a.shape.slice(0, -2).reduce((p, d) => p * d, 1), b.shape.slice(0, -2).reduce((p, d) => p * d, 1));
  return batch * m * n * k <= 8192;
}

/** AvgPool attributes whose windows tile the input exactly: window = stride, 'valid' padding, NHWC. */
function tilesExactly(a: Attrs): boolean {
  const f = pair(a.filterSize);
  const st = pair(a.strides);
  return a.pad === 'valid' && a.dimRoundingMode == null && (a.dataFormat ?? 'NHWC') === 'NHWC' && f[0] === st[0] && f[1] === st[1];
}

/** A pooling attribute given as n or [h, w], as [h, w]. */
function pair(v: number | [number, number]): [number, number] {
  return typeof v === 'number' ? [v, v] : v;
}

/** Which composed kernels each backend gets. Einsum is special-cased (its inputs are a list). */
export const KERNELS_FOR_BACKEND: Record<string, string[]> = {
  wasm: ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'DepthwiseConv2dNativeBackpropInput',
    'DepthwiseConv2dNativeBackpropFilter', 'UnsortedSegmentSum', 'MaxPoolGrad', 'Einsum', 'ResizeBilinearGrad',
    'ResizeNearestNeighborGrad', 'BatchMatMul', 'AvgPoolGrad'],
  cpu: ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'UnsortedSegmentSum', 'ResizeBilinearGrad',
    'ResizeNearestNeighborGrad'],
};

const done = new Set<string>();
const ours = new WeakSet<tf.KernelFunc>();
const builtins = new Map<string, tf.KernelConfig>();
const setUp = new WeakSet<tf.KernelConfig>();

/** The backend's own kernel that a composed one replaced (reference path for benches and tests), if any. */
export function builtinKernel(kernelName: string, backendName: string): tf.KernelConfig | undefined {
  return builtins.get(`${backendName}/${kernelName}`);
}

/** Whether `kernelName` on `backendName` is currently served by one of the composed kernels here. */
export function isComposedKernel(kernelName: string, backendName: string): boolean {
  const k = tf.getKernel(kernelName, backendName);
  return k != null && ours.has(k.kernelFunc);
}

function kernelFunc(name: string, backendName: string): tf.KernelFunc {
  if (name === 'Einsum') {
    return ({ inputs, attrs }) => tf.tidy(() => {
      const list = (Array.isArray(inputs) ? inputs : Object.values(inputs)) as tf.TensorInfo[];
      return einsum((attrs as Attrs).equation, list.map((t) => asTensor(t)));
    });
  }
  const fn = COMPOSED_KERNELS[name];
  const keep = KEEP_BUILTIN[name];
  return (args) => {
    const builtin = keep && keep((args.attrs ?? {}) as Attrs, backendName, args.inputs as Record<string, tf.TensorInfo>)
      ? builtinKernel(name, backendName) : undefined;
    if (!builtin) return composed(args);
    // A built-in unregistered before its backend was created never got its setup (wasm binds its C function there).
    if (builtin.setupFunc && !setUp.has(builtin)) {
      builtin.setupFunc(args.backend);
      setUp.add(builtin);
    }
    const out = builtin.kernelFunc(args) as tf.TensorInfo;
    if (name === 'ResizeBilinearGrad') {
      // tfjs 4.22's cpu kernel labels its [N, H, W, C] result as [N, W, H, C].
      return { dataId: out.dataId, dtype: out.dtype, shape: (args.inputs.images as tf.TensorInfo).shape.slice() };
    }
    return out;
  };
  function composed({ inputs, attrs }: Parameters<tf.KernelFunc>[0]) {
    return tf.tidy(() => {
      const ts: Record<string, tf.Tensor> = {};
      for (const [k, v] of Object.entries(inputs)) if (v != null) ts[k] = asTensor(v as tf.TensorInfo);
      return fn(ts, (attrs ?? {}) as Attrs);
    });
  }
}

/**
 * Register (or replace) the composed kernels for `backendName` ('wasm' or 'cpu'; others get none).
 * Idempotent. Returns the kernel names now served by composed implementations on that backend.
 */
export function registerTrainingKernels(backendName: string): string[] {
  const names = KERNELS_FOR_BACKEND[backendName] ?? [];
  if (done.has(backendName)) return names;
  for (const name of names) {
    const existing = tf.getKernel(name, backendName);
    if (existing != null) {
      if (!ours.has(existing.kernelFunc)) builtins.set(`${backendName}/${name}`, existing);
      tf.unregisterKernel(name, backendName);
    }
    const fn = kernelFunc(name, backendName);
    ours.add(fn);
    tf.registerKernel({ kernelName: name, backendName, kernelFunc: fn });
  }
  done.add(backendName);
  return names;
}
