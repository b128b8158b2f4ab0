/**
 * How the CLI reaches models: each family lives in its own package and exposes (some of) `ModelPackageApi`.
 * A command that needs a function a package does not export (yet) fails with exit code 3 and says which.
 *
 * Model references accepted by `--model`:
 *  - a family id: `biggan-deep` (with `--preset` / `--weights`), `dcgan` (built in, small, for quick checks);
 *  - a weights id from the manifest / a shipped default: `biggan-deep-128`, `biggan-deep-shapes` (family = prefix);
 *  - a weights folder (config.json with a `modelId` / `model` field) or a training run / checkpoint folder.
 */
import * as fs from 'fs';
import * as path from 'path';
import type * as tf from '@tensorflow/tfjs';
import type { GanTrainable } from '@ganzoo/core';
import { CliError, EXIT } from './errors';
import { bigganAdapter } from './adapters/biggan-deep';

/** Adapters from a package's own public API to the CLI's, where the package does not export the CLI names. */
const ADAPTERS: Record<string, (pkg: Record<string, unknown>) => ModelPackageApi> = { 'biggan-deep': bigganAdapter };

/** What `finetune` asks a package for. */
export interface TrainableRequest {
  /** Named preset (e.g. 'tiny', 'shapes-32'). */
  preset?: string;
  /** Weights to start from: manifest id, folder or file. */
  weights?: string;
  /** Dataset facts the model must match. */
  numClasses?: number;
  classNames?: string[];
  resolution?: number;
  seed?: number;
  /** Batch size of the run (models whose recipe depends on it, e.g. StyleGAN-T's EMA half-life). */
  batchSize?: number;
  /** Text-conditional models: the CLIP (folder or id) that encodes the captions. */
  clip?: string;
  /** DiffAugment policy for D's inputs (e.g. 'translation,cutout'; 'none' = off), for models that take one. */
  augment?: string;
  /** Weight λ_ms of the mode-seeking regulariser on G (Mao et al. 2019), for models that take one. */
  modeSeeking?: number;
  /** Decay of the EMA generator, for models that take one (e.g. 0.99 to follow G closely at the end of a run). */
  emaDecay?: number;
  /** BigGAN-deep, fresh models only: factor on the class embedding in G's conditional BNs (`bnClassScale`). */
  bnClassScale?: number;
}

/** A loaded generator for `generate` / `demo` / `bench`. */
export interface LoadedGenerator {
  conditioning: 'class' | 'text' | 'none';
  resolution: number;
  numClasses?: number;
  classNames?: string[];
  /** NHWC images in [-1, 1], one per seed. */
  generate(o: { seeds: number[]; labels?: number[]; prompts?: string[]; truncation?: number }): tf.Tensor4D | Promise<tf.Tensor4D>;
  dispose(): void;
}

/** Functions a model package may export for the CLI. */
export interface ModelPackageApi {
  createTrainable?(req: TrainableRequest): GanTrainable | Promise<GanTrainable>;
  loadGenerator?(ref: string, opts: { offline?: boolean; cacheDir?: string; clip?: string }): LoadedGenerator | Promise<LoadedGenerator>;
  convertCheckpoint?(src: string, outDir: string, opts: { config?: string }): unknown | Promise<unknown>;
  /** Presets by name (for --help and validation). */
  presets?: Record<string, unknown>;
}

export interface Family {
  id: string;
  packageName: string;
  conditioning: 'class' | 'text';
  describe: string;
}

export const FAMILIES: Family[] = [
  { id: 'biggan-deep', packageName: '@ganzoo/biggan-deep', conditioning: 'class', describe: 'class-conditional BigGAN-deep' },
  { id: 'stylegan-t', packageName: '@ganzoo/stylegan-t', conditioning: 'text', describe: 'text-to-image StyleGAN-T' },
  { id: 'gigagan', packageName: '@ganzoo/gigagan', conditioning: 'text', describe: 'text-to-image GigaGAN' },
  { id: 'galip', packageName: '@ganzoo/galip', conditioning: 'text', describe: 'text-to-image GALIP' },
  { id: 'dcgan', packageName: '@ganzoo/cli/dcgan', conditioning: 'class', describe: 'small built-in conditional DCGAN (quick checks)' },
];

export interface ResolvedModel {
  family: Family;
  /** What to load weights from (id or path), if the reference named any. */
  weights?: string;
}

function familyFromConfig(dir: string): string | undefined {
  const ck = path.join(dir, 'checkpoints');
  if (fs.existsSync(ck)) {
    const steps = fs.readdirSync(ck).filter((n) => /^step-\d+$/.test(n)).sort();
    if (steps.length) dir = path.join(ck, steps[steps.length - 1]);
  }
  for (const f of ['config.json', 'state.json']) {
    const p = path.join(dir, f);
    if (fs.existsSync(p)) {
      try {
        const j = JSON.parse(fs.readFileSync(p, 'utf8'));
        // ganzoo saves: {"ganzoo": {"format": "ganzoo-<family>/<version>"}} or {"format": "ganzoo-<family>"}; our own: modelId.
        const fmt = /^ganzoo-(.+)\/\d+$/.exec(String(j.ganzoo?.format ?? '')) ?? /^ganzoo-([a-z0-9-]+)$/.exec(String(j.format ?? ''));
        const id = j.modelId ?? j.model ?? j.family ?? fmt?.[1];
        if (typeof id === 'string') return id;
      } catch {
        /* fall through */
      }
    }
  }
  return undefined;
}

/** Turn a `--model` reference into a family (+ weights). Throws a usage error naming the known ids. */
export function resolveModelRef(ref: string): ResolvedModel {
  const exact = FAMILIES.find((f) => f.id === ref);
  if (exact) return { family: exact };
  if (fs.existsSync(ref)) {
    const dir = fs.statSync(ref).isDirectory() ? ref : path.dirname(ref);
    const id = familyFromConfig(dir);
    const fam = FAMILIES.find((f) => id === f.id || (id !== undefined && id.startsWith(`${f.id}-`)));
    if (!fam) {
      throw new CliError(`cannot tell which model ${ref} holds: expected a config.json/state.json with a "modelId" of ` +
        `${FAMILIES.map((f) => f.id).join(', ')}${id ? `, found "${id}"` : ''}`, EXIT.USAGE);
    }
    return { family: fam, weights: path.resolve(ref) };
  }
  const byPrefix = FAMILIES.filter((f) => ref.startsWith(`${f.id}-`)).sort((a, b) => b.id.length - a.id.length)[0];
  if (byPrefix) return { family: byPrefix, weights: ref };
  throw new CliError(`unknown model '${ref}': expected one of ${FAMILIES.map((f) => f.id).join(', ')}, a weights id such as ` +
    `biggan-deep-128, or an existing weights folder`, EXIT.USAGE);
}

/** Load a family's package API, or fail with exit code 3 naming what is missing. */
export function loadPackage(family: Family, need: keyof ModelPackageApi): ModelPackageApi {
  let api: ModelPackageApi;
  if (family.id === 'dcgan') {
    api = require('./dcgan') as ModelPackageApi;
  } else {
    try {
      api = require(family.packageName) as ModelPackageApi;
    } catch (e) {
      throw new CliError(`model '${family.id}' is not available: could not load ${family.packageName} (${(e as Error).message.split('\n')[0]})`, EXIT.UNAVAILABLE);
    }
  }
  const adapter = ADAPTERS[family.id];
  if (adapter) api = { ...adapter(api as Record<string, unknown>), ...api };
  if (typeof api[need] !== 'function') {
    throw new CliError(`model '${family.id}' does not support this command yet: ${family.packageName} does not export ${String(need)}()`, EXIT.UNAVAILABLE);
  }
  return api;
}
