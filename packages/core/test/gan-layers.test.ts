import * as tf from '@tensorflow/tfjs';
import {
  snMatrix, snPowerIteration, snSigma, spectralNormalize, SpectralNorm,
} from '../src/layers/spectral-norm';
import {
  truncationStatsIndex, truncationStats, batchNormApply, conditionalBatchNorm, batchMoments, updatedRunningStats,
} from '../src/layers/conditional-batchnorm';
import { saganAttention } from '../src/layers/sagan-attention';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number) {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(tol);
}

describe('spectral norm', () => {
  test('converges to the largest singular value and matches the torch view W = Mᵀ', () => {
    // M [fanIn=3, out=2] with singular values known: M = U diag(s) Vᵀ, s = (5, 2).
    const m = tf.tensor2d([[3, 0], [0, 2], [4, 0]]); // columns orthogonal: norms 5 and 2
    const u = tf.tensor1d([0.3, 0.7]);
    const r = snPowerIteration(m, u, 1e-12, 50);
    const sigma = snSigma(m, r.u, r.v);
    expect(sigma.dataSync()[0]).toBeCloseTo(5, 4);
    // torch: v_t = normalize(Wᵀ u) with W = Mᵀ, i.e. normalize(M u); u = normalize(W v) = normalize(Mᵀ v)
    const r1 = snPowerIteration(m, u, 1e-12, 1);
    const mu = m.matMul(u.reshape([2, 1])).reshape([-1]);
    close(r1.v.dataSync(), mu.div(mu.norm()).dataSync(), 1e-6);
    tf.dispose([m, u, r.u, r.v, sigma, r1.u, r1.v, mu]);
  });

  test('conv kernel view and iterations = 0 use stored u, v; state update in training', () => {
    const w = tf.randomNormal([3, 3, 4, 5], 0, 1, 'float32', 1);
    const m = snMatrix(w);
    expect(m.shape).toEqual([36, 5]);
    const u = tf.randomNormal([5], 0, 1, 'float32', 2);
    const v = tf.randomNormal([36], 0, 1, 'float32', 3);
    const r0 = spectralNormalize(w, u, v, { iterations: 0 });
    const expSigma = tf.sum(tf.mul(tf.matMul(v.reshape([1, -1]), m).reshape([-1]), u));
    expect(r0.sigma.dataSync()[0]).toBeCloseTo(expSigma.dataSync()[0], 4);
    close(r0.weight.dataSync(), w.div(expSigma).dataSync(), 1e-5);
    expect(() => spectralNormalize(w, tf.zeros([4]), v)).toThrow(/u has 4 entries, expected 5/);
    const wv = tf.variable(w);
    const uv = tf.variable(u);
    const vv = tf.variable(v);
    const sn = new SpectralNorm(wv, uv, vv, { eps: 1e-12, evalIterations: 0, trainIterations: 1, outAxis: 'last' });
    const before = tf.memory().numTensors;
    const ev = sn.compute(false);
    expect(tf.memory().numTensors).toBe(before + 1);
    close(uv.dataSync(), u.dataSync(), 0);
    const tr = sn.compute(true);
    expect(Array.from(uv.dataSync())).not.toEqual(Array.from(u.dataSync()));
    expect(Math.abs(tf.norm(uv).dataSync()[0] - 1)).toBeLessThan(1e-5);
    tf.dispose([w, m, u, v, r0.weight, r0.sigma, r0.u, r0.v, expSigma, wv, uv, vv, ev, tr]);
  });

  test('gradient flows through W only', () => {
    const w = tf.variable(tf.randomNormal([4, 3], 0, 1, 'float32', 7));
    const u = tf.randomNormal([3], 0, 1, 'float32', 8);
    const { grads, value } = tf.variableGrads(() => {
      const r = spectralNormalize(w, u, null, { iterations: 1 });
      return tf.sum(r.weight);
    }, [w]);
    expect(grads[w.name].shape).toEqual([4, 3]);
    expect(Number.isFinite(grads[w.name].dataSync()[0])).toBe(true);
    tf.dispose([w, u, value, grads[w.name]]);
  });
});

describe('conditional batch norm', () => {
  test('truncation → stats row as the official float64 modf', () => {
    expect(truncationStatsIndex(0.4, 51)).toEqual({ index: 20, coef: 0 });
    expect(truncationStatsIndex(1.0, 51)).toEqual({ index: 50, coef: 0 });
    const r = truncationStatsIndex(0.725, 51);
    expect(r.index).toBe(36);
    expect(r.coef).toBeCloseTo(0.25, 12);
    // float32(0.4) is off the grid: the official code would interpolate
    expect(truncationStatsIndex(Math.fround(0.4), 51).coef).not.toBe(0);
    expect(() => truncationStatsIndex(0, 51)).toThrow(/\(0, 1\]/);
    expect(truncationStatsIndex(0.3, 1)).toEqual({ index: 0, coef: 0 });
  });

  test('off-grid stats weight coef goes to the lower row (official, reversed)', () => {
    const table = tf.tensor2d(Array.from({ length: 51 * 2 }, (_, i) => Math.floor(i / 2)), [51, 2]);
    const s = truncationStats(table, 0.725); // rows 36 and 37, coef 0.25 on row 36
    close(s.dataSync(), [36 * 0.25 + 37 * 0.75, 36 * 0.25 + 37 * 0.75], 1e-4);
    tf.dispose([table, s]);
  });

  test('BN formulas', () => {
    const x = tf.randomNormal([2, 3, 3, 4], 0, 1, 'float32', 5);
    const mean = tf.tensor1d([0.1, -0.2, 0.3, 0]);
    const variance = tf.tensor1d([1, 2, 0.5, 1.5]);
    const scale = tf.randomNormal([2, 4], 0, 1, 'float32', 6);
    const offset = tf.randomNormal([2, 4], 0, 1, 'float32', 9);
    const y = conditionalBatchNorm(x, mean, variance, scale, offset, 1e-4);
    const xs = x.arraySync() as number[][][][];
    const ys = y.arraySync() as number[][][][];
    const ms = mean.arraySync(); const vs = variance.arraySync();
    const ss = scale.arraySync() as number[][]; const os = offset.arraySync() as number[][];
    for (let b = 0; b < 2; b++) for (let c = 0; c < 4; c++) {
      const e = (xs[b][1][2][c] - ms[c]) / Math.sqrt(vs[c] + 1e-4) * (1 + ss[b][c]) + os[b][c];
      expect(ys[b][1][2][c]).toBeCloseTo(e, 5);
    }
    const mom = batchMoments(x);
    const n = batchNormApply(x, mom.mean, mom.variance, 0);
    const m2 = batchMoments(n);
    close(m2.mean.dataSync(), [0, 0, 0, 0], 1e-5);
    close(m2.variance.dataSync(), [1, 1, 1, 1], 1e-4);
    const upd = updatedRunningStats(tf.zeros([4]), tf.ones([4]), tf.ones([4]), tf.ones([4]), 18, 0.1);
    close(upd.mean.dataSync(), [0.1, 0.1, 0.1, 0.1], 1e-6);
    close(upd.variance.dataSync(), Array(4).fill(0.9 + 0.1 * 18 / 17), 1e-6);
  });
});

describe('SAGAN attention', () => {
  test('matches a naive loop (no 1/sqrt(d), pooled keys, gamma residual)', () => {
    const B = 1, H = 4, W = 4, C = 16;
    const x = tf.randomNormal([B, H, W, C], 0, 1, 'float32', 11) as tf.Tensor4D;
    const wt = tf.randomNormal([C, 2], 0, 0.5, 'float32', 12);
    const wp = tf.randomNormal([C, 2], 0, 0.5, 'float32', 13);
    const wg = tf.randomNormal([C, 8], 0, 0.5, 'float32', 14);
    const wo = tf.randomNormal([8, C], 0, 0.5, 'float32', 15);
    const before = tf.memory().numTensors;
    const out = saganAttention(x, { theta: wt, phi: wp.reshape([1, 1, C, 2]), g: wg, o: wo, gamma: 0.7 });
    expect(tf.memory().numTensors).toBe(before + 2); // out + the reshaped phi kernel
    const X = x.arraySync()[0];
    const mat = (a: number[][], v: number[]) => a[0].map((_, j) => v.reduce((s, vi, i) => s + vi * a[i][j], 0));
    const T = wt.arraySync() as number[][], P = wp.arraySync() as number[][], G = wg.arraySync() as number[][], O = wo.arraySync() as number[][];
    const theta = X.map((row) => row.map((px) => mat(T, px)));
    const phiF = X.map((row) => row.map((px) => mat(P, px)));
    const gF = X.map((row) => row.map((px) => mat(G, px)));
    const pool = (f: number[][][]) => {
      const r: number[][] = [];
      for (let i = 0; i < H; i += 2) for (let j = 0; j < W; j += 2) {
        r.push(f[i][j].map((_, c) => Math.max(f[i][j][c], f[i + 1][j][c], f[i][j + 1][c], f[i + 1][j + 1][c])));
      }
      return r;
    };
    const phi = pool(phiF), g = pool(gF);
    const res = out.arraySync()[0];
    for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
      const logits = phi.map((k) => k.reduce((s, kv, c) => s + kv * theta[i][j][c], 0));
      const mx = Math.max(...logits);
      const e = logits.map((l) => Math.exp(l - mx));
      const z = e.reduce((a, b) => a + b, 0);
      const ag = g[0].map((_, c) => g.reduce((s, gv, k) => s + (e[k] / z) * gv[c], 0));
      const o = mat(O, ag);
      for (let c = 0; c < C; c++) expect(res[i][j][c]).toBeCloseTo(X[i][j][c] + 0.7 * o[c], 4);
    }
  });
});

describe('broadcast helpers', () => {
  test('expandPerSample: matmul expansion equals the reshape broadcast exactly', () => {
    const { expandPerSample } = jest.requireActual('../src/layers/conditional-batchnorm');
    const t = tf.randomNormal([3, 5], 0, 1, 'float32', 21) as tf.Tensor2D;
    const x = tf.randomNormal([3, 4, 2, 5], 0, 1, 'float32', 22);
    const a = tf.mul(x, expandPerSample(t, x.shape, 'matmul'));
    const b = tf.mul(x, expandPerSample(t, x.shape, 'reshape'));
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
  });
  test('softmaxRows matches tf.softmax', () => {
    const { softmaxRows } = jest.requireActual('../src/layers/sagan-attention');
    const l = tf.mul(tf.randomNormal([7, 9], 0, 1, 'float32', 23), 30) as tf.Tensor2D;
    const d = tf.sub(softmaxRows(l), tf.softmax(l, -1));
    expect(tf.max(tf.abs(d)).dataSync()[0]).toBeLessThan(1e-6);
  });
  test('softmaxRows: gradients equal those of exp(l − max(l)) (max differentiated) and, to second order, of a constant shift', () => {
    const { softmaxRows } = jest.requireActual('../src/layers/sagan-attention');
    const { softmaxShift } = jest.requireActual('../src/ops/softmax-shift');
    const l = tf.mul(tf.randomNormal([6, 10], 0, 1, 'float32', 24), 4) as tf.Tensor2D;
    const w = tf.randomNormal([6, 10], 0, 1, 'float32', 25);
    const plain = (x: tf.Tensor2D) => {
      const e = tf.exp(tf.sub(x, tf.max(x, 1, true)));
      return tf.div(e, tf.sum(e, 1, true));
    };
    // second order: tfjs has no gradient for Equal (max's gradient), so there the reference shifts by a constant
    const c = tf.max(l, 1, true);
    const constShift = (x: tf.Tensor2D) => {
      const e = tf.exp(tf.sub(x, c));
      return tf.div(e, tf.sum(e, 1, true));
    };
    const before = tf.memory().numTensors;
    for (const [order, ref] of [[1, plain], [1, constShift], [2, constShift]] as const) {
      const grads = (f: (x: tf.Tensor2D) => tf.Tensor) => tf.tidy(() => {
        const g1 = (x: tf.Tensor) => tf.grad((y: tf.Tensor) => tf.sum(tf.mul(f(y as tf.Tensor2D), w)))(x);
        return order === 1 ? g1(l) : tf.grad((x: tf.Tensor) => tf.sum(tf.square(g1(x))))(l);
      });
      const a = grads(softmaxRows);
      const b = grads(ref);
      expect(Math.max(...Array.from(b.dataSync(), Math.abs))).toBeGreaterThan(1e-3);
      close(a.dataSync(), b.dataSync(), 2e-5);
      tf.dispose([a, b]);
    }
    // the shift is the row max, and its own gradient is zero
    const m = softmaxShift(l, -1);
    close(m.dataSync(), c.dataSync(), 0);
    const gm = tf.grad((x: tf.Tensor) => tf.sum(softmaxShift(x, 1)))(l);
    expect(Array.from(gm.dataSync()).every((v) => v === 0)).toBe(true);
    tf.dispose([m, gm]);
    expect(tf.memory().numTensors).toBe(before);
    c.dispose();
  });
});
