/**
 * The composed kernels of core/src/kernels against the cpu backend's own kernels, on fresh random inputs.
 * wasm gets the composed kernels registered; the cpu backend keeps its built-ins here (this file never registers
 * kernels for cpu), and the composed functions are also run directly on cpu against those built-ins.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { relativeError } from '@ganzoo/core';
import {
  conv2dBackpropFilterByConv, conv2dBackpropFilterByTaps, conv2dBackpropInput, depthwiseConv2dBackpropFilterByConv,
  depthwiseConv2dBackpropFilterByTaps, depthwiseConv2dBackpropInput,
} from '../src/kernels/conv';
import { einsum, maxPoolGrad, resizeGrad, unsortedSegmentSum } from '../src/kernels/misc';
import { registerTrainingKernels } from '../src/kernels/register';

const TOL = 1e-4;
type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

async function on<T extends tf.Tensor>(backend: string, fn: () => T): Promise<Float32Array> {
  if (!(await tf.setBackend(backend))) throw new Error(`setBackend(${backend}) failed`);
  const before = tf.memory().numTensors;
  const t = fn();
  const d = (await t.data()) as Float32Array;
  t.dispose();
  expect(tf.memory().numTensors).toBe(before); // no leaks
  return new Float32Array(d);
}

/** Deterministic pseudo-random values (fresh per call through the seed counter). */
let seed = 1;
const rand = (shape: number[]) => Array.from(tf.tidy(() => tf.randomNormal(shape, 0, 1, 'float32', seed++).dataSync()));

beforeAll(async () => {
  expect(await tf.setBackend('wasm')).toBe(true);
  registerTrainingKernels('wasm');
});

interface ConvCase { x: number[]; k: [number, number]; co: number; s: number | [number, number]; pad: Pad; round?: 'floor' | 'ceil' | 'round' }
const CONV_CASES: ConvCase[] = [
  { x: [2, 9, 7, 3], k: [3, 3], co: 4, s: 1, pad: 'same' },
  { x: [2, 9, 7, 3], k: [3, 3], co: 4, s: 2, pad: 'same' },
  { x: [1, 8, 8, 4], k: [4, 4], co: 5, s: 2, pad: 'same' },
  { x: [3, 9, 7, 2], k: [3, 3], co: 3, s: 2, pad: 'valid' },
  { x: [2, 10, 11, 3], k: [5, 5], co: 2, s: 1, pad: 'valid' },
  { x: [2, 6, 7, 3], k: [1, 1], co: 4, s: 2, pad: 'same' },
  { x: [2, 9, 8, 3], k: [3, 3], co: 4, s: 2, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { x: [1, 7, 9, 2], k: [2, 3], co: 3, s: [2, 1], pad: 'same' },
  { x: [2, 11, 10, 2], k: [2, 2], co: 3, s: 3, pad: 'valid' },
  { x: [2, 9, 9, 3], k: [3, 3], co: 2, s: 2, pad: 1, round: 'floor' },
  { x: [2, 16, 16, 8], k: [4, 4], co: 6, s: 2, pad: 'same' },
];

function name(c: ConvCase) {
  return `x[${c.x}] k${c.k.join('x')} s${c.s} pad ${JSON.stringify(c.pad)}`;
}

describe('Conv2DBackpropInput / Conv2DBackpropFilter', () => {
  test.each(CONV_CASES.map((c) => [name(c), c]))('%s', async (_n, c: ConvCase) => {
    const [n, H, W, ci] = c.x;
    const fShape: [number, number, number, number] = [c.k[0], c.k[1], ci, c.co];
    const info = tf.backend_util.computeConv2DInfo(c.x as any, fShape, c.s, 1, c.pad, c.round);
    const dyShape = [n, info.outHeight, info.outWidth, c.co];
    const xv = rand(c.x);
    const fv = rand(fShape);
    const dyv = rand(dyShape);
    const mk = () => ({ x: tf.tensor4d(xv, c.x as any), f: tf.tensor4d(fv, fShape), dy: tf.tensor4d(dyv, dyShape as any) });
    const attrs = { strides: c.s, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: c.round };
    const dxOf = () => tf.tidy(() => {
      const { f, dy } = mk();
      return tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, { ...attrs, inputShape: c.x } as any) as tf.Tensor;
    });
    const dwOf = () => tf.tidy(() => {
      const { x, dy } = mk();
      return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: fShape } as any) as tf.Tensor;
    });
    const refDx = await on('cpu', dxOf);
    const refDw = await on('cpu', dwOf);
    expect(relativeError(await on('wasm', dxOf), refDx)).toBeLessThan(TOL);
    expect(relativeError(await on('wasm', dwOf), refDw)).toBeLessThan(TOL);
    // The composed functions on the cpu backend (the cpu registration path), both dW forms.
    const g = { strides: c.s, pad: c.pad, dimRoundingMode: c.round };
    expect(relativeError(await on('cpu', () => tf.tidy(() => {
      const { f, dy } = mk();
      return conv2dBackpropInput(dy, f, c.x as any, g);
    })), refDx)).toBeLessThan(TOL);
    for (const fn of [conv2dBackpropFilterByConv, conv2dBackpropFilterByTaps]) {
      expect(relativeError(await on('cpu', () => tf.tidy(() => {
        const { x, dy } = mk();
        return fn(x, dy, fShape, g);
      })), refDw)).toBeLessThan(TOL);
    }
    expect(H * W).toBeGreaterThan(0);
  });

  test('NCHW data format through the kernel wrapper', async () => {
    const x = rand([2, 3, 8, 7]);
    const f = rand([3, 3, 3, 4]);
    const run = () => tf.tidy(() => {
      const xt = tf.tensor4d(x, [2, 3, 8, 7]);
      const ft = tf.tensor4d(f, [3, 3, 3, 4]);
      // NCHW convolution expressed through the NHWC forward + the NCHW backward kernels.
      const dy = tf.randomNormal([2, 4, 4, 4], 0, 1, 'float32', 7); // N,C,H,W for stride 2 same
      const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: ft },
        { strides: 2, pad: 'same', dataFormat: 'NCHW', inputShape: [2, 3, 8, 7] } as any) as tf.Tensor;
      const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x: xt, dy },
        { strides: 2, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 3, 4] } as any) as tf.Tensor;
      return tf.concat([dx.flatten(), dw.flatten()]);
    });
    // cpu reference from the NHWC kernels on transposed tensors.
    const ref = () => tf.tidy(() => {
      const xt = tf.transpose(tf.tensor4d(x, [2, 3, 8, 7]), [0, 2, 3, 1]);
      const ft = tf.tensor4d(f, [3, 3, 3, 4]);
      const dy = tf.transpose(tf.randomNormal([2, 4, 4, 4], 0, 1, 'float32', 7), [0, 2, 3, 1]);
      const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: ft },
        { strides: 2, pad: 'same', dataFormat: 'NHWC', inputShape: [2, 8, 7, 3] } as any) as tf.Tensor;
      const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x: xt, dy },
        { strides: 2, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 3, 4] } as any) as tf.Tensor;
      return tf.concat([tf.transpose(dx, [0, 3, 1, 2]).flatten(), dw.flatten()]);
    });
    expect(relativeError(await on('wasm', run), await on('cpu', ref))).toBeLessThan(TOL);
  });

  test('conv2d / conv2dTranspose gradients end to end (tf.grads) match cpu', async () => {
    const xv = rand([2, 8, 8, 3]);
    const wv = rand([4, 4, 3, 5]);
    const tv = rand([4, 4, 6, 5]); // conv2dTranspose filter [kh, kw, outC, inC]
    const run = () => tf.tidy(() => {
      const f = (x: tf.Tensor, w: tf.Tensor, t: tf.Tensor) => {
        const y = tf.leakyRelu(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same'), 0.2);
        const z = tf.conv2dTranspose(y as tf.Tensor4D, t as tf.Tensor4D, [2, 8, 8, 6], 2, 'same');
        return tf.sum(tf.mul(z, z));
      };
      const gs = tf.grads(f)([tf.tensor4d(xv, [2, 8, 8, 3]), tf.tensor4d(wv, [4, 4, 3, 5]), tf.tensor4d(tv, [4, 4, 6, 5])]);
      return tf.concat(gs.map((g) => g.flatten()));
    });
    expect(relativeError(await on('wasm', run), await on('cpu', run))).toBeLessThan(TOL);
  });
});

describe('DepthwiseConv2dNativeBackpropInput / Filter', () => {
  const CASES: Array<{ x: number[]; k: number; m: number; s: number; pad: Pad }> = [
    { x: [2, 9, 7, 3], k: 3, m: 1, s: 1, pad: 'same' },
    { x: [2, 9, 7, 3], k: 3, m: 2, s: 2, pad: 'same' },
    { x: [1, 8, 8, 4], k: 4, m: 1, s: 2, pad: 'valid' },
    { x: [3, 10, 9, 2], k: 5, m: 3, s: 1, pad: 'valid' },
    { x: [2, 9, 8, 3], k: 3, m: 1, s: 2, pad: [[0, 0], [2, 1], [1, 0], [0, 0]] },
  ];
  test.each(CASES.map((c) => [`x[${c.x}] k${c.k} m${c.m} s${c.s} ${JSON.stringify(c.pad)}`, c]))('%s', async (_n, c: any) => {
    const fShape: [number, number, number, number] = [c.k, c.k, c.x[3], c.m];
    const info = tf.backend_util.computeConv2DInfo(c.x, fShape, c.s, 1, c.pad, undefined, true);
    const dyShape = [c.x[0], info.outHeight, info.outWidth, c.x[3] * c.m];
    const xv = rand(c.x);
    const fv = rand(fShape);
    const dyv = rand(dyShape);
    const attrs = { strides: c.s, pad: c.pad, dilations: 1 };
    const dx = () => tf.tidy(() => tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput',
      { dy: tf.tensor(dyv, dyShape), filter: tf.tensor(fv, fShape) }, { ...attrs, inputShape: c.x } as any) as tf.Tensor);
    const dw = () => tf.tidy(() => tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter',
      { x: tf.tensor(xv, c.x), dy: tf.tensor(dyv, dyShape) }, { ...attrs, filterShape: fShape } as any) as tf.Tensor);
    const refDx = await on('cpu', dx);
    const refDw = await on('cpu', dw);
    expect(relativeError(await on('wasm', dx), refDx)).toBeLessThan(TOL);
    expect(relativeError(await on('wasm', dw), refDw)).toBeLessThan(TOL);
    const g = { strides: c.s, pad: c.pad };
    expect(relativeError(await on('cpu', () => tf.tidy(() =>
      depthwiseConv2dBackpropInput(tf.tensor4d(dyv, dyShape as any), tf.tensor4d(fv, fShape), c.x, g))), refDx)).toBeLessThan(TOL);
    for (const fn of [depthwiseConv2dBackpropFilterByConv, depthwiseConv2dBackpropFilterByTaps]) {
      expect(relativeError(await on('cpu', () => tf.tidy(() =>
        fn(tf.tensor4d(xv, c.x), tf.tensor4d(dyv, dyShape as any), fShape, g))), refDw)).toBeLessThan(TOL);
    }
  });

  test('dilations other than 1 are refused with a clear error', async () => {
    await tf.setBackend('wasm');
    expect(() => tf.tidy(() => tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput',
      { dy: tf.zeros([1, 4, 4, 2]), filter: tf.zeros([3, 3, 2, 1]) },
      { strides: 1, pad: 'same', dilations: 2, inputShape: [1, 4, 4, 2] } as any))).toThrow(/expected dilations \[1, 1\]/);
  });
});

describe('UnsortedSegmentSum (gather gradient)', () => {
  test('duplicates, out-of-range ids dropped, 2-D and 3-D x', async () => {
    const xv = rand([6, 3, 2]);
    const ids = [2, 0, 2, -1, 4, 7];
    const run = () => tf.tidy(() => tf.unsortedSegmentSum(tf.tensor(xv, [6, 3, 2]), tf.tensor1d(ids, 'int32'), 5));
    const ref = await on('cpu', run);
    expect(relativeError(await on('wasm', run), ref)).toBeLessThan(TOL);
    expect(relativeError(await on('cpu', () => tf.tidy(() =>
      unsortedSegmentSum(tf.tensor(xv, [6, 3, 2]), tf.tensor1d(ids, 'int32'), 5))), ref)).toBeLessThan(TOL);
    const x2 = rand([7, 5]);
    const run2 = () => tf.tidy(() => tf.unsortedSegmentSum(tf.tensor(x2, [7, 5]), tf.tensor1d([0, 0, 0, 3, 3, 1, 0], 'int32'), 4));
    expect(relativeError(await on('wasm', run2), await on('cpu', run2))).toBeLessThan(TOL);
  });

  test('embedding lookup gradient end to end', async () => {
    const ev = rand([10, 4]);
    const run = () => tf.tidy(() => tf.grad((e: tf.Tensor) => tf.sum(tf.square(tf.gather(e, tf.tensor1d([3, 1, 3, 9, 0], 'int32')))))(
      tf.tensor2d(ev, [10, 4])));
    expect(relativeError(await on('wasm', run), await on('cpu', run))).toBeLessThan(TOL);
  });
});

describe('Einsum', () => {
  test.each([
    ['ij,jk->ik', [[3, 4], [4, 5]]],
    ['bij,bjk->bik', [[2, 3, 4], [2, 4, 5]]],
    ['ij->ji', [[3, 4]]],
    ['i,i->', [[7], [7]]],
    ['bhqd,bhkd->bhqk', [[2, 2, 3, 4], [2, 2, 5, 4]]],
    ['i,j->ij', [[3], [4]]],
    ['bij,bkj->bik', [[2, 3, 4], [2, 5, 4]]],
    ['ij,jk->ki', [[3, 4], [4, 5]]],
    ['abc,cd->abd', [[2, 3, 4], [4, 5]]],
    ['bn,anm->bam', [[2, 3], [4, 3, 5]]],
  ] as Array<[string, number[][]]>)('%s', async (eq, shapes) => {
    const vals = shapes.map((s) => rand(s));
    const run = () => tf.tidy(() => tf.einsum(eq, ...vals.map((v, i) => tf.tensor(v, shapes[i]))));
    const ref = await on('cpu', run);
    expect(relativeError(await on('wasm', run), ref)).toBeLessThan(TOL);
    expect(relativeError(await on('cpu', () => tf.tidy(() => einsum(eq, vals.map((v, i) => tf.tensor(v, shapes[i]))))), ref))
      .toBeLessThan(TOL);
  });
});

test('Einsum with an index summed out of one operand (ij,kl->ijk; tfjs cpu returns 4 values here)', async () => {
  const av = rand([2, 3]);
  const bv = rand([4, 5]);
  const got = await on('wasm', () => tf.tidy(() => tf.einsum('ij,kl->ijk', tf.tensor(av, [2, 3]), tf.tensor(bv, [4, 5]))));
  const ref = await on('cpu', () => tf.tidy(() =>
    tf.mul(tf.reshape(tf.tensor(av, [2, 3]), [2, 3, 1]), tf.reshape(tf.sum(tf.tensor(bv, [4, 5]), 1), [1, 1, 4]))));
  expect(relativeError(got, ref)).toBeLessThan(TOL);
});

describe('MaxPoolGrad', () => {
  test('all-negative window routes to its max like cpu', async () => {
    const run = () => tf.tidy(() => tf.grad((x: tf.Tensor) => tf.sum(tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid')))(
      tf.tensor4d([-2, -1, -3, -4], [1, 2, 2, 1])));
    expect(Array.from(await on('wasm', run))).toEqual([0, 1, 0, 0]);
    expect(Array.from(await on('cpu', run))).toEqual([0, 1, 0, 0]);
  });

  test.each([
    [[2, 8, 8, 3], 2, 2, 'valid'],
    [[2, 9, 7, 3], 3, 2, 'same'],
    [[1, 9, 9, 2], 3, 1, 'same'],
    [[2, 10, 10, 2], 3, 3, 'valid'],
  ] as Array<[number[], number, number, 'same' | 'valid']>)('x[%s] k%s s%s %s', async (shape, k, s, pad) => {
    const xv = rand(shape).map((v) => Math.round(v * 2) / 2 - 1); // ties and all-negative windows on purpose
    const run = () => tf.tidy(() => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(x as tf.Tensor4D, k, s, pad),
      tf.randomUniform(tf.maxPool(x as tf.Tensor4D, k, s, pad).shape, 0.5, 1.5, 'float32', 3))))(tf.tensor(xv, shape)));
    const ref = await on('cpu', run);
    expect(relativeError(await on('wasm', run), ref)).toBeLessThan(TOL);
    expect(relativeError(await on('cpu', () => tf.tidy(() => {
      const x = tf.tensor4d(xv, shape as any);
      const y = tf.maxPool(x, k, s, pad);
      const dy = tf.randomUniform(y.shape, 0.5, 1.5, 'float32', 3) as tf.Tensor4D;
      return maxPoolGrad(dy, x, y, k, s, pad);
    })), ref)).toBeLessThan(TOL);
  });
});

describe('AvgPoolGrad (composed broadcast for tiling windows on wasm, built-in otherwise)', () => {
  test.each([
    [[2, 8, 8, 3], 2, 2, 'valid'], // composed: windows tile the input
    [[2, 9, 7, 3], 2, 2, 'valid'], // composed, the dropped last row / column get 0
    [[1, 9, 6, 2], [3, 2], [3, 2], 'valid'], // composed, non-square windows
    [[2, 9, 7, 3], 3, 2, 'same'], // built-in (overlapping, padded)
    [[2, 8, 8, 2], 3, 1, 'valid'], // built-in (overlapping)
  ] as Array<[number[], number | [number, number], number | [number, number], 'same' | 'valid']>)('x[%s] k%s s%s %s', async (shape, k, s, pad) => {
    const xv = rand(shape);
    const run = () => tf.tidy(() => {
      const x = tf.tensor(xv, shape) as tf.Tensor4D;
      const w = tf.randomUniform(tf.avgPool(x, k, s, pad).shape, 0.5, 1.5, 'float32', 5);
      return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(t as tf.Tensor4D, k, s, pad), w)))(x);
    });
    expect(relativeError(await on('wasm', run), await on('cpu', run))).toBeLessThan(TOL);
  });
});

describe('ResizeBilinearGrad / ResizeNearestNeighborGrad (composed adjoints)', () => {
  test.each([
    [[2, 3, 5, 2], [6, 10], false, false],
    [[1, 4, 6, 3], [7, 5], true, false],
    [[2, 5, 3, 1], [10, 6], false, true],
    [[1, 8, 8, 2], [4, 4], false, true],
    [[1, 6, 4, 2], [9, 7], true, true],
  ] as Array<[number[], [number, number], boolean, boolean]>)('x[%s] -> %s align %s half %s', async (shape, size, ac, hp) => {
    if (ac && hp) return; // tfjs refuses alignCorners together with halfPixelCenters
    const xv = rand(shape);
    const dyShape = [shape[0], size[0], size[1], shape[3]];
    const dyv = rand(dyShape);
    for (const method of ['bilinear', 'nearest'] as const) {
      const resize = (x: tf.Tensor4D) => method === 'bilinear' ? tf.image.resizeBilinear(x, size, ac, hp)
        : tf.image.resizeNearestNeighbor(x, size, ac, hp);
      // Adjoint identity <resize(x), dy> = <x, grad(dy)>: the registered kernel (tf.grad on wasm) and the composed
      // function on both backends. (The cpu built-ins, kept in this file, fail it; backend.test checks cpu after init.)
      for (const b of ['cpu', 'wasm']) {
        const [lhs, rhsComposed, rhs] = await on(b, () => tf.tidy(() => {
          const x = tf.tensor4d(xv, shape as any);
          const dy = tf.tensor4d(dyv, dyShape as any);
          const l = tf.sum(tf.mul(resize(x), dy));
          const rc = tf.sum(tf.mul(x, resizeGrad(method, x, dy, ac, hp)));
          if (b === 'cpu') return tf.stack([l, rc, rc]);
          const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(resize(t as tf.Tensor4D), dy)))(x);
          return tf.stack([l, rc, tf.sum(tf.mul(x, g))]);
        }));
        const scale = Math.max(1, Math.abs(lhs));
        expect(Math.abs(lhs - rhs) / scale).toBeLessThan(TOL);
        expect(Math.abs(lhs - rhsComposed) / scale).toBeLessThan(TOL);
      }
    }
  });
});

describe('BatchMatMul with transposes (explicit transposes on wasm)', () => {
  test.each([
    // tiny products (<= 8192 multiply-adds): wasm's built-in with its transpose flags
    [[7, 5], [6, 5], false, true],
    [[5, 7], [5, 6], true, false],
    [[5, 7], [6, 5], true, true],
    [[3, 4, 5], [3, 6, 5], false, true],
    [[2, 3, 5, 4], [2, 3, 5, 6], true, false],
    [[1, 5, 4], [3, 5, 6], true, false],
    // aᵀb with a wider than b: computed as (bᵀa)ᵀ on wasm
    [[2, 3, 5, 6], [2, 3, 5, 4], true, false],
    [[1, 5, 6], [3, 5, 4], true, false],
    [[3, 5, 6], [1, 5, 4], true, false],
    [[300, 40], [300, 8], true, false],
    // the same layouts above the tiny-product threshold: explicit transposes
    [[40, 30], [50, 30], false, true],
    [[30, 40], [30, 50], true, false],
    [[30, 40], [50, 30], true, true],
    [[3, 40, 30], [3, 50, 30], false, true],
    [[2, 3, 30, 40], [2, 3, 30, 50], true, false],
    [[1, 30, 40], [3, 30, 50], true, false],
    [[2, 3, 30, 50], [2, 3, 30, 40], true, false],
    [[1, 30, 50], [3, 30, 40], true, false],
    [[3, 30, 50], [1, 30, 40], true, false],
    [[1, 64], [32, 64], false, true],
    [[64, 32], [1, 32], false, true],
  ] as [number[], number[], boolean, boolean][])('a%j b%j transposeA %s transposeB %s matches cpu', async (sa, sb, ta, tb) => {
    const av = rand(sa);
    const bv = rand(sb);
    const run = () => tf.tidy(() => tf.matMul(tf.tensor(av, sa), tf.tensor(bv, sb), ta, tb));
    expect(relativeError(await on('wasm', run), await on('cpu', run))).toBeLessThan(TOL);
  });

  test('matMul gradients end to end match cpu', async () => {
    const av = rand([9, 4]);
    const bv = rand([4, 6]);
    const run = () => tf.tidy(() => {
      const [ga, gb] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.matMul(a, b))))([tf.tensor2d(av, [9, 4]), tf.tensor2d(bv, [4, 6])]);
      return tf.concat([ga.flatten(), gb.flatten()]);
    });
    expect(relativeError(await on('wasm', run), await on('cpu', run))).toBeLessThan(TOL);
  });
});
