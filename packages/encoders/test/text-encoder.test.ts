/** The shared text-encoder record and the byte-level tokenizer of the random test CLIP (StyleGAN-T, GigaGAN, GALIP CLIs). */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { BYTE_BOS, BYTE_EOS, BYTE_VOCAB_SIZE, TEXT_ENCODER_FILE, byteTokenizer, clipSpec, loadTextEncoder, recordedTextEncoder } from '../src';

test('byteTokenizer: <bos> bytes+1 <eos>, EOS the highest id', () => {
  const t = byteTokenizer();
  expect(t.ids('aé')).toEqual([BYTE_BOS, 0x61 + 1, 0xc3 + 1, 0xa9 + 1, BYTE_EOS]);
  expect([t.bosId, t.eosId]).toEqual([BYTE_BOS, BYTE_EOS]);
  expect(BYTE_VOCAB_SIZE).toBe(BYTE_EOS + 1);
  const ids = t.encode(['ab'], { contextLength: 6 });
  expect(Array.from(ids.dataSync())).toEqual([BYTE_BOS, 98, 99, BYTE_EOS, 0, 0]);
  ids.dispose();
});

test('loadTextEncoder: a random spec gives a seeded CLIP with the byte tokenizer; records round-trip; bad specs are named', async () => {
  const config = {
    embedDim: 8,
    text: { vocabSize: BYTE_VOCAB_SIZE, contextLength: 16, width: 16, heads: 1, layers: 1, mlpWidth: 32, act: 'quick_gelu' as const, eps: 1e-5, pool: 'argmax' as const },
    vision: { imageSize: 16, patchSize: 8, width: 16, heads: 1, layers: 1, mlpWidth: 32, act: 'quick_gelu' as const, eps: 1e-5 },
  };
  const a = await loadTextEncoder({ kind: 'random', seed: 3, config });
  const b = await loadTextEncoder({ kind: 'random', seed: 3, config });
  expect(a.tokenizer?.eosId).toBe(BYTE_EOS);
  const ids = a.tokenize(['a red star'], { contextLength: 16 });
  const ea = a.encodeText(ids);
  const eb = b.encodeText(ids);
  expect(Array.from(eb.dataSync())).toEqual(Array.from(ea.dataSync()));
  tf.dispose([ids, ea, eb]);
  a.dispose();
  b.dispose();
  await expect(loadTextEncoder({ kind: 'nope' } as never, { who: 'GALIP' })).rejects.toThrow(/^GALIP: unknown text encoder/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'text-encoder-'));
  try {
    expect(recordedTextEncoder(dir)).toBeUndefined();
    fs.writeFileSync(path.join(dir, TEXT_ENCODER_FILE), JSON.stringify(clipSpec(dir)));
    expect(recordedTextEncoder(dir)).toEqual({ kind: 'clip', ref: path.resolve(dir) });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
