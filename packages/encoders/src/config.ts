/** Configurations of the CLIP and DINO encoders, their published presets and config.json parsing. */
import { Activation } from './vit';

export interface CLIPTextConfig {
  vocabSize: number;
  /** context length (77): positional embedding rows. */
  contextLength: number;
  width: number;
  heads: number;
  layers: number;
  /** MLP hidden width (4 * width in every published CLIP). */
  mlpWidth: number;
  act: Activation;
  eps: number;
  /**
   * Pooling token. 'argmax': the position of the highest id (OpenAI CLIP; HF configs with eos_token_id 2);
   * a number: the first position holding that id (current HF CLIPTextTransformer).
   */
  pool: 'argmax' | number;
}

export interface CLIPVisionConfig {
  imageSize: number;
  patchSize: number;
  width: number;
  heads: number;
  layers: number;
  mlpWidth: number;
  act: Activation;
  eps: number;
}

export interface CLIPConfig {
  /** projection (embedding) dimension. */
  embedDim: number;
  text: CLIPTextConfig;
  vision: CLIPVisionConfig;
}

function textCfg(width: number, heads: number, layers: number, vocab = 49408): CLIPTextConfig {
  return { vocabSize: vocab, contextLength: 77, width, heads, layers, mlpWidth: 4 * width, act: 'quick_gelu', eps: 1e-5, pool: 'argmax' };
}
function visionCfg(imageSize: number, patch: number, width: number, heads: number, layers: number): CLIPVisionConfig {
  return { imageSize, patchSize: patch, width, heads, layers, mlpWidth: 4 * width, act: 'quick_gelu', eps: 1e-5 };
}

/** Published OpenAI CLIP sizes (clip/clip.py _MODELS; HF openai/clip-vit-*) and a tiny test size. */
export const CLIP_PRESETS: Record<string, CLIPConfig> = {
  'ViT-B/32': { embedDim: 512, text: textCfg(512, 8, 12), vision: visionCfg(224, 32, 768, 12, 12) },
  'ViT-B/16': { embedDim: 512, text: textCfg(512, 8, 12), vision: visionCfg(224, 16, 768, 12, 12) },
  'ViT-L/14': { embedDim: 768, text: textCfg(768, 12, 12), vision: visionCfg(224, 14, 1024, 16, 24) },
  tiny: { embedDim: 16, text: textCfg(16, 2, 2, 548), vision: visionCfg(32, 8, 32, 2, 2) },
};

export interface DINOConfig {
  imageSize: number;
  patchSize: number;
  width: number;
  heads: number;
  layers: number;
  mlpWidth: number;
  qkvBias: boolean;
  act: Activation;
  /** LayerNorm epsilon: 1e-6 in timm / facebookresearch/dino; HF ViTConfig.layer_norm_eps otherwise. */
  eps: number;
  /** LayerScale gains in every block (DINOv2: `ls1.gamma`, `ls2.gamma`). */
  layerScale?: boolean;
}

function dinoCfg(patch: number, width: number, heads: number): DINOConfig {
  return { imageSize: 224, patchSize: patch, width, heads, layers: 12, mlpWidth: 4 * width, qkvBias: true, act: 'gelu', eps: 1e-6 };
}

/** facebookresearch/dino ViTs (timm vit_*_dino) and a tiny test size. */
export const DINO_PRESETS: Record<string, DINOConfig> = {
  'ViT-S/16': dinoCfg(16, 384, 6),
  'ViT-S/8': dinoCfg(8, 384, 6),
  'ViT-B/16': dinoCfg(16, 768, 12),
  'ViT-B/8': dinoCfg(8, 768, 12),
  tiny: { imageSize: 32, patchSize: 8, width: 32, heads: 2, layers: 4, mlpWidth: 128, qkvBias: true, act: 'gelu', eps: 1e-6 },
};

function act(name: unknown, where: string): Activation {
  const a = name ?? 'quick_gelu';
  if (a === 'quick_gelu' || a === 'gelu') return a;
  throw new Error(`${where}: hidden_act '${String(a)}' is not supported (expected quick_gelu or gelu)`);
}

/** CLIPConfig from a Hugging Face CLIPConfig config.json (defaults as transformers' configuration_clip.py). */
export function clipConfigFromHF(json: any): CLIPConfig {
  if (!json || typeof json !== 'object') throw new Error('CLIP config.json: expected an object');
  // configs written by transformers < 4.23 carry the non-default values in text_config_dict / vision_config_dict,
  // which CLIPConfig.__init__ lets override text_config / vision_config
  const t = { ...(json.text_config ?? {}), ...(json.text_config_dict ?? {}) };
  const v = { ...(json.vision_config ?? {}), ...(json.vision_config_dict ?? {}) };
  const tw = t.hidden_size ?? 512;
  const vw = v.hidden_size ?? 768;
  const eos = t.eos_token_id ?? 2;
  return {
    embedDim: json.projection_dim ?? 512,
    text: {
      vocabSize: t.vocab_size ?? 49408,
      contextLength: t.max_position_embeddings ?? 77,
      width: tw,
      heads: t.num_attention_heads ?? 8,
      layers: t.num_hidden_layers ?? 12,
      mlpWidth: t.intermediate_size ?? 2048,
      act: act(t.hidden_act, 'CLIP text_config'),
      eps: t.layer_norm_eps ?? 1e-5,
      // transformers: eos_token_id == 2 is the legacy configuration -> argmax(input_ids)
      pool: eos === 2 ? 'argmax' : eos,
    },
    vision: {
      imageSize: v.image_size ?? 224,
      patchSize: v.patch_size ?? 32,
      width: vw,
      heads: v.num_attention_heads ?? 12,
      layers: v.num_hidden_layers ?? 12,
      mlpWidth: v.intermediate_size ?? 3072,
      act: act(v.hidden_act, 'CLIP vision_config'),
      eps: v.layer_norm_eps ?? 1e-5,
    },
  };
}

/** DINOConfig from a Hugging Face Dinov2Config config.json (defaults as transformers' configuration_dinov2.py). */
export function dinov2ConfigFromHF(json: any): DINOConfig {
  const a = json.hidden_act ?? 'gelu';
  if (a !== 'gelu') throw new Error(`DINOv2 config.json: hidden_act '${a}' is not supported (expected gelu)`);
  if (json.use_swiglu_ffn) throw new Error('DINOv2 config.json: use_swiglu_ffn (ViT-g) is not supported');
  if (json.num_register_tokens) throw new Error('DINOv2 config.json: register tokens are not supported');
  const w = json.hidden_size ?? 768;
  return {
    imageSize: json.image_size ?? 518,
    patchSize: json.patch_size ?? 14,
    width: w,
    heads: json.num_attention_heads ?? 12,
    layers: json.num_hidden_layers ?? 12,
    mlpWidth: Math.round(w * (json.mlp_ratio ?? 4)),
    qkvBias: json.qkv_bias ?? true,
    act: 'gelu',
    eps: json.layer_norm_eps ?? 1e-6,
    layerScale: true,
  };
}

/** DINOConfig from a Hugging Face ViTConfig config.json (defaults as transformers' configuration_vit.py). */
export function dinoConfigFromHF(json: any): DINOConfig {
  if (json?.model_type === 'dinov2') return dinov2ConfigFromHF(json);
  const a = json.hidden_act ?? 'gelu';
  if (a !== 'gelu') throw new Error(`DINO config.json: hidden_act '${a}' is not supported (expected gelu)`);
  const w = json.hidden_size ?? 768;
  return {
    imageSize: json.image_size ?? 224,
    patchSize: json.patch_size ?? 16,
    width: w,
    heads: json.num_attention_heads ?? 12,
    layers: json.num_hidden_layers ?? 12,
    mlpWidth: json.intermediate_size ?? 3072,
    qkvBias: json.qkv_bias ?? true,
    act: 'gelu',
    eps: json.layer_norm_eps ?? 1e-12,
  };
}

/** DINOConfig from a timm VisionTransformer config (as ../parity/dino/model/config.json -> vit.config). */
export function dinoConfigFromTimm(json: any): DINOConfig {
  const w = json.embed_dim ?? 768;
  return {
    imageSize: json.img_size ?? 224,
    patchSize: json.patch_size ?? 16,
    width: w,
    heads: json.num_heads ?? 12,
    layers: json.depth ?? 12,
    mlpWidth: Math.round(w * (json.mlp_ratio ?? 4)),
    qkvBias: json.qkv_bias ?? true,
    act: 'gelu',
    eps: json.layer_norm_eps ?? 1e-6,
  };
}
