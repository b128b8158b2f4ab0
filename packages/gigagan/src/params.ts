/**
 * Parameter specs and stores. Every module lists its parameters (lucidrains' state_dict names, our NHWC
 * layouts, an initialiser matching the PyTorch one); a store is a flat map of named tf.Variables.
 * Layouts: conv weight [k,k,in,out]; AdaptiveConv2DMod weights [N,k,k,in,out]; Linear / EqualLinear weight
 * [in,out]; ChannelRMSNorm gamma and Noise weight [C]; init_block [4,4,C]; the rest as in PyTorch.
 */
import * as tf from '@tensorflow/tfjs';

export type Init =
  | { kind: 'normal'; std: number }
  | { kind: 'uniform'; bound: number }
  | { kind: 'const'; value: number }
  /** kaiming_uniform_ on [out/4, ...] repeated 4x along out (PixelShuffleUpsample's ICNR-like init). */
  | { kind: 'uniformRepeat4'; bound: number };

export interface ParamEntry {
  name: string;
  shape: number[];
  init: Init;
  /** Not trained (lucidrains registers it as a buffer, e.g. RandomFixedProjection). */
  buffer?: boolean;
  /** Torch shape when it differs from `shape` only by unit axes (ChannelRMSNorm gamma / Noise weight [C,1,1]). */
  torch?: number[];
}

/** How PyTorch initialises nn.Conv2d / nn.Linear here: GigaGAN's G and D re-init with kaiming; the U-Net keeps torch's default. */
export type InitMode = 'kaiming' | 'torch';

export class Spec {
  readonly entries: ParamEntry[] = [];
  private readonly names = new Set<string>();
  constructor(readonly initMode: InitMode = 'kaiming') {}

  add(name: string, shape: number[], init: Init, buffer = false, torch?: number[]): void {
    if (this.names.has(name)) throw new Error(`internal: duplicate parameter ${name}`);
    this.names.add(name);
    this.entries.push({ name, shape, init, buffer, torch });
  }

  /** Weight init of an nn.Conv2d / nn.Linear with the given fan-in. */
  weightInit(fanIn: number): Init {
    return this.initMode === 'kaiming' ? { kind: 'normal', std: Math.sqrt(2 / fanIn) } : { kind: 'uniform', bound: 1 / Math.sqrt(fanIn) };
  }

  linear(prefix: string, dIn: number, dOut: number, bias = true): void {
    this.add(`${prefix}.weight`, [dIn, dOut], this.weightInit(dIn));
    if (bias) this.add(`${prefix}.bias`, [dOut], { kind: 'uniform', bound: 1 / Math.sqrt(dIn) });
  }

  conv(prefix: string, dIn: number, dOut: number, k: number, bias = true): void {
    this.add(`${prefix}.weight`, [k, k, dIn, dOut], this.weightInit(dIn * k * k));
    if (bias) this.add(`${prefix}.bias`, [dOut], { kind: 'uniform', bound: 1 / Math.sqrt(dIn * k * k) });
  }

  /** AdaptiveConv2DMod: kaiming_normal_ on the 5-D tensor, whose torch fan-in is out*in*k*k. */
  adaptiveConv(prefix: string, dIn: number, dOut: number, k: number, n: number): void {
    this.add(`${prefix}.weights`, [n, k, k, dIn, dOut], { kind: 'normal', std: Math.sqrt(2 / (dOut * dIn * k * k)) });
  }
}

/** mulberry32: a small seeded uint32 generator (init only; sampling uses tf's seeded ops). */
export class SeededRandom {
  private s: number;
  private spare: number | null = null;
  constructor(seed: number) {
    this.s = (seed >>> 0) ^ 0x6d2b79f5;
  }
  uniform(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

function initValues(e: ParamEntry, rng: SeededRandom): Float32Array {
  const n = e.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const init = e.init;
  switch (init.kind) {
    case 'normal':
      for (let i = 0; i < n; i++) out[i] = rng.normal() * init.std;
      break;
    case 'uniform':
      for (let i = 0; i < n; i++) out[i] = (rng.uniform() * 2 - 1) * init.bound;
      break;
    case 'const':
      out.fill(init.value);
      break;
    case 'uniformRepeat4': {
      const o = e.shape[e.shape.length - 1];
      const rows = n / o;
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < o / 4; j++) {
          const v = (rng.uniform() * 2 - 1) * init.bound;
          for (let q = 0; q < 4; q++) out[r * o + j * 4 + q] = v;
        }
      }
      break;
    }
  }
  return out;
}

export type Params = Record<string, tf.Variable>;

/** Fresh variables for a spec, from a seed. */
export function createParams(spec: Spec, seed: number): Params {
  const rng = new SeededRandom(seed);
  const p: Params = {};
  for (const e of spec.entries) {
    const t = tf.tensor(initValues(e, rng), e.shape, 'float32');
    p[e.name] = tf.variable(t, !e.buffer, undefined, 'float32');
    t.dispose();
  }
  return p;
}

/** Check that `tensors` holds exactly the spec's names and shapes; the Error lists missing, unexpected and mis-shaped keys. */
export function checkAgainstSpec(spec: Spec, shapes: Record<string, number[]>, what: string): void {
  const missing: string[] = [];
  const misShaped: string[] = [];
  const expected = new Set<string>();
  for (const e of spec.entries) {
    expected.add(e.name);
    const s = shapes[e.name];
    if (!s) missing.push(e.name);
    else if (s.length !== e.shape.length || s.some((v, i) => v !== e.shape[i])) {
      misShaped.push(`${e.name}: expected ${JSON.stringify(e.shape)}, found ${JSON.stringify(s)}`);
    }
  }
  const unexpected = Object.keys(shapes).filter((k) => !expected.has(k));
  if (missing.length || unexpected.length || misShaped.length) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing ${missing.length} [${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', ...' : ''}]`);
    if (unexpected.length) parts.push(`unexpected ${unexpected.length} [${unexpected.slice(0, 20).join(', ')}${unexpected.length > 20 ? ', ...' : ''}]`);
    if (misShaped.length) parts.push(`mis-shaped ${misShaped.length} [${misShaped.slice(0, 20).join('; ')}]`);
    throw new Error(`${what}: weights do not match the config: ${parts.join('; ')}`);
  }
}

/** Assign tensors (same names and shapes as the spec) into a store. */
export function assignParams(spec: Spec, params: Params, tensors: Record<string, tf.Tensor>, what: string): void {
  const shapes: Record<string, number[]> = {};
  for (const [k, t] of Object.entries(tensors)) shapes[k] = t.shape;
  checkAgainstSpec(spec, shapes, what);
  for (const e of spec.entries) params[e.name].assign(tensors[e.name]);
}

/** Read access to a store with a clear error for a missing name. */
export function getter(params: Params, what: string): (name: string) => tf.Tensor {
  return (name: string) => {
    const v = params[name];
    if (!v) throw new Error(`${what}: no parameter '${name}'`);
    return v;
  };
}

export function disposeParams(params: Params): void {
  for (const v of Object.values(params)) v.dispose();
}
