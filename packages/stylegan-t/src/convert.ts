/**
 * Official StyleGAN-T state_dict (torch layouts, official key names) <-> this package's parameters (NHWC layouts,
 * same names). Conversion is a table of per-key layout transforms applied once at load / save time:
 *   conv2d  [O, I, kh, kw] <-> [kh, kw, I, O]        linear [out, in] <-> [in, out]
 *   conv1d  [O, I, k]      <-> [k, I, O]              gamma  [1, C, 1, 1] <-> [C]
 *   sn_v    spectral-norm v over (I, k)             <-> over (k, I) (core spectral-norm's fan-in order)
 */
import * as tf from '@tensorflow/tfjs';
import { RawTensor } from '@ganzoo/core';

export type Layout = 'none' | 'conv2d' | 'linear' | 'conv1d' | 'gamma' | 'sn_v';

/** Layout transform of a generator key (by name and official shape). */
export function generatorLayout(name: string, shape: number[]): Layout {
  if (name.endsWith('.gamma')) return 'gamma';
  if (name.endsWith('.weight') && shape.length === 4) return 'conv2d';
  if (/(^mapping\.mlp\.fc\d+\.weight$|\.affine\.weight$|\.affine\.proj\.weight$|\.input\.weight$)/.test(name)) return 'linear';
  return 'none';
}

/** Layout transform of a discriminator-head key. */
export function discriminatorLayout(name: string, shape: number[]): Layout {
  if (name.endsWith('.weight_orig') && shape.length === 3) return 'conv1d';
  if (name.endsWith('.weight_v')) return 'sn_v';
  if (name.endsWith('.cmapper.weight')) return 'linear';
  return 'none';
}

function toTensor(t: RawTensor | tf.Tensor): tf.Tensor {
  if (t instanceof tf.Tensor) return t.clone();
  if (t.dtype !== 'float32') throw new Error(`expected a float tensor, found ${t.sourceDtype ?? t.dtype}`);
  return tf.tensor(t.data as Float32Array, t.shape, 'float32');
}

/**
 * Official -> ours. `torchShape` is the official shape (for sn_v: of the key itself; `snWeightShape` gives the
 * [O, I, k] shape of the matching weight_orig).
 */
export function toOurs(layout: Layout, t: tf.Tensor, snWeightShape?: number[]): tf.Tensor {
  return tf.tidy(() => {
    switch (layout) {
      case 'conv2d':
        return tf.transpose(t, [2, 3, 1, 0]);
      case 'linear':
        return tf.transpose(t, [1, 0]);
      case 'conv1d':
        return tf.transpose(t, [2, 1, 0]);
      case 'gamma':
        return tf.reshape(t, [-1]);
      case 'sn_v': {
        const [, i, k] = snWeightShape as number[];
        return tf.reshape(tf.transpose(tf.reshape(t, [i, k]), [1, 0]), [-1]);
      }
      default:
        return t.clone();
    }
  });
}

/** Ours -> official (the inverse of toOurs). */
export function toOfficial(layout: Layout, t: tf.Tensor, snWeightShape?: number[]): tf.Tensor {
  return tf.tidy(() => {
    switch (layout) {
      case 'conv2d':
        return tf.transpose(t, [3, 2, 0, 1]);
      case 'linear':
        return tf.transpose(t, [1, 0]);
      case 'conv1d':
        return tf.transpose(t, [2, 1, 0]);
      case 'gamma':
        return tf.reshape(t, [1, -1, 1, 1]);
      case 'sn_v': {
        const [, i, k] = snWeightShape as number[];
        return tf.reshape(tf.transpose(tf.reshape(t, [k, i]), [1, 0]), [-1]);
      }
      default:
        return t.clone();
    }
  });
}

/**
 * Check a state_dict against the expected official shapes; throws one Error listing every missing, unexpected and
 * mis-shaped key. `ignore` matches keys that may be present but are not ours (e.g. the frozen CLIP / DINO towers).
 */
export function checkStateDict(sd: Record<string, { shape: number[] }>, expected: Record<string, number[]>, what: string, ignore?: RegExp): void {
  const missing = Object.keys(expected).filter((k) => !(k in sd));
  const unexpected = Object.keys(sd).filter((k) => !(k in expected) && !(ignore && ignore.test(k)));
  const misShaped = Object.keys(expected)
    .filter((k) => k in sd && JSON.stringify(sd[k].shape) !== JSON.stringify(expected[k]))
    .map((k) => `${k}: expected [${expected[k]}], found [${sd[k].shape}]`);
  if (missing.length || unexpected.length || misShaped.length) {
    const lines = [`${what}: weights do not match the config`];
    if (missing.length) lines.push(`  missing keys (${missing.length}): ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', ...' : ''}`);
    if (unexpected.length) lines.push(`  unexpected keys (${unexpected.length}): ${unexpected.slice(0, 20).join(', ')}${unexpected.length > 20 ? ', ...' : ''}`);
    if (misShaped.length) lines.push(`  mis-shaped keys (${misShaped.length}): ${misShaped.slice(0, 20).join('; ')}${misShaped.length > 20 ? '; ...' : ''}`);
    throw new Error(lines.join('\n'));
  }
}

/** Convert an official state_dict to our layouts (after checking it), as plain tensors keyed by official name. */
export function convertStateDict(
  sd: Record<string, RawTensor | tf.Tensor>, expected: Record<string, number[]>, layoutOf: (name: string, shape: number[]) => Layout, what: string, ignore?: RegExp,
): Record<string, tf.Tensor> {
  checkStateDict(sd as Record<string, { shape: number[] }>, expected, what, ignore);
  const out: Record<string, tf.Tensor> = {};
  for (const name of Object.keys(expected)) {
    const t = toTensor(sd[name]);
    const layout = layoutOf(name, expected[name]);
    const snShape = layout === 'sn_v' ? expected[name.replace(/weight_v$/, 'weight_orig')] : undefined;
    out[name] = toOurs(layout, t, snShape);
    t.dispose();
  }
  return out;
}

/** Our parameters -> an official state_dict (torch layouts), for saving. */
export function exportStateDict(params: Record<string, tf.Tensor>, expected: Record<string, number[]>, layoutOf: (name: string, shape: number[]) => Layout): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const name of Object.keys(expected)) {
    const v = params[name];
    if (!v) throw new Error(`export: parameter '${name}' is missing`);
    const layout = layoutOf(name, expected[name]);
    const snShape = layout === 'sn_v' ? expected[name.replace(/weight_v$/, 'weight_orig')] : undefined;
    out[name] = toOfficial(layout, v, snShape);
  }
  return out;
}
