/**
 * GigaGAN's CLIP adapter (lucidrains' OpenClipAdapter semantics) over @ganzoo/encoders' CLIP: per-token text
 * encodings (ln_final output with positions after the first EOS and pad tokens zeroed), normalised text / image
 * embeddings, and the vision tower's per-block hidden states (for the vision-aided discriminator).
 */
import * as tf from '@tensorflow/tfjs';
import { CLIP, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD } from '@ganzoo/encoders';
import { l2NormalizeLast } from '@ganzoo/core';

export interface GigaGANClipOptions {
  /** Token positions kept (OpenClipAdapter max_text_len = the CLIP's context length, 77). */
  maxTextLen?: number;
  /** End-of-text token id (49407 for the OpenAI BPE). */
  eosId?: number;
}

export class GigaGANClip {
  readonly maxTextLen: number;
  readonly eosId: number;
  constructor(readonly clip: CLIP, opts: GigaGANClipOptions = {}) {
    this.maxTextLen = opts.maxTextLen ?? clip.config.text.contextLength;
    this.eosId = opts.eosId ?? 49407;
  }

  /** Width of the per-token text encodings (ln_final width). */
  get dimLatent(): number {
    return this.clip.config.text.width;
  }

  /** Width of the vision hidden states. */
  get dimImageLatent(): number {
    return this.clip.config.vision.width;
  }

  /** Token ids [B, L] -> { embeds: normalised text embeddings [B, E], encodings [B, L, W] with masked rows zeroed }. */
  embedIds(ids: tf.Tensor2D): { embeds: tf.Tensor2D; encodings: tf.Tensor3D } {
    return tf.tidy(() => {
      const idsK = ids.shape[1] > this.maxTextLen ? (tf.slice(ids, [0, 0], [-1, this.maxTextLen]) as tf.Tensor2D) : ids;
      const rows = idsK.arraySync() as number[][];
      // keep positions up to and including the first EOS, and never pad (id 0) positions
      const mask = rows.map((r) => {
        let seenEos = false;
        return r.map((id) => {
          const keep = !seenEos && id !== 0;
          if (id === this.eosId) seenEos = true;
          return keep ? 1 : 0;
        });
      });
      const out = this.clip.textForward(idsK);
      const m = tf.tensor3d(mask.map((r) => r.map((v) => [v])), [rows.length, rows[0].length, 1]);
      const encodings = tf.mul(out.lastHiddenState, m) as tf.Tensor3D;
      return { embeds: l2NormalizeLast(out.embeds) as tf.Tensor2D, encodings };
    });
  }

  /** Prompts -> { embeds, encodings } (tokenised with the CLIP's tokenizer). */
  embedTexts(texts: string[]): { embeds: tf.Tensor2D; encodings: tf.Tensor3D } {
    const ids = this.clip.tokenize(texts);
    try {
      return this.embedIds(ids);
    } finally {
      ids.dispose();
    }
  }

  /**
   * Images NHWC in [0, 1] -> nearest resize to the CLIP input size (F.interpolate default), OpenAI normalisation,
   * vision tower: { embeds: normalised image embeddings [B, E], hidden: every block's output [B, 1+N, W] }.
   */
  embedImages(images: tf.Tensor4D): { embeds: tf.Tensor2D; hidden: tf.Tensor3D[] } {
    return tf.tidy(() => {
      const s = this.clip.config.vision.imageSize;
      let x = images;
      if (x.shape[1] !== s || x.shape[2] !== s) x = tf.image.resizeNearestNeighbor(x, [s, s], false, false);
      x = tf.div(tf.sub(x, OPENAI_CLIP_MEAN), OPENAI_CLIP_STD) as tf.Tensor4D;
      const hooks = Array.from({ length: this.clip.config.vision.layers }, (_, i) => i);
      const out = this.clip.visionForward(x, { hooks });
      return { embeds: l2NormalizeLast(out.embeds) as tf.Tensor2D, hidden: out.hidden };
    });
  }

  /** τ = exp(logit_scale). */
  temperature(): number {
    return this.clip.logitScale();
  }
}
