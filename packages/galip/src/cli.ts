/**
 * The functions the ganzoo CLI looks for in a model package (packages/cli/src/models.ts ModelPackageApi):
 * `createTrainable`, `loadGenerator`, `convertCheckpoint`, `presets`.
 */
import * as tf from '@tensorflow/tfjs';
import { GalipConfig, PRESETS, PresetName } from './config';
import { GALIP } from './model';
import { GalipTrainer } from './train';

export const presets: Record<string, GalipConfig> = PRESETS;

/** A GalipTrainer for `ganzoo finetune`: from weights (folder, .pth or manifest id) or a preset with random weights. */
export async function createTrainable(req: { preset?: string; weights?: string; resolution?: number; seed?: number }): Promise<GalipTrainer> {
  const model = req.weights
    ? await GALIP.fromPretrained(req.weights, req.preset ? { config: req.preset as PresetName } : {})
    : GALIP.create((req.preset ?? 'tiny') as PresetName, { seed: req.seed });
  const res = model.config.clip.imageResolution;
  if (req.resolution !== undefined && req.resolution !== res) {
    model.dispose();
    throw new Error(`GALIP: the ${req.preset ?? 'model'} config trains at ${res}x${res} (the CLIP input size), found a requested resolution ${req.resolution}`);
  }
  return new GalipTrainer(model);
}

/** A generator for `ganzoo generate`: one image per seed, prompts cycled over the seeds. */
export async function loadGenerator(ref: string, opts: { offline?: boolean; cacheDir?: string } = {}) {
  const model = await GALIP.fromPretrained(ref, { discriminator: false, offline: opts.offline, cacheDir: opts.cacheDir });
  return {
    conditioning: 'text' as const,
    resolution: model.config.clip.imageResolution,
    generate(o: { seeds: number[]; prompts?: string[]; truncation?: number }): tf.Tensor4D {
      const prompts = o.prompts ?? [];
      if (!prompts.length) throw new Error('GALIP generate: expected at least one prompt');
      return tf.tidy(() => tf.concat(o.seeds.map((seed, i) => model.generate({ prompts: [prompts[i % prompts.length]], seed, truncation: o.truncation })), 0) as tf.Tensor4D);
    },
    dispose: () => model.dispose(),
  };
}

/** `ganzoo convert`: an official checkpoint (folder, .pth with config, or manifest id) -> a ganzoo folder (GALIP.save). */
export async function convertCheckpoint(src: string, outDir: string, opts: { config?: string } = {}): Promise<{ outDir: string; config: GalipConfig }> {
  const model = await GALIP.fromPretrained(src, opts.config ? { config: opts.config as PresetName } : {});
  try {
    model.save(outDir);
    return { outDir, config: model.config };
  } finally {
    model.dispose();
  }
}
