/**
 * The transformers.js bridge: CLIP BPE tokenization with `AutoTokenizer` read offline from a local folder, and
 * conversion of transformers.js tensors to tf tensors (int64 -> int32).
 */
import * as os from 'os';
import * as path from 'path';
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';

export interface TokenizeOptions {
  /** sequence length (default: the model's context length, 77). */
  contextLength?: number;
  /** 'zeros' (OpenAI clip.tokenize / open_clip, the default) or 'tokenizer' (its pad token, as Hugging Face pads). */
  padding?: 'zeros' | 'tokenizer';
}

type TransformersModule = typeof import('@huggingface/transformers');
let transformersModule: Promise<TransformersModule> | null = null;

/** The transformers.js module, loaded on first use. */
export function transformers(): Promise<TransformersModule> {
  if (!transformersModule) transformersModule = import('@huggingface/transformers');
  return transformersModule;
}

/** Default cache folder for transformers.js (never inside node_modules). */
export function defaultCacheDir(): string {
  return process.env.GANZOO_CACHE_DIR ?? path.join(os.homedir() || os.tmpdir(), '.cache', 'ganzoo', 'transformers');
}

/**
 * Point transformers.js at a local folder, offline: allowRemoteModels=false, localModelPath=the folder's parent,
 * cacheDir explicit. Returns the model id (folder name) to pass to from_pretrained.
 */
export async function configureOffline(dir: string, cacheDir?: string): Promise<{ id: string; t: TransformersModule }> {
  const t = await transformers();
  const abs = path.resolve(dir);
  t.env.allowRemoteModels = false;
  t.env.allowLocalModels = true;
  t.env.localModelPath = path.dirname(abs) + path.sep;
  t.env.cacheDir = cacheDir ?? defaultCacheDir();
  return { id: path.basename(abs), t };
}

/** A transformers.js tensor (or nested number/bigint arrays) -> tf tensor; int64 ids become int32. */
export function toTfTensor(x: any): tf.Tensor {
  if (x && x.dims && x.data) {
    const data = x.data;
    if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
      const out = new Int32Array(data.length);
      for (let i = 0; i < data.length; i++) {
        const v = Number(data[i]);
        if (v > 2147483647 || v < -2147483648) throw new Error(`int64 value ${data[i]} does not fit int32`);
        out[i] = v;
      }
      return tf.tensor(out, x.dims, 'int32');
    }
    if (data instanceof Float32Array || data instanceof Float64Array) return tf.tensor(Float32Array.from(data), x.dims, 'float32');
    if (data instanceof Int32Array || data instanceof Uint8Array || data instanceof Int8Array) return tf.tensor(Int32Array.from(data), x.dims, 'int32');
    throw new Error(`toTfTensor: unsupported transformers.js tensor type ${x.type}`);
  }
  throw new Error('toTfTensor: expected a transformers.js Tensor ({dims, data, type})');
}

export class Tokenizer {
  readonly impl: any;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;

  constructor(impl: any) {
    this.impl = impl;
    const id = (tok: unknown, fallback: number) => {
      if (typeof tok !== 'string') return fallback;
      const v = impl.model?.tokens_to_ids?.get?.(tok) ?? impl.convert_tokens_to_ids?.(tok);
      return typeof v === 'number' ? v : fallback;
    };
    const probe: number[] = impl.encode('', { add_special_tokens: true });
    if (probe.length !== 2) throw new Error(`tokenizer: expected <bos><eos> around an empty text, found ids [${probe}]`);
    this.bosId = probe[0];
    this.eosId = probe[1];
    this.padId = id(impl.pad_token, this.eosId);
  }

  /** Token ids of one text with <bos>/<eos>, not truncated. */
  ids(text: string): number[] {
    return this.impl.encode(text, { add_special_tokens: true });
  }

  /**
   * int32 ids [B, contextLength]. Longer texts are truncated as CLIP does: the first contextLength - 1 tokens are
   * kept and the last position is set to <|endoftext|> (= clip.tokenize(truncate=True) = HF truncation).
   */
  encode(texts: string | string[], opts: TokenizeOptions = {}): tf.Tensor2D {
    const list = typeof texts === 'string' ? [texts] : texts;
    if (!Array.isArray(list) || list.some((t) => typeof t !== 'string')) throw new Error('tokenize: expected a string or an array of strings');
    const L = opts.contextLength ?? 77;
    const pad = (opts.padding ?? 'zeros') === 'zeros' ? 0 : this.padId;
    const out = new Int32Array(list.length * L).fill(pad);
    list.forEach((t, b) => {
      let ids = this.ids(t);
      if (ids.length > L) {
        ids = ids.slice(0, L);
        ids[L - 1] = this.eosId;
      }
      out.set(ids, b * L);
    });
    return tf.tensor2d(out, [list.length, L], 'int32');
  }
}

/** AutoTokenizer.from_pretrained on a local folder (tokenizer.json + tokenizer_config.json), offline. */
export async function loadTokenizer(dir: string, opts: { cacheDir?: string } = {}): Promise<Tokenizer> {
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
    if (!fs.existsSync(path.join(dir, f))) throw new Error(`tokenizer: ${f} not found in ${path.resolve(dir)}`);
  }
  const { id, t } = await configureOffline(dir, opts.cacheDir);
  const impl = await t.AutoTokenizer.from_pretrained(id, { local_files_only: true });
  return new Tokenizer(impl);
}
