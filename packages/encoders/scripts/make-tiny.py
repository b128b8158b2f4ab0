#!/usr/bin/python3
"""Write the tiny random CLIP and DINO test models of @ganzoo/encoders, in the Hugging Face layout, with torch
reference outputs.

Run with Debian's /usr/bin/python3 (torch 1.13 + numpy + PIL; no transformers / safetensors / tokenizers needed):
    /usr/bin/python3 packages/encoders/scripts/make-tiny.py [out_dir]
Writes (default packages/encoders/test/fixtures/):
    tiny-clip/  config.json, model.safetensors (HF CLIPModel names), tokenizer.json, tokenizer_config.json,
                preprocessor_config.json, special_tokens_map.json
    tiny-dino/  config.json (HF ViTConfig), model.safetensors (HF ViTModel names), preprocessor_config.json
    reference.safetensors  inputs and torch outputs (batch-first, NCHW pixels) for both models, preprocessing
                           and the CLIP losses.
The forward passes below are written with plain torch modules (nn.MultiheadAttention-free, explicit math) mirroring
openai/CLIP clip/model.py and timm / facebookresearch/dino vision_transformer.py; the parity fixtures in
../shared/parity check the port against the official code itself.
"""
import json
import math
import os
import re
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures')
torch.manual_seed(20261122)
np.random.seed(20261122)


def save_safetensors(path, tensors, metadata=None):
    header = {}
    blobs = []
    off = 0
    for k in sorted(tensors):
        t = tensors[k].detach().contiguous().cpu()
        dt = {torch.float32: 'F32', torch.int64: 'I64', torch.int32: 'I32', torch.uint8: 'U8'}[t.dtype]
        b = t.numpy().tobytes()
        header[k] = {'dtype': dt, 'shape': list(t.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header['__metadata__'] = metadata
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def write_json(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write('\n')


# ------------------------------------------------------------------ tokenizer (CLIP byte-level BPE, tiny vocab)

def bytes_to_unicode():
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_ENC = bytes_to_unicode()
PAT = re.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+""", re.IGNORECASE)
CORPUS = 'a photo of a cat . a photo of a dog . a red car on the road . the blue sky over the sea . two cats and a dog'


def learn_merges(corpus, n_merges):
    words = {}
    for w in corpus.lower().split():
        sym = tuple(BYTE_ENC[b] for b in w.encode('utf-8'))
        sym = sym[:-1] + (sym[-1] + '</w>',)
        words[sym] = words.get(sym, 0) + 1
    merges = []
    for _ in range(n_merges):
        pairs = {}
        for w, c in words.items():
            for i in range(len(w) - 1):
                pairs[(w[i], w[i + 1])] = pairs.get((w[i], w[i + 1]), 0) + c
        if not pairs:
            break
        best = max(sorted(pairs), key=lambda p: pairs[p])
        merges.append(best)
        new = {}
        for w, c in words.items():
            out = []
            i = 0
            while i < len(w):
                if i < len(w) - 1 and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] = c
        words = new
    return merges


MERGES = learn_merges(CORPUS, 40)
VOCAB_LIST = list(BYTE_ENC.values()) + [v + '</w>' for v in BYTE_ENC.values()] + [a + b for a, b in MERGES]
VOCAB_LIST += ['<|startoftext|>', '<|endoftext|>']
VOCAB = {t: i for i, t in enumerate(VOCAB_LIST)}
SOT, EOT = VOCAB['<|startoftext|>'], VOCAB['<|endoftext|>']
RANKS = {m: i for i, m in enumerate(MERGES)}


def bpe(token):
    word = tuple(token[:-1]) + (token[-1] + '</w>',)
    while len(word) > 1:
        pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
        best = min(pairs, key=lambda p: RANKS.get(p, float('inf')))
        if best not in RANKS:
            break
        out = []
        i = 0
        while i < len(word):
            if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                out.append(word[i] + word[i + 1])
                i += 2
            else:
                out.append(word[i])
                i += 1
        word = tuple(out)
    return word


def tokenize(text, context=77):
    """openai/CLIP simple_tokenizer + clip.tokenize(truncate=True) on this vocab (whitespace_clean, lower)."""
    text = re.sub(r'\s+', ' ', text).strip().lower()
    ids = [SOT]
    for tok in PAT.findall(text):
        tok = ''.join(BYTE_ENC[b] for b in tok.encode('utf-8'))
        ids += [VOCAB[t] for t in bpe(tok)]
    ids.append(EOT)
    if len(ids) > context:
        ids = ids[:context]
        ids[-1] = EOT
    return ids + [0] * (context - len(ids))


def tokenizer_json():
    return {
        'version': '1.0',
        'truncation': None,
        'padding': None,
        'added_tokens': [
            {'id': SOT, 'content': '<|startoftext|>', 'single_word': False, 'lstrip': False, 'rstrip': False, 'normalized': True, 'special': True},
            {'id': EOT, 'content': '<|endoftext|>', 'single_word': False, 'lstrip': False, 'rstrip': False, 'normalized': True, 'special': True},
        ],
        'normalizer': {'type': 'Sequence', 'normalizers': [
            {'type': 'NFC'}, {'type': 'Replace', 'pattern': {'Regex': '\\s+'}, 'content': ' '}, {'type': 'Lowercase'}]},
        'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [
            {'type': 'Split', 'pattern': {'Regex': "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+"},
             'behavior': 'Removed', 'invert': True},
            {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': False}]},
        'post_processor': {'type': 'RobertaProcessing', 'sep': ['<|endoftext|>', EOT], 'cls': ['<|startoftext|>', SOT],
                           'trim_offsets': False, 'add_prefix_space': False},
        'decoder': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': True, 'use_regex': True},
        'model': {'type': 'BPE', 'dropout': None, 'unk_token': '<|endoftext|>', 'continuing_subword_prefix': '',
                  'end_of_word_suffix': '</w>', 'fuse_unk': False, 'byte_fallback': False,
                  'vocab': VOCAB, 'merges': [f'{a} {b}' for a, b in MERGES]},
    }


# ------------------------------------------------------------------ models (explicit torch math)

def rnd(*shape, scale=1.0):
    return torch.randn(*shape) * scale


def linear_params(out_f, in_f):
    return rnd(out_f, in_f, scale=1 / math.sqrt(in_f)), rnd(out_f, scale=0.1)


def ln_params(d):
    return 1 + rnd(d, scale=0.1), rnd(d, scale=0.1)


def block_params(prefix, w, mlp, sd, names):
    """names: dict role -> HF sub-name; q/k/v separate."""
    for role in ['q', 'k', 'v', 'o']:
        wt, b = linear_params(w, w)
        sd[f'{prefix}.{names[role]}.weight'] = wt
        sd[f'{prefix}.{names[role]}.bias'] = b
    for role in ['ln1', 'ln2']:
        g, b = ln_params(w)
        sd[f'{prefix}.{names[role]}.weight'] = g
        sd[f'{prefix}.{names[role]}.bias'] = b
    wt, b = linear_params(mlp, w)
    sd[f'{prefix}.{names["fc1"]}.weight'], sd[f'{prefix}.{names["fc1"]}.bias'] = wt, b
    wt, b = linear_params(w, mlp)
    sd[f'{prefix}.{names["fc2"]}.weight'], sd[f'{prefix}.{names["fc2"]}.bias'] = wt, b


def run_block(x, sd, prefix, names, heads, eps, act, mask=None, ls=None):
    g = lambda r, p: sd[f'{prefix}.{names[r]}.{p}']
    B, L = x.shape[0], x.shape[1]
    W = int(x.shape[-1])
    h = F.layer_norm(x, (W,), g('ln1', 'weight'), g('ln1', 'bias'), eps)
    q = F.linear(h, g('q', 'weight'), g('q', 'bias')).view(B, L, heads, -1).transpose(1, 2)
    k = F.linear(h, g('k', 'weight'), g('k', 'bias')).view(B, L, heads, -1).transpose(1, 2)
    v = F.linear(h, g('v', 'weight'), g('v', 'bias')).view(B, L, heads, -1).transpose(1, 2)
    a = q @ k.transpose(-1, -2) * (W // heads) ** -0.5
    if mask is not None:
        a = a + mask
    o = (a.softmax(-1) @ v).transpose(1, 2).reshape(B, L, W)
    o = F.linear(o, g('o', 'weight'), g('o', 'bias'))
    x = x + (o * sd[f'{prefix}.{ls[0]}'] if ls else o)
    h = F.layer_norm(x, (W,), g('ln2', 'weight'), g('ln2', 'bias'), eps)
    h = F.linear(h, g('fc1', 'weight'), g('fc1', 'bias'))
    h = h * torch.sigmoid(1.702 * h) if act == 'quick_gelu' else F.gelu(h)
    h = F.linear(h, g('fc2', 'weight'), g('fc2', 'bias'))
    return x + (h * sd[f'{prefix}.{ls[1]}'] if ls else h)


CLIP_NAMES = {'q': 'self_attn.q_proj', 'k': 'self_attn.k_proj', 'v': 'self_attn.v_proj', 'o': 'self_attn.out_proj',
              'ln1': 'layer_norm1', 'ln2': 'layer_norm2', 'fc1': 'mlp.fc1', 'fc2': 'mlp.fc2'}
VIT_NAMES = {'q': 'attention.attention.query', 'k': 'attention.attention.key', 'v': 'attention.attention.value',
             'o': 'attention.output.dense', 'ln1': 'layernorm_before', 'ln2': 'layernorm_after',
             'fc1': 'intermediate.dense', 'fc2': 'output.dense'}


def make_clip(out_dir):
    T = dict(vocab=len(VOCAB), width=16, heads=2, layers=2, ctx=77)
    V = dict(image=32, patch=8, width=32, heads=2, layers=2)
    E = 16
    sd = {}
    sd['text_model.embeddings.token_embedding.weight'] = rnd(T['vocab'], T['width'], scale=0.5)
    sd['text_model.embeddings.position_embedding.weight'] = rnd(T['ctx'], T['width'], scale=0.2)
    for i in range(T['layers']):
        block_params(f'text_model.encoder.layers.{i}', T['width'], 4 * T['width'], sd, CLIP_NAMES)
    sd['text_model.final_layer_norm.weight'], sd['text_model.final_layer_norm.bias'] = ln_params(T['width'])
    sd['text_projection.weight'] = rnd(E, T['width'], scale=1 / math.sqrt(T['width']))
    grid = V['image'] // V['patch']
    sd['vision_model.embeddings.class_embedding'] = rnd(V['width'], scale=0.5)
    sd['vision_model.embeddings.patch_embedding.weight'] = rnd(V['width'], 3, V['patch'], V['patch'], scale=1 / math.sqrt(3 * V['patch'] ** 2))
    sd['vision_model.embeddings.position_embedding.weight'] = rnd(grid * grid + 1, V['width'], scale=0.2)
    sd['vision_model.pre_layrnorm.weight'], sd['vision_model.pre_layrnorm.bias'] = ln_params(V['width'])
    for i in range(V['layers']):
        block_params(f'vision_model.encoder.layers.{i}', V['width'], 4 * V['width'], sd, CLIP_NAMES)
    sd['vision_model.post_layernorm.weight'], sd['vision_model.post_layernorm.bias'] = ln_params(V['width'])
    sd['visual_projection.weight'] = rnd(E, V['width'], scale=1 / math.sqrt(V['width']))
    sd['logit_scale'] = torch.tensor(math.log(1 / 0.07))
    os.makedirs(out_dir, exist_ok=True)
    save_safetensors(os.path.join(out_dir, 'model.safetensors'), sd, {'format': 'pt'})
    write_json(os.path.join(out_dir, 'config.json'), {
        'architectures': ['CLIPModel'], 'model_type': 'clip', 'projection_dim': E, 'logit_scale_init_value': 2.6592,
        'text_config': {'model_type': 'clip_text_model', 'vocab_size': T['vocab'], 'hidden_size': T['width'],
                        'intermediate_size': 4 * T['width'], 'num_attention_heads': T['heads'],
                        'num_hidden_layers': T['layers'], 'max_position_embeddings': T['ctx'], 'hidden_act': 'quick_gelu',
                        'layer_norm_eps': 1e-5, 'bos_token_id': SOT, 'eos_token_id': EOT, 'pad_token_id': 1,
                        'projection_dim': E},
        'vision_config': {'model_type': 'clip_vision_model', 'image_size': V['image'], 'patch_size': V['patch'],
                          'hidden_size': V['width'], 'intermediate_size': 4 * V['width'],
                          'num_attention_heads': V['heads'], 'num_hidden_layers': V['layers'], 'num_channels': 3,
                          'hidden_act': 'quick_gelu', 'layer_norm_eps': 1e-5, 'projection_dim': E},
    })
    write_json(os.path.join(out_dir, 'tokenizer.json'), tokenizer_json())
    write_json(os.path.join(out_dir, 'tokenizer_config.json'), {
        'tokenizer_class': 'CLIPTokenizer', 'model_max_length': 77, 'bos_token': '<|startoftext|>',
        'eos_token': '<|endoftext|>', 'pad_token': '<|endoftext|>', 'unk_token': '<|endoftext|>',
        'do_lower_case': True, 'errors': 'replace', 'add_prefix_space': False})
    write_json(os.path.join(out_dir, 'special_tokens_map.json'), {
        'bos_token': '<|startoftext|>', 'eos_token': '<|endoftext|>', 'pad_token': '<|endoftext|>', 'unk_token': '<|endoftext|>'})
    write_json(os.path.join(out_dir, 'preprocessor_config.json'), {
        'image_processor_type': 'CLIPImageProcessor', 'feature_extractor_type': 'CLIPFeatureExtractor',
        'do_resize': True, 'size': {'shortest_edge': V['image']}, 'resample': 3, 'do_center_crop': True,
        'crop_size': {'height': V['image'], 'width': V['image']}, 'do_rescale': True, 'rescale_factor': 1 / 255,
        'do_normalize': True, 'do_convert_rgb': True,
        'image_mean': [0.48145466, 0.4578275, 0.40821073], 'image_std': [0.26862954, 0.26130258, 0.27577711]})
    return sd, T, V, E


def clip_text(sd, T, ids):
    x = sd['text_model.embeddings.token_embedding.weight'][ids] + sd['text_model.embeddings.position_embedding.weight'][:ids.shape[1]]
    L = ids.shape[1]
    mask = torch.full((L, L), float('-inf')).triu(1)
    for i in range(T['layers']):
        x = run_block(x, sd, f'text_model.encoder.layers.{i}', CLIP_NAMES, T['heads'], 1e-5, 'quick_gelu', mask)
    x = F.layer_norm(x, (T['width'],), sd['text_model.final_layer_norm.weight'], sd['text_model.final_layer_norm.bias'], 1e-5)
    pooled = x[torch.arange(x.shape[0]), (ids == EOT).int().argmax(-1)]  # int32 argmax (ONNX Runtime has no int64 ArgMax)
    return x, pooled, pooled @ sd['text_projection.weight'].T


def clip_vision(sd, V, px):
    x = F.conv2d(px, sd['vision_model.embeddings.patch_embedding.weight'], stride=V['patch'])
    x = x.flatten(2).transpose(1, 2)
    cls = sd['vision_model.embeddings.class_embedding'].expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], 1) + sd['vision_model.embeddings.position_embedding.weight']
    x = F.layer_norm(x, (V['width'],), sd['vision_model.pre_layrnorm.weight'], sd['vision_model.pre_layrnorm.bias'], 1e-5)
    hidden = [x]
    for i in range(V['layers']):
        x = run_block(x, sd, f'vision_model.encoder.layers.{i}', CLIP_NAMES, V['heads'], 1e-5, 'quick_gelu')
        hidden.append(x)
    pooled = F.layer_norm(x[:, 0], (V['width'],), sd['vision_model.post_layernorm.weight'], sd['vision_model.post_layernorm.bias'], 1e-5)
    return x, pooled, pooled @ sd['visual_projection.weight'].T, hidden


class TextTower(torch.nn.Module):
    """The tiny text tower as an nn.Module for torch.onnx.export (inputs input_ids, attention_mask (unused: the causal
    mask makes padding irrelevant for the EOT token); outputs text_embeds, last_hidden_state)."""

    def __init__(self, sd, T):
        super().__init__()
        self.T = T
        self.names = sorted(k for k in sd if k.startswith('text_model.') or k == 'text_projection.weight')
        for i, k in enumerate(self.names):
            self.register_buffer(f'p{i}', sd[k].clone())

    def forward(self, input_ids, attention_mask):
        sd = {k: getattr(self, f'p{i}') for i, k in enumerate(self.names)}
        last, _, embeds = clip_text(sd, self.T, input_ids)
        return embeds, last


def export_text_onnx(sd, T, out_dir, ids):
    os.makedirs(os.path.join(out_dir, 'onnx'), exist_ok=True)
    m = TextTower(sd, T).eval()
    mask = (ids != 0).long()
    torch.onnx.export(m, (ids, mask), os.path.join(out_dir, 'onnx', 'text_model.onnx'), opset_version=14,
                      input_names=['input_ids', 'attention_mask'], output_names=['text_embeds', 'last_hidden_state'],
                      dynamic_axes={'input_ids': {0: 'batch'}, 'attention_mask': {0: 'batch'},
                                    'text_embeds': {0: 'batch'}, 'last_hidden_state': {0: 'batch'}})


def make_dino(out_dir):
    C = dict(image=32, patch=8, width=32, heads=2, layers=3, eps=1e-6)
    sd = {}
    grid = C['image'] // C['patch']
    sd['embeddings.cls_token'] = rnd(1, 1, C['width'], scale=0.5)
    sd['embeddings.position_embeddings'] = rnd(1, grid * grid + 1, C['width'], scale=0.5)
    sd['embeddings.patch_embeddings.projection.weight'] = rnd(C['width'], 3, C['patch'], C['patch'], scale=1 / math.sqrt(3 * C['patch'] ** 2))
    sd['embeddings.patch_embeddings.projection.bias'] = rnd(C['width'], scale=0.1)
    for i in range(C['layers']):
        block_params(f'encoder.layer.{i}', C['width'], 4 * C['width'], sd, VIT_NAMES)
    sd['layernorm.weight'], sd['layernorm.bias'] = ln_params(C['width'])
    os.makedirs(out_dir, exist_ok=True)
    save_safetensors(os.path.join(out_dir, 'model.safetensors'), sd, {'format': 'pt'})
    write_json(os.path.join(out_dir, 'config.json'), {
        'architectures': ['ViTModel'], 'model_type': 'vit', 'hidden_size': C['width'], 'num_hidden_layers': C['layers'],
        'num_attention_heads': C['heads'], 'intermediate_size': 4 * C['width'], 'hidden_act': 'gelu',
        'layer_norm_eps': C['eps'], 'image_size': C['image'], 'patch_size': C['patch'], 'num_channels': 3,
        'qkv_bias': True})
    write_json(os.path.join(out_dir, 'preprocessor_config.json'), {
        'image_processor_type': 'ViTImageProcessor', 'do_resize': True, 'size': {'height': C['image'], 'width': C['image']},
        'resample': 2, 'do_rescale': True, 'rescale_factor': 1 / 255, 'do_normalize': True,
        'image_mean': [0.485, 0.456, 0.406], 'image_std': [0.229, 0.224, 0.225]})
    return sd, C


DINOV2_NAMES = {'q': 'attention.attention.query', 'k': 'attention.attention.key', 'v': 'attention.attention.value',
                'o': 'attention.output.dense', 'ln1': 'norm1', 'ln2': 'norm2', 'fc1': 'mlp.fc1', 'fc2': 'mlp.fc2'}


def make_dinov2(out_dir):
    """A tiny Dinov2Model (HF names: norm1/norm2, mlp.fc1/fc2, layer_scale1/2.lambda1, mask_token)."""
    C = dict(image=16, patch=4, width=16, heads=2, layers=2, eps=1e-6)
    sd = {}
    grid = C['image'] // C['patch']
    sd['embeddings.cls_token'] = rnd(1, 1, C['width'], scale=0.5)
    sd['embeddings.mask_token'] = torch.zeros(1, C['width'])
    sd['embeddings.position_embeddings'] = rnd(1, grid * grid + 1, C['width'], scale=0.5)
    sd['embeddings.patch_embeddings.projection.weight'] = rnd(C['width'], 3, C['patch'], C['patch'], scale=1 / math.sqrt(3 * C['patch'] ** 2))
    sd['embeddings.patch_embeddings.projection.bias'] = rnd(C['width'], scale=0.1)
    for i in range(C['layers']):
        block_params(f'encoder.layer.{i}', C['width'], 4 * C['width'], sd, DINOV2_NAMES)
        sd[f'encoder.layer.{i}.layer_scale1.lambda1'] = 0.5 + rnd(C['width'], scale=0.2)
        sd[f'encoder.layer.{i}.layer_scale2.lambda1'] = 0.5 + rnd(C['width'], scale=0.2)
    sd['layernorm.weight'], sd['layernorm.bias'] = ln_params(C['width'])
    os.makedirs(out_dir, exist_ok=True)
    save_safetensors(os.path.join(out_dir, 'model.safetensors'), sd, {'format': 'pt'})
    write_json(os.path.join(out_dir, 'config.json'), {
        'architectures': ['Dinov2Model'], 'model_type': 'dinov2', 'hidden_size': C['width'], 'num_hidden_layers': C['layers'],
        'num_attention_heads': C['heads'], 'mlp_ratio': 4, 'hidden_act': 'gelu', 'layer_norm_eps': C['eps'],
        'image_size': C['image'], 'patch_size': C['patch'], 'num_channels': 3, 'qkv_bias': True, 'layerscale_value': 1.0,
        'use_swiglu_ffn': False})
    return sd, C


def dinov2_forward(sd, C, px):
    """Dinov2Model forward: embeddings (interpolate_pos_encoding of current transformers: bicubic to the new grid size),
    LayerScale blocks, layernorm."""
    x = F.conv2d(px, sd['embeddings.patch_embeddings.projection.weight'], sd['embeddings.patch_embeddings.projection.bias'], stride=C['patch'])
    gh, gw = x.shape[-2:]
    x = torch.cat([sd['embeddings.cls_token'].expand(x.shape[0], -1, -1), x.flatten(2).transpose(1, 2)], 1)
    g0 = C['image'] // C['patch']
    x = x + (sd['embeddings.position_embeddings'] if (gh, gw) == (g0, g0) else dino_pos_hf(sd['embeddings.position_embeddings'], g0, gh, gw))
    for i in range(C['layers']):
        x = run_block(x, sd, f'encoder.layer.{i}', DINOV2_NAMES, C['heads'], C['eps'], 'gelu', ls=('layer_scale1.lambda1', 'layer_scale2.lambda1'))
    x = F.layer_norm(x, (C['width'],), sd['layernorm.weight'], sd['layernorm.bias'], C['eps'])
    return x, x[:, 0]


def dino_pos_official(pos, g0, gh, gw):
    """facebookresearch/dino VisionTransformer.interpolate_pos_encoding (square grids; +0.1, scale_factor, bicubic)."""
    cls, patch = pos[:, :1], pos[:, 1:]
    d = pos.shape[-1]
    h0, w0 = gh + 0.1, gw + 0.1
    patch = F.interpolate(patch.reshape(1, g0, g0, d).permute(0, 3, 1, 2), scale_factor=(h0 / g0, w0 / g0), mode='bicubic')
    assert patch.shape[-2:] == (gh, gw)
    return torch.cat([cls, patch.permute(0, 2, 3, 1).reshape(1, -1, d)], 1)


def dino_pos_hf(pos, g0, gh, gw):
    """Hugging Face ViTEmbeddings.interpolate_pos_encoding (bicubic to an explicit size, align_corners=False)."""
    cls, patch = pos[:, :1], pos[:, 1:]
    d = pos.shape[-1]
    patch = F.interpolate(patch.reshape(1, g0, g0, d).permute(0, 3, 1, 2), size=(gh, gw), mode='bicubic', align_corners=False)
    return torch.cat([cls, patch.permute(0, 2, 3, 1).reshape(1, -1, d)], 1)


def dino_forward(sd, C, px, pos_fn=None):
    x = F.conv2d(px, sd['embeddings.patch_embeddings.projection.weight'], sd['embeddings.patch_embeddings.projection.bias'], stride=C['patch'])
    gh, gw = x.shape[-2:]
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat([sd['embeddings.cls_token'].expand(x.shape[0], -1, -1), x], 1)
    g0 = C['image'] // C['patch']
    pos = sd['embeddings.position_embeddings'] if (gh, gw) == (g0, g0) else pos_fn(sd['embeddings.position_embeddings'], g0, gh, gw)
    x = x + pos
    hidden = [x]
    for i in range(C['layers']):
        x = run_block(x, sd, f'encoder.layer.{i}', VIT_NAMES, C['heads'], C['eps'], 'gelu')
        hidden.append(x)
    x = F.layer_norm(x, (C['width'],), sd['layernorm.weight'], sd['layernorm.bias'], C['eps'])
    return x, x[:, 0], hidden


def main():
    ref = {}
    clip_sd, T, V, E = make_clip(os.path.join(OUT, 'tiny-clip'))
    texts = ['a photo of a cat', 'A  Red car on the road!', 'two dogs', ' '.join(['cat'] * 100)]
    ids = torch.tensor([tokenize(t) for t in texts], dtype=torch.int64)
    ref['clip/input.input_ids'] = ids
    with torch.no_grad():
        last, pooled, embeds = clip_text(clip_sd, T, ids)
        ref['clip/output.text_embeds'] = embeds
        export_text_onnx(clip_sd, T, os.path.join(OUT, 'tiny-clip'), ids)
        ref['clip/act.text_last_hidden_state_first8'] = last[:, :8].contiguous()  # (file size) the first 8 positions
        px = torch.randn(2, 3, V['image'], V['image'])
        ref['clip/input.pixel_values'] = px
        vlast, vpooled, vembeds, vhidden = clip_vision(clip_sd, V, px)
        ref['clip/output.image_embeds'] = vembeds
        ref['clip/act.vision_last_hidden_state'] = vlast
        ref['clip/act.vision_pooler_output'] = vpooled
        ref['clip/act.vision_hidden_1'] = vhidden[1]
        ref['clip/act.vision_embed'] = vhidden[0]
        img_n = F.normalize(vembeds, dim=-1)
        txt_n = F.normalize(embeds, dim=-1)
        ref['clip/output.logits_per_image'] = clip_sd['logit_scale'].exp() * img_n @ txt_n.T

    # CLIPImageProcessor on two 8-bit images (PIL bicubic shortest side, centre crop by floor, rescale, normalise)
    mean = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
    std = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
    procs = []
    for i, (h, w) in enumerate([(45, 61), (70, 37)]):
        arr = np.random.randint(0, 256, size=(h, w, 3), dtype=np.uint8)
        ref[f'pre/input.image{i}'] = torch.from_numpy(arr.copy())
        short = V['image']
        nh, nw = (short, int(short * w / h)) if h <= w else (int(short * h / w), short)
        r = np.array(Image.fromarray(arr).resize((nw, nh), resample=Image.BICUBIC))
        top, left = (nh - short) // 2, (nw - short) // 2
        r = r[top:top + short, left:left + short]
        x = (r.astype(np.float64) * (1 / 255)).astype(np.float32)
        x = (x - mean) / std
        procs.append(torch.from_numpy(x.transpose(2, 0, 1).copy()))
    ref['pre/output.pixel_values'] = torch.stack(procs)
    # ViTImageProcessor (DINO): resize to 32x32 with PIL bilinear, no crop, ImageNet mean/std
    imean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
    istd = np.array([0.229, 0.224, 0.225], dtype=np.float32)
    vprocs = []
    for i in range(2):
        arr = ref[f'pre/input.image{i}'].numpy()
        r = np.array(Image.fromarray(arr).resize((32, 32), resample=Image.BILINEAR))
        x = ((r.astype(np.float64) * (1 / 255)).astype(np.float32) - imean) / istd
        vprocs.append(torch.from_numpy(x.transpose(2, 0, 1).copy()))
    ref['pre/output.pixel_values_vit'] = torch.stack(vprocs)

    dino_sd, C = make_dino(os.path.join(OUT, 'tiny-dino'))
    with torch.no_grad():
        px = torch.randn(2, 3, C['image'], C['image'])
        ref['dino/input.pixel_values'] = px
        last, pooled, hidden = dino_forward(dino_sd, C, px)
        ref['dino/output.last_hidden_state'] = last
        ref['dino/output.pooled'] = pooled
        for i, h in enumerate(hidden):
            ref[f'dino/act.hidden_{i}'] = h  # 0 = embeddings, i = output of block i-1
        px48 = torch.randn(1, 3, 48, 40)
        ref['dino/input.pixel_values_48x40'] = px48
        ref['dino/output.pooled_48x40_official'] = dino_forward(dino_sd, C, px48, dino_pos_official)[1]
        ref['dino/output.pooled_48x40_hf'] = dino_forward(dino_sd, C, px48, dino_pos_hf)[1]

    v2_sd, C2 = make_dinov2(os.path.join(OUT, 'tiny-dinov2'))
    with torch.no_grad():
        for size in (16, 24):
            px = torch.randn(2, 3, size, size)
            ref[f'dinov2/input.pixel_values_{size}'] = px
            last, pooled = dinov2_forward(v2_sd, C2, px)
            ref[f'dinov2/output.last_hidden_state_{size}'] = last
            ref[f'dinov2/output.pooled_{size}'] = pooled

    # resize modes: torch F.interpolate (align_corners=False) and PIL float ('F' mode) resampling
    img = torch.rand(1, 3, 7, 9)
    ref['resize/input'] = img
    for (h, w) in [(12, 5), (4, 13)]:
        for mode in ['nearest', 'bilinear', 'bicubic', 'area']:
            kw = {} if mode in ('nearest', 'area') else {'align_corners': False}
            ref[f'resize/{mode}_{h}x{w}'] = F.interpolate(img, size=(h, w), mode=mode, **kw)
        for name, flt in [('pil-bicubic', Image.BICUBIC), ('pil-bilinear', Image.BILINEAR)]:
            chans = [np.array(Image.fromarray(img[0, c].numpy(), mode='F').resize((w, h), resample=flt)) for c in range(3)]
            ref[f'resize/{name}_{h}x{w}'] = torch.from_numpy(np.stack(chans)[None].copy())

    # CLIP losses with the official formulas
    x = torch.randn(4, E)
    y = torch.randn(4, E)
    ref['loss/input.x'] = x
    ref['loss/input.y'] = y
    xn, yn = F.normalize(x, dim=-1), F.normalize(y, dim=-1)
    ref['loss/output.spherical_distance'] = (xn * yn).sum(-1).arccos().pow(2)  # stylegan-t training/loss.py
    tau = torch.tensor(math.log(1 / 0.07)).exp()
    sim = torch.einsum('i d, j d -> i j', yn, xn) * tau  # gigagan-pytorch OpenClipAdapter.contrastive_loss (texts y)
    labels = torch.arange(4)
    ref['loss/output.contrastive'] = (F.cross_entropy(sim, labels) + F.cross_entropy(sim.t(), labels)) / 2
    ref['loss/output.clip_score_mean'] = torch.clamp((100 * (xn * yn).sum(-1)).mean(0), min=0)

    ids_ref = {k: v for k, v in ref.items()}
    save_safetensors(os.path.join(OUT, 'reference.safetensors'), ids_ref, {'texts': json.dumps(texts), 'logit_scale': str(math.log(1 / 0.07))})
    total = 0
    for root, _, files in os.walk(OUT):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    print(f'wrote {OUT}: {total} bytes; vocab {len(VOCAB)}; ids[0] {ids[0][:8].tolist()}')


if __name__ == '__main__':
    main()
