/**
 * The functions the ganzoo CLI looks for in a model package (packages/cli/src/models.ts ModelPackageApi):
 * `createTrainable`, `loadGenerator`, `convertCheckpoint`, `presets`.
 *
 * GALIP's frozen CLIP is part of the model (text encoder, NetG's CLIP_Mapper, the discriminator's image encoder),
 * so the GALIP config's `clip` architecture is the CLIP's own. A run records which CLIP it used (the shared
 * `TextEncoderSpec` of @ganzoo/encoders): in its checkpoint config as `textEncoder`, and in an exported folder as
 * `text_encoder.json` beside config.json:
 *  - `{ kind: 'clip', ref }`: a CLIP folder (with tokenizer.json and a vision tower) or a manifest / hub id (`--clip`);
 *  - `{ kind: 'random', seed, config }`, the default for a preset without `--clip`: a seeded random CLIP of the
 *    preset's architecture with a byte-level tokenizer (its vocabulary and a context of at least 64 tokens, so
 *    captions fit). For smoke tests and pipeline checks only: its encodings tell texts apart but carry no meaning.
 * `loadGenerator` rebuilds that CLIP for a run folder, a checkpoint folder or a folder written by `finetune`.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { readSafetensors, writeFileAtomic } from '@ganzoo/core';
import {
  BYTE_VOCAB_SIZE, CLIP, CLIPConfig, TEXT_ENCODER_FILE, TextEncoderSpec, asTextEncoderSpec, clipSpec, loadTextEncoder, recordedTextEncoder, TextTrainableRequest,
} from '@ganzoo/encoders';
import { ClipArch, GalipConfig, PRESETS, PresetName, galipConfig } from './config';
import { encoderClipConfig } from './clip';
import { NetG } from './generator';
import { GALIP } from './model';
import { GalipTrainer } from './train';

export const presets: Record<string, GalipConfig> = PRESETS;

/** Which CLIP a GALIP model trained through the CLI uses. */
export type GalipTextEncoderSpec = TextEncoderSpec;

/** What `ganzoo finetune` passes (packages/cli/src/models.ts TrainableRequest), plus `clip`. */
export type GalipTrainableRequest = TextTrainableRequest;

const WHO = 'GALIP';
/** Context of the random CLIP: byte-level prompts are one token per byte. */
const RANDOM_CONTEXT = 64;

/** The random byte-level CLIP for a config: its architecture, with the byte vocabulary and a long enough context. */
function randomClipSpec(cfg: GalipConfig): GalipTextEncoderSpec {
  const arch: ClipArch = { ...cfg.clip, vocabSize: BYTE_VOCAB_SIZE, contextLength: Math.max(cfg.clip.contextLength, RANDOM_CONTEXT) };
  return { kind: 'random', seed: 0, config: encoderClipConfig(arch) };
}

/** GALIP's ClipArch numbers of a loaded CLIP. */
function archOf(c: CLIPConfig): ClipArch {
  return {
    embedDim: c.embedDim, imageResolution: c.vision.imageSize, visionLayers: c.vision.layers, visionWidth: c.vision.width,
    visionHeads: c.vision.heads, visionPatchSize: c.vision.patchSize, contextLength: c.text.contextLength, vocabSize: c.text.vocabSize,
    transformerWidth: c.text.width, transformerHeads: c.text.heads, transformerLayers: c.text.layers,
  };
}

/** The config with the CLIP's architecture (and its embedding size as condDim). */
function withClip(cfg: GalipConfig, clip: CLIP): GalipConfig {
  if (!clip.hasVision) throw new Error(`${WHO}: the CLIP has no vision tower, which NetG and the discriminator need`);
  return galipConfig(cfg, { clip: archOf(clip.config), condDim: clip.config.embedDim });
}

/** Drop the CLI's bookkeeping keys from a checkpoint config. */
function modelConfig(config: Record<string, unknown>): GalipConfig {
  const { textEncoder: _t, modelId: _m, ...rest } = config;
  return galipConfig(rest as unknown as GalipConfig);
}

/** Newest `checkpoints/step-N` of a run folder, or the folder itself when it is a checkpoint. */
function checkpointDir(dir: string): string | undefined {
  const ck = path.join(dir, 'checkpoints');
  if (fs.existsSync(ck)) {
    const steps = fs.readdirSync(ck).filter((n) => /^step-\d+$/.test(n)).sort();
    if (!steps.length) throw new Error(`${WHO}: no checkpoints in ${ck}`);
    return path.join(ck, steps[steps.length - 1]);
  }
  return fs.existsSync(path.join(dir, 'state.json')) ? dir : undefined;
}

/**
 * GALIP.fromPretrained with a CLIP built from a spec (disposed if loading fails); without one, the folder's own.
 * `needTokenizer` (training on captions): a CLIP without a tokenizer is refused here, not at the first batch.
 */
async function loadModel(
  ref: string, spec: GalipTextEncoderSpec | undefined,
  o: { offline?: boolean; cacheDir?: string; discriminator?: boolean; preset?: string; needTokenizer?: boolean },
): Promise<GALIP> {
  const clip = spec ? await loadTextEncoder(spec, { ...o, who: WHO }) : undefined;
  let model: GALIP;
  try {
    model = await GALIP.fromPretrained(ref, { clip, discriminator: o.discriminator, offline: o.offline, cacheDir: o.cacheDir, ...(o.preset ? { config: o.preset as PresetName } : {}) });
  } catch (e) {
    clip?.dispose();
    throw e;
  }
  if (o.needTokenizer && !model.clip.tokenizer) {
    model.dispose();
    throw new Error(`${WHO}: the CLIP of ${ref} has no tokenizer (an OpenAI .pth has none) and the folder records no text encoder: pass --clip <CLIP folder or id> (e.g. openai/clip-vit-base-patch32)`);
  }
  return model;
}

/**
 * GalipTrainer for the CLI: records the text encoder in its config, cycles the sample captions over the seeds, writes
 * `text_encoder.json` beside the exported folder, and owns (disposes) the model and its CLIP.
 */
export class GalipCliTrainable extends GalipTrainer {
  constructor(model: GALIP, readonly textEncoderSpec: GalipTextEncoderSpec | undefined) {
    super(model);
    if (textEncoderSpec) (this as { config: Record<string, unknown> }).config = { ...this.config, textEncoder: textEncoderSpec };
  }


  override exportGenerator(dir: string): void {
    super.exportGenerator(dir);
    if (this.textEncoderSpec) writeFileAtomic(path.join(dir, TEXT_ENCODER_FILE), JSON.stringify(this.textEncoderSpec, null, 2) + '\n');
  }

  override dispose(): void {
    super.dispose();
    this.model.dispose();
  }
}

/**
 * A GalipCliTrainable for `ganzoo finetune`: a preset (default 'tiny', random weights) or GALIP weights (folder,
 * .pth or manifest id) to start from. The CLIP is `req.clip`, else the one the folder records, else (weights) the
 * folder's own, else (preset) a seeded random byte-level CLIP.
 */
export async function createTrainable(req: GalipTrainableRequest = {}): Promise<GalipCliTrainable> {
  const o = { offline: req.offline, cacheDir: req.cacheDir };
  let model: GALIP;
  let spec: GalipTextEncoderSpec | undefined;
  if (req.weights) {
    if (fs.existsSync(req.weights) && fs.statSync(req.weights).isDirectory() && checkpointDir(req.weights)) {
      throw new Error(`${WHO}: ${req.weights} is a finetune run / checkpoint: continue it with --resume, or start from its exported final/ folder`);
    }
    const dir = fs.existsSync(req.weights) && fs.statSync(req.weights).isDirectory() ? req.weights : undefined;
    spec = req.clip ? clipSpec(req.clip) : dir ? recordedTextEncoder(dir) : undefined;
    model = await loadModel(req.weights, spec, { ...o, preset: req.preset, needTokenizer: true });
  } else {
    const base = galipConfig((req.preset ?? 'tiny') as PresetName);
    spec = req.clip ? clipSpec(req.clip) : randomClipSpec(base);
    const clip = await loadTextEncoder(spec, { ...o, who: WHO });
    try {
      model = GALIP.create(withClip(base, clip), { seed: req.seed ?? 0, clip });
    } catch (e) {
      clip.dispose();
      throw e;
    }
  }
  const res = model.config.clip.imageResolution;
  if (req.resolution !== undefined && req.resolution !== res) {
    model.dispose();
    throw new Error(`${WHO}: the ${req.preset ?? 'model'} config trains at ${res}x${res} (the CLIP input size), found a requested resolution ${req.resolution}`);
  }
  try {
    return new GalipCliTrainable(model, spec);
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/** NetG of a run / checkpoint folder (`netG.*` in checkpoints/step-N/model.safetensors), with its recorded CLIP. */
async function fromCheckpoint(ck: string, o: { offline?: boolean; cacheDir?: string; clip?: string }): Promise<GALIP> {
  const file = path.join(ck, 'state.json');
  const state = JSON.parse(fs.readFileSync(file, 'utf8')) as { modelId?: string; config?: Record<string, unknown> };
  if (state.modelId !== 'galip') throw new Error(`${WHO}: ${ck} holds a '${state.modelId}' checkpoint, not galip`);
  const spec = o.clip ? clipSpec(o.clip) : asTextEncoderSpec(state.config?.textEncoder);
  if (!spec) throw new Error(`${WHO}: ${ck} does not record which CLIP its model uses: pass --clip <CLIP folder or id>`);
  const cfg = modelConfig(state.config ?? {});
  const clip = await loadTextEncoder(spec, { ...o, who: WHO });
  let netG: NetG | undefined;
  try {
    netG = new NetG(cfg, clip);
    const raw = readSafetensors(path.join(ck, 'model.safetensors')).tensors;
    tf.tidy(() => {
      for (const [k, v] of Object.entries(netG!.vars)) {
        const r = raw[`netG.${k}`];
        if (!r) throw new Error(`${WHO}: ${ck}/model.safetensors lacks the generator weight netG.${k}`);
        if (r.shape.join(',') !== v.shape.join(',')) throw new Error(`${WHO}: netG.${k} is [${r.shape}] in ${ck}, the config expects [${v.shape}]`);
        v.assign(tf.tensor(r.data, r.shape, r.dtype));
      }
    });
    return new GALIP(cfg, clip, netG, null, null);
  } catch (e) {
    netG?.dispose();
    clip.dispose();
    throw e;
  }
}

/**
 * A generator for `ganzoo generate`: a GALIP folder (ganzoo or official), a `ganzoo finetune` run or checkpoint
 * folder, or a manifest id. One image per seed, prompts cycled over the seeds.
 */
export async function loadGenerator(ref: string, opts: { offline?: boolean; cacheDir?: string; clip?: string } = {}) {
  const dir = fs.existsSync(ref) && fs.statSync(ref).isDirectory() ? ref : undefined;
  const ck = dir ? checkpointDir(dir) : undefined;
  const model = ck
    ? await fromCheckpoint(ck, opts)
    : await loadModel(ref, opts.clip ? clipSpec(opts.clip) : dir ? recordedTextEncoder(dir) : undefined, { ...opts, discriminator: false });
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
