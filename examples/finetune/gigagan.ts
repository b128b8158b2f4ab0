/**
 * Fine-tune (or train from scratch) a text-conditional GigaGAN with ganzoo's trainer on captioned images; by default
 * the procedural shapes set (captions in captions.jsonl), made on the first run.
 *
 *   npx ts-node --transpile-only examples/finetune/gigagan.ts --clip openai/clip-vit-base-patch32 --steps 2000
 *
 * `--clip` is the frozen CLIP whose per-token text encodings condition G and D (a Hugging Face CLIP folder with its
 * tokenizer, or a manifest id, downloaded once). Copy and edit: the preset, the loss weights, the data.
 * Run it again to resume.
 */
import * as fs from 'fs';
import { parseArgs } from 'util';
import { DataLoader, initBackend, makeShapes, scanImageFolder, train } from '@ganzoo/core';
import { CLIP } from '@ganzoo/encoders';
import { GigaGAN, GigaGANClip, GigaGANTrainable, presetConfig } from '@ganzoo/gigagan';

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { values: a } = parseArgs({ args: argv, options: {
    data: { type: 'string', default: 'data/shapes32' }, out: { type: 'string', default: 'runs/gigagan' },
    clip: { type: 'string', default: 'openai/clip-vit-base-patch32' },
    steps: { type: 'string', default: '2000' }, batch: { type: 'string', default: '4' }, seed: { type: 'string', default: '0' },
  } });
  await initBackend();                                                 // GANZOO_BACKEND=tensorflow|wasm|cpu to force one
  if (!fs.existsSync(a.data)) await makeShapes({ out: a.data, n: 2000, size: 32, seed: 0 });
  const dataset = scanImageFolder(a.data);                             // captions from captions.jsonl or <image>.txt
  const clip = await CLIP.fromPretrained(a.clip);
  const adapter = new GigaGANClip(clip, { eosId: clip.config.text.pool as number });
  const batchSize = Number(a.batch);

  // The tiny preset (32 px) with its text widths set to this CLIP's. To fine-tune a trained model instead:
  // await GigaGAN.fromPretrained(dir, { clip: adapter }) (lucidrains state dicts, see the package README).
  const cfg = presetConfig('tiny');
  cfg.clip = { dimLatent: adapter.dimLatent, dimImageLatent: adapter.dimImageLatent };
  const model = GigaGAN.create(cfg, { seed: Number(a.seed), clip: adapter });
  const trainer = new GigaGANTrainable(model);                         // lucidrains' losses, AdamW and EMA schedule

  const data = new DataLoader(dataset, { batchSize, resolution: trainer.resolution, seed: Number(a.seed), requireCaptions: true });
  const captions = dataset.items.slice(0, 8).map((it) => it.caption!);
  const result = await train(trainer, data, {
    outDir: a.out, steps: Number(a.steps), seed: Number(a.seed), resume: true,
    sampleEvery: 100, checkpointEvery: 100, sampleSeeds: captions.map((_, i) => i), sampleCond: { captions },
    onStep: (s) => s.step % 10 === 0 && console.log(`step ${s.step}`, JSON.stringify(s.losses)),
  });
  trainer.exportGenerator(`${a.out}/final`);                           // GigaGAN.fromPretrained(`${out}/final`, { clip })
  console.log(`done at step ${result.step}; samples ${result.lastSamples ?? '-'}; generator in ${a.out}/final`);
  trainer.dispose();                                                   // also disposes the model
  clip.dispose();
}

if (require.main === module) main().catch((e) => { console.error(e); process.exit(1); });
