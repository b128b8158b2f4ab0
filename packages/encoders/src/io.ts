/** Finding and reading encoder checkpoints: folders, single weights files, manifest ids (through core's resolveWeights). */
import * as fs from 'fs';
import * as path from 'path';
import * as core from '@ganzoo/core';
import type { StateDict } from './convert';

const WEIGHT_FILES = ['model.safetensors', 'pytorch_model.bin'];
const TORCH_EXT = ['.pth', '.pt', '.bin', '.ckpt'];

/** Read a PyTorch checkpoint with core's reader and flatten nested dicts to state_dict keys. */
function readTorchFile(file: string): StateDict {
  return core.flattenStateDict(core.readTorchCheckpoint(file));
}

/** Read every tensor of a weights file (.safetensors, .pth/.pt/.bin/.ckpt) as a flat state dict. */
export function readStateDict(file: string): StateDict {
  if (!fs.existsSync(file)) throw new Error(`weights file not found: ${file}`);
  if (file.endsWith('.safetensors')) return core.readSafetensors(file).tensors;
  if (TORCH_EXT.some((e) => file.endsWith(e))) return readTorchFile(file);
  throw new Error(`${file}: unknown weights format (expected .safetensors, .pth, .pt, .bin or .ckpt)`);
}

function readJson(file: string): any | null {
  if (!fs.existsSync(file)) return null;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

export interface Located {
  /** folder holding config.json / tokenizer files (for a bare weights file: the folder it sits in). */
  dir: string | null;
  weights: string;
  config: any | null;
}

/** A local directory or weights file, or a manifest id resolved (downloaded, verified, cached) by core's resolveWeights. */
export async function locate(idOrPath: string, opts: { cacheDir?: string; offline?: boolean; onProgress?: core.ResolveOptions['onProgress'] } = {}): Promise<Located> {
  let p = idOrPath;
  if (!fs.existsSync(p)) {
    // a manifest id (e.g. 'openai/clip-vit-base-patch32'): downloaded / verified / cached by core
    const r = await core.resolveWeights(idOrPath, { cacheDir: opts.cacheDir, offline: opts.offline, onProgress: opts.onProgress });
    p = r.dir;
  }
  if (fs.statSync(p).isDirectory()) {
    const dir = p;
    let weights = WEIGHT_FILES.map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
    if (!weights) {
      const others = fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors') || TORCH_EXT.some((e) => f.endsWith(e)));
      if (others.length === 1) weights = path.join(dir, others[0]);
      else {
        throw new Error(
          `no weights in ${dir}: expected ${WEIGHT_FILES.join(' or ')}` + (others.length ? ` (several candidates: ${others.join(', ')})` : ''),
        );
      }
    }
    return { dir, weights, config: readJson(path.join(dir, 'config.json')) };
  }
  const dir = path.dirname(p);
  return { dir, weights: p, config: readJson(path.join(dir, 'config.json')) };
}
