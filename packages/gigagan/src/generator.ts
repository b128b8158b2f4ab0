/**
 * GigaGAN generator as lucidrains/gigagan-pytorch builds it: TextEncoder (learned global token + transformer
 * over CLIP token encodings), StyleNetwork (EqualLinear MLP on [normalize(z), t_global]), and the synthesis
 * network with sample-adaptive kernel selection, noise, self-/cross-attention and a cumulative RGB pyramid.
 * NHWC; parameter names are lucidrains' state_dict keys.
 */
import * as tf from '@tensorflow/tfjs';
import { blur121, pixelShuffle, tfSeed } from '@ganzoo/core';
import { GeneratorConfig, StyleNetworkConfig, TextEncoderConfig, pyramidResolutions } from './config';
import {
  W,
  fAdaptiveConv,
  fCrossAttentionBlock,
  fFeedForward,
  fLinear,
  fSelfAttentionBlock,
  fTextAttention,
  lrelu,
  normalizeZ,
  sCrossAttentionBlock,
  sFeedForward,
  sNorm,
  sSelfAttentionBlock,
  sTextAttention,
  fNorm,
  fConv,
} from './blocks';
import { Spec } from './params';

/** Optional recorder of named intermediate activations (parity tests); values are kept clones. */
export type Recorder = ((name: string, t: tf.Tensor) => void) | undefined;

export interface TextTokens {
  /** [B, dim] output at the learned global token. */
  global: tf.Tensor2D;
  /** [B, N, dim] per-token outputs (cross-attention context). */
  fine: tf.Tensor3D;
  /** [B, N] bool, true where the CLIP encoding row is not all zero. */
  mask: tf.Tensor2D;
}

// ---------------------------------------------------------------- TextEncoder

export function sTextEncoder(s: Spec, prefix: string, c: TextEncoderConfig, clipDim: number): void {
  s.add(`${prefix}.learned_global_token`, [c.dim], { kind: 'normal', std: 1 });
  if (clipDim !== c.dim) s.linear(`${prefix}.project_in`, clipDim, c.dim);
  for (let i = 0; i < c.depth; i++) {
    sTextAttention(s, `${prefix}.transformer.layers.${i}.0`, c.dim, c);
    sFeedForward(s, `${prefix}.transformer.layers.${i}.1`, c.dim, 4, false);
  }
  sNorm(s, `${prefix}.transformer.norm`, c.dim, false);
}

/** TextEncoder.forward(text_encodings): mask = any(enc != 0), project, prepend the global token, transformer. */
export function fTextEncoder(w: W, prefix: string, c: TextEncoderConfig, clipDim: number, enc: tf.Tensor3D): TextTokens {
  if (enc.rank !== 3 || enc.shape[2] !== clipDim) {
    throw new Error(`TextEncoder: expected text encodings [B, N, ${clipDim}], found ${JSON.stringify(enc.shape)}`);
  }
  const b = enc.shape[0];
  const mask = tf.any(tf.notEqual(enc, 0), -1) as tf.Tensor2D;
  let x: tf.Tensor = clipDim !== c.dim ? fLinear(w, `${prefix}.project_in`, enc) : enc;
  const g = tf.tile(tf.reshape(w(`${prefix}.learned_global_token`), [1, 1, c.dim]), [b, 1, 1]);
  x = tf.concat([g, x], 1);
  const maskWithGlobal = tf.concat([tf.ones([b, 1], 'bool'), mask], 1);
  for (let i = 0; i < c.depth; i++) {
    x = tf.add(fTextAttention(w, `${prefix}.transformer.layers.${i}.0`, x as tf.Tensor3D, maskWithGlobal, c), x);
    x = tf.add(fFeedForward(w, `${prefix}.transformer.layers.${i}.1`, x), x);
  }
  x = fNorm(w, `${prefix}.transformer.norm`, x);
  const n = enc.shape[1];
  return {
    global: tf.reshape(tf.slice(x, [0, 0, 0], [b, 1, c.dim]), [b, c.dim]) as tf.Tensor2D,
    fine: tf.slice(x, [0, 1, 0], [b, n, c.dim]) as tf.Tensor3D,
    mask,
  };
}

/** Validate externally given (global, fine, mask) text tokens. */
export function checkTextTokens(t: TextTokens, dim: number, what: string): void {
  const b = t.global.shape[0];
  if (t.global.rank !== 2 || t.global.shape[1] !== dim) throw new Error(`${what}: expected global text tokens [B, ${dim}], found ${JSON.stringify(t.global.shape)}`);
  if (t.fine.rank !== 3 || t.fine.shape[0] !== b || t.fine.shape[2] !== dim) {
    throw new Error(`${what}: expected fine text tokens [${b}, N, ${dim}], found ${JSON.stringify(t.fine.shape)}`);
  }
  if (t.mask.rank !== 2 || t.mask.shape[0] !== b || t.mask.shape[1] !== t.fine.shape[1]) {
    throw new Error(`${what}: expected a text mask [${b}, ${t.fine.shape[1]}] matching the tokens, found ${JSON.stringify(t.mask.shape)}`);
  }
}

// ---------------------------------------------------------------- StyleNetwork

export function sStyleNetwork(s: Spec, prefix: string, c: StyleNetworkConfig): void {
  for (let i = 0; i < c.depth; i++) {
    const din = i === 0 ? c.dim + c.dimTextLatent : c.dim;
    s.add(`${prefix}.net.${2 * i}.weight`, [din, c.dim], { kind: 'normal', std: 1 });
    s.add(`${prefix}.net.${2 * i}.bias`, [c.dim], { kind: 'const', value: 0 });
  }
}

/** StyleNetwork: w = MLP([normalize(z), t_global]) with EqualLinear (weight * lr_mul, bias * lr_mul) + LeakyReLU(0.2). */
export function fStyleNetwork(w: W, prefix: string, c: StyleNetworkConfig, z: tf.Tensor2D, textLatent: tf.Tensor2D | null): tf.Tensor2D {
  if (z.rank !== 2 || z.shape[1] !== c.dim) throw new Error(`StyleNetwork: expected z [B, ${c.dim}], found ${JSON.stringify(z.shape)}`);
  let x: tf.Tensor = normalizeZ(z);
  if (c.dimTextLatent > 0) {
    if (!textLatent) throw new Error('StyleNetwork: a conditional style network needs the global text token');
    x = tf.concat([x, textLatent], -1);
  }
  for (let i = 0; i < c.depth; i++) {
    const wt = tf.mul(w(`${prefix}.net.${2 * i}.weight`), c.lrMul) as tf.Tensor2D;
    x = tf.add(tf.matMul(x as tf.Tensor2D, wt), tf.mul(w(`${prefix}.net.${2 * i}.bias`), c.lrMul));
    x = lrelu(x);
  }
  return x as tf.Tensor2D;
}

// ---------------------------------------------------------------- upsampling

/** lucidrains Upsample: bilinear x2 (align_corners=False) then the reflect-border [1,2,1] blur. */
export function upsampleBlur(x: tf.Tensor4D): tf.Tensor4D {
  const [, h, w] = x.shape;
  return blur121(tf.image.resizeBilinear(x, [h * 2, w * 2], false, true));
}

export function sPixelShuffleUpsample(s: Spec, prefix: string, dim: number, dimOut: number): void {
  // conv weight: kaiming_uniform_ (a=0, bound sqrt(6/fan_in)) on [out, in], each filter repeated 4x; bias zeros
  s.add(`${prefix}.net.0.weight`, [1, 1, dim, dimOut * 4], { kind: 'uniformRepeat4', bound: Math.sqrt(6 / dim) });
  s.add(`${prefix}.net.0.bias`, [dimOut * 4], { kind: 'const', value: 0 });
}

/** PixelShuffleUpsample: 1x1 conv to 4*C' -> SiLU -> PixelShuffle(2) (PyTorch channel order). */
export function fPixelShuffleUpsample(w: W, prefix: string, x: tf.Tensor4D): tf.Tensor4D {
  return pixelShuffle(tf.tidy(() => {
    const y = fConv(w, `${prefix}.net.0`, x);
    return tf.mul(y, tf.sigmoid(y)) as tf.Tensor4D;
  }), 2);
}

// ---------------------------------------------------------------- Generator

interface GenLayer {
  index: number;
  resolution: number;
  dimIn: number;
  dimOut: number;
  hasSE: boolean;
  dimSE: number;
  hasSelfAttn: boolean;
  hasCrossAttn: boolean;
  upsample: boolean;
  upsampleRgb: boolean;
}

export function generatorLayers(c: GeneratorConfig): GenLayer[] {
  const res = pyramidResolutions(c.imageSize);
  const L = res.length;
  const widths: number[] = [];
  for (let i = 0; i < L; i++) widths.push(Math.min(2 ** (i + 1) * c.dimCapacity, c.dimMax));
  widths.reverse();
  const dims = [c.dimLatent, ...widths];
  const layers: GenLayer[] = [];
  for (let j = 0; j < L; j++) {
    const hasSE = c.numSkipLayersExcite > 0 && j + c.numSkipLayersExcite < L;
    layers.push({
      index: j,
      resolution: res[j],
      dimIn: dims[j],
      dimOut: dims[j + 1],
      hasSE,
      dimSE: hasSE ? dims[j + c.numSkipLayersExcite] : 0,
      hasSelfAttn: c.selfAttnResolutions.includes(res[j]),
      hasCrossAttn: c.crossAttnResolutions.includes(res[j]) && !c.unconditional,
      upsample: j > 0,
      upsampleRgb: j < L - 1,
    });
  }
  return layers;
}

export function sSqueezeExcite(s: Spec, prefix: string, dim: number, dimOut: number): void {
  const hidden = Math.max(Math.floor(dimOut / 4), 32);
  s.linear(`${prefix}.1`, dim, hidden);
  s.linear(`${prefix}.3`, hidden, dimOut);
}

/** SqueezeExcite (lightweight-gan skip-layer excitation): mean -> Linear -> SiLU -> Linear -> Sigmoid, [B,1,1,C]. */
export function fSqueezeExcite(w: W, prefix: string, x: tf.Tensor4D): tf.Tensor4D {
  let h = tf.mean(x, [1, 2]);
  h = fLinear(w, `${prefix}.1`, h);
  h = tf.mul(h, tf.sigmoid(h));
  h = tf.sigmoid(fLinear(w, `${prefix}.3`, h));
  return tf.reshape(h, [x.shape[0], 1, 1, -1]) as tf.Tensor4D;
}

/** The split sizes of style_to_conv_modulations' output, in consumption order. */
export function generatorStyleSplits(c: GeneratorConfig): number[] {
  const k = c.numConvKernels > 1 ? c.numConvKernels : 0;
  const out = [c.dimLatent, k];
  for (const l of generatorLayers(c)) out.push(l.dimIn, k, l.dimOut, k, l.dimOut, 0);
  return out;
}

export function generatorSpec(c: GeneratorConfig, clipDim: number): Spec {
  const s = new Spec('kaiming');
  const n = c.numConvKernels;
  sStyleNetwork(s, 'style_network', c.styleNetwork);
  if (c.textEncoder) sTextEncoder(s, 'text_encoder', c.textEncoder, clipDim);
  s.add('init_block', [4, 4, c.dimLatent], { kind: 'normal', std: 0.02 });
  s.adaptiveConv('init_conv', c.dimLatent, c.dimLatent, 3, n);
  for (const l of generatorLayers(c)) {
    const p = `layers.${l.index}`;
    if (l.hasSE) sSqueezeExcite(s, `${p}.0`, l.dimIn, l.dimSE);
    s.adaptiveConv(`${p}.1.0`, l.dimIn, l.dimOut, 3, n);
    s.add(`${p}.1.1.weight`, [l.dimOut], { kind: 'const', value: 0 }, false, [l.dimOut, 1, 1]);
    s.adaptiveConv(`${p}.1.3`, l.dimOut, l.dimOut, 3, n);
    s.add(`${p}.1.4.weight`, [l.dimOut], { kind: 'const', value: 0 }, false, [l.dimOut, 1, 1]);
    s.adaptiveConv(`${p}.2`, l.dimOut, c.channels, 1, 1);
    if (l.hasSelfAttn) {
      sSelfAttentionBlock(s, `${p}.3`, l.dimOut, {
        heads: c.selfAttnHeads,
        dimHead: c.selfAttnDimHead,
        dotProduct: c.selfAttnDotProduct,
        ffMult: c.selfAttnFfMult,
      });
    }
    if (l.hasCrossAttn) {
      sCrossAttentionBlock(s, `${p}.4`, l.dimOut, c.textEncoder!.dim, {
        heads: c.crossAttnHeads,
        dimHead: c.crossAttnDimHead,
        ffMult: c.crossAttnFfMult,
      });
    }
    if (c.pixelShuffleUpsample) {
      if (l.upsample) sPixelShuffleUpsample(s, `${p}.5`, l.dimIn, l.dimIn);
      if (l.upsampleRgb) sPixelShuffleUpsample(s, `${p}.6`, c.channels, c.channels);
    }
  }
  s.linear('style_to_conv_modulations', c.styleNetwork.dim, generatorStyleSplits(c).reduce((a, b) => a + b, 0));
  return s;
}

export interface GeneratorForwardInputs {
  /** [B, style dim] style noise (normalised inside). */
  z?: tf.Tensor2D;
  /** [B, style dim] styles w (skips the style network). */
  styles?: tf.Tensor2D;
  /** Second styles for style mixing: layers with index >= mixCrossover use these. */
  mixStyles?: tf.Tensor2D;
  mixCrossover?: number;
  text?: TextTokens | null;
  /** Noise per Noise module, by lucidrains module name (`layers.{j}.1.1` / `layers.{j}.1.4`), NHWC [B,H,W,1]. */
  noise?: Record<string, tf.Tensor>;
  /** Seed of the per-layer noise when `noise` is not given (unseeded otherwise). */
  noiseSeed?: number;
  record?: Recorder;
}

export interface GeneratorOutput {
  image: tf.Tensor4D;
  /** Cumulative RGB after each layer, 4 .. S (lucidrains return_all_rgbs). */
  rgbs: tf.Tensor4D[];
}

/** Split one Linear output [B, sum(splits)] into chunks. */
function splitMods(mods: tf.Tensor2D, splits: number[]): tf.Tensor2D[] {
  const out: tf.Tensor2D[] = [];
  let off = 0;
  for (const n of splits) {
    out.push(tf.slice(mods, [0, off], [-1, n]) as tf.Tensor2D);
    off += n;
  }
  return out;
}

/** Generator forward (call inside tf.tidy). */
export function generatorForward(w: W, c: GeneratorConfig, inp: GeneratorForwardInputs): GeneratorOutput {
  const rec = inp.record ?? (() => undefined);
  const text = inp.text ?? null;
  if (!c.unconditional && !text) throw new Error('Generator: a conditional generator needs text (prompts, textEncodings or text tokens)');
  if (c.unconditional && text) throw new Error('Generator: an unconditional generator takes no text');
  let styles = inp.styles;
  if (!styles) {
    if (!inp.z) throw new Error('Generator: give z or styles');
    styles = fStyleNetwork(w, 'style_network', c.styleNetwork, inp.z, text ? text.global : null);
  }
  if (styles.rank !== 2 || styles.shape[1] !== c.styleNetwork.dim) throw new Error(`Generator: expected styles [B, ${c.styleNetwork.dim}], found ${JSON.stringify(styles.shape)}`);
  const b = styles.shape[0];
  if (text && text.global.shape[0] !== b) throw new Error(`Generator: ${b} latents but ${text.global.shape[0]} text rows`);
  rec('styles', styles);
  const splits = generatorStyleSplits(c);
  const modsAll = fLinear(w, 'style_to_conv_modulations', styles) as tf.Tensor2D;
  rec('conv_mods', modsAll);
  const chunks = splitMods(modsAll, splits);
  let chunksMix: tf.Tensor2D[] | null = null;
  if (inp.mixStyles) {
    if (inp.mixStyles.shape[0] !== b || inp.mixStyles.shape[1] !== c.styleNetwork.dim) {
      throw new Error(`Generator: expected mixing styles [${b}, ${c.styleNetwork.dim}], found ${JSON.stringify(inp.mixStyles.shape)}`);
    }
    chunksMix = splitMods(fLinear(w, 'style_to_conv_modulations', inp.mixStyles) as tf.Tensor2D, splits);
  }
  const crossover = inp.mixCrossover ?? Infinity;
  let ci = 0;
  const next = (layer: number) => {
    const t = chunksMix && layer >= crossover ? chunksMix[ci] : chunks[ci];
    ci++;
    return t.shape[1] === 0 ? null : t;
  };
  let x: tf.Tensor4D = tf.tile(tf.expandDims(w('init_block'), 0), [b, 1, 1, 1]) as tf.Tensor4D;
  {
    const mod = next(-1)!;
    const kmod = next(-1);
    x = fAdaptiveConv(w, 'init_conv', x, mod, kmod);
  }
  rec('init_conv', x);
  let rgb: tf.Tensor4D = tf.zeros([b, 4, 4, c.channels]);
  const excitations: (tf.Tensor4D | null)[] = new Array(c.numSkipLayersExcite).fill(null);
  const rgbs: tf.Tensor4D[] = [];
  const layers = generatorLayers(c);
  const noiseFor = (name: string, like: tf.Tensor4D, idx: number) => {
    const [bb, hh, ww] = like.shape;
    const given = inp.noise?.[name];
    if (given) {
      if (given.shape.join() !== [bb, hh, ww, 1].join()) throw new Error(`Generator: expected noise '${name}' [${bb},${hh},${ww},1], found ${JSON.stringify(given.shape)}`);
      return given;
    }
    return tf.randomNormal([bb, hh, ww, 1], 0, 1, 'float32', inp.noiseSeed !== undefined ? tfSeed(inp.noiseSeed * 1000 + idx) : undefined);
  };
  for (const l of layers) {
    const p = `layers.${l.index}`;
    if (l.upsample) {
      x = c.pixelShuffleUpsample ? fPixelShuffleUpsample(w, `${p}.5`, x) : upsampleBlur(x);
      rec(`${p}.upsample`, x);
    }
    if (l.hasSE) {
      const e = fSqueezeExcite(w, `${p}.0`, x);
      rec(`${p}.squeeze_excite`, e);
      excitations.push(e);
    }
    const excite = excitations.length ? excitations.shift() : null;
    if (excite) x = tf.mul(x, excite);
    const j = l.index;
    x = fAdaptiveConv(w, `${p}.1.0`, x, next(j)!, next(j));
    x = tf.add(x, tf.mul(tf.reshape(w(`${p}.1.1.weight`), [1, 1, 1, -1]), noiseFor(`${p}.1.1`, x, 2 * j)));
    x = lrelu(x) as tf.Tensor4D;
    rec(`${p}.conv1_act`, x);
    x = fAdaptiveConv(w, `${p}.1.3`, x, next(j)!, next(j));
    x = tf.add(x, tf.mul(tf.reshape(w(`${p}.1.4.weight`), [1, 1, 1, -1]), noiseFor(`${p}.1.4`, x, 2 * j + 1)));
    x = lrelu(x) as tf.Tensor4D;
    rec(`${p}.conv2_act`, x);
    if (l.hasSelfAttn) {
      x = fSelfAttentionBlock(w, `${p}.3`, x, { heads: c.selfAttnHeads, dimHead: c.selfAttnDimHead, dotProduct: c.selfAttnDotProduct });
      rec(`${p}.self_attn`, x);
    }
    if (l.hasCrossAttn) {
      x = fCrossAttentionBlock(w, `${p}.4`, x, text!.fine, text!.mask, { heads: c.crossAttnHeads, dimHead: c.crossAttnDimHead });
      rec(`${p}.cross_attn`, x);
    }
    const mod = next(j)!;
    next(j);
    const layerRgb = fAdaptiveConv(w, `${p}.2`, x, mod, null, false);
    rec(`${p}.to_rgb`, layerRgb);
    rgb = tf.add(rgb, layerRgb);
    rgbs.push(rgb);
    if (l.upsampleRgb) rgb = c.pixelShuffleUpsample ? fPixelShuffleUpsample(w, `${p}.6`, rgb) : upsampleBlur(rgb);
  }
  if (ci !== chunks.length) throw new Error(`internal: consumed ${ci} of ${chunks.length} style chunks`);
  return { image: rgb, rgbs };
}
