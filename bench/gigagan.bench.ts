/**
 * GigaGAN speed at the lucidrains sizes, random weights: time per 64 px image of the text-conditional generator
 * (lucidrains' defaults, `text-64`, CLIP encodings [B, 77, 512] given), per 4x upsample 64 -> 256 (`upsampler-64-256`),
 * and one discriminator pass per image. No PyTorch reference: lucidrains' code needs einops / kornia / beartype, which
 * Debian does not package (see ../shared/reference/official-impls.md section 2.9).
 *
 *   npx ts-node --transpile-only -P tsconfig.jest.json bench/gigagan.bench.ts     (or: npm run bench -- gigagan)
 *   GANZOO_BENCH_QUICK=1 ...                                                       (batch 1 only, fewer repetitions)
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../packages/core/src/backend';
import { GigaGAN, discriminatorForward, getter, discriminatorTextEmbeds } from '../packages/gigagan/src';
import { BenchRow, peakRssMB, report, timeIt } from './lib';

function encodings(b: number, dim: number): tf.Tensor3D {
  return tf.tidy(() => {
    const keep = tf.tensor3d(Array.from({ length: b }, () => Array.from({ length: 77 }, (_, j) => [j < 12 ? 1 : 0])));
    return tf.mul(tf.randomNormal([b, 77, dim], 0, 1, 'float32', 1), keep) as tf.Tensor3D;
  });
}

async function main(): Promise<void> {
  const backend = await initBackend();
  const quick = !!process.env.GANZOO_BENCH_QUICK;
  const batches = quick ? [1] : [1, 4];
  const reps = quick ? 2 : 3;
  const rows: BenchRow[] = [];

  let t0 = Date.now();
  const g = GigaGAN.create('text-64', { seed: 1, ema: false });
  const n = g.numParams();
  console.log(`text-64: G ${(n.G / 1e6).toFixed(1)} M, D ${(n.D / 1e6).toFixed(1)} M parameters, built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  for (const b of batches) {
    const enc = encodings(b, g.config.clip.dimLatent);
    const ms = await timeIt(async () => {
      const r = g.generate({ textEncodings: enc, seed: 3 });
      await r.images.data();
      r.images.dispose();
    }, reps, 1);
    rows.push({ bench: 'gigagan', case: 'generate 64x64 (text-64)', backend, batch: b, ms: ms / b, unit: 'ms/image', peakRssMB: peakRssMB() });
    const img = g.generate({ textEncodings: enc, seed: 3, returnPyramid: true, raw: true });
    const dms = await timeIt(async () => {
      const l = tf.tidy(() => {
        const w = getter(g.D, 'D');
        const t = discriminatorTextEmbeds(w, g.config.D, g.config.clip.dimLatent, enc);
        return discriminatorForward(w, g.config.D, { images: img.images, rgbs: img.pyramid!, textEmbeds: t }).logits;
      });
      await l.data();
      l.dispose();
    }, reps, 1);
    rows.push({ bench: 'gigagan', case: 'discriminator 64x64 (text-64)', backend, batch: b, ms: dms / b, unit: 'ms/image', peakRssMB: peakRssMB() });
    console.log(JSON.stringify(rows.slice(-2)));
    tf.dispose([enc, img.images, ...img.pyramid!]);
  }
  g.dispose();

  t0 = Date.now();
  const u = GigaGAN.create('upsampler-64-256', { seed: 2, ema: false });
  console.log(`upsampler-64-256: ${(u.numParams().upsampler / 1e6).toFixed(1)} M parameters, built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  for (const b of batches.slice(0, quick ? 1 : 2)) {
    const low = tf.randomUniform([b, 64, 64, 3], -1, 1, 'float32', 4) as tf.Tensor4D;
    // the 256 px stages are heavy (lucidrains' linear attention runs 8 heads x 64 at 65k positions): no warm-up in quick mode
    const ms = await timeIt(async () => {
      const r = u.upsample({ images: low, seed: 5 });
      await r.images.data();
      r.images.dispose();
    }, quick ? 1 : reps, quick ? 0 : 1);
    rows.push({ bench: 'gigagan', case: 'upsample 64 -> 256 (4x)', backend, batch: b, ms: ms / b, unit: 'ms/image', peakRssMB: peakRssMB() });
    console.log(JSON.stringify(rows[rows.length - 1]));
    low.dispose();
  }
  u.dispose();
  report('gigagan', rows);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
