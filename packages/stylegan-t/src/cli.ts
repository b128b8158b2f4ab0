/**
 * The functions the ganzoo CLI looks for in a model package (packages/cli/src/models.ts ModelPackageApi):
 * `presets`, `createTrainable`, `loadGenerator`, `convertCheckpoint`.
 *
 * StyleGAN-T is conditioned on the embeddings of a frozen CLIP text encoder that is not part of the weights a run
 * trains (train_mode 'all' / 'freeze64'), so a run records which CLIP it used: in its checkpoint config as
 * `text_encoder`, and in an exported folder as `text_encoder.json` beside config.json (which also gets `modelId`):
 *  - `{ kind: 'clip', ref }`: a CLIP folder (with tokenizer.json) or a manifest / hub id (`ganzoo finetune --clip`);
 *  - `{ kind: 'random', seed, config }`, the default without a CLIP: a seeded random CLIP text tower with a
 *    byte-level tokenizer. For smoke tests and pipeline checks only: its embeddings tell texts apart but carry no
 *    meaning, so a model trained on them follows prompts only as far as their spelling.
 * `loadGenerator` rebuilds that encoder for a run folder, a checkpoint folder or a folder written by `finetune`.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { flattenStateDict, RawTensor, readSafetensors, readTorchCheckpoint, resolveWeights, saveSafetensors, writeFileAtomic } from '@ganzoo/core';
import {
  BYTE_VOCAB_SIZE, CLIP, CLIPConfig, TEXT_ENCODER_FILE, TextEncoderSpec, asTextEncoderSpec, clipSpec, loadTextEncoder as loadSharedTextEncoder,
  recordedTextEncoder, TextTrainableRequest,
} from '@ganzoo/encoders';
import { makeConfig, PRESETS, PresetName, StyleGANTConfig } from './config';
import { StyleGANT } from './model';
import { StyleGANTTrainer, TrainOptions } from './train';

export const presets: Record<string, () => StyleGANTConfig> = PRESETS;

/** Which CLIP encodes the prompts of a model trained through the CLI (stored as `text_encoder` in its config). */
export type StyleGANTTextEncoderSpec = TextEncoderSpec;

/** What `ganzoo finetune` passes (packages/cli/src/models.ts TrainableRequest), plus `clip`. */
export type StyleGANTTrainableRequest = TextTrainableRequest;

/** A small random CLIP text tower whose projected embeddings are `embedDim` wide. */
function randomClipConfig(embedDim: number): CLIPConfig {
  const width = Math.min(64, embedDim % 16 === 0 ? embedDim : 32);
  const heads = width / 16;
  return {
    embedDim,
    text: { vocabSize: BYTE_VOCAB_SIZE, contextLength: 64, width, heads, layers: 2, mlpWidth: 4 * width, act: 'quick_gelu', eps: 1e-5, pool: 'argmax' },
    vision: { imageSize: 32, patchSize: 8, width: 32, heads: 2, layers: 1, mlpWidth: 128, act: 'quick_gelu', eps: 1e-5 },
  };
}

function loadTextEncoder(spec: StyleGANTTextEncoderSpec, o: { offline?: boolean; cacheDir?: string } = {}): Promise<CLIP> {
  return loadSharedTextEncoder(spec, { ...o, who: 'StyleGAN-T', towers: { text: true, vision: false } });
}

const asSpec = asTextEncoderSpec;
const recordedSpec = recordedTextEncoder;

/** Drop the CLI's bookkeeping keys from a config (what StyleGANT.create reads is the rest). */
function modelConfig(config: Record<string, unknown>): StyleGANTConfig {
  const { text_encoder: _t, modelId: _m, ...rest } = config;
  return makeConfig(rest as unknown as StyleGANTConfig);
}

/** Newest `checkpoints/step-N` of a run folder, or the folder itself when it is a checkpoint. */
function checkpointDir(dir: string): string | undefined {
  const ck = path.join(dir, 'checkpoints');
  if (fs.existsSync(ck)) {
    const steps = fs.readdirSync(ck).filter((n) => /^step-\d+$/.test(n)).sort();
    if (!steps.length) throw new Error(`StyleGAN-T: no checkpoints in ${ck}`);
    return path.join(ck, steps[steps.length - 1]);
  }
  return fs.existsSync(path.join(dir, 'state.json')) ? dir : undefined;
}

/** A local path as is; anything else is a manifest id resolved (downloaded, verified, cached) by core. */
async function localDir(ref: string, o: { offline?: boolean; cacheDir?: string }): Promise<string> {
  if (fs.existsSync(ref)) return fs.statSync(ref).isDirectory() ? path.resolve(ref) : path.dirname(path.resolve(ref));
  if (ref === 'stylegan-t') {
    throw new Error('StyleGAN-T: the weights manifest has no StyleGAN-T checkpoint yet: give a StyleGAN-T folder (config.json + model.safetensors) or a `ganzoo finetune` run folder');
  }
  return (await resolveWeights(ref, { offline: o.offline, cacheDir: o.cacheDir })).dir;
}

/**
 * StyleGANTTrainer for the CLI: records the text encoder in its config, cycles the sample captions over the seeds,
 * writes `modelId` into the exported config.json and `text_encoder.json` beside it, and owns (disposes) the model and its CLIP.
 */
export class StyleGANTCliTrainer extends StyleGANTTrainer {
  constructor(model: StyleGANT, readonly textEncoderSpec: StyleGANTTextEncoderSpec, private readonly clip: CLIP, opts: TrainOptions = {}) {
    super(model, opts);
  }

  override get config(): Record<string, unknown> {
    const { modelId: _m, ...rest } = this.model.config as unknown as Record<string, unknown>;
    return { ...rest, text_encoder: this.textEncoderSpec };
  }


  override exportGenerator(dir: string): void {
    super.exportGenerator(dir);
    const file = path.join(dir, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(file, 'utf8'));
    writeFileAtomic(file, JSON.stringify({ modelId: 'stylegan-t', ...cfg }, null, 2));
    writeFileAtomic(path.join(dir, TEXT_ENCODER_FILE), JSON.stringify(this.textEncoderSpec, null, 2) + '\n');
  }

  override dispose(): void {
    super.dispose();
    this.model.dispose();
    this.clip.dispose();
  }
}

/**
 * A StyleGANTCliTrainer for `ganzoo finetune`: a preset (default 'tiny', random weights, a random DINO for its
 * discriminator) or weights to start from (a StyleGAN-T folder; without model_D.safetensors, e.g. a run's final/,
 * the discriminator heads start fresh on a random DINO). The text encoder is `req.clip`, else the one the weights
 * record, else a seeded random byte-level CLIP (see the file comment).
 */
export async function createTrainable(req: StyleGANTTrainableRequest = {}): Promise<StyleGANTCliTrainer> {
  const seed = req.seed ?? 0;
  const o = { offline: req.offline, cacheDir: req.cacheDir };
  const presetCfg = req.preset !== undefined ? makeConfig(req.preset as PresetName) : undefined;
  let model: StyleGANT;
  let spec: StyleGANTTextEncoderSpec;
  let clip: CLIP;
  if (req.weights) {
    const dir = await localDir(req.weights, o);
    if (checkpointDir(dir)) {
      throw new Error(`StyleGAN-T: ${req.weights} is a finetune run / checkpoint: continue it with --resume, or start from its exported final/ folder`);
    }
    const recorded = recordedSpec(dir);
    if (!req.clip && !recorded) {
      throw new Error(`StyleGAN-T: ${req.weights} does not record which CLIP encodes its prompts: pass --clip <CLIP folder or id> ` +
        '(openai/clip-vit-large-patch14 for the official weights)');
    }
    spec = req.clip ? clipSpec(req.clip) : recorded!;
    clip = await loadTextEncoder(spec, o);
    try {
      model = await StyleGANT.fromPretrained(dir, { textEncoder: clip });
    } catch (e) {
      clip.dispose();
      throw e;
    }
    if (!model.D) {
      // a generator-only folder (e.g. a finetune run's final/): fresh discriminator heads on a random DINO
      const g = model;
      try {
        model = StyleGANT.create(modelConfig(g.config as unknown as Record<string, unknown>), { seed, withDiscriminator: true, textEncoder: clip });
        tf.tidy(() => {
          for (const [k, v] of Object.entries(model.G.params)) v.assign(g.G.params[k]);
        });
      } catch (e) {
        clip.dispose();
        throw e;
      } finally {
        g.dispose();
      }
    }
    if (presetCfg && presetCfg.G.img_resolution !== model.resolved.imgResolution) {
      const r = model.resolved.imgResolution;
      model.dispose();
      clip.dispose();
      throw new Error(`StyleGAN-T: preset '${req.preset}' is ${presetCfg.G.img_resolution}x${presetCfg.G.img_resolution} but the weights ${req.weights} are ${r}x${r}`);
    }
  } else {
    const cfg = presetCfg ?? makeConfig('tiny');
    spec = req.clip ? clipSpec(req.clip) : { kind: 'random', seed: 0, config: randomClipConfig(cfg.text_dim) };
    clip = await loadTextEncoder(spec, o);
    // the generator's c_dim (and D's) is the CLIP's embedding width
    cfg.text_dim = clip.config.embedDim;
    cfg.D.c_dim = clip.config.embedDim;
    model = StyleGANT.create(cfg, { seed, withDiscriminator: true, textEncoder: clip });
  }
  const res = model.resolved.imgResolution;
  if (req.resolution !== undefined && req.resolution !== res) {
    model.dispose();
    clip.dispose();
    throw new Error(`StyleGAN-T: the ${req.preset ?? 'model'} config trains at ${res}x${res}, found a requested resolution ${req.resolution}x${req.resolution}`);
  }
  try {
    return new StyleGANTCliTrainer(model, spec, clip, { batchSize: req.batchSize, lossClip: clip, seed });
  } catch (e) {
    model.dispose();
    clip.dispose();
    throw e;
  }
}

/** The EMA generator of a run / checkpoint folder (`G_ema.*` in checkpoints/step-N/model.safetensors). */
async function fromCheckpoint(ck: string, o: { offline?: boolean; cacheDir?: string; clip?: string }): Promise<StyleGANT> {
  const state = JSON.parse(fs.readFileSync(path.join(ck, 'state.json'), 'utf8')) as { modelId?: string; config?: Record<string, unknown> };
  if (state.modelId !== 'stylegan-t') throw new Error(`StyleGAN-T: ${ck} holds a '${state.modelId}' checkpoint, not stylegan-t`);
  const config = state.config ?? {};
  const spec = o.clip ? clipSpec(o.clip) : asSpec(config.text_encoder);
  if (!spec) throw new Error(`StyleGAN-T: ${ck} does not record which CLIP encodes its prompts: pass --clip <CLIP folder or id>`);
  const clip = await loadTextEncoder(spec, o);
  let model: StyleGANT;
  try {
    model = StyleGANT.create(modelConfig(config), { seed: 0, textEncoder: clip });
  } catch (e) {
    clip.dispose();
    throw e;
  }
  model.ownsTextEncoder = true;
  try {
    const raw = readSafetensors(path.join(ck, 'model.safetensors')).tensors;
    const params = model.G.params;
    const missing = Object.keys(params).filter((k) => !raw[`G_ema.${k}`]);
    if (missing.length) throw new Error(`StyleGAN-T: ${ck}/model.safetensors lacks the EMA generator (e.g. G_ema.${missing[0]})`);
    tf.tidy(() => {
      for (const [k, v] of Object.entries(params)) {
        const r = raw[`G_ema.${k}`];
        if (r.shape.join(',') !== v.shape.join(',')) throw new Error(`StyleGAN-T: G_ema.${k} is [${r.shape}] in ${ck}, the config expects [${v.shape}]`);
        v.assign(tf.tensor(r.data, r.shape, r.dtype));
      }
      // train_mode 'text_encoder' checkpoints hold the trained text tower too
      for (const [k, v] of Object.entries(clip.params.toRecord())) {
        const r = raw[`G_ema.mapping.clip.model.${k}`];
        if (r) v.assign(tf.tensor(r.data, r.shape, r.dtype));
      }
    });
    return model;
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/**
 * A generator for `ganzoo generate`: a StyleGAN-T folder, a `ganzoo finetune` run or checkpoint folder (its EMA
 * generator), or a manifest id. One image per seed, prompts cycled over the seeds.
 */
export async function loadGenerator(ref: string, opts: { offline?: boolean; cacheDir?: string; clip?: string } = {}) {
  const dir = await localDir(ref, opts);
  const ck = checkpointDir(dir);
  let model: StyleGANT;
  if (ck) model = await fromCheckpoint(ck, opts);
  else {
    const spec = opts.clip ? clipSpec(opts.clip) : recordedSpec(dir);
    const clip = spec ? await loadTextEncoder(spec, opts) : undefined;
    try {
      // without a recorded CLIP, a text tower saved in the weights (mapping.clip.model.*) is used, with a tokenizer.json beside it
      model = await StyleGANT.fromPretrained(dir, { textEncoder: clip, loadDiscriminator: false,
        tokenizer: !clip && fs.existsSync(path.join(dir, 'tokenizer.json')) ? dir : undefined });
    } catch (e) {
      clip?.dispose();
      throw e;
    }
    if (clip) model.ownsTextEncoder = true;
    if (model.resolved.cDim > 0 && !model.textEncoder) {
      model.dispose();
      throw new Error(`StyleGAN-T: ${ref} does not record which CLIP encodes its prompts: pass --clip <CLIP folder or id>`);
    }
  }
  return {
    conditioning: 'text' as const,
    resolution: model.resolved.imgResolution,
    generate(o: { seeds: number[]; prompts?: string[]; truncation?: number }): tf.Tensor4D {
      const prompts = o.prompts ?? [];
      if (!prompts.length) throw new Error('StyleGAN-T generate: expected at least one prompt');
      return tf.tidy(() => tf.clipByValue(tf.concat(o.seeds.map((seed, i) =>
        model.generate({ prompts: [prompts[i % prompts.length]], seed, truncation: o.truncation })), 0), -1, 1) as tf.Tensor4D);
    },
    dispose: () => model.dispose(),
  };
}

/** A generator state dict from a file: safetensors or a PyTorch checkpoint; `G_ema.` / `G.` prefixed keys are preferred in that order. */
function generatorStateDict(file: string): Record<string, RawTensor> {
  const all = file.endsWith('.safetensors') ? readSafetensors(file).tensors : flattenStateDict(readTorchCheckpoint(file));
  for (const prefix of ['G_ema.', 'G.']) {
    const sub = Object.fromEntries(Object.entries(all).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
    if (Object.keys(sub).length) return sub;
  }
  return all;
}

/**
 * `ganzoo convert`: official StyleGAN-T weights -> a ganzoo folder written by StyleGANT.save. `src` is a folder
 * (config.json + model.safetensors with official keys, optionally model_D.safetensors with its DINO) or a generator
 * state dict file (.safetensors / .pth / .pt; keys under `G_ema.` or `G.` are taken when present) with `--config`
 * (the official constructor kwargs {G, D, text_dim, dino}) or a config.json beside it.
 */
export async function convertCheckpoint(src: string, outDir: string, opts: { config?: string } = {}): Promise<{ outDir: string; config: StyleGANTConfig }> {
  const isDir = fs.statSync(src).isDirectory();
  const dir = isDir ? src : path.dirname(src);
  const cfgFile = opts.config ?? path.join(dir, 'config.json');
  if (!fs.existsSync(cfgFile)) throw new Error(`StyleGAN-T convert: no config.json in ${dir}; pass --config <config.json> ({G, D, text_dim, dino})`);
  // stage the files under the names StyleGANT.fromPretrained reads
  const stage = fs.mkdtempSync(path.join(path.dirname(path.resolve(outDir)), '.stylegan-t-convert-'));
  try {
    fs.copyFileSync(cfgFile, path.join(stage, 'config.json'));
    if (isDir) {
      for (const f of ['model.safetensors', 'model_D.safetensors']) if (fs.existsSync(path.join(src, f))) fs.copyFileSync(path.join(src, f), path.join(stage, f));
    } else {
      saveSafetensors(path.join(stage, 'model.safetensors'), generatorStateDict(src));
    }
    const model = await StyleGANT.fromPretrained(stage);
    try {
      model.save(outDir, { includeTextEncoder: !!model.textEncoder });
      // modelId tells the CLI which family the folder holds (StyleGANT.fromPretrained ignores it)
      const file = path.join(outDir, 'config.json');
      writeFileAtomic(file, JSON.stringify({ modelId: 'stylegan-t', ...JSON.parse(fs.readFileSync(file, 'utf8')) }, null, 2));
      return { outDir, config: model.config };
    } finally {
      model.dispose();
    }
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}
