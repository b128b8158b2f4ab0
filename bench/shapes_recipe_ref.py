"""Training-recipe exploration for the shapes-32 BigGAN-deep in PyTorch (issue 8; not a timing bench, run by hand).

A float32 re-implementation of the `shapes-32` G and D (the same layout and weight names as ganzoo; its gradients are
checked against ganzoo's by `biggan-deep-grad-check.ts`) with the CLI's hinge recipe, trained 3-4x faster than
ganzoo on this CPU, so recipe variants can be tried before a ganzoo run. Inputs come from `shapes-recipe-dump.ts`:

  npx ts-node --transpile-only -P tsconfig.jest.json bench/shapes-recipe-dump.ts <shapes folder> <dir> [checkpoint]
  /usr/bin/python3 bench/shapes_recipe_ref.py dir=<dir> out=<out> [key=value ...]

Options (key=value): steps, B (batch), lrG, lrD, b1, b2, dsteps, ema (decay), emaStart, seed, every (dump interval),
only (train on one class id), cw (class weights 'w0,w1,..', weighted draws), da=1 (DiffAugment translation+cutout),
ms (mode-seeking weight), r1 (R1 weight) / r1every, mbstd=1 (a minibatch-std feature added to D's last features),
aux (auxiliary-classifier weight: D's features x the projection embedding as class logits), mis (weight of real images
with a wrong label scored as fake), probe=1 (print D's mean score of real images of each class under every label, then
stop; with mis > 0 it is printed at every dump), gtrain (comma-separated prefixes of the G weights that train, e.g.
'embeddings'; default all), rawFromEma=1 (start the raw G from a checkpoint's EMA G), dwarm (steps of D-only training
with G frozen before G trains), cls (weight of a classifier-guidance term in G's loss: cross-entropy of a small frozen
CNN shape classifier, trained first for clsSteps steps on the real images, on G's images), scale (multiply the real
images by it, e.g. 0.9 so white is reachable without saturating tanh; dumps are divided back), uncond=1 (every label
0: an unconditional run), loss=ns (the non-saturating logistic loss instead of hinge), cbnClass (factor on the class
embedding in the conditional BNs' input only; gen_z still gets it whole: 0 = class only through gen_z). Every `every` steps it writes ema-<step>.f32 and raw-<step>.f32: 200 samples (classes i % 4, fixed z), NHWC in
[-1, 1], batch-statistics BN over 50; score them with the checker (`checkShapes` of @ganzoo/core). A fresh init
(no checkpoint) scales the class embedding to z's norm as the CLI's shapes-32 recipe does.
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

OPT = dict(dir='', out='', steps=3000, B=32, lrG=2e-4, lrD=4e-4, b1=0.0, b2=0.999, dsteps=1, ema=0.99, emaStart=500,
           seed=0, every=250, only=-1, cw='', da=0, ms=0.0, r1=0.0, r1every=4, mbstd=0, aux=0.0, mis=0.0, probe=0,
           threads=1, gtrain='', rawFromEma=0, dwarm=0, cls=0.0, clsSteps=400, scale=1.0, uncond=0, loss='hinge', cbnClass=1.0)
for arg in sys.argv[1:]:
    key, val = arg.split('=', 1)
    if key not in OPT:
        sys.exit(f'unknown option {key}; expected one of {", ".join(OPT)}')
    OPT[key] = type(OPT[key])(val)
if not OPT['dir'] or (not OPT['out'] and not OPT['probe']):
    sys.exit('usage: shapes_recipe_ref.py dir=<dump dir> out=<output dir> [key=value ...]')
torch.set_num_threads(OPT['threads'])
torch.manual_seed(OPT['seed'])

init = json.load(open(os.path.join(OPT['dir'], 'init.json')))
cfg, modules, stages = init['gcfg'], init['gmods'], init['dstages']
NC, ZD = cfg['numClasses'], cfg['zDim']
T = {k: torch.tensor(v['data'], dtype=torch.float32).reshape(v['shape']) for k, v in init['weights'].items()}
if not init.get('ema'):
    e = T['embeddings.weight']
    T['embeddings.weight'] = e / e.norm(dim=1, keepdim=True) * math.sqrt(ZD)
PARAM = {k: t.clone().requires_grad_(True) for k, t in T.items() if not k.endswith(('_u', '_v', 'running_means', 'running_vars'))}
U_VEC = {k: t.clone() for k, t in T.items() if k.endswith('_u')}

res = cfg['resolution']
IMAGES = torch.from_numpy(np.fromfile(os.path.join(OPT['dir'], 'images.f32'), dtype=np.float32).reshape(-1, res, res, 3))
LABELS = torch.from_numpy(np.fromfile(os.path.join(OPT['dir'], 'labels.i32'), dtype=np.int32).astype(np.int64))
IMAGES = IMAGES * OPT['scale']
if OPT['uncond']:
    LABELS = torch.zeros_like(LABELS)
if OPT['only'] >= 0:
    keep = LABELS == OPT['only']
    IMAGES, LABELS = IMAGES[keep], LABELS[keep]


def sn_weight(params, name, first=False, eps=1e-4, update=True):
    """Spectral norm with one power iteration (u kept across calls, no gradient through u and v)."""
    w = params[name + '.weight_orig']
    n_out = w.shape[0] if first else w.shape[-1]
    mat = w.reshape(n_out, -1) if first else w.reshape(-1, n_out).t()
    with torch.no_grad():
        v = F.normalize(mat.t() @ U_VEC[name + '.weight_u'], dim=0, eps=eps)
        u = F.normalize(mat @ v, dim=0, eps=eps)
        if update:
            U_VEC[name + '.weight_u'] = u
    return w / (u @ mat @ v)


def conv_same(params, x, name, eps=1e-4, update=True):
    w = sn_weight(params, name, eps=eps, update=update)  # HWIO
    y = F.conv2d(x.permute(0, 3, 1, 2), w.permute(3, 2, 0, 1), padding=w.shape[0] // 2)
    return y.permute(0, 2, 3, 1) + params[name + '.bias']


def linear(params, x, name, bias=True, eps=1e-4, update=True):
    y = x @ sn_weight(params, name, eps=eps, update=update)
    return y + params[name + '.bias'] if bias else y


def batch_norm(x, gain, shift, eps):
    mean = x.mean((0, 1, 2))
    var = x.var((0, 1, 2), unbiased=False)
    if gain.dim() == 2:
        gain, shift = gain[:, None, None, :], shift[:, None, None, :]
    return (x - mean) / torch.sqrt(var + eps) * gain + shift


def upsample2(x):
    return x.repeat_interleave(2, 1).repeat_interleave(2, 2)


def generator(params, z, labels, update=True):
    emb = F.one_hot(labels, NC).float() @ params['embeddings.weight']
    cond = torch.cat([z, emb], 1)
    bn_cond = cond if OPT['cbnClass'] == 1 else torch.cat([z, emb * OPT['cbnClass']], 1)
    eps = cfg['bnEps']

    def cbn(x, name):
        return batch_norm(x, 1 + linear(params, bn_cond, name + '.scale', False, update=update),
                          linear(params, bn_cond, name + '.offset', False, update=update), eps)

    h = linear(params, cond, 'generator.gen_z', update=update).reshape(-1, 4, 4, cfg['ch'] * cfg['layers'][0][1])
    for m in modules:
        p = f"generator.layers.{m['index']}"
        r = conv_same(params, F.relu(cbn(h, p + '.bn_0')), p + '.conv_0', update=update)
        r = F.relu(cbn(r, p + '.bn_1'))
        r = conv_same(params, upsample2(r) if m['up'] else r, p + '.conv_1', update=update)
        r = conv_same(params, F.relu(cbn(r, p + '.bn_2')), p + '.conv_2', update=update)
        r = conv_same(params, F.relu(cbn(r, p + '.bn_3')), p + '.conv_3', update=update)
        skip = h[..., :m['cout']]
        h = r + (upsample2(skip) if m['up'] else skip)
    h = batch_norm(h, params['generator.bn.weight'], params['generator.bn.bias'], eps)
    return torch.tanh(conv_same(params, F.relu(h), 'generator.conv_to_rgb', update=update)[..., :3])


def pool2(x):
    return F.avg_pool2d(x.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)


def discriminator(x, labels, want_logits=False, eps=1e-6):
    h = conv_same(PARAM, x, 'discriminator.input_conv', eps=eps)
    for st in stages:
        for b in st['blocks']:
            p = f"discriminator.blocks.{b['stage']}.{b['index']}"
            r = conv_same(PARAM, F.relu(h), p + '.conv1', eps=eps)
            r = conv_same(PARAM, F.relu(r), p + '.conv2', eps=eps)
            r = F.relu(conv_same(PARAM, F.relu(r), p + '.conv3', eps=eps))
            r = conv_same(PARAM, pool2(r) if b['downsample'] else r, p + '.conv4', eps=eps)
            h = r + (pool2(h) if b['downsample'] else h)
    if OPT['mbstd']:
        groups = 4
        y = h.reshape(groups, -1, *h.shape[1:])
        sd = ((y - y.mean(0)).pow(2).mean(0) + 1e-8).sqrt().mean((1, 2, 3)).repeat(groups)
        h = h + PARAM['mbstd.w'] * sd[:, None, None, None]
    feats = F.relu(h).sum((1, 2))
    emb_w = sn_weight(PARAM, 'discriminator.embed', first=True, eps=eps)
    score = linear(PARAM, feats, 'discriminator.linear', eps=eps) + ((F.one_hot(labels, NC).float() @ emb_w) * feats).sum(1, keepdim=True)
    return (score, feats @ emb_w.t()) if want_logits else score


if OPT['mbstd']:
    PARAM['mbstd.w'] = (torch.randn(T['discriminator.linear.weight_orig'].shape[0]) * 0.1).requires_grad_(True)

def probe():
    with torch.no_grad():
        for c in range(NC):
            real = IMAGES[LABELS == c][:200]
            row = [discriminator(real, torch.full((len(real),), c2)).mean().item() for c2 in range(NC)]
            print(f'real class {c}: mean D score under labels 0..{NC - 1}:', ' '.join(f'{s:7.2f}' for s in row), flush=True)


if OPT['probe']:
    probe()
    sys.exit(0)

os.makedirs(OPT['out'], exist_ok=True)
g_keys = [k for k in PARAM if not k.startswith('discriminator') and k != 'mbstd.w']
d_keys = [k for k in PARAM if k not in g_keys]
if OPT['rawFromEma'] and init.get('ema'):
    with torch.no_grad():
        for k in g_keys:
            PARAM[k].copy_(torch.tensor(init['ema'][k]['data']).reshape(init['ema'][k]['shape']))
g_train = [k for k in g_keys if not OPT['gtrain'] or k.startswith(tuple(OPT['gtrain'].split(',')))]
opt_g = torch.optim.Adam([PARAM[k] for k in g_train], lr=OPT['lrG'], betas=(OPT['b1'], OPT['b2']), eps=1e-6)
opt_d = torch.optim.Adam([PARAM[k] for k in d_keys], lr=OPT['lrD'], betas=(OPT['b1'], OPT['b2']), eps=1e-6)
SHADOW = {k: PARAM[k].detach().clone() for k in g_keys}
if init.get('ema'):
    SHADOW.update({k: torch.tensor(init['ema'][k]['data']).reshape(init['ema'][k]['shape']) for k in g_keys})


def augment(x):
    """DiffAugment translation (1/8 of the side, zero fill) then cutout (half the side), per sample."""
    n, hgt, wid, _ = x.shape
    s = hgt // 8
    tx, ty = torch.randint(-s, s + 1, (n,)), torch.randint(-s, s + 1, (n,))
    padded = F.pad(x.permute(0, 3, 1, 2), (s, s, s, s))
    x = torch.stack([padded[i, :, s + ty[i]:s + ty[i] + hgt, s + tx[i]:s + tx[i] + wid] for i in range(n)]).permute(0, 2, 3, 1)
    c = hgt // 2
    cy, cx = torch.randint(0, hgt, (n,)), torch.randint(0, wid, (n,))
    ry = torch.arange(hgt)[None, :, None] - cy[:, None, None] + c // 2
    rx = torch.arange(wid)[None, None, :] - cx[:, None, None] + c // 2
    hole = (ry >= 0) & (ry < c) & (rx >= 0) & (rx < c)
    return x * (~hole)[..., None].float()


def d_input(x):
    return augment(x) if OPT['da'] else x


CLS = None
if OPT['cls'] > 0:
    # a small frozen CNN shape classifier trained on the real images (flips, +-3 px shifts): classifier guidance for G
    g_cls = torch.Generator().manual_seed(7)
    CLS = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(64, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        torch.nn.Linear(64, NC))
    opt_c = torch.optim.Adam(CLS.parameters(), lr=1e-3)
    for it in range(OPT['clsSteps']):
        idx = torch.randint(0, len(IMAGES), (64,), generator=g_cls)
        xb = IMAGES[idx].permute(0, 3, 1, 2)
        dx, dy = torch.randint(-3, 4, (2,), generator=g_cls).tolist()
        xb = torch.roll(xb, (dy, dx), (2, 3))
        if it % 2:
            xb = xb.flip(3)
        loss_c = F.cross_entropy(CLS(xb), LABELS[idx])
        opt_c.zero_grad()
        loss_c.backward()
        opt_c.step()
    with torch.no_grad():
        acc = (CLS(IMAGES[:1000].permute(0, 3, 1, 2)).argmax(1) == LABELS[:1000]).float().mean().item()
    print(f'classifier: loss {loss_c.item():.3f}, accuracy on 1000 real images {acc:.3f}', flush=True)
    for prm in CLS.parameters():
        prm.requires_grad_(False)

B = OPT['B']
order, cursor = torch.randperm(len(IMAGES)), 0
class_w = torch.tensor([float(w) for w in OPT['cw'].split(',')]) if OPT['cw'] else None


def next_batch():
    global order, cursor
    if class_w is not None:
        idx = torch.multinomial(class_w[LABELS], B, replacement=True)
    else:
        if cursor + B > len(IMAGES):
            order, cursor = torch.randperm(len(IMAGES)), 0
        idx = order[cursor:cursor + B]
        cursor += B
    x = IMAGES[idx].clone()
    flip = torch.rand(B) < 0.5
    x[flip] = x[flip].flip(2)
    return x, LABELS[idx]


fixed_z = torch.randn(200, ZD, generator=torch.Generator().manual_seed(123))
fixed_y = torch.arange(200) % NC if OPT['only'] < 0 else torch.full((200,), OPT['only'])
if OPT['uncond']:
    fixed_y = torch.zeros(200, dtype=torch.long)
t0 = time.time()
for step in range(1, OPT['steps'] + 1):
    for _ in range(OPT['dsteps']):
        x, y = next_batch()
        with torch.no_grad():
            fake = generator(PARAM, torch.randn(B, ZD), y)
        out, logits = discriminator(d_input(torch.cat([fake, x])), torch.cat([y, y]), want_logits=True)
        if OPT['loss'] == 'ns':
            loss_d = F.softplus(-out[B:]).mean() + F.softplus(out[:B]).mean()
        else:
            loss_d = F.relu(1 - out[B:]).mean() + F.relu(1 + out[:B]).mean()
        if OPT['aux'] > 0:
            loss_d = loss_d + OPT['aux'] * F.cross_entropy(logits[B:], y)
        if OPT['mis'] > 0:
            wrong = (y + torch.randint(1, NC, y.shape)) % NC
            loss_d = loss_d + OPT['mis'] * F.relu(1 + discriminator(x, wrong)).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
    if OPT['r1'] > 0 and step % OPT['r1every'] == 0:
        xr = x.clone().requires_grad_(True)
        grad, = torch.autograd.grad(discriminator(xr, y).sum(), xr, create_graph=True)
        opt_d.zero_grad()
        (OPT['r1'] / 2 * grad.pow(2).sum((1, 2, 3)).mean() * OPT['r1every']).backward()
        opt_d.step()
    if step <= OPT['dwarm']:
        if step % OPT['every'] == 0:
            print(f'{step} D {loss_d.item():.3f} (D warm-up, G frozen)', flush=True)
            probe()
        continue
    z = torch.randn(B, ZD)
    half = B // 2
    if OPT['ms'] > 0:
        y = torch.cat([y[:half], y[:half]])
    fake = generator(PARAM, z, y)
    out, logits = discriminator(d_input(fake), y, want_logits=True)
    loss_g = F.softplus(-out).mean() if OPT['loss'] == 'ns' else -out.mean()
    if OPT['aux'] > 0:
        loss_g = loss_g + OPT['aux'] * F.cross_entropy(logits, y)
    if CLS is not None:
        loss_g = loss_g + OPT['cls'] * F.cross_entropy(CLS(fake.permute(0, 3, 1, 2)), y)
    if OPT['ms'] > 0:
        ratio = (fake[:half] - fake[half:]).abs().mean() / (z[:half] - z[half:]).abs().mean()
        loss_g = loss_g + OPT['ms'] / (ratio + 1e-5)
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    with torch.no_grad():
        decay = OPT['ema'] if step >= OPT['emaStart'] else 0.0
        for k in g_keys:
            SHADOW[k].mul_(decay).add_(PARAM[k].detach(), alpha=1 - decay)
    if step % 50 == 0:
        print(f'{step} D {loss_d.item():.3f} G {loss_g.item():.3f} {time.time() - t0:.0f}s', flush=True)
    if step % OPT['every'] == 0:
        if OPT['mis'] > 0:
            probe()
        with torch.no_grad():
            averaged = {**PARAM, **SHADOW}
            for tag, params in (('ema', averaged), ('raw', PARAM)):
                imgs = torch.cat([generator(params, fixed_z[i:i + 50], fixed_y[i:i + 50], update=False) for i in range(0, 200, 50)])
                imgs = (imgs / OPT['scale']).clamp(-1, 1)
                imgs.numpy().astype(np.float32).tofile(os.path.join(OPT['out'], f'{tag}-{step}.f32'))
