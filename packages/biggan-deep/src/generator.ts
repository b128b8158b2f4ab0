/**
 * The BigGAN-deep generator (Brock et al. 2019, Fig. 16 / Table 7), NHWC, over a flat map of named parameters
 * whose names follow the Hugging Face state_dict (pytorch_pretrained_biggan): `embeddings.weight`,
 * `generator.gen_z.*`, `generator.layers.{j}.{bn_k, conv_k}.*`, `generator.layers.{a}.snconv1x1_*` (attention),
 * `generator.bn.*`, `generator.conv_to_rgb.*`. Weights are in tfjs layout (conv [kh, kw, in, out], dense
 * [in, out], embedding [numClasses, dim]); the converters transpose official tensors once at load time.
 */
import * as tf from '@tensorflow/tfjs';
import { batchMoments, batchNormApply, saganAttention, truncationStats, truncationStatsIndex } from '@ganzoo/core';
import { GeneratorConfig } from './config';
import { ParamSpec, ParamStore, SnSpec, conv2dSame } from './params';

/** One module of `generator.layers`: a residual block or a self-attention layer. */
export type GenModule =
  | { kind: 'block'; index: number; blockIndex: number; up: boolean; cin: number; cout: number; mid: number }
  | { kind: 'attention'; index: number; channels: number };

/** `generator.layers` in order, with HF module indices (attention modules are counted inline). */
export function generatorModules(g: GeneratorConfig): GenModule[] {
  const mods: GenModule[] = [];
  const attnAt = new Set(g.attention);
  g.layers.forEach(([up, inM, outM], i) => {
    if (attnAt.has(i)) mods.push({ kind: 'attention', index: mods.length, channels: g.ch * inM });
    const cin = g.ch * inM;
    mods.push({ kind: 'block', index: mods.length, blockIndex: i, up, cin, cout: g.ch * outM, mid: Math.floor(cin / 4) });
  });
  if (attnAt.has(g.layers.length)) mods.push({ kind: 'attention', index: mods.length, channels: g.ch * g.layers[g.layers.length - 1][2] });
  return mods;
}

/** Parameter and spectral-norm specs of the generator. */
export function generatorSpecs(g: GeneratorConfig): { specs: ParamSpec[]; sn: SnSpec[] } {
  const specs: ParamSpec[] = [];
  const sn: SnSpec[] = [];
  const hasV = g.snEvalIterations === 0;
  const snLayer = (prefix: string, shape: number[], bias: boolean) => {
    const out = shape[shape.length - 1];
    const fanIn = shape.reduce((a, b) => a * b, 1) / out;
    specs.push({ name: `${prefix}.weight_orig`, shape, init: 'weight', trainable: true, outAxis: 'last' });
    if (bias) specs.push({ name: `${prefix}.bias`, shape: [out], init: 'zeros', trainable: true });
    specs.push({ name: `${prefix}.weight_u`, shape: [out], init: 'u', trainable: false });
    if (hasV) specs.push({ name: `${prefix}.weight_v`, shape: [fanIn], init: 'v', trainable: false });
    sn.push({ prefix, outAxis: 'last', hasV, eps: g.snEps, evalIterations: g.snEvalIterations });
  };
  const cond = g.zDim + g.embedDim;
  const stats = (prefix: string, c: number) => {
    specs.push({ name: `${prefix}.running_means`, shape: [g.nStats, c], init: 'stats-mean', trainable: false });
    specs.push({ name: `${prefix}.running_vars`, shape: [g.nStats, c], init: 'stats-var', trainable: false });
  };
  specs.push({ name: 'embeddings.weight', shape: [g.numClasses, g.embedDim], init: 'embedding', trainable: true, outAxis: 'first' });
  const c0 = g.ch * g.layers[0][1];
  const cLast = g.ch * g.layers[g.layers.length - 1][2];
  snLayer('generator.gen_z', [cond, 16 * c0], true);
  for (const m of generatorModules(g)) {
    const p = `generator.layers.${m.index}`;
    if (m.kind === 'attention') {
      const c = m.channels;
      specs.push({ name: `${p}.gamma`, shape: [1], init: 'gamma', trainable: true });
      snLayer(`${p}.snconv1x1_theta`, [1, 1, c, Math.floor(c / 8)], false);
      snLayer(`${p}.snconv1x1_phi`, [1, 1, c, Math.floor(c / 8)], false);
      snLayer(`${p}.snconv1x1_g`, [1, 1, c, Math.floor(c / 2)], false);
      snLayer(`${p}.snconv1x1_o_conv`, [1, 1, Math.floor(c / 2), c], false);
      continue;
    }
    const chans = [m.cin, m.mid, m.mid, m.mid];
    const convs: [number, number, number][] = [[1, m.cin, m.mid], [3, m.mid, m.mid], [3, m.mid, m.mid], [1, m.mid, m.cout]];
    for (let k = 0; k < 4; k++) {
      stats(`${p}.bn_${k}`, chans[k]);
      snLayer(`${p}.bn_${k}.scale`, [cond, chans[k]], false);
      snLayer(`${p}.bn_${k}.offset`, [cond, chans[k]], false);
      const [ks, ci, co] = convs[k];
      snLayer(`${p}.conv_${k}`, [ks, ks, ci, co], true);
    }
  }
  specs.push({ name: 'generator.bn.weight', shape: [cLast], init: 'ones', trainable: true });
  specs.push({ name: 'generator.bn.bias', shape: [cLast], init: 'zeros', trainable: true });
  stats('generator.bn', cLast);
  snLayer('generator.conv_to_rgb', [3, 3, cLast, g.rgbConvChannels], true);
  // sort specs so that a layer's u/v follow their weight (purely cosmetic); keep insertion order otherwise
  return { specs, sn };
}

export interface GeneratorRunOptions {
  /** Truncation in (0, 1] as a float64 JS number: selects (and mixes) the BN statistics rows. */
  truncation: number;
  /** Train mode: batch statistics (running stats row `statsRow` updated), SN power iteration with u/v update. */
  training?: boolean;
  /** Row of the stats table updated in train mode (default: the row selected by the truncation). */
  statsRow?: number;
  /** Called with named intermediates (NHWC); the callee must clone what it keeps. */
  record?: (name: string, t: tf.Tensor) => void;
  /**
   * Standing-statistics mode: BN normalises with batch statistics and reports them here instead of updating the
   * running stats; spectral norm stays in inference mode (u, v untouched).
   */
  onBatchStats?: (prefix: string, mean: tf.Tensor, variance: tf.Tensor) => void;
}

/** Spectral norm in train mode (power iteration, u updated) only in real training, not in standing-stats passes. */
function snTrain(opts: GeneratorRunOptions): boolean {
  return !!opts.training && !opts.onBatchStats;
}

/**
 * Nearest-neighbour 2× upsampling of NHWC (F.interpolate(scale_factor=2, mode='nearest')); concat/reshape only, all
 * of rank <= 4 (the gradient of a concat is a split, which tfjs-wasm runs in JavaScript for rank 5: 18% of a tiny
 * training step).
 */
export function upsampleNearest2x(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, c] = x.shape;
    // [b, h, w, 2c] = each pixel's channels twice = [b, h, 2w, c] with every pixel repeated along the width
    const wide = tf.reshape(tf.concat([x, x], 3), [b, h, 2 * w * c]);
    // [b, h, 2·(2w·c)] = each row twice = [b, 2h, 2w, c]
    return tf.reshape(tf.concat([wide, wide], 2), [b, 2 * h, 2 * w, c]) as tf.Tensor4D;
  });
}

function conv(store: ParamStore, prefix: string, x: tf.Tensor4D, training: boolean, bias: boolean): tf.Tensor4D {
  const w = store.snWeight(prefix, training) as tf.Tensor4D;
  const y = conv2dSame(x, w);
  return (bias ? tf.add(y, store.get(`${prefix}.bias`)) : y) as tf.Tensor4D;
}

function linear(store: ParamStore, prefix: string, x: tf.Tensor2D, training: boolean, bias: boolean): tf.Tensor2D {
  const y = tf.matMul(x, store.snWeight(prefix, training) as tf.Tensor2D);
  return (bias ? tf.add(y, store.get(`${prefix}.bias`)) : y) as tf.Tensor2D;
}

/** BN statistics for inference (truncation-selected row) or training (batch moments, running row updated). */
function bnStats(store: ParamStore, prefix: string, x: tf.Tensor, opts: GeneratorRunOptions): { mean: tf.Tensor; variance: tf.Tensor } {
  if (opts.onBatchStats) {
    const m = batchMoments(x);
    opts.onBatchStats(prefix, m.mean, m.variance);
    return m;
  }
  if (opts.training) {
    const m = batchMoments(x);
    const n = x.shape[0] * x.shape[1]! * x.shape[2]!;
    const rows = store.get(`${prefix}.running_means`).shape[0];
    const row = opts.statsRow ?? truncationStatsIndex(opts.truncation, rows).index;
    store.updateStats(prefix, row, m.mean, m.variance, n);
    return m;
  }
  return {
    mean: truncationStats(store.get(`${prefix}.running_means`) as tf.Tensor2D, opts.truncation),
    variance: truncationStats(store.get(`${prefix}.running_vars`) as tf.Tensor2D, opts.truncation),
  };
}

function condBn(store: ParamStore, prefix: string, x: tf.Tensor4D, cond: tf.Tensor2D, eps: number, opts: GeneratorRunOptions): tf.Tensor4D {
  const { mean, variance } = bnStats(store, prefix, x, opts);
  const scale = linear(store, `${prefix}.scale`, cond, snTrain(opts), false);
  const offset = linear(store, `${prefix}.offset`, cond, snTrain(opts), false);
  // BN(x) · (1 + scale(cond)) + offset(cond) (Brock et al. 2019, §3; de Vries et al. 2017)
  return batchNormApply(x, mean, variance, eps, tf.add(1, scale), offset) as tf.Tensor4D;
}

function genBlock(store: ParamStore, p: string, m: Extract<GenModule, { kind: 'block' }>, x: tf.Tensor4D, cond: tf.Tensor2D, g: GeneratorConfig, opts: GeneratorRunOptions): tf.Tensor4D {
  const tr = snTrain(opts);
  let h = conv(store, `${p}.conv_0`, tf.relu(condBn(store, `${p}.bn_0`, x, cond, g.bnEps, opts)), tr, true);
  h = tf.relu(condBn(store, `${p}.bn_1`, h, cond, g.bnEps, opts));
  if (m.up) h = upsampleNearest2x(h);
  h = conv(store, `${p}.conv_1`, h, tr, true);
  h = conv(store, `${p}.conv_2`, tf.relu(condBn(store, `${p}.bn_2`, h, cond, g.bnEps, opts)), tr, true);
  h = conv(store, `${p}.conv_3`, tf.relu(condBn(store, `${p}.bn_3`, h, cond, g.bnEps, opts)), tr, true);
  // skip: keep the first `out` channels (HF: in/2; ajbrock: out — equal under the halving rule), then upsample
  let s = m.cin !== m.cout ? (tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, m.cout]) as tf.Tensor4D) : x;
  if (m.up) s = upsampleNearest2x(s);
  return tf.add(h, s) as tf.Tensor4D;
}

function attention(store: ParamStore, p: string, x: tf.Tensor4D, training: boolean): tf.Tensor4D {
  return saganAttention(x, {
    theta: store.snWeight(`${p}.snconv1x1_theta`, training),
    phi: store.snWeight(`${p}.snconv1x1_phi`, training),
    g: store.snWeight(`${p}.snconv1x1_g`, training),
    o: store.snWeight(`${p}.snconv1x1_o_conv`, training),
    gamma: store.get(`${p}.gamma`),
  });
}

/** The class embedding of a class vector [B, numClasses] (one-hot or soft mix): y · E. */
export function embedClasses(store: ParamStore, classVector: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(classVector, store.get('embeddings.weight') as tf.Tensor2D);
}

/**
 * The conditioning vectors: `cond` = cat(z, embed) in the config's order, for gen_z, and `bnCond`, the same with the
 * embedding scaled by `bnClassScale`, for every conditional BN (the same tensor when the scale is 1, BigGAN-deep).
 */
export function conditionVectors(g: GeneratorConfig, z: tf.Tensor2D, embed: tf.Tensor2D): { cond: tf.Tensor2D; bnCond: tf.Tensor2D } {
  const join = (e: tf.Tensor2D) => (g.condOrder === 'z-first' ? tf.concat([z, e], 1) : tf.concat([e, z], 1)) as tf.Tensor2D;
  const cond = join(embed);
  const s = g.bnClassScale ?? 1;
  return { cond, bnCond: s === 1 ? cond : join(tf.mul(embed, s) as tf.Tensor2D) };
}

/**
 * G(z, y, truncation) -> [B, R, R, 3] in [-1, 1]. z [B, zDim], classVector [B, numClasses].
 * Inside a tidy; the result is the only tensor left.
 */
export function generatorForward(store: ParamStore, g: GeneratorConfig, z: tf.Tensor2D, classVector: tf.Tensor2D, opts: GeneratorRunOptions): tf.Tensor4D {
  return tf.tidy(() => {
    const rec = opts.record ?? (() => undefined);
    const tr = snTrain(opts);
    const embed = embedClasses(store, classVector);
    rec('embed', embed);
    const { cond, bnCond } = conditionVectors(g, z, embed);
    rec('cond', cond);
    let h = tf.reshape(linear(store, 'generator.gen_z', cond, tr, true), [-1, 4, 4, g.ch * g.layers[0][1]]) as tf.Tensor4D;
    rec('gen_z', h);
    for (const m of generatorModules(g)) {
      const p = `generator.layers.${m.index}`;
      h = m.kind === 'attention' ? attention(store, p, h, tr) : genBlock(store, p, m, h, bnCond, g, opts);
      rec(`layers.${m.index}`, h);
    }
    const { mean, variance } = bnStats(store, 'generator.bn', h, opts);
    h = batchNormApply(h, mean, variance, g.bnEps, store.get('generator.bn.weight'), store.get('generator.bn.bias')) as tf.Tensor4D;
    rec('final_bn', h);
    h = conv(store, 'generator.conv_to_rgb', tf.relu(h), tr, true);
    rec('conv_to_rgb', h);
    if (g.rgbConvChannels !== 3) h = tf.slice(h, [0, 0, 0, 0], [-1, -1, -1, 3]);
    return tf.tanh(h) as tf.Tensor4D;
  });
}
