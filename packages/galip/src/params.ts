/**
 * Parameter tables: every learnable GALIP tensor by its official state_dict name, with its tfjs shape, how the
 * converter maps the PyTorch tensor onto it, and its official initialisation (used by `create`).
 */
import * as tf from '@tensorflow/tfjs';

/** 'linear': torch [out, in] -> [in, out]; 'conv': torch [out, in, kh, kw] -> [kh, kw, in, out]; 'plain': as is. */
export type ParamKind = 'linear' | 'conv' | 'plain';

export type Init =
  | { kind: 'uniform'; bound: number }
  | { kind: 'const'; value: number };

export interface ParamSpec {
  name: string;
  /** tfjs shape. */
  shape: number[];
  kind: ParamKind;
  init: Init;
}

/** The PyTorch shape of a spec (what the checkpoint holds). */
export function torchShape(spec: ParamSpec): number[] {
  const s = spec.shape;
  if (spec.kind === 'linear') return [s[1], s[0]];
  if (spec.kind === 'conv') return [s[3], s[2], s[0], s[1]];
  return s;
}

/** nn.Linear(inF, outF) with PyTorch's default init (kaiming_uniform(a=sqrt 5): U(+-1/sqrt(fan_in)) for W and b). */
export function linearSpecs(name: string, inF: number, outF: number, bias = true): ParamSpec[] {
  const bound = 1 / Math.sqrt(inF);
  const out: ParamSpec[] = [{ name: `${name}.weight`, shape: [inF, outF], kind: 'linear', init: { kind: 'uniform', bound } }];
  if (bias) out.push({ name: `${name}.bias`, shape: [outF], kind: 'plain', init: { kind: 'uniform', bound } });
  return out;
}

/** nn.Conv2d(inC, outC, k) with PyTorch's default init. */
export function convSpecs(name: string, inC: number, outC: number, k: number, bias = true): ParamSpec[] {
  const bound = 1 / Math.sqrt(inC * k * k);
  const out: ParamSpec[] = [{ name: `${name}.weight`, shape: [k, k, inC, outC], kind: 'conv', init: { kind: 'uniform', bound } }];
  if (bias) out.push({ name: `${name}.bias`, shape: [outC], kind: 'plain', init: { kind: 'uniform', bound } });
  return out;
}

/** A small deterministic generator for initial weights (mulberry32), so `create({seed})` is reproducible. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Named trainable variables for the specs, initialised as the official modules do. */
export function createVariables(specs: ParamSpec[], seed: number, prefix: string): Record<string, tf.Variable> {
  const rand = mulberry32(seed);
  const vars: Record<string, tf.Variable> = {};
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (s.init.kind === 'const') data.fill(s.init.value);
    else for (let i = 0; i < n; i++) data[i] = (rand() * 2 - 1) * s.init.bound;
    const t = tf.tensor(data, s.shape, 'float32');
    vars[s.name] = tf.variable(t, true, `${prefix}/${s.name}`);
    t.dispose();
  }
  return vars;
}

/** Throws unless `vars` holds exactly the specs' names and shapes. */
export function checkVariables(vars: Record<string, tf.Tensor>, specs: ParamSpec[], what: string): void {
  const missing: string[] = [];
  const misShaped: string[] = [];
  for (const s of specs) {
    const v = vars[s.name];
    if (!v) missing.push(s.name);
    else if (v.shape.join(',') !== s.shape.join(',')) misShaped.push(`${s.name}: expected [${s.shape}], found [${v.shape}]`);
  }
  const known = new Set(specs.map((s) => s.name));
  const unexpected = Object.keys(vars).filter((k) => !known.has(k));
  if (missing.length || misShaped.length || unexpected.length) {
    throw new Error(`${what}: parameters do not match the config` +
      (missing.length ? `; missing: ${missing.join(', ')}` : '') +
      (unexpected.length ? `; unexpected: ${unexpected.join(', ')}` : '') +
      (misShaped.length ? `; mis-shaped: ${misShaped.join('; ')}` : ''));
  }
}
