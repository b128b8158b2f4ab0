import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { parseSafetensors, readSafetensors, saveSafetensors, serializeSafetensors, parityFixture } from '@ganzoo/core';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-st-'));

test('round trip F32, I32, BOOL, scalar; F16 and BF16 narrowing', () => {
  const a = tf.tensor([[1.5, -2.25, 3], [4, 5, 6e-3]]);
  const b = tf.tensor([1, -7, 2147483647], [3], 'int32');
  const c = tf.tensor([true, false], [2], 'bool');
  const s = tf.scalar(0.4);
  const f = path.join(tmp, 'x.safetensors');
  saveSafetensors(f, { a, b, c, s }, { metadata: { format: 'pt' } });
  const r = readSafetensors(f);
  expect(r.metadata.format).toBe('pt');
  expect(r.tensors.a.shape).toEqual([2, 3]);
  expect(Array.from(r.tensors.a.data)).toEqual(Array.from(a.dataSync()));
  expect(Array.from(r.tensors.b.data)).toEqual([1, -7, 2147483647]);
  expect(r.tensors.c.dtype).toBe('bool');
  expect(Array.from(r.tensors.c.data)).toEqual([1, 0]);
  expect(r.tensors.s.shape).toEqual([]);
  for (const floatDtype of ['F16', 'BF16'] as const) {
    const buf = serializeSafetensors({ a }, { floatDtype });
    const back = parseSafetensors(buf).tensors.a;
    expect(back.sourceDtype).toBe(floatDtype);
    const tol = floatDtype === 'F16' ? 1e-3 : 1e-2;
    Array.from(a.dataSync()).forEach((v, i) => expect(Math.abs(back.data[i] - v)).toBeLessThanOrEqual(tol * Math.abs(v) + 1e-7));
  }
  tf.dispose([a, b, c, s]);
});

test('header size is a multiple of 8 and data is contiguous', () => {
  const buf = serializeSafetensors({ z: tf.zeros([3]), y: tf.ones([1, 2]) });
  const n = Number(buf.readBigUInt64LE(0));
  expect(n % 8).toBe(0);
  const h = JSON.parse(buf.subarray(8, 8 + n).toString());
  expect(h.y.data_offsets).toEqual([0, 8]);
  expect(h.z.data_offsets).toEqual([8, 20]);
});

describe('corrupt input gives a clear error', () => {
  const good = serializeSafetensors({ w: tf.ones([4, 4]) });
  test('truncated', () => {
    expect(() => parseSafetensors(good.subarray(0, good.length - 3), 'w.st')).toThrow(/truncat/);
    expect(() => parseSafetensors(good.subarray(0, 5))).toThrow(/at least 8 bytes/);
  });
  test('huge header length', () => {
    const b = Buffer.from(good);
    b.writeBigUInt64LE(1n << 40n);
    expect(() => parseSafetensors(b)).toThrow(/exceeds/);
  });
  test('bad JSON, dtype, offsets', () => {
    const b = Buffer.from(good);
    b[9] = 0x7b; // '{' -> '{{'
    expect(() => parseSafetensors(b)).toThrow(/not valid JSON/);
    const mk = (h: object, data: number) => {
      let j = JSON.stringify(h);
      j += ' '.repeat((8 - (j.length % 8)) % 8);
      const head = Buffer.alloc(8);
      head.writeBigUInt64LE(BigInt(j.length));
      return Buffer.concat([head, Buffer.from(j), Buffer.alloc(data)]);
    };
    expect(() => parseSafetensors(mk({ w: { dtype: 'Q7', shape: [1], data_offsets: [0, 4] } }, 4))).toThrow(/dtype "Q7"/);
    expect(() => parseSafetensors(mk({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, 4))).toThrow(/needs 8 bytes/);
    expect(() => parseSafetensors(mk({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8))).toThrow(/contiguous/);
    expect(() => parseSafetensors(mk({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 12))).toThrow(/trailing/);
  });
});

const fx = parityFixture('biggan-deep-hf');
(fx ? test : test.skip)('reads a parity fixture, F64 kept exactly', () => {
  const io = readSafetensors(path.join(fx!, 'io.safetensors')).tensors;
  const t = io['trunc0.4/input.truncation'];
  expect(t.sourceDtype).toBe('F64');
  expect(t.float64![0]).toBe(0.4);
  expect(io['trunc0.4/output.image'].shape).toEqual([2, 3, 128, 128]);
});
