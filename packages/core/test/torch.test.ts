import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { flattenStateDict, readTorchCheckpoint, stripKeyPrefix, isRawTensor, torchFindClass } from '../src/io/torch';
import { unpickle } from '../src/io/pickle';
import { ZipReader } from '../src/io/zip';
import { bufferSource } from '../src/io/pickle';
import { decodeTensorBytes, readSafetensors, RawTensor } from '../src/io/safetensors';
import { parityFixture, readFixture } from '../src/testing';

const FIX = path.join(__dirname, 'fixtures', 'torch');
const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'mixed.json'), 'utf8')) as {
  tensors: Record<string, { shape: number[]; dtype: string; values: number[] }>;
  plain: Record<string, unknown>;
};

function bytesOf(t: RawTensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** C-order float32 (or int32 / uint8) bytes of a RawTensor as torch would give them for F32/I32/BOOL. */
function digest(t: RawTensor): string {
  return crypto.createHash('sha256').update(bytesOf(t)).digest('hex').slice(0, 24);
}

function checkMixed(obj: unknown) {
  const flat = flattenStateDict(obj);
  expect(Object.keys(flat).sort()).toEqual(Object.keys(expected.tensors).sort());
  for (const [k, e] of Object.entries(expected.tensors)) {
    const t = flat[k];
    expect({ k, shape: t.shape, dtype: t.sourceDtype }).toEqual({ k, shape: e.shape, dtype: e.dtype });
    expect(t.data.length).toBe(e.values.length);
    const isFloat = ['F32', 'F16', 'BF16'].includes(e.dtype);
    const want = isFloat ? Array.from(Float32Array.from(e.values)) : e.values;
    const got = Array.from(e.dtype === 'F64' ? t.float64! : t.data);
    expect({ k, got }).toEqual({ k, got: want });
    expect(t.dtype).toBe(e.dtype.startsWith('F') || e.dtype === 'BF16' ? 'float32' : e.dtype === 'BOOL' ? 'bool' : 'int32');
  }
  const o = obj as Record<string, any>;
  const p = o.plain;
  expect(p.none).toBeNull();
  expect(p.true).toBe(true);
  expect(p.false).toBe(false);
  expect(p.int).toBe(-7);
  expect(p.big).toBe(2n ** 70n);
  expect(p.float).toBe(0.1);
  expect(p.str).toBe('héllo');
  expect(Array.from(p.bytes as Uint8Array)).toEqual(expected.plain.bytes);
  expect([...(p.set as Set<number>)].sort()).toEqual(expected.plain.set);
  expect(p.tuple).toEqual([1, [2, 3]]);
  expect(p.list).toEqual([[], {}]);
  expect(o.nested['3']).toBe('int key');
  expect(o.nested.tuple[1]).toBe('x');
  // views of one storage stay consistent with each other
  expect(Array.from(flat.shared_b.data)).toEqual(
    [1, 2].flatMap((r) => [2, 3, 4].map((c) => flat.shared_a.data[r * 5 + c])),
  );
}

describe('readTorchCheckpoint on torch-made fixtures', () => {
  for (const f of ['mixed.zip.pt', 'mixed.legacy.pt', 'mixed.zip64.pt', 'mixed.deflate.pt']) {
    test(`${f}: every dtype, strided/offset/expanded views, nested containers`, () => {
      checkMixed(readTorchCheckpoint(path.join(FIX, f)));
    });
  }

  test('TorchScript archive (torch.jit.save, fp16): module attributes give the state_dict', () => {
    const want = JSON.parse(fs.readFileSync(path.join(FIX, 'scripted.json'), 'utf8')) as Record<string, { shape: number[]; dtype: string; values: number[] }>;
    const obj = readTorchCheckpoint(path.join(FIX, 'scripted.jit.pt')) as Record<string, unknown>;
    expect(Object.getOwnPropertyDescriptor(obj, '__class__')?.value).toMatch(/^__torch__\./);
    expect(obj.training).toBe(true);
    const flat = flattenStateDict(obj);
    expect(Object.keys(flat)).toEqual(Object.keys(want));
    for (const [k, w] of Object.entries(want)) {
      expect({ k, shape: flat[k].shape, dtype: flat[k].sourceDtype, v: Array.from(flat[k].data) }).toEqual({ k, shape: w.shape, dtype: w.dtype, v: w.values });
    }
  });

  test('TorchScript archives still refuse globals outside __torch__ (the compiled classes are inert data)', () => {
    const zr = new ZipReader(bufferSource(fs.readFileSync(path.join(FIX, 'scripted.jit.pt'))));
    expect([...zr.entries.keys()].some((n) => n.includes('/code/'))).toBe(true);
    expect(() => readTorchCheckpoint(zipWithPickle(OS_SYSTEM, 'scripted.jit.pt'))).toThrow(/refusing to load global 'os\.system'/);
    expect(() => readTorchCheckpoint(zipWithPickle(BUILTINS_EVAL, 'scripted.jit.pt'))).toThrow(/refusing to load global 'builtins\.eval'/);
  });

  test('reads from a buffer as from a file', () => {
    checkMixed(readTorchCheckpoint(fs.readFileSync(path.join(FIX, 'mixed.legacy.pt'))));
  });

  test('filter reads only the selected tensors (others are not even read: a corrupt one is not noticed)', () => {
    const full = fs.readFileSync(path.join(FIX, 'mixed.zip.pt'));
    const obj = readTorchCheckpoint(full, { filter: (k) => k.startsWith('nested.') || k === 'f32' }) as Record<string, any>;
    expect(Object.keys(flattenStateDict(obj)).sort()).toEqual(['f32', 'nested.list.0', 'nested.module.w', 'nested.tuple.0']);
    expect(obj.nested.list).toHaveLength(3);
    expect(obj.plain.int).toBe(-7); // non-tensor values are all kept
    expect('bf16' in obj).toBe(false);
    // corrupt the storage of 'bf16' (CRC error when read), then load without it
    const zr = new ZipReader(bufferSource(full));
    const all = readTorchCheckpoint(full) as Record<string, RawTensor>;
    const bf16Key = [...zr.entries.keys()].find((n) => {
      if (!n.includes('/data/') || zr.entries.get(n)!.size !== all.bf16.data.length * 2) return false;
      return true;
    })!;
    const broken = Buffer.from(full);
    broken[zr.dataOffset(bf16Key)] ^= 0xff;
    expect(() => readTorchCheckpoint(broken)).toThrow(/CRC-32/);
    expect(Object.keys(flattenStateDict(readTorchCheckpoint(broken, { filter: (k) => k !== 'bf16' })))).not.toContain('bf16');
  });

  test('flattenStateDict prefix and stripKeyPrefix', () => {
    const obj = readTorchCheckpoint(path.join(FIX, 'mixed.zip.pt')) as Record<string, unknown>;
    const flat = flattenStateDict(obj.nested, 'net.');
    expect(Object.keys(flat).sort()).toEqual(['net.list.0', 'net.module.w', 'net.tuple.0']);
    const stripped = stripKeyPrefix(flattenStateDict(obj.nested), 'module.');
    expect(Object.keys(stripped).sort()).toEqual(['list.0', 'tuple.0', 'w']);
    expect(() => stripKeyPrefix({ 'module.a': 1, a: 2 }, 'module.')).toThrow(/occur twice/);
  });
});

describe('parity checkpoints', () => {
  const hf = parityFixture('biggan-deep-hf');
  (hf ? test : test.skip)('biggan-deep-hf legacy pytorch_model.bin == model.safetensors, bit for bit', () => {
    const t0 = Date.now();
    const bin = flattenStateDict(readTorchCheckpoint(path.join(hf!, 'model', 'pytorch_model.bin')));
    const ms = Date.now() - t0;
    const st = readSafetensors(path.join(hf!, 'model', 'model.safetensors')).tensors;
    expect(Object.keys(bin).sort()).toEqual(Object.keys(st).sort());
    for (const k of Object.keys(st)) {
      expect({ k, shape: bin[k].shape, dtype: bin[k].dtype }).toEqual({ k, shape: st[k].shape, dtype: st[k].dtype });
      expect(bytesOf(bin[k]).equals(bytesOf(st[k]))).toBe(true);
    }
    console.log(`legacy reader: ${Object.keys(bin).length} tensors in ${ms} ms`);
  });

  const digests = JSON.parse(fs.readFileSync(path.join(FIX, 'parity-digests.json'), 'utf8')) as Record<
    string,
    Record<string, { shape: number[]; dtype: string; sha256: string }>
  >;
  const aj = parityFixture('biggan-deep-ajbrock');
  (aj ? test : test.skip)('biggan-deep-ajbrock zip G.pth / D.pth == what torch.load reads (sha256 per tensor)', () => {
    for (const rel of ['biggan-deep-ajbrock/model/G.pth', 'biggan-deep-ajbrock/model/D.pth']) {
      const flat = flattenStateDict(readTorchCheckpoint(path.join(aj!, '..', rel)));
      const want = digests[rel];
      expect(Object.keys(flat)).toEqual(Object.keys(want)); // same keys in the same (state_dict) order
      for (const [k, w] of Object.entries(want)) {
        expect({ k, shape: flat[k].shape, dtype: flat[k].sourceDtype, sha: digest(flat[k]) }).toEqual({ k, shape: w.shape, dtype: w.dtype, sha: w.sha256 });
      }
    }
  });

  (aj ? test : test.skip)('biggan-deep-ajbrock G.pth shared embedding rows match io.safetensors G.act.shared', () => {
    const g = readTorchCheckpoint(path.join(aj!, 'model', 'G.pth')) as Record<string, RawTensor>;
    const { io } = readFixture(aj!);
    const y = Array.from(io['input.y'].data);
    const w = g['shared.weight'];
    const d = w.shape[1];
    const rows = y.flatMap((c) => Array.from(w.data.subarray(c * d, (c + 1) * d)));
    expect(rows).toEqual(Array.from(io['G.act.shared'].data));
  });

  const galip = parityFixture('galip');
  (galip ? test : test.skip)('galip state_epoch_000.pth (nested dicts, module. prefixes) and clip.pth', () => {
    const ck = readTorchCheckpoint(path.join(galip!, 'model', 'state_epoch_000.pth')) as Record<string, any>;
    expect(Object.keys(ck)).toEqual(['model', 'optimizers', 'epoch']);
    expect(ck.epoch).toBe(0);
    expect(ck.optimizers.optimizer_G.param_groups[0].betas).toEqual([0, 0.9]);
    const netG = stripKeyPrefix(flattenStateDict(ck.model.netG), 'module.');
    expect(netG['fc_code.weight'].shape).toEqual([3136, 16]);
    for (const rel of ['galip/model/state_epoch_000.pth', 'galip/model/clip.pth']) {
      const flat = flattenStateDict(readTorchCheckpoint(path.join(galip!, '..', rel)));
      const want = digests[rel];
      expect(Object.keys(flat).sort()).toEqual(Object.keys(want).sort());
      for (const [k, w] of Object.entries(want)) {
        expect({ k, shape: flat[k].shape, sha: digest(flat[k]) }).toEqual({ k, shape: w.shape, sha: w.sha256 });
      }
    }
  });
});

// ---- refusal of unsafe pickles ---------------------------------------------------------------------------

const b = (s: string) => Buffer.from(s, 'latin1');
/** protocol 2: GLOBAL os.system, REDUCE(('echo pwned',)) */
const OS_SYSTEM = b('\x80\x02cos\nsystem\nq\x00X\x0a\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03.');
/** protocol 4: STACK_GLOBAL builtins.eval, REDUCE(('1+1',)) */
const BUILTINS_EVAL = b('\x80\x04\x95\x1f\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94\x8c\x031+1\x94\x85\x94R\x94.');
/** protocol 2, py2 module name: c__builtin__\neval */
const PY2_EVAL = b('\x80\x02c__builtin__\neval\nX\x03\x00\x00\x001+1\x85R.');

/** Put a pickle into a torch zip container (the real mixed.zip.pt with its data.pkl replaced). */
function zipWithPickle(pkl: Buffer, base = 'mixed.zip.pt'): Buffer {
  // re-build a STORED zip with the fixture's entries and the given data.pkl
  const src = fs.readFileSync(path.join(FIX, base));
  const zr = new ZipReader(bufferSource(src));
  const files: [string, Uint8Array][] = [...zr.entries.keys()].map((n) => [n, n.endsWith('data.pkl') ? pkl : zr.read(n)]);
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let off = 0;
  for (const [name, data] of files) {
    const nb = Buffer.from(name);
    const crc = require('zlib').crc32(data) >>> 0;
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(data.length, 18);
    lh.writeUInt32LE(data.length, 22);
    lh.writeUInt16LE(nb.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(20, 6);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(data.length, 20);
    ch.writeUInt32LE(data.length, 24);
    ch.writeUInt16LE(nb.length, 28);
    ch.writeUInt32LE(off, 42);
    locals.push(lh, nb, Buffer.from(data));
    central.push(ch, nb);
    off += 30 + nb.length + data.length;
  }
  const cd = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(files.length, 8);
  eocd.writeUInt16LE(files.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(off, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

/** Put a pickle into a legacy container: the fixture's magic / protocol / sys_info pickles, then `pkl`. */
function legacyWithPickle(pkl: Buffer): Buffer {
  const src = fs.readFileSync(path.join(FIX, 'mixed.legacy.pt'));
  let end = 0;
  for (let i = 0; i < 3; i++) end = unpickle(src, { findClass: () => undefined }, end).end;
  return Buffer.concat([src.subarray(0, end), pkl, b('\x80\x02]q\x00.')]);
}

describe('restricted unpickler', () => {
  const cases: [string, Buffer, RegExp][] = [
    ['os.system', OS_SYSTEM, /refusing to load global 'os\.system'/],
    ['builtins.eval (STACK_GLOBAL)', BUILTINS_EVAL, /refusing to load global 'builtins\.eval'/],
    ['__builtin__.eval (py2 name)', PY2_EVAL, /refusing to load global 'builtins\.eval'/],
  ];
  for (const [name, pkl, re] of cases) {
    test(`refuses ${name} in a zip checkpoint, a legacy checkpoint and a bare pickle`, () => {
      expect(() => readTorchCheckpoint(zipWithPickle(pkl))).toThrow(re);
      expect(() => readTorchCheckpoint(legacyWithPickle(pkl))).toThrow(re);
      expect(() => unpickle(pkl, { findClass: () => undefined })).toThrow(re);
      // a bare malicious pickle passed as a checkpoint
      expect(() => readTorchCheckpoint(pkl)).toThrow(/plain Python pickle .* names the global '(os\.system|builtins\.eval)', which is refused/);
    });
  }

  test('the zip container helper itself makes loadable checkpoints (the refusals are not container errors)', () => {
    const src = fs.readFileSync(path.join(FIX, 'mixed.zip.pt'));
    const pkl = new ZipReader(bufferSource(src)).read('mixed.zip/data.pkl');
    checkMixed(readTorchCheckpoint(zipWithPickle(Buffer.from(pkl))));
    expect(readTorchCheckpoint(legacyWithPickle(b('\x80\x02}q\x00X\x01\x00\x00\x00aK\x05s.')))).toEqual({ a: 5 });
  });

  test('refuses other code-running globals', () => {
    for (const [mod, name] of [['posix', 'system'], ['subprocess', 'Popen'], ['builtins', 'getattr'], ['torch', 'load'], ['numpy', 'load'], ['copyreg', '_reconstructor']]) {
      const pkl = b(`\x80\x02c${mod}\n${name}\n)R.`);
      expect(() => readTorchCheckpoint(zipWithPickle(pkl))).toThrow(new RegExp(`refusing to load global '${mod}\\.${name}'`));
    }
  });
});

// ---- corrupt input -----------------------------------------------------------------------------------

describe('corrupt files give clear errors', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-torch-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** Either loads or throws an Error from the reader (message prefixed 'torch checkpoint'), never anything else. */
  function loadsOrClearError(buf: Uint8Array): 'ok' | string {
    try {
      readTorchCheckpoint(buf);
      return 'ok';
    } catch (e) {
      expect(e).toBeInstanceOf(Error);
      expect((e as Error).message).toMatch(/^torch checkpoint buffer[ :]/);
      return (e as Error).message;
    }
  }

  for (const f of ['mixed.zip.pt', 'mixed.legacy.pt', 'mixed.zip64.pt']) {
    test(`${f}: every truncation point fails clearly`, () => {
      const full = fs.readFileSync(path.join(FIX, f));
      const step = Math.max(1, Math.floor(full.length / 400));
      for (let n = 0; n < full.length; n += step) {
        const r = loadsOrClearError(full.subarray(0, n));
        expect({ n, r: r === 'ok' ? 'loaded' : 'error' }).toEqual({ n, r: 'error' });
      }
    });
  }

  test('zip: every bit flip inside an entry is caught (CRC-32); flips elsewhere never crash', () => {
    const full = fs.readFileSync(path.join(FIX, 'mixed.zip.pt'));
    const zr0 = new ZipReader(bufferSource(full));
    const inData = (at: number) =>
      [...zr0.entries.values()].some((e) => at >= zr0.dataOffset(e.name) && at < zr0.dataOffset(e.name) + e.compressedSize);
    const rnd = (() => {
      let s = 12345;
      return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    })();
    let dataFlips = 0;
    for (let i = 0; i < 300; i++) {
      const buf = Buffer.from(full);
      const at = Math.floor(rnd() * buf.length);
      buf[at] ^= 1 << Math.floor(rnd() * 8);
      const r = loadsOrClearError(buf);
      if (inData(at)) {
        dataFlips++;
        expect({ at, r }).toEqual({ at, r: expect.stringMatching(/CRC-32|corrupt/) });
      }
    }
    expect(dataFlips).toBeGreaterThan(30);
    const buf = Buffer.from(full);
    const zr = new ZipReader(bufferSource(full));
    const dataAt = zr.dataOffset('mixed.zip/data/0');
    buf[dataAt + 3] ^= 0x10;
    expect(loadsOrClearError(buf)).toMatch(/entry 'mixed\.zip\/data\/0' is corrupt: CRC-32/);
  });

  test('legacy: bit flips never escape as a crash or hang', () => {
    const full = fs.readFileSync(path.join(FIX, 'mixed.legacy.pt'));
    let errors = 0;
    for (let at = 0; at < full.length; at += 4) {
      const buf = Buffer.from(full);
      buf[at] ^= 0x55;
      if (loadsOrClearError(buf) !== 'ok') errors++;
    }
    expect(errors).toBeGreaterThan(80);
  });

  test('specific messages', () => {
    const legacy = fs.readFileSync(path.join(FIX, 'mixed.legacy.pt'));
    expect(loadsOrClearError(legacy.subarray(0, legacy.length - 5))).toMatch(/runs past the end .* \(truncated\)/);
    expect(loadsOrClearError(Buffer.concat([legacy, b('xx')]))).toMatch(/trailing bytes/);
    expect(loadsOrClearError(b('hello world, not a checkpoint'))).toMatch(/not a PyTorch checkpoint/);
    expect(loadsOrClearError(b('\x80\x02K\x05.'))).toMatch(/expected the magic number/);
    expect(loadsOrClearError(b('PK\x03\x04' + 'junk'.repeat(10)))).toMatch(/end-of-central-directory/);
    expect(() => readTorchCheckpoint(path.join(tmp, 'nope.pt'))).toThrow(/file not found: .*nope\.pt/);
    expect(() => readTorchCheckpoint(tmp)).toThrow(/is a directory/);
    const f = path.join(tmp, 'trunc.pth');
    const zipf = fs.readFileSync(path.join(FIX, 'mixed.zip.pt'));
    fs.writeFileSync(f, zipf.subarray(0, zipf.length - 100));
    expect(() => readTorchCheckpoint(f)).toThrow(new RegExp(`^torch checkpoint ${f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `));
  });

  test('unpickler guards: stack underflow, bad memo, huge lengths, unknown opcode', () => {
    const u = (s: string) => () => unpickle(b(s), { findClass: () => undefined });
    expect(u('\x80\x02R.')).toThrow(/stack underflow/);
    expect(u('\x80\x02h\x07.')).toThrow(/memo key 7 not found/);
    expect(u('\x80\x02X\xff\xff\xff\x7f.')).toThrow(/needs 2147483647 bytes at byte 7 but the data ends at byte 8/);
    expect(u('\x80\x04\x8d\xff\xff\xff\xff\xff\xff\x00\x00')).toThrow(/larger than the whole input/);
    expect(u('\x80\x02\xff.')).toThrow(/unknown opcode 0xff/);
    expect(u('\x80\x02K\x01')).toThrow(/ends without STOP/);
    expect(u('\x80\x02K\x01K\x02.')).toThrow(/extra item/);
    expect(u('\x80\x09.')).toThrow(/unsupported pickle protocol 9/);
  });

  test('tensor views beyond their storage are refused', () => {
    // (storage numel 2) with size (3,) -> out of range
    const pkl = b(
      '\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x02tQK\x00K\x03\x85K\x01\x85\x89)tR.',
    );
    expect(loadsOrClearError(zipWithPickle(pkl))).toMatch(/reaches element 2 but its storage '0' has/);
  });

  test('isRawTensor', () => {
    expect(isRawTensor({ shape: [1], data: new Float32Array(1), sourceDtype: 'F32', dtype: 'float32' })).toBe(true);
    expect(isRawTensor({ shape: [1] })).toBe(false);
  });
});

describe('plain pickles of every protocol (made by Python)', () => {
  const plain = JSON.parse(fs.readFileSync(path.join(FIX, 'plain-pickles.json'), 'utf8')) as { expected: Record<string, unknown>; pickles: Record<string, string> };
  for (const [proto, b64] of Object.entries(plain.pickles)) {
    test(`protocol ${proto}`, () => {
      const v = unpickle(Buffer.from(b64, 'base64'), { findClass: torchFindClass }).value as Record<string, any>;
      const norm = (x: unknown): unknown =>
        typeof x === 'bigint'
          ? x.toString()
          : x instanceof Uint8Array
            ? Array.from(x)
            : x instanceof Set
              ? [...x].sort()
              : Array.isArray(x)
                ? x.map(norm)
                : x && typeof x === 'object'
                  ? Object.fromEntries(Object.entries(x).map(([k, y]) => [k, norm(y)]))
                  : x;
      expect(norm(v)).toEqual(plain.expected);
      expect(Object.keys(v)).toEqual(Object.keys(plain.expected)); // insertion order kept
      expect(v.shared[0]).toBe(v.shared[1]); // memo: one object referenced twice
      expect(Object.isFrozen(v.tuple3)).toBe(true);
      expect(Object.isFrozen(v.list)).toBe(false);
    });
  }
});

describe('shared tensor decoder (safetensors.ts decodeTensorBytes)', () => {
  test('views aligned F32/I32/F64 bytes in place and copies unaligned ones', () => {
    const buf = new Uint8Array(4 + 16 + 4);
    new DataView(buf.buffer).setFloat32(4, 1.5, true);
    const aligned = decodeTensorBytes('F32', buf.subarray(4, 20), 4);
    expect(aligned.data.buffer).toBe(buf.buffer);
    expect(aligned.data[0]).toBe(1.5);
    const buf2 = new Uint8Array(1 + 16);
    buf2.set(buf.subarray(4, 20), 1);
    const unaligned = decodeTensorBytes('F32', buf2.subarray(1), 4);
    expect(unaligned.data.buffer).not.toBe(buf2.buffer);
    expect(Array.from(unaligned.data)).toEqual(Array.from(aligned.data));
    const i32 = decodeTensorBytes('I32', new Uint8Array(new Int32Array([7, -8]).buffer), 2);
    expect(Array.from(i32.data)).toEqual([7, -8]);
    const f64 = decodeTensorBytes('F64', new Uint8Array(new Float64Array([0.1, 2]).buffer), 2);
    expect(Array.from(f64.float64!)).toEqual([0.1, 2]);
    expect(Array.from(f64.data)).toEqual([Math.fround(0.1), 2]);
  });
});
