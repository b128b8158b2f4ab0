/**
 * Official checkpoint keys <-> this package's parameter names, as two tables:
 *  - Hugging Face pytorch-pretrained-BigGAN (the DeepMind TF-Hub weights): same names, tensors transposed.
 *  - ajbrock BigGAN-PyTorch BigGANdeep.py (G.pth / D.pth): renamed, u0 [1, out] -> weight_u [out],
 *    sv0 (a logging buffer) dropped on load and recomputed on save, `linear` columns reordered from torch's
 *    (c, h, w) view to the (h, w, c) order our NHWC reshape uses.
 * Every entry converts official -> ours at load time (once) and ours -> official for saving.
 */
import * as tf from '@tensorflow/tfjs';
import { spectralNormalize } from '@ganzoo/core';
import { BigGANDeepConfig } from './config';
import { generatorModules, generatorSpecs } from './generator';
import { discriminatorSpecs, discriminatorStages } from './discriminator';
import { ParamSpec, checkTensors } from './params';

/** A tensor as read from a file (core RawTensor or anything with shape + data). */
export interface LooseTensor {
  shape: number[];
  data: ArrayLike<number> | Float32Array | Int32Array | Uint8Array;
  dtype?: string;
}

type Xf = 'id' | 'linear' | 'conv' | 'vec' | 'vconv' | 'embedT' | 'linearPerm' | 'vecPerm' | 'stats1' | 'scalar1';

interface Entry {
  ours: string;
  official: string;
  xf: Xf;
  /** Our shape (for 'vconv': the conv kernel shape [kh, kw, in, out]; 'linearPerm'/'vecPerm': [channels]). */
  aux?: number[];
}

function specMap(specs: ParamSpec[]): Map<string, ParamSpec> {
  return new Map(specs.map((s) => [s.name, s]));
}

/** The HF table: ours == official names; transforms by tensor kind. */
export function hfTable(cfg: BigGANDeepConfig): Entry[] {
  const { specs } = generatorSpecs(cfg.generator);
  const byName = specMap(specs);
  return specs.map((s): Entry => {
    if (s.name === 'embeddings.weight') return { ours: s.name, official: s.name, xf: 'embedT' };
    if (s.name.endsWith('.weight_orig')) return { ours: s.name, official: s.name, xf: s.shape.length === 4 ? 'conv' : 'linear' };
    if (s.name.endsWith('.weight_v')) {
      const w = byName.get(s.name.replace(/weight_v$/, 'weight_orig'))!;
      return { ours: s.name, official: s.name, xf: w.shape.length === 4 ? 'vconv' : 'id', aux: w.shape };
    }
    return { ours: s.name, official: s.name, xf: 'id' };
  });
}

/** The ajbrock table (G and, when configured, D). */
export function ajbrockTable(cfg: BigGANDeepConfig): Entry[] {
  const g = cfg.generator;
  const out: Entry[] = [];
  const sn = (ours: string, off: string, rank: number, bias: boolean) => {
    out.push({ ours: `${ours}.weight_orig`, official: `${off}.weight`, xf: rank === 4 ? 'conv' : 'linear' });
    if (bias) out.push({ ours: `${ours}.bias`, official: `${off}.bias`, xf: 'id' });
    out.push({ ours: `${ours}.weight_u`, official: `${off}.u0`, xf: 'vec' });
  };
  out.push({ ours: 'embeddings.weight', official: 'shared.weight', xf: 'id' });
  const c0 = g.ch * g.layers[0][1];
  out.push({ ours: 'generator.gen_z.weight_orig', official: 'linear.weight', xf: 'linearPerm', aux: [c0] });
  out.push({ ours: 'generator.gen_z.bias', official: 'linear.bias', xf: 'vecPerm', aux: [c0] });
  out.push({ ours: 'generator.gen_z.weight_u', official: 'linear.u0', xf: 'vecPerm', aux: [c0] });
  for (const m of generatorModules(g)) {
    const p = `generator.layers.${m.index}`;
    if (m.kind === 'attention') {
      const pos = generatorModules(g).filter((x) => x.kind === 'block' && x.index < m.index).length; // blocks before it
      const a = `blocks.${pos - 1}.1`;
      out.push({ ours: `${p}.gamma`, official: `${a}.gamma`, xf: 'scalar1' });
      sn(`${p}.snconv1x1_theta`, `${a}.theta`, 4, false);
      sn(`${p}.snconv1x1_phi`, `${a}.phi`, 4, false);
      sn(`${p}.snconv1x1_g`, `${a}.g`, 4, false);
      sn(`${p}.snconv1x1_o_conv`, `${a}.o`, 4, false);
      continue;
    }
    const b = `blocks.${m.blockIndex}.0`;
    for (let k = 0; k < 4; k++) {
      out.push({ ours: `${p}.bn_${k}.running_means`, official: `${b}.bn${k + 1}.stored_mean`, xf: 'stats1' });
      out.push({ ours: `${p}.bn_${k}.running_vars`, official: `${b}.bn${k + 1}.stored_var`, xf: 'stats1' });
      sn(`${p}.bn_${k}.scale`, `${b}.bn${k + 1}.gain`, 2, false);
      sn(`${p}.bn_${k}.offset`, `${b}.bn${k + 1}.bias`, 2, false);
      sn(`${p}.conv_${k}`, `${b}.conv${k + 1}`, 4, true);
    }
  }
  out.push({ ours: 'generator.bn.weight', official: 'output_layer.0.gain', xf: 'id' });
  out.push({ ours: 'generator.bn.bias', official: 'output_layer.0.bias', xf: 'id' });
  out.push({ ours: 'generator.bn.running_means', official: 'output_layer.0.stored_mean', xf: 'stats1' });
  out.push({ ours: 'generator.bn.running_vars', official: 'output_layer.0.stored_var', xf: 'stats1' });
  sn('generator.conv_to_rgb', 'output_layer.2', 4, true);
  return out;
}

/** The ajbrock D table: `discriminator.<key>` with weight -> weight_orig, u0 -> weight_u. */
export function ajbrockDTable(cfg: BigGANDeepConfig): Entry[] {
  if (!cfg.discriminator) return [];
  const { specs } = discriminatorSpecs(cfg.discriminator);
  return specs.map((s): Entry => {
    const off = s.name.replace(/^discriminator\./, '').replace(/\.weight_orig$/, '.weight').replace(/\.weight_u$/, '.u0');
    if (s.name.endsWith('.gamma')) return { ours: s.name, official: off, xf: 'scalar1' };
    if (s.name.endsWith('.weight_u')) return { ours: s.name, official: off, xf: 'vec' };
    if (s.name.endsWith('.weight_orig')) {
      if (s.outAxis === 'first') return { ours: s.name, official: off, xf: 'id' };
      return { ours: s.name, official: off, xf: s.shape.length === 4 ? 'conv' : 'linear' };
    }
    return { ours: s.name, official: off, xf: 'id' };
  });
}

// (c, h, w) <-> (h, w, c) order of the 4×4×C0 output of ajbrock's G.linear
function permIndex(c0: number): Int32Array {
  const idx = new Int32Array(16 * c0);
  for (let h = 0; h < 4; h++) for (let w = 0; w < 4; w++) for (let c = 0; c < c0; c++) idx[(h * 4 + w) * c0 + c] = c * 16 + h * 4 + w;
  return idx;
}
function invPerm(p: Int32Array): Int32Array {
  const inv = new Int32Array(p.length);
  p.forEach((v, i) => (inv[v] = i));
  return inv;
}

const RANK: Record<Xf, number | null> = { id: null, linear: 2, conv: 4, vec: null, vconv: 1, embedT: 2, linearPerm: 2, vecPerm: null, stats1: 1, scalar1: null };

/** official tensor -> ours. A tensor of unexpected rank is passed through unchanged so the shape check reports it. */
function toOurs(t: tf.Tensor, e: Entry): tf.Tensor {
  const r = RANK[e.xf];
  if (r !== null && t.rank !== r) return t.clone();
  return tf.tidy(() => {
    switch (e.xf) {
      case 'linear': return tf.transpose(t);
      case 'embedT': return tf.transpose(t);
      case 'conv': return tf.transpose(t, [2, 3, 1, 0]);
      case 'vec': return tf.reshape(t, [-1]);
      case 'vconv': {
        const [kh, kw, cin] = e.aux!;
        if (t.size !== kh * kw * cin) return t.clone();
        return tf.reshape(tf.transpose(tf.reshape(t, [cin, kh, kw]), [1, 2, 0]), [-1]);
      }
      case 'linearPerm': {
        const p = permIndex(e.aux![0]);
        if (t.shape[0] !== p.length) return tf.transpose(t);
        return tf.transpose(tf.gather(t, tf.tensor1d(p, 'int32'), 0));
      }
      case 'vecPerm': {
        const p = permIndex(e.aux![0]);
        const flat = tf.reshape(t, [-1]);
        if (flat.size !== p.length) return flat;
        return tf.gather(flat, tf.tensor1d(p, 'int32'));
      }
      case 'stats1': return tf.reshape(t, [1, -1]);
      case 'scalar1': return tf.reshape(t, [1]);
      default: return t.clone();
    }
  });
}

/** ours -> official (inverse of toOurs). `officialShape` of vec-like buffers: u0 is [1, out]. */
function toOfficial(t: tf.Tensor, e: Entry, layout: 'hf' | 'ajbrock'): tf.Tensor {
  return tf.tidy(() => {
    switch (e.xf) {
      case 'linear': return tf.transpose(t);
      case 'embedT': return tf.transpose(t);
      case 'conv': return tf.transpose(t, [3, 2, 0, 1]);
      case 'vec': return layout === 'ajbrock' ? tf.reshape(t, [1, -1]) : t.clone();
      case 'vconv': {
        const [kh, kw, cin] = e.aux!;
        return tf.reshape(tf.transpose(tf.reshape(t, [kh, kw, cin]), [2, 0, 1]), [-1]);
      }
      case 'linearPerm': return tf.gather(tf.transpose(t), tf.tensor1d(invPerm(permIndex(e.aux![0])), 'int32'), 0);
      case 'vecPerm': {
        const r = tf.gather(t, tf.tensor1d(invPerm(permIndex(e.aux![0])), 'int32'));
        return e.official.endsWith('u0') ? tf.reshape(r, [1, -1]) : r;
      }
      case 'stats1': return tf.reshape(t, [-1]);
      case 'scalar1': return tf.reshape(t, []);
      default: return t.clone();
    }
  });
}

function looseToTensor(t: LooseTensor | tf.Tensor): tf.Tensor {
  if (t instanceof tf.Tensor) return t.clone();
  const dtype = t.dtype === 'int32' ? 'int32' : 'float32';
  const data = t.data instanceof Float32Array || t.data instanceof Int32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>);
  return tf.tensor(data as Float32Array, t.shape, dtype);
}

/**
 * Convert official tensors (a state_dict) to our names and layout. Throws listing missing / unexpected /
 * mis-shaped keys. `which`: 'G' (generator keys only) or 'D' (ajbrock D.pth keys only).
 */
export function convertFromOfficial(
  cfg: BigGANDeepConfig, layout: 'hf' | 'ajbrock', which: 'G' | 'D', state: Record<string, LooseTensor | tf.Tensor>,
): Record<string, tf.Tensor> {
  const table = which === 'D' ? ajbrockDTable(cfg) : layout === 'hf' ? hfTable(cfg) : ajbrockTable(cfg);
  const ignore = (k: string) => layout === 'ajbrock' && /(^|\.)sv\d+$/.test(k);
  const specs = which === 'D' ? discriminatorSpecs(cfg.discriminator!).specs : generatorSpecs(cfg.generator).specs;
  const out: Record<string, tf.Tensor> = {};
  const officialNames = new Set(table.map((e) => e.official));
  const unexpected = Object.keys(state).filter((k) => !officialNames.has(k) && !ignore(k));
  const missingOfficial = table.filter((e) => !(e.official in state)).map((e) => e.official);
  if (unexpected.length || missingOfficial.length) {
    const list = (xs: string[]) => xs.slice(0, 20).join(', ') + (xs.length > 20 ? `, ... (${xs.length} in all)` : '');
    const parts: string[] = [];
    if (missingOfficial.length) parts.push(`missing keys (${missingOfficial.length}): ${list(missingOfficial)}`);
    if (unexpected.length) parts.push(`unexpected keys (${unexpected.length}): ${list(unexpected)}`);
    throw new Error(`BigGAN-deep ${layout} ${which} weights do not match the config:\n  ${parts.join('\n  ')}`);
  }
  try {
    for (const e of table) {
      const raw = looseToTensor(state[e.official]);
      out[e.ours] = toOurs(raw, e);
      raw.dispose();
    }
    const shapes: Record<string, { shape: number[] }> = {};
    for (const [k, t] of Object.entries(out)) shapes[k] = { shape: t.shape };
    // report mis-shapes with the official names and shapes
    const bySpec = new Map(specs.map((s) => [s.name, s]));
    const bad = table.filter((e) => bySpec.get(e.ours)!.shape.join(',') !== out[e.ours].shape.join(','));
    if (bad.length) {
      const msg = bad.slice(0, 20).map((e) => `${e.official}: found ${JSON.stringify(state[e.official].shape)} (-> ${JSON.stringify(out[e.ours].shape)}, expected ${JSON.stringify(bySpec.get(e.ours)!.shape)} as ${e.ours})`);
      throw new Error(`BigGAN-deep ${layout} ${which} weights do not match the config:\n  mis-shaped keys (${bad.length}): ${msg.join('; ')}`);
    }
    checkTensors(specs, shapes, `BigGAN-deep ${layout} ${which}`);
  } catch (err) {
    tf.dispose(Object.values(out));
    throw err;
  }
  return out;
}

/**
 * Our tensors -> official state_dict (new tensors; caller disposes). For ajbrock, `sv0` is recomputed from the
 * stored u (one power iteration, as the training code logs it).
 */
export function convertToOfficial(
  cfg: BigGANDeepConfig, layout: 'hf' | 'ajbrock', which: 'G' | 'D', params: Record<string, tf.Tensor>,
): Record<string, tf.Tensor> {
  const table = which === 'D' ? ajbrockDTable(cfg) : layout === 'hf' ? hfTable(cfg) : ajbrockTable(cfg);
  const out: Record<string, tf.Tensor> = {};
  for (const e of table) {
    const t = params[e.ours];
    if (!t) throw new Error(`BigGAN-deep: cannot save '${e.official}': parameter '${e.ours}' is missing`);
    out[e.official] = toOfficial(t, e, layout);
  }
  if (layout === 'ajbrock') {
    for (const e of table.filter((x) => x.official.endsWith('.u0'))) {
      const base = e.ours.replace(/\.weight_u$/, '');
      const w = params[`${base}.weight_orig`];
      const outAxis = which === 'D' && base.endsWith('.embed') ? 'first' : 'last';
      const eps = which === 'D' ? cfg.discriminator!.snEps : cfg.generator.snEps;
      const r = spectralNormalize(w, params[e.ours], null, { eps, iterations: 1, outAxis });
      out[e.official.replace(/u0$/, 'sv0')] = tf.reshape(r.sigma, [1]);
      tf.dispose([r.weight, r.sigma, r.u, r.v]);
    }
  }
  return out;
}

export { discriminatorStages };
