/**
 * GALIP's generator NetG (tobran/GALIP code/models/GALIP.py), NHWC:
 *
 *   cond   = [noise, sent_emb]
 *   h      = fc_code(noise) viewed as [B, g, g, code_ch]          (NCHW view order, transposed to NHWC)
 *   bridge = CLIP_Adapter(h, cond): M_Blocks -> conv_fuse 5x5 -> CLIP_Mapper (frozen CLIP ViT + prompts)
 *            -> conv 5x5 of (fuse + 0.1 * map)
 *   h      = G_Blocks (nearest resize, then shortcut + c2(DFBLK(c1(DFBLK(h)))))
 *   img    = conv3x3(LeakyReLU(0.2)(h))                             (no tanh; clamp only when saving)
 *
 * Learnable parameters are tf.Variables named as the official state_dict (without `module.`); the frozen CLIP
 * visual copy (`mapping.CLIP_ViT.*`) is not among them: it is read from the shared CLIP parameters.
 */
import * as tf from '@tensorflow/tfjs';
import type { CLIP } from '@ganzoo/encoders';
import { clipMapper } from './clip';
import { GalipConfig, gBlockSpecs, gridSize } from './config';
import { conv, dense, lrelu, resizeNearest } from './ops';
import { checkVariables, convSpecs, createVariables, linearSpecs, ParamSpec } from './params';

/** Affine (DF-GAN): fc_gamma / fc_beta = Linear -> ReLU -> Linear; linear2 of gamma starts at W=0, b=1, of beta at 0. */
function affineSpecs(name: string, condDim: number, ch: number): ParamSpec[] {
  const out: ParamSpec[] = [];
  for (const which of ['fc_gamma', 'fc_beta']) {
    out.push(...linearSpecs(`${name}.${which}.linear1`, condDim, ch));
    out.push({ name: `${name}.${which}.linear2.weight`, shape: [ch, ch], kind: 'linear', init: { kind: 'const', value: 0 } });
    out.push({ name: `${name}.${which}.linear2.bias`, shape: [ch], kind: 'plain', init: { kind: 'const', value: which === 'fc_gamma' ? 1 : 0 } });
  }
  return out;
}

function dfblkSpecs(name: string, condDim: number, ch: number): ParamSpec[] {
  return [...affineSpecs(`${name}.affine0`, condDim, ch), ...affineSpecs(`${name}.affine1`, condDim, ch)];
}

/** Every learnable NetG parameter (official names, tfjs shapes), in state_dict order. */
export function netGSpecs(cfg: GalipConfig): ParamSpec[] {
  const cond = cfg.zDim + cfg.condDim;
  const g = gridSize(cfg);
  const w = cfg.clip.visionWidth;
  const specs: ParamSpec[] = [...linearSpecs('fc_code', cfg.zDim, g * g * cfg.codeCh)];
  for (let i = 0; i < cfg.mapperBlocks; i++) {
    const p = `mapping.FBlocks.${i}`;
    specs.push(...convSpecs(`${p}.conv1`, cfg.codeCh, cfg.midCh, 3), ...dfblkSpecs(`${p}.fuse1`, cond, cfg.midCh));
    specs.push(...convSpecs(`${p}.conv2`, cfg.midCh, cfg.codeCh, 3), ...dfblkSpecs(`${p}.fuse2`, cond, cfg.codeCh));
  }
  specs.push(...convSpecs('mapping.conv_fuse', cfg.codeCh, w, 5));
  specs.push(...convSpecs('mapping.conv', w, cfg.nf * 8, 5));
  specs.push(...linearSpecs('mapping.fc_prompt', cond, w * cfg.promptLayers.length));
  gBlockSpecs(cfg).forEach((b, i) => {
    const p = `GBlocks.${i}`;
    specs.push(...convSpecs(`${p}.c1`, b.inCh, b.outCh, 3), ...convSpecs(`${p}.c2`, b.outCh, b.outCh, 3));
    specs.push(...dfblkSpecs(`${p}.fuse1`, cond, b.inCh), ...dfblkSpecs(`${p}.fuse2`, cond, b.outCh));
    if (b.inCh !== b.outCh) specs.push(...convSpecs(`${p}.c_sc`, b.inCh, b.outCh, 1));
  });
  const last = gBlockSpecs(cfg).slice(-1)[0];
  specs.push(...convSpecs('to_rgb.1', last.outCh, cfg.chSize, 3));
  return specs;
}

/** Optional collection of named intermediate activations (official module paths). */
export type Acts = Record<string, tf.Tensor>;

export class NetG {
  readonly cfg: GalipConfig;
  readonly vars: Record<string, tf.Variable>;
  /** The frozen CLIP whose visual transformer CLIP_Mapper runs (shared with the discriminator's image encoder). */
  clip: CLIP;

  constructor(cfg: GalipConfig, clip: CLIP, vars?: Record<string, tf.Variable>, seed = 0) {
    this.cfg = cfg;
    this.clip = clip;
    const specs = netGSpecs(cfg);
    if (vars) checkVariables(vars, specs, 'NetG');
    this.vars = vars ?? createVariables(specs, seed, `galip_netG_${seed}_${NetG.count++}`);
  }

  private static count = 0;

  private v(name: string): tf.Variable {
    const x = this.vars[name];
    if (!x) throw new Error(`NetG: parameter '${name}' not found`);
    return x;
  }

  private affine(name: string, x: tf.Tensor4D, c: tf.Tensor2D): tf.Tensor4D {
    const mlp = (which: string): tf.Tensor => {
      const h = tf.relu(dense(c, this.v(`${name}.${which}.linear1.weight`), this.v(`${name}.${which}.linear1.bias`)));
      const y = dense(h, this.v(`${name}.${which}.linear2.weight`), this.v(`${name}.${which}.linear2.bias`));
      return tf.reshape(y, [y.shape[0], 1, 1, y.shape[1]]);
    };
    // DF-GAN affine modulation: gamma(c) * x + beta(c), per channel
    return tf.add(tf.mul(mlp('fc_gamma'), x), mlp('fc_beta')) as tf.Tensor4D;
  }

  private dfblk(name: string, x: tf.Tensor4D, c: tf.Tensor2D): tf.Tensor4D {
    const h = lrelu(this.affine(`${name}.affine0`, x, c)) as tf.Tensor4D;
    return lrelu(this.affine(`${name}.affine1`, h, c)) as tf.Tensor4D;
  }

  private conv(name: string, x: tf.Tensor4D, pad: number): tf.Tensor4D {
    return conv(x, this.v(`${name}.weight`), this.vars[`${name}.bias`], pad);
  }

  /** M_Block: x + fuse2(conv2(fuse1(conv1(x)))) (1x1 c_sc shortcut only when channels differ: never here). */
  private mBlock(name: string, x: tf.Tensor4D, c: tf.Tensor2D): tf.Tensor4D {
    let h = this.conv(`${name}.conv1`, x, 1);
    h = this.dfblk(`${name}.fuse1`, h, c);
    h = this.conv(`${name}.conv2`, h, 1);
    h = this.dfblk(`${name}.fuse2`, h, c);
    const sc = this.vars[`${name}.c_sc.weight`] ? this.conv(`${name}.c_sc`, x, 0) : x;
    return tf.add(sc, h) as tf.Tensor4D;
  }

  /** G_Block: resize to `size` (nearest), then shortcut(h) + c2(fuse2(c1(fuse1(h)))). */
  private gBlock(name: string, x: tf.Tensor4D, c: tf.Tensor2D, size: number): tf.Tensor4D {
    const h0 = resizeNearest(x, size);
    let h = this.dfblk(`${name}.fuse1`, h0, c);
    h = this.conv(`${name}.c1`, h, 1);
    h = this.dfblk(`${name}.fuse2`, h, c);
    h = this.conv(`${name}.c2`, h, 1);
    const sc = this.vars[`${name}.c_sc.weight`] ? this.conv(`${name}.c_sc`, h0, 0) : h0;
    return tf.add(sc, h) as tf.Tensor4D;
  }

  /**
   * NetG(noise, sent_emb) -> image NHWC [B, R, R, chSize] (R = CLIP input size; unclamped). When `acts` is given,
   * it receives the intermediates under the fixture's names (kept, caller disposes).
   */
  forward(noise: tf.Tensor2D, sentEmb: tf.Tensor2D, acts?: Acts): tf.Tensor4D {
    const cfg = this.cfg;
    if (noise.rank !== 2 || noise.shape[1] !== cfg.zDim) throw new Error(`NetG: expected noise [B, ${cfg.zDim}], found [${noise.shape}]`);
    if (sentEmb.rank !== 2 || sentEmb.shape[1] !== cfg.condDim || sentEmb.shape[0] !== noise.shape[0]) {
      throw new Error(`NetG: expected sentence embeddings [${noise.shape[0]}, ${cfg.condDim}], found [${sentEmb.shape}]`);
    }
    return tf.tidy(() => {
      const keep = (k: string, t: tf.Tensor): void => {
        if (acts) acts[k] = tf.keep(t.clone());
      };
      const b = noise.shape[0];
      const g = gridSize(cfg);
      const c = tf.concat([noise, sentEmb], 1) as tf.Tensor2D;
      keep('G.act.cond', c);
      const code = dense(noise, this.v('fc_code.weight'), this.v('fc_code.bias'));
      keep('G.act.fc_code', code);
      // .view(B, code_ch, g, g) is NCHW: transpose to NHWC
      let h = tf.transpose(tf.reshape(code, [b, cfg.codeCh, g, g]), [0, 2, 3, 1]) as tf.Tensor4D;
      // CLIP_Adapter
      const promptsFlat = dense(c, this.v('mapping.fc_prompt.weight'), this.v('mapping.fc_prompt.bias'));
      keep('G.act.mapping.fc_prompt', promptsFlat);
      const prompts = tf.reshape(promptsFlat, [b, cfg.promptLayers.length, cfg.clip.visionWidth]) as tf.Tensor3D;
      for (let i = 0; i < cfg.mapperBlocks; i++) {
        h = this.mBlock(`mapping.FBlocks.${i}`, h, c);
        keep(`G.act.mapping.FBlocks.${i}`, h);
      }
      const fuse = this.conv('mapping.conv_fuse', h, 2);
      keep('G.act.mapping.conv_fuse', fuse);
      const map = clipMapper(this.clip, cfg.promptLayers, fuse, prompts);
      keep('G.act.mapping.CLIP_ViT', map);
      h = this.conv('mapping.conv', tf.add(fuse, tf.mul(map, 0.1)) as tf.Tensor4D, 2);
      keep('G.act.mapping', h);
      gBlockSpecs(cfg).forEach((spec, i) => {
        h = this.gBlock(`GBlocks.${i}`, h, c, spec.size);
        keep(`G.act.GBlocks.${i}`, h);
      });
      return this.conv('to_rgb.1', lrelu(h) as tf.Tensor4D, 1);
    });
  }

  trainableVariables(): tf.Variable[] {
    return Object.values(this.vars);
  }

  dispose(): void {
    for (const v of Object.values(this.vars)) v.dispose();
  }
}
