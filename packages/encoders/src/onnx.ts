/**
 * The frozen, inference-only CLIP text path through transformers.js + ONNX Runtime
 * (`CLIPTextModelWithProjection`, file onnx/text_model.onnx of a Hugging Face style folder). No gradients; gives the
 * same text embeddings as the tfjs tower (tested against it).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { configureOffline, toTfTensor } from './tokenizer';

export const ONNX_TEXT_MODEL = path.join('onnx', 'text_model.onnx');

/** True when `dir` holds an fp32 ONNX export of the text tower. */
export function hasOnnxTextModel(dir: string | null | undefined): boolean {
  return !!dir && fs.existsSync(path.join(dir, ONNX_TEXT_MODEL)) && fs.existsSync(path.join(dir, 'config.json'));
}

export class CLIPTextOnnx {
  private readonly model: any;
  private readonly t: any;

  private constructor(model: any, t: any) {
    this.model = model;
    this.t = t;
  }

  /** Load onnx/text_model.onnx (fp32) from a local folder, offline. */
  static async fromPretrained(dir: string, opts: { cacheDir?: string } = {}): Promise<CLIPTextOnnx> {
    if (!hasOnnxTextModel(dir)) throw new Error(`CLIP ONNX text model: ${ONNX_TEXT_MODEL} and config.json are required in ${path.resolve(dir)}`);
    const { id, t } = await configureOffline(dir, opts.cacheDir);
    // a fresh options object per call (transformers.js may mutate it)
    const model = await t.CLIPTextModelWithProjection.from_pretrained(id, { local_files_only: true, dtype: 'fp32', device: 'cpu' } as any);
    return new CLIPTextOnnx(model, t);
  }

  /** int32 ids [B, L] -> projected text embeddings [B, E] (not normalised), as CLIP.encodeText. */
  async encodeText(ids: tf.Tensor2D): Promise<tf.Tensor2D> {
    if (ids.rank !== 2 || ids.dtype !== 'int32') throw new Error(`CLIP ONNX text model: expected int32 ids [B, L], found ${ids.dtype} [${ids.shape}]`);
    const data = await ids.data();
    const big = BigInt64Array.from(data as Int32Array, (v) => BigInt(v));
    const mask = BigInt64Array.from(data as Int32Array, (v) => (v !== 0 ? 1n : 0n));
    const dims = [...ids.shape];
    const out = await this.model({
      input_ids: new this.t.Tensor('int64', big, dims),
      attention_mask: new this.t.Tensor('int64', mask, dims),
    });
    const embeds = out.text_embeds;
    if (!embeds) throw new Error(`CLIP ONNX text model: no text_embeds output (outputs: ${Object.keys(out).join(', ')})`);
    return toTfTensor(embeds) as tf.Tensor2D;
  }

  async dispose(): Promise<void> {
    await this.model?.dispose?.();
  }
}
