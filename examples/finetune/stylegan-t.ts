/**
 * Fine-tune (or train from scratch) a text-conditional StyleGAN-T with ganzoo's trainer on captioned images; by
 * default the procedural shapes set (captions in captions.jsonl), made on the first run.
 *
 *   npx ts-node --transpile-only examples/finetune/stylegan-t.ts --clip openai/clip-vit-base-patch32 --steps 2000
 *
 * `--clip` is the frozen CLIP that encodes the captions (a Hugging Face CLIP folder with its tokenizer, or a manifest
 * id, downloaded once). Copy and edit: the preset, the CLIP-guidance weight, the data. Run it again to resume.
 */
import * as fs from 'fs';
import { parseArgs } from 'util';
import { DataLoader, initBackend, makeShapes, scanImageFolder, train } from '@ganzoo/core';
import { CLIP } from '@ganzoo/encoders';
import { PRESETS, StyleGANT, StyleGANTTrainer } from '@ganzoo/stylegan-t';

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { values: a } = parseArgs({ args: argv, options: {
    data: { type: 'string', default: 'data/shapes32' }, out: { type: 'string', default: 'runs/stylegan-t' },
    clip: { type: 'string', default: 'openai/clip-vit-base-patch32' },
    steps: { type: 'string', default: '2000' }, batch: { type: 'string', default: '8' }, seed: { type: 'string', default: '0' },
  } });
  await initBackend();                                                 // GANZOO_BACKEND=tensorflow|wasm|cpu to force one
  if (!fs.existsSync(a.data)) await makeShapes({ out: a.data, n: 2000, size: 32, seed: 0 });
  const dataset = scanImageFolder(a.data);                             // captions from captions.jsonl or <image>.txt
  const clip = await CLIP.fromPretrained(a.clip);
  const batchSize = Number(a.batch);

  // The tiny preset (32 px) conditioned on this CLIP's text embeddings; the D runs on a random DINO here: pass
  // { dino: await DINO.fromPretrained('facebook/dino-vits16') } (and the 'lite' preset) for a real run, or load a
  // trained model with StyleGANT.fromPretrained(dir, { textEncoder: clip }).
  const cfg = PRESETS.tiny();
  cfg.text_dim = clip.config.embedDim;
  cfg.D.c_dim = clip.config.embedDim;
  const model = StyleGANT.create(cfg, { seed: Number(a.seed), withDiscriminator: true, textEncoder: clip });
  const trainer = new StyleGANTTrainer(model, { batchSize, lossClip: clip, clipWeight: 0, seed: Number(a.seed) });

  const data = new DataLoader(dataset, { batchSize, resolution: trainer.resolution, seed: Number(a.seed), requireCaptions: true });
  const captions = dataset.items.slice(0, 8).map((it) => it.caption!);
  const result = await train(trainer, data, {
    outDir: a.out, steps: Number(a.steps), seed: Number(a.seed), resume: true,
    sampleEvery: 100, checkpointEvery: 100, sampleSeeds: captions.map((_, i) => i), sampleCond: { captions },
    onStep: (s) => s.step % 10 === 0 && console.log(`step ${s.step}`, JSON.stringify(s.losses)),
  });
  trainer.exportGenerator(`${a.out}/final`);                           // StyleGANT.fromPretrained(`${out}/final`, { textEncoder })
  console.log(`done at step ${result.step}; samples ${result.lastSamples ?? '-'}; generator in ${a.out}/final`);
  trainer.dispose();
  model.dispose();
  clip.dispose();
}

if (require.main === module) main().catch((e) => { console.error(e); process.exit(1); });
