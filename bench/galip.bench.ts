/**
 * GALIP generation speed at the published COCO size (NetG with nf 64, z 100, cond 512, CLIP ViT-B/32 bridge, 224x224
 * output; random weights), per image, against a PyTorch CPU run of the same layer shapes (bench/galip_ref.py) in the same
 * process tree. Also the discriminator side (CLIP image encoder + NetD + NetC) per image.
 *
 *   npx ts-node --transpile-only -P tsconfig.jest.json bench/galip.bench.ts     (or: npm run bench -- galip)
 *   GANZOO_BENCH_QUICK=1 ...                                                     (batch 1 only, fewer repetitions)
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../packages/core/src/backend';
import { GALIP } from '../packages/galip/src';
import { BenchRow, peakRssMB, report, runTorchReference, timeIt } from './lib';

async function main(): Promise<void> {
  const backend = await initBackend();
  const quick = !!process.env.GANZOO_BENCH_QUICK;
  const batches = quick ? [1] : [1, 4];
  const reps = quick ? 2 : 3;
  const t0 = Date.now();
  const galip = GALIP.create('coco', { seed: 1 });
  console.log(`built the COCO-size model with random weights in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const ref = runTorchReference('galip_ref.py', [batches.join(','), String(reps)]);
  const rows: BenchRow[] = [];
  for (const b of batches) {
    const sent = tf.randomNormal([b, 512], 0, 1, 'float32', 2) as tf.Tensor2D;
    const ms = await timeIt(async () => {
      const img = galip.generate({ sentenceEmbeddings: sent, seed: 3 });
      await img.data();
      img.dispose();
    }, reps, 1);
    rows.push({ bench: 'galip', case: 'generate 224x224 (coco)', backend, batch: b, ms: ms / b, refMs: ref?.ms_per_image?.[String(b)], unit: 'ms/image', peakRssMB: peakRssMB(), note: ref ? 'torch: same layer shapes, bench/galip_ref.py' : 'no torch reference' });
    const imgs = galip.generate({ sentenceEmbeddings: sent, seed: 3 });
    const dms = await timeIt(async () => {
      const l = galip.discriminate(imgs, sent);
      await l.data();
      l.dispose();
    }, reps, 1);
    rows.push({ bench: 'galip', case: 'discriminate (CLIP + NetD + NetC)', backend, batch: b, ms: dms / b, unit: 'ms/image', peakRssMB: peakRssMB() });
    tf.dispose([sent, imgs]);
  }
  galip.dispose();
  report('galip', rows);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
