/**
 * Image-folder datasets and a seeded, prefetching loader that streams from disk.
 *
 * A dataset is a folder of images (png / jpg / jpeg / webp, found recursively, in sorted order) with optional
 *  - class labels: from `labels.csv` / `labels.txt` (lines `file,label` or `file<TAB>label`, file relative to the
 *    folder; an optional `file,label` header), else from the first sub-folder name of each image; class ids follow
 *    `classes.json` (an array of names) when present, else the sorted class names (all-integer names are ids);
 *  - captions: from `captions.jsonl` (lines `{"file": ..., "caption": ...}`), else `<image>.txt` / `<stem>.txt`.
 *
 * The loader's data order is a pure function of (seed, position): epoch e uses a seeded permutation, and the
 * random flip of a sample depends on its position only. Its whole state is one integer (`position`), saved in
 * checkpoints, so a resumed run sees exactly the same batches. Only a small window of decoded images is held in
 * memory. Unreadable / too-small files are reported (path + reason) and skipped, never fatal.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import type { TrainBatch } from '../trainer';
import { hashUniform, mixSeed, seededPermutation } from './seed';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp'];

export interface DatasetItem {
  /** Absolute path. */
  file: string;
  /** Path relative to the dataset root, with '/' separators. */
  rel: string;
  label?: number;
  caption?: string;
}

export interface ImageFolderDataset {
  root: string;
  items: DatasetItem[];
  /** Class names by id (empty when unlabelled). */
  classes: string[];
  hasLabels: boolean;
  hasCaptions: boolean;
  /** Problems found while scanning (bad label lines, captions for missing files...). */
  warnings: string[];
}

export interface ScanOptions {
  /** Explicit labels file (default: `labels.csv` or `labels.txt` in the root). */
  labelsFile?: string;
  /** Explicit captions file (default: `captions.jsonl` in the root). */
  captionsFile?: string;
  /** Use sub-folder names as labels when no labels file exists (default true). */
  folderLabels?: boolean;
}

function walk(dir: string, out: string[]): void {
  const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile() && IMAGE_EXTENSIONS.includes(path.extname(e.name).toLowerCase())) out.push(p);
  }
}

const toRel = (root: string, file: string) => path.relative(root, file).split(path.sep).join('/');

/** Scan a folder into a dataset description (paths, labels, captions). Throws on a missing or empty folder. */
export function scanImageFolder(root: string, opts: ScanOptions = {}): ImageFolderDataset {
  root = path.resolve(root);
  if (!fs.existsSync(root)) throw new Error(`data folder not found: ${root}`);
  if (!fs.statSync(root).isDirectory()) throw new Error(`data path is not a folder: ${root}`);
  const files: string[] = [];
  walk(root, files);
  if (files.length === 0) {
    throw new Error(`no images in ${root} (looked recursively for ${IMAGE_EXTENSIONS.join(' ')})`);
  }
  const warnings: string[] = [];
  const items: DatasetItem[] = files.map((file) => ({ file, rel: toRel(root, file) }));
  const byRel = new Map(items.map((it) => [it.rel, it]));

  // Labels.
  let labelNames: Map<DatasetItem, string> | null = null;
  const labelsFile = opts.labelsFile ?? ['labels.csv', 'labels.txt'].map((f) => path.join(root, f)).find((f) => fs.existsSync(f));
  if (labelsFile) {
    if (!fs.existsSync(labelsFile)) throw new Error(`labels file not found: ${labelsFile}`);
    labelNames = new Map();
    const lines = fs.readFileSync(labelsFile, 'utf8').split(/\r?\n/);
    lines.forEach((line, i) => {
      if (!line.trim() || (i === 0 && /^file[,\t]label$/i.test(line.trim()))) return;
      const m = line.match(/^(.*)[,\t]([^,\t]*)$/);
      if (!m) {
        warnings.push(`${labelsFile}:${i + 1}: expected "file,label", got ${JSON.stringify(line.slice(0, 80))}`);
        return;
      }
      const it = byRel.get(m[1].trim().replace(/\\/g, '/'));
      if (!it) warnings.push(`${labelsFile}:${i + 1}: no image ${m[1].trim()} in ${root}`);
      else labelNames!.set(it, m[2].trim());
    });
  } else if (opts.folderLabels !== false && items.every((it) => it.rel.includes('/'))) {
    labelNames = new Map(items.map((it) => [it, it.rel.split('/')[0]]));
  }
  let classes: string[] = [];
  if (labelNames && labelNames.size > 0) {
    const classesFile = path.join(root, 'classes.json');
    const names = [...new Set(labelNames.values())];
    if (fs.existsSync(classesFile)) {
      classes = JSON.parse(fs.readFileSync(classesFile, 'utf8'));
      if (!Array.isArray(classes) || classes.some((c) => typeof c !== 'string')) {
        throw new Error(`${classesFile}: expected a JSON array of class names`);
      }
      const unknown = names.filter((n) => !classes.includes(n));
      if (unknown.length) throw new Error(`labels not in ${classesFile}: ${unknown.slice(0, 10).join(', ')}`);
    } else if (names.every((n) => /^\d+$/.test(n))) {
      const max = Math.max(...names.map(Number));
      classes = Array.from({ length: max + 1 }, (_, i) => String(i));
    } else {
      classes = names.sort();
    }
    const id = new Map(classes.map((c, i) => [c, i]));
    for (const [it, name] of labelNames) it.label = id.get(name);
    const unlabelled = items.filter((it) => it.label === undefined);
    if (unlabelled.length) {
      warnings.push(`${unlabelled.length} image(s) without a label are skipped, e.g. ${unlabelled[0].rel}`);
    }
  }

  // Captions.
  const captionsFile = opts.captionsFile ?? path.join(root, 'captions.jsonl');
  if (opts.captionsFile && !fs.existsSync(opts.captionsFile)) throw new Error(`captions file not found: ${opts.captionsFile}`);
  if (fs.existsSync(captionsFile)) {
    fs.readFileSync(captionsFile, 'utf8').split(/\r?\n/).forEach((line, i) => {
      if (!line.trim()) return;
      try {
        const o = JSON.parse(line);
        const f = String(o.file ?? o.image ?? o.file_name ?? '').replace(/\\/g, '/');
        const c = o.caption ?? o.text;
        const it = byRel.get(f);
        if (!it) warnings.push(`${captionsFile}:${i + 1}: no image ${f} in ${root}`);
        else if (typeof c !== 'string') warnings.push(`${captionsFile}:${i + 1}: no "caption" string`);
        else it.caption = c;
      } catch (e) {
        warnings.push(`${captionsFile}:${i + 1}: not JSON (${(e as Error).message})`);
      }
    });
  } else {
    for (const it of items) {
      const stem = it.file.slice(0, -path.extname(it.file).length);
      for (const f of [`${it.file}.txt`, `${stem}.txt`]) {
        if (fs.existsSync(f)) {
          it.caption = fs.readFileSync(f, 'utf8').trim();
          break;
        }
      }
    }
  }
  const hasLabels = items.some((it) => it.label !== undefined);
  const hasCaptions = items.some((it) => it.caption !== undefined);
  return { root, items: hasLabels ? items.filter((it) => it.label !== undefined) : items, classes, hasLabels, hasCaptions, warnings };
}

export interface LoaderOptions {
  batchSize: number;
  /** Output side length: images are resized (cover) and centre-cropped to resolution x resolution. */
  resolution: number;
  seed?: number;
  /** Random horizontal flip (default true). */
  flip?: boolean;
  /** Decoded samples kept ahead (default 4 batches). */
  prefetch?: number;
  /** Batches must carry labels / captions: images without them are errors at construction. */
  requireLabels?: boolean;
  requireCaptions?: boolean;
  /** Allow upscaling images smaller than `resolution` (default false: they are reported and skipped). */
  allowUpscale?: boolean;
  /** Called once per bad file (path + reason); the file is skipped. Default: print to stderr. */
  onBadFile?: (file: string, reason: string) => void;
  /** Start position (samples consumed so far, from a checkpoint). */
  position?: number;
  /**
   * Relative sampling rate of each class (by class id; labelled datasets only). With it, each sample is an
   * independent weighted draw (with replacement) seeded by (seed, position) instead of a per-epoch permutation, so
   * a class with weight 3 is seen 3x as often per image as one with weight 1; the order still resumes exactly.
   */
  classWeights?: number[];
}

interface Slot {
  pos: number;
  idx: number;
  item: DatasetItem;
  promise: Promise<Float32Array | Error>;
}

/** A decoded batch plus where it came from. */
export interface LoadedBatch {
  batch: TrainBatch;
  /** Dataset item indices of the batch, in order. */
  indices: number[];
}

export function disposeBatch(b: TrainBatch): void {
  b.images.dispose();
  b.labels?.dispose();
}

/** Decode one image file to float32 HWC RGB in [-1, 1] at `res` x `res` (cover-resize + centre crop). */
export async function loadImageFile(file: string, res: number, allowUpscale = false): Promise<Float32Array> {
  const img = sharp(file, { failOn: 'error' });
  const meta = await img.metadata();
  if (!meta.width || !meta.height) throw new Error('no image dimensions');
  if (!allowUpscale && (meta.width < res || meta.height < res)) {
    throw new Error(`too small: ${meta.width}x${meta.height}, the model needs at least ${res}x${res}`);
  }
  const { data, info } = await img
    .removeAlpha()
    .toColourspace('srgb')
    .resize(res, res, { fit: 'cover', position: 'centre' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== res || info.height !== res) {
    throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${res}x${res}x3`);
  }
  const out = new Float32Array(res * res * 3);
  for (let i = 0; i < out.length; i++) out[i] = data[i] / 127.5 - 1;
  return out;
}

/** Cumulative per-item weights from per-class weights; an Error naming what is wrong with the weights. */
function cumulativeClassWeights(dataset: ImageFolderDataset, weights: number[]): Float64Array {
  if (!dataset.hasLabels) throw new Error(`class weights need a labelled dataset, but ${dataset.root} has no labels`);
  const k = dataset.classes.length;
  if (!Array.isArray(weights) || weights.length !== k) {
    throw new Error(`expected ${k} class weights (${dataset.classes.join(', ')}), got ${Array.isArray(weights) ? weights.length : typeof weights}`);
  }
  weights.forEach((w, i) => {
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) throw new Error(`class weight of ${dataset.classes[i]} must be a finite number >= 0, got ${w}`);
  });
  const cw = new Float64Array(dataset.items.length);
  let acc = 0;
  dataset.items.forEach((it, i) => {
    acc += weights[it.label as number] ?? 0;
    cw[i] = acc;
  });
  if (!(acc > 0)) throw new Error(`class weights ${JSON.stringify(weights)} give every image of ${dataset.root} weight 0`);
  return cw;
}

/**
 * Seeded, shuffling, prefetching batch loader over an `ImageFolderDataset`. Infinite: epochs follow each other.
 */
export class DataLoader {
  readonly dataset: ImageFolderDataset;
  private readonly opts: Required<Omit<LoaderOptions, 'position' | 'onBadFile' | 'classWeights'>> & Pick<LoaderOptions, 'onBadFile'>;
  /** Cumulative item weights (classWeights mode), else null. */
  private readonly cumWeights: Float64Array | null = null;
  private _position: number;
  private queue: Slot[] = [];
  private nextPos: number;
  private perm: { epoch: number; p: Uint32Array } | null = null;
  private readonly bad = new Set<number>();
  /** Count of bad files met so far (each file counted once). */
  badFiles = 0;

  constructor(dataset: ImageFolderDataset, opts: LoaderOptions) {
    this.dataset = dataset;
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new Error(`batch size must be a positive integer, got ${opts.batchSize}`);
    this.opts = {
      seed: 0, flip: true, prefetch: 4 * opts.batchSize, requireLabels: false, requireCaptions: false, allowUpscale: false,
      ...opts,
    } as DataLoader['opts'];
    if (this.opts.requireLabels && !dataset.hasLabels) {
      throw new Error(`the model is class-conditional but ${dataset.root} has no labels (use class sub-folders or a labels.csv)`);
    }
    if (this.opts.requireCaptions) {
      const missing = dataset.items.filter((it) => it.caption === undefined);
      if (missing.length) {
        throw new Error(`the model is text-conditional but ${missing.length} of ${dataset.items.length} images have no caption ` +
          `(e.g. ${missing[0].rel}); add captions.jsonl or <image>.txt files`);
      }
    }
    if (opts.classWeights !== undefined) this.cumWeights = cumulativeClassWeights(dataset, opts.classWeights);
    this._position = opts.position ?? 0;
    this.nextPos = this._position;
  }

  get batchSize(): number {
    return this.opts.batchSize;
  }

  /** Samples consumed so far (the loader's whole state). */
  get position(): number {
    return this._position;
  }

  get epoch(): number {
    return Math.floor(this._position / this.dataset.items.length);
  }

  private itemAt(pos: number): number {
    const n = this.dataset.items.length;
    const cw = this.cumWeights;
    if (cw) {
      // weighted draw: the first item whose cumulative weight exceeds u · total (binary search)
      const u = hashUniform(this.opts.seed, 0x636c7377, pos) * cw[n - 1];
      let lo = 0;
      let hi = n - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cw[mid] > u) hi = mid;
        else lo = mid + 1;
      }
      return lo;
    }
    const epoch = Math.floor(pos / n);
    if (!this.perm || this.perm.epoch !== epoch) this.perm = { epoch, p: seededPermutation(n, mixSeed(this.opts.seed, epoch)) };
    return this.perm.p[pos % n];
  }

  private fill(): void {
    while (this.queue.length < Math.max(this.opts.prefetch, this.opts.batchSize)) {
      const pos = this.nextPos++;
      const idx = this.itemAt(pos);
      const item = this.dataset.items[idx];
      const promise = this.bad.has(idx)
        ? Promise.resolve(new Error('skipped (bad file)'))
        : loadImageFile(item.file, this.opts.resolution, this.opts.allowUpscale).catch((e: Error) => e);
      this.queue.push({ pos, idx, item, promise });
    }
  }

  /** The next batch (the caller disposes it with `disposeBatch`). Throws if every file of the dataset is bad. */
  async next(): Promise<LoadedBatch> {
    const { batchSize: B, resolution: R } = this.opts;
    const pix = R * R * 3;
    const images = new Float32Array(B * pix);
    const labels: number[] = [];
    const captions: string[] = [];
    const indices: number[] = [];
    let misses = 0;
    while (indices.length < B) {
      this.fill();
      const slot = this.queue.shift()!;
      const res = await slot.promise;
      this._position = slot.pos + 1;
      const idx = slot.idx;
      if (res instanceof Error) {
        if (!this.bad.has(idx)) {
          this.bad.add(idx);
          this.badFiles++;
          const report = this.opts.onBadFile ?? ((f: string, r: string) => process.stderr.write(`warning: skipping ${f}: ${r}\n`));
          report(slot.item.file, res.message);
        }
        if (++misses > this.dataset.items.length) {
          throw new Error(`every image${this.cumWeights ? ' with a non-zero class weight' : ''} in ${this.dataset.root} failed to load (last: ${slot.item.file}: ${res.message})`);
        }
        continue;
      }
      const b = indices.length;
      const flip = this.opts.flip && hashUniform(this.opts.seed, 0x666c6970, slot.pos) < 0.5;
      if (!flip) images.set(res, b * pix);
      else {
        for (let y = 0; y < R; y++) {
          for (let x = 0; x < R; x++) {
            const s = (y * R + x) * 3;
            const d = b * pix + (y * R + (R - 1 - x)) * 3;
            images[d] = res[s];
            images[d + 1] = res[s + 1];
            images[d + 2] = res[s + 2];
          }
        }
      }
      indices.push(idx);
      if (slot.item.label !== undefined) labels.push(slot.item.label);
      if (slot.item.caption !== undefined) captions.push(slot.item.caption);
    }
    const batch: TrainBatch = { images: tf.tensor4d(images, [B, R, R, 3]) };
    if (this.dataset.hasLabels) batch.labels = tf.tensor1d(labels, 'int32');
    if (this.dataset.hasCaptions && captions.length === B) batch.captions = captions;
    return { batch, indices };
  }

  /** Jump to a position (samples consumed), e.g. from a checkpoint; prefetched work is dropped. */
  seek(position: number): void {
    if (!Number.isInteger(position) || position < 0) throw new Error(`loader position must be a non-negative integer, got ${position}`);
    this._position = position;
    this.close();
  }

  /** Drop prefetched work (pending decodes finish in the background and are discarded). */
  close(): void {
    this.queue = [];
    this.nextPos = this._position;
  }
}
