/**
 * GALIP checkpoints -> this package's parameters (and back).
 *
 * An official checkpoint `state_epoch_*.pth` is torch.save({'model': {'netG', 'netD', 'netC'}, 'optimizers':
 * {...}, 'epoch'}); under DDP every key carries a `module.` prefix (lib/utils.load_model_weights strips it).
 * netG's state_dict also holds the frozen CLIP visual copy `mapping.CLIP_ViT.<k>` (= CLIP `visual.<k>`), which is
 * split off here and handed to the CLIP. Conversion is a table (params.ts specs): names unchanged, linear
 * weights transposed, conv weights OIHW -> HWIO, once.
 */
import * as tf from '@tensorflow/tfjs';
import { RawTensor, flattenStateDict, readTorchCheckpoint, stripKeyPrefix } from '@ganzoo/core';
import { GalipConfig } from './config';
import { netCSpecs, netDSpecs } from './discriminator';
import { netGSpecs } from './generator';
import { ParamSpec, torchShape } from './params';

export type StateDict = Record<string, RawTensor>;

export const CLIP_VIT_PREFIX = 'mapping.CLIP_ViT.';

export interface GalipStateDicts {
  netG: StateDict;
  netD?: StateDict;
  netC?: StateDict;
  epoch?: number;
}

function stripModule(sd: StateDict): StateDict {
  const keys = Object.keys(sd);
  return keys.length && keys.every((k) => k.startsWith('module.')) ? stripKeyPrefix(sd, 'module.') : sd;
}

/** Split a GALIP checkpoint object (as read from a .pth) into its three state dicts, `module.` stripped. */
export function galipStateDicts(obj: unknown, what = 'GALIP checkpoint'): GalipStateDicts {
  const o = obj as any;
  const model = o && typeof o === 'object' ? (o.model ?? o) : undefined;
  if (!model || typeof model !== 'object' || !model.netG) {
    const found = model && typeof model === 'object' ? Object.keys(model).join(', ') : typeof model;
    throw new Error(`${what}: expected {'model': {'netG', 'netD', 'netC'}} (GALIP save_models_opt), found no netG; top-level keys: ${o && typeof o === 'object' ? Object.keys(o).join(', ') : typeof o}; model keys: ${found}`);
  }
  const sd = (x: unknown): StateDict | undefined => (x ? stripModule(flattenStateDict(x)) : undefined);
  return { netG: sd(model.netG)!, netD: sd(model.netD), netC: sd(model.netC), epoch: typeof o.epoch === 'number' ? o.epoch : undefined };
}

/**
 * Read `state_epoch_*.pth` through core's PyTorch reader. Only the model tensors are read from disk (never the
 * optimizer moments); with `discriminator: false` only netG's.
 */
export function readGalipCheckpoint(file: string, opts: { discriminator?: boolean } = {}): GalipStateDicts {
  const wantD = opts.discriminator ?? true;
  const filter = (key: string) => key.startsWith('model.netG.') || (wantD && (key.startsWith('model.netD.') || key.startsWith('model.netC.')));
  return galipStateDicts(readTorchCheckpoint(file, { filter }), `GALIP checkpoint ${file}`);
}

/** Separate netG's frozen CLIP visual copy: returns NetG's own keys and the copy under CLIP names (`visual.*`). */
export function splitClipFromNetG(sd: StateDict): { netG: StateDict; clipVisual: StateDict } {
  const netG: StateDict = {};
  const clipVisual: StateDict = {};
  for (const [k, v] of Object.entries(sd)) {
    if (k.startsWith(CLIP_VIT_PREFIX)) clipVisual[`visual.${k.slice(CLIP_VIT_PREFIX.length)}`] = v;
    else netG[k] = v;
  }
  return { netG, clipVisual };
}

/** Throw one Error listing missing, unexpected and mis-shaped keys of a torch-layout state dict. */
export function checkAgainstSpecs(sd: StateDict, specs: ParamSpec[], what: string): void {
  const known = new Map(specs.map((s) => [s.name, s]));
  const missing = specs.filter((s) => !(s.name in sd)).map((s) => s.name);
  const unexpected = Object.keys(sd).filter((k) => !known.has(k));
  const misShaped = specs
    .filter((s) => s.name in sd && sd[s.name].shape.join(',') !== torchShape(s).join(','))
    .map((s) => `${s.name}: expected [${torchShape(s)}], found [${sd[s.name].shape}]`);
  if (missing.length || unexpected.length || misShaped.length) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing keys (${missing.length}): ${missing.join(', ')}`);
    if (unexpected.length) parts.push(`unexpected keys (${unexpected.length}): ${unexpected.join(', ')}`);
    if (misShaped.length) parts.push(`mis-shaped keys (${misShaped.length}): ${misShaped.join('; ')}`);
    throw new Error(`${what}: the weights do not match the GALIP config: ${parts.join('; ')}`);
  }
}

/** torch tensor -> tfjs layout for a spec kind. */
export function toTf(spec: ParamSpec, t: RawTensor): tf.Tensor {
  return tf.tidy(() => {
    if (t.dtype !== 'float32') throw new Error(`${spec.name}: expected a float tensor, found ${t.sourceDtype}`);
    const x = tf.tensor(t.data as Float32Array, t.shape, 'float32');
    if (spec.kind === 'linear') return tf.transpose(x);
    if (spec.kind === 'conv') return tf.transpose(x, [2, 3, 1, 0]);
    return tf.reshape(x, spec.shape);
  });
}

/** tfjs layout -> torch layout (for exporting a state dict). */
export function toTorch(spec: ParamSpec, x: tf.Tensor): RawTensor {
  const y = tf.tidy(() => (spec.kind === 'linear' ? tf.transpose(x) : spec.kind === 'conv' ? tf.transpose(x, [3, 2, 0, 1]) : x.clone()));
  const data = y.dataSync() as Float32Array;
  const shape = y.shape;
  y.dispose();
  return { dtype: 'float32', shape, data: Float32Array.from(data), sourceDtype: 'F32' };
}

let scopeCount = 0;

/** A checked torch-layout state dict -> named trainable variables in tfjs layout. */
export function stateDictToVariables(sd: StateDict, specs: ParamSpec[], what: string): Record<string, tf.Variable> {
  checkAgainstSpecs(sd, specs, what);
  const scope = `galip_${what}_${scopeCount++}`;
  const vars: Record<string, tf.Variable> = {};
  for (const s of specs) {
    const x = toTf(s, sd[s.name]);
    vars[s.name] = tf.variable(x, true, `${scope}/${s.name}`);
    x.dispose();
  }
  return vars;
}

/** Named variables -> a torch-layout state dict with official names. */
export function variablesToStateDict(vars: Record<string, tf.Tensor>, specs: ParamSpec[]): StateDict {
  const out: StateDict = {};
  for (const s of specs) out[s.name] = toTorch(s, vars[s.name]);
  return out;
}

export const SPECS = {
  netG: netGSpecs,
  netD: netDSpecs,
  netC: netCSpecs,
} as const;

/** Convert the three official state dicts for `cfg` (netG's CLIP copy must already be split off). */
export function convertGalip(cfg: GalipConfig, sds: { netG: StateDict; netD?: StateDict; netC?: StateDict }): {
  netG: Record<string, tf.Variable>; netD?: Record<string, tf.Variable>; netC?: Record<string, tf.Variable>;
} {
  const netG = stateDictToVariables(sds.netG, netGSpecs(cfg), 'netG');
  try {
    const netD = sds.netD ? stateDictToVariables(sds.netD, netDSpecs(cfg), 'netD') : undefined;
    try {
      const netC = sds.netC ? stateDictToVariables(sds.netC, netCSpecs(cfg), 'netC') : undefined;
      return { netG, netD, netC };
    } catch (e) {
      if (netD) Object.values(netD).forEach((v) => v.dispose());
      throw e;
    }
  } catch (e) {
    Object.values(netG).forEach((v) => v.dispose());
    throw e;
  }
}
