/**
 * The text encoder a text-conditional model trained through the ganzoo CLI records (StyleGAN-T, GigaGAN, GALIP), and
 * the seeded random CLIP with a byte-level tokenizer that stands in when no real CLIP is given. A run records the
 * spec in its checkpoint config and an exported folder in `text_encoder.json`:
 *  - `{ kind: 'clip', ref }`: a CLIP folder (with tokenizer.json) or a manifest / hub id (`--clip`);
 *  - `{ kind: 'random', seed, config }`: `CLIP.random(config, seed)` with `byteTokenizer()`. For smoke tests and
 *    pipeline checks only: its encodings tell texts apart but carry no meaning.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CLIP } from './clip';
import { CLIPConfig } from './config';
import { Tokenizer } from './tokenizer';

export type TextEncoderSpec = { kind: 'clip'; ref: string } | { kind: 'random'; seed: number; config: CLIPConfig };

/** Where an exported folder records its text encoder (beside config.json). */
export const TEXT_ENCODER_FILE = 'text_encoder.json';

/** What `ganzoo finetune` passes a text-conditioned model's `createTrainable` (the CLI's TrainableRequest plus `clip`). */
export interface TextTrainableRequest {
  preset?: string;
  /** The model's own weights: a folder, a checkpoint file or a manifest id. */
  weights?: string;
  /** The data's image size; must equal the model's. */
  resolution?: number;
  seed?: number;
  batchSize?: number;
  /** CLIP folder or id for the prompts (default: the folder's recorded CLIP, else a random byte-level one). */
  clip?: string;
  offline?: boolean;
  cacheDir?: string;
}

/** Byte-level ids: 1..256 = UTF-8 bytes, 257 <bos>, 258 <eos>, 0 padding. */
export const BYTE_BOS = 257;
export const BYTE_EOS = 258;
/** The vocabulary a CLIP text tower needs for `byteTokenizer()`. */
export const BYTE_VOCAB_SIZE = BYTE_EOS + 1;

/**
 * A tokenizer for random test CLIPs: each UTF-8 byte b is id b + 1, wrapped in <bos> 257 / <eos> 258 (the highest id,
 * so CLIP's argmax pooling finds the end of the text). A text of n bytes is n + 2 tokens.
 */
export function byteTokenizer(): Tokenizer {
  const utf8 = new TextEncoder();
  return new Tokenizer({ encode: (text: string) => [BYTE_BOS, ...Array.from(utf8.encode(text), (b) => b + 1), BYTE_EOS] });
}

/** A `{ kind: 'clip' }` spec; local paths are made absolute so the record works from any directory. */
export function clipSpec(ref: string): TextEncoderSpec {
  return { kind: 'clip', ref: fs.existsSync(ref) ? path.resolve(ref) : ref };
}

/** `x` as a spec when it looks like one (a `kind` field), else undefined. */
export function asTextEncoderSpec(x: unknown): TextEncoderSpec | undefined {
  return x && typeof x === 'object' && 'kind' in x ? (x as TextEncoderSpec) : undefined;
}

/** The spec `dir/text_encoder.json` records, if any. */
export function recordedTextEncoder(dir: string): TextEncoderSpec | undefined {
  const f = path.join(dir, TEXT_ENCODER_FILE);
  return fs.existsSync(f) ? asTextEncoderSpec(JSON.parse(fs.readFileSync(f, 'utf8'))) : undefined;
}

export interface LoadTextEncoderOptions {
  offline?: boolean;
  cacheDir?: string;
  /** Which towers a random CLIP gets (default both). */
  towers?: { text: boolean; vision: boolean };
  /** Prefix of error messages, e.g. 'GALIP'. */
  who?: string;
}

/** The CLIP (with a tokenizer) a spec names; a CLIP without a tokenizer is refused (prompts need one). */
export async function loadTextEncoder(spec: TextEncoderSpec, o: LoadTextEncoderOptions = {}): Promise<CLIP> {
  const who = o.who ?? 'text encoder';
  if (spec?.kind === 'random') {
    const clip = CLIP.random(spec.config, spec.seed, o.towers ?? { text: true, vision: true });
    clip.tokenizer = byteTokenizer();
    return clip;
  }
  if (spec?.kind === 'clip' && typeof spec.ref === 'string') {
    const clip = await CLIP.fromPretrained(spec.ref, { offline: o.offline, cacheDir: o.cacheDir });
    if (!clip.tokenizer) {
      clip.dispose();
      throw new Error(`${who}: the CLIP ${spec.ref} has no tokenizer (expected tokenizer.json beside its weights); prompts need one`);
    }
    return clip;
  }
  throw new Error(`${who}: unknown text encoder ${JSON.stringify(spec)} (expected {kind: 'clip', ref} or {kind: 'random', seed, config})`);
}
