/**
 * The pre-LN Transformer pieces shared by CLIP (text and vision towers) and DINO (timm / HF ViT):
 * activations, linear layers, the residual block as a pure function of (tokens, params).
 *
 * Parameter tensors follow tfjs layout: a PyTorch `nn.Linear` weight [out, in] is stored transposed
 * as [in, out] (the converter transposes once at load time), so `linear(x, w, b) = x @ w + b`.
 */
import * as tf from '@tensorflow/tfjs';
import { geluErf, layerNorm, mergeHeads, scaledDotProductAttention, splitHeads } from '@ganzoo/core';
import { fromTfLayout } from './convert';

export type Activation = 'quick_gelu' | 'gelu';

/** QuickGELU of OpenAI CLIP (clip/model.py): x * sigmoid(1.702 x) (Hendrycks & Gimpel 2016, sec. 2 approximation). */
export function quickGelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(tf.mul(x, 1.702))));
}

export function activation(x: tf.Tensor, act: Activation): tf.Tensor {
  if (act === 'quick_gelu') return quickGelu(x);
  if (act === 'gelu') return geluErf(x); // exact erf GELU, core (Hendrycks & Gimpel 2016)
  throw new Error(`activation: expected 'quick_gelu' or 'gelu', found '${act}'`);
}

/** x [..., in] @ w [in, out] + b [out]. */
export function linear(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const inDim = x.shape[x.shape.length - 1];
    if (w.rank !== 2 || w.shape[0] !== inDim) {
      throw new Error(`linear: expected a weight [${inDim}, out] for input [..., ${inDim}], found weight [${w.shape}]`);
    }
    const lead = x.shape.slice(0, -1);
    let y = tf.matMul(tf.reshape(x, [-1, inDim]), w);
    if (b) y = tf.add(y, b);
    return tf.reshape(y, [...lead, w.shape[1] as number]);
  });
}

/** The tensors of one pre-LN residual block (names of the roles, not of a checkpoint). */
export interface BlockParams {
  ln1Weight: tf.Tensor;
  ln1Bias: tf.Tensor;
  /** fused q|k|v projection [D, 3D] (columns 0..D-1 = q) and its bias [3D] (optional: qkv_bias=False). */
  qkvWeight: tf.Tensor;
  qkvBias?: tf.Tensor;
  outWeight: tf.Tensor;
  outBias?: tf.Tensor;
  ln2Weight: tf.Tensor;
  ln2Bias: tf.Tensor;
  fc1Weight: tf.Tensor;
  fc1Bias?: tf.Tensor;
  fc2Weight: tf.Tensor;
  fc2Bias?: tf.Tensor;
  /** LayerScale (Touvron et al. 2021, CaiT eq. 3; DINOv2): per-channel gains of the attention / MLP branches. */
  ls1?: tf.Tensor;
  ls2?: tf.Tensor;
}

export interface BlockOptions {
  heads: number;
  act: Activation;
  /** LayerNorm epsilon (CLIP 1e-5, timm ViT 1e-6, HF ViT config.layer_norm_eps). */
  eps: number;
  /** Additive attention mask broadcastable to [B, H, L, L] (e.g. CLIP's causal mask). */
  mask?: tf.Tensor;
}

/**
 * One pre-LN Transformer block (Vaswani et al. 2017 with the pre-norm placement of Radford et al. 2019 / ViT):
 * x = x + Attn(LN1(x)); x = x + MLP(LN2(x)). x: [B, L, D]. Differentiable w.r.t. x and the params.
 */
export function transformerBlock(x: tf.Tensor3D, p: BlockParams, o: BlockOptions): tf.Tensor3D {
  return tf.tidy(() => {
    const [, , d] = x.shape;
    if (p.qkvWeight.shape[0] !== d || p.qkvWeight.shape[1] !== 3 * d) {
      throw new Error(`transformerBlock: expected qkv weight [${d}, ${3 * d}] for tokens of width ${d}, found [${p.qkvWeight.shape}]`);
    }
    const h = layerNorm(x, p.ln1Weight, p.ln1Bias, o.eps);
    const qkv = linear(h, p.qkvWeight, p.qkvBias);
    const [q, k, v] = tf.split(qkv, 3, -1);
    const attn = scaledDotProductAttention(splitHeads(q, o.heads), splitHeads(k, o.heads), splitHeads(v, o.heads), { mask: o.mask });
    let a = linear(mergeHeads(attn), p.outWeight, p.outBias);
    if (p.ls1) a = tf.mul(a, p.ls1);
    const x1 = tf.add(x, a);
    const h2 = layerNorm(x1, p.ln2Weight, p.ln2Bias, o.eps);
    let m = linear(activation(linear(h2, p.fc1Weight, p.fc1Bias), o.act), p.fc2Weight, p.fc2Bias);
    if (p.ls2) m = tf.mul(m, p.ls2);
    return tf.add(x1, m) as tf.Tensor3D;
  });
}

export type PatchEmbedImpl = 'matmul' | 'conv';

/**
 * Non-overlapping patch embedding (ViT's conv with kernel = stride = p, 'valid'): x [B, H, W, C], w HWIO
 * [p, p, C, D] -> [B, H/p, W/p, D]. 'matmul' (default) cuts patches with reshapes and does one matmul (the same
 * sums; far faster than conv on wasm, whose conv backprop is slow); 'conv' is the reference path.
 */
export function patchEmbedding(x: tf.Tensor4D, w: tf.Tensor4D, bias: tf.Tensor | undefined, p: number, impl: PatchEmbedImpl = 'matmul'): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, wd, c] = x.shape;
    if (w.shape[0] !== p || w.shape[1] !== p || w.shape[2] !== c) {
      throw new Error(`patch embedding: expected a weight [${p}, ${p}, ${c}, D] for ${c}-channel input, found [${w.shape}]`);
    }
    const gh = Math.floor(h / p);
    const gw = Math.floor(wd / p);
    const d = w.shape[3];
    let y: tf.Tensor4D;
    if (impl === 'conv') y = tf.conv2d(x, w, p, 'valid');
    else {
      const xc = gh * p === h && gw * p === wd ? x : tf.slice(x, [0, 0, 0, 0], [-1, gh * p, gw * p, -1]);
      const patches = tf.reshape(tf.transpose(tf.reshape(xc, [b, gh, p, gw, p, c]), [0, 1, 3, 2, 4, 5]), [b * gh * gw, p * p * c]);
      y = tf.reshape(tf.matMul(patches, tf.reshape(w, [p * p * c, d])), [b, gh, gw, d]);
    }
    return bias ? tf.add(y, bias) : y;
  });
}

/** Causal (upper-triangular -inf) additive mask [1, 1, L, L] as CLIP's text transformer builds it. */
export function causalMask(length: number): tf.Tensor4D {
  return tf.tidy(() => {
    const lower = tf.linalg.bandPart(tf.ones([length, length]), -1, 0);
    return tf.reshape(tf.mul(tf.sub(1, lower), -1e30), [1, 1, length, length]) as tf.Tensor4D;
  });
}

/** Flat map of named parameters (frozen tf.Variables) with lookups that name what is missing. */
export class ParamMap {
  readonly vars: Map<string, tf.Variable>;
  constructor(vars: Map<string, tf.Variable>) {
    this.vars = vars;
  }
  get(name: string): tf.Variable {
    const v = this.vars.get(name);
    if (!v) throw new Error(`parameter '${name}' not found (have ${this.vars.size} parameters)`);
    return v;
  }
  maybe(name: string): tf.Variable | undefined {
    return this.vars.get(name);
  }
  has(name: string): boolean {
    return this.vars.has(name);
  }
  keys(): string[] {
    return [...this.vars.keys()];
  }
  /** The parameters back in torch layout under their official names (Linear [out, in], conv OIHW); caller disposes. */
  stateDict(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const [k, v] of this.vars) out[k] = fromTfLayout(k, v);
    return out;
  }
  /** Record view (name -> variable). */
  toRecord(): Record<string, tf.Variable> {
    return Object.fromEntries(this.vars);
  }
  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}

/** Parameter-name suffixes of one block in a given naming scheme. */
export interface BlockNames {
  ln1: string;
  qkv: string;
  out: string;
  ln2: string;
  fc1: string;
  fc2: string;
  /** weight / bias suffixes for the fused qkv ('in_proj_weight' in OpenAI CLIP). */
  qkvWeight: string;
  qkvBias: string;
}

/** OpenAI CLIP ResidualAttentionBlock names (`transformer.resblocks.N.*`). */
export const OPENAI_BLOCK: BlockNames = {
  ln1: 'ln_1', qkv: 'attn', out: 'attn.out_proj', ln2: 'ln_2', fc1: 'mlp.c_fc', fc2: 'mlp.c_proj',
  qkvWeight: 'in_proj_weight', qkvBias: 'in_proj_bias',
};

/** timm VisionTransformer Block names (`blocks.N.*`), also facebookresearch/dino's. */
export const TIMM_BLOCK: BlockNames = {
  ln1: 'norm1', qkv: 'attn.qkv', out: 'attn.proj', ln2: 'norm2', fc1: 'mlp.fc1', fc2: 'mlp.fc2',
  qkvWeight: 'weight', qkvBias: 'bias',
};

/** Collect the BlockParams of the block at `prefix` (e.g. 'visual.transformer.resblocks.3'). */
export function blockParams(params: ParamMap, prefix: string, n: BlockNames): BlockParams {
  return {
    ln1Weight: params.get(`${prefix}.${n.ln1}.weight`),
    ln1Bias: params.get(`${prefix}.${n.ln1}.bias`),
    qkvWeight: params.get(`${prefix}.${n.qkv}.${n.qkvWeight}`),
    qkvBias: params.maybe(`${prefix}.${n.qkv}.${n.qkvBias}`),
    outWeight: params.get(`${prefix}.${n.out}.weight`),
    outBias: params.maybe(`${prefix}.${n.out}.bias`),
    ln2Weight: params.get(`${prefix}.${n.ln2}.weight`),
    ln2Bias: params.get(`${prefix}.${n.ln2}.bias`),
    fc1Weight: params.get(`${prefix}.${n.fc1}.weight`),
    fc1Bias: params.maybe(`${prefix}.${n.fc1}.bias`),
    fc2Weight: params.get(`${prefix}.${n.fc2}.weight`),
    fc2Bias: params.maybe(`${prefix}.${n.fc2}.bias`),
    ls1: params.maybe(`${prefix}.ls1.gamma`),
    ls2: params.maybe(`${prefix}.ls2.gamma`),
  };
}
