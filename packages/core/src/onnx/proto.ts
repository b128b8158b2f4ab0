/**
 * Minimal protobuf wire-format writer for ONNX models (no dependency). Only what `OnnxGraph` emits: varints
 * (wire type 0), 32-bit floats (wire type 5) and length-delimited fields (wire type 2: strings, bytes, nested
 * messages). Field numbers follow onnx/onnx.proto (checked against the IR 7+ definition).
 *
 * A message is encoded as a list of chunks plus its total length, so that a nested message costs one small header
 * and large raw tensors are copied once, into the final buffer (`concatChunks`).
 */

/** An encoded message (or part of one): chunks in order and their total byte length. */
export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  /** Bytes in `chunks` (the small-write buffer's `pos` bytes come on top until flushed). */
  private length = 0;
  private buf = new Uint8Array(256);
  private pos = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.flush();
    if (n > this.buf.length) this.buf = new Uint8Array(Math.max(n, 256));
  }

  /** Move the small-write buffer into the chunk list. */
  private flush(): void {
    if (this.pos === 0) return;
    this.chunks.push(this.buf.subarray(0, this.pos));
    this.length += this.pos;
    this.buf = new Uint8Array(this.buf.length);
    this.pos = 0;
  }

  private pushChunk(c: Uint8Array): void {
    this.flush();
    this.chunks.push(c);
    this.length += c.length;
  }

  /** Unsigned or negative (two's complement, 10 bytes) 64-bit varint. */
  varint(v: number | bigint): void {
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new Error(`protobuf varint: ${v} is not a safe integer`);
      if (v >= 0 && v < 2 ** 31) {
        this.ensure(5);
        let x = v;
        while (x >= 0x80) {
          this.buf[this.pos++] = (x & 0x7f) | 0x80;
          x >>>= 7;
        }
        this.buf[this.pos++] = x;
        return;
      }
      v = BigInt(v);
    }
    let x = BigInt.asUintN(64, v);
    this.ensure(10);
    while (x >= 0x80n) {
      this.buf[this.pos++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.pos++] = Number(x);
  }

  /** Total encoded size in bytes. */
  size(): number {
    return this.length + this.pos;
  }

  tag(field: number, wireType: 0 | 2 | 5): void {
    this.varint(field * 8 + wireType);
  }

  /** int32 / int64 / enum field (wire type 0). */
  int(field: number, v: number | bigint): void {
    this.tag(field, 0);
    this.varint(v);
  }

  /** float field (wire type 5, little-endian IEEE 754). */
  float(field: number, v: number): void {
    this.tag(field, 5);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset).setFloat32(this.pos, v, true);
    this.pos += 4;
  }

  /** bytes field; large payloads are referenced, not copied, until `concatChunks`. */
  bytes(field: number, b: Uint8Array): void {
    this.tag(field, 2);
    this.varint(b.length);
    if (b.length <= 64) {
      this.ensure(b.length);
      this.buf.set(b, this.pos);
      this.pos += b.length;
    } else {
      this.pushChunk(b);
    }
  }

  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s));
  }

  /** Nested message field (`m` is consumed). */
  message(field: number, m: ProtoWriter): void {
    const f = m.finish();
    this.tag(field, 2);
    this.varint(f.length);
    this.flush();
    for (const c of f.chunks) this.chunks.push(c);
    this.length += f.length;
  }

  /** The chunks of this message (the writer must not be used afterwards). */
  finish(): { chunks: Uint8Array[]; length: number } {
    this.flush();
    return { chunks: this.chunks, length: this.length };
  }
}

/** One contiguous buffer from a finished writer. */
export function concatChunks(w: ProtoWriter): Uint8Array {
  const { chunks, length } = w.finish();
  const out = new Uint8Array(length);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
