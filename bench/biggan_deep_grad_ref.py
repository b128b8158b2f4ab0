"""Float64 PyTorch re-implementation of ganzoo's attention-free BigGAN-deep (HF-layout G, ajbrock D) in train mode, for
bench/biggan-deep-grad-check.ts: reads its dump (weights, inputs, layout), prints one JSON line with both hinge losses
and the gradient of each trainable variable. Written for this check from the layer definitions, not the official code.
"""
import json, sys, torch, torch.nn.functional as F
torch.set_default_dtype(torch.float64)
o = json.load(open(sys.argv[1]))
g = o['gcfg']; mods = o['gmods']; stages = o['dstages']
W = {k: torch.tensor(v['data'], dtype=torch.float64).reshape(v['shape']) for k, v in o['weights'].items()}
P = {k: v.clone().requires_grad_(True) for k, v in W.items() if not k.endswith(('_u', '_v', 'running_means', 'running_vars'))}
def sn(prefix, first=False, eps=g['snEps']):
    w = P[prefix + '.weight_orig']; u = W[prefix + '.weight_u']
    out = w.shape[0] if first else w.shape[-1]
    M = w.reshape(out, -1) if first else w.reshape(-1, out).t()   # [out, fanIn]
    with torch.no_grad():
        v = F.normalize(M.t() @ u, dim=0, eps=eps); uu = F.normalize(M @ v, dim=0, eps=eps)
    sigma = uu @ M @ v
    return w / sigma
def conv(x, prefix, bias=True, eps=g['snEps']):
    w = sn(prefix, eps=eps); k = w.shape[0]
    y = F.conv2d(x.permute(0, 3, 1, 2), w.permute(3, 2, 0, 1), padding=k // 2).permute(0, 2, 3, 1)
    return y + P[prefix + '.bias'] if bias else y
def lin(x, prefix, bias=True, eps=g['snEps']):
    y = x @ sn(prefix, eps=eps)
    return y + P[prefix + '.bias'] if bias else y
def bn(x, gain, bias, eps):
    m = x.mean((0, 1, 2)); v = x.var((0, 1, 2), unbiased=False)
    xn = (x - m) / torch.sqrt(v + eps)
    if gain.dim() == 2: gain = gain[:, None, None, :]; bias = bias[:, None, None, :]
    return xn * gain + bias
def up(x): return x.repeat_interleave(2, 1).repeat_interleave(2, 2)
def G(z, labels):
    cv = F.one_hot(labels, g['numClasses']).double()
    emb = cv @ P['embeddings.weight']
    cond = torch.cat([z, emb], 1)
    h = lin(cond, 'generator.gen_z').reshape(-1, 4, 4, g['ch'] * g['layers'][0][1])
    e = g['bnEps']
    def cbn(x, p): return bn(x, 1 + lin(cond, p + '.scale', False), lin(cond, p + '.offset', False), e)
    for m in mods:
        p = 'generator.layers.%d' % m['index']
        x = h
        r = conv(F.relu(cbn(x, p + '.bn_0')), p + '.conv_0')
        r = F.relu(cbn(r, p + '.bn_1'))
        if m['up']: r = up(r)
        r = conv(r, p + '.conv_1')
        r = conv(F.relu(cbn(r, p + '.bn_2')), p + '.conv_2')
        r = conv(F.relu(cbn(r, p + '.bn_3')), p + '.conv_3')
        s = x[..., :m['cout']] if m['cin'] != m['cout'] else x
        if m['up']: s = up(s)
        h = r + s
    h = bn(h, P['generator.bn.weight'], P['generator.bn.bias'], e)
    h = conv(F.relu(h), 'generator.conv_to_rgb')[..., :3]
    return torch.tanh(h)
def pool(x): return F.avg_pool2d(x.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)
def D(x, labels, eps=o.get('dSnEps', 1e-6)):
    h = conv(x, 'discriminator.input_conv', eps=eps)
    for st in stages:
        for b in st['blocks']:
            p = 'discriminator.blocks.%d.%d' % (b['stage'], b['index'])
            r = conv(F.relu(h), p + '.conv1', eps=eps); r = conv(F.relu(r), p + '.conv2', eps=eps); r = conv(F.relu(r), p + '.conv3', eps=eps)
            r = F.relu(r)
            if b['downsample']: r = pool(r)
            r = conv(r, p + '.conv4', eps=eps)
            s = pool(h) if b['downsample'] else h
            if b['cin'] != b['cout']: s = torch.cat([s, conv(s, p + '.conv_sc', eps=eps)], 3)
            h = r + s
    pooled = F.relu(h).sum((1, 2))
    out = lin(pooled, 'discriminator.linear', eps=eps)
    emb = F.one_hot(labels, W['discriminator.embed.weight_orig'].shape[0]).double() @ sn('discriminator.embed', first=True, eps=eps)
    return out + (emb * pooled).sum(1, keepdim=True)
I = o['inputs']
z = torch.tensor(I['z']['data']).reshape(I['z']['shape']); real = torch.tensor(I['real']['data']).reshape(I['real']['shape'])
labels = torch.tensor(I['labels']); B = z.shape[0]
res = {'loss': {}, 'grads': {}}
for ph in ['G', 'D']:
    for p in P.values():
        p.grad = None
    fake = G(z, labels)
    if ph == 'G':
        loss = -D(fake, labels).mean()
    else:
        out = D(torch.cat([fake, real]), torch.cat([labels, labels]))
        loss = F.relu(1 - out[B:]).mean() + F.relu(1 + out[:B]).mean()
    loss.backward()
    res['loss'][ph] = loss.item()
    for k, p in P.items():
        if p.grad is not None and k.startswith('discriminator' if ph == 'D' else ('generator', 'embeddings')):
            res['grads'][ph + ':' + k] = p.grad.flatten().tolist()
print(json.dumps(res))
