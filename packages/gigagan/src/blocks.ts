/**
 * lucidrains' shared GigaGAN modules (NHWC), each as a spec builder (`s*`: parameter names/shapes/inits)
 * and a forward (`f*`: reads parameters through a getter). Names follow lucidrains' state_dict.
 */
import * as tf from '@tensorflow/tfjs';
import {
  adaptiveConv2dMod,
  geluErf,
  l2DistanceAttention,
  l2NormalizeLast,
  mergeHeads,
  prependNullKv,
  rmsNorm,
  scaledDotProductAttention,
  splitHeads,
} from '@ganzoo/core';
import { Spec } from './params';

export type W = (name: string) => tf.Tensor;

export const LRELU_SLOPE = 0.2;

/** nn.Linear over the last axis; weight [in,out]. */
export function fLinear(w: W, prefix: string, x: tf.Tensor, bias = true): tf.Tensor {
  const wt = w(`${prefix}.weight`) as tf.Tensor2D;
  const [din, dout] = wt.shape;
  const shape = x.shape;
  if (shape[shape.length - 1] !== din) throw new Error(`${prefix}: expected input width ${din}, found ${shape[shape.length - 1]}`);
  let y: tf.Tensor = tf.matMul(tf.reshape(x, [-1, din]) as tf.Tensor2D, wt);
  if (bias) y = tf.add(y, w(`${prefix}.bias`));
  return tf.reshape(y, [...shape.slice(0, -1), dout]);
}

/** nn.Conv2d, NHWC; 'same' padding for odd kernels at stride 1; weight [k,k,in,out]. */
export function fConv(w: W, prefix: string, x: tf.Tensor4D, opts: { stride?: number; bias?: boolean } = {}): tf.Tensor4D {
  const wt = w(`${prefix}.weight`) as tf.Tensor4D;
  const stride = opts.stride ?? 1;
  let y = tf.conv2d(x, wt, stride, wt.shape[0] === 1 ? 'valid' : 'same');
  if (opts.bias ?? true) y = tf.add(y, w(`${prefix}.bias`));
  return y;
}

export const lrelu = (x: tf.Tensor) => tf.leakyRelu(x, LRELU_SLOPE);

/** ChannelRMSNorm / RMSNorm (lucidrains): F.normalize * sqrt(C) * gamma over the channel (last) axis. */
export function fNorm(w: W, prefix: string, x: tf.Tensor): tf.Tensor {
  return rmsNorm(x, w(`${prefix}.gamma`));
}

/** RMSNorm gamma [C]; `channel` = ChannelRMSNorm, whose torch gamma is [C,1,1]. */
export function sNorm(s: Spec, prefix: string, dim: number, channel: boolean): void {
  s.add(`${prefix}.gamma`, [dim], { kind: 'const', value: 1 }, false, channel ? [dim, 1, 1] : undefined);
}

/** FeedForward: norm -> proj(dim, dim*mult) -> GELU -> proj(dim*mult, dim); conv 1x1 when channelFirst, else Linear. */
export function sFeedForward(s: Spec, prefix: string, dim: number, mult: number, channelFirst: boolean, channelNorm = channelFirst): void {
  const hidden = Math.floor(dim * mult);
  sNorm(s, `${prefix}.0`, dim, channelNorm);
  if (channelFirst) {
    s.conv(`${prefix}.1`, dim, hidden, 1);
    s.conv(`${prefix}.3`, hidden, dim, 1);
  } else {
    s.linear(`${prefix}.1`, dim, hidden);
    s.linear(`${prefix}.3`, hidden, dim);
  }
}

export function fFeedForward(w: W, prefix: string, x: tf.Tensor): tf.Tensor {
  let h = fNorm(w, `${prefix}.0`, x);
  const proj = (p: string, t: tf.Tensor) => {
    const wt = w(`${p}.weight`);
    return wt.rank === 4 ? fConv(w, p, t as tf.Tensor4D) : fLinear(w, p, t);
  };
  h = proj(`${prefix}.1`, h);
  h = geluErf(h);
  return proj(`${prefix}.3`, h);
}

export interface AttnOpts {
  heads: number;
  dimHead: number;
}

const conv1x1 = (w: W, name: string, x: tf.Tensor4D) => tf.conv2d(x, w(name) as tf.Tensor4D, 1, 'valid');

/** SelfAttention (image): ChannelRMSNorm, null kv, dot-product or L2 (tied q/k) logits. */
export function sSelfAttention(s: Spec, prefix: string, dim: number, o: AttnOpts & { dotProduct: boolean }): void {
  const inner = o.heads * o.dimHead;
  sNorm(s, `${prefix}.norm`, dim, true);
  s.conv(`${prefix}.to_q`, dim, inner, 1, false);
  if (o.dotProduct) s.conv(`${prefix}.to_k`, dim, inner, 1, false);
  s.conv(`${prefix}.to_v`, dim, inner, 1, false);
  s.add(`${prefix}.null_kv`, [2, o.heads, o.dimHead], { kind: 'normal', std: 1 });
  s.conv(`${prefix}.to_out`, inner, dim, 1, false);
}

export function fSelfAttention(w: W, prefix: string, x: tf.Tensor4D, o: AttnOpts & { dotProduct: boolean }): tf.Tensor4D {
  const [b, h, wd] = x.shape;
  const xn = fNorm(w, `${prefix}.norm`, x) as tf.Tensor4D;
  const flat = (t: tf.Tensor) => splitHeads(tf.reshape(t, [b, h * wd, -1]), o.heads);
  const q = flat(conv1x1(w, `${prefix}.to_q.weight`, xn));
  const k0 = o.dotProduct ? flat(conv1x1(w, `${prefix}.to_k.weight`, xn)) : q;
  const v0 = flat(conv1x1(w, `${prefix}.to_v.weight`, xn));
  const [k, v] = prependNullKv(k0, v0, w(`${prefix}.null_kv`));
  const scale = o.dimHead ** -0.5;
  const out = o.dotProduct ? scaledDotProductAttention(q, k, v, { scale }) : l2DistanceAttention(q, k, v, scale);
  return conv1x1(w, `${prefix}.to_out.weight`, tf.reshape(mergeHeads(out), [b, h, wd, -1]) as tf.Tensor4D);
}

/** CrossAttention: image queries, RMSNorm'd text context keys/values, key-padding mask (True = keep). */
export function sCrossAttention(s: Spec, prefix: string, dim: number, dimContext: number, o: AttnOpts): void {
  const inner = o.heads * o.dimHead;
  sNorm(s, `${prefix}.norm`, dim, true);
  sNorm(s, `${prefix}.norm_context`, dimContext, false);
  s.conv(`${prefix}.to_q`, dim, inner, 1, false);
  s.linear(`${prefix}.to_kv`, dimContext, inner * 2, false);
  s.conv(`${prefix}.to_out`, inner, dim, 1, false);
}

export function fCrossAttention(w: W, prefix: string, x: tf.Tensor4D, context: tf.Tensor3D, mask: tf.Tensor | null, o: AttnOpts): tf.Tensor4D {
  const [b, h, wd] = x.shape;
  const xn = fNorm(w, `${prefix}.norm`, x) as tf.Tensor4D;
  const cn = fNorm(w, `${prefix}.norm_context`, context);
  const q = splitHeads(tf.reshape(conv1x1(w, `${prefix}.to_q.weight`, xn), [b, h * wd, -1]), o.heads);
  const kv = fLinear(w, `${prefix}.to_kv`, cn, false);
  const [kk, vv] = tf.split(kv, 2, -1);
  const k = splitHeads(kk, o.heads);
  const v = splitHeads(vv, o.heads);
  const m = mask ? tf.reshape(mask, [b, 1, 1, -1]) : undefined;
  const out = scaledDotProductAttention(q, k, v, { scale: o.dimHead ** -0.5, mask: m });
  return conv1x1(w, `${prefix}.to_out.weight`, tf.reshape(mergeHeads(out), [b, h, wd, -1]) as tf.Tensor4D);
}

export function sSelfAttentionBlock(s: Spec, prefix: string, dim: number, o: AttnOpts & { dotProduct: boolean; ffMult: number }): void {
  sSelfAttention(s, `${prefix}.attn`, dim, o);
  sFeedForward(s, `${prefix}.ff`, dim, o.ffMult, true);
}

export function fSelfAttentionBlock(w: W, prefix: string, x: tf.Tensor4D, o: AttnOpts & { dotProduct: boolean }): tf.Tensor4D {
  let y = tf.add(fSelfAttention(w, `${prefix}.attn`, x, o), x) as tf.Tensor4D;
  y = tf.add(fFeedForward(w, `${prefix}.ff`, y), y) as tf.Tensor4D;
  return y;
}

export function sCrossAttentionBlock(s: Spec, prefix: string, dim: number, dimContext: number, o: AttnOpts & { ffMult: number }): void {
  sCrossAttention(s, `${prefix}.attn`, dim, dimContext, o);
  sFeedForward(s, `${prefix}.ff`, dim, o.ffMult, true);
}

export function fCrossAttentionBlock(w: W, prefix: string, x: tf.Tensor4D, context: tf.Tensor3D, mask: tf.Tensor | null, o: AttnOpts): tf.Tensor4D {
  let y = tf.add(fCrossAttention(w, `${prefix}.attn`, x, context, mask, o), x) as tf.Tensor4D;
  y = tf.add(fFeedForward(w, `${prefix}.ff`, y), y) as tf.Tensor4D;
  return y;
}

/** TextAttention (TextEncoder transformer): RMSNorm, qkv Linear, null kv, key-padding mask with the null slot kept. */
export function sTextAttention(s: Spec, prefix: string, dim: number, o: AttnOpts): void {
  const inner = o.heads * o.dimHead;
  sNorm(s, `${prefix}.norm`, dim, false);
  s.linear(`${prefix}.to_qkv`, dim, inner * 3, false);
  s.add(`${prefix}.null_kv`, [2, o.heads, o.dimHead], { kind: 'normal', std: 1 });
  s.linear(`${prefix}.to_out`, inner, dim, false);
}

export function fTextAttention(w: W, prefix: string, x: tf.Tensor3D, mask: tf.Tensor | null, o: AttnOpts): tf.Tensor3D {
  const b = x.shape[0];
  const xn = fNorm(w, `${prefix}.norm`, x);
  const [q0, k0, v0] = tf.split(fLinear(w, `${prefix}.to_qkv`, xn, false), 3, -1);
  const q = splitHeads(q0, o.heads);
  const [k, v] = prependNullKv(splitHeads(k0, o.heads), splitHeads(v0, o.heads), w(`${prefix}.null_kv`));
  let m: tf.Tensor | undefined;
  if (mask) m = tf.reshape(tf.concat([tf.ones([b, 1], 'bool'), mask], 1), [b, 1, 1, -1]);
  const out = scaledDotProductAttention(q, k, v, { scale: o.dimHead ** -0.5, mask: m });
  return fLinear(w, `${prefix}.to_out`, mergeHeads(out), false) as tf.Tensor3D;
}

/** Style noise z -> normalised (F.normalize over dim 1), as StyleNetwork does first. */
export const normalizeZ = (z: tf.Tensor) => l2NormalizeLast(z);

/** AdaptiveConv2DMod forward with lucidrains' parameter name. */
export function fAdaptiveConv(w: W, prefix: string, x: tf.Tensor4D, mod: tf.Tensor2D, kernelMod: tf.Tensor2D | null, demod = true): tf.Tensor4D {
  return adaptiveConv2dMod(x, w(`${prefix}.weights`), mod, kernelMod, { demod });
}
