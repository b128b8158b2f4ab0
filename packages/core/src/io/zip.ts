/**
 * A small ZIP reader for PyTorch's zip checkpoints (torch >= 1.6 writes them with miniz: STORED entries,
 * 64-byte aligned data, ZIP64 records when the archive passes 4 GiB). Reads the central directory only and
 * each entry's data on demand, so multi-GB files are never loaded whole. DEFLATE entries (a re-zipped
 * checkpoint) are inflated; the CRC-32 of every entry read is checked, so bit flips are reported.
 */
import * as fs from 'fs';
import * as zlib from 'zlib';
import { ByteSource } from './pickle';

export interface ZipEntry {
  name: string;
  /** 0 = STORED, 8 = DEFLATE. */
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;

/** A ByteSource over an open file descriptor (reads with pread; nothing is mapped whole). */
export function fileSource(file: string): ByteSource & { close(): void } {
  const fd = fs.openSync(file, 'r');
  const size = fs.fstatSync(fd).size;
  return {
    size,
    read(pos, len) {
      if (pos < 0 || len < 0 || pos + len > size) throw new RangeError(`read of ${len} bytes at ${pos} is past the end of ${file} (${size} bytes)`);
      const out = Buffer.allocUnsafe(len);
      let done = 0;
      while (done < len) {
        const n = fs.readSync(fd, out, done, len - done, pos + done);
        if (n === 0) throw new Error(`${file}: unexpected end of file at byte ${pos + done}`);
        done += n;
      }
      return out;
    },
    close() {
      fs.closeSync(fd);
    },
  };
}

/**
 * A cached window over a ByteSource for many small sequential reads (the pickle parser reads byte by byte).
 * Large reads bypass the window.
 */
export function windowedSource(src: ByteSource, windowBytes = 1 << 20): ByteSource {
  if ((src as { whole?: Uint8Array }).whole) return src; // already in memory
  let winStart = 0;
  let win: Uint8Array = new Uint8Array(0);
  return {
    size: src.size,
    read(pos, len) {
      if (pos >= winStart && pos + len <= winStart + win.byteLength) return win.subarray(pos - winStart, pos - winStart + len);
      if (len >= windowBytes) return src.read(pos, len);
      if (pos < 0 || pos + len > src.size) return src.read(pos, len); // let the source raise its range error
      winStart = pos;
      win = src.read(pos, Math.min(windowBytes, src.size - pos));
      return win.subarray(0, len);
    },
  };
}

export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();

  constructor(private readonly src: ByteSource, private readonly what = 'zip') {
    this.readCentralDirectory();
  }

  private fail(m: string): never {
    throw new Error(`${this.what}: ${m}`);
  }

  private readCentralDirectory(): void {
    const size = this.src.size;
    if (size < 22) this.fail(`${size} bytes is too small for a zip archive (truncated?)`);
    // The end-of-central-directory record sits in the last 22 + up to 65535 (comment) bytes.
    const tailLen = Math.min(size, 22 + 65535);
    const tail = this.src.read(size - tailLen, tailLen);
    const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tv.getUint32(i, true) === SIG_EOCD && i + 22 + tv.getUint16(i + 20, true) <= tailLen) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) this.fail('no end-of-central-directory record: not a zip archive, or truncated');
    let count = tv.getUint16(eocd + 10, true);
    let cdSize = tv.getUint32(eocd + 12, true);
    let cdOffset = tv.getUint32(eocd + 16, true);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      // ZIP64: a locator (20 bytes) right before the EOCD points at the ZIP64 end record.
      const locPos = size - tailLen + eocd - 20;
      if (locPos < 0) this.fail('ZIP64 end-of-central-directory locator missing (truncated?)');
      const loc = this.src.read(locPos, 20);
      const lv = new DataView(loc.buffer, loc.byteOffset, 20);
      if (lv.getUint32(0, true) !== SIG_ZIP64_LOCATOR) this.fail('ZIP64 end-of-central-directory locator missing or corrupt');
      const recPos = this.num(lv.getBigUint64(8, true), 'ZIP64 record offset');
      if (recPos + 56 > size) this.fail(`ZIP64 end record at ${recPos} is past the end of the file (${size} bytes)`);
      const rec = this.src.read(recPos, 56);
      const rv = new DataView(rec.buffer, rec.byteOffset, 56);
      if (rv.getUint32(0, true) !== SIG_ZIP64_EOCD) this.fail('ZIP64 end-of-central-directory record corrupt');
      count = this.num(rv.getBigUint64(32, true), 'entry count');
      cdSize = this.num(rv.getBigUint64(40, true), 'central directory size');
      cdOffset = this.num(rv.getBigUint64(48, true), 'central directory offset');
    }
    if (cdOffset + cdSize > size) this.fail(`central directory (${cdSize} bytes at ${cdOffset}) runs past the end of the ${size}-byte file (truncated?)`);
    const cd = this.src.read(cdOffset, cdSize);
    const cv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cdSize || cv.getUint32(p, true) !== SIG_CENTRAL) this.fail(`central directory entry ${i} is corrupt (at byte ${cdOffset + p})`);
      const method = cv.getUint16(p + 10, true);
      const crc32 = cv.getUint32(p + 16, true);
      let compressedSize = cv.getUint32(p + 20, true);
      let usize = cv.getUint32(p + 24, true);
      const nameLen = cv.getUint16(p + 28, true);
      const extraLen = cv.getUint16(p + 30, true);
      const commentLen = cv.getUint16(p + 32, true);
      let localHeaderOffset = cv.getUint32(p + 42, true);
      if (p + 46 + nameLen + extraLen + commentLen > cdSize) this.fail(`central directory entry ${i} runs past the directory end`);
      const name = Buffer.from(cd.subarray(p + 46, p + 46 + nameLen)).toString('utf8');
      // ZIP64 extended information extra field (id 1): only the fields that are 0xFFFFFFFF above, in order.
      let e = p + 46 + nameLen;
      const eEnd = e + extraLen;
      while (e + 4 <= eEnd) {
        const id = cv.getUint16(e, true);
        const len = cv.getUint16(e + 2, true);
        if (id === 1) {
          let q = e + 4;
          const next = (label: string) => {
            if (q + 8 > e + 4 + len) this.fail(`entry '${name}': ZIP64 extra field too short for ${label}`);
            const v = this.num(cv.getBigUint64(q, true), label);
            q += 8;
            return v;
          };
          if (usize === 0xffffffff) usize = next('size');
          if (compressedSize === 0xffffffff) compressedSize = next('compressed size');
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = next('local header offset');
        }
        e += 4 + len;
      }
      if (method !== 0 && method !== 8) this.fail(`entry '${name}' uses compression method ${method}; expected 0 (stored) or 8 (deflate)`);
      this.entries.set(name, { name, method, compressedSize, size: usize, crc32, localHeaderOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
  }

  private num(v: bigint, label: string): number {
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${label} ${v} is out of range (corrupt)`);
    return Number(v);
  }

  /** Byte offset of an entry's data (after its local header). */
  dataOffset(name: string): number {
    const e = this.entries.get(name);
    if (!e) this.fail(`entry '${name}' not found`);
    const entry = e as ZipEntry;
    if (entry.localHeaderOffset + 30 > this.src.size) this.fail(`entry '${name}': local header at ${entry.localHeaderOffset} is past the end of the file (truncated?)`);
    const h = this.src.read(entry.localHeaderOffset, 30);
    const hv = new DataView(h.buffer, h.byteOffset, 30);
    if (hv.getUint32(0, true) !== SIG_LOCAL) this.fail(`entry '${name}': local header signature is corrupt`);
    const start = entry.localHeaderOffset + 30 + hv.getUint16(26, true) + hv.getUint16(28, true);
    if (start + entry.compressedSize > this.src.size) {
      this.fail(`entry '${name}' (${entry.compressedSize} bytes at ${start}) runs past the end of the ${this.src.size}-byte file (truncated?)`);
    }
    return start;
  }

  /** An entry's bytes, inflated if needed, with its CRC-32 checked. */
  read(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (!e) this.fail(`entry '${name}' not found; the archive holds ${[...this.entries.keys()].slice(0, 5).join(', ')}${this.entries.size > 5 ? ', …' : ''}`);
    const entry = e as ZipEntry;
    const raw = this.src.read(this.dataOffset(name), entry.compressedSize);
    let data: Uint8Array = raw;
    if (entry.method === 8) {
      try {
        data = zlib.inflateRawSync(raw);
      } catch (err) {
        this.fail(`entry '${name}': deflate data is corrupt (${(err as Error).message})`);
      }
    }
    if (data.byteLength !== entry.size) this.fail(`entry '${name}' has ${data.byteLength} bytes, its directory entry says ${entry.size}`);
    const crc = zlib.crc32(data) >>> 0;
    if (crc !== entry.crc32) {
      this.fail(`entry '${name}' is corrupt: CRC-32 0x${crc.toString(16).padStart(8, '0')}, expected 0x${entry.crc32.toString(16).padStart(8, '0')} (bit flip or damaged download)`);
    }
    return data;
  }
}

/** True when the first bytes are a zip local-file header. */
export function looksLikeZip(head: Uint8Array): boolean {
  return head.byteLength >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}
