import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { HashStream, hashUniform, mixSeed, seededPermutation } from '../src/data/seed';
import { checkShapes, largestComponent, makeShapes, renderShape, shapeCaption, shapeSpec, shapeSvg, SHAPES } from '../src/data/shapes';
import { DataLoader, disposeBatch, scanImageFolder } from '../src/data/dataset';

let tmp: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-data-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('seed', () => {
  test('mixSeed is deterministic and index-sensitive', () => {
    expect(mixSeed(1, 2, 3)).toBe(mixSeed(1, 2, 3));
    expect(mixSeed(1, 2, 3)).not.toBe(mixSeed(1, 3, 2));
    expect(mixSeed(1, 2 ** 33)).not.toBe(mixSeed(1, 0));
    const u = Array.from({ length: 2000 }, (_, i) => hashUniform(7, i));
    const mean = u.reduce((a, b) => a + b, 0) / u.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.03);
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
  });
  test('seededPermutation is a permutation and seed-dependent', () => {
    const p = seededPermutation(100, 5);
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect([...seededPermutation(100, 5)]).toEqual([...p]);
    expect([...seededPermutation(100, 6)]).not.toEqual([...p]);
  });
});

describe('shapes', () => {
  test('checker reads shape and colour of rendered shapes (32 px, 300 samples)', async () => {
    let shapeOk = 0;
    let colourOk = 0;
    const n = 300;
    for (let i = 0; i < n; i++) {
      const s = shapeSpec(11, i, 32);
      const c = checkShapes(await renderShape(s, 32), 32, 32);
      if (c.shape === s.shape) shapeOk++;
      if (c.colour === s.colour) colourOk++;
    }
    expect(shapeOk / n).toBeGreaterThanOrEqual(0.99);
    expect(colourOk / n).toBe(1);
  });
  test('checker reads the largest connected region: stray specks do not stretch the bounding box', async () => {
    const spec = { ...shapeSpec(3, 0, 32, { shape: 'square', colour: 'red', background: 'white' }), size: 14, cx: 16, cy: 16 };
    const px = await renderShape(spec, 32);
    expect(checkShapes(px, 32, 32).shape).toBe('square');
    const noisy = px.slice();
    for (const [y, x] of [[2, 3], [29, 28], [3, 27]]) noisy.set([220, 40, 40], (y * 32 + x) * 3); // three red specks
    const c = checkShapes(noisy, 32, 32);
    expect(c.shape).toBe('square');
    expect(c.area).toBeGreaterThanOrEqual(14 * 14 - 4);
    expect(c.area).toBeLessThanOrEqual(15 * 15);
    expect(largestComponent(Uint8Array.from([1, 0, 0, 0, 1, 1, 0, 1, 1]), 3, 3)).toEqual([0, 4, 8, 7, 5]);
  });
  test('checker survives soft and ragged edges (blur, jagged outlines), where the fill-ratio rule failed', async () => {
    // Generated shapes are never crisp: blur them (sharp, sigma 1) or displace 30 % of the pixels by one
    // neighbour. The template-IoU checker must still read them; the session-3 fill-ratio rule (fillShape) must not
    // have done as well, or this test would not show anything.
    const n = 160;
    const acc = { blur: [0, 0], jag: [0, 0], jagSquares: [0, 0, 0] };
    for (let i = 0; i < n; i++) {
      const s = shapeSpec(7, i, 32, { background: i % 2 ? 'white' : 'random' });
      const png = await sharp(Buffer.from(shapeSvg(s, 32))).png().toBuffer();
      const blurred = new Uint8Array((await sharp(png).blur(1).removeAlpha().raw().toBuffer({ resolveWithObject: true })).data);
      const b = checkShapes(blurred, 32, 32);
      acc.blur[0] += +(b.shape === s.shape);
      acc.blur[1] += +(b.fillShape === s.shape);
      const px = await renderShape(s, 32);
      const jag = px.slice();
      const rnd = new HashStream(5, i);
      for (let y = 1; y < 31; y++) {
        for (let x = 1; x < 31; x++) {
          if (rnd.next() >= 0.3) continue;
          const dx = Math.floor(rnd.next() * 3) - 1;
          const dy = Math.floor(rnd.next() * 3) - 1;
          for (let c = 0; c < 3; c++) jag[(y * 32 + x) * 3 + c] = px[((y + dy) * 32 + x + dx) * 3 + c];
        }
      }
      const j = checkShapes(jag, 32, 32);
      acc.jag[0] += +(j.shape === s.shape);
      acc.jag[1] += +(j.fillShape === s.shape);
      if (s.shape === 'square') {
        acc.jagSquares[0]++;
        acc.jagSquares[1] += +(j.shape === 'square');
        acc.jagSquares[2] += +(j.fillShape === 'square');
      }
    }
    expect(acc.blur[0] / n).toBeGreaterThanOrEqual(0.9);
    expect(acc.jag[0] / n).toBeGreaterThanOrEqual(0.85);
    expect(acc.blur[0]).toBeGreaterThan(acc.blur[1]);
    expect(acc.jag[0]).toBeGreaterThan(acc.jag[1] + 0.1 * n);
    expect(acc.jagSquares[1] / acc.jagSquares[0]).toBeGreaterThanOrEqual(0.5);
    expect(acc.jagSquares[2] / acc.jagSquares[0]).toBeLessThan(0.25);
  });
  test('checker scores every class by IoU with its outline (a rendered shape scores its own class highest)', async () => {
    for (const shape of SHAPES) {
      const s = { ...shapeSpec(1, 0, 32, { shape, colour: 'blue', background: 'white' }), size: 20, cx: 16, cy: 16 };
      const c = checkShapes(await renderShape(s, 32), 32, 32);
      expect(c.scores![shape]).toBeGreaterThan(shape === 'star' ? 0.75 : 0.9); // a 20 px star's thin points lose pixels
      for (const other of SHAPES) if (other !== shape) expect(c.scores![other]).toBeLessThan(c.scores![shape] - 0.15);
    }
  });
  test('checker says none on a flat image and rejects a wrong size', () => {
    expect(checkShapes(new Uint8Array(16 * 16 * 3).fill(100), 16, 16).shape).toBe('none');
    expect(() => checkShapes(new Uint8Array(10), 16, 16)).toThrow(/expected 16x16x3/);
  });
  test('captions describe the spec', () => {
    const s = shapeSpec(0, 3, 32);
    expect(shapeCaption(s)).toBe(`a ${s.sizeWord} ${s.colour} ${s.shape} on a ${s.background} background`);
    expect(s.background).not.toBe(s.colour);
  });
  test('makeShapes writes class folders, labels.csv, captions.jsonl, classes.json; seeded', async () => {
    const a = path.join(tmp, 'shapes-a');
    const b = path.join(tmp, 'shapes-b');
    const r = await makeShapes({ out: a, n: 40, size: 16, seed: 3 });
    await makeShapes({ out: b, n: 40, size: 16, seed: 3 });
    expect(r.classes.length).toBe(16);
    const labels = fs.readFileSync(path.join(a, 'labels.csv'), 'utf8').trim().split('\n');
    expect(labels[0]).toBe('file,label');
    expect(labels.length).toBe(41);
    const [file, label] = labels[1].split(',');
    expect(file.startsWith(`${label}/`)).toBe(true);
    expect(fs.readFileSync(path.join(a, file))).toEqual(fs.readFileSync(path.join(b, file)));
    const caps = fs.readFileSync(path.join(a, 'captions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(caps.length).toBe(40);
    expect(caps[0].caption).toMatch(/^a (small|medium|large) (red|green|blue|yellow) (circle|square|triangle|star) on a \w+ background$/);
    const meta = await sharp(path.join(a, file)).metadata();
    expect([meta.width, meta.height]).toEqual([16, 16]);
    await expect(makeShapes({ out: a, n: 0 })).rejects.toThrow(/--n must be a positive integer/);
  });

  test('makeShapes with one background: every image on it, no shape in its colour; bad names refused', async () => {
    const w = path.join(tmp, 'shapes-white');
    await makeShapes({ out: w, n: 24, size: 32, seed: 5, classing: 'shape', background: 'white' });
    const caps = fs.readFileSync(path.join(w, 'captions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(caps.every((c) => c.background === 'white')).toBe(true);
    const { data } = await sharp(path.join(w, caps[0].file)).raw().toBuffer({ resolveWithObject: true });
    expect([data[0], data[1], data[2]]).toEqual([240, 240, 240]); // corner pixel = the white background
    const r = path.join(tmp, 'shapes-red');
    await makeShapes({ out: r, n: 24, size: 16, seed: 5, classing: 'shape', background: 'red' });
    const reds = fs.readFileSync(path.join(r, 'captions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(reds.some((c) => c.colour === 'red')).toBe(false);
    await expect(makeShapes({ out: r, n: 4, background: 'purple' })).rejects.toThrow(/--background must be one of random, black, white/);
    await expect(makeShapes({ out: r, n: 4, background: 'red' })).rejects.toThrow(/no red shapes/);
  });
});

describe('image folder dataset and loader', () => {
  let root: string;
  beforeAll(async () => {
    root = path.join(tmp, 'ds');
    await makeShapes({ out: root, n: 24, size: 16, seed: 1, classing: 'shape' });
  });

  test('labels from labels.csv + classes.json, captions from captions.jsonl', () => {
    const ds = scanImageFolder(root);
    expect(ds.items.length).toBe(24);
    expect(ds.classes).toEqual([...SHAPES]);
    expect(ds.hasLabels && ds.hasCaptions).toBe(true);
    for (const it of ds.items) {
      expect(ds.classes[it.label!]).toBe(it.rel.split('/')[0]);
      expect(it.caption).toContain(ds.classes[it.label!]);
    }
  });

  test('labels from sub-folders, captions from <image>.txt, recursion, grayscale/RGBA/jpg/webp decode', async () => {
    const r = path.join(tmp, 'folders');
    fs.mkdirSync(path.join(r, 'cats', 'deep'), { recursive: true });
    fs.mkdirSync(path.join(r, 'dogs'), { recursive: true });
    const rgb = { create: { width: 20, height: 24, channels: 3 as const, background: '#ff0000' } };
    await sharp(rgb).png().toFile(path.join(r, 'cats', 'a.png'));
    await sharp(rgb).jpeg().toFile(path.join(r, 'cats', 'deep', 'b.jpg'));
    await sharp(rgb).webp().toFile(path.join(r, 'dogs', 'c.webp'));
    await sharp({ create: { width: 16, height: 16, channels: 4, background: { r: 0, g: 0, b: 255, alpha: 0.5 } } }).png().toFile(path.join(r, 'dogs', 'd.png'));
    await sharp({ create: { width: 16, height: 16, channels: 3, background: '#808080' } }).toColourspace('b-w').png().toFile(path.join(r, 'dogs', 'e.png'));
    fs.writeFileSync(path.join(r, 'cats', 'a.txt'), 'a red cat\n');
    const ds = scanImageFolder(r);
    expect(ds.classes).toEqual(['cats', 'dogs']);
    expect(ds.items.map((i) => i.rel)).toEqual(['cats/a.png', 'cats/deep/b.jpg', 'dogs/c.webp', 'dogs/d.png', 'dogs/e.png']);
    expect(ds.items[0].caption).toBe('a red cat');
    const loader = new DataLoader(ds, { batchSize: 5, resolution: 16, flip: false, onBadFile: (f, why) => { throw new Error(`${f}: ${why}`); } });
    const { batch } = await loader.next();
    expect(batch.images.shape).toEqual([5, 16, 16, 3]);
    const px = await batch.images.data();
    expect(Math.max(...px)).toBeLessThanOrEqual(1);
    expect(Math.min(...px)).toBeGreaterThanOrEqual(-1);
    disposeBatch(batch);
  });

  test('missing / empty folders and missing captions for a text model are clear errors', () => {
    expect(() => scanImageFolder(path.join(tmp, 'nope'))).toThrow(/data folder not found/);
    fs.mkdirSync(path.join(tmp, 'empty'));
    fs.writeFileSync(path.join(tmp, 'empty', 'readme.md'), 'x');
    expect(() => scanImageFolder(path.join(tmp, 'empty'))).toThrow(/no images in .*empty/);
    const r = path.join(tmp, 'folders');
    expect(() => new DataLoader(scanImageFolder(r), { batchSize: 2, resolution: 16, requireCaptions: true })).toThrow(/text-conditional but 4 of 5 images have no caption/);
  });

  test('bad files are reported (path + reason) and skipped; too-small images skipped', async () => {
    const r = path.join(tmp, 'bad');
    fs.mkdirSync(path.join(r, 'x'), { recursive: true });
    for (let i = 0; i < 4; i++) {
      await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 10 * i, g: 0, b: 0 } } }).png().toFile(path.join(r, 'x', `ok${i}.png`));
    }
    fs.writeFileSync(path.join(r, 'x', 'corrupt.png'), Buffer.from('not a png at all'));
    const good = fs.readFileSync(path.join(r, 'x', 'ok0.png'));
    fs.writeFileSync(path.join(r, 'x', 'truncated.png'), good.subarray(0, good.length >> 1));
    await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } }).png().toFile(path.join(r, 'x', 'small.png'));
    const bad: string[] = [];
    const loader = new DataLoader(scanImageFolder(r), { batchSize: 4, resolution: 16, seed: 2, onBadFile: (f, why) => bad.push(`${path.basename(f)}: ${why}`) });
    for (let k = 0; k < 4; k++) disposeBatch((await loader.next()).batch);
    expect(bad.sort()).toEqual([
      expect.stringMatching(/^corrupt\.png: /),
      expect.stringMatching(/^small\.png: too small: 8x8, the model needs at least 16x16/),
      expect.stringMatching(/^truncated\.png: /),
    ]);
    expect(loader.badFiles).toBe(3);
  });

  test('loader: seeded order, every item once per epoch, seek reproduces, flips by position, no leaks', async () => {
    const ds = scanImageFolder(root);
    const mk = (seed: number) => new DataLoader(ds, { batchSize: 5, resolution: 16, seed, prefetch: 7 });
    const before = tf.memory().numTensors;
    const a = mk(4);
    const seen: number[] = [];
    const pixels: Float32Array[] = [];
    for (let k = 0; k < 10; k++) {
      const { batch, indices } = await a.next();
      seen.push(...indices);
      pixels.push((await batch.images.data()) as Float32Array);
      expect(batch.labels!.shape).toEqual([5]);
      disposeBatch(batch);
    }
    expect([...seen.slice(0, 24)].sort((x, y) => x - y)).toEqual(Array.from({ length: 24 }, (_, i) => i));
    expect([...seen.slice(24, 48)].sort((x, y) => x - y)).toEqual(Array.from({ length: 24 }, (_, i) => i));
    expect(seen.slice(24, 48)).not.toEqual(seen.slice(0, 24));
    // Same seed -> same batches; seek to a position -> continues identically.
    const b = mk(4);
    b.seek(15);
    for (let k = 3; k < 10; k++) {
      const { batch, indices } = await b.next();
      expect(indices).toEqual(seen.slice(5 * k, 5 * k + 5));
      expect(await batch.images.data()).toEqual(pixels[k]);
      disposeBatch(batch);
    }
    const c = mk(5);
    const { batch, indices } = await c.next();
    expect(indices).not.toEqual(seen.slice(0, 5));
    disposeBatch(batch);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('loader with class weights: class frequencies follow the weights, zero weight never drawn, seek reproduces', async () => {
    const ds = scanImageFolder(root);
    const perClass = ds.classes.map((_, c) => ds.items.filter((it) => it.label === c).length);
    const weights = [1, 0, 1, 3]; // circle, square, triangle, star
    const mk = () => new DataLoader(ds, { batchSize: 8, resolution: 16, seed: 2, prefetch: 8, classWeights: weights });
    const a = mk();
    const labels: number[] = [];
    const idx: number[] = [];
    for (let k = 0; k < 50; k++) {
      const { batch, indices } = await a.next();
      labels.push(...(await batch.labels!.data()));
      idx.push(...indices);
      disposeBatch(batch);
    }
    const count = ds.classes.map((_, c) => labels.filter((l) => l === c).length);
    expect(count[1]).toBe(0);
    // expected share of class c: w_c · n_c / Σ w·n (400 draws; binomial sd < 0.025)
    const total = weights.reduce((acc, w, c) => acc + w * perClass[c], 0);
    for (const c of [0, 2, 3]) expect(Math.abs(count[c] / labels.length - (weights[c] * perClass[c]) / total)).toBeLessThan(0.08);
    const b = mk();
    b.seek(80);
    const { batch, indices } = await b.next();
    expect(indices).toEqual(idx.slice(80, 88));
    disposeBatch(batch);
  });

  test('class weights: wrong count, negative or all-zero weights and unlabelled data are clear errors', () => {
    const ds = scanImageFolder(root);
    const mk = (w: number[]) => new DataLoader(ds, { batchSize: 2, resolution: 16, classWeights: w });
    expect(() => mk([1, 2])).toThrow(/expected 4 class weights \(circle, square, triangle, star\), got 2/);
    expect(() => mk([1, -1, 1, 1])).toThrow(/class weight of square must be a finite number >= 0, got -1/);
    expect(() => mk([0, 0, 0, 0])).toThrow(/weight 0/);
    const unlabelled = { ...ds, hasLabels: false, items: ds.items.map((it) => ({ ...it, label: undefined })) };
    expect(() => new DataLoader(unlabelled, { batchSize: 2, resolution: 16, classWeights: [1] })).toThrow(/need a labelled dataset/);
  });
});
