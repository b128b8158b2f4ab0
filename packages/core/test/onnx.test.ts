/**
 * The ONNX writer (src/onnx): graphs of the ops the model packages use, run in onnxruntime-node, equal the tfjs
 * ops (<= 1e-5 relative); malformed builder use throws clear errors. Skips with a reason when onnxruntime-node
 * cannot be loaded.
 */
import * as tf from '@tensorflow/tfjs';
import { OnnxGraph, createOrtSession, loadOnnxRuntime, onnxRuntimeUnavailableReason, requireOnnxRuntime, defaultOrtThreads } from '../src/onnx';
import { relativeError } from '../src/testing';

const TOL = 1e-5;
const ort = loadOnnxRuntime();
if (!ort) console.log(`onnx tests skipped: onnxruntime-node cannot be loaded (${onnxRuntimeUnavailableReason()})`);
const maybe = ort ? describe : describe.skip;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function rand(shape: number[], seed: number): tf.Tensor {
  return tf.randomNormal(shape, 0, 1, 'float32', seed);
}

/** Run a graph whose inputs are the given tensors (by name); returns the outputs as tf tensors, in output order. */
async function runGraph(g: OnnxGraph, feeds: Record<string, tf.Tensor>, outputs: string[]): Promise<tf.Tensor[]> {
  const session = await createOrtSession(g.toBytes(), { threads: 1 });
  try {
    const f: Record<string, any> = {};
    for (const [k, t] of Object.entries(feeds)) f[k] = new ort!.Tensor('float32', t.dataSync() as Float32Array, t.shape);
    const r = await session.run(f);
    return outputs.map((o) => tf.tensor(r[o].data as Float32Array, r[o].dims as number[]));
  } finally {
    await session.release();
  }
}

const nchw = (t: tf.Tensor) => tf.transpose(t, [0, 3, 1, 2]);
const nhwc = (t: tf.Tensor) => tf.transpose(t, [0, 2, 3, 1]);

function expectClose(actual: tf.Tensor, expected: tf.Tensor, what: string): void {
  expect(actual.shape).toEqual(expected.shape);
  const e = relativeError(actual, expected);
  if (!(e <= TOL)) throw new Error(`${what}: relative error ${e}`);
}

maybe('ONNX writer + onnxruntime-node', () => {
  test('Conv with pads and bias (3x3 and 1x1), Relu, Tanh equal tfjs conv2d', async () => {
    const x = rand([2, 6, 5, 4], 1); // NHWC
    const w3 = rand([3, 3, 4, 7], 2); // HWIO
    const b3 = rand([7], 3);
    const w1 = rand([1, 1, 7, 5], 4);
    const g = new OnnxGraph('conv');
    const xi = g.input('x', ['N', 4, 6, 5]);
    const toOihw = (w: tf.Tensor) => tf.transpose(w, [3, 2, 0, 1]);
    const c3 = g.node('Conv', [xi, g.initializer('w3', toOihw(w3).dataSync() as Float32Array, [7, 4, 3, 3]), g.initializer('b3', b3.dataSync() as Float32Array, [7])],
      { pads: [1, 1, 1, 1], kernel_shape: [3, 3] });
    const r = g.node('Relu', [c3]);
    const c1 = g.node('Conv', [r, g.initializer('w1', toOihw(w1).dataSync() as Float32Array, [5, 7, 1, 1])]);
    const t = g.node('Tanh', [c1]);
    g.output(c3);
    g.output(t, ['N', 5, 6, 5]);
    const [o3, ot] = await runGraph(g, { x: nchw(x) }, [c3, t]);
    const e3 = tf.add(tf.conv2d(x as tf.Tensor4D, w3 as tf.Tensor4D, 1, 'same'), b3);
    const et = tf.tanh(tf.conv2d(tf.relu(e3) as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'same'));
    expectClose(nhwc(o3), e3, 'Conv 3x3 + bias');
    expectClose(nhwc(ot), et, 'Conv 1x1 + Relu + Tanh');
  });

  test('MatMul (batched), Add / Mul broadcasting, Softmax, Transpose, Reshape', async () => {
    const a = rand([3, 4, 5], 5);
    const b = rand([3, 5, 6], 6);
    const row = rand([6], 7);
    const col = rand([3, 4, 1], 8);
    const g = new OnnxGraph('mm');
    const ai = g.input('a', ['N', 4, 5]);
    const bi = g.input('b', ['N', 5, 6]);
    const ci = g.input('col', ['N', 4, 1]);
    const m = g.node('MatMul', [ai, bi]);
    const s = g.node('Softmax', [g.node('Mul', [g.node('Add', [m, g.initializer('row', row.dataSync() as Float32Array, [6])]), ci])], { axis: -1 });
    const tr = g.node('Transpose', [s], { perm: [0, 2, 1] });
    const rs = g.node('Reshape', [tr, g.int64([-1, 12])]);
    g.output(s);
    g.output(rs);
    const [os, ors] = await runGraph(g, { a, b, col }, [s, rs]);
    const es = tf.softmax(tf.mul(tf.add(tf.matMul(a, b), row), col));
    expectClose(os, es, 'MatMul + Add + Mul + Softmax');
    expectClose(ors, tf.reshape(tf.transpose(es, [0, 2, 1]), [-1, 12]), 'Transpose + Reshape');
  });

  test('Resize nearest 2x, MaxPool 2x2, Slice equal tfjs', async () => {
    const x = rand([2, 4, 6, 5], 9); // NHWC
    const g = new OnnxGraph('resample');
    const xi = g.input('x', ['N', 5, 4, 6]);
    const up = g.node('Resize', [xi, '', g.float32([1, 1, 2, 2])], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' });
    const mp = g.node('MaxPool', [xi], { kernel_shape: [2, 2], strides: [2, 2] });
    const sl = g.node('Slice', [xi, g.int64([1]), g.int64([4]), g.int64([1])]);
    for (const o of [up, mp, sl]) g.output(o);
    const [oup, omp, osl] = await runGraph(g, { x: nchw(x) }, [up, mp, sl]);
    expectClose(nhwc(oup), tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [8, 12], false, false), 'Resize');
    expectClose(nhwc(omp), tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid'), 'MaxPool');
    expectClose(nhwc(osl), tf.slice(x, [0, 0, 0, 1], [-1, -1, -1, 3]), 'Slice');
  });

  test('float attributes, scalar inputs and int64 constants round-trip', async () => {
    const x = rand([4, 3], 10);
    const g = new OnnxGraph('attrs');
    const xi = g.input('x', [4, 3]);
    const lr = g.node('LeakyRelu', [xi], { alpha: { f: 0.25 } });
    const s = g.input('s', []);
    const y = g.node('Mul', [lr, s]);
    g.output(y);
    const [oy] = await runGraph(g, { x, s: tf.scalar(3) }, [y]);
    expectClose(oy, tf.mul(tf.leakyRelu(x, 0.25), 3), 'LeakyRelu(alpha 0.25) * scalar');
  });
});

describe('OnnxGraph errors', () => {
  test('malformed use throws clear errors', () => {
    const g = new OnnxGraph('bad');
    const x = g.input('x', ['N', 3]);
    expect(() => g.input('x', [1])).toThrow(/'x' is already defined/);
    expect(() => g.input('y', [1.5])).toThrow(/invalid dimension 1.5/);
    expect(() => g.node('Relu', ['nope'])).toThrow(/Relu input 0 'nope' is not defined/);
    expect(() => g.node('Conv', [x], { group: 0.5 })).toThrow(/'group' = 0.5 is not an integer \(use \{ f: 0.5 \}/);
    expect(() => g.node('Conv', [x], { pads: [1, 0.5] })).toThrow(/non-integer entries/);
    expect(() => g.node('Conv', [x], { bad: { nope: 1 } as any })).toThrow(/unsupported value/);
    expect(() => g.node('', [x])).toThrow(/op type must be an operator name/);
    expect(() => g.initializer('w', new Float32Array(5), [2, 3])).toThrow(/'w' has 5 values but dims \[2,3\] need 6/);
    expect(() => g.initializer('w', [1, 2] as any, [2])).toThrow(/must be a Float32Array or BigInt64Array/);
    expect(() => g.output('missing')).toThrow(/output 'missing' is not defined/);
    expect(() => g.toBytes()).toThrow(/has no outputs/);
    const r = g.node('Relu', [x]);
    g.output(r);
    expect(() => g.output(r)).toThrow(/already an output/);
    expect(g.toBytes().length).toBeGreaterThan(0);
  });

  test('requireOnnxRuntime names the package and the install command when disabled; thread default', () => {
    const prev = process.env.GANZOO_ORT;
    process.env.GANZOO_ORT = 'off';
    try {
      expect(loadOnnxRuntime()).toBeNull();
      expect(() => requireOnnxRuntime('test engine')).toThrow(/test engine needs the optional package 'onnxruntime-node'.*npm install onnxruntime-node/);
    } finally {
      if (prev === undefined) delete process.env.GANZOO_ORT;
      else process.env.GANZOO_ORT = prev;
    }
    const t = process.env.GANZOO_ORT_THREADS;
    process.env.GANZOO_ORT_THREADS = '3';
    expect(defaultOrtThreads()).toBe(3);
    process.env.GANZOO_ORT_THREADS = 'x';
    expect(() => defaultOrtThreads()).toThrow(/GANZOO_ORT_THREADS must be a positive integer/);
    if (t === undefined) delete process.env.GANZOO_ORT_THREADS;
    else process.env.GANZOO_ORT_THREADS = t;
  });
});
