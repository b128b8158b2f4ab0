/**
 * StyleGAN-T generator speed, lite preset (train.py --cfg lite: channel_base 32768, channel_max 512, 2 res blocks,
 * z 64, CLIP ViT-L/14 text width 768), random weights: ms per 64x64 and per 256x256 image (text embeddings given, so
 * the CLIP text tower is not timed). The official PyTorch generator runs alongside (bench/stylegan_t_ref.py) when
 * Debian's python3-torch is present and GANZOO_STYLEGAN_T_REPO points to a checkout of autonomousvision/stylegan-t.
 *
 *   npx ts-node --transpile-only -P tsconfig.jest.json bench/stylegan-t.bench.ts     (or: npm run bench -- stylegan-t)
 *   GANZOO_BENCH_QUICK=1 ...      (64 px only, fewer repetitions)
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../packages/core/src/backend';
import { PRESETS, StyleGANT } from '../packages/stylegan-t/src';
import { BenchRow, peakRssMB, report, runTorchReference, timeIt } from './lib';

async function main(): Promise<void> {
  const backend = await initBackend();
  const quick = !!process.env.GANZOO_BENCH_QUICK;
  const resolutions = quick ? [64] : [64, 256];
  const reps = quick ? 2 : 3;
  const ref = process.env.GANZOO_STYLEGAN_T_REPO
    ? runTorchReference('stylegan_t_ref.py', [], { GANZOO_BENCH_RES: resolutions.join(','), GANZOO_BENCH_REPS: String(reps) })
    : (console.error('PyTorch reference skipped: set GANZOO_STYLEGAN_T_REPO to a checkout of autonomousvision/stylegan-t'), null);
  const rows: BenchRow[] = [];
  for (const res of resolutions) {
    const cfg = PRESETS.lite();
    cfg.G.img_resolution = res;
    const t0 = Date.now();
    const model = StyleGANT.create(cfg, { seed: 1 });
    console.log(`lite @${res}: G ${(model.parameterCount() / 1e6).toFixed(1)} M parameters, built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const c = tf.tidy(() => {
      const r = tf.randomNormal([1, 768], 0, 1, 'float32', 2);
      return tf.div(r, tf.norm(r, 'euclidean', 1, true)) as tf.Tensor2D;
    });
    const ms = await timeIt(async () => {
      const img = model.generate({ textEmbeddings: c, seed: 3, noiseMode: 'const' });
      await img.data();
      img.dispose();
    }, reps, 1);
    rows.push({ bench: 'stylegan-t', case: `generate ${res}x${res} (lite)`, backend, batch: 1, ms, refMs: ref?.[String(res)], unit: 'ms/image', peakRssMB: peakRssMB(), note: ref ? `torch ${ref.threads} threads` : undefined });
    c.dispose();
    model.dispose();
  }
  report('stylegan-t', rows);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
