/**
 * Checkpoint key layouts -> this package's parameters.
 *
 * Canonical names: CLIP parameters carry OpenAI CLIP state_dict names (`visual.conv1.weight`,
 * `transformer.resblocks.N.attn.in_proj_weight`, ...), DINO parameters carry timm ViT names (`cls_token`,
 * `blocks.N.attn.qkv.weight`, ...; = facebookresearch/dino names). Hugging Face layouts are renamed onto
 * those by the tables below (q/k/v concatenated as `torch.cat` would, projections transposed), the state dict
 * is checked against the shapes the config implies, and only then is every tensor moved to tfjs layout once:
 * Linear weights [out, in] -> [in, out], conv weights OIHW -> HWIO.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '@ganzoo/core';
import type { RawTensor } from '@ganzoo/core';
import { CLIPConfig, DINOConfig } from './config';

export type StateDict = Record<string, RawTensor>;

function raw(data: Float32Array, shape: number[]): RawTensor {
  return { dtype: 'float32', shape, data, sourceDtype: 'F32' };
}

function asFloat(t: RawTensor, name: string): Float32Array {
  if (t.dtype !== 'float32') throw new Error(`${name}: expected a float tensor, found ${t.sourceDtype}`);
  return t.data as Float32Array;
}

/** [a, b] -> [b, a] on raw data. */
export function transposeRaw(t: RawTensor, name = 'tensor'): RawTensor {
  if (t.shape.length !== 2) throw new Error(`${name}: expected a 2-D tensor to transpose, found shape [${t.shape}]`);
  const [a, b] = t.shape;
  const src = asFloat(t, name);
  const out = new Float32Array(a * b);
  for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) out[j * a + i] = src[i * b + j];
  return raw(out, [b, a]);
}

/** torch.cat(parts, dim=0) on raw data. */
export function concatRaw(parts: RawTensor[], names: string[]): RawTensor {
  const rest = parts[0].shape.slice(1);
  for (let i = 0; i < parts.length; i++) {
    if (parts[i].shape.slice(1).join() !== rest.join()) {
      throw new Error(`cannot concatenate ${names.join(', ')}: shapes ${parts.map((p) => `[${p.shape}]`).join(', ')}`);
    }
  }
  const total = parts.reduce((s, p) => s + p.data.length, 0);
  const out = new Float32Array(total);
  let off = 0;
  parts.forEach((p, i) => {
    out.set(asFloat(p, names[i]), off);
    off += p.data.length;
  });
  return raw(out, [parts.reduce((s, p) => s + p.shape[0], 0), ...rest]);
}

/** Keys under `prefix` with the prefix removed. */
export function stripPrefix(sd: StateDict, prefix: string): StateDict {
  if (!prefix) return sd;
  const out: StateDict = {};
  for (const [k, v] of Object.entries(sd)) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
  return out;
}

/** The prefix in front of the first key ending with one of `anchors` ('' if the key is bare), or null. */
export function findPrefix(sd: StateDict, anchors: string[]): string | null {
  for (const a of anchors) {
    const hits = Object.keys(sd).filter((k) => k === a || k.endsWith(`.${a}`));
    if (hits.length) {
      hits.sort((x, y) => x.length - y.length);
      return hits[0].slice(0, hits[0].length - a.length);
    }
  }
  return null;
}

// ---------------------------------------------------------------- CLIP

export type CLIPLayout = 'openai' | 'hf';

/** Which CLIP layout a state dict holds, and under which key prefix ('module.', 'clip.', ...). */
export function detectClipLayout(sd: StateDict): { layout: CLIPLayout; prefix: string } {
  const hf = findPrefix(sd, ['text_model.embeddings.token_embedding.weight', 'vision_model.embeddings.patch_embedding.weight']);
  if (hf !== null) return { layout: 'hf', prefix: hf };
  const oa = findPrefix(sd, ['token_embedding.weight', 'visual.conv1.weight']);
  if (oa !== null) return { layout: 'openai', prefix: oa };
  const some = Object.keys(sd).slice(0, 8).join(', ');
  throw new Error(
    `CLIP: cannot recognise the checkpoint layout: expected Hugging Face CLIPModel keys (text_model.*, vision_model.*) or ` +
      `OpenAI CLIP keys (token_embedding.weight, visual.conv1.weight, ...); found ${Object.keys(sd).length} keys starting ${some}`,
  );
}

/** Hugging Face CLIPModel -> OpenAI CLIP names (torch layout), as convert_clip_original_pytorch_to_hf.py, reversed. */
const CLIP_HF_RENAMES: Array<[RegExp, string]> = [
  [/^text_model\.embeddings\.token_embedding\.weight$/, 'token_embedding.weight'],
  [/^text_model\.embeddings\.position_embedding\.weight$/, 'positional_embedding'],
  [/^text_model\.final_layer_norm\.(weight|bias)$/, 'ln_final.$1'],
  [/^text_model\.encoder\.layers\.(\d+)\./, 'transformer.resblocks.$1.'],
  [/^vision_model\.embeddings\.patch_embedding\.weight$/, 'visual.conv1.weight'],
  [/^vision_model\.embeddings\.class_embedding$/, 'visual.class_embedding'],
  [/^vision_model\.embeddings\.position_embedding\.weight$/, 'visual.positional_embedding'],
  [/^vision_model\.pre_layrnorm\.(weight|bias)$/, 'visual.ln_pre.$1'],
  [/^vision_model\.post_layernorm\.(weight|bias)$/, 'visual.ln_post.$1'],
  [/^vision_model\.encoder\.layers\.(\d+)\./, 'visual.transformer.resblocks.$1.'],
  [/^logit_scale$/, 'logit_scale'],
];
const CLIP_HF_BLOCK_RENAMES: Array<[RegExp, string]> = [
  [/\.self_attn\.out_proj\.(weight|bias)$/, '.attn.out_proj.$1'],
  [/\.layer_norm1\.(weight|bias)$/, '.ln_1.$1'],
  [/\.layer_norm2\.(weight|bias)$/, '.ln_2.$1'],
  [/\.mlp\.fc1\.(weight|bias)$/, '.mlp.c_fc.$1'],
  [/\.mlp\.fc2\.(weight|bias)$/, '.mlp.c_proj.$1'],
];
/** Keys that carry no parameters (non-persistent buffers written by old transformers versions). */
const CLIP_HF_IGNORED = [/\.position_ids$/];

export function clipHFToOpenAI(sd: StateDict): StateDict {
  const out: StateDict = {};
  const unknown: string[] = [];
  const qkv = new Map<string, Record<string, RawTensor>>();
  for (const [key, t] of Object.entries(sd)) {
    if (CLIP_HF_IGNORED.some((r) => r.test(key))) continue;
    if (key === 'text_projection.weight') {
      out.text_projection = transposeRaw(t, key);
      continue;
    }
    if (key === 'visual_projection.weight') {
      out['visual.proj'] = transposeRaw(t, key);
      continue;
    }
    const rule = CLIP_HF_RENAMES.find(([r]) => r.test(key));
    if (!rule) {
      unknown.push(key);
      continue;
    }
    let name = key.replace(rule[0], rule[1]);
    const m = /^(.*)\.self_attn\.([qkv])_proj\.(weight|bias)$/.exec(name);
    if (m) {
      const id = `${m[1]}.attn.in_proj_${m[3]}`;
      if (!qkv.has(id)) qkv.set(id, {});
      qkv.get(id)![m[2]] = t;
      continue;
    }
    const br = CLIP_HF_BLOCK_RENAMES.find(([r]) => r.test(name));
    if (br) name = name.replace(br[0], br[1]);
    else if (/resblocks\.\d+\./.test(name)) {
      unknown.push(key);
      continue;
    }
    out[name] = t;
  }
  for (const [id, parts] of qkv) {
    const missing = ['q', 'k', 'v'].filter((p) => !parts[p]);
    if (missing.length) throw new Error(`CLIP (Hugging Face layout): ${id} needs q/k/v projections; missing ${missing.join(', ')}_proj`);
    out[id] = concatRaw([parts.q, parts.k, parts.v], [`${id}(q)`, `${id}(k)`, `${id}(v)`]);
  }
  if (unknown.length) throw new Error(`CLIP (Hugging Face layout): unexpected keys ${unknown.join(', ')}`);
  return out;
}

/** OpenAI CLIP state_dict shapes (torch layout) for a config; `towers` limits which towers are expected. */
export function clipExpectedShapes(cfg: CLIPConfig, towers: { text: boolean; vision: boolean }): Record<string, number[]> {
  const s: Record<string, number[]> = {};
  const block = (p: string, w: number, mlp: number) => {
    s[`${p}.ln_1.weight`] = [w];
    s[`${p}.ln_1.bias`] = [w];
    s[`${p}.attn.in_proj_weight`] = [3 * w, w];
    s[`${p}.attn.in_proj_bias`] = [3 * w];
    s[`${p}.attn.out_proj.weight`] = [w, w];
    s[`${p}.attn.out_proj.bias`] = [w];
    s[`${p}.ln_2.weight`] = [w];
    s[`${p}.ln_2.bias`] = [w];
    s[`${p}.mlp.c_fc.weight`] = [mlp, w];
    s[`${p}.mlp.c_fc.bias`] = [mlp];
    s[`${p}.mlp.c_proj.weight`] = [w, mlp];
    s[`${p}.mlp.c_proj.bias`] = [w];
  };
  if (towers.text) {
    const t = cfg.text;
    s['token_embedding.weight'] = [t.vocabSize, t.width];
    s.positional_embedding = [t.contextLength, t.width];
    for (let i = 0; i < t.layers; i++) block(`transformer.resblocks.${i}`, t.width, t.mlpWidth);
    s['ln_final.weight'] = [t.width];
    s['ln_final.bias'] = [t.width];
    s.text_projection = [t.width, cfg.embedDim];
  }
  if (towers.vision) {
    const v = cfg.vision;
    const grid = v.imageSize / v.patchSize;
    s['visual.conv1.weight'] = [v.width, 3, v.patchSize, v.patchSize];
    s['visual.class_embedding'] = [v.width];
    s['visual.positional_embedding'] = [grid * grid + 1, v.width];
    s['visual.ln_pre.weight'] = [v.width];
    s['visual.ln_pre.bias'] = [v.width];
    for (let i = 0; i < v.layers; i++) block(`visual.transformer.resblocks.${i}`, v.width, v.mlpWidth);
    s['visual.ln_post.weight'] = [v.width];
    s['visual.ln_post.bias'] = [v.width];
    s['visual.proj'] = [v.width, cfg.embedDim];
  }
  if (towers.text && towers.vision) s.logit_scale = [];
  return s;
}

function countBlocks(sd: StateDict, re: RegExp): number {
  let n = 0;
  for (const k of Object.keys(sd)) {
    const m = re.exec(k);
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  return n;
}

/**
 * CLIPConfig from an OpenAI state dict, as clip/model.py build_model infers it; heads default to width / 64 as
 * there (pass `heads` for models built with other head counts, e.g. the parity fixture's).
 */
export function clipConfigFromOpenAI(sd: StateDict, heads: { text?: number; vision?: number } = {}): CLIPConfig {
  const get = (k: string) => sd[k]?.shape;
  const tok = get('token_embedding.weight');
  const conv = get('visual.conv1.weight');
  if (!tok && !conv) throw new Error('CLIP (OpenAI layout): neither token_embedding.weight nor visual.conv1.weight found');
  const embedDim = get('text_projection')?.[1] ?? get('visual.proj')?.[1] ?? 512;
  const tw = get('ln_final.weight')?.[0] ?? tok?.[1] ?? 512;
  const vw = conv?.[0] ?? 768;
  const patch = conv?.[3] ?? 32;
  const posRows = get('visual.positional_embedding')?.[0] ?? 50;
  const grid = Math.round(Math.sqrt(posRows - 1));
  const h = (w: number, given: number | undefined, what: string) => {
    const n = given ?? Math.floor(w / 64);
    if (n < 1 || w % n !== 0) {
      throw new Error(`CLIP (OpenAI layout): cannot infer ${what} heads for width ${w} (width / 64 = ${Math.floor(w / 64)}); pass heads explicitly or a config`);
    }
    return n;
  };
  return {
    embedDim,
    text: {
      vocabSize: tok?.[0] ?? 49408,
      contextLength: get('positional_embedding')?.[0] ?? 77,
      width: tw,
      heads: tok ? h(tw, heads.text, 'text') : 1,
      layers: countBlocks(sd, /^transformer\.resblocks\.(\d+)\./),
      mlpWidth: get('transformer.resblocks.0.mlp.c_fc.weight')?.[0] ?? 4 * tw,
      act: 'quick_gelu',
      eps: 1e-5,
      pool: 'argmax',
    },
    vision: {
      imageSize: grid * patch,
      patchSize: patch,
      width: vw,
      heads: conv ? h(vw, heads.vision, 'vision') : 1,
      layers: countBlocks(sd, /^visual\.transformer\.resblocks\.(\d+)\./),
      mlpWidth: get('visual.transformer.resblocks.0.mlp.c_fc.weight')?.[0] ?? 4 * vw,
      act: 'quick_gelu',
      eps: 1e-5,
    },
  };
}

// ---------------------------------------------------------------- DINO / ViT

export type ViTLayout = 'timm' | 'hf';

export function detectVitLayout(sd: StateDict): { layout: ViTLayout; prefix: string } {
  const hf = findPrefix(sd, ['embeddings.patch_embeddings.projection.weight']);
  if (hf !== null) return { layout: 'hf', prefix: hf };
  const timm = findPrefix(sd, ['patch_embed.proj.weight']);
  if (timm !== null) return { layout: 'timm', prefix: timm };
  const some = Object.keys(sd).slice(0, 8).join(', ');
  throw new Error(
    `DINO: cannot recognise the checkpoint layout: expected timm ViT keys (patch_embed.proj.weight, blocks.N.*) or Hugging Face ` +
      `ViTModel keys (embeddings.patch_embeddings.projection.weight, encoder.layer.N.*); found ${Object.keys(sd).length} keys starting ${some}`,
  );
}

const VIT_HF_RENAMES: Array<[RegExp, string]> = [
  [/^embeddings\.cls_token$/, 'cls_token'],
  [/^embeddings\.position_embeddings$/, 'pos_embed'],
  [/^embeddings\.patch_embeddings\.projection\.(weight|bias)$/, 'patch_embed.proj.$1'],
  [/^encoder\.layer\.(\d+)\.attention\.output\.dense\.(weight|bias)$/, 'blocks.$1.attn.proj.$2'],
  [/^encoder\.layer\.(\d+)\.layernorm_before\.(weight|bias)$/, 'blocks.$1.norm1.$2'],
  [/^encoder\.layer\.(\d+)\.layernorm_after\.(weight|bias)$/, 'blocks.$1.norm2.$2'],
  [/^encoder\.layer\.(\d+)\.intermediate\.dense\.(weight|bias)$/, 'blocks.$1.mlp.fc1.$2'],
  [/^encoder\.layer\.(\d+)\.output\.dense\.(weight|bias)$/, 'blocks.$1.mlp.fc2.$2'],
  [/^layernorm\.(weight|bias)$/, 'norm.$1'],
  // Dinov2Model
  [/^encoder\.layer\.(\d+)\.norm([12])\.(weight|bias)$/, 'blocks.$1.norm$2.$3'],
  [/^encoder\.layer\.(\d+)\.mlp\.(fc[12])\.(weight|bias)$/, 'blocks.$1.mlp.$2.$3'],
  [/^encoder\.layer\.(\d+)\.layer_scale([12])\.lambda1$/, 'blocks.$1.ls$2.gamma'],
];
/** HF ViTModel / Dinov2Model keys with no counterpart in the feature network (pooler, position_ids, mask token). */
const VIT_HF_IGNORED = [/^pooler\./, /\.position_ids$/, /^embeddings\.mask_token$/];

/** Hugging Face ViTModel / Dinov2Model -> timm ViT names (torch layout); query/key/value concatenated into qkv. */
export function vitHFToTimm(sd: StateDict): StateDict {
  const out: StateDict = {};
  const unknown: string[] = [];
  const qkv = new Map<string, Record<string, RawTensor>>();
  for (const [key, t] of Object.entries(sd)) {
    if (VIT_HF_IGNORED.some((r) => r.test(key))) continue;
    const m = /^encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)\.(weight|bias)$/.exec(key);
    if (m) {
      const id = `blocks.${m[1]}.attn.qkv.${m[3]}`;
      if (!qkv.has(id)) qkv.set(id, {});
      qkv.get(id)![m[2]] = t;
      continue;
    }
    const rule = VIT_HF_RENAMES.find(([r]) => r.test(key));
    if (!rule) unknown.push(key);
    else out[key.replace(rule[0], rule[1])] = t;
  }
  for (const [id, parts] of qkv) {
    const missing = ['query', 'key', 'value'].filter((p) => !parts[p]);
    if (missing.length) throw new Error(`DINO (Hugging Face layout): ${id} needs query/key/value; missing ${missing.join(', ')}`);
    out[id] = concatRaw([parts.query, parts.key, parts.value], [`${id}(q)`, `${id}(k)`, `${id}(v)`]);
  }
  if (unknown.length) throw new Error(`DINO (Hugging Face layout): unexpected keys ${unknown.join(', ')}`);
  return out;
}

/** timm ViT state_dict shapes (torch layout) for a config. */
export function vitExpectedShapes(cfg: DINOConfig): Record<string, number[]> {
  const w = cfg.width;
  const grid = cfg.imageSize / cfg.patchSize;
  const s: Record<string, number[]> = {
    cls_token: [1, 1, w],
    pos_embed: [1, grid * grid + 1, w],
    'patch_embed.proj.weight': [w, 3, cfg.patchSize, cfg.patchSize],
    'patch_embed.proj.bias': [w],
    'norm.weight': [w],
    'norm.bias': [w],
  };
  for (let i = 0; i < cfg.layers; i++) {
    const p = `blocks.${i}`;
    s[`${p}.norm1.weight`] = [w];
    s[`${p}.norm1.bias`] = [w];
    s[`${p}.attn.qkv.weight`] = [3 * w, w];
    if (cfg.qkvBias) s[`${p}.attn.qkv.bias`] = [3 * w];
    s[`${p}.attn.proj.weight`] = [w, w];
    s[`${p}.attn.proj.bias`] = [w];
    s[`${p}.norm2.weight`] = [w];
    s[`${p}.norm2.bias`] = [w];
    s[`${p}.mlp.fc1.weight`] = [cfg.mlpWidth, w];
    s[`${p}.mlp.fc1.bias`] = [cfg.mlpWidth];
    s[`${p}.mlp.fc2.weight`] = [w, cfg.mlpWidth];
    s[`${p}.mlp.fc2.bias`] = [w];
    if (cfg.layerScale) {
      s[`${p}.ls1.gamma`] = [w];
      s[`${p}.ls2.gamma`] = [w];
    }
  }
  return s;
}

/** timm ViT config inferred from the weights (heads cannot be inferred: default width / 64 as DINO's ViTs). */
export function dinoConfigFromTimmWeights(sd: StateDict, heads?: number): DINOConfig {
  const conv = sd['patch_embed.proj.weight']?.shape;
  const pos = sd.pos_embed?.shape;
  if (!conv || !pos) throw new Error('DINO (timm layout): patch_embed.proj.weight and pos_embed are required');
  const w = conv[0];
  const grid = Math.round(Math.sqrt(pos[1] - 1));
  const n = heads ?? Math.floor(w / 64);
  if (n < 1 || w % n !== 0) throw new Error(`DINO (timm layout): cannot infer heads for width ${w}; pass heads or a config`);
  return {
    imageSize: grid * conv[3],
    patchSize: conv[3],
    width: w,
    heads: n,
    layers: countBlocks(sd, /^blocks\.(\d+)\./),
    mlpWidth: sd['blocks.0.mlp.fc1.weight']?.shape[0] ?? 4 * w,
    qkvBias: 'blocks.0.attn.qkv.bias' in sd,
    act: 'gelu',
    eps: 1e-6,
    layerScale: 'blocks.0.ls1.gamma' in sd,
  };
}

// ---------------------------------------------------------------- checks and tfjs layout

/** Throw one Error listing missing, unexpected and mis-shaped keys (nothing if the state dict matches). */
export function checkStateDict(sd: StateDict, expected: Record<string, number[]>, what: string): void {
  const missing = Object.keys(expected).filter((k) => !(k in sd));
  const unexpected = Object.keys(sd).filter((k) => !(k in expected));
  const misshaped = Object.keys(expected)
    .filter((k) => k in sd && sd[k].shape.join(',') !== expected[k].join(','))
    .map((k) => `${k}: expected [${expected[k]}], found [${sd[k].shape}]`);
  if (missing.length || unexpected.length || misshaped.length) {
    const parts: string[] = [];
    const list = (xs: string[], sep: string) => (xs.length > 20 ? `${xs.slice(0, 20).join(sep)}${sep}... (${xs.length - 20} more)` : xs.join(sep));
    if (missing.length) parts.push(`missing keys (${missing.length}): ${list(missing, ', ')}`);
    if (unexpected.length) parts.push(`unexpected keys (${unexpected.length}): ${list(unexpected, ', ')}`);
    if (misshaped.length) parts.push(`mis-shaped keys (${misshaped.length}): ${list(misshaped, '; ')}`);
    throw new Error(`${what}: the weights do not match the config: ${parts.join('; ')}`);
  }
}

/** Linear weights ([out, in] in torch) stored transposed: name suffixes of both naming schemes. */
const LINEAR_SUFFIXES = [
  'attn.in_proj_weight', 'attn.out_proj.weight', 'mlp.c_fc.weight', 'mlp.c_proj.weight',
  'attn.qkv.weight', 'attn.proj.weight', 'mlp.fc1.weight', 'mlp.fc2.weight',
];
/** Conv weights (OIHW in torch) stored HWIO. */
const CONV_NAMES = ['visual.conv1.weight', 'patch_embed.proj.weight'];

/** One torch-layout tensor -> a tfjs tensor in this package's layout (transposes once, here). */
export function toTfLayout(name: string, t: RawTensor): tf.Tensor {
  return tf.tidy(() => {
    const x = tf.tensor(t.data, t.shape, t.dtype === 'int32' ? 'float32' : t.dtype);
    if (CONV_NAMES.includes(name)) return tf.transpose(x, [2, 3, 1, 0]);
    if (LINEAR_SUFFIXES.some((s) => name.endsWith(s))) return tf.transpose(x);
    return x;
  });
}

/** The inverse of toTfLayout (for exporting parameters back to a torch-layout state dict). */
export function fromTfLayout(name: string, x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    if (CONV_NAMES.includes(name)) return tf.transpose(x, [3, 2, 0, 1]);
    if (LINEAR_SUFFIXES.some((s) => name.endsWith(s))) return tf.transpose(x);
    return x.clone();
  });
}

/** Frozen (non-trainable) variables in tfjs layout for a checked torch-layout state dict. */
let instances = 0;
export function toVariables(sd: StateDict, scope: string): Map<string, tf.Variable> {
  const out = new Map<string, tf.Variable>();
  // tfjs variable names are global: give every loaded model its own scope
  scope = `${scope}_${instances++}`;
  for (const [k, t] of Object.entries(sd)) {
    const x = toTfLayout(k, t);
    out.set(k, tf.variable(x, false, `${scope}/${k}`));
    x.dispose();
  }
  return out;
}

/**
 * A seeded random state dict for the given (torch-layout) shapes, for tests and examples: LayerNorm gains 1 + 0.1 N,
 * biases and LayerNorm shifts 0.02 N, class / position embeddings and LayerScale 0.5 N / 0.1 N, every other tensor
 * N(0, 1 / fan_in) (fan_in = the product of the non-leading dims; embeddings 0.02 N as CLIP initialises them).
 */
export function randomStateDict(shapes: Record<string, number[]>, seed = 0): StateDict {
  const rng = new Rng(seed);
  const sd: StateDict = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const isNorm = /(^|\.)(ln_\w+|ln_final|norm\d?|layer_norm\d?)\.(weight|bias)$/.test(name);
    let data: Float32Array;
    if (isNorm && name.endsWith('.weight')) data = Float32Array.from(rng.normalArray(n, 1, 0.1));
    else if (isNorm || /bias$/.test(name)) data = rng.normalArray(n, 0, 0.02);
    else if (/(class_embedding|cls_token|pos_embed|positional_embedding)$/.test(name)) data = rng.normalArray(n, 0, 0.5);
    else if (/gamma$/.test(name)) data = rng.normalArray(n, 0.1, 0.01);
    else if (name === 'logit_scale') data = Float32Array.from([Math.log(1 / 0.07)]);
    else if (name === 'token_embedding.weight') data = rng.normalArray(n, 0, 0.02);
    else {
      const fanIn = shape.length > 1 ? n / shape[0] : n;
      data = rng.normalArray(n, 0, 1 / Math.sqrt(fanIn));
    }
    sd[name] = { dtype: 'float32', shape: [...shape], data, sourceDtype: 'F32' };
  }
  return sd;
}
