/**
 * BigGAN-deep generation speed at the published biggan-deep-128 size (random weights, truncation 0.4), per image at
 * batch 1 and 4 on the active backend, against a PyTorch CPU module of the same architecture (bench/biggan_deep_ref.py,
 * written for this bench) run in the same process tree when /usr/bin/python3 imports torch.
 *
 *   npx ts-node --transpile-only -P tsconfig.jest.json bench/biggan-deep.bench.ts     (or: npm run bench -- biggan-deep)
 *   GANZOO_BENCH_QUICK=1 ...                                                           (batch 1 only, fewer repetitions)
 */
import { initBackend } from '../packages/core/src/backend';
import { BigGANDeep } from '../packages/biggan-deep/src';
import { BenchRow, peakRssMB, report, runTorchReference, timeIt } from './lib';

async function main(): Promise<void> {
  const backend = await initBackend();
  const quick = !!process.env.GANZOO_BENCH_QUICK;
  const batches = quick ? [1] : [1, 4];
  const reps = quick ? 2 : 3;
  const t0 = Date.now();
  const g = BigGANDeep.create('biggan-deep-128', { seed: 1, init: 'N02' });
  console.log(`built biggan-deep-128 with random weights in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const ref = runTorchReference('biggan_deep_ref.py', [batches.join(','), String(reps)]);
  const rows: BenchRow[] = [];
  for (const b of batches) {
    const classes = Array.from({ length: b }, (_, i) => (i * 97) % 1000);
    const ms = await timeIt(async () => {
      const img = g.generate({ classes, truncation: 0.4, seed: 3 });
      await img.data();
      img.dispose();
    }, reps, 1);
    rows.push({
      bench: 'biggan-deep', case: 'generate 128x128 (biggan-deep-128)', backend, batch: b, ms: ms / b,
      refMs: ref?.ms_per_image?.[String(b)], unit: 'ms/image', peakRssMB: peakRssMB(),
      note: ref ? `torch ${ref.threads} thread(s), bench/biggan_deep_ref.py` : 'no torch reference',
    });
  }
  g.dispose();
  report('biggan-deep', rows);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
