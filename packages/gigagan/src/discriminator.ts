/**
 * GigaGAN discriminator as lucidrains/gigagan-pytorch builds it: multi-scale input (from_rgb of each pyramid
 * level added to the stem AND concatenated on the batch axis), multi-scale output predictors conditioned on
 * the text (adaptive kernels), L2 self-attention, pixel-unshuffle downsampling, an auxiliary reconstruction
 * decoder (lightweight-gan), and the VisionAidedDiscriminator head over CLIP ViT hidden states. NHWC.
 */
import * as tf from '@tensorflow/tfjs';
import { pixelUnshuffle, resizeBilinearMatmul, tfSeed, tileBatch } from '@ganzoo/core';
import { DiscriminatorConfig, TextEncoderConfig, VisionAidedConfig, discriminatorInputResolutions } from './config';
import { W, fAdaptiveConv, fConv, fLinear, fSelfAttentionBlock, lrelu, sSelfAttentionBlock } from './blocks';
import { Recorder, fSqueezeExcite, fTextEncoder, sSqueezeExcite, sTextEncoder, upsampleBlur } from './generator';
import { Spec } from './params';

const RESIDUAL_SCALE = Math.SQRT1_2;

interface DLayer {
  index: number;
  resolution: number;
  dimIn: number;
  dimOut: number;
  hasSE: boolean;
  dimSE: number;
  downsample: boolean;
  hasAttn: boolean;
  hasPredictor: boolean;
  recon: { patchDim: number; frac: number; dims: number[] } | null;
}

export function discriminatorLayers(c: DiscriminatorConfig): DLayer[] {
  const L = Math.log2(c.imageSize) - 1;
  const dims = [c.channels];
  for (let i = 0; i < L; i++) dims.push(2 ** (i + 1) * c.dimCapacity);
  const clamped = dims.map((d) => Math.min(d, c.dimMax));
  const outs = discriminatorInputResolutions(c).map((r) => r >> c.multiscaleOutputSkipStages);
  const layers: DLayer[] = [];
  const upsampleDims: number[] = [];
  for (let j = 0; j < L; j++) {
    const resolution = c.imageSize >> j;
    const dimIn = clamped[j];
    const dimOut = clamped[j + 1];
    upsampleDims.unshift(dimIn);
    const hasSE = j > 0 && c.numSkipLayersExcite > 0 && j + c.numSkipLayersExcite < L;
    const ri = c.auxReconResolutions.indexOf(resolution);
    layers.push({
      index: j,
      resolution,
      dimIn,
      dimOut,
      hasSE,
      dimSE: hasSE ? clamped[j + c.numSkipLayersExcite] : 0,
      downsample: j < L - 1,
      hasAttn: c.attnResolutions.includes(resolution),
      hasPredictor: outs.includes(resolution),
      recon: ri >= 0 ? { patchDim: c.auxReconPatchDims[ri], frac: c.auxReconFracPatches[ri], dims: upsampleDims.slice() } : null,
    });
  }
  return layers;
}

export function discriminatorPredictorDims(c: DiscriminatorConfig): number[] {
  const k = c.numConvKernels > 1 ? c.numConvKernels : 0;
  const out: number[] = [];
  for (const l of discriminatorLayers(c)) if (l.hasPredictor) out.push(l.dimOut, k);
  return out;
}

/** Width of the text embedding the D conditions on. */
export function discriminatorTextDim(c: DiscriminatorConfig): number | null {
  if (c.unconditional) return null;
  return c.textDim ?? c.textEncoder!.dim;
}

export function discriminatorSpec(c: DiscriminatorConfig, clipDim: number): Spec {
  const s = new Spec('kaiming');
  const n = c.numConvKernels;
  for (const l of discriminatorLayers(c)) {
    const p = `layers.${l.index}`;
    if (l.hasSE) sSqueezeExcite(s, `${p}.0`, l.dimIn, l.dimSE);
    s.conv(`${p}.1`, c.channels, l.dimIn, 7);
    s.conv(`${p}.2.0`, l.dimIn, l.dimOut, 3);
    s.conv(`${p}.2.2`, l.dimOut, l.dimOut, 3);
    s.conv(`${p}.3`, l.dimIn, l.dimOut, 1);
    if (l.hasAttn) {
      sSelfAttentionBlock(s, `${p}.4`, l.dimOut, { heads: c.attnHeads, dimHead: c.attnDimHead, dotProduct: c.selfAttnDotProduct, ffMult: c.ffMult });
    }
    if (l.hasPredictor) {
      s.conv(`${p}.5.residual_fn`, l.dimOut, l.dimOut, 1);
      for (let d = 0; d < 2; d++) {
        if (c.unconditional) {
          s.conv(`${p}.5.layers.${d}.0`, l.dimOut, l.dimOut, 3);
          s.conv(`${p}.5.layers.${d}.2`, l.dimOut, l.dimOut, 3);
        } else {
          s.adaptiveConv(`${p}.5.layers.${d}.0`, l.dimOut, l.dimOut, 3, n);
          s.adaptiveConv(`${p}.5.layers.${d}.2`, l.dimOut, l.dimOut, 3, n);
        }
      }
      s.conv(`${p}.5.to_logits`, l.dimOut, 1, 1);
    }
    if (l.recon) {
      const dims = [l.dimOut, ...l.recon.dims];
      s.conv(`${p}.6.net.0`, l.dimOut, l.dimOut, 3);
      for (let i = 0; i + 1 < dims.length; i++) s.conv(`${p}.6.net.${i + 1}.1`, dims[i], dims[i + 1], 3);
    }
    if (l.downsample) s.conv(`${p}.7.1`, l.dimOut * 4, l.dimOut, 1);
  }
  const last = discriminatorLayers(c).slice(-1)[0].dimOut;
  s.conv('to_logits.0', last, last, 3);
  s.linear('to_logits.2', last * 16, 1);
  const td = discriminatorTextDim(c);
  if (td !== null) s.linear('text_to_conv_conditioning', td, discriminatorPredictorDims(c).reduce((a, b) => a + b, 0));
  if (c.textEncoder) sTextEncoder(s, 'text_encoder', c.textEncoder as TextEncoderConfig, clipDim);
  return s;
}

/** Converter options for D: its final Linear reads a NCHW flatten of the 4x4 map. */
export function discriminatorConvertOptions(c: DiscriminatorConfig) {
  const last = discriminatorLayers(c).slice(-1)[0].dimOut;
  return { flatLinear: { 'to_logits.2.weight': last } };
}

export interface DiscriminatorInputs {
  images: tf.Tensor4D;
  /** Multi-scale inputs (G's rgb pyramid or the resized real images), any order; indexed by resolution. */
  rgbs: tf.Tensor4D[];
  /** [B, textDim] text embedding (D's TextEncoder global token or given `text_embeds`). */
  textEmbeds?: tf.Tensor2D | null;
  returnMultiscale?: boolean;
  /** Compute the auxiliary reconstruction loss (training on reals; random patches and dropout). */
  auxRecon?: { seed?: number; dropout?: boolean } | null;
  record?: Recorder;
}

export interface DiscriminatorOutput {
  /** [s, B]: one row per scale copy (the batch doubles at every multi-scale input). */
  logits: tf.Tensor2D;
  /** Predictor outputs [b_stage, h, w, 1] per multi-scale output resolution. */
  multiscale: tf.Tensor4D[];
  auxLosses: tf.Scalar[];
}

/** D.text_encoder(text_encodings)[0]: the text embedding D conditions on. */
export function discriminatorTextEmbeds(w: W, c: DiscriminatorConfig, clipDim: number, enc: tf.Tensor3D): tf.Tensor2D {
  if (!c.textEncoder) throw new Error('Discriminator: no TextEncoder of its own; pass text embeddings');
  return fTextEncoder(w, 'text_encoder', c.textEncoder, clipDim, enc).global;
}

/** The multi-scale inputs of real images: F.interpolate(real, r, mode='bilinear') per input resolution (twice differentiable). */
export function realImagesToRgbs(c: DiscriminatorConfig, images: tf.Tensor4D): tf.Tensor4D[] {
  return discriminatorInputResolutions(c).map((r) => resizeBilinearMatmul(images, r, r));
}

function predictorForward(w: W, p: string, x: tf.Tensor4D, mod: tf.Tensor2D | null, kmod: tf.Tensor2D | null, unconditional: boolean): tf.Tensor4D {
  const residual = fConv(w, `${p}.residual_fn`, x);
  const conv = (name: string, t: tf.Tensor4D) => (unconditional ? fConv(w, name, t) : fAdaptiveConv(w, name, t, mod!, kmod));
  for (let d = 0; d < 2; d++) {
    const inner = x;
    x = lrelu(conv(`${p}.layers.${d}.0`, x)) as tf.Tensor4D;
    x = lrelu(conv(`${p}.layers.${d}.2`, x)) as tf.Tensor4D;
    x = tf.mul(tf.add(x, inner), RESIDUAL_SCALE);
  }
  return fConv(w, `${p}.to_logits`, tf.add(x, residual) as tf.Tensor4D);
}

function reconLoss(w: W, p: string, l: DLayer, fmap: tf.Tensor4D, images: tf.Tensor4D, opts: { seed?: number; dropout?: boolean }, dropoutRate: number): tf.Scalar {
  const r = l.recon!;
  let x = fmap;
  const seed = opts.seed === undefined ? undefined : tfSeed(opts.seed);
  if (opts.dropout ?? true) {
    if (dropoutRate > 0) x = tf.dropout(x, dropoutRate, undefined, seed) as tf.Tensor4D;
  }
  let target = images;
  if (r.frac < 1) {
    const b = x.shape[0];
    const pd = r.patchDim;
    const total = pd * pd;
    const k = Math.max(Math.floor(r.frac * total), 1);
    const toPatches = (t: tf.Tensor4D) => {
      const [bb, h, ww, c] = t.shape;
      if (h % pd || ww % pd) throw new Error(`Discriminator aux recon: size ${h} is not divisible by the patch dim ${pd}`);
      const ph = h / pd;
      const pw = ww / pd;
      // 'b c (p1 h) (p2 w) -> b (p1 p2) c h w' in NHWC: [b, p1*p2, h*w*c]
      const u = tf.transpose(tf.reshape(t, [bb, pd, ph, pd, pw, c]), [0, 1, 3, 2, 4, 5]);
      return { flat: tf.reshape(u, [bb, total, ph * pw * c]) as tf.Tensor3D, ph, pw, c };
    };
    // a random subset of k patches per sample, as a one-hot selection matrix (matMul keeps it differentiable everywhere)
    const sel = new Float32Array(b * k * total);
    const scores = tf.randomUniform([b, total], 0, 1, 'float32', seed).arraySync() as number[][];
    for (let i = 0; i < b; i++) {
      const order = scores[i].map((v, j) => [v, j] as const).sort((a, c) => a[0] - c[0]);
      for (let q = 0; q < k; q++) sel[(i * k + q) * total + order[q][1]] = 1;
    }
    const selT = tf.tensor3d(sel, [b, k, total]);
    const fp = toPatches(x);
    const ip = toPatches(images);
    x = tf.reshape(tf.matMul(selT, fp.flat), [b * k, fp.ph, fp.pw, fp.c]) as tf.Tensor4D;
    target = tf.reshape(tf.matMul(selT, ip.flat), [b * k, ip.ph, ip.pw, ip.c]) as tf.Tensor4D;
  }
  let y = fConv(w, `${p}.6.net.0`, x);
  for (let i = 0; i < r.dims.length; i++) {
    y = upsampleBlur(y);
    y = lrelu(fConv(w, `${p}.6.net.${i + 1}.1`, y)) as tf.Tensor4D;
  }
  return tf.mean(tf.squaredDifference(y, target)) as tf.Scalar;
}

/** Discriminator forward (call inside tf.tidy). Shapes NHWC; logits come back [s, B]. */
export function discriminatorForward(w: W, c: DiscriminatorConfig, inp: DiscriminatorInputs): DiscriminatorOutput {
  const rec = inp.record ?? (() => undefined);
  const images = inp.images;
  if (images.rank !== 4 || images.shape[1] !== c.imageSize || images.shape[2] !== c.imageSize || images.shape[3] !== c.channels) {
    throw new Error(`Discriminator: expected images [B, ${c.imageSize}, ${c.imageSize}, ${c.channels}], found ${JSON.stringify(images.shape)}`);
  }
  const batch = images.shape[0];
  const rgbsIndex = new Map<number, tf.Tensor4D>();
  for (const r of inp.rgbs) rgbsIndex.set(r.shape[1], r);
  const needed = discriminatorInputResolutions(c);
  const missing = needed.filter((r) => !rgbsIndex.has(r));
  if (missing.length) {
    throw new Error(`Discriminator: rgbs of resolutions ${JSON.stringify(needed)} are needed, missing ${JSON.stringify(missing)} (given ${JSON.stringify([...rgbsIndex.keys()])})`);
  }
  const mods: tf.Tensor2D[] = [];
  if (!c.unconditional) {
    const t = inp.textEmbeds;
    const td = discriminatorTextDim(c)!;
    if (!t || t.rank !== 2 || t.shape[1] !== td || t.shape[0] !== batch) {
      throw new Error(`Discriminator: expected text embeddings [${batch}, ${td}], found ${t ? JSON.stringify(t.shape) : 'none'}`);
    }
    rec('text_embeds', t);
    const all = fLinear(w, 'text_to_conv_conditioning', t) as tf.Tensor2D;
    rec('conv_mods', all);
    let off = 0;
    for (const n of discriminatorPredictorDims(c)) {
      mods.push(tf.slice(all, [0, off], [-1, n]) as tf.Tensor2D);
      off += n;
    }
  } else if (inp.textEmbeds) throw new Error('Discriminator: an unconditional discriminator takes no text');
  const returnMs = inp.returnMultiscale ?? true;
  const multiscale: tf.Tensor4D[] = [];
  const auxLosses: tf.Scalar[] = [];
  const excitations: (tf.Tensor4D | null)[] = new Array(c.numSkipLayersExcite + 1).fill(null);
  let x = images;
  for (const l of discriminatorLayers(c)) {
    const p = `layers.${l.index}`;
    if (l.hasSE) {
      const e = fSqueezeExcite(w, `${p}.0`, x);
      rec(`${p}.squeeze_excite`, e);
      excitations.push(e);
    }
    const excite = excitations.length ? excitations.shift() : null;
    if (excite) x = tf.mul(x, tileBatch(excite, x.shape[0]));
    const batchPrev = x.shape[0];
    if (needed.includes(l.resolution)) {
      const rgb = rgbsIndex.get(l.resolution)!;
      if (rgb.shape[0] !== batch || rgb.shape[3] !== c.channels) {
        throw new Error(`Discriminator: expected rgb at ${l.resolution} [${batch}, ${l.resolution}, ${l.resolution}, ${c.channels}], found ${JSON.stringify(rgb.shape)}`);
      }
      const f = tileBatch(fConv(w, `${p}.1`, rgb), x.shape[0]);
      x = tf.concat([tf.add(x, f), f], 0) as tf.Tensor4D;
    }
    rec(`${p}.block_in`, x);
    const residual = fConv(w, `${p}.3`, x, { stride: l.downsample ? 2 : 1 });
    x = lrelu(fConv(w, `${p}.2.0`, x)) as tf.Tensor4D;
    x = lrelu(fConv(w, `${p}.2.2`, x)) as tf.Tensor4D;
    rec(`${p}.block`, x);
    if (l.hasAttn) {
      x = fSelfAttentionBlock(w, `${p}.4`, x, { heads: c.attnHeads, dimHead: c.attnDimHead, dotProduct: c.selfAttnDotProduct });
      rec(`${p}.attn`, x);
    }
    if (l.hasPredictor) {
      const mod = c.unconditional ? null : mods.shift()!;
      const kmod0 = c.unconditional ? null : mods.shift()!;
      const kmod = kmod0 && kmod0.shape[1] > 0 ? kmod0 : null;
      if (returnMs) {
        const pin = x.shape[0] === batchPrev ? x : (tf.slice(x, [0, 0, 0, 0], [batchPrev, -1, -1, -1]) as tf.Tensor4D);
        multiscale.push(predictorForward(w, `${p}.5`, pin, mod, kmod, c.unconditional));
      }
    }
    if (l.downsample) {
      x = fConv(w, `${p}.7.1`, pixelUnshuffle(x, 2));
      rec(`${p}.downsample`, x);
    }
    x = tf.mul(tf.add(x, residual), RESIDUAL_SCALE);
    if (l.recon && inp.auxRecon) {
      const first = tf.slice(x, [0, 0, 0, 0], [batch, -1, -1, -1]) as tf.Tensor4D;
      auxLosses.push(reconLoss(w, p, l, first, images, inp.auxRecon, c.auxReconFmapDropout));
    }
  }
  if (mods.length) throw new Error(`internal: ${mods.length} unused predictor modulations`);
  rec('to_logits_in', x);
  const y = fConv(w, 'to_logits.0', x);
  const flat = tf.reshape(y, [y.shape[0], -1]);
  const logits = tf.reshape(fLinear(w, 'to_logits.2', flat), [-1, batch]) as tf.Tensor2D;
  return { logits, multiscale, auxLosses };
}

// ---------------------------------------------------------------- VisionAidedDiscriminator

export function visionAidedSpec(c: VisionAidedConfig): Spec {
  const s = new Spec('kaiming');
  c.layerIndices.forEach((_, l) => {
    const p = `layer_discriminators.${l}`;
    // RandomFixedProjection: kaiming_normal_(fan_out, linear) on [dim, conv_dim] -> std 1/sqrt(dim); a buffer
    s.add(`${p}.0.fixed_weights`, [c.dimImage, c.convDim], { kind: 'normal', std: 1 / Math.sqrt(c.dimImage) }, true);
    if (c.unconditional) s.conv(`${p}.1`, c.convDim, c.convDim, 3);
    else {
      s.adaptiveConv(`${p}.1`, c.convDim, c.convDim, 3, c.numConvKernels);
      s.linear(`${p}.2`, c.textDim, c.convDim);
      s.linear(`${p}.3`, c.textDim, c.numConvKernels);
    }
    s.conv(`${p}.4.0`, c.convDim, 1, 3);
  });
  return s;
}

/**
 * VisionAidedDiscriminator head: for each selected CLIP ViT layer, patch tokens + cls -> fixed random projection ->
 * text-modulated adaptive conv -> conv3x3 to one logit map [B, h, w]. `hidden` are the vision tower's hidden states
 * per layer [B, 1 + h*w, dimImage] (index with layerIndices, negative from the end).
 */
export function visionAidedForward(w: W, c: VisionAidedConfig, hidden: tf.Tensor3D[], textEmbeds: tf.Tensor2D | null): tf.Tensor3D[] {
  if (!c.unconditional && (!textEmbeds || textEmbeds.shape[1] !== c.textDim)) {
    throw new Error(`VisionAidedDiscriminator: expected text embeddings [B, ${c.textDim}], found ${textEmbeds ? JSON.stringify(textEmbeds.shape) : 'none'}`);
  }
  return c.layerIndices.map((li, l) => {
    const idx = li < 0 ? hidden.length + li : li;
    const h = hidden[idx];
    if (!h || h.rank !== 3 || h.shape[2] !== c.dimImage) throw new Error(`VisionAidedDiscriminator: expected hidden state ${li} [B, 1+P, ${c.dimImage}], found ${h ? JSON.stringify(h.shape) : 'none'}`);
    const [b, n, d] = h.shape;
    const side = Math.floor(Math.sqrt(n - 1));
    if (side * side !== n - 1) throw new Error(`VisionAidedDiscriminator: ${n - 1} patch tokens are not a square grid`);
    const p = `layer_discriminators.${l}`;
    const cls = tf.slice(h, [0, 0, 0], [b, 1, d]);
    const rest = tf.slice(h, [0, 1, 0], [b, n - 1, d]);
    let x = tf.reshape(tf.add(rest, cls), [b, side, side, d]) as tf.Tensor4D;
    x = tf.reshape(tf.matMul(tf.reshape(x, [-1, d]) as tf.Tensor2D, w(`${p}.0.fixed_weights`) as tf.Tensor2D), [b, side, side, c.convDim]) as tf.Tensor4D;
    if (c.unconditional) x = fConv(w, `${p}.1`, x);
    else {
      const mod = fLinear(w, `${p}.2`, textEmbeds!) as tf.Tensor2D;
      const kmod = fLinear(w, `${p}.3`, textEmbeds!) as tf.Tensor2D;
      x = fAdaptiveConv(w, `${p}.1`, x, mod, c.numConvKernels > 1 ? kmod : null);
    }
    return tf.reshape(fConv(w, `${p}.4.0`, x), [b, side, side]) as tf.Tensor3D;
  });
}
