/**
 * StyleGAN-T projected discriminator (networks/discriminator.py): a frozen DINO ViT gives 5 token features
 * (blocks 2, 5, 8, 11 + the embedding stage, AddReadout); five trainable DiscHeads map them, conditioned on the
 * text embedding, to logits [B, 5 N]. Token features are channels-last [B, N, E] (the official [B, E, N] transposed).
 */
import * as tf from '@tensorflow/tfjs';
import { diffAugment, spectralNormalize, tfSeed } from '@ganzoo/core';
import { addReadout, DINO, resizeImages } from '@ganzoo/encoders';
import { ResolvedConfig } from './config';
import { Init, makeVariable, ParamMap } from './params';

/** Official shapes (torch layout) of the D-head keys (model_D.safetensors minus dino.*). */
export function discriminatorShapes(cfg: ResolvedConfig): Record<string, number[]> {
  const E = cfg.dino.embed_dim;
  const M = cfg.dino.cmap_dim;
  const c = cfg.dCDim;
  const s: Record<string, number[]> = {};
  for (let h = 0; h < cfg.dino.n_hooks; h++) {
    const p = `heads.${h}`;
    const sn = (q: string, o: number, i: number, k: number): void => {
      s[`${q}.weight_orig`] = [o, i, k];
      s[`${q}.bias`] = [o];
      s[`${q}.weight_u`] = [o];
      s[`${q}.weight_v`] = [i * k];
    };
    sn(`${p}.main.0.0`, E, E, 1);
    s[`${p}.main.0.1.weight`] = [E];
    s[`${p}.main.0.1.bias`] = [E];
    sn(`${p}.main.1.fn.0`, E, E, 9);
    s[`${p}.main.1.fn.1.weight`] = [E];
    s[`${p}.main.1.fn.1.bias`] = [E];
    if (c > 0) {
      s[`${p}.cmapper.weight`] = [M, c];
      s[`${p}.cmapper.bias`] = [M];
      sn(`${p}.cls`, M, E, 1);
    } else {
      sn(`${p}.cls`, 1, E, 1);
    }
  }
  return s;
}

/** Spectral-norm power-iteration vectors are buffers (updated in training by assignment, not by the optimiser). */
export function isDiscriminatorBuffer(name: string): boolean {
  return /weight_[uv]$/.test(name);
}

/** Fresh head parameters: torch Conv1d default init (U(+-1/sqrt(fan_in))), random unit u / v, BN (1, 0), FC randn. */
export function initDiscriminatorParams(cfg: ResolvedConfig, seed: number, scope = 'D'): ParamMap {
  const init = new Init(seed);
  const shapes = discriminatorShapes(cfg);
  const p: ParamMap = {};
  const add = (name: string, t: tf.Tensor): void => {
    p[name] = makeVariable(scope, name, t, !isDiscriminatorBuffer(name));
    t.dispose();
  };
  for (const [name, shape] of Object.entries(shapes)) {
    if (name.endsWith('.weight_orig')) {
      const [o, i, k] = shape;
      const bound = 1 / Math.sqrt(i * k);
      add(name, init.uniform([k, i, o], -bound, bound));
      add(name.replace(/weight_orig$/, 'bias'), init.uniform([o], -bound, bound));
    } else if (/weight_[uv]$/.test(name)) {
      add(name, tf.tidy(() => {
        const r = init.randn(shape);
        return tf.div(r, tf.maximum(tf.norm(r), 1e-12));
      }));
    } else if (/main\.\d(\.fn)?\.1\.weight$/.test(name) || /main\.0\.1\.weight$/.test(name)) {
      add(name, tf.ones(shape));
    } else if (name.endsWith('.cmapper.weight')) {
      add(name, init.randn([shape[1], shape[0]]));
    } else if (!(name in p)) {
      add(name, tf.zeros(shape));
    }
  }
  return p;
}

/** BatchNormLocal: batch statistics in ceil(B / virtual_bs) groups over (samples, tokens), biased var, always (also in eval). */
export function batchNormLocal(x: tf.Tensor3D, weight: tf.Tensor, bias: tf.Tensor, virtualBs = 8, eps = 1e-5): tf.Tensor3D {
  const [b, n, c] = x.shape;
  const g = Math.ceil(b / virtualBs);
  if (b % g !== 0) throw new Error(`BatchNormLocal: batch ${b} does not split into ${g} equal groups of <= ${virtualBs}`);
  return tf.tidy(() => {
    const xg = tf.reshape(x, [g, b / g, n, c]);
    const { mean, variance } = tf.moments(xg, [1, 2], true);
    const y = tf.div(tf.sub(xg, mean), tf.sqrt(tf.add(variance, eps)));
    return tf.add(tf.mul(tf.reshape(y, [b, n, c]), weight), bias) as tf.Tensor3D;
  });
}

export interface HeadOptions {
  /** Training mode: one spectral-norm power iteration per call, u / v written back (torch train mode). */
  training?: boolean;
  capture?: Record<string, tf.Tensor>;
}

export class DiscriminatorHeads {
  constructor(readonly cfg: ResolvedConfig, readonly params: ParamMap) {}

  private P(name: string): tf.Variable {
    const v = this.params[name];
    if (!v) throw new Error(`StyleGAN-T discriminator: parameter '${name}' is missing`);
    return v;
  }

  /** W / sigma(W) of a SpectralConv1d (Miyato et al. 2018, eq. 8); training runs one power iteration and stores u, v. */
  private snWeight(q: string, training: boolean): tf.Tensor3D {
    const u = this.P(`${q}.weight_u`);
    const v = this.P(`${q}.weight_v`);
    const r = spectralNormalize(this.P(`${q}.weight_orig`), u, v, { eps: 1e-12, iterations: training ? 1 : 0 });
    if (training) {
      u.assign(r.u);
      v.assign(r.v);
    }
    tf.dispose([r.u, r.v, r.sigma]);
    return r.weight as tf.Tensor3D;
  }

  /** SpectralConv1d with circular padding k//2 (padding_mode='circular'). */
  private conv(q: string, x: tf.Tensor3D, training: boolean): tf.Tensor3D {
    const w = this.snWeight(q, training);
    const k = w.shape[0];
    const p = Math.floor(k / 2);
    let xp = x;
    if (p > 0) {
      const n = x.shape[1];
      xp = tf.concat([tf.slice(x, [0, n - p, 0], [-1, p, -1]), x, tf.slice(x, [0, 0, 0], [-1, p, -1])], 1);
    }
    // conv1d as one GEMM over the k shifted token windows ([B, N, k C] x [k C, O]): the same sums as tf.conv1d, and
    // its gradients are matMul / slice only (fast on every backend, no Conv2DBackpropFilter).
    const [b, n] = x.shape;
    const cin = w.shape[1];
    const cols = k === 1 ? xp : tf.concat(Array.from({ length: k }, (_, j) => tf.slice(xp, [0, j, 0], [-1, n, -1])), 2);
    const y = tf.matMul(tf.reshape(cols, [b * n, k * cin]) as tf.Tensor2D, tf.reshape(w, [k * cin, -1]) as tf.Tensor2D);
    return tf.add(tf.reshape(y, [b, n, -1]), this.P(`${q}.bias`)) as tf.Tensor3D;
  }

  /** make_block: SpectralConv1d -> BatchNormLocal -> LeakyReLU(0.2). */
  private block(q: string, bn: string, x: tf.Tensor3D, training: boolean): tf.Tensor3D {
    const y = this.conv(q, x, training);
    return tf.leakyRelu(batchNormLocal(y, this.P(`${bn}.weight`), this.P(`${bn}.bias`)), 0.2) as tf.Tensor3D;
  }

  /** DiscHead k on features x [B, N, E] and text c [B, c_dim]: projection logits [B, N] (Miyato & Koyama 2018). */
  head(k: number, x: tf.Tensor3D, c: tf.Tensor2D | null, opts: HeadOptions = {}): tf.Tensor2D {
    const training = !!opts.training;
    const p = `heads.${k}`;
    const cap = opts.capture;
    return tf.tidy(() => {
      const h0 = this.block(`${p}.main.0.0`, `${p}.main.0.1`, x, training);
      if (cap) cap[`heads.${k}.main0`] = tf.keep(h0.clone());
      // ResidualBlock: (f(x) + x) / sqrt(2)
      const h = tf.div(tf.add(this.block(`${p}.main.1.fn.0`, `${p}.main.1.fn.1`, h0, training), h0), Math.SQRT2) as tf.Tensor3D;
      if (cap) cap[`heads.${k}.main`] = tf.keep(h.clone());
      let out = this.conv(`${p}.cls`, h, training); // [B, N, M]
      if (cap) cap[`heads.${k}.cls`] = tf.keep(out.clone());
      if (this.cfg.dCDim > 0) {
        if (!c) throw new Error('StyleGAN-T discriminator: a text embedding is required (conditional D)');
        const wc = this.P(`${p}.cmapper.weight`);
        const cmap = tf.add(tf.matMul(c, tf.mul(wc, 1 / Math.sqrt(this.cfg.dCDim)) as tf.Tensor2D), this.P(`${p}.cmapper.bias`)); // [B, M]
        if (cap) cap[`heads.${k}.cmap`] = tf.keep(cmap.clone());
        const M = this.cfg.dino.cmap_dim;
        out = tf.mul(tf.sum(tf.mul(out, tf.expandDims(cmap, 1)), 2, true), 1 / Math.sqrt(M)) as tf.Tensor3D;
      }
      if (cap) cap[`heads.${k}.out`] = tf.keep(out.clone());
      return tf.reshape(out, [x.shape[0], -1]) as tf.Tensor2D;
    });
  }

  /** All heads on their features; logits [B, sum N_k] (cat over heads 0..n-1). */
  forward(features: tf.Tensor3D[], c: tf.Tensor2D | null, opts: HeadOptions = {}): tf.Tensor2D {
    const n = this.cfg.dino.n_hooks;
    if (features.length !== n) throw new Error(`StyleGAN-T discriminator: expected ${n} feature tensors, got ${features.length}`);
    const E = this.cfg.dino.embed_dim;
    const B = features[0].shape[0];
    for (const f of features) {
      if (f.rank !== 3 || f.shape[2] !== E || f.shape[0] !== B) throw new Error(`StyleGAN-T discriminator: features must be [${B}, N, ${E}], got [${f.shape}]`);
    }
    if (this.cfg.dCDim > 0 && (!c || c.rank !== 2 || c.shape[0] !== B || c.shape[1] !== this.cfg.dCDim)) {
      throw new Error(`StyleGAN-T discriminator: text embedding must be [${B}, ${this.cfg.dCDim}], got ${c ? `[${c.shape}]` : 'none'}`);
    }
    return tf.tidy(() => tf.concat(features.map((f, k) => this.head(k, f, c, opts)), 1) as tf.Tensor2D);
  }
}

/** The frozen feature network the heads read: images already in [0, 1] at any size -> n_hooks features [B, N, E]. */
export type FeatureExtractor = (x01: tf.Tensor4D) => tf.Tensor3D[];


/** DINO hooks of the official D: blocks 2, 5, 8, 11 and the embedding stage (pos_drop output), in head order 0..4. */
export const DINO_HOOKS: Array<number | 'embed'> = [2, 5, 8, 11, 'embed'];

export interface DForwardOptions extends HeadOptions {
  /** Seed of DiffAugment and the random crop (reproducible randomness). */
  seed?: number;
  /** Apply DiffAugment('color,translation,cutout'); default: the config's D.diffaug (the official forward applies it whenever enabled). */
  augment?: boolean;
  /** Probability of the 224 random crop for larger inputs; default the config's D.p_crop. */
  pCrop?: number;
}

/**
 * ProjectedDiscriminator forward: [DiffAugment] -> (x + 1) / 2 -> [random crop to 224 with prob p_crop when larger]
 * -> area resize to 224 -> ImageNet normalisation -> DINO hooks -> AddReadout -> five heads -> logits [B, 5 N].
 */
export class ProjectedDiscriminator {
  constructor(readonly cfg: ResolvedConfig, readonly heads: DiscriminatorHeads, readonly dino: DINO) {
    const dc = dino.config;
    if (dc.width !== cfg.dino.embed_dim) throw new Error(`StyleGAN-T D: DINO width ${dc.width} does not match dino.embed_dim ${cfg.dino.embed_dim} of the config`);
    if (dc.layers < 12) throw new Error(`StyleGAN-T D: the DINO hooks need 12 blocks (2, 5, 8, 11), the given DINO has ${dc.layers}`);
    if (cfg.dino.n_hooks !== DINO_HOOKS.length) throw new Error(`StyleGAN-T D: dino.n_hooks must be ${DINO_HOOKS.length}, found ${cfg.dino.n_hooks}`);
  }

  /** The five token features [B, N, E] of images in [0, 1] (DINO.forward of the official code). */
  features(x01: tf.Tensor4D): tf.Tensor3D[] {
    const res = this.cfg.dino.img_resolution;
    return tf.tidy(() => {
      const x = resizeImages(x01, res, res, 'area');
      const out = this.dino.forward(this.dino.normalize(x), { hooks: DINO_HOOKS, posInterpolation: 'bilinear' });
      return out.hidden.map((h) => addReadout(h));
    });
  }

  forward(images: tf.Tensor4D, c: tf.Tensor2D | null, opts: DForwardOptions = {}): tf.Tensor2D {
    if (images.rank !== 4 || images.shape[3] !== 3) throw new Error(`StyleGAN-T D: expected images [B, H, W, 3] in [-1, 1], got [${images.shape}]`);
    const seed = opts.seed ?? 0;
    const augment = opts.augment ?? this.cfg.diffaug;
    const pCrop = opts.pCrop ?? this.cfg.pCrop;
    const res = this.cfg.dino.img_resolution;
    return tf.tidy(() => {
      let x = images;
      if (augment) x = diffAugment(x, { seed, policy: 'color,translation,cutout' });
      x = tf.div(tf.add(x, 1), 2) as tf.Tensor4D;
      const [, h, w] = x.shape;
      if (w > res) {
        const draws = tf.randomUniform([3], 0, 1, 'float32', tfSeed((seed ^ 0x5bd1e995) >>> 0));
        const [p, ry, rx] = Array.from(draws.dataSync());
        if (p < pCrop) {
          const top = Math.min(h - res, Math.floor(ry * (h - res + 1)));
          const left = Math.min(w - res, Math.floor(rx * (w - res + 1)));
          x = tf.slice(x, [0, top, left, 0], [-1, res, res, -1]);
        }
      }
      return this.heads.forward(this.features(x), c, opts);
    });
  }
}
