/**
 * A procedural, labelled and captioned image set that every machine can make ("shapes"): circles, squares,
 * triangles and stars in several colours, with varied size, position and background, drawn as SVG and
 * rasterised by sharp. Plus `checkShapes`, an analytic checker that reads shape and colour back from pixels,
 * used to measure the class accuracy of generated images.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { writeFileAtomic } from '../io/safetensors';
import { HashStream } from './seed';

export const SHAPES = ['circle', 'square', 'triangle', 'star'] as const;
export type ShapeName = (typeof SHAPES)[number];

/** Foreground colours (what a class can be) and their RGB. */
export const SHAPE_COLOURS = {
  red: [220, 40, 40],
  green: [40, 170, 60],
  blue: [40, 80, 225],
  yellow: [235, 205, 40],
} as const;
export type ColourName = keyof typeof SHAPE_COLOURS;
export const COLOURS = Object.keys(SHAPE_COLOURS) as ColourName[];

/** Extra background-only colours. */
export const BACKGROUND_COLOURS: Record<string, readonly [number, number, number]> = {
  black: [20, 20, 20],
  white: [240, 240, 240],
  gray: [128, 128, 128],
};

export type ShapesClassing = 'shape' | 'colour-shape';

/** Class names in label order: 'circle', ... or 'red-circle', 'green-circle', ... */
export function shapesClassNames(classing: ShapesClassing = 'colour-shape'): string[] {
  if (classing === 'shape') return [...SHAPES];
  const out: string[] = [];
  for (const s of SHAPES) for (const c of COLOURS) out.push(`${c}-${s}`);
  return out;
}

export interface ShapeSpec {
  shape: ShapeName;
  colour: ColourName;
  background: string;
  /** Bounding-box side in pixels. */
  size: number;
  cx: number;
  cy: number;
  sizeWord: 'small' | 'medium' | 'large';
}

function rgb(c: readonly number[]): string {
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** Inner radius of the drawn star as a fraction of its outer radius. */
const STAR_INNER = 0.382;

/** The 10 vertices of a regular 5-point star, point up, centred at (cx, cy), outer radius R, inner radius r. */
function starPolygon(cx: number, cy: number, R: number, r: number): [number, number][] {
  const pts: [number, number][] = [];
  for (let k = 0; k < 10; k++) {
    const a = -Math.PI / 2 + (k * Math.PI) / 5;
    const rad = k % 2 === 0 ? R : r;
    pts.push([cx + rad * Math.cos(a), cy + rad * Math.sin(a)]);
  }
  return pts;
}

/** Draw one spec as an SVG document of `res` x `res` pixels. */
export function shapeSvg(spec: ShapeSpec, res: number): string {
  const fg = rgb(SHAPE_COLOURS[spec.colour]);
  const bg = rgb(BACKGROUND_COLOURS[spec.background] ?? SHAPE_COLOURS[spec.background as ColourName]);
  const { cx, cy, size: s } = spec;
  let body: string;
  switch (spec.shape) {
    case 'circle':
      body = `<circle cx="${cx}" cy="${cy}" r="${s / 2}" fill="${fg}"/>`;
      break;
    case 'square':
      body = `<rect x="${cx - s / 2}" y="${cy - s / 2}" width="${s}" height="${s}" fill="${fg}"/>`;
      break;
    case 'triangle':
      body = `<polygon points="${cx},${cy - s / 2} ${cx + s / 2},${cy + s / 2} ${cx - s / 2},${cy + s / 2}" fill="${fg}"/>`;
      break;
    case 'star': {
      // Regular 5-point star, point up; outer radius so that its bbox width (2R sin 72) equals s.
      const R = s / (2 * Math.sin((72 * Math.PI) / 180));
      const r = R * STAR_INNER;
      // Centre the bbox vertically: height is R (1 + cos 36).
      const yc = cy - s / 2 + R + (s - R * (1 + Math.cos(Math.PI / 5))) / 2;
      const pts = starPolygon(cx, yc, R, r).map(([x, y]) => `${x.toFixed(3)},${y.toFixed(3)}`);
      body = `<polygon points="${pts.join(' ')}" fill="${fg}"/>`;
      break;
    }
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${res}" height="${res}" viewBox="0 0 ${res} ${res}">` +
    `<rect width="${res}" height="${res}" fill="${bg}"/>${body}</svg>`;
}

/** The i-th random spec of a seeded shapes set. */
export function shapeSpec(seed: number, i: number, res: number, opts: { shape?: ShapeName; colour?: ColourName; background?: string } = {}): ShapeSpec {
  const r = new HashStream(seed, i);
  const shape = opts.shape ?? r.pick(SHAPES);
  const fixedBg = opts.background !== undefined && opts.background !== 'random' ? opts.background : undefined;
  // with a fixed background, shapes take the other colours only
  const colour = opts.colour ?? r.pick(COLOURS.filter((c) => c !== fixedBg));
  const bgChoices = [...Object.keys(BACKGROUND_COLOURS), ...COLOURS.filter((c) => c !== colour)];
  const background = fixedBg ?? r.pick(bgChoices);
  const frac = r.range(0.4, 0.8);
  const size = Math.round(frac * res);
  const margin = Math.max(1, Math.round(res / 32));
  const half = size / 2;
  const cx = r.range(half + margin, res - half - margin);
  const cy = r.range(half + margin, res - half - margin);
  const sizeWord = frac < 0.53 ? 'small' : frac < 0.67 ? 'medium' : 'large';
  return { shape, colour, background, size, cx, cy, sizeWord };
}

export function shapeCaption(spec: ShapeSpec): string {
  return `a ${spec.sizeWord} ${spec.colour} ${spec.shape} on a ${spec.background} background`;
}

/** Render a spec to raw RGB (uint8, HWC). */
export async function renderShape(spec: ShapeSpec, res: number): Promise<Uint8Array> {
  const { data } = await sharp(Buffer.from(shapeSvg(spec, res))).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

export interface MakeShapesOptions {
  out: string;
  n: number;
  size?: number;
  seed?: number;
  classing?: ShapesClassing;
  /** 'random' (default: any background colour other than the shape's) or one background for every image. */
  background?: string;
  onProgress?: (done: number, total: number) => void;
}

/** Background names `makeShapes` accepts. */
export const SHAPE_BACKGROUNDS = ['random', ...Object.keys(BACKGROUND_COLOURS), ...COLOURS];

export interface MakeShapesResult {
  classes: string[];
  files: number;
  out: string;
}

/**
 * Write a shapes set: `<out>/<class>/<index>.png`, `labels.csv` (file,label), `captions.jsonl`
 * ({file, caption, shape, colour, background, size}), and `classes.json` (class names in label order).
 */
export async function makeShapes(opts: MakeShapesOptions): Promise<MakeShapesResult> {
  const res = opts.size ?? 32;
  const seed = opts.seed ?? 0;
  const classing = opts.classing ?? 'colour-shape';
  if (!Number.isInteger(opts.n) || opts.n < 1) throw new Error(`make-shapes: --n must be a positive integer, got ${opts.n}`);
  if (!Number.isInteger(res) || res < 8 || res > 1024) throw new Error(`make-shapes: --size must be an integer in [8, 1024], got ${res}`);
  const background = opts.background ?? 'random';
  if (!SHAPE_BACKGROUNDS.includes(background)) throw new Error(`make-shapes: --background must be one of ${SHAPE_BACKGROUNDS.join(', ')}, got '${background}'`);
  if (classing === 'colour-shape' && COLOURS.includes(background as ColourName)) {
    throw new Error(`make-shapes: a ${background} background leaves no ${background} shapes, but 'colour-shape' classes include them: use --classes shape or a background of ${Object.keys(BACKGROUND_COLOURS).join(', ')}`);
  }
  const classes = shapesClassNames(classing);
  fs.mkdirSync(opts.out, { recursive: true });
  for (const c of classes) fs.mkdirSync(path.join(opts.out, c), { recursive: true });
  const width = Math.max(5, String(opts.n - 1).length);
  const labels: string[] = ['file,label'];
  const captions: string[] = [];
  const chunk = 32;
  for (let start = 0; start < opts.n; start += chunk) {
    const idx = Array.from({ length: Math.min(chunk, opts.n - start) }, (_, k) => start + k);
    await Promise.all(idx.map(async (i) => {
      const spec = shapeSpec(seed, i, res, { background });
      const cls = classing === 'shape' ? spec.shape : `${spec.colour}-${spec.shape}`;
      const file = `${cls}/${String(i).padStart(width, '0')}.png`;
      const png = await sharp(Buffer.from(shapeSvg(spec, res))).removeAlpha().png().toBuffer();
      fs.writeFileSync(path.join(opts.out, file), png);
      labels[i + 1] = `${file},${cls}`;
      captions[i] = JSON.stringify({ file, caption: shapeCaption(spec), shape: spec.shape, colour: spec.colour,
        background: spec.background, size: spec.sizeWord });
    }));
    opts.onProgress?.(Math.min(opts.n, start + chunk), opts.n);
  }
  writeFileAtomic(path.join(opts.out, 'labels.csv'), labels.join('\n') + '\n');
  writeFileAtomic(path.join(opts.out, 'captions.jsonl'), captions.join('\n') + '\n');
  writeFileAtomic(path.join(opts.out, 'classes.json'), JSON.stringify(classes, null, 1) + '\n');
  return { classes, files: opts.n, out: opts.out };
}

export interface ShapeCheck {
  shape: ShapeName | 'none';
  colour: ColourName | 'none';
  /** Foreground pixels / bounding-box area (the main shape feature). */
  fill: number;
  /** Foreground pixel count. */
  area: number;
  /** IoU of the region with each class's ideal outline fitted to its bounding box (the shape is the best). */
  scores?: Record<ShapeName, number>;
  /** The session-3 rule, shape from the fill ratio alone (kept for comparison; fails on soft-edged squares). */
  fillShape?: ShapeName;
}

/** The star's outline in its own unit bounding box (point up, inner radius 0.382 R, as `shapeSvg` draws it). */
const UNIT_STAR: [number, number][] = (() => {
  const pts = starPolygon(0, 0, 1, STAR_INNER);
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const [xa, xb, ya, yb] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  return pts.map(([x, y]) => [(x - xa) / (xb - xa), (y - ya) / (yb - ya)] as [number, number]);
})();

function insidePolygon(x: number, y: number, poly: [number, number][]): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Whether the point (u, v) of the unit bounding box [0, 1]² lies inside the class's ideal outline. */
function insideUnitShape(shape: ShapeName, u: number, v: number): boolean {
  switch (shape) {
    case 'square':
      return true;
    case 'circle':
      return (u - 0.5) ** 2 + (v - 0.5) ** 2 <= 0.25;
    case 'triangle': // apex at the top centre, base along the bottom
      return Math.abs(u - 0.5) <= v / 2;
    case 'star':
      return insidePolygon(u, v, UNIT_STAR);
  }
}

/**
 * Soft IoU of a region (pixel indices of an h x w image, bounding box x0..x1, y0..y1 inclusive) with each class's
 * outline stretched to that box, rasterised with 4 x 4 samples per pixel.
 */
function templateScores(comp: number[], w: number, x0: number, x1: number, y0: number, y1: number): Record<ShapeName, number> {
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  const inRegion = new Uint8Array(bw * bh);
  for (const i of comp) {
    const y = Math.floor(i / w);
    inRegion[(y - y0) * bw + (i - y * w - x0)] = 1;
  }
  const out = {} as Record<ShapeName, number>;
  const S = 4;
  for (const shape of SHAPES) {
    let inter = 0;
    let union = 0;
    for (let y = 0; y < bh; y++) {
      for (let x = 0; x < bw; x++) {
        let t = 0;
        for (let sy = 0; sy < S; sy++) {
          for (let sx = 0; sx < S; sx++) if (insideUnitShape(shape, (x + (sx + 0.5) / S) / bw, (y + (sy + 0.5) / S) / bh)) t++;
        }
        t /= S * S;
        const m = inRegion[y * bw + x];
        inter += Math.min(m, t);
        union += Math.max(m, t);
      }
    }
    out[shape] = union > 0 ? inter / union : 0;
  }
  return out;
}

/** The session-3 rule: fill thresholds half-way between the rendered ranges at 32 px. */
function shapeFromFill(fill: number): ShapeName {
  // star 0.35-0.46, triangle 0.50-0.58, circle 0.76-0.85, square 0.99-1
  return fill >= 0.9 ? 'square' : fill >= 0.67 ? 'circle' : fill >= 0.478 ? 'triangle' : 'star';
}

/** Pixel indices of the largest 8-connected component of a binary h x w mask (first found on ties). */
export function largestComponent(mask: Uint8Array, h: number, w: number): number[] {
  const seen = new Uint8Array(h * w);
  let best: number[] = [];
  const stack: number[] = [];
  for (let start = 0; start < h * w; start++) {
    if (!mask[start] || seen[start]) continue;
    const comp: number[] = [];
    seen[start] = 1;
    stack.push(start);
    while (stack.length) {
      const i = stack.pop() as number;
      comp.push(i);
      const y = Math.floor(i / w);
      const x = i - y * w;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
          const j = yy * w + xx;
          if (mask[j] && !seen[j]) {
            seen[j] = 1;
            stack.push(j);
          }
        }
      }
    }
    if (comp.length > best.length) best = comp;
  }
  return best;
}

/**
 * Read shape and colour from pixels: background = per-channel median of the border; foreground = pixels far
 * from it; colour = nearest shape colour to the mean of confident foreground pixels; shape = the class whose ideal
 * outline, stretched to the bounding box of the largest connected foreground region, overlaps that region best
 * (IoU). The fill ratio alone (session 3) called every soft-edged generated square a circle.
 * `rgb`: uint8 HWC (3 channels) of size `h` x `w`.
 */
export function checkShapes(rgbData: Uint8Array | Float32Array | number[], h: number, w: number): ShapeCheck {
  if (rgbData.length !== h * w * 3) throw new Error(`checkShapes: expected ${h}x${w}x3 = ${h * w * 3} values, got ${rgbData.length}`);
  const px = (y: number, x: number, c: number) => rgbData[(y * w + x) * 3 + c];
  const border: number[][] = [[], [], []];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (y === 0 || x === 0 || y === h - 1 || x === w - 1) for (let c = 0; c < 3; c++) border[c].push(px(y, x, c));
    }
  }
  const bg = border.map((v) => {
    v.sort((a, b) => a - b);
    return v[v.length >> 1];
  });
  const dist = new Float32Array(h * w);
  let dmax = 0;
  for (let i = 0; i < h * w; i++) {
    const d = Math.hypot(rgbData[i * 3] - bg[0], rgbData[i * 3 + 1] - bg[1], rgbData[i * 3 + 2] - bg[2]);
    dist[i] = d;
    if (d > dmax) dmax = d;
  }
  const none: ShapeCheck = { shape: 'none', colour: 'none', fill: 0, area: 0 };
  if (dmax < 40) return none;
  // Foreground colour: mean of pixels at >= 70% of the maximal distance.
  const mean = [0, 0, 0];
  let cnt = 0;
  for (let i = 0; i < h * w; i++) {
    if (dist[i] >= 0.7 * dmax) {
      for (let c = 0; c < 3; c++) mean[c] += rgbData[i * 3 + c];
      cnt++;
    }
  }
  for (let c = 0; c < 3; c++) mean[c] /= cnt;
  let colour: ColourName = COLOURS[0];
  let best = Infinity;
  for (const c of COLOURS) {
    const ref = SHAPE_COLOURS[c];
    const d = Math.hypot(mean[0] - ref[0], mean[1] - ref[1], mean[2] - ref[2]);
    if (d < best) {
      best = d;
      colour = c;
    }
  }
  const dfg = Math.hypot(mean[0] - bg[0], mean[1] - bg[1], mean[2] - bg[2]);
  // Binary mask at half-way between background and foreground; the shape is its largest 8-connected component
  // (stray pixels elsewhere, common in generated images, would otherwise stretch the bounding box).
  const mask = new Uint8Array(h * w);
  for (let i = 0; i < h * w; i++) mask[i] = dist[i] >= 0.5 * dfg ? 1 : 0;
  const comp = largestComponent(mask, h, w);
  let y0 = h, y1 = -1, x0 = w, x1 = -1;
  const area = comp.length;
  for (const i of comp) {
    const y = Math.floor(i / w);
    const x = i - y * w;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
  }
  if (area < 4) return { ...none, colour, area };
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  const fill = area / (bw * bh);
  const scores = templateScores(comp, w, x0, x1, y0, y1);
  let shape: ShapeName = SHAPES[0];
  for (const s of SHAPES) if (scores[s] > scores[shape]) shape = s;
  return { shape, colour, fill, area, scores, fillShape: shapeFromFill(fill) };
}
