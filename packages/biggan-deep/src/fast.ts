/**
 * Inference fast path of the BigGAN-deep generator (same numbers as `generatorForward` in inference mode, to float32
 * rounding; test/fast.test.ts checks them against each other). Everything that does not depend on the input is
 * computed once and kept resident:
 *  - spectral norm W/σ of every layer (stored u, v as in the reference path's eval mode);
 *  - the conditional-BN projections of all layers as ONE matrix cond → [scale | offset] of every BN (one matmul per
 *    call instead of two small ones per BN, which tfjs-wasm runs at a few GFLOP/s);
 *  - per truncation (the last one used): the BN statistics folded into a per-channel affine a = 1/√(σ²+ε), b = −μ·a, so that the
 *    conditional BN BN(x)·(1+γ(c))+β(c) becomes the per-sample affine x·A + B with A = a·(1+γ), B = b·(1+γ)+β;
 *  - the conv bias folded into that affine (conv(x)+bias)·A+B = conv(x)·A + (bias·A+B); optionally (foldRatio), at
 *    batch 1 where A, B are per channel, the affine and the ReLU folded into the conv itself (tf.fused.conv2d);
 *  - attention: θ|φ|g projections as one matmul, γ folded into W_o, tf.softmax (XNNPACK on wasm) and max-pooling;
 *  - conv_to_rgb cut to the 3 kept output channels;
 *  - nearest 2× upsampling as one ResizeNearestNeighbor kernel.
 * The plan notices weight changes (training, loading) by the tensors' data ids and rebuilds itself.
 */
import * as tf from '@tensorflow/tfjs';
import { spectralNormalize, truncationStats } from '@ganzoo/core';
import { GeneratorConfig } from './config';
import { GenModule, conditionVectors, generatorModules } from './generator';
import { ParamStore } from './params';

interface BnSlot {
  prefix: string;
  channels: number;
  /** Column offset of this BN's scale (and, + total, offset) in the concatenated projection. */
  offset: number;
}

interface TruncationConsts {
  /** [N] a and b of every conditional BN, in slot order. */
  a: tf.Tensor1D;
  b: tf.Tensor1D;
  /** final plain BN folded: x·finalA + finalB. */
  finalA: tf.Tensor1D;
  finalB: tf.Tensor1D;
}

export interface FastGeneratorOptions {
  /**
   * At batch 1, fold BN affine + ReLU into the preceding conv's weights when weights.size <= foldRatio ·
   * activation size (e.g. 3: the three element-wise passes the fold saves). Default 0 (off): on tfjs-wasm it measured
   * no faster (518 vs 514 ms/img, bench/notes.md), the folded weights being repacked by XNNPACK on every call.
   */
  foldRatio?: number;
}

/** The resident inference plan of one generator (see file comment). Dispose when done. */
export class FastGenerator {
  private readonly mods: GenModule[];
  private readonly slots = new Map<string, BnSlot>();
  private totalBn = 0;
  private kept: tf.Tensor[] = [];
  private readonly w = new Map<string, tf.Tensor>();
  private proj: tf.Tensor2D | null = null;
  private readonly consts = new Map<number, TruncationConsts>();
  private signature: unknown[] = [];
  private readonly foldRatio: number;
  private builds = 0;

  constructor(private readonly store: ParamStore, private readonly g: GeneratorConfig, opts: FastGeneratorOptions = {}) {
    this.mods = generatorModules(g);
    this.foldRatio = opts.foldRatio ?? 0;
  }

  private dataIds(): unknown[] {
    return this.store.specs.map((s) => (this.store.vars[s.name] as any)?.dataId);
  }

  private stale(): boolean {
    if (this.proj === null) return true;
    const ids = this.dataIds();
    return ids.length !== this.signature.length || ids.some((d, i) => d !== this.signature[i]);
  }

  /** W/σ in inference mode (stored u, v; evalIterations power iterations), owned by this plan. */
  private snEval(prefix: string): tf.Tensor {
    const s = this.store.sn.get(prefix);
    if (!s) throw new Error(`BigGAN-deep fast path: '${prefix}' is not a spectrally normalised layer`);
    const its = s.hasV ? s.evalIterations : Math.max(1, s.evalIterations);
    const r = spectralNormalize(this.store.get(`${prefix}.weight_orig`), this.store.get(`${prefix}.weight_u`),
      s.hasV ? this.store.get(`${prefix}.weight_v`) : null, { eps: s.eps, iterations: its, outAxis: s.outAxis });
    tf.dispose([r.sigma, r.u, r.v]);
    return r.weight;
  }

  private keep<T extends tf.Tensor>(name: string, t: T): T {
    const k = tf.keep(t);
    this.kept.push(k);
    this.w.set(name, k);
    return k;
  }

  private get(name: string): tf.Tensor {
    const t = this.w.get(name);
    if (!t) throw new Error(`BigGAN-deep fast path: no prepared tensor '${name}'`);
    return t;
  }

  /** (Re)build the resident weights; called lazily by `forward` when the parameters changed. */
  build(): void {
    this.release();
    tf.tidy(() => {
      const scales: tf.Tensor[] = [];
      const offsets: tf.Tensor[] = [];
      const addBn = (prefix: string, c: number) => {
        this.slots.set(prefix, { prefix, channels: c, offset: this.totalBn });
        this.totalBn += c;
        scales.push(this.snEval(`${prefix}.scale`));
        offsets.push(this.snEval(`${prefix}.offset`));
      };
      this.totalBn = 0;
      this.keep('embed', this.store.get('embeddings.weight').clone());
      this.keep('gen_z.w', this.snEval('generator.gen_z'));
      this.keep('gen_z.b', this.store.get('generator.gen_z.bias').clone());
      for (const m of this.mods) {
        const p = `generator.layers.${m.index}`;
        if (m.kind === 'attention') {
          const mat = (t: tf.Tensor) => tf.reshape(t, [t.shape[2] as number, t.shape[3] as number]);
          this.keep(`${p}.qkv`, tf.concat([mat(this.snEval(`${p}.snconv1x1_theta`)), mat(this.snEval(`${p}.snconv1x1_phi`)),
            mat(this.snEval(`${p}.snconv1x1_g`))], 1));
          // out = x + γ·(attn W_o) = x + attn (γ W_o)
          this.keep(`${p}.o`, tf.mul(mat(this.snEval(`${p}.snconv1x1_o_conv`)), tf.reshape(this.store.get(`${p}.gamma`), [])));
          continue;
        }
        const chans = [m.cin, m.mid, m.mid, m.mid];
        for (let k = 0; k < 4; k++) {
          addBn(`${p}.bn_${k}`, chans[k]);
          this.keep(`${p}.conv_${k}.w`, this.snEval(`${p}.conv_${k}`));
          this.keep(`${p}.conv_${k}.b`, this.store.get(`${p}.conv_${k}.bias`).clone());
        }
      }
      // one projection cond -> [all scales | all offsets]
      this.proj = this.keep('proj', tf.concat([...scales, ...offsets], 1) as tf.Tensor2D);
      const rgbW = this.snEval('generator.conv_to_rgb');
      const rgbB = this.store.get('generator.conv_to_rgb.bias');
      this.keep('rgb.w', tf.slice(rgbW, [0, 0, 0, 0], [-1, -1, -1, 3]));
      this.keep('rgb.b', tf.slice(rgbB, [0], [3]));
    });
    this.signature = this.dataIds();
    this.builds++;
  }

  /**
   * Folded BN statistics for a truncation, cached for the last truncation used only (so the resident tensor count
   * does not grow with truncation sweeps).
   */
  private truncationConsts(truncation: number): TruncationConsts {
    const hit = this.consts.get(truncation);
    if (hit) return hit;
    this.clearConsts();
    const eps = this.g.bnEps;
    const c = tf.tidy(() => {
      const as: tf.Tensor[] = [];
      const bs: tf.Tensor[] = [];
      const fold = (prefix: string, gain?: tf.Tensor, bias?: tf.Tensor) => {
        const mean = truncationStats(this.store.get(`${prefix}.running_means`) as tf.Tensor2D, truncation);
        const variance = truncationStats(this.store.get(`${prefix}.running_vars`) as tf.Tensor2D, truncation);
        // (x − μ)/√(σ² + ε) = x·a + b (Ioffe & Szegedy 2015, Alg. 1), a = gain/√(σ²+ε), b = bias − μ·a
        let a: tf.Tensor = tf.rsqrt(tf.add(variance, eps));
        if (gain) a = tf.mul(gain, a);
        let b: tf.Tensor = tf.neg(tf.mul(mean, a));
        if (bias) b = tf.add(bias, b);
        return { a, b };
      };
      for (const s of this.slots.values()) {
        const r = fold(s.prefix);
        as.push(r.a);
        bs.push(r.b);
      }
      const f = fold('generator.bn', this.store.get('generator.bn.weight'), this.store.get('generator.bn.bias'));
      return {
        a: tf.keep(tf.concat(as) as tf.Tensor1D), b: tf.keep(tf.concat(bs) as tf.Tensor1D),
        finalA: tf.keep(f.a as tf.Tensor1D), finalB: tf.keep(f.b as tf.Tensor1D),
      };
    });
    this.consts.set(truncation, c);
    return c;
  }

  /** Rebuild the resident weights if the parameters changed; returns the build count (changes with every rebuild). */
  refresh(): number {
    if (this.stale()) {
      this.build();
      this.clearConsts();
    }
    return this.builds;
  }

  /** Number of builds so far: a consumer of `weight()` (e.g. the ONNX engine) rebuilds what it derived when it changes. */
  get version(): number {
    return this.builds;
  }

  /** The generator's modules, in order. */
  get modules(): readonly GenModule[] {
    return this.mods;
  }

  /**
   * A prepared (resident, owned by this plan) tensor: `{prefix}.conv_{k}.w` (W/σ, HWIO) and `.b`, `{prefix}.qkv`
   * ([C, 2·C/8 + C/2], θ|φ|g), `{prefix}.o` ([C/2, C], γ folded in), `rgb.w` ([3, 3, C, 3]), `rgb.b`, `gen_z.w`,
   * `gen_z.b`, `embed`, `proj`. Valid until the next rebuild (`refresh`) or `dispose`.
   */
  weight(name: string): tf.Tensor {
    return this.get(name);
  }

  /** Column range of a conditional BN's per-sample A/B in `conditioning()`'s [B, bnChannels] outputs. */
  bnSlot(prefix: string): { offset: number; channels: number } {
    const s = this.slots.get(prefix);
    if (!s) throw new Error(`BigGAN-deep fast path: no conditional BN '${prefix}'`);
    return { offset: s.offset, channels: s.channels };
  }

  /** Total channels over all conditional BNs (width of `conditioning()`'s a / b). */
  get bnChannels(): number {
    return this.totalBn;
  }

  /**
   * The cheap per-call part of the forward (call `refresh()` first, inside a tidy): h0 = gen_z(cond) as [B, 4, 4, C0]
   * and the per-sample affine x·A + B of every conditional BN, [B, bnChannels] each, plus the final BN's resident
   * per-channel affine (owned by this plan: do not dispose).
   */
  conditioning(z: tf.Tensor2D, classVector: tf.Tensor2D, truncation: number): { h0: tf.Tensor4D; a: tf.Tensor2D; b: tf.Tensor2D; finalA: tf.Tensor1D; finalB: tf.Tensor1D } {
    const tc = this.truncationConsts(truncation);
    const g = this.g;
    const B = z.shape[0];
    const embed = tf.matMul(classVector, this.get('embed') as tf.Tensor2D);
    const { cond, bnCond } = conditionVectors(g, z, embed as tf.Tensor2D);
    // all conditional-BN affines at once: A = a·(1 + γ(c)), B = b·(1 + γ(c)) + β(c)   (Brock et al. 2019 §3)
    const sc = tf.matMul(bnCond, this.proj!);
    const n = this.totalBn;
    const onePlus = tf.add(1, tf.slice(sc, [0, 0], [-1, n]));
    const a = tf.mul(onePlus, tc.a) as tf.Tensor2D;
    const b = tf.add(tf.mul(onePlus, tc.b), tf.slice(sc, [0, n], [-1, n])) as tf.Tensor2D;
    const c0 = g.ch * g.layers[0][1];
    const h0 = tf.reshape(tf.add(tf.matMul(cond, this.get('gen_z.w') as tf.Tensor2D), this.get('gen_z.b')), [B, 4, 4, c0]) as tf.Tensor4D;
    return { h0, a, b, finalA: tc.finalA, finalB: tc.finalB };
  }

  /** G(z, y, truncation) in inference mode -> [B, R, R, 3] in [-1, 1]; inside a tidy, only the result is left. */
  forward(z: tf.Tensor2D, classVector: tf.Tensor2D, truncation: number): tf.Tensor4D {
    this.refresh();
    return tf.tidy(() => {
      const { h0, a: allA, b: allB, finalA, finalB } = this.conditioning(z, classVector, truncation);
      const affine = (prefix: string): [tf.Tensor2D, tf.Tensor2D] => {
        const s = this.slots.get(prefix)!;
        return [tf.slice(allA, [0, s.offset], [-1, s.channels]) as tf.Tensor2D, tf.slice(allB, [0, s.offset], [-1, s.channels]) as tf.Tensor2D];
      };
      let h = h0;
      for (const m of this.mods) {
        const p = `generator.layers.${m.index}`;
        // each module in its own scope and its input freed at once: peak memory is a few activations, not all
        const next = tf.tidy(() => (m.kind === 'attention' ? this.attention(p, h) : this.block(p, m, h, affine)));
        h.dispose();
        h = next;
      }
      h = tf.relu(tf.add(tf.mul(h, finalA), finalB)) as tf.Tensor4D;
      const rgb = tf.fused.conv2d({ x: h, filter: this.get('rgb.w') as tf.Tensor4D, strides: 1, pad: 'same', bias: this.get('rgb.b') });
      return tf.tanh(rgb) as tf.Tensor4D;
    });
  }

  /** relu(x·A + B) with per-sample [B, C] A, B. */
  private affineRelu(x: tf.Tensor4D, a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor4D {
    const [n, , , c] = x.shape;
    if (n === 1) return tf.relu(tf.add(tf.mul(x, tf.reshape(a, [c])), tf.reshape(b, [c]))) as tf.Tensor4D;
    return tf.relu(tf.add(tf.mul(x, tf.reshape(a, [n, 1, 1, c])), tf.reshape(b, [n, 1, 1, c]))) as tf.Tensor4D;
  }

  /** relu((conv(x) + bias)·A + B): folded into a fused conv at batch 1 when cheaper, else conv then affine. */
  private convAffineRelu(x: tf.Tensor4D, name: string, a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor4D {
    const w = this.get(`${name}.w`) as tf.Tensor4D;
    const bias = this.get(`${name}.b`);
    const [n, hh, ww] = x.shape;
    const cout = w.shape[3];
    const act = n * hh * ww * cout;
    if (n === 1 && this.foldRatio > 0 && w.size <= this.foldRatio * act) {
      const a1 = tf.reshape(a, [cout]);
      const fw = tf.mul(w, a1) as tf.Tensor4D;
      const fb = tf.add(tf.mul(bias, a1), tf.reshape(b, [cout]));
      return tf.fused.conv2d({ x, filter: fw, strides: 1, pad: 'same', bias: fb, activation: 'relu' });
    }
    const y = tf.conv2d(x, w, 1, 'same');
    // (y + bias)·A + B = y·A + (bias·A + B)
    return this.affineRelu(y, a, tf.add(tf.mul(a, bias), b) as tf.Tensor2D);
  }

  private block(p: string, m: Extract<GenModule, { kind: 'block' }>, x: tf.Tensor4D, affine: (prefix: string) => [tf.Tensor2D, tf.Tensor2D]): tf.Tensor4D {
    const [a0, b0] = affine(`${p}.bn_0`);
    let h = this.affineRelu(x, a0, b0);
    const [a1, b1] = affine(`${p}.bn_1`);
    h = this.convAffineRelu(h, `${p}.conv_0`, a1, b1);
    if (m.up) h = upsample2x(h);
    const [a2, b2] = affine(`${p}.bn_2`);
    h = this.convAffineRelu(h, `${p}.conv_1`, a2, b2);
    const [a3, b3] = affine(`${p}.bn_3`);
    h = this.convAffineRelu(h, `${p}.conv_2`, a3, b3);
    h = tf.fused.conv2d({ x: h, filter: this.get(`${p}.conv_3.w`) as tf.Tensor4D, strides: 1, pad: 'same', bias: this.get(`${p}.conv_3.b`) });
    let s = m.cin !== m.cout ? (tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, m.cout]) as tf.Tensor4D) : x;
    if (m.up) s = upsample2x(s);
    return tf.add(h, s) as tf.Tensor4D;
  }

  /** SAGAN attention (Zhang et al. 2019, eq. 1–3) with fused projections; numerically the core saganAttention. */
  private attention(p: string, x: tf.Tensor4D): tf.Tensor4D {
    const [b, h, wd, c] = x.shape;
    const dk = Math.floor(c / 8);
    const dv = Math.floor(c / 2);
    const hw = h * wd;
    const qkv = tf.matMul(tf.reshape(x, [b * hw, c]), this.get(`${p}.qkv`) as tf.Tensor2D);
    const q = tf.reshape(tf.slice(qkv, [0, 0], [-1, dk]), [b, hw, dk]);
    const kv = tf.maxPool(tf.reshape(tf.slice(qkv, [0, dk], [-1, dk + dv]), [b, h, wd, dk + dv]) as tf.Tensor4D, 2, 2, 'valid');
    const k = tf.reshape(tf.slice(kv, [0, 0, 0, 0], [-1, -1, -1, dk]), [b, hw / 4, dk]);
    const v = tf.reshape(tf.slice(kv, [0, 0, 0, dk], [-1, -1, -1, dv]), [b, hw / 4, dv]);
    const kT = tf.transpose(k, [0, 2, 1]);
    const rows: tf.Tensor[] = [];
    for (let i = 0; i < b; i++) {
      const pick = (t: tf.Tensor, r: number, cc: number) => (b === 1 ? tf.reshape(t, [r, cc]) : tf.reshape(tf.slice(t, [i, 0, 0], [1, -1, -1]), [r, cc])) as tf.Tensor2D;
      const logits = tf.matMul(pick(q, hw, dk), pick(kT, dk, hw / 4)); // θᵀφ, no 1/√d
      rows.push(tf.matMul(tf.softmax(logits), pick(v, hw / 4, dv)));
    }
    const attn = b === 1 ? rows[0] : tf.concat(rows, 0);
    const o = tf.reshape(tf.matMul(attn as tf.Tensor2D, this.get(`${p}.o`) as tf.Tensor2D), [b, h, wd, c]);
    return tf.add(x, o) as tf.Tensor4D;
  }

  private clearConsts(): void {
    for (const c of this.consts.values()) tf.dispose([c.a, c.b, c.finalA, c.finalB]);
    this.consts.clear();
  }

  private release(): void {
    tf.dispose(this.kept);
    this.kept = [];
    this.w.clear();
    this.slots.clear();
    this.proj = null;
  }

  /** Free every resident tensor (the plan rebuilds itself on the next forward). */
  dispose(): void {
    this.release();
    this.clearConsts();
    this.signature = [];
  }
}

/** Nearest-neighbour 2× upsampling (F.interpolate(scale_factor=2, mode='nearest')) as one resize kernel. */
export function upsample2x(x: tf.Tensor4D): tf.Tensor4D {
  return tf.image.resizeNearestNeighbor(x, [x.shape[1] * 2, x.shape[2] * 2], false, false);
}
