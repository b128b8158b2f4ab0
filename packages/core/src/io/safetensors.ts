/**
 * safetensors: the canonical on-disk weight format (https://huggingface.co/docs/safetensors).
 * Layout: u64 little-endian header length N, N bytes of JSON header, then the raw little-endian
 * C-order tensor bytes. Offsets in the header are relative to the first byte after the header.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';

/** safetensors dtype names this reader understands. */
export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const DTYPE_BYTES: Record<SafetensorsDtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

/** A tensor as it sits in a file, decoded to the nearest tfjs dtype, not yet on a backend. */
export interface RawTensor {
  /** tfjs dtype the data maps to: floats -> float32, integers -> int32, bool -> bool. */
  dtype: 'float32' | 'int32' | 'bool';
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
  /** dtype in the file (e.g. 'F64', 'I64', 'F16'); tells a caller where precision was narrowed. */
  sourceDtype: string;
  /** For F64 sources: the exact float64 values (truncation in parity fixtures is float64). */
  float64?: Float64Array;
}

export interface SafetensorsFile {
  tensors: Record<string, RawTensor>;
  metadata: Record<string, string>;
}

/** Largest header accepted (the reference implementation uses 100 MB). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

function f16ToF32(h: number): number {
  const s = (h & 0x8000) >> 15;
  const e = (h & 0x7c00) >> 10;
  const f = h & 0x03ff;
  let v: number;
  if (e === 0) v = f * 2 ** -24;
  else if (e === 31) v = f ? NaN : Infinity;
  else v = (1 + f / 1024) * 2 ** (e - 15);
  return s ? -v : v;
}

function f32ToF16(v: number): number {
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  let exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (((x >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant = (mant | 0x800000) >>> (1 - exp);
    // round half to even
    if (mant & 0x1000 && (mant & 0x2fff)) mant += 0x2000;
    return sign | (mant >>> 13);
  }
  if (mant & 0x1000 && (mant & 0x2fff)) {
    mant += 0x2000;
    if (mant & 0x800000) {
      mant = 0;
      exp += 1;
      if (exp >= 31) return sign | 0x7c00;
    }
  }
  return sign | (exp << 10) | (mant >>> 13);
}

function decode(dtype: SafetensorsDtype, bytes: Uint8Array, count: number): Pick<RawTensor, 'dtype' | 'data' | 'float64'> {
  // F32 / I32 / F64 bytes at an aligned offset are viewed in place (zero-copy: the result shares memory with
  // `bytes`); otherwise they are copied into a fresh, aligned buffer (file buffers can sit at any byte offset).
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const aligned = (n: number) => bytes.byteOffset % n === 0 && bytes.byteLength >= count * n;
  switch (dtype) {
    case 'F32': {
      if (aligned(4)) return { dtype: 'float32', data: new Float32Array(bytes.buffer, bytes.byteOffset, count) };
      const out = new Float32Array(count);
      new Uint8Array(out.buffer).set(bytes.subarray(0, count * 4));
      return { dtype: 'float32', data: out };
    }
    case 'F64': {
      let f64: Float64Array;
      if (aligned(8)) f64 = new Float64Array(bytes.buffer, bytes.byteOffset, count);
      else {
        f64 = new Float64Array(count);
        new Uint8Array(f64.buffer).set(bytes.subarray(0, count * 8));
      }
      return { dtype: 'float32', data: Float32Array.from(f64), float64: f64 };
    }
    case 'F16': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = f16ToF32(dv.getUint16(2 * i, true));
      return { dtype: 'float32', data: out };
    }
    case 'BF16': {
      const u32 = new Uint32Array(count);
      for (let i = 0; i < count; i++) u32[i] = dv.getUint16(2 * i, true) << 16;
      return { dtype: 'float32', data: new Float32Array(u32.buffer) };
    }
    case 'I64': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = dv.getBigInt64(8 * i, true);
        if (v > 2147483647n || v < -2147483648n) {
          throw new Error(`safetensors: I64 value ${v} at index ${i} does not fit in int32 (tfjs has no int64)`);
        }
        out[i] = Number(v);
      }
      return { dtype: 'int32', data: out };
    }
    case 'I32': {
      if (aligned(4)) return { dtype: 'int32', data: new Int32Array(bytes.buffer, bytes.byteOffset, count) };
      const out = new Int32Array(count);
      new Uint8Array(out.buffer).set(bytes.subarray(0, count * 4));
      return { dtype: 'int32', data: out };
    }
    case 'I16': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getInt16(2 * i, true);
      return { dtype: 'int32', data: out };
    }
    case 'I8': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getInt8(i);
      return { dtype: 'int32', data: out };
    }
    case 'U8':
      return { dtype: 'int32', data: Int32Array.from(bytes) };
    case 'BOOL': {
      const out = new Uint8Array(count);
      for (let i = 0; i < count; i++) out[i] = bytes[i] ? 1 : 0;
      return { dtype: 'bool', data: out };
    }
  }
}

/** Decode `count` little-endian values of `dtype` from `bytes` (shared with the PyTorch checkpoint reader). */
export const decodeTensorBytes = decode;

/**
 * Parse a safetensors buffer. Validates the header: its size, JSON, every entry's dtype, shape and
 * offsets (in range, matching dtype x shape, contiguous with no gaps or overlaps, covering the data).
 * `what` names the source in error messages (e.g. the file path).
 */
export function parseSafetensors(buf: Uint8Array, what = 'buffer'): SafetensorsFile {
  if (buf.byteLength < 8) {
    throw new Error(`safetensors ${what}: expected at least 8 bytes (header length), found ${buf.byteLength}`);
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) {
    throw new Error(`safetensors ${what}: header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt or not a safetensors file)`);
  }
  const n = Number(n64);
  if (8 + n > buf.byteLength) {
    throw new Error(`safetensors ${what}: header of ${n} bytes runs past the end of the ${buf.byteLength}-byte file (truncated?)`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + 8, n).toString('utf8'));
  } catch (e) {
    throw new Error(`safetensors ${what}: header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new Error(`safetensors ${what}: header must be a JSON object, found ${Array.isArray(header) ? 'array' : typeof header}`);
  }
  const base = 8 + n;
  const dataLen = buf.byteLength - base;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (v && typeof v === 'object') for (const [k, s] of Object.entries(v as object)) metadata[k] = String(s);
      continue;
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e?.dtype !== 'string' || !(e.dtype in DTYPE_BYTES)) {
      throw new Error(`safetensors ${what}: tensor '${name}' has dtype ${JSON.stringify(e?.dtype)}; expected one of ${Object.keys(DTYPE_BYTES).join(', ')}`);
    }
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new Error(`safetensors ${what}: tensor '${name}' has shape ${JSON.stringify(e.shape)}; expected an array of non-negative integers`);
    }
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0) || off[0] > off[1]) {
      throw new Error(`safetensors ${what}: tensor '${name}' has data_offsets ${JSON.stringify(off)}; expected [begin, end] with 0 <= begin <= end`);
    }
    const dtype = e.dtype as SafetensorsDtype;
    const count = (e.shape as number[]).reduce((a, b) => a * b, 1);
    const nbytes = count * DTYPE_BYTES[dtype];
    if (off[1] - off[0] !== nbytes) {
      throw new Error(`safetensors ${what}: tensor '${name}' (${dtype} ${JSON.stringify(e.shape)}) needs ${nbytes} bytes, its offsets span ${off[1] - off[0]}`);
    }
    if (off[1] > dataLen) {
      throw new Error(`safetensors ${what}: tensor '${name}' ends at byte ${off[1]} of the data section, which has only ${dataLen} bytes (truncated file?)`);
    }
    entries.push({ name, dtype, shape: e.shape as number[], begin: off[0], end: off[1] });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const e of sorted) {
    if (e.begin !== pos) {
      throw new Error(`safetensors ${what}: tensor '${e.name}' starts at byte ${e.begin}, expected ${pos} (offsets must be contiguous, without gaps or overlaps)`);
    }
    pos = e.end;
  }
  if (pos !== dataLen) {
    throw new Error(`safetensors ${what}: tensors cover ${pos} bytes but the data section has ${dataLen} (trailing bytes or truncation)`);
  }
  const tensors: Record<string, RawTensor> = {};
  for (const e of entries) {
    const count = e.shape.reduce((a, b) => a * b, 1);
    const bytes = buf.subarray(base + e.begin, base + e.end);
    tensors[e.name] = { ...decode(e.dtype, bytes, count), shape: e.shape, sourceDtype: e.dtype };
  }
  return { tensors, metadata };
}

/** Read and parse a safetensors file. */
export function readSafetensors(file: string): SafetensorsFile {
  if (!fs.existsSync(file)) throw new Error(`safetensors: file not found: ${file}`);
  return parseSafetensors(fs.readFileSync(file), file);
}

/** Put a raw tensor on the active tfjs backend. */
export function rawToTensor(raw: RawTensor): tf.Tensor {
  return tf.tensor(raw.data, raw.shape, raw.dtype);
}

/** Read a safetensors file straight into tfjs tensors (the caller owns and disposes them). */
export function loadSafetensors(file: string): Record<string, tf.Tensor> {
  const { tensors } = readSafetensors(file);
  const out: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(tensors)) out[k] = rawToTensor(v);
  return out;
}

export interface SerializeOptions {
  metadata?: Record<string, string>;
  /** Store float32 tensors as F16 or BF16 (smaller files); default F32. */
  floatDtype?: 'F32' | 'F16' | 'BF16';
}

type Serializable = tf.Tensor | RawTensor;

function rawOf(t: Serializable): { dtype: string; shape: number[]; data: Float32Array | Int32Array | Uint8Array } {
  if (t instanceof tf.Tensor) {
    return { dtype: t.dtype, shape: t.shape.slice(), data: t.dataSync() as Float32Array | Int32Array | Uint8Array };
  }
  return t;
}

/** Serialize named tensors to safetensors bytes (keys sorted, 8-byte aligned data, as the reference writer does). */
export function serializeSafetensors(tensors: Record<string, Serializable>, opts: SerializeOptions = {}): Buffer {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (opts.metadata && Object.keys(opts.metadata).length) header.__metadata__ = opts.metadata;
  const chunks: Uint8Array[] = [];
  let off = 0;
  for (const name of names) {
    const r = rawOf(tensors[name]);
    const count = r.shape.reduce((a, b) => a * b, 1);
    if (r.data.length !== count) {
      throw new Error(`safetensors: tensor '${name}' has ${r.data.length} values but shape ${JSON.stringify(r.shape)} needs ${count}`);
    }
    let dtype: SafetensorsDtype;
    let bytes: Uint8Array;
    if (r.dtype === 'float32') {
      dtype = opts.floatDtype ?? 'F32';
      const f = r.data as Float32Array;
      if (dtype === 'F32') bytes = new Uint8Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength));
      else {
        const u16 = new Uint16Array(count);
        if (dtype === 'F16') for (let i = 0; i < count; i++) u16[i] = f32ToF16(f[i]);
        else {
          const u32 = new Uint32Array(Float32Array.from(f).buffer);
          for (let i = 0; i < count; i++) {
            const x = u32[i];
            u16[i] = (x >>> 16) + (((x >>> 15) & 1) & (((x >>> 16) & 1) | ((x & 0x7fff) ? 1 : 0))); // round half to even
          }
        }
        bytes = new Uint8Array(u16.buffer);
      }
    } else if (r.dtype === 'int32') {
      dtype = 'I32';
      const d = r.data as Int32Array;
      bytes = new Uint8Array(Int32Array.from(d).buffer);
    } else if (r.dtype === 'bool') {
      dtype = 'BOOL';
      bytes = Uint8Array.from(r.data as Uint8Array, (v) => (v ? 1 : 0));
    } else {
      throw new Error(`safetensors: cannot serialize tensor '${name}' of dtype ${r.dtype}; expected float32, int32 or bool`);
    }
    header[name] = { dtype, shape: r.shape, data_offsets: [off, off + bytes.byteLength] };
    chunks.push(bytes);
    off += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  const pad = (8 - (Buffer.byteLength(json) % 8)) % 8;
  json += ' '.repeat(pad);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([head, Buffer.from(json, 'utf8'), ...chunks]);
}

/** Write an atomic file: temp file in the same directory, fsync, rename. Nothing half-written is ever left behind. */
export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      /* ignore */
    }
    throw new Error(`could not write ${file}: ${(e as Error).message}`);
  }
}

/** Save named tensors as a safetensors file, atomically. */
export function saveSafetensors(file: string, tensors: Record<string, Serializable>, opts: SerializeOptions = {}): void {
  writeFileAtomic(file, serializeSafetensors(tensors, opts));
}
