/**
 * This package's own weights folder: model.safetensors (parameter names and NHWC layout of this package) +
 * config.json (a `ganzoo` block with the full config, plus the HF BigGANConfig fields when expressible).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { saveSafetensors, writeFileAtomic } from '@ganzoo/core';
import { BigGANDeepConfig, toHfConfig } from './config';

/** File format marker written into config.json. */
export const GANZOO_FORMAT = 'ganzoo-biggan-deep/1';

/** Write `tensors` (G, and D when the config has one) with `config` as a folder `BigGANDeep.fromPretrained` reads. */
export function writeGanzooFolder(dir: string, config: BigGANDeepConfig, tensors: Record<string, tf.Tensor>): void {
  fs.mkdirSync(dir, { recursive: true });
  saveSafetensors(path.join(dir, 'model.safetensors'), tensors);
  let hf: Record<string, unknown> = {};
  try {
    hf = toHfConfig(config) as unknown as Record<string, unknown>;
  } catch {
    /* not expressible as an HF config */
  }
  writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify({ ...hf, ganzoo: { format: GANZOO_FORMAT, config } }, null, 2) + '\n');
}
