/**
 * Fine-tune (or train from scratch) GALIP with ganzoo's trainer on captioned images; by default the procedural shapes
 * set (captions in captions.jsonl), made on the first run.
 *
 *   npx ts-node --transpile-only examples/finetune/galip.ts --tokenizer <CLIP folder> --steps 2000
 *   npx ts-node --transpile-only examples/finetune/galip.ts --weights pre_coco.pth --clip openai/clip-vit-base-patch32
 *
 * GALIP's frozen CLIP lives inside G and D. Without --weights this builds the tiny preset (28 px, a random tiny CLIP)
 * and tokenizes captions with the tokenizer of `--tokenizer` (any CLIP folder with tokenizer.json). With --weights
 * it fine-tunes an official checkpoint (non-commercial licence, see the package README) with the real CLIP.
 * Run it again to resume.
 */
import * as fs from 'fs';
import { parseArgs } from 'util';
import { DataLoader, initBackend, makeShapes, scanImageFolder, train } from '@ganzoo/core';
import { loadTokenizer } from '@ganzoo/encoders';
import { GALIP, GalipTrainer, galipConfig, randomClip } from '@ganzoo/galip';

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { values: a } = parseArgs({ args: argv, options: {
    data: { type: 'string', default: 'data/shapes32' }, out: { type: 'string', default: 'runs/galip' },
    tokenizer: { type: 'string' }, weights: { type: 'string' }, clip: { type: 'string', default: 'openai/clip-vit-base-patch32' },
    steps: { type: 'string', default: '2000' }, batch: { type: 'string', default: '8' }, seed: { type: 'string', default: '0' },
  } });
  await initBackend();                                                 // GANZOO_BACKEND=tensorflow|wasm|cpu to force one
  if (!fs.existsSync(a.data)) await makeShapes({ out: a.data, n: 2000, size: 32, seed: 0 });
  const dataset = scanImageFolder(a.data);                             // captions from captions.jsonl or <image>.txt
  const batchSize = Number(a.batch);

  let model: GALIP;
  if (a.weights) {
    model = await GALIP.fromPretrained(a.weights, { config: 'coco', clip: a.clip });
  } else {
    if (!a.tokenizer) throw new Error('galip example: pass --tokenizer <CLIP folder with tokenizer.json> (or --weights)');
    const tokenizer = await loadTokenizer(a.tokenizer);
    const base = galipConfig('tiny');
    const cfg = galipConfig('tiny', { clip: { ...base.clip, vocabSize: tokenizer.eosId + 1, contextLength: 77 } });
    const clip = randomClip(cfg.clip, Number(a.seed));
    clip.tokenizer = tokenizer;
    model = GALIP.create(cfg, { seed: Number(a.seed), clip });
  }
  const trainer = new GalipTrainer(model);                             // the official losses (hinge + MA-GP + CLIP sim)

  const data = new DataLoader(dataset, { batchSize, resolution: trainer.resolution, seed: Number(a.seed), requireCaptions: true, allowUpscale: true });
  const captions = dataset.items.slice(0, 8).map((it) => it.caption!);
  const result = await train(trainer, data, {
    outDir: a.out, steps: Number(a.steps), seed: Number(a.seed), resume: true,
    sampleEvery: 100, checkpointEvery: 100, sampleSeeds: captions.map((_, i) => i), sampleCond: { captions },
    onStep: (s) => s.step % 10 === 0 && console.log(`step ${s.step}`, JSON.stringify(s.losses)),
  });
  trainer.exportGenerator(`${a.out}/final`);                           // GALIP.fromPretrained(`${out}/final`)
  console.log(`done at step ${result.step}; samples ${result.lastSamples ?? '-'}; generator in ${a.out}/final`);
  trainer.dispose();
  model.dispose();
}

if (require.main === module) main().catch((e) => { console.error(e); process.exit(1); });
