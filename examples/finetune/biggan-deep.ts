/**
 * Fine-tune (or train from scratch) a class-conditional BigGAN-deep with ganzoo's trainer on an image folder with
 * class sub-folders; by default the procedural shapes set, made on the first run (`ganzoo make-shapes` does the same).
 *
 *   npx ts-node --transpile-only examples/finetune/biggan-deep.ts --data data/shapes32 --out runs/biggan-deep --steps 1500
 *
 * Copy and edit: the preset, the trainer options (lrs, D steps, EMA), the data. Run it again to resume.
 */
import * as fs from 'fs';
import { parseArgs } from 'util';
import { DataLoader, initBackend, makeShapes, scanImageFolder, train } from '@ganzoo/core';
import { BigGANDeep, BigGANDeepTrainer, presetConfig } from '@ganzoo/biggan-deep';

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { values: a } = parseArgs({ args: argv, options: {
    data: { type: 'string', default: 'data/shapes32' }, out: { type: 'string', default: 'runs/biggan-deep' },
    steps: { type: 'string', default: '1500' }, batch: { type: 'string', default: '16' }, seed: { type: 'string', default: '0' },
  } });
  await initBackend();                                                 // GANZOO_BACKEND=tensorflow|wasm|cpu to force one
  if (!fs.existsSync(a.data)) await makeShapes({ out: a.data, n: 2000, size: 32, classing: 'shape', seed: 0 });
  const dataset = scanImageFolder(a.data);                             // labels from class sub-folders or labels.csv
  const batchSize = Number(a.batch);

  // The tiny preset (32 px) with one class per data class and a discriminator. To fine-tune released weights
  // instead: BigGANDeep.fromPretrained(dir) of a model saved with its D (DeepMind released no discriminator).
  const cfg = presetConfig('tiny');
  cfg.generator.numClasses = dataset.classes.length;
  cfg.discriminator!.numClasses = dataset.classes.length;
  const model = BigGANDeep.create(cfg, { seed: Number(a.seed), discriminator: true });
  const trainer = new BigGANDeepTrainer(model, { batchSize, dStepsPerG: 1, gLr: 3e-4, dLr: 3e-4, emaDecay: 0.99, emaStart: 100 });

  const data = new DataLoader(dataset, { batchSize, resolution: cfg.generator.resolution, seed: Number(a.seed), requireLabels: true });
  const result = await train(trainer, data, {
    outDir: a.out, steps: Number(a.steps), seed: Number(a.seed), resume: true,  // resume: continues bit-exactly
    sampleEvery: 100, checkpointEvery: 100, sampleSeeds: [0, 1, 2, 3, 4, 5, 6, 7],
    onStep: (s) => s.step % 10 === 0 && console.log(`step ${s.step}`, JSON.stringify(s.losses)),
  });
  trainer.exportGenerator(`${a.out}/final`);                           // BigGANDeep.fromPretrained(`${out}/final`)
  console.log(`done at step ${result.step}; samples ${result.lastSamples ?? '-'}; generator in ${a.out}/final`);
  trainer.dispose();
  model.dispose();
}

if (require.main === module) main().catch((e) => { console.error(e); process.exit(1); });
