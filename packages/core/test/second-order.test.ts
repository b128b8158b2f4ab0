/**
 * Second-order gradients (R1 / MA-GP differentiate a gradient) through the ops GAN discriminators use, on cpu and
 * wasm, against central finite differences.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerHigherOrderGradients } from '../src/kernels/gradients';
import { registerTrainingKernels } from '../src/kernels/register';

const BACKENDS = ['cpu', 'wasm'];

beforeAll(async () => {
  registerHigherOrderGradients();
  registerTrainingKernels('wasm');
  registerTrainingKernels('cpu');
});

/** A tiny conv discriminator: conv3x3 -> lrelu -> conv4x4/2 -> lrelu -> dense, one logit per sample. */
interface Params { w1: tf.Tensor4D; b1: tf.Tensor1D; w2: tf.Tensor4D; b2: tf.Tensor1D; w3: tf.Tensor2D }
const SHAPES: Record<keyof Params, number[]> = { w1: [3, 3, 3, 4], b1: [4], w2: [4, 4, 4, 6], b2: [6], w3: [4 * 4 * 6, 1] };
const NAMES = Object.keys(SHAPES) as Array<keyof Params>;

function D(x: tf.Tensor4D, p: Params, pre?: tf.Tensor[]): tf.Tensor {
  const a1 = tf.add(tf.conv2d(x, p.w1, 1, 'same'), p.b1) as tf.Tensor4D;
  const a2 = tf.add(tf.conv2d(tf.leakyRelu(a1, 0.2) as tf.Tensor4D, p.w2, 2, 'same'), p.b2) as tf.Tensor4D;
  pre?.push(a1, a2);
  return tf.matMul(tf.reshape(tf.leakyRelu(a2, 0.2), [x.shape[0], -1]), p.w3);
}

/** The leaky-ReLU on/off pattern: R1 is exactly quadratic in any one weight while it does not change. */
function pattern(x: tf.Tensor4D, p: Params): string {
  return tf.tidy(() => {
    const pre: tf.Tensor[] = [];
    D(x, p, pre);
    return Array.from(tf.concat(pre.map((t) => tf.greater(t, 0).flatten())).dataSync()).join('');
  });
}

/** R1 penalty: sum over the batch of ||dD(x)/dx||^2 (Mescheder et al. 2018, eq. 9 without gamma/2). */
function r1(x: tf.Tensor4D, p: Params): tf.Scalar {
  const g = tf.grad((xi: tf.Tensor) => tf.sum(D(xi as tf.Tensor4D, p)))(x);
  return tf.sum(tf.square(g));
}

function makeParams(vals: Record<string, Float32Array>): Params {
  const p: any = {};
  for (const k of NAMES) p[k] = tf.tensor(vals[k], SHAPES[k]);
  return p as Params;
}

describe.each(BACKENDS)('R1 penalty gradient w.r.t. D weights on %s', (backend) => {
  test('matches central finite differences', async () => {
    expect(await tf.setBackend(backend)).toBe(true);
    const before = tf.memory().numTensors;
    const vals: Record<string, Float32Array> = {};
    NAMES.forEach((k, i) => {
      vals[k] = tf.tidy(() => tf.randomNormal(SHAPES[k], 0, k.startsWith('b') ? 0.1 : 0.4, 'float32', 11 + i).dataSync() as Float32Array);
    });
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 5) as tf.Tensor4D;

    const analytic = tf.tidy(() => {
      const f = (...ts: tf.Tensor[]) => r1(x, Object.fromEntries(NAMES.map((k, i) => [k, ts[i]])) as unknown as Params);
      const gs = tf.grads(f)(NAMES.map((k) => tf.tensor(vals[k], SHAPES[k])));
      return gs.map((g) => g.dataSync().slice());
    });
    const perturbed = (name: keyof Params, idx: number, delta: number) => {
      const v = { ...vals, [name]: vals[name].slice() };
      v[name][idx] += delta;
      return v;
    };
    const r1At = (v: Record<string, Float32Array>): number => tf.tidy(() => r1(x, makeParams(v)).dataSync()[0]);
    const patternAt = (v: Record<string, Float32Array>): string => tf.tidy(() => pattern(x, makeParams(v)));
    const base = patternAt(vals);

    // Three coordinates in every parameter, including the first layer (reached only through the second-order terms:
    // Conv2DBackpropInput's filter gradient, the leaky-ReLU mask's zero gradient). The central difference of a
    // quadratic is exact, so the only errors are float32 rounding and a kink crossed inside [-h, h]: coordinates
    // whose activation pattern changes within +-h are passed over. (Biases get an exactly zero R1 gradient.)
    let checked = 0;
    for (const [pi, name] of NAMES.entries()) {
      const n = vals[name].length;
      let picked = 0;
      for (let idx = 0; idx < n && picked < 3; idx += Math.max(1, Math.floor(n / 7))) {
        const h = 1e-2;
        if (patternAt(perturbed(name, idx, h)) !== base || patternAt(perturbed(name, idx, -h)) !== base) continue;
        const fd = (r1At(perturbed(name, idx, h)) - r1At(perturbed(name, idx, -h))) / (2 * h);
        const an = analytic[pi][idx];
        if (process.env.DEBUG_R1) console.log(name, idx, fd, an);
        expect(Math.abs(fd - an)).toBeLessThanOrEqual(3e-3 * Math.max(1, Math.abs(an)));
        picked++;
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(12);
    // The gradient is not trivially zero.
    expect(Math.max(...analytic.map((a) => Math.max(...Array.from(a, Math.abs))))).toBeGreaterThan(1e-2);
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

test('without the registered comparison gradients tfjs fails exactly as described (the test above needs them)', async () => {
  await tf.setBackend('cpu');
  const saved = tf.getGradient('Greater');
  tf.unregisterGradient('Greater');
  try {
    expect(() => tf.tidy(() => tf.grad((w: tf.Tensor) => {
      const g = tf.grad((x: tf.Tensor) => tf.sum(tf.leakyRelu(tf.mul(x, w), 0.2)))(tf.tensor1d([0.5, -0.3]));
      return tf.sum(tf.square(g));
    })(tf.scalar(1.5)))).toThrow(/gradient function not found for Greater/);
  } finally {
    tf.registerGradient(saved);
  }
});

/**
 * Every activation / resampling op a discriminator may use: d/dw of sum((d/dx sum(c * f(x*w)))^2) against a central
 * finite difference in w. x is kept away from the kinks so the finite difference is well defined.
 */
const OPS: Record<string, (x: tf.Tensor) => tf.Tensor> = {
  relu: (x) => tf.relu(x),
  leakyRelu: (x) => tf.leakyRelu(x, 0.2),
  prelu: (x) => tf.prelu(x, tf.scalar(0.25)),
  abs: (x) => tf.abs(x),
  maximum: (x) => tf.maximum(x, tf.mul(x, 0.1)),
  minimum: (x) => tf.minimum(x, tf.mul(x, 0.3)),
  clipByValue: (x) => tf.clipByValue(x, -0.8, 0.8),
  where: (x) => tf.where(tf.greater(x, 0), x, tf.mul(x, 0.3)),
  relu6: (x) => tf.relu6(tf.mul(x, 4)),
  elu: (x) => tf.elu(x),
  selu: (x) => tf.selu(x),
  max: (x) => tf.max(tf.reshape(x, [4, 4]), 1),
  min: (x) => tf.min(tf.reshape(x, [4, 4]), 1),
  softplus: (x) => tf.softplus(x),
  gelu: (x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))),
  resizeBilinear: (x) => tf.image.resizeBilinear(tf.reshape(x, [1, 2, 8, 1]) as tf.Tensor4D, [3, 5], false, true),
  resizeBilinearAlign: (x) => tf.image.resizeBilinear(tf.reshape(x, [1, 4, 4, 1]) as tf.Tensor4D, [7, 3], true),
  resizeNearest: (x) => tf.image.resizeNearestNeighbor(tf.reshape(x, [1, 2, 8, 1]) as tf.Tensor4D, [4, 12], false, true),
  avgPool: (x) => tf.avgPool(tf.reshape(x, [1, 4, 4, 1]) as tf.Tensor4D, 2, 2, 'valid'),
  sigmoid: (x) => tf.sigmoid(x),
  tanh: (x) => tf.tanh(x),
  exp: (x) => tf.exp(tf.mul(x, 0.5)),
  softmax: (x) => tf.softmax(tf.reshape(x, [4, 4])),
  logSoftmaxViaLogSumExp: (x) => tf.sub(tf.reshape(x, [4, 4]), tf.logSumExp(tf.reshape(x, [4, 4]), 1, true)),
  sqrt: (x) => tf.sqrt(tf.add(tf.square(x), 0.5)),
  rsqrt: (x) => tf.rsqrt(tf.add(tf.square(x), 0.5)),
  reciprocal: (x) => tf.reciprocal(tf.add(tf.square(x), 0.5)),
  log: (x) => tf.log(tf.add(tf.square(x), 0.5)),
  pow: (x) => tf.pow(tf.add(tf.square(x), 0.5), 1.5),
  moments: (x) => tf.moments(tf.reshape(x, [4, 4]), 1).variance,
  layerNorm: (x) => {
    const m = tf.moments(tf.reshape(x, [4, 4]), 1, true);
    return tf.mul(tf.sub(tf.reshape(x, [4, 4]), m.mean), tf.rsqrt(tf.add(m.variance, 1e-5)));
  },
  l2normalize: (x) => tf.div(x, tf.norm(x)),
  depthwiseConv: (x) => tf.depthwiseConv2d(tf.reshape(x, [1, 4, 4, 1]) as tf.Tensor4D, tf.tensor4d([0.3, -0.2, 0.5, 0.1, 0.7, -0.4], [3, 1, 1, 2]).reshape([1, 3, 1, 2]) as tf.Tensor4D, 1, 'same'),
};

describe.each(BACKENDS)('second-order through ops on %s', (backend) => {
  test.each(Object.keys(OPS))('%s', async (op) => {
    expect(await tf.setBackend(backend)).toBe(true);
    const before = tf.memory().numTensors;
    const f = OPS[op];
    const xs = [0.31, -0.72, 1.23, -0.15, 0.52, -1.48, 0.93, 2.07, -0.41, 0.66, -0.97, 0.27, 1.61, -0.58, 0.12, -0.23];
    const x = tf.tensor1d(xs);
    const h2 = (w: tf.Tensor) => {
      const gx = tf.grad((t: tf.Tensor) => {
        const y = f(tf.mul(t, w));
        return tf.sum(tf.mul(y, tf.linspace(0.5, 1.5, y.size).reshape(y.shape)));
      })(x);
      return tf.sum(tf.mul(tf.square(gx), tf.linspace(1, 2, gx.size)));
    };
    const an = tf.tidy(() => tf.grad(h2)(tf.scalar(1.1)).dataSync()[0]);
    const at = (w: number) => tf.tidy(() => h2(tf.scalar(w)).dataSync()[0]);
    const d = 1e-3;
    const fd = (at(1.1 + d) - at(1.1 - d)) / (2 * d);
    expect(Number.isFinite(an)).toBe(true);
    expect(Math.abs(an - fd)).toBeLessThanOrEqual(1e-2 * Math.max(1, Math.abs(fd)));
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe.each(BACKENDS)('StridedSlice gradient (missing in tfjs) on %s', (backend) => {
  test.each([
    [[4, 6, 5, 3], [0, 0, 0, 0], [4, 6, 5, 3], [1, 2, 2, 1], 0, 0, 0, 0],
    [[4, 6, 5, 3], [1, 5, -1, 0], [3, 0, 0, 3], [1, -2, -1, 1], 0, 0, 0, 0],
    [[4, 6, 5, 3], [0, 1], [0, 2], [1, 1], 1, 1, 0, 2],
    [[4, 6, 5, 3], [0, 1], [0, 5], [1, 2], 0, 0, 1, 0],
    [[7, 9], [1, 0], [7, 9], [3, 4], 0, 0, 0, 0],
    [[2, 3, 4, 5, 6], [0, 1, 0, 1, 2], [2, 3, 4, 5, 6], [1, 1, 3, 2, 2], 0, 0, 0, 0],
  ] as Array<[number[], number[], number[], number[], number, number, number, number]>)(
    'x[%s] begin %s end %s strides %s', async (shape, b, e, st, bm, em, el, sh) => {
      expect(await tf.setBackend(backend)).toBe(true);
      const before = tf.memory().numTensors;
      const [lhs, rhs] = tf.tidy(() => {
        const x = tf.randomNormal(shape, 0, 1, 'float32', 1);
        const f = (t: tf.Tensor) => tf.stridedSlice(t, b, e, st, bm, em, el, 0, sh);
        const dy = tf.randomNormal(f(x).shape, 0, 1, 'float32', 2);
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), dy)))(x);
        expect(g.shape).toEqual(shape);
        // Adjoint identity of a linear map: <slice(x), dy> = <x, grad(dy)>.
        return [tf.sum(tf.mul(f(x), dy)).dataSync()[0], tf.sum(tf.mul(x, g)).dataSync()[0]];
      });
      expect(Math.abs(lhs - rhs)).toBeLessThan(1e-4 * Math.max(1, Math.abs(lhs)));
      expect(tf.memory().numTensors).toBe(before);
    });
});

/**
 * First- and second-order backward passes through the layers core ships, on wasm (with the composed kernels) against
 * cpu: catches kernels or gradients a backend lacks. Model: x -> conv2d(w) -> leakyRelu -> layer -> sum(c * .);
 * first order: d/dx and d/dw; second order (R1-style): d/dw of sum((d/dx)^2).
 */
describe('backward passes through core layers: wasm (composed kernels) vs cpu', () => {
  const core = require('@ganzoo/core');
  const fir = () => core.setupFilter([1, 3, 3, 1]);
  const LAYERS: Record<string, (y: tf.Tensor4D) => tf.Tensor> = {
    upfirdn2dDown2: (y) => core.upfirdn2d(y, fir(), { down: 2, padding: 1 }),
    upsample2d: (y) => core.upsample2d(y, fir(), { up: 2 }),
    downsample2d: (y) => core.downsample2d(y, fir(), { down: 2 }),
    conv2dResampleUp: (y) => core.conv2dResample(y, tf.linspace(-0.5, 0.5, 3 * 3 * 4 * 3).reshape([3, 3, 4, 3]), fir(), { up: 2, padding: 1 }),
    conv2dResampleDown: (y) => core.conv2dResample(y, tf.linspace(-0.5, 0.5, 3 * 3 * 4 * 3).reshape([3, 3, 4, 3]), fir(), { down: 2, padding: 1 }),
    modulatedConv2d: (y) => core.modulatedConv2d(y, tf.linspace(-0.5, 0.5, 3 * 3 * 4 * 3).reshape([3, 3, 4, 3]),
      tf.linspace(0.5, 1.5, 8).reshape([2, 4]), { padding: 1 }),
    biasActLrelu: (y) => core.biasAct(y, tf.tensor1d([0.1, -0.1, 0.2, 0]), { act: 'lrelu' }),
    groupNorm: (y) => core.groupNorm(y, 2),
    layerNorm: (y) => core.layerNorm(y),
    maxPool2x: (y) => core.maxPool2x(y),
    pixelShuffleUnshuffle: (y) => core.pixelShuffle(core.pixelUnshuffle(y, 2), 2),
    blur121: (y) => core.blur121(y),
    resizeBilinearMatmul: (y) => core.resizeBilinearMatmul(y, 5, 7),
    resizeBilinearHalfPixel: (y) => tf.image.resizeBilinear(y, [5, 7], false, true),
    adaptiveConv2dMod: (y) => core.adaptiveConv2dMod(y, tf.linspace(-0.5, 0.5, 2 * 3 * 3 * 4 * 3).reshape([2, 3, 3, 4, 3]),
      tf.linspace(0.1, 0.9, 8).reshape([2, 4]), tf.linspace(-1, 1, 4).reshape([2, 2])),
    attention: (y) => {
      const t = tf.reshape(y, [2, 1, -1, 4]) as tf.Tensor4D;
      return core.scaledDotProductAttention(t, t, t);
    },
  };
  const run = (layer: (y: tf.Tensor4D) => tf.Tensor) => tf.tidy(() => {
    const x = tf.randomNormal([2, 6, 6, 3], 0, 1, 'float32', 21);
    const w0 = tf.randomNormal([3, 3, 3, 4], 0, 0.5, 'float32', 22);
    const f = (xi: tf.Tensor, w: tf.Tensor) => {
      const y = layer(tf.leakyRelu(tf.conv2d(xi as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'), 0.2) as tf.Tensor4D);
      return tf.sum(tf.mul(y, tf.linspace(0.5, 1.5, y.size).reshape(y.shape)));
    };
    const [dx, dw] = tf.grads(f)([x, w0]);
    const r1w = tf.grad((w: tf.Tensor) => tf.sum(tf.square(tf.grad((xi: tf.Tensor) => f(xi, w))(x))))(w0);
    return tf.concat([dx.flatten(), dw.flatten(), r1w.flatten()]);
  });

  test.each(Object.keys(LAYERS))('%s', async (name) => {
    await tf.setBackend('cpu');
    const ref = run(LAYERS[name]);
    const refV = ref.dataSync().slice();
    ref.dispose();
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    const got = run(LAYERS[name]);
    const v = got.dataSync().slice();
    got.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(v.every(Number.isFinite)).toBe(true);
    let num = 0;
    let den = 0;
    for (let i = 0; i < v.length; i++) {
      num = Math.max(num, Math.abs(v[i] - refV[i]));
      den = Math.max(den, Math.abs(refV[i]));
    }
    expect(den).toBeGreaterThan(0);
    expect(num / den).toBeLessThan(1e-4);
  });
});
