/** Bad input gives clear errors; parameters round-trip through the official layouts. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { readSafetensors, relativeError, initBackend } from '@ganzoo/core';
import { CLIP, DINO, StateDict, clipConfigFromHF, dinoConfigFromHF, loadTokenizer } from '../src';

const FIX = path.join(__dirname, 'fixtures');
const clipSd = (): StateDict => ({ ...readSafetensors(path.join(FIX, 'tiny-clip', 'model.safetensors')).tensors });
const dinoSd = (): StateDict => ({ ...readSafetensors(path.join(FIX, 'tiny-dino', 'model.safetensors')).tensors });

beforeAll(async () => {
  await initBackend({ backend: process.env.GANZOO_TEST_BACKEND ?? 'wasm', threads: 1, log: false });
});

describe('weights that do not match the config', () => {
  test('a preset of another size lists mis-shaped and missing keys', () => {
    expect(() => CLIP.fromStateDict(clipSd(), { config: 'ViT-B/32' })).toThrow(
      /CLIP \(hf layout\): the weights do not match the config: missing keys \(\d+\): transformer\.resblocks\.2\..*mis-shaped keys .*token_embedding\.weight: expected \[49408,512\], found \[548,16\]/,
    );
  });

  test('the tiny preset matches the tiny fixture', () => {
    const clip = CLIP.fromStateDict(clipSd(), { config: 'tiny' });
    expect(clip.config.text.width).toBe(16);
    clip.dispose();
  });

  test('a missing tensor is named (in the official naming)', () => {
    const sd = clipSd();
    delete sd['vision_model.post_layernorm.bias'];
    expect(() => CLIP.fromStateDict(sd, { heads: { text: 2, vision: 2 } })).toThrow(/missing keys \(1\): visual\.ln_post\.bias/);
  });

  test('an unexpected HF key and an incomplete q/k/v are reported', () => {
    const sd = clipSd();
    sd['text_model.encoder.layers.0.self_attn.extra.weight'] = sd['text_projection.weight'];
    expect(() => CLIP.fromStateDict(sd, { heads: { text: 2, vision: 2 } })).toThrow(/unexpected keys text_model\.encoder\.layers\.0\.self_attn\.extra\.weight/);
    const sd2 = dinoSd();
    delete sd2['encoder.layer.1.attention.attention.value.bias'];
    expect(() => DINO.fromStateDict(sd2, { heads: 2 })).toThrow(/blocks\.1\.attn\.qkv\.bias needs query\/key\/value; missing value/);
  });

  test('an unknown layout names what was expected', () => {
    expect(() => CLIP.fromStateDict({ 'foo.weight': clipSd()['text_projection.weight'] })).toThrow(/cannot recognise the checkpoint layout: expected Hugging Face CLIPModel keys/);
    expect(() => DINO.fromStateDict({ 'foo.weight': clipSd()['text_projection.weight'] })).toThrow(/expected timm ViT keys/);
  });

  test('heads that cannot be inferred from OpenAI widths must be given', () => {
    const clip = CLIP.fromStateDict(clipSd(), { heads: { text: 2, vision: 2 } });
    const sd: StateDict = {};
    const back = clip.params.stateDict();
    for (const [k, v] of Object.entries(back)) sd[k] = { dtype: 'float32', shape: v.shape, data: v.dataSync() as Float32Array, sourceDtype: 'F32' };
    tf.dispose(Object.values(back));
    clip.dispose();
    expect(() => CLIP.fromStateDict(sd)).toThrow(/cannot infer text heads for width 16/);
  });
});

describe('missing files', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-enc-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('a folder without weights', async () => {
    await expect(CLIP.fromPretrained(tmp)).rejects.toThrow(`no weights in ${tmp}: expected model.safetensors or pytorch_model.bin`);
  });

  test('a manifest id offline and not cached names what is missing', async () => {
    const cache = path.join(tmp, 'cache');
    await expect(CLIP.fromPretrained('openai/clip-vit-base-patch32', { offline: true, cacheDir: cache })).rejects.toThrow(/config\.json|offline/);
    await expect(DINO.fromPretrained('facebook/dino-vits16', { offline: true, cacheDir: cache })).rejects.toThrow(/config\.json|offline/);
    await expect(CLIP.fromPretrained('no/such-model', { offline: true, cacheDir: cache })).rejects.toThrow(/no\/such-model/);
  });

  test('a tokenizer folder without tokenizer.json', async () => {
    await expect(loadTokenizer(tmp)).rejects.toThrow(`tokenizer: tokenizer.json not found in ${path.resolve(tmp)}`);
    const noTok = path.join(tmp, 'no-tokenizer');
    fs.mkdirSync(noTok);
    for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(FIX, 'tiny-clip', f), path.join(noTok, f));
    const clip = await CLIP.fromPretrained(noTok);
    expect(() => clip.tokenize('a cat')).toThrow(/loaded without a tokenizer/);
    clip.dispose();
  });
});

describe('round trip through the official (OpenAI / timm) layout', () => {
  test('CLIP stateDict -> fromStateDict gives the same embeddings', () => {
    const a = CLIP.fromStateDict(clipSd(), { heads: { text: 2, vision: 2 } });
    const sd: StateDict = {};
    const back = a.params.stateDict();
    expect(back['visual.conv1.weight'].shape).toEqual([32, 3, 8, 8]);
    expect(back['transformer.resblocks.0.attn.in_proj_weight'].shape).toEqual([48, 16]);
    expect(back['visual.transformer.resblocks.0.attn.in_proj_weight'].shape).toEqual([96, 32]);
    for (const [k, v] of Object.entries(back)) sd[k] = { dtype: 'float32', shape: v.shape, data: v.dataSync() as Float32Array, sourceDtype: 'F32' };
    tf.dispose(Object.values(back));
    const b = CLIP.fromStateDict(sd, { config: a.config });
    tf.tidy(() => {
      const px = tf.randomNormal([1, 32, 32, 3]) as tf.Tensor4D;
      expect(relativeError(b.encodeImage(px), a.encodeImage(px))).toBe(0);
    });
    a.dispose();
    b.dispose();
  });

  test('DINO (HF) -> timm names with a StyleGAN-T style prefix loads the same model', () => {
    const a = DINO.fromStateDict(dinoSd(), { heads: 2 });
    const sd: StateDict = {};
    const back = a.params.stateDict();
    for (const [k, v] of Object.entries(back)) sd[`dino.model.model.${k}`] = { dtype: 'float32', shape: v.shape, data: v.dataSync() as Float32Array, sourceDtype: 'F32' };
    tf.dispose(Object.values(back));
    const b = DINO.fromStateDict(sd, { heads: 2 });
    expect(b.config.layers).toBe(3);
    tf.tidy(() => {
      const px = tf.randomNormal([1, 32, 32, 3]) as tf.Tensor4D;
      expect(relativeError(b.forward(px).pooled, a.forward(px).pooled)).toBe(0);
    });
    a.dispose();
    b.dispose();
  });
});

describe('config.json parsing', () => {
  test('HF CLIPConfig: *_config_dict overrides *_config (old transformers files); eos 2 means argmax pooling', () => {
    const c = clipConfigFromHF({
      projection_dim: 768,
      text_config: { hidden_size: 512, eos_token_id: 2 },
      text_config_dict: { hidden_size: 768, intermediate_size: 3072, num_attention_heads: 12 },
      vision_config: {},
      vision_config_dict: { hidden_size: 1024, intermediate_size: 4096, num_attention_heads: 16, num_hidden_layers: 24, patch_size: 14 },
    });
    expect([c.embedDim, c.text.width, c.text.heads, c.text.pool, c.vision.width, c.vision.layers, c.vision.patchSize]).toEqual([768, 768, 12, 'argmax', 1024, 24, 14]);
    const d = dinoConfigFromHF({ model_type: 'vit', hidden_size: 384, num_attention_heads: 6, intermediate_size: 1536, layer_norm_eps: 1e-12 });
    expect([d.width, d.heads, d.mlpWidth, d.eps, d.layerScale ?? false]).toEqual([384, 6, 1536, 1e-12, false]);
    expect(() => dinoConfigFromHF({ model_type: 'dinov2', use_swiglu_ffn: true })).toThrow(/swiglu/);
  });
});

describe('OpenAI / open_clip extras', () => {
  test('JIT scalars and persisted attn_mask buffers are ignored; gelu towers via config', () => {
    const a = CLIP.fromStateDict(clipSd(), { heads: { text: 2, vision: 2 } });
    const back = a.params.stateDict();
    const sd: StateDict = {};
    for (const [k, v] of Object.entries(back)) sd[`module.${k}`] = { dtype: 'float32', shape: v.shape, data: v.dataSync() as Float32Array, sourceDtype: 'F32' };
    tf.dispose(Object.values(back));
    sd['module.input_resolution'] = { dtype: 'int32', shape: [], data: Int32Array.from([32]), sourceDtype: 'I64' };
    sd['module.attn_mask'] = { dtype: 'float32', shape: [77, 77], data: new Float32Array(77 * 77), sourceDtype: 'F32' };
    const b = CLIP.fromStateDict(sd, { heads: { text: 2, vision: 2 } });
    expect(b.config.text.width).toBe(16);
    const gelu = CLIP.fromStateDict(sd, { config: { ...b.config, vision: { ...b.config.vision, act: 'gelu' } } });
    tf.tidy(() => {
      const px = tf.randomNormal([1, 32, 32, 3]) as tf.Tensor4D;
      expect(relativeError(b.encodeImage(px), a.encodeImage(px))).toBe(0);
      expect(relativeError(gelu.encodeImage(px), a.encodeImage(px))).toBeGreaterThan(1e-4);
    });
    [a, b, gelu].forEach((m) => m.dispose());
  });
});

describe('random models', () => {
  test('CLIP.random / DINO.random are seeded, run, and leak nothing', () => {
    const a = CLIP.random('tiny', 3);
    const b = CLIP.random('tiny', 3);
    const c = CLIP.random('tiny', 4, { text: false, vision: true });
    const d = DINO.random('tiny', 1);
    expect(c.hasText).toBe(false);
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const px = tf.randomNormal([1, 32, 32, 3]) as tf.Tensor4D;
      const ea = a.encodeImage(px);
      expect(relativeError(b.encodeImage(px), ea)).toBe(0);
      expect(relativeError(c.encodeImage(px), ea)).toBeGreaterThan(1e-3);
      expect(Number.isFinite(tf.sum(d.forward(px).pooled).dataSync()[0])).toBe(true);
      expect(() => c.encodeText(tf.zeros([1, 77], 'int32') as tf.Tensor2D)).toThrow(/no text tower/);
    });
    expect(tf.memory().numTensors).toBe(before);
    [a, b, c, d].forEach((m) => m.dispose());
  });
});

describe('README quick start (with the tiny model and a PNG written here)', () => {
  test('loadRGB -> preprocess -> encodeImage / encodeText -> clipScore', async () => {
    const { clipScore, loadRGB, savePNG } = await import('@ganzoo/core');
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-readme-'));
    try {
      const png = path.join(tmp, 'cat.png');
      const img = tf.randomUniform([1, 40, 56, 3], -1, 1);
      await savePNG(png, img);
      img.dispose();
      const clip = await CLIP.fromPretrained(path.join(FIX, 'tiny-clip'));
      const pixels = clip.preprocess(await loadRGB(png));
      const score = tf.tidy(() => clipScore(clip.encodeImage(pixels), clip.encodeText(clip.tokenize(['a photo of a cat']))));
      const v = score.dataSync()[0];
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(100);
      tf.dispose([score, pixels]);
      clip.dispose();
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
