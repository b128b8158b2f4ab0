/**
 * Gradients tfjs lacks (or gets wrong) for kernels that appear INSIDE first-order gradients, so that a gradient can
 * itself be differentiated (R1 and MA-GP penalties). Gradients are global (all backends). Missing ones are
 * registered only when tfjs has none, so a future tfjs fix wins; the output-based ones below are replaced.
 */
import * as tf from '@tensorflow/tfjs';

type Saved = tf.Tensor[];
type Attrs = Record<string, any>;

/** Kernels with boolean / piecewise-constant outputs: their derivative is zero almost everywhere. */
const ZERO_GRAD_BINARY = ['Greater', 'GreaterEqual', 'Less', 'LessEqual', 'Equal', 'NotEqual', 'LogicalAnd', 'LogicalOr', 'LogicalXor'];
const ZERO_GRAD_UNARY = ['LogicalNot', 'IsNan', 'IsInf', 'IsFinite'];

/** Gradients of the linear backward kernels: each is the adjoint of an adjoint, i.e. the forward op again. */
function linearBackwardGradients(): tf.GradConfig[] {
  const run = (name: string, inputs: Record<string, tf.Tensor>, attrs: Attrs) =>
    tf.engine().runKernel(name, inputs as any, attrs as any) as tf.Tensor;
  return [
    {
      kernelName: 'ResizeBilinearGrad',
      inputsToSave: ['images', 'dy'],
      gradFunc: (ddx: tf.Tensor | tf.Tensor[], [images, dy]: Saved, attrs: Attrs) => ({
        dy: () => tf.image.resizeBilinear(ddx as tf.Tensor4D, [dy.shape[1] as number, dy.shape[2] as number], attrs.alignCorners, attrs.halfPixelCenters),
        images: () => tf.zerosLike(images),
      }),
    },
    {
      kernelName: 'ResizeNearestNeighborGrad',
      inputsToSave: ['images', 'dy'],
      gradFunc: (ddx: tf.Tensor | tf.Tensor[], [images, dy]: Saved, attrs: Attrs) => ({
        dy: () => tf.image.resizeNearestNeighbor(ddx as tf.Tensor4D, [dy.shape[1] as number, dy.shape[2] as number], attrs.alignCorners, attrs.halfPixelCenters),
        images: () => tf.zerosLike(images),
      }),
    },
    {
      kernelName: 'AvgPoolGrad',
      inputsToSave: ['input'],
      gradFunc: (ddx: tf.Tensor | tf.Tensor[], [input]: Saved, attrs: Attrs) => ({
        dy: () => tf.avgPool(ddx as tf.Tensor4D, attrs.filterSize, attrs.strides, attrs.pad),
        input: () => tf.zerosLike(input),
      }),
    },
    {
      // dW = sum x (x) dy is bilinear: d/dx = Conv2DBackpropInput(dy, ddW), d/ddy = conv2d(x, ddW).
      kernelName: 'Conv2DBackpropFilter',
      inputsToSave: ['x', 'dy'],
      gradFunc: (ddw: tf.Tensor | tf.Tensor[], [x, dy]: Saved, attrs: Attrs) => ({
        x: () => run('Conv2DBackpropInput', { dy, filter: ddw as tf.Tensor }, { ...attrs, inputShape: x.shape }),
        dy: () => tf.conv2d(x as tf.Tensor4D, ddw as tf.Tensor4D, attrs.strides, attrs.pad, attrs.dataFormat, 1, attrs.dimRoundingMode),
      }),
    },
    {
      kernelName: 'DepthwiseConv2dNativeBackpropInput',
      inputsToSave: ['dy', 'filter'],
      gradFunc: (ddx: tf.Tensor | tf.Tensor[], [dy, filter]: Saved, attrs: Attrs) => ({
        dy: () => tf.depthwiseConv2d(ddx as tf.Tensor4D, filter as tf.Tensor4D, attrs.strides, attrs.pad, 'NHWC', attrs.dilations, attrs.dimRoundingMode),
        filter: () => run('DepthwiseConv2dNativeBackpropFilter', { x: ddx as tf.Tensor, dy }, { ...attrs, filterShape: filter.shape }),
      }),
    },
    {
      kernelName: 'DepthwiseConv2dNativeBackpropFilter',
      inputsToSave: ['x', 'dy'],
      gradFunc: (ddw: tf.Tensor | tf.Tensor[], [x, dy]: Saved, attrs: Attrs) => ({
        x: () => run('DepthwiseConv2dNativeBackpropInput', { dy, filter: ddw as tf.Tensor }, { ...attrs, inputShape: x.shape }),
        dy: () => tf.depthwiseConv2d(x as tf.Tensor4D, ddw as tf.Tensor4D, attrs.strides, attrs.pad, 'NHWC', attrs.dilations, attrs.dimRoundingMode),
      }),
    },
  ];
}

/**
 * tfjs computes these gradients from the op's SAVED OUTPUT, a copy that is not connected to the tape: a gradient
 * built from it is silently wrong when differentiated again (second-order through sigmoid, tanh, exp, elu,
 * softmax). The replacements recompute the output from the saved input when the tape is recording (the
 * gradient is itself being differentiated) and use the saved output otherwise (plain first-order, no extra cost).
 */
function outputBasedReplacements(): tf.GradConfig[] {
  const y = (x: tf.Tensor, saved: tf.Tensor, f: (t: tf.Tensor) => tf.Tensor) => (tf.engine().isTapeOn() ? f(x) : saved);
  return [
    {
      kernelName: 'Sigmoid', inputsToSave: ['x'], outputsToSave: [true],
      gradFunc: (dy: tf.Tensor | tf.Tensor[], [x, out]: Saved) => ({
        x: () => { const s = y(x, out, tf.sigmoid); return tf.mul(dy as tf.Tensor, tf.mul(s, tf.sub(1, s))); },
      }),
    },
    {
      kernelName: 'Tanh', inputsToSave: ['x'], outputsToSave: [true],
      gradFunc: (dy: tf.Tensor | tf.Tensor[], [x, out]: Saved) => ({
        x: () => tf.mul(tf.sub(1, tf.square(y(x, out, tf.tanh))), dy as tf.Tensor),
      }),
    },
    {
      kernelName: 'Exp', inputsToSave: ['x'], outputsToSave: [true],
      gradFunc: (dy: tf.Tensor | tf.Tensor[], [x, out]: Saved) => ({ x: () => tf.mul(dy as tf.Tensor, y(x, out, tf.exp)) }),
    },
    {
      // elu'(x) = 1 for x > 0, exp(x) = elu(x) + 1 otherwise.
      kernelName: 'Elu', inputsToSave: ['x'], outputsToSave: [true],
      gradFunc: (dy: tf.Tensor | tf.Tensor[], [x, out]: Saved) => ({
        x: () => tf.where(tf.greater(x, 0), dy as tf.Tensor, tf.mul(dy as tf.Tensor, tf.add(y(x, out, tf.elu), 1))),
      }),
    },
    {
      kernelName: 'Softmax', inputsToSave: ['logits'], outputsToSave: [true],
      gradFunc: (dy: tf.Tensor | tf.Tensor[], [logits, out]: Saved, attrs: Attrs) => ({
        logits: () => {
          const dim = attrs.dim as number;
          const s = y(logits, out, (t) => tf.softmax(t, dim));
          const dys = tf.mul(dy as tf.Tensor, s);
          return tf.sub(dys, tf.mul(tf.sum(dys, [dim], true), s));
        },
      }),
    },
  ];
}

// Not fixable here: ops written with tf.customGrad (tf.logSoftmax, and any user customGrad) keep only saved copies
// of their forward tensors, so their gradients are constants to a second differentiation. Differentiate
// `x - tf.logSumExp(x, axis, true)` instead of tf.logSoftmax inside an R1 / MA-GP path.

/**
 * StridedSlice has no gradient in tfjs 4.22 (upfirdn2d-style downsampling uses it). The gradient scatters dy back
 * to the sliced positions, one axis at a time, as reshape / pad / slice at rank <= 4.
 */
function stridedSliceGradient(): tf.GradConfig {
  return {
    kernelName: 'StridedSlice',
    inputsToSave: ['x'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], [x]: Saved, attrs: Attrs) => ({
      x: () => {
        if (attrs.newAxisMask) throw new Error(`StridedSlice gradient: expected newAxisMask 0, got ${attrs.newAxisMask}`);
        const info = tf.slice_util.sliceInfo(x.shape, attrs.begin, attrs.end, attrs.strides, attrs.beginMask,
          attrs.endMask, attrs.ellipsisMask, attrs.newAxisMask, attrs.shrinkAxisMask);
        const counts = x.shape.map((_, i) => {
          const [b, e, st] = [info.begin[i], info.end[i], info.strides[i]];
          return Math.max(0, Math.ceil(st > 0 ? (e - b) / st : (b - e) / -st));
        });
        let t = tf.reshape(dy as tf.Tensor, counts);
        for (let i = 0; i < x.rank; i++) {
          const D = x.shape[i];
          const L = counts[i];
          let b = info.begin[i];
          let st = info.strides[i];
          if (L === D && st === 1 && b === 0) continue;
          const shape = t.shape.slice();
          const pre = shape.slice(0, i).reduce((p, q) => p * q, 1);
          const post = shape.slice(i + 1).reduce((p, q) => p * q, 1);
          if (L === 0) {
            shape[i] = D;
            t = tf.zeros(shape);
            continue;
          }
          let u = tf.reshape(t, [pre, L, 1, post]);
          if (st < 0) {
            u = tf.reverse(u, 1);
            b -= (L - 1) * -st;
            st = -st;
          }
          let v: tf.Tensor = tf.reshape(u, [pre, L, post]);
          if (st > 1) v = tf.slice(tf.reshape(tf.pad(u, [[0, 0], [0, 0], [0, st - 1], [0, 0]]), [pre, L * st, post]), [0, 0, 0], [pre, (L - 1) * st + 1, post]);
          v = tf.pad(v, [[0, 0], [b, D - b - ((L - 1) * st + 1)], [0, 0]]);
          shape[i] = D;
          t = tf.reshape(v, shape);
        }
        return t;
      },
    }),
  };
}

let registered: string[] | null = null;

/**
 * Register the missing gradients (idempotent). Returns the kernel names this call (or the first call) registered.
 */
export function registerHigherOrderGradients(): string[] {
  if (registered) return registered;
  const added: string[] = [];
  const add = (g: tf.GradConfig) => {
    if (tf.getGradient(g.kernelName) == null) {
      tf.registerGradient(g);
      added.push(g.kernelName);
    }
  };
  for (const k of ZERO_GRAD_BINARY) {
    add({
      kernelName: k,
      inputsToSave: ['a', 'b'],
      gradFunc: (_dy: tf.Tensor | tf.Tensor[], [a, b]: Saved) => ({ a: () => tf.zeros(a.shape), b: () => tf.zeros(b.shape) }),
    });
  }
  for (const k of ZERO_GRAD_UNARY) {
    add({ kernelName: k, inputsToSave: ['x'], gradFunc: (_dy: tf.Tensor | tf.Tensor[], [x]: Saved) => ({ x: () => tf.zeros(x.shape) }) });
  }
  for (const g of linearBackwardGradients()) add(g);
  add(stridedSliceGradient());
  for (const g of outputBasedReplacements()) {
    if (tf.getGradient(g.kernelName) != null) tf.unregisterGradient(g.kernelName);
    tf.registerGradient(g);
    added.push(g.kernelName);
  }
  registered = added;
  return added;
}
