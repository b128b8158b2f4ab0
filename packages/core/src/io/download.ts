/**
 * Resumable, verified downloads over http(s) with Node's own http/https (no dependency):
 * - streams into `.<name>.partial` beside the destination, hashing as it goes;
 * - follows redirects (Hugging Face answers /resolve/ with 302 to its CDN);
 * - on a dropped connection, retries with `Range: bytes=<have>-` and appends (206), or restarts (200);
 *   a partial file left by an earlier process is resumed the same way;
 * - checks size and sha256 when expected values are given, then fsyncs and renames atomically;
 * - any write error (e.g. ENOSPC), HTTP error status or hash mismatch removes the partial file: nothing
 *   half-written stays in the cache. Only a connection that kept failing leaves a partial file to resume.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as path from 'path';
import { pipeline } from 'stream/promises';
import { Transform } from 'stream';
import { OnProgress } from '../progress';
import { partialPath } from './cache';

export interface DownloadOptions {
  onProgress?: OnProgress;
  /** Progress label (default: the file name). */
  label?: string;
  /** Expected sha256 (hex); a mismatch is an error and nothing is kept. */
  sha256?: string;
  /** Expected size in bytes. */
  size?: number;
  /** Attempts after a dropped connection (default 4). */
  retries?: number;
  /** Socket inactivity timeout in ms (default 30000). */
  timeoutMs?: number;
  maxRedirects?: number;
  headers?: Record<string, string>;
}

export interface DownloadResult {
  path: string;
  sha256: string;
  size: number;
  /** The URL the bytes came from after redirects. */
  finalUrl: string;
}

/** An error that should not be retried (HTTP status, hash mismatch, write failure). */
class FatalDownloadError extends Error {}

function isHttpUrl(u: string): boolean {
  return /^https?:\/\//i.test(u);
}

interface Opened {
  res: http.IncomingMessage;
  finalUrl: string;
}

function request(url: string, headers: Record<string, string>, timeoutMs: number, maxRedirects: number, original = url): Promise<Opened> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      reject(new FatalDownloadError(`invalid URL '${url}'`));
      return;
    }
    const mod = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : undefined;
    if (!mod) {
      reject(new FatalDownloadError(`unsupported URL scheme '${u.protocol}' in ${url}${url !== original ? ` (redirected from ${original})` : ''}; expected http: or https:`));
      return;
    }
    const req = mod.get(u, { headers: { 'user-agent': 'ganzoo', ...headers } }, (res) => {
      const status = res.statusCode ?? 0;
      if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
        res.resume();
        if (maxRedirects <= 0) {
          reject(new FatalDownloadError(`too many redirects fetching ${original}`));
          return;
        }
        const next = new URL(res.headers.location, u).toString();
        request(next, headers, timeoutMs, maxRedirects - 1, original).then(resolve, reject);
        return;
      }
      resolve({ res, finalUrl: url });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no data for ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

async function hashExisting(file: string, h: crypto.Hash): Promise<void> {
  await pipeline(fs.createReadStream(file), new Transform({ transform: (c, _e, cb) => (h.update(c), cb()) }));
}

/**
 * Download `url` to `dest` (atomically). Resumes `dest`'s partial file if one exists. Throws an Error naming the
 * URL and what went wrong (HTTP status, sha256/size mismatch, write failure, connection failures).
 */
export async function downloadFile(url: string, dest: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  if (!isHttpUrl(url)) throw new Error(`cannot download '${url}': expected an http(s) URL`);
  const retries = opts.retries ?? 4;
  const timeoutMs = opts.timeoutMs ?? 30000;
  const label = opts.label ?? path.basename(dest);
  const part = partialPath(dest);
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const cleanup = () => fs.rmSync(part, { force: true });

  let lastError: Error | undefined;
  let finalUrl = url;
  let lastEmit = 0;
  for (let attempt = 0; attempt <= retries; attempt++) {
    let have = 0;
    try {
      const st = fs.statSync(part);
      have = st.isFile() ? st.size : 0;
    } catch {
      have = 0;
    }
    if (opts.size !== undefined && have > opts.size) {
      cleanup();
      have = 0;
    }
    const hash = crypto.createHash('sha256');
    let total: number | undefined = opts.size;
    let received = 0;
    let writeError: Error | undefined;
    try {
      let opened: Opened;
      try {
        opened = await request(url, have > 0 ? { ...opts.headers, range: `bytes=${have}-` } : { ...opts.headers }, timeoutMs, opts.maxRedirects ?? 10);
      } catch (e) {
        if (e instanceof FatalDownloadError) throw e;
        throw Object.assign(new Error(`connection failed: ${(e as Error).message}`), { retryable: true });
      }
      const { res } = opened;
      finalUrl = opened.finalUrl;
      const status = res.statusCode ?? 0;
      const via = finalUrl !== url ? ` (via ${finalUrl})` : '';
      if (status === 416 && have > 0) {
        // the partial file is already complete (or longer than the resource): verify it as is
        res.resume();
        const cr = /\/(\d+)$/.exec(String(res.headers['content-range'] ?? ''));
        if (!cr || Number(cr[1]) !== have) {
          cleanup();
          throw Object.assign(new Error(`server refused to resume at byte ${have}`), { retryable: true });
        }
        await hashExisting(part, hash);
        total = have;
      } else if (status === 200 || status === 206) {
        let append = false;
        if (status === 206) {
          const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
          if (!m || Number(m[1]) !== have) {
            res.resume();
            cleanup();
            throw Object.assign(new Error(`server answered Range bytes=${have}- with Content-Range '${res.headers['content-range']}'`), { retryable: true });
          }
          if (m[3] !== '*') total = Number(m[3]);
          append = true;
        } else {
          const len = Number(res.headers['content-length']);
          if (Number.isFinite(len) && res.headers['content-length'] !== undefined) total = len;
          have = 0; // a 200 is the whole file: start over
        }
        if (opts.size !== undefined && total !== undefined && total !== opts.size) {
          res.resume();
          cleanup();
          throw new FatalDownloadError(`${url}${via} has ${total} bytes, the manifest says ${opts.size}`);
        }
        if (append) await hashExisting(part, hash);
        const emit = (force = false) => {
          const t = Date.now();
          if (!opts.onProgress || (!force && t - lastEmit < 100)) return;
          lastEmit = t;
          opts.onProgress({ label, loaded: have + received, total, unit: 'bytes' });
        };
        emit(true);
        const counter = new Transform({
          transform(chunk: Buffer, _e, cb) {
            hash.update(chunk);
            received += chunk.length;
            emit();
            cb(null, chunk);
          },
        });
        const ws = fs.createWriteStream(part, { flags: append ? 'a' : 'w' });
        ws.on('error', (e) => {
          writeError = e;
        });
        let aborted = false;
        res.on('aborted', () => {
          aborted = true;
        });
        try {
          await pipeline(res, counter, ws);
        } catch (e) {
          if (writeError) throw new FatalDownloadError(`could not write ${part}: ${writeError.message}`);
          throw Object.assign(new Error(`connection dropped after ${have + received} bytes: ${(e as Error).message}`), { retryable: true });
        }
        if (writeError) throw new FatalDownloadError(`could not write ${part}: ${(writeError as Error).message}`);
        const expectedBody = status === 206 || status === 200 ? Number(res.headers['content-length']) : NaN;
        if (aborted || (Number.isFinite(expectedBody) && received < expectedBody)) {
          throw Object.assign(new Error(`connection dropped after ${have + received} bytes`), { retryable: true });
        }
      } else {
        res.resume();
        const what = status === 404 ? 'not found' : res.statusMessage || 'error';
        throw new FatalDownloadError(`HTTP ${status} (${what}) for ${url}${via}`);
      }
      // complete: check, fsync, rename
      const size = fs.statSync(part).size;
      if (total !== undefined && size !== total) {
        throw Object.assign(new Error(`have ${size} bytes, expected ${total}`), { retryable: true });
      }
      if (opts.size !== undefined && size !== opts.size) throw new FatalDownloadError(`${url} gave ${size} bytes, expected ${opts.size}`);
      const sha256 = hash.digest('hex');
      if (opts.sha256 && sha256 !== opts.sha256.toLowerCase()) {
        throw new FatalDownloadError(`sha256 mismatch for ${url}${via}: expected ${opts.sha256.toLowerCase()}, found ${sha256}; the download was discarded`);
      }
      const fd = fs.openSync(part, 'r');
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(part, dest);
      opts.onProgress?.({ label, loaded: size, total: size, unit: 'bytes', done: true });
      return { path: dest, sha256, size, finalUrl };
    } catch (e) {
      const err = e as Error & { retryable?: boolean };
      if (!err.retryable) {
        cleanup();
        throw err instanceof FatalDownloadError ? new Error(`download of ${label} failed: ${err.message}`) : err;
      }
      lastError = err;
      if (attempt < retries) await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
    }
  }
  throw new Error(
    `download of ${label} from ${url} failed after ${retries + 1} attempts: ${lastError?.message}. ` +
      `The partial file ${part} is kept; calling again resumes it.`,
  );
}
