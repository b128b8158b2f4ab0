import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { gridRGB, imageGrid, loadImage, loadRGB, rgbToTensor, saveGrid, savePNG, tensorToRGB, toPNG, toPNGs, RGBImage } from '../src/images';

let dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-images-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function decode(file: string | Buffer) {
  const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: info.channels };
}

function solid(w: number, h: number, c: [number, number, number]): RGBImage {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set(c, 3 * i);
  return { data, width: w, height: h, channels: 3 };
}

describe('tensor <-> PNG', () => {
  test('round trip through PNG files is within 1/255 and leak-free', async () => {
    const x = tf.randomUniform([3, 17, 23, 3], -1, 1, 'float32', 7) as tf.Tensor4D;
    const xs = (await x.data()) as Float32Array;
    const before = tf.memory().numTensors;
    const pngs = await toPNGs(x);
    expect(tf.memory().numTensors).toBe(before);
    for (let i = 0; i < 3; i++) {
      const file = path.join(dir, `rt${i}.png`);
      const one = tf.slice(x, [i, 0, 0, 0], [1, 17, 23, 3]);
      await savePNG(file, one);
      one.dispose();
      expect(fs.readFileSync(file).equals(pngs[i])).toBe(true);
      const back = await loadImage(file);
      expect(back.shape).toEqual([1, 17, 23, 3]);
      const b = (await back.data()) as Float32Array;
      back.dispose();
      let maxErr = 0;
      for (let j = 0; j < b.length; j++) maxErr = Math.max(maxErr, Math.abs(b[j] - xs[i * b.length + j]));
      expect(maxErr).toBeLessThanOrEqual(1 / 255 + 1e-6);
      expect(maxErr).toBeGreaterThan(0); // real quantisation happened
      // the PNG holds exactly round((x + 1) * 127.5)
      const d = await decode(file);
      expect([d.width, d.height, d.channels]).toEqual([23, 17, 3]);
      for (let j = 0; j < 50; j++) expect(d.data[j]).toBe(Math.round((xs[i * b.length + j] + 1) * 127.5));
    }
    x.dispose();
    expect(tf.memory().numTensors).toBe(before - 1);
  });

  test('values are clipped, custom ranges and grey input work', async () => {
    const t = tf.tensor3d([-3, -1, 0, 1, 3, 0.5], [1, 2, 3]); // HWC, 3 channels
    const [im] = await tensorToRGB(t);
    expect(Array.from(im.data)).toEqual([0, 0, 128, 255, 255, 191]);
    const [im01] = await tensorToRGB(tf.tensor4d([0, 0.5, 1], [1, 1, 1, 3]), { range: [0, 1] });
    expect(Array.from(im01.data)).toEqual([0, 128, 255]);
    const [grey] = await tensorToRGB(tf.tensor4d([-1, 1], [1, 1, 2, 1]));
    expect(Array.from(grey.data)).toEqual([0, 0, 0, 255, 255, 255]);
    const back = rgbToTensor(im01, { range: [0, 1] });
    expect(Array.from(await back.data())).toEqual([0, 128 / 255, 1].map((v) => Math.fround(v)));
    back.dispose();
    t.dispose();
  });

  test('bad input: NCHW, batches to toPNG, NaN, bad range', async () => {
    const nchw = tf.zeros([1, 3, 8, 8]);
    await expect(tensorToRGB(nchw)).rejects.toThrow(/3 \(or 1\) channels last, found shape \[1,3,8,8\] \(looks like NCHW/);
    const batch = tf.zeros([2, 4, 4, 3]);
    await expect(toPNG(batch)).rejects.toThrow(/toPNG takes one image, found a batch of 2/);
    const nan = tf.tensor4d([NaN, 0, 0], [1, 1, 1, 3]);
    await expect(toPNG(nan)).rejects.toThrow(/NaN/);
    await expect(tensorToRGB(batch, { range: [1, 1] })).rejects.toThrow(/range must be \[lo, hi\] with lo < hi/);
    tf.dispose([nchw, batch, nan]);
  });
});

describe('loadImage', () => {
  // 60 x 30: red columns 0-14, green 15-44, blue 45-59
  let file: string;
  beforeAll(async () => {
    const w = 60;
    const h = 30;
    const data = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) data.set(x < 15 ? [255, 0, 0] : x < 45 ? [0, 255, 0] : [0, 0, 255], (y * w + x) * 3);
    }
    file = path.join(dir, 'bands.png');
    await sharp(Buffer.from(data), { raw: { width: w, height: h, channels: 3 } }).png().toFile(file);
  });

  test('resize the shorter side and crop the centre', async () => {
    const t = await loadImage(file, { size: 10, kernel: 'nearest' });
    expect(t.shape).toEqual([1, 10, 10, 3]);
    const v = await t.data();
    t.dispose();
    // 60x30 -> 20x10, centre 10 columns = original columns 15..44: all green
    for (let i = 0; i < 100; i++) expect([v[3 * i], v[3 * i + 1], v[3 * i + 2]]).toEqual([-1, 1, -1]);
  });

  test("crop 'none' stretches; [h, w] sizes; no size keeps the original", async () => {
    const t = await loadImage(file, { size: [6, 12], crop: 'none', kernel: 'nearest' });
    expect(t.shape).toEqual([1, 6, 12, 3]);
    const row = Array.from((await t.data()).slice(0, 36));
    t.dispose();
    const col = (x: number) => row.slice(3 * x, 3 * x + 3);
    expect(col(0)).toEqual([1, -1, -1]);
    expect(col(6)).toEqual([-1, 1, -1]);
    expect(col(11)).toEqual([-1, -1, 1]);
    const full = await loadRGB(file);
    expect([full.width, full.height]).toEqual([60, 30]);
  });

  test('RGBA and grey sources come out as RGB', async () => {
    const rgba = path.join(dir, 'rgba.png');
    await sharp({ create: { width: 4, height: 3, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 0.5 } } }).png().toFile(rgba);
    const a = await loadRGB(rgba);
    expect(Array.from(a.data.subarray(0, 3))).toEqual([10, 20, 30]);
    expect(a.data.length).toBe(4 * 3 * 3);
    const grey = path.join(dir, 'grey.png');
    await sharp(Buffer.from([0, 100, 200, 255]), { raw: { width: 2, height: 2, channels: 1 } }).png().toFile(grey);
    const g = await loadRGB(grey);
    expect(Array.from(g.data)).toEqual([0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255]);
  });

  test('bad input', async () => {
    await expect(loadImage(path.join(dir, 'missing.png'))).rejects.toThrow(/loadImage: cannot (open|decode) .*missing\.png/);
    fs.writeFileSync(path.join(dir, 'junk.png'), 'not an image');
    await expect(loadImage(path.join(dir, 'junk.png'))).rejects.toThrow(/loadImage: cannot (open|decode) .*junk\.png/);
    await expect(loadImage(file, { size: 0 })).rejects.toThrow(/size must be a positive integer/);
  });
});

describe('grids', () => {
  const colours: [number, number, number][] = [
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
    [255, 255, 0],
    [0, 255, 255],
  ];
  const tiles = colours.map((c) => solid(6, 4, c));
  const bg: [number, number, number] = [10, 20, 30];

  test('rows x cols with gutter and background, decoded back from a PNG file', async () => {
    const file = path.join(dir, 'grid.png');
    await saveGrid(file, tiles, { cols: 3, gutter: 2, background: bg });
    const d = await decode(file);
    expect([d.width, d.height, d.channels]).toEqual([3 * 6 + 2 * 2, 2 * 4 + 2, 3]);
    const px = (x: number, y: number) => Array.from(d.data.subarray((y * d.width + x) * 3, (y * d.width + x) * 3 + 3));
    for (let i = 0; i < 6; i++) {
      const ox = (i % 3) * 8;
      const oy = Math.floor(i / 3) * 6;
      for (let y = 0; y < 4; y++) for (let x = 0; x < 6; x++) expect(px(ox + x, oy + y)).toEqual(i < 5 ? colours[i] : bg);
    }
    for (const x of [6, 7, 14, 15]) for (let y = 0; y < d.height; y++) expect(px(x, y)).toEqual(bg); // vertical gutters
    for (const y of [4, 5]) for (let x = 0; x < d.width; x++) expect(px(x, y)).toEqual(bg); // horizontal gutter
  });

  test('from a tensor batch, rows given, border and hex background', async () => {
    const batch = rgbToTensor(tiles.slice(0, 4));
    const before = tf.memory().numTensors;
    const png = await imageGrid(batch, { rows: 1, gutter: 1, border: true, background: '#ffffff' });
    expect(tf.memory().numTensors).toBe(before);
    batch.dispose();
    const d = await decode(png);
    expect([d.width, d.height]).toEqual([4 * 6 + 5, 4 + 2]);
    const px = (x: number, y: number) => Array.from(d.data.subarray((y * d.width + x) * 3, (y * d.width + x) * 3 + 3));
    expect(px(0, 0)).toEqual([255, 255, 255]);
    expect(px(1, 1)).toEqual(colours[0]);
    expect(px(1 + 7 * 3, 1)).toEqual(colours[3]);
    expect(px(d.width - 1, d.height - 1)).toEqual([255, 255, 255]);
  });

  test('default layout is square-ish; errors name what is wrong', () => {
    const g = gridRGB(tiles);
    expect([g.width, g.height]).toEqual([3 * 6, 2 * 4]);
    expect(() => gridRGB(tiles, { rows: 2, cols: 2 })).toThrow(/a 2x2 grid has 4 cells for 5 images/);
    expect(() => gridRGB([tiles[0], solid(5, 4, [0, 0, 0])])).toThrow(/grid tile 1 is 5x4, expected 6x4/);
    expect(() => gridRGB(tiles, { background: 'red' })).toThrow(/background must be '#rrggbb' or \[r, g, b\]/);
    expect(() => gridRGB([])).toThrow(/at least one image/);
  });
});
