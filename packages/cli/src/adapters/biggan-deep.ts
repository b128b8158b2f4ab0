/**
 * CLI adapter for @ganzoo/biggan-deep: wraps the package's public API (BigGANDeep.fromPretrained / fromDirectory /
 * generate, and its GanTrainable when exported) into the CLI's `ModelPackageApi`. Functions the package exports
 * under the CLI names themselves take precedence.
 *
 * `biggan-deep-shapes` is the shipped offline default: `packages/biggan-deep/weights/shapes-32/` (a ganzoo save:
 * config.json + model.safetensors, plus classes.json with the class names).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { GanTrainable } from '@ganzoo/core';
import { CliError, EXIT } from '../errors';
import type { LoadedGenerator, ModelPackageApi, TrainableRequest } from '../models';
import { createBigGANTrainable, generatorFromCheckpoint, type BigGANStatic as FullStatic } from './biggan-trainable';
import { readSafetensors } from '@ganzoo/core';

/** The shipped default's id and where it lives inside the package. */
export const SHIPPED_ID = 'biggan-deep-shapes';

export function shippedDir(): string {
  return path.join(path.dirname(require.resolve('@ganzoo/biggan-deep/package.json')), 'weights', 'shapes-32');
}

interface BigGANLike {
  config: { generator: { numClasses: number; resolution: number; zDim?: number } };
  resolution: number;
  numClasses: number;
  /** Class names from the weights folder's classes.json (package versions that read it). */
  classNames?: string[] | null;
  generate(o: { classes?: number[]; seed?: number; truncation?: number; batchSize?: number }): tf.Tensor4D;
  /** The onnxruntime engine when the package has it (same images; faster on wasm/cpu). */
  generateAsync?(o: { classes?: number[]; seed?: number; truncation?: number; batchSize?: number }): Promise<tf.Tensor4D>;
  dispose(): void;
}
interface BigGANStatic {
  fromPretrained(id: string, o: { offline?: boolean; cacheDir?: string }): Promise<BigGANLike>;
  fromDirectory(dir: string): BigGANLike;
}

function classNamesFor(dir: string | undefined, n: number, pkg: Record<string, unknown>): string[] | undefined {
  if (dir && fs.existsSync(path.join(dir, 'classes.json'))) return JSON.parse(fs.readFileSync(path.join(dir, 'classes.json'), 'utf8'));
  const names = pkg.IMAGENET_CLASS_NAMES as string[] | undefined;
  if (n === 1000 && names?.length === 1000) return names.map((s) => s.split(',')[0].trim());
  return undefined;
}

function wrap(g: BigGANLike, n: number, classNames: string[] | undefined): LoadedGenerator {
  return {
    conditioning: 'class',
    resolution: g.resolution ?? g.config.generator.resolution,
    numClasses: n,
    classNames,
    generate: async ({ seeds, labels, truncation }) => {
      const one = (s: number, i: number) => ({ classes: [labels ? labels[i] : i % n], seed: s, truncation, batchSize: 1 });
      if (!g.generateAsync) return tf.tidy(() => tf.concat(seeds.map((s, i) => g.generate(one(s, i))), 0) as tf.Tensor4D);
      const parts: tf.Tensor4D[] = [];
      try {
        for (let i = 0; i < seeds.length; i++) parts.push(await g.generateAsync(one(seeds[i], i)));
        return tf.concat(parts, 0) as tf.Tensor4D;
      } finally {
        tf.dispose(parts);
      }
    },
    dispose: () => g.dispose(),
  };
}

export function bigganAdapter(pkg: Record<string, unknown>): ModelPackageApi {
  const B = pkg.BigGANDeep as BigGANStatic | undefined;
  const api: ModelPackageApi = {};
  if (B) {
    api.loadGenerator = async (ref, opts) => {
      let dir: string | undefined;
      let g: BigGANLike;
      if (ref === SHIPPED_ID) {
        dir = shippedDir();
        if (!fs.existsSync(path.join(dir, 'config.json'))) {
          throw new CliError(`the shipped default '${SHIPPED_ID}' is not in this build (expected ${dir}/config.json)`, EXIT.UNAVAILABLE);
        }
        g = B.fromDirectory(dir);
      } else if (fs.existsSync(path.join(ref, 'state.json')) || fs.existsSync(path.join(ref, 'checkpoints'))) {
        // A finetune run / checkpoint folder: its EMA generator.
        const r = generatorFromCheckpoint(B as unknown as FullStatic, ref, readSafetensors);
        g = r.net as unknown as BigGANLike;
        const n = g.numClasses ?? g.config.generator.numClasses;
        if (r.classNames) return wrap(g, n, r.classNames);
      } else {
        if (fs.existsSync(ref) && fs.statSync(ref).isDirectory()) dir = ref;
        g = await B.fromPretrained(ref, opts);
      }
      const n = g.numClasses ?? g.config.generator.numClasses;
      return wrap(g, n, g.classNames ?? classNamesFor(dir, n, pkg));
    };
  }
  const own = pkg.createTrainable as ((r: TrainableRequest) => GanTrainable | Promise<GanTrainable>) | undefined;
  if (typeof own === 'function') api.createTrainable = own;
  else if (B && typeof pkg.discriminatorLoss === 'function' && typeof pkg.presetConfig === 'function') {
    api.createTrainable = (req) => createBigGANTrainable(pkg, req);
  }
  return api;
}
