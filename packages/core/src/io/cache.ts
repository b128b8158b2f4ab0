/**
 * The weights cache: `GANZOO_CACHE` or `~/.cache/ganzoo`.
 *   models/<id with '/' as '--'>/<file>       files of manifest entries
 *   urls/<sha256(url)[:16]>/<file>            single files fetched by URL
 *   <dir>/.<file>.sha256.json                 the hash recorded at first download (or first sight)
 *   <dir>/.<file>.partial                     an interrupted download, resumed with an HTTP Range request
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeFileAtomic } from './safetensors';

export function weightsCacheDir(): string {
  const env = process.env.GANZOO_CACHE;
  if (env && env.trim()) return path.resolve(env);
  return path.join(os.homedir(), '.cache', 'ganzoo');
}

/** A file-system-safe folder name for a manifest id ('openai/clip-vit-base-patch32' -> 'openai--clip-vit-base-patch32'). */
export function idToDirName(id: string): string {
  return id.replace(/[\\/]/g, '--').replace(/[^A-Za-z0-9._-]/g, '_');
}

export function entryCacheDir(cacheDir: string, id: string): string {
  return path.join(cacheDir, 'models', idToDirName(id));
}

export function urlCacheDir(cacheDir: string, url: string): string {
  return path.join(cacheDir, 'urls', crypto.createHash('sha256').update(url).digest('hex').slice(0, 16));
}

export function partialPath(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.partial`);
}

function recordPath(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.sha256.json`);
}

export interface HashRecord {
  sha256: string;
  size: number;
  url?: string;
  recordedAt: string;
}

export function readHashRecord(file: string): HashRecord | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(recordPath(file), 'utf8'));
    if (typeof r?.sha256 === 'string' && /^[0-9a-f]{64}$/.test(r.sha256)) return r as HashRecord;
  } catch {
    /* no record, or an unreadable one: treated as none */
  }
  return undefined;
}

export function writeHashRecord(file: string, rec: Omit<HashRecord, 'recordedAt'>): void {
  writeFileAtomic(recordPath(file), JSON.stringify({ ...rec, recordedAt: new Date().toISOString() }, null, 1));
}

export function removeHashRecord(file: string): void {
  fs.rmSync(recordPath(file), { force: true });
}

/** sha256 (hex) of a file, streamed. */
export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = crypto.createHash('sha256');
    fs.createReadStream(file)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Run `fn` while holding `<dir>/.<file>.lock` (created with O_EXCL, holding the owner's pid), so two downloads
 * of one file (two processes, or two calls in one process) never write the same partial file. A lock whose
 * owner process is gone is taken over; a live one is waited for, up to `timeoutMs`.
 */
export async function withFileLock<T>(file: string, fn: () => Promise<T>, timeoutMs = 30 * 60 * 1000): Promise<T> {
  const lock = path.join(path.dirname(file), `.${path.basename(file)}.lock`);
  fs.mkdirSync(path.dirname(lock), { recursive: true });
  const token = `${process.pid}:${crypto.randomBytes(6).toString('hex')}`;
  const start = Date.now();
  for (;;) {
    try {
      fs.writeFileSync(lock, token, { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`cannot create lock ${lock}: ${(e as Error).message}`);
    }
    let owner = '';
    try {
      owner = fs.readFileSync(lock, 'utf8');
    } catch {
      continue; // released meanwhile
    }
    const pid = Number(owner.split(':')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || !pidAlive(pid)) {
      fs.rmSync(lock, { force: true }); // stale: its process is gone
      continue;
    }
    if (Date.now() - start > timeoutMs) {
      throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${lock} (held by process ${pid}); delete it if that process is not downloading`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    return await fn();
  } finally {
    try {
      if (fs.readFileSync(lock, 'utf8') === token) fs.rmSync(lock, { force: true });
    } catch {
      /* already gone */
    }
  }
}
