import { execFileSync } from 'child_process';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../src/rng';

const minOf = (a: ArrayLike<number>) => Array.prototype.reduce.call(a, (m: number, v: number) => Math.min(m, v), Infinity) as number;
const maxOf = (a: ArrayLike<number>) => Array.prototype.reduce.call(a, (m: number, v: number) => Math.max(m, v), -Infinity) as number;
const maxAbs = (a: ArrayLike<number>) => Array.prototype.reduce.call(a, (m: number, v: number) => Math.max(m, Math.abs(v)), 0) as number;

function moments(a: ArrayLike<number>) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m += a[i];
  m /= a.length;
  let v = 0;
  let k = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - m;
    v += d * d;
    k += d * d * d * d;
  }
  v /= a.length;
  return { mean: m, variance: v, kurtosis: k / a.length / (v * v) };
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('Rng', () => {
  test('xoshiro128** known answer for state [1, 2, 3, 4] (computed by hand from the reference algorithm)', () => {
    const r = Rng.fromState({ algorithm: 'xoshiro128**', s: [1, 2, 3, 4] });
    expect([r.nextUint32(), r.nextUint32(), r.nextUint32()]).toEqual([11520, 0, 5927040]);
  });

  test('same seed gives the same numbers; different seeds differ', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const xa = a.normalArray(1000);
    expect(Array.from(b.normalArray(1000))).toEqual(Array.from(xa));
    const xc = c.normalArray(1000);
    expect(xc.some((v, i) => v !== xa[i])).toBe(true);
    expect(Array.from(new Rng('biggan').uniformArray(10))).toEqual(Array.from(new Rng('biggan').uniformArray(10)));
    expect(Array.from(new Rng('biggan').uniformArray(10))).not.toEqual(Array.from(new Rng('bigga').uniformArray(10)));
    // large and negative seeds are distinct seeds
    const firsts = [0, 1, -1, 2 ** 32, 2 ** 40 + 1, Number.MAX_SAFE_INTEGER].map((s) => new Rng(s).nextUint32());
    expect(new Set(firsts).size).toBe(firsts.length);
  });

  test('identical in another process (deterministic across runs)', () => {
    const root = path.resolve(__dirname, '..', '..', '..');
    const script = "const {Rng}=require('./packages/core/src/rng');const r=new Rng(1234);"
      + "process.stdout.write(JSON.stringify([Array.from(r.normalArray(5)),Array.from(r.truncatedNormalArray(5)),r.permutation(8),r.int(1000)]))";
    const out = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script],
      { cwd: root, encoding: 'utf8', env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' } });
    const r = new Rng(1234);
    expect(JSON.parse(out)).toEqual([Array.from(r.normalArray(5)), Array.from(r.truncatedNormalArray(5)), r.permutation(8), r.int(1000)]);
  });

  test('normal moments (mean, std, kurtosis 3)', () => {
    const m = moments(new Rng(7).normalArray(200000, 0.5, 2));
    expect(Math.abs(m.mean - 0.5)).toBeLessThan(0.03); // 5 sigma = 5 * 2 / sqrt(2e5) = 0.022
    expect(Math.abs(m.variance - 4)).toBeLessThan(0.07);
    expect(Math.abs(m.kurtosis - 3)).toBeLessThan(0.06);
  });

  test('uniform moments and range', () => {
    const a = new Rng(8).uniformArray(200000, -1, 3);
    const m = moments(a);
    expect(minOf(a)).toBeGreaterThanOrEqual(-1);
    expect(maxOf(a)).toBeLessThan(3);
    expect(Math.abs(m.mean - 1)).toBeLessThan(0.02);
    expect(Math.abs(m.variance - 16 / 12)).toBeLessThan(0.02);
  });

  test('truncated normal: within ±2, variance of truncnorm(-2, 2) = 0.7737, tail mass as scipy', () => {
    const a = new Rng(9).truncatedNormalArray(200000);
    const m = moments(a);
    expect(maxAbs(a)).toBeLessThanOrEqual(2);
    // Var = 1 - 2 b phi(b) / (Phi(b) - Phi(-b)) for symmetric bounds ±b.
    const phi2 = Math.exp(-2) / Math.sqrt(2 * Math.PI);
    const mass = 0.9544997361036416; // Phi(2) - Phi(-2)
    const variance = 1 - (2 * 2 * phi2) / mass;
    expect(variance).toBeCloseTo(0.7737, 4);
    expect(Math.abs(m.mean)).toBeLessThan(0.01);
    expect(Math.abs(m.variance - variance)).toBeLessThan(0.01);
    // P(|z| > 1 | |z| <= 2) = (0.9545 - 0.6827) / 0.9545
    const beyond1 = a.filter((v) => Math.abs(v) > 1).length / a.length;
    expect(Math.abs(beyond1 - (mass - 0.6826894921370859) / mass)).toBeLessThan(0.006);
    // Other bounds and scaling.
    const b = new Rng(10).truncatedNormalArray(20000, 0.5, 3, 2);
    expect(minOf(b)).toBeGreaterThanOrEqual(2);
    expect(maxOf(b)).toBeLessThanOrEqual(4);
  });

  test('int is unbiased and in range; permutation is a permutation and uniform', () => {
    const r = new Rng(11);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 60000; i++) counts[r.int(6)]++;
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(500);
    const firstPos = new Array(5).fill(0);
    let allPermutations = true;
    for (let i = 0; i < 20000; i++) {
      const p = r.permutation(5);
      if ([...p].sort().join() !== '0,1,2,3,4') allPermutations = false;
      firstPos[p[0]]++;
    }
    expect(allPermutations).toBe(true);
    for (const c of firstPos) expect(Math.abs(c - 4000)).toBeLessThan(300);
    expect(r.int(2 ** 40)).toBeLessThan(2 ** 40);
    expect(() => r.int(0)).toThrow(/expected a whole number n/);
    expect(() => r.int(2.5)).toThrow(/expected a whole number n/);
  });

  test('getState / setState resume the exact stream (through JSON); fork is independent and reproducible', () => {
    const r = new Rng(99);
    r.normalArray(17);
    const saved = JSON.parse(JSON.stringify(r.getState()));
    const next = Array.from(r.normalArray(10));
    const resumed = Rng.fromState(saved);
    expect(Array.from(resumed.normalArray(10))).toEqual(next);
    r.setState(saved);
    expect(Array.from(r.normalArray(10))).toEqual(next);

    const p1 = new Rng(5);
    const p2 = new Rng(5);
    const c1 = p1.fork();
    const c2 = p2.fork();
    expect(Array.from(c1.uniformArray(8))).toEqual(Array.from(c2.uniformArray(8)));
    expect(Array.from(p1.uniformArray(8))).toEqual(Array.from(p2.uniformArray(8)));
    const child = new Rng(5).fork().uniformArray(8);
    const parentAfterFork = new Rng(5);
    parentAfterFork.fork();
    expect(Array.from(child)).not.toEqual(Array.from(parentAfterFork.uniformArray(8)));

    expect(() => r.setState({ algorithm: 'xoshiro128**', s: [0, 0, 0, 0] })).toThrow(/not all zero/);
    expect(() => r.setState({ algorithm: 'mt19937', s: [1, 2, 3, 4] } as any)).toThrow(/expected \{algorithm/);
  });

  test('tensor outputs: shape, dtype, values = array stream, no leaks', () => {
    const before = tf.memory().numTensors;
    const t = new Rng(3).normal([2, 3, 4], 1, 0.5);
    expect(t.shape).toEqual([2, 3, 4]);
    expect(t.dtype).toBe('float32');
    expect(Array.from(t.dataSync())).toEqual(Array.from(new Rng(3).normalArray(24, 1, 0.5)));
    const u = new Rng(3).uniform([5], 2, 4);
    const z = new Rng(3).truncatedNormal([4, 128], 2, { std: 0.5 });
    expect(maxAbs(z.dataSync())).toBeLessThanOrEqual(1);
    expect(Array.from(u.dataSync()).every((v) => v >= 2 && v < 4)).toBe(true);
    tf.dispose([t, u, z]);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => new Rng(1).normal([2, -1])).toThrow(/expected a shape/);
    expect(() => new Rng(Number.NaN)).toThrow(/finite number/);
  });
});
