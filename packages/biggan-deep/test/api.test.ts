import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, parityFixture, readSafetensors, relativeError } from '@ganzoo/core';
import {
  BigGANDeep, PRESETS, presetConfig, fromHfConfig, toHfConfig, fromAjbrockConfig, toAjbrockConfig, validateConfig,
  truncatedNoise, classIndex, className, closestClassNames, IMAGENET_CLASS_NAMES, convertFromOfficial, convertToOfficial,
  generatorSpecs,
} from '../src';

let tiny: BigGANDeep;
const tmpDirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'biggan-api-'));
  tmpDirs.push(d);
  return d;
}

beforeAll(async () => {
  await initBackend({ backend: 'wasm', log: false });
  tiny = BigGANDeep.create('tiny', { seed: 3 });
});
afterAll(() => {
  tiny.dispose();
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('config', () => {
  test('presets validate; published parameter counts', () => {
    for (const name of Object.keys(PRESETS)) expect(() => validateConfig(presetConfig(name))).not.toThrow();
    const count = (name: string) => generatorSpecs(presetConfig(name).generator).specs.filter((s) => s.trainable).reduce((a, s) => a + s.shape.reduce((p, q) => p * q, 1), 0);
    // official-impls.md §3.2 (HF model parameters, buffers excluded)
    expect(count('biggan-deep-128')).toBe(50388609);
    expect(count('biggan-deep-256')).toBe(55880833);
    expect(count('biggan-deep-512')).toBe(56163905);
    expect(() => presetConfig('biggan-deep-64')).toThrow(/unknown BigGAN-deep preset 'biggan-deep-64'; expected one of/);
  });

  test('HF and ajbrock JSON round trips; clear errors', () => {
    const hf = toHfConfig(presetConfig('biggan-deep-256'));
    expect(fromHfConfig(hf).generator.layers.length).toBe(12);
    const aj = fromAjbrockConfig({ G: { G_ch: 4, resolution: 128, G_attn: '64', shared_dim: 128, hier: true, G_shared: true }, D: { D_ch: 4, resolution: 128 } });
    // ajbrock's 128 px stages give exactly the HF 128 block list, attention before block 8
    expect(aj.generator.layers).toEqual(presetConfig('biggan-deep-128').generator.layers);
    expect(aj.generator.attention).toEqual([8]);
    expect(fromAjbrockConfig(toAjbrockConfig(aj))).toEqual(aj);
    expect(() => fromHfConfig({ layers: [[true, 16, 4], [true, 4, 1]] as never, output_dim: 16 })).toThrow(/must halve/);
    expect(() => fromHfConfig({ output_dim: 100 })).toThrow(/resolution is 100/);
    expect(() => fromAjbrockConfig({ G: { G_depth: 3 } })).toThrow(/G_depth=3/);
    expect(() => toHfConfig(aj)).toThrow(/cannot be written as an HF BigGANConfig/);
  });
});

describe('classes and noise', () => {
  test('names, synonyms, wnids; unknown names suggest the closest', () => {
    expect(IMAGENET_CLASS_NAMES.length).toBe(1000);
    expect(classIndex('golden retriever')).toBe(207);
    expect(classIndex('Golden_Retriever')).toBe(207);
    expect(classIndex('n02099601')).toBe(207);
    expect(classIndex('bubble')).toBe(971);
    expect(classIndex('tench, Tinca tinca')).toBe(0);
    expect(className(207)).toBe('golden retriever');
    expect(() => classIndex('golden retreiver')).toThrow(/unknown ImageNet class name 'golden retreiver'; closest: 'golden retriever' \(207\)/);
    expect(closestClassNames('retriever', 3).length).toBe(3);
  });

  test('truncatedNoise: seeded, within ±2·truncation, validated', () => {
    const a = truncatedNoise(4, 0.5, 7);
    const b = truncatedNoise(4, 0.5, 7);
    const c = truncatedNoise(4, 0.5, 8);
    expect(a.shape).toEqual([4, 128]);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    expect(Array.from(a.dataSync())).not.toEqual(Array.from(c.dataSync()));
    const v = a.dataSync();
    expect(Math.max(...Array.from(v).map(Math.abs))).toBeLessThanOrEqual(1.0);
    const big = truncatedNoise(64, 1, 1).dataSync();
    const std = Math.sqrt(big.reduce((s, x) => s + x * x, 0) / big.length);
    expect(std).toBeGreaterThan(0.8); // truncnorm(-2,2) std is 0.88
    expect(std).toBeLessThan(0.96);
    expect(() => truncatedNoise(1, 0)).toThrow(/truncation must be in \(0, 1\], found 0/);
    expect(() => truncatedNoise(1, 1.5)).toThrow(/found 1.5/);
    tf.dispose([a, b, c]);
  });
});

describe('generate', () => {
  test('shapes, range, determinism, leak-free', () => {
    tf.dispose(tiny.generate({ classes: [0] })); // first call caches W/σ (owned by the model)
    const before = tf.memory().numTensors;
    const img = tiny.generate({ classes: [1, 2, 3], seed: 5 });
    expect(img.shape).toEqual([3, 32, 32, 3]);
    const v = img.dataSync();
    expect(Math.max(...Array.from(v).map(Math.abs))).toBeLessThanOrEqual(1);
    const again = tiny.generate({ classes: [1, 2, 3], seed: 5 });
    expect(relativeError(again, img)).toBe(0);
    const one = tiny.generate({ classes: 4, batchSize: 2, seed: 1 });
    expect(one.shape).toEqual([2, 32, 32, 3]);
    const rand = tiny.generate({ batchSize: 2, seed: 9 });
    expect(rand.shape).toEqual([2, 32, 32, 3]);
    tf.dispose([img, again, one, rand]);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('explicit z / classVector equal the seeded path; class names need 1000 classes', () => {
    const z = tiny.truncatedNoise(2, 0.6, 11);
    const cv = tiny.classVector([0, 9]);
    const a = tiny.generate({ z, classVector: cv, truncation: 0.6 });
    const b = tiny.generate({ classes: [0, 9], seed: 11, truncation: 0.6 });
    expect(relativeError(a, b)).toBe(0);
    expect(() => tiny.generate({ classes: 'goldfish' })).toThrow(/class names need a 1000-class model/);
    tf.dispose([z, cv, a, b]);
  });

  test('bad input: clear errors', () => {
    expect(() => tiny.generate({ classes: [10] })).toThrow(/class index must be an integer in \[0, 9\], found 10/);
    expect(() => tiny.generate({ classes: [1.5] })).toThrow(/found 1.5/);
    expect(() => tiny.generate({ truncation: 0 })).toThrow(/truncation must be in \(0, 1\]/);
    expect(() => tiny.generate({ truncation: 1.01 })).toThrow(/truncation must be in \(0, 1\]/);
    const z = tf.zeros([2, 15]) as tf.Tensor2D;
    expect(() => tiny.generate({ z })).toThrow(/z must be \[B, 16\], found \[2,15\]/);
    const cv = tf.zeros([3, 10]) as tf.Tensor2D;
    const z2 = tf.zeros([2, 16]) as tf.Tensor2D;
    expect(() => tiny.generate({ z: z2, classVector: cv })).toThrow(/classVector batch 3 does not match batch 2/);
    expect(() => tiny.generate({ classes: [1, 2], batchSize: 3 })).toThrow(/2 classes given for a batch of 3/);
    tf.dispose([z, cv, z2]);
  });

  test('interpolation helpers', () => {
    const before = tf.memory().numTensors;
    const a = tiny.interpolateClasses({ from: 1, to: 2, steps: 3, seed: 4 });
    const b = tiny.interpolateLatents({ fromSeed: 1, toSeed: 2, steps: 4, classes: 3, spherical: true });
    expect(a.shape).toEqual([3, 32, 32, 3]);
    expect(b.shape).toEqual([4, 32, 32, 3]);
    // endpoints equal direct generation
    const end = tiny.generate({ classes: [2], seed: 4 });
    const last = a.slice([2, 0, 0, 0], [1, -1, -1, -1]);
    expect(relativeError(last, end)).toBeLessThan(1e-5);
    tf.dispose([a, b, end, last]);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('cached W/σ (fast path) equals recomputing every call (reference path)', () => {
    const a = tiny.generate({ classes: [3, 4], seed: 2, truncation: 0.73 });
    tiny.G.cacheEval = false;
    tiny.invalidateCaches();
    const before = tf.memory().numTensors;
    const b = tiny.generate({ classes: [3, 4], seed: 2, truncation: 0.73 });
    expect(tf.memory().numTensors).toBe(before + 1);
    tiny.G.cacheEval = true;
    expect(relativeError(b, a)).toBe(0);
    tf.dispose([a, b]);
  });
});

describe('save / load', () => {
  test('ganzoo format round trip (G + D) is exact', async () => {
    const dir = tmp();
    tiny.save(dir);
    const back = await BigGANDeep.fromPretrained(dir);
    expect(back.config).toEqual(tiny.config);
    expect(back.D).not.toBeNull();
    const a = tiny.generate({ classes: [1], seed: 1 });
    const b = back.generate({ classes: [1], seed: 1 });
    expect(relativeError(b, a)).toBe(0);
    const x = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
    const da = tiny.discriminate(x, [1]);
    const db = back.discriminate(x, [1]);
    expect(relativeError(db, da)).toBe(0);
    tf.dispose([a, b, x, da, db]);
    back.dispose();
  });

  test('HF format: official key names and shapes, reloadable', async () => {
    const dir = tmp();
    tiny.save(dir, { format: 'hf' });
    const st = readSafetensors(path.join(dir, 'model.safetensors')).tensors;
    expect(st['embeddings.weight'].shape).toEqual([16, 10]);
    expect(st['generator.layers.4.conv_1.weight_orig'].shape).toEqual([4, 4, 3, 3]); // block (T,2,1): mid = 16/4
    expect(st['generator.layers.2.gamma'].shape).toEqual([1]); // attention before block 2
    expect(st['generator.conv_to_rgb.weight_v'].shape).toEqual([8 * 9]);
    const back = await BigGANDeep.fromPretrained(dir);
    const a = tiny.generate({ classes: [5], seed: 2, truncation: 0.5 });
    const b = back.generate({ classes: [5], seed: 2, truncation: 0.5 });
    expect(relativeError(b, a)).toBe(0);
    tf.dispose([a, b]);
    back.dispose();
  });

  test('ajbrock format: save and load back (G + D) exactly', async () => {
    const cfg = fromAjbrockConfig({ G: { G_ch: 2, resolution: 32, G_attn: '16', n_classes: 10, shared_dim: 8, dim_z: 8 }, D: { D_ch: 2, resolution: 32, D_attn: '0', n_classes: 10 } });
    const m = BigGANDeep.create(cfg, { seed: 8 });
    const dir = tmp();
    m.save(dir, { format: 'ajbrock' });
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).G.G_ch).toBe(2);
    const back = await BigGANDeep.fromPretrained(dir);
    expect(back.config).toEqual(m.config);
    const a = m.generate({ classes: [3], seed: 1, truncation: 1 });
    const b = back.generate({ classes: [3], seed: 1, truncation: 1 });
    expect(relativeError(b, a)).toBe(0);
    const da = m.discriminate(a, [3]);
    const db = back.discriminate(a, [3]);
    expect(relativeError(db, da)).toBe(0);
    tf.dispose([a, b, da, db]);
    m.dispose();
    back.dispose();
  });

  test('mismatched weights list missing / unexpected / mis-shaped keys', () => {
    const cfg = presetConfig('tiny');
    const off = convertToOfficial(cfg, 'hf', 'G', { ...tiny.G.vars });
    const bad: Record<string, tf.Tensor> = { ...off };
    delete bad['generator.bn.bias'];
    bad['generator.extra.weight'] = tf.zeros([1]);
    expect(() => convertFromOfficial(cfg, 'hf', 'G', bad)).toThrow(/missing keys \(1\): generator.bn.bias[\s\S]*unexpected keys \(1\): generator.extra.weight/);
    const shaped: Record<string, tf.Tensor> = { ...off, 'generator.bn.weight': tf.zeros([7]) };
    expect(() => convertFromOfficial(cfg, 'hf', 'G', shaped)).toThrow(/mis-shaped keys \(1\): generator.bn.weight: found \[7\]/);
    tf.dispose([...Object.values(off), bad['generator.extra.weight'], shaped['generator.bn.weight']]);
  });

  test('missing files and unknown ids are clear errors', async () => {
    const dir = tmp();
    await expect(BigGANDeep.fromPretrained(dir)).rejects.toThrow(/has no config.json/);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(toHfConfig(presetConfig('tiny'))));
    await expect(BigGANDeep.fromPretrained(dir)).rejects.toThrow(/neither model.safetensors nor pytorch_model.bin/);
    await expect(BigGANDeep.fromPretrained('biggan-deep-1024', { offline: true })).rejects.toThrow(/biggan-deep-1024/);
  });

  const aj = parityFixture('biggan-deep-ajbrock');
  (aj ? test : test.skip)('ajbrock converter round trip reproduces G.pth/D.pth tensors', async () => {
    const m = await BigGANDeep.fromPretrained(path.join(aj!, 'model'));
    const { readTorchCheckpoint, flattenStateDict } = await import('@ganzoo/core');
    const orig = flattenStateDict(readTorchCheckpoint(path.join(aj!, 'model', 'G.pth')));
    const back = convertToOfficial(m.config, 'ajbrock', 'G', { ...m.G.vars });
    for (const [k, raw] of Object.entries(orig)) {
      if (k.endsWith('sv0')) continue; // logging buffer, recomputed
      expect(back[k].shape).toEqual(raw.shape);
      expect(relativeError(back[k], raw)).toBe(0);
    }
    tf.dispose(Object.values(back));
    m.dispose();
  });

  const hf = parityFixture('biggan-deep-hf');
  (hf ? test : test.skip)('manifest id: download from a local server, sha256-checked, cached, then offline', async () => {
    const modelDir = path.join(hf!, 'model');
    const server = http.createServer((req, res) => {
      const f = path.join(modelDir, path.basename(req.url ?? ''));
      if (!fs.existsSync(f)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-length': fs.statSync(f).size });
      fs.createReadStream(f).pipe(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(path.join(modelDir, f))).digest('hex');
    const manifest = {
      version: 1 as const,
      entries: [{
        id: 'biggan-deep-fixture', model: 'biggan-deep', variant: 'fixture', format: 'pytorch' as const, license: 'test',
        homepage: 'http://127.0.0.1/', config: {},
        files: ['pytorch_model.bin', 'config.json'].map((name) => ({ name, url: `http://127.0.0.1:${port}/${name}`, sha256: sha(name) })),
      }],
    };
    const cacheDir = tmp();
    try {
      const g = await BigGANDeep.fromPretrained('biggan-deep-fixture', { manifest, cacheDir });
      const ref = BigGANDeep.fromDirectory(modelDir);
      const a = g.generate({ classes: [207], seed: 1 });
      const b = ref.generate({ classes: [207], seed: 1 });
      expect(relativeError(a, b)).toBe(0);
      tf.dispose([a, b]);
      g.dispose();
      ref.dispose();
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    const again = await BigGANDeep.fromPretrained('biggan-deep-fixture', { manifest, cacheDir, offline: true });
    expect(again.resolution).toBe(128);
    again.dispose();
  });
});

describe('shipped weights and class names', () => {
  test("fromPretrained('biggan-deep-shapes') loads the package's own folder offline, with its class names", async () => {
    const m = await BigGANDeep.fromPretrained('biggan-deep-shapes', { offline: true, cacheDir: tmp() });
    try {
      expect(m.classNames).toEqual(['circle', 'square', 'triangle', 'star']);
      expect(m.numClasses).toBe(4);
      expect(m.classIndices(['Star', 'circle'])).toEqual([3, 0]);
      expect(() => m.classIndices('hexagon')).toThrow(/unknown class 'hexagon'.*circle, square, triangle, star/);
      m.generate({ classes: 'circle', truncation: 1 }).dispose(); // builds the fast plan's resident tensors
      const before = tf.memory().numTensors;
      const img = m.generate({ classes: ['triangle', 'square'], seed: 1, truncation: 1 });
      expect(img.shape).toEqual([2, m.resolution, m.resolution, 3]);
      img.dispose();
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      m.dispose();
    }
  });

  test('classes.json is saved with the weights and checked against the model on load', async () => {
    const m = BigGANDeep.create('tiny', { seed: 1, discriminator: false });
    const dir = tmp();
    try {
      m.classNames = Array.from({ length: 10 }, (_, i) => `c${i}`);
      m.save(dir);
    } finally {
      m.dispose();
    }
    const back = BigGANDeep.fromDirectory(dir);
    expect(back.classNames?.[9]).toBe('c9');
    expect(back.classIndices('C3')).toEqual([3]);
    back.dispose();
    fs.writeFileSync(path.join(dir, 'classes.json'), JSON.stringify(['a', 'b']));
    const before = tf.memory().numTensors;
    expect(() => BigGANDeep.fromDirectory(dir)).toThrow(/classes\.json names 2 classes but the model has 10/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
