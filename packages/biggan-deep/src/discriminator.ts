/**
 * The BigGAN-deep discriminator (ajbrock/BigGAN-PyTorch BigGANdeep.py; Brock et al. 2019 Table 7), NHWC, a
 * projection discriminator (Miyato & Koyama 2018) of bottleneck DBlocks. Parameter names are ajbrock's state_dict
 * keys under `discriminator.`, with spectral-norm tensors named as torch does (`weight_orig`, `weight_u`).
 */
import * as tf from '@tensorflow/tfjs';
import { saganAttention } from '@ganzoo/core';
import { DiscriminatorConfig, ajbrockDArch } from './config';
import { ParamSpec, ParamStore, SnSpec, conv2dSame } from './params';

export interface DBlockSpec {
  stage: number;
  index: number;
  cin: number;
  cout: number;
  hidden: number;
  downsample: boolean;
}

/** Stages of D: blocks (and attention channels, or 0) per stage. */
export function discriminatorStages(d: DiscriminatorConfig): { blocks: DBlockSpec[]; attention: number }[] {
  const arch = ajbrockDArch(d.resolution);
  return arch.inMult.map((inM, s) => {
    const cin0 = inM * d.ch;
    const cout = arch.outMult[s] * d.ch;
    const blocks: DBlockSpec[] = [];
    for (let k = 0; k < d.depth; k++) {
      blocks.push({ stage: s, index: k, cin: k === 0 ? cin0 : cout, cout, hidden: Math.floor(cout / 4), downsample: arch.downsample[s] && k === 0 });
    }
    return { blocks, attention: d.attentionResolutions.includes(arch.resolutions[s]) ? cout : 0 };
  });
}

export function discriminatorSpecs(d: DiscriminatorConfig): { specs: ParamSpec[]; sn: SnSpec[] } {
  const specs: ParamSpec[] = [];
  const sn: SnSpec[] = [];
  const snLayer = (prefix: string, shape: number[], bias: boolean, outAxis: 'last' | 'first' = 'last') => {
    const out = outAxis === 'last' ? shape[shape.length - 1] : shape[0];
    specs.push({ name: `${prefix}.weight_orig`, shape, init: outAxis === 'first' ? 'embedding' : 'weight', trainable: true, outAxis });
    if (bias) specs.push({ name: `${prefix}.bias`, shape: [out], init: 'zeros', trainable: true });
    specs.push({ name: `${prefix}.weight_u`, shape: [out], init: 'u', trainable: false });
    sn.push({ prefix, outAxis, hasV: false, eps: d.snEps, evalIterations: 1 });
  };
  const arch = ajbrockDArch(d.resolution);
  snLayer('discriminator.input_conv', [3, 3, 3, arch.inMult[0] * d.ch], true);
  let last = 0;
  for (const st of discriminatorStages(d)) {
    for (const b of st.blocks) {
      const p = `discriminator.blocks.${b.stage}.${b.index}`;
      snLayer(`${p}.conv1`, [1, 1, b.cin, b.hidden], true);
      snLayer(`${p}.conv2`, [3, 3, b.hidden, b.hidden], true);
      snLayer(`${p}.conv3`, [3, 3, b.hidden, b.hidden], true);
      snLayer(`${p}.conv4`, [1, 1, b.hidden, b.cout], true);
      if (b.cin !== b.cout) snLayer(`${p}.conv_sc`, [1, 1, b.cin, b.cout - b.cin], true);
      last = b.cout;
    }
    if (st.attention) {
      const c = st.attention;
      const p = `discriminator.blocks.${st.blocks[0].stage}.${st.blocks.length}`;
      snLayer(`${p}.theta`, [1, 1, c, Math.floor(c / 8)], false);
      snLayer(`${p}.phi`, [1, 1, c, Math.floor(c / 8)], false);
      snLayer(`${p}.g`, [1, 1, c, Math.floor(c / 2)], false);
      snLayer(`${p}.o`, [1, 1, Math.floor(c / 2), c], false);
      specs.push({ name: `${p}.gamma`, shape: [1], init: 'gamma', trainable: true });
    }
  }
  snLayer('discriminator.linear', [last, d.outputDim], true);
  snLayer('discriminator.embed', [d.numClasses, last], false, 'first');
  return { specs, sn };
}

/**
 * 2×2 average pooling (nn.AvgPool2d(2)). 'fast' (default) is tfjs's AvgPool kernel (its gradient AvgPoolGrad has a
 * second-order gradient registered by core, for R1); 'ref' is reshape + mean, the reference the tests compare it with.
 */
export function avgPool2x(x: tf.Tensor4D, impl: 'fast' | 'ref' = 'fast'): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  if (h % 2 !== 0 || w % 2 !== 0) throw new Error(`avgPool2x: expected even height and width, got [${x.shape}]`);
  if (impl === 'fast') return tf.avgPool(x, 2, 2, 'valid');
  return tf.tidy(() => tf.mean(tf.reshape(x, [b, h / 2, 2, w / 2, 2, c]), [2, 4]) as tf.Tensor4D);
}

function conv(store: ParamStore, prefix: string, x: tf.Tensor4D, training: boolean): tf.Tensor4D {
  const w = store.snWeight(prefix, training) as tf.Tensor4D;
  const y = conv2dSame(x, w);
  return tf.add(y, store.get(`${prefix}.bias`)) as tf.Tensor4D;
}

export interface DiscriminatorRunOptions {
  training?: boolean;
  record?: (name: string, t: tf.Tensor) => void;
}

/** D(x, y) -> [B, 1] logits. x NHWC in [-1, 1], labels int32 [B]. */
export function discriminatorForward(store: ParamStore, d: DiscriminatorConfig, x: tf.Tensor4D, labels: tf.Tensor1D, opts: DiscriminatorRunOptions = {}): tf.Tensor2D {
  return tf.tidy(() => {
    const tr = !!opts.training;
    const rec = opts.record ?? (() => undefined);
    let h = conv(store, 'discriminator.input_conv', x, tr);
    rec('input_conv', h);
    for (const st of discriminatorStages(d)) {
      for (const b of st.blocks) {
        const p = `discriminator.blocks.${b.stage}.${b.index}`;
        let r = conv(store, `${p}.conv1`, tf.relu(h), tr);
        r = conv(store, `${p}.conv2`, tf.relu(r), tr);
        r = conv(store, `${p}.conv3`, tf.relu(r), tr);
        r = tf.relu(r);
        if (b.downsample) r = avgPool2x(r);
        r = conv(store, `${p}.conv4`, r, tr);
        let s = b.downsample ? avgPool2x(h) : h;
        if (b.cin !== b.cout) s = tf.concat([s, conv(store, `${p}.conv_sc`, s, tr)], 3) as tf.Tensor4D;
        h = tf.add(r, s) as tf.Tensor4D;
        rec(`blocks.${b.stage}.${b.index}`, h);
      }
      if (st.attention) {
        const p = `discriminator.blocks.${st.blocks[0].stage}.${st.blocks.length}`;
        h = saganAttention(h, {
          theta: store.snWeight(`${p}.theta`, tr), phi: store.snWeight(`${p}.phi`, tr),
          g: store.snWeight(`${p}.g`, tr), o: store.snWeight(`${p}.o`, tr), gamma: store.get(`${p}.gamma`),
        });
        rec(`blocks.${st.blocks[0].stage}.${st.blocks.length}`, h);
      }
    }
    const pooled = tf.sum(tf.relu(h), [1, 2]) as tf.Tensor2D; // global sum pooling
    rec('pooled', pooled);
    const lin = tf.add(tf.matMul(pooled, store.snWeight('discriminator.linear', tr) as tf.Tensor2D), store.get('discriminator.linear.bias')) as tf.Tensor2D;
    rec('linear', lin);
    const emb = tf.matMul(tf.oneHot(labels, d.numClasses), store.snWeight('discriminator.embed', tr) as tf.Tensor2D) as tf.Tensor2D;
    rec('embed', emb);
    // projection discriminator: linear(h) + <embed(y), h> (Miyato & Koyama 2018, eq. 3)
    return tf.add(lin, tf.sum(tf.mul(emb, pooled), 1, true)) as tf.Tensor2D;
  });
}
