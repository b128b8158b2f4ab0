import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { closestIds, defaultManifestPath, findEntry, loadManifest, validateManifest } from '../src/io/manifest';
import { findRepoRoot } from '../src/testing';

describe('the shipped weights-manifest.json', () => {
  const m = loadManifest();

  test('is valid and has the required ids', () => {
    const ids = m.entries.map((e) => e.id);
    for (const id of [
      'biggan-deep-128',
      'biggan-deep-256',
      'biggan-deep-512',
      'openai/clip-vit-base-patch32',
      'openai/clip-vit-large-patch14',
      'facebook/dino-vits16',
      'facebook/dino-vits8',
      'galip-coco',
      'galip-cc12m',
    ]) {
      expect(ids).toContain(id);
    }
  });

  test('the repository root links to it', () => {
    const root = path.join(findRepoRoot(__dirname), 'weights-manifest.json');
    expect(fs.realpathSync(root)).toBe(fs.realpathSync(defaultManifestPath()));
  });

  test('BigGAN-deep configs follow the published layouts', () => {
    for (const [res, n] of [[128, 10], [256, 12], [512, 14]] as const) {
      const e = findEntry(m, `biggan-deep-${res}`);
      const c = e.config as { output_dim: number; layers: [boolean, number, number][]; channel_width: number };
      expect(c.output_dim).toBe(res);
      expect(c.layers).toHaveLength(n);
      expect(c.layers[0][1]).toBe(16);
      expect(c.layers[c.layers.length - 1][2]).toBe(1);
      // number of upsampling blocks: 4 -> res
      expect(c.layers.filter((l) => l[0]).length).toBe(Math.log2(res / 4));
      expect(e.files.map((f) => f.name).sort()).toEqual(['config.json', 'pytorch_model.bin']);
      expect(e.license).toMatch(/Apache-2\.0/);
    }
  });

  test('CLIP entries carry tokenizer and processor files; GALIP files are manual downloads', () => {
    for (const id of ['openai/clip-vit-base-patch32', 'openai/clip-vit-large-patch14']) {
      const names = findEntry(m, id).files.map((f) => f.name);
      for (const n of ['config.json', 'preprocessor_config.json', 'vocab.json', 'merges.txt', 'tokenizer.json']) expect(names).toContain(n);
      expect(names.some((n) => n === 'model.safetensors' || n === 'pytorch_model.bin')).toBe(true);
    }
    for (const id of ['galip-coco', 'galip-cc12m']) {
      const e = findEntry(m, id);
      expect(e.files.every((f) => f.manual && f.instructions)).toBe(true);
      expect(e.license).toMatch(/non-commercial/i);
    }
  });
});

describe('validateManifest', () => {
  const good = () => ({
    version: 1,
    entries: [
      {
        id: 'a/b',
        model: 'm',
        variant: 'v',
        format: 'pytorch',
        license: 'MIT',
        homepage: 'https://example.invalid/',
        files: [{ name: 'w.bin', url: 'https://example.invalid/w.bin' }],
        config: {},
      },
    ],
  });

  test('accepts a good manifest', () => {
    expect(validateManifest(good()).entries[0].id).toBe('a/b');
  });

  const cases: [string, (m: any) => void, RegExp][] = [
    ['missing id', (m) => delete m.entries[0].id, /entry 0: "id" must be a string like/],
    ['bad format', (m) => (m.entries[0].format = 'onnx'), /"format" must be one of pytorch, safetensors, found "onnx"/],
    ['missing license', (m) => (m.entries[0].license = ''), /"license" must be a non-empty string, found ""/],
    ['bad homepage', (m) => (m.entries[0].homepage = 'example.com'), /"homepage" must be an http\(s\) URL, found "example\.com"/],
    ['no files', (m) => (m.entries[0].files = []), /"files" must be a non-empty array, found \[\]/],
    ['config not an object', (m) => (m.entries[0].config = [1]), /"config" must be an object, found \[1\]/],
    ['duplicate id', (m) => m.entries.push({ ...m.entries[0] }), /duplicate id 'a\/b'/],
    ['file with a folder', (m) => (m.entries[0].files[0].name = 'x/w.bin'), /files\[0\]\.name must be a plain file name/],
    ['bad sha', (m) => (m.entries[0].files[0].sha256 = 'ABC'), /files\[0\]\.sha256 must be 64 lower-case hex digits, found "ABC"/],
    ['bad size', (m) => (m.entries[0].files[0].size = 1.5), /files\[0\]\.size must be a positive integer \(bytes\), found 1\.5/],
    ['manual without instructions', (m) => (m.entries[0].files[0].manual = true), /files\[0\]\.instructions must be a non-empty string for a manual download/],
    ['unknown file field', (m) => (m.entries[0].files[0].sha = 'x'), /files\[0\] has unknown field "sha"/],
    ['bad version', (m) => (m.version = 2), /"version" must be 1, found 2/],
    ['entries not an array', (m) => (m.entries = {}), /"entries" must be an array, found \{\}/],
  ];
  for (const [name, mutate, re] of cases) {
    test(`rejects: ${name}`, () => {
      const m = good();
      mutate(m);
      expect(() => validateManifest(m, 'test.json')).toThrow(re);
      expect(() => validateManifest(m, 'test.json')).toThrow(/^test\.json: malformed manifest/);
    });
  }

  test('lists every problem at once', () => {
    const m: any = good();
    m.entries[0].format = 'x';
    m.entries[0].files[0].url = 'ftp://x';
    let msg = '';
    try {
      validateManifest(m);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/"format" must be/);
    expect(msg).toMatch(/files\[0\]\.url must be an http\(s\) URL, found "ftp:\/\/x"/);
  });

  test('loadManifest: missing file and invalid JSON', () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-manifest-'));
    try {
      expect(() => loadManifest(path.join(d, 'none.json'))).toThrow(/weights manifest not found: .*none\.json/);
      fs.writeFileSync(path.join(d, 'bad.json'), '{"version": 1, ');
      expect(() => loadManifest(path.join(d, 'bad.json'))).toThrow(/bad\.json: not valid JSON/);
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  test('closestIds', () => {
    const ids = ['biggan-deep-128', 'biggan-deep-256', 'openai/clip-vit-base-patch32', 'facebook/dino-vits16', 'galip-coco'];
    expect(closestIds('biggan-deep-265', ids)[0]).toBe('biggan-deep-256');
    expect(closestIds('dino-vits16', ids)[0]).toBe('facebook/dino-vits16');
    expect(closestIds('galip', ids)[0]).toBe('galip-coco');
  });
});
