/**
 * Images at the API edge (sharp): NHWC float tensors in [-1, 1] <-> uint8 RGB <-> PNG buffers and files,
 * image grids, and loading an image file into a [1, H, W, 3] tensor with resize + centre crop.
 *
 * Quantisation: u8 = round((x - lo) / (hi - lo) * 255) clipped to [0, 255]; back: x = lo + u8 / 255 * (hi - lo).
 * A round trip is exact to half a step: 1/255 for the default range [-1, 1].
 */
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import type { OutputInfo, Sharp } from 'sharp';
import { writeFileAtomic } from './io/safetensors';

/** Interleaved 8-bit RGB pixels, row-major. */
export interface RGBImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 3;
}

export interface RangeOptions {
  /** Value range of the float tensor (default [-1, 1]). */
  range?: [number, number];
}

export type Colour = [number, number, number] | string;

function checkRange(range: [number, number]): [number, number] {
  if (!Array.isArray(range) || range.length !== 2 || !(range[1] > range[0])) {
    throw new Error(`images: range must be [lo, hi] with lo < hi, found ${JSON.stringify(range)}`);
  }
  return range;
}

function imageShape(t: tf.Tensor): [number, number, number, number] {
  if (t.rank !== 3 && t.rank !== 4) throw new Error(`images: expected an NHWC [N,H,W,3] or HWC [H,W,3] tensor, found shape ${JSON.stringify(t.shape)}`);
  const s = t.rank === 3 ? [1, ...t.shape] : t.shape;
  const c = s[3];
  if (c !== 3 && c !== 1) {
    const nchw = s[1] === 3 || s[1] === 1;
    throw new Error(`images: expected 3 (or 1) channels last, found shape ${JSON.stringify(t.shape)}${nchw ? ' (looks like NCHW: transpose to NHWC first)' : ''}`);
  }
  return s as [number, number, number, number];
}

/** Float NHWC (or HWC) tensor -> one RGBImage per batch item (grey single-channel input is replicated). */
export async function tensorToRGB(images: tf.Tensor, opts: RangeOptions = {}): Promise<RGBImage[]> {
  const [lo, hi] = checkRange(opts.range ?? [-1, 1]);
  const [n, h, w, c] = imageShape(images);
  const u8t = tf.tidy(() => {
    const x = images.rank === 3 ? images.expandDims(0) : images;
    const rgb = c === 1 ? tf.tile(x, [1, 1, 1, 3]) : x;
    return tf.cast(rgb, 'float32').sub(lo).mul(255 / (hi - lo));
  });
  let vals: Float32Array;
  try {
    vals = (await u8t.data()) as Float32Array;
  } finally {
    u8t.dispose();
  }
  const out: RGBImage[] = [];
  const per = h * w * 3;
  for (let i = 0; i < n; i++) {
    const data = new Uint8Array(per);
    for (let j = 0; j < per; j++) {
      const v = vals[i * per + j];
      if (Number.isNaN(v)) throw new Error(`images: image ${i} has NaN values; expected finite numbers in [${lo}, ${hi}]`);
      data[j] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
    }
    out.push({ data, width: w, height: h, channels: 3 });
  }
  return out;
}

/** RGBImages -> a float NHWC tensor [N,H,W,3] in `range` (all images must have one size). */
export function rgbToTensor(images: RGBImage | RGBImage[], opts: RangeOptions = {}): tf.Tensor4D {
  const [lo, hi] = checkRange(opts.range ?? [-1, 1]);
  const list = Array.isArray(images) ? images : [images];
  if (!list.length) throw new Error('images: rgbToTensor needs at least one image');
  const { width: w, height: h } = list[0];
  const per = w * h * 3;
  const out = new Float32Array(list.length * per);
  list.forEach((im, i) => {
    if (im.width !== w || im.height !== h || im.data.length !== per) {
      throw new Error(`images: image ${i} is ${im.width}x${im.height} with ${im.data.length} bytes, expected ${w}x${h} RGB (${per} bytes)`);
    }
    for (let j = 0; j < per; j++) out[i * per + j] = lo + (im.data[j] / 255) * (hi - lo);
  });
  return tf.tensor4d(out, [list.length, h, w, 3]);
}

async function oneRGB(image: tf.Tensor | RGBImage, opts: RangeOptions, what: string): Promise<RGBImage> {
  if (image instanceof tf.Tensor) {
    const [n] = imageShape(image);
    if (n !== 1) throw new Error(`images: ${what} takes one image, found a batch of ${n} (use imageGrid/saveGrid, or slice the batch)`);
    return (await tensorToRGB(image, opts))[0];
  }
  if (!image || !(image.data instanceof Uint8Array) || image.data.length !== image.width * image.height * 3) {
    throw new Error(`images: ${what} expected a tensor or an RGBImage {data, width, height}`);
  }
  return image;
}

export interface PNGOptions extends RangeOptions {
  /** zlib level 0-9 (default 6). */
  compressionLevel?: number;
}

async function encodePNG(im: RGBImage, level = 6): Promise<Buffer> {
  return sharp(Buffer.from(im.data.buffer, im.data.byteOffset, im.data.byteLength), { raw: { width: im.width, height: im.height, channels: 3 } })
    .png({ compressionLevel: level })
    .toBuffer();
}

/** One image (HWC tensor, [1,H,W,C] tensor or RGBImage) -> PNG bytes. */
export async function toPNG(image: tf.Tensor | RGBImage, opts: PNGOptions = {}): Promise<Buffer> {
  return encodePNG(await oneRGB(image, opts, 'toPNG'), opts.compressionLevel);
}

/** Every image of a batch -> PNG bytes. */
export async function toPNGs(images: tf.Tensor, opts: PNGOptions = {}): Promise<Buffer[]> {
  const rgb = await tensorToRGB(images, opts);
  return Promise.all(rgb.map((im) => encodePNG(im, opts.compressionLevel)));
}

/** Write one image as a PNG file, atomically. */
export async function savePNG(file: string, image: tf.Tensor | RGBImage, opts: PNGOptions = {}): Promise<void> {
  writeFileAtomic(file, await toPNG(image, opts));
}

export interface LoadImageOptions extends RangeOptions {
  /** Output size: a number for a square, or [height, width]. Without it the image keeps its size. */
  size?: number | [number, number];
  /**
   * 'center' (default): resize so the image covers the output (shorter side to size), then crop the centre.
   * 'none': resize to the output size exactly (aspect ratio not kept).
   */
  crop?: 'center' | 'none';
  /** sharp resampling kernel (default 'lanczos3'). */
  kernel?: 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos2' | 'lanczos3';
}

/** Decode an image file (or encoded bytes) into RGB, with EXIF orientation applied and alpha dropped. */
export async function loadRGB(input: string | Uint8Array, opts: Omit<LoadImageOptions, 'range'> = {}): Promise<RGBImage> {
  let pipeline: Sharp;
  try {
    pipeline = sharp(typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength), { failOn: 'error' }).rotate();
  } catch (e) {
    throw new Error(`loadImage: cannot open ${typeof input === 'string' ? input : 'buffer'}: ${(e as Error).message}`);
  }
  if (opts.size !== undefined) {
    const [h, w] = typeof opts.size === 'number' ? [opts.size, opts.size] : opts.size;
    if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) throw new Error(`loadImage: size must be a positive integer or [height, width], found ${JSON.stringify(opts.size)}`);
    const crop = opts.crop ?? 'center';
    if (crop !== 'center' && crop !== 'none') throw new Error(`loadImage: crop must be 'center' or 'none', found ${JSON.stringify(crop)}`);
    pipeline = pipeline.resize(w, h, { fit: crop === 'center' ? 'cover' : 'fill', position: 'centre', kernel: opts.kernel ?? 'lanczos3' });
  }
  let res: { data: Buffer; info: OutputInfo };
  try {
    res = await pipeline.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new Error(`loadImage: cannot decode ${typeof input === 'string' ? input : 'buffer'}: ${(e as Error).message}`);
  }
  const { data, info } = res;
  const depth = (info as { depth?: string }).depth;
  if (depth !== undefined && depth !== 'uchar') throw new Error(`loadImage: expected 8-bit samples after conversion, found ${depth}`);
  let rgb: Uint8Array = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (info.channels !== 3) {
    // grey (1) or grey+alpha (2) sources that stayed single-channel: replicate
    const n = info.width * info.height;
    const out = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = rgb[i * info.channels];
    rgb = out;
  }
  return { data: rgb, width: info.width, height: info.height, channels: 3 };
}

/** Load an image file (or encoded bytes) as a [1, H, W, 3] float tensor in `range` (default [-1, 1]). */
export async function loadImage(input: string | Uint8Array, opts: LoadImageOptions = {}): Promise<tf.Tensor4D> {
  return rgbToTensor(await loadRGB(input, opts), opts);
}

export interface GridOptions extends PNGOptions {
  /** Columns (default: ceil(sqrt(N)), or from rows). */
  cols?: number;
  /** Rows (default: ceil(N / cols)). */
  rows?: number;
  /** Pixels between tiles (default 0). */
  gutter?: number;
  /** Also put the gutter around the outside (default false). */
  border?: boolean;
  /** Gutter and empty-cell colour: [r, g, b] 0-255 or '#rrggbb' (default white). */
  background?: Colour;
}

function parseColour(c: Colour): [number, number, number] {
  if (typeof c === 'string') {
    const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(c.trim());
    if (!m) throw new Error(`images: background must be '#rrggbb' or [r, g, b], found ${JSON.stringify(c)}`);
    return [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)];
  }
  if (!Array.isArray(c) || c.length !== 3 || !c.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) {
    throw new Error(`images: background must be '#rrggbb' or [r, g, b] with integers 0-255, found ${JSON.stringify(c)}`);
  }
  return c;
}

/** Lay images out in a rows x cols grid (row-major), as raw RGB. */
export function gridRGB(images: RGBImage[], opts: GridOptions = {}): RGBImage {
  const n = images.length;
  if (!n) throw new Error('images: a grid needs at least one image');
  const { width: w, height: h } = images[0];
  images.forEach((im, i) => {
    if (im.width !== w || im.height !== h) throw new Error(`images: grid tile ${i} is ${im.width}x${im.height}, expected ${w}x${h} like tile 0`);
  });
  let cols = opts.cols;
  let rows = opts.rows;
  if (cols === undefined && rows === undefined) cols = Math.ceil(Math.sqrt(n));
  if (cols === undefined) cols = Math.ceil(n / rows!);
  if (rows === undefined) rows = Math.ceil(n / cols);
  if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 1 || rows < 1) throw new Error(`images: rows and cols must be positive integers, found rows=${rows} cols=${cols}`);
  if (rows * cols < n) throw new Error(`images: a ${rows}x${cols} grid has ${rows * cols} cells for ${n} images`);
  const g = opts.gutter ?? 0;
  if (!Number.isInteger(g) || g < 0) throw new Error(`images: gutter must be a non-negative integer, found ${g}`);
  const b = opts.border ? g : 0;
  const W = cols * w + (cols - 1) * g + 2 * b;
  const H = rows * h + (rows - 1) * g + 2 * b;
  const [br, bg, bb] = parseColour(opts.background ?? [255, 255, 255]);
  const out = new Uint8Array(W * H * 3);
  for (let i = 0; i < W * H; i++) {
    out[3 * i] = br;
    out[3 * i + 1] = bg;
    out[3 * i + 2] = bb;
  }
  images.forEach((im, i) => {
    const ox = b + (i % cols!) * (w + g);
    const oy = b + Math.floor(i / cols!) * (h + g);
    for (let y = 0; y < h; y++) out.set(im.data.subarray(y * w * 3, (y + 1) * w * 3), ((oy + y) * W + ox) * 3);
  });
  return { data: out, width: W, height: H, channels: 3 };
}

/** A grid of N images (an NHWC batch or RGBImages) as PNG bytes. */
export async function imageGrid(images: tf.Tensor | RGBImage[], opts: GridOptions = {}): Promise<Buffer> {
  const rgb = images instanceof tf.Tensor ? await tensorToRGB(images, opts) : images;
  return encodePNG(gridRGB(rgb, opts), opts.compressionLevel);
}

/** Write a grid of images as a PNG file, atomically. */
export async function saveGrid(file: string, images: tf.Tensor | RGBImage[], opts: GridOptions = {}): Promise<void> {
  writeFileAtomic(file, await imageGrid(images, opts));
}
