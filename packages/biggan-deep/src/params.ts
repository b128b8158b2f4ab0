/**
 * The flat map of named parameters, the spectral-norm bookkeeping over it, and random initialisation.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng, spectralNormalize, SnOutAxis, updatedRunningStats } from '@ganzoo/core';

/** How a parameter is initialised by `create` (ajbrock init styles for weights). */
export type InitKind = 'weight' | 'embedding' | 'zeros' | 'ones' | 'gamma' | 'u' | 'v' | 'stats-mean' | 'stats-var';

export interface ParamSpec {
  name: string;
  shape: number[];
  init: InitKind;
  /** Optimised by Adam (weights, biases, gains); false for buffers (u, v, running stats). */
  trainable: boolean;
  /** For 'weight'/'embedding': the output-feature axis (torch's rows). */
  outAxis?: SnOutAxis;
}

/** One spectrally normalised weight: `${prefix}.weight_orig` with `.weight_u` (and `.weight_v`). */
export interface SnSpec {
  prefix: string;
  outAxis: SnOutAxis;
  hasV: boolean;
  eps: number;
  evalIterations: number;
}

export type WeightInit = 'ortho' | 'N02' | 'xavier';

/**
 * torch.nn.init.orthogonal_ semantics on a [rows, cols] matrix (row-major Float32Array): orthonormal rows if
 * rows <= cols, else orthonormal columns (modified Gram-Schmidt on a Gaussian matrix, signs as from QR with
 * positive diagonal).
 */
export function orthogonalMatrix(rows: number, cols: number, rng: Rng): Float32Array {
  const n = Math.min(rows, cols);
  const len = Math.max(rows, cols);
  const vecs: Float64Array[] = [];
  for (let i = 0; i < n; i++) {
    const v = Float64Array.from(rng.normalArray(len));
    for (const q of vecs) {
      let d = 0;
      for (let k = 0; k < len; k++) d += v[k] * q[k];
      for (let k = 0; k < len; k++) v[k] -= d * q[k];
    }
    let nrm = 0;
    for (let k = 0; k < len; k++) nrm += v[k] * v[k];
    nrm = Math.sqrt(nrm) || 1;
    for (let k = 0; k < len; k++) v[k] /= nrm;
    vecs.push(v);
  }
  const out = new Float32Array(rows * cols);
  if (rows <= cols) {
    for (let r = 0; r < rows; r++) out.set(vecs[r], r * cols);
  } else {
    for (let c = 0; c < cols; c++) for (let r = 0; r < rows; r++) out[r * cols + c] = vecs[c][r];
  }
  return out;
}

/** Initial value of one parameter. Weights are drawn in torch's [out, fanIn] view and laid out as ours. */
export function initValue(spec: ParamSpec, init: WeightInit, rng: Rng): tf.Tensor {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  switch (spec.init) {
    case 'zeros':
    case 'gamma':
    case 'stats-mean':
      return tf.zeros(spec.shape);
    case 'ones':
    case 'stats-var':
      return tf.ones(spec.shape);
    case 'u':
    case 'v': {
      return tf.tensor(rng.normalArray(size), spec.shape);
    }
    default: {
      const outAxis = spec.outAxis ?? 'last';
      const out = outAxis === 'last' ? spec.shape[spec.shape.length - 1] : spec.shape[0];
      const fanIn = size / out;
      let rowsMajor: Float32Array; // torch view [out, fanIn]
      if (init === 'ortho') rowsMajor = orthogonalMatrix(out, fanIn, rng);
      else {
        if (init === 'N02') rowsMajor = rng.normalArray(size, 0, 0.02);
        else {
          // xavier_uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out)) with torch's conv fans (receptive field included)
          const rf = spec.shape.length === 4 ? spec.shape[0] * spec.shape[1] : 1;
          const fanOut = out * rf;
          const a = Math.sqrt(6 / (fanIn + fanOut));
          rowsMajor = rng.uniformArray(size, -a, a);
        }
      }
      return tf.tidy(() => {
        const m = tf.tensor2d(rowsMajor, [out, fanIn]);
        if (outAxis === 'first') return tf.reshape(m, spec.shape);
        return tf.reshape(tf.transpose(m), spec.shape);
      });
    }
  }
}

/**
 * Holds the named variables of one network, the spectral-norm layers over them and a cache of the
 * normalised weights W/σ for inference (the fast path; `cacheEval = false` recomputes them every call).
 */
export class ParamStore {
  readonly vars: Record<string, tf.Variable> = {};
  readonly sn = new Map<string, SnSpec>();
  cacheEval = true;
  private readonly cache = new Map<string, tf.Tensor>();

  constructor(readonly specs: ParamSpec[], snSpecs: SnSpec[]) {
    for (const s of snSpecs) this.sn.set(s.prefix, s);
  }

  /** Create variables from given tensors (taken over, not cloned). */
  setAll(values: Record<string, tf.Tensor>): void {
    for (const spec of this.specs) {
      const t = values[spec.name];
      this.vars[spec.name] = tf.variable(t, spec.trainable, `${spec.name}_${variableCounter++}`);
      t.dispose();
    }
  }

  get(name: string): tf.Variable {
    const v = this.vars[name];
    if (!v) throw new Error(`BigGAN-deep: no parameter '${name}'`);
    return v;
  }

  trainable(): tf.Variable[] {
    return this.specs.filter((s) => s.trainable).map((s) => this.vars[s.name]);
  }

  /** Drop cached W/σ (after weights or u/v change). */
  invalidate(): void {
    for (const t of this.cache.values()) t.dispose();
    this.cache.clear();
  }

  /**
   * W/σ for the layer `prefix`. training: one power iteration from the stored u, written back to u (and v).
   * Inference: `evalIterations` (0 = stored u, v), cached unless `cacheEval` is false. The cached tensor is owned
   * by the store: callers must not dispose it.
   */
  snWeight(prefix: string, training: boolean): tf.Tensor {
    const s = this.sn.get(prefix);
    if (!s) throw new Error(`BigGAN-deep: '${prefix}' is not a spectrally normalised layer`);
    const w = this.get(`${prefix}.weight_orig`);
    const u = this.get(`${prefix}.weight_u`);
    const v = s.hasV ? this.get(`${prefix}.weight_v`) : null;
    if (training) {
      const r = spectralNormalize(w, u, v, { eps: s.eps, iterations: 1, outAxis: s.outAxis });
      u.assign(r.u);
      if (v) v.assign(r.v);
      return r.weight;
    }
    const cached = this.cache.get(prefix);
    if (cached) return cached;
    const its = s.hasV ? s.evalIterations : Math.max(1, s.evalIterations);
    const r = spectralNormalize(w, u, v, { eps: s.eps, iterations: its, outAxis: s.outAxis });
    tf.dispose([r.sigma, r.u, r.v]);
    if (!this.cacheEval) return r.weight;
    const kept = tf.keep(r.weight);
    this.cache.set(prefix, kept);
    return kept;
  }

  /** Train-mode running-stat update of row `row` of a [nStats, C] table (torch momentum 0.1, unbiased var). */
  updateStats(prefix: string, row: number, batchMean: tf.Tensor, batchVar: tf.Tensor, count: number, momentum = 0.1): void {
    const m = this.get(`${prefix}.running_means`);
    const v = this.get(`${prefix}.running_vars`);
    tf.tidy(() => {
      const n = m.shape[0];
      const oldM = tf.slice(m, [row, 0], [1, -1]);
      const oldV = tf.slice(v, [row, 0], [1, -1]);
      const upd = updatedRunningStats(oldM, oldV, tf.reshape(batchMean, [1, -1]), tf.reshape(batchVar, [1, -1]), count, momentum);
      // tf.oneHot needs depth >= 2: a one-row table (ajbrock layout, n_stats = 1) is updated whole.
      const mask = n === 1 ? tf.ones([1, 1]) : tf.reshape(tf.oneHot(row, n), [n, 1]);
      m.assign(tf.add(tf.mul(m, tf.sub(1, mask)), tf.mul(mask, upd.mean)));
      v.assign(tf.add(tf.mul(v, tf.sub(1, mask)), tf.mul(mask, upd.variance)));
    });
  }

  dispose(): void {
    this.invalidate();
    for (const v of Object.values(this.vars)) v.dispose();
  }
}

let variableCounter = 0;

/** Compare loaded tensors with the specs; throws listing missing, unexpected and mis-shaped keys. */
export function checkTensors(
  specs: ParamSpec[], tensors: Record<string, { shape: number[] }>, what: string, ignore: (name: string) => boolean = () => false,
): void {
  const want = new Map(specs.map((s) => [s.name, s.shape]));
  const missing = specs.filter((s) => !(s.name in tensors)).map((s) => `${s.name} ${JSON.stringify(s.shape)}`);
  const unexpected = Object.keys(tensors).filter((k) => !want.has(k) && !ignore(k));
  const misShaped: string[] = [];
  for (const [k, t] of Object.entries(tensors)) {
    const w = want.get(k);
    if (w && w.join(',') !== t.shape.join(',')) misShaped.push(`${k}: expected ${JSON.stringify(w)}, found ${JSON.stringify(t.shape)}`);
  }
  if (missing.length || unexpected.length || misShaped.length) {
    const parts: string[] = [];
    const list = (xs: string[]) => xs.slice(0, 20).join(', ') + (xs.length > 20 ? `, ... (${xs.length} in all)` : '');
    if (missing.length) parts.push(`missing keys (${missing.length}): ${list(missing)}`);
    if (unexpected.length) parts.push(`unexpected keys (${unexpected.length}): ${list(unexpected)}`);
    if (misShaped.length) parts.push(`mis-shaped keys (${misShaped.length}): ${list(misShaped)}`);
    throw new Error(`${what}: weights do not match the config:\n  ${parts.join('\n  ')}`);
  }
}

/**
 * Stride-1 'same' convolution, NHWC x [kh, kw, in, out] kernel. 1×1 kernels run as a matmul (same numbers; its
 * gradient avoids Conv2DBackpropFilter, which wasm lacks and core composes slowly).
 */
export function conv2dSame(x: tf.Tensor4D, w: tf.Tensor4D): tf.Tensor4D {
  if (w.shape[0] === 1 && w.shape[1] === 1) {
    return tf.tidy(() => {
      const [b, h, wd, c] = x.shape;
      const y = tf.matMul(tf.reshape(x, [b * h * wd, c]), tf.reshape(w, [c, w.shape[3]]));
      return tf.reshape(y, [b, h, wd, w.shape[3]]) as tf.Tensor4D;
    });
  }
  return tf.conv2d(x, w, 1, 'same');
}
