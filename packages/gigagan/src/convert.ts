/**
 * lucidrains/gigagan-pytorch state_dict <-> this package's parameters. Names are identical; the conversion
 * is a per-kind layout table (OIHW -> HWIO, [out,in] -> [in,out], [N,O,I,k,k] -> [N,k,k,I,O], [C,1,1] -> [C],
 * init_block [C,4,4] -> [4,4,C], D's final Linear over a NCHW flatten -> over a NHWC flatten). The Blur /
 * Downsample `[1,2,1]` filter buffers carry no information and are checked, then dropped.
 */
import * as tf from '@tensorflow/tfjs';
import { RawTensor, rawToTensor } from '@ganzoo/core';
import { ParamEntry, Spec, checkAgainstSpec } from './params';

/** Buffers lucidrains registers that are constants here. */
const CONSTANT_BUFFER = /(^|\.)(f|filter)$/;

type Kind = 'adaptive' | 'conv' | 'linear' | 'initBlock' | 'squeeze' | 'flatLinear' | 'identity';

function kindOf(e: ParamEntry, flatLinear: Set<string>): Kind {
  if (flatLinear.has(e.name)) return 'flatLinear';
  if (e.name === 'init_block') return 'initBlock';
  if (e.shape.length === 5) return 'adaptive';
  if (e.shape.length === 4) return 'conv';
  if (e.shape.length === 2 && !e.name.endsWith('fixed_weights')) return 'linear';
  if (e.torch) return 'squeeze';
  return 'identity';
}

/** Expected torch shape of a spec entry. */
function torchShape(e: ParamEntry, kind: Kind): number[] {
  const s = e.shape;
  switch (kind) {
    case 'adaptive':
      return [s[0], s[4], s[3], s[1], s[2]];
    case 'conv':
      return [s[3], s[2], s[0], s[1]];
    case 'linear':
    case 'flatLinear':
      return [s[1], s[0]];
    case 'initBlock':
      return [s[2], s[0], s[1]];
    case 'squeeze':
      return e.torch!;
    default:
      return s;
  }
}

function toOurs(t: tf.Tensor, e: ParamEntry, kind: Kind): tf.Tensor {
  return tf.tidy(() => {
    switch (kind) {
      case 'adaptive':
        return tf.transpose(t, [0, 3, 4, 2, 1]);
      case 'conv':
        return tf.transpose(t, [2, 3, 1, 0]);
      case 'linear':
        return tf.transpose(t);
      case 'initBlock':
        return tf.transpose(t, [1, 2, 0]);
      case 'squeeze':
        return tf.reshape(t, e.shape);
      case 'flatLinear': {
        // torch Linear(C*H*W, out) over 'b c h w -> b (c h w)'; ours reads 'b h w c' -> [(h w c), out]
        const [din, dout] = e.shape;
        const c = (e as any).flatChannels as number;
        const hw = din / c;
        return tf.reshape(tf.transpose(tf.reshape(t, [dout, c, hw]), [2, 1, 0]), [din, dout]);
      }
      default:
        return tf.clone(t);
    }
  });
}

function toTorch(t: tf.Tensor, e: ParamEntry, kind: Kind): tf.Tensor {
  return tf.tidy(() => {
    switch (kind) {
      case 'adaptive':
        return tf.transpose(t, [0, 4, 3, 1, 2]);
      case 'conv':
        return tf.transpose(t, [3, 2, 0, 1]);
      case 'linear':
        return tf.transpose(t);
      case 'initBlock':
        return tf.transpose(t, [2, 0, 1]);
      case 'squeeze':
        return tf.reshape(t, e.torch!);
      case 'flatLinear': {
        const [din, dout] = e.shape;
        const c = (e as any).flatChannels as number;
        const hw = din / c;
        return tf.reshape(tf.transpose(tf.reshape(t, [hw, c, dout]), [2, 1, 0]), [dout, din]);
      }
      default:
        return tf.clone(t);
    }
  });
}

export interface ConvertOptions {
  /** Names whose torch tensor is an nn.Linear over a NCHW flatten with this many channels. */
  flatLinear?: Record<string, number>;
}

function resolveKinds(spec: Spec, opts: ConvertOptions) {
  const flat = new Set(Object.keys(opts.flatLinear ?? {}));
  return spec.entries.map((e0) => {
    const e: ParamEntry & { flatChannels?: number } = { ...e0 };
    if (flat.has(e.name)) e.flatChannels = opts.flatLinear![e.name];
    return { e, kind: kindOf(e, flat) };
  });
}

/**
 * Convert a lucidrains state_dict (RawTensors, e.g. from readSafetensors) to our tensors. Throws an Error listing
 * missing, unexpected and mis-shaped keys (in torch layout) if the checkpoint does not match the config.
 */
export function fromLucidrains(spec: Spec, state: Record<string, RawTensor>, what: string, opts: ConvertOptions = {}): Record<string, tf.Tensor> {
  const kinds = resolveKinds(spec, opts);
  const torchShapes: Record<string, number[]> = {};
  const expectedTorch = new Spec();
  for (const { e, kind } of kinds) expectedTorch.add(e.name, torchShape(e, kind), e.init, e.buffer);
  for (const [k, raw] of Object.entries(state)) {
    if (CONSTANT_BUFFER.test(k)) {
      const v = Array.from(raw.data as ArrayLike<number>);
      if (v.length !== 3 || v[0] !== 1 || v[1] !== 2 || v[2] !== 1) throw new Error(`${what}: buffer ${k} expected [1,2,1], found ${JSON.stringify(v)}`);
      continue;
    }
    torchShapes[k] = raw.shape;
  }
  checkAgainstSpec(expectedTorch, torchShapes, `${what} (lucidrains keys)`);
  const out: Record<string, tf.Tensor> = {};
  for (const { e, kind } of kinds) {
    const raw = state[e.name];
    if (raw.dtype !== 'float32') throw new Error(`${what}: ${e.name} expected float tensor, found ${raw.dtype}`);
    const t = rawToTensor(raw);
    out[e.name] = toOurs(t, e, kind);
    t.dispose();
  }
  return out;
}

/** Our parameters -> a lucidrains state_dict (without the constant filter buffers). */
export function toLucidrains(spec: Spec, params: Record<string, tf.Tensor>, opts: ConvertOptions = {}): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const { e, kind } of resolveKinds(spec, opts)) out[e.name] = toTorch(params[e.name], e, kind);
  return out;
}

