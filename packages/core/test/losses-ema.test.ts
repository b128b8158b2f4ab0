import * as tf from '@tensorflow/tfjs';
import { hingeDLoss, hingeDLossParts, hingeGLoss, orthoRegLoss, orthoRegGrad, addOrthoRegGrads, r1Penalty, modeSeekingLoss } from '../src/losses';
import { EMA } from '../src/ema';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

test('hinge losses', () => {
  const real = tf.tensor1d([2, 0.5, -1]);
  const fake = tf.tensor1d([-2, 0, 1]);
  // real: relu(1-2)=0, 0.5, 2 -> mean 2.5/3; fake: relu(1-2)=0, 1, 2 -> mean 1
  expect(hingeDLoss(real, fake).dataSync()[0]).toBeCloseTo(2.5 / 3 + 1, 6);
  const p = hingeDLossParts(real, fake);
  expect(p.real.dataSync()[0]).toBeCloseTo(2.5 / 3, 6);
  expect(p.fake.dataSync()[0]).toBeCloseTo(1, 6);
  expect(hingeGLoss(fake).dataSync()[0]).toBeCloseTo(1 / 3, 6);
});

test('ortho reg: closed-form gradient equals autodiff of the loss, both layouts', () => {
  const w = tf.randomNormal([3, 3, 4, 6], 0, 1, 'float32', 3);
  const auto = tf.grad((x: tf.Tensor) => orthoRegLoss(x, 1e-2))(w);
  const closed = orthoRegGrad(w, 1e-2);
  const a = auto.dataSync(), c = closed.dataSync();
  const scale = Math.max(...Array.from(a).map(Math.abs));
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - c[i]) / scale).toBeLessThan(1e-4);
  // torch layout [out, in, kh, kw] gives the same per-element gradient after transposition
  const wt = tf.transpose(w, [3, 2, 0, 1]);
  const ct = orthoRegGrad(wt, 1e-2, 'first');
  const back = tf.transpose(ct, [2, 3, 1, 0]).dataSync();
  for (let i = 0; i < c.length; i++) expect(Math.abs(back[i] - c[i]) / scale).toBeLessThan(1e-4);
  // an orthogonal matrix has zero off-diagonal gram: zero gradient
  const eye = tf.eye(5);
  expect(Math.max(...Array.from(orthoRegGrad(eye, 1).dataSync()).map(Math.abs))).toBe(0);
  const g = addOrthoRegGrads({ a: tf.zeros([3, 3, 4, 6]), b: tf.zeros([6]) }, { a: w, b: tf.ones([6]) }, 1e-2, { skip: (n) => n === 'x' });
  expect(Array.from(g.a.dataSync())).toEqual(Array.from(c));
  expect(Array.from(g.b.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
});

test('r1 penalty of a linear critic is (γ/2)‖w‖²', () => {
  const w = tf.tensor4d([1, -2, 0.5, 3], [1, 2, 2, 1]);
  const d = (x: tf.Tensor) => tf.sum(tf.mul(x, w), [1, 2, 3]);
  const x = tf.randomNormal([3, 2, 2, 1]);
  expect(r1Penalty(d, x, 10).dataSync()[0]).toBeCloseTo(5 * (1 + 4 + 0.25 + 9), 4);
});

test('EMA update, start step, copy and load; leak-free', () => {
  const src = { a: tf.variable(tf.tensor1d([1, 2])), n: tf.variable(tf.tensor1d([3], 'int32'), false) };
  const n0 = tf.memory().numTensors;
  new EMA(src).dispose();
  expect(tf.memory().numTensors).toBe(n0);
  const ema = new EMA(src, { decay: 0.9, startStep: 2 });
  src.a.assign(tf.tensor1d([11, 12]));
  ema.update(0); // before start: pinned
  expect(Array.from(ema.shadow.a.dataSync())).toEqual([11, 12]);
  src.a.assign(tf.tensor1d([21, 22]));
  const before = tf.memory().numTensors;
  ema.update(5);
  expect(tf.memory().numTensors).toBe(before);
  const s = ema.shadow.a.dataSync();
  expect(s[0]).toBeCloseTo(0.9 * 11 + 0.1 * 21, 5);
  expect(s[1]).toBeCloseTo(0.9 * 12 + 0.1 * 22, 5);
  const target = { a: tf.variable(tf.zeros([2])), n: tf.variable(tf.tensor1d([0], 'int32')) };
  ema.copyTo(target);
  expect(target.a.dataSync()[0]).toBeCloseTo(12, 5);
  expect(() => ema.load({ a: tf.zeros([3]) })).toThrow(/shape/);
  ema.dispose();
});

describe('modeSeekingLoss (Mao et al. 2019)', () => {
  test('1 / (mean|ΔG| / mean|Δz| + ε) by hand, gradients push the pair apart, shape errors', () => {
    const a = tf.tensor2d([[0, 1], [2, 3]]);
    const b = tf.tensor2d([[1, 1], [2, 1]]); // mean|a − b| = 3/4
    const z1 = tf.tensor2d([[0, 0], [0, 0]]);
    const z2 = tf.tensor2d([[1, -1], [2, 0]]); // mean|z1 − z2| = 1
    const l = modeSeekingLoss(a, b, z1, z2, 0);
    expect(l.dataSync()[0]).toBeCloseTo(4 / 3, 6);
    // d/da of 1/r with r = mean|a−b|/1: −1/r² · sign(a−b)/4 -> descending moves a away from b
    const g = tf.grad((x: tf.Tensor) => modeSeekingLoss(x, b, z1, z2, 0))(a);
    const gv = g.dataSync();
    expect(gv[0]).toBeCloseTo((16 / 9) / 4, 5); // a < b there: a descent step moves a further below b
    expect(gv[3]).toBeCloseTo(-(16 / 9) / 4, 5); // a > b: further above
    expect(() => modeSeekingLoss(a, tf.zeros([2, 3]), z1, z2)).toThrow(/image pairs of shapes \[2,2\] and \[2,3\]/);
    tf.dispose([a, b, z1, z2, l, g]);
  });
});
