import * as tf from '@tensorflow/tfjs';
import { biasAct } from '../src/ops/bias-act';
import { downsample2d, filter2d, setupFilter, upfirdn2d, upsample2d } from '../src/ops/upfirdn2d';
import { conv2dResample, modulatedConv2d } from '../src/layers/modulated-conv';
import { diffAugment } from '../src/diffaugment';
import { relativeError } from '../src/testing';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Independent loop implementation of the official _upfirdn2d_ref on NHWC data (2-D filter, convolution). */
function naiveUpfirdn(x: number[][][][], f: number[][], up: number, down: number, pad: number[], gain: number): number[][][][] {
  const [px0, px1, py0, py1] = pad;
  const n = x.length, h = x[0].length, w = x[0][0].length, c = x[0][0][0].length;
  const fh = f.length, fw = f[0].length;
  const uh = h * up + py0 + py1, uw = w * up + px0 + px1;
  const get = (b: number, i: number, j: number, k: number): number => {
    const ii = i - py0, jj = j - px0; // position in the zero-inserted image
    if (ii < 0 || jj < 0 || ii >= h * up || jj >= w * up || ii % up || jj % up) return 0;
    return x[b][ii / up][jj / up][k];
  };
  const oh = uh - fh + 1, ow = uw - fw + 1;
  const out: number[][][][] = [];
  for (let b = 0; b < n; b++) {
    const rows: number[][][] = [];
    for (let i = 0; i < oh; i += down) {
      const row: number[][] = [];
      for (let j = 0; j < ow; j += down) {
        const px: number[] = [];
        for (let k = 0; k < c; k++) {
          let s = 0;
          // convolution: flipped filter correlated
          for (let a = 0; a < fh; a++) for (let q = 0; q < fw; q++) s += get(b, i + a, j + q, k) * f[fh - 1 - a][fw - 1 - q];
          px.push(s * gain);
        }
        row.push(px);
      }
      rows.push(row);
    }
    out.push(rows);
  }
  return out;
}

describe('upfirdn2d', () => {
  test('matches an independent loop implementation (up, down, pads, crops, asymmetric filter)', () => {
    const x = tf.randomNormal([2, 5, 6, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const fArr = [[1, 2, 0.5], [0.3, -1, 2]];
    const f = tf.tensor2d(fArr);
    const cases: Array<[number, number, number[], number]> = [[1, 1, [1, 1, 1, 1], 1], [2, 1, [2, 1, 2, 1], 4], [1, 2, [1, 0, 2, 1], 1], [2, 2, [-1, 2, 1, -1], 2]];
    for (const [up, down, pad, gain] of cases) {
      const y = upfirdn2d(x, f, { up, down, padding: pad, gain });
      const ref = naiveUpfirdn(x.arraySync(), fArr, up, down, pad, gain);
      expect(y.shape).toEqual([2, ref[0].length, ref[0][0].length, 3]);
      expect(relativeError(y, ref.flat(3))).toBeLessThan(1e-6);
      y.dispose();
    }
    tf.dispose([x, f]);
  });

  test('separable impl equals the 2-D reference; setupFilter is the normalised outer product', () => {
    const f = setupFilter([1, 3, 3, 1]);
    expect(f.shape).toEqual([4, 4]);
    expect(relativeError(f, [1, 3, 3, 1].flatMap((a) => [1, 3, 3, 1].map((b) => (a * b) / 64)))).toBeLessThan(1e-7);
    const x = tf.randomNormal([1, 8, 8, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
    for (const fn of [upsample2d, downsample2d, filter2d] as const) {
      const a = fn(x, f);
      const b = fn(x, f, { impl: 'separable' });
      expect(a.shape).toEqual(b.shape);
      expect(relativeError(b, a)).toBeLessThan(1e-6);
      tf.dispose([a, b]);
    }
    const up = upsample2d(x, f);
    const down = downsample2d(x, f);
    expect(up.shape).toEqual([1, 16, 16, 4]);
    expect(down.shape).toEqual([1, 4, 4, 4]);
    // A 1-D separable filter (>= 8 taps) applies the same as its outer product.
    const taps = [1, 2, 3, 4, 4, 3, 2, 1];
    const f1 = setupFilter(taps);
    const f2 = setupFilter(taps, { separable: false });
    expect(f1.rank).toBe(1);
    const a = filter2d(x, f1);
    const b = filter2d(x, f2);
    expect(relativeError(a, b)).toBeLessThan(1e-6);
    tf.dispose([f, x, up, down, f1, f2, a, b]);
  });

  test('upsample2d keeps a constant image constant away from the border', () => {
    const f = setupFilter([1, 3, 3, 1]);
    const x = tf.fill([1, 6, 6, 2], 0.7) as tf.Tensor4D;
    const y = upsample2d(x, f);
    const inner = tf.slice(y, [0, 2, 2, 0], [1, 8, 8, 2]);
    expect(relativeError(inner, new Array(128).fill(0.7))).toBeLessThan(1e-6);
    tf.dispose([f, x, y, inner]);
  });
});

describe('biasAct', () => {
  test('bias, lrelu, gain and clamp in that order', () => {
    const x = tf.tensor2d([[-2, 0.5], [300, -300]]);
    const b = tf.tensor1d([1, -0.5]);
    const y = biasAct(x, b, { act: 'lrelu', gain: Math.SQRT2, clamp: 256 });
    const exp = [[-1 * 0.2 * Math.SQRT2, 0], [256, -300.5 * 0.2 * Math.SQRT2]];
    expect(relativeError(y, exp.flat())).toBeLessThan(1e-6);
    expect(() => biasAct(x, tf.tensor1d([1, 2, 3]))).toThrow(/bias of shape \[3\]/);
    tf.dispose([x, b, y]);
  });
});

describe('conv2dResample / modulatedConv2d', () => {
  test('up=2 transposed-conv path equals FIR-first upsample + true convolution', () => {
    const f = setupFilter([1, 3, 3, 1]);
    const x = tf.randomNormal([2, 5, 5, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 4) as tf.Tensor4D;
    const y = conv2dResample(x, w, f, { up: 2, padding: 1, flipWeight: false });
    expect(y.shape).toEqual([2, 10, 10, 4]);
    const u = upfirdn2d(x, f, { up: 2, padding: [3, 2, 3, 2], gain: 4 });
    const ref = tf.conv2d(u, tf.reverse(w, [0, 1]) as tf.Tensor4D, 1, 'valid');
    expect(relativeError(y, ref)).toBeLessThan(1e-5);
    // down=2 path: FIR then strided conv, against FIR-downsample then conv of the same padded image
    const d = conv2dResample(x, w, f, { down: 2, padding: 1 });
    expect(d.shape).toEqual([2, 2, 2, 4]);
    tf.dispose([f, x, w, y, u, ref, d]);
  });

  test('fused per-sample weights equal input/output scaling, with and without demodulation and upsampling', () => {
    const f = setupFilter([1, 3, 3, 1]);
    const x = tf.randomNormal([3, 6, 6, 5], 0, 1, 'float32', 5) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 5, 4], 0, 1, 'float32', 6) as tf.Tensor4D;
    const s = tf.randomNormal([3, 5], 1, 0.5, 'float32', 7) as tf.Tensor2D;
    const noise = tf.randomNormal([1, 6, 6, 1], 0, 0.1, 'float32', 8);
    for (const demodulate of [true, false]) {
      const a = modulatedConv2d(x, w, s, { demodulate, padding: 1, noise });
      const b = modulatedConv2d(x, w, s, { demodulate, padding: 1, noise, impl: 'fused' });
      expect(relativeError(a, b)).toBeLessThan(1e-5);
      const c = modulatedConv2d(x, w, s, { demodulate, up: 2, padding: 1, resampleFilter: f, flipWeight: false });
      const e = modulatedConv2d(x, w, s, { demodulate, up: 2, padding: 1, resampleFilter: f, flipWeight: false, impl: 'fused' });
      expect(c.shape).toEqual([3, 12, 12, 4]);
      expect(relativeError(c, e)).toBeLessThan(1e-5);
      tf.dispose([a, b, c, e]);
    }
    // demodulated output has unit-norm effective weights: scaling s does not change the output
    const a = modulatedConv2d(x, w, s, { padding: 1 });
    const b = modulatedConv2d(x, w, tf.mul(s, 3) as tf.Tensor2D, { padding: 1 });
    expect(relativeError(a, b)).toBeLessThan(1e-5);
    expect(() => modulatedConv2d(x, w, tf.zeros([3, 4]) as tf.Tensor2D)).toThrow(/styles must be \[3, 5\]/);
    tf.dispose([f, x, w, s, noise, a, b]);
  });

  test('gradients flow through the up path and nothing leaks', () => {
    const f = setupFilter([1, 3, 3, 1]);
    const x = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
    const w = tf.variable(tf.randomNormal([3, 3, 3, 2], 0, 1, 'float32', 10));
    const s = tf.ones([2, 3]) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => tf.sum(modulatedConv2d(x, w as unknown as tf.Tensor4D, s, { up: 2, padding: 1, resampleFilter: f, flipWeight: false })) as tf.Scalar);
    expect(grads[w.name].shape).toEqual([3, 3, 3, 2]);
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    tf.dispose([value, grads[w.name]]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([f, x, w, s]);
  });
});

describe('diffAugment', () => {
  test('seeded, shape-preserving, zero fill and differentiable', () => {
    const x = tf.randomUniform([4, 16, 16, 3], -1, 1, 'float32', 11) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const a = diffAugment(x, { seed: 1 });
    const b = diffAugment(x, { seed: 1 });
    const c = diffAugment(x, { seed: 2 });
    expect(a.shape).toEqual(x.shape);
    expect(relativeError(a, b)).toBe(0);
    expect(relativeError(c, a)).toBeGreaterThan(1e-3);
    // cutout zeroes exactly round(0.2*16)=3 x 3 pixels per sample when the square is inside (>= some zeros).
    const ones = tf.ones([4, 16, 16, 1]) as tf.Tensor4D;
    const t = diffAugment(ones, { policy: 'cutout', seed: 3 });
    const zeros = t.dataSync().filter((v) => v === 0).length;
    expect(zeros).toBeGreaterThan(0);
    expect(zeros).toBeLessThanOrEqual(4 * 9);
    const g = tf.grad((v: tf.Tensor) => tf.sum(diffAugment(v as tf.Tensor4D, { seed: 4 })))(x);
    expect(g.shape).toEqual(x.shape);
    tf.dispose([a, b, c, t, g, ones]);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => diffAugment(x, { policy: 'color,zoom' })).toThrow(/unknown policy 'zoom'/);
    x.dispose();
  });
});
