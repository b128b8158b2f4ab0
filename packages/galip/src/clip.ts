/**
 * GALIP's three uses of one frozen OpenAI CLIP (tobran/GALIP code/models/GALIP.py), on @ganzoo/encoders' CLIP:
 * CLIP_TXT_ENCODER, CLIP_IMG_ENCODER (D side: the preprocessing quirk, block taps, ln_post(CLS) @ proj) and
 * CLIP_Mapper (G side: G's own feature map as patch tokens, a prompt token appended in chosen blocks).
 * Everything is differentiable w.r.t. its inputs; the CLIP weights are frozen.
 */
import * as tf from '@tensorflow/tfjs';
import type { RawTensor } from '@ganzoo/core';
import { CLIP, CLIPConfig } from '@ganzoo/encoders';
import { ClipArch } from './config';
import { resizeNearest } from './ops';

/** OpenAI CLIP's image normalisation (clip/clip.py _transform). */
export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

/** The encoders' CLIPConfig of an OpenAI CLIP with these architecture numbers (QuickGELU, LN eps 1e-5, argmax EOT). */
export function encoderClipConfig(a: ClipArch): CLIPConfig {
  return {
    embedDim: a.embedDim,
    text: {
      vocabSize: a.vocabSize, contextLength: a.contextLength, width: a.transformerWidth, heads: a.transformerHeads,
      layers: a.transformerLayers, mlpWidth: 4 * a.transformerWidth, act: 'quick_gelu', eps: 1e-5, pool: 'argmax',
    },
    vision: {
      imageSize: a.imageResolution, patchSize: a.visionPatchSize, width: a.visionWidth, heads: a.visionHeads,
      layers: a.visionLayers, mlpWidth: 4 * a.visionWidth, act: 'quick_gelu', eps: 1e-5,
    },
  };
}

/** Throws unless the loaded CLIP has the architecture the GALIP config names (widths, grid, depth, heads). */
export function checkClipMatches(clip: CLIP, a: ClipArch): void {
  const c = clip.config;
  const want: [string, number, number][] = [
    ['vision width', a.visionWidth, c.vision.width],
    ['vision layers', a.visionLayers, c.vision.layers],
    ['vision heads', a.visionHeads, c.vision.heads],
    ['vision patch size', a.visionPatchSize, c.vision.patchSize],
    ['image resolution', a.imageResolution, c.vision.imageSize],
    ['embedding dim', a.embedDim, c.embedDim],
    ['text width', a.transformerWidth, c.text.width],
    ['text layers', a.transformerLayers, c.text.layers],
    ['text heads', a.transformerHeads, c.text.heads],
    ['context length', a.contextLength, c.text.contextLength],
    ['vocab size', a.vocabSize, c.text.vocabSize],
  ];
  const bad = want.filter(([, e, f]) => e !== f).map(([n, e, f]) => `${n}: expected ${e}, found ${f}`);
  if (bad.length) throw new Error(`GALIP: the CLIP weights do not match the GALIP config's CLIP (${bad.join('; ')})`);
  if (!clip.hasVision) throw new Error('GALIP: the CLIP weights have no vision tower (visual.*), which NetG and the discriminator need');
}

/** A CLIP with random weights in OpenAI's initialisation spirit (for `create` and tests), seeded. */
export function randomClip(a: ClipArch, seed = 0): CLIP {
  let s = (seed * 2654435761 + 1) >>> 0;
  const rand = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const sd: Record<string, RawTensor> = {};
  const put = (name: string, shape: number[], f: () => number): void => {
    const n = shape.reduce((x, y) => x * y, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = f();
    sd[name] = { dtype: 'float32', shape, data, sourceDtype: 'F32' };
  };
  const blocks = (prefix: string, w: number, layers: number): void => {
    for (let i = 0; i < layers; i++) {
      const p = `${prefix}.${i}`;
      const std = w ** -0.5;
      put(`${p}.attn.in_proj_weight`, [3 * w, w], () => std * normal());
      put(`${p}.attn.in_proj_bias`, [3 * w], () => 0.02 * normal());
      put(`${p}.attn.out_proj.weight`, [w, w], () => std * normal());
      put(`${p}.attn.out_proj.bias`, [w], () => 0.02 * normal());
      put(`${p}.ln_1.weight`, [w], () => 1 + 0.1 * normal());
      put(`${p}.ln_1.bias`, [w], () => 0.1 * normal());
      put(`${p}.mlp.c_fc.weight`, [4 * w, w], () => std * normal());
      put(`${p}.mlp.c_fc.bias`, [4 * w], () => 0.02 * normal());
      put(`${p}.mlp.c_proj.weight`, [w, 4 * w], () => 0.5 * std * normal());
      put(`${p}.mlp.c_proj.bias`, [w], () => 0.02 * normal());
      put(`${p}.ln_2.weight`, [w], () => 1 + 0.1 * normal());
      put(`${p}.ln_2.bias`, [w], () => 0.1 * normal());
    }
  };
  const vw = a.visionWidth;
  const g = a.imageResolution / a.visionPatchSize;
  put('visual.conv1.weight', [vw, 3, a.visionPatchSize, a.visionPatchSize], () => 0.02 * normal());
  put('visual.class_embedding', [vw], () => vw ** -0.5 * normal());
  put('visual.positional_embedding', [g * g + 1, vw], () => vw ** -0.5 * normal());
  put('visual.ln_pre.weight', [vw], () => 1 + 0.1 * normal());
  put('visual.ln_pre.bias', [vw], () => 0.1 * normal());
  blocks('visual.transformer.resblocks', vw, a.visionLayers);
  put('visual.ln_post.weight', [vw], () => 1 + 0.1 * normal());
  put('visual.ln_post.bias', [vw], () => 0.1 * normal());
  put('visual.proj', [vw, a.embedDim], () => vw ** -0.5 * normal());
  const tw = a.transformerWidth;
  put('token_embedding.weight', [a.vocabSize, tw], () => 0.02 * normal());
  put('positional_embedding', [a.contextLength, tw], () => 0.01 * normal());
  blocks('transformer.resblocks', tw, a.transformerLayers);
  put('ln_final.weight', [tw], () => 1 + 0.1 * normal());
  put('ln_final.bias', [tw], () => 0.1 * normal());
  put('text_projection', [tw, a.embedDim], () => tw ** -0.5 * normal());
  put('logit_scale', [], () => Math.log(1 / 0.07));
  return CLIP.fromStateDict(sd, { config: encoderClipConfig(a) });
}

/**
 * GALIP's CLIP input transform (models/GALIP.py transf_to_CLIP_input, reproduced with its quirk):
 * x = nearest_resize(img*0.5+0.5, R); x = ((x+1)*0.5 - mean) / std. img: NHWC in [-1, 1].
 */
export function galipClipInput(img: tf.Tensor4D, resolution: number): tf.Tensor4D {
  return tf.tidy(() => {
    const x = resizeNearest(tf.add(tf.mul(img, 0.5), 0.5) as tf.Tensor4D, resolution);
    return tf.div(tf.sub(tf.mul(tf.add(x, 1), 0.5), CLIP_MEAN), CLIP_STD) as tf.Tensor4D;
  });
}

export interface ClipImageFeatures {
  /** Patch tokens after each tap block (in tap order), each NHWC [B, g, g, W]. */
  local: tf.Tensor4D[];
  /** ln_post(CLS after the last block) @ proj: [B, embedDim], not normalised. */
  emb: tf.Tensor2D;
}

function patchTokensToMap(x: tf.Tensor3D, g: number): tf.Tensor4D {
  const [b, , w] = x.shape;
  return tf.reshape(tf.slice(x, [0, 1, 0], [-1, g * g, -1]), [b, g, g, w]) as tf.Tensor4D;
}

/** CLIP_IMG_ENCODER(img): local features of the tap blocks and the image embedding. img: NHWC in [-1, 1]. */
export function clipImageEncoder(clip: CLIP, taps: number[], img: tf.Tensor4D): ClipImageFeatures {
  const v = clip.config.vision;
  if (img.rank !== 4 || img.shape[3] !== 3) throw new Error(`GALIP CLIP image encoder: expected images [B, H, W, 3] in [-1, 1], found [${img.shape}]`);
  return tf.tidy(() => {
    const g = v.imageSize / v.patchSize;
    const x0 = clip.visionEmbed(galipClipInput(img, v.imageSize));
    const sorted = [...new Set(taps)].sort((a, b) => a - b);
    const { tokens, hidden } = clip.runVisionBlocks(x0, 0, v.layers, sorted);
    const local = taps.map((t) => patchTokensToMap(hidden[sorted.indexOf(t)], g));
    const { embeds } = clip.visionHead(tokens);
    return { local, emb: embeds };
  });
}

/**
 * CLIP_Mapper(fuse, prompts): G's feature map [B, g, g, W] as patch tokens, class token + positional embedding +
 * ln_pre, then every visual block; in block promptLayers[j] (ascending) the prompt prompts[:, j] is appended as the
 * last token and dropped after the block. Returns the patch tokens of the last block as [B, g, g, W] (no ln_post).
 */
export function clipMapper(clip: CLIP, promptLayers: number[], fuse: tf.Tensor4D, prompts: tf.Tensor3D): tf.Tensor4D {
  const v = clip.config.vision;
  const [b, g, g2, w] = fuse.shape;
  if (g !== g2 || w !== v.width || g * v.patchSize !== v.imageSize) {
    throw new Error(`CLIP_Mapper: expected a feature map [B, ${v.imageSize / v.patchSize}, ${v.imageSize / v.patchSize}, ${v.width}], found [${fuse.shape}]`);
  }
  if (prompts.rank !== 3 || prompts.shape[1] !== promptLayers.length || prompts.shape[2] !== w) {
    throw new Error(`CLIP_Mapper: expected prompts [B, ${promptLayers.length}, ${w}], found [${prompts.shape}]`);
  }
  const order = [...promptLayers].sort((a, c) => a - c);
  return tf.tidy(() => {
    let x = clip.embedPatchTokens(tf.reshape(fuse, [b, g * g, w]) as tf.Tensor3D);
    let i = 0;
    while (i < v.layers) {
      const j = order.indexOf(i);
      if (j >= 0) {
        const prompt = tf.slice(prompts, [0, j, 0], [-1, 1, -1]);
        const y = clip.runVisionBlocks(tf.concat([x, prompt], 1) as tf.Tensor3D, i, i + 1).tokens;
        x = tf.slice(y, [0, 0, 0], [-1, g * g + 1, -1]) as tf.Tensor3D;
        i += 1;
      } else {
        // run the consecutive blocks without a prompt in one go
        let end = i + 1;
        while (end < v.layers && !order.includes(end)) end++;
        x = clip.runVisionBlocks(x, i, end).tokens;
        i = end;
      }
    }
    return patchTokensToMap(x, g);
  });
}

/**
 * CLIP_TXT_ENCODER(ids): sentence embedding ln_final(x)[argmax(ids)] @ text_projection [B, E] (not normalised)
 * and the word features ln_final(x) [B, L, Wt]. ids: int32 [B, contextLength], EOT the highest id of each row.
 */
export function clipTextEncoder(clip: CLIP, ids: tf.Tensor2D): { sentEmb: tf.Tensor2D; words: tf.Tensor3D } {
  const t = clip.config.text;
  if (!clip.hasText) throw new Error('GALIP: the CLIP weights have no text tower; pass sentence embeddings instead of prompts');
  if (ids.rank !== 2 || ids.shape[1] !== t.contextLength) throw new Error(`GALIP CLIP text encoder: expected token ids [B, ${t.contextLength}], found [${ids.shape}]`);
  const idsI = ids.dtype === 'int32' ? ids : tf.cast(ids, 'int32');
  try {
    const out = clip.textForward(idsI as tf.Tensor2D);
    tf.dispose([out.pooled, out.eotIndex]);
    return { sentEmb: out.embeds, words: out.lastHiddenState };
  } finally {
    if (idsI !== ids) idsI.dispose();
  }
}
