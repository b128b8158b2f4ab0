/**
 * The functions the ganzoo CLI looks for in a model package (packages/cli/src/models.ts ModelPackageApi):
 * `presets`, `createTrainable`, `loadGenerator`, `convertCheckpoint`.
 *
 * GigaGAN reads per-token encodings of a frozen CLIP (through GigaGANClip) that is not part of the weights a run
 * trains, so a run records which CLIP it used: in its checkpoint config as `textEncoder`, and in an exported
 * folder as `text_encoder.json` beside config.json:
 *  - `{ kind: 'clip', ref }`: a CLIP folder (with tokenizer.json) or a manifest / hub id (`ganzoo finetune --clip`);
 *  - `{ kind: 'random', seed, config }`, the default without a CLIP: a seeded random CLIP (text and vision towers)
 *    with a byte-level tokenizer. For smoke tests and pipeline checks only: its encodings tell texts apart but carry
 *    no meaning, so a model trained on them follows prompts only as far as their spelling.
 * `loadGenerator` rebuilds that encoder for a run folder, a checkpoint folder or a folder written by `finetune`.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { readSafetensors, resolveWeights, writeFileAtomic } from '@ganzoo/core';
import {
  BYTE_VOCAB_SIZE, CLIP, CLIPConfig, TEXT_ENCODER_FILE, TextEncoderSpec, asTextEncoderSpec, clipSpec, loadTextEncoder as loadSharedTextEncoder, TextTrainableRequest,
} from '@ganzoo/encoders';
import { GigaGANConfig, PRESETS, presetConfig, validateConfig } from './config';
import { GigaGAN } from './model';
import { GigaGANClip } from './clip';
import { GigaGANTrainable, GigaGANTrainOptions } from './loss';

export const presets: Record<string, () => GigaGANConfig> = PRESETS;

/** Which CLIP encodes the prompts of a model trained through the CLI. */
export type GigaGANTextEncoderSpec = TextEncoderSpec;

/** What `ganzoo finetune` passes (packages/cli/src/models.ts TrainableRequest), plus `clip`. */
export type GigaGANTrainableRequest = TextTrainableRequest;

/** A small random CLIP whose text width is `textWidth` (the encodings GigaGAN reads) and vision width `visionWidth`. */
function randomClipConfig(textWidth: number, visionWidth: number): CLIPConfig {
  const heads = (w: number) => (w % 64 === 0 ? w / 64 : w % 16 === 0 ? w / 16 : 1);
  return {
    embedDim: 32,
    text: { vocabSize: BYTE_VOCAB_SIZE, contextLength: 64, width: textWidth, heads: heads(textWidth), layers: 2, mlpWidth: 4 * textWidth, act: 'quick_gelu', eps: 1e-5, pool: 'argmax' },
    vision: { imageSize: 32, patchSize: 8, width: visionWidth, heads: heads(visionWidth), layers: 2, mlpWidth: 4 * visionWidth, act: 'quick_gelu', eps: 1e-5 },
  };
}

function loadTextEncoder(spec: GigaGANTextEncoderSpec, o: { offline?: boolean; cacheDir?: string } = {}): Promise<CLIP> {
  return loadSharedTextEncoder(spec, { ...o, who: 'GigaGAN' });
}

/** GigaGANClip over a CLIP: the end-of-text id from the CLIP's pooling id or its tokenizer. */
function adapterFor(clip: CLIP): GigaGANClip {
  const pool = clip.config.text.pool;
  return new GigaGANClip(clip, { eosId: typeof pool === 'number' ? pool : clip.tokenizer?.eosId });
}

const asSpec = asTextEncoderSpec;

/** Newest `checkpoints/step-N` of a run folder, or the folder itself when it is a checkpoint. */
function checkpointDir(dir: string): string | undefined {
  const ck = path.join(dir, 'checkpoints');
  if (fs.existsSync(ck)) {
    const steps = fs.readdirSync(ck).filter((n) => /^step-\d+$/.test(n)).sort();
    if (!steps.length) throw new Error(`GigaGAN: no checkpoints in ${ck}`);
    return path.join(ck, steps[steps.length - 1]);
  }
  return fs.existsSync(path.join(dir, 'state.json')) ? dir : undefined;
}

/** A local path as is; anything else is a manifest id resolved (downloaded, verified, cached) by core. */
async function localDir(ref: string, o: { offline?: boolean; cacheDir?: string }): Promise<string> {
  if (fs.existsSync(ref)) return fs.statSync(ref).isDirectory() ? path.resolve(ref) : path.dirname(path.resolve(ref));
  if (ref === 'gigagan') {
    throw new Error('GigaGAN: the weights manifest has no GigaGAN checkpoint yet: give a GigaGAN folder (config.json + model.safetensors) or a `ganzoo finetune` run folder');
  }
  return (await resolveWeights(ref, { offline: o.offline, cacheDir: o.cacheDir })).dir;
}

function readJson(file: string): Record<string, unknown> {
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
}

/**
 * GigaGANTrainable for the CLI: records the text encoder in its config, cycles the sample captions over the seeds,
 * writes `text_encoder.json` beside the exported config.json, and owns (disposes) the model and its CLIP.
 */
export class GigaGANCliTrainable extends GigaGANTrainable {
  constructor(model: GigaGAN, readonly textEncoderSpec: GigaGANTextEncoderSpec, private readonly clip: CLIP, opts: GigaGANTrainOptions = {}) {
    super(model, opts);
    (this as { config: Record<string, unknown> }).config = { ...(model.config as unknown as Record<string, unknown>), textEncoder: textEncoderSpec };
  }


  override exportGenerator(dir: string): void {
    super.exportGenerator(dir);
    writeFileAtomic(path.join(dir, TEXT_ENCODER_FILE), JSON.stringify(this.textEncoderSpec, null, 2) + '\n');
  }

  override dispose(): void {
    super.dispose();
    this.clip.dispose();
  }
}

/**
 * A GigaGANCliTrainable for `ganzoo finetune`: a preset (default 'tiny', random weights) or a GigaGAN folder to
 * start from. The text encoder is `req.clip`, else the one the folder records, else a seeded random byte-level CLIP.
 */
export async function createTrainable(req: GigaGANTrainableRequest = {}): Promise<GigaGANCliTrainable> {
  const seed = req.seed ?? 0;
  const o = { offline: req.offline, cacheDir: req.cacheDir };
  const presetCfg = req.preset !== undefined ? presetConfig(req.preset) : undefined;
  let model: GigaGAN;
  let spec: GigaGANTextEncoderSpec;
  let clip: CLIP;
  if (req.weights) {
    const dir = await localDir(req.weights, o);
    if (checkpointDir(dir)) {
      throw new Error(`GigaGAN: ${req.weights} is a finetune run / checkpoint: continue it with --resume, or start from its exported final/ folder`);
    }
    const recorded = asSpec(readJson(path.join(dir, TEXT_ENCODER_FILE)));
    if (!req.clip && !recorded) {
      throw new Error(`GigaGAN: ${req.weights} does not record which CLIP encodes its prompts: pass --clip <CLIP folder or id> (e.g. openai/clip-vit-base-patch32)`);
    }
    spec = req.clip ? clipSpec(req.clip) : recorded!;
    clip = await loadTextEncoder(spec, o);
    try {
      model = await GigaGAN.fromPretrained(dir, { clip: adapterFor(clip) });
    } catch (e) {
      clip.dispose();
      throw e;
    }
    if (!fs.existsSync(path.join(dir, 'model_D.safetensors'))) {
      model.dispose();
      clip.dispose();
      throw new Error(`GigaGAN: fine-tuning needs the discriminator: ${dir} has no model_D.safetensors`);
    }
    if (presetCfg && presetCfg.G.imageSize !== model.config.G.imageSize) {
      const r = model.config.G.imageSize;
      model.dispose();
      clip.dispose();
      throw new Error(`GigaGAN: preset '${req.preset}' is ${presetCfg.G.imageSize}x${presetCfg.G.imageSize} but the weights ${req.weights} are ${r}x${r}`);
    }
  } else {
    const cfg = presetCfg ?? presetConfig('tiny');
    if (cfg.G.unconditional) throw new Error(`GigaGAN: preset '${req.preset}' is unconditional; the CLI trains the text-conditional generator (e.g. tiny, text-64)`);
    spec = req.clip ? clipSpec(req.clip) : { kind: 'random', seed: 0, config: randomClipConfig(cfg.clip.dimLatent, cfg.clip.dimImageLatent) };
    clip = await loadTextEncoder(spec, o);
    const adapter = adapterFor(clip);
    // the text encoders' input widths are the CLIP's
    cfg.clip = { dimLatent: adapter.dimLatent, dimImageLatent: adapter.dimImageLatent };
    try {
      validateConfig(cfg);
      model = GigaGAN.create(cfg, { seed, clip: adapter });
    } catch (e) {
      clip.dispose();
      throw e;
    }
  }
  const res = model.config.G.imageSize;
  if (req.resolution !== undefined && req.resolution !== res) {
    model.dispose();
    clip.dispose();
    throw new Error(`GigaGAN: the ${req.preset ?? 'model'} generator is ${res}x${res}, found a requested resolution ${req.resolution}x${req.resolution}`);
  }
  try {
    return new GigaGANCliTrainable(model, spec, clip);
  } catch (e) {
    model.dispose();
    clip.dispose();
    throw e;
  }
}

/** The EMA generator of a run / checkpoint folder (`G_ema/*` and `w_avg` in checkpoints/step-N/model.safetensors). */
async function fromCheckpoint(ck: string, o: { offline?: boolean; cacheDir?: string; clip?: string }): Promise<{ model: GigaGAN; clip: CLIP }> {
  const state = readJson(path.join(ck, 'state.json')) as { modelId?: string; config?: Record<string, unknown> };
  if (state.modelId !== 'gigagan') throw new Error(`GigaGAN: ${ck} holds a '${state.modelId}' checkpoint, not gigagan`);
  const { textEncoder, ...config } = state.config ?? {};
  const spec = o.clip ? clipSpec(o.clip) : asSpec(textEncoder);
  if (!spec) throw new Error(`GigaGAN: ${ck} does not record which CLIP encodes its prompts: pass --clip <CLIP folder or id>`);
  const clip = await loadTextEncoder(spec, o);
  let model: GigaGAN;
  try {
    model = GigaGAN.create(config as unknown as GigaGANConfig, { seed: 0, clip: adapterFor(clip) });
  } catch (e) {
    clip.dispose();
    throw e;
  }
  try {
    const raw = readSafetensors(path.join(ck, 'model.safetensors')).tensors;
    const prefix = raw[`G_ema/${Object.keys(model.G)[0]}`] ? 'G_ema/' : 'G/';
    tf.tidy(() => {
      for (const [k, v] of Object.entries(model.G)) {
        const r = raw[`${prefix}${k}`];
        if (!r) throw new Error(`GigaGAN: ${ck}/model.safetensors lacks the generator weight ${prefix}${k}`);
        if (r.shape.join(',') !== v.shape.join(',')) throw new Error(`GigaGAN: ${prefix}${k} is [${r.shape}] in ${ck}, the config expects [${v.shape}]`);
        const t = tf.tensor(r.data, r.shape, r.dtype);
        v.assign(t);
        if (model.ema) model.ema.shadow[k].assign(t);
      }
      const w = raw['w_avg'];
      if (w) model.wAvg.assign(tf.tensor(w.data, w.shape, w.dtype));
    });
    return { model, clip };
  } catch (e) {
    model.dispose();
    clip.dispose();
    throw e;
  }
}

/**
 * A generator for `ganzoo generate`: a GigaGAN folder, a `ganzoo finetune` run or checkpoint folder (its EMA
 * generator), or a manifest id. One image per seed, prompts cycled over the seeds.
 */
export async function loadGenerator(ref: string, opts: { offline?: boolean; cacheDir?: string; clip?: string } = {}) {
  const dir = await localDir(ref, opts);
  const ck = checkpointDir(dir);
  let model: GigaGAN;
  let clip: CLIP | undefined;
  if (ck) ({ model, clip } = await fromCheckpoint(ck, opts));
  else {
    const spec = opts.clip ? clipSpec(opts.clip) : asSpec(readJson(path.join(dir, TEXT_ENCODER_FILE)));
    clip = spec ? await loadTextEncoder(spec, opts) : undefined;
    try {
      model = await GigaGAN.fromPretrained(dir, { clip: clip ? adapterFor(clip) : null });
    } catch (e) {
      clip?.dispose();
      throw e;
    }
    if (!model.config.G.unconditional && !clip) {
      model.dispose();
      throw new Error(`GigaGAN: ${ref} does not record which CLIP encodes its prompts: pass --clip <CLIP folder or id>`);
    }
  }
  const unconditional = model.config.G.unconditional;
  return {
    conditioning: unconditional ? ('none' as const) : ('text' as const),
    resolution: model.config.G.imageSize,
    generate(o: { seeds: number[]; prompts?: string[]; truncation?: number }): tf.Tensor4D {
      const prompts = o.prompts ?? [];
      if (!unconditional && !prompts.length) throw new Error('GigaGAN generate: expected at least one prompt');
      return tf.tidy(() => tf.concat(o.seeds.map((seed, i) =>
        model.generate({ ...(unconditional ? {} : { prompts: [prompts[i % prompts.length]] }), seed, truncation: o.truncation }).images), 0) as tf.Tensor4D);
    },
    dispose: () => {
      model.dispose();
      clip?.dispose();
    },
  };
}

/**
 * `ganzoo convert`: lucidrains' trainer checkpoint (`model-N.ckpt`, a torch.save dict {G, D, G_ema?, ...}) with
 * `--config` (the constructor kwargs {G, D, upsampler?, clip?}, or a config.json beside it), or a folder of
 * lucidrains-layout safetensors -> a ganzoo folder written by GigaGAN.save.
 */
export async function convertCheckpoint(src: string, outDir: string, opts: { config?: string } = {}): Promise<{ outDir: string; config: GigaGANConfig }> {
  let model: GigaGAN;
  if (fs.statSync(src).isDirectory()) model = await GigaGAN.fromPretrained(src);
  else {
    const cfg = opts.config ?? path.join(path.dirname(src), 'config.json');
    if (!fs.existsSync(cfg)) throw new Error(`GigaGAN convert: ${src} needs its constructor kwargs: pass --config <config.json> ({G, D, upsampler?, clip?})`);
    model = GigaGAN.fromLucidrainsCheckpoint(src, cfg);
  }
  try {
    model.save(outDir);
    return { outDir, config: model.config };
  } finally {
    model.dispose();
  }
}
