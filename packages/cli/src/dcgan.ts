/**
 * `dcgan`: a small built-in class-conditional DCGAN (Radford et al. 2016) with a projection discriminator
 * (Miyato & Koyama 2018), hinge loss, lazy R1 and an EMA generator. It exists so `ganzoo finetune / generate /
 * info / bench` can be exercised end to end in seconds on any machine; it is not one of the zoo's models.
 *
 * G: [z, onehot(y)] -> linear -> 4x4xC -> (nearest x2, conv3x3, lrelu) x log2(res/4) -> conv3x3 -> tanh.
 * D: (conv3x3 stride 2, SiLU) x log2(res/4) -> global mean -> linear + <embed(y), features>.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {
  EMA, hingeDLoss, hingeGLoss, loadSafetensors, r1Penalty, saveSafetensors, tfSeed, writeFileAtomic,
  type GanTrainable, type LossResult, type Regularizer, type StepContext, type TrainBatch, type TrainDefaults,
} from '@ganzoo/core';
import type { LoadedGenerator, TrainableRequest } from './models';

export interface DcganConfig {
  resolution: number;
  numClasses: number;
  zDim: number;
  ch: number;
  classNames?: string[];
}

export const presets: Record<string, Omit<DcganConfig, 'numClasses' | 'resolution'> & { resolution: number }> = {
  tiny: { resolution: 16, zDim: 16, ch: 8 },
  small: { resolution: 32, zDim: 64, ch: 32 },
};

let instance = 0;

function checkConfig(c: DcganConfig): void {
  const n = Math.log2(c.resolution / 4);
  if (!Number.isInteger(n) || n < 1) throw new Error(`dcgan: resolution must be 4 * 2^k (8, 16, 32, 64...), found ${c.resolution}`);
  if (!Number.isInteger(c.numClasses) || c.numClasses < 1) throw new Error(`dcgan: numClasses must be a positive integer, found ${c.numClasses}`);
}

function gShapes(c: DcganConfig): Record<string, number[]> {
  const s: Record<string, number[]> = { 'G.fc.w': [c.zDim + c.numClasses, 16 * c.ch], 'G.fc.b': [16 * c.ch] };
  for (let i = 0; i < Math.log2(c.resolution / 4); i++) {
    s[`G.up${i}.w`] = [3, 3, c.ch, c.ch];
    s[`G.up${i}.b`] = [c.ch];
  }
  s['G.out.w'] = [3, 3, c.ch, 3];
  s['G.out.b'] = [3];
  return s;
}

function dShapes(c: DcganConfig): Record<string, number[]> {
  const s: Record<string, number[]> = {};
  let cin = 3;
  for (let i = 0; i < Math.log2(c.resolution / 4); i++) {
    s[`D.down${i}.w`] = [3, 3, cin, c.ch];
    s[`D.down${i}.b`] = [c.ch];
    cin = c.ch;
  }
  s['D.fc.w'] = [c.ch, 1];
  s['D.fc.b'] = [1];
  s['D.embed'] = [c.numClasses, c.ch];
  return s;
}

function makeVars(shapes: Record<string, number[]>, seed: number, prefix: string): Record<string, tf.Variable> {
  const out: Record<string, tf.Variable> = {};
  let k = 0;
  for (const [name, shape] of Object.entries(shapes)) {
    const fanIn = shape.length === 1 ? 0 : shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const init = name.endsWith('.b') ? tf.zeros(shape) : tf.randomNormal(shape, 0, 1 / Math.sqrt(fanIn), 'float32', tfSeed(seed * 1000 + k));
    out[name] = tf.variable(init, true, `${prefix}/${name}`);
    init.dispose();
    k++;
  }
  return out;
}

function generatorForward(c: DcganConfig, w: Record<string, tf.Tensor>, z: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor4D {
  return tf.tidy(() => {
    const h0 = tf.concat([z, tf.oneHot(labels, c.numClasses).toFloat()], 1).matMul(w['G.fc.w'] as tf.Tensor2D).add(w['G.fc.b']);
    let h = tf.leakyRelu(h0, 0.2).reshape([z.shape[0], 4, 4, c.ch]) as tf.Tensor4D;
    for (let i = 0; i < Math.log2(c.resolution / 4); i++) {
      h = tf.image.resizeNearestNeighbor(h, [h.shape[1] * 2, h.shape[2] * 2]);
      h = tf.leakyRelu(tf.conv2d(h, w[`G.up${i}.w`] as tf.Tensor4D, 1, 'same').add(w[`G.up${i}.b`]), 0.2) as tf.Tensor4D;
    }
    return tf.tanh(tf.conv2d(h, w['G.out.w'] as tf.Tensor4D, 1, 'same').add(w['G.out.b'])) as tf.Tensor4D;
  });
}

const latents = (c: DcganConfig, seeds: number[]) =>
  tf.tidy(() => tf.concat(seeds.map((s) => tf.randomNormal([1, c.zDim], 0, 1, 'float32', tfSeed(s))), 0) as tf.Tensor2D);

export class Dcgan implements GanTrainable {
  readonly modelId = 'dcgan';
  readonly config: Record<string, unknown>;
  readonly trainDefaults: TrainDefaults = {
    dStepsPerG: 1, batchSize: 16, G: { lr: 2e-3, beta1: 0.0, beta2: 0.99 }, D: { lr: 2e-3, beta1: 0.0, beta2: 0.99 },
    lossWeights: { r1: 0.2 },
  };
  readonly resolution: number;
  readonly conditioning = 'class' as const;
  readonly numClasses: number;
  readonly g: Record<string, tf.Variable>;
  readonly d: Record<string, tf.Variable>;
  readonly ema: EMA;
  private readonly c: DcganConfig;

  constructor(c: DcganConfig, seed = 1) {
    checkConfig(c);
    this.c = c;
    this.config = { resolution: c.resolution, numClasses: c.numClasses, zDim: c.zDim, ch: c.ch, ...(c.classNames ? { classNames: c.classNames } : {}) };
    this.resolution = c.resolution;
    this.numClasses = c.numClasses;
    const prefix = `dcgan${instance++}`;
    this.g = makeVars(gShapes(c), seed, prefix);
    this.d = makeVars(dShapes(c), seed + 7, prefix);
    this.ema = new EMA(this.g, { decay: 0.999, startStep: 100 });
  }

  private disc(x: tf.Tensor, labels: tf.Tensor1D): tf.Tensor1D {
    return tf.tidy(() => {
      let h = x;
      for (let i = 0; i < Math.log2(this.c.resolution / 4); i++) {
        const a = tf.conv2d(h as tf.Tensor4D, this.d[`D.down${i}.w`] as tf.Tensor4D, 2, 'same').add(this.d[`D.down${i}.b`]);
        h = tf.mul(a, tf.sigmoid(a)); // SiLU: twice differentiable everywhere (R1)
      }
      const f = tf.mean(h, [1, 2]) as tf.Tensor2D;
      const out = f.matMul(this.d['D.fc.w'] as tf.Tensor2D).add(this.d['D.fc.b']).reshape([-1]);
      return tf.add(out, tf.sum(tf.mul(f, tf.gather(this.d['D.embed'], labels)), 1)) as tf.Tensor1D;
    });
  }

  dVariables(): tf.Variable[] {
    return Object.values(this.d);
  }
  gVariables(): tf.Variable[] {
    return Object.values(this.g);
  }
  dLoss(batch: TrainBatch, ctx: StepContext): LossResult {
    const fake = generatorForward(this.c, this.g, tf.randomNormal([batch.images.shape[0], this.c.zDim], 0, 1, 'float32', tfSeed(ctx.seed)), batch.labels!);
    const dr = this.disc(batch.images, batch.labels!);
    const df = this.disc(fake, batch.labels!);
    return { loss: hingeDLoss(dr, df), logs: { real: tf.mean(dr) as tf.Scalar, fake: tf.mean(df) as tf.Scalar } };
  }
  gLoss(batch: TrainBatch, ctx: StepContext): LossResult {
    const fake = generatorForward(this.c, this.g, tf.randomNormal([batch.images.shape[0], this.c.zDim], 0, 1, 'float32', tfSeed(ctx.seed)), batch.labels!);
    return { loss: hingeGLoss(this.disc(fake, batch.labels!)) };
  }
  regularizers(): Regularizer[] {
    return [{
      name: 'r1', phase: 'D', interval: 16,
      loss: (b, ctx) => ({ loss: r1Penalty((x) => this.disc(x, b.labels!), b.images, ctx.weights.r1) }),
    }];
  }
  emaUpdate(step: number): void {
    this.ema.update(step);
  }
  variables(): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = { ...this.g, ...this.d };
    for (const [k, v] of Object.entries(this.ema.shadow)) out[`ema.${k}`] = v;
    return out;
  }
  sample(seeds: number[], cond: { labels?: number[] }): tf.Tensor4D {
    return tf.tidy(() => generatorForward(this.c, this.ema.shadow, latents(this.c, seeds),
      tf.tensor1d(cond.labels ?? seeds.map((_, i) => i % this.numClasses), 'int32')));
  }
  exportGenerator(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    saveSafetensors(path.join(dir, 'generator.safetensors'), this.ema.shadow, { metadata: { modelId: 'dcgan' } });
    writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify({ modelId: 'dcgan', ...this.c }, null, 1) + '\n');
  }
  dispose(): void {
    tf.dispose([...Object.values(this.g), ...Object.values(this.d)]);
    this.ema.dispose();
  }
}

export function createTrainable(req: TrainableRequest): Dcgan {
  const p = presets[req.preset ?? 'tiny'];
  if (!p) throw new Error(`dcgan: unknown preset '${req.preset}' (expected ${Object.keys(presets).join(', ')})`);
  if (!req.numClasses) throw new Error('dcgan is class-conditional: the data needs labels (class sub-folders or labels.csv)');
  const m = new Dcgan({ ...p, resolution: req.resolution ?? p.resolution, numClasses: req.numClasses, classNames: req.classNames }, req.seed ?? 1);
  if (req.weights) {
    const w = readGeneratorWeights(req.weights);
    for (const [k, v] of Object.entries(m.g)) {
      if (!w.tensors[k]) throw new Error(`dcgan weights ${req.weights}: missing ${k}`);
      v.assign(w.tensors[k]);
    }
    for (const [k, v] of Object.entries(m.g)) m.ema.shadow[k].assign(v);
    tf.dispose(Object.values(w.tensors));
  }
  return m;
}

/** Generator weights + config from an exported folder, a checkpoint folder or a run folder (EMA weights). */
function readGeneratorWeights(ref: string): { config: DcganConfig; tensors: Record<string, tf.Tensor> } {
  let dir = path.resolve(ref);
  if (fs.existsSync(path.join(dir, 'generator.safetensors'))) {
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as DcganConfig;
    return { config, tensors: loadSafetensors(path.join(dir, 'generator.safetensors')) };
  }
  if (fs.existsSync(path.join(dir, 'checkpoints'))) {
    const steps = fs.readdirSync(path.join(dir, 'checkpoints')).filter((n) => /^step-\d+$/.test(n)).sort();
    if (!steps.length) throw new Error(`no checkpoints in ${dir}/checkpoints`);
    dir = path.join(dir, 'checkpoints', steps[steps.length - 1]);
  }
  const stateFile = path.join(dir, 'state.json');
  if (!fs.existsSync(stateFile)) throw new Error(`dcgan: ${ref} holds neither generator.safetensors nor a checkpoint`);
  const state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  const all = loadSafetensors(path.join(dir, 'model.safetensors'));
  const tensors: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(all)) {
    if (k.startsWith('ema.')) tensors[k.slice(4)] = v;
    else v.dispose();
  }
  return { config: state.config as DcganConfig, tensors };
}

export function loadGenerator(ref: string): LoadedGenerator {
  const { config, tensors } = readGeneratorWeights(ref);
  checkConfig(config);
  const want = gShapes(config);
  const bad = Object.keys(want).filter((k) => !tensors[k] || tensors[k].shape.join() !== want[k].join());
  if (bad.length) {
    tf.dispose(Object.values(tensors));
    throw new Error(`dcgan weights ${ref}: missing or mis-shaped: ${bad.join(', ')}`);
  }
  return {
    conditioning: 'class',
    resolution: config.resolution,
    numClasses: config.numClasses,
    classNames: config.classNames,
    generate: ({ seeds, labels }) => tf.tidy(() => generatorForward(config, tensors, latents(config, seeds),
      tf.tensor1d(labels ?? seeds.map((_, i) => i % config.numClasses), 'int32'))),
    dispose: () => tf.dispose(Object.values(tensors)),
  };
}
