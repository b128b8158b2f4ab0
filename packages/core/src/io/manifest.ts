/**
 * weights-manifest.json: every checkpoint ganzoo knows, by id. Shipped with @ganzoo/core
 * (packages/core/weights-manifest.json; the repository root has a symlink to it).
 *
 * { "version": 1, "entries": [ {
 *     "id": "biggan-deep-128", "model": "biggan-deep", "variant": "128",
 *     "format": "pytorch" | "safetensors",
 *     "license": "...", "homepage": "https://...",
 *     "files": [ { "name": "pytorch_model.bin", "url": "https://...", "sha256": "<hex>"?, "size": <bytes>?,
 *                  "mirrors": ["https://..."]?, "manual": true?, "instructions": "..."? } ],
 *     "config": { ... }, "description"?: "...", "requires"?: ["<id>"], "notes"?: "..." } ] }
 *
 * `sha256` and `size` are given only when known exactly; without a sha256 the hash of the first download is
 * recorded in the cache and later loads are checked against it. `manual` files (e.g. on a file-sharing page)
 * are never downloaded: resolveWeights explains where to put them.
 */
import * as fs from 'fs';
import * as path from 'path';
import { editDistance } from '../util/strings';

export interface ManifestFile {
  name: string;
  url: string;
  sha256?: string;
  size?: number;
  mirrors?: string[];
  manual?: boolean;
  instructions?: string;
}

export interface ManifestEntry {
  id: string;
  model: string;
  variant: string;
  format: 'pytorch' | 'safetensors';
  license: string;
  homepage: string;
  files: ManifestFile[];
  config: Record<string, unknown>;
  description?: string;
  requires?: string[];
  notes?: string;
}

export interface Manifest {
  version: 1;
  entries: ManifestEntry[];
}

export const MANIFEST_FORMATS = ['pytorch', 'safetensors'] as const;

/** packages/core/weights-manifest.json (from src/io or dist/io alike). */
export function defaultManifestPath(): string {
  return path.resolve(__dirname, '..', '..', 'weights-manifest.json');
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/;
const HTTP_RE = /^https?:\/\/[^\s/]+\S*$/i;

function fmt(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? 'undefined' : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * Check a parsed manifest. Throws one Error listing every problem as
 * `<where>: entry <i> ('<id>'): <field> must be <expected>, found <value>`.
 */
export function validateManifest(m: unknown, where = 'weights-manifest.json'): Manifest {
  const problems: string[] = [];
  if (!m || typeof m !== 'object' || Array.isArray(m)) throw new Error(`${where}: expected an object with "version" and "entries", found ${fmt(m)}`);
  const mm = m as Record<string, unknown>;
  if (mm.version !== 1) problems.push(`"version" must be 1, found ${fmt(mm.version)}`);
  if (!Array.isArray(mm.entries)) {
    problems.push(`"entries" must be an array, found ${fmt(mm.entries)}`);
  } else {
    const ids = new Set<string>();
    mm.entries.forEach((e, i) => {
      const at = `entry ${i}${e && typeof e === 'object' && typeof (e as ManifestEntry).id === 'string' ? ` ('${(e as ManifestEntry).id}')` : ''}`;
      const bad = (field: string, expected: string, value: unknown) => problems.push(`${at}: ${field} must be ${expected}, found ${fmt(value)}`);
      if (!e || typeof e !== 'object' || Array.isArray(e)) {
        bad('the entry', 'an object', e);
        return;
      }
      const en = e as Record<string, unknown>;
      if (typeof en.id !== 'string' || !ID_RE.test(en.id)) bad('"id"', 'a string like "name" or "org/name" (letters, digits, . _ -)', en.id);
      else if (ids.has(en.id)) problems.push(`${at}: duplicate id '${en.id}'`);
      else ids.add(en.id);
      for (const f of ['model', 'variant', 'license'] as const) {
        if (typeof en[f] !== 'string' || !(en[f] as string).trim()) bad(`"${f}"`, 'a non-empty string', en[f]);
      }
      if (!MANIFEST_FORMATS.includes(en.format as (typeof MANIFEST_FORMATS)[number])) bad('"format"', `one of ${MANIFEST_FORMATS.join(', ')}`, en.format);
      if (typeof en.homepage !== 'string' || !HTTP_RE.test(en.homepage)) bad('"homepage"', 'an http(s) URL', en.homepage);
      if (!en.config || typeof en.config !== 'object' || Array.isArray(en.config)) bad('"config"', 'an object', en.config);
      for (const f of ['description', 'notes'] as const) if (en[f] !== undefined && typeof en[f] !== 'string') bad(`"${f}"`, 'a string', en[f]);
      if (en.requires !== undefined && (!Array.isArray(en.requires) || !en.requires.every((r) => typeof r === 'string'))) bad('"requires"', 'an array of ids', en.requires);
      if (!Array.isArray(en.files) || en.files.length === 0) {
        bad('"files"', 'a non-empty array', en.files);
        return;
      }
      const names = new Set<string>();
      en.files.forEach((f, j) => {
        const ff = f as Record<string, unknown>;
        const fat = `files[${j}]`;
        if (!ff || typeof ff !== 'object' || Array.isArray(ff)) {
          bad(fat, 'an object', f);
          return;
        }
        if (typeof ff.name !== 'string' || !/^[A-Za-z0-9._-]+$/.test(ff.name) || ff.name.startsWith('.')) {
          bad(`${fat}.name`, 'a plain file name (no folders, not starting with a dot)', ff.name);
        } else if (names.has(ff.name)) problems.push(`${at}: ${fat}.name '${ff.name}' occurs twice`);
        else names.add(ff.name);
        if (typeof ff.url !== 'string' || !HTTP_RE.test(ff.url)) bad(`${fat}.url`, 'an http(s) URL', ff.url);
        if (ff.sha256 !== undefined && (typeof ff.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(ff.sha256))) bad(`${fat}.sha256`, '64 lower-case hex digits', ff.sha256);
        if (ff.size !== undefined && !(Number.isSafeInteger(ff.size) && (ff.size as number) > 0)) bad(`${fat}.size`, 'a positive integer (bytes)', ff.size);
        if (ff.mirrors !== undefined && (!Array.isArray(ff.mirrors) || !ff.mirrors.every((u) => typeof u === 'string' && HTTP_RE.test(u)))) {
          bad(`${fat}.mirrors`, 'an array of http(s) URLs', ff.mirrors);
        }
        if (ff.manual !== undefined && typeof ff.manual !== 'boolean') bad(`${fat}.manual`, 'a boolean', ff.manual);
        if (ff.manual && (typeof ff.instructions !== 'string' || !ff.instructions.trim())) bad(`${fat}.instructions`, 'a non-empty string for a manual download', ff.instructions);
        const known = new Set(['name', 'url', 'sha256', 'size', 'mirrors', 'manual', 'instructions']);
        for (const k of Object.keys(ff)) if (!known.has(k)) problems.push(`${at}: ${fat} has unknown field "${k}" (expected ${[...known].join(', ')})`);
      });
    });
  }
  if (problems.length) throw new Error(`${where}: malformed manifest:\n  - ${problems.join('\n  - ')}`);
  return m as Manifest;
}

const cache = new Map<string, { mtimeMs: number; manifest: Manifest }>();

/** Read and validate a manifest file (default: the one shipped with core). */
export function loadManifest(file = defaultManifestPath()): Manifest {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new Error(`weights manifest not found: ${file}`);
  }
  const hit = cache.get(file);
  if (hit && hit.mtimeMs === st.mtimeMs) return hit.manifest;
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const manifest = validateManifest(json, file);
  cache.set(file, { mtimeMs: st.mtimeMs, manifest });
  return manifest;
}

/** Up to `n` ids closest to `id` (edit distance, with substring matches first). */
export function closestIds(id: string, ids: string[], n = 3): string[] {
  const q = id.toLowerCase();
  return ids
    .map((c) => {
      const l = c.toLowerCase();
      const sub = l.includes(q) || q.includes(l) || l.split(/[/-]/).some((p) => p.length > 2 && q.includes(p));
      return { c, d: editDistance(q, l) - (sub ? 100 : 0) };
    })
    .sort((a, b) => a.d - b.d || a.c.localeCompare(b.c))
    .slice(0, n)
    .map((x) => x.c);
}

/** The entry for `id`, or an Error naming the closest known ids. */
export function findEntry(manifest: Manifest, id: string): ManifestEntry {
  const e = manifest.entries.find((x) => x.id === id) ?? manifest.entries.find((x) => x.id.toLowerCase() === id.toLowerCase());
  if (e) return e;
  const ids = manifest.entries.map((x) => x.id);
  throw new Error(`unknown weights id '${id}': not in the manifest, and not an existing file or folder. Did you mean ${closestIds(id, ids).map((s) => `'${s}'`).join(', ')}? (known ids: ${ids.length})`);
}
