/**
 * GALIP's discriminator side (tobran/GALIP code/models/GALIP.py), NHWC: the frozen CLIP image encoder gives the
 * patch tokens of the tap blocks (see clip.ts); NetD ("Mate-D") fuses them, NetC scores image-text match.
 *
 *   NetD(h):  out = h[0]; out = out + gamma_i * conv_r_i(out) + beta_i * h[i+1]  (DBlocks)
 *             out = conv_s(out) + gamma_m * conv_r_m(out)                          (main, W -> netDOut)
 *             conv_r = conv3x3 (no bias) -> LReLU(0.2) -> conv3x3 (no bias) -> LReLU(0.2)
 *   NetC(out, s): concat(out, s tiled over the grid) -> conv4x4 valid -> LReLU(0.2) -> conv4x4 valid -> [B,g-6,g-6,1]
 */
import * as tf from '@tensorflow/tfjs';
import { GalipConfig } from './config';
import { conv, lrelu } from './ops';
import { checkVariables, convSpecs, createVariables, ParamSpec } from './params';

function dBlockSpecs(name: string, fin: number, fout: number, clipFeat: boolean): ParamSpec[] {
  const specs: ParamSpec[] = [{ name: `${name}.gamma`, shape: [1], kind: 'plain', init: { kind: 'const', value: 0 } }];
  if (clipFeat) specs.push({ name: `${name}.beta`, shape: [1], kind: 'plain', init: { kind: 'const', value: 0 } });
  specs.push(...convSpecs(`${name}.conv_r.0`, fin, fout, 3, false), ...convSpecs(`${name}.conv_r.2`, fout, fout, 3, false));
  // conv_s is constructed even when fin == fout (then unused), so it is in the state_dict
  specs.push(...convSpecs(`${name}.conv_s`, fin, fout, 1));
  return specs;
}

/** Every NetD parameter (official names, tfjs shapes). */
export function netDSpecs(cfg: GalipConfig): ParamSpec[] {
  const w = cfg.clip.visionWidth;
  const specs: ParamSpec[] = [];
  for (let i = 0; i + 1 < cfg.dTaps.length; i++) specs.push(...dBlockSpecs(`DBlocks.${i}`, w, w, true));
  specs.push(...dBlockSpecs('main', w, cfg.netDOut, false));
  return specs;
}

/** Every NetC parameter. */
export function netCSpecs(cfg: GalipConfig): ParamSpec[] {
  return [
    ...convSpecs('joint_conv.0', cfg.netDOut + cfg.condDim, 128, 4, false),
    ...convSpecs('joint_conv.2', 128, 1, 4, false),
  ];
}

abstract class Net {
  readonly cfg: GalipConfig;
  readonly vars: Record<string, tf.Variable>;
  protected static count = 0;

  constructor(cfg: GalipConfig, specs: ParamSpec[], what: string, vars?: Record<string, tf.Variable>, seed = 0) {
    this.cfg = cfg;
    if (vars) checkVariables(vars, specs, what);
    this.vars = vars ?? createVariables(specs, seed, `galip_${what}_${seed}_${Net.count++}`);
  }

  protected v(name: string): tf.Variable {
    const x = this.vars[name];
    if (!x) throw new Error(`parameter '${name}' not found`);
    return x;
  }

  trainableVariables(): tf.Variable[] {
    return Object.values(this.vars);
  }

  dispose(): void {
    for (const v of Object.values(this.vars)) v.dispose();
  }
}

export class NetD extends Net {
  constructor(cfg: GalipConfig, vars?: Record<string, tf.Variable>, seed = 1) {
    super(cfg, netDSpecs(cfg), 'NetD', vars, seed);
  }

  private convR(name: string, x: tf.Tensor4D): tf.Tensor4D {
    const h = lrelu(conv(x, this.v(`${name}.conv_r.0.weight`), undefined, 1)) as tf.Tensor4D;
    return lrelu(conv(h, this.v(`${name}.conv_r.2.weight`), undefined, 1)) as tf.Tensor4D;
  }

  /** NetD(h): h = the tap features, each NHWC [B, g, g, W]. Returns [B, g, g, netDOut]. */
  forward(h: tf.Tensor4D[], acts?: Record<string, tf.Tensor>): tf.Tensor4D {
    const cfg = this.cfg;
    const w = cfg.clip.visionWidth;
    if (h.length !== cfg.dTaps.length) throw new Error(`NetD: expected ${cfg.dTaps.length} CLIP feature maps (taps ${cfg.dTaps}), found ${h.length}`);
    for (const f of h) {
      if (f.rank !== 4 || f.shape[3] !== w || f.shape[1] !== f.shape[2] || f.shape[0] !== h[0].shape[0]) {
        throw new Error(`NetD: expected CLIP features [B, g, g, ${w}], found [${f.shape}]`);
      }
    }
    return tf.tidy(() => {
      let out = h[0];
      for (let i = 0; i + 1 < h.length; i++) {
        const p = `DBlocks.${i}`;
        const res = this.convR(p, out);
        out = tf.add(tf.add(out, tf.mul(this.v(`${p}.gamma`), res)), tf.mul(this.v(`${p}.beta`), h[i + 1])) as tf.Tensor4D;
        if (acts) acts[`D.act.${p}`] = tf.keep(out.clone());
      }
      const res = this.convR('main', out);
      const sc = w !== cfg.netDOut ? conv(out, this.v('main.conv_s.weight'), this.v('main.conv_s.bias'), 0) : out;
      return tf.add(sc, tf.mul(this.v('main.gamma'), res)) as tf.Tensor4D;
    });
  }
}

export class NetC extends Net {
  constructor(cfg: GalipConfig, vars?: Record<string, tf.Variable>, seed = 2) {
    super(cfg, netCSpecs(cfg), 'NetC', vars, seed);
  }

  /** NetC(out, sent_emb): out [B, g, g, netDOut], sent [B, condDim] -> logits [B, g-6, g-6, 1] ([B,1,1,1] at g=7). */
  forward(out: tf.Tensor4D, sentEmb: tf.Tensor2D, acts?: Record<string, tf.Tensor>): tf.Tensor4D {
    const cfg = this.cfg;
    if (out.rank !== 4 || out.shape[3] !== cfg.netDOut) throw new Error(`NetC: expected NetD features [B, g, g, ${cfg.netDOut}], found [${out.shape}]`);
    if (sentEmb.rank !== 2 || sentEmb.shape[1] !== cfg.condDim || sentEmb.shape[0] !== out.shape[0]) {
      throw new Error(`NetC: expected sentence embeddings [${out.shape[0]}, ${cfg.condDim}], found [${sentEmb.shape}]`);
    }
    return tf.tidy(() => {
      const [b, g, g2] = out.shape;
      const cond = tf.tile(tf.reshape(sentEmb, [b, 1, 1, cfg.condDim]), [1, g, g2, 1]);
      const h0 = conv(tf.concat([out, cond], 3) as tf.Tensor4D, this.v('joint_conv.0.weight'), undefined, 0);
      if (acts) acts['C.act.joint_conv0'] = tf.keep(h0.clone());
      return conv(lrelu(h0) as tf.Tensor4D, this.v('joint_conv.2.weight'), undefined, 0);
    });
  }
}
