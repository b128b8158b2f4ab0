import * as tf from '@tensorflow/tfjs';
import {
  adaptiveConv2dMod,
  adaptiveConv2dModReference,
  bilinearMatrix,
  blur121,
  blur121Reference,
  efficientLinearAttention,
  l2DistanceAttention,
  pixelShuffle,
  pixelUnshuffle,
  relativeError,
  resizeBilinearMatmul,
  tileBatch,
} from '../src';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('GigaGAN layers (core)', () => {
  test('adaptiveConv2dMod fast path equals the per-sample reference (N kernels, demod, tiled mods, 1x1 no-demod)', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([4, 6, 5, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
      const w = tf.randomNormal([3, 3, 3, 3, 7], 0, 1, 'float32', 2);
      const mod = tf.randomNormal([2, 3], 0, 1, 'float32', 3) as tf.Tensor2D;
      const kmod = tf.randomNormal([2, 3], 0, 1, 'float32', 4) as tf.Tensor2D;
      const a = adaptiveConv2dMod(x, w, mod, kmod);
      const b = adaptiveConv2dModReference(x, w, mod, kmod);
      expect(a.shape).toEqual([4, 6, 5, 7]);
      expect(relativeError(a, b)).toBeLessThan(1e-5);
      const w1 = tf.randomNormal([1, 1, 1, 3, 2], 0, 1, 'float32', 5);
      const c = adaptiveConv2dMod(x, w1, mod, null, { demod: false });
      const d = adaptiveConv2dModReference(x, w1, mod, null, { demod: false });
      expect(relativeError(c, d)).toBeLessThan(1e-6);
      // a zero style is the identity modulation; demod normalises each output filter to unit norm
      const z = adaptiveConv2dMod(x, tf.ones([1, 1, 1, 3, 1]), tf.zeros([1, 3]) as tf.Tensor2D, null);
      expect(relativeError(z, tf.div(tf.sum(x, -1, true), Math.sqrt(3)))).toBeLessThan(1e-6);
      expect(() => adaptiveConv2dMod(x, w, mod, null)).toThrow(/3 kernels need kernel_mod/);
      expect(() => adaptiveConv2dMod(x, w, tf.zeros([2, 4]) as tf.Tensor2D, kmod)).toThrow(/expected mod \[B,3\]/);
      expect(() => tileBatch(tf.zeros([3, 2]), 4)).toThrow(/not a multiple/);
    });
  });

  test('pixel (un)shuffle follow PyTorch channel order and invert each other', () => {
    tf.tidy(() => {
      // NCHW torch input [1, 4*2, 1, 1] with channel k = c*4 + i*2 + j -> output [1, 2, 2, 2] at (c, i, j)
      const x = tf.tensor4d([0, 1, 2, 3, 4, 5, 6, 7], [1, 1, 1, 8]);
      const y = pixelShuffle(x, 2);
      expect(y.shape).toEqual([1, 2, 2, 2]);
      // y[0, i, j, c] = c*4 + i*2 + j
      expect(Array.from(y.dataSync())).toEqual([0, 4, 1, 5, 2, 6, 3, 7]);
      const r = tf.randomNormal([2, 4, 6, 3]) as tf.Tensor4D;
      expect(relativeError(pixelShuffle(pixelUnshuffle(r, 2), 2), r)).toBe(0);
      expect(() => pixelUnshuffle(tf.zeros([1, 3, 4, 1]) as tf.Tensor4D, 2)).toThrow(/not divisible/);
    });
  });

  test('separable blur equals the depthwise reference with reflect borders', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([2, 7, 5, 4], 0, 1, 'float32', 9) as tf.Tensor4D;
      expect(relativeError(blur121(x), blur121Reference(x))).toBeLessThan(1e-6);
      // reflect (not replicate, not zero): a spike at the border spreads as [2,1]/4 * [1,2,1]/4 ...
      const s = tf.buffer([1, 3, 3, 1]);
      s.set(16, 0, 0, 0, 0);
      const b = blur121(s.toTensor() as tf.Tensor4D).dataSync();
      expect(b[0]).toBeCloseTo(4);
      expect(b[1]).toBeCloseTo(2);
    });
  });

  test('bilinear resize by matrices equals tf.image.resizeBilinear(halfPixelCenters) up and down', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([2, 8, 12, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
      for (const [h, w] of [[4, 6], [2, 3], [16, 24], [5, 7]]) {
        expect(relativeError(resizeBilinearMatmul(x, h, w), tf.image.resizeBilinear(x, [h, w], false, true))).toBeLessThan(1e-6);
      }
      expect(Array.from(bilinearMatrix(4, 2).dataSync())).toEqual([0.5, 0.5, 0, 0, 0, 0, 0.5, 0.5]);
    });
  });

  test('L2-distance and linear attention against direct formulas', () => {
    tf.tidy(() => {
      const q = tf.randomNormal([1, 2, 3, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
      const k = tf.randomNormal([1, 2, 5, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
      const v = tf.randomNormal([1, 2, 5, 4], 0, 1, 'float32', 3) as tf.Tensor4D;
      const qa = q.arraySync()[0];
      const ka = k.arraySync()[0];
      const va = v.arraySync()[0];
      const out = l2DistanceAttention(q, k, v, 0.5).arraySync()[0];
      for (let h = 0; h < 2; h++) {
        for (let i = 0; i < 3; i++) {
          const logits = ka[h].map((kr) => -0.5 * kr.reduce((s, kv, d) => s + (qa[h][i][d] - kv) ** 2, 0));
          const m = Math.max(...logits);
          const e = logits.map((l) => Math.exp(l - m));
          const z = e.reduce((a, b) => a + b, 0);
          for (let d = 0; d < 4; d++) {
            const ref = e.reduce((s, ej, j) => s + (ej / z) * va[h][j][d], 0);
            expect(out[h][i][d]).toBeCloseTo(ref, 5);
          }
        }
      }
      // linear attention, written features-first [B,H,D,N]: out[e,n] = sum_d (sum_m softmax_n(k)[d,m] v[e,m]) softmax_d(q)[d,n] * scale
      const ql = tf.randomNormal([1, 1, 3, 4], 0, 1, 'float32', 4) as tf.Tensor4D;
      const kl = tf.randomNormal([1, 1, 3, 4], 0, 1, 'float32', 5) as tf.Tensor4D;
      const vl = tf.randomNormal([1, 1, 3, 4], 0, 1, 'float32', 6) as tf.Tensor4D;
      const qs = tf.softmax(tf.transpose(ql, [0, 1, 3, 2]), -1).transpose([0, 1, 3, 2]).mul(3 ** -0.5);
      const ks = tf.softmax(kl, -1);
      const ctx = tf.matMul(ks.reshape([3, 4]), vl.reshape([3, 4]), false, true);
      const ref = tf.matMul(ctx, qs.reshape([3, 4]), true, false);
      // the function takes positions-first [B,H,N,D]: transpose the features-first inputs, and the output back
      const tr = (t: tf.Tensor4D) => tf.transpose(t, [0, 1, 3, 2]) as tf.Tensor4D;
      expect(relativeError(tr(efficientLinearAttention(tr(ql), tr(kl), tr(vl))).reshape([3, 4]), ref)).toBeLessThan(1e-6);
    });
  });
});
