/**
 * Registers the composed training kernels on a backend (once per backend; idempotent).
 *
 * wasm: Conv2DBackpropFilter, DepthwiseConv2dNativeBackprop{Input,Filter}, UnsortedSegmentSum, Einsum (missing);
 *       Conv2DBackpropInput (built-in is a naive loop, ~2 GFLOP/s) and MaxPoolGrad (misroutes all-negative windows)
 *       replaced.
 * cpu:  Conv2DBackpropFilter (built-in runs at ~0.01 GFLOP/s) replaced.
 * both: ResizeBilinearGrad and ResizeNearestNeighborGrad replaced by exact adjoints of the forward kernels (the
 *       built-ins ignore halfPixelCenters; cpu's bilinear one also returns [N,W,H,C] for non-square images).
 */
import * as tf from '@tensorflow/tfjs';
import {
  conv2dBackpropFilter, conv2dBackpropInput, depthwiseConv2dBackpropFilter, depthwiseConv2dBackpropInput,
} from './conv';
import { einsum, maxPoolGrad, resizeGrad, unsortedSegmentSum } from './misc';
import { asTensor, assertUnitDilations, toNchw, toNhwc } from './util';

type Attrs = Record<string, any>;
type KernelFn = (inputs: Record<string, tf.Tensor>, attrs: Attrs) => tf.Tensor;

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
  ResizeBilinearGrad: ({ images, dy }, a) =>
    resizeGrad('bilinear', images as tf.Tensor4D, dy as tf.Tensor4D, !!a.alignCorners, !!a.halfPixelCenters),
  ResizeNearestNeighborGrad: ({ images, dy }, a) =>
    resizeGrad('nearest', images as tf.Tensor4D, dy as tf.Tensor4D, !!a.alignCorners, !!a.halfPixelCenters),
};

/** Which composed kernels each backend gets. Einsum is special-cased (its inputs are a list). */
export const KERNELS_FOR_BACKEND: Record<string, string[]> = {
  wasm: ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'DepthwiseConv2dNativeBackpropInput',
    'DepthwiseConv2dNativeBackpropFilter', 'UnsortedSegmentSum', 'MaxPoolGrad', 'Einsum', 'ResizeBilinearGrad',
    'ResizeNearestNeighborGrad'],
  cpu: ['Conv2DBackpropFilter', 'ResizeBilinearGrad', 'ResizeNearestNeighborGrad'],
};

const done = new Set<string>();
const ours = new WeakSet<tf.KernelFunc>();

/** Whether `kernelName` on `backendName` is currently served by one of the composed kernels here. */
export function isComposedKernel(kernelName: string, backendName: string): boolean {
  const k = tf.getKernel(kernelName, backendName);
  return k != null && ours.has(k.kernelFunc);
}

function kernelFunc(name: string): tf.KernelFunc {
  if (name === 'Einsum') {
    return ({ inputs, attrs }) => tf.tidy(() => {
      const list = (Array.isArray(inputs) ? inputs : Object.values(inputs)) as tf.TensorInfo[];
      return einsum((attrs as Attrs).equation, list.map((t) => asTensor(t)));
    });
  }
  const fn = COMPOSED_KERNELS[name];
  return ({ inputs, attrs }) => tf.tidy(() => {
    const ts: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(inputs)) if (v != null) ts[k] = asTensor(v as tf.TensorInfo);
    return fn(ts, (attrs ?? {}) as Attrs);
  });
}

/**
 * Register (or replace) the composed kernels for `backendName` ('wasm' or 'cpu'; others get none).
 * Idempotent. Returns the kernel names now served by composed implementations on that backend.
 */
export function registerTrainingKernels(backendName: string): string[] {
  const names = KERNELS_FOR_BACKEND[backendName] ?? [];
  if (done.has(backendName)) return names;
  for (const name of names) {
    if (tf.getKernel(name, backendName) != null) tf.unregisterKernel(name, backendName);
    const fn = kernelFunc(name);
    ours.add(fn);
    tf.registerKernel({ kernelName: name, backendName, kernelFunc: fn });
  }
  done.add(backendName);
  return names;
}
