/**
 * Image preprocessing as Hugging Face CLIPImageProcessor does it (resize the shortest side with PIL bicubic,
 * centre crop, rescale 1/255, normalise with mean/std; ViTImageProcessor: resize to a fixed size with PIL bilinear,
 * no crop), for two kinds of input:
 * - decoded 8-bit images ({data, width, height, channels}, e.g. transformers.js RawImage or sharp raw output):
 *   PIL's fixed-point antialiased bicubic resampling is reproduced exactly (horizontal pass, uint8 rounding,
 *   vertical pass), so the pixels equal the Python processor's;
 * - tf tensors (NHWC, e.g. a generator's output): a differentiable float version of the same steps.
 */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { ResizeMode, pilWeights, resizeImages } from './resize';

/** OpenAI CLIP normalisation constants (clip/clip.py _transform; HF OPENAI_CLIP_MEAN / OPENAI_CLIP_STD). */
export const OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
export const OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711];
/** ImageNet constants (torchvision / timm IMAGENET_DEFAULT_MEAN / STD), used by DINO. */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

export interface ImageProcessorConfig {
  /** shortest side after resizing (CLIPImageProcessor size.shortest_edge). */
  size: number;
  /** resize to exactly [height, width] instead (ViTImageProcessor / BitImageProcessor size {height, width}). */
  resizeTo?: [number, number];
  cropSize: number;
  doResize: boolean;
  doCenterCrop: boolean;
  doNormalize: boolean;
  rescaleFactor: number;
  mean: number[];
  std: number[];
  /**
   * resize kernel: 'pil-bicubic' / 'pil-bilinear' as the processors (PIL resample 3 / 2; exact for 8-bit images);
   * for tensors also 'bicubic', 'bilinear', 'area', 'nearest' (torch F.interpolate) as some GAN code resizes.
   */
  resample: ResizeMode;
  /** value range of float tensor input (default [-1, 1], the ganzoo image convention); int32 tensors are 0..255. */
  inputRange?: [number, number];
}

export interface RawImageLike {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: number;
}

export type ImageInput = tf.Tensor3D | tf.Tensor4D | RawImageLike | RawImageLike[];

/** Read a preprocessor_config.json (CLIPImageProcessor fields). */
export function readImageProcessorConfig(file: string): ImageProcessorConfig {
  const j = JSON.parse(fs.readFileSync(file, 'utf8'));
  // an integer size means the shortest edge for CLIP processors and a square for ViT feature extractors
  const kind = String(j.image_processor_type ?? j.feature_extractor_type ?? '');
  const squareInt = typeof j.size === 'number' && !/CLIP/i.test(kind);
  const exact: [number, number] | undefined = squareInt
    ? [j.size, j.size]
    : j.size && typeof j.size === 'object' && j.size.shortest_edge === undefined && j.size.height !== undefined
      ? [j.size.height, j.size.width ?? j.size.height]
      : undefined;
  const size = typeof j.size === 'number' ? j.size : j.size?.shortest_edge ?? exact?.[0] ?? 224;
  const crop = typeof j.crop_size === 'number' ? j.crop_size : j.crop_size?.height ?? size;
  if (j.crop_size && typeof j.crop_size === 'object' && j.crop_size.width !== undefined && j.crop_size.width !== j.crop_size.height) {
    throw new Error(`${file}: non-square crop_size ${JSON.stringify(j.crop_size)} is not supported`);
  }
  const resample = j.resample ?? 3;
  if (resample !== 3 && resample !== 2) throw new Error(`${file}: resample ${j.resample} is not supported (expected 3 = bicubic or 2 = bilinear)`);
  return {
    size,
    cropSize: crop,
    doResize: j.do_resize ?? true,
    resizeTo: exact,
    doCenterCrop: j.do_center_crop ?? !exact,
    doNormalize: j.do_normalize ?? true,
    rescaleFactor: j.rescale_factor ?? 1 / 255,
    mean: j.image_mean ?? OPENAI_CLIP_MEAN,
    std: j.image_std ?? OPENAI_CLIP_STD,
    resample: resample === 2 ? 'pil-bilinear' : 'pil-bicubic',
  };
}

/** Output size when the shortest side becomes `size` (HF get_resize_output_image_size, default_to_square=False). */
export function shortestSideSize(h: number, w: number, size: number): [number, number] {
  if (h <= w) return [size, Math.floor((size * w) / h)];
  return [Math.floor((size * h) / w), size];
}

const PRECISION_BITS = 22;

/** PIL 8-bit fixed-point coefficients for one axis (normalize_coeffs_8bpc): per output pixel, [first index, weights]. */
function pilCoeffs(inSize: number, outSize: number, filter: 'bicubic' | 'bilinear'): Array<[number, Int32Array]> {
  return pilWeights(inSize, outSize, filter).map(({ start, weights }) => {
    const k = Int32Array.from(weights, (v) => (v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS))));
    return [start, k];
  });
}

function clip8(ss: number): number {
  const v = Math.floor(ss / (1 << PRECISION_BITS));
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** PIL Image.resize(BICUBIC | BILINEAR) on 8-bit RGB data [h, w, 3] -> [outH, outW, 3] (horizontal pass first, as PIL). */
export function pilResizeU8(src: Uint8Array, h: number, w: number, outH: number, outW: number, filter: 'bicubic' | 'bilinear' = 'bicubic'): Uint8Array {
  const c = 3;
  let cur = src;
  let cw = w;
  if (outW !== w) {
    const co = pilCoeffs(w, outW, filter);
    const tmp = new Uint8Array(h * outW * c);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < outW; x++) {
        const [xmin, k] = co[x];
        for (let ch = 0; ch < c; ch++) {
          let ss = 1 << (PRECISION_BITS - 1);
          for (let i = 0; i < k.length; i++) ss += cur[(y * w + xmin + i) * c + ch] * k[i];
          tmp[(y * outW + x) * c + ch] = clip8(ss);
        }
      }
    }
    cur = tmp;
    cw = outW;
  }
  if (outH !== h) {
    const co = pilCoeffs(h, outH, filter);
    const tmp = new Uint8Array(outH * cw * c);
    for (let y = 0; y < outH; y++) {
      const [ymin, k] = co[y];
      for (let x = 0; x < cw; x++) {
        for (let ch = 0; ch < c; ch++) {
          let ss = 1 << (PRECISION_BITS - 1);
          for (let i = 0; i < k.length; i++) ss += cur[((ymin + i) * cw + x) * c + ch] * k[i];
          tmp[(y * cw + x) * c + ch] = clip8(ss);
        }
      }
    }
    cur = tmp;
  }
  return cur === src ? src.slice() : cur;
}

function toRgb(img: RawImageLike, i: number): Uint8Array {
  const { data, width, height, channels } = img;
  if (!(width > 0 && height > 0) || data.length !== width * height * channels) {
    throw new Error(`image ${i}: data length ${data.length} does not match ${width}x${height}x${channels}`);
  }
  if (channels === 3) return Uint8Array.from(data);
  if (channels !== 1 && channels !== 2 && channels !== 4) throw new Error(`image ${i}: expected 1, 2, 3 or 4 channels, found ${channels}`);
  const out = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    for (let ch = 0; ch < 3; ch++) out[p * 3 + ch] = channels >= 3 ? data[p * channels + ch] : data[p * channels];
  }
  return out;
}

function normalizeTensor(x01: tf.Tensor4D, cfg: ImageProcessorConfig): tf.Tensor4D {
  return tf.tidy(() => {
    if (!cfg.doNormalize) return x01.clone();
    return tf.div(tf.sub(x01, tf.tensor1d(cfg.mean)), tf.tensor1d(cfg.std)) as tf.Tensor4D;
  });
}

function centerCropTensor(x: tf.Tensor4D, crop: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  if (h < crop || w < crop) throw new Error(`centre crop: image ${h}x${w} is smaller than the crop ${crop}`);
  const top = Math.floor((h - crop) / 2);
  const left = Math.floor((w - crop) / 2);
  return tf.slice(x, [0, top, left, 0], [-1, crop, crop, -1]);
}

/** The CLIPImageProcessor steps; returns NHWC float32 pixels [B, crop, crop, 3]. */
export function preprocessImages(images: ImageInput, cfg: ImageProcessorConfig): tf.Tensor4D {
  if (images instanceof tf.Tensor) {
    const x = images;
    if ((x.rank !== 3 && x.rank !== 4) || x.shape[x.rank - 1] !== 3) {
      throw new Error(`preprocess: expected an NHWC tensor [B, H, W, 3] (or [H, W, 3]), found rank ${x.rank} [${x.shape}]`);
    }
    return tf.tidy(() => {
      let b = (x.rank === 3 ? tf.expandDims(x, 0) : x) as tf.Tensor4D;
      if (x.dtype === 'int32') b = tf.div(tf.cast(b, 'float32'), 255);
      else {
        const [lo, hi] = cfg.inputRange ?? [-1, 1];
        b = tf.div(tf.sub(b, lo), hi - lo);
      }
      if (cfg.doResize) {
        const [h, w] = cfg.resizeTo ?? shortestSideSize(b.shape[1], b.shape[2], cfg.size);
        b = resizeImages(b, h, w, cfg.resample);
      }
      if (cfg.doCenterCrop) b = centerCropTensor(b, cfg.cropSize);
      return normalizeTensor(b, cfg);
    });
  }
  const list = Array.isArray(images) ? images : [images];
  if (!list.length) throw new Error('preprocess: no images');
  const outs: Float32Array[] = [];
  let shape: [number, number] | null = null;
  list.forEach((img, i) => {
    if (!img || !ArrayBuffer.isView(img.data)) throw new Error(`preprocess: image ${i} is neither a tf tensor nor {data, width, height, channels}`);
    let rgb = toRgb(img, i);
    let h = img.height;
    let w = img.width;
    if (cfg.doResize) {
      const [nh, nw] = cfg.resizeTo ?? shortestSideSize(h, w, cfg.size);
      if (cfg.resample !== 'pil-bicubic' && cfg.resample !== 'pil-bilinear') {
        throw new Error(`preprocess: 8-bit images are resized with PIL filters ('pil-bicubic' or 'pil-bilinear'), found '${cfg.resample}'`);
      }
      rgb = pilResizeU8(rgb, h, w, nh, nw, cfg.resample === 'pil-bicubic' ? 'bicubic' : 'bilinear');
      h = nh;
      w = nw;
    }
    let top = 0;
    let left = 0;
    let ch = h;
    let cw = w;
    if (cfg.doCenterCrop) {
      if (h < cfg.cropSize || w < cfg.cropSize) throw new Error(`preprocess: image ${i} (${h}x${w} after resize) is smaller than the crop ${cfg.cropSize}`);
      top = Math.floor((h - cfg.cropSize) / 2);
      left = Math.floor((w - cfg.cropSize) / 2);
      ch = cw = cfg.cropSize;
    }
    if (shape && (shape[0] !== ch || shape[1] !== cw)) throw new Error(`preprocess: images give different sizes (${shape} vs ${ch},${cw}); enable the centre crop`);
    shape = [ch, cw];
    const out = new Float32Array(ch * cw * 3);
    for (let y = 0; y < ch; y++) {
      for (let x = 0; x < cw; x++) {
        for (let c = 0; c < 3; c++) {
          // rescale in float64 then float32, as HF rescale(); normalisation below in float32
          out[(y * cw + x) * 3 + c] = Math.fround(rgb[((y + top) * w + x + left) * 3 + c] * cfg.rescaleFactor);
        }
      }
    }
    outs.push(out);
  });
  return tf.tidy(() => {
    const [ch, cw] = shape!;
    const all = new Float32Array(outs.length * ch * cw * 3);
    outs.forEach((o, i) => all.set(o, i * o.length));
    return normalizeTensor(tf.tensor4d(all, [outs.length, ch, cw, 3]), cfg);
  });
}
