/**
 * resolveWeights(idOrPathOrUrl): one call that turns what a user typed into local files.
 * - a manifest id ('biggan-deep-128', 'openai/clip-vit-base-patch32'): every file of the entry, downloaded into
 *   the cache when missing (progress, resume, sha256 check, atomic rename) and checked against its sha256 (or the
 *   hash recorded at first download) when present;
 * - a local file or folder: returned as is after existence checks;
 * - an http(s) URL: that one file, cached under urls/;
 * - anything else with a scheme (ftp:, s3:, hf:, file:, ...): an Error.
 * `offline: true` or GANZOO_OFFLINE=1 never touches the network and names the missing file.
 */
import * as fs from 'fs';
import * as path from 'path';
import { OnProgress, progressCallback } from '../progress';
import { weightsCacheDir, entryCacheDir, readHashRecord, removeHashRecord, sha256File, urlCacheDir, withFileLock, writeHashRecord } from './cache';
import { downloadFile } from './download';
import { findEntry, loadManifest, Manifest, ManifestEntry, ManifestFile, validateManifest } from './manifest';

export interface ResolveOptions {
  /** Download progress: a callback, or `true` for the standard reporter (bar on a TTY, plain lines otherwise). */
  onProgress?: OnProgress | boolean;
  /** Cache root (default GANZOO_CACHE or ~/.cache/ganzoo). */
  cacheDir?: string;
  /** Use the cache only (default: GANZOO_OFFLINE=1). */
  offline?: boolean;
  /** A manifest object or file (default: the one shipped with core). */
  manifest?: Manifest | string;
  /** Only these files of the entry (default: all). */
  files?: string[];
  /** Passed to downloads: attempts after a dropped connection. */
  retries?: number;
  /** Passed to downloads: socket inactivity timeout (ms). */
  timeoutMs?: number;
}

export interface ResolvedWeights {
  /** The folder holding the files. */
  dir: string;
  /** File name -> absolute path. */
  files: Record<string, string>;
  /** The manifest entry, for ids. */
  entry?: ManifestEntry;
}

function isOffline(opts: ResolveOptions): boolean {
  if (opts.offline !== undefined) return opts.offline;
  const v = (process.env.GANZOO_OFFLINE ?? '').toLowerCase();
  return v === '1' || v === 'true' || v === 'yes';
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(process.env.HOME ?? '', p.slice(1)) : p;
}

/** Check a cached file against the manifest hash or the recorded one; record a hash on first sight. */
async function verifyCached(file: string, expected: string | undefined, url: string): Promise<{ ok: true } | { ok: false; why: string }> {
  const rec = readHashRecord(file);
  const size = fs.statSync(file).size;
  const want = expected ?? rec?.sha256;
  const got = await sha256File(file);
  if (!want) {
    writeHashRecord(file, { sha256: got, size, url });
    return { ok: true };
  }
  if (got !== want) {
    return { ok: false, why: `sha256 ${got} does not match the ${expected ? 'manifest' : 'hash recorded at first download'} (${want})` };
  }
  if (!rec || rec.sha256 !== got) writeHashRecord(file, { sha256: got, size, url });
  return { ok: true };
}

async function fetchOne(f: ManifestFile, dest: string, what: string, opts: ResolveOptions): Promise<void> {
  // cached and good: no lock needed
  if (fs.existsSync(dest) && (await verifyCached(dest, f.sha256, f.url)).ok) return;
  if (isOffline(opts) || f.manual) return fetchLocked(f, dest, what, opts);
  return withFileLock(dest, () => fetchLocked(f, dest, what, opts));
}

async function fetchLocked(f: ManifestFile, dest: string, what: string, opts: ResolveOptions): Promise<void> {
  const offline = isOffline(opts);
  if (fs.existsSync(dest)) {
    const v = await verifyCached(dest, f.sha256, f.url);
    if (v.ok) return;
    if (offline || f.manual) {
      throw new Error(`cached file ${dest} of ${what} is corrupt: ${v.why}. Delete it and ${f.manual ? 'put a good copy there' : 'download it again (not offline)'}.`);
    }
    // corrupt cache entry while online: discard and download again
    fs.rmSync(dest, { force: true });
    removeHashRecord(dest);
  }
  if (f.manual) {
    throw new Error(
      `'${f.name}' of ${what} must be downloaded by hand: ${f.instructions} Download page: ${f.url}. ` +
        `Then put it at ${dest} (or pass the local file or folder to resolveWeights instead of the id).`,
    );
  }
  if (offline) {
    throw new Error(
      `offline mode (${opts.offline !== undefined ? 'offline: true' : 'GANZOO_OFFLINE=1'}): '${f.name}' of ${what} is not in the cache (expected at ${dest}). ` +
        'Resolve it once online, or pass a local file or folder.',
    );
  }
  const urls = [f.url, ...(f.mirrors ?? [])];
  const errors: string[] = [];
  for (const url of urls) {
    try {
      const r = await downloadFile(url, dest, {
        onProgress: opts.onProgress as OnProgress | undefined,
        label: f.name,
        sha256: f.sha256,
        size: f.size,
        retries: opts.retries,
        timeoutMs: opts.timeoutMs,
      });
      writeHashRecord(dest, { sha256: r.sha256, size: r.size, url: r.finalUrl });
      return;
    } catch (e) {
      // try the next mirror; report every failure if none works
      errors.push((e as Error).message);
    }
  }
  throw new Error(errors.length === 1 ? errors[0] : `every source of '${f.name}' failed:\n  - ${errors.join('\n  - ')}`);
}

/**
 * Resolve a manifest id, a local path or an http(s) URL to local files (see the file comment).
 * Returns `{ dir, files: { name: absolutePath }, entry? }`.
 */
export async function resolveWeights(idOrPathOrUrl: string, opts: ResolveOptions = {}): Promise<ResolvedWeights> {
  if (typeof idOrPathOrUrl !== 'string' || !idOrPathOrUrl.trim()) {
    throw new Error(`resolveWeights: expected a manifest id, a local path or an http(s) URL, found ${JSON.stringify(idOrPathOrUrl)}`);
  }
  const spec = idOrPathOrUrl.trim();
  if (opts.onProgress === true) opts = { ...opts, onProgress: progressCallback() };
  else if (opts.onProgress === false) opts = { ...opts, onProgress: undefined };
  const cacheDir = path.resolve(expandHome(opts.cacheDir ?? weightsCacheDir()));

  // 1. URLs
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(spec);
  if (scheme) {
    const s = scheme[1].toLowerCase();
    if (s !== 'http' && s !== 'https') {
      throw new Error(`resolveWeights: unsupported URL scheme '${s}:' in '${spec}'; expected an http(s) URL, a local path or a manifest id`);
    }
    const u = new URL(spec);
    const name = decodeURIComponent(path.posix.basename(u.pathname)) || 'download';
    if (!/^[^\\/]+$/.test(name) || name === '.' || name === '..') throw new Error(`resolveWeights: cannot name a cache file after URL '${spec}'`);
    const dir = urlCacheDir(cacheDir, spec);
    const dest = path.join(dir, name);
    await fetchOne({ name, url: spec }, dest, `URL ${spec}`, opts);
    return { dir, files: { [name]: dest } };
  }

  // 2. local files and folders
  const local = path.resolve(expandHome(spec));
  if (fs.existsSync(local)) {
    const st = fs.statSync(local);
    if (st.isDirectory()) {
      const files: Record<string, string> = {};
      for (const n of fs.readdirSync(local).sort()) {
        const p = path.join(local, n);
        if (!n.startsWith('.') && fs.statSync(p).isFile()) files[n] = p;
      }
      if (!Object.keys(files).length) throw new Error(`resolveWeights: folder ${local} has no files`);
      return { dir: local, files };
    }
    if (!st.isFile()) throw new Error(`resolveWeights: ${local} is neither a regular file nor a folder`);
    return { dir: path.dirname(local), files: { [path.basename(local)]: local } };
  }
  if (/^(\.{1,2}[\\/]|[\\/]|~)/.test(spec) || /\.(safetensors|pth|pt|bin|ckpt|json)$/i.test(spec)) {
    throw new Error(`resolveWeights: no such file or folder: ${local}`);
  }

  // 3. manifest ids
  const manifest =
    opts.manifest === undefined
      ? loadManifest()
      : typeof opts.manifest === 'string'
        ? loadManifest(opts.manifest)
        : validateManifest(opts.manifest, 'manifest option');
  const entry = findEntry(manifest, spec);
  const dir = entryCacheDir(cacheDir, entry.id);
  let wanted = entry.files;
  if (opts.files) {
    const unknown = opts.files.filter((n) => !entry.files.some((f) => f.name === n));
    if (unknown.length) throw new Error(`resolveWeights: '${entry.id}' has no file(s) ${unknown.join(', ')}; it has ${entry.files.map((f) => f.name).join(', ')}`);
    wanted = entry.files.filter((f) => opts.files!.includes(f.name));
  }
  const files: Record<string, string> = {};
  for (const f of wanted) {
    const dest = path.join(dir, f.name);
    await fetchOne(f, dest, `'${entry.id}'`, opts);
    files[f.name] = dest;
  }
  return { dir, files, entry };
}
