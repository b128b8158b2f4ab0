/**
 * StyleGAN-T generator (autonomousvision/stylegan-t networks/generator.py), channels-last, reference ops path:
 * MappingNetwork (2-layer MLP at lr multiplier 0.01 with the x_avg buffer; w = [x, c]), SynthesisNetwork of blocks
 * b8 .. bR, each SynthesisInput (b8, Fourier features) or an up=2 SynthesisLayer, then alternating plain / residual
 * SynthesisLayers (StyleSplit styles, modulated conv, noise, bias_act, GroupNorm + layer scale), then ToRGB (skip).
 */
import * as tf from '@tensorflow/tfjs';
import { biasAct, groupNorm, modulatedConv2d, setupFilter, tfSeed, upsample2d } from '@ganzoo/core';
import { BlockSpec, ResolvedConfig } from './config';
import { Init, makeVariable, ParamMap } from './params';

export type NoiseMode = 'const' | 'random' | 'none';

export interface SynthesisOptions {
  noiseMode?: NoiseMode;
  /** Seed of the per-layer noise when noiseMode = 'random'. */
  noiseSeed?: number;
  /** 'scale' (default) or 'fused' modulated conv (the official fused path, sample by sample). */
  modconv?: 'scale' | 'fused';
  /** If given, intermediate activations (NHWC) are stored here under the fixture's names (caller disposes). */
  capture?: Record<string, tf.Tensor>;
}

/** Official shapes (torch layout) of every G parameter / buffer, by state_dict name. */
export function generatorShapes(cfg: ResolvedConfig): Record<string, number[]> {
  const s: Record<string, number[]> = {};
  const z = cfg.zDim;
  const W = cfg.wDim;
  const k = cfg.synthesis.kernelSize;
  const f = cfg.synthesis.resampleFilter.length;
  s['mapping.x_avg'] = [z];
  for (let i = 0; i < cfg.mappingLayers; i++) {
    s[`mapping.mlp.fc${i}.weight`] = [z, z];
    s[`mapping.mlp.fc${i}.bias`] = [z];
  }
  const layer = (p: string, cin: number, cout: number, res: number, residual: boolean): void => {
    s[`${p}.weight`] = [cout, cin, k, k];
    s[`${p}.bias`] = [cout];
    s[`${p}.resample_filter`] = [f, f];
    s[`${p}.noise_const`] = [res, res];
    s[`${p}.noise_strength`] = [];
    s[`${p}.affine.proj.weight`] = [3 * cin, W];
    s[`${p}.affine.proj.bias`] = [3 * cin];
    if (residual) {
      s[`${p}.gamma`] = [1, cout, 1, 1];
      s[`${p}.norm.weight`] = [cout];
      s[`${p}.norm.bias`] = [cout];
    }
  };
  for (const b of cfg.blocks) {
    const p = `synthesis.${b.name}`;
    const C = b.outChannels;
    s[`${p}.resample_filter`] = [f, f];
    if (b.inChannels === 0) {
      s[`${p}.input.weight`] = [C, C];
      s[`${p}.input.affine.weight`] = [4, W];
      s[`${p}.input.affine.bias`] = [4];
      s[`${p}.input.transform`] = [3, 3];
      s[`${p}.input.freqs`] = [C, 2];
      s[`${p}.input.phases`] = [C];
    } else {
      layer(`${p}.conv0`, b.inChannels, C, b.res, false);
    }
    for (let i = 0; i < 2 * cfg.synthesis.numResBlocks; i++) layer(`${p}.convs1.${i}`, C, C, b.res, i % 2 === 1);
    if (b.numTorgb) {
      s[`${p}.torgb.weight`] = [cfg.imgChannels, C, 1, 1];
      s[`${p}.torgb.bias`] = [cfg.imgChannels];
      s[`${p}.torgb.affine.proj.weight`] = [3 * C, W];
      s[`${p}.torgb.affine.proj.bias`] = [3 * C];
    }
  }
  return s;
}

/** Names that are buffers (not trained by the optimiser; EMA copies them). */
export function isGeneratorBuffer(name: string): boolean {
  return /(^mapping\.x_avg$|resample_filter$|noise_const$|\.input\.(transform|freqs|phases)$)/.test(name);
}

/** Fresh parameters with the official initialisation (in our layouts), seeded. */
export function initGeneratorParams(cfg: ResolvedConfig, seed: number, scope = 'G'): ParamMap {
  const init = new Init(seed);
  const p: ParamMap = {};
  const add = (name: string, t: tf.Tensor): void => {
    p[name] = makeVariable(scope, name, t, !isGeneratorBuffer(name));
    t.dispose();
  };
  const z = cfg.zDim;
  const W = cfg.wDim;
  const k = cfg.synthesis.kernelSize;
  const lrMul = 0.01;
  add('mapping.x_avg', tf.zeros([z]));
  for (let i = 0; i < cfg.mappingLayers; i++) {
    add(`mapping.mlp.fc${i}.weight`, init.randn([z, z], 1 / lrMul));
    add(`mapping.mlp.fc${i}.bias`, tf.zeros([z]));
  }
  const filt = (): tf.Tensor => setupFilter(cfg.synthesis.resampleFilter);
  const layer = (q: string, cin: number, cout: number, res: number, residual: boolean): void => {
    add(`${q}.resample_filter`, filt());
    add(`${q}.noise_const`, init.randn([res, res]));
    add(`${q}.noise_strength`, tf.scalar(0));
    add(`${q}.affine.proj.weight`, init.randn([W, 3 * cin]));
    add(`${q}.affine.proj.bias`, tf.ones([3 * cin]));
    add(`${q}.weight`, init.randn([k, k, cin, cout]));
    add(`${q}.bias`, tf.zeros([cout]));
    if (residual) {
      add(`${q}.norm.weight`, tf.ones([cout]));
      add(`${q}.norm.bias`, tf.zeros([cout]));
      add(`${q}.gamma`, tf.fill([cout], cfg.synthesis.layerScaleInit));
    }
  };
  for (const b of cfg.blocks) {
    const q = `synthesis.${b.name}`;
    const C = b.outChannels;
    add(`${q}.resample_filter`, filt());
    if (b.inChannels === 0) {
      const freqs = tf.tidy(() => {
        const f0 = init.randn([C, 2]);
        const radii = tf.sqrt(tf.sum(tf.square(f0), 1, true));
        return tf.mul(tf.div(f0, tf.mul(radii, tf.pow(tf.exp(tf.square(radii)), 0.25))), 2);
      });
      add(`${q}.input.freqs`, freqs);
      add(`${q}.input.phases`, tf.tidy(() => tf.sub(init.uniform([C], 0, 1), 0.5)));
      add(`${q}.input.weight`, init.randn([C, C]));
      add(`${q}.input.affine.weight`, tf.zeros([W, 4]));
      add(`${q}.input.affine.bias`, tf.tensor1d([1, 0, 0, 0]));
      add(`${q}.input.transform`, tf.eye(3));
    } else {
      layer(`${q}.conv0`, b.inChannels, C, b.res, false);
    }
    for (let i = 0; i < 2 * cfg.synthesis.numResBlocks; i++) layer(`${q}.convs1.${i}`, C, C, b.res, i % 2 === 1);
    if (b.numTorgb) {
      add(`${q}.torgb.affine.proj.weight`, init.randn([W, 3 * C]));
      add(`${q}.torgb.affine.proj.bias`, tf.ones([3 * C]));
      add(`${q}.torgb.weight`, init.randn([1, 1, C, cfg.imgChannels], 0.1));
      add(`${q}.torgb.bias`, tf.zeros([cfg.imgChannels]));
    }
  }
  return p;
}

/** FullyConnectedLayer: y = x (W g_w) + b g_b with g_w = lr/sqrt(in), g_b = lr (equalised learning rate, Karras et al. 2018). */
function fc(x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor | null, lrMul = 1): tf.Tensor2D {
  const inF = w.shape[0];
  const y = tf.matMul(x, tf.mul(w, lrMul / Math.sqrt(inF)) as tf.Tensor2D);
  return (b ? tf.add(y, lrMul !== 1 ? tf.mul(b, lrMul) : b) : y) as tf.Tensor2D;
}

/** normalize_2nd_moment: z * rsqrt(mean(z^2) + 1e-8) (StyleGAN, Karras et al. 2019, pixelnorm on z). */
export function normalize2ndMoment(z: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.mul(z, tf.rsqrt(tf.add(tf.mean(tf.square(z), 1, true), 1e-8))));
}

/** StyleSplit (StyleGAN-T sec. 3.2): p = FC(w) split in thirds, s = m1 * m2 + m3. */
function styleSplit(P: ParamMap, q: string, w: tf.Tensor2D): tf.Tensor2D {
  const p = fc(w, P[`${q}.affine.proj.weight`], P[`${q}.affine.proj.bias`]);
  const [m1, m2, m3] = tf.split(p, 3, 1);
  return tf.add(tf.mul(m1, m2), m3) as tf.Tensor2D;
}

export class Generator {
  constructor(readonly cfg: ResolvedConfig, readonly params: ParamMap) {}

  private P(name: string): tf.Variable {
    const v = this.params[name];
    if (!v) throw new Error(`StyleGAN-T generator: parameter '${name}' is missing`);
    return v;
  }

  /**
   * MappingNetwork: x = mlp(normalize_2nd_moment(z)); in training x_avg <- lerp(mean x, x_avg, 0.995);
   * truncation x <- x_avg + psi (x - x_avg) on the z part only; w = [x, c] (StyleGAN-T eq. for w, sec. 3.2).
   * Returns w [B, w_dim] (every ws row is this vector).
   */
  mapping(z: tf.Tensor2D, c: tf.Tensor2D | null, psi = 1, opts: { training?: boolean; capture?: Record<string, tf.Tensor> } = {}): tf.Tensor2D {
    const { zDim, cDim } = this.cfg;
    if (z.rank !== 2 || z.shape[1] !== zDim) throw new Error(`StyleGAN-T mapping: z must be [B, ${zDim}], got [${z.shape}]`);
    if (cDim > 0) {
      if (!c) throw new Error(`StyleGAN-T mapping: a text embedding c [B, ${cDim}] is required (conditional G)`);
      if (c.rank !== 2 || c.shape[1] !== cDim || c.shape[0] !== z.shape[0]) {
        throw new Error(`StyleGAN-T mapping: text embedding must be [${z.shape[0]}, ${cDim}], got [${c.shape}]`);
      }
    }
    if (!(psi >= 0 && psi <= 1)) throw new Error(`StyleGAN-T: truncation psi must be in [0, 1], got ${psi}`);
    const cap = opts.capture;
    return tf.tidy(() => {
      const zn = normalize2ndMoment(z);
      if (cap) cap['mapping.z_normalized'] = tf.keep(zn.clone());
      let x = zn as tf.Tensor2D;
      for (let i = 0; i < this.cfg.mappingLayers; i++) {
        const last = i === this.cfg.mappingLayers - 1;
        x = fc(x, this.P(`mapping.mlp.fc${i}.weight`), last ? this.P(`mapping.mlp.fc${i}.bias`) : null, 0.01);
        if (!last) x = biasAct(x, tf.mul(this.P(`mapping.mlp.fc${i}.bias`), 0.01), { act: 'lrelu' }) as tf.Tensor2D;
      }
      if (cap) cap['mapping.mlp_out'] = tf.keep(x.clone());
      const xAvg = this.P('mapping.x_avg');
      if (opts.training) {
        // x_avg <- mean_B(x).lerp(x_avg, 0.995): the running mean used by truncation (StyleGAN w_avg).
        const m = tf.mean(x, 0); // assign() is outside the gradient tape
        xAvg.assign(tf.add(m, tf.mul(tf.sub(xAvg, m), 0.995)));
      }
      if (psi !== 1) x = tf.add(xAvg, tf.mul(tf.sub(x, xAvg), psi)) as tf.Tensor2D; // truncation trick (Karras et al. 2019, eq. 3)
      const w = cDim > 0 ? (tf.concat([x, c as tf.Tensor2D], 1) as tf.Tensor2D) : x;
      if (cap) cap['mapping.ws'] = tf.keep(w.clone());
      return w;
    });
  }

  /** SynthesisInput: Fourier features with a w-predicted rotation / translation (StyleGAN3, Karras et al. 2021, sec. 3.1). */
  private synthesisInput(q: string, b: BlockSpec, w: tf.Tensor2D): tf.Tensor4D {
    const C = b.outChannels;
    const size = b.res;
    const samplingRate = b.res;
    const bandwidth = 2;
    const B = w.shape[0];
    let t = fc(w, this.P(`${q}.affine.weight`), this.P(`${q}.affine.bias`));
    t = tf.div(t, tf.norm(tf.slice(t, [0, 0], [-1, 2]), 'euclidean', 1, true));
    const [rc, rs, tx, ty] = tf.unstack(t, 1);
    const zero = tf.zerosLike(rc);
    const one = tf.onesLike(rc);
    const mr = tf.reshape(tf.stack([rc, tf.neg(rs), zero, rs, rc, zero, zero, zero, one], 1), [B, 3, 3]);
    const mt = tf.reshape(tf.stack([one, zero, tf.neg(tx), zero, one, tf.neg(ty), zero, zero, one], 1), [B, 3, 3]);
    const T = tf.matMul(tf.matMul(mr, mt), tf.tile(tf.expandDims(this.P(`${q}.transform`), 0), [B, 1, 1])) as tf.Tensor3D;
    const freqs0 = this.P(`${q}.freqs`); // [C, 2]
    const phases = tf.add(this.P(`${q}.phases`), tf.matMul(tf.reshape(tf.slice(T, [0, 0, 2], [-1, 2, 1]), [B, 2]), freqs0, false, true)); // [B, C]
    const freqs = tf.matMul(tf.tile(tf.expandDims(freqs0, 0), [B, 1, 1]), tf.slice(T, [0, 0, 0], [-1, 2, 2])) as tf.Tensor3D; // [B, C, 2]
    const amplitudes = tf.clipByValue(tf.sub(1, tf.div(tf.sub(tf.norm(freqs, 'euclidean', 2), bandwidth), samplingRate / 2 - bandwidth)), 0, 1); // [B, C]
    // affine_grid(theta = diag(0.5 size / sr), align_corners=False): pixel centres ((2i+1)/size - 1) * 0.5 size / sr.
    const g: number[] = [];
    const scale = (0.5 * size) / samplingRate;
    for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) g.push(((2 * j + 1) / size - 1) * scale, ((2 * i + 1) / size - 1) * scale);
    const grid = tf.tile(tf.tensor3d(g, [1, size * size, 2]), [B, 1, 1]);
    let x = tf.matMul(grid, freqs, false, true); // [B, HW, C]
    x = tf.add(x, tf.expandDims(phases, 1));
    x = tf.mul(tf.sin(tf.mul(x, Math.PI * 2)), tf.expandDims(amplitudes, 1));
    x = tf.matMul(x, tf.tile(tf.expandDims(tf.div(this.P(`${q}.weight`), Math.sqrt(C)), 0), [B, 1, 1]));
    return tf.reshape(x, [B, size, size, C]) as tf.Tensor4D;
  }

  /** SynthesisLayer: styles, [GroupNorm], modulated conv (+noise), bias_act, [(gamma y + x_n) sqrt 2]. */
  private synthesisLayer(q: string, x: tf.Tensor4D, w: tf.Tensor2D, res: number, up: number, residual: boolean, gain: number, opts: SynthesisOptions, layerIndex: number): tf.Tensor4D {
    const s = this.cfg.synthesis;
    const styles = styleSplit(this.params, q, w);
    const xn = residual ? (groupNorm(x, s.gnGroups, this.P(`${q}.norm.weight`), this.P(`${q}.norm.bias`), 1e-5) as tf.Tensor4D) : x;
    let noise: tf.Tensor | null = null;
    const mode = opts.noiseMode ?? 'const';
    const strength = this.P(`${q}.noise_strength`);
    if (mode === 'const') noise = tf.mul(tf.reshape(this.P(`${q}.noise_const`), [1, res, res, 1]), strength);
    else if (mode === 'random') noise = tf.mul(tf.randomNormal([x.shape[0], res, res, 1], 0, 1, 'float32', tfSeed(((opts.noiseSeed ?? 0) * 1000003 + layerIndex) >>> 0)), strength);
    else if (mode !== 'none') throw new Error(`StyleGAN-T: noiseMode must be 'const', 'random' or 'none', got '${mode as string}'`);
    let y = modulatedConv2d(xn, this.P(`${q}.weight`) as tf.Tensor as tf.Tensor4D, styles, {
      noise, up, padding: Math.floor(s.kernelSize / 2), resampleFilter: this.P(`${q}.resample_filter`), flipWeight: up === 1, demodulate: true, impl: opts.modconv,
    });
    y = biasAct(y, this.P(`${q}.bias`), { act: 'lrelu', gain: Math.SQRT2 * gain, clamp: s.convClamp !== null ? s.convClamp * gain : null }) as tf.Tensor4D;
    if (residual) y = tf.mul(tf.add(tf.mul(this.P(`${q}.gamma`), y), xn), Math.SQRT2) as tf.Tensor4D;
    return y;
  }

  /** ToRGBLayer: styles / sqrt(in k^2), modulated 1x1 conv without demodulation, bias, clamp. */
  private toRGB(q: string, x: tf.Tensor4D, w: tf.Tensor2D, opts: SynthesisOptions): tf.Tensor4D {
    const weight = this.P(`${q}.weight`) as tf.Tensor as tf.Tensor4D;
    const [kh, kw, cin] = weight.shape;
    const styles = tf.mul(styleSplit(this.params, q, w), 1 / Math.sqrt(cin * kh * kw)) as tf.Tensor2D;
    const y = modulatedConv2d(x, weight, styles, { demodulate: false, impl: opts.modconv });
    return biasAct(y, this.P(`${q}.bias`), { act: 'linear', clamp: this.cfg.synthesis.convClamp }) as tf.Tensor4D;
  }

  /** SynthesisNetwork: w [B, w_dim] (broadcast to every layer) or ws [B, num_ws, w_dim]; returns img [B, R, R, 3] (no tanh). */
  synthesis(wOrWs: tf.Tensor, opts: SynthesisOptions = {}): tf.Tensor4D {
    const { wDim, numWs, blocks, synthesis: s } = this.cfg;
    if (!((wOrWs.rank === 2 && wOrWs.shape[1] === wDim) || (wOrWs.rank === 3 && wOrWs.shape[1] === numWs && wOrWs.shape[2] === wDim))) {
      throw new Error(`StyleGAN-T synthesis: expected w [B, ${wDim}] or ws [B, ${numWs}, ${wDim}], got [${wOrWs.shape}]`);
    }
    const cap = opts.capture;
    const keep = (name: string, t: tf.Tensor): void => {
      if (cap) cap[name] = tf.keep(t.clone());
    };
    return tf.tidy(() => {
      const rows: tf.Tensor2D[] = wOrWs.rank === 3 ? (tf.unstack(wOrWs, 1) as tf.Tensor2D[]) : [];
      const wAt = (i: number): tf.Tensor2D => (wOrWs.rank === 3 ? rows[i] : (wOrWs as tf.Tensor2D));
      let wIdx = 0;
      let layerIndex = 0;
      let x: tf.Tensor4D | null = null;
      let img: tf.Tensor4D | null = null;
      for (const b of blocks) {
        const q = `synthesis.${b.name}`;
        let k = wIdx;
        if (b.inChannels === 0) {
          x = this.synthesisInput(`${q}.input`, b, wAt(k++));
          keep(`${b.name}.input`, x);
        } else {
          x = this.synthesisLayer(`${q}.conv0`, x as tf.Tensor4D, wAt(k++), b.res, 2, false, 1, opts, layerIndex++);
          keep(`${b.name}.conv0`, x);
        }
        for (let i = 0; i < 2 * s.numResBlocks; i++) {
          const residual = i % 2 === 1;
          x = this.synthesisLayer(`${q}.convs1.${i}`, x, wAt(k++), b.res, 1, residual, Math.SQRT1_2, opts, layerIndex++);
          keep(`${b.name}.convs1.${i}${residual ? '.residual' : ''}`, x);
        }
        if (img) img = upsample2d(img, this.P(`${q}.resample_filter`));
        if (b.numTorgb) {
          const y = this.toRGB(`${q}.torgb`, x, wAt(k++), opts);
          keep(`${b.name}.torgb`, y);
          img = img ? (tf.add(img, y) as tf.Tensor4D) : y;
        }
        keep(`${b.name}.x`, x);
        if (img) keep(`${b.name}.img`, img);
        wIdx += b.numConv;
      }
      return img as tf.Tensor4D;
    });
  }
}
