/**
 * Inputs for `shapes_recipe_ref.py` (the PyTorch recipe-exploration trainer of issue 8; run by hand):
 *
 *   npx ts-node --transpile-only -P tsconfig.jest.json bench/shapes-recipe-dump.ts <shapes folder> <out dir> [checkpoint dir]
 *
 * Writes <out>/images.f32 (every labelled image of the folder decoded as ganzoo's loader does, NHWC float32 in
 * [-1, 1], no flips — the trainer flips), <out>/labels.i32, and <out>/init.json: G and D weights in ganzoo's names
 * with the layout tables the re-implementation walks (`generatorModules`, `discriminatorStages`). The weights are a
 * `ganzoo finetune` checkpoint's (its EMA generator as `ema`, to continue a run) or, without one, a fresh `shapes-32`
 * model (seed 1).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, loadImageFile, loadSafetensors, scanImageFolder } from '@ganzoo/core';
import { BigGANDeep, discriminatorStages, generatorModules, presetConfig } from '@ganzoo/biggan-deep';

type Dumped = Record<string, { shape: number[]; data: number[] }>;
const dump = (ts: Record<string, tf.Tensor>): Dumped =>
  Object.fromEntries(Object.entries(ts).map(([k, t]) => [k, { shape: t.shape, data: Array.from(t.dataSync()) }]));

async function main(): Promise<void> {
  const [data, out, ckpt] = process.argv.slice(2);
  if (!data || !out) throw new Error('usage: shapes-recipe-dump.ts <shapes folder> <out dir> [checkpoint dir]');
  await initBackend({ threads: 1, log: false });
  const cfg = presetConfig('shapes-32');
  if (!cfg.discriminator) throw new Error('the shapes-32 preset has no discriminator');
  const res = cfg.generator.resolution;
  const ds = scanImageFolder(data);
  if (!ds.hasLabels) throw new Error(`${data} has no class labels`);
  if (ds.classes.length !== cfg.generator.numClasses) {
    throw new Error(`${data} has ${ds.classes.length} classes, the shapes-32 preset ${cfg.generator.numClasses}`);
  }
  fs.mkdirSync(out, { recursive: true });
  const images = new Float32Array(ds.items.length * res * res * 3);
  for (let i = 0; i < ds.items.length; i++) images.set(await loadImageFile(ds.items[i].file, res), i * res * res * 3);
  fs.writeFileSync(path.join(out, 'images.f32'), Buffer.from(images.buffer));
  fs.writeFileSync(path.join(out, 'labels.i32'), Buffer.from(Int32Array.from(ds.items.map((it) => it.label as number)).buffer));

  let weights: Dumped;
  let ema: Dumped | undefined;
  let g = cfg.generator;
  if (ckpt) {
    const file = path.join(ckpt, 'model.safetensors');
    const state = JSON.parse(fs.readFileSync(path.join(ckpt, 'state.json'), 'utf8'));
    if (state.modelId !== 'biggan-deep') throw new Error(`${ckpt} is a ${state.modelId} checkpoint, expected biggan-deep`);
    g = state.config.generator;
    const ts = loadSafetensors(file);
    weights = dump(Object.fromEntries(Object.entries(ts).filter(([k]) => !k.startsWith('ema.'))));
    ema = dump(Object.fromEntries(Object.entries(ts).filter(([k]) => k.startsWith('ema.')).map(([k, t]) => [k.slice(4), t])));
    tf.dispose(Object.values(ts));
  } else {
    const net = BigGANDeep.create(cfg, { seed: 1, discriminator: true });
    weights = dump(net.variables());
    net.dispose();
  }
  const init = { weights, ema, gcfg: g, gmods: generatorModules(g), dstages: discriminatorStages(cfg.discriminator) };
  fs.writeFileSync(path.join(out, 'init.json'), JSON.stringify(init));
  console.log(`${ds.items.length} images, ${Object.keys(weights).length} tensors${ema ? ` + ${Object.keys(ema).length} EMA` : ''} -> ${out}`);
}

main().catch((e) => {
  console.error((e as Error).message);
  process.exit(1);
});
