/**
 * lucidrains' UnetUpsampler (GigaGAN's text-conditioned super-resolution): an asymmetric U-Net of adaptive-kernel
 * ResnetBlocks (style-modulated from one projection of w), linear / full attention and text cross-attention,
 * "HF shuttle" downsampling (the high-frequency residual x - blur(x) joins the skip), pixel-shuffle upsampling,
 * and an RGB residual pyramid. NHWC; parameter names are lucidrains' state_dict keys.
 */
import * as tf from '@tensorflow/tfjs';
import { blur121, efficientLinearAttention, mergeHeads, scaledDotProductAttention, splitHeads } from '@ganzoo/core';
import { UpsamplerConfig } from './config';
import {
  W,
  fAdaptiveConv,
  fConv,
  fCrossAttentionBlock,
  fFeedForward,
  fNorm,
  sCrossAttentionBlock,
  sFeedForward,
  sNorm,
} from './blocks';
import { Recorder, TextTokens, fPixelShuffleUpsample, fStyleNetwork, sPixelShuffleUpsample, sStyleNetwork, sTextEncoder, upsampleBlur } from './generator';
import { Spec } from './params';

const silu = (x: tf.Tensor) => tf.mul(x, tf.sigmoid(x));

interface Stage {
  index: number;
  dimIn: number;
  dimOut: number;
  fullAttn: boolean;
  crossAttn: boolean;
  attnDepth: number;
  skipDownsample: boolean;
}

function stages(c: UpsamplerConfig): { downs: Stage[]; ups: (Stage & { skip1: number; skip2: number })[]; mid: number; initDim: number } {
  const initDim = c.initDim ?? c.dim;
  const dims = [initDim, ...c.dimMults.map((m) => c.dim * m)];
  const noDown = Math.log2(c.imageSize) - Math.log2(c.inputImageSize);
  const downs: Stage[] = [];
  const skips: number[] = [];
  for (let i = 0; i < c.dimMults.length; i++) {
    const s: Stage = {
      index: i,
      dimIn: dims[i],
      dimOut: dims[i + 1],
      fullAttn: c.fullAttn[i],
      crossAttn: !c.unconditional && c.crossAttn[i],
      attnDepth: c.attnDepths[i],
      skipDownsample: i < noDown,
    };
    downs.push(s);
    skips.push(s.dimIn, s.dimIn + (s.skipDownsample ? 0 : s.dimOut));
  }
  const ups = downs
    .slice()
    .reverse()
    .map((s, i) => ({ ...s, index: i, skip1: skips.pop()!, skip2: skips.pop()! }));
  return { downs, ups, mid: dims[dims.length - 1], initDim };
}

// ---------------------------------------------------------------- blocks

function sResnetBlock(s: Spec, p: string, dim: number, dimOut: number, n: number, splits: number[]): void {
  splits.push(dim, n, dimOut, n);
  s.adaptiveConv(`${p}.block1.proj`, dim, dimOut, 3, n);
  sNorm(s, `${p}.block1.norm`, dimOut, false);
  s.adaptiveConv(`${p}.block2.proj`, dimOut, dimOut, 3, n);
  sNorm(s, `${p}.block2.norm`, dimOut, false);
  if (dim !== dimOut) s.conv(`${p}.res_conv`, dim, dimOut, 1);
}

type ModIter = () => tf.Tensor2D | null;

function fBlock(w: W, p: string, x: tf.Tensor4D, next: ModIter): tf.Tensor4D {
  const mod = next()!;
  const kmod = next();
  const y = fAdaptiveConv(w, `${p}.proj`, x, mod, kmod);
  return silu(fNorm(w, `${p}.norm`, y)) as tf.Tensor4D;
}

function fResnetBlock(w: W, p: string, x: tf.Tensor4D, next: ModIter, hasRes: boolean): tf.Tensor4D {
  let h = fBlock(w, `${p}.block1`, x, next);
  h = fBlock(w, `${p}.block2`, h, next);
  return tf.add(h, hasRes ? fConv(w, `${p}.res_conv`, x) : x) as tf.Tensor4D;
}

function sTransformer(s: Spec, p: string, dim: number, heads: number, dimHead: number, depth: number, full: boolean): void {
  const hidden = heads * dimHead;
  for (let d = 0; d < depth; d++) {
    const a = `${p}.layers.${d}.0`;
    sNorm(s, `${a}.norm`, dim, false);
    s.conv(`${a}.to_qkv`, dim, hidden * 3, 1, false);
    if (full) s.conv(`${a}.to_out`, hidden, dim, 1);
    else {
      s.conv(`${a}.to_out.0`, hidden, dim, 1);
      sNorm(s, `${a}.to_out.1`, dim, false);
    }
    sFeedForward(s, `${p}.layers.${d}.1`, dim, 4, true, false);
  }
}

function fTransformer(w: W, p: string, x: tf.Tensor4D, heads: number, depth: number, full: boolean): tf.Tensor4D {
  const [b, h, wd] = x.shape;
  for (let d = 0; d < depth; d++) {
    const a = `${p}.layers.${d}.0`;
    const xn = fNorm(w, `${a}.norm`, x) as tf.Tensor4D;
    // to_qkv as three 1x1 convolutions on slices of its (small) weight: splitting the (large) activation is slow on wasm
    const wqkv = w(`${a}.to_qkv.weight`) as tf.Tensor4D;
    const hid = wqkv.shape[3] / 3;
    const [q0, k0, v0] = [0, 1, 2].map((i) =>
      splitHeads(tf.reshape(tf.conv2d(xn, tf.slice(wqkv, [0, 0, 0, i * hid], [-1, -1, -1, hid]) as tf.Tensor4D, 1, 'valid'), [b, h * wd, -1]), heads),
    );
    let out: tf.Tensor4D;
    if (full) {
      out = scaledDotProductAttention(q0, k0, v0); // Attend (non-flash): softmax(q k^T d^-1/2) v
    } else {
      out = efficientLinearAttention(q0, k0, v0);
    }
    let y = tf.reshape(mergeHeads(out), [b, h, wd, -1]) as tf.Tensor4D;
    if (full) y = fConv(w, `${a}.to_out`, y);
    else y = fNorm(w, `${a}.to_out.1`, fConv(w, `${a}.to_out.0`, y)) as tf.Tensor4D;
    x = tf.add(y, x) as tf.Tensor4D;
    x = tf.add(fFeedForward(w, `${p}.layers.${d}.1`, x), x) as tf.Tensor4D;
  }
  return x;
}

// ---------------------------------------------------------------- spec

export function upsamplerStyleSplits(c: UpsamplerConfig): number[] {
  const splits: number[] = [];
  upsamplerSpecInto(new Spec('torch'), c, 512, splits);
  return splits;
}

function upsamplerSpecInto(s: Spec, c: UpsamplerConfig, clipDim: number, splits: number[]): void {
  const n = c.numConvKernels;
  const { downs, ups, mid, initDim } = stages(c);
  if (c.textEncoder) sTextEncoder(s, 'text_encoder', c.textEncoder, clipDim);
  sStyleNetwork(s, 'style_network', c.styleNetwork);
  s.conv('init_conv', c.channels, initDim, 7);
  const ctx = c.textEncoder?.dim ?? 0;
  for (const st of downs) {
    const p = `downs.${st.index}`;
    sResnetBlock(s, `${p}.0`, st.dimIn, st.dimIn, n, splits);
    sResnetBlock(s, `${p}.1`, st.dimIn, st.dimIn, n, splits);
    if (st.crossAttn) sCrossAttentionBlock(s, `${p}.2`, st.dimIn, ctx, { heads: c.selfAttnHeads, dimHead: c.selfAttnDimHead, ffMult: c.selfAttnFfMult });
    sTransformer(s, `${p}.3`, st.dimIn, c.selfAttnHeads, c.selfAttnDimHead, st.attnDepth, st.fullAttn);
    s.conv(`${p}.6.conv2d`, st.dimIn, st.dimOut, 3);
  }
  sResnetBlock(s, 'mid_block1', mid, mid, n, splits);
  sTransformer(s, 'mid_attn', mid, c.selfAttnHeads, c.selfAttnDimHead, c.midAttnDepth, true);
  sResnetBlock(s, 'mid_block2', mid, mid, n, splits);
  s.conv('mid_to_rgb', mid, c.channels, 1);
  for (const st of ups) {
    const p = `ups.${st.index}`;
    sPixelShuffleUpsample(s, `${p}.0`, st.dimOut, st.dimIn);
    s.conv(`${p}.4`, st.dimIn, c.channels, 1);
    sResnetBlock(s, `${p}.5`, st.dimIn + st.skip1, st.dimIn, n, splits);
    sResnetBlock(s, `${p}.6`, st.dimIn + st.skip2, st.dimIn, n, splits);
    if (st.crossAttn) sCrossAttentionBlock(s, `${p}.7`, st.dimIn, ctx, { heads: c.selfAttnHeads, dimHead: c.selfAttnDimHead, ffMult: c.crossFfMult });
    sTransformer(s, `${p}.8`, st.dimIn, c.selfAttnHeads, c.crossAttnDimHead, st.attnDepth, st.fullAttn);
  }
  sResnetBlock(s, 'final_res_block', c.dim, c.dim, n, splits);
  s.conv('final_to_rgb', c.dim, c.channels, 1);
  s.linear('style_to_conv_modulations', c.styleNetwork.dim, splits.reduce((a, b) => a + b, 0));
}

export function upsamplerSpec(c: UpsamplerConfig, clipDim: number): Spec {
  const s = new Spec('torch');
  upsamplerSpecInto(s, c, clipDim, []);
  return s;
}

// ---------------------------------------------------------------- forward

export interface UpsamplerForwardInputs {
  lowres: tf.Tensor4D;
  z?: tf.Tensor2D;
  styles?: tf.Tensor2D;
  text?: TextTokens | null;
  record?: Recorder;
}

export interface UpsamplerOutput {
  image: tf.Tensor4D;
  /** [the low-res input, then every rgb larger than it] (what the upsampler's D sees). */
  rgbs: tf.Tensor4D[];
}

/** UnetUpsampler forward (call inside tf.tidy). */
export function upsamplerForward(w: W, c: UpsamplerConfig, inp: UpsamplerForwardInputs): UpsamplerOutput {
  const rec = inp.record ?? (() => undefined);
  const x0 = inp.lowres;
  if (x0.rank !== 4 || x0.shape[1] !== c.inputImageSize || x0.shape[2] !== c.inputImageSize || x0.shape[3] !== c.channels) {
    throw new Error(`UnetUpsampler: expected low-res images [B, ${c.inputImageSize}, ${c.inputImageSize}, ${c.channels}], found ${JSON.stringify(x0.shape)}`);
  }
  const text = inp.text ?? null;
  if (!c.unconditional && !text) throw new Error('UnetUpsampler: a conditional upsampler needs text (prompts, textEncodings or text tokens)');
  if (c.unconditional && text) throw new Error('UnetUpsampler: an unconditional upsampler takes no text');
  const b = x0.shape[0];
  let styles = inp.styles;
  if (!styles) {
    if (!inp.z) throw new Error('UnetUpsampler: give z or styles');
    styles = fStyleNetwork(w, 'style_network', c.styleNetwork, inp.z, text ? text.global : null);
  }
  if (styles.shape[0] !== b) throw new Error(`UnetUpsampler: ${b} images but ${styles.shape[0]} latents`);
  if (text && text.global.shape[0] !== b) throw new Error(`UnetUpsampler: ${b} images but ${text.global.shape[0]} text rows`);
  const splits = upsamplerStyleSplits(c);
  const mods = fLinearMods(w, styles, splits);
  let mi = 0;
  const next: ModIter = () => {
    const t = mods[mi++];
    if (!t) throw new Error('internal: ran out of style modulations');
    return t.shape[1] === 0 ? null : t;
  };
  const { downs, ups } = stages(c);
  const scale = c.skipConnectScale ?? Math.SQRT1_2;
  let x = fConv(w, 'init_conv', x0);
  rec('init_conv', x);
  const hs: tf.Tensor4D[] = [];
  for (const st of downs) {
    const p = `downs.${st.index}`;
    x = fResnetBlock(w, `${p}.0`, x, next, false);
    hs.push(x);
    x = fResnetBlock(w, `${p}.1`, x, next, false);
    x = fTransformer(w, `${p}.3`, x, c.selfAttnHeads, st.attnDepth, st.fullAttn);
    if (st.crossAttn) x = fCrossAttentionBlock(w, `${p}.2`, x, text!.fine, text!.mask, { heads: c.selfAttnHeads, dimHead: c.selfAttnDimHead });
    let skip = x;
    x = fConv(w, `${p}.6.conv2d`, x);
    if (!st.skipDownsample) {
      const hf = tf.sub(x, blur121(x)) as tf.Tensor4D; // VideoGigaGAN "HF shuttle": high frequencies join the skip
      x = tf.maxPool(x, 2, 2, 'valid');
      skip = tf.concat([skip, hf], 3) as tf.Tensor4D;
    }
    rec(`${p}.downsample`, x);
    hs.push(skip);
  }
  x = fResnetBlock(w, 'mid_block1', x, next, false);
  x = fTransformer(w, 'mid_attn', x, c.selfAttnHeads, c.midAttnDepth, true);
  x = fResnetBlock(w, 'mid_block2', x, next, false);
  rec('mid_block2', x);
  let rgb = fConv(w, 'mid_to_rgb', x);
  const rgbs: tf.Tensor4D[] = [rgb];
  for (const st of ups) {
    const p = `ups.${st.index}`;
    x = fPixelShuffleUpsample(w, `${p}.0`, x);
    rgb = upsampleBlur(rgb);
    let res1 = tf.mul(hs.pop()!, scale) as tf.Tensor4D;
    let res2 = tf.mul(hs.pop()!, scale) as tf.Tensor4D;
    if (res1.shape[1] !== x.shape[1] || res1.shape[2] !== x.shape[2]) {
      res1 = tf.image.resizeBilinear(res1, [x.shape[1], x.shape[2]], false, true);
      res2 = tf.image.resizeBilinear(res2, [x.shape[1], x.shape[2]], false, true);
    }
    x = fResnetBlock(w, `${p}.5`, tf.concat([x, res1], 3) as tf.Tensor4D, next, true);
    x = fResnetBlock(w, `${p}.6`, tf.concat([x, res2], 3) as tf.Tensor4D, next, true);
    if (st.crossAttn) x = fCrossAttentionBlock(w, `${p}.7`, x, text!.fine, text!.mask, { heads: c.selfAttnHeads, dimHead: c.selfAttnDimHead });
    x = fTransformer(w, `${p}.8`, x, c.selfAttnHeads, st.attnDepth, st.fullAttn);
    rec(`${p}.attn`, x);
    rgb = tf.add(rgb, fConv(w, `${p}.4`, x)) as tf.Tensor4D;
    rgbs.push(rgb);
  }
  x = fResnetBlock(w, 'final_res_block', x, next, false);
  if (mi !== mods.length) throw new Error(`internal: consumed ${mi} of ${mods.length} style modulations`);
  rgb = tf.add(rgb, fConv(w, 'final_to_rgb', x)) as tf.Tensor4D;
  return { image: rgb, rgbs: [x0, ...rgbs.filter((r) => r.shape[1] > c.inputImageSize)] };
}

function fLinearMods(w: W, styles: tf.Tensor2D, splits: number[]): tf.Tensor2D[] {
  const all = tf.add(tf.matMul(styles, w('style_to_conv_modulations.weight') as tf.Tensor2D), w('style_to_conv_modulations.bias')) as tf.Tensor2D;
  const out: tf.Tensor2D[] = [];
  let off = 0;
  for (const n of splits) {
    out.push(tf.slice(all, [0, off], [-1, n]) as tf.Tensor2D);
    off += n;
  }
  return out;
}
